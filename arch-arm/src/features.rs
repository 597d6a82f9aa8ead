//! What the emulated SMMU implements, for decoding: [`Features`].
//!
//! [`Command::decode`](iommu_inval_core::NativeCommand::decode) accepts every command and field of the newest
//! revision of IHI0070, as issued to a Secure Command queue of an SMMU that
//! implements every feature. An emulator of a particular SMMU decodes with
//! [`Command::decode_with`](iommu_inval_core::NativeCommand::decode_with) and its [`Features`]: a command that SMMU
//! refuses is a CERROR_ILL ([`DecodeError`] of kind `invalid_field` for an
//! ILLEGAL command or parameter, `reserved_bits` for a field that is RES0
//! on that SMMU), as the hardware reports it in `SMMU_CMDQ_CONS.ERR`.
//!
//! The same type describes a *host* SMMU to `Arch::lower`: it
//! sends only what the host implements (`ril`, `s1p`, `s2p`, `ats`) and
//! keeps ids within `asid_bits`, `vmid_bits`, `ssid_bits`.
//!
//! | feature | register | refuses when absent |
//! |---|---|---|
//! | `s1p` | SMMU_IDR0.S1P | CMD_TLBI_NH_*, EL2_*, EL3_*, S_EL2_*, CMD_CFGI_CD, CD_ALL (§4.4.2, §4.3.3, §4.3.4) |
//! | `s2p` | SMMU_IDR0.S2P | CMD_TLBI_S2_IPA, S12_VMALL (§4.4.3.1, §4.4.3.2) |
//! | `hyp` | SMMU_IDR0.Hyp | CMD_TLBI_EL2_* (§4.4.2.7–§4.4.2.10) |
//! | `ats` | SMMU_IDR0.ATS | CMD_ATC_INV (§4.5.1) |
//! | `pri` | SMMU_IDR0.PRI | CMD_PRI_RESP (§4.5.2) |
//! | `stall` | SMMU_IDR0.STALL_MODEL ≠ 0b01 | CMD_RESUME, CMD_STALL_TERM (§4.7.1, §4.7.2) |
//! | `ril` | SMMU_IDR3.RIL | TLBI `num`, `scale`, `tg`, `ttl`, `ttl128` ≠ 0 (RES0, §4.4.1.1) |
//! | `ds` | SMMU_IDR5.DS | `scale` bit 25; `tg` = 2 with `ttl` = 1 and no range (§4.4.1.1) |
//! | `d128` | SMMU_IDR5.D128 (SMMUv3.4) | `ttl128` = 1 (§4.4.1.1) |
//! | `mpam` | SMMU_IDR3.MPAM | CMD_CFGI_VMS_PIDM (§4.3.5) |
//! | `dpt` | SMMU_IDR3.DPT | CMD_DPTI_ALL (§4.6.1) |
//! | `pa_bits` | revision | physical address bits above it (§4.1.6: `[55:48]` RES0 in SMMUv3.0, `[55:52]` in SMMUv3.1–3.3) |
//! | `stride` | SMMUv3.1+ | CMD_PREFETCH_ADDR `stride` ≠ 0 (§4.2.2) |
//! | `secure_queue` | the Secure Command queue | `ssec` = 1, CMD_TLBI_EL3_*, and the Secure-only commands (§4.1.6, §4.4.2.5); CMD_PREFETCH_ADDR `ns` = 1 (RES0, also with `ssec` = 0, §4.2.2) |
//! | `rme_impl` (refuses when *present*) | SMMU_IDR0.RME_IMPL | CMD_TLBI_EL3_* (§2.6, §4.4.2.5: no EL3 StreamWorld) |
//! | `sel2` | SMMU_S_IDR1.SEL2 | CMD_TLBI_S_EL2_*, S_S12_VMALL, S_S2_IPA, SNH_ALL (§4.4.2.11–14, §4.4.3.3, §4.4.3.4, §4.4.4.2); CMD_PREFETCH_ADDR `ns` = 1 (RES0, §4.2.2) |

