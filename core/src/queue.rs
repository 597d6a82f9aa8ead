//! What the queue consumers need from an emulator: a small guest-memory
//! trait (in the spirit of rust-vmm's `vm-memory`, but only what a command
//! fetch needs), and a slice-backed implementation for tests and tools.

/// Reading guest memory failed (the architectures report it as a fetch
/// abort: SMMU CERROR_ABT, AMD COMMAND_HARDWARE_ERROR).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[error("guest memory read failed at {addr:#x}")]
pub struct MemError {
    /// The guest physical address that could not be read.
    pub addr: u64,
}

/// Guest physical memory as the IOMMU's command fetch sees it.
pub trait GuestMemory {
    /// Fill `out` with the little-endian 64-bit words at `addr`, `addr + 8`, ...
    fn read_words(&self, addr: u64, out: &mut [u64]) -> Result<(), MemError>;
}

impl<M: GuestMemory + ?Sized> GuestMemory for &M {
    fn read_words(&self, addr: u64, out: &mut [u64]) -> Result<(), MemError> {
        (**self).read_words(addr, out)
    }
}

/// Guest memory backed by a byte slice mapped at guest address `base`.
#[derive(Debug, Clone, Copy)]
pub struct SliceMemory<'a> {
    /// Guest physical address of `bytes[0]`.
    pub base: u64,
    /// The memory.
    pub bytes: &'a [u8],
}

impl GuestMemory for SliceMemory<'_> {
    fn read_words(&self, addr: u64, out: &mut [u64]) -> Result<(), MemError> {
        let err = MemError { addr };
        let start = addr.checked_sub(self.base).ok_or(err)?;
        let start = usize::try_from(start).map_err(|_| err)?;
        let len = out.len().checked_mul(8).ok_or(err)?;
        let end = start.checked_add(len).ok_or(err)?;
        let src = self.bytes.get(start..end).ok_or(err)?;
        for (w, chunk) in out.iter_mut().zip(src.chunks_exact(8)) {
            let mut b = [0u8; 8];
            b.copy_from_slice(chunk);
            *w = u64::from_le_bytes(b);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_little_endian_and_refuses_out_of_range() {
        let bytes = [1u8, 0, 0, 0, 0, 0, 0, 0x80, 2, 0, 0, 0, 0, 0, 0, 0];
        let m = SliceMemory {
            base: 0x1000,
            bytes: &bytes,
        };
        let mut w = [0u64; 2];
        m.read_words(0x1000, &mut w).unwrap();
        assert_eq!(w, [0x8000_0000_0000_0001, 2]);
        assert_eq!(m.read_words(0x1008, &mut w), Err(MemError { addr: 0x1008 }));
        assert_eq!(
            m.read_words(0xff8, &mut w[..1]),
            Err(MemError { addr: 0xff8 })
        );
        assert_eq!(
            m.read_words(u64::MAX, &mut w),
            Err(MemError { addr: u64::MAX })
        );
    }
}
