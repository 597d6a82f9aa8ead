//! SMMUv3 event queue records (IHI0070 §7.3): 32 bytes, four little-endian
//! 64-bit words, the event number in `w0[7:0]`; their codec on
//! [`NativeCommand`](iommu_inval_core::NativeCommand) (op names = the spec's event names, `F_TRANSLATION`,
//! `C_BAD_STE`, `E_PAGE_REQUEST`, ...) and their lift and lower
//! ([`EventArch`] for [`Smmuv3`], with the PRI queue's records of
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
//! `[80]`). The figures of F_BAD_ATS_TREQ and F_TLB_CONFLICT are lost and
//! no driver writes them: their words 1 to 3 are kept raw (`w1`..`w3`),
//! as are the IMPDEF events 0xE0–0xEF (§7.3.21). NSIPA (§7.3, figure
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
use iommu_inval_core::arch::EventArch;
use iommu_inval_core::event::RecordQueue;
use iommu_inval_core::event::{
    Access, ConfigReason, During, Event, Fault, FaultKind, FaultReason, NativeCode, Record,
    Transaction, Translation,
};
use iommu_inval_core::native::word;
use iommu_inval_core::ring::Ring;
use iommu_inval_core::{ArchId, Context, DecodeError, FieldError, FieldValue, LowerError, Stages};

/// How a record field's value is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// An unsigned value (shifted down).
    Uint,
    /// One bit.
    Bool,
    /// A byte address: the word masked, not shifted.
    Addr,
}

/// One field of a record: `width` bits of word `word` from bit `lo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fd {
    pub(crate) name: &'static str,
    pub(crate) word: u8,
    pub(crate) lo: u8,
    pub(crate) width: u8,
    pub(crate) kind: Kind,
}

impl Fd {
    pub(crate) const fn new(name: &'static str, word: u8, lo: u8, width: u8, kind: Kind) -> Fd {
        Fd {
            name,
            word,
            lo,
            width,
            kind,
        }
    }
    /// The field's bits in its word.
    pub(crate) const fn mask(&self) -> u64 {
        word::mask((self.lo + self.width - 1) as u32, self.lo as u32)
    }
    /// The field's value in `w` (0 when `w` has no such word).
    pub(crate) fn get(&self, w: &[u64]) -> u64 {
        let v = w.get(usize::from(self.word)).copied().unwrap_or(0) & self.mask();
        match self.kind {
            Kind::Addr => v,
            _ => v >> self.lo,
        }
    }
    /// Whether `v` fits the field.
    pub(crate) const fn fits(&self, v: u64) -> bool {
        match self.kind {
            Kind::Addr => v & !self.mask() == 0,
            _ => v <= self.mask() >> self.lo,
        }
    }
    /// Write `v` into the field (its bits outside the field cut).
    pub(crate) fn put(&self, w: &mut [u64], v: u64) {
        if let Some(x) = w.get_mut(usize::from(self.word)) {
            let bits = match self.kind {
                Kind::Addr => v,
                _ => v << self.lo,
            };
            *x = (*x & !self.mask()) | (bits & self.mask());
        }
    }
}

/// One record type: its code (the event number; unused for a PRI entry),
/// name and fields in table order.
#[derive(Debug)]
pub(crate) struct Layout {
    pub(crate) code: u8,
    pub(crate) name: &'static str,
    pub(crate) fields: &'static [Fd],
    pub(crate) names: &'static [&'static str],
}

