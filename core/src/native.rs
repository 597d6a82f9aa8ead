//! What every native command type offers, so that tools (the CLI, fuzzers)
//! can handle the four architectures generically.
//!
//! A command is a list of named fields: 1-bit fields are [`FieldValue::Bool`],
//! wider ones [`FieldValue::Uint`] (addresses as byte addresses), and VT-d's
//! `priv_data` is [`FieldValue::Pair`]. Names are exactly those of
//! the command tables (docs/SPEC.md).

use crate::error::DecodeError;
use core::fmt;

/// The architectures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum ArchId {
    /// Arm SMMUv3.
    Smmuv3,
    /// Intel VT-d.
    Vtd,
    /// AMD-Vi.
    Amd,
    /// RISC-V IOMMU.
    Riscv,
    /// virtio-iommu (virtio device 23): requests of the virtio 1.2 / 1.3
    /// specification and of the vSVA drafts.
    VirtioIommu,
}

impl ArchId {
    /// All of them, in a fixed order.
    pub const ALL: [ArchId; 5] = [
        ArchId::Smmuv3,
        ArchId::Vtd,
        ArchId::Amd,
        ArchId::Riscv,
        ArchId::VirtioIommu,
    ];
    /// The name used on the command line and in JSON (`smmuv3`, `vtd`, `amd`,
    /// `riscv`, `virtio-iommu`).
    pub const fn name(self) -> &'static str {
        match self {
            ArchId::Smmuv3 => "smmuv3",
            ArchId::Vtd => "vtd",
            ArchId::Amd => "amd",
            ArchId::Riscv => "riscv",
            ArchId::VirtioIommu => "virtio-iommu",
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

/// The most 64-bit words of any architecture's command
/// ([`NativeCommand::MAX_WORDS`] of each is at most this): the size of a
/// buffer that holds any command.
pub const MAX_WORDS: usize = 10;

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
#[non_exhaustive]
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

/// The decode error of [`FieldError::Invalid`].
impl core::error::Error for FieldError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            FieldError::Invalid(e) => Some(e),
            _ => None,
        }
    }
}

