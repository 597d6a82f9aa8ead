//! The features of an IOMMU from the command line, by preset name (see
//! [`iommu_inval::DecodeFeatures`]): `--caps <preset>`, the emulated IOMMU
//! that decodes the input, and `--host-caps <preset>`, the host a lowering
//! targets, narrowed by the flags (`--no-range-inval`, `--legacy`,
//! `--out-desc-width`, `--mamv`, `--no-ats`, `--pasid-bits`) and with the
//! lowering budget (`--max-cmds`).

use iommu_inval::core::{ArchId, Budget};
use iommu_inval::{Arch, ArchOps, DecodeFeatures};

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

/// The host chosen on the command line; `None`/`false` keeps the
/// architecture's default (`FeatureSet::HOST`: a typical modern host).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CapsOpts {
    /// The host's feature preset (the names of `--caps`).
    pub host: Option<String>,
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

/// The architecture `id` as a lowering target: the features of preset
/// `o.host` (default: the architecture's typical host, `FeatureSet::HOST`)
/// narrowed by the flags of `o`, and its budget. Options that do not apply
/// to `id`, or values out of range, are an error message.
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
    let mut arch = Arch::new(id);
    if let Some(name) = &o.host {
        arch = arch.with_preset(name).ok_or_else(|| {
            format!(
                "--host-caps {name}: not a {id} preset (one of: {})",
                arch.presets().join(", ")
            )
        })?;
    }
    let budget = |b: &mut Budget| *b = Budget::new(o.max_cmds.unwrap_or(b.cap()));
    match &mut arch {
        Arch::Smmuv3(t) => {
            let f = &mut t.features;
            f.ril &= !o.no_range_inval;
            f.ats &= !o.no_ats;
            f.ssid_bits = o.pasid_bits.unwrap_or(f.ssid_bits);
            budget(&mut t.budget);
        }
        Arch::Vtd(t) => {
            if o.legacy {
                t.features = t.features.in_legacy_mode();
            }
            let f = &mut t.features;
            f.dt &= !o.no_ats;
            f.mamv = o.mamv.unwrap_or(f.mamv);
            f.pasid_bits = o.pasid_bits.unwrap_or(f.pasid_bits);
            if let Some(w) = o.desc_width {
                f.dw = w == 256;
            }
            budget(&mut t.budget);
        }
        Arch::Amd(t) => {
            let f = &mut t.features;
            f.ats &= !o.no_ats;
            f.pasid_bits = o.pasid_bits.unwrap_or(f.pasid_bits);
            budget(&mut t.budget);
        }
        Arch::Riscv(t) => {
            let f = &mut t.features;
            f.s &= !o.no_range_inval;
            f.nl &= !o.no_range_inval;
            f.ats &= !o.no_ats;
            f.pid_bits = o.pasid_bits.unwrap_or(f.pid_bits);
            budget(&mut t.budget);
        }
        Arch::VirtioIommu(t) => budget(&mut t.budget),
    }
    Ok(arch)
}