use crate::cmd::*;
use iommu_inval_core::DecodeError;

/// The features of an emulated SMMU that decide which commands are legal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Features {
    /// Stage 1 (SMMU_IDR0.S1P).
    pub s1p: bool,
    /// Stage 2 (SMMU_IDR0.S2P).
    pub s2p: bool,
    /// EL2 translation regimes (SMMU_IDR0.Hyp).
    pub hyp: bool,
    /// ATS (SMMU_IDR0.ATS).
    pub ats: bool,
    /// PRI (SMMU_IDR0.PRI).
    pub pri: bool,
    /// The stall model (SMMU_IDR0.STALL_MODEL ≠ 0b01).
    pub stall: bool,
    /// Range invalidation and the level hint (SMMU_IDR3.RIL; mandatory from SMMUv3.2).
    pub ril: bool,
    /// 52-bit addresses with 4 KiB / 16 KiB granules (SMMU_IDR5.DS): the
    /// 6-bit `scale` and the 16 KiB level-1 hint.
    pub ds: bool,
    /// 128-bit translation table descriptors: the `ttl128` hint.
    pub d128: bool,
    /// MPAM (SMMU_IDR3.MPAM): CMD_CFGI_VMS_PIDM.
    pub mpam: bool,
    /// The Device Permission Table (SMMU_IDR3.DPT): CMD_DPTI_*.
    pub dpt: bool,
    /// Width of physical address fields (IPA, MSI address): 48 (SMMUv3.0),
    /// 52 (SMMUv3.1 to 3.3) or 56 (later); other values are taken as the
    /// nearest of 48..=56.
    pub pa_bits: u8,
    /// CMD_PREFETCH_ADDR `stride` (SMMUv3.1 and later).
    pub stride: bool,
    /// The commands come from the Secure Command queue (SMMU_S_IDR1.SECURE_IMPL).
    pub secure_queue: bool,
    /// Secure EL2 and Secure stage 2 (SMMU_S_IDR1.SEL2).
    pub sel2: bool,
    /// SMMU_IDR0.RME_IMPL: no EL3 StreamWorld, so the EL3 TLBIs are ILLEGAL
    /// (IHI0070 §2.6).
    pub rme_impl: bool,
    /// ASID width, 8 or 16 (SMMU_IDR0.ASID16). Lowering only: decoding
    /// accepts 16 bits.
    pub asid_bits: u8,
    /// VMID width, 8 or 16 (SMMU_IDR0.VMID16). Lowering only.
    pub vmid_bits: u8,
    /// SubstreamID width, 0..=20 (SMMU_IDR1.SSIDSIZE). Lowering only.
    pub ssid_bits: u8,
}

impl Features {
    /// Every feature of the newest revision, Secure Command queue: what
    /// [`Command::decode`](iommu_inval_core::NativeCommand::decode) accepts.
    pub const LATEST: Features = Features {
        s1p: true,
        s2p: true,
        hyp: true,
        ats: true,
        pri: true,
        stall: true,
        ril: true,
        ds: true,
        d128: true,
        mpam: true,
        dpt: true,
        pa_bits: 56,
        stride: true,
        secure_queue: true,
        sel2: true,
        rme_impl: false,
        asid_bits: 16,
        vmid_bits: 16,
        ssid_bits: 20,
    };

    /// The Non-secure Command queue of an SMMUv3.0 with both stages, EL2,
    /// ATS, PRI and stalls.
    pub const SMMUV3_0: Features = Features {
        ril: false,
        ds: false,
        d128: false,
        mpam: false,
        dpt: false,
        pa_bits: 48,
        stride: false,
        secure_queue: false,
        sel2: false,
        ..Features::LATEST
    };

