//! SMMUv3 vIOMMU (vSMMU) entries: a guest's raw commands as the kernel takes
//! them (`IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3`).
//!
//! The kernel's rules are those of drivers/iommu/arm/arm-smmu-v3/
//! arm-smmu-v3-iommufd.c, newest version read (facts only):
//!
//! * `arm_vsmmu_validate_user_cmd`: the permitted opcodes are
//!   CMD_TLBI_NSNH_ALL, CMD_TLBI_NH_VA, CMD_TLBI_NH_VAA, CMD_TLBI_NH_ALL,
//!   CMD_TLBI_NH_ASID, CMD_ATC_INV, CMD_CFGI_CD and CMD_CFGI_CD_ALL (as the
//!   uAPI header lists them); every other opcode is -EIO. Per opcode, only
//!   the fields below may be non-zero, so that no RES0 or Secure bit reaches
//!   the shared host queue (where it would raise CERROR_ILL for every
//!   device): [`Vsmmu::allowed`].
//!   - NH_VA: ASID (only its low `asid_bits` bits), then as NH_VAA;
//!   - NH_VAA: VMID, LEAF, address `w1[63:12]`; NUM, SCALE, TG, TTL only
//!     with range invalidation (FEAT_RANGE_INV), and then the range must not
//!     be Reserved (`arm_vsmmu_validate_range`: NUM/SCALE/TTL zero when
//!     TG = 0; TG = 16 KiB with TTL = 1 needs SMMU_IDR5.DS; TG ≠ 0 with
//!     NUM = SCALE = TTL = 0 is reserved);
//!   - NH_ASID: ASID (low `asid_bits`), VMID; NH_ALL: VMID; NSNH_ALL: none;
//!   - ATC_INV: refused without ATS; Size above 52 refused; SSV, SSID and
//!     Global only with substreams (`ssid_bits` ≠ 0); SID, Size, address;
//!   - CFGI_CD: SSID only with substreams, LEAF, SID; CFGI_CD_ALL: SID.
//! * `arm_vsmmu_convert_user_cmd`: the VMID of the NH TLBIs is overwritten
//!   with the vSMMU's; NSNH_ALL becomes NH_ALL of the vSMMU's VMID (word 1
//!   zero); the StreamID of ATC_INV, CFGI_CD and CFGI_CD_ALL is a virtual
//!   one, replaced by the physical StreamID of the vDEVICE with that virtual
//!   id (`arm_vsmmu_vsid_to_sid`), and a vSID without vDEVICE is -EIO.
//! * `arm_vsmmu_cache_invalidate`: a batch with one refused command issues
//!   nothing; the accepted ones are issued with a CMD_SYNC and the ioctl
//!   returns once they completed — the guest's own CMD_SYNC has no entry.
//!
//! Older kernels (before `arm_vsmmu_validate_user_cmd`) apply only the
//! opcode list and the rewriting; the entries this module produces are
//! accepted by both.

use crate::uapi::ViommuArmSmmuv3Invalidate;
use core::fmt;
use iommu_inval_arm::Command;
use iommu_inval_core::DecodeError;
use iommu_inval_core::NativeCommand;

/// ATC_INV Size meaning "every address" (`ATC_INV_SIZE_ALL`).
pub(crate) const ATC_INV_SIZE_ALL: u64 = 52;

/// The features of the host SMMU the kernel's checks depend on
/// (`struct arm_smmu_device` fields and features read by
/// `arm_vsmmu_validate_user_cmd`). A VMM reads them from
/// `IOMMU_GET_HW_INFO` (`struct iommu_hw_info_arm_smmuv3`: IDR0..IDR5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HostFeatures {
    /// ASID width: 8 or 16 (SMMU_IDR0.ASID16). The upper 8 bits of an
    /// 8-bit-ASID SMMU are RES0.
    pub asid_bits: u8,
    /// Range invalidation (SMMU_IDR3.RIL, `ARM_SMMU_FEAT_RANGE_INV`).
    pub range_inv: bool,
    /// SMMU_IDR5.DS (`ARM_SMMU_FEAT_DS`): TTL = 1 with a 16 KiB granule.
    pub ds: bool,
    /// ATS (`ARM_SMMU_FEAT_ATS`): ATC_INV is legal.
    pub ats: bool,
    /// SubstreamID width (SMMU_IDR1.SSIDSIZE); 0: no substreams.
    pub ssid_bits: u8,
}

impl Default for HostFeatures {
    /// A modern host: 16-bit ASIDs, range invalidation, ATS, 20-bit
    /// SubstreamIDs, no DS (the defaults of the topology's `iommufd.host`).
    fn default() -> Self {
        HostFeatures {
            asid_bits: 16,
            range_inv: true,
            ds: false,
            ats: true,
            ssid_bits: 20,
        }
    }
}

impl HostFeatures {
    /// A host with every feature the kernel's checks read.
    pub const FULL: HostFeatures = HostFeatures {
        asid_bits: 16,
        range_inv: true,
        ds: true,
        ats: true,
        ssid_bits: 20,
    };

    /// Whether the host has `f`.
    pub const fn has(&self, f: HostFeature) -> bool {
        match f {
            HostFeature::RangeInv => self.range_inv,
            HostFeature::Ds => self.ds,
            HostFeature::Asid16 => self.asid_bits >= 16,
            HostFeature::Substreams => self.ssid_bits != 0,
            HostFeature::Ats => self.ats,
        }
    }

