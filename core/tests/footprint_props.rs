//! Property tests of footprints: coverage is checked against point
//! membership (a brute-force oracle), at the address-space edges.

use iommu_inval_core::footprint::{FBox, Footprint, Relation, DIMS};
use iommu_inval_core::model::*;
use iommu_inval_core::IdentityContext;
use proptest::prelude::*;

fn edge_addr() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        Just(0x1000),
        Just(u64::MAX - 4095),
        Just(u64::MAX),
        (0u64..64).prop_map(|p| 0x1000 * p),
        any::<u64>(),
    ]
}

fn range() -> impl Strategy<Value = AddrRange> {
    prop_oneof![
        Just(AddrRange::All),
        (edge_addr(), edge_addr())
            .prop_map(|(a, b)| AddrRange::inclusive(a.min(b), a.max(b)).unwrap()),
        (0u64..16, 1u64..16).prop_map(|(p, n)| AddrRange::new(p * 0x1000, n * 0x1000).unwrap()),
    ]
}

fn inval() -> impl Strategy<Value = Inval> {
    (
        1u8..0x40,
        0u8..3,
        1u8..4,
        prop_oneof![Just(DomainSel::All), (0u32..3).prop_map(DomainSel::One)],
        prop_oneof![
            Just(PasidSel::All),
            Just(PasidSel::NoPasid),
            (0u32..3).prop_map(PasidSel::One)
        ],
        prop_oneof![
            Just(DeviceSel::All),
            (0u32..4).prop_map(DeviceSel::One),
            (0u32..4, 0u32..4).prop_map(|(a, b)| DeviceSel::Range {
                first: a.min(b),
                last: a.max(b)
            })
        ],
        range(),
        any::<bool>(),
    )
        .prop_map(|(c, r, s, domain, pasid, device, range, global)| {
            let caches = Caches::from_bits_truncate(c);
            let caches = if (caches - Caches::LEAF).is_empty() {
                caches | Caches::IOTLB
            } else {
                caches
            };
            let regime = [Regime::Guest, Regime::Hyp, Regime::Secure][usize::from(r)];
            Inval::new(caches)
                .regime(regime)
                .stage(Stages::from_bits_truncate(s))
                .domain(domain)
                .pasid(pasid)
                .device(device)
                .range(range)
                .global(global)
        })
}

fn fp(i: &Inval) -> Footprint {
    Footprint::of_inval(i, &IdentityContext)
}

fn contains_point(f: &Footprint, p: &[u64; DIMS]) -> bool {
    f.boxes()
        .iter()
        .any(|b| (0..DIMS).all(|d| b.lo[d] <= p[d] && p[d] <= b.hi[d]))
}

/// A few points of a box: its corners along each axis plus a pseudo-random interior point.
fn sample_points(b: &FBox, seed: u64) -> Vec<[u64; DIMS]> {
    let mut pts = vec![b.lo, b.hi];
    let mut x = seed | 1;
    let mut p = b.lo;
    for (d, v) in p.iter_mut().enumerate() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let span = b.hi[d] - b.lo[d];
        *v = b.lo[d] + if span == u64::MAX { x } else { x % (span + 1) };
    }
    pts.push(p);
    pts
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn covers_agrees_with_point_membership(a in inval(), b in inval(), c in inval(), seed in any::<u64>()) {
        let mut fa = fp(&a);
        fa.extend(&fp(&c));
        let fb = fp(&b);
        let rest = fb.minus(&fa);
        prop_assert_eq!(fa.covers(&fb), rest.is_empty());
        // Every point of the remainder is in B and in no box of A; corner
        // points of B outside the remainder are in A.
        for r in rest.boxes() {
            for p in sample_points(r, seed) {
                prop_assert!(contains_point(&fb, &p));
                prop_assert!(!contains_point(&fa, &p));
            }
        }
        for bx in fb.boxes() {
            for p in sample_points(bx, seed) {
                prop_assert_eq!(contains_point(&fa, &p), !contains_point(&rest, &p));
            }
        }
    }

    #[test]
    fn split_ranges_union_to_the_whole(i in inval(), cut in any::<u64>()) {
        let (first, last) = (i.range.first(), i.range.last());
        prop_assume!(first < last);
        let mid = first + cut % (last - first);
        let lo = i.range(AddrRange::inclusive(first, mid).unwrap());
        let hi = i.range(AddrRange::inclusive(mid + 1, last).unwrap());
        let mut u = fp(&lo);
        u.extend(&fp(&hi));
        prop_assert!(u.same_as(&fp(&i)));
        prop_assert_eq!(u.relation_to(&fp(&i)), Relation::Exact);
        // Secure streams have no device TLB or interrupt entries (see model docs).
        let device_tagged = i.regime != Regime::Secure && i.caches.intersects(Caches::DEV_TLB | Caches::INTR_REMAP);
        let addressed = i.caches.contains(Caches::IOTLB) || device_tagged;
        prop_assert_eq!(!fp(&lo).covers(&fp(&i)), addressed);
    }

    #[test]
    fn wider_range_is_a_superset_by_the_difference(i in inval(), pages in 1u64..64, extra in 1u64..64) {
        let i = Inval { caches: Caches::IOTLB, stages: Stages::S2, ..i };
        let small = i.range(AddrRange::new(0x1000, pages * 0x1000).unwrap());
        let big = i.range(AddrRange::new(0x1000, (pages + extra) * 0x1000).unwrap());
        match fp(&big).relation_to(&fp(&small)) {
            Relation::Superset(e) => {
                prop_assert_eq!(e.widened, Widened::RANGE);
                prop_assert_eq!(e.bytes, u128::from(extra) * 0x1000);
            }
            r => prop_assert!(false, "{:?}", r),
        }
        let under = matches!(fp(&small).relation_to(&fp(&big)), Relation::Under { .. });
        prop_assert!(under);
    }

    #[test]
    fn leaf_and_stage_and_pasid_widenings_are_named(i in inval()) {
        let i = Inval { caches: Caches::IOTLB | Caches::LEAF, regime: Regime::Guest, stages: Stages::S1, pasid: PasidSel::One(1), ..i };
        let no_leaf = Inval { caches: Caches::IOTLB, ..i };
        let both = Inval { stages: Stages::all(), ..i };
        let all_pasids = Inval { pasid: PasidSel::All, ..i };
        for (wide, flag) in [(no_leaf, Widened::LEAF), (both, Widened::STAGE), (all_pasids, Widened::PASID)] {
            match fp(&wide).relation_to(&fp(&i)) {
                Relation::Superset(e) => prop_assert!(e.widened.contains(flag), "{:?} for {:?}", e.widened, flag),
                r => prop_assert!(false, "{:?}", r),
            }
        }
    }
}
