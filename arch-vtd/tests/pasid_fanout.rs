//! Stage-1 invalidation of every PASID of one domain: one PASID-based
//! descriptor per PASID the context lists for the domain and one for its
//! RID_PASID (requests without PASID; within the cap),
//! instead of the global `iotlb_inv_dsc`. The domain-selective
//! `iotlb_inv_dsc` is never used for first-stage entries: in scalable mode
//! it reaches second-stage-only and pass-through entries (VT-d §6.5.2.4).
#![cfg(feature = "std")]

use iommu_inval_core::arch::Arch;
use iommu_inval_core::arch::Target;
use iommu_inval_core::context::Topology;
use iommu_inval_core::footprint::{Footprint, Relation};
use iommu_inval_core::model::*;
use iommu_inval_core::Flags;
use iommu_inval_core::{Context, IdentityContext};
use iommu_inval_vtd::*;

fn topo(pasids: usize) -> Topology {
    let list: Vec<String> = (0..pasids)
        .map(|p| format!(r#"{{"pasid":{}}}"#, p + 1))
        .collect();
    Topology::from_json(&format!(
        r#"{{"domains":[{{"id":1,"vtd":{{"did":7}}}},{{"id":2,"vtd":{{"did":8}}}}],
            "devices":[{{"rid":16,"domain":1,"pasids":[{}]}},
                       {{"rid":17,"domain":1,"pasids":[{{"pasid":1}}]}},
                       {{"rid":32,"domain":2}}]}}"#,
        list.join(",")
    ))
    .unwrap()
}

fn s1_all(domain: u32, range: AddrRange) -> Op {
    Op::Inval(
        Inval::new(Caches::IOTLB)
            .stage(Stages::S1)
            .domain(DomainSel::One(domain))
            .pasid(PasidSel::All)
            .range(range),
    )
}

fn lower_v(op: &Op, caps: &Target<Vtd>, ctx: &dyn Context) -> (Vec<Command>, Outcome) {
    let mut out = Vec::new();
    let o = Vtd::lower(op, &caps.features, caps.budget, ctx, &mut out).unwrap();
    assert_eq!(o.emitted, out.len());
    (out, o)
}

fn relation(op: &Op, out: &[Command], ctx: &dyn Context) -> Relation {
    let mut lifted = Vec::new();
    for c in out {
        Vtd::lift(c, ctx, &mut lifted).unwrap();
    }
    Footprint::of_ops(&lifted, ctx).relation_to(&Footprint::of_op(op, ctx))
}

fn p_iotlb(c: &Command) -> (u8, u16, u32, u64, u8) {
    match c {
        Command::PIotlbInv(d) => (d.g, d.did, d.pasid, d.address, d.am),
        other => panic!("not a p_iotlb_inv_dsc: {other:?}"),
    }
}

/// The one global `iotlb_inv_dsc`.
fn only_global(out: &[Command]) -> bool {
    matches!(out, [Command::IotlbInv(IotlbInv { g: 1, .. })])
}

fn p_iotlbs(out: &[Command]) -> Vec<(u8, u16, u32, u64, u8)> {
    out.iter().map(p_iotlb).collect()
}

/// The descriptor `(g, did, address, am)` for PASIDs 1, 2, 3 (the listed
/// ones, in file order) and then the RID_PASID 0.
fn each_pasid((g, did, address, am): (u8, u16, u64, u8)) -> [(u8, u16, u32, u64, u8); 4] {
    [1, 2, 3, 0].map(|p| (g, did, p, address, am))
}

#[test]
fn every_listed_pasid_gets_its_own_descriptor() {
    let ctx = topo(3);
    let caps = Target::<Vtd>::default();
    let op = s1_all(1, AddrRange::All);
    let (out, o) = lower_v(&op, &caps, &ctx);
    // PASIDs 1, 2, 3 (1 is listed twice, on two devices: once), and the
    // RID_PASID 0 of the domain's requests without PASID.
    assert_eq!(p_iotlbs(&out), each_pasid((2, 7, 0, 0)));
    assert!(o.widened.is_empty(), "{:?}", o.widened);
    assert_eq!(relation(&op, &out, &ctx), Relation::Exact);
    // A range: the page-selective descriptors of each PASID.
    let op = s1_all(1, AddrRange::new(0x4000, 0x2000).unwrap());
    let (out, _) = lower_v(&op, &caps, &ctx);
    assert_eq!(p_iotlbs(&out), each_pasid((3, 7, 0x4000, 1)));
    assert_eq!(relation(&op, &out, &ctx), Relation::Exact);
}

