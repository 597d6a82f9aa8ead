//! Decode, encode and decode+encode of a 4096-command queue per
//! architecture. The queue repeats the valid commands of the example stream
//! of that architecture (examples/*.cmds: unmaps, ATC, config, syncs, ...).
//! One iteration handles the 4096 commands; ns per command = time / 4096.

use std::hint::black_box;

use divan::counter::ItemsCount;
use divan::Bencher;

use iommu_inval_bench::targets::{amd, arm, vtd};

/// Commands per queue.
const N: usize = 4096;

fn main() {
    divan::main();
}

macro_rules! codec {
    ($modname:ident, $t:ident, $words:expr) => {
        #[divan::bench_group]
        mod $modname {
            use super::*;
            use $t::Command;

            #[divan::bench]
            fn decode(b: Bencher) {
                let q = $t::queue(N, $words);
                b.counter(ItemsCount::new(N)).bench_local(|| {
                    let mut ok = 0usize;
                    for w in black_box(&q).chunks_exact($words) {
                        if let Ok(c) = Command::decode(w) {
                            black_box(&c);
                            ok += 1;
                        }
                    }
                    ok
                });
            }

            #[divan::bench]
            fn encode(b: Bencher) {
                let cmds: Vec<Command> = black_box(&$t::queue(N, $words))
                    .chunks_exact($words)
                    .filter_map(|w| Command::decode(w).ok())
                    .collect();
                b.counter(ItemsCount::new(N)).bench_local(|| {
                    let mut acc = 0u64;
                    for c in black_box(&cmds) {
                        let w = black_box(c.encode());
                        acc ^= w.iter().fold(0, |a, x| a ^ x);
                    }
                    acc
                });
            }

            #[divan::bench]
            fn decode_encode(b: Bencher) {
                let q = $t::queue(N, $words);
                b.counter(ItemsCount::new(N)).bench_local(|| {
                    let mut acc = 0u64;
                    for w in black_box(&q).chunks_exact($words) {
                        if let Ok(c) = Command::decode(w) {
                            let e = black_box(c.encode());
                            acc ^= e.iter().fold(0, |a, x| a ^ x);
                        }
                    }
                    acc
                });
            }
        }
    };
}

codec!(smmuv3, arm, 2);
codec!(vtd_128, vtd, 2);
codec!(vtd_256, vtd, 4);
codec!(amd_vi, amd, 2);
