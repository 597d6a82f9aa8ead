//! The virtio-iommu device: its request queue and event queue over rust-vmm's
//! `virtio-queue` (0.18) and `vm-memory` (0.18). Feature `virtqueue`.
//!
//! A VMM builds one [`VirtioIommuDevice`] from a [`DeviceConfig`] (the
//! [`Features`] it offers, its endpoints, its reserved regions), answers the
//! driver's configuration reads with [`VirtioIommuDevice::config_space`],
//! and on each notification of the request queue (queue 0) calls
//! [`VirtioIommuDevice::process_requestq`], which pops every descriptor
//! chain, decodes the request with the crate's codec, executes it, writes
//! the device-writable part and puts the chain in the used ring:
//!
//! * the device keeps the endpoint → domain table and every domain's
//!   mappings ([`VirtioIommuDevice::translate`] answers an emulated device's
//!   DMA), and tells the VMM's host side through a [`DmaMapper`] (the shape
//!   of cloud-hypervisor's `ExternalDmaMapping`), once per endpoint of the
//!   domain;
//! * after a successful UNMAP, DETACH, ATTACH (and a draft INVALIDATE) the
//!   request is lifted to generic operations (the crate's lift: UNMAP is the
//!   IOTLB and device-TLB entries of the range, DETACH the endpoint's
//!   configuration and device-TLB entries, ...) and handed to the same
//!   [`Backend`] as every other front end — `execute`, then `barrier` at
//!   each sync — so that a host IOMMU (through `LowerToHost`, iommufd, a
//!   shadow) drops what the guest removed before the guest sees the
//!   completion;
//! * [`VirtioIommuDevice::report_fault`] writes a fault record into a buffer
//!   of the event queue (queue 1).
//!
//! ## Framing
//!
//! The device assumes no arrangement of descriptors (virtio, "Message
//! Framing"): the device-readable part is every readable descriptor in
//! chain order, the device-writable part every write-only descriptor (what
//! `virtio_queue::Reader` and `Writer` gather). The device walks the chain
//! itself (`DescriptorChain` iteration), reads the readable part into a
//! stack buffer of the longest request and writes the answer straight into
//! the writable descriptors: a request allocates nothing (the scratch list
//! of a chain's descriptors grows only past the longest chain seen; the
//! PROBE properties are encoded once, by [`VirtioIommuDevice::new`]).
//! The tail is the **last** 4 bytes of the writable part (for PROBE the
//! properties are everything before it, which is how the specification's
//! "properties smaller than `probe_size`" rule can be checked); the device
//! writes the whole writable part — the PROBE properties, zeros, the tail —
//! and puts its length in the used ring, so that a driver that copies the
//! answer back only when the used length equals what it offered (Linux)
//! sees it. A request from Linux (readable part, then exactly the tail, or
//! `probe_size` + 4 bytes for PROBE) is answered exactly as by
//! cloud-hypervisor and crosvm.
//!
//! ## Answers
//!
//! | the chain or request | answer | source |
//! |---|---|---|
//! | no descriptor, a chain that ends on a descriptor with NEXT set (a loop, an index past the queue, a bad indirect table) | used length 0 | nothing can be trusted |
//! | device-writable part shorter than 4 bytes (no room for the tail) | used length 0 | SPEC "Device operations": the device cannot find the tail |
//! | device-readable part not in guest memory (writable part is) | `S_FAULT` | spec silent; "bad address" |
//! | unknown type, PROBE without `F_PROBE`, readable part shorter than its type | used length 0 | SPEC: SHOULD NOT write, used length 0 / cannot parse |
//! | a readable descriptor after a writable one (wrong direction) | `S_INVAL`, nothing done | virtio "Message Framing": the driver MUST put writable after readable; status: spec silent |
//! | a writable descriptor overlapping another descriptor | `S_INVAL`, nothing done | spec silent: the answer would overwrite itself or the request |
//! | the codec's refusals (reserved bytes, unknown flags, readable part too long, features, ranges) | [`crate::status::refusal`] | see there |
//! | a non-PROBE request whose writable part is longer than the tail | `S_INVAL` (tail written last, zeros before) | spec silent; the readable part's rule (cloud-hypervisor) |
//! | PROBE whose properties are shorter than `probe_size` | `S_INVAL`, no property | SPEC "PROBE request" (SHOULD) |
//! | ATTACH_TABLE (a draft) | `S_UNSUPP` | this device model binds no guest table (that needs a nested host) |
//! | the [`DmaMapper`] or the [`Backend`] fails | `S_DEVERR` | spec silent; cloud-hypervisor (external map failure) |
//! | more domains than [`DeviceConfig::max_domains`], more mappings than [`DeviceConfig::max_mappings`] | `S_NOMEM` | spec silent; cloud-hypervisor's caps |
//!
//! Per request (SPEC sections of each request; MAY / SHOULD choices
//! marked):
//!
//! * ATTACH: unknown endpoint `S_NOENT` (MUST); an existing domain of the
//!   other bypass kind `S_INVAL` (SHOULD); an attached endpoint is first
//!   detached (SHOULD: "as DETACH then ATTACH"); the domain's mappings are
//!   replayed to the endpoint through the mapper — if that fails, the
//!   replay is undone, the endpoint is left detached and the answer is
//!   `S_DEVERR`.
//! * DETACH: unknown endpoint `S_NOENT` (MUST); endpoint not attached to
//!   that domain `S_INVAL` (the spec's MAY; cloud-hypervisor answers OK);
//!   the last endpoint takes the domain and its mappings with it.
//! * MAP: unknown domain `S_NOENT`; bypass domain `S_INVAL`; `virt_start`,
//!   `phys_start` or `virt_end + 1` not aligned to the granule `S_RANGE`; a
//!   size or physical end past 2^64 `S_RANGE` (cloud-hypervisor); overlap
//!   with a mapping or a reserved region `S_INVAL` (SHOULD; for reserved
//!   regions the spec names no status).
//! * UNMAP: unknown domain `S_NOENT`; bypass domain `S_INVAL`; `virt_end <
//!   virt_start` `S_INVAL` (spec silent); a mapping only partly inside the
//!   range `S_RANGE` and nothing removed (SHOULD); otherwise every mapping
//!   inside is removed, `S_OK` even when there was none. `reserved` ≠ 0 is
//!   ignored (the spec's MAY S_INVAL not taken, as cloud-hypervisor and
//!   crosvm).
//! * PROBE: unknown endpoint `S_NOENT` (SHOULD); one `RESV_MEM` property per
//!   [`ResvMem`] of the configuration, then, on a device of a draft, the
//!   draft properties [`DeviceConfig::draft_probe`] asks for
//!   ([`crate::probe`]: page-size mask, input range, output and PASID
//!   sizes, table formats), the rest zero. Properties that do not fit
//!   `probe_size` are a configuration error ([`ConfigError::ProbeTooSmall`]);
//!   a buffer smaller than `probe_size` is `S_INVAL` (above).
//! * INVALIDATE (a draft, when the device has it): unknown domain
//!   `S_NOENT` (the drafts are silent), else the lifted seed request goes to
//!   the back end.

