//! Minimal reproducers of what the property tests and fuzzers found (see
//! props/FINDINGS.md). Each must pass once its root cause is fixed.

use iommu_inval_core::context::Topology;
use iommu_inval_core::model::{
    Caches, DeviceSel, DomainSel, Inval, Op, PasidSel, Regime, Stages, Widened,
};
use iommu_inval_core::ArchId;
use iommu_inval_core::Flags;
use iommu_inval_core::{AddrRange, IdentityContext};
use iommu_inval_props::{
    check_r2, check_r3, check_r3_to, lift_vec, lower_vec, AllCaps, Amd, Arch, Smmu, Verdict, Vtd,
};

/// `i` of one PASID of one domain over the bytes `first..first + size`.
fn page_op(i: Inval, domain: u32, pasid: u32, (first, size): (u64, u64)) -> Op {
    let range = AddrRange::new(first, size).unwrap_or(AddrRange::All);
    Op::Inval(
        i.domain(DomainSel::One(domain))
            .pasid(PasidSel::One(pasid))
            .range(range),
    )
}

/// Domain 1 (SMMU VMID 1) with `devices` (a JSON list), and a stage-1
/// invalidation of `pasid` over `range` in it.
fn smmu_s1(devices: &str, pasid: u32, range: (u64, u64)) -> (Topology, Op) {
    let json = format!(r#"{{"domains":[{{"id":1,"smmuv3":{{"vmid":1}}}}],"devices":{devices}}}"#);
    let t = Topology::from_json(&json).unwrap_or_default();
    let i = Inval::new(Caches::IOTLB).stage(Stages::S1);
    (t, page_op(i, 1, pasid, range))
}

/// FINDINGS 1 (fixed in core 02211bb: device-TLB and interrupt entries are
/// non-secure only): what VT-d and AMD-Vi do with a Secure-regime
/// invalidation of regime-free caches satisfies R3.
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
    let (t, op) = smmu_s1(
        r#"[{"rid":33,"domain":1,"pasids":[{"pasid":7,"asid":9}]},
            {"rid":34,"domain":1,"pasids":[{"pasid":8,"asid":9}]}]"#,
        7,
        (0x1000, 0x1000),
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

/// FINDINGS 2 (fixed): a PASID whose context descriptors use different
/// ASIDs on different devices of a domain is invalidated under every one of
/// them (the footprint has no ASID coordinate, so R3 alone cannot see it).
#[test]
fn smmu_pasid_with_two_asids_gets_both() {
    use iommu_inval_core::{FieldValue, NativeCommand};
    let (t, op) = smmu_s1(
        r#"[{"rid":622,"domain":1,"pasids":[{"pasid":1048575,"asid":65534}]},
            {"rid":33,"domain":1,"pasids":[{"pasid":1048575,"asid":1}]}]"#,
        1_048_575,
        (0x8000, 0x2000),
    );
    let Ok(Ok((cmds, _))) = lower_vec::<Smmu>(&op, &Default::default(), &t) else {
        panic!("lower failed")
    };
    let mut asids: Vec<u64> = Vec::new();
    for c in &cmds {
        c.for_each_field(&mut |n, v| {
            if let ("asid", FieldValue::Uint(a)) = (n, v) {
                asids.push(a);
            }
        });
    }
    asids.sort_unstable();
    asids.dedup();
    // Either one TLBI per ASID, or one without ASID (NH_VAA: every ASID of the VMID).
    let all_asids = cmds
        .iter()
        .all(|c| c.op() == "CMD_TLBI_NH_VAA" || c.op() == "CMD_TLBI_NH_ALL");
    assert!(all_asids || asids == [1, 65534], "{cmds:?}");
}

