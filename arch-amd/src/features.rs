//! What the emulated AMD IOMMU implements, for decoding: [`Features`]
//! (Extended Feature Register bits, MMIO offset 0030h).
//!
//! [`Command::decode`](iommu_inval_core::NativeCommand::decode) accepts every command of the command tables. An
//! emulator of a particular IOMMU decodes with [`Command::decode_with`](iommu_inval_core::NativeCommand::decode_with): a
//! command that IOMMU does not support is an ILLEGAL_COMMAND_ERROR event
//! (the command buffer stops at it), and the [`DecodeError`] says which
//! field.
//!
//! | feature | EFR bit | refuses when absent |
//! |---|---|---|
//! | `pref_sup` | PreFSup | PREFETCH_IOMMU_PAGES |
//! | `ppr_sup` | PPRSup | COMPLETE_PPR_REQUEST |
//! | `gt_sup` | GTSup | `gn` = 1 (guest, PASID-tagged translations) on INVALIDATE_IOMMU_PAGES, INVALIDATE_IOTLB_PAGES, PREFETCH_IOMMU_PAGES, COMPLETE_PPR_REQUEST |
//! | `ia_sup` | IASup | INVALIDATE_IOMMU_ALL |
//! | `viommu` | bit 55, hardware vIOMMU (revision 3.x; `FEATURE_VIOMMU` of AMD's 2023 Linux vIOMMU patches) | INSERT_GUEST_EVENT, RESET_VMMIO |
//! | `pasid_bits` | EFR.PASmax + 1 (above 16: revision 3.x) | INVALIDATE_IOTLB_PAGES `pasid` above 16 bits (`w0[59:56]`, reserved before) |
//!
//! The same type describes a *host* IOMMU to `Arch::lower`:
//! guest (`gn` = 1) commands need `gt_sup`, PASIDs fit `pasid_bits`, and
//! INVALIDATE_IOTLB_PAGES needs `ats`.

use crate::cmd::*;
use iommu_inval_core::DecodeError;

/// EFR features of an emulated AMD IOMMU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Features {
    /// PREFETCH_IOMMU_PAGES (EFR.PreFSup).
    pub pref_sup: bool,
    /// Peripheral page requests (EFR.PPRSup): COMPLETE_PPR_REQUEST.
    pub ppr_sup: bool,
    /// Guest translation (EFR.GTSup): `gn` = 1.
    pub gt_sup: bool,
    /// INVALIDATE_IOMMU_ALL (EFR.IASup).
    pub ia_sup: bool,
    /// The hardware vIOMMU commands of revision 3.x (INSERT_GUEST_EVENT,
    /// RESET_VMMIO): EFR bit 55.
    pub viommu: bool,
    /// PASID width (EFR.PASmax + 1), at most 20: above 16,
    /// INVALIDATE_IOTLB_PAGES carries `pasid[19:16]` (revision 3.x).
    pub pasid_bits: u8,
    /// Devices may have ATS device TLBs (IOTLB support, IotlbSup in the
    /// capability header). Lowering only.
    pub ats: bool,
}

impl Features {
    /// Everything: what [`Command::decode`](iommu_inval_core::NativeCommand::decode) accepts.
    pub const LATEST: Features = Features {
        pref_sup: true,
        ppr_sup: true,
        gt_sup: true,
        ia_sup: true,
        viommu: true,
        pasid_bits: 20,
        ats: true,
    };

    /// A revision 2.x IOMMU with guest translation, PPR, prefetch and
    /// INVALIDATE_IOMMU_ALL: 16-bit IOTLB PASIDs, no vIOMMU.
    pub const REV2: Features = Features {
        pref_sup: true,
        ppr_sup: true,
        gt_sup: true,
        ia_sup: true,
        viommu: false,
        pasid_bits: 16,
        ats: true,
    };

    /// An IOMMU without guest translation and page requests (host
    /// translation only, as a first-generation AMD-Vi).
    pub const HOST_ONLY: Features = Features {
        pref_sup: true,
        ppr_sup: false,
        gt_sup: false,
        ia_sup: false,
        viommu: false,
        pasid_bits: 0,
        ats: true,
    };

