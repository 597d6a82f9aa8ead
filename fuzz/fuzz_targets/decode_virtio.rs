//! R1 on arbitrary bytes as virtio-iommu request words (and as the crate's raw-byte generator's output).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = iommu_inval_props::bodies::decode::<iommu_inval_props::Virtio>(data) {
        panic!("{e}");
    }
});
