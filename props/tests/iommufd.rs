//! The iommufd targets: vSMMU entries under the kernel's rules (every
//! permitted command passed, every refused one confirmed, R4 after the
//! kernel's rewriting), VT-d stage-1 entries (kernel-valid, R4, nothing
//! silently dropped), on arbitrary native commands and generic ops.

mod common;

use common::{ok, on_commands, scale};
use iommu_inval_arm::Command;
use iommu_inval_core::model::{Caches, Op, Regime, Stages};
use iommu_inval_core::NativeCommand;
use iommu_inval_iommufd::smmuv3::{HostFeatures, Vsmmu};
use iommu_inval_iommufd::vtd::S1Options;
use iommu_inval_props::iommufd::{
    arbitrary_host, check_iommufd, check_vsmmu, check_vtd_op, PERMITTED,
};
use iommu_inval_props::{arbitrary_topology, run_cases, AnyCommand, NamedIds, NativeAny, Tally};

#[test]
fn iommufd_targets_on_native_commands() {
    let mut t = Tally::default();
    on_commands(0x1f0d, 30_000, |u, cmd, topo| {
        for s in check_iommufd(u, &cmd, &topo)? {
            t.add(format!("{} {s}", cmd.op()));
            t.add(s);
        }
        Ok(())
    });
    // Both outcomes of the vSMMU rules, and stage-1 entries, are exercised.
    for k in ["accepted", "refused", "vtd-s1"] {
        assert!(t.get(k) >= 1000 * scale(), "{k}: {} ({:?})", t.get(k), t.0);
    }
    for op in [
        "CMD_TLBI_NH_VA",
        "CMD_TLBI_NH_VAA",
        "CMD_TLBI_NH_ALL",
        "CMD_TLBI_NH_ASID",
        "CMD_TLBI_NSNH_ALL",
        "CMD_ATC_INV",
        "CMD_CFGI_CD",
        "CMD_CFGI_CD_ALL",
    ] {
        assert!(
            t.get(&format!("{op} accepted")) >= 20,
            "{op} never accepted"
        );
    }
    assert!(t.get("CMD_SYNC refused") >= 20);
    assert!(t.get("CMD_CFGI_STE refused") >= 20);
    // Issue 28 item 3: ops of an unknown VMID / GSCID get entries checked
    // over every PASID.
    for k in [
        "CMD_TLBI_NH_ASID vtd-s1 unknown domain",
        "CMD_TLBI_NH_VA vtd-s1 unknown domain",
        "iotinval_vma vtd-s1 unknown domain",
    ] {
        assert!(t.get(k) >= 20, "{k}: {} ({:?})", t.get(k), t.0);
    }
}

