//! Table-driven codecs for the records an IOMMU writes for software to
//! read (fault records, event-log entries, page requests): one piece of
//! code for every layout, each layout a table.
//!
//! A record format ([`RecordFormat`], declared with [`record_format!`](crate::record_format)) is
//! a list of record kinds ([`Kind`], the "ops" of [`NativeCommand`]); a
//! kind is a name, its code (an event code, a descriptor type, in the
//! format's code bits), its field names and the bit ranges that hold each
//! field: `(field, word, hi, lo, at)` says bits `lo..=hi` of word `word`
//! hold the field's value bits from `at` up (an address kept as a byte
//! address has `at` = `lo`; a field of several ranges lists them lowest
//! value bits first). A field of one 1-bit range is a
//! [`FieldValue::Bool`]; one of several whole-word ranges all at 0 a
//! [`FieldValue::Pair`] (VT-d private data); any other a
//! [`FieldValue::Uint`]. Every bit neither code nor in a field is
//! reserved: a record with one set is refused (`reserved_bits`). A field
//! with a code table ([`CodeTable`]) holds only the table's codes or its
//! custom range; any other value is refused (`invalid_field`, named by the
//! field).
//!
//! [`Record<F>`] is a record of format `F`: the words it decoded from (R1
//! by construction: encoding writes them back) and its kind. It implements
//! [`NativeCommand`], so the CLI, property tests and fuzzers written
//! against that trait serve records too; its `Features` are the
//! architecture's, and no feature refuses a record.
//!
//! ```
//! use iommu_inval_core::record::{Kind, Record};
//! use iommu_inval_core::{record_format, ArchId, NativeCommand};
//! #[derive(Debug, Clone, Copy, PartialEq)]
//! pub struct NoFeatures;
//! iommu_inval_core::feature_set!(NoFeatures { latest: NoFeatures, host: NoFeatures, presets: [] });
//! // A made-up 2-word format: code 1 in w0[63:60], a 16-bit `id`, a flag and an address.
//! record_format!(Demo, DemoRecord: ArchId::Amd, NoFeatures, 2, code = (0, 0xf << 60), [Kind::new(
//!     "DEMO",
//!     1,
//!     &["id", "flag", "address"],
//!     &[(0, 0, 15, 0, 0), (1, 0, 16, 16, 0), (2, 1, 63, 12, 12)],
//! )]);
//! let r = DemoRecord::decode(&[1 << 60 | 1 << 16 | 0x42, 0x5000]).unwrap();
//! assert_eq!((r.op(), r.uint("id"), r.flag("flag"), r.uint("address")), ("DEMO", Some(0x42), Some(true), Some(0x5000)));
//! assert_eq!(r.words(), &[1 << 60 | 1 << 16 | 0x42, 0x5000]);
//! // w0[17] is reserved; code 2 is no kind.
//! assert!(DemoRecord::decode(&[1 << 60 | 1 << 17, 0]).is_err());
//! assert!(DemoRecord::decode(&[2 << 60, 0]).is_err());
//! ```

use crate::context::Context;
use crate::error::{DecodeError, LowerError};
use crate::event::{Access, Fate, PageRequest};
use crate::model::{PageResponse, RespCode};
use crate::native::{word, ArchId, FeatureSet, FieldError, FieldValue, NativeCommand};
use core::fmt;
use core::marker::PhantomData;

/// The named values of a code field, and the range the specification
/// leaves for custom use (kept raw). Any other value is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeTable {
    /// `(code, the specification's name)`, in code order.
    pub names: &'static [(u16, &'static str)],
    /// Values designated for custom (implementation-defined) use, accepted
    /// without a name.
    pub custom: Option<(u16, u16)>,
}

impl CodeTable {
    /// The specification's name of `code` (`None`: custom or refused).
    pub fn name(&self, code: u64) -> Option<&'static str> {
        self.names
            .iter()
            .find(|(c, _)| u64::from(*c) == code)
            .map(|(_, n)| *n)
    }
    /// Whether a field of this table may hold `code`.
    fn allows(&self, code: u64) -> bool {
        self.name(code).is_some()
            || self
                .custom
                .is_some_and(|(lo, hi)| (u64::from(lo)..=u64::from(hi)).contains(&code))
    }
}

/// One bit range of a field: `(field index, word, hi, lo, at)`.
type Range = (u8, u8, u8, u8, u8);

/// The word bits a range covers (none for a range
/// [`well_formed`] refuses).
const fn word_mask(r: &Range) -> u64 {
    if r.3 <= r.2 && r.2 <= 63 {
        word::mask(r.2 as u32, r.3 as u32)
    } else {
        0
    }
}

