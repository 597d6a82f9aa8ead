//! The guest of the front-end benchmarks (`benches/device.rs`, the
//! `frontend_loop` instruction counter, the allocation check): a ring of
//! [`N`] commands at [`RING`] (4096 16-byte slots) and the status region at
//! [`STATUS`] that the completion stores of the example syncs go to, as a
//! [`CellMemory`] pair or as a rust-vmm `GuestMemoryMmap` of two regions
//! read through [`VmMemory`]; and each architecture's queue registers for
//! that ring.

use iommu_inval_core::device::{Backend, CommandQueue};
use iommu_inval_core::queue::VmMemory;
use iommu_inval_core::{CellMemory, Context, MemError, QueueMemory};
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

/// Commands in the ring (a 4096-slot VT-d, AMD-Vi or RISC-V ring holds at
/// most 4095).
pub const N: usize = 4095;
/// Guest address of the ring.
pub const RING: u64 = 0x10_0000;
/// Bytes of the ring: 4096 slots of 16 bytes.
pub const RING_BYTES: usize = 4096 * 16;
/// Guest region the example syncs store their completion to (VT-d, AMD-Vi
/// and RISC-V at its start, SMMUv3's CMD_SYNC MSI at 0x80001000).
pub const STATUS: u64 = 0x7f00_0000;
/// Bytes of the status region.
pub const STATUS_BYTES: usize = 0x100_2000;

/// The base register of each architecture's 4096-slot ring at [`RING`] and
/// the tail register after [`N`] commands.
pub mod regs {
    /// SMMU_CMDQ_BASE.LOG2SIZE = 12; SMMU_CMDQ_PROD = N.
    pub const SMMUV3: (u64, u64) = (super::RING | 12, super::N as u64);
    /// IQA_REG.QS = 4 (16 pages of 128-bit descriptors); IQT_REG = 16 N.
    pub const VTD: (u64, u64) = (super::RING | 4, 16 * super::N as u64);
    /// CmdBufBaseAddr.ComLen = 12; CmdBufTailPtr = 16 N.
    pub const AMD: (u64, u64) = (12 << 56 | super::RING, 16 * super::N as u64);
    /// `cqb`: PPN of the ring in `[53:10]`, LOG2SZ-1 = 11; `cqt` = N.
    pub const RISCV: (u64, u64) = ((super::RING >> 12) << 10 | 11, super::N as u64);
}

/// The ring's bytes holding `words` (little endian), zero to [`RING_BYTES`].
pub fn ring_bytes(words: &[u64]) -> Vec<u8> {
    let mut v: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    v.resize(RING_BYTES, 0);
    v
}

/// The ring and the status region as two [`CellMemory`] regions.
#[derive(Debug, Clone, Copy)]
pub struct CellGuest<'a> {
    /// The ring.
    pub ring: CellMemory<'a>,
    /// The status region.
    pub status: CellMemory<'a>,
}

impl CellGuest<'_> {
    fn pick(&self, addr: u64) -> &CellMemory<'_> {
        if addr >= STATUS {
            &self.status
        } else {
            &self.ring
        }
    }
}

impl QueueMemory for CellGuest<'_> {
    fn read_words(&self, addr: u64, out: &mut [u64]) -> Result<(), MemError> {
        self.pick(addr).read_words(addr, out)
    }
    fn write_bytes(&self, addr: u64, bytes: &[u8]) -> Result<(), MemError> {
        self.pick(addr).write_bytes(addr, bytes)
    }
}

/// Runs `f` over a [`CellGuest`] holding the ring `words` and a zeroed
/// status region.
pub fn with_cell_guest<R>(words: &[u64], f: impl FnOnce(&CellGuest<'_>) -> R) -> R {
    let mut ring = ring_bytes(words);
    let mut page = vec![0u8; STATUS_BYTES];
    f(&CellGuest {
        ring: CellMemory::new(RING, &mut ring),
        status: CellMemory::new(STATUS, &mut page),
    })
}

/// A `GuestMemoryMmap` of two regions, the ring (holding `words`) and the
/// status region; `None` if the regions cannot be mapped.
pub fn mmap_guest(words: &[u64]) -> Option<GuestMemoryMmap> {
    let gm = GuestMemoryMmap::<()>::from_ranges(&[
        (GuestAddress(RING), RING_BYTES),
        (GuestAddress(STATUS), STATUS_BYTES),
    ])
    .ok()?;
    gm.write_slice(&ring_bytes(words), GuestAddress(RING))
        .ok()?;
    Some(gm)
}

/// The guest memory of [`mmap_guest`] as the front ends read it.
pub type MmapGuest<'a> = VmMemory<'a, GuestMemoryMmap>;

/// A fresh queue `Q` from `regs` (base, tail: its doorbell rung there), the
/// whole ring processed with `ctx` into `be`; the commands consumed, or 0
/// if a fault was recorded (a completion store that failed included).
#[inline]
pub fn process_all<Q, M, C, B>(regs: (u64, u64), mem: &M, ctx: &C, be: &mut B) -> u32
where
    Q: CommandQueue,
    M: QueueMemory + ?Sized,
    C: Context + ?Sized,
    B: Backend + ?Sized,
{
    let Ok(mut q) = Q::from_registers(regs.0, 0, 0) else {
        return 0;
    };
    q.doorbell(regs.1);
    let p = q.process(std::hint::black_box(mem), ctx, be);
    if p.fault.is_some() {
        0
    } else {
        p.consumed
    }
}

/// The decode-only walk (fetch + decode, [`QueueEngine::consume`](iommu_inval_core::device::QueueEngine::consume)) of the
/// queue `Q` from `regs`, each command handed to `black_box`; the commands
/// consumed.
#[inline]
pub fn decode_only<Q: CommandQueue, M: QueueMemory + ?Sized>(regs: (u64, u64), mem: &M) -> u32 {
    let Ok(mut q) = Q::from_registers(regs.0, 0, regs.1) else {
        return 0;
    };
    q.consume(std::hint::black_box(mem), |c| {
        std::hint::black_box(c);
    })
    .consumed
}
