//! SMMUv3 event queue records (IHI0070 §7.3): 32 bytes, four little-endian
//! 64-bit words, the event number in `w0[7:0]`; their codec on
//! [`NativeCommand`](iommu_inval_core::NativeCommand) (op names = the spec's event names, `F_TRANSLATION`,
//! `C_BAD_STE`, `E_PAGE_REQUEST`, ...) and their lift and lower
//! ([`EventArch`](iommu_inval_core::arch::EventArch) for [`Smmuv3`], with the PRI queue's records of
//! [`pri`](crate::pri)).
//!
//! Layout sources (docs/EVENTS.md): the IHI0070 §7.3 text and the figures
//! that survive in its text (F_UUT, C_BAD_STREAMID, F_STE_FETCH, C_BAD_STE,
//! F_STREAM_DISABLED, F_TRANSL_FORBIDDEN, C_BAD_SUBSTREAMID, C_BAD_CD,
//! F_CFG_CONFLICT, E_PAGE_REQUEST, F_VMS_FETCH); where a figure is lost,
//! the positions Linux (`arm-smmu-v3.h`: `EVTQ_0_*`, `EVTQ_1_*`,
//! `EVTQ_2_ADDR`, `EVTQ_3_IPA`, `EVTQ_3_FETCH_ADDR`) and QEMU
//! (`smmuv3-internal.h`: `EVT_SET_*`) write: the common fields of the
//! translation faults (STAG, Stall, PnU, InD, RnW, S2, CLASS, TTRnW,
//! InputAddr, IPA). F_WALK_EABT's figure is lost and no driver names its
//! Reason: it is read as the fetch events' (`Reason` `[79:64]`, GPCF
//! `[80]`). F_BAD_ATS_TREQ's figure is lost in the text this crate cites,
//! but its labels survive in the G.b edition's text: R `[95]`, W `[94]`,
//! X `[93]`, PRIV `[92]`, Span `[67:64]`, InputAddr\[63:12\] `[191:140]`,
//! the §7.3.6 field list (R/W/X/PRIV, Span); it lifts as a configuration
//! fault named by its number. F_TLB_CONFLICT's figure survives in no text
//! and no driver writes it: its words 1 to 3 are kept raw (`w1`..`w3`, in
//! the lifted fault's `NativeCode::raw`, written back by the lowering), as
//! are the IMPDEF events 0xE0–0xEF (§7.3.21), which do not lift (no field
//! of theirs is architected, not even the StreamID). NSIPA (§7.3, figure
//! lost) is 0 except on the Secure queue: it is RES0 here. The F_PERMISSION
//! bits of newer revisions (Overlay, AssuredOnly, DirtyBit, §7.3.16) are
//! not placed (their figure is lost): a record with them set is refused as
//! reserved bits.
//!
//! Decoding: an event number §7.3 does not define is `unknown_opcode`; a
//! bit no field of the event covers is `reserved_bits` ("Portions of event
//! records that are not explicitly defined in this section are RES0",
//! §7.3); CLASS = 0b11 (Reserved) is `invalid_field`. Everything accepted
//! re-encodes to the same words.

use crate::pri::PriRecord;
use crate::Smmuv3;
use iommu_inval_core::event::{
    fault_code, Access, ConfigReason, During, Event, Fault, FaultCodes, FaultKind, FaultReason,
    NativeCode, Transaction, Translation,
};
use iommu_inval_core::event::{Fate, RecordQueue};
use iommu_inval_core::event_arch;
use iommu_inval_core::native::word;
use iommu_inval_core::record::{CodeTable, Kind};
use iommu_inval_core::ring::Ring;
use iommu_inval_core::ring::RingRegs;
use iommu_inval_core::{record_format, ArchId, Context, FieldValue, LowerError, Stages};

