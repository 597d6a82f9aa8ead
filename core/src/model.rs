//! The generic (architecture-neutral) invalidation model.
//!
//! An [`Op`] is one operation of an invalidation queue. Queues are
//! *sequences* of ops: order and barriers ([`Op::Sync`]) are explicit and
//! every translation keeps them.
//!
//! An [`Inval`] says **what** ([`Caches`], with `LEAF`), **whose** (the
//! [`Regime`], translation [`Stages`], [`DomainSel`], [`PasidSel`],
//! [`DeviceSel`]) and **where** (an [`AddrRange`] plus [`Hints`]).
//!
//! Which coordinates matter depends on the cache, and a selection that does
//! not apply to a cache is ignored for it (and for its footprint):
//!
//! | cache | tagged by |
//! |---|---|
//! | `CONFIG_DEVICE` (STE, context entry, DTE) | device |
//! | `CONFIG_PASID` (CD, PASID-table entry) | device, PASID |
//! | `IOTLB` (and its walk caches unless `LEAF`) | regime, stage, domain, PASID, address |
//! | `DEV_TLB` (ATS translation cache of a device) | device, PASID (+ `global`), address |
//! | `INTR_REMAP` (interrupt remapping entries) | device, entry index (in `range`) |
//!
//! A device-tagged cache selected with [`DeviceSel::All`] means "every device
//! of the domain" ([`DomainSel::One`]), or every device at all. The regime
//! tags configuration and IOTLB entries; device TLBs and interrupt remapping
//! entries exist for non-secure streams only (a `Secure` invalidation of them
//! removes nothing; `Hyp` is the same as `Guest` for them).
//!
//! Ids are *generic*: domain ids and PASIDs as the [`Context`](crate::Context)
//! names them, devices by PCI requester id (used as SMMU StreamID, VT-d
//! source-id and AMD DeviceID).

pub use crate::range::AddrRange;
/// What every flag set has (in every prelude; here for `use model::*`).
pub use crate::Flags;

crate::flags! {
    /// Which caches an invalidation targets, plus the `LEAF` modifier. The
    /// texts are the caches' names in an op's one-line description.
    ///
    /// Seed proposal flags map one to one: `CONFIG` → [`Caches::CONFIG_PASID`]
    /// (scope PASID) or [`Caches::CONFIG`] (scope DOMAIN), `TLB` →
    /// [`Caches::IOTLB`], `DEV_TLB` → [`Caches::DEV_TLB`], `LEAF` → [`Caches::LEAF`].
    #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub struct Caches: u8 {
        /// Device configuration: SMMU STE, VT-d context entry, AMD DTE.
        const CONFIG_DEVICE = 1 << 0 => "device config";
        /// PASID configuration: SMMU CD, VT-d PASID-table entry (PASID cache).
        const CONFIG_PASID = 1 << 1 => "PASID config";
        /// IOMMU TLB (and, without `LEAF`, the paging-structure/walk caches).
        const IOTLB = 1 << 2 => "IOTLB";
        /// Device TLB (PCIe ATS address translation cache).
        const DEV_TLB = 1 << 3 => "device TLB";
        /// Interrupt remapping cache (VT-d IEC, AMD interrupt table).
        const INTR_REMAP = 1 << 4 => "interrupt remapping";
        /// Only leaf entries need go; walk caches / L1 descriptors may stay.
        const LEAF = 1 << 5;
        /// Both configuration caches.
        const CONFIG = Self::CONFIG_DEVICE.0 | Self::CONFIG_PASID.0;
        /// Every cache kind (not `LEAF`).
        const ALL_KINDS = 0x1f;
    }
}

impl Caches {
    /// The bit index of the lowest cache kind in `self` (`LEAF` is not a
    /// kind); 8 when it holds none. `const` for footprint's kind numbers.
    pub(crate) const fn lowest_kind(self) -> u32 {
        (self.0 & Self::ALL_KINDS.0).trailing_zeros()
    }
}

crate::flags! {
    /// Translation stages an IOTLB invalidation applies to.
    #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub struct Stages: u8 {
        /// Stage 1 / first level / guest (PASID-tagged) translations.
        const S1 = 1;
        /// Stage 2 / second level / host (domain-tagged) translations.
        const S2 = 2;
    }
}

