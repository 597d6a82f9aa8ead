//! Lift and lower throughput per architecture (ns per operation).
//!
//! * `lift`: the example stream's commands (examples/*.cmds) lifted with the
//!   example topology; ns per native command = time / N.
//! * `lower`: the lifted example operations lowered with the default caps
//!   and the example topology; ns per generic operation = time / N.
//! * `common/<case>`: lift+lower of one generic operation in the common
//!   cases (single page, aligned 2 MiB range, PASID-wide): lower it, then
//!   lift every command it became (IdentityContext).
//!
//! Outputs go to caller-owned slices (`SliceSink`), as an emulator would.

use iommu_inval_core::arch::Arch;
use std::hint::black_box;

use divan::counter::ItemsCount;
use divan::Bencher;

use iommu_inval_bench::streams;
use iommu_inval_bench::targets::{self, amd, arm, riscv, vtd};
use iommu_inval_core::model::Op;
use iommu_inval_core::sink::SliceSink;
use iommu_inval_core::IdentityContext;

const N: usize = 4096;

fn main() {
    divan::main();
}

macro_rules! lift_lower {
    ($modname:ident, $t:ident) => {
        #[divan::bench_group]
        mod $modname {
            use super::*;
            use $t::{Command, Host, A};

            #[divan::bench]
            fn lift_examples(b: Bencher) {
                let cmds = $t::commands(N);
                let topo = targets::topology();
                let mut buf = vec![Op::Sync(Default::default()); 64];
                b.counter(ItemsCount::new(cmds.len())).bench_local(|| {
                    let mut n = 0usize;
                    for c in black_box(&cmds) {
                        let mut out = SliceSink::new(&mut buf);
                        if let Ok(o) = A::lift(c, &topo, &mut out) {
                            n += o.emitted;
                        }
                    }
                    n
                });
            }

            #[divan::bench]
            fn lower_examples(b: Bencher) {
                let ops: Vec<Op> = $t::example_ops().into_iter().cycle().take(N).collect();
                let topo = targets::topology();
                let caps = Host::default();
                let mut buf: Vec<Command> = $t::commands(64);
                b.counter(ItemsCount::new(ops.len())).bench_local(|| {
                    let mut n = 0usize;
                    for op in black_box(&ops) {
                        let mut out = SliceSink::new(&mut buf);
                        if let Ok(o) = A::lower(op, &caps.features, caps.budget, &topo, &mut out) {
                            n += o.emitted;
                        }
                    }
                    n
                });
            }

            /// Lowers `op` with the default caps and no topology into
            /// `cmds`; the number of commands written.
            fn lower_common(op: &Op, caps: &Host, cmds: &mut [Command]) -> usize {
                let mut out = SliceSink::new(cmds);
                let _ = A::lower(
                    black_box(op),
                    &caps.features,
                    caps.budget,
                    &IdentityContext,
                    &mut out,
                );
                out.written().len()
            }

            /// The common case `case`, the default caps and a command buffer.
            fn common_setup(case: &str) -> Option<(Op, Host, Vec<Command>)> {
                Some((
                    streams::common_case(case)?,
                    Host::default(),
                    $t::commands(64),
                ))
            }

            #[divan::bench(args = ["single_page", "aligned_2m", "pasid_wide"], sample_size = 1000)]
            fn common_lower_only(b: Bencher, case: &str) {
                let Some((op, caps, mut cmds)) = common_setup(case) else {
                    return;
                };
                b.bench_local(|| lower_common(&op, &caps, &mut cmds));
            }

            #[divan::bench(args = ["single_page", "aligned_2m", "pasid_wide"], sample_size = 1000)]
            fn common(b: Bencher, case: &str) {
                let Some((op, caps, mut cmds)) = common_setup(case) else {
                    return;
                };
                let mut ops = vec![Op::Sync(Default::default()); 64];
                b.bench_local(|| {
                    let k = lower_common(&op, &caps, &mut cmds);
                    let mut n = 0usize;
                    for c in cmds.iter().take(k) {
                        let mut back = SliceSink::new(&mut ops);
                        if let Ok(o) = A::lift(c, &IdentityContext, &mut back) {
                            n += o.emitted;
                        }
                    }
                    n
                });
            }
        }
    };
}

lift_lower!(smmuv3, arm);
lift_lower!(vtd_qi, vtd);
lift_lower!(amd_vi, amd);
lift_lower!(riscv_iommu, riscv);
