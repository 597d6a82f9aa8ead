//! `convert --to iommufd-smmuv3 | iommufd-vtd`: the payloads of Linux
//! iommufd's `IOMMU_HWPT_INVALIDATE` (crate `iommu-inval-iommufd`).
//!
//! * `iommufd-smmuv3` (input: SMMUv3 guest commands): one line per entry,
//!   the guest command's two words as the vSMMU takes them; a command the
//!   kernel refuses (with the host features of the topology's
//!   `iommufd.host`) is an error of kind `no_equivalent` with the kernel's
//!   reason and what the VMM does instead (exit 1); a CMD_SYNC (absorbed by
//!   the ioctl's synchronous completion) and a prefetch (a hint, `dropped`)
//!   are noted on stderr (exit 0).
//! * `iommufd-vtd` (input: any architecture, lifted): one JSON object
//!   `{"addr":…,"npages":…,"flags":…}` per VT-d stage-1 entry; what the
//!   lift drops and a prefetch are noted `dropped` in the words of every
//!   other target (`run::note_dropped`), what the VMM does instead of an
//!   entry is noted `no entry` with the reason (exit 0), a stall command is
//!   `no_equivalent` (exit 1). An SMMUv3 or RISC-V input of an unknown
//!   domain widens its entry to every PASID (`S1Options::guest`).
//!
//! `--explain` adds, per input, its description, the command the host
//! executes (SMMUv3: after the kernel's VMID and vSID rewriting) and the
//! footprint relation of the entries to the input (R4).

use super::explain::widened_list;
use super::explain::Explanation;
use super::json::{command_to_json, error_json};
use super::run::{
    dropped_text, for_each_command, note_dropped, reported_widening, Io, Loc, Native, Opts,
};
use super::text::format_words;
use iommu_inval::core::footprint::Relation;
use iommu_inval::core::model::{DomainSel, Op, PasidSel};
use iommu_inval::core::Context;
use iommu_inval::core::Flags;
use iommu_inval::iommufd::explain::{smmuv3_relation, vtd_relation};
use iommu_inval::iommufd::smmuv3::{Refusal, VdevFn, Vsmmu};
use iommu_inval::iommufd::vtd::{s1_entry, S1Options, S1Scope, VmmWork};
use iommu_inval::{AnyCommand, ArchOps, NativeAny};
use serde_json::{json, Map, Value};
use std::io;

/// The iommufd payload to produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// `IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3`.
    Smmuv3,
    /// `IOMMU_HWPT_INVALIDATE_DATA_VTD_S1`.
    Vtd,
}

impl Target {
    /// The `--to` name.
    pub const fn name(self) -> &'static str {
        match self {
            Target::Smmuv3 => "iommufd-smmuv3",
            Target::Vtd => "iommufd-vtd",
        }
    }
    /// From a `--to` name.
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "iommufd-smmuv3" => Some(Target::Smmuv3),
            "iommufd-vtd" => Some(Target::Vtd),
            _ => None,
        }
    }
}

/// What the kernel side looks like.
#[derive(Debug, Clone, Default)]
pub struct Host {
    /// The vSMMU (VMID from the topology's `iommufd.vsmmu_vmid`, features
    /// from the host flags).
    pub vsmmu: Vsmmu,
    /// `(vsid, psid)` pairs of the topology's `iommufd.vdevices`.
    pub vdevices: Vec<(u32, u32)>,
    /// VT-d stage-1 choices.
    pub s1: S1Options,
}

fn error_obj(t: Target, kind: &str, msg: &str) -> Value {
    let mut v = error_json(iommu_inval::core::ArchId::Smmuv3, kind, msg);
    if let Some(m) = v.as_object_mut() {
        m.insert("arch".into(), json!(t.name()));
    }
    v
}

fn no_equivalent(t: Target, opts: Opts, io: &mut Io<'_>, loc: Loc, msg: &str) -> io::Result<()> {
    io.refuse(
        opts,
        loc,
        || error_obj(t, "no_equivalent", msg),
        || format!("no_equivalent: {msg}"),
    )
}

fn explanation(r: Relation, outputs: usize) -> Explanation {
    Explanation {
        relation: Some(r),
        outputs,
        unliftable: 0,
    }
}

/// `convert --from A --to iommufd-…`.
pub fn convert(
    from: Native<'_>,
    to: Target,
    host: &Host,
    ctx: &dyn Context,
    io: &mut Io<'_>,
) -> io::Result<()> {
    match to {
        Target::Smmuv3 => to_smmuv3(from, host, ctx, io),
        Target::Vtd => to_vtd(from, host, ctx, io),
    }
}

