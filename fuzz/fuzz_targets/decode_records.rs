//! R1 on arbitrary bytes as VT-d, AMD-Vi and RISC-V record words (fault
//! records, event log entries, page requests): decode never panics, valid
//! records re-encode to their words and round-trip through named fields,
//! refusals are typed errors pointing at set bits.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = iommu_inval_props::records::decode_records(data) {
        panic!("{e}");
    }
});