    /// [`Features::SMMUV3_0`] plus SMMUv3.1: 52-bit physical addresses and
    /// the prefetch stride.
    pub const SMMUV3_1: Features = Features {
        pa_bits: 52,
        stride: true,
        ..Features::SMMUV3_0
    };

    /// [`Features::SMMUV3_1`] plus SMMUv3.2's mandatory range invalidation
    /// (SMMU_IDR3.RIL) and the optional MPAM (IHI0070 §2.4).
    pub const SMMUV3_2: Features = Features {
        ril: true,
        mpam: true,
        ..Features::SMMUV3_1
    };

    /// [`Features::SMMUV3_2`] plus SMMUv3.3's optional Device Permission
    /// Table for Non-secure state (SMMUv3.3-DPT_NS, IHI0070 §2.7).
    pub const SMMUV3_3: Features = Features {
        dpt: true,
        ..Features::SMMUV3_2
    };

    /// [`Features::SMMUV3_3`] plus SMMUv3.4's optional LPA2 (SMMU_IDR5.DS)
    /// and 128-bit descriptors with 56-bit addresses (SMMU_IDR5.D128,
    /// IHI0070 §2.8).
    pub const SMMUV3_4: Features = Features {
        ds: true,
        d128: true,
        pa_bits: 56,
        ..Features::SMMUV3_3
    };

    /// The Non-secure Command queue of an SMMU that implements every
    /// feature of the newest revision (= [`Features::SMMUV3_4`]).
    pub const LATEST_NS: Features = Features {
        secure_queue: false,
        sel2: false,
        ..Features::LATEST
    };