/// The translation regime of an IOTLB entry. Only SMMUv3 names regimes other
/// than [`Regime::Guest`]; they are kept so that same-architecture round trips
/// are exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Regime {
    /// Non-secure, non-hypervisor (SMMU NS-EL1, VMID-tagged); the only regime
    /// of VT-d and AMD-Vi.
    #[default]
    Guest,
    /// SMMU EL2 (hypervisor) translations: no VMID.
    Hyp,
    /// SMMU Secure / EL3 translations and secure-stream configuration (`ssec`).
    Secure,
    /// SMMU Secure EL2 (S-EL2, S-EL2-E2H) stage-1 translations: no VMID
    /// (CMD_TLBI_S_EL2_*, IHI0070 §4.4.2.11–§4.4.2.14).
    SecureHyp,
    /// SMMU Secure EL1&0 translations under Secure stage 2, VMID-tagged
    /// (CMD_TLBI_S_S12_VMALL, S_S2_IPA, SNH_ALL, IHI0070 §4.4.3.3–§4.4.4.2).
    SecureGuest,
}

impl Regime {
    /// True for the secure regimes (no device TLB or interrupt entries, and
    /// nothing on VT-d or AMD-Vi).
    pub const fn is_secure(self) -> bool {
        matches!(
            self,
            Regime::Secure | Regime::SecureHyp | Regime::SecureGuest
        )
    }
}

/// Which translation domain (SMMU VMID, VT-d DID, AMD DomainID, generically named).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum DomainSel {
    /// Every domain.
    All,
    /// One domain.
    One(u32),
}

/// Which PASIDs (SMMU SubstreamIDs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum PasidSel {
    /// Every PASID and requests without PASID.
    All,
    /// Requests without PASID only (VT-d RID_PASID, SMMU SSV = 0, AMD GN = 0).
    NoPasid,
    /// One PASID (20 bits).
    One(u32),
}

/// Which devices (PCI requester ids).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum DeviceSel {
    /// Every device of the selected domain (every device when `DomainSel::All`).
    All,
    /// One requester id.
    One(u32),
    /// Requester ids `first..=last`.
    Range {
        /// First requester id.
        first: u32,
        /// Last requester id (inclusive).
        last: u32,
    },
}

impl DeviceSel {
    /// The inclusive interval of requester ids, `None` for `All`.
    pub const fn interval(&self) -> Option<(u32, u32)> {
        match *self {
            DeviceSel::All => None,
            DeviceSel::One(d) => Some((d, d)),
            DeviceSel::Range { first, last } => Some((first, last)),
        }
    }
}

/// Hints that let a lowering use fewer commands; none changes the footprint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Hints {
    /// log2 of the leaf page size that maps the range (seed "granule"), 0 = unknown.
    pub leaf_shift: u8,
    /// log2 of the page-table translation granule (12, 14, 16), 0 = unknown (SMMU TG).
    pub tg_shift: u8,
    /// Level of the leaf entries (SMMU TTL), 0 = unknown.
    pub level: u8,
    /// VT-d drain reads / drain writes (`dr`, `dw`).
    pub drain_reads: bool,
    /// See `drain_reads`.
    pub drain_writes: bool,
    /// ATS invalidation: the physical function's requester id (VT-d `pfsid`).
    pub pfsid: u16,
    /// ATS invalidation: max invalidations pending (VT-d `mip`, AMD `maxpend`).
    pub max_pending: u8,
    /// AMD `queue_id`.
    pub queue_id: u16,
}

/// Builder setters: `name: field: Type;` writes `const fn name(mut self,
/// v: Type) -> Self`, which sets `field`.
macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident: $field:ident: $T:ty;)*) => {
        $(
            $(#[$doc])*
            pub const fn $name(mut self, v: $T) -> Self {
                self.$field = v;
                self
            }
        )*
    };
}

/// An invalidation of some caches. Build with [`Inval::new`] and the setters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Inval {
    /// What: caches, and `LEAF`.
    pub caches: Caches,
    /// Translation regime (SMMU only; `Guest` elsewhere).
    pub regime: Regime,
    /// Stages of `IOTLB` entries.
    pub stages: Stages,
    /// Domain.
    pub domain: DomainSel,
    /// PASIDs.
    pub pasid: PasidSel,
    /// Also the device TLB's *global* (all-PASID) translations (SMMU ATC_INV
    /// `global`, VT-d p_dev_tlb `g`).
    pub global: bool,
    /// Devices.
    pub device: DeviceSel,
    /// Addresses (for `INTR_REMAP`: interrupt-table entry indices).
    pub range: AddrRange,
    /// Lowering hints.
    pub hints: Hints,
}

