//! # iommu-inval-arm
//!
//! Arm SMMUv3 command queue commands (IHI0070 chapter 4) for
//! `iommu-inval`:
//!
//! * [`Command`]: one variant per op of the SMMUv3 table of
//!   the command tables (docs/SPEC.md), each a struct with the table's field names;
//!   bit-exact [`Command::decode`](iommu_inval_core::NativeCommand::decode) / [`Command::encode`] and named-field
//!   access through [`NativeCommand`](iommu_inval_core::NativeCommand).
//! * [`lift()`]: command → generic [`Op`](iommu_inval_core::Op)s, with exact
//!   footprints ([`Arch::footprint`](iommu_inval_core::arch::Arch::footprint)).
//! * [`lower()`]: generic ops → commands for a host described by its
//!   [`Features`], within a [`Budget`](iommu_inval_core::Budget).
//! * [`queue`]: the CMDQ consumer an emulator runs on a PROD write.
//! * [`Features`]: what an emulated SMMU implements (SMMU_IDR0..5, the
//!   queue's Security state); [`Command::decode_with`](iommu_inval_core::NativeCommand::decode_with) refuses, as
//!   CERROR_ILL, what that SMMU refuses. [`Command::decode`](iommu_inval_core::NativeCommand::decode) accepts every
//!   command of the newest revision (the Secure EL2 TLBIs,
//!   CMD_CFGI_VMS_PIDM, CMD_DPTI_ALL, TTL128, 6-bit SCALE, addresses to
//!   bit 55); docs/REVISIONS.md lists them by revision.
//!
//! Where the command tables (docs/SPEC.md) and the architecture specification
//! (Arm IHI0070) differ, this crate follows the specification (tests in
//! `tests/spec_deviations.rs`):
//!
//! * a TLBI with `tg` ≠ 0 and `num` = `scale` = `ttl` = 0 is ILLEGAL, and so
//!   is `ttl` ≠ 0 with `tg` = 0 (§4.4.1.1) → `invalid_field`;
//! * CMD_RESUME and CMD_STALL_TERM have `ssec` in `w0[10]` (§4.7.1, §4.7.2);
//! * CMD_RESUME `resp` = 3 is a retry (Ab is ignored when Ac = 1, §4.7.1);
//! * CMD_PRI_RESP `resp` 0 is ResponseFailure and 1 InvalidRequest (§4.5.2);
//! * CMD_CFGI_STE / STE_RANGE / ALL also invalidate the streams' CDs
//!   (§4.3.1), so their footprint includes the PASID configuration.
//!
//! ```
//! use iommu_inval_arm::{lift, lower, Command, Features, DEFAULT_BUDGET};
//! use iommu_inval_core::{IdentityContext, model::Op, sink::FixedBuf};
//! use iommu_inval_core::NativeCommand;
//!
//! // CMD_ATC_INV to StreamID 0x10, PASID 3, 16 pages at 0x40000.
//! let w = [0x0000_0010_0000_3840, 0x0000_0000_0004_0004];
//! let cmd = Command::decode(&w).unwrap();
//! let mut ops: FixedBuf<Op, 4> = FixedBuf::new();
//! lift(&cmd, &IdentityContext, &mut ops).unwrap();
//! let mut back: FixedBuf<Command, 4> = FixedBuf::new();
//! for op in ops.iter() {
//!     lower(op, &Features::LATEST, DEFAULT_BUDGET, &IdentityContext, &mut back).unwrap();
//! }
//! assert_eq!(back.get(0).map(|c| c.encode()), Some(w));
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(feature = "std")]
extern crate std;

#[cfg(feature = "arbitrary")]
mod arb;
mod cmd;
mod codec;
mod features;
pub mod lift;
pub mod lower;
pub mod prelude;
pub mod queue;

#[cfg(feature = "arbitrary")]
pub use arb::{arbitrary_words, valid_words};
pub use cmd::*;
pub use features::Features;
pub use lift::lift;
pub use lower::{lower, max_lowered, DEFAULT_BUDGET, MAX_LOWERED};

iommu_inval_core::arch_impl!(
    /// Arm SMMUv3 (IHI0070): the [`Arch`](iommu_inval_core::arch::Arch) of this crate.
    Smmuv3,
    queue::CmdqDevice
);