impl Layout {
    /// The bits the record may set in word `i` (`fixed`: bits every
    /// record of the format sets, the event number).
    pub(crate) fn valid(&self, i: usize, fixed: [u64; 4]) -> u64 {
        self.fields
            .iter()
            .filter(|f| usize::from(f.word) == i)
            .fold(fixed.get(i).copied().unwrap_or(0), |m, f| m | f.mask())
    }
    /// Whether the record type has field `f`.
    pub(crate) fn has(&self, f: Fd) -> bool {
        self.fields.contains(&f)
    }
    /// The first word with a bit no field covers: `reserved_bits`.
    pub(crate) fn check_reserved(&self, w: &[u64], fixed: [u64; 4]) -> Result<(), DecodeError> {
        for (i, x) in w.iter().enumerate() {
            let r = x & !self.valid(i, fixed);
            if r != 0 {
                return Err(DecodeError::reserved(i as u8, r));
            }
        }
        Ok(())
    }
    /// Visit each field's value.
    pub(crate) fn visit(&self, w: &[u64], f: &mut dyn FnMut(&'static str, FieldValue)) {
        for d in self.fields {
            let v = d.get(w);
            f(
                d.name,
                if d.kind == Kind::Bool {
                    FieldValue::Bool(v != 0)
                } else {
                    FieldValue::Uint(v)
                },
            );
        }
    }
    /// Write named `fields` into `w` (each one of this type's, within its
    /// width).
    pub(crate) fn set_fields(
        &self,
        w: &mut [u64],
        fields: &mut dyn Iterator<Item = (&str, FieldValue)>,
    ) -> Result<(), FieldError> {
        for (name, value) in fields {
            let d = self
                .fields
                .iter()
                .find(|d| d.name == name)
                .ok_or(FieldError::UnknownField(
                    "(not a field of this record type)",
                ))?;
            let v = match (value, d.kind) {
                (FieldValue::Bool(b), Kind::Bool) => u64::from(b),
                (FieldValue::Uint(v), _) => v,
                _ => return Err(FieldError::TooWide(d.name)),
            };
            if !d.fits(v) {
                return Err(FieldError::TooWide(d.name));
            }
            d.put(w, v);
        }
        Ok(())
    }
    /// Lowering: write `v` into field `f` when the record type has it; a
    /// non-zero value for a field it lacks, or one too wide, is
    /// `NoEquivalent` (nothing dropped, nothing truncated).
    pub(crate) fn lower_field(
        &self,
        w: &mut [u64],
        f: Fd,
        v: u64,
        why: &'static str,
    ) -> Result<(), LowerError> {
        if self.has(f) && f.fits(v) {
            f.put(w, v);
            Ok(())
        } else if v == 0 {
            Ok(())
        } else {
            Err(LowerError::NoEquivalent(why))
        }
    }
}

/// Declares a table of [`Layout`]s and the list of their names.
macro_rules! layouts {
    ($(#[$m:meta])* $table:ident, $names:ident: $( $code:literal $name:literal [$($f:ident),* $(,)?] ),* $(,)?) => {
        $(#[$m])*
        pub(crate) const $table: &[Layout] = &[ $(
            Layout { code: $code, name: $name, fields: &[$($f),*], names: &[$($f.name),*] },
        )* ];
        /// Every record type's name, in table order.
        pub(crate) const $names: &[&str] = &[$($name),*];
    };
}
pub(crate) use layouts;

/// The [`NativeCommand`](iommu_inval_core::NativeCommand) of a record type
/// `$t` of `$n` words (a struct of validated words `w`, with
/// `decode_words` and `layout`), whose layouts are `$table`: every
/// record family of the crate is the same codec over its table.
macro_rules! record_codec {
    ($t:ident, $n:literal, $table:ident, $names:ident) => {
        iommu_inval_core::native_command! {
            $t: iommu_inval_core::ArchId::Smmuv3, crate::Features, |_rec, _features| Ok(());
            op_names $names;

            fn decode(words: &[u64]) -> Result<Self, DecodeError> {
                let w: [u64; $n] = words
                    .try_into()
                    .map_err(|_| DecodeError::bad_length(words.len()))?;
                Self::decode_words(w)
            }
            fn words(&self) -> usize {
                $n
            }
            fn encode_into(&self, out: &mut [u64]) -> Result<usize, DecodeError> {
                let len = out.len();
                let dst = out.get_mut(..$n).ok_or(DecodeError::bad_length(len))?;
                dst.copy_from_slice(&self.w);
                Ok($n)
            }
            fn op(&self) -> &'static str {
                self.layout().map_or("", |l| l.name)
            }
            fn for_each_field(&self, f: &mut dyn FnMut(&'static str, FieldValue)) {
                if let Some(l) = self.layout() {
                    l.visit(&self.w, f);
                }
            }
            fn field_names(op: &str) -> Option<&'static [&'static str]> {
                $table.iter().find(|l| l.name == op).map(|l| l.names)
            }
            fn from_fields(
                op: &str,
                fields: &mut dyn Iterator<Item = (&str, FieldValue)>,
                words: usize,
            ) -> Result<Self, FieldError> {
                let l = $table.iter().find(|l| l.name == op).ok_or(FieldError::UnknownOp)?;
                if words != $n {
                    return Err(FieldError::Invalid(DecodeError::bad_length(words)));
                }
                let mut w = [0; $n];
                w[0] = u64::from(l.code);
                l.set_fields(&mut w, fields)?;
                Self::decode_words(w).map_err(FieldError::Invalid)
            }
        }
    };
}
pub(crate) use record_codec;

// The fields of the event records (IHI0070 §7.3; `w<n>[hi:lo]`).
/// SSV `w0[11]`.
const SSV: Fd = Fd::new("ssv", 0, 11, 1, Kind::Bool);
/// SubstreamID `w0[31:12]`.
const SSID: Fd = Fd::new("ssid", 0, 12, 20, Kind::Uint);
/// StreamID `w0[63:32]`.
const SID: Fd = Fd::new("sid", 0, 32, 32, Kind::Uint);
/// IMPDEF events: `w0[63:8]` (the number's low nibble apart).
const IMPDEF0: Fd = Fd::new("w0", 0, 8, 56, Kind::Uint);
/// IMPDEF events: `n` of IMPDEF_EVENTn, `w0[3:0]` (the number is 0xE0 + n).
const IMPDEF_N: Fd = Fd::new("n", 0, 0, 4, Kind::Uint);
/// STAG `w1[15:0]` (Linux `EVTQ_1_STAG`).
const STAG: Fd = Fd::new("stag", 1, 0, 16, Kind::Uint);
/// Reason (IMPLEMENTATION DEFINED) `[79:64]` of F_UUT and the fetch events.
const REASON: Fd = Fd::new("reason", 1, 0, 16, Kind::Uint);
/// GPCF `[80]` (the F_STE_FETCH / F_VMS_FETCH figures).
const GPCF: Fd = Fd::new("gpcf", 1, 16, 1, Kind::Bool);
/// Reason (IMPLEMENTATION DEFINED) `[95:64]` of F_CFG_CONFLICT.
const REASON32: Fd = Fd::new("reason", 1, 0, 32, Kind::Uint);
/// Stall `w1[31]` (Linux `EVTQ_1_STALL`).
const STALL: Fd = Fd::new("stall", 1, 31, 1, Kind::Bool);
/// PnU `[97]`.
const PNU: Fd = Fd::new("pnu", 1, 33, 1, Kind::Bool);
/// InD `[98]`.
const IND: Fd = Fd::new("ind", 1, 34, 1, Kind::Bool);
/// RnW `[99]` (1 = read).
const RNW: Fd = Fd::new("rnw", 1, 35, 1, Kind::Bool);
/// S2 `[103]` (Linux `EVTQ_1_S2`).
const S2: Fd = Fd::new("s2", 1, 39, 1, Kind::Bool);
/// CLASS `[105:104]` (Linux `EVTQ_1_CLASS`).
const CLASS: Fd = Fd::new("class", 1, 40, 2, Kind::Uint);
/// TTRnW `[108]` of F_PERMISSION (Linux `EVTQ_1_TT_READ`).
const TTRNW: Fd = Fd::new("ttrnw", 1, 44, 1, Kind::Bool);
/// E_PAGE_REQUEST uX `[97]`, uW `[98]`, uR `[99]`, pX `[101]`, pW `[102]`,
/// pR `[103]`, Span `[115:108]` (§7.3.19).
const UX: Fd = Fd::new("ux", 1, 33, 1, Kind::Bool);
const UW: Fd = Fd::new("uw", 1, 34, 1, Kind::Bool);
const UR: Fd = Fd::new("ur", 1, 35, 1, Kind::Bool);
const PX: Fd = Fd::new("px", 1, 37, 1, Kind::Bool);
const PW: Fd = Fd::new("pw", 1, 38, 1, Kind::Bool);
const PR: Fd = Fd::new("pr", 1, 39, 1, Kind::Bool);
const SPAN: Fd = Fd::new("span", 1, 44, 8, Kind::Uint);
/// InputAddr `[191:128]`.
const INPUT_ADDR: Fd = Fd::new("input_addr", 2, 0, 64, Kind::Uint);
/// E_PAGE_REQUEST InputAddr\[63:12\] `[191:140]`.
const PAGE_ADDR: Fd = Fd::new("input_addr", 2, 12, 52, Kind::Addr);
/// IPA\[55:12\] `[247:204]` (Linux `EVTQ_3_IPA`; "IPA bits \[55:OAS\] are RES0").
const IPA: Fd = Fd::new("ipa", 3, 12, 44, Kind::Addr);
/// FetchAddr\[55:3\] `[247:195]` (the F_STE_FETCH figure).
const FETCH_ADDR: Fd = Fd::new("fetch_addr", 3, 3, 53, Kind::Addr);
/// Raw words of the events whose figure is lost.
const RAW1: Fd = Fd::new("w1", 1, 0, 64, Kind::Uint);
const RAW2: Fd = Fd::new("w2", 2, 0, 64, Kind::Uint);
const RAW3: Fd = Fd::new("w3", 3, 0, 64, Kind::Uint);

layouts! {
    /// The event types of IHI0070 §7.3, by number.
    EVENTS, EVENT_NAMES:
    0x01 "F_UUT" [SSV, SSID, SID, REASON, PNU, IND, RNW, INPUT_ADDR],
    0x02 "C_BAD_STREAMID" [SSV, SSID, SID],
    0x03 "F_STE_FETCH" [SSV, SSID, SID, REASON, GPCF, FETCH_ADDR],
    0x04 "C_BAD_STE" [SSV, SSID, SID],
    0x05 "F_BAD_ATS_TREQ" [SSV, SSID, SID, RAW1, RAW2, RAW3],
    0x06 "F_STREAM_DISABLED" [SID],
    0x07 "F_TRANSL_FORBIDDEN" [SID, RNW, INPUT_ADDR],
    0x08 "C_BAD_SUBSTREAMID" [SSID, SID],
    0x09 "F_CD_FETCH" [SSV, SSID, SID, REASON, GPCF, FETCH_ADDR],
    0x0a "C_BAD_CD" [SSV, SSID, SID],
    0x0b "F_WALK_EABT" [SSV, SSID, SID, REASON, GPCF, PNU, IND, RNW, S2, CLASS, INPUT_ADDR, FETCH_ADDR],
    0x10 "F_TRANSLATION" [SSV, SSID, SID, STAG, STALL, PNU, IND, RNW, S2, CLASS, INPUT_ADDR, IPA],
    0x11 "F_ADDR_SIZE" [SSV, SSID, SID, STAG, STALL, PNU, IND, RNW, S2, CLASS, INPUT_ADDR, IPA],
    0x12 "F_ACCESS" [SSV, SSID, SID, STAG, STALL, PNU, IND, RNW, S2, CLASS, INPUT_ADDR, IPA],
    0x13 "F_PERMISSION" [SSV, SSID, SID, STAG, STALL, PNU, IND, RNW, S2, CLASS, TTRNW, INPUT_ADDR, IPA],
    0x20 "F_TLB_CONFLICT" [SSV, SSID, SID, RAW1, RAW2, RAW3],
    0x21 "F_CFG_CONFLICT" [SSV, SSID, SID, REASON32],
    0x24 "E_PAGE_REQUEST" [SSV, SSID, SID, UX, UW, UR, PX, PW, PR, SPAN, PAGE_ADDR],
    0x25 "F_VMS_FETCH" [SSV, SSID, SID, REASON, GPCF, FETCH_ADDR],
    0xe0 "IMPDEF_EVENT" [IMPDEF_N, IMPDEF0, RAW1, RAW2, RAW3],
}

/// The event number `w0[7:0]`, set in every record.
const NUMBER: [u64; 4] = [0xff, 0, 0, 0];

/// The layout of event number `id`: IMPDEF_EVENTn for 0xE0–0xEF.
fn layout_of(id: u8) -> Option<&'static Layout> {
    let code = if id & 0xf0 == 0xe0 { 0xe0 } else { id };
    EVENTS.iter().find(|l| l.code == code)
}

/// One SMMUv3 event record (IHI0070 §7.3), as validated words: read and
/// build it by field name ([`NativeCommand`](iommu_inval_core::NativeCommand)) or through the model
/// ([`EventArch`]: [`Smmuv3::lift_record`](EventArch::lift_record) /
/// [`lower_record`](EventArch::lower_record)).
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EventRecord {
    w: [u64; 4],
}

impl EventRecord {
    fn layout(&self) -> Option<&'static Layout> {
        layout_of(self.w[0] as u8)
    }
    fn get(&self, f: Fd) -> u64 {
        f.get(&self.w)
    }
    fn decode_words(w: [u64; 4]) -> Result<Self, DecodeError> {
        let id = w[0] as u8;
        let l = layout_of(id).ok_or(DecodeError::unknown_opcode(u64::from(id)))?;
        l.check_reserved(&w, NUMBER)?;
        if l.has(CLASS) && CLASS.get(&w) == 3 {
            return Err(DecodeError::invalid(1, CLASS.mask(), "class"));
        }
        Ok(EventRecord { w })
    }
}

