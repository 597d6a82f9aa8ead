//! Arbitrary-driven robustness (feature `arbitrary`): `lower` of any generic
//! op never panics and never under-invalidates; the structure-aware
//! generators give valid commands and raw words.
#![cfg(feature = "arbitrary")]

use arbitrary::{Arbitrary, Unstructured};
use iommu_inval_amd::*;
use iommu_inval_core::arch::Arch;
use iommu_inval_core::arch::Target;
use iommu_inval_core::context::Topology;
use iommu_inval_core::footprint::Footprint;
use iommu_inval_core::Flags;
use iommu_inval_core::{Context, IdentityContext, LowerError};
use proptest::prelude::*;

fn topo() -> Topology {
    Topology::from_json(
        r#"{"domains": [{"id": 0, "amd": {"domain_id": 3}}, {"id": 1, "amd": {"domain_id": 1}}],
            "devices": [{"rid": 1, "domain": 1, "ats": true, "pasids": [{"pasid": 0}]},
                        {"rid": 2, "domain": 1, "ats": false}, {"rid": 0, "domain": 0, "ats": true}]}"#,
    )
    .unwrap()
}

fn check<C: Context>(op: &Op, caps: &Target<AmdVi>, ctx: &C) -> Result<(), TestCaseError> {
    let mut out = Vec::new();
    match AmdVi::lower(op, &caps.features, caps.budget, ctx, &mut out) {
        Ok(o) => {
            prop_assert_eq!(o.emitted, out.len());
            let mut lifted = Vec::new();
            for c in &out {
                prop_assert_eq!(
                    Command::decode(&c.encode()),
                    Ok(*c),
                    "emitted an invalid command"
                );
                prop_assert!(c.check().is_ok());
                AmdVi::lift(c, ctx, &mut lifted)
                    .map_err(|e| TestCaseError::fail(format!("{e}")))?;
            }
            if let (Op::Inval(i), None) = (op, o.dropped) {
                prop_assert!(
                    i.regime != iommu_inval_core::Regime::Secure
                        || !i.caches.intersects(
                            iommu_inval_core::Caches::IOTLB | iommu_inval_core::Caches::CONFIG
                        )
                );
                let want = Footprint::of_op(op, ctx).fold_regimes(false);
                let got = Footprint::of_ops(&lifted, ctx).fold_regimes(false);
                prop_assert!(got.covers(&want), "under: {op:?} -> {out:?}");
            }
            if op.is_sync() {
                prop_assert_eq!(out.len(), 1);
            }
        }
        Err(LowerError::BufferFull) => prop_assert!(false, "Vec sink is never full"),
        Err(_) => prop_assert!(out.is_empty(), "error after emitting {out:?}"),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn lower_any_op(bytes in proptest::collection::vec(any::<u8>(), 0..128), cap in 0usize..8, bits in 0u8..24) {
        let mut u = Unstructured::new(&bytes);
        let Ok(op) = Op::arbitrary(&mut u) else { return Ok(()) };
        let caps = Target::<AmdVi>::new(Features { gt_sup: bits % 2 == 0, pasid_bits: bits, ats: bits % 3 != 0, ..Features::REV2 }).max_cmds(cap);
        check(&op, &caps, &IdentityContext)?;
        check(&op, &caps, &topo())?;
    }

    #[test]
    fn generators(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let mut u = Unstructured::new(&bytes);
        if let Ok(c) = Command::arbitrary(&mut u) {
            prop_assert_eq!(Command::decode(&c.encode()), Ok(c));
            prop_assert!(c.check().is_ok());
        }
        if let Ok(w) = arbitrary_words(&mut u) {
            if let Ok(c) = Command::decode(&w) {
                prop_assert_eq!(c.encode(), w);
            }
        }
    }
}
