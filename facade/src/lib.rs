//! # iommu-inval (the library a VMM depends on)
//!
//! Re-exports the crates of the project ([`core`], [`arm`], [`vtd`], [`amd`],
//! [`riscv`], [`virtio`], [`iommufd`]) and gives one architecture-neutral handle over
//! the four native command sets, with static dispatch (`enum_dispatch`):
//!
//! * [`Arch`]: an architecture with the host it lowers for ([`Target`]:
//!   its features and a lowering budget): decode words, build commands
//!   from named fields, lower generic ops, its feature presets
//!   ([`ArchOps`]), written once over [`core::arch::Arch`];
//! * [`NativeAny`]: a command of any architecture: op name
//!   ([`NativeAny::op`]), fields, words, lift, footprint ([`AnyCommand`]);
//! * [`DecodeFeatures`]: the features of an IOMMU of any architecture, and
//!   the check of a decoded command against them ([`DecodeCheck`]).
//!
//! [`convert()`] is one command of one architecture to another in one
//! call; an [`Op`] displays as its readable meaning (what
//! the CLI's `decode` prints); [`prelude`] imports the common names. This crate
//! has no command-line dependency: the `iommu-inval` command is the crate
//! `iommu-inval-cli`.
//!
//! ```
//! use iommu_inval::{Arch, ArchOps, AnyCommand};
//! use iommu_inval::core::ArchId;
//! let amd = Arch::new(ArchId::Amd);
//! // INVALIDATE_IOMMU_ALL: opcode 0x8 in w0[63:60].
//! let cmd = amd.decode(&[0x8000_0000_0000_0000, 0]).unwrap();
//! assert_eq!(cmd.op(), "INVALIDATE_IOMMU_ALL");
//! let (w, n) = cmd.to_words();
//! assert_eq!(&w[..n], [0x8000_0000_0000_0000, 0]);
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub use iommu_inval_amd as amd;
pub use iommu_inval_arm as arm;
pub use iommu_inval_core as core;
pub use iommu_inval_iommufd as iommufd;
pub use iommu_inval_riscv as riscv;
pub use iommu_inval_virtio as virtio;
pub use iommu_inval_vtd as vtd;

pub use convert::{convert, Converted};

pub use features::DecodeCheck;

mod convert;
mod features;

pub mod prelude;

use enum_dispatch::enum_dispatch;
use iommu_inval_core::arch::Arch as ArchImpl;
pub use iommu_inval_core::arch::Target;
use iommu_inval_core::footprint::Footprint;
use iommu_inval_core::model::Caches;
use iommu_inval_core::native::MAX_WORDS;
use iommu_inval_core::sink::Full;
use iommu_inval_core::{
    ArchId, Context, DecodeError, FeatureSet, FieldError, FieldValue, LowerError, NativeCommand,
    Op, Outcome, Sink,
};

/// A native command of any of the four architectures.
#[enum_dispatch]
pub trait AnyCommand {
    /// Its architecture.
    fn arch_id(&self) -> ArchId;
    /// The encoded words (slots past the count are 0) and their count.
    fn to_words(&self) -> ([u64; MAX_WORDS], usize);
    /// Visit the fields in table order.
    fn visit_fields(&self, f: &mut dyn FnMut(&'static str, FieldValue));
    /// Lift to generic ops (appended to `out`).
    fn lift(&self, ctx: &dyn Context, out: &mut Vec<Op>) -> Result<Outcome, LowerError>;
    /// The cache entries it removes (the footprint of its lift).
    fn footprint(&self, ctx: &dyn Context) -> Footprint;
}

/// What the tools need from an architecture.
#[enum_dispatch]
pub trait ArchOps {
    /// Which architecture.
    fn id(&self) -> ArchId;
    /// Decode one command from its words (2, or 4 for 256-bit VT-d).
    fn decode(&self, words: &[u64]) -> Result<NativeAny, DecodeError>;
    /// Build a command from an op name and named fields.
    fn build_from_fields(
        &self,
        op: &str,
        fields: &mut dyn Iterator<Item = (&str, FieldValue)>,
        words: usize,
    ) -> Result<NativeAny, FieldError>;
    /// Field names of `op` in table order (`None`: unknown op).
    fn field_names(&self, op: &str) -> Option<&'static [&'static str]>;
    /// Every op name, in table order.
    fn op_names(&self) -> &'static [&'static str];
    /// Lower a generic op for this host (appended to `out`).
    fn lower(
        &self,
        op: &Op,
        ctx: &dyn Context,
        out: &mut Vec<NativeAny>,
    ) -> Result<Outcome, LowerError>;
    /// Caches this host does not have, whose invalidations a lowering drops
    /// (rule 2): interrupt remapping on SMMUv3, device TLBs without ATS,
    /// PASID configuration on legacy-mode VT-d.
    fn lacks(&self) -> Caches;
    /// The preset names of this architecture's features (see
    /// [`DecodeFeatures`]), in table order.
    fn presets(&self) -> Vec<&'static str>;
    /// The features of preset `name` (`None`: not a preset of this
    /// architecture).
    fn decode_features(&self, name: &str) -> Option<DecodeFeatures>;
    /// This host with the features of preset `name` (the lowering budget
    /// kept); `None`: not a preset of this architecture.
    fn with_preset(&self, name: &str) -> Option<Arch>;
}

