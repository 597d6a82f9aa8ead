//! Conversion for the twelve ordered pairs of architectures: each native
//! command of the source's example stream is lifted with the example
//! topology and every resulting operation lowered to the target with its
//! default caps. ns per source command = time / N.

use iommu_inval_core::arch::Arch;
use std::hint::black_box;

use divan::counter::ItemsCount;
use divan::Bencher;

use iommu_inval_bench::targets::{self, amd, arm, riscv, vtd};
use iommu_inval_core::model::Op;
use iommu_inval_core::sink::SliceSink;

const N: usize = 4096;

fn main() {
    divan::main();
}

macro_rules! convert {
    ($from:ident => $($name:ident: $to:ident),+) => {$(
        #[divan::bench]
        fn $name(b: Bencher) {
            let cmds = $from::commands(N);
            let topo = targets::topology();
            let caps = $to::Host::default();
            let mut ops = vec![Op::Sync(Default::default()); 64];
            let mut out_buf: Vec<$to::Command> = $to::commands(256);
            b.counter(ItemsCount::new(cmds.len())).bench_local(|| {
                let mut n = 0usize;
                for c in black_box(&cmds) {
                    let mut lifted = SliceSink::new(&mut ops);
                    if $from::A::lift(c, &topo, &mut lifted).is_err() {
                        continue;
                    }
                    let k = lifted.written().len();
                    for op in ops.iter().take(k) {
                        let mut out = SliceSink::new(&mut out_buf);
                        if let Ok(o) = $to::A::lower(op, &caps.features, caps.budget, &topo, &mut out)
                        {
                            n += o.emitted;
                        }
                    }
                }
                n
            });
        }
    )+};
}

// Each source with its three targets.
convert!(arm => smmuv3_to_vtd: vtd, smmuv3_to_amd: amd, smmuv3_to_riscv: riscv);
convert!(vtd => vtd_to_smmuv3: arm, vtd_to_amd: amd, vtd_to_riscv: riscv);
convert!(amd => amd_to_smmuv3: arm, amd_to_vtd: vtd, amd_to_riscv: riscv);
convert!(riscv => riscv_to_smmuv3: arm, riscv_to_vtd: vtd, riscv_to_amd: amd);
