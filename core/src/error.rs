//! Typed errors.
//!
//! Decoding errors carry an [`ErrorKind`] (the CLI's JSON `kind`), the word
//! and bit mask at fault, and the name of the field or rule. The architected
//! error a queue raises for one is its architecture's
//! ([`QueueEngine::HwError`](crate::device::QueueEngine::HwError)).
//!
//! One error type per layer, each `#[non_exhaustive]` and a
//! [`core::error::Error`] (in `no_std` too) whose `source()` is the error it
//! wraps: decoding [`DecodeError`] (named fields:
//! [`FieldError`](crate::FieldError), a checked copy:
//! [`CopyError`](crate::CopyError)), ranges [`RangeError`], lift and lower
//! [`LowerError`], guest memory [`MemError`](crate::MemError), the back end
//! [`BackendError`](crate::BackendError) (an errno, or with `std` an
//! `io::Error`'s kind), a queue front end [`FaultCause`] (the architected
//! error is the queue's `HwError`), a producer [`ProduceError`](crate::device::ProduceError).

use core::error::Error;
use core::fmt;

use crate::device::FaultCause;

/// The class of a command error, as the CLI prints it in `error.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub enum ErrorKind {
    /// Opcode / descriptor type not in the architecture's table.
    UnknownOpcode,
    /// A bit that no field covers is set.
    ReservedBits,
    /// A field holds a value the architecture forbids (e.g. SMMU `cs` = 3).
    InvalidField,
    /// The buffer has the wrong number of words for this architecture/width.
    BadLength,
    /// (Lowering / conversion) the target architecture has no counterpart.
    NoEquivalent,
}

impl ErrorKind {
    /// The snake-case name used in JSON (`unknown_opcode`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorKind::UnknownOpcode => "unknown_opcode",
            ErrorKind::ReservedBits => "reserved_bits",
            ErrorKind::InvalidField => "invalid_field",
            ErrorKind::BadLength => "bad_length",
            ErrorKind::NoEquivalent => "no_equivalent",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A native command that does not decode (or a field set that does not encode).
///
/// `word` and `mask` locate the offending bits; `field` names the field or
/// rule (e.g. `"cs"`, `"num/scale with tg=0"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct DecodeError {
    /// The error class.
    pub kind: ErrorKind,
    /// Index of the 64-bit word at fault (0 for opcode / length errors).
    pub word: u8,
    /// The offending bits of that word (for `bad_length`: the length seen).
    pub mask: u64,
    /// The field or rule name.
    pub field: &'static str,
}

impl DecodeError {
    /// An unknown opcode `op` (its value is put in `mask`).
    pub const fn unknown_opcode(op: u64) -> Self {
        DecodeError {
            kind: ErrorKind::UnknownOpcode,
            word: 0,
            mask: op,
            field: "opcode",
        }
    }
    /// Reserved bits `mask` set in word `word`.
    pub const fn reserved(word: u8, mask: u64) -> Self {
        DecodeError {
            kind: ErrorKind::ReservedBits,
            word,
            mask,
            field: "reserved",
        }
    }
    /// Field `field` (in word `word`, bits `mask`) holds a forbidden value.
    pub const fn invalid(word: u8, mask: u64, field: &'static str) -> Self {
        DecodeError {
            kind: ErrorKind::InvalidField,
            word,
            mask,
            field,
        }
    }
    /// Buffer of `got` words where the architecture wants another count.
    pub const fn bad_length(got: usize) -> Self {
        DecodeError {
            kind: ErrorKind::BadLength,
            word: 0,
            mask: got as u64,
            field: "length",
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            ErrorKind::UnknownOpcode => write!(f, "unknown opcode {:#x}", self.mask),
            ErrorKind::ReservedBits => {
                write!(
                    f,
                    "reserved bits set in w{}: mask {:#018x}",
                    self.word, self.mask
                )
            }
            ErrorKind::InvalidField => write!(
                f,
                "invalid value in field {} (w{} bits {:#018x})",
                self.field, self.word, self.mask
            ),
            ErrorKind::BadLength => write!(f, "wrong number of 64-bit words: {}", self.mask),
            ErrorKind::NoEquivalent => write!(f, "no equivalent: {}", self.field),
        }
    }
}

impl Error for DecodeError {}

/// A byte range that cannot exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum RangeError {
    /// Size 0: an empty range invalidates nothing and is refused.
    #[error("empty range (size 0)")]
    Empty,
    /// `iova + size` is past 2^64.
    #[error("range end past 2^64")]
    Overflow,
    /// The architecture cannot express this value (e.g. an `am` above MAMV).
    #[error("value out of the encodable range")]
    Unencodable,
}

/// Why a generic operation could not be lowered (or a native command lifted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum LowerError {
    /// Not an invalidation and the target has no counterpart (rule 2 of
    /// docs/ARCHITECTURE.md); the reason names what is missing.
    #[error("no equivalent on the target: {0}")]
    NoEquivalent(&'static str),
    /// The caller's output buffer is full.
    #[error("output buffer full")]
    BufferFull,
    /// The operation itself is impossible (e.g. an empty range).
    #[error("invalid operation: {0}")]
    Invalid(&'static str),
}

impl LowerError {
    /// The CLI's error kind for this error.
    pub const fn kind(&self) -> ErrorKind {
        match self {
            LowerError::NoEquivalent(_) => ErrorKind::NoEquivalent,
            LowerError::BufferFull | LowerError::Invalid(_) => ErrorKind::InvalidField,
        }
    }
}

impl From<crate::sink::Full> for LowerError {
    fn from(_: crate::sink::Full) -> Self {
        LowerError::BufferFull
    }
}

/// The error the fault wraps (none for a bad pointer register).
impl Error for FaultCause {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            FaultCause::Fetch(e) | FaultCause::CompletionStore(e) => Some(e),
            FaultCause::Decode(e) => Some(e),
            FaultCause::Lift(e) => Some(e),
            FaultCause::Backend(e) => Some(e),
            FaultCause::BadPointer(_) => None,
        }
    }
}
