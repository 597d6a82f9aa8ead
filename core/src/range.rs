//! Range math shared by the architecture crates.
//!
//! Every range here is inclusive (`first..=last`), so the top of the address
//! space (`last = u64::MAX`) is representable and nothing wraps.
//!
//! * [`AlignedBlocks`]: naturally aligned power-of-two blocks (VT-d `am`
//!   page-selective invalidations, and AMD/ATS when splitting).
//! * [`ats_encode`] / [`ats_decode`]: the PCIe ATS "lowest zero bit" size
//!   encoding (PCIe Base 6.0 §10.3.8; also VT-d device-TLB `s` and AMD `s`).
//!
//! A decomposition is planned with a cap ([`plan_aligned`]);
//! above the cap the plan falls back to a wider single block, or to "all".

use crate::error::RangeError;

/// 4 KiB, the page size every encoding counts in.
pub const PAGE_SHIFT: u32 = 12;

/// A range of addresses (or, for interrupt caches, entry indices).
///
/// Equality, ordering and hashing are by `(first, last)`: a `Span` covering
/// every address equals `All`.
#[derive(Debug, Clone, Copy)]
pub enum AddrRange {
    /// Every address.
    All,
    /// `first..=last`; never empty.
    Span {
        /// First byte.
        first: u64,
        /// Last byte (inclusive).
        last: u64,
    },
}

impl PartialEq for AddrRange {
    fn eq(&self, o: &Self) -> bool {
        (self.first(), self.last()) == (o.first(), o.last())
    }
}

impl Eq for AddrRange {}

impl core::hash::Hash for AddrRange {
    fn hash<H: core::hash::Hasher>(&self, h: &mut H) {
        (self.first(), self.last()).hash(h)
    }
}

impl PartialOrd for AddrRange {
    fn partial_cmp(&self, o: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(o))
    }
}

impl Ord for AddrRange {
    fn cmp(&self, o: &Self) -> core::cmp::Ordering {
        (self.first(), self.last()).cmp(&(o.first(), o.last()))
    }
}

impl AddrRange {
    /// `[iova, iova + size)`. Size 0 is [`RangeError::Empty`]; an end past
    /// 2^64 is [`RangeError::Overflow`]; an end of exactly 2^64 is fine.
    pub const fn new(iova: u64, size: u64) -> Result<Self, RangeError> {
        if size == 0 {
            return Err(RangeError::Empty);
        }
        match iova.checked_add(size - 1) {
            Some(last) => Ok(AddrRange::Span { first: iova, last }),
            None => Err(RangeError::Overflow),
        }
    }
    /// `first..=last`; `first > last` is [`RangeError::Empty`].
    pub const fn inclusive(first: u64, last: u64) -> Result<Self, RangeError> {
        if first > last {
            Err(RangeError::Empty)
        } else {
            Ok(AddrRange::Span { first, last })
        }
    }
    /// A naturally aligned block of `2^order` bytes containing `addr`
    /// (`order` ≥ 64 is everything).
    pub const fn block(addr: u64, order: u32) -> Self {
        if order >= 64 {
            return AddrRange::All;
        }
        let mask = (1u64 << order) - 1;
        AddrRange::Span {
            first: addr & !mask,
            last: addr | mask,
        }
    }
    /// First byte (0 for `All`). A hand-built `Span` with `first > last`
    /// (the constructors never make one) is read with its bounds swapped, so
    /// that no computation on a range can underflow.
    pub const fn first(&self) -> u64 {
        self.bounds().0
    }
    /// Last byte (`u64::MAX` for `All`); see [`AddrRange::first`].
    pub const fn last(&self) -> u64 {
        self.bounds().1
    }
    /// `(first, last)`, in order.
    const fn bounds(&self) -> (u64, u64) {
        match *self {
            AddrRange::All => (0, u64::MAX),
            AddrRange::Span { first, last } if first <= last => (first, last),
            AddrRange::Span { first, last } => (last, first),
        }
    }
    /// Size in bytes; 2^64 for `All` or a span covering everything.
    pub const fn size(&self) -> u128 {
        self.last() as u128 - self.first() as u128 + 1
    }
    /// Size in bytes when it fits a `u64`.
    pub const fn len(&self) -> Option<u64> {
        let s = self.size();
        if s > u64::MAX as u128 {
            None
        } else {
            Some(s as u64)
        }
    }
    /// Never true: ranges are not empty. Present for API symmetry.
    pub const fn is_empty(&self) -> bool {
        false
    }
    /// True when every address is covered.
    pub const fn is_all(&self) -> bool {
        self.first() == 0 && self.last() == u64::MAX
    }
    /// True when `other` lies inside `self`.
    pub const fn contains(&self, other: &AddrRange) -> bool {
        self.first() <= other.first() && other.last() <= self.last()
    }
    /// The range widened to whole `2^shift` units at both ends.
    pub const fn align_out(&self, shift: u32) -> AddrRange {
        if shift >= 64 {
            return AddrRange::All;
        }
        let mask = (1u64 << shift) - 1;
        match *self {
            AddrRange::All => AddrRange::All,
            AddrRange::Span { .. } => AddrRange::Span {
                first: self.first() & !mask,
                last: self.last() | mask,
            },
        }
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for AddrRange {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        if u.ratio(1, 8)? {
            return Ok(AddrRange::All);
        }
        let a: u64 = u.arbitrary()?;
        let b: u64 = u.arbitrary()?;
        Ok(AddrRange::Span {
            first: a.min(b),
            last: a.max(b),
        })
    }
}

/// A naturally aligned block of `2^order` bytes at `addr` (aligned to it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Block {
    /// Base address, a multiple of `2^order`.
    pub addr: u64,
    /// log2 of the size in bytes (may be 64: everything).
    pub order: u32,
}