/// Whether a format's tables make sense: every range inside its word
/// (`lo <= hi <= 63`, word below `words`), its value bits inside 64
/// (`at + hi - lo <= 63`), for a field of its kind; no two ranges (or a
/// range and the code bits) share a bit; each table names a field; each
/// code fits the code bits. [`record_format!`](crate::record_format) checks it at compile time,
/// so a malformed table does not build:
///
/// ```compile_fail
/// use iommu_inval_core::record::Kind;
/// use iommu_inval_core::{record_format, ArchId};
/// #[derive(Debug, Clone, Copy, PartialEq)]
/// pub struct N;
/// iommu_inval_core::feature_set!(N { latest: N, host: N, presets: [] });
/// // Two fields share w0[7].
/// record_format!(Bad, BadRecord: ArchId::Amd, N, 2, [Kind::new("A", 0, &["x", "y"], &[(0, 0, 7, 0, 0), (1, 0, 8, 7, 0)])]);
/// ```
#[doc(hidden)]
pub const fn well_formed(kinds: &[Kind], words: usize, code: (u8, u64)) -> bool {
    let mut k = 0;
    while k < kinds.len() {
        let kind = &kinds[k];
        let code = kind.code_bits(code);
        let mut used = [0u64; 4];
        if let Some((flag, fields, _)) = kind.guard {
            let mut g = 0;
            while g < fields.len() {
                if fields[g] as usize >= kind.fields.len() {
                    return false;
                }
                g += 1;
            }
            if flag as usize >= kind.fields.len() {
                return false;
            }
        }
        if code.1 != 0 {
            if code.0 as usize >= words || words > 4 {
                return false;
            }
            used[code.0 as usize] = code.1;
            if kind.code.wrapping_shl(code.1.trailing_zeros()) & code.1
                != kind.code.wrapping_shl(code.1.trailing_zeros())
                || kind.code.wrapping_shl(code.1.trailing_zeros()) >> code.1.trailing_zeros()
                    != kind.code
            {
                return false;
            }
        }
        let mut i = 0;
        while i < kind.ranges.len() {
            let r = kind.ranges[i];
            let ok = (r.0 as usize) < kind.fields.len()
                && (r.1 as usize) < words
                && words <= 4
                && r.3 <= r.2
                && r.2 <= 63
                && r.4 as u32 + (r.2 - r.3) as u32 <= 63;
            if !ok || used[r.1 as usize] & word_mask(&r) != 0 {
                return false;
            }
            used[r.1 as usize] |= word_mask(&r);
            i += 1;
        }
        let mut t = 0;
        while t < kind.tables.len() {
            if kind.tables[t].0 as usize >= kind.fields.len() {
                return false;
            }
            t += 1;
        }
        k += 1;
    }
    true
}

/// One kind of record (an op of [`NativeCommand`]): its name, the bits its
/// selector fixes, its fields and where their bits are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    name: &'static str,
    code: u64,
    fields: &'static [&'static str],
    ranges: &'static [Range],
    tables: &'static [(u8, &'static CodeTable)],
    code_mask: u64,
    guard: Option<Guard>,
}

/// A rule between fields: fields `.1` are 0 unless the flag field `.0` is
/// set; a record that breaks it is `invalid_field` `.2`.
type Guard = (u8, &'static [u8], &'static str);