impl Inval {
    /// An invalidation of `caches`, everything else at its widest: every
    /// domain, PASID, device and address, both stages, guest regime.
    pub const fn new(caches: Caches) -> Self {
        Inval {
            caches,
            regime: Regime::Guest,
            stages: Stages::S1.union(Stages::S2),
            domain: DomainSel::All,
            pasid: PasidSel::All,
            global: false,
            device: DeviceSel::All,
            range: AddrRange::All,
            hints: Hints {
                leaf_shift: 0,
                tg_shift: 0,
                level: 0,
                drain_reads: false,
                drain_writes: false,
                pfsid: 0,
                max_pending: 0,
                queue_id: 0,
            },
        }
    }
    setters! {
        /// Set the regime.
        regime: regime: Regime;
        /// Set the stages.
        stage: stages: Stages;
        /// Set the domain.
        domain: domain: DomainSel;
        /// Set the PASID selection.
        pasid: pasid: PasidSel;
        /// Set the device selection.
        device: device: DeviceSel;
        /// Set the range.
        range: range: AddrRange;
        /// Set the global flag.
        global: global: bool;
        /// Set the hints.
        hints: hints: Hints;
    }
    /// True when only leaf entries need go.
    pub const fn leaf_only(&self) -> bool {
        self.caches.0 & Caches::LEAF.0 != 0
    }
}

/// A memory store done at completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Store {
    /// Byte address.
    pub address: u64,
    /// Data (32 bits on SMMU and VT-d, 64 on AMD-Vi).
    pub data: u64,
}

/// A sync / completion wait: every earlier operation completes before it
/// signals, and nothing moves across it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Barrier {
    /// Raise an interrupt (SMMU `cs` = IRQ without MSI address, VT-d `if`, AMD `i`).
    pub interrupt: bool,
    /// Store data at an address (SMMU MSI write, VT-d `sw`, AMD `s`).
    pub store: Option<Store>,
    /// Send an event (SMMU `cs` = SEV).
    pub sev: bool,
    /// Later commands wait for this one (VT-d `fn`, AMD `f`).
    pub fence: bool,
    /// Drain page requests (VT-d `pd`).
    pub drain_page_requests: bool,
    /// SMMU MSI shareability (`msh`) and memory attributes (`msi_attr`).
    pub msi_msh: u8,
    /// See `msi_msh`.
    pub msi_attr: u8,
}

impl Barrier {
    /// A fenced barrier that stores `data` at `address` when it completes
    /// (the completion a VMM's own host-queue sync writes).
    pub fn storing(address: u64, data: u64) -> Self {
        Barrier {
            store: Some(Store { address, data }),
            fence: true,
            ..Barrier::default()
        }
    }
}

/// Prefetch (a hint): load translations or configuration ahead of use.
/// The default: configuration only, of device 0, without PASID or hints.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Prefetch {
    /// Requester id.
    pub device: u32,
    /// PASID, or none.
    pub pasid: Option<u32>,
    /// Secure stream (SMMU `ssec`).
    pub secure: bool,
    /// `None`: configuration only (SMMU PREFETCH_CONFIG); else the addresses.
    pub range: Option<AddrRange>,
    /// Native size/count hints kept for round trips: SMMU `size`, `stride`; AMD `pfcount`.
    pub size: u8,
    /// See `size`.
    pub stride: u8,
    /// See `size`.
    pub count: u8,
}

/// Page-request group response code (PCIe PRG Response codes).
///
/// SMMUv3 CMD_PRI_RESP numbers them differently (IHI0070 §4.5.2): 0b00
/// ResponseFailure, 0b01 InvalidRequest, 0b10 Success.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum RespCode {
    /// Success (PCIe 0h; SMMU resp 2).
    Success,
    /// Invalid request (PCIe 1h; SMMU resp 1).
    Invalid,
    /// Response failure (PCIe Fh; SMMU resp 0).
    Failure,
}

/// A page-request group response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct PageResponse {
    /// Requester id.
    pub device: u32,
    /// PASID of the request, if it had one.
    pub pasid: Option<u32>,
    /// Page request group index (9 bits).
    pub prg_index: u16,
    /// Response code.
    pub code: RespCode,
    /// Last page in group (VT-d `lpig`).
    pub last: bool,
    /// Private data (VT-d 256-bit descriptors).
    pub priv_data: Option<[u64; 2]>,
    /// AMD `gn` as written by the guest.
    pub guest: bool,
}

/// What to do with a stalled transaction (SMMU CMD_RESUME `resp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum StallAction {
    /// Terminate it (resp 0).
    Terminate,
    /// Retry it (resp 1).
    Retry,
    /// Abort it (resp 2).
    Abort,
}