/// One field of one bit range: `(name, word, hi, lo, at)` (`at` = `lo`
/// for a field kept as a byte address).
pub(crate) type Fd = (&'static str, u8, u8, u8, u8);

/// The names of `f`, in order.
pub(crate) const fn names<const N: usize>(f: [Fd; N]) -> [&'static str; N] {
    let mut n = [""; N];
    let mut i = 0;
    while i < N {
        n[i] = f[i].0;
        i += 1;
    }
    n
}

/// The ranges of `f` for [`Kind::new`], field `i` the `i`-th.
pub(crate) const fn ranges<const N: usize>(f: [Fd; N]) -> [(u8, u8, u8, u8, u8); N] {
    let mut r = [(0, 0, 0, 0, 0); N];
    let mut i = 0;
    while i < N {
        r[i] = (i as u8, f[i].1, f[i].2, f[i].3, f[i].4);
        i += 1;
    }
    r
}

/// A [`Kind`] whose fields are the [`Fd`]s listed, in order.
macro_rules! kind {
    ($name:literal, $code:expr, [$($f:ident),* $(,)?]) => {{
        const F: [Fd; [$($f.0),*].len()] = [$($f),*];
        const N: [&str; F.len()] = names(F);
        const R: [(u8, u8, u8, u8, u8); F.len()] = ranges(F);
        Kind::new($name, $code, &N, &R)
    }};
}
pub(crate) use kind;

// The fields of the event records (IHI0070 §7.3; `w<n>[hi:lo]`).
/// SSV `w0[11]`.
const SSV: Fd = ("ssv", 0, 11, 11, 0);
/// SubstreamID `w0[31:12]`.
const SSID: Fd = ("ssid", 0, 31, 12, 0);
/// StreamID `w0[63:32]`.
const SID: Fd = ("sid", 0, 63, 32, 0);
/// IMPDEF events: `w0[63:8]`.
const IMPDEF0: Fd = ("w0", 0, 63, 8, 0);
/// IMPDEF events: `n` of IMPDEF_EVENTn, `w0[3:0]` (the number is 0xE0 + n).
const IMPDEF_N: Fd = ("n", 0, 3, 0, 0);
/// STAG `w1[15:0]` (Linux `EVTQ_1_STAG`).
const STAG: Fd = ("stag", 1, 15, 0, 0);
/// Reason (IMPLEMENTATION DEFINED) `[79:64]` of F_UUT and the fetch events.
const REASON: Fd = ("reason", 1, 15, 0, 0);
/// GPCF `[80]` (the F_STE_FETCH / F_VMS_FETCH figures).
const GPCF: Fd = ("gpcf", 1, 16, 16, 0);
/// Reason (IMPLEMENTATION DEFINED) `[95:64]` of F_CFG_CONFLICT.
const REASON32: Fd = ("reason", 1, 31, 0, 0);
/// Stall `w1[31]` (Linux `EVTQ_1_STALL`).
const STALL: Fd = ("stall", 1, 31, 31, 0);
/// PnU `[97]`.
const PNU: Fd = ("pnu", 1, 33, 33, 0);
/// InD `[98]`.
const IND: Fd = ("ind", 1, 34, 34, 0);
/// RnW `[99]` (1 = read).
const RNW: Fd = ("rnw", 1, 35, 35, 0);
/// S2 `[103]` (Linux `EVTQ_1_S2`).
const S2: Fd = ("s2", 1, 39, 39, 0);
/// CLASS `[105:104]` (Linux `EVTQ_1_CLASS`): [`CLASSES`].
const CLASS: Fd = ("class", 1, 41, 40, 0);
/// TTRnW `[108]` of F_PERMISSION (Linux `EVTQ_1_TT_READ`).
const TTRNW: Fd = ("ttrnw", 1, 44, 44, 0);
/// E_PAGE_REQUEST uX `[97]`, uW `[98]`, uR `[99]`, pX `[101]`, pW `[102]`,
/// pR `[103]`, Span `[115:108]` (§7.3.19).
const UX: Fd = ("ux", 1, 33, 33, 0);
const UW: Fd = ("uw", 1, 34, 34, 0);
const UR: Fd = ("ur", 1, 35, 35, 0);
const PX: Fd = ("px", 1, 37, 37, 0);
const PW: Fd = ("pw", 1, 38, 38, 0);
const PR: Fd = ("pr", 1, 39, 39, 0);
const SPAN: Fd = ("span", 1, 51, 44, 0);
/// InputAddr `[191:128]`.
const INPUT_ADDR: Fd = ("input_addr", 2, 63, 0, 0);
/// E_PAGE_REQUEST InputAddr\[63:12\] `[191:140]`.
const PAGE_ADDR: Fd = ("input_addr", 2, 63, 12, 12);
/// IPA\[55:12\] `[247:204]` (Linux `EVTQ_3_IPA`; "IPA bits \[55:OAS\] are RES0").
const IPA: Fd = ("ipa", 3, 55, 12, 12);
/// FetchAddr\[55:3\] `[247:195]` (the F_STE_FETCH figure).
const FETCH_ADDR: Fd = ("fetch_addr", 3, 55, 3, 3);
/// F_BAD_ATS_TREQ (§7.3.6): the ATS Translation Request's R `[95]`, W
/// `[94]`, X `[93]`, PRIV `[92]` and Span `[67:64]` (its InputAddr\[63:12\]
/// is [`PAGE_ADDR`]).
const ATS_R: Fd = ("read", 1, 31, 31, 0);
const ATS_W: Fd = ("write", 1, 30, 30, 0);
const ATS_X: Fd = ("exec", 1, 29, 29, 0);
const ATS_PRIV: Fd = ("priv", 1, 28, 28, 0);
const ATS_SPAN: Fd = ("span", 1, 3, 0, 0);
/// Raw words of the events whose figure is lost.
const RAW1: Fd = ("w1", 1, 63, 0, 0);
const RAW2: Fd = ("w2", 2, 63, 0, 0);
const RAW3: Fd = ("w3", 3, 63, 0, 0);

/// CLASS (IHI0070 §7.3.13): 0b11 is Reserved, refused (`invalid_field`).
const CLASSES: CodeTable = CodeTable {
    names: &[(0, "CD"), (1, "TT"), (2, "IN")],
    custom: None,
};

/// CLASS is field 9 of every event that has one.
const CLASS_TABLE: &[(u8, &CodeTable)] = &[(9, &CLASSES)];

record_format!(
    /// The event record layout ([`EventRecord`]): the event types of
    /// IHI0070 §7.3, by number (`w0[7:0]`).
    EventFormat,
    /// One SMMUv3 event record (IHI0070 §7.3): read and build it by field
    /// name ([`NativeCommand`](iommu_inval_core::NativeCommand)) or through
    /// the model ([`EventArch`](iommu_inval_core::arch::EventArch): [`Smmuv3::lift_record`](iommu_inval_core::arch::EventArch::lift_record)
    /// / [`lower_record`](iommu_inval_core::arch::EventArch::lower_record)).
    ///
    /// ```
    /// use iommu_inval_arm::EventRecord;
    /// use iommu_inval_core::{FieldValue, NativeCommand};
    /// // F_TRANSLATION, StreamID 0x10, SubstreamID 3, a stage-1 read of 0x8000_1234.
    /// let w = [0x0000_0010_0000_3810, 0x0000_0208_0000_0000, 0x8000_1234, 0];
    /// let r = EventRecord::decode(&w).unwrap();
    /// assert_eq!(r.op(), "F_TRANSLATION");
    /// let mut sid = 0;
    /// r.for_each_field(&mut |n, v| if n == "sid" { if let FieldValue::Uint(x) = v { sid = x } });
    /// assert_eq!(sid, 0x10);
    /// let mut out = [0; 4];
    /// assert_eq!(r.encode_into(&mut out), Ok(4));
    /// assert_eq!(out, w);
    /// ```
    EventRecord: ArchId::Smmuv3, crate::Features, 4, code = (0, 0xff),
    [
        kind!("F_UUT", 0x01, [SSV, SSID, SID, REASON, PNU, IND, RNW, INPUT_ADDR]),
        kind!("C_BAD_STREAMID", 0x02, [SSV, SSID, SID]),
        kind!("F_STE_FETCH", 0x03, [SSV, SSID, SID, REASON, GPCF, FETCH_ADDR]),
        kind!("C_BAD_STE", 0x04, [SSV, SSID, SID]),
        kind!("F_BAD_ATS_TREQ", 0x05, [SSV, SSID, SID, ATS_SPAN, ATS_PRIV, ATS_X, ATS_W, ATS_R, PAGE_ADDR]),
        kind!("F_STREAM_DISABLED", 0x06, [SID]),
        kind!("F_TRANSL_FORBIDDEN", 0x07, [SID, RNW, INPUT_ADDR]),
        kind!("C_BAD_SUBSTREAMID", 0x08, [SSID, SID]),
        kind!("F_CD_FETCH", 0x09, [SSV, SSID, SID, REASON, GPCF, FETCH_ADDR]),
        kind!("C_BAD_CD", 0x0a, [SSV, SSID, SID]),
        kind!("F_WALK_EABT", 0x0b, [SSV, SSID, SID, REASON, GPCF, PNU, IND, RNW, S2, CLASS, INPUT_ADDR, FETCH_ADDR]).with_tables(CLASS_TABLE),
        kind!("F_TRANSLATION", 0x10, [SSV, SSID, SID, STAG, STALL, PNU, IND, RNW, S2, CLASS, INPUT_ADDR, IPA]).with_tables(CLASS_TABLE),
        kind!("F_ADDR_SIZE", 0x11, [SSV, SSID, SID, STAG, STALL, PNU, IND, RNW, S2, CLASS, INPUT_ADDR, IPA]).with_tables(CLASS_TABLE),
        kind!("F_ACCESS", 0x12, [SSV, SSID, SID, STAG, STALL, PNU, IND, RNW, S2, CLASS, INPUT_ADDR, IPA]).with_tables(CLASS_TABLE),
        kind!("F_PERMISSION", 0x13, [SSV, SSID, SID, STAG, STALL, PNU, IND, RNW, S2, CLASS, TTRNW, INPUT_ADDR, IPA]).with_tables(CLASS_TABLE),
        kind!("F_TLB_CONFLICT", 0x20, [SSV, SSID, SID, RAW1, RAW2, RAW3]),
        kind!("F_CFG_CONFLICT", 0x21, [SSV, SSID, SID, REASON32]),
        kind!("E_PAGE_REQUEST", 0x24, [SSV, SSID, SID, UX, UW, UR, PX, PW, PR, SPAN, PAGE_ADDR]),
        kind!("F_VMS_FETCH", 0x25, [SSV, SSID, SID, REASON, GPCF, FETCH_ADDR]),
        // IMPDEF_EVENTn (§7.3.21): 0xE0 + n, n a field of the number's low nibble.
        kind!("IMPDEF_EVENT", 0x0e, [IMPDEF_N, IMPDEF0, RAW1, RAW2, RAW3]).with_code_bits(0xf0),
    ]
);

/// The record's device as the guest's (`NoEquivalent` when the guest does
/// not see it).
fn guest_device<C: Context + ?Sized>(ctx: &C, sid: u64) -> Result<u32, LowerError> {
    ctx.guest_device(sid as u32)
        .ok_or(LowerError::NoEquivalent("device not seen by the guest"))
}

/// Whether event `op` has field `name`.
fn has(op: &str, name: &str) -> bool {
    use iommu_inval_core::NativeCommand;
    EventRecord::field_names(op).is_some_and(|f| f.contains(&name))
}

/// The neutral meaning of each event number (IHI0070 §7.3): a translation
/// fault's reason or a configuration fault's; the others have none.
const MEANINGS: FaultCodes = &[
    (Err(ConfigReason::Unsupported), &[0x01]),
    (Err(ConfigReason::BadDevice), &[0x02]),
    (Err(ConfigReason::DeviceEntryFetch), &[0x03]),
    (Err(ConfigReason::DeviceEntryInvalid), &[0x04]),
    (Err(ConfigReason::NoPasidDisabled), &[0x06]),
    (Err(ConfigReason::TranslatedForbidden), &[0x07]),
    (Err(ConfigReason::BadPasid), &[0x08]),
    (Err(ConfigReason::PasidEntryFetch), &[0x09]),
    (Err(ConfigReason::PasidEntryInvalid), &[0x0a]),
    (Ok((FaultReason::WalkAbort, None)), &[0x0b]),
    (Ok((FaultReason::Translation, None)), &[0x10]),
    (Ok((FaultReason::AddressSize, None)), &[0x11]),
    (Ok((FaultReason::AccessFlag, None)), &[0x12]),
    (Ok((FaultReason::Permission, None)), &[0x13]),
    // F_TLB_CONFLICT (0x20) names no configuration, but the S2 bit that
    // would give its stage is not placed (§7.3.17): a fault named by its
    // number, as the others here.
    (Err(ConfigReason::Other), &[0x05, 0x21, 0x25, 0x20]),
];

/// A host event record → the model (see [`EventArch`](iommu_inval_core::arch::EventArch)).
fn lift_event<C: Context + ?Sized>(r: &EventRecord, ctx: &C) -> Result<Event, LowerError> {
    use iommu_inval_core::NativeCommand;
    let op = r.op();
    let g = |n: &str| r.uint(n).unwrap_or(0);
    let code = (r.words().first().copied().unwrap_or(0) & 0xff) as u8;
    let meaning = match MEANINGS.iter().find(|m| m.1.contains(&code.into())) {
        Some(m) => m.0,
        None if code == 0x24 => {
            return Err(LowerError::NoEquivalent(
                "E_PAGE_REQUEST: an informational event with no response",
            ))
        }
        // §7.3.21: "IMPLEMENTATION DEFINED event allocation", no field
        // architected, not even the StreamID, so no device to map.
        None => return Err(LowerError::NoEquivalent("IMPDEF event")),
    };
    let device = guest_device(ctx, g("sid"))?;
    let pasid = if has(op, "ssv") {
        (g("ssv") != 0).then_some(g("ssid") as u32)
    } else {
        has(op, "ssid").then_some(g("ssid") as u32)
    };
    let kind = match meaning {
        Ok((reason, _)) => {
            let s2 = g("s2") != 0;
            FaultKind::Translation(Translation {
                stage: if s2 { Stages::S2 } else { Stages::S1 },
                reason,
                during: match g("class") {
                    0 => During::ConfigFetch,
                    1 => During::TableWalk {
                        write: has(op, "ttrnw") && g("ttrnw") == 0,
                    },
                    _ => During::Input,
                },
                // UNKNOWN without S2, but kept when written, so that a record
                // lifted and lowered comes back the same.
                ipa: (has(op, "ipa") && (s2 || g("ipa") != 0)).then_some(g("ipa")),
                stall: (g("stall") != 0).then_some(g("stag") as u16),
            })
        }
        Err(c) => FaultKind::Config(c),
    };
    let read = g("rnw") != 0;
    // The events with InputAddr give RnW, InD and PnU (F_UUT,
    // F_TRANSL_FORBIDDEN, F_WALK_EABT, the translation faults), except
    // F_BAD_ATS_TREQ, which gives the permissions its request asked for.
    let access = if has(op, "rnw") {
        Access {
            read,
            write: !read,
            exec: g("ind") != 0,
            privileged: g("pnu") != 0,
        }
    } else {
        Access {
            read: g("read") != 0,
            write: g("write") != 0,
            exec: g("exec") != 0,
            privileged: g("priv") != 0,
        }
    };
    Ok(Event::Fault(Fault {
        device,
        pasid,
        transaction: has(op, "input_addr").then(|| Transaction {
            addr: g("input_addr"),
            access,
        }),
        kind,
        fetch_addr: has(op, "fetch_addr").then_some(g("fetch_addr")),
        native: NativeCode {
            arch: ArchId::Smmuv3,
            code: code.into(),
            // The Reason, with GPCF as bit 16 where the event has one, or
            // F_BAD_ATS_TREQ's Span.
            detail: (g("reason") | g("span") | g("gpcf") << 16) as u32,
            // F_TLB_CONFLICT's words 1–3, whose fields no text places.
            raw: ["w1", "w2", "w3"].map(g),
        },
    }))
}

/// The model → an event record (see [`EventArch`](iommu_inval_core::arch::EventArch)): the fields every
/// fault has (device, PASID, transaction, fetch address, the native
/// detail when it is this event's own), then a translation fault's (S2,
/// CLASS and TTRnW, the stall, the IPA).
fn lower_event(f: &Fault) -> Result<EventRecord, LowerError> {
    use iommu_inval_core::record::RecordFormat;
    let code = fault_code(f, ArchId::Smmuv3, MEANINGS)?;
    let op = EventFormat::KINDS
        .iter()
        .find(|k| k.code() == u64::from(code) && code < 0xe0)
        .map_or("", |k| k.name());
    let (u, b) = (FieldValue::Uint, FieldValue::Bool);
    // At most 18: F_PERMISSION's 15 and words 1–3.
    let mut v = [("", b(false)); 18];
    let mut n = 0;
    let mut put = |name: &'static str, x: FieldValue| {
        if let Some(s) = v.get_mut(n) {
            *s = (name, x);
            n += 1;
        }
    };
    put("sid", u(f.device.into()));
    if f.pasid.is_some() && !has(op, "ssid") {
        return Err(LowerError::NoEquivalent("no SubstreamID in this event"));
    }
    if has(op, "ssv") {
        put("ssv", b(f.pasid.is_some()));
    }
    put("ssid", u(f.pasid.unwrap_or(0).into()));
    if let Some(t) = f.transaction {
        let rnw = has(op, "rnw");
        if !has(op, "input_addr") || (rnw && t.access.read == t.access.write) {
            return Err(LowerError::NoEquivalent(
                "no InputAddr in this event, or an access not one of read and write",
            ));
        }
        put("input_addr", u(t.addr));
        let a = t.access;
        if rnw {
            put("rnw", b(a.read));
            put("ind", b(a.exec));
            put("pnu", b(a.privileged));
        } else {
            put("read", b(a.read));
            put("write", b(a.write));
            put("exec", b(a.exec));
            put("priv", b(a.privileged));
        }
    }
    if let Some(a) = f.fetch_addr {
        if !has(op, "fetch_addr") {
            return Err(LowerError::NoEquivalent("no FetchAddr in this event"));
        }
        put("fetch_addr", u(a));
    }
    if f.native.arch == ArchId::Smmuv3 && f.native.code == code {
        let d = u64::from(f.native.detail);
        if has(op, "span") {
            put("span", u(d));
        } else if has(op, "gpcf") || !has(op, "reason") || d >> 16 == 0 {
            put("reason", u(d & 0xffff));
            put("gpcf", u(d >> 16));
        } else {
            put("reason", u(d));
        }
        if f.native.raw != [0; 3] {
            for (n, x) in ["w1", "w2", "w3"].into_iter().zip(f.native.raw) {
                put(n, u(x));
            }
        }
    }
    if let FaultKind::Translation(t) = &f.kind {
        let s2 = match t.stage {
            s if s == Stages::S1 => false,
            s if s == Stages::S2 => true,
            _ => return Err(LowerError::NoEquivalent("a fault of one stage")),
        };
        let (class, walk_write) = match t.during {
            During::ConfigFetch => (0, false),
            During::TableWalk { write } => (1, write),
            During::Input => (2, false),
        };
        put("s2", b(s2));
        put("class", u(class));
        if walk_write && !has(op, "ttrnw") {
            return Err(LowerError::NoEquivalent(
                "a table-walk write outside F_PERMISSION",
            ));
        }
        if has(op, "ttrnw") {
            put("ttrnw", b(class == 1 && !walk_write));
        }
        if let Some(tag) = t.stall {
            put("stag", u(tag.into()));
            put("stall", b(true));
        }
        if let Some(ipa) = t.ipa {
            if !has(op, "ipa") {
                return Err(LowerError::NoEquivalent("no IPA in this event"));
            }
            put("ipa", u(ipa));
        }
    }
    EventRecord::lower(op, v.get(..n).unwrap_or(&v))
}