impl Kind {
    /// Kind `name` of code `code` (the value of the format's
    /// [`RecordFormat::CODE`] bits; 0 where the format has none), `fields`
    /// in table order and their bit `ranges` `(field index, word, hi, lo,
    /// at)`.
    pub const fn new(
        name: &'static str,
        code: u64,
        fields: &'static [&'static str],
        ranges: &'static [Range],
    ) -> Kind {
        Kind {
            name,
            code,
            fields,
            ranges,
            tables: &[],
            code_mask: 0,
            guard: None,
        }
    }
    /// The kind whose code takes only the bits `mask` of the format's code
    /// word ([`RecordFormat::CODE`]): the code word's other bits are this
    /// kind's fields (SMMUv3 IMPDEF_EVENTn, 0xE0 + n: code 0xE in `0xF0`,
    /// `n` a field).
    pub const fn with_code_bits(self, mask: u64) -> Kind {
        Kind {
            code_mask: mask,
            ..self
        }
    }
    /// The kind with a rule: fields `fields` (indices) are 0 unless the flag
    /// field `flag` is set; a record that breaks it is refused as
    /// `invalid_field` named `what` (SMMUv3 PRI: execute and privileged only
    /// with a SubstreamID, IHI0070 §8).
    pub const fn with_guard(self, flag: u8, fields: &'static [u8], what: &'static str) -> Kind {
        Kind {
            guard: Some((flag, fields, what)),
            ..self
        }
    }
    /// The `(word, mask)` of this kind's code, within the format's `code`.
    const fn code_bits(&self, code: (u8, u64)) -> (u8, u64) {
        if self.code_mask != 0 {
            (code.0, self.code_mask)
        } else {
            code
        }
    }
    /// The guard's verdict on `w`: `(word, mask)` of the guarded fields' bits
    /// and the rule's name when `w` breaks it.
    fn guard_broken(&self, w: &[u64]) -> Option<(u8, u64, &'static str)> {
        let (flag, fields, what) = self.guard?;
        if self.read_uint(usize::from(flag), w) != 0 {
            return None;
        }
        let set = fields
            .iter()
            .any(|&i| self.read_uint(usize::from(i), w) != 0);
        let first = fields
            .first()
            .and_then(|&i| self.ranges(usize::from(i)).next())?;
        let mask = fields
            .iter()
            .flat_map(|&i| self.ranges(usize::from(i)))
            .filter(|r| r.1 == first.1)
            .fold(0, |m, r| m | word_mask(r));
        set.then_some((first.1, mask, what))
    }
    /// `w` with the guard kept: the guarded fields cleared when the flag is
    /// not set.
    #[cfg(feature = "arbitrary")]
    fn keep_guard(&self, w: &mut [u64]) {
        if let Some((flag, fields, _)) = self.guard {
            if self.read_uint(usize::from(flag), w) == 0 {
                for &i in fields {
                    self.write(usize::from(i), w, FieldValue::Uint(0));
                }
            }
        }
    }
    /// The kind with the code `tables` of some fields `(field index,
    /// table)`.
    pub const fn with_tables(self, tables: &'static [(u8, &'static CodeTable)]) -> Kind {
        Kind { tables, ..self }
    }
    /// The kind's name (the op).
    pub const fn name(&self) -> &'static str {
        self.name
    }
    /// The field names, in table order.
    pub const fn fields(&self) -> &'static [&'static str] {
        self.fields
    }
    /// The bit ranges of field `i`, lowest value bits first, as `(word, hi,
    /// lo)`.
    pub fn ranges_of(&self, i: usize) -> impl Iterator<Item = (u8, u8, u8)> + '_ {
        self.ranges
            .iter()
            .filter(move |r| usize::from(r.0) == i)
            .map(|r| (r.1, r.2, r.3))
    }
    /// The kind's code.
    pub const fn code(&self) -> u64 {
        self.code
    }
    fn ranges(&self, i: usize) -> impl Iterator<Item = &'static Range> + Clone {
        self.ranges.iter().filter(move |r| usize::from(r.0) == i)
    }
    fn table(&self, i: usize) -> Option<&'static CodeTable> {
        self.tables
            .iter()
            .find(|t| usize::from(t.0) == i)
            .map(|t| t.1)
    }
    /// Bool (one 1-bit range), Pair (several ranges, all at 0) or Uint.
    fn kind_of_field(&self, i: usize) -> FieldKind {
        let mut r = self.ranges(i);
        match (r.next(), r.next()) {
            (Some(a), None) if a.2 == a.3 => FieldKind::Bool,
            (Some(_), Some(_)) if self.ranges(i).all(|r| r.4 == 0) => FieldKind::Pair,
            _ => FieldKind::Uint,
        }
    }
    /// The value bits of field `i`.
    fn value_mask(&self, i: usize) -> u64 {
        self.ranges(i).fold(0, |m, r| {
            m | word_mask(r)
                .wrapping_shr(r.3.into())
                .wrapping_shl(r.4.into())
        })
    }
    /// Field `i`'s value in `w` (a `Uint` view; a Pair's first word).
    fn read_uint(&self, i: usize, w: &[u64]) -> u64 {
        self.ranges(i).fold(0, |v, r| {
            let x = w.get(usize::from(r.1)).copied().unwrap_or(0);
            v | (x & word_mask(r))
                .wrapping_shr(r.3.into())
                .wrapping_shl(r.4.into())
        })
    }
    /// Field `i`'s value in `w`.
    fn read(&self, i: usize, w: &[u64]) -> FieldValue {
        match self.kind_of_field(i) {
            FieldKind::Bool => FieldValue::Bool(self.read_uint(i, w) != 0),
            FieldKind::Uint => FieldValue::Uint(self.read_uint(i, w)),
            FieldKind::Pair => {
                let mut p = [0u64; 2];
                for (d, r) in p.iter_mut().zip(self.ranges(i)) {
                    *d = w.get(usize::from(r.1)).copied().unwrap_or(0);
                }
                FieldValue::Pair(p)
            }
        }
    }
    /// Store `v` in field `i` (its bits outside the field cut: the encode
    /// contract).
    fn write(&self, i: usize, w: &mut [u64], v: FieldValue) {
        let p = match v {
            FieldValue::Bool(b) => [u64::from(b), 0],
            FieldValue::Uint(x) => [x, 0],
            FieldValue::Pair(p) => p,
        };
        let pair = self.kind_of_field(i) == FieldKind::Pair;
        for (k, r) in self.ranges(i).enumerate() {
            let Some(d) = w.get_mut(usize::from(r.1)) else {
                continue;
            };
            *d &= !word_mask(r);
            *d |= match pair {
                true => p.get(k).copied().unwrap_or(0),
                false => p[0].wrapping_shr(r.4.into()).wrapping_shl(r.3.into()) & word_mask(r),
            };
        }
    }
    /// `Ok` when `v` fits field `i` (type and width).
    fn check(&self, i: usize, v: FieldValue) -> Result<(), FieldError> {
        let ok = match (self.kind_of_field(i), v) {
            (FieldKind::Pair, FieldValue::Pair(_)) | (FieldKind::Bool, FieldValue::Bool(_)) => true,
            (FieldKind::Bool | FieldKind::Uint, FieldValue::Uint(x)) => {
                x & !self.value_mask(i) == 0
            }
            _ => false,
        };
        match (ok, self.fields.get(i)) {
            (true, _) => Ok(()),
            (false, n) => Err(FieldError::TooWide(n.copied().unwrap_or("field"))),
        }
    }
    /// The bits of word `i` that the code (`(word, mask)`) or a field
    /// covers.
    fn defined(&self, i: usize, code: (u8, u64)) -> u64 {
        let code = self.code_bits(code);
        let fixed = if usize::from(code.0) == i { code.1 } else { 0 };
        self.ranges
            .iter()
            .filter(|r| usize::from(r.1) == i)
            .fold(fixed, |m, r| m | word_mask(r))
    }
    /// The words of this kind with every field 0 (the code in the bits
    /// `(word, mask)`).
    fn blank(&self, code: (u8, u64)) -> [u64; 4] {
        let (word, mask) = self.code_bits(code);
        let mut w = [0u64; 4];
        if let Some(x) = w.get_mut(usize::from(word)) {
            *x = self.code.wrapping_shl(mask.trailing_zeros()) & mask;
        }
        w
    }
}