    /// Whether this SMMU accepts `c` (decoded with [`Command::decode`](iommu_inval_core::NativeCommand::decode)).
    ///
    /// ```
    /// use iommu_inval_arm::{Command, Features};
    /// use iommu_inval_core::NativeCommand;
    /// // CMD_TLBI_NH_VA with a range: ILLEGAL (RES0 fields) without RIL.
    /// let w = [0x0005_0001_0001_f012, 0x0000_0000_0010_0401];
    /// assert!(Command::decode_with(&w, &Features::SMMUV3_2).is_ok());
    /// assert!(Command::decode_with(&w, &Features::SMMUV3_0).is_err());
    /// ```
    pub(crate) fn check(&self, c: &Command) -> Result<(), DecodeError> {
        // In order: `ssec` (the ops that have it), the features the op
        // needs, then its fields on this SMMU.
        let ssec = match *c {
            Command::PrefetchConfig(x) => x.ssec,
            Command::PrefetchAddr(x) => x.ssec,
            Command::CfgiSte(x) => x.ssec,
            Command::CfgiSteRange(x) => x.ssec,
            Command::CfgiAll(x) => x.ssec,
            Command::CfgiCd(x) => x.ssec,
            Command::CfgiCdAll(x) => x.ssec,
            Command::CfgiVmsPidm(x) => x.ssec,
            Command::Resume(x) => x.ssec,
            Command::StallTerm(x) => x.ssec,
            _ => false,
        };
        if ssec && !self.secure_queue {
            return Err(DecodeError::invalid(
                0,
                bits::SSEC.mask(),
                "ssec (1 is ILLEGAL on the Non-secure Command queue)",
            ));
        }
        // S-EL2 translations are stage 1; SNH_ALL covers every stage. Each
        // arm walks its own constant list: inlined there, the walk is one
        // test per gate.
        use Gate::*;
        match *c {
            Command::PrefetchConfig(_)
            | Command::PrefetchAddr(_)
            | Command::CfgiSte(_)
            | Command::CfgiSteRange(_)
            | Command::CfgiAll(_)
            | Command::TlbiNsnhAll
            | Command::CmdSync(_) => self.gates(&[]),
            Command::CfgiCd(_)
            | Command::CfgiCdAll(_)
            | Command::TlbiNhAll(_)
            | Command::TlbiNhAsid(_)
            | Command::TlbiNhVa(_)
            | Command::TlbiNhVaa(_) => self.gates(&[S1]),
            Command::CfgiVmsPidm(_) => self.gates(&[Mpam]),
            Command::TlbiEl3All | Command::TlbiEl3Va(_) => self.gates(&[S1, Secure, NoRme]),
            Command::TlbiEl2All
            | Command::TlbiEl2Asid(_)
            | Command::TlbiEl2Va(_)
            | Command::TlbiEl2Vaa(_) => self.gates(&[S1, Hyp]),
            Command::TlbiS12Vmall(_) | Command::TlbiS2Ipa(_) => self.gates(&[S2]),
            Command::AtcInv(_) => self.gates(&[Ats]),
            Command::PriResp(_) => self.gates(&[Pri]),
            Command::Resume(_) | Command::StallTerm(_) => self.gates(&[Stall]),
            Command::TlbiSEl2All
            | Command::TlbiSEl2Asid(_)
            | Command::TlbiSEl2Va(_)
            | Command::TlbiSEl2Vaa(_) => self.gates(&[S1, Secure, Sel2]),
            Command::TlbiSnhAll => self.gates(&[S1OrS2, Secure, Sel2]),
            Command::TlbiSS12Vmall(_) | Command::TlbiSS2Ipa(_) => self.gates(&[S2, Secure, Sel2]),
            Command::DptiAll => self.gates(&[Dpt]),
        }?;
        match *c {
            Command::PrefetchAddr(x) => {
                if x.stride != 0 && !self.stride {
                    return Err(DecodeError::reserved(1, bits::PF_STRIDE.mask()));
                }
                // NS is RES0 on the Non-secure queue and when
                // SMMU_S_IDR1.SEL2 = 0 (§4.2.2); with SSec = 0 on every
                // SMMU, which `decode` refuses already.
                if x.ns && !(self.secure_queue && self.sel2) {
                    return Err(DecodeError::reserved(1, bits::PF_NS.mask()));
                }
                Ok(())
            }
            Command::TlbiS2Ipa(x) => self.pa(x.address),
            Command::TlbiSS2Ipa(x) => self.pa(x.address),
            Command::CmdSync(x) => self.pa(x.msi_address),
            _ => Ok(()),
        }?;
        match c.range_fields() {
            Some(x) => self.range(x.num, x.scale, x.ttl, x.ttl128, x.tg),
            None => Ok(()),
        }
    }

    /// Whether this SMMU has every gate of `gates`; the first it has not
    /// is the error. Inlined into each arm of `check` with its constant
    /// list, so that no feature it does not need is loaded.
    #[inline(always)]
    fn gates(&self, gates: &[Gate]) -> Result<(), DecodeError> {
        for &g in gates {
            let (ok, field) = self.gate(g);
            if !ok {
                return Err(DecodeError::invalid(0, bits::OPCODE.mask(), field));
            }
        }
        Ok(())
    }

    /// Whether this SMMU has what `g` names, and the refusal's text.
    #[inline(always)]
    fn gate(&self, g: Gate) -> (bool, &'static str) {
        match g {
            Gate::S1 => (self.s1p, "opcode (needs stage 1, SMMU_IDR0.S1P)"),
            Gate::S1OrS2 => (
                self.s1p || self.s2p,
                "opcode (needs stage 1, SMMU_IDR0.S1P)",
            ),
            Gate::S2 => (self.s2p, "opcode (needs stage 2, SMMU_IDR0.S2P)"),
            Gate::Hyp => (self.hyp, "opcode (needs EL2, SMMU_IDR0.Hyp)"),
            Gate::Secure => (self.secure_queue, "opcode (Secure Command queue only)"),
            Gate::Sel2 => (self.sel2, "opcode (needs Secure EL2, SMMU_S_IDR1.SEL2)"),
            Gate::NoRme => (
                !self.rme_impl,
                "opcode (no EL3 StreamWorld with SMMU_IDR0.RME_IMPL)",
            ),
            Gate::Stall => (
                self.stall,
                "opcode (needs the stall model, SMMU_IDR0.STALL_MODEL)",
            ),
            Gate::Mpam => (self.mpam, "opcode (needs MPAM, SMMU_IDR3.MPAM)"),
            Gate::Ats => (self.ats, "opcode (needs ATS, SMMU_IDR0.ATS)"),
            Gate::Pri => (self.pri, "opcode (needs PRI, SMMU_IDR0.PRI)"),
            Gate::Dpt => (self.dpt, "opcode (needs the DPT, SMMU_IDR3.DPT)"),
        }
    }