    /// The features to lower generic ops to SMMUv3 commands this host's
    /// vSMMU takes: stage 1 only (stage 2 is the host's), with the host's
    /// range invalidation, ATS, ASID and SubstreamID widths. The lowering
    /// uses SCALE 0..=31; a level hint TTL 1 with a 16 KiB granule, which
    /// needs DS, goes through [`Vsmmu::fit_hints`].
    pub(crate) fn lowering_features(&self) -> iommu_inval_arm::Features {
        iommu_inval_arm::Features {
            ril: self.range_inv,
            ats: self.ats,
            s1p: true,
            s2p: false,
            asid_bits: self.asid_bits,
            ssid_bits: self.ssid_bits,
            ..iommu_inval_arm::Features::LATEST
        }
    }

    /// These features with `f` added (and what `f` needs: DS widens the
    /// range fields, so it comes with range invalidation).
    pub const fn with(self, f: HostFeature) -> HostFeatures {
        let mut h = self;
        match f {
            HostFeature::RangeInv => h.range_inv = true,
            HostFeature::Ds => {
                h.ds = true;
                h.range_inv = true;
            }
            HostFeature::Asid16 => h.asid_bits = 16,
            HostFeature::Substreams => {
                if h.ssid_bits == 0 {
                    h.ssid_bits = 20;
                }
            }
            HostFeature::Ats => h.ats = true,
        }
        h
    }
}

#[cfg(feature = "json")]
impl From<&iommu_inval_core::context::IommufdHost> for HostFeatures {
    /// The topology's `iommufd.host` section.
    fn from(h: &iommu_inval_core::context::IommufdHost) -> Self {
        HostFeatures {
            asid_bits: h.asid_bits,
            range_inv: h.range_inv,
            ds: h.ds,
            ats: h.ats,
            ssid_bits: h.ssid_bits,
        }
    }
}

/// A feature of the host SMMU that a guest command's field needs
/// ([`Refusal::HostLacks`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HostFeature {
    /// Range invalidation (SMMU_IDR3.RIL): NUM, SCALE, TG, TTL of NH_VA/VAA.
    RangeInv,
    /// SMMU_IDR5.DS: SCALE above 31 (w0\[25\]) and TTL = 1 with a 16 KiB
    /// granule.
    Ds,
    /// 16-bit ASIDs (SMMU_IDR0.ASID16): ASID bits 15:8.
    Asid16,
    /// Substreams (SMMU_IDR1.SSIDSIZE ≠ 0): SSV, SSID, Global.
    Substreams,
    /// ATS: CMD_ATC_INV.
    Ats,
}

impl HostFeature {
    /// The features [`Vsmmu::validate`] names, in the order it tries them.
    pub const GATES: [HostFeature; 4] = [
        HostFeature::RangeInv,
        HostFeature::Ds,
        HostFeature::Asid16,
        HostFeature::Substreams,
    ];

    /// Why the kernel refuses a field that needs the feature: the
    /// register field, the kernel's feature name and the topology key
    /// (`iommufd.host.…`).
    pub const fn reason(self) -> &'static str {
        match self {
            HostFeature::RangeInv => {
                "the host SMMU lacks range invalidation (arm_vsmmu_validate_user_cmd): NUM/SCALE/TG/TTL need SMMU_IDR3.RIL (ARM_SMMU_FEAT_RANGE_INV; topology iommufd.host.range_inv)"
            }
            HostFeature::Ds => {
                "the host SMMU lacks DS (arm_vsmmu_validate_user_cmd, arm_vsmmu_validate_range): SCALE above 31 (w0[25]) and TTL 1 with a 16 KiB granule need SMMU_IDR5.DS (ARM_SMMU_FEAT_DS; topology iommufd.host.ds), RES0 without it (IHI0070 §4.4.1.1)"
            }
            HostFeature::Asid16 => {
                "the host SMMU has 8-bit ASIDs (arm_vsmmu_validate_user_cmd): ASID bits 15:8 need SMMU_IDR0.ASID16 (smmu->asid_bits; topology iommufd.host.asid_bits)"
            }
            HostFeature::Substreams => {
                "the host SMMU has no substreams (arm_vsmmu_validate_user_cmd): SSV/SSID/Global need SMMU_IDR1.SSIDSIZE > 0 (smmu->ssid_bits; topology iommufd.host.ssid_bits)"
            }
            HostFeature::Ats => {
                "ATC_INV on a host SMMU without ATS (arm_vsmmu_validate_user_cmd; ARM_SMMU_FEAT_ATS, topology iommufd.host.ats)"
            }
        }
    }
}

/// A vSMMU: the VMID the kernel writes into the guest's TLBIs (the stage-2
/// parent's VMID, `vsmmu->vmid`) and the host features.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Vsmmu {
    /// The vSMMU's VMID.
    pub vmid: u16,
    /// The host SMMU.
    pub features: HostFeatures,
}

/// The vDEVICE table of a vIOMMU: virtual StreamID → physical StreamID
/// (`IOMMU_VDEVICE_ALLOC` with `virt_id` = vSID). The kernel supports one
/// StreamID per device (`arm_vsmmu_vdevice_init`).
pub trait VdevTable {
    /// The physical StreamID of virtual StreamID `vsid`, if a vDEVICE has it.
    fn psid(&self, vsid: u32) -> Option<u32>;
}

