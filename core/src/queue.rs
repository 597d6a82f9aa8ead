//! What the queue front ends need from an emulator: a small guest-memory
//! trait (in the spirit of rust-vmm's `vm-memory`, but only what a command
//! fetch and a completion store need), a read-only slice-backed memory and a
//! writable one for tests and tools, and (feature `vm-memory`) an adapter for
//! any rust-vmm guest memory.
//!
//! Nothing here allocates: reads fill the caller's words, writes take the
//! caller's bytes.

use core::cell::Cell;

/// A guest memory access failed (the architectures report a failed command
/// fetch as a fetch abort: SMMU CERROR_ABT, VT-d IQE with IQEI = 2, AMD
/// COMMAND_HARDWARE_ERROR; a failed completion store as SMMU
/// GERROR.MSI_CMDQ_ABT_ERR, VT-d IQE, AMD COMMAND_HARDWARE_ERROR).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[error("guest memory {} failed at {addr:#x}", if *.write { "write" } else { "read" })]
#[non_exhaustive]
pub struct MemError {
    /// The guest physical address of the access.
    pub addr: u64,
    /// True for a write (a completion store or an event-log entry).
    pub write: bool,
}

impl MemError {
    /// A failed read at `addr`.
    pub const fn read(addr: u64) -> Self {
        MemError { addr, write: false }
    }
    /// A failed write at `addr`.
    pub const fn write(addr: u64) -> Self {
        MemError { addr, write: true }
    }
}

/// Guest physical memory as the IOMMU's command fetch and completion stores
/// see it. Writes go through `&self`, as in rust-vmm's `Bytes` (the memory
/// is shared with the guest's vCPUs).
pub trait QueueMemory {
    /// Fill `out` with the little-endian 64-bit words at `addr`, `addr + 8`, ...
    fn read_words(&self, addr: u64, out: &mut [u64]) -> Result<(), MemError>;

    /// Store `bytes` at `addr`. The default refuses every write (a read-only
    /// view such as [`SliceMemory`]): a front end then reports its completion
    /// stores as failed, never as done.
    fn write_bytes(&self, addr: u64, bytes: &[u8]) -> Result<(), MemError> {
        let _ = bytes;
        Err(MemError::write(addr))
    }

    /// Store little-endian 64-bit words at `addr`, `addr + 8`, ... (a command
    /// written by a producer, an event-log entry). Word by word: a failure
    /// may leave the first words written, as a bus error would.
    fn write_words(&self, addr: u64, words: &[u64]) -> Result<(), MemError> {
        let mut a = addr;
        for w in words {
            self.write_bytes(a, &w.to_le_bytes())?;
            a = a.checked_add(8).ok_or(MemError::write(a))?;
        }
        Ok(())
    }
}

impl<M: QueueMemory + ?Sized> QueueMemory for &M {
    fn read_words(&self, addr: u64, out: &mut [u64]) -> Result<(), MemError> {
        (**self).read_words(addr, out)
    }
    fn write_bytes(&self, addr: u64, bytes: &[u8]) -> Result<(), MemError> {
        (**self).write_bytes(addr, bytes)
    }
    fn write_words(&self, addr: u64, words: &[u64]) -> Result<(), MemError> {
        (**self).write_words(addr, words)
    }
}

/// The byte range `[addr, addr + len)` of a region of `size` bytes at `base`.
fn span(base: u64, size: usize, addr: u64, len: usize) -> Option<core::ops::Range<usize>> {
    let start = usize::try_from(addr.checked_sub(base)?).ok()?;
    let end = start.checked_add(len)?;
    (end <= size).then_some(start..end)
}

