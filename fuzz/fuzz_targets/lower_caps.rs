//! Lowering to hosts of arbitrary capabilities (any feature off, narrow ids,
//! any command cap) into bounded sinks: typed refusal, or at most
//! `max_lowered` valid commands the host implements that cover whatever is
//! not reported dropped; a sink too small is `BufferFull`, never a short `Ok`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = iommu_inval_props::bodies::lower_caps(data) {
        panic!("{e}");
    }
});