impl VdevTable for [(u32, u32)] {
    /// Pairs `(vsid, psid)`.
    fn psid(&self, vsid: u32) -> Option<u32> {
        self.iter().find(|(v, _)| *v == vsid).map(|(_, p)| *p)
    }
}

impl<const N: usize> VdevTable for [(u32, u32); N] {
    fn psid(&self, vsid: u32) -> Option<u32> {
        self.as_slice().psid(vsid)
    }
}

impl<T: VdevTable + ?Sized> VdevTable for &T {
    fn psid(&self, vsid: u32) -> Option<u32> {
        (**self).psid(vsid)
    }
}

/// A closure as a vDEVICE table.
pub struct VdevFn<F>(pub F);

impl<F: Fn(u32) -> Option<u32>> VdevTable for VdevFn<F> {
    fn psid(&self, vsid: u32) -> Option<u32> {
        (self.0)(vsid)
    }
}

/// A guest command the kernel would refuse (-EIO), found before the ioctl.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Refusal {
    /// CMD_SYNC: not a permitted opcode; the ioctl's own completion is the sync.
    Sync,
    /// CMD_CFGI_STE, CMD_CFGI_STE_RANGE, CMD_CFGI_ALL: stream-table
    /// configuration belongs to the VMM.
    SteConfig,
    /// CMD_PREFETCH_CONFIG / CMD_PREFETCH_ADDR.
    Prefetch,
    /// CMD_PRI_RESP.
    PageResponse,
    /// CMD_RESUME / CMD_STALL_TERM: the vSMMU does not forward stall commands.
    Stall,
    /// CMD_TLBI_S2_IPA / CMD_TLBI_S12_VMALL: stage 2 is the host's (the
    /// vSMMU's parent domain, kept by the kernel with the IOAS mappings).
    Stage2,
    /// An EL2 or EL3 (Secure) TLBI: regimes a guest's vSMMU does not have.
    OtherRegime,
    /// A bit outside the opcode's allowed mask (RES0, Secure, a field the
    /// host lacks): `word` and the offending `bits`.
    DisallowedBits {
        /// Word 0 or 1.
        word: u8,
        /// The bits set outside the mask.
        bits: u64,
    },
    /// A field the host SMMU does not implement (its bits are RES0 there):
    /// `feature`, and the offending `bits` of `word`.
    HostLacks {
        /// The feature the field needs.
        feature: HostFeature,
        /// Word 0 or 1.
        word: u8,
        /// The bits set that need it.
        bits: u64,
    },
    /// A TLBI range the host defines as Reserved (`arm_vsmmu_validate_range`).
    ReservedRange,
    /// ATC_INV on a host without ATS.
    NoAts,
    /// ATC_INV with Size above 52.
    AtcSize,
    /// The virtual StreamID has no vDEVICE.
    UnknownVsid(u32),
    /// A command of host-owned state the kernel does not pass
    /// (CMD_CFGI_VMS_PIDM: the VM structures; CMD_DPTI_ALL: the DPT).
    HostState,
    /// The words do not decode as an SMMUv3 command (illegal for the guest
    /// too: the front end raises CERROR_ILL).
    Illegal(DecodeError),
}

