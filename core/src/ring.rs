//! The ring under every architecture's command queue: `2^n` slots of
//! fixed size in guest memory, consumed at the head, produced at the tail.
//!
//! A *position* is a slot index, with a wrap bit at bit `n` when the ring
//! has one. With a wrap bit (SMMUv3 PROD.WR / CONS.RD, IHI0070 §3.5.1)
//! equal positions are empty and equal indices with different wrap bits are
//! full, so all `2^n` slots hold commands; without one (VT-d IQH / IQT, AMD
//! CmdBufHeadPtr / CmdBufTailPtr, RISC-V `cqh` / `cqt`) head = tail is empty
//! and at most `2^n - 1` slots hold commands.
//!
//! An architecture converts its pointer registers to positions
//! ([`RingRegs`]); the pending count, wrap, slot addresses, fetch and
//! produce are computed here once, for every architecture. Every method is
//! total: any field values give an answer, never a panic or an overflow.

use crate::queue::{MemError, QueueMemory};

/// Most slots a ring has: `2^31` (RISC-V `cqb.LOG2SZ-1` = 30; larger rings
/// are refused by the architecture, smaller bounds are the architectures').
const MAX_LOG2_ENTRIES: u8 = 31;
/// Most 64-bit words one slot holds (a 256-bit VT-d descriptor).
pub const MAX_SLOT_WORDS: usize = 4;

/// The geometry of a ring: where it is, how many slots, how big each is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ring {
    /// Guest physical address of slot 0.
    base: u64,
    /// log2 of the number of slots (read as at most 31).
    log2_entries: u8,
    /// 64-bit words per slot (read as 1..=[`MAX_SLOT_WORDS`]).
    slot_words: u8,
    /// Positions carry a wrap bit at bit `log2_entries`.
    wrap_bit: bool,
    /// Slots are stored most significant byte first (RISC-V `fctl.BE`,
    /// RISC-V IOMMU spec §3.1), and so are completion stores (§3.1.2).
    big_endian: bool,
}

