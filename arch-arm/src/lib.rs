//! # iommu-inval-arm
//!
//! Arm SMMUv3 command queue commands (IHI0070 chapter 4) for
//! `iommu-inval`:
//!
//! * [`Command`]: one variant per op of the SMMUv3 table of the command
//!   tables (docs/SPEC.md), its payload the struct of the op's command format
//!   ([`TlbiAddr`], [`TlbiScope`], [`Cfgi`], ...) with the table's field names;
//!   bit-exact [`Command::decode`](iommu_inval_core::NativeCommand::decode) / [`Command::encode`] and named-field
//!   access through [`NativeCommand`](iommu_inval_core::NativeCommand).
//! * [`Smmuv3`], the crate's [`Arch`](iommu_inval_core::arch::Arch):
//!   `Smmuv3::lift`, command → generic [`Op`](iommu_inval_core::Op)s, with
//!   exact footprints (`Smmuv3::footprint`); `Smmuv3::lower`, generic ops →
//!   commands for a host described by its [`Features`], within a
//!   [`Budget`](iommu_inval_core::Budget).
//! * [`EventRecord`] and [`PriRecord`]: the event queue records (IHI0070
//!   §7.3) and PRI queue entries (§8) the SMMU writes, with their codec and
//!   [`EventArch`](iommu_inval_core::arch::EventArch) (lift to and lower
//!   from the neutral `Event` / `PageRequest`; docs/EVENTS.md).
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
//! use iommu_inval_arm::prelude::*;
//! use iommu_inval_core::model::*;
//!
//! // CMD_ATC_INV to StreamID 0x10, PASID 3, 16 pages at 0x40000: lifted and
//! // lowered again, the same command.
//! let w = [0x0000_0010_0000_3840, 0x0000_0000_0004_0004];
//! let cmd = Command::decode(&w).unwrap();
//! let mut ops: FixedBuf<Op, 4> = FixedBuf::new();
//! Smmuv3::lift(&cmd, &IdentityContext, &mut ops).unwrap();
//! let mut back: FixedBuf<Command, { Smmuv3::MAX_LOWERED }> = FixedBuf::new();
//! let target = Target::<Smmuv3>::new(Features::LATEST);
//! for op in ops.iter() {
//!     target.lower(op, &IdentityContext, &mut back).unwrap();
//! }
//! assert_eq!(back.get(0).map(|c| c.encode()), Some(w));
//!
//! // CMD_TLBI_NH_VA, ASID 5 (PASID 5 through the identity context), 32 pages.
//! let c = Command::decode(&[0x0005_0001_0001_f012, 0x0000_0000_0010_0401]).unwrap();
//! let mut out: FixedBuf<Op, 4> = FixedBuf::new();
//! Smmuv3::lift(&c, &IdentityContext, &mut out).unwrap();
//! let Some(Op::Inval(i)) = out.get(0) else { panic!() };
//! assert_eq!(i.pasid, PasidSel::One(5));
//! assert_eq!(i.range, AddrRange::new(0x10_0000, 32 * 4096).unwrap());
//!
//! // 2 MiB of PASID 5's stage-1 translations in domain 1: one range TLBI.
//! let op = Op::Inval(Inval::new(Caches::IOTLB).stage(Stages::S1)
//!     .domain(DomainSel::One(1)).pasid(PasidSel::One(5))
//!     .range(AddrRange::new(0x20_0000, 0x20_0000).unwrap()));
//! let mut out: FixedBuf<Command, 8> = FixedBuf::new();
//! let o = Smmuv3::lower(&op, &Features::LATEST, Smmuv3::DEFAULT_BUDGET, &IdentityContext, &mut out).unwrap();
//! assert!(o.is_exact());
//! let Some(Command::TlbiNhVa(c)) = out.get(0) else { panic!() };
//! assert_eq!((c.num, c.scale, c.tg, c.asid), (15, 5, 1, 5));
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(feature = "std")]
extern crate std;

mod cmd;
mod codec;
mod event;
mod features;
mod pri;
mod range;

#[cfg(feature = "arbitrary")]
pub use arb::valid_words;

pub use cmd::*;
#[cfg(feature = "arbitrary")]
pub use event::arbitrary_event_words;
pub use event::{EventFormat, EventRecord, GuestQueue};
pub use features::Features;
pub use pri::{PriFormat, PriRecord};

// Declares the modules `lift`, `lower`, `prelude`, `queue` and (feature `arbitrary`) `arb`, and
// writes `impl Arch` for the unit type (docs/ARCHITECTURE.md, the contract).
iommu_inval_core::arch_impl!(
    /// Arm SMMUv3 (IHI0070): the [`Arch`](iommu_inval_core::arch::Arch) of this crate.
    Smmuv3,
    queue::CmdqDevice,
    budget = 64
);
