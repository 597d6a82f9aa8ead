//! Decode, encode and decode+encode of a 4096-command queue per
//! architecture. The queue repeats the valid commands of the example stream
//! of that architecture (examples/*.cmds: unmaps, ATC, config, syncs, ...).
//! One iteration handles the 4096 commands; ns per command = time / 4096.
//!
//! `floor` is the physical floor of the same run: every word read once,
//! copied to a host buffer and folded. `checked_copy` is the checked
//! pass-through (`copy_checked`): each command checked as `decode` checks
//! it, its words copied to the host slot (by R1, what `decode_encode`
//! writes), without building the typed command. `trait_decode_encode` /
//! `trait_encode` go through `NativeCommand` in functions generic over the
//! architecture (the encode contract: `encode_into` never re-checks).
//!
//! `encode` and `decode_encode` write each command into its slot of a host
//! queue of the same width, as an emulator passing guest commands through
//! does. `decode_encode_value` instead black-boxes the returned array and
//! XOR-folds it: kept for comparison, because that consumer reads a
//! `[u64; 4]` back with 16-byte loads right after the two 8-byte stores of
//! w0/w1, a store-forwarding stall that costs VT-d (4-word `encode`) 6–7 ns
//! per command (8.8 against 2.0, docs/PERFORMANCE.md) and measures the
//! harness more than the codec.

use std::hint::black_box;

use divan::counter::ItemsCount;
use divan::Bencher;

use iommu_inval_bench::targets::{amd, arm, riscv, vtd};
use iommu_inval_core::{copy_checked, NativeCommand};

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

            /// The queue's valid commands, decoded, and a host queue for them.
            fn decoded() -> (Vec<Command>, Vec<u64>) {
                let cmds: Vec<Command> = black_box(&$t::queue(N, $words))
                    .chunks_exact($words)
                    .filter_map(|w| Command::decode(w).ok())
                    .collect();
                let host = vec![0u64; cmds.len() * $words];
                (cmds, host)
            }

            /// The queue and a host queue of the same size.
            fn queue_and_host() -> (Vec<u64>, Vec<u64>) {
                let q = $t::queue(N, $words);
                let host = vec![0u64; q.len()];
                (q, host)
            }

            #[divan::bench]
            fn encode(b: Bencher) {
                let (cmds, mut host) = decoded();
                b.counter(ItemsCount::new(N)).bench_local(|| {
                    for (c, slot) in black_box(&cmds).iter().zip(host.chunks_exact_mut($words)) {
                        slot.copy_from_slice(&c.encode()[..$words]);
                    }
                    black_box(&mut host);
                });
            }

            #[divan::bench]
            fn decode_encode(b: Bencher) {
                let (q, mut host) = queue_and_host();
                b.counter(ItemsCount::new(N)).bench_local(|| {
                    let ok = $t::decode_encode_pass::<$words>(black_box(&q), &mut host);
                    black_box(&mut host);
                    ok
                });
            }

            /// The physical floor: read every word of the queue once, write
            /// it to a host buffer of the same size and fold it (the least
            /// any pass-through must do).
            #[divan::bench]
            fn floor(b: Bencher) {
                let (q, mut host) = queue_and_host();
                b.counter(ItemsCount::new(N)).bench_local(|| {
                    let mut acc = 0u64;
                    for (w, slot) in black_box(&q).iter().zip(host.iter_mut()) {
                        *slot = *w;
                        acc ^= *w;
                    }
                    black_box(&mut host);
                    acc
                });
            }

            /// The checked pass-through: `copy_checked` checks each command
            /// as `decode` would (`check_words`) and copies its words into
            /// the host slot, which by R1 is what `decode_encode` writes.
            #[divan::bench]
            fn checked_copy(b: Bencher) {
                let (q, mut host) = queue_and_host();
                b.counter(ItemsCount::new(N)).bench_local(|| {
                    let n = copy_checked::<Command>(black_box(&q), &mut host, $words);
                    black_box(&mut host);
                    n
                });
            }

            /// `decode + encode` through the `NativeCommand` trait, in a
            /// function generic over the architecture (what the CLI and a
            /// generic emulator call).
            #[divan::bench]
            fn trait_decode_encode(b: Bencher) {
                let (q, mut host) = queue_and_host();
                b.counter(ItemsCount::new(N))
                    .bench_local(|| generic_pass::<Command, $words>(black_box(&q), &mut host));
            }

            /// `encode_into` through the trait alone, on decoded commands.
            #[divan::bench]
            fn trait_encode(b: Bencher) {
                let (cmds, mut host) = decoded();
                b.counter(ItemsCount::new(N))
                    .bench_local(|| generic_encode::<Command, $words>(black_box(&cmds), &mut host));
            }

            #[divan::bench]
            fn decode_encode_value(b: Bencher) {
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

/// Decode each command and encode it into its host slot through the trait.
#[inline(never)]
fn generic_pass<C: NativeCommand, const W: usize>(q: &[u64], host: &mut [u64]) -> usize {
    let mut ok = 0;
    for (w, slot) in q.chunks_exact(W).zip(host.chunks_exact_mut(W)) {
        if let Ok(c) = C::decode(w) {
            ok += c.encode_into(slot).unwrap_or(0);
        }
    }
    ok
}

/// Encode each command into its host slot through the trait.
#[inline(never)]
fn generic_encode<C: NativeCommand, const W: usize>(cmds: &[C], host: &mut [u64]) -> usize {
    let mut n = 0;
    for (c, slot) in cmds.iter().zip(host.chunks_exact_mut(W)) {
        n += c.encode_into(slot).unwrap_or(0);
    }
    n
}

codec!(smmuv3, arm, 2);
codec!(vtd_128, vtd, 2);
codec!(vtd_256, vtd, 4);
codec!(amd_vi, amd, 2);
codec!(riscv_iommu, riscv, 2);