#[test]
fn over_the_cap_pasid_selective_then_global() {
    let ctx = topo(3);
    // A range of 3 pieces x 4 PASIDs (3 listed, RID_PASID 0) = 12 > 4:
    // one PASID-selective each.
    let caps = Target::<Vtd>::new(Features::SCALABLE).max_cmds(4);
    let op = s1_all(1, AddrRange::new(0x1000, 0x3000).unwrap());
    let (out, o) = lower_v(&op, &caps, &ctx);
    assert_eq!(p_iotlbs(&out), each_pasid((2, 7, 0, 0)));
    assert!(o.widened.contains(Widened::RANGE | Widened::CAP));
    assert!(matches!(relation(&op, &out, &ctx), Relation::Superset(_)));
    // More PASIDs than the cap: the global descriptor.
    let caps = Target::<Vtd>::new(Features::SCALABLE).max_cmds(2);
    let (out, _) = lower_v(&s1_all(1, AddrRange::All), &caps, &ctx);
    assert!(only_global(&out), "{out:?}");
}

#[test]
fn without_a_list_the_global_descriptor_stays() {
    let caps = Target::<Vtd>::default();
    for (ctx, dom) in [
        (&topo(3) as &dyn Context, 2u32), // a domain without PASIDs listed
        (&IdentityContext, 1),            // nothing listed at all
    ] {
        let op = s1_all(dom, AddrRange::All);
        let (out, o) = lower_v(&op, &caps, ctx);
        assert!(only_global(&out), "{out:?}");
        assert!(o.widened.contains(Widened::DOMAIN));
    }
    // Legacy mode has no PASID descriptors: global as before.
    let (out, _) = lower_v(
        &s1_all(1, AddrRange::All),
        &Target::<Vtd>::new(Features::SCALABLE.in_legacy_mode()),
        &topo(3),
    );
    assert!(only_global(&out), "{out:?}");
}

#[test]
fn both_stages_keep_the_domain_selective_second_stage() {
    let ctx = topo(2);
    let op = Op::Inval(
        Inval::new(Caches::IOTLB)
            .stage(Stages::all())
            .domain(DomainSel::One(1))
            .pasid(PasidSel::All),
    );
    let (out, _) = lower_v(&op, &Target::<Vtd>::default(), &ctx);
    assert!(
        matches!(out[0], Command::IotlbInv(IotlbInv { g: 2, did: 7, .. })),
        "{out:?}"
    );
    assert_eq!(
        out[1..]
            .iter()
            .map(p_iotlb)
            .map(|x| x.2)
            .collect::<Vec<_>>(),
        [1, 2, 0]
    );
    assert_eq!(relation(&op, &out, &ctx), Relation::Exact);
}

/// The RID_PASID the topology names (VT-d §9.4), and one that is a listed
/// PASID: requests without PASID get it, once.
#[test]
fn the_rid_pasid_names_requests_without_pasid() {
    let ctx = Topology::from_json(
        r#"{"domains":[{"id":1,"vtd":{"did":7,"rid_pasid":9}},{"id":2,"vtd":{"did":8,"rid_pasid":1}}],
            "devices":[{"rid":16,"domain":1,"pasids":[{"pasid":1}]},{"rid":17,"domain":2,"pasids":[{"pasid":1},{"pasid":2}]}]}"#,
    )
    .unwrap();
    let caps = Target::<Vtd>::default();
    let none = |d: u32| {
        Op::Inval(
            Inval::new(Caches::IOTLB)
                .stage(Stages::S1)
                .domain(DomainSel::One(d))
                .pasid(PasidSel::NoPasid),
        )
    };
    let (out, o) = lower_v(&none(1), &caps, &ctx);
    assert_eq!(p_iotlbs(&out), [(2, 7, 9, 0, 0)]);
    assert!(o.is_exact(), "{o:?}");
    assert_eq!(relation(&none(1), &out, &ctx), Relation::Exact);
    let (out, _) = lower_v(&s1_all(1, AddrRange::All), &caps, &ctx);
    let got: Vec<_> = out.iter().map(|c| p_iotlb(c).2).collect();
    assert_eq!(got, [1, 9]);
    // Domain 2 uses PASID 1 as its RID_PASID and lists it: one descriptor
    // serves both, and lowering either alone says the other goes too.
    let (out, _) = lower_v(&s1_all(2, AddrRange::All), &caps, &ctx);
    let got: Vec<_> = out.iter().map(|c| p_iotlb(c).2).collect();
    assert_eq!(got, [1, 2]);
    let (out, o) = lower_v(&none(2), &caps, &ctx);
    assert_eq!(p_iotlbs(&out), [(2, 8, 1, 0, 0)]);
    assert_eq!(o.widened, Widened::PASID);
    assert!(matches!(
        relation(&none(2), &out, &ctx),
        Relation::Superset(_)
    ));
    // Without a topology, RID_PASID is 0 (Linux's IOMMU_NO_PASID), shared
    // with PASID 0: reported as widened, never a global flush.
    let (out, o) = lower_v(&none(1), &caps, &IdentityContext);
    assert_eq!(p_iotlbs(&out), [(2, 1, 0, 0, 0)]);
    assert_eq!(o.widened, Widened::PASID);
}