impl Block {
    /// The bytes this block covers.
    pub const fn range(&self) -> AddrRange {
        AddrRange::block(self.addr, self.order)
    }
}

/// The smallest naturally aligned block of at least `2^min_order` bytes
/// covering `r` (order 64 means the whole space).
pub const fn covering_block(r: &AddrRange, min_order: u32) -> Block {
    let (first, last) = (r.first(), r.last());
    // The block must contain both ends: its order is the bit length of
    // first XOR last, at least min_order.
    let diff = first ^ last;
    let mut order = 64 - diff.leading_zeros();
    if order < min_order {
        order = min_order;
    }
    if order >= 64 {
        Block { addr: 0, order: 64 }
    } else {
        Block {
            addr: first & !((1u64 << order) - 1),
            order,
        }
    }
}

/// Decomposition of a range into naturally aligned power-of-two blocks of
/// `2^min_order ..= 2^max_order` bytes. The range is first widened to whole
/// `2^min_order` units (pages). Exact otherwise: the blocks tile it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlignedBlocks {
    next: u128,
    end: u128, // exclusive
    max_order: u32,
}

impl AlignedBlocks {
    /// Blocks covering `r` (widened to `2^min_order`), none larger than `2^max_order`.
    pub const fn new(r: &AddrRange, min_order: u32, max_order: u32) -> Self {
        let r = r.align_out(min_order);
        let max_order = if max_order < min_order {
            min_order
        } else {
            max_order
        };
        AlignedBlocks {
            next: r.first() as u128,
            end: r.last() as u128 + 1,
            max_order,
        }
    }
}

impl Iterator for AlignedBlocks {
    type Item = Block;
    fn next(&mut self) -> Option<Block> {
        if self.next >= self.end {
            return None;
        }
        let cur = self.next;
        let align = if cur == 0 { 64 } else { cur.trailing_zeros() };
        let remaining = self.end - cur;
        let fit = 127 - remaining.leading_zeros(); // floor(log2(remaining))
        let order = align.min(fit).min(self.max_order).min(64);
        self.next = cur + (1u128 << order);
        Some(Block {
            addr: cur as u64,
            order,
        })
    }
}

/// How a range is to be covered within a command cap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan<I> {
    /// Exact: these pieces, at most `cap` of them.
    Pieces(I),
    /// Over the cap: one wider block that covers the range.
    Single(Block),
    /// Over the cap and no single encodable block covers it: invalidate all.
    All,
}

