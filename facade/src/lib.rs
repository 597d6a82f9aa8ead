//! # iommu-inval (the library a VMM depends on)
//!
//! Re-exports the crates of the project ([`core`], [`arm`], [`vtd`], [`amd`],
//! [`riscv`], [`iommufd`]) and gives one architecture-neutral handle over
//! the four native command sets, with static dispatch (`enum_dispatch`):
//!
//! * [`Arch`]: an architecture with its host capabilities: decode words,
//!   build commands from named fields, lower generic ops, the decoding
//!   presets of its emulated IOMMU ([`ArchOps`]);
//! * [`NativeAny`]: a command of any architecture: op name, fields, words,
//!   lift, footprint ([`AnyCommand`]);
//! * [`DecodeFeatures`]: the ID-register features of an emulated IOMMU of
//!   any architecture, and the check of a decoded command against them
//!   ([`DecodeCheck`]).
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
//! assert_eq!(cmd.op_name(), "INVALIDATE_IOMMU_ALL");
//! assert_eq!(cmd.to_words(), ([0x8000_0000_0000_0000, 0, 0, 0], 2));
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub use iommu_inval_amd as amd;
pub use iommu_inval_arm as arm;
pub use iommu_inval_core as core;
pub use iommu_inval_iommufd as iommufd;
pub use iommu_inval_riscv as riscv;
pub use iommu_inval_vtd as vtd;

pub use convert::{convert, Converted};

pub use features::{DecodeCheck, DecodeFeatures};

mod convert;
mod features;

pub mod prelude;

use enum_dispatch::enum_dispatch;
use iommu_inval_core::footprint::Footprint;
use iommu_inval_core::model::Caches;
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
    /// The op name of docs/SPEC.md.
    fn op_name(&self) -> &'static str;
    /// Number of 64-bit words it encodes to (2, or 4 for 256-bit VT-d).
    fn word_count(&self) -> usize;
    /// The encoded words (slots past the count are 0) and their count.
    fn to_words(&self) -> ([u64; 4], usize);
    /// Visit the fields in table order.
    fn visit_fields(&self, f: &mut dyn FnMut(&'static str, FieldValue));
    /// Lift to generic ops (appended to `out`).
    fn lift_ops(&self, ctx: &dyn Context, out: &mut Vec<Op>) -> Result<Outcome, LowerError>;
    /// The cache entries it removes (the footprint of its lift).
    fn footprint(&self, ctx: &dyn Context) -> Footprint;
}

/// A command of any architecture (static dispatch over the four `Command` enums).
#[enum_dispatch(AnyCommand)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum NativeAny {
    /// Arm SMMUv3.
    Smmuv3(arm::Command),
    /// Intel VT-d.
    Vtd(vtd::Command),
    /// AMD-Vi.
    Amd(amd::Command),
    /// RISC-V IOMMU.
    Riscv(riscv::Command),
}

/// A command of any architecture, the architecture chosen first (one byte
/// of the input), then its command (the architecture crate's generator).
#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for NativeAny {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(match u.int_in_range(0u8..=3)? {
            0 => NativeAny::Smmuv3(u.arbitrary()?),
            1 => NativeAny::Vtd(u.arbitrary()?),
            2 => NativeAny::Amd(u.arbitrary()?),
            _ => NativeAny::Riscv(u.arbitrary()?),
        })
    }
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
    /// Lower a generic op with this architecture's capabilities (appended to `out`).
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
    /// The preset names of this architecture's emulated IOMMU (see
    /// [`DecodeFeatures`]), in table order.
    fn presets(&self) -> Vec<&'static str>;
    /// The decoding features of preset `name` (`None`: not a preset of
    /// this architecture).
    fn decode_features(&self, name: &str) -> Option<DecodeFeatures>;
}

fn lacks_smmuv3(c: &arm::Caps) -> Caches {
    let mut l = Caches::INTR_REMAP;
    l.set(Caches::DEV_TLB, !c.ats);
    l
}

fn lacks_vtd(c: &vtd::Caps) -> Caches {
    let mut l = Caches::empty();
    l.set(Caches::DEV_TLB, !c.dev_tlb);
    l.set(Caches::CONFIG_PASID, !c.scalable);
    l
}

fn lacks_amd(c: &amd::Caps) -> Caches {
    let mut l = Caches::empty();
    l.set(Caches::DEV_TLB, !c.ats);
    l
}

fn lacks_riscv(c: &riscv::Caps) -> Caches {
    let mut l = Caches::INTR_REMAP;
    l.set(Caches::DEV_TLB, !c.ats);
    l
}

/// Arm SMMUv3 with its host capabilities.
pub struct Smmuv3Arch {
    /// Capabilities used by `lower`.
    pub caps: arm::Caps,
}
/// Intel VT-d with its host capabilities.
pub struct VtdArch {
    /// Capabilities used by `lower`.
    pub caps: vtd::Caps,
}
/// AMD-Vi with its host capabilities.
pub struct AmdArch {
    /// Capabilities used by `lower`.
    pub caps: amd::Caps,
}
/// The RISC-V IOMMU with its host capabilities.
pub struct RiscvArch {
    /// Capabilities used by `lower`.
    pub caps: riscv::Caps,
}