    /// The bits of a physical address field this SMMU defines.
    fn pa_mask(&self) -> u64 {
        (1u64 << self.pa_bits.clamp(48, 56)) - 1
    }

    fn pa(&self, address: u64) -> Result<(), DecodeError> {
        let over = address & !self.pa_mask();
        if over != 0 {
            return Err(DecodeError::reserved(1, over));
        }
        Ok(())
    }

    /// The range fields on this SMMU (the rules of the newest revision are
    /// already met): RES0 without RIL, the DS-only encodings, TTL128.
    fn range(&self, num: u8, scale: u8, ttl: u8, ttl128: bool, tg: u8) -> Result<(), DecodeError> {
        if !self.ril && ((num | scale | ttl | tg) != 0 || ttl128) {
            return Err(if (num | scale) != 0 {
                DecodeError::reserved(0, bits::NUM.mask() | bits::SCALE.mask())
            } else {
                DecodeError::reserved(1, bits::TTL.mask() | bits::TG.mask() | bits::TTL128.mask())
            });
        }
        if !self.ds {
            if scale >= 32 {
                return Err(DecodeError::reserved(0, 1 << 25));
            }
            // TTL = 1 with a 16 KiB granule is treated as 0 without DS, so
            // one granule without a range is the Reserved combination.
            if tg == 2 && ttl == 1 && (num | scale) == 0 {
                // Named like the codec's range errors: the mask is the
                // field named first (`ttl`, value 1), not `tg` and `ttl`.
                return Err(DecodeError::invalid(
                    1,
                    bits::TTL.mask(),
                    "ttl with tg=2 and num=scale=0 (level 1 needs SMMU_IDR5.DS)",
                ));
            }
        }
        if ttl128 && !self.d128 {
            return Err(DecodeError::reserved(1, bits::TTL128.mask()));
        }
        Ok(())
    }
}

iommu_inval_core::feature_set!(Features {
    latest: Features::LATEST,
    /// [`Features::LATEST`]: both stages, RIL, ATS, 16-bit ASIDs and VMIDs,
    /// 20-bit SubstreamIDs.
    host: Features::LATEST,
    /// `smmuv3.0` .. `smmuv3.4`, `latest-ns`, `latest` (the CLI's `--caps`).
    presets: [
        "smmuv3.0" => Features::SMMUV3_0,
        "smmuv3.1" => Features::SMMUV3_1,
        "smmuv3.2" => Features::SMMUV3_2,
        "smmuv3.3" => Features::SMMUV3_3,
        "smmuv3.4" => Features::SMMUV3_4,
        "latest-ns" => Features::LATEST_NS,
    ],
});

#[cfg(test)]
mod tests {
    use super::*;
    use iommu_inval_core::native::FeatureSet;
    use iommu_inval_core::ErrorKind;
    use iommu_inval_core::NativeCommand;

    fn kind(w: [u64; 2], f: &Features) -> Option<ErrorKind> {
        Command::decode_with(&w, f).err().map(|e| e.kind)
    }

