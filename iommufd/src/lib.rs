//! # iommu-inval-iommufd
//!
//! The host back end a VMM on Linux uses instead of lowering a guest's
//! invalidations to host commands itself: the payloads of iommufd's
//! `IOMMU_HWPT_INVALIDATE` (include/uapi/linux/iommufd.h), produced under the
//! kernel's acceptance rules so that a refused command is reported, with the
//! reason and what the VMM does instead, before the ioctl.
//!
//! * [`uapi`]: the `#[repr(C)]` payloads with their header layouts and
//!   little-endian bytes.
//! * [`smmuv3`]: vSMMU entries (`IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3`)
//!   from a guest's SMMUv3 commands: the permitted opcodes, the per-opcode
//!   allowed bits, the VMID and vSID→pSID rewriting of the kernel
//!   (`arm_vsmmu_validate_user_cmd`, `arm_vsmmu_convert_user_cmd`).
//! * [`vtd`]: VT-d stage-1 entries (`IOMMU_HWPT_INVALIDATE_DATA_VTD_S1`)
//!   from generic ops (a VT-d guest's descriptors, or any architecture's
//!   lift), with what has no entry reported ([`vtd::VmmWork`]).
//! * [`cmdqv`]: the NVIDIA Tegra241 CMDQV filter: which guest commands a
//!   hardware VCMDQ takes.
//! * AMD-Vi has no iommufd invalidation payload, only the nested domain's
//!   allocation payload ([`uapi::HwptAmdGuest`]): the AMD vIOMMU's ops
//!   (`amd_viommu_ops`, drivers/iommu/amd/iommufd.c) have no
//!   `cache_invalidate`, and `enum iommu_hwpt_invalidate_data_type` lists
//!   only VT-d stage 1 and the SMMUv3 vIOMMU; the hardware vIOMMU consumes
//!   the guest's command buffer itself (`IOMMU_HW_QUEUE_TYPE_AMD_CMD`, as
//!   NVIDIA's VCMDQs do for SMMUv3, [`cmdqv`]). For an AMD-Vi host a VMM
//!   lowers the guest's invalidations into the host command buffer itself:
//!   core's `LowerToHost` into `iommu_inval_amd::queue::CmdBufDevice`
//!   (docs/VMM.md).
//! * [`backend`]: [`Backend`](iommu_inval_core::device::Backend)s for the
//!   queue front ends (generic ops → VT-d stage-1 entries per HWPT; generic
//!   ops → SMMUv3 commands → vSMMU entries), and a forwarder of raw SMMUv3
//!   commands to a vSMMU.
//!
//! The crate issues no ioctl: the call passes a user pointer that no safe
//! interface can check (rustix's and nix's ioctl entry points are
//! `unsafe fn`), and this crate is `#![forbid(unsafe_code)]`. A VMM
//! implements [`backend::Invalidator`] / [`backend::ViommuInvalidator`] with
//! its own ioctl.
//!
//! A VMM with a guest VT-d (or any guest IOMMU whose stage-1 tables the host
//! walks nested) on an iommufd host:
//!
//! ```
//! use iommu_inval_core::device::{Backend, BackendError, CommandQueue};
//! use iommu_inval_iommufd::backend::{Invalidator, VtdS1Backend};
//! use iommu_inval_iommufd::uapi::{HwptInvalidate, HwptVtdS1Invalidate};
//! use iommu_inval_iommufd::vtd::{S1Scope, VmmWork};
//! use iommu_inval_core::model::{Op, PasidSel};
//!
//! struct Iommufd; // the VMM's fd
//! impl Invalidator for Iommufd {
//!     fn invalidate_vtd_s1(&mut self, hwpt: u32, e: &[HwptVtdS1Invalidate]) -> Result<(), (u32, BackendError)> {
//!         let arg = HwptInvalidate::vtd_s1(hwpt, e.as_ptr() as u64, e.len() as u32);
//!         // ioctl(fd, IOMMU_HWPT_INVALIDATE, &arg) in the VMM's own (unsafe) wrapper;
//!         // on failure: Err((arg.entry_num, BackendError::from(io::Error::last_os_error())))
//!         let _ = arg;
//!         Ok(())
//!     }
//! }
//! // guest (domain, PASID) -> nested HWPT ids, from the VMM's attach state
//! let router = |s: &S1Scope, f: &mut dyn FnMut(u32)| {
//!     if let PasidSel::One(p) = s.pasid { f(0x100 + p) }
//! };
//! let mut backend = VtdS1Backend::new(router, Iommufd, |_op: &Op, work: VmmWork| {
//!     // context / PASID-cache: re-read the guest entry, re-attach; ...
//!     let _ = work.reasons().next();
//!     Ok(())
//! });
//! # fn run<Q: CommandQueue, M: iommu_inval_core::QueueMemory>(q: &mut Q, mem: &M, b: &mut impl Backend) {
//! // on the guest's doorbell:
//! let progress = q.process(mem, &iommu_inval_core::IdentityContext, b);
//! # let _ = progress; }
//! # let _ = &mut backend;
//! ```
//!
//! A VMM with a guest SMMUv3 on a vSMMU walks the guest's CMDQ and forwards
//! the raw commands ([`backend::Smmuv3Forwarder`]):
//!
//! ```
//! use iommu_inval_arm::{Command, TlbiScope, CmdSync};
//! use iommu_inval_core::device::BackendError;
//! use iommu_inval_iommufd::backend::{ForwardError, Forwarded, Smmuv3Forwarder, ViommuInvalidator};
//! use iommu_inval_iommufd::smmuv3::{HostFeatures, Refusal, Vsmmu};
//! use iommu_inval_iommufd::uapi::ViommuArmSmmuv3Invalidate;
//!
//! struct Viommu(u32);
//! impl ViommuInvalidator for Viommu {
//!     fn invalidate_smmuv3(&mut self, e: &[ViommuArmSmmuv3Invalidate]) -> Result<(), BackendError> {
//!         let _arg = iommu_inval_iommufd::uapi::HwptInvalidate::arm_smmuv3(self.0, e.as_ptr() as u64, e.len() as u32);
//!         Ok(()) // ioctl(fd, IOMMU_HWPT_INVALIDATE, &arg)
//!     }
//! }
//! let vsmmu = Vsmmu::new(/* the S2 parent's VMID */ 3, HostFeatures::default());
//! let mut fwd = Smmuv3Forwarder::new(vsmmu, [(0x10, 0x200)], Viommu(7));
//! for cmd in [Command::TlbiNhAsid(TlbiScope { vmid: 0, asid: 5 }), Command::CmdSync(CmdSync::default())] {
//!     match fwd.command(&cmd) {
//!         Ok(Forwarded::Queued) => {}
//!         Ok(Forwarded::Synced) => { /* write the CMD_SYNC's MSI / raise its interrupt */ }
//!         // What to do instead: `r.action()`.
//!         Err(ForwardError::Refused(r)) => match r {
//!             Refusal::SteConfig => { /* re-read the STE, re-attach */ }
//!             Refusal::Sync | Refusal::Prefetch => {}
//!             _ => { /* CMDQ_CONS.ERR = CERROR_ILL */ }
//!         },
//!         Err(_) => { /* the ioctl failed (ForwardError::Ioctl): CERROR_ILL */ }
//!     }
//! }
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(any(feature = "std", test))]
extern crate std;

pub mod backend;
pub mod cmdqv;
pub mod event;
#[cfg(feature = "std")]
pub mod explain;
pub mod smmuv3;
pub mod uapi;
pub mod vtd;
// The two VMM paths end to end; unit tests, as they read the footprints
// `explain` keeps crate-private.
#[cfg(all(test, feature = "std"))]
mod vmm_tests;
