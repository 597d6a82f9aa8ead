//! The queue front end end to end (`CommandQueue::process`): a guest ring
//! of 4095 commands (the example stream of each architecture, a sync that
//! writes a completion after every 15 commands) fetched from guest memory,
//! decoded, lifted, batched per barrier into a back end, with every sync's
//! completion store written; beside it, in the same run, the decode-only
//! walk of the same ring (`QueueEngine::consume`: fetch + decode, nothing
//! else). Both on a `CellMemory` guest and on rust-vmm's `GuestMemoryMmap`
//! through `VmMemory` (`iommu_inval_bench::frontend`). ns per command =
//! time / 4095. Goals: end to end at most 2× decode-only and at most 20 ns
//! per command on `GuestMemoryMmap`.

use std::hint::black_box;

use divan::counter::ItemsCount;
use divan::Bencher;

use iommu_inval_amd::queue::CmdBufDevice;
use iommu_inval_arm::queue::CmdqDevice;
use iommu_inval_bench::frontend::{
    decode_only, mmap_guest, process_all, regs, with_cell_guest, MmapGuest, N,
};
use iommu_inval_bench::targets::{amd, arm, riscv, topology, vtd};
use iommu_inval_core::device::{CommandQueue, CountingBackend, RecordingBackend};
use iommu_inval_core::{Context, IdentityContext, QueueMemory};
use iommu_inval_riscv::queue::CqDevice;
use iommu_inval_vtd::queue::InvQueue;

fn main() {
    divan::main();
}

/// Benches the whole ring processed with `ctx` into a fresh counting back
/// end per iteration.
fn counting<Q: CommandQueue, M: QueueMemory, C: Context + ?Sized>(
    b: Bencher,
    regs: (u64, u64),
    mem: &M,
    ctx: &C,
) {
    b.counter(ItemsCount::new(N)).bench_local(|| {
        let mut be = CountingBackend::default();
        let n = process_all::<Q, _, _, _>(regs, mem, ctx, &mut be);
        assert_eq!(n as usize, N);
        be.ops
    });
}

/// Benches the decode-only walk of the ring.
fn walk<Q: CommandQueue, M: QueueMemory>(b: Bencher, regs: (u64, u64), mem: &M) {
    b.counter(ItemsCount::new(N)).bench_local(|| {
        let n = decode_only::<Q, _>(regs, mem);
        assert_eq!(n as usize, N);
        n
    });
}

/// Runs `f` over the ring `words` in a `GuestMemoryMmap`.
fn with_mmap(words: &[u64], f: impl FnOnce(&MmapGuest<'_>)) {
    let gm = mmap_guest(words).expect("the bench guest maps");
    f(&iommu_inval_core::queue::VmMemory(&gm));
}

macro_rules! device {
    ($modname:ident, $t:ident, $dev:ty, $regs:expr) => {
        #[divan::bench_group]
        mod $modname {
            use super::*;

            #[divan::bench]
            fn decode_only(b: Bencher) {
                with_cell_guest(&$t::synced_queue(N), |mem| walk::<$dev, _>(b, $regs, mem));
            }

            #[divan::bench]
            fn decode_only_mmap(b: Bencher) {
                with_mmap(&$t::synced_queue(N), |mem| walk::<$dev, _>(b, $regs, mem));
            }

            #[divan::bench]
            fn end_to_end_counting(b: Bencher) {
                with_cell_guest(&$t::synced_queue(N), |mem| {
                    counting::<$dev, _, _>(b, $regs, mem, &topology())
                });
            }

            /// The same on rust-vmm's `GuestMemoryMmap`.
            #[divan::bench]
            fn end_to_end_mmap(b: Bencher) {
                with_mmap(&$t::synced_queue(N), |mem| {
                    counting::<$dev, _, _>(b, $regs, mem, &topology())
                });
            }

            /// The same with the identity context: what the topology's id
            /// lookups cost.
            #[divan::bench]
            fn end_to_end_identity(b: Bencher) {
                with_cell_guest(&$t::synced_queue(N), |mem| {
                    counting::<$dev, _, _>(b, $regs, mem, &IdentityContext)
                });
            }

            #[divan::bench]
            fn end_to_end_recording(b: Bencher) {
                let ctx = topology();
                let mut be = RecordingBackend::default();
                with_cell_guest(&$t::synced_queue(N), |mem| {
                    b.counter(ItemsCount::new(N)).bench_local(|| {
                        be.clear();
                        process_all::<$dev, _, _, _>($regs, mem, &ctx, &mut be);
                        black_box(be.ops().count())
                    });
                });
            }
        }
    };
}

device!(smmuv3, arm, CmdqDevice, regs::SMMUV3);
device!(vtd_128, vtd, InvQueue, regs::VTD);
device!(amd_vi, amd, CmdBufDevice, regs::AMD);
device!(riscv_iommu, riscv, CqDevice, regs::RISCV);
