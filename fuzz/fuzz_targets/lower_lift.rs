//! R3 on arbitrary (edge-biased) generic operations through every architecture.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = iommu_inval_props::bodies::lower_lift(data) {
        panic!("{e}");
    }
});
