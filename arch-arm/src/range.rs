//! SMMUv3 range invalidation (IHI0070 §4.4.1.1, "Range-based
//! invalidation"): a TLBI with `tg` ≠ 0 removes `(num + 1) * 2^scale`
//! granules from its address, `num` and `scale` 5 bits each. A range of
//! `n` granules is split greedily from the top: each command takes the
//! largest `k * 2^s` (`k` ≤ 32, `s` ≤ 31) of what is left, so it needs about
//! one command per five significant bits of `n`.

/// One step of the greedy decomposition of a count of `n` (> 0) granules:
/// `(k, s)` with `k = num + 1` in 1..=32 and `s = scale` in 0..=31. Above
/// `32 * 2^31` granules a command takes that maximum.
#[inline(always)]
pub(crate) const fn ril_step(n: u64) -> (u64, u32) {
    let bits = 64 - n.leading_zeros();
    let s = if bits > 36 {
        31
    } else {
        bits.saturating_sub(5)
    };
    let k = n >> s;
    (if k > 32 { 32 } else { k }, s)
}

/// Commands the range lowering of `n` granules takes (a one-granule chunk
/// costs `single`), counted without building any; `None` above `cap`.
#[inline]
pub(crate) fn ril_cost(mut n: u64, single: usize, cap: usize) -> Option<usize> {
    let mut cost = 0usize;
    while n != 0 {
        let (k, s) = ril_step(n);
        cost += if k == 1 && s == 0 { single } else { 1 };
        if cost > cap {
            return None;
        }
        n -= k << s;
    }
    Some(cost)
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use iommu_inval_core::range::AddrRange;
    use proptest::prelude::*;
    use std::vec::Vec;

    /// The chunks `(address, num, scale)` of `r` in `2^tg`-byte granules
    /// (widened to whole granules), walked with [`ril_step`].
    fn chunks(r: &AddrRange, tg: u32) -> Vec<(u64, u8, u8)> {
        let r = r.align_out(tg);
        let mut n = u64::try_from(r.size() >> tg).unwrap_or(u64::MAX);
        let (mut addr, mut v) = (r.first(), Vec::new());
        while n != 0 {
            let (k, s) = ril_step(n);
            v.push((addr, (k - 1) as u8, s as u8));
            n -= k << s;
            addr = addr.wrapping_add((k << s) << tg);
        }
        v
    }

    fn granules(c: &(u64, u8, u8)) -> u128 {
        (u128::from(c.1) + 1) << c.2
    }

    /// An independent reference: the greedy split on a 128-bit count.
    fn reference(n: u128) -> Vec<(u8, u8)> {
        let (mut left, mut v) = (n, Vec::new());
        while left != 0 {
            let bits = 128 - left.leading_zeros();
            let s = bits.saturating_sub(5).min(31);
            let k = (left >> s).min(32);
            v.push(((k - 1) as u8, s as u8));
            left -= k << s;
        }
        v
    }

    /// `ril_step`'s walk is the 128-bit reference, and `ril_cost` counts it
    /// (a one-granule chunk at `single`).
    #[test]
    fn walk_is_the_reference_and_cost_counts_it() {
        let mut counts: Vec<u64> = (1..=300).collect();
        for b in [5u32, 6, 12, 31, 35, 36, 37, 40, 51, 52] {
            let p = 1u64 << b;
            counts.extend([p - 1, p, p + 1, p + 33, (p - 1) | 0x21]);
        }
        for (i, n) in counts.into_iter().enumerate() {
            let first = (i as u64 % 7) << 12;
            let size = (u128::from(n) << 12).min(u128::from(u64::MAX - first) + 1);
            let r = AddrRange::Span {
                first,
                last: (u128::from(first) + size - 1) as u64,
            };
            let n = u64::try_from(r.size() >> 12).unwrap_or(u64::MAX);
            let got = chunks(&r, 12);
            let ns: Vec<_> = got.iter().map(|c| (c.1, c.2)).collect();
            assert_eq!(ns, reference(u128::from(n)), "{n} granules");
            let ones = got.iter().filter(|c| c.1 == 0 && c.2 == 0).count();
            let cost = got.len() + 15 * ones;
            assert_eq!(ril_cost(n, 16, usize::MAX), Some(cost), "{n}");
            assert_eq!(ril_cost(n, 16, cost), Some(cost), "{n}");
            assert_eq!(ril_cost(n, 16, cost - 1), None, "{n}");
        }
    }

    #[test]
    fn examples() {
        // 37 pages: 32 + 5.
        let c = chunks(&AddrRange::new(0x1000, 37 * 4096).unwrap(), 12);
        assert_eq!(c.len(), 2);
        assert_eq!(c.iter().map(granules).sum::<u128>(), 37);
        // 2 MiB = 512 pages: one chunk (num 15, scale 5 = 16 * 32); the
        // 2 MiB block of a seed request is one command.
        let c = chunks(&AddrRange::new(0x20_0000, 0x20_0000).unwrap(), 12);
        assert_eq!(c, [(0x20_0000, 15, 5)]);
        // A hand-built inverted span reads with its bounds swapped: 2 pages.
        let r = AddrRange::Span {
            first: 0x2000,
            last: 0x1000,
        };
        assert_eq!(chunks(&r, 12).iter().map(granules).sum::<u128>(), 2);
        // Whole space, 4K granules: 2^52 granules > 32 * 2^31: several
        // chunks, all tiled; within a cap of one, no plan (ASID-wide).
        let c = chunks(&AddrRange::All, 12);
        assert_eq!(c.iter().map(granules).sum::<u128>(), 1u128 << 52);
        assert_eq!(ril_cost(1 << 52, 1, 1), None);
        // One command names at most 32 * 2^31 = 2^36 granules: 2^48 64 KiB
        // granules take 2^12.
        let c = chunks(&AddrRange::All, 16);
        assert_eq!(c.len(), 4096);
        assert!(c.iter().all(|c| c.1 == 31 && c.2 == 31));
    }

    fn range() -> impl Strategy<Value = AddrRange> {
        prop_oneof![
            Just(AddrRange::All),
            (any::<u64>(), any::<u64>()).prop_map(|(a, b)| AddrRange::Span {
                first: a.min(b),
                last: a.max(b),
            }),
            (any::<u64>(), 1u64..(1 << 40)).prop_map(|(a, n)| {
                let a = a & !0xfff;
                let last = u128::from(a) + u128::from(n) - 1;
                AddrRange::Span {
                    first: a,
                    last: last.min(u128::from(u64::MAX)) as u64,
                }
            }),
        ]
    }

    proptest! {
        #[test]
        fn chunks_tile_and_fit_their_fields(r in range(), tg in prop_oneof![Just(12u32), Just(14), Just(16)]) {
            let r2 = r.align_out(tg);
            let mut at = u128::from(r2.first());
            let c = chunks(&r, tg);
            prop_assert!(c.len() <= (1 << 16) + 8, "2^52 granules / 2^36 per command, plus a short tail");
            for c in &c {
                prop_assert!(c.1 <= 31 && c.2 <= 31);
                prop_assert_eq!(u128::from(c.0), at);
                at += granules(c) << tg;
            }
            prop_assert_eq!(at, u128::from(r2.last()) + 1);
        }

        #[test]
        fn chunks_are_few(pages in 1u64..(1 << 36)) {
            // (num+1)*2^scale takes 5 significant bits per command.
            let r = AddrRange::new(0, pages * 4096).unwrap();
            let n = chunks(&r, 12).len() as u32;
            let bits = 64 - pages.leading_zeros() - pages.trailing_zeros();
            prop_assert!(n <= bits.div_ceil(5).max(1), "{} chunks for {} pages", n, pages);
        }

        #[test]
        fn chunks_beyond_one_command(pages in (1u64 << 36)..(1 << 40)) {
            // Above 2^36 granules every command but the tail names the maximum.
            let r = AddrRange::new(0, pages * 4096).unwrap();
            let v = chunks(&r, 12);
            let full = (pages >> 36) as usize;
            prop_assert!(v[..full].iter().all(|c| c.1 == 31 && c.2 == 31));
            prop_assert!(v.len() <= full + 8);
        }
    }
}
