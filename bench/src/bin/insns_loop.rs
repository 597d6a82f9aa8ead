//! Loops for counting instructions with cachegrind, written against the API
//! that the commit before the redesign (8a759f6) and the redesigned one
//! share, so that `scripts/insns_compare.sh` builds this one source at both
//! and compares them side by side. The one difference, the guest-memory
//! trait's name (`GuestMemory` before, `QueueMemory` now), is switched by
//! `--cfg insns_old` (the script builds the old side with it).
//!
//!     insns_loop convert FROM TO PASSES    (FROM, TO: smmuv3, vtd, amd, riscv)
//!     insns_loop device ARCH PASSES
//!
//! Both walk a ring of 4095 commands: the example stream's commands
//! (`examples/ARCH.cmds`, the same at both commits) other than syncs,
//! cycled, with a sync after every 15. `convert` lifts each command of the
//! ring and lowers what it became to TO (facade: `ArchOps::decode` once,
//! then `convert::convert` with the identity context into one reused
//! `Vec`); `device` runs the architecture's queue front end over it
//! (`CommandQueue::from_registers`, `doorbell`, `process` over
//! `CellMemory` into a `CountingBackend`). Instructions per command are the
//! difference of two PASSES over their difference, so setup does not count.

use std::hint::black_box;
use std::process::exit;

use iommu_inval::{convert, Arch, ArchOps, NativeAny};
use iommu_inval_amd::queue::CmdBufDevice;
use iommu_inval_arm::queue::CmdqDevice;
use iommu_inval_core::context::IdentityContext;
use iommu_inval_core::device::{CommandQueue, CountingBackend};
use iommu_inval_core::native::ArchId;
#[cfg(insns_old)]
use iommu_inval_core::queue::GuestMemory as Mem;
#[cfg(not(insns_old))]
use iommu_inval_core::queue::QueueMemory as Mem;
use iommu_inval_core::queue::{CellMemory, MemError};
use iommu_inval_riscv::queue::CqDevice;
use iommu_inval_vtd::queue::InvQueue;

/// Commands in the ring (one slot of 4096 stays free).
const N: usize = 4095;
/// Guest address of the ring.
const RING: u64 = 0x10_0000;
/// Guest page that the examples' completion writes go to.
const STATUS: u64 = 0x7f00_0000;

/// The example stream of `arch`: 16-byte commands, as words.
fn examples(arch: &str) -> Vec<[u64; 2]> {
    let text = match arch {
        "smmuv3" => include_str!("../../../examples/smmuv3.cmds"),
        "vtd" => include_str!("../../../examples/vtd.cmds"),
        "amd" => include_str!("../../../examples/amd.cmds"),
        _ => include_str!("../../../examples/riscv.cmds"),
    };
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let w: Vec<u64> = l
                .split(',')
                .filter_map(|s| u64::from_str_radix(s.trim().trim_start_matches("0x"), 16).ok())
                .collect();
            (w.len() == 2).then(|| [w[0], w[1]])
        })
        .collect()
}

/// Whether `w` is the architecture's barrier: SMMUv3 CMD_SYNC, VT-d
/// wait descriptor, AMD-Vi COMPLETION_WAIT, RISC-V IOFENCE.
fn is_sync(arch: &str, w: [u64; 2]) -> bool {
    match arch {
        "smmuv3" => w[0] & 0xff == 0x46,
        "vtd" => w[0] & 0xf == 5 && (w[0] >> 9) & 7 == 0,
        "amd" => w[0] >> 60 == 1,
        _ => w[0] & 0x7f == 2,
    }
}

/// The ring: the examples' other commands cycled, a sync after every 15
/// (the first sync of the examples that writes a completion: for RISC-V
/// the IOFENCE.C with AV).
fn ring(arch: &str) -> Vec<u64> {
    let ex = examples(arch);
    let (syncs, cmds): (Vec<[u64; 2]>, Vec<[u64; 2]>) =
        ex.into_iter().partition(|&w| is_sync(arch, w));
    let sync = syncs
        .iter()
        .copied()
        .find(|w| arch != "riscv" || w[0] & (1 << 10) != 0)
        .unwrap_or_else(|| {
            eprintln!("no sync in the examples of {arch}");
            exit(2)
        });
    let mut it = cmds.iter().copied().cycle();
    (0..N)
        .flat_map(|k| {
            if k % 16 == 15 {
                sync
            } else {
                it.next().unwrap_or(sync)
            }
        })
        .collect()
}

