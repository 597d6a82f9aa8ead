//! The efficiency and batch reports as regression tests: the library never
//! under-invalidates (footprints), except where the model and the hardware
//! part ways (documented in docs/PERFORMANCE.md), and batching never emits
//! more invalidations than one-by-one lowering of seed requests.

use iommu_inval_bench::batch_report;
use iommu_inval_bench::efficiency;
use iommu_inval_bench::targets;

#[test]
fn efficiency_rows_never_under_invalidate_but_for_tg0_with_a_block_hint() {
    let mut rows = Vec::new();
    targets::for_each_efficiency_target(&mut |target, flavor, lib, linux, note| {
        rows.extend(efficiency::measure(target, flavor, lib, linux, note));
    });
    assert!(rows.len() >= 80, "{} rows", rows.len());
    for r in &rows {
        assert!(r.lib_cmds.is_some(), "{r:?}");
        if r.lib_under {
            // SMMUv3 without range invalidation steps by the 2 MiB leaf hint
            // with `tg` = 0 TLBIs (a 4 KiB page each in the model).
            assert!(
                (r.target.contains("no RIL") || r.target.contains("no S/NL")) && r.granule == 21,
                "{r:?}"
            );
        }
    }
    // With range invalidation the SMMUv3 lowering matches Linux exactly.
    for r in rows.iter().filter(|r| r.target.starts_with("smmuv3 RIL")) {
        assert_eq!(r.lib_cmds, Some(r.linux_cmds), "{r:?}");
        assert!(r.lib_excess <= r.linux_excess, "{r:?}");
    }
}

#[test]
fn batches_cover_their_input_and_save_commands_on_request_streams() {
    for r in batch_report::measure() {
        assert!(r.covers, "{r:?}");
        if !r.stream.starts_with("examples/") {
            assert!(r.batched < r.one_by_one, "{r:?}");
        }
    }
}