/// Why [`Event::Lost`] has no record.
const LOST: &str = "lost records are EVENTQ_PROD.OVFLG, not a record";

event_arch! { Smmuv3, EventRecord, PriRecord, crate::pri::FIELDS, lift_event, lower_event, LOST }

/// A guest's SMMUv3 event queue (`GuestQueue<EventRecord>`) or PRI queue
/// (`GuestQueue<PriRecord>`) as the VMM that produces into it sees its
/// registers (IHI0070 §6.3.29 / §6.3.33 BASE, §6.3.95–98 PROD and CONS):
/// `base` is SMMU_EVENTQ_BASE / SMMU_PRIQ_BASE (ADDR `[55:5]`, LOG2SIZE
/// `[4:0]`, read as at most 19), `prod` the PROD register the VMM owns (WR
/// with its wrap bit, OVFLG `[31]`), `cons` the CONS register the guest
/// writes (RD, OVACKFLG `[31]`), `enabled` SMMU_CR0.EVENTQEN / PRIQEN.
/// Records go in through [`RecordQueue::offer`]: an overflow toggles
/// PROD.OVFLG, and is pending until the guest writes CONS.OVACKFLG equal
/// to it; the event queue goes on delivering as space allows (§7.4), the
/// PRI queue discards everything until then (§8.1).
///
/// A record write that guest memory refuses is an external abort on the
/// queue (§7.2.2, §8.2): the record is lost, PROD does not move (the
/// synchronous case), and GERROR.EVENTQ_ABT_ERR (bit 2) / PRIQ_ABT_ERR
/// (bit 3) is toggled (§6.3.19: "The SMMU toggles SMMU_GERROR\[x\] when an
/// error becomes active"); the GERROR interrupt is raised with
/// `gerror_irqen` (§7.5.1). While the error is active (GERROR ≠ GERRORN in
/// that bit) the queue is not writable and takes nothing (§7.2.1, §8.2);
/// a discarded last page request is owed Response Failure without a
/// PASID. The guest acknowledges by toggling the bit in GERRORN.
/// `gerror` and `gerrorn` are the whole registers, shared with the other
/// queue and CMDQ_ERR: a VMM with both queues keeps one value of each.
///
/// [`RecordQueue::offer`]: iommu_inval_core::event::RecordQueue::offer
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct GuestQueue<R> {
    /// SMMU_EVENTQ_BASE or SMMU_PRIQ_BASE.
    pub base: u64,
    /// SMMU_EVENTQ_PROD or SMMU_PRIQ_PROD (the VMM's).
    pub prod: u32,
    /// SMMU_EVENTQ_CONS or SMMU_PRIQ_CONS (the guest's).
    pub cons: u32,
    /// SMMU_CR0.EVENTQEN or PRIQEN.
    pub enabled: bool,
    /// SMMU_IRQ_CTRL.EVENTQ_IRQEN or PRIQ_IRQEN (§6.3.16).
    pub irqen: bool,
    /// SMMU_PRIQ_IRQ_CFG2.LO (§6.3.36): the PRI queue interrupts only for a
    /// message with Last set (unused by the event queue).
    pub last_only: bool,
    /// SMMU_GERROR (§6.3.19; the VMM's): EVENTQ_ABT_ERR / PRIQ_ABT_ERR
    /// toggled on an aborted record write.
    pub gerror: u32,
    /// SMMU_GERRORN (§6.3.20; the guest's acknowledgement).
    pub gerrorn: u32,
    /// SMMU_IRQ_CTRL.GERROR_IRQEN (§6.3.16).
    pub gerror_irqen: bool,
    record: core::marker::PhantomData<R>,
}

