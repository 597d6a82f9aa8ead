//! Guest RAM for the four front ends' tests: each `arch-*/tests/device.rs`
//! includes this file (`#[path]`), so the scaffolding is written once and
//! each architecture's file keeps only its facts.

// Each architecture uses the part it needs.
#![allow(dead_code)]

use iommu_inval_core::device::{Backend, CommandQueue, Progress};
use iommu_inval_core::{CellMemory, IdentityContext, QueueMemory};

/// Where the guest's RAM, and the ring at its start, are.
pub const BASE: u64 = 0x10_0000;

/// 64 KiB of guest memory at [`BASE`].
pub struct Guest(Vec<u8>);

impl Guest {
    /// Zeroed RAM.
    pub fn new() -> Self {
        Guest(vec![0u8; 0x1_0000])
    }
    /// The RAM as the front end sees it.
    pub fn mem(&mut self) -> CellMemory<'_> {
        CellMemory::new(BASE, &mut self.0)
    }
}

/// Write a 128-bit command into 16-byte slot `slot` of the ring at [`BASE`].
pub fn put(mem: &CellMemory<'_>, slot: u64, w: [u64; 2]) {
    mem.write_words(BASE + slot * 16, &w).unwrap();
}

/// The 64-bit word at `addr` (8-byte aligned).
pub fn read(mem: &CellMemory<'_>, addr: u64) -> u64 {
    let mut w = [0u64; 1];
    mem.read_words(addr, &mut w).unwrap();
    w[0]
}

/// The 32-bit word at `addr` (4-byte aligned).
pub fn read_u32(mem: &CellMemory<'_>, addr: u64) -> u32 {
    (read(mem, addr & !7) >> ((addr & 4) * 8)) as u32
}

/// Write `cmds` into slots 0, 1, ... of the ring at [`BASE`], ring the
/// doorbell with `tail` and process into `backend`.
pub fn run<Q: CommandQueue, B: Backend>(
    q: &mut Q,
    mem: &CellMemory<'_>,
    cmds: &[[u64; 2]],
    tail: u64,
    backend: &mut B,
) -> Progress<Q::HwError> {
    for (slot, w) in (0u64..).zip(cmds) {
        put(mem, slot, *w);
    }
    q.doorbell(tail);
    q.process(mem, &IdentityContext, backend)
}