fn to_smmuv3(from: Native<'_>, host: &Host, ctx: &dyn Context, io: &mut Io<'_>) -> io::Result<()> {
    let opts = from.opts;
    let vdevs = VdevFn(|v: u32| host.vdevices.iter().find(|(a, _)| *a == v).map(|(_, p)| *p));
    for_each_command(from, io, |io, loc, w, _, any| {
        let NativeAny::Smmuv3(cmd) = any else {
            return Ok(());
        };
        let any = NativeAny::Smmuv3(cmd);
        let desc = format!("{} {}", any.op(), format_words(w));
        let entry = host.vsmmu.guest_entry(&cmd, &vdevs);
        let host_words = host.vsmmu.host_command(&cmd, &vdevs).ok();
        let relation = smmuv3_relation(&cmd, &host.vsmmu, &vdevs, ctx).ok();
        if opts.explain && opts.json {
            let mut m = Map::new();
            m.insert("input".into(), command_to_json(&any));
            match &entry {
                Ok(e) => {
                    m.insert("output".into(), json!([format_words(&e.cmd)]));
                }
                Err(r) => {
                    if refusal_kind(r) == "no_equivalent" {
                        io.status.note(1);
                    }
                    m.insert("output".into(), json!([]));
                    m.insert(
                        "error".into(),
                        json!({"kind": refusal_kind(r), "message": r.to_string()}),
                    );
                }
            }
            if let Some(h) = host_words {
                m.insert("host_command".into(), json!(format_words(&h)));
            }
            if let Some(r) = relation.clone() {
                explanation(r, 1).json_into(&mut m);
            }
            writeln!(io.out, "{}", Value::Object(m))?;
        } else {
            if opts.explain {
                writeln!(io.out, "# {loc}: {desc}")?;
            }
            match &entry {
                Ok(e) => {
                    if opts.json {
                        let c = NativeAny::Smmuv3(cmd);
                        writeln!(io.out, "{}", command_to_json(&c))?;
                    } else {
                        writeln!(io.out, "{}", format_words(&e.cmd))?;
                    }
                }
                // (With --explain the note is on the `=>` line instead.)
                Err(Refusal::Sync) if !opts.explain => {
                    writeln!(io.err, "iommu-inval: {loc}: absorbed: {}", Refusal::Sync)?;
                }
                Err(r) if refusal_kind(r) != "no_equivalent" => {
                    if !opts.explain {
                        note_dropped(io, loc, &r.to_string())?;
                    }
                }
                Err(r) => {
                    if !opts.explain || opts.json {
                        no_equivalent(Target::Smmuv3, opts, io, loc, &r.to_string())?;
                    } else {
                        io.status.note(1);
                    }
                }
            }
            if opts.explain {
                if let Some(h) = host_words {
                    writeln!(io.out, "#   kernel issues: {}", format_words(&h))?;
                }
                let line = match (&entry, &relation) {
                    (Ok(_), Some(r)) => explanation(r.clone(), 1).text(),
                    (Err(r), _) => format!("{}: {r}", refusal_kind(r)),
                    (Ok(_), None) => "not measured".into(),
                };
                writeln!(io.out, "#   => {line}")?;
            }
        }
        if let Some(Relation::Under { .. }) = relation {
            io.status.note(1);
            writeln!(
                io.err,
                "iommu-inval: {loc}: under-invalidation after the kernel's rewriting (a bug: please report it)"
            )?;
        }
        Ok(())
    })
}

/// `no_equivalent` for a refusal, except the two that only note: a CMD_SYNC
/// (`absorbed`) and a prefetch hint (`dropped`).
fn refusal_kind(r: &Refusal) -> &'static str {
    match r {
        Refusal::Sync => "absorbed",
        Refusal::Prefetch => "dropped",
        _ => "no_equivalent",
    }
}

fn scope_text(s: &S1Scope) -> String {
    let d = match s.domain {
        DomainSel::All => "all".to_owned(),
        DomainSel::One(d) => d.to_string(),
    };
    let p = match s.pasid {
        PasidSel::All => "all".to_owned(),
        PasidSel::NoPasid => "none".to_owned(),
        PasidSel::One(p) => p.to_string(),
    };
    format!("domain {d}, pasid {p}")
}