use crate::cmd::{Attach, Command, Detach, Map, Unmap, MAP_F_MMIO, MAP_F_READ, MAP_F_WRITE};
use crate::cmd::{FORMAT_PGTF_ARM_LPAE, FORMAT_PSTF_ARM_SMMU_V3};
use crate::features::Draft;
use crate::features::{Features, CONFIG, CONFIG_LEN, F_BYPASS, F_BYPASS_CONFIG, F_DOMAIN_RANGE};
use crate::features::{F_INPUT_RANGE, F_PROBE};
use crate::probe::{DraftProperty, RESV_MEM};
use crate::status::{refusal, Fault, FaultReason, Status};
use crate::status::{FAULT_F_ADDRESS, FAULT_F_READ, FAULT_F_WRITE};
use core::fmt;
use iommu_inval_core::device::{Backend, BackendError};
use iommu_inval_core::model::{Barrier, Caches, DeviceSel, DomainSel, Inval, Op, PasidSel};
use iommu_inval_core::Context;
use iommu_inval_core::Flags;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::vec::Vec;
use virtio_queue::{DescriptorChain, QueueT, Writer};
use vm_memory::{Bytes, GuestAddress, GuestMemory, Permissions};

/// Size of one `RESV_MEM` property (4-byte header + 20).
const RESV_MEM_LEN: usize = RESV_MEM.len;

/// Initial capacity of the device's scratch vectors (descriptors of a
/// chain, lifted ops).
const SCRATCH: usize = 32;

/// A reserved region reported by PROBE (`struct virtio_iommu_probe_resv_mem`,
/// SPEC "PROBE properties"): the driver maps nothing there, the device
/// refuses MAPs over it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ResvMem {
    /// What the region is.
    pub subtype: ResvSubtype,
    /// First address.
    pub start: u64,
    /// Last address (inclusive).
    pub end: u64,
}

/// A reserved region's `subtype` (`VIRTIO_IOMMU_RESV_MEM_T_*`; its byte is
/// `subtype as u8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ResvSubtype {
    /// `VIRTIO_IOMMU_RESV_MEM_T_RESERVED`: accesses fault.
    Reserved = 0,
    /// `VIRTIO_IOMMU_RESV_MEM_T_MSI`: a software-mapped MSI doorbell region.
    Msi = 1,
}

impl ResvMem {
    /// The 24 bytes of the property: le16 type (bits 0–11), le16 length (20,
    /// without the header), u8 subtype, u8\[3\] reserved, le64 start, le64 end.
    pub fn encode(&self) -> [u8; RESV_MEM_LEN] {
        let mut b = [0u8; RESV_MEM_LEN];
        let v = [
            self.subtype as u64,
            self.start,
            self.end,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
        ];
        RESV_MEM.write(&v, &mut b);
        b
    }
}

/// What the device is: its features and configuration, its endpoints, its
/// reserved regions and its resource caps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceConfig {
    /// The negotiated features and the configuration space
    /// (`page_size_mask`, `input_range`, `domain_range`, `probe_size`,
    /// `bypass`) and the draft the device implements.
    pub features: Features,
    /// The endpoint IDs behind the device (platform IDs: VIOT / IORT). An
    /// ATTACH, DETACH or PROBE of another ID is `S_NOENT`.
    pub endpoints: Vec<u32>,
    /// The reserved regions PROBE reports (for every endpoint) and MAP
    /// refuses.
    pub resv_mem: Vec<ResvMem>,
    /// The draft properties PROBE reports after them (for every endpoint;
    /// only with a draft in `features`).
    pub draft_probe: DraftProbe,
    /// The most domains at once (`S_NOMEM` past it).
    pub max_domains: usize,
    /// The most mappings at once, all domains together (`S_NOMEM` past it).
    pub max_mappings: usize,
}

impl DeviceConfig {
    /// cloud-hypervisor's device: its features, one MSI region
    /// `0xfee0_0000..=0xfeef_ffff`, 65 536 domains, 2^20 mappings; the
    /// endpoints as given.
    pub fn cloud_hypervisor(endpoints: Vec<u32>) -> Self {
        DeviceConfig {
            features: Features::CLOUD_HYPERVISOR,
            endpoints,
            resv_mem: std::vec![ResvMem {
                subtype: ResvSubtype::Msi,
                start: 0xfee0_0000,
                end: 0xfeef_ffff,
            }],
            draft_probe: DraftProbe::default(),
            max_domains: 1 << 16,
            max_mappings: 1 << 20,
        }
    }
}

/// Which draft properties a device reports in its PROBE answers (for every
/// endpoint), beside the `RESV_MEM` regions; nothing by default. Only a
/// device with a draft ([`Features::draft`]) reports any.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct DraftProbe {
    /// Report `PAGE_SIZE_MASK`: [`Features::page_size_mask`].
    pub page_size_mask: bool,
    /// Report `INPUT_RANGE`: [`Features::input_range`].
    pub input_range: bool,
    /// `OUTPUT_SIZE` bits (0: not reported).
    pub output_bits: u8,
    /// `PASID_SIZE` bits (0: not reported).
    pub pasid_bits: u8,
    /// Report the Arm LPAE page-table format (`PAGE_TABLE_FMT`; the 2018
    /// draft's `pgtf_arm` with `asid_bits` and `pgtf_flags`).
    pub page_table: bool,
    /// Report the SMMUv3 PASID-table format (`PASID_TABLE_FMT`; the 2018
    /// draft's `pstf_arm` with `pstf_flags`).
    pub pasid_table: bool,
    /// `pgtf_arm.asid_bits` (2018).
    pub asid_bits: u8,
    /// `pgtf_arm.flags` (2018).
    pub pgtf_flags: u64,
    /// `pstf_arm.flags` (2018).
    pub pstf_flags: u64,
}

