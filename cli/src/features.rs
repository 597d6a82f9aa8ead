//! `--caps <preset>`: the capabilities of the *emulated* IOMMU that decodes
//! the input (not the host capabilities of a lowering). A command that IOMMU
//! refuses is reported as the hardware reports it (SMMU CERROR_ILL, VT-d
//! IQE, AMD ILLEGAL_COMMAND_ERROR), in the usual decode error shape.
//!
//! | architecture | presets |
//! |---|---|
//! | smmuv3 | `smmuv3.0` .. `smmuv3.4` (Non-secure Command queue of that revision), `latest-ns`, `latest` (every feature, Secure Command queue) |
//! | vtd | `vtd-legacy`, `vtd-3` (scalable mode, private data in page group responses), `vtd-5` (revisions 4.x/5.x: none), `latest` |
//! | amd | `amd-host`, `amd-2` (revision 2.x), `latest` (revision 3.x) |
//! | riscv | `riscv-1.0` (no NL / S operands), `latest` |
//!
//! Without `--caps` every command of the newest revision is accepted
//! (`latest`).

use crate::{amd, arm, riscv, vtd, NativeAny};
use iommu_inval_core::{ArchId, DecodeError, FeatureSet, NativeCommand};

/// The decoding features of one architecture's emulated IOMMU
/// ([`NativeCommand::Features`] of its command type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeFeatures {
    /// SMMU_IDR0..5 and the queue's Security state.
    Smmuv3(arm::Features),
    /// CAP_REG / ECAP_REG.
    Vtd(vtd::Features),
    /// The Extended Feature Register.
    Amd(amd::Features),
    /// `capabilities` / `fctl` (ATS, NL, S, WSI).
    Riscv(riscv::Features),
}

/// The preset names of command type `C`'s features.
fn names<C: NativeCommand>() -> Vec<&'static str> {
    C::Features::preset_names().collect()
}

impl DecodeFeatures {
    /// The preset names of an architecture ([`FeatureSet::PRESETS`]).
    pub fn presets(id: ArchId) -> Vec<&'static str> {
        match id {
            ArchId::Smmuv3 => names::<arm::Command>(),
            ArchId::Vtd => names::<vtd::Command>(),
            ArchId::Amd => names::<amd::Command>(),
            ArchId::Riscv => names::<riscv::Command>(),
        }
    }

    /// Preset `name` of architecture `id`; an unknown name is a message
    /// that lists the presets.
    pub fn preset(id: ArchId, name: &str) -> Result<DecodeFeatures, String> {
        let found = match id {
            ArchId::Smmuv3 => FeatureSet::preset(name).map(DecodeFeatures::Smmuv3),
            ArchId::Vtd => FeatureSet::preset(name).map(DecodeFeatures::Vtd),
            ArchId::Amd => FeatureSet::preset(name).map(DecodeFeatures::Amd),
            ArchId::Riscv => FeatureSet::preset(name).map(DecodeFeatures::Riscv),
        };
        found.ok_or_else(|| {
            format!(
                "--caps {name}: not a {id} preset (one of: {})",
                Self::presets(id).join(", ")
            )
        })
    }

    /// Whether the emulated IOMMU accepts `cmd`
    /// ([`NativeCommand::check_features`]; a command of another
    /// architecture is not checked).
    pub fn check(&self, cmd: &NativeAny) -> Result<(), DecodeError> {
        match (self, cmd) {
            (DecodeFeatures::Smmuv3(f), NativeAny::Smmuv3(c)) => c.check_features(f),
            (DecodeFeatures::Vtd(f), NativeAny::Vtd(c)) => c.check_features(f),
            (DecodeFeatures::Amd(f), NativeAny::Amd(c)) => c.check_features(f),
            (DecodeFeatures::Riscv(f), NativeAny::Riscv(c)) => c.check_features(f),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Arch, ArchOps};

    #[test]
    fn presets_decide() {
        for id in ArchId::ALL {
            for p in DecodeFeatures::presets(id) {
                assert!(DecodeFeatures::preset(id, p).is_ok(), "{id} {p}");
            }
            assert!(DecodeFeatures::preset(id, "nope").is_err());
        }
        let arm = Arch::new(ArchId::Smmuv3);
        let dpti = arm.decode(&[0x70, 0]).unwrap();
        let v32 = DecodeFeatures::preset(ArchId::Smmuv3, "smmuv3.2").unwrap();
        assert!(v32.check(&dpti).is_err());
        let latest = DecodeFeatures::preset(ArchId::Smmuv3, "latest").unwrap();
        assert!(latest.check(&dpti).is_ok());
    }
}