record_codec!(EventRecord, 4, EVENTS, EVENT_NAMES);

/// The record's device as the guest's (`NoEquivalent` when the guest does
/// not see it).
pub(crate) fn guest_device<C: Context + ?Sized>(ctx: &C, sid: u64) -> Result<u32, LowerError> {
    ctx.guest_device(sid as u32)
        .ok_or(LowerError::NoEquivalent("device not seen by the guest"))
}

/// The SubstreamID of a PASID (`NoEquivalent` beyond 20 bits).
pub(crate) fn ssid_of(pasid: Option<u32>) -> Result<(bool, u64), LowerError> {
    match pasid {
        None => Ok((false, 0)),
        Some(p) if p < 1 << 20 => Ok((true, u64::from(p))),
        Some(_) => Err(LowerError::NoEquivalent("PASID wider than a SubstreamID")),
    }
}

/// The access of RnW / InD / PnU: a read or a write, never both.
fn access_of(r: &EventRecord) -> Access {
    let read = r.get(RNW) != 0;
    Access {
        read,
        write: !read,
        exec: r.get(IND) != 0,
        privileged: r.get(PNU) != 0,
    }
}

/// The native detail of an event: its Reason, with GPCF as bit 16 where
/// the event has one.
fn detail_of(r: &EventRecord, l: &Layout) -> u32 {
    let field = |f: Fd| if l.has(f) { r.get(f) } else { 0 };
    (field(REASON32) | field(REASON) | (field(GPCF) << 16)) as u32
}

