//! What the emulated VT-d remapping unit implements, for decoding:
//! [`Features`] (CAP_REG / ECAP_REG bits).
//!
//! [`Command::decode`](iommu_inval_core::NativeCommand::decode) accepts every descriptor of the command tables. An
//! emulator of a particular unit decodes with [`Command::decode_with`](iommu_inval_core::NativeCommand::decode_with): a
//! descriptor that unit cannot process is an invalidation queue error (IQE,
//! FSTS_REG.IQE with IQERCD.IQEI = 1, "invalid descriptor type or
//! reserved field") and the returned [`DecodeError`] says which field.
//!
//! | feature | register bit | refuses when absent |
//! |---|---|---|
//! | `psi` | CAP_REG.PSI | `iotlb_inv_dsc` with `g` = 3 (page-selective) |
//! | `mamv` | CAP_REG.MAMV | page-selective `am` above it |
//! | `drain_read` / `drain_write` | CAP_REG.DRD / DWD | `iotlb_inv_dsc` `dr` / `dw` = 1 |
//! | `dt` | ECAP_REG.DT | `dev_tlb_inv_dsc`, `p_dev_tlb_inv_dsc` |
//! | `ir` | ECAP_REG.IR | `iec_inv_dsc` |
//! | `smts` | ECAP_REG.SMTS (scalable mode) | `p_iotlb_inv_dsc`, `pc_inv_dsc`, `p_dev_tlb_inv_dsc`, 256-bit descriptors |
//! | `prs` | ECAP_REG.PRS | `page_grp_resp_dsc`; `inv_wait_dsc` `pd` = 1 also needs ECAP_REG.PDS |
//! | `pds` | ECAP_REG.PDS | `inv_wait_dsc` `pd` = 1 (page-request drain) |
//! | `priv_data` | revision 3.x | `page_grp_resp_dsc` `priv_data_present` = 1 (`w0[5]`) or non-zero private data (`w2`, `w3`): revisions 4.x and 5.x have no private data in page requests and responses, those bits are reserved |
//!
//! The revision 4.x/5.x page group response (no private data) follows the
//! public emulator of VT-d page requests (QEMU's `intel_iommu_internal.h`,
//! 2025: reserved masks `w0[8:5]`, `w0[63:52]`, `w1[1:0]`, `w1[63:12]`),
//! which agrees with Linux no longer sending private data.
//!
//! Not modeled: ECAP_REG.PASID / PSS (a PASID beyond the supported width is
//! out of range, with no IQE the public material documents), CAP_REG.ND.
//!
//! The same type describes a *host* unit to `Arch::lower`,
//! with how it is set up: `smts` is scalable mode in use (RTADDR_REG.TTM),
//! `dw` the descriptor width (IQA_REG.DW), `pasid_bits` the PASID width
//! (ECAP_REG.PSS + 1); `mamv` and `dt` bound what it is sent. A unit without PSI is refused here rather than widened: the
//! specification lets software use page-selective invalidation only when
//! CAP_REG.PSI = 1, and an emulator that refuses shows a guest bug at once.

use crate::desc::*;
use iommu_inval_core::DecodeError;

/// CAP_REG / ECAP_REG features of an emulated VT-d unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Features {
    /// Page-selective IOTLB invalidation (CAP_REG.PSI).
    pub psi: bool,
    /// Maximum address mask value (CAP_REG.MAMV), 0..=63.
    pub mamv: u8,
    /// Read draining (CAP_REG.DRD).
    pub drain_read: bool,
    /// Write draining (CAP_REG.DWD).
    pub drain_write: bool,
    /// Device TLB / ATS (ECAP_REG.DT).
    pub dt: bool,
    /// Interrupt remapping (ECAP_REG.IR).
    pub ir: bool,
    /// Scalable-mode translation (ECAP_REG.SMTS): PASID-granular descriptors.
    pub smts: bool,
    /// Page requests (ECAP_REG.PRS).
    pub prs: bool,
    /// Page-request drain (ECAP_REG.PDS).
    pub pds: bool,
    /// Page group responses carry private data (VT-d 3.x); `false` for a
    /// 4.x/5.x unit.
    pub priv_data: bool,
    /// 256-bit descriptors (IQA_REG.DW = 1), as Linux sets in scalable
    /// mode. Lowering only: the queue's width gates decoding.
    pub dw: bool,
    /// PASID width in bits (ECAP_REG.PSS + 1), at most 20; 0 in legacy
    /// mode. Lowering only.
    pub pasid_bits: u8,
}