/// How a field's value is typed in [`FieldValue`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FieldKind {
    Bool,
    Uint,
    Pair,
}

/// A record layout: its architecture, size and kinds, and how the words
/// select a kind. Declared with [`record_format!`](crate::record_format).
pub trait RecordFormat: 'static {
    /// The architecture that writes these records.
    const ARCH: ArchId;
    /// The architecture's features (no feature refuses a record).
    type Features: FeatureSet;
    /// Words per record: 2 (16 bytes) or 4 (32 bytes).
    const WORDS: usize;
    /// The kinds, in table order.
    const KINDS: &'static [Kind];
    /// Their names, in the same order.
    const OP_NAMES: &'static [&'static str];
    /// `(word, mask)`: the bits that hold a kind's code ([`Kind::code`]);
    /// mask 0 (the default): the format has no code bits.
    const CODE: (u8, u64) = (0, 0);
    /// Where the format's page request record keeps each field of a
    /// [`PageRequest`], and the architecture's rule for the response a
    /// discarded one is owed ([`FormatRecord::owed_response`]). `None` (the
    /// default): the format holds no page requests.
    const PAGE_REQUEST: Option<PageRequestFields> = None;
    /// The index in [`RecordFormat::KINDS`] of the kind `w` (exactly
    /// [`RecordFormat::WORDS`] words) has, or why it has none. The default:
    /// the kind whose code the [`RecordFormat::CODE`] bits hold (any other
    /// code is `unknown_opcode`); the first kind without code bits.
    fn kind_of(w: &[u64]) -> Result<usize, DecodeError> {
        let bits = |(word, mask): (u8, u64)| {
            (w.get(usize::from(word)).copied().unwrap_or(0) & mask)
                .wrapping_shr(mask.trailing_zeros())
        };
        Self::KINDS
            .iter()
            .position(|k| k.code == bits(k.code_bits(Self::CODE)))
            .ok_or(DecodeError::unknown_opcode(bits(Self::CODE)))
    }
}

/// Declares a record format: `record_format!(/// docs Format, /// docs
/// Record: arch, Features, words, code = (word, mask), [Kind::new(..), ..])`
/// writes the unit type `Format` implementing [`RecordFormat`] and the
/// alias `Record = Record<Format>`. Without `code = ..` the format has no
/// code bits; `page_request = fields,` is its
/// [`RecordFormat::PAGE_REQUEST`]; a trailing `|w| expr` is its own
/// `kind_of` (`w`: the words).
#[macro_export]
macro_rules! record_format {
    ($(#[$fm:meta])* $format:ident, $(#[$rm:meta])* $record:ident: $arch:expr, $feat:ty, $words:literal,
     $(code = ($cw:literal, $cm:expr),)? $(page_request = $pr:expr,)?
     [$($kind:expr),+ $(,)?] $(, |$w:ident| $kind_of:expr)?) => {
        $(#[$fm])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $format;

        $(#[$rm])*
        pub type $record = $crate::record::Record<$format>;

        impl $crate::record::RecordFormat for $format {
            const ARCH: $crate::ArchId = $arch;
            type Features = $feat;
            const WORDS: usize = $words;
            const KINDS: &'static [$crate::record::Kind] = &[$($kind),+];
            const OP_NAMES: &'static [&'static str] = &[$($kind.name()),+];
            $(const CODE: (u8, u64) = ($cw, $cm);)?
            $(const PAGE_REQUEST: ::core::option::Option<$crate::record::PageRequestFields> =
                ::core::option::Option::Some($pr);)?
            $(fn kind_of($w: &[u64]) -> ::core::result::Result<usize, $crate::DecodeError> {
                $kind_of
            })?
        }

        const _: () = assert!(
            $crate::record::well_formed(
                <$format as $crate::record::RecordFormat>::KINDS,
                <$format as $crate::record::RecordFormat>::WORDS,
                <$format as $crate::record::RecordFormat>::CODE,
            ),
            "a record table is malformed (core::record::well_formed)"
        );
    };
}

/// One record of format `F`: its words (at most 4) and its kind.
pub struct Record<F> {
    kind: u8,
    words: [u64; 4],
    format: PhantomData<fn() -> F>,
}

impl<F> Clone for Record<F> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<F> Copy for Record<F> {}
impl<F> PartialEq for Record<F> {
    fn eq(&self, o: &Self) -> bool {
        (self.kind, self.words) == (o.kind, o.words)
    }
}
impl<F> Eq for Record<F> {}
impl<F> core::hash::Hash for Record<F> {
    fn hash<H: core::hash::Hasher>(&self, h: &mut H) {
        (self.kind, self.words).hash(h);
    }
}

impl<F: RecordFormat> fmt::Debug for Record<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let k = self.spec();
        let mut d = f.debug_struct(k.name);
        for (i, n) in k.fields.iter().enumerate() {
            d.field(n, &k.read(i, &self.words));
        }
        d.finish()
    }
}

