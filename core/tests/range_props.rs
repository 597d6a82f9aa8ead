//! Property tests of the range math at its edges: 0, one page, 2^64 - 4096,
//! unaligned starts, u64::MAX sizes. Every property asserts coverage, not
//! just the absence of a panic.

use iommu_inval_core::range::*;
use iommu_inval_core::RangeError;
use proptest::prelude::*;

/// Addresses biased toward the edges.
fn addr() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        Just(0xfff),
        Just(0x1000),
        Just(u64::MAX - 4095),
        Just(u64::MAX),
        Just(1u64 << 63),
        (0u64..64).prop_map(|s| 1u64 << s),
        (0u64..64).prop_map(|s| (1u64 << s).wrapping_sub(1)),
        any::<u64>(),
        any::<u32>().prop_map(u64::from),
    ]
}

/// Sizes biased toward the edges.
fn size() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        Just(1),
        Just(4096),
        Just(4097),
        Just(37 * 4096),
        Just(2 << 20),
        Just((2 << 20) + 4096),
        Just(1 << 30),
        Just(u64::MAX),
        Just(u64::MAX - 4095),
        (0u64..64).prop_map(|s| 1u64 << s),
        1u64..(1 << 24),
        any::<u64>(),
    ]
}

/// A valid range from an (addr, size) pair: the size is clipped to fit.
fn range() -> impl Strategy<Value = AddrRange> {
    prop_oneof![
        Just(AddrRange::All),
        (addr(), size()).prop_map(|(a, s)| {
            let room = (1u128 << 64) - u128::from(a);
            let s = u128::from(s).clamp(1, room) as u64; // room 2^64 only when a = 0: then s ≤ u64::MAX
            AddrRange::new(a, s).unwrap_or(AddrRange::All)
        })
    ]
}

fn check_tiling(blocks: &[Block], r: &AddrRange, max_order: u32) -> Result<(), TestCaseError> {
    let mut at = r.first() as u128;
    for b in blocks {
        prop_assert_eq!(b.addr as u128, at, "blocks must be contiguous");
        prop_assert!(b.order <= max_order.max(12));
        if b.order < 64 {
            prop_assert_eq!(
                b.addr & ((1u64 << b.order) - 1),
                0,
                "block not naturally aligned"
            );
        }
        at += 1u128 << b.order;
    }
    prop_assert_eq!(at, r.last() as u128 + 1, "blocks must end at the range end");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn new_is_exact_or_a_typed_error(a in addr(), s in size()) {
        match AddrRange::new(a, s) {
            Ok(r) => {
                prop_assert!(s > 0);
                prop_assert_eq!(r.first(), a);
                prop_assert_eq!(r.size(), u128::from(s));
            }
            Err(RangeError::Empty) => prop_assert_eq!(s, 0),
            Err(RangeError::Overflow) => prop_assert!(u128::from(a) + u128::from(s) > 1u128 << 64),
            Err(e) => prop_assert!(false, "unexpected {e:?}"),
        }
    }

    #[test]
    fn aligned_blocks_tile_the_page_aligned_range(r in range(), max_order in 12u32..=64) {
        // Bounded work: let the largest order grow with the range.
        let bits = 128 - r.align_out(12).size().leading_zeros();
        let max_order = max_order.max(bits.saturating_sub(6));
        let blocks: Vec<_> = AlignedBlocks::new(&r, 12, max_order).take(200).collect();
        prop_assert!(blocks.len() < 200, "at most two blocks per bit");
        check_tiling(&blocks, &r.align_out(12), max_order)?;
    }

    #[test]
    fn plan_aligned_respects_the_cap_and_covers(r in range(), max_order in 12u32..=64, cap in 0usize..12) {
        match plan_aligned(&r, 12, max_order, cap) {
            Plan::Pieces(it) => {
                let v: Vec<_> = it.collect();
                prop_assert!(v.len() <= cap);
                check_tiling(&v, &r.align_out(12), max_order)?;
            }
            Plan::Single(b) => {
                prop_assert!(b.range().contains(&r));
                prop_assert!(b.order <= max_order);
                // Smallest: half of it does not hold the whole range.
                if b.order > 12 {
                    let half = AddrRange::block(r.first(), b.order - 1);
                    prop_assert!(!half.contains(&r));
                }
            }
            Plan::All => {
                prop_assert!(covering_block(&r, 12).order > max_order || covering_block(&r, 12).order >= 64);
            }
        }
    }

    #[test]
    fn ats_encoding_is_the_smallest_cover_and_round_trips(r in range()) {
        let (a, s) = ats_encode(&r);
        let back = ats_decode(a, s);
        prop_assert!(back.contains(&r));
        prop_assert_eq!(a & 0xfff, 0);
        let b = covering_block(&r, 12);
        prop_assert_eq!(back, b.range());
        if b.order > 12 && b.order < 64 {
            prop_assert!(!AddrRange::block(r.first(), b.order - 1).contains(&r));
        }
    }

    #[test]
    fn pages_cover_every_byte(a in addr(), n in 1u64..64) {
        let room = (1u128 << 64) - u128::from(a);
        let s = u128::from(n * 4096).min(room).min(u128::from(u64::MAX)) as u64;
        let r = AddrRange::new(a, s).unwrap();
        let v: Vec<u64> = pages(&r, 12).collect();
        prop_assert_eq!(v.len() as u128, page_count(&r, 12));
        prop_assert_eq!(v[0], r.first() & !0xfff);
        prop_assert_eq!(*v.last().unwrap() | 0xfff, r.last() | 0xfff);
    }
}

#[test]
fn whole_space_edges() {
    let top = AddrRange::new(u64::MAX - 4095, 4096).unwrap();
    assert_eq!(ats_encode(&top), (u64::MAX - 4095, false));
    assert_eq!(
        AddrRange::new(0, u64::MAX).unwrap().align_out(12),
        AddrRange::All.align_out(12)
    );
    assert_eq!(
        covering_block(&AddrRange::new(1, u64::MAX).unwrap(), 12).order,
        64
    );
}
