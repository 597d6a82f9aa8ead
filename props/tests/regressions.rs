//! Minimal reproducers of what the property tests and fuzzers found (see
//! props/FINDINGS.md). Each must pass once its root cause is fixed.

use iommu_inval_core::context::Topology;
use iommu_inval_core::model::{
    Caches, DeviceSel, DomainSel, Inval, Op, PasidSel, Regime, Stages, Widened,
};
use iommu_inval_core::{AddrRange, IdentityContext};
use iommu_inval_props::{check_r2, check_r3, lift_vec, lower_vec, Amd, Arch, Smmu, Vtd};

/// FINDINGS 1: a Secure-regime invalidation of a device TLB (which no
/// footprint tags by regime) must not be dropped by VT-d or AMD-Vi.
#[test]
fn secure_regime_keeps_regime_free_caches() {
    for caches in [
        Caches::DEV_TLB,
        Caches::INTR_REMAP,
        Caches::DEV_TLB | Caches::IOTLB,
    ] {
        let op = Op::Inval(
            Inval::new(caches)
                .regime(Regime::Secure)
                .domain(DomainSel::One(0))
                .device(DeviceSel::One(8)),
        );
        let vtd = check_r3::<Vtd>(&op, &Default::default(), &IdentityContext);
        let amd = check_r3::<Amd>(&op, &Default::default(), &IdentityContext);
        assert!(
            vtd.is_ok() && amd.is_ok(),
            "{caches:?}:\n vtd: {vtd:?}\n amd: {amd:?}"
        );
    }
}

/// Lowering one PASID to an ASID that other PASIDs share invalidates them
/// too: SMMUv3 must report the PASID widening (it once did not).
#[test]
fn smmu_shared_asid_widening_is_reported() {
    let t = Topology::from_json(
        r#"{"domains":[{"id":1,"smmuv3":{"vmid":1}}],
            "devices":[{"rid":33,"domain":1,"pasids":[{"pasid":7,"asid":9}]},
                       {"rid":34,"domain":1,"pasids":[{"pasid":8,"asid":9}]}]}"#,
    )
    .unwrap_or_default();
    let op = Op::Inval(
        Inval::new(Caches::IOTLB)
            .stage(Stages::S1)
            .domain(DomainSel::One(1))
            .pasid(PasidSel::One(7))
            .range(AddrRange::new(0x1000, 0x1000).unwrap_or(AddrRange::All)),
    );
    let out = lower_vec::<Smmu>(&op, &Default::default(), &t);
    match out {
        Ok(Ok((cmds, o))) => {
            assert_eq!(cmds.len(), 1, "{cmds:?}");
            assert!(o.widened.contains(Widened::PASID), "{o:?}");
        }
        other => panic!("{other:?}"),
    }
    assert!(check_r3::<Smmu>(&op, &Default::default(), &t).is_ok());
}

/// AMD COMPLETE_PPR_REQUEST with a PCIe-reserved status decodes (the codec
/// is exact) but has no generic form: the lift refuses it as
/// `no_equivalent`, and R2 counts it as a refusal, not a crash.
#[test]
fn amd_reserved_ppr_status_is_refused_by_lift() {
    // device_id 0x10, pasid 5, status 0xe (w1[47:44]).
    let words = [0x7000_0005_0000_0010u64, 0x0000_e000_0000_0000];
    let c = <Amd as Arch>::decode_inherent(&words);
    let Ok(c) = c else { panic!("{c:?}") };
    assert!(lift_vec::<Amd>(&c, &IdentityContext).is_err());
    assert!(check_r2::<Amd>(&c, &IdentityContext).is_ok());
}
