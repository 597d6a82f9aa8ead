//! The features of an IOMMU of any architecture (its ID registers), by
//! preset name: of an *emulated* IOMMU, what decoding accepts; of a host,
//! what lowering targets ([`ArchOps::with_preset`](crate::ArchOps::with_preset)).
//! A command the emulated IOMMU refuses is reported as its hardware reports it (SMMU
//! CERROR_ILL, VT-d IQE, AMD ILLEGAL_COMMAND_ERROR), in the usual
//! [`DecodeError`] shape.
//!
//! | architecture | presets |
//! |---|---|
//! | smmuv3 | `smmuv3.0` .. `smmuv3.4` (Non-secure Command queue of that revision), `latest-ns`, `latest` (every feature, Secure Command queue) |
//! | vtd | `vtd-legacy`, `vtd-3` (scalable mode, private data in page group responses), `vtd-5` (revisions 4.x/5.x: none), `latest` |
//! | amd | `amd-host`, `amd-2` (revision 2.x), `latest` (revision 3.x) |
//! | riscv | `riscv-1.0` (no NL / S operands), `latest` |
//!
//! The presets of an architecture are [`ArchOps::presets`](crate::ArchOps::presets);
//! [`ArchOps::decode_features`](crate::ArchOps::decode_features) builds one.

use crate::NativeAny;
use enum_dispatch::enum_dispatch;
use iommu_inval_core::DecodeError;

/// Whether an emulated IOMMU accepts a decoded command.
#[enum_dispatch]
pub trait DecodeCheck {
    /// `Ok` when the IOMMU accepts `cmd`, or when `cmd` is of another
    /// architecture (not checked); otherwise the error its hardware reports.
    fn check(&self, cmd: &NativeAny) -> Result<(), DecodeError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Arch, ArchOps};
    use iommu_inval_core::ArchId;

    #[test]
    fn presets_decide() {
        for id in ArchId::ALL {
            let arch = Arch::new(id);
            for p in arch.presets() {
                assert!(arch.decode_features(p).is_some(), "{id} {p}");
            }
            assert!(arch.decode_features("nope").is_none());
        }
        let arm = Arch::new(ArchId::Smmuv3);
        let dpti = arm.decode(&[0x70, 0]).unwrap();
        let v32 = arm.decode_features("smmuv3.2").unwrap();
        assert!(v32.check(&dpti).is_err());
        let latest = arm.decode_features("latest").unwrap();
        assert!(latest.check(&dpti).is_ok());
    }
}
