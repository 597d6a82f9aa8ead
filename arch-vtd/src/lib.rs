//! # iommu-inval-vtd
//!
//! Intel VT-d invalidation queue descriptors for `iommu-inval` (VT-d
//! architecture specification rev 3+/4, §6.5.2):
//!
//! * [`Command`]: every descriptor of the command tables (docs/SPEC.md), 128- or
//!   256-bit, with a bit-exact [`Command::decode`](iommu_inval_core::NativeCommand::decode) / [`Command::encode`];
//! * [`Vtd`], the crate's [`Arch`](iommu_inval_core::arch::Arch): `Vtd::lift`,
//!   descriptors → generic operations ([`iommu_inval_core::Op`]);
//!   `Vtd::lower`, generic operations → descriptors for a host (its
//!   [`Features`], within a [`Budget`](iommu_inval_core::Budget));
//! * [`queue`]: the invalidation queue consumer (IQA/IQH/IQT) for emulators;
//! * [`Features`]: what an emulated unit implements (CAP_REG / ECAP_REG,
//!   revision 3.x or 4.x/5.x page group responses);
//!   [`Command::decode_with`](iommu_inval_core::NativeCommand::decode_with) refuses, as an IQE, what that unit refuses.
//!
//! Nothing here allocates on the decode, encode, lift, lower or queue paths.
//!
//! Decisions where the table leaves room (VT-d rev 3+/4 section numbers):
//! * `page_grp_resp_dsc.resp_code` values 2..=0xe are reserved PCIe PRG
//!   Response codes (PCIe Base §10.4.2; VT-d passes the code on unchanged):
//!   the codec keeps them byte-exact (docs/SPEC.md lists no invalid value),
//!   and `lift` refuses them with `LowerError::NoEquivalent` (no generic
//!   response code), as the AMD-Vi crate does for reserved PPR statuses.
//! * `iotlb_inv_dsc` domain-/page-selective = second-stage entries of the
//!   DID; first-stage entries need `p_iotlb_inv_dsc` (§6.5.2.3, §6.5.2.4,
//!   and the "Guidance to Software for Invalidations" table, §6.5.3.3 in
//!   rev 3.x). So a stage-1 request for all PASIDs of a domain lowers to
//!   the global IOTLB invalidation, reported as widened.
//! * `cc_inv_dsc` removes context entries only (`CONFIG_DEVICE`), not PASID
//!   entries (§6.5.3.3: a PASID-cache invalidation follows a scalable-mode
//!   context-entry change). `fm` masks the most significant function bits
//!   (§6.5.2.1), so `fm` 1 and 2 lift to 2 and 4 single-device ops.
//! * A device-TLB invalidation of "every device" with devices the context
//!   cannot list has no VT-d form (each descriptor names one source-id):
//!   `LowerError::NoEquivalent`, before anything is emitted. Devices listed
//!   by the context without ATS are skipped. The budget's `max_cmds` bounds the
//!   device-TLB descriptors of one op: when the range's blocks for every
//!   device would exceed it, each device gets one covering block (ATS size
//!   encoding, up to all addresses; `Widened::CAP`); more devices than
//!   `max_cmds`, or a requester id above 16 bits, is `NoEquivalent`.
//! * The regime selects nothing in device-TLB and interrupt-entry
//!   lowerings (those entries are not regime-tagged); a `Hyp` request
//!   widens the IOTLB and configuration-cache parts to every domain, and a
//!   `Secure` one is dropped whole (VT-d has no secure regime, and device-TLB
//!   and interrupt entries serve non-secure streams only).
//! * Queue errors carry the IQERCD_REG.IQEI code (§11.4.9).
//!
//! ```
//! use iommu_inval_vtd::prelude::*;
//! use iommu_inval_core::model::*;
//! // iotlb_inv_dsc, domain-selective (granularity 2) for DID 4, in a 256-bit slot.
//! let c = Command::decode(&[0x0004_0022, 0, 0, 0]).unwrap();
//! assert_eq!((c.op(), c.words()), ("iotlb_inv_dsc", 4));
//!
//! // p_iotlb_inv_dsc, page-selective within PASID 7 of domain 3: 2^2 pages at 0x10000.
//! let c = Command::decode(&[0x0007_0003_0036, 0x10002]).unwrap();
//! let mut out: FixedBuf<Op, 4> = FixedBuf::new();
//! Vtd::lift(&c, &IdentityContext, &mut out).unwrap();
//! let Some(Op::Inval(i)) = out.get(0) else { panic!() };
//! assert_eq!((i.stages, i.domain, i.pasid), (Stages::S1, DomainSel::One(3), PasidSel::One(7)));
//! assert_eq!(i.range, AddrRange::new(0x10000, 0x4000).unwrap());
//!
//! // 3 pages of PASID 1 in domain 2: blocks of 1 and 2 pages (aligned), exact.
//! let op = Op::Inval(Inval::new(Caches::IOTLB).stage(Stages::S1).domain(DomainSel::One(2))
//!     .pasid(PasidSel::One(1)).range(AddrRange::new(0x3000, 0x3000).unwrap()));
//! let mut out: FixedBuf<Command, { Vtd::MAX_LOWERED }> = FixedBuf::new();
//! let o = Vtd::lower(&op, &Features::SCALABLE, Vtd::DEFAULT_BUDGET, &IdentityContext, &mut out).unwrap();
//! assert_eq!((o.emitted, o.is_exact()), (2, true));
//! let Some(Command::PIotlbInv(d)) = out.get(1) else { panic!() };
//! assert_eq!((d.g, d.did, d.pasid, d.address, d.am), (3, 2, 1, 0x4000, 1));
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#[cfg(any(feature = "std", test))]
extern crate std;

mod desc;
mod events;
pub mod fault;
mod features;
pub mod prq;

pub use desc::{
    CcInv, Command, DevTlbInv, IecInv, InvWait, IotlbInv, PDevTlbInv, PIotlbInv, PageGrpResp, PcInv,
};
pub use features::Features;

// Declares the modules `lift`, `lower`, `prelude`, `queue` and (feature `arbitrary`) `arb`, and
// writes `impl Arch` for the unit type (docs/ARCHITECTURE.md, the contract).
iommu_inval_core::arch_impl!(
    /// Intel VT-d: the [`Arch`](iommu_inval_core::arch::Arch) of this crate.
    Vtd,
    queue::InvQueue,
    budget = 16
);
