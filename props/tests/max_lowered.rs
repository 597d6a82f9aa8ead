//! No generic op ever lowers to more commands than the architecture's
//! `max_lowered(max_cmds)` (`MAX_LOWERED` with default caps: the
//! `FixedBuf` capacity a caller needs for one op), over random ops and
//! random topologies, with the default cap and with tiny ones.

use iommu_inval_core::sink::CountSink;
use iommu_inval_core::{Context, IdentityContext, LowerError, Outcome};
use iommu_inval_props::{arbitrary_topology, gen, run_cases, NamedIds};

fn count(f: impl FnOnce(&mut CountSink) -> Result<Outcome, LowerError>) -> usize {
    let mut s = CountSink(0);
    let _ = f(&mut s);
    s.0
}

#[test]
fn no_op_lowers_to_more_than_max_lowered() {
    assert_eq!(
        iommu_inval_arm::Caps::default().max_cmds,
        iommu_inval_arm::DEFAULT_MAX_CMDS
    );
    assert_eq!(
        iommu_inval_vtd::Caps::default().max_cmds,
        iommu_inval_vtd::DEFAULT_MAX_CMDS
    );
    assert_eq!(
        iommu_inval_riscv::Caps::default().max_cmds,
        iommu_inval_riscv::DEFAULT_MAX_CMDS
    );
    let mut max = [0usize; 4];
    let r = run_cases(0x5eed_f1c5, 20_000, 512, |u| {
        let op = gen::any_op(u).map_err(|e| e.to_string())?;
        let topo = arbitrary_topology(u, &NamedIds::default()).map_err(|e| e.to_string())?;
        for ctx in [&topo as &dyn Context, &IdentityContext] {
            for cap in [None, Some(1usize), Some(2), Some(3)] {
                let arm = iommu_inval_arm::Caps {
                    max_cmds: cap.unwrap_or(iommu_inval_arm::Caps::default().max_cmds),
                    ..Default::default()
                };
                let vtd = iommu_inval_vtd::Caps {
                    max_cmds: cap.unwrap_or(iommu_inval_vtd::Caps::default().max_cmds),
                    ..Default::default()
                };
                let amd = iommu_inval_amd::Caps {
                    max_cmds: cap.unwrap_or(iommu_inval_amd::Caps::default().max_cmds),
                    ..Default::default()
                };
                let riscv = iommu_inval_riscv::Caps {
                    max_cmds: cap.unwrap_or(iommu_inval_riscv::Caps::default().max_cmds),
                    // The base v1.0 host: per-page and per-leaf plans.
                    range_inval: cap.is_some_and(|c| c != 2),
                    ..Default::default()
                };
                let n = [
                    count(|s| iommu_inval_arm::lower(&op, &arm, ctx, s)),
                    count(|s| iommu_inval_vtd::lower(&op, &vtd, ctx, s)),
                    count(|s| iommu_inval_amd::lower(&op, &amd, ctx, s)),
                    count(|s| iommu_inval_riscv::lower(&op, &riscv, ctx, s)),
                ];
                let bound = [
                    iommu_inval_arm::max_lowered(arm.max_cmds),
                    iommu_inval_vtd::max_lowered(vtd.max_cmds),
                    iommu_inval_amd::max_lowered(amd.max_cmds),
                    iommu_inval_riscv::max_lowered(riscv.max_cmds),
                ];
                if cap.is_none() {
                    assert_eq!(
                        bound,
                        [
                            iommu_inval_arm::MAX_LOWERED,
                            iommu_inval_vtd::MAX_LOWERED,
                            iommu_inval_amd::MAX_LOWERED,
                            iommu_inval_riscv::MAX_LOWERED
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