/// A host event record → the model (see [`EventArch`]).
fn lift_event<C: Context + ?Sized>(r: &EventRecord, ctx: &C) -> Result<Event, LowerError> {
    let l = r
        .layout()
        .ok_or(LowerError::Invalid("not a decoded event record"))?;
    let device = guest_device(ctx, r.get(SID))?;
    let pasid = if l.has(SSV) {
        (r.get(SSV) != 0).then_some(r.get(SSID) as u32)
    } else if l.has(SSID) {
        Some(r.get(SSID) as u32)
    } else {
        None
    };
    let translation = |reason| {
        let s2 = r.get(S2) != 0;
        FaultKind::Translation(Translation {
            stage: if s2 { Stages::S2 } else { Stages::S1 },
            reason,
            during: match r.get(CLASS) {
                0 => During::ConfigFetch,
                1 => During::TableWalk {
                    write: l.has(TTRNW) && r.get(TTRNW) == 0,
                },
                _ => During::Input,
            },
            // UNKNOWN without S2, but kept when written, so that a record
            // lifted and lowered comes back the same.
            ipa: (l.has(IPA) && (s2 || r.get(IPA) != 0)).then_some(r.get(IPA)),
            stall: (r.get(STALL) != 0).then_some(r.get(STAG) as u16),
        })
    };
    let kind = match l.code {
        0x10 => translation(FaultReason::Translation),
        0x11 => translation(FaultReason::AddressSize),
        0x12 => translation(FaultReason::AccessFlag),
        0x13 => translation(FaultReason::Permission),
        0x0b => translation(FaultReason::WalkAbort),
        0x05 | 0x20 => {
            return Err(LowerError::NoEquivalent(
                "F_BAD_ATS_TREQ / F_TLB_CONFLICT: layout not verified, kept raw",
            ))
        }
        0x24 => {
            return Err(LowerError::NoEquivalent(
                "E_PAGE_REQUEST: an informational event with no response",
            ))
        }
        0xe0 => return Err(LowerError::NoEquivalent("IMPDEF event")),
        code => FaultKind::Config(match code {
            0x01 => ConfigReason::Unsupported,
            0x02 => ConfigReason::BadDevice,
            0x03 => ConfigReason::DeviceEntryFetch,
            0x04 => ConfigReason::DeviceEntryInvalid,
            0x06 => ConfigReason::NoPasidDisabled,
            0x07 => ConfigReason::TranslatedForbidden,
            0x08 => ConfigReason::BadPasid,
            0x09 => ConfigReason::PasidEntryFetch,
            0x0a => ConfigReason::PasidEntryInvalid,
            // F_CFG_CONFLICT, F_VMS_FETCH: named by their number.
            _ => ConfigReason::Other,
        }),
    };
    Ok(Event::Fault(Fault {
        device,
        pasid,
        // Every event with InputAddr has RnW (F_UUT, F_TRANSL_FORBIDDEN,
        // F_WALK_EABT, the translation faults).
        transaction: l.has(INPUT_ADDR).then(|| Transaction {
            addr: r.get(INPUT_ADDR),
            access: access_of(r),
        }),
        kind,
        fetch_addr: l.has(FETCH_ADDR).then_some(r.get(FETCH_ADDR)),
        native: NativeCode {
            arch: ArchId::Smmuv3,
            code: u16::from(l.code),
            detail: detail_of(r, l),
        },
    }))
}

