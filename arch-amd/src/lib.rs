//! # iommu-inval-amd
//!
//! AMD-Vi command buffer support for `iommu-inval` (AMD I/O Virtualization
//! Technology (IOMMU) Specification, #48882, §2.4 "Commands"):
//!
//! * [`Command`]: every command of the AMD-Vi table of
//!   the command tables (docs/SPEC.md), with a bit-exact codec ([`Command::decode`](iommu_inval_core::NativeCommand::decode),
//!   [`Command::encode`]) and named-field access ([`NativeCommand`]).
//! * [`AmdVi`], the crate's [`Arch`](iommu_inval_core::arch::Arch):
//!   `AmdVi::lift`, native → generic ([`Op`]), footprint-exact;
//!   `AmdVi::lower`, generic → native for a host described by its
//!   [`Features`], within a [`Budget`](iommu_inval_core::Budget); never
//!   under-invalidates, reports every widening.
//! * [`queue`]: the command-buffer consumer of an emulated IOMMU, stopping at
//!   the first illegal command with the ILLEGAL_COMMAND_ERROR event entry.
//! * [`Features`]: what an emulated IOMMU implements (EFR bits, revision
//!   3.x vIOMMU commands and 20-bit IOTLB PASIDs);
//!   [`Command::decode_with`](iommu_inval_core::NativeCommand::decode_with) refuses, as ILLEGAL_COMMAND_ERROR, what that
//!   IOMMU refuses. Revision 3.x adds INSERT_GUEST_EVENT and RESET_VMMIO
//!   (no generic form) and `pasid[19:16]` of INVALIDATE_IOTLB_PAGES.
//!
//! Decisions where the table leaves room (see also the item docs):
//!
//! * COMPLETE_PPR_REQUEST `status` is a 4-bit PCIe PRG response code. Only
//!   0 (success), 1 (invalid request) and 0xf (response failure) are defined
//!   by PCIe; the IOMMU forwards the completion tag to the device without
//!   checking it, so other values decode and round-trip (no
//!   ILLEGAL_COMMAND_ERROR), but `AmdVi::lift` refuses them with `NoEquivalent`
//!   because the generic model has no reserved response code.
//! * COMPLETION_WAIT with `s` = 0 and a non-zero `store_address`: the
//!   hardware ignores the address without `s` (§2.4.1), so the command is
//!   legal; it decodes and round-trips exactly, and lifts to a `Sync`
//!   without store.
//! * `pasid` of INVALIDATE_IOMMU_PAGES with `gn` = 0 is kept by the codec and
//!   ignored by `AmdVi::lift` (stage 2, every PASID).
//! * **Deliberate deviation: no trailing COMPLETION_WAIT.** The seed brief
//!   asked for "configuration, COMPLETION_WAIT, IOMMU pages,
//!   COMPLETION_WAIT, IOTLB pages, COMPLETION_WAIT". `AmdVi::lower` emits the
//!   fencing COMPLETION_WAITs (`f` = 1) only *between* two non-empty phases
//!   of one invalidation and leaves the completion after the last phase to
//!   the caller's next `Sync`. Reasons: (1) R2/R4: a native command lifted
//!   and lowered again must give back that one command (a lone
//!   INVALIDATE_IOTLB_PAGES must not grow a COMPLETION_WAIT), and docs/ARCHITECTURE.md
//!   rule 3 requires every input sync to become exactly one output sync, so
//!   an extra trailing sync would both break the round trip and add a sync
//!   no input asked for; (2) a queue of N invalidations followed by one
//!   `Sync` (the usual batching, as the Linux driver does) would otherwise
//!   pay N extra waits. The ordering guarantee is unchanged: the inter-phase
//!   fences keep the phases in order, and the caller's `Sync` (which lowers
//!   to exactly one COMPLETION_WAIT) closes the last phase.
//! * `Sync` with `drain_page_requests` (VT-d `pd`) is `NoEquivalent`:
//!   COMPLETION_WAIT cannot drain the PPR log, and silently dropping the
//!   drain would break the caller's assumption.
//! * Device TLBs: AMD-Vi has no all-device INVALIDATE_IOTLB_PAGES, so a
//!   device-TLB invalidation of devices the context cannot enumerate, of
//!   more devices than the budget's `max_cmds`, or of a requester id wider than the
//!   16-bit DeviceID is refused with `NoEquivalent` (never under-done).
//!   Devices whose ATS is disabled are skipped and reported as `dropped`.
//! * PASID configuration: the DTE (its GCR3 root covers every PASID), plus
//!   the per-PASID GCR3 flush the Linux driver uses (INVALIDATE_IOMMU_PAGES
//!   `gn` = 1, `pde` = 1, all pages) when the device's DomainID is known.
//!
//! ```
//! use iommu_inval_amd::prelude::*;
//! use iommu_inval_core::model::*;
//! // INVALIDATE_IOTLB_PAGES: pasid[15:8] sits in w0[23:16], pasid[7:0] in w0[55:48].
//! let w = [0x4034_0000_0012_0010, 0x7004];
//! let Ok(Command::InvalidateIotlbPages(c)) = Command::decode(&w) else { panic!() };
//! assert_eq!((c.device_id, c.pasid, c.gn, c.address), (0x10, 0x1234, true, 0x7000));
//! assert_eq!(Command::InvalidateIotlbPages(c).encode(), w);
//!
//! // INVALIDATE_IOMMU_PAGES, domain 1, PASID 7, gn = 1, pde = 0, 4 KiB at 0x5000.
//! let c = Command::decode(&[0x3000_0001_0000_0007, 0x5004]).unwrap();
//! let mut out: FixedBuf<Op, 4> = FixedBuf::new();
//! let o = AmdVi::lift(&c, &IdentityContext, &mut out).unwrap();
//! assert!(o.is_exact());
//! let Some(Op::Inval(i)) = out.get(0) else { panic!() };
//! assert_eq!(i.caches, Caches::IOTLB | Caches::LEAF);
//! assert_eq!((i.stages, i.pasid), (Stages::S1, PasidSel::One(7)));
//! assert_eq!(i.range, AddrRange::new(0x5000, 0x1000).unwrap());
//!
//! // Leaf-only stage-2 invalidation of 2 MiB in domain 3.
//! let op = Op::Inval(Inval::new(Caches::IOTLB | Caches::LEAF).stage(Stages::S2)
//!     .domain(DomainSel::One(3)).range(AddrRange::new(0x20_0000, 0x20_0000).unwrap()));
//! let mut out: FixedBuf<Command, { AmdVi::MAX_LOWERED }> = FixedBuf::new();
//! let o = AmdVi::lower(&op, &Features::REV2, AmdVi::DEFAULT_BUDGET, &IdentityContext, &mut out).unwrap();
//! assert!(o.is_exact());
//! // s = 1, bits 12..=19 set, bit 20 clear: 2^21 bytes at 0x200000.
//! assert_eq!(out.get(0).unwrap().encode(), [0x3000_0003_0000_0000, 0x2f_f001]);
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod cmd;
pub mod event;
mod events;
mod features;
pub mod ppr;

pub use cmd::*;
pub use features::Features;

// Declares the modules `lift`, `lower`, `prelude`, `queue` and (feature `arbitrary`) `arb`, and
// writes `impl Arch` for the unit type (docs/ARCHITECTURE.md, the contract).
iommu_inval_core::arch_impl!(
    /// AMD-Vi: the [`Arch`](iommu_inval_core::arch::Arch) of this crate.
    AmdVi,
    queue::CmdBufDevice,
    budget = 16
);

pub use iommu_inval_core::model::Op;
pub use iommu_inval_core::NativeCommand;