/// A native command type: bit-exact codec plus named-field access.
///
/// Laws (checked by the property tests and fuzzers):
/// * `decode(w)` is `Ok(c)` ⇒ `c.encode(..)` writes exactly `w` (R1);
/// * `from_fields(c.op(), fields of c, c.words())` == `c`;
/// * `check_words(w)` == `decode(w).map(|_| ())`.
///
/// **The encode contract, the same for every architecture**: fields are
/// validated where a command is built from untrusted input ([`decode`],
/// [`from_fields`]), so [`encode_into`] never re-checks: it writes each
/// field's low bits into its position, as the hardware's fields hold them.
/// A command assembled from struct literals with an over-wide value
/// encodes its truncation; [`validate`] (or
/// [`encode_checked_into`]) says whether a command is one `decode` could
/// have returned.
///
/// [`decode`]: NativeCommand::decode
/// [`from_fields`]: NativeCommand::from_fields
/// [`encode_into`]: NativeCommand::encode_into
/// [`validate`]: NativeCommand::validate
/// [`encode_checked_into`]: NativeCommand::encode_checked_into
pub trait NativeCommand: Sized + Copy + fmt::Debug + PartialEq {
    /// Which architecture.
    const ARCH: ArchId;
    /// The ID-register features of an emulated IOMMU that gate decoding
    /// ([`NativeCommand::decode_with`]); not the lowering capabilities.
    type Features: FeatureSet;
    /// The most 64-bit words a command of this architecture encodes to
    /// (the buffer [`NativeCommand::validate`] encodes into): 4 unless the
    /// architecture overrides it (virtio-iommu: 10, its requests are 20 to
    /// 76 bytes). At most [`MAX_WORDS`].
    const MAX_WORDS: usize = 4;
    /// Decode one command from its 64-bit words (lowest first). A wrong count
    /// is `bad_length`.
    fn decode(words: &[u64]) -> Result<Self, DecodeError>;
    /// `Ok` when an IOMMU with `features` accepts this (decoded) command;
    /// otherwise the error its queue reports, as [`NativeCommand::decode`]
    /// words it. `Self::Features::LATEST` accepts every command.
    fn check_features(&self, features: &Self::Features) -> Result<(), DecodeError>;
    /// Decode as an IOMMU with `features` does: [`NativeCommand::decode`],
    /// then [`NativeCommand::check_features`].
    #[inline(always)]
    fn decode_with(words: &[u64], features: &Self::Features) -> Result<Self, DecodeError> {
        let c = Self::decode(words)?;
        c.check_features(features)?;
        Ok(c)
    }
    /// Number of 64-bit words this command encodes to: 2 (128-bit
    /// commands) unless the architecture overrides it (256-bit VT-d).
    #[inline(always)]
    fn words(&self) -> usize {
        2
    }
    /// Encode into `out[..self.words()]`; returns the count. A shorter `out`
    /// is `bad_length`; fields are not re-checked (see the encode contract
    /// above).
    fn encode_into(&self, out: &mut [u64]) -> Result<usize, DecodeError>;
    /// `Ok` when the command is one [`NativeCommand::decode`] could return:
    /// every field within its width and every value allowed (a decoded or
    /// `from_fields` command always is). `invalid_field` "field too wide"
    /// when encoding would truncate a field; the decoder's error when the
    /// fields make a command it refuses.
    fn validate(&self) -> Result<(), DecodeError> {
        let mut w = [0u64; MAX_WORDS];
        let n = self.encode_into(&mut w[..Self::MAX_WORDS.min(MAX_WORDS)])?;
        match Self::decode(w.get(..n).unwrap_or(&w)) {
            Ok(c) if c == *self => Ok(()),
            Ok(_) => Err(DecodeError::invalid(0, 0, "field too wide")),
            Err(e) => Err(e),
        }
    }
    /// [`NativeCommand::validate`], then [`NativeCommand::encode_into`].
    fn encode_checked_into(&self, out: &mut [u64]) -> Result<usize, DecodeError> {
        self.validate()?;
        self.encode_into(out)
    }
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
    /// Whether `words` decode, without building the command: `Ok` exactly
    /// when [`NativeCommand::decode`] is `Ok`, and otherwise the same error.
    /// By R1 the words of an accepted command are the words its encoding
    /// writes, so a pass-through may forward them as they are
    /// ([`copy_checked`]). Each architecture overrides this with a test of
    /// a few table look-ups; the default decodes.
    #[inline(always)]
    fn check_words(words: &[u64]) -> Result<(), DecodeError> {
        Self::decode(words).map(|_| ())
    }
}

/// The one capability type of an architecture: what an IOMMU implements
/// (its ID registers: SMMU_IDR*, CAP_REG / ECAP_REG, EFR, `capabilities` /
/// `fctl`) and how it is set up where that changes what commands mean. It
/// gates decoding (what [`NativeCommand::decode_with`] refuses on an
/// emulated IOMMU) and lowering (what a host IOMMU can be sent). `Default`
/// is [`FeatureSet::LATEST`].
pub trait FeatureSet: Sized + Copy + fmt::Debug + PartialEq + Default + 'static {
    /// Every feature of the newest revision: `decode_with` is `decode`.
    const LATEST: Self;
    /// The host a lowering targets when none is named: a typical current
    /// IOMMU of the architecture, set up as its Linux driver does.
    const HOST: Self;
    /// The named presets (the CLI's `--caps`), oldest first; `latest` last.
    const PRESETS: &'static [(&'static str, Self)];
    /// The preset named `name`.
    fn preset(name: &str) -> Option<Self> {
        Self::PRESETS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, f)| *f)
    }
    /// The names of [`FeatureSet::PRESETS`], in order.
    fn preset_names() -> impl Iterator<Item = &'static str> + Clone {
        Self::PRESETS.iter().map(|(n, _)| *n)
    }
}

