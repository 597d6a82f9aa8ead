//! Table-driven codecs for the records an IOMMU writes for software to
//! read (fault records, event-log entries, page requests): one piece of
//! code for every layout, each layout a table.
//!
//! A record format ([`RecordFormat`]) is a list of record kinds
//! ([`Kind`], the "ops" of [`NativeCommand`]); a kind is a name, the bits
//! its selector fixes (an event code, a descriptor type) and its named
//! fields ([`Field`]), each made of one or more bit spans ([`Span`]) of the
//! record's 64-bit words. Every bit neither fixed nor in a field is
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
//! use iommu_inval_core::record::{CodeTable, Kind, RecordFormat, Record};
//! use iommu_inval_core::{record_kind, ArchId, DecodeError, FieldValue, NativeCommand};
//! // A made-up 2-word format: code 1 in w0[63:60], a 16-bit `id`, a flag and an address.
//! #[derive(Debug, Clone, Copy, PartialEq)]
//! struct NoFeatures;
//! iommu_inval_core::feature_set!(NoFeatures { latest: NoFeatures, host: NoFeatures, presets: [] });
//! struct Demo;
//! impl RecordFormat for Demo {
//!     const ARCH: ArchId = ArchId::Amd;
//!     type Features = NoFeatures;
//!     const WORDS: usize = 2;
//!     const KINDS: &'static [Kind] = &[record_kind!("DEMO", fixed [(0, 0xf << 60, 1 << 60)], {
//!         "id": Uint [(0, 15, 0, 0)],
//!         "flag": Bool [(0, 16, 16, 0)],
//!         "address": Uint [(1, 63, 12, 12)],
//!     })];
//!     const OP_NAMES: &'static [&'static str] = &["DEMO"];
//!     fn kind_of(w: &[u64]) -> Result<usize, DecodeError> {
//!         match w[0] >> 60 {
//!             1 => Ok(0),
//!             c => Err(DecodeError::unknown_opcode(c)),
//!         }
//!     }
//! }
//! let r = Record::<Demo>::decode(&[1 << 60 | 1 << 16 | 0x42, 0x5000]).unwrap();
//! assert_eq!((r.op(), r.uint("id"), r.flag("flag"), r.uint("address")), ("DEMO", Some(0x42), Some(true), Some(0x5000)));
//! assert_eq!(r.words(), &[1 << 60 | 1 << 16 | 0x42, 0x5000]);
//! // w0[17] is reserved; code 2 is no kind.
//! assert!(Record::<Demo>::decode(&[1 << 60 | 1 << 17, 0]).is_err());
//! assert!(Record::<Demo>::decode(&[2 << 60, 0]).is_err());
//! ```

use crate::error::DecodeError;
use crate::native::{word, ArchId, FeatureSet, FieldError, FieldValue, NativeCommand};
use core::fmt;
use core::marker::PhantomData;

/// Bits `lo..=hi` of word `word` hold the value's bits from bit `at` up (an
/// address kept as a byte address has `at` = `lo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// The 64-bit word (0 = lowest).
    pub word: u8,
    /// The highest bit in the word.
    pub hi: u8,
    /// The lowest bit in the word.
    pub lo: u8,
    /// The value bit that `lo` holds.
    pub at: u8,
}

impl Span {
    /// The value bits this span holds, in place in the value.
    const fn value_mask(&self) -> u64 {
        word::mask((self.hi - self.lo) as u32, 0) << self.at
    }
    /// The word bits this span covers.
    const fn word_mask(&self) -> u64 {
        word::mask(self.hi as u32, self.lo as u32)
    }
}

/// How a field's value is typed in [`FieldValue`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// A 1-bit field: [`FieldValue::Bool`].
    Bool,
    /// A wider field: [`FieldValue::Uint`].
    Uint,
    /// Two whole words (the first two spans' words): [`FieldValue::Pair`].
    Pair,
}

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
    pub fn allows(&self, code: u64) -> bool {
        self.name(code).is_some()
            || self
                .custom
                .is_some_and(|(lo, hi)| (u64::from(lo)..=u64::from(hi)).contains(&code))
    }
}

/// One named field of a record kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// Its name (as the tables of docs/SPEC.md spell it).
    pub name: &'static str,
    /// Bool, Uint or Pair.
    pub kind: FieldKind,
    /// Where its bits are.
    pub spans: &'static [Span],
    /// The codes it may hold (`None`: any value).
    pub table: Option<&'static CodeTable>,
}

