//! R2 (same architecture): `lower_A(lift_A(n))` has the footprint of `n`,
//! with the identity context and with generated topologies that know some
//! of the command's ids. Every op of every architecture, many times.

mod common;

use common::{assert_every_op, ok, scale, tests};
use iommu_inval_core::{IdentityContext, NativeCommand};
use iommu_inval_props::gen::NativeGen;
use iommu_inval_props::{
    arbitrary_topology, bodies::in_topology, check_r2, run_cases, Amd, Arch, NamedIds, NativeAny,
    Riscv, Smmu, Tally, Virtio, Vtd,
};

fn r2<A: Arch>(seed: u64, cases: usize, min: usize)
where
    NativeAny: From<A::Command>,
{
    let g = NativeGen::<A::Command>::new(A::WIDTHS);
    let mut t = Tally::default();
    ok(run_cases(seed, cases, 128, |u| {
        // Half from the crate's Arbitrary, half from the probing generator.
        let c: A::Command = if u.arbitrary::<bool>().map_err(|e| e.to_string())? {
            u.arbitrary().map_err(|e| e.to_string())?
        } else {
            match g.generate(u).map_err(|e| e.to_string())? {
                Some(c) => c,
                None => return Ok(()),
            }
        };
        t.add(c.op());
        let v = check_r2::<A>(&c, &IdentityContext)?;
        t.add(format!("{} {v:?}", c.op()));
        let topo =
            arbitrary_topology(u, &NamedIds::of(&NativeAny::from(c))).map_err(|e| e.to_string())?;
        check_r2::<A>(&c, &topo)
            .map(|_| ())
            .map_err(in_topology(&topo))
    }));
    assert_every_op::<A::Command>(&t, min, "R2");
    eprintln!(
        "R2 {} verdicts (identity context): {:?}",
        A::ID,
        t.0.iter()
            .filter(|(k, _)| k.contains(' '))
            .collect::<Vec<_>>()
    );
}

tests! {
    r2_smmuv3 => r2::<Smmu>(0x5221, 70_000 * scale(), 1000 * scale());
    r2_vtd => r2::<Vtd>(0x7d22, 30_000 * scale(), 1000 * scale());
    r2_amd => r2::<Amd>(0xa322, 25_000 * scale(), 1000 * scale());
    r2_riscv => r2::<Riscv>(0x5c22, 25_000 * scale(), 1000 * scale());
    r2_virtio => r2::<Virtio>(0x7122, 25_000 * scale(), 500 * scale());
}

// Exactness of the same-architecture round trip with the identity context
// on the commands that carry no range and no unknown id.
#[test]
fn r2_op_names_are_distinct() {
    for names in [
        <Smmu as iommu_inval_core::arch::Arch>::Command::op_names(),
        <Vtd as iommu_inval_core::arch::Arch>::Command::op_names(),
        <Amd as iommu_inval_core::arch::Arch>::Command::op_names(),
        <Riscv as iommu_inval_core::arch::Arch>::Command::op_names(),
        <Virtio as iommu_inval_core::arch::Arch>::Command::op_names(),
    ] {
        let mut v = names.to_vec();
        v.sort_unstable();
        v.dedup();
        assert_eq!(v.len(), names.len(), "duplicate op names in {names:?}");
    }
}
