//! [`EventArch`](iommu_inval_core::arch::EventArch) for AMD-Vi: the event log entry ([`EventRecord`]) and the
//! PPR log entry ([`PprRecord`]) lifted to and lowered from the neutral
//! [`Event`] (docs/EVENTS.md).
//!
//! The event codes with a neutral meaning: IO_PAGE_FAULT (a translation
//! fault: PE = permission, otherwise translation; GN = a guest (first
//! stage) table with the PASID, otherwise the host (second stage) table
//! of the domain), ILLEGAL_DEV_TABLE_ENTRY (the device table entry is
//! invalid), DEV_TAB_HARDWARE_ERROR (fetching it aborted) and
//! PAGE_TAB_HARDWARE_ERROR (a walk abort; the address is the table's). The
//! access: RW = write (else read), NX = execute, US = user (else
//! privileged). The native detail keeps what the model has no place for,
//! so that an entry lifted and lowered comes back exact: I (bit 0), PR (1),
//! RZ (2), TR (3), Type (6:4), RW of an entry without a transaction (7),
//! and the domain id (or the PASID field of an entry without GN) (27:8).
//! The other event codes (command errors, time-outs, counters, RMP) do not
//! lift.

use crate::event::EventRecord;
use crate::ppr::PprRecord;
use crate::AmdVi;
use iommu_inval_core::event::{
    fault_code, meaning, Access, ConfigReason, During, Event, Fault, FaultCodes, FaultKind,
    FaultReason, NativeCode, Transaction, Translation,
};
use iommu_inval_core::event_arch;
use iommu_inval_core::{ArchId, Context, FieldValue, LowerError, NativeCommand, Stages};

/// The event codes with a neutral meaning (the stage of a translation
/// fault is GN's).
const EVENT_CODES: FaultCodes = &[
    (Ok((FaultReason::Translation, None)), &[0x2]),
    (Ok((FaultReason::Permission, None)), &[0x2]),
    (Ok((FaultReason::WalkAbort, None)), &[0x4]),
    (Err(ConfigReason::DeviceEntryInvalid), &[0x1]),
    (Err(ConfigReason::DeviceEntryFetch), &[0x3]),
];

/// The detail's fields `(name, bit, width)`.
const DETAIL: [(&str, u32, u32); 5] = [
    ("i", 0, 1),
    ("pr", 1, 1),
    ("rz", 2, 1),
    ("tr", 3, 1),
    ("type", 4, 3),
];

/// Whether entry `op` has field `name`.
fn has(op: &str, name: &str) -> bool {
    EventRecord::field_names(op).is_some_and(|f| f.contains(&name))
}

/// The entry's PASID / domain field.
fn id_field(op: &str) -> &'static str {
    if has(op, "pasid") {
        "pasid"
    } else {
        "domain_or_pasid"
    }
}

/// An event log entry → the model.
fn lift_event<C: Context + ?Sized>(r: &EventRecord, ctx: &C) -> Result<Event, LowerError> {
    let op = r.op();
    let code = r.words().first().map_or(0, |w| (w >> 60) as u16);
    if !EVENT_CODES.iter().any(|m| m.1.contains(&code)) {
        return Err(LowerError::NoEquivalent(
            "an AMD-Vi event with no neutral meaning",
        ));
    }
    let g = |n: &str| r.uint(n).unwrap_or(0);
    let gn = g("gn") != 0;
    let id = g(id_field(op));
    let stage = if gn { Stages::S1 } else { Stages::S2 };
    let translation = |reason| {
        FaultKind::Translation(Translation {
            stage,
            reason,
            during: During::Input,
            ipa: None,
            stall: None,
        })
    };
    let kind = match code {
        0x2 if g("pe") != 0 => translation(FaultReason::Permission),
        0x2 => translation(FaultReason::Translation),
        0x4 => translation(FaultReason::WalkAbort),
        _ => match meaning(EVENT_CODES, code) {
            Err(c) => FaultKind::Config(c),
            Ok(_) => return Err(LowerError::Invalid("event code")),
        },
    };
    let with_transaction = matches!(code, 0x1 | 0x2);
    let mut detail = DETAIL.iter().fold(0, |d, (n, at, _)| d | g(n) << at);
    if !with_transaction {
        detail |= g("rw") << 7;
    }
    if !gn {
        detail |= id << 8;
    }
    Ok(Event::Fault(Fault {
        device: ctx
            .guest_device(g("device_id") as u32)
            .ok_or(LowerError::NoEquivalent("device not seen by the guest"))?,
        pasid: gn.then_some(id as u32),
        transaction: with_transaction.then(|| Transaction {
            addr: g("address"),
            access: Access {
                read: g("rw") == 0,
                write: g("rw") != 0,
                exec: g("nx") != 0,
                privileged: has(op, "us") && g("us") == 0,
            },
        }),
        kind,
        fetch_addr: (!with_transaction).then_some(g("address")),
        native: NativeCode {
            arch: ArchId::Amd,
            code,
            detail: detail as u32,
            raw: [0; 3],
        },
    }))
}