    /// Whether this IOMMU accepts `c` (decoded with [`Command::decode`](iommu_inval_core::NativeCommand::decode)).
    ///
    /// ```
    /// use iommu_inval_amd::{Command, Features};
    /// use iommu_inval_core::NativeCommand;
    /// // INVALIDATE_IOMMU_ALL: EFR.IASup only.
    /// let w = [0x8000_0000_0000_0000, 0];
    /// assert!(Command::decode_with(&w, &Features::LATEST).is_ok());
    /// assert!(Command::decode_with(&w, &Features::HOST_ONLY).is_err());
    /// ```
    #[inline]
    pub(crate) fn check(&self, c: &Command) -> Result<(), DecodeError> {
        let op = |ok: bool, field: &'static str| {
            if ok {
                Ok(())
            } else {
                Err(DecodeError::invalid(0, 0xf << 60, field))
            }
        };
        let gn = |g: bool| {
            if g && !self.gt_sup {
                Err(DecodeError::invalid(1, 1 << 2, "gn (needs EFR.GTSup)"))
            } else {
                Ok(())
            }
        };
        match *c {
            Command::CompletionWait(_)
            | Command::InvalidateDevtabEntry(_)
            | Command::InvalidateInterruptTable(_) => Ok(()),
            Command::InvalidateIommuPages(x) => gn(x.gn),
            Command::InvalidateIotlbPages(x) => {
                if x.pasid > 0xffff && self.pasid_bits <= 16 {
                    return Err(DecodeError::reserved(0, 0xf << 56));
                }
                gn(x.gn)
            }
            Command::InsertGuestEvent(_) => op(
                self.viommu,
                "opcode (INSERT_GUEST_EVENT needs the vIOMMU, revision 3.x)",
            ),
            Command::ResetVmmio(_) => op(
                self.viommu,
                "opcode (RESET_VMMIO needs the vIOMMU, revision 3.x)",
            ),
            Command::PrefetchIommuPages(x) => {
                op(
                    self.pref_sup,
                    "opcode (PREFETCH_IOMMU_PAGES needs EFR.PreFSup)",
                )?;
                gn(x.gn)
            }
            Command::CompletePprRequest(x) => {
                op(
                    self.ppr_sup,
                    "opcode (COMPLETE_PPR_REQUEST needs EFR.PPRSup)",
                )?;
                gn(x.gn)
            }
            Command::InvalidateIommuAll(_) => {
                op(self.ia_sup, "opcode (INVALIDATE_IOMMU_ALL needs EFR.IASup)")
            }
        }
    }
}

iommu_inval_core::feature_set!(Features {
    latest: Features::LATEST,
    /// [`Features::REV2`]: guest translation, 16-bit PASIDs, ATS.
    host: Features::REV2,
    /// `amd-host`, `amd-2` (revision 2.x), `latest` (revision 3.x,
    /// everything) — the CLI's `--caps`.
    presets: ["amd-host" => Features::HOST_ONLY, "amd-2" => Features::REV2],
});

#[cfg(test)]
mod tests {
    use super::*;
    use iommu_inval_core::native::FeatureSet;
    use iommu_inval_core::NativeCommand;

    #[test]
    fn gates() {
        // INVALIDATE_IOMMU_PAGES gn = 1.
        let w = [0x3000_0001_0000_0005, 0x1000 | 1 << 2];
        assert!(Command::decode_with(&w, &Features::LATEST).is_ok());
        let e = Command::decode_with(&w, &Features::HOST_ONLY).unwrap_err();
        assert_eq!(e.field, "gn (needs EFR.GTSup)");
        // gn = 0 is fine.
        assert!(Command::decode_with(&[w[0], 0x1000], &Features::HOST_ONLY).is_ok());
        // COMPLETE_PPR_REQUEST without PPRSup.
        let ppr = [0x7000_0000_0000_0010, 0];
        assert!(Command::decode_with(&ppr, &Features::HOST_ONLY).is_err());
        for p in Features::preset_names() {
            assert!(Features::preset(p).is_some());
        }
    }
}