impl<R> GuestQueue<R> {
    /// The queue of these register values.
    pub const fn new(base: u64, prod: u32, cons: u32, enabled: bool) -> Self {
        GuestQueue {
            base,
            prod,
            cons,
            enabled,
            irqen: false,
            last_only: false,
            gerror: 0,
            gerrorn: 0,
            gerror_irqen: false,
            record: core::marker::PhantomData,
        }
    }
}

/// PROD.OVFLG / CONS.OVACKFLG, bit 31 (§6.3.95, §6.3.96).
const OVFLG: u32 = 1 << 31;
/// The largest LOG2SIZE of either queue (SMMU_IDR1.EVENTQS, PRIQS ≤ 19).
const MAX_QS: u8 = 19;

iommu_inval_core::ring_regs!(
    GuestQueue<EventRecord>,
    |q| ring = queue_ring(q.base, 4),
    head = q.cons & queue_ring(q.base, 4).mask(),
    tail = q.prod & queue_ring(q.base, 4).mask(),
    |q, pos| set_head = q.cons = (q.cons & OVFLG) | pos,
    set_tail = q.prod = (q.prod & OVFLG) | pos
);
iommu_inval_core::ring_regs!(
    GuestQueue<crate::pri::PriRecord>,
    |q| ring = queue_ring(q.base, 2),
    head = q.cons & queue_ring(q.base, 2).mask(),
    tail = q.prod & queue_ring(q.base, 2).mask(),
    |q, pos| set_head = q.cons = (q.cons & OVFLG) | pos,
    set_tail = q.prod = (q.prod & OVFLG) | pos
);

/// The ring of a queue BASE register with slots of `words` words.
fn queue_ring(base: u64, words: u8) -> Ring {
    let log2 = (base & 0x1f) as u8;
    Ring::new(
        base & word::mask(55, 5),
        log2.min(MAX_QS),
        words,
        true,
        false,
    )
}

/// SMMU_GERROR.EVENTQ_ABT_ERR (bit 2, §6.3.19).
const EVENTQ_ABT_ERR: u32 = 1 << 2;
/// SMMU_GERROR.PRIQ_ABT_ERR (bit 3, §6.3.19).
const PRIQ_ABT_ERR: u32 = 1 << 3;