impl DraftProbe {
    /// The properties a device with `features` reports, in type order:
    /// none without a draft.
    pub fn properties(&self, features: &Features) -> impl Iterator<Item = DraftProperty> {
        let draft = features.draft;
        let v2018 = draft == Draft::Brucker2018;
        let on = |b: bool, p: DraftProperty| if b { Some(p) } else { None };
        [
            on(
                self.page_size_mask,
                DraftProperty::PageSizeMask(features.page_size_mask),
            ),
            on(
                self.input_range,
                DraftProperty::InputRange {
                    start: features.input_range.0,
                    end: features.input_range.1,
                },
            ),
            on(
                self.output_bits != 0,
                DraftProperty::OutputSize(self.output_bits),
            ),
            on(
                self.pasid_bits != 0,
                DraftProperty::PasidSize(self.pasid_bits),
            ),
            on(
                self.page_table,
                if v2018 {
                    DraftProperty::PgtfArm {
                        asid_bits: self.asid_bits,
                        flags: self.pgtf_flags,
                    }
                } else {
                    DraftProperty::PageTableFormat(FORMAT_PGTF_ARM_LPAE)
                },
            ),
            on(
                self.pasid_table,
                if v2018 {
                    DraftProperty::PstfArm {
                        flags: self.pstf_flags,
                    }
                } else {
                    DraftProperty::PasidTableFormat(FORMAT_PSTF_ARM_SMMU_V3)
                },
            ),
        ]
        .into_iter()
        .flatten()
        .filter(move |_| draft != Draft::None)
    }
}

/// A configuration the device cannot present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// `page_size_mask` is 0 (the device MUST set at least one bit).
    NoPageSize,
    /// With `F_PROBE`, `probe_size` cannot hold the properties (the
    /// reserved regions' and the draft's: `needed` bytes).
    ProbeTooSmall {
        /// Bytes the properties need.
        needed: usize,
    },
    /// A reserved region ends before it starts (its index).
    BadRegion(usize),
    /// `input_range` or `domain_range` is empty.
    EmptyRange,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::NoPageSize => f.write_str("page_size_mask is 0"),
            ConfigError::ProbeTooSmall { needed } => {
                write!(f, "probe_size below the {needed} bytes of the properties")
            }
            ConfigError::BadRegion(i) => write!(f, "reserved region {i} ends before it starts"),
            ConfigError::EmptyRange => f.write_str("input_range or domain_range is empty"),
        }
    }
}

impl std::error::Error for ConfigError {}

/// The permissions of a mapping (MAP `flags`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Prot {
    /// `MAP_F_READ`.
    pub read: bool,
    /// `MAP_F_WRITE`.
    pub write: bool,
    /// `MAP_F_MMIO`: the target is a device's MMIO (an MSI doorbell).
    pub mmio: bool,
}

impl Prot {
    /// The permissions of MAP `flags`.
    pub const fn from_flags(flags: u32) -> Self {
        Prot {
            read: flags & MAP_F_READ != 0,
            write: flags & MAP_F_WRITE != 0,
            mmio: flags & MAP_F_MMIO != 0,
        }
    }
}

/// The VMM's host side of the mappings, called once per endpoint of the
/// domain (the shape of cloud-hypervisor's `ExternalDmaMapping`: each
/// endpoint of a VFIO or vhost-user device has its own host container).
/// An error makes the request fail with `S_DEVERR`.
pub trait DmaMapper {
    /// Map `[iova, iova + size)` of `endpoint` to guest-physical `gpa`.
    fn map(
        &mut self,
        endpoint: u32,
        iova: u64,
        gpa: u64,
        size: u64,
        prot: Prot,
    ) -> Result<(), BackendError>;
    /// Unmap `[iova, iova + size)` of `endpoint` (exactly one earlier `map`).
    fn unmap(&mut self, endpoint: u32, iova: u64, size: u64) -> Result<(), BackendError>;
    /// `endpoint` now translates by identity (`true`: a bypass domain, or
    /// unattached with bypass on) or no longer does. The default does
    /// nothing.
    fn bypass(&mut self, endpoint: u32, identity: bool) -> Result<(), BackendError> {
        let _ = (endpoint, identity);
        Ok(())
    }
}

/// A mapper for a device whose endpoints are all emulated: the VMM
/// translates their DMA with [`VirtioIommuDevice::translate`]; nothing to
/// tell a host.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoMapper;

impl DmaMapper for NoMapper {
    fn map(&mut self, _: u32, _: u64, _: u64, _: u64, _: Prot) -> Result<(), BackendError> {
        Ok(())
    }
    fn unmap(&mut self, _: u32, _: u64, _: u64) -> Result<(), BackendError> {
        Ok(())
    }
}

/// The kind of access [`VirtioIommuDevice::translate`] checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    /// A DMA read.
    Read,
    /// A DMA write.
    Write,
}

/// A queue or guest-memory failure outside any request (the VMM's business:
/// for example setting DEVICE_NEEDS_RESET).
#[derive(Debug)]
#[non_exhaustive]
pub enum QueueError {
    /// The used ring could not be written (`add_used`), or the notification
    /// check failed.
    Queue(virtio_queue::Error),
    /// The event queue has no buffer for the record.
    NoBuffer,
    /// The event queue's buffer is shorter than a fault record (its
    /// writable length; the buffer was returned with used length 0).
    BufferTooSmall(usize),
    /// The record could not be written into the buffer.
    Write(std::io::ErrorKind),
}

impl fmt::Display for QueueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueueError::Queue(e) => write!(f, "virtqueue: {e}"),
            QueueError::NoBuffer => f.write_str("event queue: no buffer"),
            QueueError::BufferTooSmall(n) => {
                write!(f, "event queue: buffer of {n} bytes, below a fault record")
            }
            QueueError::Write(k) => write!(f, "event queue: writing the record: {k}"),
        }
    }
}

impl std::error::Error for QueueError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            QueueError::Queue(e) => Some(e),
            _ => None,
        }
    }
}

/// What one call to [`VirtioIommuDevice::process_requestq`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Processed {
    /// Descriptor chains popped and put in the used ring.
    pub chains: u32,
    /// Of them, requests answered with `S_OK`.
    pub ok: u32,
    /// Of them, chains returned with used length 0 (nothing written).
    pub unanswered: u32,
    /// The driver wants a notification (`needs_notification`).
    pub notify: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Mapping {
    last: u64,
    phys: u64,
    prot: Prot,
}

impl Mapping {
    /// The size, which fits: MAP refuses `[0, 2^64 - 1]`.
    fn size(&self, start: u64) -> u64 {
        (self.last - start).wrapping_add(1)
    }
}

#[derive(Debug, Clone, Default)]
struct Domain {
    bypass: bool,
    endpoints: BTreeSet<u32>,
    mappings: BTreeMap<u64, Mapping>,
}

/// How a request ends: its status (the tail), or nothing written.
type Answer = Option<Status>;