/// The event number of a fault (a configuration fault `Other`: its native
/// number, when it is SMMUv3's F_CFG_CONFLICT or F_VMS_FETCH).
fn event_code(f: &Fault) -> Result<u8, LowerError> {
    Ok(match f.kind {
        FaultKind::Translation(t) => match t.reason {
            FaultReason::Translation => 0x10,
            FaultReason::AddressSize => 0x11,
            FaultReason::AccessFlag => 0x12,
            FaultReason::Permission => 0x13,
            FaultReason::WalkAbort => 0x0b,
            _ => {
                return Err(LowerError::NoEquivalent(
                    "fault reason with no SMMUv3 event",
                ))
            }
        },
        FaultKind::Config(c) => match c {
            ConfigReason::Unsupported => 0x01,
            ConfigReason::BadDevice => 0x02,
            ConfigReason::DeviceEntryFetch => 0x03,
            ConfigReason::DeviceEntryInvalid => 0x04,
            ConfigReason::NoPasidDisabled => 0x06,
            ConfigReason::TranslatedForbidden => 0x07,
            ConfigReason::BadPasid => 0x08,
            ConfigReason::PasidEntryFetch => 0x09,
            ConfigReason::PasidEntryInvalid => 0x0a,
            _ if f.native.arch == ArchId::Smmuv3 && matches!(f.native.code, 0x21 | 0x25) => {
                f.native.code as u8
            }
            _ => {
                return Err(LowerError::NoEquivalent(
                    "configuration fault with no SMMUv3 event",
                ))
            }
        },
    })
}

