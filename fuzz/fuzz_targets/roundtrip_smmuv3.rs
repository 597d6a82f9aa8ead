//! R1 and R2 on arbitrary valid smmuv3 commands (identity context and generated topologies).
//!
//! Round 8 changed no property (before and after: R1, and R2 with both contexts, on every
//! input): `Footprint::push`'s box tests, most of its time, no longer call libFuzzer's
//! comparison tracing once per coordinate (fuzz/README.md).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = iommu_inval_props::bodies::roundtrip::<iommu_inval_props::Smmu>(data) {
        panic!("{e}");
    }
});