/// What goes into a chain's writable part.
#[derive(Debug, Clone, Copy)]
enum Reply {
    /// Nothing: used length 0.
    Nothing,
    /// Zeros and the tail with this status.
    Status(Status),
    /// The PROBE properties, zeros, `S_OK`.
    Probe,
}

/// One descriptor of a chain: guest address, length, write-only.
#[derive(Debug, Clone, Copy)]
struct Desc {
    addr: u64,
    len: u32,
    write: bool,
}

/// The virtio-iommu device (virtio device 23): its state — endpoints,
/// domains, mappings, the `bypass` configuration field — and its two
/// queues' handlers. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct VirtioIommuDevice {
    config: DeviceConfig,
    bypass: bool,
    /// Endpoint → its domain.
    endpoints: BTreeMap<u32, Option<u32>>,
    domains: BTreeMap<u32, Domain>,
    mappings: usize,
    /// Scratch: lifted ops, a chain's descriptors, the answer's bytes.
    ops: Vec<Op>,
    narrowed: Vec<Op>,
    descs: Vec<Desc>,
    sorted: Vec<Desc>,
    /// The PROBE properties (the same for every endpoint), encoded once.
    probe_props: Vec<u8>,
}

impl VirtioIommuDevice {
    /// A device presenting `config` (no endpoint attached, `bypass` as the
    /// features say).
    pub fn new(config: DeviceConfig) -> Result<Self, ConfigError> {
        let f = &config.features;
        if f.page_size_mask == 0 {
            return Err(ConfigError::NoPageSize);
        }
        if f.input_range.0 > f.input_range.1 || f.domain_range.0 > f.domain_range.1 {
            return Err(ConfigError::EmptyRange);
        }
        if let Some(i) = config.resv_mem.iter().position(|r| r.start > r.end) {
            return Err(ConfigError::BadRegion(i));
        }
        let mut probe_props = Vec::with_capacity(config.resv_mem.len() * RESV_MEM_LEN);
        for r in &config.resv_mem {
            probe_props.extend_from_slice(&r.encode());
        }
        for p in config.draft_probe.properties(f) {
            let mut b = [0u8; 24];
            let n = p.encode_into(&mut b).unwrap_or(0);
            probe_props.extend_from_slice(&b[..n]);
        }
        let needed = probe_props.len();
        if f.has(F_PROBE) && (f.probe_size as usize) < needed {
            return Err(ConfigError::ProbeTooSmall { needed });
        }
        // Scratch sized for the usual chains and lifts, so that the first
        // requests allocate nothing either.
        Ok(VirtioIommuDevice {
            bypass: f.bypass,
            endpoints: config.endpoints.iter().map(|&e| (e, None)).collect(),
            domains: BTreeMap::new(),
            mappings: 0,
            ops: Vec::with_capacity(SCRATCH),
            narrowed: Vec::with_capacity(SCRATCH),
            descs: Vec::with_capacity(SCRATCH),
            sorted: Vec::with_capacity(SCRATCH),
            probe_props,
            config,
        })
    }

    /// The configuration the device was built with.
    pub fn config(&self) -> &DeviceConfig {
        &self.config
    }

    /// `struct virtio_iommu_config` as the driver reads it (40 bytes, SPEC
    /// "Device configuration layout"): fields of features not offered read 0.
    pub fn config_space(&self) -> [u8; CONFIG_LEN] {
        let f = &self.config.features;
        let mut c = [0u8; CONFIG_LEN];
        let on = |bit, x: u64| if f.has(bit) { x } else { 0 };
        let (input, domain) = (f.input_range, f.domain_range);
        let v = [
            f.page_size_mask,
            on(F_INPUT_RANGE, input.0),
            on(F_INPUT_RANGE, input.1),
            on(F_DOMAIN_RANGE, domain.0.into()),
            on(F_DOMAIN_RANGE, domain.1.into()),
            on(F_PROBE, f.probe_size.into()),
            on(F_BYPASS_CONFIG, self.bypass.into()),
            0,
            0,
            0,
        ];
        CONFIG.write(&v, &mut c);
        c
    }

    /// The driver writes the `bypass` field (only with `F_BYPASS_CONFIG`;
    /// bits 1 to 7 ignored, SPEC). Unattached endpoints whose translation
    /// changes are told to `mapper`; its first error is returned (the field
    /// is written regardless).
    pub fn write_bypass<D: DmaMapper + ?Sized>(
        &mut self,
        value: u8,
        mapper: &mut D,
    ) -> Result<(), BackendError> {
        if !self.config.features.has(F_BYPASS_CONFIG) {
            return Ok(());
        }
        let on = value & 1 != 0;
        if on == self.bypass {
            return Ok(());
        }
        self.bypass = on;
        let mut first = Ok(());
        for (&ep, d) in &self.endpoints {
            if d.is_none() {
                let r = mapper.bypass(ep, on);
                if first.is_ok() {
                    first = r;
                }
            }
        }
        first
    }

    /// Add an endpoint (a device plugged behind the IOMMU), unattached.
    pub fn add_endpoint(&mut self, endpoint: u32) {
        self.endpoints.entry(endpoint).or_insert(None);
    }

    /// The domain `endpoint` is attached to.
    pub fn domain_of(&self, endpoint: u32) -> Option<u32> {
        self.endpoints.get(&endpoint).copied().flatten()
    }