/// Plan aligned blocks for `r` within `cap` commands. Over the cap, fall back
/// to the smallest covering block if its order is at most `max_order`, else
/// to [`Plan::All`].
pub fn plan_aligned(
    r: &AddrRange,
    min_order: u32,
    max_order: u32,
    cap: usize,
) -> Plan<AlignedBlocks> {
    let it = AlignedBlocks::new(r, min_order, max_order);
    if it.clone().take(cap.saturating_add(1)).count() <= cap {
        return Plan::Pieces(it);
    }
    let b = covering_block(r, min_order);
    if b.order <= max_order && b.order < 64 {
        Plan::Single(b)
    } else {
        Plan::All
    }
}

/// One command per `2^shift`-byte page of `r` (a driver without range
/// support), as an iterator of page addresses.
pub fn pages(r: &AddrRange, shift: u32) -> impl Iterator<Item = u64> + Clone {
    let r = r.align_out(shift);
    let first = r.first() as u128;
    let n = r.size() >> shift.min(127);
    (0..n).map(move |i| (first + (i << shift)) as u64)
}

/// Number of `2^shift`-byte pages that [`pages`] yields (2^64 / 2^shift at most).
pub const fn page_count(r: &AddrRange, shift: u32) -> u128 {
    r.align_out(shift).size() >> shift
}

/// PCIe ATS size encoding of the smallest aligned block (≥ 4 KiB) covering
/// `r`: returns `(address, s)`. `s = false` is one 4 KiB page; with `s`, the
/// lowest zero bit of `address` at or above bit 12, at position z, gives
/// 2^(z+1) bytes. The whole space encodes as `0x7fff_ffff_ffff_f000`.
pub const fn ats_encode(r: &AddrRange) -> (u64, bool) {
    let b = covering_block(r, PAGE_SHIFT);
    ats_encode_block(b)
}

/// ATS encoding of one aligned block (order ≥ 12).
pub const fn ats_encode_block(b: Block) -> (u64, bool) {
    if b.order <= PAGE_SHIFT {
        return (b.addr & !0xfff, false);
    }
    if b.order >= 64 {
        return (0x7fff_ffff_ffff_f000, true);
    }
    // Bits 12 ..= order-2 set, bit order-1 clear.
    let ones = ((1u64 << (b.order - 1)) - 1) & !0xfff;
    (b.addr | ones, true)
}

