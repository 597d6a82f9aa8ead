//! Requests without process_id on the RISC-V IOMMU: the PSCID of the device
//! context's `ta`, as the topology names it per device.

use iommu_inval_core::arch::Arch;
use iommu_inval_core::context::Topology;
use iommu_inval_core::footprint::{Footprint, Relation};
use iommu_inval_core::model::*;
use iommu_inval_riscv::*;

#[test]
fn no_pasid_is_the_device_context_pscid() {
    let t = Topology::from_json(
        r#"{"domains":[{"id":1,"riscv":{"gscid":9}},{"id":2,"riscv":{"gscid":10}}],
            "devices":[{"rid":16,"domain":1,"pscid":12,"pasids":[{"pasid":3,"pscid":13}]},
                       {"rid":17,"domain":2,"pasids":[{"pasid":3,"pscid":14}]}]}"#,
    )
    .unwrap();
    let none = |d| {
        Op::Inval(
            Inval::new(Caches::IOTLB)
                .stage(Stages::S1)
                .domain(DomainSel::One(d))
                .pasid(PasidSel::NoPasid),
        )
    };
    let mut out = Vec::new();
    let o = RiscV::lower(
        &none(1),
        &Features::ALL,
        RiscV::DEFAULT_BUDGET,
        &t,
        &mut out,
    )
    .unwrap();
    assert!(o.is_exact(), "{o:?}");
    let [Command::IotinvalVma(c)] = out[..] else {
        panic!("{out:?}")
    };
    assert_eq!(
        (c.gv, c.gscid, c.pscv, c.pscid, c.av),
        (true, 9, true, 12, false)
    );
    let mut back = Vec::new();
    RiscV::lift(&out[0], &t, &mut back).unwrap();
    assert_eq!(back, [none(1)]);
    // Domain 2's device names no device-context PSCID: PSCV = 0, reported.
    let mut out = Vec::new();
    let o = RiscV::lower(
        &none(2),
        &Features::ALL,
        RiscV::DEFAULT_BUDGET,
        &t,
        &mut out,
    )
    .unwrap();
    assert_eq!(o.widened, Widened::PASID);
    let [Command::IotinvalVma(c)] = out[..] else {
        panic!("{out:?}")
    };
    assert!(!c.pscv);
    let mut back = Vec::new();
    RiscV::lift(&out[0], &t, &mut back).unwrap();
    assert!(matches!(
        Footprint::of_ops(&back, &t).relation_to(&Footprint::of_op(&none(2), &t)),
        Relation::Superset(_)
    ));
}