    /// The endpoints attached to `domain`, in order.
    pub fn endpoints_of(&self, domain: u32) -> impl Iterator<Item = u32> + '_ {
        self.domains
            .get(&domain)
            .into_iter()
            .flat_map(|d| d.endpoints.iter().copied())
    }

    /// The mappings of `domain` as `(virt_start, virt_end, phys_start,
    /// prot)`, in address order.
    pub fn mappings_of(&self, domain: u32) -> impl Iterator<Item = (u64, u64, u64, Prot)> + '_ {
        self.domains
            .get(&domain)
            .into_iter()
            .flat_map(|d| d.mappings.iter().map(|(&s, m)| (s, m.last, m.phys, m.prot)))
    }

    /// Number of domains.
    pub fn domain_count(&self) -> usize {
        self.domains.len()
    }

    /// True when `endpoint` translates by identity: attached to a bypass
    /// domain, or unattached while bypass is on (`F_BYPASS_CONFIG` and the
    /// `bypass` field, or the legacy `F_BYPASS`; SPEC "Device
    /// configuration layout").
    pub fn bypasses(&self, endpoint: u32) -> bool {
        match self.domain_of(endpoint) {
            Some(d) => self.domains.get(&d).is_some_and(|d| d.bypass),
            None => self.global_bypass(),
        }
    }

    fn global_bypass(&self) -> bool {
        let f = &self.config.features;
        (f.has(F_BYPASS_CONFIG) && self.bypass) || f.has(F_BYPASS)
    }

    /// Reset (virtio device reset): every endpoint detached, every domain
    /// and mapping gone; `bypass` is kept (SPEC: SHOULD keep it over a
    /// device reset). The host side is told through `mapper`, and the
    /// invalidations of the detaches (each endpoint's device-TLB entries,
    /// each domain's IOTLB entries) go to `backend` with one barrier. The
    /// first error is returned, after everything was removed.
    pub fn reset<B, D>(&mut self, backend: &mut B, mapper: &mut D) -> Result<(), BackendError>
    where
        B: Backend + ?Sized,
        D: DmaMapper + ?Sized,
    {
        let mut first = Ok(());
        self.ops.clear();
        let eps: Vec<u32> = self.endpoints.keys().copied().collect();
        for ep in eps {
            if let Some(d) = self.domain_of(ep) {
                let r = self.leave(ep, d, mapper);
                if first.is_ok() {
                    first = r;
                }
            }
        }
        if !self.ops.is_empty() {
            self.ops.push(Op::Sync(Barrier::default()));
            let r = hand_over(&self.ops, backend);
            if first.is_ok() {
                first = r;
            }
        }
        first
    }

    /// The guest-physical address an access of `endpoint` to `iova`
    /// reaches, or the fault record to report ([`Self::report_fault`]):
    /// [`FaultReason::Domain`] for an endpoint that is not attached and does not
    /// bypass, [`FaultReason::Mapping`] for an unmapped address or a missing
    /// permission (a WRITE-only mapping may be read: SPEC "MAP request").
    pub fn translate(&self, endpoint: u32, iova: u64, access: Access) -> Result<u64, Fault> {
        let fault = |reason: FaultReason| Fault {
            reason: reason as u8,
            flags: FAULT_F_ADDRESS
                | match access {
                    Access::Read => FAULT_F_READ,
                    Access::Write => FAULT_F_WRITE,
                },
            endpoint,
            reserved1: 0,
            address: iova,
        };
        if self.bypasses(endpoint) {
            return Ok(iova);
        }
        let dom = self
            .domain_of(endpoint)
            .and_then(|d| self.domains.get(&d))
            .ok_or(fault(FaultReason::Domain))?;
        let (start, m) = dom
            .mappings
            .range(..=iova)
            .next_back()
            .filter(|(_, m)| m.last >= iova)
            .ok_or(fault(FaultReason::Mapping))?;
        let allowed = match access {
            Access::Read => m.prot.read || m.prot.write,
            Access::Write => m.prot.write,
        };
        if !allowed {
            return Err(fault(FaultReason::Mapping));
        }
        Ok(m.phys.wrapping_add(iova - start))
    }

    // ---- the request queue ------------------------------------------------

    /// Serve the request queue: pop every available descriptor chain,
    /// answer it (see the module docs) and put it in the used ring with the
    /// number of bytes written. Invalidations go to `backend` (with `ctx`
    /// for the draft INVALIDATE's ids), mappings to `mapper`. Only a failure
    /// of the queue itself is an error; every guest mistake is an answer.
    pub fn process_requestq<Q, M, C, B, D>(
        &mut self,
        queue: &mut Q,
        mem: &M,
        ctx: &C,
        backend: &mut B,
        mapper: &mut D,
    ) -> Result<Processed, QueueError>
    where
        Q: QueueT,
        M: GuestMemory,
        C: Context + ?Sized,
        B: Backend + ?Sized,
        D: DmaMapper + ?Sized,
    {
        let mut done = Processed::default();
        while let Some(chain) = queue.pop_descriptor_chain(mem) {
            let head = chain.head_index();
            let (wlen, reply) = self.decide(chain, mem, ctx, backend, mapper);
            let (len, answer) = self.answer(mem, wlen, reply);
            queue.add_used(mem, head, len).map_err(QueueError::Queue)?;
            done.chains += 1;
            match answer {
                Some(Status::Ok) => done.ok += 1,
                None => done.unanswered += 1,
                Some(_) => {}
            }
        }
        done.notify = queue.needs_notification(mem).map_err(QueueError::Queue)?;
        Ok(done)
    }

    /// Write `reply` into the writable part of the chain `decide` walked:
    /// its used length and its answer.
    fn answer<M: GuestMemory>(&self, mem: &M, wlen: usize, reply: Reply) -> (u32, Answer) {
        let (body, status): (&[u8], Status) = match reply {
            Reply::Nothing => return (0, None),
            Reply::Status(s) => (&[], s),
            Reply::Probe => (&self.probe_props, Status::Ok),
        };
        write_answer(mem, &self.descs, wlen, body, status)
    }

    /// Walk the chain (into the `descs` scratch, which grows only past the
    /// longest chain seen), read its readable part into a stack buffer and
    /// decide the answer: the writable part's length and what goes there.
    /// The order of the checks is the table of the module docs.
    fn decide<M, C, B, D>(
        &mut self,
        chain: DescriptorChain<&M>,
        mem: &M,
        ctx: &C,
        backend: &mut B,
        mapper: &mut D,
    ) -> (usize, Reply)
    where
        M: GuestMemory,
        C: Context + ?Sized,
        B: Backend + ?Sized,
        D: DmaMapper + ?Sized,
    {
        self.descs.clear();
        let mut ended = true;
        for d in chain {
            ended = !d.has_next();
            self.descs.push(Desc {
                addr: d.addr().0,
                len: d.len(),
                write: d.is_write_only(),
            });
        }
        if self.descs.is_empty() || !ended {
            return (0, Reply::Nothing);
        }
        let in_memory =
            |d: &Desc, access| mem.check_range(GuestAddress(d.addr), d.len as usize, access);
        // The writable part: every write-only descriptor in chain order,
        // all of it in guest memory (else nothing can be written). The
        // chain's lengths add up within a u32 (virtio-queue stops a chain
        // whose lengths overflow one).
        let mut wlen = 0usize;
        for d in self.descs.iter().filter(|d| d.write) {
            if !in_memory(d, Permissions::Write) {
                return (0, Reply::Nothing);
            }
            wlen += d.len as usize;
        }
        if wlen < 4 {
            return (0, Reply::Nothing);
        }
        // The readable part: every readable descriptor in chain order, all
        // of it in guest memory (else S_FAULT), read up to the longest
        // request and one byte (a longer one is refused whatever its
        // length). A descriptor read whole needs no other check.
        let mut buf = [0u8; crate::cmd::MAX_BYTES + 1];
        let mut rlen = 0;
        for d in self.descs.iter().filter(|d| !d.write) {
            let n = (d.len as usize).min(buf.len() - rlen);
            let read = n == 0
                || mem
                    .read_slice(&mut buf[rlen..rlen + n], GuestAddress(d.addr))
                    .is_ok();
            if !read || (n < d.len as usize && !in_memory(d, Permissions::Read)) {
                return (wlen, Reply::Status(Status::Fault));
            }
            rlen += n;
        }
        let readable = &buf[..rlen];
        let f = self.config.features;
        let cmd = Command::decode_bytes_with(readable, &f);
        let refused = match &cmd {
            Ok(_) => None,
            Err(e) => match refusal(readable, e) {
                None => return (0, Reply::Nothing),
                Some(s) => Some(s),
            },
        };
        if shape(&self.descs, &mut self.sorted).is_err() {
            return (wlen, Reply::Status(Status::Inval));
        }
        let cmd = match (cmd, refused) {
            (Ok(c), None) => c,
            (_, Some(s)) => return (wlen, Reply::Status(s)),
            (Err(_), None) => return (0, Reply::Nothing),
        };
        if let Command::Probe(p) = cmd {
            let reply = if wlen - 4 < f.probe_size as usize {
                Reply::Status(Status::Inval)
            } else if !self.endpoints.contains_key(&p.endpoint) {
                Reply::Status(Status::NoEnt)
            } else {
                Reply::Probe
            };
            return (wlen, reply);
        }
        if wlen > 4 {
            return (wlen, Reply::Status(Status::Inval));
        }
        (
            wlen,
            Reply::Status(self.execute(&cmd, ctx, backend, mapper)),
        )
    }

    /// Carry out a decoded, checked request other than PROBE (whose answer
    /// is its properties: the queue handler writes them) and return its
    /// status; invalidations go to `backend`, mappings to `mapper`.
    pub fn execute<C, B, D>(
        &mut self,
        cmd: &Command,
        ctx: &C,
        backend: &mut B,
        mapper: &mut D,
    ) -> Status
    where
        C: Context + ?Sized,
        B: Backend + ?Sized,
        D: DmaMapper + ?Sized,
    {
        self.ops.clear();
        let status = match cmd {
            Command::Attach(a) => self.attach(a, mapper),
            Command::Detach(d) => self.detach(d, mapper),
            Command::Map(m) => return self.map(m, mapper),
            Command::Unmap(u) => self.unmap(u, mapper),
            Command::Probe(p) => {
                return if self.endpoints.contains_key(&p.endpoint) {
                    Status::Ok
                } else {
                    Status::NoEnt
                };
            }
            Command::AttachTable(_) => return Status::Unsupp,
            Command::Invalidate(i) if !self.domains.contains_key(&i.domain) => {
                return Status::NoEnt
            }
            Command::Invalidate2018(i) if !self.domains.contains_key(&i.domain) => {
                return Status::NoEnt
            }
            Command::Invalidate(_) | Command::Invalidate2018(_) => Status::Ok,
        };
        if status != Status::Ok && status != Status::DevErr {
            return status;
        }
        // The request took effect (even when the host side failed): its
        // invalidations go to the back end before the guest sees it done.
        // The crate's lift (through `Arch` once the contract names
        // virtio-iommu).
        if <crate::VirtioIommu as iommu_inval_core::arch::Arch>::lift(cmd, ctx, &mut self.ops)
            .is_err()
        {
            return Status::DevErr;
        }
        self.narrow_dev_tlb();
        match hand_over(&self.ops, backend) {
            Ok(()) => status,
            Err(_) => Status::DevErr,
        }
    }

    /// A device-TLB invalidation of every device of domain `d` (the lift of
    /// UNMAP, a draft INVALIDATE) becomes one per endpoint attached to `d`
    /// now: only they can hold ATS entries of `d` (an endpoint that left
    /// `d` had its entries removed then), and a host lowering cannot always
    /// enumerate "every device" (SMMUv3's CMD_ATC_INV and VT-d's device-TLB
    /// descriptor name one device each). A domain without endpoints keeps
    /// no device-TLB invalidation.
    fn narrow_dev_tlb(&mut self) {
        let wide = |o: &Op| {
            matches!(o, Op::Inval(i) if i.caches.contains(Caches::DEV_TLB)
                && i.device == DeviceSel::All
                && matches!(i.domain, DomainSel::One(_)))
        };
        if !self.ops.iter().any(wide) {
            return;
        }
        let mut out = core::mem::take(&mut self.narrowed);
        out.clear();
        for o in &self.ops {
            match o {
                Op::Inval(i) if wide(o) => {
                    let DomainSel::One(d) = i.domain else {
                        continue;
                    };
                    let rest = i.caches - Caches::DEV_TLB;
                    if rest.intersects(Caches::ALL_KINDS) {
                        out.push(Op::Inval(Inval { caches: rest, ..*i }));
                    }
                    let leaf = i.caches & Caches::LEAF;
                    for ep in self.domains.get(&d).into_iter().flat_map(|x| &x.endpoints) {
                        out.push(Op::Inval(Inval {
                            caches: Caches::DEV_TLB | leaf,
                            device: DeviceSel::One(*ep),
                            ..*i
                        }));
                    }
                }
                _ => out.push(*o),
            }
        }
        self.narrowed = core::mem::replace(&mut self.ops, out);
    }

    fn attach<D: DmaMapper + ?Sized>(&mut self, a: &Attach, mapper: &mut D) -> Status {
        let bypass = a.flags & crate::cmd::ATTACH_F_BYPASS != 0;
        let Some(&old) = self.endpoints.get(&a.endpoint) else {
            return Status::NoEnt;
        };
        match self.domains.get(&a.domain) {
            Some(d) if d.bypass != bypass => return Status::Inval,
            // A new domain past the cap (even when the endpoint's old
            // domain would go away with it: refuse before changing anything).
            None if self.domains.len() >= self.config.max_domains => return Status::NoMem,
            _ => {}
        }
        if old == Some(a.domain) {
            return Status::Ok;
        }
        let mut status = Status::Ok;
        if let Some(o) = old {
            // "as DETACH then ATTACH": the old domain's device-TLB entries
            // of the endpoint go (the lift of ATTACH leaves them to us),
            // and the domain's IOTLB entries when it dies with it.
            if self.leave(a.endpoint, o, mapper).is_err() {
                status = Status::DevErr;
            }
        }
        let before = self.bypasses(a.endpoint);
        let dom = self.domains.entry(a.domain).or_insert_with(|| Domain {
            bypass,
            ..Domain::default()
        });
        dom.endpoints.insert(a.endpoint);
        self.endpoints.insert(a.endpoint, Some(a.domain));
        // Replay the domain's mappings to the endpoint's host side.
        let failed = dom
            .mappings
            .iter()
            .find(|(&s, m)| {
                mapper
                    .map(a.endpoint, s, m.phys, m.size(s), m.prot)
                    .is_err()
            })
            .map(|(&s, _)| s);
        if let Some(at) = failed {
            // Undo the replay: the mappings before the one that failed.
            for (&s, m) in dom.mappings.range(..at) {
                let _ = mapper.unmap(a.endpoint, s, m.size(s));
            }
            dom.endpoints.remove(&a.endpoint);
            if dom.endpoints.is_empty() {
                let gone = dom.mappings.len();
                self.domains.remove(&a.domain);
                self.mappings -= gone;
            }
            self.endpoints.insert(a.endpoint, None);
            return Status::DevErr;
        }
        if before != self.bypasses(a.endpoint) && mapper.bypass(a.endpoint, !before).is_err() {
            status = Status::DevErr;
        }
        status
    }

    /// Remove `ep` from domain `d` (it is attached there): unmap the
    /// domain's mappings from its host side, drop the domain with its last
    /// endpoint, and queue the invalidations a plain ATTACH's lift does not
    /// carry (the endpoint's device-TLB entries in `d`; `d`'s IOTLB when it
    /// dies). The first mapper error is returned, after everything.
    fn leave<D: DmaMapper + ?Sized>(
        &mut self,
        ep: u32,
        d: u32,
        mapper: &mut D,
    ) -> Result<(), BackendError> {
        let before = self.bypasses(ep);
        let mut first = Ok(());
        let mut note = |r: Result<(), BackendError>| {
            if first.is_ok() {
                first = r;
            }
        };
        self.endpoints.insert(ep, None);
        let Some(dom) = self.domains.get_mut(&d) else {
            return Ok(());
        };
        for (&s, m) in &dom.mappings {
            note(mapper.unmap(ep, s, m.size(s)));
        }
        dom.endpoints.remove(&ep);
        self.ops.push(Op::Inval(
            Inval::new(Caches::DEV_TLB)
                .domain(DomainSel::One(d))
                .device(DeviceSel::One(ep)),
        ));
        if dom.endpoints.is_empty() {
            let gone = dom.mappings.len();
            self.domains.remove(&d);
            self.mappings -= gone;
            self.ops.push(Op::Inval(
                Inval::new(Caches::IOTLB)
                    .domain(DomainSel::One(d))
                    .pasid(PasidSel::NoPasid),
            ));
        }
        if before != self.bypasses(ep) {
            note(mapper.bypass(ep, !before));
        }
        first
    }

    fn detach<D: DmaMapper + ?Sized>(&mut self, r: &Detach, mapper: &mut D) -> Status {
        match self.endpoints.get(&r.endpoint) {
            None => Status::NoEnt,
            Some(&cur) if cur != Some(r.domain) => Status::Inval,
            Some(_) => {
                let res = self.leave(r.endpoint, r.domain, mapper);
                // The lift's DEV_TLB of the endpoint in `d` is the one
                // `leave` queued: keep only the domain's IOTLB, if any.
                self.ops
                    .retain(|o| matches!(o, Op::Inval(i) if i.caches == Caches::IOTLB));
                match res {
                    Ok(()) => Status::Ok,
                    Err(_) => Status::DevErr,
                }
            }
        }
    }

    fn map<D: DmaMapper + ?Sized>(&mut self, m: &Map, mapper: &mut D) -> Status {
        let f = &self.config.features;
        let g = 1u64 << f.granule_shift();
        let Some(dom) = self.domains.get_mut(&m.domain) else {
            return Status::NoEnt;
        };
        if dom.bypass {
            return Status::Inval;
        }
        let aligned = |v: u64| v & (g - 1) == 0;
        if !aligned(m.virt_start) || !aligned(m.phys_start) || !aligned(m.virt_end.wrapping_add(1))
        {
            return Status::Range;
        }
        // The codec checked virt_end > virt_start.
        let Some(size) = (m.virt_end - m.virt_start).checked_add(1) else {
            return Status::Range;
        };
        if m.phys_start.checked_add(size - 1).is_none() {
            return Status::Range;
        }
        let overlaps = dom
            .mappings
            .range(..=m.virt_end)
            .next_back()
            .is_some_and(|(_, x)| x.last >= m.virt_start);
        let reserved = self
            .config
            .resv_mem
            .iter()
            .any(|r| r.start <= m.virt_end && r.end >= m.virt_start);
        if overlaps || reserved {
            return Status::Inval;
        }
        if self.mappings >= self.config.max_mappings {
            return Status::NoMem;
        }
        let prot = Prot::from_flags(m.flags);
        let failed = dom.endpoints.iter().find(|&&ep| {
            mapper
                .map(ep, m.virt_start, m.phys_start, size, prot)
                .is_err()
        });
        if let Some(&at) = failed {
            // Undo: the endpoints before the one that failed.
            for &ep in dom.endpoints.range(..at) {
                let _ = mapper.unmap(ep, m.virt_start, size);
            }
            return Status::DevErr;
        }
        dom.mappings.insert(
            m.virt_start,
            Mapping {
                last: m.virt_end,
                phys: m.phys_start,
                prot,
            },
        );
        self.mappings += 1;
        Status::Ok
    }

    fn unmap<D: DmaMapper + ?Sized>(&mut self, u: &Unmap, mapper: &mut D) -> Status {
        let Some(dom) = self.domains.get_mut(&u.domain) else {
            return Status::NoEnt;
        };
        if dom.bypass || u.virt_end < u.virt_start {
            return Status::Inval;
        }
        // A mapping that starts before the range and reaches into it, or
        // starts inside and ends after it, would be split: refuse, remove
        // nothing (SPEC "UNMAP request", example 4).
        let straddles_start = dom
            .mappings
            .range(..u.virt_start)
            .next_back()
            .is_some_and(|(_, m)| m.last >= u.virt_start);
        let straddles_end = dom
            .mappings
            .range(u.virt_start..=u.virt_end)
            .next_back()
            .is_some_and(|(_, m)| m.last > u.virt_end);
        if straddles_start || straddles_end {
            return Status::Range;
        }
        let mut failed = false;
        while let Some((&s, _)) = dom.mappings.range(u.virt_start..=u.virt_end).next() {
            if let Some(m) = dom.mappings.remove(&s) {
                self.mappings -= 1;
                for &ep in &dom.endpoints {
                    failed |= mapper.unmap(ep, s, m.size(s)).is_err();
                }
            }
        }
        if failed {
            Status::DevErr
        } else {
            Status::Ok
        }
    }

    // ---- the event queue --------------------------------------------------

    /// Write `fault` (24 bytes, SPEC "Fault reporting") into the next buffer
    /// of the event queue and put it in the used ring. Returns whether the
    /// driver wants a notification. No buffer: [`QueueError::NoBuffer`]
    /// (the VMM keeps or drops the event: SPEC "the device waits or drops");
    /// a buffer shorter than the record is returned unwritten (used length
    /// 0; the record does not span buffers, SPEC).
    pub fn report_fault<Q, M>(
        &mut self,
        eventq: &mut Q,
        mem: &M,
        fault: &Fault,
    ) -> Result<bool, QueueError>
    where
        Q: QueueT,
        M: GuestMemory,
    {
        let chain = eventq
            .pop_descriptor_chain(mem)
            .ok_or(QueueError::NoBuffer)?;
        let head = chain.head_index();
        let mut w: Writer<'_, _> = match Writer::new(mem, chain) {
            Ok(w) => w,
            Err(_) => {
                eventq.add_used(mem, head, 0).map_err(QueueError::Queue)?;
                return Err(QueueError::BufferTooSmall(0));
            }
        };
        let n = w.available_bytes();
        if n < Fault::LEN {
            eventq.add_used(mem, head, 0).map_err(QueueError::Queue)?;
            return Err(QueueError::BufferTooSmall(n));
        }
        if let Err(e) = w.write_all(&fault.encode()) {
            eventq.add_used(mem, head, 0).map_err(QueueError::Queue)?;
            return Err(QueueError::Write(e.kind()));
        }
        eventq
            .add_used(mem, head, Fault::LEN as u32)
            .map_err(QueueError::Queue)?;
        eventq.needs_notification(mem).map_err(QueueError::Queue)
    }
}