/// Adapts a `Vec<NativeAny>` to each architecture's `Sink<Command>`.
struct AnySink<'a>(&'a mut Vec<NativeAny>);

impl<T: Into<NativeAny>> Sink<T> for AnySink<'_> {
    fn push(&mut self, item: T) -> Result<(), Full> {
        self.0.push(item.into());
        Ok(())
    }
}

/// How an architecture's values sit in the facade's enums.
trait Variant: ArchImpl {
    fn target(t: Target<Self>) -> Arch;
    fn features(f: Self::Features) -> DecodeFeatures;
}

impl<A: Variant> ArchOps for Target<A>
where
    A::Command: Into<NativeAny>,
{
    fn id(&self) -> ArchId {
        A::ID
    }
    fn decode(&self, words: &[u64]) -> Result<NativeAny, DecodeError> {
        A::Command::decode(words).map(Into::into)
    }
    fn build_from_fields(
        &self,
        op: &str,
        fields: &mut dyn Iterator<Item = (&str, FieldValue)>,
        words: usize,
    ) -> Result<NativeAny, FieldError> {
        A::Command::from_fields(op, fields, words).map(Into::into)
    }
    fn field_names(&self, op: &str) -> Option<&'static [&'static str]> {
        A::Command::field_names(op)
    }
    fn op_names(&self) -> &'static [&'static str] {
        A::Command::op_names()
    }
    // Out of line: inlined, each architecture's lowering setup is hoisted
    // into `convert`, which pays all of it once per call.
    #[inline(never)]
    fn lower(
        &self,
        op: &Op,
        ctx: &dyn Context,
        out: &mut Vec<NativeAny>,
    ) -> Result<Outcome, LowerError> {
        Target::lower(self, op, ctx, &mut AnySink(out))
    }
    fn lacks(&self) -> Caches {
        A::lacks(&self.features)
    }
    fn presets(&self) -> Vec<&'static str> {
        A::Features::preset_names().collect()
    }
    fn decode_features(&self, name: &str) -> Option<DecodeFeatures> {
        A::Features::preset(name).map(A::features)
    }
    fn with_preset(&self, name: &str) -> Option<Arch> {
        A::Features::preset(name).map(|features| {
            A::target(Target {
                features,
                budget: self.budget,
            })
        })
    }
}

/// The [`AnyCommand`] of a command of architecture `A`.
fn to_words<A: ArchImpl>(c: &A::Command) -> ([u64; MAX_WORDS], usize) {
    let mut w = [0u64; MAX_WORDS];
    let n = c.encode_into(&mut w).unwrap_or(0);
    (w, n)
}

