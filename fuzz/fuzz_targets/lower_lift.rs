//! R3 on arbitrary (edge-biased) generic operations, lowered to an architecture and lifted back.
//!
//! Each input checks one of ten (its last byte picks it): SMMUv3, VT-d, AMD-Vi, RISC-V or
//! virtio-iommu, with the identity context or a generated topology. Until round 7 every input
//! checked all ten; a campaign checks the same properties at about twice the executions per
//! second (`iommu_inval_props::bodies::lower_lift`).
//!
//! Round 8 changed no property (before and after: the ten above, one per input): the
//! footprint oracle's box tests no longer call libFuzzer's comparison tracing once per
//! coordinate, and `scripts/fuzz.sh` runs this target with `-entropic=0` (fuzz/README.md).
//!
//! Round 9 changed no property either: `scripts/fuzz.sh` builds this target
//! without comparison tracing (`--no-trace-compares`, fuzz/README.md).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = iommu_inval_props::bodies::lower_lift(data) {
        panic!("{e}");
    }
});
