//! The named-field surface of every architecture (`from_fields` with real
//! and unknown ops, fields and values of every type; `validate`,
//! `encode_checked_into`, short buffers; SMMUv3 `check_values`,
//! `validate` then `encode`, `Display`): typed errors, and every built command valid.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = iommu_inval_props::bodies::named_fields(data) {
        panic!("{e}");
    }
});