fn to_vtd(from: Native<'_>, host: &Host, ctx: &dyn Context, io: &mut Io<'_>) -> io::Result<()> {
    let (arch, opts) = (from.arch, from.opts);
    let mut ops: Vec<Op> = Vec::new();
    for_each_command(from, io, |io, loc, w, _, cmd| {
        ops.clear();
        let lifted = match cmd.lift(ctx, &mut ops) {
            Ok(o) => o,
            Err(e) => return no_equivalent(Target::Vtd, opts, io, loc, &e.to_string()),
        };
        let desc = format!("{} {}", cmd.op(), format_words(w));
        // The guest's architecture decides whether an unknown domain's
        // PASID can be kept (S1Options::guest).
        let s1 = S1Options {
            guest: Some(arch.id()),
            ..host.s1
        };
        let results: Vec<_> = ops.iter().map(|op| s1_entry(op, &s1)).collect();
        let widened = results.iter().fold(lifted.widened, |w, r| w | r.widened);

        let mut under = false;
        let mut worst: Option<Relation> = None;
        for (op, r) in ops.iter().zip(&results) {
            let rel = vtd_relation(op, r.entry.as_ref(), &s1, ctx);
            under |= matches!(rel, Relation::Under { .. });
            worst = Some(match (worst, rel) {
                (Some(Relation::Under { missing: a }), Relation::Under { missing: b }) => {
                    Relation::Under { missing: a + b }
                }
                (Some(u @ Relation::Under { .. }), _) | (_, u @ Relation::Under { .. }) => u,
                (Some(s @ Relation::Superset(_)), _) | (_, s @ Relation::Superset(_)) => s,
                _ => Relation::Exact,
            });
        }
        let entries: Vec<Value> = results
            .iter()
            .filter_map(|r| r.entry)
            .map(
                |e| json!({"addr": e.entry.addr, "npages": e.entry.npages, "flags": e.entry.flags}),
            )
            .collect();
        let work = results.iter().fold(VmmWork::empty(), |a, r| a | r.vmm);
        let stall = work.contains(VmmWork::STALL);
        // A prefetch has nothing to do: dropped, as every target words it;
        // the rest is the VMM's work (`no entry:`).
        let dropped = lifted.dropped.or_else(|| {
            work.contains(VmmWork::PREFETCH)
                .then(|| VmmWork::PREFETCH.reasons().next())
                .flatten()
        });
        let notes: Vec<&str> = (work - VmmWork::STALL - VmmWork::PREFETCH)
            .reasons()
            .collect();
        if opts.explain && opts.json {
            let mut m = Map::new();
            m.insert("input".into(), command_to_json(&cmd));
            m.insert("output".into(), Value::Array(entries));
            let scopes: Vec<Value> = results
                .iter()
                .filter_map(|r| r.entry)
                .map(|e| json!(scope_text(&e.scope)))
                .collect();
            m.insert("scopes".into(), Value::Array(scopes));
            if let Some(r) = worst {
                explanation(r, results.len()).json_into(&mut m);
            }
            m.insert("widened".into(), json!(widened_list(widened)));
            m.insert("dropped".into(), dropped.map_or(Value::Null, |d| json!(d)));
            m.insert("no_entry".into(), json!(notes));
            if stall {
                io.status.note(1);
                m.insert(
                    "error".into(),
                    json!({"kind": "no_equivalent", "message": VmmWork::STALL.reasons().next()}),
                );
            }
            writeln!(io.out, "{}", Value::Object(m))?;
        } else {
            if opts.explain {
                writeln!(io.out, "# {loc}: {desc}")?;
            }
            for (v, r) in entries.iter().zip(results.iter().filter_map(|r| r.entry)) {
                writeln!(io.out, "{v}")?;
                if opts.explain {
                    writeln!(io.out, "#   for the HWPTs of {}", scope_text(&r.scope))?;
                }
            }
            if stall {
                no_equivalent(
                    Target::Vtd,
                    opts,
                    io,
                    loc,
                    VmmWork::STALL.reasons().next().unwrap_or("stall"),
                )?;
            }
            if opts.explain {
                let mut s = match &worst {
                    Some(r) if !entries.is_empty() || under => explanation(r.clone(), 1).text(),
                    _ => String::new(),
                };
                s.push_str(&reported_widening(widened, worst.as_ref()));
                if let Some(d) = dropped {
                    s.push_str(&format!("; {}", dropped_text(d)));
                }
                for n in &notes {
                    s.push_str(&format!("; no entry: {n}"));
                }
                io.verdict_line(&s)?;
            } else {
                if let Some(d) = dropped {
                    note_dropped(io, loc, d)?;
                }
                for n in &notes {
                    writeln!(io.err, "iommu-inval: {loc}: no entry: {n}")?;
                }
            }
        }
        if under {
            io.status.note(1);
            writeln!(
                io.err,
                "iommu-inval: {loc}: under-invalidation by the stage-1 entries (a bug: please report it)"
            )?;
        }
        Ok(())
    })
}
