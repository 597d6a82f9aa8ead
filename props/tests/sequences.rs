//! Sequences keep their order and their barriers (docs/ARCHITECTURE.md):
//! core's batch coalescing checked with this crate's independent, edge-biased
//! generator. For random sequences of generic ops:
//! * every non-invalidation of the input (syncs and the other barriers)
//!   appears in the output unchanged and in order;
//! * before each of them, the output has removed exactly what the input had
//!   (prefix footprints equal: nothing moves across a barrier, nothing is
//!   widened or lost); and at the end, the same.

mod common;

use common::{ok, scale};
use iommu_inval_core::batch::{coalesce, BatchOptions};
use iommu_inval_core::footprint::Footprint;
use iommu_inval_core::model::{Caches, Inval, Op};
use iommu_inval_core::Flags;
use iommu_inval_core::IdentityContext;
use iommu_inval_props::{arbitrary_topology, gen, run_cases, NamedIds, Tally};

fn check(ops: &[Op], out: &[Op], ctx: &dyn iommu_inval_core::Context) -> Result<(), String> {
    // Match each input barrier, in order, to an equal output op after the
    // previous match where the prefix footprints agree (syncs the batch adds
    // are equal to a plain input sync, so equality alone is ambiguous).
    let mut at = 0usize;
    for (k, b) in ops
        .iter()
        .enumerate()
        .filter(|(_, o)| !matches!(o, Op::Inval(_)))
    {
        let fi = Footprint::of_ops(ops.get(..k).unwrap_or(&[]), ctx);
        let mut first_rel = None;
        let mut found = None;
        for pos in (at..out.len()).filter(|&p| out.get(p) == Some(b)) {
            let fo = Footprint::of_ops(out.get(..pos).unwrap_or(&[]), ctx);
            if fo.same_as(&fi) {
                found = Some(pos);
                break;
            }
            first_rel.get_or_insert_with(|| fo.relation_to(&fi));
        }
        let Some(pos) = found else {
            return Err(format!(
                "barrier #{k} {b:?}: no equal output op after #{at} with the input's prefix footprint (first candidate: {first_rel:?})\n  input {ops:?}\n  output {out:?}"
            ));
        };
        at = pos + 1;
    }
    let (fi, fo) = (Footprint::of_ops(ops, ctx), Footprint::of_ops(out, ctx));
    if !fi.same_as(&fo) {
        return Err(format!(
            "whole sequence: {:?}\n  input {ops:?}\n  output {out:?}",
            fo.relation_to(&fi)
        ));
    }
    Ok(())
}

#[test]
fn coalesce_keeps_barriers_and_footprints() {
    let mut t = Tally::default();
    ok(run_cases(0x5e9, 3_000 * scale(), 600, |u| {
        let n = u.int_in_range(1usize..=12).map_err(|e| e.to_string())?;
        let mut ops = Vec::with_capacity(n);
        for _ in 0..n {
            ops.push(gen::edge_op(u).map_err(|e| e.to_string())?);
        }
        // Repeat some invalidations with a shifted range, so that merges happen.
        if let Some(Op::Inval(i)) = ops.first().copied() {
            // A wider copy (every domain, PASID, device, address): covers it.
            if u.ratio(1, 3).map_err(|e| e.to_string())? {
                use iommu_inval_core::model::{DeviceSel, DomainSel, PasidSel};
                use iommu_inval_core::AddrRange;
                ops.push(Op::Inval(Inval {
                    domain: DomainSel::All,
                    pasid: PasidSel::All,
                    device: DeviceSel::All,
                    range: AddrRange::All,
                    ..i
                }));
            }
            // A narrower copy (one page at its start): merged or covered.
            let page = iommu_inval_core::AddrRange::block(i.range.first(), 12);
            if i.range.contains(&page) {
                ops.push(Op::Inval(Inval { range: page, ..i }));
            }
            ops.push(Op::Inval(Inval {
                range: gen::edge_range(u).map_err(|e| e.to_string())?,
                ..i
            }));
        }
        let scratch_len = *u.choose(&[3usize, 4, 16]).map_err(|e| e.to_string())?;
        let topo = arbitrary_topology(u, &NamedIds::default()).map_err(|e| e.to_string())?;
        for opts in [BatchOptions::default(), BatchOptions::QUEUE] {
            let mut scratch = vec![Inval::new(Caches::empty()); scratch_len];
            let mut out: Vec<Op> = Vec::new();
            let stats = coalesce(&ops, &mut scratch, opts, &mut out)
                .map_err(|e| format!("coalesce: {e:?} on {ops:?}"))?;
            if stats.merged > 0 {
                t.add("merged");
            }
            if stats.covered > 0 {
                t.add("covered");
            }
            check(&ops, &out, &IdentityContext)?;
            check(&ops, &out, &topo)?;
        }
        Ok(())
    }));
    assert!(
        t.get("merged") > 20 && t.get("covered") > 20,
        "too few merges/drops exercised: {:?}",
        t.0
    );
}