/// `impl RecordQueue` for the event queue (`discard` = false) and the PRI
/// queue (`discard` = true), with its GERROR abort bit and the queue's
/// interrupt rule.
macro_rules! smmu_record_queue {
    ($rec:ty, $discard:expr, $abt:expr, $interrupt:expr) => {
        impl RecordQueue for GuestQueue<$rec> {
            type Record = $rec;
            fn enabled(&self) -> bool {
                self.enabled
            }
            fn overflow_pending(&self) -> bool {
                (self.prod ^ self.cons) & OVFLG != 0
            }
            fn raise_overflow(&mut self) {
                self.prod ^= OVFLG;
            }
            fn discards_while_overflowed(&self) -> bool {
                $discard
            }
            fn abort_pending(&self) -> bool {
                (self.gerror ^ self.gerrorn) & $abt != 0
            }
            fn raise_abort(&mut self) {
                self.gerror ^= $abt;
            }
            fn signal(&mut self, fate: &Fate, rec: &$rec) -> bool {
                if let Fate::Aborted(_) = fate {
                    // The error activated: the GERROR interrupt (§7.5.1).
                    return self.gerror_irqen;
                }
                // Written to an empty queue: it holds one record now.
                let was_empty =
                    *fate == Fate::Written && self.ring().pending(self.head(), self.tail()) == 1;
                self.irqen && $interrupt(self.last_only, was_empty, fate, rec)
            }
        }
    };
}
// IHI0070 §3.18.2: the event queue interrupts when it goes from empty to
// non-empty.
smmu_record_queue!(EventRecord, false, EVENTQ_ABT_ERR, |_, was_empty, _, _| {
    was_empty
});
// SMMU_PRIQ_IRQ_CFG2.LO (§6.3.36): 0, empty to non-empty; 1, a message with
// Last written, or discarded because of an overflow. The automatic PRG
// response is the PRI entry format's (`pri::FIELDS`, §8.1, §8.2;
// PRIQ_ABT_ERR active is `Fate::Stopped`, answered as an aborted write).
smmu_record_queue!(
    crate::pri::PriRecord,
    true,
    PRIQ_ABT_ERR,
    |lo, was_empty, o: &Fate, r: &crate::pri::PriRecord| {
        let last = r.flag("last") == Some(true);
        match o {
            Fate::Written => {
                if lo {
                    last
                } else {
                    was_empty
                }
            }
            Fate::Full { .. } | Fate::Overflowed => lo && last,
            _ => false,
        }
    }
);

