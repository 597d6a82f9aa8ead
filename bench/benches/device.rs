//! The queue front end end to end (`CommandQueue::process`): a guest ring
//! of 4095 commands (the example stream of each architecture repeated, as
//! in the codec bench) fetched from guest memory, decoded, lifted, batched
//! per barrier into a back end, with every sync's completion store written;
//! beside it, in the same run, the decode-only walk of the same ring
//! (`QueueEngine::consume`: fetch + decode, nothing else).
//! ns per command = time / 4095. Goal: end to end at most 3× decode-only.
//!
//! Guest memory is a `CellMemory` ring plus the status page the VT-d and
//! AMD-Vi streams store their completion to (0x7f000000).

use std::hint::black_box;

use divan::counter::ItemsCount;
use divan::Bencher;

use iommu_inval_amd::queue::CmdBufDevice;
use iommu_inval_arm::queue::CmdqDevice;
use iommu_inval_bench::targets::{amd, arm, riscv, topology, vtd};
use iommu_inval_core::device::{
    Backend, CommandQueue, CountingBackend, QueueEngine, RecordingBackend,
};
use iommu_inval_core::{CellMemory, Context, IdentityContext, MemError, QueueMemory};
use iommu_inval_riscv::queue::CqDevice;
use iommu_inval_vtd::queue::InvQueue;

/// Commands in the ring (a 4096-slot VT-d or AMD-Vi ring holds at most 4095).
const N: usize = 4095;
const RING: u64 = 0x10_0000;
const STATUS: u64 = 0x7f00_0000;

fn main() {
    divan::main();
}

/// The ring and the status page.
struct Guest<'a> {
    ring: CellMemory<'a>,
    status: CellMemory<'a>,
}

impl Guest<'_> {
    fn pick(&self, addr: u64) -> &CellMemory<'_> {
        if addr >= STATUS {
            &self.status
        } else {
            &self.ring
        }
    }
}

impl QueueMemory for Guest<'_> {
    fn read_words(&self, addr: u64, out: &mut [u64]) -> Result<(), MemError> {
        self.pick(addr).read_words(addr, out)
    }
    fn write_bytes(&self, addr: u64, bytes: &[u8]) -> Result<(), MemError> {
        self.pick(addr).write_bytes(addr, bytes)
    }
}

/// Ring bytes holding `words` (16-byte slots).
fn ring_bytes(words: &[u64]) -> Vec<u8> {
    let mut v: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    v.resize(4096 * 16, 0);
    v
}

/// Runs `f` over guest memory holding the ring `words` and a zeroed status page.
fn with_guest(words: &[u64], f: impl FnOnce(&Guest<'_>)) {
    let mut ring = ring_bytes(words);
    let mut page = vec![0u8; 4096];
    f(&Guest {
        ring: CellMemory::new(RING, &mut ring),
        status: CellMemory::new(STATUS, &mut page),
    });
}

/// A fresh queue at `base`, its doorbell rung at `tail`, the whole ring
/// processed into `be`.
fn process_all<Q: CommandQueue, C: Context + ?Sized, B: Backend>(
    base: u64,
    tail: u64,
    mem: &Guest<'_>,
    ctx: &C,
    be: &mut B,
) {
    let mut q = Q::from_registers(base, 0, 0).unwrap();
    q.doorbell(tail);
    let p = q.process(black_box(mem), ctx, be);
    assert_eq!(p.consumed as usize, N);
}

/// Benches the whole ring `words` processed with `ctx` into a fresh
/// counting back end per iteration.
fn counting<Q: CommandQueue, C: Context + ?Sized>(
    b: Bencher,
    words: &[u64],
    base: u64,
    tail: u64,
    ctx: &C,
) {
    with_guest(words, |mem| {
        b.counter(ItemsCount::new(N)).bench_local(|| {
            let mut be = CountingBackend::default();
            process_all::<Q, _, _>(base, tail, mem, ctx, &mut be);
            be.ops
        });
    });
}

macro_rules! device {
    ($modname:ident, $t:ident, $dev:ty, $base:expr, $tail:expr) => {
        #[divan::bench_group]
        mod $modname {
            use super::*;

            #[divan::bench]
            fn decode_only(b: Bencher) {
                with_guest(&$t::queue(N, 2), |mem| {
                    b.counter(ItemsCount::new(N)).bench_local(|| {
                        let mut q = <$dev>::from_registers($base, 0, $tail).unwrap();
                        q.consume(black_box(mem), |c| {
                            black_box(c);
                        })
                        .consumed
                    });
                });
            }

            #[divan::bench]
            fn end_to_end_counting(b: Bencher) {
                counting::<$dev, _>(b, &$t::queue(N, 2), $base, $tail, &topology());
            }

            /// The same with the identity context: what the topology's id
            /// lookups cost.
            #[divan::bench]
            fn end_to_end_identity(b: Bencher) {
                counting::<$dev, _>(b, &$t::queue(N, 2), $base, $tail, &IdentityContext);
            }

            #[divan::bench]
            fn end_to_end_recording(b: Bencher) {
                let ctx = topology();
                let mut be = RecordingBackend::default();
                with_guest(&$t::queue(N, 2), |mem| {
                    b.counter(ItemsCount::new(N)).bench_local(|| {
                        be.clear();
                        process_all::<$dev, _, _>($base, $tail, mem, &ctx, &mut be);
                        be.ops().count()
                    });
                });
            }
        }
    };
}

// SMMU_CMDQ_BASE.LOG2SIZE = 12; PROD = N.
device!(smmuv3, arm, CmdqDevice, RING | 12, N as u64);
// IQA_REG.QS = 4: 16 pages of 128-bit descriptors.
device!(vtd_128, vtd, InvQueue, RING | 4, 16 * N as u64);
// CmdBufBaseAddr.ComLen = 12.
device!(amd_vi, amd, CmdBufDevice, 12 << 56 | RING, 16 * N as u64);
// cqb: PPN of RING in [53:10], LOG2SZ-1 = 11 (4096 entries); cqt = N.
device!(
    riscv_iommu,
    riscv,
    CqDevice,
    (RING >> 12) << 10 | 11,
    N as u64
);