/// Implements [`FeatureSet`] and `Default` (its `LATEST`) for an
/// architecture's `Features`, whose presets end with `"latest"`:
/// `feature_set!(Features { latest: Features::ALL, host: Features::REV2,
/// presets: ["amd-2" => Features::REV2] });` (doc comments may precede
/// `host` and `presets`).
#[macro_export]
macro_rules! feature_set {
    ($t:ident {
        latest: $latest:expr,
        $(#[$hm:meta])* host: $host:expr,
        $(#[$pm:meta])* presets: [$($name:literal => $val:expr),* $(,)?] $(,)?
    }) => {
        impl Default for $t {
            /// [`FeatureSet::LATEST`]($crate::native::FeatureSet::LATEST): everything accepted.
            fn default() -> Self {
                $latest
            }
        }

        impl $crate::native::FeatureSet for $t {
            const LATEST: $t = $latest;
            $(#[$hm])*
            const HOST: $t = $host;
            $(#[$pm])*
            const PRESETS: &'static [(&'static str, $t)] = &[$(($name, $val),)* ("latest", $latest)];
        }
    };
}

/// The `impl NativeCommand` of an architecture's command type, with the
/// items every architecture writes alike generated:
///
/// ```text
/// native_command! {
///     Command: ArchId::Amd, crate::Features, |cmd, features| features.check(cmd);
///     op_names &OP_NAMES, op = name, encode = encode;
///     fn decode(..) .. // the remaining items, as in any impl
/// }
/// ```
///
/// `ARCH`, `Features` and `check_features` (the closure's body, with the
/// command and the features bound to the two names), `op_names`; with
/// `op = m`, `op` is `self.m()`; with `encode = m` (2-word commands),
/// `encode_into` is `__macro::encode_pair` of `self.m()`; with `from_fields =
/// all, blank, set, finish`, `from_fields` is `__macro::from_fields_2` with the
/// first three, its command then passed through `finish` (a last check);
/// with `fields = visit, names_of`, `for_each_field` is `self.visit(f)` and
/// `field_names` is `names_of(op)`.
#[macro_export]
macro_rules! native_command {
    (
        $t:ty : $arch:expr, $feat:ty, |$c:ident, $f:ident| $check:expr;
        op_names $names:expr $(, op = $op:ident)? $(, encode = $enc:ident)?
        $(, from_fields = $all:expr, $blank:expr, $set:expr, $finish:expr)?
        $(, fields = $visit:ident, $names_of:path)?;
        $($item:tt)*
    ) => {
        impl $crate::NativeCommand for $t {
            const ARCH: $crate::ArchId = $arch;
            type Features = $feat;

            #[inline(always)]
            fn check_features(
                &self,
                $f: &$feat,
            ) -> ::core::result::Result<(), $crate::DecodeError> {
                let $c = self;
                $check
            }

            fn op_names() -> &'static [&'static str] {
                $names
            }

            $(
                fn op(&self) -> &'static str {
                    self.$op()
                }
            )?

            $(
                #[inline(always)]
                fn encode_into(
                    &self,
                    out: &mut [u64],
                ) -> ::core::result::Result<usize, $crate::DecodeError> {
                    $crate::native::__macro::encode_pair(self.$enc(), out)
                }
            )?

            $(
                fn from_fields(
                    op: &str,
                    fields: &mut dyn Iterator<Item = (&str, $crate::FieldValue)>,
                    words: usize,
                ) -> ::core::result::Result<Self, $crate::FieldError> {
                    let cmd = $crate::native::__macro::from_fields_2(op, fields, words, $all, $blank, $set)?;
                    ($finish)(cmd)
                }
            )?

            $(
                fn for_each_field(&self, f: &mut dyn FnMut(&'static str, $crate::FieldValue)) {
                    self.$visit(f)
                }

                fn field_names(op: &str) -> ::core::option::Option<&'static [&'static str]> {
                    $names_of(op)
                }
            )?

            $($item)*
        }
    };
}