impl<F: RecordFormat> Record<F> {
    fn spec(&self) -> &'static Kind {
        F::KINDS.get(usize::from(self.kind)).unwrap_or(&BLANK)
    }
    /// The index of field `name` of this record's kind.
    fn field(&self, name: &str) -> Option<usize> {
        self.spec().fields.iter().position(|n| *n == name)
    }
    /// The record of kind `kind` (index in [`RecordFormat::KINDS`]) with
    /// field `i` set to `values[i]` (fields without a value are 0), under the
    /// encode contract: each value's bits outside its field are cut and
    /// nothing is checked ([`NativeCommand::validate`] says whether the
    /// result is a record `decode` accepts). A `kind` past the table gives
    /// the first kind.
    pub fn build(kind: usize, values: &[FieldValue]) -> Self {
        let kind = if kind < F::KINDS.len() { kind } else { 0 };
        let spec = F::KINDS.get(kind).unwrap_or(&BLANK);
        let mut words = spec.blank(F::CODE);
        for (i, v) in values.iter().enumerate().take(spec.fields.len()) {
            spec.write(i, &mut words, *v);
        }
        Record {
            kind: kind as u8,
            words,
            format: PhantomData,
        }
    }
    /// The record's words (its encoding).
    pub fn words(&self) -> &[u64] {
        self.words.get(..F::WORDS).unwrap_or(&self.words)
    }
    /// The index of its kind in [`RecordFormat::KINDS`].
    fn kind(&self) -> usize {
        usize::from(self.kind)
    }
    /// Field `name`'s value (`None`: not a field of this kind).
    pub fn get(&self, name: &str) -> Option<FieldValue> {
        self.field(name).map(|i| self.spec().read(i, &self.words))
    }
    /// A `Uint` field's value (a `Bool` as 0 / 1).
    pub fn uint(&self, name: &str) -> Option<u64> {
        match self.get(name)? {
            FieldValue::Uint(x) => Some(x),
            FieldValue::Bool(b) => Some(u64::from(b)),
            FieldValue::Pair(_) => None,
        }
    }
    /// A `Bool` field's value.
    pub fn flag(&self, name: &str) -> Option<bool> {
        match self.get(name)? {
            FieldValue::Bool(b) => Some(b),
            _ => None,
        }
    }
    /// The specification's name of a code field's value (`None`: not a
    /// code field, or a custom value).
    pub fn code_name(&self, name: &str) -> Option<&'static str> {
        let i = self.field(name)?;
        self.spec()
            .table(i)?
            .name(self.spec().read_uint(i, &self.words))
    }
}

const BLANK: Kind = Kind::new("", 0, &[], &[]);

/// Whether `v` is a field's zero.
fn is_zero(v: FieldValue) -> bool {
    matches!(
        v,
        FieldValue::Uint(0) | FieldValue::Bool(false) | FieldValue::Pair([0, 0])
    )
}