/// The chain's shape: `Err` when a readable descriptor follows a writable
/// one, or when a writable descriptor overlaps another descriptor (`descs`
/// in chain order; `sorted` is scratch).
fn shape(descs: &[Desc], sorted: &mut Vec<Desc>) -> Result<(), ()> {
    let mut seen_write = false;
    for d in descs {
        if d.write {
            seen_write = true;
        } else if seen_write {
            return Err(());
        }
    }
    // Short chains (every request of Linux's is two descriptors): each
    // pair; longer ones sorted by address.
    let clash = if descs.len() <= 8 {
        clash_pairwise(descs)
    } else {
        clash_sorted(descs, sorted)
    };
    if clash {
        Err(())
    } else {
        Ok(())
    }
}

/// Does a writable descriptor overlap another one? Every pair.
fn clash_pairwise(descs: &[Desc]) -> bool {
    let overlap = |a: &Desc, b: &Desc| {
        let (a0, b0) = (u128::from(a.addr), u128::from(b.addr));
        a.len > 0 && b.len > 0 && a0 < b0 + u128::from(b.len) && b0 < a0 + u128::from(a.len)
    };
    descs.iter().enumerate().any(|(i, a)| {
        descs[i + 1..]
            .iter()
            .any(|b| (a.write || b.write) && overlap(a, b))
    })
}

