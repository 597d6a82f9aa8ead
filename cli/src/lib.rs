//! Facade crate re-exporting the iommu-inval crates.
#![forbid(unsafe_code)]
pub use iommu_inval_amd as amd;
pub use iommu_inval_arm as arm;
pub use iommu_inval_core as core;
pub use iommu_inval_vtd as vtd;