impl Ring {
    /// A ring of `2^log2_entries` slots (read as at most `2^31`) of
    /// `slot_words` words (read as 1..=[`MAX_SLOT_WORDS`]) at `base`; with
    /// `wrap_bit`, positions carry a wrap bit at bit `log2_entries`; with
    /// `big_endian`, slots and completion stores are stored most significant
    /// byte first (RISC-V `fctl.BE`, RISC-V IOMMU spec §3.1, §3.1.2).
    #[inline(always)]
    pub const fn new(
        base: u64,
        log2_entries: u8,
        slot_words: u8,
        wrap_bit: bool,
        big_endian: bool,
    ) -> Self {
        Ring {
            base,
            log2_entries,
            slot_words,
            wrap_bit,
            big_endian,
        }
    }
    #[inline(always)]
    const fn log2(&self) -> u32 {
        if self.log2_entries > MAX_LOG2_ENTRIES {
            MAX_LOG2_ENTRIES as u32
        } else {
            self.log2_entries as u32
        }
    }
    /// Words per slot, 1..=[`MAX_SLOT_WORDS`] (outside core:
    /// [`Ring::slot_bytes`]).
    #[inline(always)]
    pub(crate) const fn words(&self) -> usize {
        match self.slot_words {
            0 => 1,
            w if w as usize > MAX_SLOT_WORDS => MAX_SLOT_WORDS,
            w => w as usize,
        }
    }
    /// Bytes per slot.
    #[inline(always)]
    pub const fn slot_bytes(&self) -> u64 {
        self.words() as u64 * 8
    }
    /// Number of slots.
    #[inline(always)]
    pub const fn entries(&self) -> u64 {
        1 << self.log2()
    }
    /// Size of the ring in bytes.
    #[inline(always)]
    pub const fn size_bytes(&self) -> u64 {
        self.entries() * self.slot_bytes()
    }
    /// The bits a position has: the index, and the wrap bit if any.
    #[inline(always)]
    pub const fn mask(&self) -> u32 {
        // At most 2^32 - 1: log2 ≤ 31 plus one wrap bit.
        ((self.entries() << self.wrap_bit as u32) - 1) as u32
    }
    /// The position bits of `v`.
    #[inline(always)]
    pub const fn pos(&self, v: u32) -> u32 {
        v & self.mask()
    }
    /// The slot index of a position.
    #[inline(always)]
    pub const fn index(&self, pos: u32) -> u32 {
        pos & (self.entries() - 1) as u32
    }
    /// Commands between `head` and `tail`. With a wrap bit, a tail that
    /// overran the head (a software error) gives up to `2 * entries() - 1`:
    /// consumption goes on until the positions meet, as an SMMU does.
    #[inline(always)]
    pub const fn pending(&self, head: u32, tail: u32) -> u32 {
        tail.wrapping_sub(head) & self.mask()
    }
    /// Most commands the ring holds at once.
    #[inline(always)]
    pub const fn capacity(&self) -> u64 {
        if self.wrap_bit {
            self.entries()
        } else {
            self.entries() - 1
        }
    }
    /// Slots a producer may still fill.
    #[inline(always)]
    pub const fn free(&self, head: u32, tail: u32) -> u64 {
        self.capacity()
            .saturating_sub(self.pending(head, tail) as u64)
    }
    /// The position after `pos` (the wrap bit toggling at the end).
    #[inline(always)]
    pub const fn next(&self, pos: u32) -> u32 {
        self.pos(self.pos(pos).wrapping_add(1))
    }
    /// Guest physical address of the slot `pos` names.
    #[inline(always)]
    pub const fn slot_addr(&self, pos: u32) -> u64 {
        self.base
            .wrapping_add(self.index(pos) as u64 * self.slot_bytes())
    }
    /// Read the slot at `pos` into `buf`; the slot's words.
    #[inline(always)]
    pub fn read<'b, M: QueueMemory + ?Sized>(
        &self,
        mem: &M,
        pos: u32,
        buf: &'b mut [u64; MAX_SLOT_WORDS],
    ) -> Result<&'b [u64], MemError> {
        let (words, _) = buf.split_at_mut(self.words());
        self.read_run(mem, pos, words)?;
        Ok(words)
    }
    /// Slots from `pos` to the ring's end (at least 1): the longest run one
    /// read can fetch.
    #[inline(always)]
    pub(crate) const fn slots_to_end(&self, pos: u32) -> u64 {
        self.entries() - self.index(pos) as u64
    }
    /// Fill `out` with the words of the slots from `pos` on, in one read of
    /// guest memory (the caller keeps the run within
    /// [`Ring::slots_to_end`]).
    #[inline(always)]
    pub(crate) fn read_run<M: QueueMemory + ?Sized>(
        &self,
        mem: &M,
        pos: u32,
        out: &mut [u64],
    ) -> Result<(), MemError> {
        mem.read_words(self.slot_addr(pos), out)?;
        if self.big_endian {
            out.iter_mut().for_each(|w| *w = w.swap_bytes());
        }
        Ok(())
    }
    /// Write `words` (at most a slot) at `pos`.
    #[inline(always)]
    pub(crate) fn write<M: QueueMemory + ?Sized>(
        &self,
        mem: &M,
        pos: u32,
        words: &[u64],
    ) -> Result<(), MemError> {
        let mut buf = [0u64; MAX_SLOT_WORDS];
        let out = buf.get_mut(..words.len()).unwrap_or(&mut []);
        for (o, w) in out.iter_mut().zip(words) {
            *o = if self.big_endian { w.swap_bytes() } else { *w };
        }
        mem.write_words(self.slot_addr(pos), out)
    }
    /// Store `data`'s low `bytes` bytes at `addr` in the ring's byte order
    /// (a completion store).
    #[inline(always)]
    pub(crate) fn store<M: QueueMemory + ?Sized>(
        &self,
        mem: &M,
        addr: u64,
        data: u64,
        bytes: usize,
    ) -> Result<(), MemError> {
        let le = data.to_le_bytes();
        let out = le.get(..bytes).unwrap_or(&le);
        if !self.big_endian {
            return mem.write_bytes(addr, out);
        }
        let mut be = [0u8; 8];
        let rev = be.get_mut(..out.len()).unwrap_or(&mut []);
        rev.copy_from_slice(out);
        rev.reverse();
        mem.write_bytes(addr, rev)
    }
}