/// The fields every fault has, written for record type `l`: the device,
/// the PASID, the transaction, the fetch address and the native detail (kept only
/// when it is this event's own).
fn lower_common(l: &Layout, w: &mut [u64; 4], c: &Fault) -> Result<(), LowerError> {
    SID.put(w, u64::from(c.device));
    let (ssv, ssid) = ssid_of(c.pasid)?;
    if l.has(SSV) {
        SSV.put(w, u64::from(ssv));
    }
    l.lower_field(w, SSID, ssid, "no SubstreamID in this event")?;
    if let Some(t) = c.transaction {
        if !l.has(INPUT_ADDR) {
            return Err(LowerError::NoEquivalent(
                "no InputAddr or access in this event",
            ));
        }
        INPUT_ADDR.put(w, t.addr);
        RNW.put(w, u64::from(!t.access.write));
        // Only F_TRANSL_FORBIDDEN lacks InD / PnU.
        l.lower_field(w, IND, u64::from(t.access.exec), "no InD in this event")?;
        l.lower_field(
            w,
            PNU,
            u64::from(t.access.privileged),
            "no PnU in this event",
        )?;
    }
    if let Some(a) = c.fetch_addr {
        if !l.has(FETCH_ADDR) || !FETCH_ADDR.fits(a) {
            return Err(LowerError::NoEquivalent(
                "FetchAddr: none in this event, or not 8-byte aligned below 2^56",
            ));
        }
        FETCH_ADDR.put(w, a);
    }
    if c.native.arch == ArchId::Smmuv3 && c.native.code == u16::from(l.code) {
        let d = u64::from(c.native.detail);
        if l.has(REASON32) {
            REASON32.put(w, d);
        } else {
            l.lower_field(w, REASON, d & 0xffff, "no Reason in this event")?;
            l.lower_field(w, GPCF, d >> 16, "no GPCF in this event")?;
        }
    }
    Ok(())
}

/// A translation fault's own fields: S2, CLASS (TTRnW), the stall, the IPA.
fn lower_translation(l: &Layout, w: &mut [u64; 4], t: &Translation) -> Result<(), LowerError> {
    let s2 = match t.stage {
        s if s == Stages::S1 => false,
        s if s == Stages::S2 => true,
        _ => return Err(LowerError::NoEquivalent("a fault of one stage")),
    };
    S2.put(w, u64::from(s2));
    let (class, walk_write) = match t.during {
        During::ConfigFetch => (0, false),
        During::TableWalk { write } => (1, write),
        During::Input => (2, false),
    };
    CLASS.put(w, class);
    if l.has(TTRNW) {
        TTRNW.put(w, u64::from(class == 1 && !walk_write));
    } else if walk_write {
        return Err(LowerError::NoEquivalent(
            "a table-walk write outside F_PERMISSION",
        ));
    }
    if let Some(tag) = t.stall {
        l.lower_field(w, STAG, u64::from(tag), "no stall in this event")?;
        l.lower_field(w, STALL, 1, "no stall in this event")?;
    }
    if let Some(ipa) = t.ipa {
        if !l.has(IPA) || !IPA.fits(ipa) {
            return Err(LowerError::NoEquivalent(
                "IPA: none in this event, or not a page below 2^56",
            ));
        }
        IPA.put(w, ipa);
    }
    Ok(())
}

