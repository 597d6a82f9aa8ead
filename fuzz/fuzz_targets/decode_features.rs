//! Decoding by the emulated IOMMU's features (SMMU_IDR*, VT-d CAP/ECAP, AMD
//! EFR): never a panic; any feature set accepts a subset of `decode`, as the
//! same command; the everything preset is `decode`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = iommu_inval_props::bodies::decode_features(data) {
        panic!("{e}");
    }
});