impl<F: RecordFormat> Record<F> {
    /// For a lowering ([`EventArch`](crate::arch::EventArch)): the record
    /// of kind `op` with `fields`. A field the kind lacks may only be given
    /// its zero (skipped); what the record cannot hold (a value for a field
    /// the kind lacks, a value wider than its field, fields that break a
    /// rule of the format) is [`LowerError::NoEquivalent`] naming the field
    /// or the rule: nothing dropped, nothing truncated.
    pub fn lower(op: &str, fields: &[(&'static str, FieldValue)]) -> Result<Self, LowerError> {
        let names = Self::field_names(op).ok_or(LowerError::Invalid("record kind"))?;
        if let Some((n, _)) = fields
            .iter()
            .find(|(n, v)| !names.contains(n) && !is_zero(*v))
        {
            return Err(LowerError::NoEquivalent(n));
        }
        let mut given = fields.iter().copied().filter(|(n, _)| names.contains(n));
        Self::from_fields(op, &mut given, F::WORDS).map_err(|e| match e {
            FieldError::TooWide(n) | FieldError::UnknownField(n) => LowerError::NoEquivalent(n),
            FieldError::Invalid(d) if !d.field.is_empty() => LowerError::NoEquivalent(d.field),
            _ => LowerError::NoEquivalent("a rule of the record format"),
        })
    }
}

/// Where a page request record (one kind of a [`RecordFormat`]) keeps each
/// field of a [`PageRequest`]: the same lift and lower for every
/// architecture's page request record (SMMUv3 PRI, VT-d `page_req_dsc`,
/// AMD-Vi PPR, RISC-V page-request queue), each a table of field names.
///
/// The lift reads the PASID only when its valid flag is set and the
/// private data only when its present flag is set (otherwise they are
/// UNKNOWN and not kept); the response carries the PASID when the request
/// had one (SMMUv3 CMD_PRI_RESP, VT-d page_grp_resp_dsc, AMD-Vi
/// COMPLETE_PPR_REQUEST and RISC-V ATS.PRGR all echo it).
///
/// It also holds the architecture's rule for the response an IOMMU sends
/// by itself for a request it discards ([`FormatRecord::owed_response`]):
/// the rule every architecture shares, and the two ways one departs from
/// it ([`failure_echoes_pasid`](Self::failure_echoes_pasid),
/// [`failure_answers_every_request`](Self::failure_answers_every_request)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequestFields {
    op: &'static str,
    names: [&'static str; 10],
    user: bool,
    priv_data: Option<(&'static str, &'static str)>,
    refused: Option<&'static str>,
    failure_pasid: bool,
    failure_every: bool,
}

impl PageRequestFields {
    /// Kind `op` with the fields `[device, pasid valid, pasid, read, write,
    /// exec, privileged, last, group index, page address]`.
    pub const fn new(op: &'static str, names: [&'static str; 10]) -> Self {
        PageRequestFields {
            op,
            names,
            user: false,
            priv_data: None,
            refused: None,
            failure_pasid: false,
            failure_every: false,
        }
    }
    /// A discarded request answered Response Failure carries its PASID
    /// (RISC-V "PCIe ATS Page Request handling"; elsewhere it is sent
    /// without one, IHI0070 §8.2).
    pub const fn failure_echoes_pasid(self) -> Self {
        PageRequestFields {
            failure_pasid: true,
            ..self
        }
    }
    /// Response Failure answers every discarded request, Last or not
    /// (SMMUv3: "All incoming PPRs", IHI0070 §8.2); elsewhere, as Success,
    /// only the last of its group.
    pub const fn failure_answers_every_request(self) -> Self {
        PageRequestFields {
            failure_every: true,
            ..self
        }
    }
    /// A record with flag `flag` set does not lift (`NoEquivalent`: AMD-Vi
    /// PPR `RZ`, a reserved bit of the request was set).
    pub const fn refusing(self, flag: &'static str) -> Self {
        PageRequestFields {
            refused: Some(flag),
            ..self
        }
    }
    /// The privileged field is a user flag, 1 = not privileged (AMD-Vi PPR
    /// `US`).
    pub const fn user_flag(self) -> Self {
        PageRequestFields { user: true, ..self }
    }
    /// The private data is field `pair`, present when flag `present` is set
    /// (VT-d PDP).
    pub const fn with_priv_data(self, present: &'static str, pair: &'static str) -> Self {
        PageRequestFields {
            priv_data: Some((present, pair)),
            ..self
        }
    }

    /// A host record → the model (its device through
    /// [`Context::guest_device`]).
    pub fn lift<F: RecordFormat, C: Context + ?Sized>(
        &self,
        r: &Record<F>,
        ctx: &C,
    ) -> Result<PageRequest, LowerError> {
        let [device, valid, pasid, read, write, exec, privileged, last, index, addr] = self.names;
        let g = |n: &str| r.uint(n).unwrap_or(0);
        if let Some(flag) = self.refused.filter(|f| g(f) != 0) {
            return Err(LowerError::NoEquivalent(flag));
        }
        let pasid = (g(valid) != 0).then_some(g(pasid) as u32);
        let priv_data = match self.priv_data.map(|(p, d)| (r.flag(p), r.get(d))) {
            Some((Some(true), Some(FieldValue::Pair(d)))) => Some(d),
            _ => None,
        };
        Ok(PageRequest {
            device: ctx
                .guest_device(g(device) as u32)
                .ok_or(LowerError::NoEquivalent("device not seen by the guest"))?,
            pasid,
            addr: g(addr),
            access: Access {
                read: g(read) != 0,
                write: g(write) != 0,
                exec: g(exec) != 0,
                privileged: (g(privileged) != 0) != self.user,
            },
            prg_index: g(index) as u16,
            last: g(last) != 0,
            response_pasid: pasid.is_some(),
            priv_data,
        })
    }

    /// The model → a record of kind `op`: what it cannot hold (a device,
    /// PASID, group index or address too wide or unaligned, private data
    /// where the record has none, a rule of the format) is
    /// [`LowerError::NoEquivalent`].
    pub fn lower<F: RecordFormat>(&self, q: &PageRequest) -> Result<Record<F>, LowerError> {
        let [device, valid, pasid, read, write, exec, privileged, last, index, addr] = self.names;
        let u = |x: u64| FieldValue::Uint(x);
        let b = FieldValue::Bool;
        let mut f = [
            (device, u(q.device.into())),
            (valid, b(q.pasid.is_some())),
            (pasid, u(q.pasid.unwrap_or(0).into())),
            (read, b(q.access.read)),
            (write, b(q.access.write)),
            (exec, b(q.access.exec)),
            (privileged, b(q.access.privileged != self.user)),
            (last, b(q.last)),
            (index, u(q.prg_index.into())),
            (addr, u(q.addr)),
            ("private data", b(false)),
            ("private data", b(false)),
        ];
        match (q.priv_data, self.priv_data) {
            (Some(d), Some((p, pair))) => {
                f[10] = (p, b(true));
                f[11] = (pair, FieldValue::Pair(d));
            }
            (Some(_), None) => return Err(LowerError::NoEquivalent("private data")),
            _ => {}
        }
        Record::lower(self.op, &f)
    }

    /// The response owed for request `r` discarded with `fate`: see
    /// [`FormatRecord::owed_response`].
    fn owed<F: RecordFormat>(&self, r: &Record<F>, fate: &Fate) -> Option<PageResponse> {
        let code = fate.response_code()?;
        let q = self.lift(r, &crate::IdentityContext).ok()?;
        let failure = code == RespCode::Failure;
        let answered = q.last || (failure && self.failure_every);
        let pasid = q.pasid.filter(|_| !failure || self.failure_pasid);
        (answered && !q.is_stop_marker()).then_some(PageResponse {
            device: q.device,
            pasid,
            prg_index: q.prg_index,
            code,
            last: q.last,
            priv_data: q.priv_data,
            guest: pasid.is_some(),
        })
    }
}

/// A record type of a [`RecordFormat`]: [`Record<F>`], its one
/// implementation. What a guest record queue holds
/// ([`RecordQueue::Record`](crate::event::RecordQueue::Record)).
pub trait FormatRecord: NativeCommand {
    /// The PRG response the IOMMU sends by itself when it discards this
    /// record with `fate` ([`Delivery::response`](crate::event::Delivery::response)),
    /// one rule for every architecture: none for a record of no page
    /// request ([`RecordFormat::PAGE_REQUEST`] `None`), when written, for a
    /// Stop Marker or a record that does not lift; else with
    /// [`Fate::response_code`] (Success when the queue was full or
    /// overflowed, Failure when disabled or aborted) to the last request
    /// of a group (IHI0070 §8.1; VT-d §7.4.1 Table 31; RISC-V "PCIe ATS
    /// Page Request handling"), and on Failure to every request where the
    /// architecture says so (SMMUv3, §8.2). The PASID is echoed on Success,
    /// and on Failure only where the architecture says so (RISC-V).
    fn owed_response(&self, fate: &Fate) -> Option<PageResponse>;
}

impl<F: RecordFormat> FormatRecord for Record<F> {
    fn owed_response(&self, fate: &Fate) -> Option<PageResponse> {
        F::PAGE_REQUEST.and_then(|p| p.owed(self, fate))
    }
}

/// The decode of `w` (length checked): kind, reserved bits (lowest word
/// first), code tables (table order).
fn decode_words<F: RecordFormat>(w: &[u64]) -> Result<Record<F>, DecodeError> {
    if w.len() != F::WORDS || F::WORDS > 4 {
        return Err(DecodeError::bad_length(w.len()));
    }
    let kind = F::kind_of(w)?;
    let spec = F::KINDS
        .get(kind)
        .ok_or(DecodeError::unknown_opcode(kind as u64))?;
    for (i, &x) in w.iter().enumerate() {
        let r = x & !spec.defined(i, F::CODE);
        if r != 0 {
            return Err(DecodeError::reserved(i as u8, r));
        }
    }
    for &(i, t) in spec.tables {
        let i = usize::from(i);
        if !t.allows(spec.read_uint(i, w)) {
            let (word, mask) = spec
                .ranges(i)
                .next()
                .map_or((0, 0), |r| (r.1, word_mask(r)));
            let name = spec.fields.get(i).copied().unwrap_or("code");
            return Err(DecodeError::invalid(word, mask, name));
        }
    }
    if let Some((word, mask, what)) = spec.guard_broken(w) {
        return Err(DecodeError::invalid(word, mask, what));
    }
    let mut words = [0u64; 4];
    for (d, s) in words.iter_mut().zip(w) {
        *d = *s;
    }
    Ok(Record {
        kind: kind as u8,
        words,
        format: PhantomData,
    })
}

impl<F: RecordFormat> NativeCommand for Record<F> {
    const ARCH: ArchId = F::ARCH;
    type Features = F::Features;
    /// Exactly [`RecordFormat::WORDS`]: every record of a format has its
    /// size.
    const MAX_WORDS: usize = F::WORDS;

