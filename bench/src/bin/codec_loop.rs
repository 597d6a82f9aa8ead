//! The decode + encode loop of the codec benchmark (`benches/codec.rs`,
//! `decode_encode`: `targets::<arch>::decode_encode_pass`) as a plain
//! program, for counting its instructions with `scripts/codec_insns.sh`
//! (cachegrind): deterministic where wall time on a shared machine is not;
//! with `copy`, the benchmark's `checked_copy` loop (`copy_checked`).
//!
//!     codec_loop ARCH PASSES [copy]     (ARCH: smmuv3, vtd, vtd256, amd, riscv)

use std::hint::black_box;

use iommu_inval_bench::targets::{amd, arm, riscv, vtd};
use iommu_inval_core::copy_checked;

/// Commands per queue, as in the benchmark.
const N: usize = 4096;

/// One decode + encode pass over a queue into a host queue.
type Pass = fn(&[u64], &mut [u64]) -> usize;

/// The benchmark's own loop, kept out of line so that it is one function.
macro_rules! pass {
    ($name:ident, $copy:ident, $t:ident, $words:expr) => {
        #[inline(never)]
        fn $name(q: &[u64], host: &mut [u64]) -> usize {
            $t::decode_encode_pass::<$words>(q, host)
        }
        /// The checked pass-through of the same queue.
        #[inline(never)]
        fn $copy(q: &[u64], host: &mut [u64]) -> usize {
            copy_checked::<$t::Command>(q, host, $words).unwrap_or(0)
        }
    };
}
pass!(pass_smmuv3, copy_smmuv3, arm, 2);
pass!(pass_vtd, copy_vtd, vtd, 2);
pass!(pass_vtd256, copy_vtd256, vtd, 4);
pass!(pass_amd, copy_amd, amd, 2);
pass!(pass_riscv, copy_riscv, riscv, 2);

fn main() {
    let mut args = std::env::args().skip(1);
    let arch = args.next().unwrap_or_default();
    let passes: usize = match args.next().map(|s| s.parse()) {
        Some(Ok(n)) => n,
        _ => {
            eprintln!("usage: codec_loop smmuv3|vtd|vtd256|amd|riscv PASSES [copy]");
            std::process::exit(2);
        }
    };
    let copy = match args.next().as_deref() {
        None => false,
        Some("copy") => true,
        Some(m) => {
            eprintln!("unknown mode {m:?} (the one mode is `copy`)");
            std::process::exit(2);
        }
    };
    let (q, f, g): (Vec<u64>, Pass, Pass) = match arch.as_str() {
        "smmuv3" => (arm::queue(N, 2), pass_smmuv3, copy_smmuv3),
        "vtd" => (vtd::queue(N, 2), pass_vtd, copy_vtd),
        "vtd256" => (vtd::queue(N, 4), pass_vtd256, copy_vtd256),
        "amd" => (amd::queue(N, 2), pass_amd, copy_amd),
        "riscv" => (riscv::queue(N, 2), pass_riscv, copy_riscv),
        _ => {
            eprintln!("unknown architecture {arch:?}");
            std::process::exit(2);
        }
    };
    let f = if copy { g } else { f };
    let mut host = vec![0u64; q.len()];
    let mut ok = 0;
    for _ in 0..passes {
        ok += f(black_box(&q), black_box(&mut host));
    }
    println!("{arch}: {ok} commands in {passes} passes");
}
