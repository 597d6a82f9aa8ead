//! The host capabilities of a lowering, from the command line (`--max-cmds`,
//! `--no-range-inval`, `--legacy`, `--out-desc-width`, `--mamv`,
//! `--no-ats`, `--pasid-bits`), and `--caps <preset>`: the decoding
//! features of the emulated IOMMU (see [`iommu_inval::DecodeFeatures`]).

use iommu_inval::core::ArchId;
use iommu_inval::{amd, arm, riscv, vtd, AmdArch, Arch, ArchOps, DecodeFeatures};
use iommu_inval::{RiscvArch, Smmuv3Arch, VtdArch};

/// The decoding features of preset `name` of architecture `id`; an unknown
/// name is a message that lists the presets.
pub fn preset(id: ArchId, name: &str) -> Result<DecodeFeatures, String> {
    let arch = Arch::new(id);
    arch.decode_features(name).ok_or_else(|| {
        format!(
            "--caps {name}: not a {id} preset (one of: {})",
            arch.presets().join(", ")
        )
    })
}

/// The largest `--max-cmds` accepted: keeps one input's output (and the
/// footprint comparison of `--explain`) bounded.
pub const MAX_CMDS_LIMIT: usize = 4096;

/// Host capabilities chosen on the command line; `None`/`false` keeps the
/// architecture's default (`Caps::default()`: a typical modern host).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CapsOpts {
    /// At most this many commands per range or device set (all architectures).
    pub max_cmds: Option<usize>,
    /// SMMUv3 without range invalidation (SMMU_IDR3.RIL = 0); RISC-V without
    /// the range and non-leaf IOTINVAL extensions (capabilities.S, NL).
    pub no_range_inval: bool,
    /// VT-d legacy mode: no PASID descriptors, 128-bit descriptors.
    pub legacy: bool,
    /// VT-d descriptor width of the output (128 or 256).
    pub desc_width: Option<u32>,
    /// VT-d CAP.MAMV.
    pub mamv: Option<u8>,
    /// No ATS / device TLBs.
    pub no_ats: bool,
    /// PASID (SubstreamID) width in bits.
    pub pasid_bits: Option<u8>,
}

/// The architecture `id` with capabilities adjusted by `o`. Options that
/// do not apply to `id`, or values out of range, are an error message.
pub fn with_caps(id: ArchId, o: &CapsOpts) -> Result<Arch, String> {
    let only = |flag: &str, arch: ArchId| -> Result<(), String> {
        if id == arch {
            Ok(())
        } else {
            Err(format!("{flag} applies to {arch} only, not {id}"))
        }
    };
    if o.no_range_inval && id != ArchId::Riscv {
        only("--no-range-inval", ArchId::Smmuv3)?;
    }
    if o.legacy {
        only("--legacy", ArchId::Vtd)?;
    }
    if o.mamv.is_some() {
        only("--mamv", ArchId::Vtd)?;
    }
    if let Some(w) = o.desc_width {
        if w != 128 {
            only("--out-desc-width 256", ArchId::Vtd)?;
        }
    }
    if o.mamv.is_some_and(|m| m > 63) {
        return Err("--mamv is at most 63".into());
    }
    if o.pasid_bits.is_some_and(|p| p > 20) {
        return Err("--pasid-bits is at most 20".into());
    }
    if o.max_cmds.is_some_and(|m| m == 0 || m > MAX_CMDS_LIMIT) {
        return Err(format!("--max-cmds is between 1 and {MAX_CMDS_LIMIT}"));
    }
    Ok(match id {
        ArchId::Smmuv3 => {
            let mut c = arm::Caps::default();
            c.range_inval &= !o.no_range_inval;
            c.ats &= !o.no_ats;
            c.ssid_bits = o.pasid_bits.unwrap_or(c.ssid_bits);
            c.max_cmds = o.max_cmds.unwrap_or(c.max_cmds);
            Arch::Smmuv3(Smmuv3Arch { caps: c })
        }
        ArchId::Vtd => {
            let mut c = if o.legacy {
                vtd::Caps::legacy()
            } else {
                vtd::Caps::default()
            };
            c.dev_tlb &= !o.no_ats;
            c.mamv = o.mamv.unwrap_or(c.mamv);
            c.pasid_bits = o.pasid_bits.unwrap_or(c.pasid_bits);
            c.max_cmds = o.max_cmds.unwrap_or(c.max_cmds);
            if let Some(w) = o.desc_width {
                c.wide = w == 256;
            }
            Arch::Vtd(VtdArch { caps: c })
        }
        ArchId::Amd => {
            let mut c = amd::Caps::default();
            c.ats &= !o.no_ats;
            c.pasid_bits = o.pasid_bits.unwrap_or(c.pasid_bits);
            c.max_cmds = o.max_cmds.unwrap_or(c.max_cmds);
            Arch::Amd(AmdArch { caps: c })
        }
        ArchId::Riscv => {
            let mut c = riscv::Caps::default();
            c.range_inval &= !o.no_range_inval;
            c.nl &= !o.no_range_inval;
            c.ats &= !o.no_ats;
            c.pasid_bits = o.pasid_bits.unwrap_or(c.pasid_bits);
            c.max_cmds = o.max_cmds.unwrap_or(c.max_cmds);
            Arch::Riscv(RiscvArch { caps: c })
        }
    })
}
