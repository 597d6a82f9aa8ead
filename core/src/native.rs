//! What every native command type offers, so that tools (the CLI, fuzzers)
//! can handle the three architectures generically.
//!
//! A command is a list of named fields: 1-bit fields are [`FieldValue::Bool`],
//! wider ones [`FieldValue::Uint`] (addresses as byte addresses), and VT-d's
//! `priv_data` is [`FieldValue::Pair`]. Names are exactly those of
//! the command tables (docs/SPEC.md).

use crate::error::DecodeError;
use core::fmt;

/// The three architectures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum ArchId {
    /// Arm SMMUv3.
    Smmuv3,
    /// Intel VT-d.
    Vtd,
    /// AMD-Vi.
    Amd,
}

impl ArchId {
    /// All three, in a fixed order.
    pub const ALL: [ArchId; 3] = [ArchId::Smmuv3, ArchId::Vtd, ArchId::Amd];
    /// The name used on the command line and in JSON (`smmuv3`, `vtd`, `amd`).
    pub const fn name(self) -> &'static str {
        match self {
            ArchId::Smmuv3 => "smmuv3",
            ArchId::Vtd => "vtd",
            ArchId::Amd => "amd",
        }
    }
    /// Parse a name as printed by [`ArchId::name`].
    pub fn from_name(s: &str) -> Option<Self> {
        ArchId::ALL.into_iter().find(|a| a.name() == s)
    }
}

impl fmt::Display for ArchId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The value of one named field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldValue {
    /// A 1-bit field.
    Bool(bool),
    /// A wider field (addresses as byte addresses).
    Uint(u64),
    /// Two words (VT-d `priv_data` = `[w2, w3]`).
    Pair([u64; 2]),
}

/// Why a set of named fields does not make a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldError {
    /// No op of that name in this architecture's table.
    UnknownOp,
    /// The op has no field of that name.
    UnknownField(&'static str),
    /// The value does not fit the field (too wide, unaligned address, wrong type).
    TooWide(&'static str),
    /// The fields make a command the decoder would refuse.
    Invalid(DecodeError),
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldError::UnknownOp => f.write_str("unknown op"),
            FieldError::UnknownField(n) => write!(f, "unknown field {n}"),
            FieldError::TooWide(n) => write!(f, "value does not fit field {n}"),
            FieldError::Invalid(e) => write!(f, "{e}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for FieldError {}

/// A native command type: bit-exact codec plus named-field access.
///
/// Laws (checked by the property tests and fuzzers):
/// * `decode(w)` is `Ok(c)` ⇒ `c.encode(..)` writes exactly `w` (R1);
/// * `from_fields(c.op(), fields of c, c.words())` == `c`.
pub trait NativeCommand: Sized + Copy + fmt::Debug + PartialEq {
    /// Which architecture.
    const ARCH: ArchId;
    /// Decode one command from its 64-bit words (lowest first). A wrong count
    /// is `bad_length`.
    fn decode(words: &[u64]) -> Result<Self, DecodeError>;
    /// Number of 64-bit words this command encodes to (2, or 4 for 256-bit VT-d).
    fn words(&self) -> usize;
    /// Encode into `out[..self.words()]`; returns the count. A shorter `out`
    /// is `bad_length`.
    fn encode_into(&self, out: &mut [u64]) -> Result<usize, DecodeError>;
    /// The op name (`CMD_TLBI_NH_VA`, `iotlb_inv_dsc`, `COMPLETION_WAIT`, ...).
    fn op(&self) -> &'static str;
    /// Visit every field in table order.
    fn for_each_field(&self, f: &mut dyn FnMut(&'static str, FieldValue));
    /// Field names of op `op`, in table order (`None`: unknown op).
    fn field_names(op: &str) -> Option<&'static [&'static str]>;
    /// Build a command from an op and named fields (fields not given are
    /// 0/false), for a command of `words` 64-bit words.
    fn from_fields(
        op: &str,
        fields: &mut dyn Iterator<Item = (&str, FieldValue)>,
        words: usize,
    ) -> Result<Self, FieldError>;
    /// Every op name of this architecture, in table order.
    fn op_names() -> &'static [&'static str];
}