impl Field {
    /// The value bits of a `Uint` / `Bool` field.
    fn value_mask(&self) -> u64 {
        self.spans.iter().fold(0, |m, s| m | s.value_mask())
    }
    /// The field's value in `w` (a `Pair`: its two words).
    fn read(&self, w: &[u64]) -> FieldValue {
        let at = |i: usize| {
            self.spans
                .get(i)
                .and_then(|s| w.get(usize::from(s.word)))
                .copied()
                .unwrap_or(0)
        };
        match self.kind {
            FieldKind::Pair => FieldValue::Pair([at(0), at(1)]),
            FieldKind::Bool => FieldValue::Bool(self.read_uint(w) != 0),
            FieldKind::Uint => FieldValue::Uint(self.read_uint(w)),
        }
    }
    fn read_uint(&self, w: &[u64]) -> u64 {
        self.spans.iter().fold(0, |v, s| {
            let x = w.get(usize::from(s.word)).copied().unwrap_or(0);
            v | (word::get(x, s.hi.into(), s.lo.into()) << s.at)
        })
    }
    /// Store `v` (its bits outside the field cut: the encode contract).
    fn write(&self, w: &mut [u64], v: FieldValue) {
        let [x, y] = match v {
            FieldValue::Bool(b) => [u64::from(b), 0],
            FieldValue::Uint(x) => [x, 0],
            FieldValue::Pair(p) => p,
        };
        for (i, s) in self.spans.iter().enumerate() {
            let Some(d) = w.get_mut(usize::from(s.word)) else {
                continue;
            };
            *d &= !s.word_mask();
            *d |= match self.kind {
                FieldKind::Pair if i == 0 => x,
                FieldKind::Pair => y,
                _ => word::put(x >> s.at, s.hi.into(), s.lo.into()),
            };
        }
    }
    /// `Ok` when `v` fits the field (type and width).
    fn check(&self, v: FieldValue) -> Result<(), FieldError> {
        let ok = match (self.kind, v) {
            (FieldKind::Pair, FieldValue::Pair(_)) => true,
            (FieldKind::Bool, FieldValue::Bool(_)) => true,
            (FieldKind::Bool | FieldKind::Uint, FieldValue::Uint(x)) => x & !self.value_mask() == 0,
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            Err(FieldError::TooWide(self.name))
        }
    }
}

/// One kind of record (an op of [`NativeCommand`]): its name, the bits its
/// selector fixes and its fields, in table order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    /// The record kind's name (an event name, `page_req_dsc`, ...).
    pub name: &'static str,
    /// `(word, mask, value)`: bits the kind fixes (its code).
    pub fixed: &'static [(u8, u64, u64)],
    /// The field names, in table order (the fields' own names).
    pub names: &'static [&'static str],
    /// The fields.
    pub fields: &'static [Field],
}

impl Kind {
    /// The bits of word `i` that the kind fixes or a field covers.
    fn defined(&self, i: usize) -> u64 {
        let fixed = self
            .fixed
            .iter()
            .filter(|f| usize::from(f.0) == i)
            .fold(0, |m, f| m | f.1);
        self.fields
            .iter()
            .flat_map(|f| f.spans.iter())
            .filter(|s| usize::from(s.word) == i)
            .fold(fixed, |m, s| m | s.word_mask())
    }
    /// The words of this kind with every field 0.
    fn blank<const N: usize>(&self) -> [u64; N] {
        let mut w = [0u64; N];
        for &(i, m, v) in self.fixed {
            if let Some(x) = w.get_mut(usize::from(i)) {
                *x = (*x & !m) | (v & m);
            }
        }
        w
    }
}

/// Builds a [`Kind`] from one list: `record_kind!("NAME", fixed [(word,
/// mask, value), ..], { "field": Bool|Uint|Pair [(word, hi, lo, at), ..]
/// (table &TABLE)?, .. })`.
#[macro_export]
macro_rules! record_kind {
    ($name:literal, fixed [$(($fw:expr, $fm:expr, $fv:expr)),* $(,)?],
     { $($f:literal : $k:ident [$(($w:expr, $hi:expr, $lo:expr, $at:expr)),+ $(,)?] $((table $t:expr))?),* $(,)? }) => {
        $crate::record::Kind {
            name: $name,
            fixed: &[$(($fw, $fm, $fv)),*],
            names: &[$($f),*],
            fields: &[$($crate::record::Field {
                name: $f,
                kind: $crate::record::FieldKind::$k,
                spans: &[$($crate::record::Span { word: $w, hi: $hi, lo: $lo, at: $at }),+],
                table: $crate::record_kind!(@table $($t)?),
            }),*],
        }
    };
    (@table) => { None };
    (@table $t:expr) => { Some($t) };
}

