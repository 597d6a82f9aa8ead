//! The VMM front end end to end: a guest ring of any architecture through
//! its `CommandQueue`, `LowerToHost` into a small host ring of any
//! architecture and arbitrary caps, the host's front end: never a panic,
//! every written host command consumed, and the host's ops exactly the
//! lowered-and-lifted guest ops (a prefix when something faults).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = iommu_inval_props::passthrough::passthrough(data) {
        panic!("{e}");
    }
});
