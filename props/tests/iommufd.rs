//! The iommufd targets: vSMMU entries under the kernel's rules (every
//! permitted command passed, every refused one confirmed, R4 after the
//! kernel's rewriting), VT-d stage-1 entries (kernel-valid, R4, nothing
//! silently dropped), on arbitrary native commands and generic ops.

mod common;

use common::{ok, scale};
use iommu_inval_core::model::{Caches, Op, Regime, Stages};
use iommu_inval_iommufd::vtd::S1Options;
use iommu_inval_props::iommufd::{check_iommufd, check_vtd_op};
use iommu_inval_props::{arbitrary_topology, run_cases, AnyCmd, NamedIds, Tally};

#[test]
fn iommufd_targets_on_native_commands() {
    let mut t = Tally::default();
    ok(run_cases(0x1f0d, 30_000 * scale(), 160, |u| {
        let cmd: AnyCmd = u.arbitrary().map_err(|e| e.to_string())?;
        let topo = arbitrary_topology(u, &NamedIds::of(&cmd)).map_err(|e| e.to_string())?;
        for s in check_iommufd(u, &cmd, &topo)? {
            t.add(format!("{} {s}", cmd.op()));
            t.add(s);
        }
        Ok(())
    }));
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