/// The same question, in address order (`sorted` is scratch).
fn clash_sorted(descs: &[Desc], sorted: &mut Vec<Desc>) -> bool {
    sorted.clear();
    sorted.extend_from_slice(descs);
    sorted.sort_unstable_by_key(|d| d.addr);
    let (mut end_any, mut end_w) = (0u128, 0u128);
    for d in sorted.iter().filter(|d| d.len > 0) {
        let start = u128::from(d.addr);
        let end = start + u128::from(d.len);
        if start < end_w || (d.write && start < end_any) {
            return true;
        }
        end_any = end_any.max(end);
        if d.write {
            end_w = end_w.max(end);
        }
    }
    false
}

/// Write the answer over the whole writable part (the write-only
/// descriptors of `descs` in chain order, `wlen` bytes, at least 4, all in
/// guest memory): `body` (PROBE's properties), zeros, then the tail with
/// `status`; straight from `body`, a block of zeros and the tail, nothing
/// gathered.
fn write_answer<M: GuestMemory>(
    mem: &M,
    descs: &[Desc],
    wlen: usize,
    body: &[u8],
    status: Status,
) -> (u32, Answer) {
    const ZEROS: [u8; 256] = [0; 256];
    let room = wlen - 4;
    let body = &body[..body.len().min(room)];
    let tail = status.tail();
    let mut at = 0usize;
    for d in descs.iter().filter(|d| d.write) {
        let end = at + d.len as usize;
        let mut o = at;
        while o < end {
            let src: &[u8] = if o < body.len() {
                &body[o..body.len().min(end)]
            } else if o < room {
                &ZEROS[..(room.min(end) - o).min(ZEROS.len())]
            } else {
                &tail[o - room..end - room]
            };
            let addr = GuestAddress(d.addr.wrapping_add((o - at) as u64));
            if mem.write_slice(src, addr).is_err() {
                return (0, None);
            }
            o += src.len();
        }
        at = end;
    }
    (u32::try_from(wlen).unwrap_or(u32::MAX), Some(status))
}

