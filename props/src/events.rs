//! The laws of [`EventArch`] (issue 32 item 2), written once for every
//! architecture: on one architecture, `lower(lift(r)) == r` for every
//! record that lifts (up to the fields the lift reads as UNKNOWN: a PASID
//! whose valid flag is clear, ...), and the lowered record lifts to the
//! same event; across architectures, a page request forwarded from one
//! architecture's record to another's keeps its device (as mapped), PASID,
//! address, access, group index and last flag, or is refused as
//! `NoEquivalent` for what the target record cannot hold.

use iommu_inval_core::arch::EventArch;
use iommu_inval_core::event::{Event, PageRequest, Record};
use iommu_inval_core::{Context, FieldValue, LowerError, NativeCommand};

/// A field the lift reads as UNKNOWN unless field `flag` (when the kind
/// has it) holds `value`: `(flag, value, field)`.
pub type Unknown = (&'static str, u64, &'static str);

/// `r` with its UNKNOWN fields ([`Unknown`]) zeroed.
pub fn cleared<R: NativeCommand>(r: &R, unknown: &[Unknown]) -> R {
    let mut f: Vec<(&'static str, FieldValue)> = Vec::new();
    r.for_each_field(&mut |n, v| f.push((n, v)));
    let value = |f: &[(&str, FieldValue)], n: &str| {
        f.iter().find(|(k, _)| *k == n).map(|(_, v)| match v {
            FieldValue::Bool(b) => u64::from(*b),
            FieldValue::Uint(x) => *x,
            FieldValue::Pair(p) => p[0] | p[1],
        })
    };
    for (flag, want, field) in unknown {
        if value(&f, flag).is_some_and(|v| v != *want) {
            for (k, v) in f.iter_mut() {
                if k == field {
                    *v = match v {
                        FieldValue::Bool(_) => FieldValue::Bool(false),
                        FieldValue::Uint(_) => FieldValue::Uint(0),
                        FieldValue::Pair(_) => FieldValue::Pair([0, 0]),
                    };
                }
            }
        }
    }
    R::from_fields(r.op(), &mut f.into_iter(), r.words()).unwrap_or(*r)
}

/// The record `rec` of `A` (a host's), lifted with `ctx`: when it lifts,
/// its lowering is `rec` up to `unknown` (with the identity context: `ctx`
/// must map no device) and lifts to the same event. `Ok(true)` when it
/// lifted.
pub fn check_round_trip<A: EventArch, C: Context>(
    rec: &Record<A::EventRecord, A::PageRequestRecord>,
    unknown: &[Unknown],
    ctx: &C,
) -> Result<bool, String> {
    let Ok(ev) = A::lift_record(rec, ctx) else {
        return Ok(false);
    };
    let back = A::lower_record(&ev, ctx)
        .map_err(|e| format!("{rec:?} lifts to {ev:?}, which does not lower: {e}"))?;
    let want = match rec {
        Record::Event(r) => Record::Event(cleared(r, unknown)),
        Record::PageRequest(r) => Record::PageRequest(cleared(r, unknown)),
    };
    if back != want {
        return Err(format!("{rec:?} -> {ev:?} -> {back:?}, not {want:?}"));
    }
    match A::lift_record(&back, ctx) {
        Ok(e) if e == ev => Ok(true),
        e => Err(format!("{back:?} lifts to {e:?}, not {ev:?}")),
    }
}

/// A host page request `q` (lifted from the host's record: the guest's
/// device) forwarded to a guest of architecture `G`: the guest record
/// lifts to the same device, PASID, address, access, group index and last
/// flag. The private data stays with the host (the page request group
/// table keeps it for the response), so it is not forwarded. A refusal
/// must be `NoEquivalent`; `Ok(false)` then.
pub fn check_forward<G: EventArch, C: Context>(q: &PageRequest, guest: &C) -> Result<bool, String> {
    let fwd = PageRequest {
        priv_data: None,
        ..*q
    };
    let rec = match G::lower_record(&Event::PageRequest(fwd), guest) {
        Ok(r @ Record::PageRequest(_)) => r,
        Ok(r) => return Err(format!("{fwd:?} lowers to an event record {r:?}")),
        Err(LowerError::NoEquivalent(_)) => return Ok(false),
        Err(e) => return Err(format!("{fwd:?}: {e}")),
    };
    let Ok(Event::PageRequest(g)) = G::lift_record(&rec, &iommu_inval_core::IdentityContext) else {
        return Err(format!("{rec:?} does not lift back to a page request"));
    };
    let key = |p: &PageRequest| (p.device, p.pasid, p.addr, p.access, p.prg_index, p.last);
    if key(&g) != key(&fwd) {
        return Err(format!("{fwd:?} forwarded as {rec:?} reads {g:?}"));
    }
    Ok(true)
}