/// Implements [`RingRegs`] for a queue front end from the one thing each
/// architecture knows: how its registers read and write as ring positions.
/// `|q| ring = .., head = .., tail = ..` read `q` (`&Self`);
/// `|q, pos| set_head = .., set_tail = ..` write it (`&mut Self`).
///
/// ```ignore
/// iommu_inval_core::ring_regs!(CqDevice, |q| ring = q.queue.ring(), head = q.queue.head,
///     tail = q.queue.tail, |q, pos| set_head = q.queue.set_head(pos), set_tail = q.queue.set_tail(pos));
/// ```
#[macro_export]
macro_rules! ring_regs {
    ($t:ty, |$q:ident| ring = $ring:expr, head = $head:expr, tail = $tail:expr,
     |$w:ident, $pos:ident| set_head = $sh:expr, set_tail = $st:expr $(,)?) => {
        impl $crate::ring::RingRegs for $t {
            #[inline]
            fn ring(&self) -> $crate::ring::Ring {
                let $q = self;
                $ring
            }
            #[inline]
            fn head(&self) -> u32 {
                let $q = self;
                $head
            }
            #[inline]
            fn tail(&self) -> u32 {
                let $q = self;
                $tail
            }
            #[inline]
            fn set_head(&mut self, $pos: u32) {
                let $w = self;
                $sh;
            }
            #[inline]
            fn set_tail(&mut self, $pos: u32) {
                let $w = self;
                $st;
            }
        }
    };
}

/// An architecture's pointer registers, as ring positions: what a queue
/// front end needs besides its error and completion registers.
pub trait RingRegs {
    /// The ring the base register describes.
    fn ring(&self) -> Ring;
    /// The head (consumer register) as a position.
    fn head(&self) -> u32;
    /// The tail (producer register) as a position.
    fn tail(&self) -> u32;
    /// Move the consumer register to `pos`.
    fn set_head(&mut self, pos: u32);
    /// Move the producer register to `pos`.
    fn set_tail(&mut self, pos: u32);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_bit_and_plain_rings() {
        let w = Ring::new(0, 2, 2, true, false); // SMMU-like: 4 slots, wrap bit 2
        assert_eq!(w.next(0b011), 0b100);
        assert_eq!(w.next(0b111), 0b000);
        assert_eq!(w.pending(0b000, 0b100), 4);
        assert_eq!(w.pending(0b110, 0b001), 3);
        assert_eq!(w.free(0b010, 0b110), 0);
        assert_eq!(w.slot_addr(0b111), 0x30);
        let p = Ring::new(0x1000, 2, 4, false, false); // 4 slots of 32 bytes, no wrap bit
        assert_eq!(p.next(3), 0);
        assert_eq!(p.pending(3, 1), 2);
        assert_eq!(p.free(0, 3), 0);
        assert_eq!(p.slot_addr(5), 0x1020);
    }

    #[test]
    fn out_of_range_fields_are_total() {
        for lg in [31u8, 32, 255] {
            for wrap in [false, true] {
                let r = Ring::new(u64::MAX, lg, 200, wrap, false);
                assert_eq!(r.entries(), 1 << 31);
                assert_eq!(r.words(), MAX_SLOT_WORDS);
                let _ = (r.next(u32::MAX), r.slot_addr(u32::MAX), r.free(0, u32::MAX));
                assert_eq!(r.pending(0, u32::MAX), r.mask());
            }
        }
        assert_eq!(Ring::new(0, 0, 0, false, false).words(), 1);
    }

    proptest::proptest! {
        // Any geometry: the slot size is in range (from props/tests/ring.rs).
        #[test]
        fn slot_words_are_in_range(lg: u8, words: u8, wrap: bool, be: bool) {
            let r = Ring::new(0, lg, words, wrap, be);
            proptest::prop_assert!((1..=MAX_SLOT_WORDS).contains(&r.words()));
        }
    }

    #[test]
    fn big_endian_slots_and_stores() {
        let mut bytes = [0u8; 32];
        let mem = crate::queue::CellMemory::new(0, &mut bytes);
        let r = Ring::new(0, 1, 2, false, true);
        r.write(&mem, 1, &[0x0102, 3]).unwrap();
        let mut raw = [0u64; 2];
        mem.read_words(16, &mut raw).unwrap();
        assert_eq!(raw[0], 0x0201_u64 << 48);
        let mut buf = [0; MAX_SLOT_WORDS];
        assert_eq!(r.read(&mem, 1, &mut buf).unwrap(), &[0x0102, 3]);
        r.store(&mem, 0, 0x1122_3344, 4).unwrap();
        mem.read_words(0, &mut raw[..1]).unwrap();
        assert_eq!(raw[0] as u32, 0x4433_2211);
    }
}
