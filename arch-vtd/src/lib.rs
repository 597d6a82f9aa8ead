//! # iommu-inval-vtd
//!
//! Intel VT-d invalidation queue descriptors for `iommu-inval` (VT-d
//! architecture specification rev 3+/4, §6.5.2):
//!
//! * [`Command`]: every descriptor of `shared/spec/commands.md`, 128- or
//!   256-bit, with a bit-exact [`Command::decode`] / [`Command::encode`];
//! * [`lift`]: descriptors → generic operations ([`iommu_inval_core::Op`]);
//! * [`lower`]: generic operations → descriptors for a host ([`Caps`]);
//! * [`queue`]: the invalidation queue consumer (IQA/IQH/IQT) for emulators;
//! * [`footprint`] (feature `std`): what a descriptor removes.
//!
//! Nothing here allocates on the decode, encode, lift, lower or queue paths.
//!
//! ```
//! use iommu_inval_core::{model::*, IdentityContext, FixedBuf};
//! use iommu_inval_vtd::{lift, lower, Caps, Command};
//! // iotlb_inv_dsc, domain-selective for DID 4, 256-bit.
//! let c = Command::decode(&[0x0004_0022, 0, 0, 0]).unwrap();
//! let mut ops: FixedBuf<Op, 4> = FixedBuf::new();
//! lift(&c, &IdentityContext, &mut ops).unwrap();
//! let mut back: FixedBuf<Command, 4> = FixedBuf::new();
//! lower(ops.get(0).unwrap(), &Caps::default(), &IdentityContext, &mut back).unwrap();
//! assert_eq!(back.get(0), Some(&c));
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#[cfg(feature = "std")]
extern crate std;

#[cfg(feature = "arbitrary")]
mod arb;
mod desc;
mod lift;
mod lower;
pub mod queue;

#[cfg(feature = "arbitrary")]
pub use arb::arbitrary_words;
pub use desc::{
    ty, CcInv, Command, Descriptor, DevTlbInv, IecInv, InvWait, IotlbInv, PDevTlbInv, PIotlbInv,
    PageGrpResp, PcInv, OP_NAMES,
};
pub use lift::lift;
pub use lower::{lower, Caps};

/// The footprint of a descriptor: [`Footprint::of_ops`] of its lift.
///
/// [`Footprint::of_ops`]: iommu_inval_core::footprint::Footprint::of_ops
#[cfg(feature = "std")]
pub fn footprint<C: iommu_inval_core::Context + ?Sized>(
    cmd: &Command,
    ctx: &C,
) -> iommu_inval_core::footprint::Footprint {
    let mut ops: std::vec::Vec<iommu_inval_core::Op> = std::vec::Vec::new();
    // A lift error (a hand-built descriptor with an invalid value) removes nothing.
    let _ = lift(cmd, ctx, &mut ops);
    iommu_inval_core::footprint::Footprint::of_ops(ops.iter(), ctx)
}
