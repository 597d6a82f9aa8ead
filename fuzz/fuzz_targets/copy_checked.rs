//! The checked pass-through: `copy_checked` of a guest queue of any
//! architecture (valid commands, raw and random words, wrong strides,
//! partial commands, a short destination) gives what decoding and encoding
//! each command gives, stops at the same command with the same error, and
//! writes the same words.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = iommu_inval_props::bodies::copy_checked(data) {
        panic!("{e}");
    }
});
