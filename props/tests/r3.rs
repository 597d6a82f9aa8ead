//! R3 (generic): `lift(lower(g))` covers `g` exactly or as a reported
//! superset, on every architecture; refusals and drops only where rule 2
//! of docs/ARCHITECTURE.md allows them.

mod common;

use common::{ok, scale};
use iommu_inval_core::arch::Target;
use iommu_inval_core::model::{Caches, DomainSel, Inval, Op, PasidSel, Stages};
use iommu_inval_core::{AddrRange, IdentityContext};
use iommu_inval_props::{
    arbitrary_topology, bodies::in_topology, check_r3, check_r3_all, gen, run_cases, AllCaps,
    NamedIds, Riscv, Tally, Verdict,
};

#[test]
fn r3_edge_ops_every_arch() {
    let caps = AllCaps::default();
    let mut t = Tally::default();
    ok(run_cases(0x3333, 12_000 * scale(), 160, |u| {
        let op = gen::any_op(u).map_err(|e| e.to_string())?;
        let v = check_r3_all(&op, &caps, &IdentityContext)?;
        for (arch, v) in ["smmuv3", "vtd", "amd", "riscv"].iter().zip(v) {
            t.add(format!("{} {arch} {v:?}", op.kind_name()));
        }
        t.add(op.kind_name());
        // A topology that often describes the op's own domain: its PASIDs,
        // devices and the tags of its requests without PASID.
        let topo = arbitrary_topology(u, &NamedIds::of_op(&op)).map_err(|e| e.to_string())?;
        check_r3_all(&op, &caps, &topo)
            .map(|_| ())
            .map_err(in_topology(&topo))
    }));
    for k in Op::KINDS {
        assert!(
            t.get(k) >= 100 * scale(),
            "op kind {k} generated {} times: {:?}",
            t.get(k),
            t.0
        );
    }
    // Exact lowerings must be common for invalidations; a lowering that
    // always widens would pass coverage but be useless.
    for arch in ["smmuv3", "vtd", "amd", "riscv"] {
        let exact = t.get(&format!("inval {arch} Exact"));
        assert!(
            exact > 100,
            "{arch}: only {exact} exact invalidation lowerings: {:?}",
            t.0
        );
    }
}

/// Stage-1 range invalidations of one PASID at every power-of-two size
/// and alignment: exact or reported on each arch.
#[test]
fn r3_s1_ranges_every_order() {
    let caps = AllCaps::default();
    for order in 12..=64u32 {
        for addr in [0u64, 0x1000, 0x7fff_ffff_f000, !0xfff, 0xdead_beef_c000] {
            for pasid in [
                PasidSel::One(0),
                PasidSel::One(1),
                PasidSel::One(0xf_ffff),
                PasidSel::All,
                PasidSel::NoPasid,
            ] {
                for leaf in [false, true] {
                    let c = if leaf {
                        Caches::IOTLB | Caches::LEAF
                    } else {
                        Caches::IOTLB
                    };
                    let op = Op::Inval(
                        Inval::new(c)
                            .stage(Stages::S1)
                            .domain(DomainSel::One(1))
                            .pasid(pasid)
                            .range(AddrRange::block(addr, order)),
                    );
                    ok(check_r3_all(&op, &caps, &IdentityContext).map(|_| ()));
                }
            }
        }
    }
}

/// A single 4 KiB page of one PASID in one domain is exact on every arch.
#[test]
fn r3_one_page_is_exact_everywhere() {
    let caps = AllCaps::default();
    for stage in [Stages::S1, Stages::S2] {
        let op = Op::Inval(
            Inval::new(Caches::IOTLB)
                .stage(stage)
                .domain(DomainSel::One(3))
                .pasid(if stage == Stages::S1 {
                    PasidSel::One(5)
                } else {
                    PasidSel::All
                })
                .range(AddrRange::new(0x4000_0000, 0x1000).unwrap_or(AddrRange::All)),
        );
        // In the order smmuv3, vtd, amd, riscv, virtio-iommu (whose
        // INVALIDATE has no stage 2: refused).
        let virtio = if stage == Stages::S1 {
            Verdict::Exact
        } else {
            Verdict::Refused
        };
        assert_eq!(
            check_r3_all(&op, &caps, &IdentityContext),
            Ok([
                Verdict::Exact,
                Verdict::Exact,
                Verdict::Exact,
                Verdict::Exact,
                virtio
            ]),
            "{op:?}"
        );
    }
}

/// R3 on a RISC-V IOMMU of the base v1.0 specification (no range or
/// non-leaf IOTINVAL extension): per-page or per-leaf commands, `AV` = 0
/// fallbacks, all reported.
#[test]
fn r3_riscv_without_range_extension() {
    let caps = Target::<iommu_inval_riscv::RiscV>::new(iommu_inval_riscv::Features {
        s: false,
        nl: false,
        ..iommu_inval_riscv::Features::ALL
    });
    let mut t = Tally::default();
    ok(run_cases(0x3355, 8_000 * scale(), 160, |u| {
        let op = gen::any_op(u).map_err(|e| e.to_string())?;
        let v = check_r3::<Riscv>(&op, &caps, &IdentityContext)?;
        t.add(format!("{} {v:?}", op.kind_name()));
        let topo = arbitrary_topology(u, &NamedIds::default()).map_err(|e| e.to_string())?;
        check_r3::<Riscv>(&op, &caps, &topo)
            .map(|_| ())
            .map_err(in_topology(&topo))
    }));
    assert!(t.get("inval Exact") > 100, "{:?}", t.0);
}

/// The lower_lift fuzz target's ten checks on every seed.
#[test]
fn lower_lift_body_every_case_on_seeds() {
    common::every_case_on_seeds("lower_lift", 10, iommu_inval_props::bodies::lower_lift);
}