/// Guest memory: the ring and the completion page.
struct Guest<'a> {
    ring: CellMemory<'a>,
    status: CellMemory<'a>,
}

impl Mem for Guest<'_> {
    fn read_words(&self, addr: u64, out: &mut [u64]) -> Result<(), MemError> {
        if addr >= STATUS {
            &self.status
        } else {
            &self.ring
        }
        .read_words(addr, out)
    }
    fn write_bytes(&self, addr: u64, bytes: &[u8]) -> Result<(), MemError> {
        if addr >= STATUS {
            &self.status
        } else {
            &self.ring
        }
        .write_bytes(addr, bytes)
    }
}

/// One front-end pass over the ring; the commands consumed.
#[inline(never)]
fn pass<Q: CommandQueue>(mem: &Guest<'_>, base: u64, tail: u64) -> u64 {
    let Ok(mut q) = Q::from_registers(base, 0, 0) else {
        return 0;
    };
    q.doorbell(tail);
    let p = q.process(
        black_box(mem),
        &IdentityContext,
        &mut CountingBackend::default(),
    );
    u64::from(p.consumed)
}

fn device(arch: &str, passes: usize) -> u64 {
    let mut bytes: Vec<u8> = ring(arch).iter().flat_map(|w| w.to_le_bytes()).collect();
    bytes.resize(4096 * 16, 0);
    let mut page = vec![0u8; 4096];
    let mem = Guest {
        ring: CellMemory::new(RING, &mut bytes),
        status: CellMemory::new(STATUS, &mut page),
    };
    let n = N as u64;
    let mut done = 0;
    for _ in 0..passes {
        done += match arch {
            "smmuv3" => pass::<CmdqDevice>(&mem, RING | 12, n),
            "vtd" => pass::<InvQueue>(&mem, RING | 4, 16 * n),
            "amd" => pass::<CmdBufDevice>(&mem, 12 << 56 | RING, 16 * n),
            _ => pass::<CqDevice>(&mem, (RING >> 12) << 10 | 11, n),
        };
    }
    done
}

/// Lift and lower every command of the ring; the conversions that succeeded.
#[inline(never)]
fn convert_pass(cmds: &[NativeAny], to: &Arch, out: &mut Vec<NativeAny>) -> u64 {
    let mut ok = 0;
    for c in cmds {
        out.clear();
        if convert(black_box(c), to, &IdentityContext, out).is_ok() {
            ok += 1;
        }
        black_box(&*out);
    }
    ok
}

fn arch_id(name: &str) -> ArchId {
    ArchId::from_name(name).unwrap_or_else(|| {
        eprintln!("unknown architecture {name:?}");
        exit(2)
    })
}

fn lift_lower(from: &str, to: &str, passes: usize) -> u64 {
    let src = Arch::new(arch_id(from));
    let dst = Arch::new(arch_id(to));
    let cmds: Vec<NativeAny> = ring(from)
        .chunks_exact(2)
        .filter_map(|w| src.decode(w).ok())
        .collect();
    if cmds.len() != N {
        eprintln!("{from}: {} of {N} commands decode", cmds.len());
        exit(1);
    }
    let mut out = Vec::with_capacity(1024);
    let mut ok = 0;
    for _ in 0..passes {
        ok += convert_pass(&cmds, &dst, &mut out);
    }
    ok
}

fn usage() -> ! {
    eprintln!("usage: insns_loop convert FROM TO PASSES | insns_loop device ARCH PASSES");
    exit(2)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num =
        |s: Option<&String>| -> usize { s.and_then(|s| s.parse().ok()).unwrap_or_else(|| usage()) };
    match args.first().map(String::as_str) {
        Some("convert") if args.len() == 4 => {
            let passes = num(args.get(3));
            let ok = lift_lower(&args[1], &args[2], passes);
            println!(
                "convert {} -> {}: {ok} of {} conversions",
                args[1],
                args[2],
                N * passes
            );
        }
        Some("device") if args.len() == 3 => {
            let arch = args[1].as_str();
            if !matches!(arch, "smmuv3" | "vtd" | "amd" | "riscv") {
                usage();
            }
            let passes = num(args.get(2));
            let done = device(arch, passes);
            println!("device {arch}: {done} of {} commands", N * passes);
            if done != (N * passes) as u64 {
                exit(1);
            }
        }
        _ => usage(),
    }
}
