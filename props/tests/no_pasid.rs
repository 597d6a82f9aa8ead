//! Requests without PASID (issue 28, item 1): "every PASID of a domain"
//! includes them, and each architecture names their address space (SMMU
//! CD 0 ASID, VT-d RID_PASID, AMD-Vi GCR3 entry 0, RISC-V device-context
//! PSCID). R3 through topologies that name (or do not name) those tags,
//! and R2 / R4 on native commands whose lift is `PasidSel::NoPasid`, on
//! every architecture pair.

mod common;

use arbitrary::Unstructured;
use common::{ok, on_commands, scale};
use iommu_inval_core::context::{
    AmdIds, DeviceEntry, DomainEntry, PasidEntry, RiscvIds, SmmuIds, Topology, TopologyFile, VtdIds,
};
use iommu_inval_core::model::{Caches, DomainSel, Inval, Op, PasidSel, Stages};
use iommu_inval_core::{AddrRange, ArchId};
use iommu_inval_props::{
    bodies::in_topology, check_r2, check_r3_all, check_r4, run_cases, AllCaps, Amd, AnyCommand,
    NativeAny, Riscv, Smmu, Tally, Verdict, Virtio, Vtd,
};

/// Domain 1 on every architecture with 1–3 devices, each with 1–3 PASIDs
/// (never 0, never the RID_PASID) whose ASIDs and PSCIDs are distinct
/// from each other and from the devices' own no-PASID tags. `named`: every
/// device names its CD 0 ASID and device-context PSCID; else one does not.
fn topology(u: &mut Unstructured<'_>, named: bool) -> arbitrary::Result<Topology> {
    let rid_pasid = if u.ratio(1, 2)? {
        0
    } else {
        0x800 + u.int_in_range(0..=15u32)?
    };
    let mut f = TopologyFile::default();
    f.domains.push(DomainEntry {
        id: 1,
        smmuv3: Some(SmmuIds { vmid: 3 }),
        vtd: Some(VtdIds { did: 7, rid_pasid }),
        amd: Some(AmdIds { domain_id: 5 }),
        riscv: Some(RiscvIds { gscid: 9 }),
    });
    let n_dev = u.int_in_range(1..=3usize)?;
    let unnamed = u.int_in_range(0..=n_dev - 1)?;
    let mut tag = 100u32;
    for k in 0..n_dev {
        let mut pasids = Vec::new();
        for _ in 0..u.int_in_range(1..=3usize)? {
            let pasid = u.int_in_range(1..=40u32)?;
            tag += 1;
            pasids.push(PasidEntry {
                pasid,
                asid: Some(tag as u16),
                pscid: Some(tag),
            });
        }
        tag += 1;
        let own = named || k != unnamed;
        f.devices.push(DeviceEntry {
            rid: 16 + k as u32,
            domain: 1,
            ats: false,
            asid: own.then_some(tag as u16),
            pscid: own.then_some(tag),
            pasids,
        });
    }
    Topology::new(f).map_err(|_| arbitrary::Error::IncorrectFormat)
}