    #[test]
    fn presets_add_features_in_revision_order() {
        let order = [
            Features::SMMUV3_0,
            Features::SMMUV3_1,
            Features::SMMUV3_2,
            Features::SMMUV3_3,
            Features::SMMUV3_4,
        ];
        // Each revision accepts what the one before accepts.
        let words: [[u64; 2]; 6] = [
            [0x0000_0001_0000_002a, 1 << 50], // 52-bit IPA (v3.1)
            [0x0005_0001_0000_1012, 0x400],   // range (v3.2)
            [0x0000_0001_0000_0007, 0],       // VMS_PIDM (v3.2)
            [0x70, 0],                        // DPTI_ALL (v3.3)
            [0x0005_0001_0270_0012, 0x400],   // scale 39 (v3.4, DS)
            [0x0000_0001_0000_002a, 1 << 54], // 56-bit IPA (v3.4)
        ];
        for (i, w) in words.iter().enumerate() {
            let first = order
                .iter()
                .position(|f| Command::decode_with(w, f).is_ok())
                .unwrap_or(order.len());
            assert!(first > 0 && first < order.len(), "{w:#x?} from {first}");
            for f in &order[first..] {
                assert!(Command::decode_with(w, f).is_ok(), "{i}");
            }
        }
        assert_eq!(
            Features::LATEST_NS,
            Features {
                secure_queue: false,
                sel2: false,
                ..Features::SMMUV3_4
            }
        );
    }

    #[test]
    fn presets_are_ordered() {
        for name in Features::preset_names() {
            assert!(Features::preset(name).is_some(), "{name}");
        }
        assert_eq!(Features::preset("smmuv9"), None);
        assert_eq!(Features::default(), Features::LATEST);
    }

    #[test]
    fn the_first_missing_gate_of_an_op_is_named_in_its_order() {
        // CMD_TLBI_EL2_ALL (0x20) needs stage 1, then EL2;
        // CMD_TLBI_S_EL2_ALL (0x50) stage 1, the Secure queue, then
        // Secure EL2. Each case: the opcode, the features, the refusal.
        let l = Features::LATEST;
        let cases: [(u64, Features, Option<&str>); 6] = [
            (0x20, l, None),
            (
                0x20,
                Features {
                    s1p: false,
                    hyp: false,
                    ..l
                },
                Some("opcode (needs stage 1, SMMU_IDR0.S1P)"),
            ),
            (
                0x20,
                Features { hyp: false, ..l },
                Some("opcode (needs EL2, SMMU_IDR0.Hyp)"),
            ),
            (0x50, l, None),
            (
                0x50,
                Features {
                    secure_queue: false,
                    sel2: false,
                    ..l
                },
                Some("opcode (Secure Command queue only)"),
            ),
            (
                0x50,
                Features { sel2: false, ..l },
                Some("opcode (needs Secure EL2, SMMU_S_IDR1.SEL2)"),
            ),
        ];
        for (op, f, want) in cases {
            let got = Command::decode_with(&[op, 0], &f).err().map(|e| e.field);
            assert_eq!(got, want, "{op:#x} {f:?}");
        }
    }

    #[test]
    fn range_fields_need_ril() {
        let w = [0x0005_0001_0001_f012, 0x0000_0000_0010_0401];
        assert_eq!(kind(w, &Features::SMMUV3_0), Some(ErrorKind::ReservedBits));
        assert_eq!(kind(w, &Features::SMMUV3_2), None);
        // tg = 0: no range, legal everywhere.
        let w = [0x0005_0001_0000_0012, 0x0000_0000_0010_0001];
        assert_eq!(kind(w, &Features::SMMUV3_0), None);
    }
}

/// A feature an op needs, checked in order by `Features::check`.
#[derive(Debug, Clone, Copy)]
enum Gate {
    S1,
    S1OrS2,
    S2,
    Hyp,
    Secure,
    Sel2,
    NoRme,
    Stall,
    Mpam,
    Ats,
    Pri,
    Dpt,
}
