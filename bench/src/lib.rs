//! Benchmarks and lowering-efficiency reference functions for iommu-inval.
#![forbid(unsafe_code)]