/// A record layout: its architecture, size and kinds, and how the words
/// select a kind.
pub trait RecordFormat: 'static {
    /// The architecture that writes these records.
    const ARCH: ArchId;
    /// The architecture's features (no feature refuses a record).
    type Features: FeatureSet;
    /// Words per record: 2 (16 bytes) or 4 (32 bytes).
    const WORDS: usize;
    /// The kinds, in table order.
    const KINDS: &'static [Kind];
    /// Their names, in the same order (checked by the format's tests).
    const OP_NAMES: &'static [&'static str];
    /// The index in [`RecordFormat::KINDS`] of the kind `w` (exactly
    /// [`RecordFormat::WORDS`] words) has, or why it has none (an unknown
    /// code: `unknown_opcode`).
    fn kind_of(w: &[u64]) -> Result<usize, DecodeError>;
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
        let mut d = f.debug_struct(self.op());
        for fd in self.spec().fields {
            d.field(fd.name, &fd.read(&self.words));
        }
        d.finish()
    }
}

impl<F: RecordFormat> Record<F> {
    fn spec(&self) -> &'static Kind {
        F::KINDS.get(usize::from(self.kind)).unwrap_or(&BLANK)
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
        let mut words = spec.blank::<4>();
        for (f, v) in spec.fields.iter().zip(values) {
            f.write(&mut words, *v);
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
    pub fn kind(&self) -> usize {
        usize::from(self.kind)
    }
    /// Field `name`'s value (`None`: not a field of this kind).
    pub fn get(&self, name: &str) -> Option<FieldValue> {
        self.spec()
            .fields
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.read(&self.words))
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
        let f = self.spec().fields.iter().find(|f| f.name == name)?;
        f.table?.name(f.read_uint(&self.words))
    }
}

const BLANK: Kind = Kind {
    name: "",
    fixed: &[],
    names: &[],
    fields: &[],
};

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
        let r = x & !spec.defined(i);
        if r != 0 {
            return Err(DecodeError::reserved(i as u8, r));
        }
    }
    for f in spec.fields {
        if let Some(t) = f.table {
            if !t.allows(f.read_uint(w)) {
                let s = f.spans.first().copied().unwrap_or(Span {
                    word: 0,
                    hi: 0,
                    lo: 0,
                    at: 0,
                });
                return Err(DecodeError::invalid(s.word, s.word_mask(), f.name));
            }
        }
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
        for fd in self.spec().fields {
            f(fd.name, fd.read(&self.words));
        }
    }
    fn field_names(op: &str) -> Option<&'static [&'static str]> {
        F::KINDS.iter().find(|k| k.name == op).map(|k| k.names)
    }
    /// Fields not given are 0 / false; the fixed bits are the kind's. The
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
        let mut w = spec.blank::<4>();
        for (name, v) in fields {
            let Some(f) = spec.fields.iter().find(|f| f.name == name) else {
                let known = F::KINDS
                    .iter()
                    .flat_map(|k| k.names.iter())
                    .find(|n| **n == name);
                return Err(FieldError::UnknownField(
                    known.copied().unwrap_or("(not a field of this op)"),
                ));
            };
            f.check(v)?;
            f.write(&mut w, v);
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
                for (f, slot) in k.fields.iter().zip(v.iter_mut()) {
                    *slot = match (f.kind, f.table) {
                        (FieldKind::Bool, _) => FieldValue::Bool(u.arbitrary()?),
                        (FieldKind::Pair, _) => FieldValue::Pair(u.arbitrary()?),
                        (FieldKind::Uint, Some(t)) => {
                            let custom = t
                                .custom
                                .filter(|_| t.names.is_empty() || u.ratio(1, 8).unwrap_or(false));
                            FieldValue::Uint(match custom {
                                Some((lo, hi)) => u.int_in_range(lo..=hi)?.into(),
                                None => u.choose(t.names)?.0.into(),
                            })
                        }
                        (FieldKind::Uint, None) => {
                            FieldValue::Uint(edge(u, f.value_mask())? & f.value_mask())
                        }
                    };
                }
            }
            Ok(Record::build(kind, &v))
        }
    }

    impl<F: RecordFormat> Record<F> {
        /// Raw record words, often invalid: a valid record, one with a
        /// reserved or random bit flipped, or random words.
        pub fn arbitrary_words(u: &mut Unstructured<'_>) -> Result<[u64; 4]> {
            let mut w = [0u64; 4];
            let valid: Record<F> = u.arbitrary()?;
            let n = NativeCommand::words(&valid);
            w.get_mut(..n)
                .unwrap_or(&mut [])
                .copy_from_slice(valid.words());
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
