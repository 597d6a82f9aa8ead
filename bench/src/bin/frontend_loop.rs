//! The front-end loops of `benches/device.rs`, for counting instructions
//! with cachegrind (`scripts/frontend_insns.sh`):
//!
//!     frontend_loop WHAT ARCH PASSES
//!
//! WHAT: `decode` (the decode-only walk, fetch + decode, on `CellMemory`),
//! `decode-mmap` (the same on `GuestMemoryMmap`), `cell` (`process` into a
//! `CountingBackend` with the example topology, on `CellMemory`), `mmap`
//! (the same on `GuestMemoryMmap` through `VmMemory`), `mmap-id` (that
//! with the identity context: what the topology's id look-ups cost). ARCH: smmuv3, vtd,
//! amd, riscv. Each pass walks the 4095-command ring of the bench (a sync
//! after every 15 commands); instructions per command are the difference
//! of two PASSES over the commands between them, so setup does not count.

use std::process::exit;

use iommu_inval_amd::queue::CmdBufDevice;
use iommu_inval_arm::queue::CmdqDevice;
use iommu_inval_bench::frontend::{decode_only, mmap_guest, process_all, regs, with_cell_guest, N};
use iommu_inval_bench::targets::{amd, arm, riscv, topology, vtd};
use iommu_inval_core::device::{CommandQueue, CountingBackend};
use iommu_inval_core::queue::VmMemory;
use iommu_inval_core::{Context, IdentityContext, QueueMemory};
use iommu_inval_riscv::queue::CqDevice;
use iommu_inval_vtd::queue::InvQueue;

/// `passes` of `what` over the queue `Q` from `regs` in `mem`; the commands
/// consumed.
#[inline(never)]
fn passes<Q: CommandQueue, M: QueueMemory, C: Context>(
    what: &str,
    regs: (u64, u64),
    mem: &M,
    ctx: &C,
    passes: usize,
) -> u64 {
    let mut done = 0u64;
    for _ in 0..passes {
        done += u64::from(if what.starts_with("decode") {
            decode_only::<Q, _>(regs, mem)
        } else {
            process_all::<Q, _, _, _>(regs, mem, ctx, &mut CountingBackend::default())
        });
    }
    done
}

/// `what` over the ring `words` for the queue `Q`, on the memory it names.
fn run<Q: CommandQueue>(what: &str, words: &[u64], regs: (u64, u64), n: usize) -> u64 {
    let ctx = topology();
    if what.contains("mmap") {
        let Some(gm) = mmap_guest(words) else {
            eprintln!("cannot map the guest");
            exit(1)
        };
        let mem = VmMemory(&gm);
        if what == "mmap-id" {
            return passes::<Q, _, _>(what, regs, &mem, &IdentityContext, n);
        }
        passes::<Q, _, _>(what, regs, &mem, &ctx, n)
    } else {
        with_cell_guest(words, |mem| passes::<Q, _, _>(what, regs, mem, &ctx, n))
    }
}

fn usage() -> ! {
    eprintln!(
        "usage: frontend_loop decode|decode-mmap|cell|mmap|mmap-id smmuv3|vtd|amd|riscv PASSES"
    );
    exit(2)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [what, arch, n] = args.as_slice() else {
        usage()
    };
    if !matches!(
        what.as_str(),
        "decode" | "decode-mmap" | "cell" | "mmap" | "mmap-id"
    ) {
        usage();
    }
    let Ok(n) = n.parse::<usize>() else { usage() };
    let done = match arch.as_str() {
        "smmuv3" => run::<CmdqDevice>(what, &arm::synced_queue(N), regs::SMMUV3, n),
        "vtd" => run::<InvQueue>(what, &vtd::synced_queue(N), regs::VTD, n),
        "amd" => run::<CmdBufDevice>(what, &amd::synced_queue(N), regs::AMD, n),
        "riscv" => run::<CqDevice>(what, &riscv::synced_queue(N), regs::RISCV, n),
        _ => usage(),
    };
    println!("{what} {arch}: {done} of {} commands", N * n);
    if done != (N * n) as u64 {
        exit(1);
    }
}