/// `out.len()` little-endian words at guest `addr` of the region `bytes`
/// mapped at `base`, each byte read by `get`; `MemError::read(addr)` where
/// any of them lies outside the region.
#[inline]
fn read_le_words<T>(
    base: u64,
    bytes: &[T],
    addr: u64,
    out: &mut [u64],
    get: impl Fn(&T) -> u8,
) -> Result<(), MemError> {
    let err = MemError::read(addr);
    let len = out.len().checked_mul(8).ok_or(err)?;
    let src = span(base, bytes.len(), addr, len)
        .and_then(|r| bytes.get(r))
        .ok_or(err)?;
    for (w, chunk) in out.iter_mut().zip(src.chunks_exact(8)) {
        let mut b = [0u8; 8];
        for (d, s) in b.iter_mut().zip(chunk) {
            *d = get(s);
        }
        *w = u64::from_le_bytes(b);
    }
    Ok(())
}

/// Read-only guest memory backed by a byte slice mapped at guest address
/// `base`. Writes are refused.
#[derive(Debug, Clone, Copy)]
pub struct SliceMemory<'a> {
    base: u64,
    bytes: &'a [u8],
}

impl<'a> SliceMemory<'a> {
    /// Guest memory over `bytes`, the first one at guest address `base`.
    pub const fn new(base: u64, bytes: &'a [u8]) -> Self {
        SliceMemory { base, bytes }
    }
}

impl QueueMemory for SliceMemory<'_> {
    fn read_words(&self, addr: u64, out: &mut [u64]) -> Result<(), MemError> {
        read_le_words(self.base, self.bytes, addr, out, |b| *b)
    }
}

/// Writable guest memory over the caller's bytes, mapped at `base`: the
/// bytes are seen as cells, so that reads and writes share `&self` without
/// `unsafe` and without allocation.
///
/// ```
/// use iommu_inval_core::queue::{CellMemory, QueueMemory};
/// let mut bytes = [0u8; 32];
/// let mem = CellMemory::new(0x1000, &mut bytes);
/// mem.write_bytes(0x1004, &0xdead_beef_u32.to_le_bytes()).unwrap();
/// let mut w = [0u64; 1];
/// mem.read_words(0x1000, &mut w).unwrap();
/// assert_eq!(w[0], 0xdead_beef_0000_0000);
/// assert!(mem.write_words(0x1020, &[1]).is_err()); // past the end
/// ```
#[derive(Debug, Clone, Copy)]
pub struct CellMemory<'a> {
    base: u64,
    bytes: &'a [Cell<u8>],
}

impl<'a> CellMemory<'a> {
    /// Guest memory over `bytes`, the first one at guest address `base`.
    pub fn new(base: u64, bytes: &'a mut [u8]) -> Self {
        CellMemory {
            base,
            bytes: Cell::from_mut(bytes).as_slice_of_cells(),
        }
    }
}

impl QueueMemory for CellMemory<'_> {
    fn read_words(&self, addr: u64, out: &mut [u64]) -> Result<(), MemError> {
        read_le_words(self.base, self.bytes, addr, out, Cell::get)
    }
    fn write_bytes(&self, addr: u64, bytes: &[u8]) -> Result<(), MemError> {
        let dst = span(self.base, self.bytes.len(), addr, bytes.len())
            .and_then(|r| self.bytes.get(r))
            .ok_or(MemError::write(addr))?;
        for (d, s) in dst.iter().zip(bytes) {
            d.set(*s);
        }
        Ok(())
    }
}

/// rust-vmm guest memory as the front ends' [`QueueMemory`]: a wrapper
/// around any `vm_memory::Bytes<GuestAddress>` (a `GuestMemoryMmap`, an
/// atomic guest memory's snapshot, a single region). Any error of the
/// rust-vmm access (an unmapped address, a short access) becomes a
/// [`MemError`] at the address accessed, which the architectures report as
/// their fetch abort (SMMU CERROR_ABT, VT-d IQE with IQEI = 2, AMD
/// COMMAND_HARDWARE_ERROR) or failed completion store.
///
/// ```
/// use iommu_inval_core::queue::{QueueMemory, VmMemory};
/// use vm_memory::{GuestAddress, GuestMemoryMmap};
/// let gm = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0x1000), 0x1000)]).unwrap();
/// let mem = VmMemory(&gm);
/// mem.write_words(0x1008, &[0x1234]).unwrap();
/// let mut w = [0u64; 2];
/// mem.read_words(0x1000, &mut w).unwrap();
/// assert_eq!(w, [0, 0x1234]);
/// assert!(mem.read_words(0x1ff8, &mut w).is_err()); // runs past the region
/// ```
#[cfg(feature = "vm-memory")]
#[derive(Debug, Clone, Copy)]
pub struct VmMemory<'a, T: ?Sized>(pub &'a T);