impl Features {
    /// Everything: what [`Command::decode`](iommu_inval_core::NativeCommand::decode) accepts.
    pub const LATEST: Features = Features {
        psi: true,
        mamv: 63,
        drain_read: true,
        drain_write: true,
        dt: true,
        ir: true,
        smts: true,
        prs: true,
        pds: true,
        priv_data: true,
        dw: true,
        pasid_bits: 20,
    };

    /// A legacy-mode unit (VT-d 2.x style: no scalable mode, no page
    /// requests) with PSI, MAMV 9 (2^9 pages, 2 MiB), DRD/DWD, DT and IR.
    pub const LEGACY: Features = Features {
        psi: true,
        mamv: 9,
        drain_read: true,
        drain_write: true,
        dt: true,
        ir: true,
        smts: false,
        prs: false,
        pds: false,
        priv_data: false,
        dw: false,
        pasid_bits: 0,
    };

    /// A scalable-mode unit of VT-d 3.x with every feature above (page
    /// group responses with private data), MAMV 18.
    pub const SCALABLE: Features = Features {
        mamv: 18,
        ..Features::LATEST
    };

    /// A VT-d 4.x/5.x scalable-mode unit: [`Features::SCALABLE`] without
    /// private data in page group responses.
    pub const REV5: Features = Features {
        priv_data: false,
        ..Features::SCALABLE
    };

    /// This unit set up in legacy mode (RTADDR_REG.TTM = legacy, IQA_REG.DW
    /// = 0): no PASID-granular descriptors, 128-bit descriptors, no PASIDs.
    pub const fn in_legacy_mode(self) -> Features {
        Features {
            smts: false,
            dw: false,
            pasid_bits: 0,
            ..self
        }
    }

    /// Whether this unit processes `c` (decoded with [`Command::decode`](iommu_inval_core::NativeCommand::decode)).
    ///
    /// ```
    /// use iommu_inval_vtd::{Command, Features};
    /// use iommu_inval_core::NativeCommand;
    /// // p_iotlb_inv_dsc (PASID-selective): scalable mode only.
    /// let w = [0x0000_0005_0001_0026, 0];
    /// assert!(Command::decode_with(&w, &Features::SCALABLE).is_ok());
    /// assert!(Command::decode_with(&w, &Features::LEGACY).is_err());
    /// ```
    #[inline(always)]
    pub(crate) fn check(&self, c: &Command) -> Result<(), DecodeError> {
        let ty = |field: &'static str| DecodeError::invalid(0, 0xe0f, field);
        let need = |ok: bool, field: &'static str| if ok { Ok(()) } else { Err(ty(field)) };
        let am = |g: u8, am: u8| {
            if g == 3 && am > self.mamv {
                Err(DecodeError::invalid(1, 0x3f, "am (above CAP_REG.MAMV)"))
            } else {
                Ok(())
            }
        };
        // Every type: 256-bit descriptors need scalable mode; then the
        // capabilities the type needs, in order; then its field rules.
        need(
            !c.is_wide() || self.smts,
            "type (256-bit descriptors need ECAP_REG.SMTS)",
        )?;
        const DT: &str = "type (device-TLB invalidation needs ECAP_REG.DT)";
        // Checked in the arms: nothing is built per descriptor.
        match *c {
            Command::CcInv(_) | Command::InvWait(_) => {}
            Command::IotlbInv(x) => need(
                x.g != 3 || self.psi,
                "type (page-selective needs CAP_REG.PSI)",
            )?,
            Command::DevTlbInv(_) => need(self.dt, DT)?,
            Command::IecInv(_) => need(
                self.ir,
                "type (interrupt entry cache invalidation needs ECAP_REG.IR)",
            )?,
            Command::PIotlbInv(_) => need(
                self.smts,
                "type (PASID-based IOTLB invalidation needs ECAP_REG.SMTS)",
            )?,
            Command::PcInv(_) => need(
                self.smts,
                "type (PASID-cache invalidation needs ECAP_REG.SMTS)",
            )?,
            Command::PDevTlbInv(_) => {
                need(
                    self.smts,
                    "type (PASID-based device-TLB invalidation needs ECAP_REG.SMTS)",
                )?;
                need(self.dt, DT)?
            }
            Command::PageGrpResp(_) => {
                need(self.prs, "type (page group response needs ECAP_REG.PRS)")?
            }
        }
        match *c {
            Command::IotlbInv(x) => {
                if x.dr && !self.drain_read {
                    return Err(DecodeError::reserved(0, 1 << 7));
                }
                if x.dw && !self.drain_write {
                    return Err(DecodeError::reserved(0, 1 << 6));
                }
                am(x.g, x.am)
            }
            Command::PIotlbInv(x) => am(x.g, x.am),
            Command::InvWait(x) if x.pd && !(self.prs && self.pds) => {
                Err(DecodeError::reserved(0, 1 << 7))
            }
            Command::PageGrpResp(x) if !self.priv_data => {
                if x.priv_data_present {
                    return Err(DecodeError::reserved(0, 1 << 5));
                }
                match x.priv_data {
                    Some([w2, _]) if w2 != 0 => Err(DecodeError::reserved(2, w2)),
                    Some([_, w3]) if w3 != 0 => Err(DecodeError::reserved(3, w3)),
                    _ => Ok(()),
                }
            }
            _ => Ok(()),
        }
    }
}

