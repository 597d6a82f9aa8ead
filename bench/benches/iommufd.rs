//! The iommufd payloads: ns per guest command for the vSMMU entry (the
//! kernel's checks and rewriting) and per generic op for the VT-d stage-1
//! entry, on the example streams.

use std::hint::black_box;

use divan::counter::ItemsCount;
use divan::Bencher;

use iommu_inval_bench::targets::{self, arm};
use iommu_inval_core::arch::Arch;
use iommu_inval_core::model::Op;
use iommu_inval_iommufd::smmuv3::{HostFeatures, Vsmmu};
use iommu_inval_iommufd::vtd::{s1_entry, S1Options};

fn main() {
    divan::main();
}

#[divan::bench]
fn vsmmu_guest_entry(b: Bencher) {
    let cmds = arm::commands(4096);
    let vdevs: Vec<(u32, u32)> = (0..64).map(|v| (v, v + 0x100)).collect();
    let v = Vsmmu::new(3, HostFeatures::default());
    b.counter(ItemsCount::new(cmds.len())).bench_local(|| {
        cmds.iter()
            .filter(|c| v.guest_entry(black_box(c), vdevs.as_slice()).is_ok())
            .count()
    });
}

#[divan::bench]
fn vtd_s1_entry(b: Bencher) {
    let ctx = targets::topology();
    let mut ops: Vec<Op> = Vec::new();
    for c in arm::commands(4096) {
        let _ = arm::A::lift(&c, &ctx, &mut ops);
    }
    let o = S1Options::default();
    b.counter(ItemsCount::new(ops.len())).bench_local(|| {
        ops.iter()
            .filter(|op| s1_entry(black_box(op), &o).entry.is_some())
            .count()
    });
}