/// A known domain with no devices has no device TLBs: lowering its
/// device-TLB invalidation emits nothing (or reports a drop), it is not
/// refused as `no_equivalent`.
#[test]
fn dev_tlb_of_an_empty_domain_is_not_refused() {
    let t = Topology::from_json(
        r#"{"domains":[{"id":0,"vtd":{"did":65535},"amd":{"domain_id":7},"smmuv3":{"vmid":7}},{"id":2,"vtd":{"did":65534}}],
            "devices":[{"rid":13,"domain":2,"ats":false},{"rid":1,"domain":2,"ats":true}]}"#,
    )
    .unwrap_or_default();
    assert_eq!(t.file().domains.len(), 2);
    let op = page_op(
        Inval::new(Caches::DEV_TLB)
            .regime(Regime::Hyp)
            .stage(Stages::S2),
        0,
        890_713,
        (0, 0x100_0000),
    );
    let smmu = lower_vec::<Smmu>(&op, &Default::default(), &t);
    let vtd = lower_vec::<Vtd>(&op, &Default::default(), &t);
    let amd = lower_vec::<Amd>(&op, &Default::default(), &t);
    for (name, r) in [
        ("smmuv3", smmu.map(|r| r.map(|x| x.0.len()))),
        ("vtd", vtd.map(|r| r.map(|x| x.0.len()))),
        ("amd", amd.map(|r| r.map(|x| x.0.len()))),
    ] {
        assert!(matches!(r, Ok(Ok(0))), "{name}: {r:?}");
    }
}

/// The device TLBs of every device of a domain that holds one device with
/// a 32-bit id (an SMMUv3 StreamID): VT-d and AMD-Vi name 16-bit
/// requester ids, so their lowering refuses (`no_equivalent`), which R3
/// allows; SMMUv3 names it. Found by `convert` once the topology generator
/// named 32-bit requester ids (round 9).
#[test]
fn dev_tlb_of_a_domain_with_a_wide_device_may_be_refused() {
    let t = Topology::from_json(
        r#"{"domains":[{"id":7,"smmuv3":{"vmid":3},"vtd":{"did":0},"amd":{"domain_id":5}}],
            "devices":[{"rid":4294967295,"domain":7,"ats":true}]}"#,
    )
    .unwrap_or_default();
    assert_eq!(t.file().devices.len(), 1);
    let op = Op::Inval(
        Inval::new(Caches::IOTLB | Caches::DEV_TLB)
            .stage(Stages::S1 | Stages::S2)
            .domain(DomainSel::One(7))
            .pasid(PasidSel::NoPasid)
            .device(DeviceSel::All),
    );
    let caps = AllCaps::default();
    for (to, refused) in [
        (ArchId::Vtd, true),
        (ArchId::Amd, true),
        (ArchId::Smmuv3, false),
    ] {
        let v = check_r3_to(to, &op, &caps, &t);
        assert!(v.is_ok(), "{to}: {v:?}");
        assert_eq!(v == Ok(Verdict::Refused), refused, "{to}: {v:?}");
    }
}

/// FINDINGS 5: the SMMUv3 queue geometry must not panic whatever its
/// public fields hold (`Cmdq::new` clamps, a struct literal does not).
#[test]
fn smmu_cmdq_from_public_fields_does_not_panic() {
    use iommu_inval_core::SliceMemory;
    for (base, log2size) in [(0u64, 32u8), (0, 31), (0, 255), (!0x1f, 4)] {
        let r = std::panic::catch_unwind(|| {
            let q = iommu_inval_arm::queue::Cmdq { base, log2size };
            let mem = SliceMemory::new(0, &[]);
            let _ = (
                q.ring().entries(),
                q.ring().pos(7),
                q.ring().slot_addr(1),
                q.ring().pending(1, 3),
            );
            let mut d = iommu_inval_arm::queue::CmdqDevice::new(q, 1, 3);
            let _ = iommu_inval_core::device::QueueEngine::consume(&mut d, &mem, |_| ());
        });
        assert!(
            r.is_ok(),
            "Cmdq {{ base: {base:#x}, log2size: {log2size} }} panics"
        );
    }
}

/// FINDINGS 6: a Secure op has no device-TLB entries (core 02211bb), so
/// SMMUv3 emitting a non-secure ATC_INV for one must at least report it.
#[test]
fn smmu_secure_dev_tlb_is_not_a_silent_superset() {
    let op = Op::Inval(
        Inval::new(Caches::DEV_TLB)
            .regime(Regime::Secure)
            .device(DeviceSel::One(0)),
    );
    let r = check_r3::<Smmu>(&op, &Default::default(), &IdentityContext);
    assert!(r.is_ok(), "{r:?}");
}
