//! R1 and R2 on arbitrary valid virtio-iommu requests (identity context and generated topologies).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = iommu_inval_props::bodies::roundtrip::<iommu_inval_props::Virtio>(data) {
        panic!("{e}");
    }
});
