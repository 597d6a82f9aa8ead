//! `LowerToHost` over a 4095-command SMMUv3 guest ring with a CMD_SYNC
//! every 16 commands, lowered to an SMMUv3 host ring (consumed by the host
//! front end into a counting back end at every guest barrier), as a plain
//! program for counting its instructions with cachegrind.
//!
//!     lower_loop STREAM PASSES on|off
//!
//! STREAM `window`: the 15 invalidations of a barrier overlap or touch
//! (they coalesce); `distinct`: each names its own ASID (nothing merges,
//! the cost of trying). `off` lowers op by op, as before coalescing.
//!
//!     lower_loop cases ARCH CASE N [lift]
//!
//! lowers [`common_case`] CASE (`single_page`, `aligned_2m`, `pasid_wide`)
//! N times for ARCH (`arm`, `vtd`, `amd`, `riscv`) with its default
//! [`Target`] into a counting sink: the instructions of one lowering are
//! the difference of two N over their difference. With `lift`, each
//! command lowered is lifted back (IdentityContext), as the `common`
//! benchmark of `lift_lower` does: lift + lower per op.

use std::hint::black_box;

use iommu_inval_arm::queue::CmdqDevice;
use iommu_inval_arm::{CmdSync, Command, TlbiAddr};
use iommu_inval_bench::streams::common_case;
use iommu_inval_core::arch::{Arch, Target};
use iommu_inval_core::device::{BackendError, CommandQueue, CountingBackend, LowerToHost};
use iommu_inval_core::sink::{Full, Sink};
use iommu_inval_core::{CellMemory, IdentityContext, Op, QueueMemory};

const N: u64 = 4095;
const GUEST: u64 = 0x10_0000;
const HOST: u64 = 0x2000;

fn command(k: u64, distinct: bool) -> Command {
    if k % 16 == 15 {
        return Command::CmdSync(CmdSync::default());
    }
    let (page, asid) = if distinct {
        ((k % 16) * 4, (k % 16) as u16)
    } else {
        ((k / 16) * 8 + (k % 16) / 2, 5)
    };
    Command::TlbiNhVa(TlbiAddr {
        num: (k % 3) as u8,
        scale: 0,
        vmid: 0,
        asid,
        leaf: true,
        ttl128: false,
        ttl: 3,
        tg: 1,
        address: page << 12,
        ..Default::default()
    })
}

#[inline(never)]
fn pass(gmem: &CellMemory<'_>, hbytes: &mut [u8], coalesce: bool) -> u64 {
    let Ok(mut guest) = CmdqDevice::from_registers(GUEST | 12, 0, 0);
    guest.doorbell(N);
    let hmem = CellMemory::new(0, hbytes);
    let Ok(host) = CmdqDevice::from_registers(HOST | 8, 0, 0);
    let mut seen = CountingBackend::default();
    let kick = |q: &mut CmdqDevice, m: &CellMemory<'_>| {
        let p = q.process(m, &IdentityContext, &mut seen);
        if p.fault.is_some() {
            Err(BackendError::Failed("host fault"))
        } else {
            Ok(())
        }
    };
    let mut be = LowerToHost::new(host, &hmem, &IdentityContext, kick);
    be.coalesce = coalesce;
    let p = guest.process(black_box(gmem), &IdentityContext, &mut be);
    if p.fault.is_some() {
        return 0;
    }
    be.commands
}

/// Counts what it is given, keeping nothing.
struct Count(usize);

impl<T> Sink<T> for Count {
    fn push(&mut self, item: T) -> Result<(), Full> {
        black_box(&item);
        self.0 += 1;
        Ok(())
    }
}

/// Lower `op` `n` times for `A`'s default target; the commands written
/// (with `lift`, the ops their lift gave back).
#[inline(never)]
fn cases<A: Arch>(op: &Op, n: usize, lift: bool) -> usize {
    let target = Target::<A>::default();
    let mut total = 0;
    let mut cmds = Vec::with_capacity(64);
    for _ in 0..n {
        if !lift {
            let mut out = Count(0);
            if black_box(&target)
                .lower(black_box(op), &IdentityContext, &mut out)
                .is_ok()
            {
                total += out.0;
            }
            continue;
        }
        cmds.clear();
        if black_box(&target)
            .lower(black_box(op), &IdentityContext, &mut cmds)
            .is_err()
        {
            continue;
        }
        for c in &cmds {
            let mut back = Count(0);
            if A::lift(c, &IdentityContext, &mut back).is_ok() {
                total += back.0;
            }
        }
    }
    total
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).is_some_and(|s| s == "cases") {
        let Some(op) = args.get(3).and_then(|c| common_case(c)) else {
            return;
        };
        let n = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(1);
        let lift = args.get(5).is_some_and(|s| s == "lift");
        let total = match args.get(2).map(String::as_str) {
            Some("arm") => cases::<iommu_inval_arm::Smmuv3>(&op, n, lift),
            Some("vtd") => cases::<iommu_inval_vtd::Vtd>(&op, n, lift),
            Some("amd") => cases::<iommu_inval_amd::AmdVi>(&op, n, lift),
            _ => cases::<iommu_inval_riscv::RiscV>(&op, n, lift),
        };
        println!("{total} commands");
        return;
    }
    let distinct = args.get(1).is_some_and(|s| s == "distinct");
    let passes: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1);
    let coalesce = args.get(3).is_none_or(|s| s != "off");
    let mut gbytes = vec![0u8; 0x1_0000];
    let gmem = CellMemory::new(GUEST, &mut gbytes);
    for k in 0..N {
        if gmem
            .write_words(GUEST + 16 * k, &command(k, distinct).encode())
            .is_err()
        {
            return;
        }
    }
    let mut hbytes = vec![0u8; 0x1_0000];
    let mut commands = 0;
    for _ in 0..passes {
        commands = pass(&gmem, &mut hbytes, coalesce);
    }
    println!("{commands} host commands per pass");
}