#[cfg(feature = "vm-memory")]
impl<T> QueueMemory for VmMemory<'_, T>
where
    T: vm_memory::Bytes<vm_memory::GuestAddress> + ?Sized,
{
    fn read_words(&self, addr: u64, out: &mut [u64]) -> Result<(), MemError> {
        // Through a stack buffer, no allocation: one rust-vmm read (one
        // region look-up) per 32 bytes for a slot, per 1 KiB for a run of
        // slots (the front ends' fetch).
        if out.len() <= 4 {
            vm_read::<_, 32>(self.0, addr, out)
        } else {
            vm_read::<_, 1024>(self.0, addr, out)
        }
    }
    fn write_bytes(&self, addr: u64, bytes: &[u8]) -> Result<(), MemError> {
        let at = vm_memory::GuestAddress(addr);
        // A completion store (4 or 8 aligned bytes) as one store of a
        // native-order integer holding the same bytes: rust-vmm's cheapest
        // write (one region look-up, no byte copy). Anything else, or a store
        // it refuses (unaligned, across regions, unmapped), as a slice.
        let release = core::sync::atomic::Ordering::Release;
        let stored = match bytes.len() {
            4 if addr.is_multiple_of(4) => <[u8; 4]>::try_from(bytes)
                .is_ok_and(|b| self.0.store(u32::from_ne_bytes(b), at, release).is_ok()),
            8 if addr.is_multiple_of(8) => <[u8; 8]>::try_from(bytes)
                .is_ok_and(|b| self.0.store(u64::from_ne_bytes(b), at, release).is_ok()),
            _ => false,
        };
        if stored {
            return Ok(());
        }
        self.0
            .write_slice(bytes, at)
            .map_err(|_| MemError::write(addr))
    }
    fn write_words(&self, addr: u64, words: &[u64]) -> Result<(), MemError> {
        let mut a = addr;
        for chunk in words.chunks(4) {
            let mut buf = [0u8; 32];
            for (b, w) in buf.chunks_exact_mut(8).zip(chunk) {
                b.copy_from_slice(&w.to_le_bytes());
            }
            let bytes = buf.get(..chunk.len() * 8).ok_or(MemError::write(a))?;
            self.write_bytes(a, bytes)?;
            a = a.wrapping_add(32);
        }
        Ok(())
    }
}