/// Raw event words for fuzzing the decoder: a valid record, often with
/// one defect (a reserved bit, another event number, CLASS = 0b11), or
/// random words.
#[cfg(feature = "arbitrary")]
pub fn arbitrary_event_words(u: &mut arbitrary::Unstructured<'_>) -> arbitrary::Result<[u64; 4]> {
    use arbitrary::Arbitrary;
    if u.ratio(1u8, 8)? {
        return <[u64; 4]>::arbitrary(u);
    }
    let mut w = [0u64; 4];
    w.copy_from_slice(EventRecord::arbitrary(u)?.words());
    match u.int_in_range(0u8..=4)? {
        0 => {
            let i = u.int_in_range(0usize..=3)?;
            w[i] ^= 1 << u.int_in_range(0u32..=63)?;
        }
        1 => w[0] = (w[0] & !0xff) | u64::from(u8::arbitrary(u)?),
        2 => w[1] |= 3 << 40,
        _ => {}
    }
    Ok(w)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use iommu_inval_core::arch::EventArch;
    use iommu_inval_core::event::Record;
    use iommu_inval_core::Flags;
    use iommu_inval_core::IdentityContext;
    use iommu_inval_core::NativeCommand;

    /// A neutral event's lowering to an event record, through the contract.
    fn lower_event(ev: &Event) -> Result<Record<EventRecord, PriRecord>, LowerError> {
        Smmuv3::lower_record(ev, &IdentityContext)
    }

    /// A test view of one field: `(word, lo, width)` and its name.
    #[derive(Clone, Copy)]
    pub(crate) struct Bits(
        pub(crate) &'static str,
        pub(crate) usize,
        pub(crate) u32,
        pub(crate) u32,
    );
    impl Bits {
        fn mask(&self) -> u64 {
            word::mask(self.2 + self.3 - 1, self.2)
        }
        pub(crate) fn get(&self, w: &[u64]) -> u64 {
            (w[self.1] & self.mask()) >> self.2
        }
        pub(crate) fn put(&self, w: &mut [u64], v: u64) {
            w[self.1] = (w[self.1] & !self.mask()) | ((v << self.2) & self.mask());
        }
    }
    const SSV: Bits = Bits("ssv", 0, 11, 1);
    const SSID: Bits = Bits("ssid", 0, 12, 20);
    const STAG: Bits = Bits("stag", 1, 0, 16);
    const STALL: Bits = Bits("stall", 1, 31, 1);
    const CLASS: Bits = Bits("class", 1, 40, 2);
    const TTRNW: Bits = Bits("ttrnw", 1, 44, 1);
    /// The event number `w0[7:0]`, set in every record.
    const NUMBER: [u64; 4] = [0xff, 0, 0, 0];

    /// A test view of one event type of the table: its number, name, kind.
    struct Layout {
        code: u8,
        name: &'static str,
        kind: &'static Kind,
    }
    impl Layout {
        fn of(kind: &'static Kind) -> Layout {
            let code = if kind.name() == "IMPDEF_EVENT" {
                0xe0
            } else {
                kind.code() as u8
            };
            Layout {
                code,
                name: kind.name(),
                kind,
            }
        }
        /// The bits the record may set in word `i`.
        fn valid(&self, i: usize, fixed: [u64; 4]) -> u64 {
            (0..self.kind.fields().len())
                .flat_map(|f| self.kind.ranges_of(f))
                .filter(|r| usize::from(r.0) == i)
                .fold(fixed[i], |m, r| m | word::mask(r.1.into(), r.2.into()))
        }
        fn has(&self, f: Bits) -> bool {
            self.kind.fields().contains(&f.0)
        }
    }
    fn events() -> std::vec::Vec<Layout> {
        <EventFormat as iommu_inval_core::record::RecordFormat>::KINDS
            .iter()
            .map(Layout::of)
            .collect()
    }

    fn fields(r: &impl NativeCommand) -> std::vec::Vec<(&'static str, FieldValue)> {
        let mut v = std::vec::Vec::new();
        r.for_each_field(&mut |n, x| v.push((n, x)));
        v
    }

    fn rebuilt<R: NativeCommand>(r: &R) -> R {
        let f = fields(r);
        R::from_fields(r.op(), &mut f.iter().copied(), r.words()).unwrap()
    }

    /// Every event type's fields at their IHI0070 §7.3 positions: one
    /// field set alone at its maximum lights exactly its bits.
    #[test]
    fn bit_positions_match_the_spec() {
        let at = |op: &str, name: &str, v: FieldValue| {
            let r = EventRecord::from_fields(op, &mut [(name, v)].into_iter(), 4).unwrap();
            let mut w = [0; 4];
            r.encode_into(&mut w).unwrap();
            w
        };
        let t = FieldValue::Bool(true);
        // §7.3 common fields: SSV [11], SubstreamID [31:12], StreamID [63:32].
        assert_eq!(at("C_BAD_STE", "ssv", t), [0x804, 0, 0, 0]);
        assert_eq!(
            at("C_BAD_STE", "ssid", FieldValue::Uint(0xfffff)),
            [0xffff_f004, 0, 0, 0]
        );
        assert_eq!(
            at("F_STREAM_DISABLED", "sid", FieldValue::Uint(0xffff_ffff)),
            [0xffff_ffff_0000_0006, 0, 0, 0]
        );
        // §7.3.13 F_TRANSLATION: STAG [79:64], Stall [95], PnU [97], InD [98],
        // RnW [99], S2 [103], CLASS [105:104], InputAddr [191:128], IPA [247:204].
        assert_eq!(
            at("F_TRANSLATION", "stag", FieldValue::Uint(0xffff))[1],
            0xffff
        );
        assert_eq!(at("F_TRANSLATION", "stall", t)[1], 1 << 31);
        assert_eq!(at("F_TRANSLATION", "pnu", t)[1], 1 << 33);
        assert_eq!(at("F_TRANSLATION", "ind", t)[1], 1 << 34);
        assert_eq!(at("F_TRANSLATION", "rnw", t)[1], 1 << 35);
        assert_eq!(at("F_TRANSLATION", "s2", t)[1], 1 << 39);
        assert_eq!(
            at("F_TRANSLATION", "class", FieldValue::Uint(2))[1],
            2 << 40
        );
        assert_eq!(
            at("F_TRANSLATION", "input_addr", FieldValue::Uint(!0))[2],
            !0
        );
        assert_eq!(
            at(
                "F_TRANSLATION",
                "ipa",
                FieldValue::Uint(0x00ff_ffff_ffff_f000)
            )[3],
            0x00ff_ffff_ffff_f000
        );
        // §7.3.16 F_PERMISSION TTRnW [108].
        assert_eq!(at("F_PERMISSION", "ttrnw", t)[1], 1 << 44);
        // §7.3.4 F_STE_FETCH: Reason [79:64], GPCF [80], FetchAddr[55:3] [247:195].
        assert_eq!(
            at("F_STE_FETCH", "reason", FieldValue::Uint(0xffff))[1],
            0xffff
        );
        assert_eq!(at("F_STE_FETCH", "gpcf", t)[1], 1 << 16);
        assert_eq!(
            at(
                "F_STE_FETCH",
                "fetch_addr",
                FieldValue::Uint(0x00ff_ffff_ffff_fff8)
            )[3],
            0x00ff_ffff_ffff_fff8
        );
        // §7.3.18 F_CFG_CONFLICT Reason [95:64].
        assert_eq!(
            at("F_CFG_CONFLICT", "reason", FieldValue::Uint(0xffff_ffff))[1],
            0xffff_ffff
        );
        // §7.3.19 E_PAGE_REQUEST: uX [97] uW [98] uR [99] pX [101] pW [102]
        // pR [103] Span [115:108] InputAddr[63:12] [191:140].
        let w1 = |n| at("E_PAGE_REQUEST", n, t)[1];
        assert_eq!(
            [w1("ux"), w1("uw"), w1("ur"), w1("px"), w1("pw"), w1("pr")],
            [1 << 33, 1 << 34, 1 << 35, 1 << 37, 1 << 38, 1 << 39]
        );
        assert_eq!(
            at("E_PAGE_REQUEST", "span", FieldValue::Uint(0xff))[1],
            0xff << 44
        );
        assert_eq!(
            at("E_PAGE_REQUEST", "input_addr", FieldValue::Uint(!0xfff))[2],
            !0xfff
        );
        // §7.3.6 F_BAD_ATS_TREQ (the figure's text in the G.b edition): R [95],
        // W [94], X [93], PRIV [92], Span [67:64], InputAddr[63:12] [191:140].
        let w1 = |n| at("F_BAD_ATS_TREQ", n, t)[1];
        assert_eq!(
            [w1("read"), w1("write"), w1("exec"), w1("priv")],
            [1 << 31, 1 << 30, 1 << 29, 1 << 28]
        );
        assert_eq!(
            at("F_BAD_ATS_TREQ", "span", FieldValue::Uint(0xf)),
            [5, 0xf, 0, 0]
        );
        assert_eq!(
            at("F_BAD_ATS_TREQ", "input_addr", FieldValue::Uint(!0xfff)),
            [5, 0, !0xfff, 0]
        );
        // §7.3.8 F_TRANSL_FORBIDDEN RnW [99]; §7.3.9 C_BAD_SUBSTREAMID has no SSV.
        assert_eq!(at("F_TRANSL_FORBIDDEN", "rnw", t), [7, 1 << 35, 0, 0]);
        assert!(
            EventRecord::from_fields("C_BAD_SUBSTREAMID", &mut [("ssv", t)].into_iter(), 4)
                .is_err()
        );
        // §7.3.21 IMPDEF_EVENTn: 0xE0 + n.
        assert_eq!(at("IMPDEF_EVENT", "n", FieldValue::Uint(0xf))[0], 0xef);
    }

    /// Decode errors are typed: unknown numbers, reserved bits, CLASS 3,
    /// length.
    #[test]
    fn invalid_records_are_typed_errors() {
        use iommu_inval_core::ErrorKind::*;
        let kind = |w: &[u64]| EventRecord::decode(w).map(|_| ()).map_err(|e| e.kind);
        for id in [0u64, 0x0c, 0x0f, 0x14, 0x22, 0x23, 0x26, 0xd0, 0xf0, 0xff] {
            assert_eq!(kind(&[id, 0, 0, 0]), Err(UnknownOpcode), "{id:#x}");
        }
        assert_eq!(kind(&[0x04 | 1 << 8, 0, 0, 0]), Err(ReservedBits));
        assert_eq!(kind(&[0x06 | 1 << 11, 0, 0, 0]), Err(ReservedBits));
        assert_eq!(kind(&[0x10, 1 << 63, 0, 0]), Err(ReservedBits));
        assert_eq!(kind(&[0x10, 0, 0, 1 << 63]), Err(ReservedBits));
        assert_eq!(kind(&[0x10, 3 << 40, 0, 0]), Err(InvalidField));
        // F_BAD_ATS_TREQ: [91:68], [139:128] and words 3 are RES0.
        for w in [
            [5, 1 << 4, 0, 0],
            [5, 1 << 27, 0, 0],
            [5, 0, 0x800, 0],
            [5, 0, 0, 1],
        ] {
            assert_eq!(kind(&w), Err(ReservedBits), "{w:x?}");
        }
        assert_eq!(kind(&[0x10, 0, 0]), Err(BadLength));
        assert!(EventRecord::decode(&[0xffff_ffff_ffff_ffe7, !0, !0, !0]).is_ok());
    }

    /// Words of record type `l` with its fields drawn from `bits` (no
    /// reserved bit set; CLASS may be the Reserved 0b11).
    fn random_words(l: &Layout, bits: &mut impl FnMut() -> u64) -> [u64; 4] {
        let mut w = [0; 4];
        for (k, x) in w.iter_mut().enumerate() {
            *x = bits() & l.valid(k, NUMBER);
        }
        w[0] = (w[0] & !0xff) | u64::from(l.code);
        w
    }

    /// R1 on many records of every type: decode ∘ encode = id on words,
    /// and the named fields rebuild the same record.
    #[test]
    fn r1_every_event_type() {
        let mut rnd = iommu_inval_core::arb::xorshift(0x2545_f491_4f6c_dd1d);
        let mut seen = [0u32; 256];
        let evs = events();
        for i in 0..200_000u64 {
            let l = &evs[(i % evs.len() as u64) as usize];
            let w = random_words(l, &mut rnd);
            let Ok(r) = EventRecord::decode(&w) else {
                assert_eq!(CLASS.get(&w), 3);
                continue;
            };
            seen[usize::from(w[0] as u8)] += 1;
            let mut out = [0; 4];
            assert_eq!(r.encode_into(&mut out), Ok(4));
            assert_eq!(out, w);
            assert_eq!(rebuilt(&r), r);
            assert_eq!(r.validate(), Ok(()));
        }
        for l in &evs {
            assert!(seen[usize::from(l.code)] > 1000, "{}", l.name);
        }
    }

    /// Every record that lifts lowers back to itself (up to its UNKNOWN
    /// fields), and the lowered record lifts to the same event; the others
    /// are the records with no neutral meaning.
    #[test]
    fn lift_and_lower_round_trip() {
        let mut rnd = iommu_inval_core::arb::xorshift(0x6a09_e667_f3bc_c909);
        let (mut lifted, mut refused) = (0, 0);
        let evs = events();
        for i in 0..100_000u64 {
            let l = &evs[(i % evs.len() as u64) as usize];
            let mut sparse = || rnd() & rnd();
            let w = random_words(l, &mut sparse);
            let Ok(r) = EventRecord::decode(&w) else {
                continue;
            };
            match Smmuv3::lift_record(&Record::Event(r), &IdentityContext) {
                Ok(ev) => {
                    lifted += 1;
                    let back = Smmuv3::lower_record(&ev, &IdentityContext).unwrap();
                    assert_eq!(back, Record::Event(canonical(r)), "{}", r.op());
                    assert_eq!(Smmuv3::lift_record(&back, &IdentityContext), Ok(ev));
                }
                Err(_) => {
                    assert!(matches!(l.code, 0x24 | 0xe0), "{}", l.name);
                    refused += 1;
                }
            }
        }
        assert!(lifted > 80_000 && refused > 5_000, "{lifted} {refused}");
    }

    /// `r` without its UNKNOWN fields (what a lift does not keep):
    /// SubstreamID without SSV, STAG without Stall, TTRnW outside CLASS = TT.
    fn canonical(r: EventRecord) -> EventRecord {
        let mut w = [0u64; 4];
        w.copy_from_slice(r.words());
        let l = events().into_iter().find(|l| l.name == r.op()).unwrap();
        if l.has(SSV) && SSV.get(&w) == 0 {
            SSID.put(&mut w, 0);
        }
        if l.has(STALL) && STALL.get(&w) == 0 {
            STAG.put(&mut w, 0);
        }
        if l.has(TTRNW) && CLASS.get(&w) != 1 {
            TTRNW.put(&mut w, 0);
        }
        EventRecord::decode(&w).unwrap()
    }

    #[test]
    fn lift_maps_the_device_and_reports_what_cannot_be_lowered() {
        // The guest sees pSID 0x300 as vSID 8, and nothing else.
        let guest = iommu_inval_core::context::Topology::from_json(
            r#"{"iommufd": {"vdevices": [{"vsid": 8, "psid": 768}]}}"#,
        )
        .unwrap();
        // F_TRANSLATION, sid 0x300, ssid 3, stage 2 write at 0x1000, IPA 0x5000, stalled with tag 9.
        let w = [0x0000_0300_0000_3810, 0x0000_0280_8000_0009, 0x1000, 0x5000];
        let r = EventRecord::decode(&w).unwrap();
        let Ok(Event::Fault(f)) = lift_event(&r, &guest) else {
            panic!()
        };
        let FaultKind::Translation(t) = f.kind else {
            panic!()
        };
        assert_eq!(
            (f.device, f.pasid, t.ipa, t.stall, t.stage),
            (8, Some(3), Some(0x5000), Some(9), Stages::S2)
        );
        let Some(x) = f.transaction else { panic!() };
        assert_eq!(x.addr, 0x1000);
        assert!(x.access.write && !x.access.read);
        assert_eq!(t.during, During::Input);
        let unknown = EventRecord::decode(&[0x0000_0301_0000_0004, 0, 0, 0]).unwrap();
        assert!(matches!(
            lift_event(&unknown, &guest),
            Err(LowerError::NoEquivalent(_))
        ));
        // What the record cannot hold: a PASID wider than 20 bits, a fault
        // of no stage, an unaligned IPA, a lost event.
        let with = |t2: Translation| Fault {
            kind: FaultKind::Translation(t2),
            ..f
        };
        let bad = [
            Fault {
                pasid: Some(1 << 20),
                ..f
            },
            with(Translation {
                stage: Stages::empty(),
                ..t
            }),
            with(Translation {
                ipa: Some(0x5001),
                ..t
            }),
        ];
        for b in bad {
            assert!(lower_event(&Event::Fault(b)).is_err(), "{b:?}");
        }
        assert!(lower_event(&Event::Lost).is_err());
    }

    /// `f` with its native code moved to VT-d's does not lower: an event
    /// named only by its number is written only from its own.
    fn not_from_another_architecture(f: Fault) -> bool {
        let native = NativeCode {
            arch: ArchId::Vtd,
            ..f.native
        };
        lower_event(&Event::Fault(Fault { native, ..f })).is_err()
    }

    /// F_BAD_ATS_TREQ (§7.3.6) lifts as a configuration fault named by its
    /// number, the ATS Translation Request as the transaction (its R, W, X
    /// and PRIV as the access, InputAddr the page) and Span as the detail;
    /// it lowers back to the same words; another architecture's `Other`
    /// fault does not become one.
    #[test]
    fn bad_ats_treq_lifts_and_lowers() {
        // StreamID 0x10, SubstreamID 3, R W PRIV, Span 2, page 0x8000_1000.
        let w = [0x0000_0010_0000_3805, 0xd000_0002, 0x8000_1000, 0];
        let r = EventRecord::decode(&w).unwrap();
        let ev = lift_event(&r, &IdentityContext).unwrap();
        let Event::Fault(f) = ev else { panic!() };
        assert_eq!(
            (f.device, f.pasid, f.kind, f.fetch_addr),
            (0x10, Some(3), FaultKind::Config(ConfigReason::Other), None)
        );
        let access = Access {
            read: true,
            write: true,
            exec: false,
            privileged: true,
        };
        assert_eq!(
            f.transaction,
            Some(Transaction {
                addr: 0x8000_1000,
                access
            })
        );
        assert_eq!((f.native.code, f.native.detail), (5, 2));
        let Ok(Record::Event(back)) = lower_event(&ev) else {
            panic!()
        };
        assert_eq!(back.words(), &w);
        assert!(not_from_another_architecture(f));
    }

    /// F_TLB_CONFLICT (§7.3.17): no text places its words 1–3, but its
    /// StreamID, SSV and SubstreamID are every event's (w0). It lifts with
    /// what is known (the device, the PASID when SSV, a fault named by its
    /// number), its words 1–3 kept in the native code, and lowers back to
    /// the same words from them, with the guest's StreamID.
    #[test]
    fn tlb_conflict_lifts_and_lowers_from_its_kept_words() {
        let guest = iommu_inval_core::context::Topology::from_json(
            r#"{"iommufd": {"vdevices": [{"vsid": 8, "psid": 768}]}}"#,
        )
        .unwrap();
        // StreamID 0x300, SSV, SubstreamID 3; words 1–3 as the SMMU wrote them.
        let raw = [0x0123_4567_89ab_cdef, 0x8000_1000, 0x00ff_0000_0000_5000];
        let w = [0x0000_0300_0000_3820, raw[0], raw[1], raw[2]];
        let ev = lift_event(&EventRecord::decode(&w).unwrap(), &guest).unwrap();
        let Event::Fault(f) = ev else { panic!() };
        assert_eq!(
            (f.device, f.pasid, f.kind, f.transaction, f.fetch_addr),
            (
                8,
                Some(3),
                FaultKind::Config(ConfigReason::Other),
                None,
                None
            )
        );
        assert_eq!(
            (f.native.arch, f.native.code, f.native.detail, f.native.raw),
            (ArchId::Smmuv3, 0x20, 0, raw)
        );
        let Ok(Record::Event(back)) = lower_event(&ev) else {
            panic!()
        };
        assert_eq!(
            back.words(),
            &[0x0000_0008_0000_3820, raw[0], raw[1], raw[2]]
        );
        // Without SSV: no PASID (the SubstreamID is UNKNOWN).
        let w = [0x0000_0300_0000_3020, 1, 2, 3];
        let Ok(Event::Fault(f)) = lift_event(&EventRecord::decode(&w).unwrap(), &guest) else {
            panic!()
        };
        assert_eq!((f.pasid, f.native.raw), (None, [1, 2, 3]));
        // Another architecture's fault keeps no words for it: it does not
        // become one.
        assert!(not_from_another_architecture(f));
    }

    /// The event queue: records in order, a full queue flags the overflow
    /// once (PROD.OVFLG toggled) and goes on delivering after the guest
    /// consumes; a stall record is kept, not discarded; a disabled queue
    /// discards without overflow. The PRI queue discards everything while
    /// the overflow is unacknowledged. Interrupts: the event queue on empty
    /// to non-empty (§3.18.2), with EVENTQ_IRQEN.
    #[test]
    fn guest_queues_produce_with_smmu_overflow_rules() {
        use iommu_inval_core::device::ProduceError;
        use iommu_inval_core::event::Fate::*;
        use iommu_inval_core::{CellMemory, QueueMemory};
        let mut bytes = [0u8; 0x200];
        let mem = CellMemory::new(0x1000, &mut bytes);
        let rec = |sid: u64| EventRecord::decode(&[sid << 32 | 4, 0, 0, 0]).unwrap();
        // Two slots of 32 bytes at 0x1000.
        let mut q = GuestQueue::<EventRecord>::new(0x1000 | 1, 0, 0, true);
        q.irqen = true;
        let offer = |q: &mut GuestQueue<EventRecord>, sid, keep| {
            q.offer(&mem, &rec(sid), keep)
                .map(|d| (d.fate, d.interrupt, d.response))
        };
        assert_eq!(offer(&mut q, 1, false), Ok((Written, true, None)));
        assert_eq!(offer(&mut q, 2, false), Ok((Written, false, None)));
        assert_eq!(q.prod, 0b10); // wrap bit set, index 0: full
        assert_eq!(offer(&mut q, 3, true), Err(ProduceError::Full));
        assert_eq!(q.prod & OVFLG, 0);
        let full = |flagged| Ok((Full { flagged }, false, None));
        assert_eq!(offer(&mut q, 3, false), full(true));
        assert_eq!(q.prod, OVFLG | 0b10);
        assert!(q.overflow_pending());
        assert_eq!(offer(&mut q, 4, false), full(false));
        assert_eq!(q.prod, OVFLG | 0b10); // toggled once
        let mut w = [0u64; 4];
        mem.read_words(0x1020, &mut w).unwrap();
        assert_eq!(w, [2 << 32 | 4, 0, 0, 0]);
        // The guest consumes one slot without acknowledging: still delivered.
        q.cons = 0b01;
        assert_eq!(offer(&mut q, 5, false), Ok((Written, false, None)));
        mem.read_words(0x1000, &mut w).unwrap();
        assert_eq!(w[0] >> 32, 5);
        q.cons = OVFLG | 0b11;
        assert!(!q.overflow_pending());
        q.enabled = false;
        assert_eq!(offer(&mut q, 6, false), Ok((Disabled, false, None)));
        assert_eq!(q.prod, OVFLG | 0b11);
        // Empty again, interrupts disabled: written, no interrupt.
        (q.enabled, q.irqen) = (true, false);
        assert_eq!(offer(&mut q, 7, false), Ok((Written, false, None)));

        // PRI queue: two 16-byte slots at 0x1100.
        let ppr = |g: u64| crate::pri::PriRecord::decode(&[1 << 62 | 0x10, g]).unwrap();
        let mut p = GuestQueue::<crate::pri::PriRecord>::new(0x1100 | 1, 0, 0, true);
        let fate = |p: &mut GuestQueue<_>, g| p.offer(&mem, &ppr(g), false).unwrap().fate;
        assert_eq!(fate(&mut p, 1), Written);
        assert_eq!(fate(&mut p, 2), Written);
        assert_eq!(fate(&mut p, 3), Full { flagged: true });
        p.cons = 0b10; // consumed both, overflow not acknowledged
        assert_eq!(fate(&mut p, 4), Overflowed);
        p.cons = OVFLG | 0b10;
        assert_eq!(fate(&mut p, 5), Written);
        let mut w2 = [0u64; 2];
        mem.read_words(0x1100, &mut w2).unwrap();
        assert_eq!(w2, [1 << 62 | 0x10, 5]);
    }

    /// SMMU_PRIQ_IRQ_CFG2.LO and the automatic PRG responses (§6.3.36,
    /// §8.1, §8.2): with LO, only a message with Last interrupts, written
    /// or discarded by an overflow; a last request discarded by an overflow
    /// is answered Success (PASID echoed), a request with Last = 0 gets
    /// nothing (§8.1); with PRIQEN = 0 or a failed write every request,
    /// Last or not, is answered Failure without a PASID (§8.2: "All
    /// incoming PPRs"); a Stop Marker never gets a response.
    #[test]
    fn pri_queue_interrupts_and_automatic_responses() {
        use iommu_inval_core::CellMemory;
        use std::{format, string::ToString};
        let mut bytes = [0u8; 0x100];
        let mem = CellMemory::new(0x1000, &mut bytes);
        // SID 0x10, SSV, SSID 3; `lwr` = Last, Write, Read; group 5.
        let pri = |lwr: u64| {
            crate::pri::PriRecord::decode(&[1 << 63 | lwr << 60 | 3 << 32 | 0x10, 0x4000 | 5])
                .unwrap()
        };
        let mut p = GuestQueue::<crate::pri::PriRecord>::new(0x1000 | 1, 0, 0, true);
        (p.irqen, p.last_only) = (true, true);
        let go = |p: &mut GuestQueue<_>, lwr| p.offer(&mem, &pri(lwr), false).unwrap().to_string();
        assert_eq!(go(&mut p, 0b001), "written");
        assert_eq!(go(&mut p, 0b101), "written, interrupt");
        let ok = ", owed Success to device 0x10 PASID 3 group 5";
        let full = "dropped: queue full, overflow raised, interrupt";
        assert_eq!(go(&mut p, 0b101), format!("{full}{ok}"));
        assert_eq!(go(&mut p, 0b001), "dropped: overflow pending");
        // A Stop Marker: the interrupt (Last), no response.
        assert_eq!(go(&mut p, 0b100), "dropped: overflow pending, interrupt");
        assert_eq!(
            go(&mut p, 0b110),
            format!("dropped: overflow pending, interrupt{ok}")
        );
        p.enabled = false;
        let failure = "dropped: queue disabled, owed Failure to device 0x10 group 5";
        assert_eq!(go(&mut p, 0b111), failure);
        assert_eq!(go(&mut p, 0b011), failure);
        assert_eq!(go(&mut p, 0b100), "dropped: queue disabled");
        // A write that aborts (the queue outside memory), then PRIQ_ABT_ERR
        // active: Failure, Last or not.
        let mut a = GuestQueue::<crate::pri::PriRecord>::new(0x9000 | 1, 0, 0, true);
        for (lwr, aborts) in [(0b001, true), (0b101, false)] {
            let d = a.offer(&mem, &pri(lwr), false).unwrap();
            use iommu_inval_core::event::Fate::{Aborted, Stopped};
            assert!(matches!(d.fate, Aborted(_)) == aborts && (aborts || d.fate == Stopped));
            let r = d.response.unwrap();
            assert_eq!(
                (r.device, r.pasid, r.prg_index, r.code),
                (0x10, None, 5, iommu_inval_core::model::RespCode::Failure)
            );
        }
        // LO = 0: the interrupt is the empty → non-empty transition.
        let mut e = GuestQueue::<crate::pri::PriRecord>::new(0x1000 | 1, 0, 0, true);
        e.irqen = true;
        assert_eq!(go(&mut e, 0b001), "written, interrupt");
        assert_eq!(go(&mut e, 0b101), "written");
    }
}