/// One operation of an invalidation queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Op {
    /// Remove cache entries.
    Inval(Inval),
    /// Barrier with completion signal.
    Sync(Barrier),
    /// Prefetch hint.
    Prefetch(Prefetch),
    /// Page-request group response.
    PageResponse(PageResponse),
    /// Resume or terminate one stalled transaction (SMMU CMD_RESUME).
    Resume {
        /// StreamID.
        device: u32,
        /// Stall tag.
        stag: u16,
        /// Action.
        action: StallAction,
    },
    /// Terminate every stalled transaction of a device (SMMU CMD_STALL_TERM).
    StallTerminate {
        /// StreamID.
        device: u32,
    },
}

impl Op {
    /// Every [`Op::kind_name`], in declaration order.
    pub const KINDS: [&'static str; 6] = [
        "inval",
        "sync",
        "prefetch",
        "page_response",
        "resume",
        "stall_terminate",
    ];
    /// The short kind name used in the generic JSON (`inval`, `sync`, ...):
    /// one of [`Op::KINDS`].
    pub const fn kind_name(&self) -> &'static str {
        match self {
            Op::Inval(_) => "inval",
            Op::Sync(_) => "sync",
            Op::Prefetch(_) => "prefetch",
            Op::PageResponse(_) => "page_response",
            Op::Resume { .. } => "resume",
            Op::StallTerminate { .. } => "stall_terminate",
        }
    }
    /// True for barriers.
    pub const fn is_sync(&self) -> bool {
        matches!(self, Op::Sync(_))
    }
}

impl From<Inval> for Op {
    fn from(i: Inval) -> Self {
        Op::Inval(i)
    }
}

impl From<Barrier> for Op {
    fn from(s: Barrier) -> Self {
        Op::Sync(s)
    }
}

crate::flags! {
    /// What a translation widened (rule 1 of docs/ARCHITECTURE.md: reported,
    /// never silent); `names` gives each flag's name for reports.
    #[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct Widened: u16, names {
        /// Address range enlarged (alignment, encodable sizes, or all addresses).
        const RANGE = 1 << 0 => "range";
        /// PASID selection enlarged (to all PASIDs).
        const PASID = 1 << 1 => "pasid";
        /// Domain enlarged (to all domains).
        const DOMAIN = 1 << 2 => "domain";
        /// Device selection enlarged.
        const DEVICE = 1 << 3 => "device";
        /// Other caches invalidated too.
        const CACHES = 1 << 4 => "caches";
        /// Non-leaf entries invalidated too.
        const LEAF = 1 << 5 => "leaf";
        /// Another stage invalidated too.
        const STAGE = 1 << 6 => "stage";
        /// The command cap was hit: fell back to a wider single command.
        const CAP = 1 << 7 => "cap";
        /// Global (all-PASID) device-TLB entries invalidated too.
        const GLOBAL = 1 << 8 => "global";
        /// Another regime invalidated too.
        const REGIME = 1 << 9 => "regime";
        /// Not a widening but an assumption, reported the same way: one
        /// address-based command was emitted per leaf of `Hints::leaf_shift`
        /// bytes (as the Linux drivers do without range invalidation), so the
        /// result is exact only if the range is mapped by leaves of that size,
        /// as the hint says. Check it with `Footprint::assuming_leaves`.
        const LEAF_HINT = 1 << 10 => "leaf_hint";
    }
}

/// The result of lowering (or lifting) one operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Outcome {
    /// Items written to the sink.
    pub emitted: usize,
    /// What was widened, if anything.
    pub widened: Widened,
    /// Set when (part of) the operation was dropped because the target lacks
    /// the cache or hint (rule 2); the reason.
    pub dropped: Option<&'static str>,
}

impl Outcome {
    /// Merge another outcome into this one.
    pub fn merge(&mut self, o: Outcome) {
        self.emitted += o.emitted;
        self.widened |= o.widened;
        if self.dropped.is_none() {
            self.dropped = o.dropped;
        }
    }
    /// True when exact: nothing widened or dropped.
    pub fn is_exact(&self) -> bool {
        self.widened.is_empty() && self.dropped.is_none()
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for Caches {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(Caches::from_bits_truncate(u.arbitrary()?))
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for Stages {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        let s = Stages::from_bits_truncate(u.arbitrary()?);
        Ok(if s.is_empty() { Stages::all() } else { s })
    }
}