impl Refusal {
    /// The kernel's reason, with the function that applies it.
    pub const fn reason(&self) -> &'static str {
        match self {
            Refusal::Sync => {
                "CMD_SYNC is not a permitted opcode: IOMMU_HWPT_INVALIDATE returns when its entries are complete (arm_vsmmu_cache_invalidate)"
            }
            Refusal::SteConfig => {
                "CFGI_STE/STE_RANGE/ALL are not permitted opcodes (arm_vsmmu_validate_user_cmd): the stream table is the VMM's, installed as a nested HWPT"
            }
            Refusal::Prefetch => "prefetch is not a permitted opcode (arm_vsmmu_validate_user_cmd)",
            Refusal::PageResponse => {
                "CMD_PRI_RESP is not a permitted opcode (arm_vsmmu_validate_user_cmd): page responses go through the iommufd fault queue"
            }
            Refusal::Stall => {
                "CMD_RESUME/STALL_TERM are not permitted opcodes (arm_vsmmu_validate_user_cmd)"
            }
            Refusal::Stage2 => {
                "stage-2 TLBIs are not permitted opcodes (arm_vsmmu_validate_user_cmd): stage 2 is the host's parent domain"
            }
            Refusal::OtherRegime => {
                "EL2/EL3 TLBIs are not permitted opcodes (arm_vsmmu_validate_user_cmd): a vSMMU guest has only the NS-EL1 regime"
            }
            Refusal::DisallowedBits { .. } => {
                "a bit outside the opcode's allowed fields (RES0, Secure, or a field the host SMMU lacks) is set (arm_vsmmu_validate_user_cmd)"
            }
            Refusal::HostLacks { feature, .. } => feature.reason(),
            Refusal::ReservedRange => {
                "the TLBI range fields are a Reserved combination (arm_vsmmu_validate_range)"
            }
            Refusal::NoAts => HostFeature::Ats.reason(),
            Refusal::AtcSize => "ATC_INV Size above 52 (arm_vsmmu_validate_user_cmd)",
            Refusal::UnknownVsid(_) => {
                "no vDEVICE has this virtual StreamID (arm_vsmmu_vsid_to_sid, from arm_vsmmu_convert_user_cmd)"
            }
            Refusal::HostState => {
                "CMD_CFGI_VMS_PIDM / CMD_DPTI_ALL are not permitted opcodes (arm_vsmmu_validate_user_cmd): the VM structures and the DPT are the host's"
            }
            Refusal::Illegal(_) => "not a valid SMMUv3 command",
        }
    }
    /// What the VMM does instead: submit the entries gathered so far and
    /// complete a CMD_SYNC ([`Refusal::Sync`]); install the guest's STE as
    /// a nested HWPT ([`Refusal::SteConfig`]); nothing for a prefetch; answer
    /// a page request through the iommufd fault queue; allocate the vDEVICE
    /// of an unknown vSID; complete a command of host-owned state in its own
    /// emulation ([`Refusal::HostState`]); else stop the guest queue with
    /// CERROR_ILL, as hardware would.
    pub const fn action(&self) -> &'static str {
        match self {
            Refusal::Sync => {
                "submit the entries before it, then complete the CMD_SYNC for the guest"
            }
            Refusal::SteConfig => {
                "re-read the guest STE and install it: IOMMU_HWPT_ALLOC of a nested HWPT with the vSTE (IOMMU_HWPT_DATA_ARM_SMMUV3), then attach"
            }
            Refusal::Prefetch => {
                "nothing: a prefetch is only a hint"
            }
            Refusal::PageResponse => {
                "answer through the iommufd fault queue (struct iommu_hwpt_page_response on the fault fd)"
            }
            Refusal::UnknownVsid(_) => {
                "IOMMU_VDEVICE_ALLOC the device with this virtual StreamID first (or CERROR_ILL if the guest does not own it)"
            }
            Refusal::HostState => {
                "nothing to the host, whose VM structures (CMD_CFGI_VMS_PIDM: MPAM PARTID map) and DPT (CMD_DPTI_ALL) the kernel keeps: complete the command in the VMM's emulation (re-read the guest's copy if the emulated SMMU offers MPAM / the DPT, else CERROR_ILL)"
            }
            Refusal::Stall
            | Refusal::Stage2
            | Refusal::OtherRegime
            | Refusal::DisallowedBits { .. }
            | Refusal::HostLacks { .. }
            | Refusal::ReservedRange
            | Refusal::NoAts
            | Refusal::AtcSize
            | Refusal::Illegal(_) => {
                "stop the guest's command queue with CERROR_ILL"
            }
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::DisallowedBits { word, bits } | Refusal::HostLacks { word, bits, .. } => {
                write!(f, "{} (w{word} bits {bits:#x})", self.reason())?
            }
            Refusal::UnknownVsid(v) => write!(f, "{} (vSID {v:#x})", self.reason())?,
            Refusal::Illegal(e) => write!(f, "{}: {e}", self.reason())?,
            _ => f.write_str(self.reason())?,
        }
        write!(f, "; instead: {}", self.action())
    }
}

/// The decode error of [`Refusal::Illegal`].
impl core::error::Error for Refusal {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Refusal::Illegal(e) => Some(e),
            _ => None,
        }
    }
}

const OP: u64 = 0xff;

/// Bit masks of the named SMMUv3 fields the kernel's checks read on raw
/// words: each is the encoding of an op with its named fields at their
/// maximum (the codec cuts a value to its field), opcode left out, so
/// that the positions come from the arch crate's one table, by name.
pub(crate) mod field {
    use iommu_inval_arm::{AtcInv, Cfgi, Command, TlbiAddr, TlbiScope};