/// Hand lifted ops to the back end: each run before a sync to `execute`,
/// each sync to `barrier`.
fn hand_over<B: Backend + ?Sized>(ops: &[Op], backend: &mut B) -> Result<(), BackendError> {
    let mut start = 0;
    for (i, op) in ops.iter().enumerate() {
        if let Op::Sync(b) = op {
            if i > start {
                backend.execute(&ops[start..i])?;
            }
            backend.barrier(b)?;
            start = i + 1;
        }
    }
    if start < ops.len() {
        backend.execute(&ops[start..])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The pairwise overlap test of short chains and the sorted one of
        /// long chains answer alike (chains of up to 8 descriptors over a
        /// small address window, so that overlaps are common, and at the
        /// top of the address space).
        #[test]
        fn pairwise_and_sorted_clash_agree(
            descs in proptest::collection::vec(
                (
                    proptest::prop_oneof![0u64..256, (u64::MAX - 63)..=u64::MAX],
                    0u32..24,
                    proptest::bool::ANY,
                ),
                1..9,
            )
        ) {
            let descs: Vec<Desc> = descs
                .into_iter()
                .map(|(addr, len, write)| Desc { addr, len, write })
                .collect();
            let mut sorted = Vec::new();
            proptest::prop_assert_eq!(clash_pairwise(&descs), clash_sorted(&descs, &mut sorted));
        }
    }
}
