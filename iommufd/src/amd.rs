//! AMD-Vi: what iommufd offers for nested translation, and why the answer
//! for invalidations is the host command buffer.
//!
//! The uAPI has an AMD vIOMMU type (`IOMMU_VIOMMU_TYPE_AMD`) and a nested
//! HWPT data type, `IOMMU_HWPT_DATA_AMD_GUEST` with
//! `struct iommu_hwpt_amd_guest { __aligned_u64 dte[4]; }`
//! ([`crate::uapi::HwptAmdGuest`]): the guest's device-table entry, from which
//! `amd_iommu_alloc_domain_nested` (drivers/iommu/amd/nested.c) builds the
//! nested domain (guest GCR3 table over the host's v1 stage 2).
//!
//! There is **no AMD cache-invalidation data type**: the AMD vIOMMU's ops
//! (`amd_viommu_ops`, drivers/iommu/amd/iommufd.c) have no
//! `cache_invalidate`, and `enum iommu_hwpt_invalidate_data_type` lists only
//! VT-d stage 1 and the SMMUv3 vIOMMU. The AMD hardware-vIOMMU work instead
//! gives the guest's command buffer to the hardware (`hw_queue_init` with
//! `IOMMU_HW_QUEUE_TYPE_AMD_CMD`), which consumes it directly, as NVIDIA's
//! VCMDQs do for SMMUv3 ([`crate::cmdqv`]).
//!
//! So for an AMD-Vi host a VMM without the hardware vIOMMU lowers the
//! guest's invalidations to host commands itself: the front end's
//! `LowerToHost` back end (iommu_inval_core::device) into the host's
//! `CmdBufDevice` (iommu_inval_amd::queue), as docs/VMM.md shows. Nothing
//! in this crate produces an AMD payload.

pub use crate::uapi::{HwptAmdGuest, IOMMU_HWPT_DATA_AMD_GUEST};