    /// `[w0, w1]` bits of `c`'s fields (its opcode cleared).
    #[inline(always)]
    pub(crate) fn mask(c: Command) -> [u64; 2] {
        let w = c.encode();
        [w[0] & !super::OP, w[1]]
    }
    /// [`mask`] of a TLBI by address (CMD_TLBI_NH_VA: every field but `ns`).
    #[inline(always)]
    pub(crate) fn tlbi(a: TlbiAddr) -> [u64; 2] {
        mask(Command::TlbiNhVa(a))
    }
    /// [`mask`] of a CMD_CFGI_CD.
    #[inline(always)]
    fn cd(c: Cfgi) -> [u64; 2] {
        mask(Command::CfgiCd(c))
    }
    /// [`mask`] of a CMD_ATC_INV.
    #[inline(always)]
    fn atc(c: AtcInv) -> [u64; 2] {
        mask(Command::AtcInv(c))
    }
    /// TLBI range `num`, `w0`.
    #[inline(always)]
    pub(crate) fn num() -> u64 {
        tlbi(TlbiAddr {
            num: u8::MAX,
            ..Default::default()
        })[0]
    }
    /// TLBI range `scale`, `w0`.
    #[inline(always)]
    pub(crate) fn scale() -> u64 {
        tlbi(TlbiAddr {
            scale: u8::MAX,
            ..Default::default()
        })[0]
    }
    /// TLBI level hint `ttl`, `w1`.
    #[inline(always)]
    pub(crate) fn ttl() -> u64 {
        tlbi(TlbiAddr {
            ttl: u8::MAX,
            ..Default::default()
        })[1]
    }
    /// TLBI granule `tg`, `w1`.
    #[inline(always)]
    pub(crate) fn tg() -> u64 {
        tlbi(TlbiAddr {
            tg: u8::MAX,
            ..Default::default()
        })[1]
    }
    /// `vmid`, `w0`.
    #[inline(always)]
    pub(crate) fn vmid() -> u64 {
        mask(Command::TlbiNhAsid(TlbiScope {
            vmid: u16::MAX,
            asid: 0,
        }))[0]
    }
    /// The low `bits` bits of `asid`, `w0`.
    #[inline(always)]
    pub(crate) fn asid(bits: u32) -> u64 {
        let asid = ((1u32 << bits.min(16)) - 1) as u16;
        mask(Command::TlbiNhAsid(TlbiScope { vmid: 0, asid }))[0]
    }
    /// StreamID `sid`, `w0`.
    #[inline(always)]
    pub(crate) fn sid() -> u64 {
        cd(Cfgi {
            sid: u32::MAX,
            ..Default::default()
        })[0]
    }
    /// SubstreamID `ssid`, `w0`.
    #[inline(always)]
    pub(crate) fn ssid() -> u64 {
        cd(Cfgi {
            ssid: u32::MAX,
            ..Default::default()
        })[0]
    }
    /// CMD_CFGI_CD `leaf`, `w1`.
    #[inline(always)]
    pub(crate) fn leaf() -> u64 {
        cd(Cfgi {
            leaf: true,
            ..Default::default()
        })[1]
    }
    /// ATC_INV `ssv`, `ssid` and `global`, `w0`.
    #[inline(always)]
    pub(crate) fn substream() -> u64 {
        atc(AtcInv {
            ssv: true,
            ssid: u32::MAX,
            global: true,
            ..Default::default()
        })[0]
    }
    /// ATC_INV `size`, `w1`.
    #[inline(always)]
    pub(crate) fn atc_size() -> u64 {
        atc(AtcInv {
            size: u8::MAX,
            ..Default::default()
        })[1]
    }
    /// Virtual address, `w1`.
    #[inline(always)]
    pub(crate) fn va() -> u64 {
        tlbi(TlbiAddr {
            address: u64::MAX,
            ..Default::default()
        })[1]
    }
    /// The value of the field of mask `m` in word `w`.
    #[inline(always)]
    pub(crate) fn get(w: u64, m: u64) -> u64 {
        (w & m) >> m.trailing_zeros()
    }
}

impl Vsmmu {
    /// A vSMMU of VMID `vmid` on a host with `features`.
    pub const fn new(vmid: u16, features: HostFeatures) -> Self {
        Vsmmu { vmid, features }
    }

    fn asid_mask(&self) -> u64 {
        field::asid(u32::from(self.features.asid_bits))
    }

    /// The bits a permitted opcode may set (word 0, word 1), or why the
    /// opcode is refused outright (`arm_vsmmu_validate_user_cmd`).
    pub fn allowed(&self, opcode: u8) -> Result<[u64; 2], Refusal> {
        let f = &self.features;
        // SCALE bit 5 (w0[25], SCALE 32..=63) is RES0 without SMMU_IDR5.DS
        // (IHI0070 §4.4.1.1); the kernel allows it only with
        // ARM_SMMU_FEAT_DS (arm_vsmmu_validate_user_cmd).
        let scale = if f.ds {
            field::scale()
        } else {
            field::scale()
                & !field::tlbi(iommu_inval_arm::TlbiAddr {
                    scale: 32,
                    ..Default::default()
                })[0]
        };
        let range = if f.range_inv {
            [field::num() | scale, field::tg() | field::ttl()]
        } else {
            [0, 0]
        };
        let ssid = if f.ssid_bits != 0 {
            field::substream()
        } else {
            0
        };
        let va = [
            field::vmid() | range[0],
            field::leaf() | field::va() | range[1],
        ];
        Ok(match opcode {
            0x30 => [OP, 0],
            0x12 => [OP | self.asid_mask() | va[0], va[1]],
            0x13 => [OP | va[0], va[1]],
            0x11 => [OP | self.asid_mask() | field::vmid(), 0],
            0x10 => [OP | field::vmid(), 0],
            0x40 => {
                if !f.ats {
                    return Err(Refusal::NoAts);
                }
                [OP | ssid | field::sid(), field::atc_size() | field::va()]
            }
            0x05 => {
                let s = if f.ssid_bits != 0 { field::ssid() } else { 0 };
                [OP | s | field::sid(), field::leaf()]
            }
            0x06 => [OP | field::sid(), 0],
            0x46 => return Err(Refusal::Sync),
            0x03 | 0x04 => return Err(Refusal::SteConfig),
            0x01 | 0x02 => return Err(Refusal::Prefetch),
            0x41 => return Err(Refusal::PageResponse),
            0x44 | 0x45 => return Err(Refusal::Stall),
            0x28 | 0x2a => return Err(Refusal::Stage2),
            // EL2, EL3 and the Secure regimes (IHI0070 §4.4.2, §4.4.3.3-4,
            // §4.4.4.2): a vSMMU guest has only NS-EL1.
            0x18 | 0x1a | 0x20..=0x23 | 0x50..=0x53 | 0x58 | 0x5a | 0x60 => {
                return Err(Refusal::OtherRegime)
            }
            0x07 | 0x70 => return Err(Refusal::HostState),
            op => return Err(Refusal::Illegal(DecodeError::unknown_opcode(u64::from(op)))),
        })
    }

