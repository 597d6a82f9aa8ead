//! `--explain`: how the output of a translation relates to its input,
//! measured on footprints (DESIGN.md R3/R4).
//!
//! * input footprint: `Footprint::of_ops` of the input's generic ops, without
//!   the caches the target host lacks (they are *dropped*, rule 2: interrupt
//!   remapping on SMMUv3, device TLBs on a host without ATS, PASID
//!   configuration on legacy-mode VT-d), projected onto a single regime when the target is
//!   VT-d or AMD-Vi ([`Footprint::project_single_regime`]); device-TLB
//!   entries of a device the context says has no ATS do not exist and are
//!   left out;
//! * output footprint: the union of the footprints of the lifts of every
//!   output command, through the same context;
//! * relation: `exact`, `superset` (by how much: the widened coordinates,
//!   excess bytes and boxes), or `under` — an under-invalidation, which would
//!   be a bug and makes the CLI exit 1.

use crate::{AnyCommand, Arch, ArchOps, NativeAny};
use iommu_inval_core::footprint::{Excess, Footprint, Relation};
use iommu_inval_core::model::{Caches, DeviceSel, Op};
use iommu_inval_core::{ArchId, Context, Widened};
use serde_json::{json, Value};

/// The footprint of `ops`, without the caches in `lacking` and without the
/// device-TLB entries of devices that (per `ctx`) have no ATS.
fn existing(ops: &[Op], lacking: Caches, ctx: &dyn Context, f: &mut Footprint) {
    for op in ops {
        if let Op::Inval(i) = op {
            let mut i = *i;
            i.caches.remove(lacking);
            // A device without ATS has no device TLB: nothing of it to remove.
            if let DeviceSel::One(d) = i.device {
                if !ctx.ats_enabled(d) {
                    i.caches.remove(Caches::DEV_TLB);
                }
            }
            if !(i.caches - Caches::LEAF).is_empty() {
                f.extend(&Footprint::of_inval(&i, ctx));
            }
        }
    }
}

/// What `target` removes of a footprint: everything on SMMUv3; one
/// (non-secure) regime on VT-d and AMD-Vi.
fn on_target(target: ArchId, f: Footprint) -> Footprint {
    match target {
        ArchId::Smmuv3 => f,
        ArchId::Vtd | ArchId::Amd => f.project_single_regime(),
    }
}

/// The footprint of `ops` as `target` can remove it: without the caches
/// `lacking` on the target host (see [`ArchOps::lacks`](crate::ArchOps::lacks)).
pub fn input_footprint(
    target: ArchId,
    lacking: Caches,
    ops: &[Op],
    ctx: &dyn Context,
) -> Footprint {
    let mut f = Footprint::new();
    existing(ops, lacking, ctx, &mut f);
    on_target(target, f)
}

/// The footprint of native output commands of `target`: the union of their
/// lifts. Returns the footprint and the number of outputs that did not lift.
pub fn output_footprint(
    target: ArchId,
    outputs: &[NativeAny],
    ctx: &dyn Context,
) -> (Footprint, usize) {
    let mut f = Footprint::new();
    let mut failed = 0;
    let mut ops = Vec::new();
    for c in outputs {
        ops.clear();
        match c.lift_ops(ctx, &mut ops) {
            Ok(_) => existing(&ops, Caches::empty(), ctx, &mut f),
            Err(_) => failed += 1,
        }
    }
    (on_target(target, f), failed)
}

/// Most output commands (per input) whose footprint `--explain` measures:
/// the union-of-boxes comparison grows quadratically, so larger outputs are
/// reported as not measured instead of stalling the stream.
pub const EXPLAIN_LIMIT: usize = 1024;

/// The relation of a translation's output to its input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    /// Footprint relation; `None` when not measured (more than
    /// [`EXPLAIN_LIMIT`] outputs).
    pub relation: Option<Relation>,
    /// Number of output commands.
    pub outputs: usize,
    /// Outputs whose own lift failed (never expected).
    pub unliftable: usize,
}

impl Explanation {
    /// Compare `outputs` (commands of `target`) with the generic `input` ops.
    pub fn of(target: &Arch, input: &[Op], outputs: &[NativeAny], ctx: &dyn Context) -> Self {
        if outputs.len() > EXPLAIN_LIMIT {
            return Explanation {
                relation: None,
                outputs: outputs.len(),
                unliftable: 0,
            };
        }
        let fin = input_footprint(target.id(), target.lacks(), input, ctx);
        let (fout, unliftable) = output_footprint(target.id(), outputs, ctx);
        Explanation {
            relation: Some(fout.relation_to(&fin)),
            outputs: outputs.len(),
            unliftable,
        }
    }
    /// True for an under-invalidation.
    pub fn is_under(&self) -> bool {
        matches!(self.relation, Some(Relation::Under { .. }))
    }
    /// `exact`, `superset`, `under` or `unmeasured`.
    pub fn name(&self) -> &'static str {
        match self.relation {
            Some(Relation::Exact) => "exact",
            Some(Relation::Superset(_)) => "superset",
            Some(Relation::Under { .. }) => "under",
            None => "unmeasured",
        }
    }
    /// A one-line text form: `exact`, `superset: widened range (+4 KiB in 1 box)`,
    /// or `UNDER-INVALIDATION: 2 boxes of the input left in place`.
    pub fn text(&self) -> String {
        match &self.relation {
            Some(Relation::Exact) => "exact".into(),
            Some(Relation::Superset(ex)) => format!("superset: {}", excess_text(ex)),
            Some(Relation::Under { missing }) => {
                format!("UNDER-INVALIDATION: {missing} box(es) of the input left in place")
            }
            None => format!(
                "not measured ({} output commands, over {EXPLAIN_LIMIT})",
                self.outputs
            ),
        }
    }
    /// The JSON fields of the explanation (`relation`, `excess` / `missing`).
    pub fn json_into(&self, m: &mut serde_json::Map<String, Value>) {
        m.insert("relation".into(), json!(self.name()));
        // (`under` next to `errors` means the refused operation's entries stay.)
        match &self.relation {
            Some(Relation::Exact) | None => {}
            Some(Relation::Superset(ex)) => {
                m.insert(
                    "excess".into(),
                    json!({"widened": widened_list(ex.widened), "bytes": u128_json(ex.bytes), "boxes": ex.boxes}),
                );
            }
            Some(Relation::Under { missing }) => {
                m.insert("missing_boxes".into(), json!(missing));
            }
        }
    }
}

/// Names of widened flags.
pub fn widened_list(w: Widened) -> Vec<&'static str> {
    w.names().collect()
}

/// A `u128` as a JSON integer when it fits 64 bits, else as a decimal string.
pub fn u128_json(x: u128) -> Value {
    u64::try_from(x).map_or_else(|_| json!(x.to_string()), |v| json!(v))
}

/// `widened range, pasid (+8 KiB in 2 boxes)`.
pub fn excess_text(ex: &Excess) -> String {
    let names = widened_list(ex.widened);
    let what = if names.is_empty() {
        "widened".to_owned()
    } else {
        format!("widened {}", names.join(", "))
    };
    let plural = if ex.boxes == 1 { "box" } else { "boxes" };
    format!(
        "{what} (+{} in {} {plural})",
        crate::human::size_str(ex.bytes),
        ex.boxes
    )
}