/// `out` from guest `addr` of `mem`, `B` bytes per rust-vmm read.
#[cfg(feature = "vm-memory")]
#[inline(always)]
fn vm_read<T, const B: usize>(mem: &T, addr: u64, out: &mut [u64]) -> Result<(), MemError>
where
    T: vm_memory::Bytes<vm_memory::GuestAddress> + ?Sized,
{
    let mut a = addr;
    for chunk in out.chunks_mut(B / 8) {
        let mut buf = [0u8; B];
        let bytes = buf.get_mut(..chunk.len() * 8).ok_or(MemError::read(a))?;
        mem.read_slice(bytes, vm_memory::GuestAddress(a))
            .map_err(|_| MemError::read(a))?;
        for (w, b) in chunk.iter_mut().zip(bytes.chunks_exact(8)) {
            let mut le = [0u8; 8];
            le.copy_from_slice(b);
            *w = u64::from_le_bytes(le);
        }
        a = a.wrapping_add(B as u64);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_little_endian_and_refuses_out_of_range() {
        let bytes = [1u8, 0, 0, 0, 0, 0, 0, 0x80, 2, 0, 0, 0, 0, 0, 0, 0];
        let m = SliceMemory::new(0x1000, &bytes);
        let mut w = [0u64; 2];
        m.read_words(0x1000, &mut w).unwrap();
        assert_eq!(w, [0x8000_0000_0000_0001, 2]);
        assert_eq!(m.read_words(0x1008, &mut w), Err(MemError::read(0x1008)));
        assert_eq!(m.read_words(0xff8, &mut w[..1]), Err(MemError::read(0xff8)));
        assert_eq!(
            m.read_words(u64::MAX, &mut w),
            Err(MemError::read(u64::MAX))
        );
        // A read-only view refuses writes.
        assert_eq!(
            m.write_bytes(0x1000, &1u32.to_le_bytes()),
            Err(MemError::write(0x1000))
        );
    }

    #[test]
    fn cell_memory_writes_and_bounds() {
        let mut bytes = [0u8; 24];
        let m = CellMemory::new(0x2000, &mut bytes);
        m.write_words(0x2008, &[0x1122_3344_5566_7788, 9]).unwrap();
        let mut w = [0u64; 3];
        m.read_words(0x2000, &mut w).unwrap();
        assert_eq!(w, [0, 0x1122_3344_5566_7788, 9]);
        assert_eq!(m.write_words(0x2014, &[0]), Err(MemError::write(0x2014)));
        assert_eq!(
            m.write_bytes(0x1fff, &0u32.to_le_bytes()),
            Err(MemError::write(0x1fff))
        );
        assert_eq!(
            m.write_bytes(u64::MAX - 1, &0u32.to_le_bytes()),
            Err(MemError::write(u64::MAX - 1))
        );
        // A failed write leaves memory unchanged.
        m.read_words(0x2000, &mut w).unwrap();
        assert_eq!(w[2], 9);
        // A multi-word write that runs off the end stops at the first word that does not fit.
        assert_eq!(m.write_words(0x2010, &[7, 8]), Err(MemError::write(0x2018)));
    }
}

#[cfg(all(test, feature = "vm-memory"))]
mod vm_tests {
    use super::*;
    use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

    /// Two regions, 0x1000..0x2000 and 0x2000..0x3000 (a hole after).
    fn guest() -> GuestMemoryMmap<()> {
        GuestMemoryMmap::from_ranges(&[
            (GuestAddress(0x1000), 0x1000),
            (GuestAddress(0x2000), 0x1000),
        ])
        .unwrap()
    }

    /// Every completion-store shape writes exactly the bytes given, at the
    /// address given, whether rust-vmm takes it as one store (aligned 4 or
    /// 8 bytes) or as a slice (unaligned, other sizes, across regions).
    #[test]
    fn vm_memory_writes_the_bytes_given() {
        let gm = guest();
        let mem = VmMemory(&gm);
        let cases: [(u64, &[u8]); 7] = [
            (0x1004, &[1, 2, 3, 4]),
            (0x1008, &[1, 2, 3, 4, 5, 6, 7, 8]),
            (0x1011, &[9, 8, 7, 6]),
            (0x1024, &[9, 8, 7, 6, 5, 4, 3, 2]),
            (0x1ffc, &[1, 2, 3, 4, 5, 6, 7, 8]),
            (0x1ffe, &[0xa, 0xb, 0xc, 0xd]),
            (0x1040, &[5, 6]),
        ];
        for (addr, bytes) in cases {
            let mut around = [0xffu8; 12];
            gm.write_slice(&around, GuestAddress(addr - 2)).unwrap();
            mem.write_bytes(addr, bytes).unwrap();
            gm.read_slice(&mut around, GuestAddress(addr - 2)).unwrap();
            let mut want = [0xffu8; 12];
            want[2..2 + bytes.len()].copy_from_slice(bytes);
            assert_eq!(around, want, "store at {addr:#x}");
        }
        // Unmapped, or running into the hole: refused at the address given.
        for addr in [0x3000, 0x2ffe, 0x800] {
            assert_eq!(mem.write_bytes(addr, &[1; 4]), Err(MemError::write(addr)));
        }
        assert_eq!(mem.write_bytes(0x2ff8, &[1; 8]).ok(), Some(()));
        assert_eq!(
            mem.write_bytes(0x2ffc, &[1; 8]),
            Err(MemError::write(0x2ffc))
        );
    }
}