#[test]
fn r3_no_pasid_and_every_pasid_are_exact_where_the_tags_are_named() {
    let caps = AllCaps::default();
    let mut t = Tally::default();
    ok(run_cases(0x0a5d, 3_000 * scale(), 64, |u| {
        let named = u.ratio(2, 3).map_err(|e| e.to_string())?;
        let topo = topology(u, named).map_err(|e| e.to_string())?;
        let pasid = if u.arbitrary().map_err(|e| e.to_string())? {
            PasidSel::NoPasid
        } else {
            PasidSel::All
        };
        let range = if u.arbitrary().map_err(|e| e.to_string())? {
            AddrRange::All
        } else {
            AddrRange::new(0x4000_0000, 0x1000).unwrap_or(AddrRange::All)
        };
        let op = Op::Inval(
            Inval::new(Caches::IOTLB)
                .stage(Stages::S1)
                .domain(DomainSel::One(1))
                .pasid(pasid)
                .range(range),
        );
        let v = check_r3_all(&op, &caps, &topo).map_err(in_topology(&topo))?;
        let k = match (pasid, named) {
            (PasidSel::NoPasid, true) => "no-pasid named",
            (PasidSel::NoPasid, false) => "no-pasid unnamed",
            _ => "every-pasid",
        };
        for (arch, v) in ArchId::ALL.iter().zip(v) {
            t.add(format!("{k} {arch} {v:?}"));
            t.add(format!("{k} {arch}"));
        }
        Ok(())
    }));
    // virtio-iommu's INVALIDATE names no PASID set but the whole domain:
    // every-PASID and no-PASID requests widen (reported; coverage is
    // checked by check_r3).
    for arch in ArchId::ALL
        .into_iter()
        .filter(|a| *a != ArchId::VirtioIommu)
    {
        // Every PASID of the domain: the listed PASIDs and the no-PASID tag
        // (SMMU and RISC-V name every ASID / PSCID of the domain at once).
        // Requests without PASID with their tags named: one command on it.
        for k in ["every-pasid", "no-pasid named"] {
            let (n, exact) = (
                t.get(&format!("{k} {arch}")),
                t.get(&format!("{k} {arch} Exact")),
            );
            assert!(
                n > 100 && exact == n,
                "{k} {arch}: {exact} of {n} exact: {:?}",
                t.0
            );
        }
    }
    // A device whose no-PASID tag is not named: SMMU and RISC-V widen (and
    // say so); VT-d and AMD-Vi name the RID_PASID / GCR3 entry 0 anyway.
    for arch in [ArchId::Smmuv3, ArchId::Riscv] {
        let k = format!("no-pasid unnamed {arch}");
        assert_eq!(t.get(&format!("{k} Exact")), 0, "{k}: {:?}", t.0);
        assert_eq!(t.get(&format!("{k} Superset")), t.get(&k), "{k}: {:?}", t.0);
    }
    for arch in [ArchId::Vtd, ArchId::Amd] {
        let k = format!("no-pasid unnamed {arch}");
        assert_eq!(t.get(&format!("{k} Exact")), t.get(&k), "{k}: {:?}", t.0);
    }
}

/// Does the lift of `cmd` through `topo` name requests without PASID?
fn lifts_no_pasid(cmd: &NativeAny, topo: &Topology) -> bool {
    let mut ops = Vec::new();
    cmd.lift(topo, &mut ops).is_ok()
        && ops
            .iter()
            .any(|o| matches!(o, Op::Inval(i) if i.pasid == PasidSel::NoPasid))
}

/// R2 and R4 on the native commands whose lift names requests without
/// PASID (a TLBI of a CD 0 ASID, `p_iotlb_inv_dsc` of the RID_PASID, AMD
/// gn = 1 PASID 0, IOTINVAL.VMA of a device-context PSCID), through the
/// generated topologies of the R2 / R4 tests and the `convert` fuzz
/// target: every source to every target.
#[test]
fn r2_r4_commands_on_no_pasid_tags_every_pair() {
    let caps = AllCaps::default();
    let mut t = Tally::default();
    on_commands(0x4e0a, 60_000, |_, cmd, topo| {
        if !lifts_no_pasid(&cmd, &topo) {
            return Ok(());
        }
        let from = cmd.arch_id();
        let with = in_topology(&topo);
        let v = match cmd {
            NativeAny::Smmuv3(c) => check_r2::<Smmu>(&c, &topo),
            NativeAny::Vtd(c) => check_r2::<Vtd>(&c, &topo),
            NativeAny::Amd(c) => check_r2::<Amd>(&c, &topo),
            NativeAny::Riscv(c) => check_r2::<Riscv>(&c, &topo),
            NativeAny::VirtioIommu(c) => check_r2::<Virtio>(&c, &topo),
        }
        .map_err(&with)?;
        t.add(format!("R2 {from} {v:?}"));
        for to in ArchId::ALL {
            check_r4(to, &cmd, &caps, &topo).map_err(&with)?;
            t.add(format!("R4 {from} -> {to}"));
        }
        Ok(())
    });
    for from in ArchId::ALL {
        let exact = t.get(&format!("R2 {from} {:?}", Verdict::Exact));
        // virtio-iommu's no-PASID requests are UNMAPs: no INVALIDATE
        // names them (refused, never lowered to UNMAP).
        if from != ArchId::VirtioIommu {
            assert!(exact >= 20 * scale(), "R2 {from}: {exact} exact: {:?}", t.0);
        }
        for to in ArchId::ALL {
            let n = t.get(&format!("R4 {from} -> {to}"));
            assert!(n >= 50 * scale(), "R4 {from} -> {to}: {n} cases: {:?}", t.0);
        }
    }
    eprintln!("no-PASID commands: {:?}", t.0);
}