/// The model → an event record (see [`EventArch`]).
fn lower_event(ev: &Event) -> Result<EventRecord, LowerError> {
    let Event::Fault(f) = ev else {
        return Err(LowerError::NoEquivalent(
            "lost records are EVENTQ_PROD.OVFLG, not a record",
        ));
    };
    let code = event_code(f)?;
    let l = layout_of(code).ok_or(LowerError::Invalid("event number"))?;
    let mut w = [u64::from(code), 0, 0, 0];
    lower_common(l, &mut w, f)?;
    if let FaultKind::Translation(t) = &f.kind {
        lower_translation(l, &mut w, t)?;
    }
    EventRecord::decode_words(w).map_err(|_| LowerError::Invalid("lowered record does not decode"))
}

impl EventArch for Smmuv3 {
    type EventRecord = EventRecord;
    type PageRequestRecord = PriRecord;

    fn lift_record<C: Context + ?Sized>(
        rec: &Record<EventRecord, PriRecord>,
        ctx: &C,
    ) -> Result<Event, LowerError> {
        match rec {
            Record::Event(r) => lift_event(r, ctx),
            Record::PageRequest(r) => crate::pri::lift(r, ctx).map(Event::PageRequest),
        }
    }
    fn lower_record<C: Context + ?Sized>(
        event: &Event,
        _ctx: &C,
    ) -> Result<Record<EventRecord, PriRecord>, LowerError> {
        match event {
            Event::PageRequest(q) => crate::pri::lower(q).map(Record::PageRequest),
            _ => lower_event(event).map(Record::Event),
        }
    }
}

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

/// `impl RecordQueue` for the event queue (`discard` = false) and the PRI
/// queue (`discard` = true).
macro_rules! smmu_record_queue {
    ($rec:ty, $discard:expr) => {
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
        }
    };
}
smmu_record_queue!(EventRecord, false);
smmu_record_queue!(crate::pri::PriRecord, true);

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for EventRecord {
    /// A valid record of any type, its fields biased to their edges.
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        let l = u.choose(EVENTS)?;
        let mut w = [u64::from(l.code), 0, 0, 0];
        for f in l.fields {
            let max = f.mask() >> f.lo;
            let v = iommu_inval_core::arb::edge(u, max)?;
            f.put(&mut w, if f.kind == Kind::Addr { v << f.lo } else { v });
        }
        if l.has(CLASS) && CLASS.get(&w) == 3 {
            CLASS.put(&mut w, 2);
        }
        Self::decode_words(w).map_err(|_| arbitrary::Error::IncorrectFormat)
    }
}

/// Raw event words for fuzzing the decoder: a valid record, often with
/// one defect (a reserved bit, another event number, CLASS = 0b11), or
/// random words.
#[cfg(feature = "arbitrary")]
pub fn arbitrary_event_words(u: &mut arbitrary::Unstructured<'_>) -> arbitrary::Result<[u64; 4]> {
    use arbitrary::Arbitrary;
    if u.ratio(1u8, 8)? {
        return <[u64; 4]>::arbitrary(u);
    }
    let mut w = EventRecord::arbitrary(u)?.w;
    match u.int_in_range(0u8..=4)? {
        0 => {
            let i = u.int_in_range(0usize..=3)?;
            w[i] ^= 1 << u.int_in_range(0u32..=63)?;
        }
        1 => w[0] = (w[0] & !0xff) | u64::from(u8::arbitrary(u)?),
        2 => CLASS.put(&mut w, 3),
        _ => {}
    }
    Ok(w)
}