/// Decode a PCIe ATS size encoding. `s = false`: the 4 KiB page holding
/// `address`. With `s`: lowest zero bit z ≥ 12 gives 2^(z+1) bytes aligned to
/// that size; no zero bit at or above 12 (all ones) is taken as everything.
pub const fn ats_decode(address: u64, s: bool) -> AddrRange {
    if !s {
        return AddrRange::block(address, PAGE_SHIFT);
    }
    let z = (address >> PAGE_SHIFT).trailing_ones() + PAGE_SHIFT;
    AddrRange::block(address, z + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn span(first: u64, last: u64) -> AddrRange {
        AddrRange::inclusive(first, last).unwrap()
    }

    fn tiles(blocks: &[Block], r: &AddrRange) -> bool {
        let mut at = r.first() as u128;
        for b in blocks {
            if b.addr as u128 != at || b.addr & ((1u128 << b.order) - 1) as u64 != 0 {
                return false;
            }
            at += 1u128 << b.order;
        }
        at == r.last() as u128 + 1
    }

    #[test]
    fn new_rejects_empty_and_overflow() {
        assert_eq!(AddrRange::new(0, 0), Err(RangeError::Empty));
        assert_eq!(AddrRange::new(u64::MAX, 2), Err(RangeError::Overflow));
        assert_eq!(AddrRange::new(1 << 63, 1 << 63).unwrap().last(), u64::MAX);
        assert_eq!(
            AddrRange::new(0, u64::MAX).unwrap().size(),
            u64::MAX as u128
        );
        assert_eq!(AddrRange::new(u64::MAX - 4095, 4096).unwrap().size(), 4096);
    }

    #[test]
    fn hand_built_inverted_span_reads_as_swapped() {
        let r = AddrRange::Span {
            first: 0x2000,
            last: 0x1000,
        };
        assert_eq!((r.first(), r.last(), r.size()), (0x1000, 0x2000, 0x1001));
        assert_eq!(r, AddrRange::inclusive(0x1000, 0x2000).unwrap());
        assert_eq!(AlignedBlocks::new(&r, 12, 63).count(), 2);
    }

    #[test]
    fn covering_block_examples() {
        assert_eq!(
            covering_block(&span(0x1000, 0x1fff), 12),
            Block {
                addr: 0x1000,
                order: 12
            }
        );
        assert_eq!(
            covering_block(&span(0x1fff, 0x2000), 12),
            Block { addr: 0, order: 14 }
        );
        assert_eq!(covering_block(&AddrRange::All, 12).order, 64);
        assert_eq!(
            covering_block(&span(0, 0), 12),
            Block { addr: 0, order: 12 }
        );
    }

    #[test]
    fn aligned_blocks_37_pages() {
        let r = AddrRange::new(0x1000, 37 * 4096).unwrap();
        let b: Vec<_> = AlignedBlocks::new(&r, 12, 63).collect();
        assert!(tiles(&b, &r));
        // 0x1000 (1), 0x2000 (2), 0x4000 (4), 0x8000 (8), 0x10000 (16), then 6 pages: 4 + 2.
        assert_eq!(b.len(), 7);
    }

    #[test]
    fn aligned_blocks_whole_space() {
        let b: Vec<_> = AlignedBlocks::new(&AddrRange::All, 12, 64).collect();
        assert_eq!(b, [Block { addr: 0, order: 64 }]);
        let b: Vec<_> = AlignedBlocks::new(&AddrRange::All, 12, 63).collect();
        assert_eq!(b.len(), 2);
        assert!(tiles(&b, &AddrRange::All));
    }

    #[test]
    fn aligned_blocks_top_page() {
        let r = AddrRange::new(u64::MAX - 4095, 4096).unwrap();
        let b: Vec<_> = AlignedBlocks::new(&r, 12, 63).collect();
        assert_eq!(
            b,
            [Block {
                addr: u64::MAX - 4095,
                order: 12
            }]
        );
    }

    #[test]
    fn plan_aligned_falls_back() {
        let r = AddrRange::new(0x1000, 37 * 4096).unwrap();
        match plan_aligned(&r, 12, 30, 3) {
            Plan::Single(b) => {
                assert!(b.range().contains(&r));
                assert_eq!(b, Block { addr: 0, order: 18 });
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(plan_aligned(&r, 12, 15, 3), Plan::All));
        assert!(matches!(plan_aligned(&r, 12, 63, 7), Plan::Pieces(_)));
    }

    #[test]
    fn ats_encoding_round_trips() {
        for order in 12..=64u32 {
            let addr = if order >= 64 {
                0
            } else {
                0xdead_b000_0000_0000u64 & !((1u64 << order) - 1)
            };
            let b = Block { addr, order };
            let (a, s) = ats_encode_block(b);
            assert_eq!(ats_decode(a, s), b.range(), "order {order}");
        }
        assert_eq!(ats_encode(&AddrRange::All), (0x7fff_ffff_ffff_f000, true));
        // Spec example: 8 KiB at 0x2000 encodes as 0x2000 | 0 (bit 12 clear) with s.
        assert_eq!(ats_encode(&span(0x2000, 0x3fff)), (0x2000, true));
        // 16 KiB at 0x4000: bit 12 set, bit 13 clear.
        assert_eq!(ats_encode(&span(0x4000, 0x7fff)), (0x5000, true));
        assert_eq!(ats_decode(0xffff_ffff_ffff_f000, true), AddrRange::All);
    }

    #[test]
    fn pages_count() {
        let r = AddrRange::new(0x1800, 0x1000).unwrap(); // straddles two pages
        assert_eq!(pages(&r, 12).collect::<Vec<_>>(), [0x1000, 0x2000]);
        assert_eq!(page_count(&AddrRange::All, 12), 1 << 52);
    }
}