    /// `cmd` as this host executes it, with a hint the host ignores taken
    /// out so that the kernel takes it: a TLBI level hint TTL = 1 with a
    /// 16 KiB granule is Reserved and treated as TTL = 0 without
    /// SMMU_IDR5.DS (IHI0070 §4.4.1.1), which the hardware accepts but
    /// `arm_vsmmu_validate_range` refuses (-EIO for the whole batch). TTL
    /// becomes 0; a single granule (NUM = SCALE = 0, Reserved with TG and
    /// TTL 0) becomes the TG = 0 form, which removes every entry holding
    /// the address, whatever its size. The footprint is unchanged (the
    /// library reads such a TTL as 0 too). Any other command is returned
    /// as is. For lowered commands (`backend::VsmmuBackend`); a guest's own
    /// command is checked unchanged.
    pub(crate) fn fit_hints(&self, cmd: &Command) -> Command {
        let mut w = cmd.encode();
        let op = (w[0] & OP) as u8;
        if !matches!(op, 0x12 | 0x13)
            || self.features.ds
            || field::get(w[1], field::tg()) != 2
            || field::get(w[1], field::ttl()) != 1
        {
            return *cmd;
        }
        w[1] &= !field::ttl();
        if field::get(w[0], field::num()) == 0 && field::get(w[0], field::scale()) == 0 {
            w[1] &= !field::tg();
        }
        Command::decode(&w).unwrap_or(*cmd)
    }

    /// The kernel's validation of one raw command
    /// (`arm_vsmmu_validate_user_cmd` with `arm_vsmmu_validate_range`).
    pub fn validate(&self, w: &[u64; 2]) -> Result<(), Refusal> {
        let op = (w[0] & OP) as u8;
        let allowed = self.allowed(op)?;
        if matches!(op, 0x12 | 0x13) && self.features.range_inv {
            let arr = [w[0], w[1]];
            let num_scale = field::get(arr[0], field::num()) | field::get(arr[0], field::scale());
            let ttl = field::get(arr[1], field::ttl());
            let tg = field::get(arr[1], field::tg());
            if tg == 2 && ttl == 1 && !self.features.ds {
                return Err(Refusal::HostLacks {
                    feature: HostFeature::Ds,
                    word: 1,
                    bits: w[1] & field::ttl(),
                });
            }
            if (tg == 0 && (num_scale != 0 || ttl != 0)) || (tg != 0 && num_scale == 0 && ttl == 0)
            {
                return Err(Refusal::ReservedRange);
            }
        }
        if op == 0x40 && field::get(w[1], field::atc_size()) > ATC_INV_SIZE_ALL {
            return Err(Refusal::AtcSize);
        }
        let extra = [w[0] & !allowed[0], w[1] & !allowed[1]];
        if extra == [0, 0] {
            return Ok(());
        }
        // Bits no host allows (RES0, Secure) are refused as such; bits a
        // host with more features allows name the first feature that would
        // allow them.
        let full = Vsmmu::new(self.vmid, HostFeatures::FULL).allowed(op)?;
        if let Some(i) = (0..2).find(|&i| extra[i] & !full[i] != 0) {
            return Err(Refusal::DisallowedBits {
                word: i as u8,
                bits: extra[i],
            });
        }
        for feature in HostFeature::GATES {
            if self.features.has(feature) {
                continue;
            }
            let m = Vsmmu::new(self.vmid, self.features.with(feature)).allowed(op)?;
            if let Some(i) = (0..2).find(|&i| extra[i] & m[i] != 0) {
                return Err(Refusal::HostLacks {
                    feature,
                    word: i as u8,
                    bits: extra[i] & m[i],
                });
            }
        }
        let i = usize::from(extra[0] == 0);
        Err(Refusal::DisallowedBits {
            word: i as u8,
            bits: extra[i],
        })
    }

    /// The command the host SMMU executes for a guest command: validated,
    /// then rewritten as `arm_vsmmu_convert_user_cmd` does (VMID, pSID,
    /// NSNH_ALL → NH_ALL). For footprints and tests: what the VMM passes to
    /// the kernel is the guest's command ([`Vsmmu::guest_entry`]), since the
    /// kernel does the rewriting itself and needs the virtual StreamID.
    pub fn host_command<V: VdevTable + ?Sized>(
        &self,
        cmd: &Command,
        vdevs: &V,
    ) -> Result<[u64; 2], Refusal> {
        let mut w = cmd.encode();
        self.validate(&w)?;
        let vmid = field::vmid();
        let sid = field::sid();
        match cmd {
            Command::TlbiNsnhAll => {
                w = [0x10 | (u64::from(self.vmid) << 32), 0];
            }
            Command::TlbiNhVa(_)
            | Command::TlbiNhVaa(_)
            | Command::TlbiNhAll(_)
            | Command::TlbiNhAsid(_) => {
                w[0] = (w[0] & !vmid) | (u64::from(self.vmid) << 32);
            }
            Command::AtcInv(_) | Command::CfgiCd(_) | Command::CfgiCdAll(_) => {
                let vsid = (w[0] >> 32) as u32;
                let p = vdevs.psid(vsid).ok_or(Refusal::UnknownVsid(vsid))?;
                w[0] = (w[0] & !sid) | (u64::from(p) << 32);
            }
            // `validate` refused every other opcode.
            _ => {
                return Err(self.allowed(cmd.opcode()).err().unwrap_or(Refusal::Illegal(
                    DecodeError::unknown_opcode(u64::from(cmd.opcode())),
                )))
            }
        }
        Ok(w)
    }