/// The helpers [`native_command!`](crate::native_command)'s expansion calls
/// (`encode_pair`, `from_fields_2`), and the field-width checks (`want_*`)
/// of the `set` function an architecture hands to its `from_fields =`
/// clause. Hidden from the docs: they exist for that macro, not for users
/// of the commands.
#[doc(hidden)]
pub mod __macro {
    use super::{FieldError, FieldValue, NativeCommand};
    use crate::error::DecodeError;

    /// A 1-bit field's value from a named-field input: `Bool`, or `Uint` 0 / 1.
    pub fn want_bool(name: &'static str, v: FieldValue) -> Result<bool, FieldError> {
        match v {
            FieldValue::Bool(b) => Ok(b),
            FieldValue::Uint(0) => Ok(false),
            FieldValue::Uint(1) => Ok(true),
            _ => Err(FieldError::TooWide(name)),
        }
    }

    /// A wider field's value, at most `max`.
    pub fn want_uint(name: &'static str, v: FieldValue, max: u64) -> Result<u64, FieldError> {
        match v {
            FieldValue::Uint(x) if x <= max => Ok(x),
            _ => Err(FieldError::TooWide(name)),
        }
    }

    /// An address field's value, with no bit outside `mask`.
    pub fn want_addr(name: &'static str, v: FieldValue, mask: u64) -> Result<u64, FieldError> {
        match v {
            FieldValue::Uint(x) if x & !mask == 0 => Ok(x),
            _ => Err(FieldError::TooWide(name)),
        }
    }