/// The model → an event log entry: what it cannot hold (a stage other
/// than GN says, a table walk class, an IPA, a stall, an access neither
/// read nor write, privileged where the entry has no US) is `NoEquivalent`.
fn lower_event(f: &Fault) -> Result<EventRecord, LowerError> {
    let code = fault_code(f, ArchId::Amd, EVENT_CODES)?;
    let op = match code {
        0x1 => "ILLEGAL_DEV_TABLE_ENTRY",
        0x2 => "IO_PAGE_FAULT",
        0x3 => "DEV_TAB_HARDWARE_ERROR",
        _ => "PAGE_TAB_HARDWARE_ERROR",
    };
    let mut pe = false;
    if let FaultKind::Translation(t) = f.kind {
        let stage = if f.pasid.is_some() {
            Stages::S1
        } else {
            Stages::S2
        };
        if t.stage != stage || t.during != During::Input || t.ipa.is_some() || t.stall.is_some() {
            return Err(LowerError::NoEquivalent(
                "AMD-Vi: the stage is GN's (first with a PASID); no walk class, IPA or stall",
            ));
        }
        pe = t.reason == FaultReason::Permission;
    }
    let detail = f.own_detail(ArchId::Amd);
    if f.pasid.is_some() && detail >> 8 != 0 {
        return Err(LowerError::NoEquivalent("a PASID and a domain id"));
    }
    let (u, b) = (FieldValue::Uint, FieldValue::Bool);
    let mut v = [("", b(false)); 16];
    for (s, (n, at, width)) in v.iter_mut().zip(DETAIL) {
        *s = (n, u(detail >> at & ((1 << width) - 1)));
    }
    v[5] = ("device_id", u(f.device.into()));
    v[6] = ("gn", b(f.pasid.is_some()));
    v[7] = (id_field(op), u(f.pasid.map_or(detail >> 8, u64::from)));
    v[8] = ("pe", b(pe));
    match (f.transaction, f.fetch_addr, matches!(code, 0x1 | 0x2)) {
        (Some(t), None, true) if t.access.read != t.access.write => {
            let p = t.access.privileged;
            if p && !has(op, "us") {
                return Err(LowerError::NoEquivalent("privileged: no US in this event"));
            }
            v[9] = ("address", u(t.addr));
            v[10] = ("rw", b(t.access.write));
            v[11] = ("nx", b(t.access.exec));
            v[12] = ("us", b(!p && has(op, "us")));
        }
        (None, Some(a), false) => {
            v[9] = ("address", u(a));
            v[10] = ("rw", u(detail >> 7 & 1));
        }
        _ => {
            return Err(LowerError::NoEquivalent(
                "AMD-Vi: a transaction (read or write) for IO_PAGE_FAULT and ILLEGAL_DEV_TABLE_ENTRY, a table address for the hardware errors",
            ))
        }
    }
    EventRecord::lower(op, &v)
}

/// Why [`Event::Lost`] has no record.
const LOST: &str = "lost records are Status.EventOverflow / PprOverflow, not a record";

event_arch! { AmdVi, EventRecord, PprRecord, crate::ppr::FIELDS, lift_event, lower_event, LOST }
