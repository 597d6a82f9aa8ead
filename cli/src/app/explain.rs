//! `--explain`: how the output of a translation relates to its input,
//! measured on footprints (docs/ARCHITECTURE.md, R3/R4).
//!
//! * input footprint: `Footprint::of_ops` of the input's generic ops, without
//!   the caches the target host lacks (they are *dropped*, rule 2: interrupt
//!   remapping on SMMUv3, device TLBs on a host without ATS, PASID
//!   configuration on legacy-mode VT-d), projected onto a single regime when the target is
//!   VT-d or AMD-Vi ([`Footprint::fold_regimes`]); device-TLB
//!   entries of a device the context says has no ATS do not exist and are
//!   left out;
//! * output footprint: the union of the footprints of the lifts of every
//!   output command, through the same context;
//! * relation: `exact`, `superset` (by how much: the widened coordinates,
//!   excess bytes and boxes), or `under` — an under-invalidation, which would
//!   be a bug and makes the CLI exit 1.

use iommu_inval::core::footprint::{Excess, Footprint, Relation};
use iommu_inval::core::model::{Caches, DeviceSel, DomainSel, Inval, Op, Regime, Stages};
use iommu_inval::core::Flags;
use iommu_inval::core::{ArchId, Context, Widened};
use iommu_inval::{AnyCommand, Arch, ArchOps, NativeAny};
use serde_json::{json, Value};

/// Largest device range whose ATS devices are enumerated one by one.
const ATS_SPLIT_LIMIT: u32 = 1 << 16;

/// The footprint of `ops`, without the caches in `lacking` and without the
/// device-TLB entries of devices that (per `ctx`) have no ATS.
fn existing(ops: &[Op], lacking: Caches, ctx: &dyn Context, f: &mut Footprint) {
    for op in ops {
        if let Op::Inval(i) = op {
            let mut i = *i;
            i.caches -= lacking;
            if i.caches.contains(Caches::DEV_TLB) {
                // A device without ATS has no device TLB: nothing of it to remove.
                let mut dev = i;
                dev.caches &= Caches::DEV_TLB | Caches::LEAF;
                i.caches -= Caches::DEV_TLB;
                for_each_ats_piece(&dev, ctx, &mut |p| f.extend(&Footprint::of_inval(p, ctx)));
            }
            if !(i.caches - Caches::LEAF).is_empty() {
                f.extend(&Footprint::of_inval(&i, ctx));
            }
        }
    }
}

/// Calls `g` with pieces of a device-TLB invalidation that leave out the
/// devices without ATS (a single device, a bounded range, or the known
/// devices of one domain; anything else is kept whole).
fn for_each_ats_piece(i: &Inval, ctx: &dyn Context, g: &mut dyn FnMut(&Inval)) {
    let (first, last) = match (i.device, i.domain) {
        (DeviceSel::One(d), _) => (d, d),
        (DeviceSel::Range { first, last }, _)
            if first <= last && last - first < ATS_SPLIT_LIMIT =>
        {
            (first, last)
        }
        (DeviceSel::All, DomainSel::One(dom)) => {
            let mut devs = Vec::new();
            if ctx.devices_of_domain(dom, &mut |d| devs.push(d)) {
                for d in devs.into_iter().filter(|&d| ctx.ats_enabled(d)) {
                    g(&i.device(DeviceSel::One(d)));
                }
            } else {
                g(i);
            }
            return;
        }
        _ => return g(i),
    };
    let mut run: Option<u32> = None;
    for d in first..=last {
        match (ctx.ats_enabled(d), run) {
            (true, None) => run = Some(d),
            (false, Some(s)) => {
                g(&i.device(DeviceSel::Range {
                    first: s,
                    last: d - 1,
                }));
                run = None;
            }
            _ => {}
        }
    }
    if let Some(s) = run {
        g(&i.device(DeviceSel::Range { first: s, last }));
    }
}

/// What SMMUv3 has no command for, by regime (its lowering drops them):
/// configuration caches of the EL2 regime, and stage-2 entries of the EL2,
/// Secure EL2 and EL3 regimes (Secure stage 2 is `SecureGuest`).
fn smmu_view(mut i: Inval) -> Inval {
    if i.regime == Regime::Guest {
        return i;
    }
    if i.regime == Regime::Hyp {
        i.caches -= Caches::CONFIG;
    }
    if i.regime != Regime::SecureGuest {
        i.stages -= Stages::S2;
    }
    if i.stages.is_empty() {
        i.caches -= Caches::IOTLB;
        i.stages = Stages::S1;
    }
    i
}

/// What `target` removes of a footprint: everything on SMMUv3; one
/// (non-secure) regime on VT-d and AMD-Vi; on RISC-V host (`Hyp`) and VM
/// (`Guest`) translations, everything else in one regime.
fn on_target(target: ArchId, f: Footprint) -> Footprint {
    match target {
        ArchId::Smmuv3 => f,
        ArchId::Vtd | ArchId::Amd => f.fold_regimes(false),
        ArchId::Riscv => f.fold_regimes(true),
        ArchId::VirtioIommu => f.fold_regimes(false),
    }
}

/// The footprint of `ops` as `target` can remove it: without the caches
/// `lacking` on the target host (see [`iommu_inval::ArchOps::lacks`]),
/// on SMMUv3 without EL2 configuration and secure stage-2 entries, and on
/// VT-d and AMD-Vi without secure-regime invalidations, which those targets
/// drop whole (they have no secure state).
pub fn input_footprint(
    target: ArchId,
    lacking: Caches,
    ops: &[Op],
    ctx: &dyn Context,
) -> Footprint {
    let mut f = Footprint::new();
    for op in ops {
        let view = match (target, op) {
            (ArchId::Smmuv3, Op::Inval(i)) => Op::Inval(smmu_view(*i)),
            (ArchId::Riscv, Op::Inval(i)) if i.regime == Regime::Hyp => {
                // Host address spaces have no second stage on RISC-V.
                let mut i = *i;
                i.stages -= Stages::S2;
                if i.stages.is_empty() {
                    i.caches -= Caches::IOTLB;
                    i.stages = Stages::S1;
                }
                Op::Inval(i)
            }
            // VT-d and AMD-Vi have no secure state: they drop these whole.
            (_, Op::Inval(i)) if i.regime.is_secure() => continue,
            _ => *op,
        };
        existing(std::slice::from_ref(&view), lacking, ctx, &mut f);
    }
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
        match c.lift(ctx, &mut ops) {
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

/// `widened range, pasid (+8 KiB in 2 boxes)`; when the excess has no
/// IOTLB or device-TLB address bytes (configuration caches, non-leaf
/// entries at the input's addresses, ...): `widened caches (1 more set of
/// entries; no extra IOTLB or device-TLB addresses)`.
pub fn excess_text(ex: &Excess) -> String {
    let names = widened_list(ex.widened);
    let what = if names.is_empty() {
        "widened".to_owned()
    } else {
        format!("widened {}", names.join(", "))
    };
    if ex.bytes == 0 {
        let plural = if ex.boxes == 1 { "set" } else { "sets" };
        return format!(
            "{what} ({} more {plural} of entries; no extra IOTLB or device-TLB addresses)",
            ex.boxes
        );
    }
    let plural = if ex.boxes == 1 { "box" } else { "boxes" };
    format!(
        "{what} (+{} in {} {plural})",
        iommu_inval::core::display::Size(ex.bytes),
        ex.boxes
    )
}