/// One of the four architectures, with its lowering capabilities.
#[enum_dispatch(ArchOps)]
pub enum Arch {
    /// Arm SMMUv3.
    Smmuv3(Smmuv3Arch),
    /// Intel VT-d.
    Vtd(VtdArch),
    /// AMD-Vi.
    Amd(AmdArch),
    /// RISC-V IOMMU.
    Riscv(RiscvArch),
}

impl Arch {
    /// The architecture with default (typical modern host) capabilities.
    pub fn new(id: ArchId) -> Arch {
        match id {
            ArchId::Smmuv3 => Arch::Smmuv3(Smmuv3Arch {
                caps: arm::Caps::default(),
            }),
            ArchId::Vtd => Arch::Vtd(VtdArch {
                caps: vtd::Caps::default(),
            }),
            ArchId::Amd => Arch::Amd(AmdArch {
                caps: amd::Caps::default(),
            }),
            ArchId::Riscv => Arch::Riscv(RiscvArch {
                caps: riscv::Caps::default(),
            }),
        }
    }
    /// Words per command for a descriptor width in bits (128 or 256; 256
    /// only on VT-d), `None` when the width is not available.
    pub fn words_for_width(&self, bits: u32) -> Option<usize> {
        match (self.id(), bits) {
            (_, 128) => Some(2),
            (ArchId::Vtd, 256) => Some(4),
            _ => None,
        }
    }
}

/// Adapts a `Vec<NativeAny>` to each architecture's `Sink<Command>`.
struct AnySink<'a>(&'a mut Vec<NativeAny>);

impl<T: Into<NativeAny>> Sink<T> for AnySink<'_> {
    fn push(&mut self, item: T) -> Result<(), Full> {
        self.0.push(item.into());
        Ok(())
    }
}

macro_rules! impl_arch {
    ($krate:ident, $archty:ident, $variant:ident, $lacks:ident) => {
        impl AnyCommand for $krate::Command {
            fn arch_id(&self) -> ArchId {
                <$krate::Command as NativeCommand>::ARCH
            }
            fn op_name(&self) -> &'static str {
                NativeCommand::op(self)
            }
            fn word_count(&self) -> usize {
                NativeCommand::words(self)
            }
            fn to_words(&self) -> ([u64; 4], usize) {
                let mut w = [0u64; 4];
                let n = NativeCommand::encode_into(self, &mut w).unwrap_or(0);
                (w, n)
            }
            fn visit_fields(&self, f: &mut dyn FnMut(&'static str, FieldValue)) {
                NativeCommand::for_each_field(self, f)
            }
            fn lift_ops(
                &self,
                ctx: &dyn Context,
                out: &mut Vec<Op>,
            ) -> Result<Outcome, LowerError> {
                $krate::lift(self, ctx, out)
            }
            fn footprint(&self, ctx: &dyn Context) -> Footprint {
                $krate::footprint(self, ctx)
            }
        }

        impl ArchOps for $archty {
            fn id(&self) -> ArchId {
                <$krate::Command as NativeCommand>::ARCH
            }
            fn decode(&self, words: &[u64]) -> Result<NativeAny, DecodeError> {
                <$krate::Command as NativeCommand>::decode(words).map(NativeAny::$variant)
            }
            fn build_from_fields(
                &self,
                op: &str,
                fields: &mut dyn Iterator<Item = (&str, FieldValue)>,
                words: usize,
            ) -> Result<NativeAny, FieldError> {
                <$krate::Command as NativeCommand>::from_fields(op, fields, words)
                    .map(NativeAny::$variant)
            }
            fn field_names(&self, op: &str) -> Option<&'static [&'static str]> {
                <$krate::Command as NativeCommand>::field_names(op)
            }
            fn op_names(&self) -> &'static [&'static str] {
                <$krate::Command as NativeCommand>::op_names()
            }
            fn lower(
                &self,
                op: &Op,
                ctx: &dyn Context,
                out: &mut Vec<NativeAny>,
            ) -> Result<Outcome, LowerError> {
                $krate::lower(op, &self.caps, ctx, &mut AnySink(out))
            }
            fn lacks(&self) -> Caches {
                $lacks(&self.caps)
            }
            fn presets(&self) -> Vec<&'static str> {
                <$krate::Features as FeatureSet>::preset_names().collect()
            }
            fn decode_features(&self, name: &str) -> Option<DecodeFeatures> {
                <$krate::Features as FeatureSet>::preset(name).map(DecodeFeatures::$variant)
            }
        }

        impl DecodeCheck for $krate::Features {
            fn check(&self, cmd: &NativeAny) -> Result<(), DecodeError> {
                match cmd {
                    NativeAny::$variant(c) => NativeCommand::check_features(c, self),
                    _ => Ok(()),
                }
            }
        }
    };
}

impl_arch!(arm, Smmuv3Arch, Smmuv3, lacks_smmuv3);
impl_arch!(vtd, VtdArch, Vtd, lacks_vtd);
impl_arch!(amd, AmdArch, Amd, lacks_amd);
impl_arch!(riscv, RiscvArch, Riscv, lacks_riscv);

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
