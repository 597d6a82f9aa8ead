//! No generic op ever lowers to more commands than the architecture's
//! `max_lowered(budget)` (`MAX_LOWERED` with the default budget: the
//! `FixedBuf` capacity a caller needs for one op), over random ops and
//! random topologies, with the default cap and with tiny ones.

use iommu_inval_amd::AmdVi;
use iommu_inval_arm::Smmuv3;
use iommu_inval_core::arch::Arch;
use iommu_inval_core::arch::Target;
use iommu_inval_core::sink::CountSink;
use iommu_inval_core::{Budget, Context, IdentityContext, LowerError, Outcome};
use iommu_inval_props::{arbitrary_topology, gen, run_cases, NamedIds};
use iommu_inval_riscv::RiscV;
use iommu_inval_vtd::Vtd;

fn count(f: impl FnOnce(&mut CountSink) -> Result<Outcome, LowerError>) -> usize {
    let mut s = CountSink(0);
    let _ = f(&mut s);
    s.0
}

#[test]
fn no_op_lowers_to_more_than_max_lowered() {
    assert_eq!(Target::<Smmuv3>::default().budget, Smmuv3::DEFAULT_BUDGET);
    assert_eq!(Target::<Vtd>::default().budget, Vtd::DEFAULT_BUDGET);
    assert_eq!(Target::<RiscV>::default().budget, RiscV::DEFAULT_BUDGET);
    let mut max = [0usize; 4];
    let r = run_cases(0x5eed_f1c5, 20_000, 512, |u| {
        let op = gen::any_op(u).map_err(|e| e.to_string())?;
        let topo = arbitrary_topology(u, &NamedIds::default()).map_err(|e| e.to_string())?;
        for ctx in [&topo as &dyn Context, &IdentityContext] {
            for cap in [None, Some(1usize), Some(2), Some(3)] {
                let budget = |b: Budget| cap.map_or(b, Budget::new);
                let arm = Target::<Smmuv3> {
                    budget: budget(Smmuv3::DEFAULT_BUDGET),
                    ..Target::default()
                };
                let vtd = Target::<Vtd> {
                    budget: budget(Vtd::DEFAULT_BUDGET),
                    ..Target::default()
                };
                let amd = Target::<AmdVi> {
                    budget: budget(AmdVi::DEFAULT_BUDGET),
                    ..Target::default()
                };
                let riscv = Target::<RiscV> {
                    features: iommu_inval_riscv::Features {
                        // The base v1.0 host: per-page and per-leaf plans.
                        s: cap.is_some_and(|c| c != 2),
                        ..iommu_inval_riscv::Features::ALL
                    },
                    budget: budget(RiscV::DEFAULT_BUDGET),
                };
                let n = [
                    count(|s| Smmuv3::lower(&op, &arm.features, arm.budget, ctx, s)),
                    count(|s| Vtd::lower(&op, &vtd.features, vtd.budget, ctx, s)),
                    count(|s| AmdVi::lower(&op, &amd.features, amd.budget, ctx, s)),
                    count(|s| RiscV::lower(&op, &riscv.features, riscv.budget, ctx, s)),
                ];
                let bound = [
                    Smmuv3::max_lowered(arm.budget),
                    Vtd::max_lowered(vtd.budget),
                    AmdVi::max_lowered(amd.budget),
                    RiscV::max_lowered(riscv.budget),
                ];
                if cap.is_none() {
                    assert_eq!(
                        bound,
                        [
                            Smmuv3::MAX_LOWERED,
                            Vtd::MAX_LOWERED,
                            AmdVi::MAX_LOWERED,
                            RiscV::MAX_LOWERED
                        ]
                    );
                }
                for k in 0..4 {
                    if cap.is_none() {
                        max[k] = max[k].max(n[k]);
                    }
                    if n[k] > bound[k] {
                        return Err(format!(
                            "arch {k}, max_cmds {cap:?}: {op:?} lowers to {} > {}",
                            n[k], bound[k]
                        ));
                    }
                }
            }
        }
        Ok(())
    });
    eprintln!("largest lowering seen with default caps (smmuv3, vtd, amd, riscv): {max:?}");
    r.unwrap();
}