    /// `n` as the `'static` name of `names` that equals it (for errors that
    /// name a field).
    fn static_name(names: &'static [&'static str], n: &str) -> Option<&'static str> {
        names.iter().copied().find(|x| *x == n)
    }

    /// [`NativeCommand::from_fields`] of an architecture whose commands are all
    /// 2 words: `UnknownOp` unless `C::field_names(op)` and `blank(op)` (the
    /// op's command, fields 0 / false), `bad_length` unless `words` is 2;
    /// then each of `fields`, which must be one of the op's names (else
    /// `UnknownField`, named by its spelling in `all_names`, every field of
    /// the architecture), is stored by `set`, which checks its width. A field
    /// given twice: the last value wins.
    pub fn from_fields_2<C: NativeCommand>(
        op: &str,
        fields: &mut dyn Iterator<Item = (&str, FieldValue)>,
        words: usize,
        all_names: &'static [&'static str],
        blank: impl FnOnce(&str) -> Option<C>,
        set: impl Fn(&mut C, &'static str, FieldValue) -> Result<(), FieldError>,
    ) -> Result<C, FieldError> {
        let names = C::field_names(op).ok_or(FieldError::UnknownOp)?;
        let mut cmd = blank(op).ok_or(FieldError::UnknownOp)?;
        if words != 2 {
            return Err(FieldError::Invalid(DecodeError::bad_length(words)));
        }
        for (name, v) in fields {
            let Some(n) = static_name(names, name) else {
                return Err(FieldError::UnknownField(
                    static_name(all_names, name).unwrap_or("(not a field of this op)"),
                ));
            };
            set(&mut cmd, n, v)?;
        }
        Ok(cmd)
    }

    /// A checked field value (at most the field's `max`, see [`want_uint`])
    /// as the field's type: `TooWide` if it does not fit that type either.
    pub fn narrow<T: TryFrom<u64>>(name: &'static str, x: u64) -> Result<T, FieldError> {
        T::try_from(x).map_err(|_| FieldError::TooWide(name))
    }

    /// The named-field table of an architecture's command enum, written once
    /// as one row per op: `"OP_NAME" => Variant(Type) { field: kind, .. }`,
    /// fields in table order, `field as "name"` where the table's name is
    /// not the struct field's, and `kind` one of `bool`, `uint(max)` (an
    /// integer field of at most `max`), `addr(mask)` (a byte address with no
    /// bit outside `mask`), `pair` (an optional `[u64; 2]`, visited only
    /// when present). It writes, in the invoking module: `OP_NAMES`
    /// (every op, in table order), `ALL_FIELD_NAMES` (every field name),
    /// `Command::name` (the op of a command), `Command::names_of` (the
    /// field names of an op), `Command::visit_fields` (each field in table
    /// order), `Command::check_fields` (every field within its width), `blank` (an op's command with every field 0 / false) and
    /// `set_field` (one field, width-checked) — what
    /// [`native_command!`](crate::native_command)'s `op_names`, `op` and
    /// `from_fields` clauses and `for_each_field` / `field_names` take.
    ///
    /// ```
    /// use iommu_inval_core::{FieldError, FieldValue};
    /// #[derive(Debug, Clone, Copy, PartialEq, Default)]
    /// pub struct Inv { pub did: u16, pub ih: bool, pub address: u64 }
    /// #[derive(Debug, Clone, Copy, PartialEq, Default)]
    /// pub struct Wait { pub kind: u8 }
    /// #[derive(Debug, Clone, Copy, PartialEq)]
    /// pub enum Command { Inv(Inv), Wait(Wait) }
    /// iommu_inval_core::op_table! {
    ///     Command;
    ///     "INV" => Inv(Inv) { did: uint(0xfff), ih: bool, address: addr(!0xfff) },
    ///     "WAIT" => Wait(Wait) { kind as "type": uint(3) },
    /// }
    /// assert_eq!((OP_NAMES, Command::names_of("WAIT")), (&["INV", "WAIT"][..], Some(&["type"][..])));
    /// let mut c = blank("INV").unwrap();
    /// set_field(&mut c, "did", FieldValue::Uint(0x12)).unwrap();
    /// assert_eq!(Command::Wait(Wait { kind: 4 }).check_fields(), Err(FieldError::TooWide("type")));
    /// assert!(set_field(&mut c, "did", FieldValue::Uint(0x1000)).is_err());
    /// assert_eq!((c.name(), c), ("INV", Command::Inv(Inv { did: 0x12, ..Inv::default() })));
    /// let mut seen = Vec::new();
    /// c.visit_fields(&mut |n, v| seen.push((n, v)));
    /// assert_eq!(seen[..2], [("did", FieldValue::Uint(0x12)), ("ih", FieldValue::Bool(false))]);
    /// ```
    #[macro_export]
    macro_rules! op_table {
        (
            $cmd:ident;
            $($op:literal => $v:ident($ty:ident) {
                $($f:ident $(as $fname:literal)?: $kind:ident $(($arg:expr))?),* $(,)?
            }),+ $(,)?
        ) => {
            /// Every op name, in table order.
            const OP_NAMES: &[&str] = &[$($op),+];
            /// Every field name of the table, to name an unknown field statically.
            const ALL_FIELD_NAMES: &[&str] = &[$($($crate::op_table!(@name $f $($fname)?),)*)+];

            impl $cmd {
                /// The op name, as in the table.
                const fn name(&self) -> &'static str {
                    match self {
                        $($cmd::$v(_) => $op,)+
                    }
                }
                /// The field names of op `op`, in table order (`None`: no such op).
                fn names_of(op: &str) -> Option<&'static [&'static str]> {
                    match op {
                        $($op => Some(&[$($crate::op_table!(@name $f $($fname)?)),*]),)+
                        _ => None,
                    }
                }
                /// `Ok` when every field is within its width, else `TooWide`
                /// naming the first (in table order) that is not.
                #[allow(unused_variables)]
                fn check_fields(&self) -> Result<(), $crate::FieldError> {
                    match *self {
                        $($cmd::$v(c) => {
                            $(if !$crate::op_table!(@fits $kind c.$f $(, $arg)?) {
                                return Err($crate::FieldError::TooWide(
                                    $crate::op_table!(@name $f $($fname)?),
                                ));
                            })*
                        })+
                    }
                    Ok(())
                }
                /// Visit every field in table order.
                #[allow(unused_variables)]
                fn visit_fields(&self, f: &mut dyn FnMut(&'static str, $crate::FieldValue)) {
                    match *self {
                        $($cmd::$v(c) => {
                            $($crate::op_table!(
                                @visit $kind f, $crate::op_table!(@name $f $($fname)?), c.$f
                            );)*
                        })+
                    }
                }
            }

            /// The command of op `op` with every field 0 / false (`None`: no such op).
            fn blank(op: &str) -> Option<$cmd> {
                match op {
                    $($op => Some($cmd::$v($ty::default())),)+
                    _ => None,
                }
            }

            /// Set field `n` (a name of the command's op) to `v`, checking its width.
            #[allow(unused_variables, clippy::match_single_binding)]
            fn set_field(
                cmd: &mut $cmd,
                n: &'static str,
                v: $crate::FieldValue,
            ) -> Result<(), $crate::FieldError> {
                match cmd {
                    $($cmd::$v(c) => match n {
                        $($crate::op_table!(@name $f $($fname)?) => {
                            c.$f = $crate::op_table!(@set $kind n v $($arg)?)
                        })*
                        _ => return Err($crate::FieldError::UnknownField(n)),
                    },)+
                }
                Ok(())
            }
        };
        (@name $f:ident) => { stringify!($f) };
        (@name $f:ident $fname:literal) => { $fname };
        (@fits bool $e:expr) => { true };
        (@fits uint $e:expr, $max:expr) => { u64::from($e) <= $max };
        (@fits addr $e:expr, $mask:expr) => { $e & !$mask == 0 };
        (@fits pair $e:expr) => { true };
        (@visit bool $g:ident, $n:expr, $e:expr) => { $g($n, $crate::FieldValue::Bool($e)) };
        (@visit uint $g:ident, $n:expr, $e:expr) => {
            $g($n, $crate::FieldValue::Uint(u64::from($e)))
        };
        (@visit addr $g:ident, $n:expr, $e:expr) => { $g($n, $crate::FieldValue::Uint($e)) };
        (@visit pair $g:ident, $n:expr, $e:expr) => {
            if let Some(p) = $e {
                $g($n, $crate::FieldValue::Pair(p))
            }
        };
        (@set bool $n:ident $v:ident) => { $crate::native::__macro::want_bool($n, $v)? };
        (@set uint $n:ident $v:ident $max:expr) => {
            $crate::native::__macro::narrow($n, $crate::native::__macro::want_uint($n, $v, $max)?)?
        };
        (@set addr $n:ident $v:ident $mask:expr) => {
            $crate::native::__macro::want_addr($n, $v, $mask)?
        };
        (@set pair $n:ident $v:ident) => {
            match $v {
                $crate::FieldValue::Pair(p) => Some(p),
                _ => return Err($crate::FieldError::TooWide($n)),
            }
        };
    }

    /// Encode a 128-bit command's words `w` into `out[..2]`: the
    /// [`NativeCommand::encode_into`] of every architecture with 2-word commands.
    #[inline(always)]
    pub fn encode_pair(w: [u64; 2], out: &mut [u64]) -> Result<usize, DecodeError> {
        match out {
            [d0, d1, ..] => {
                (*d0, *d1) = (w[0], w[1]);
                Ok(2)
            }
            _ => Err(DecodeError::bad_length(out.len())),
        }
    }
}

