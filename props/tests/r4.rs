//! R4 (cross-architecture): converting a native command to another
//! architecture through a topology never under-invalidates; all twelve
//! ordered pairs (and each architecture to itself through the topology).

mod common;

use common::{on_commands, scale};
use iommu_inval_core::ArchId;
use iommu_inval_props::{bodies::in_topology, check_r4, AllCaps, AnyCommand, Tally};

#[test]
fn r4_all_pairs() {
    let caps = AllCaps::default();
    let mut t = Tally::default();
    on_commands(0x4444, 60_000, |_, cmd, topo| {
        for to in ArchId::ALL {
            let v = check_r4(to, &cmd, &caps, &topo).map_err(in_topology(&topo))?;
            t.add(format!("{} -> {to}", cmd.arch_id()));
            t.add(format!("{} -> {to} {}", cmd.arch_id(), cmd.op()));
            for v in v {
                t.add(format!("{} -> {to} {v:?}", cmd.arch_id()));
            }
        }
        Ok(())
    });
    for from in ArchId::ALL {
        for to in ArchId::ALL {
            let n = t.get(&format!("{from} -> {to}"));
            assert!(n >= 10_000 * scale(), "{from} -> {to}: {n} cases");
        }
    }
    // Every op of every source architecture, to every target.
    fn ops_of(a: ArchId) -> &'static [&'static str] {
        use iommu_inval_core::NativeCommand;
        use iommu_inval_props::{Amd, Riscv, Smmu, Virtio, Vtd};
        match a {
            ArchId::Smmuv3 => <Smmu as iommu_inval_core::arch::Arch>::Command::op_names(),
            ArchId::Vtd => <Vtd as iommu_inval_core::arch::Arch>::Command::op_names(),
            ArchId::Amd => <Amd as iommu_inval_core::arch::Arch>::Command::op_names(),
            ArchId::Riscv => <Riscv as iommu_inval_core::arch::Arch>::Command::op_names(),
            ArchId::VirtioIommu => <Virtio as iommu_inval_core::arch::Arch>::Command::op_names(),
        }
    }
    for from in ArchId::ALL {
        for op in ops_of(from) {
            for to in ArchId::ALL {
                let n = t.get(&format!("{from} -> {to} {op}"));
                assert!(n >= 100 * scale(), "{from} {op} -> {to}: {n} cases");
            }
        }
    }
}

/// The convert fuzz target's six checks on every seed.
#[test]
fn convert_body_every_case_on_seeds() {
    common::every_case_on_seeds("convert", 6, iommu_inval_props::bodies::convert);
}