iommu_inval_core::feature_set!(Features {
    latest: Features::LATEST,
    /// [`Features::SCALABLE`]: a current scalable-mode server unit, MAMV 18
    /// (recent Xeon IOMMUs, and QEMU), ATS, 20-bit PASIDs, 256-bit
    /// descriptors.
    host: Features::SCALABLE,
    /// `vtd-legacy`, `vtd-3` (scalable mode, 3.x), `vtd-5` (4.x/5.x),
    /// `latest` (every descriptor any revision defines: what
    /// [`Command::decode`](iommu_inval_core::NativeCommand::decode) accepts) — the CLI's `--caps`.
    presets: ["vtd-legacy" => Features::LEGACY, "vtd-3" => Features::SCALABLE, "vtd-5" => Features::REV5],
});

#[cfg(test)]
mod tests {
    use super::*;
    use iommu_inval_core::native::FeatureSet;
    use iommu_inval_core::NativeCommand;

    #[test]
    fn gates() {
        // iotlb_inv_dsc page-selective, am 10.
        let w = [0x0005_0032, 0x20_0000 | 10];
        assert!(Command::decode_with(&w, &Features::LATEST).is_ok());
        assert!(Command::decode_with(&w, &Features::LEGACY).is_err()); // am > 9
        let no_psi = Features {
            psi: false,
            ..Features::LATEST
        };
        assert!(Command::decode_with(&w, &no_psi).is_err());
        // Domain-selective is fine without PSI.
        assert!(Command::decode_with(&[0x0005_0022, 0], &no_psi).is_ok());
        // iec_inv_dsc without IR.
        let no_ir = Features {
            ir: false,
            ..Features::LATEST
        };
        assert!(Command::decode_with(&[0x4, 0], &no_ir).is_err());
        assert!(Command::decode_with(&[0x4, 0], &Features::LEGACY).is_ok());
        for p in Features::preset_names() {
            assert!(Features::preset(p).is_some());
        }
    }

    #[test]
    fn page_group_response_private_data_by_revision() {
        // page_grp_resp_dsc, 256-bit, rid 0x10, prg_index 5, success.
        let plain = [0x0010_0009, 5 << 3, 0, 0];
        let with_pdp = [0x0010_0029, 5 << 3, 0xdead, 0];
        for w in [plain, with_pdp] {
            assert!(Command::decode_with(&w, &Features::SCALABLE).is_ok());
        }
        assert!(Command::decode_with(&plain, &Features::REV5).is_ok());
        let e = Command::decode_with(&with_pdp, &Features::REV5).unwrap_err();
        assert_eq!(
            (e.kind, e.word, e.mask),
            (iommu_inval_core::ErrorKind::ReservedBits, 0, 1 << 5)
        );
        // Private data words without the flag: reserved on 4.x/5.x.
        let e = Command::decode_with(&[0x0010_0009, 5 << 3, 0, 7], &Features::REV5).unwrap_err();
        assert_eq!((e.word, e.mask), (3, 7));
    }
}