#[cfg(test)]
mod tests {
    use super::*;
    use iommu_inval_core::Flags;
    use iommu_inval_core::IdentityContext;
    use iommu_inval_core::NativeCommand;

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
        for i in 0..200_000u64 {
            let l = &EVENTS[(i % EVENTS.len() as u64) as usize];
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
        for l in EVENTS {
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
        for i in 0..100_000u64 {
            let l = &EVENTS[(i % EVENTS.len() as u64) as usize];
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
                    assert!(matches!(l.code, 0x05 | 0x20 | 0x24 | 0xe0), "{}", l.name);
                    refused += 1;
                }
            }
        }
        assert!(lifted > 50_000 && refused > 10_000);
    }

    /// `r` without its UNKNOWN fields (what a lift does not keep):
    /// SubstreamID without SSV, STAG without Stall, TTRnW outside CLASS = TT.
    fn canonical(r: EventRecord) -> EventRecord {
        let mut w = r.w;
        let l = r.layout().unwrap();
        if l.has(SSV) && SSV.get(&w) == 0 {
            SSID.put(&mut w, 0);
        }
        if l.has(STALL) && STALL.get(&w) == 0 {
            STAG.put(&mut w, 0);
        }
        if l.has(TTRNW) && CLASS.get(&w) != 1 {
            TTRNW.put(&mut w, 0);
        }
        EventRecord { w }
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

    /// The event queue: records in order, a full queue flags the overflow
    /// once (PROD.OVFLG toggled) and goes on delivering after the guest
    /// consumes; a stall record is kept, not discarded; a disabled queue
    /// discards without overflow. The PRI queue discards everything while
    /// the overflow is unacknowledged.
    #[test]
    fn guest_queues_produce_with_smmu_overflow_rules() {
        use iommu_inval_core::device::ProduceError;
        use iommu_inval_core::event::Delivery::*;
        use iommu_inval_core::{CellMemory, QueueMemory};
        let mut bytes = [0u8; 0x200];
        let mem = CellMemory::new(0x1000, &mut bytes);
        let rec = |sid: u64| EventRecord::decode(&[sid << 32 | 4, 0, 0, 0]).unwrap();
        // Two slots of 32 bytes at 0x1000.
        let mut q = GuestQueue::<EventRecord>::new(0x1000 | 1, 0, 0, true);
        assert_eq!(q.offer(&mem, &rec(1), false), Ok(Written));
        assert_eq!(q.offer(&mem, &rec(2), false), Ok(Written));
        assert_eq!(q.prod, 0b10); // wrap bit set, index 0: full
        assert_eq!(q.offer(&mem, &rec(3), true), Err(ProduceError::Full));
        assert_eq!(q.prod & OVFLG, 0);
        assert_eq!(q.offer(&mem, &rec(3), false), Ok(Discarded));
        assert_eq!(q.prod, OVFLG | 0b10);
        assert!(q.overflow_pending());
        assert_eq!(q.offer(&mem, &rec(4), false), Ok(Discarded));
        assert_eq!(q.prod, OVFLG | 0b10); // toggled once
        let mut w = [0u64; 4];
        mem.read_words(0x1020, &mut w).unwrap();
        assert_eq!(w, [2 << 32 | 4, 0, 0, 0]);
        // The guest consumes one slot without acknowledging: still delivered.
        q.cons = 0b01;
        assert_eq!(q.offer(&mem, &rec(5), false), Ok(Written));
        mem.read_words(0x1000, &mut w).unwrap();
        assert_eq!(w[0] >> 32, 5);
        q.cons = OVFLG | 0b11;
        assert!(!q.overflow_pending());
        q.enabled = false;
        assert_eq!(q.offer(&mem, &rec(6), false), Ok(Discarded));
        assert_eq!(q.prod, OVFLG | 0b11);

        // PRI queue: two 16-byte slots at 0x1100.
        let ppr = |g: u64| crate::pri::PriRecord::decode(&[1 << 62 | 0x10, g]).unwrap();
        let mut p = GuestQueue::<crate::pri::PriRecord>::new(0x1100 | 1, 0, 0, true);
        assert_eq!(p.offer(&mem, &ppr(1), false), Ok(Written));
        assert_eq!(p.offer(&mem, &ppr(2), false), Ok(Written));
        assert_eq!(p.offer(&mem, &ppr(3), false), Ok(Discarded));
        p.cons = 0b10; // consumed both, overflow not acknowledged
        assert_eq!(p.offer(&mem, &ppr(4), false), Ok(Discarded));
        p.cons = OVFLG | 0b10;
        assert_eq!(p.offer(&mem, &ppr(5), false), Ok(Written));
        let mut w2 = [0u64; 2];
        mem.read_words(0x1100, &mut w2).unwrap();
        assert_eq!(w2, [1 << 62 | 0x10, 5]);
    }
}
