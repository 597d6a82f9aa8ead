//! R4 on arbitrary native commands converted to every architecture through a generated topology,
//! and the iommufd targets (vSMMU entries under the kernel rules, VT-d stage-1 entries, CMDQV).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = iommu_inval_props::bodies::convert(data) {
        panic!("{e}");
    }
});
