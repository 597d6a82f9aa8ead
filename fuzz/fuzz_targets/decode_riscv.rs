//! R1 on arbitrary bytes as riscv command words (and as the crate's raw-word generator's output).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = iommu_inval_props::bodies::decode::<iommu_inval_props::Riscv>(data) {
        panic!("{e}");
    }
});