/// The facade's place for architecture `$krate::$a` (the crate's
/// [`ArchImpl`] unit type): its variant `$v` of [`NativeAny`], [`Arch`] and
/// [`DecodeFeatures`].
macro_rules! impl_arch {
    ($v:ident, $krate:ident :: $a:ident) => {
        impl Variant for $krate::$a {
            fn target(t: Target<Self>) -> Arch {
                Arch::$v(t)
            }
            fn features(f: Self::Features) -> DecodeFeatures {
                DecodeFeatures::$v(f)
            }
        }

        impl AnyCommand for $krate::Command {
            fn arch_id(&self) -> ArchId {
                $krate::$a::ID
            }
            fn to_words(&self) -> ([u64; MAX_WORDS], usize) {
                to_words::<$krate::$a>(self)
            }
            fn visit_fields(&self, f: &mut dyn FnMut(&'static str, FieldValue)) {
                NativeCommand::for_each_field(self, f)
            }
            // One frame per architecture holding the lift's `Emit`, whose
            // pushes into the `Vec` are direct calls there.
            #[inline(never)]
            fn lift(&self, ctx: &dyn Context, out: &mut Vec<Op>) -> Result<Outcome, LowerError> {
                $krate::$a::lift(self, ctx, out)
            }
            fn footprint(&self, ctx: &dyn Context) -> Footprint {
                $krate::$a::footprint(self, ctx)
            }
        }

        impl DecodeCheck for $krate::Features {
            fn check(&self, cmd: &NativeAny) -> Result<(), DecodeError> {
                match cmd {
                    NativeAny::$v(c) => NativeCommand::check_features(c, self),
                    _ => Ok(()),
                }
            }
        }
    };
}

/// The enums over every architecture, their constructors by [`ArchId`] and
/// by fuzz input, and each architecture's impls, from one list of
/// `Variant: crate::Unit, "name", "its features"` (the variant names are
/// [`ArchId`]'s).
macro_rules! architectures {
    ($($v:ident: $krate:ident :: $a:ident, $name:literal, $features:literal;)+) => {
        /// A command of any architecture (static dispatch over their `Command` enums).
        #[enum_dispatch(AnyCommand)]
        #[derive(Debug, Clone, Copy, PartialEq)]
        pub enum NativeAny {
            $(#[doc = $name] $v($krate::Command),)+
        }

        /// One architecture, with the host it lowers for.
        #[enum_dispatch(ArchOps)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Arch {
            $(#[doc = $name] $v(Target<$krate::$a>),)+
        }

        /// The decoding features of one architecture's emulated IOMMU.
        #[enum_dispatch(DecodeCheck)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum DecodeFeatures {
            $(#[doc = $features] $v($krate::Features),)+
        }

        impl NativeAny {
            /// The op name of docs/SPEC.md (its command's
            /// [`NativeCommand::op`]; the word count is
            /// [`AnyCommand::to_words`]'s).
            pub fn op(&self) -> &'static str {
                match self {
                    $(NativeAny::$v(c) => NativeCommand::op(c),)+
                }
            }
        }

        impl Arch {
            /// The architecture with its default host ([`FeatureSet::HOST`], a
            /// typical current IOMMU) and budget.
            pub fn new(id: ArchId) -> Arch {
                match id {
                    $(ArchId::$v => Arch::$v(Target::default()),)+
                }
            }
        }

        /// A command of any architecture, the architecture chosen first (one byte
        /// of the input, in list order), then its command (the architecture
        /// crate's generator).
        #[cfg(feature = "arbitrary")]
        impl<'a> arbitrary::Arbitrary<'a> for NativeAny {
            fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
                type Gen<'a> = fn(&mut arbitrary::Unstructured<'a>) -> arbitrary::Result<NativeAny>;
                let gens: &[Gen<'a>] = &[$(|u| Ok(NativeAny::$v(u.arbitrary()?))),+];
                let last = u8::try_from(gens.len() - 1).unwrap_or(u8::MAX);
                let i = usize::from(u.int_in_range(0u8..=last)?);
                gens.get(i).ok_or(arbitrary::Error::IncorrectFormat)?(u)
            }
        }

        $(impl_arch!($v, $krate::$a);)+
    };
}

// Adding an architecture is one line here (and a variant of `ArchId`).
architectures! {
    Smmuv3: arm::Smmuv3, "Arm SMMUv3.", "SMMU_IDR0..5 and the queue's Security state.";
    Vtd: vtd::Vtd, "Intel VT-d.", "CAP_REG / ECAP_REG.";
    Amd: amd::AmdVi, "AMD-Vi.", "The Extended Feature Register.";
    Riscv: riscv::RiscV, "RISC-V IOMMU.", "`capabilities` / `fctl` (ATS, NL, S, WSI).";
    VirtioIommu: virtio::VirtioIommu, "virtio-iommu.", "Feature bits, configuration and vSVA draft.";
}

/// The README's code blocks, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

/// docs/VMM.md's examples (the VMM guide), compiled and run as doc tests.
/// `cfg(doctest)`: only the doc tests read the file, so that a packaged
/// crate, which has no `docs/`, builds without it.
#[cfg(doctest)]
#[doc = include_str!("../../docs/VMM.md")]
pub struct VmmGuideDoctests;
