//! Requests without PASID on AMD-Vi: GCR3 entry 0 (Linux's
//! `IOMMU_NO_PASID`, where its v2 page-table mode installs the domain's
//! table for DMA without PASID), named by INVALIDATE_IOMMU_PAGES gn = 1,
//! PASID 0; every PASID of a domain is one command per listed PASID and
//! one for entry 0.

use iommu_inval_amd::*;
use iommu_inval_core::arch::Arch;
use iommu_inval_core::context::Topology;
use iommu_inval_core::footprint::{Footprint, Relation};
use iommu_inval_core::model::*;
use iommu_inval_core::{Context, IdentityContext};

fn topo() -> Topology {
    Topology::from_json(
        r#"{"domains":[{"id":1,"amd":{"domain_id":5}},{"id":2,"amd":{"domain_id":6}}],
            "devices":[{"rid":16,"domain":1,"pasids":[{"pasid":3},{"pasid":4}]},
                       {"rid":17,"domain":2,"pasids":[{"pasid":0},{"pasid":2}]}]}"#,
    )
    .unwrap()
}

fn s1(d: u32, p: PasidSel) -> Op {
    Op::Inval(
        Inval::new(Caches::IOTLB)
            .stage(Stages::S1)
            .domain(DomainSel::One(d))
            .pasid(p),
    )
}

fn low(op: &Op, ctx: &dyn Context) -> (Vec<(bool, u32, u16)>, Outcome, Relation) {
    let mut out = Vec::new();
    let o = AmdVi::lower(op, &Features::REV2, AmdVi::DEFAULT_BUDGET, ctx, &mut out).unwrap();
    let mut back = Vec::new();
    for c in &out {
        AmdVi::lift(c, ctx, &mut back).unwrap();
    }
    let rel = Footprint::of_ops(&back, ctx).relation_to(&Footprint::of_op(op, ctx));
    let v = out
        .iter()
        .map(|c| match c {
            Command::InvalidateIommuPages(p) => (p.gn, p.pasid, p.domain_id),
            other => panic!("{other:?}"),
        })
        .collect();
    (v, o, rel)
}

#[test]
fn no_pasid_is_gcr3_entry_0() {
    let t = topo();
    let (v, o, rel) = low(&s1(1, PasidSel::NoPasid), &t);
    assert_eq!(v, [(true, 0, 5)]);
    assert!(o.is_exact(), "{o:?}");
    assert_eq!(rel, Relation::Exact);
    // Its lift is requests without PASID only: domain 1 lists no PASID 0.
    let mut ops = Vec::new();
    let c = InvalidateIommuPages {
        pasid: 0,
        domain_id: 5,
        s: true,
        pde: true,
        gn: true,
        address: ALL_PAGES_ADDRESS,
    };
    AmdVi::lift(&Command::InvalidateIommuPages(c), &t, &mut ops).unwrap();
    assert_eq!(ops, [s1(1, PasidSel::NoPasid)]);
    // Domain 2 lists PASID 0: entry 0 serves both, reported.
    let (v, o, rel) = low(&s1(2, PasidSel::NoPasid), &t);
    assert_eq!(v, [(true, 0, 6)]);
    assert_eq!(o.widened, Widened::PASID);
    assert!(matches!(rel, Relation::Superset(_)));
    // No topology: PASID 0 may be in use, so the same, reported.
    let (v, o, _) = low(&s1(1, PasidSel::NoPasid), &IdentityContext);
    assert_eq!(v, [(true, 0, 1)]);
    assert_eq!(o.widened, Widened::PASID);
}

#[test]
fn every_pasid_is_each_listed_pasid_and_entry_0() {
    let t = topo();
    let (v, o, rel) = low(&s1(1, PasidSel::All), &t);
    assert_eq!(v, [(true, 3, 5), (true, 4, 5), (true, 0, 5)]);
    assert!(o.is_exact(), "{o:?}");
    assert_eq!(rel, Relation::Exact);
    // PASID 0 listed: entry 0 once.
    let (v, _, rel) = low(&s1(2, PasidSel::All), &t);
    assert_eq!(v, [(true, 0, 6), (true, 2, 6)]);
    assert_eq!(rel, Relation::Exact);
}