    /// Decode one record. Errors: `bad_length` unless exactly
    /// [`RecordFormat::WORDS`] words; the format's error for words of no
    /// kind (`unknown_opcode`); `reserved_bits` (word and mask, lowest word
    /// first); `invalid_field` for a code its table refuses.
    fn decode(words: &[u64]) -> Result<Self, DecodeError> {
        decode_words(words)
    }
    /// No feature refuses a record.
    fn check_features(&self, _: &F::Features) -> Result<(), DecodeError> {
        Ok(())
    }
    fn words(&self) -> usize {
        F::WORDS
    }
    fn encode_into(&self, out: &mut [u64]) -> Result<usize, DecodeError> {
        let w = self.words();
        match out.get_mut(..w.len()) {
            Some(o) => {
                o.copy_from_slice(w);
                Ok(w.len())
            }
            None => Err(DecodeError::bad_length(out.len())),
        }
    }
    fn op(&self) -> &'static str {
        self.spec().name
    }
    fn for_each_field(&self, f: &mut dyn FnMut(&'static str, FieldValue)) {
        let k = self.spec();
        for (i, n) in k.fields.iter().enumerate() {
            f(n, k.read(i, &self.words));
        }
    }
    fn field_names(op: &str) -> Option<&'static [&'static str]> {
        F::KINDS.iter().find(|k| k.name == op).map(|k| k.fields)
    }
    /// Fields not given are 0 / false; the code bits are the kind's. The
    /// words must decode to a record of `op` (else `Invalid`, with the
    /// decoder's error).
    fn from_fields(
        op: &str,
        fields: &mut dyn Iterator<Item = (&str, FieldValue)>,
        words: usize,
    ) -> Result<Self, FieldError> {
        let kind = F::KINDS
            .iter()
            .position(|k| k.name == op)
            .ok_or(FieldError::UnknownOp)?;
        if words != F::WORDS {
            return Err(FieldError::Invalid(DecodeError::bad_length(words)));
        }
        let spec = F::KINDS.get(kind).unwrap_or(&BLANK);
        let mut w = spec.blank(F::CODE);
        for (name, v) in fields {
            let Some(i) = spec.fields.iter().position(|n| *n == name) else {
                let known = F::KINDS
                    .iter()
                    .flat_map(|k| k.fields.iter())
                    .find(|n| **n == name);
                return Err(FieldError::UnknownField(
                    known.copied().unwrap_or("(not a field of this op)"),
                ));
            };
            spec.check(i, v)?;
            spec.write(i, &mut w, v);
        }
        let r = decode_words::<F>(w.get(..F::WORDS).unwrap_or(&w)).map_err(FieldError::Invalid)?;
        if r.kind() != kind {
            return Err(FieldError::Invalid(DecodeError::invalid(0, 0, "kind")));
        }
        Ok(r)
    }
    fn op_names() -> &'static [&'static str] {
        F::OP_NAMES
    }
}