/// Bit-field access on a command's 64-bit words, the same for every codec:
/// a field is bits `lo..=hi` of one word.
pub mod word {
    /// Mask of bits `lo..=hi` (`lo <= hi <= 63`).
    #[inline(always)]
    pub const fn mask(hi: u32, lo: u32) -> u64 {
        (u64::MAX >> (63 - hi)) & (u64::MAX << lo)
    }

    /// Bits `lo..=hi` of `w`.
    #[inline(always)]
    pub const fn get(w: u64, hi: u32, lo: u32) -> u64 {
        (w & mask(hi, lo)) >> lo
    }

    /// `v` in bits `lo..=hi`, its higher bits cut (the encode contract).
    #[inline(always)]
    pub const fn put(v: u64, hi: u32, lo: u32) -> u64 {
        (v << lo) & mask(hi, lo)
    }

    /// Bit `n` of `w`.
    #[inline(always)]
    pub const fn bit(w: u64, n: u32) -> bool {
        (w >> n) & 1 != 0
    }

    /// `v` as bit `n`.
    #[inline(always)]
    pub const fn flag(v: bool, n: u32) -> u64 {
        (v as u64) << n
    }

    /// The reserved bits of each opcode's `[w0, w1]` from its defined
    /// bits: a codec's table the hot path tests without an inversion.
    pub const fn reserved<const N: usize>(defined: &[[u64; 2]; N]) -> [[u64; 2]; N] {
        let mut t = [[0u64; 2]; N];
        let mut i = 0;
        while i < N {
            t[i] = [!defined[i][0], !defined[i][1]];
            i += 1;
        }
        t
    }
}

