//! R4 on arbitrary native commands converted through a generated topology, and the iommufd
//! targets (vSMMU entries under the kernel rules, VT-d stage-1 entries, CMDQV).
//!
//! Each input checks one of six (its last byte picks it): R4 to SMMUv3, VT-d, AMD-Vi, RISC-V or
//! virtio-iommu, or the iommufd targets. Until round 7 every input checked all six; a campaign
//! checks the same properties at about twice the executions per second
//! (`iommu_inval_props::bodies::convert`).
//!
//! Round 8 changed no property (before and after: the six above, one per input): the
//! footprint oracle's box tests no longer call libFuzzer's comparison tracing once per
//! coordinate, and `scripts/fuzz.sh` runs this target with `-entropic=0` (fuzz/README.md).
//!
//! Round 9 changed no property either: `scripts/fuzz.sh` builds this target
//! without comparison tracing (`--no-trace-compares`, fuzz/README.md)
//! and runs it without hit-count buckets (`-use_counters=0`).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = iommu_inval_props::bodies::convert(data) {
        panic!("{e}");
    }
});