#[cfg(feature = "arbitrary")]
mod arb {
    use super::{FieldKind, Record, RecordFormat};
    use crate::arb::edge;
    use crate::native::{FieldValue, NativeCommand};
    use arbitrary::{Arbitrary, Result, Unstructured};

    /// A valid record: a kind, each field from its code table (or custom
    /// range) or edge-biased within its width.
    impl<'a, F: RecordFormat> Arbitrary<'a> for Record<F> {
        fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
            let kind = u.choose_index(F::KINDS.len().max(1))?;
            let mut v = [FieldValue::Uint(0); 24];
            if let Some(k) = F::KINDS.get(kind) {
                for (i, slot) in v.iter_mut().enumerate().take(k.fields.len()) {
                    let mask = k.value_mask(i);
                    *slot = match (k.kind_of_field(i), k.table(i)) {
                        (FieldKind::Bool, _) => FieldValue::Bool(u.arbitrary()?),
                        (FieldKind::Pair, _) => FieldValue::Pair(u.arbitrary()?),
                        (FieldKind::Uint, Some(t)) => {
                            let custom = match t.custom {
                                Some(c) if t.names.is_empty() || u.ratio(1, 8)? => Some(c),
                                _ => None,
                            };
                            FieldValue::Uint(match custom {
                                Some((lo, hi)) => u.int_in_range(lo..=hi)?.into(),
                                None => u.choose(t.names)?.0.into(),
                            })
                        }
                        (FieldKind::Uint, None) => FieldValue::Uint(edge(u, mask)? & mask),
                    };
                }
            }
            let mut r: Record<F> = Record::build(kind, &v);
            if let Some(k) = F::KINDS.get(kind) {
                k.keep_guard(&mut r.words);
            }
            Ok(r)
        }
    }

    impl<F: RecordFormat> Record<F> {
        /// Raw record words, often invalid: a valid record, one with a
        /// reserved or random bit flipped, or random words.
        pub fn arbitrary_words(u: &mut Unstructured<'_>) -> Result<[u64; 4]> {
            let mut w = [0u64; 4];
            let valid: Record<F> = u.arbitrary()?;
            let n = NativeCommand::words(&valid);
            for (d, s) in w.iter_mut().zip(valid.words()) {
                *d = *s;
            }
            match u.int_in_range(0u8..=3)? {
                0 => {}
                1 | 2 => {
                    let i = u.choose_index(n.max(1))?;
                    let bit = u.int_in_range(0u32..=63)?;
                    if let Some(x) = w.get_mut(i) {
                        *x ^= 1 << bit;
                    }
                }
                _ => {
                    for x in w.iter_mut().take(n) {
                        *x = u.arbitrary()?;
                    }
                }
            }
            Ok(w)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{well_formed, Kind};

    /// The compile-time check of `record_format!` refuses each kind of
    /// malformed table and accepts a sound one.
    #[test]
    fn malformed_tables_are_refused() {
        const OK: &[Kind] = &[Kind::new(
            "A",
            1,
            &["x", "y"],
            &[(0, 0, 7, 0, 0), (1, 1, 63, 12, 12)],
        )];
        assert!(well_formed(OK, 2, (0, 0xf << 60)));
        let bad: [(&[Kind], usize, (u8, u64)); 8] = [
            // Two fields share w0[7].
            (
                &[Kind::new(
                    "A",
                    0,
                    &["x", "y"],
                    &[(0, 0, 7, 0, 0), (1, 0, 8, 7, 0)],
                )],
                2,
                (0, 0),
            ),
            // A field over the code bits.
            (
                &[Kind::new("A", 1, &["x"], &[(0, 0, 63, 56, 0)])],
                2,
                (0, 0xf << 60),
            ),
            // hi < lo, hi > 63, a word past the record, a field index past the names.
            (&[Kind::new("A", 0, &["x"], &[(0, 0, 3, 4, 0)])], 2, (0, 0)),
            (&[Kind::new("A", 0, &["x"], &[(0, 0, 64, 4, 0)])], 2, (0, 0)),
            (&[Kind::new("A", 0, &["x"], &[(0, 2, 3, 0, 0)])], 2, (0, 0)),
            (&[Kind::new("A", 0, &["x"], &[(1, 0, 3, 0, 0)])], 2, (0, 0)),
            // Value bits past 63; a code wider than its bits.
            (
                &[Kind::new("A", 0, &["x"], &[(0, 0, 15, 0, 60)])],
                2,
                (0, 0),
            ),
            (
                &[Kind::new("A", 0x10, &["x"], &[(0, 0, 3, 0, 0)])],
                2,
                (0, 0xf << 60),
            ),
        ];
        for (i, (k, w, c)) in bad.iter().enumerate() {
            assert!(!well_formed(k, *w, *c), "case {i}");
        }
    }
}