/// The command of a [`copy_checked`] source that was refused, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[error("command {index}: {error}")]
pub struct CopyError {
    /// Index of the refused command (commands before it were copied); 0 for
    /// a source or destination of the wrong shape (nothing copied).
    pub index: usize,
    /// Its decode error (`bad_length` for a wrong shape); the `source()`.
    #[source]
    pub error: DecodeError,
}

/// Copy the commands of `src` (each `stride` 64-bit words, lowest first)
/// into the same slots of `dst`, checking each as [`NativeCommand::decode`]
/// would and stopping at the first it refuses, as a queue stops with
/// CMDQ_CONS.ERR = CERROR_ILL, FSTS.IQE, ILLEGAL_COMMAND_ERROR or
/// `cqcsr.cmd_ill`. Returns the number of commands copied; on an error the
/// commands before the refused one are copied and the slots from it on
/// are left as they were.
///
/// The copy is what decoding each command and encoding it into its slot
/// writes (R1: an accepted command's words are its encoding), without
/// building the typed command: the pass-through of a VMM that forwards a
/// guest's commands to a host queue of the same architecture.
///
/// The shape is checked first, with nothing copied: `stride` 2 or 4,
/// `src` made of whole commands and `dst` at least as long, else
/// `bad_length` at index 0. A stride the architecture does not use (4
/// outside VT-d) refuses the first command as `decode` would.
pub fn copy_checked<C: NativeCommand>(
    src: &[u64],
    dst: &mut [u64],
    stride: usize,
) -> Result<usize, CopyError> {
    let shape = |got: usize| CopyError {
        index: 0,
        error: DecodeError::bad_length(got),
    };
    if stride != 2 && stride != 4 {
        return Err(shape(stride));
    }
    if !src.len().is_multiple_of(stride) {
        return Err(shape(src.len()));
    }
    if dst.len() < src.len() {
        return Err(shape(dst.len()));
    }
    if stride == 2 {
        copy_stride::<C, 2>(src, dst)
    } else {
        copy_stride::<C, 4>(src, dst)
    }
}

/// [`copy_checked`] for a stride known at compile time (the shape checked).
#[inline(always)]
fn copy_stride<C: NativeCommand, const W: usize>(
    src: &[u64],
    dst: &mut [u64],
) -> Result<usize, CopyError> {
    let mut n = 0;
    for (w, slot) in src
        .as_chunks::<W>()
        .0
        .iter()
        .zip(dst.as_chunks_mut::<W>().0)
    {
        let w = *w;
        if let Err(error) = C::check_words(&w) {
            return Err(CopyError { index: n, error });
        }
        *slot = w;
        n += 1;
    }
    Ok(n)
}
