//! Batch coalescing (core::batch) on the realistic streams: ns per input
//! operation for `coalesce` alone, and for `lower_batch` to each
//! architecture against lowering the same requests one by one.

use iommu_inval_core::arch::Arch;
use iommu_inval_core::Flags;
use std::hint::black_box;

use divan::counter::ItemsCount;
use divan::Bencher;

use iommu_inval_bench::batching::lower_batch;
use iommu_inval_bench::streams;
use iommu_inval_bench::targets::{amd, arm, vtd};
use iommu_inval_core::batch::{coalesce, BatchOptions};
use iommu_inval_core::model::{Caches, Inval, Op};
use iommu_inval_core::sink::{CountSink, Sink};
use iommu_inval_core::IdentityContext;

fn main() {
    divan::main();
}

const STREAMS: [&str; 3] = ["scattered", "contiguous", "sg"];

fn stream(name: &str) -> Vec<Op> {
    match name {
        "scattered" => streams::scattered_pages(256, 1),
        "contiguous" => streams::contiguous_pages(256),
        _ => streams::sg_unmap(128, 2),
    }
}

#[divan::bench(args = STREAMS)]
fn coalesce_only(b: Bencher, name: &str) {
    let ops = stream(name);
    let mut scratch = vec![Inval::new(Caches::empty()); ops.len() * 3 + 3];
    let mut out = vec![Op::Sync(Default::default()); ops.len() * 4 + 8];
    b.counter(ItemsCount::new(ops.len())).bench_local(|| {
        let mut sink = iommu_inval_core::sink::SliceSink::new(&mut out);
        coalesce(
            black_box(&ops),
            &mut scratch,
            BatchOptions::default(),
            &mut sink,
        )
        .map_or(0, |s| s.output_ops)
    });
}

macro_rules! batch_vs_single {
    ($modname:ident, $t:ident) => {
        #[divan::bench_group]
        mod $modname {
            use super::*;
            use $t::{Command, Host, A};

            #[divan::bench(args = STREAMS)]
            fn batched(b: Bencher, name: &str) {
                let ops = stream(name);
                let caps = Host::default();
                let mut scratch = vec![Inval::new(Caches::empty()); ops.len() * 3 + 3];
                b.counter(ItemsCount::new(ops.len())).bench_local(|| {
                    let mut out = CountSink::default();
                    let f = |o: &Op, s: &mut dyn Sink<Command>| {
                        A::lower(o, &caps.features, caps.budget, &IdentityContext, s)
                    };
                    let _ = lower_batch(
                        black_box(&ops),
                        &mut scratch,
                        BatchOptions::default(),
                        f,
                        &mut out,
                    );
                    out.0
                });
            }

            #[divan::bench(args = STREAMS)]
            fn one_by_one(b: Bencher, name: &str) {
                let ops = stream(name);
                let caps = Host::default();
                b.counter(ItemsCount::new(ops.len())).bench_local(|| {
                    let mut out = CountSink::default();
                    for op in black_box(&ops) {
                        let _ =
                            A::lower(op, &caps.features, caps.budget, &IdentityContext, &mut out);
                        let _ = A::lower(
                            &Op::Sync(Default::default()),
                            &caps.features,
                            caps.budget,
                            &IdentityContext,
                            &mut out,
                        );
                    }
                    out.0
                });
            }
        }
    };
}

batch_vs_single!(smmuv3, arm);
batch_vs_single!(vtd_qi, vtd);
batch_vs_single!(amd_vi, amd);
