//! The front end's loop (`CommandQueue::process`, identity context,
//! counting back end) over a 4095-command guest ring, as in
//! `benches/device.rs`, as a plain program for counting its instructions
//! with cachegrind (deterministic where wall time is not).
//!
//!     device_loop ARCH PASSES     (ARCH: smmuv3, vtd, amd, riscv)

use std::hint::black_box;

use iommu_inval_amd::queue::CmdBufDevice;
use iommu_inval_arm::queue::CmdqDevice;
use iommu_inval_bench::targets::{amd, arm, riscv, vtd};
use iommu_inval_core::device::{CommandQueue, CountingBackend};
use iommu_inval_core::{CellMemory, IdentityContext, MemError, QueueMemory};
use iommu_inval_riscv::queue::CqDevice;
use iommu_inval_vtd::queue::InvQueue;

const N: usize = 4095;
const RING: u64 = 0x10_0000;
const STATUS: u64 = 0x7f00_0000;

struct Guest<'a> {
    ring: CellMemory<'a>,
    status: CellMemory<'a>,
}

impl QueueMemory for Guest<'_> {
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

#[inline(never)]
fn pass<Q: CommandQueue>(mem: &Guest<'_>, base: u64, tail: u64) -> u32 {
    let Ok(mut q) = Q::from_registers(base, 0, 0) else {
        return 0;
    };
    q.doorbell(tail);
    let p = q.process(
        black_box(mem),
        &IdentityContext,
        &mut CountingBackend::default(),
    );
    p.consumed
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arch = args.get(1).map(String::as_str).unwrap_or("smmuv3");
    let passes: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(10);
    let words = match arch {
        "smmuv3" => arm::queue(N, 2),
        "vtd" => vtd::queue(N, 2),
        "amd" => amd::queue(N, 2),
        _ => riscv::queue(N, 2),
    };
    let mut ring: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    ring.resize(4096 * 16, 0);
    let mut page = vec![0u8; 4096];
    let mem = Guest {
        ring: CellMemory::new(RING, &mut ring),
        status: CellMemory::new(STATUS, &mut page),
    };
    let mut n = 0u64;
    for _ in 0..passes {
        n += u64::from(match arch {
            "smmuv3" => pass::<CmdqDevice>(&mem, RING | 12, N as u64),
            "vtd" => pass::<InvQueue>(&mem, RING | 4, 16 * N as u64),
            "amd" => pass::<CmdBufDevice>(&mem, 12 << 56 | RING, 16 * N as u64),
            _ => pass::<CqDevice>(&mem, (RING >> 12) << 10 | 11, N as u64),
        });
    }
    println!("{n}");
}