    /// The entry to pass to `IOMMU_HWPT_INVALIDATE` for a guest command,
    /// after the checks the kernel will make (so that a refused command is
    /// reported before the ioctl, and a batch is never failed by it). The
    /// entry holds the guest's words unchanged: the kernel overwrites the
    /// VMID and translates the vSID itself.
    pub fn guest_entry<V: VdevTable + ?Sized>(
        &self,
        cmd: &Command,
        vdevs: &V,
    ) -> Result<ViommuArmSmmuv3Invalidate, Refusal> {
        self.host_command(cmd, vdevs)?;
        Ok(ViommuArmSmmuv3Invalidate { cmd: cmd.encode() })
    }

    /// [`Vsmmu::guest_entry`] of raw guest words (decoded first: words that
    /// do not decode are [`Refusal::Illegal`]).
    #[cfg(test)]
    fn guest_entry_words<V: VdevTable + ?Sized>(
        &self,
        words: &[u64],
        vdevs: &V,
    ) -> Result<ViommuArmSmmuv3Invalidate, Refusal> {
        let cmd = Command::decode(words).map_err(Refusal::Illegal)?;
        self.guest_entry(&cmd, vdevs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iommu_inval_arm::*;

    const VDEVS: [(u32, u32); 2] = [(0x10, 0x100), (0x18, 0x208)];

    fn v() -> Vsmmu {
        Vsmmu::new(7, HostFeatures::default())
    }

    /// The fields a test of a two-page CMD_TLBI_NH_VAA at 0 chooses.
    struct NhVaa {
        vmid: u16,
        scale: u8,
        ttl: u8,
        tg: u8,
    }

    fn nh_vaa(f: NhVaa) -> Command {
        Command::TlbiNhVaa(TlbiAddr {
            num: 1,
            scale: f.scale,
            vmid: f.vmid,
            leaf: false,
            ttl: f.ttl,
            ttl128: false,
            tg: f.tg,
            address: 0,
            ..Default::default()
        })
    }

    /// The vSMMU of VMID 7 on a host with the default features but `f`'s.
    fn host(f: impl FnOnce(&mut HostFeatures)) -> Vsmmu {
        let mut h = HostFeatures::default();
        f(&mut h);
        Vsmmu::new(7, h)
    }

    #[test]
    fn nh_tlbis_get_the_vsmmu_vmid() {
        let c: Command = Command::TlbiNhVa(TlbiAddr {
            num: 31,
            scale: 0,
            vmid: 1,
            asid: 5,
            leaf: true,
            ttl: 0,
            ttl128: false,
            tg: 1,
            address: 0x10_0000,
            ..Default::default()
        });
        let h = v().host_command(&c, &VDEVS).unwrap();
        assert_eq!(h[0], (c.encode()[0] & !(0xffff << 32)) | (7 << 32));
        assert_eq!(h[1], c.encode()[1]);
        // The entry itself is the guest's command.
        assert_eq!(v().guest_entry(&c, &VDEVS).unwrap().cmd, c.encode());
        let all: Command = Command::TlbiNhAll(TlbiScope {
            vmid: 3,
            ..Default::default()
        });
        assert_eq!(v().host_command(&all, &VDEVS).unwrap(), [0x10 | 7 << 32, 0]);
    }

    #[test]
    fn nsnh_all_becomes_nh_all() {
        let c: Command = Command::TlbiNsnhAll;
        assert_eq!(v().host_command(&c, &VDEVS).unwrap(), [0x10 | 7 << 32, 0]);
    }

    #[test]
    fn stream_ids_go_through_the_vdevice_table() {
        let c: Command = Command::AtcInv(AtcInv {
            global: false,
            ssv: true,
            ssid: 3,
            sid: 0x18,
            size: 2,
            address: 0x4000,
        });
        let h = v().host_command(&c, &VDEVS).unwrap();
        assert_eq!(h[0] >> 32, 0x208);
        assert_eq!(h[0] & 0xffff_ffff, c.encode()[0] & 0xffff_ffff);
        let cd: Command = Command::CfgiCd(Cfgi {
            ssec: false,
            ssid: 1,
            sid: 0x99,
            leaf: true,
            ..Default::default()
        });
        assert_eq!(
            v().host_command(&cd, &VDEVS),
            Err(Refusal::UnknownVsid(0x99))
        );
        assert!(Refusal::UnknownVsid(0x99)
            .action()
            .starts_with("IOMMU_VDEVICE_ALLOC"));
    }

    #[test]
    fn refused_opcodes_say_why_and_what_to_do() {
        let sync: Command = Command::CmdSync(CmdSync::default());
        assert_eq!(v().guest_entry(&sync, &VDEVS), Err(Refusal::Sync));
        assert!(Refusal::Sync
            .action()
            .ends_with("complete the CMD_SYNC for the guest"));
        let ste: Command = Command::CfgiSte(Cfgi {
            ssec: false,
            sid: 0x10,
            leaf: true,
            ..Default::default()
        });
        assert_eq!(v().guest_entry(&ste, &VDEVS), Err(Refusal::SteConfig));
        assert!(Refusal::SteConfig
            .action()
            .starts_with("re-read the guest STE"));
        let s2: Command = Command::TlbiS12Vmall(TlbiScope {
            vmid: 1,
            ..Default::default()
        });
        assert_eq!(v().guest_entry(&s2, &VDEVS), Err(Refusal::Stage2));
        let el2: Command = Command::TlbiEl2All;
        assert_eq!(v().guest_entry(&el2, &VDEVS), Err(Refusal::OtherRegime));
        let msg = std::format!("{}", Refusal::SteConfig);
        assert!(msg.contains("arm_vsmmu_validate_user_cmd") && msg.contains("instead"));
        // Issue 28 item 4: CFGI_VMS_PIDM / DPTI_ALL say what to do about them.
        for op in [0x07u64, 0x70] {
            let r = v().guest_entry_words(&[op, 0], &VDEVS).unwrap_err();
            assert_eq!(r, Refusal::HostState);
            let instead = r.action();
            assert!(!instead.contains("prefetch"), "{instead}");
            assert!(instead.contains("CMD_CFGI_VMS_PIDM") && instead.contains("CMD_DPTI_ALL"));
        }
    }

    #[test]
    fn masks_follow_host_features() {
        // Secure CFGI_CD: the decoder accepts ssec, the kernel does not.
        let cd: Command = Command::CfgiCd(Cfgi {
            ssec: true,
            ssid: 0,
            sid: 0x10,
            leaf: false,
            ..Default::default()
        });
        assert_eq!(
            v().guest_entry(&cd, &VDEVS),
            Err(Refusal::DisallowedBits {
                word: 0,
                bits: 1 << 10
            })
        );
        // 8-bit ASIDs: the upper ASID bits are RES0.
        let asid: Command = Command::TlbiNhAsid(TlbiScope {
            vmid: 0,
            asid: 0x1ff,
        });
        let small = host(|h| h.asid_bits = 8);
        assert_eq!(
            lacks(&asid, small, v(), HostFeature::Asid16),
            (0, 0x100 << 48)
        );
        let vaa = |ttl, tg| {
            nh_vaa(NhVaa {
                vmid: 0,
                scale: 0,
                ttl,
                tg,
            })
        };
        // Without range invalidation, NUM/SCALE/TG/TTL must be zero.
        let noril = host(|h| h.range_inv = false);
        lacks(&vaa(0, 1), noril, v(), HostFeature::RangeInv);
        // TG = 16 KiB with TTL = 1 needs DS.
        let ds = host(|h| h.ds = true);
        assert_eq!(lacks(&vaa(1, 2), v(), ds, HostFeature::Ds), (1, 1 << 8));
        // ATC_INV: ATS needed, Size at most 52, SSV only with substreams.
        let atc: Command = Command::AtcInv(AtcInv {
            global: false,
            ssv: true,
            ssid: 1,
            sid: 0x10,
            size: 53,
            address: 0,
        });
        assert_eq!(v().guest_entry(&atc, &VDEVS), Err(Refusal::AtcSize));
        let noats = host(|h| h.ats = false);
        assert_eq!(noats.guest_entry(&atc, &VDEVS), Err(Refusal::NoAts));
        let nossid = host(|h| h.ssid_bits = 0);
        let atc2: Command = Command::AtcInv(AtcInv {
            global: false,
            ssv: true,
            ssid: 1,
            sid: 0x10,
            size: 1,
            address: 0,
        });
        assert_eq!(lacks(&atc2, nossid, v(), HostFeature::Substreams).0, 0);
    }

    /// `cmd` is refused for lacking `feature` on host `without` and
    /// accepted on host `with`; the word and bits the refusal names.
    fn lacks(cmd: &Command, without: Vsmmu, with: Vsmmu, feature: HostFeature) -> (u8, u64) {
        let r = without.guest_entry(cmd, &VDEVS);
        let Err(Refusal::HostLacks {
            feature: lacked,
            word,
            bits,
        }) = r
        else {
            panic!("{r:?}");
        };
        assert_eq!(lacked, feature);
        assert!(with.guest_entry(cmd, &VDEVS).is_ok());
        (word, bits)
    }

    /// Issue 28 item 2: SCALE bit 5 (w0[25]) is allowed only with DS.
    #[test]
    fn scale_above_31_needs_ds() {
        let c: Command = Command::TlbiNhVa(TlbiAddr {
            num: 1,
            scale: 32,
            vmid: 1,
            asid: 0,
            leaf: false,
            ttl: 0,
            ttl128: false,
            tg: 1,
            address: 0,
            ..Default::default()
        });
        let r = v().guest_entry(&c, &VDEVS).unwrap_err();
        assert_eq!(
            r,
            Refusal::HostLacks {
                feature: HostFeature::Ds,
                word: 0,
                bits: 1 << 25
            }
        );
        assert!(std::format!("{r}").contains("ARM_SMMU_FEAT_DS"));
        let ds = host(|h| h.ds = true);
        assert!(ds.guest_entry(&c, &VDEVS).is_ok());
        // SCALE 31 needs no DS.
        let c31: Command = nh_vaa(NhVaa {
            vmid: 1,
            scale: 31,
            ttl: 0,
            tg: 1,
        });
        assert!(v().guest_entry(&c31, &VDEVS).is_ok());
    }

    #[test]
    fn raw_words_that_do_not_decode_are_illegal() {
        assert!(matches!(
            v().guest_entry_words(&[0xff, 0], &VDEVS),
            Err(Refusal::Illegal(_))
        ));
        assert!(matches!(
            v().guest_entry_words(&[0x10], &VDEVS),
            Err(Refusal::Illegal(_))
        ));
    }
}