/// Issue 28 item 2: the permitted opcodes on hosts drawn from the
/// topology's `iommufd.host` section (every feature on or off): an accepted
/// command uses no field its host lacks, a refusal names a feature the host
/// lacks and whose field is set, a clean command on a full host passes.
#[test]
fn vsmmu_host_features_on_permitted_commands() {
    let mut t = Tally::default();
    ok(run_cases(0x1d5d, 20_000 * scale(), 96, |u| {
        let e = |e: arbitrary::Error| e.to_string();
        let mut cmd = None;
        for _ in 0..64 {
            let c: Command = u.arbitrary().map_err(e)?;
            if PERMITTED.contains(&c.opcode()) {
                cmd = Some(c);
                break;
            }
        }
        let Some(mut c) = cmd else { return Ok(()) };
        // Half the range TLBIs get SCALE bit 5 (w0[25]), the DS rule, and
        // no TTL128 (w1[7], which no vSMMU allows).
        if matches!(c.opcode(), 0x12 | 0x13) && u.arbitrary::<bool>().map_err(e)? {
            let mut w = c.encode();
            w[0] |= 1 << 25;
            w[1] &= !(1 << 7);
            if let Ok(d) = Command::decode(&w) {
                c = d;
            }
        }
        let topo = arbitrary_topology(u, &NamedIds::of(&NativeAny::Smmuv3(c))).map_err(e)?;
        let host = arbitrary_host(u).map_err(e)?;
        let vsmmu = Vsmmu::new(u.arbitrary().map_err(e)?, HostFeatures::from(&host));
        let vsid = (c.encode()[0] >> 32) as u32;
        let vdevs = [(vsid, topo.file().devices.first().map_or(vsid, |d| d.rid))];
        let s = check_vsmmu(&c, &vsmmu, &vdevs, &topo)?;
        t.add(format!("{} {s}", NativeCommand::op(&c)));
        t.add(s);
        if let Err(r) = vsmmu.guest_entry(&c, &vdevs) {
            let d = format!("{r:?}");
            t.add(format!(
                "{} {}",
                NativeCommand::op(&c),
                d.split([' ', '(', '{']).next().unwrap_or("")
            ));
        }
        Ok(())
    }));
    for k in [
        "accepted",
        "refused: host lacks DS",
        "refused: host lacks range invalidation",
        "refused: host lacks 16-bit ASIDs",
        "refused: host lacks substreams",
        "refused: host lacks ATS",
    ] {
        assert!(t.get(k) >= 50 * scale(), "{k}: {} ({:?})", t.get(k), t.0);
    }
    for k in [
        "CMD_TLBI_NH_VA refused: host lacks DS",
        "CMD_TLBI_NH_VAA refused: host lacks DS",
    ] {
        assert!(t.get(k) >= 20 * scale(), "{k}: {} ({:?})", t.get(k), t.0);
    }
}

#[test]
fn vtd_s1_entries_on_arbitrary_ops() {
    let mut ents = 0usize;
    ok(run_cases(0x5d15, 40_000 * scale(), 96, |u| {
        let mut op: Op = u.arbitrary().map_err(|e| e.to_string())?;
        // Half the invalidations are made stage-1 IOTLB ones (entries).
        if let Op::Inval(i) = &mut op {
            if u.arbitrary::<bool>().map_err(|e| e.to_string())? {
                i.caches |= Caches::IOTLB;
                i.stages |= Stages::S1;
                i.regime = Regime::Guest;
            }
        }
        let topo = arbitrary_topology(u, &NamedIds::default()).map_err(|e| e.to_string())?;
        let opts = S1Options {
            nest_stage2: u.arbitrary().map_err(|e| e.to_string())?,
            guest: u.arbitrary().map_err(|e| e.to_string())?,
        };
        if iommu_inval_iommufd::vtd::s1_entry(&op, &opts)
            .entry
            .is_some()
        {
            ents += 1;
        }
        check_vtd_op(&op, &opts, &topo)
    }));
    assert!(ents >= 3_000 * scale(), "{ents} entries");
}

/// lower_caps through a vSMMU: generic ops lowered for the vSMMU of hosts
/// drawn from the topology's `iommufd.host` never give a command the kernel
/// refuses for its fields (issue 28 item 2).
#[test]
fn vsmmu_lowering_on_arbitrary_hosts() {
    let mut t = Tally::default();
    ok(run_cases(0x10f5, 20_000 * scale(), 96, |u| {
        let op = iommu_inval_props::gen::any_op(u).map_err(|e| e.to_string())?;
        let topo = arbitrary_topology(u, &NamedIds::default()).map_err(|e| e.to_string())?;
        for s in iommu_inval_props::iommufd::check_vsmmu_lowering(u, &op, &topo)? {
            t.add(s);
        }
        Ok(())
    }));
    assert!(
        t.get("vsmmu lowering accepted") >= 5_000 * scale(),
        "{:?}",
        t.0
    );
    assert!(
        t.get("vsmmu lowering refused by opcode") >= 1_000 * scale(),
        "{:?}",
        t.0
    );
}
