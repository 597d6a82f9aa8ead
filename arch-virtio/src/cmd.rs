//! The virtio-iommu request codec (the layouts, sources and reserved-byte
//! rules are in the crate docs, "The requests").

use crate::features::{
    Draft, Features, F_BYPASS_CONFIG, F_DOMAIN_RANGE, F_INPUT_RANGE, F_MAP_UNMAP, F_MMIO, F_PROBE,
};
use iommu_inval_core::{DecodeError, FieldError, FieldValue};

/// `VIRTIO_IOMMU_T_ATTACH`.
pub(crate) const T_ATTACH: u8 = 1;
/// `VIRTIO_IOMMU_T_DETACH`.
pub(crate) const T_DETACH: u8 = 2;
/// `VIRTIO_IOMMU_T_MAP`.
pub(crate) const T_MAP: u8 = 3;
/// `VIRTIO_IOMMU_T_UNMAP`.
pub(crate) const T_UNMAP: u8 = 4;
/// `VIRTIO_IOMMU_T_PROBE`.
pub(crate) const T_PROBE: u8 = 5;
/// `VIRTIO_IOMMU_T_ATTACH_TABLE` (both drafts).
pub(crate) const T_ATTACH_TABLE: u8 = 6;
/// `VIRTIO_IOMMU_T_INVALIDATE` (both drafts).
pub(crate) const T_INVALIDATE: u8 = 7;

/// `VIRTIO_IOMMU_ATTACH_F_BYPASS`: the domain is a bypass domain.
pub const ATTACH_F_BYPASS: u32 = 1 << 0;
/// `VIRTIO_IOMMU_MAP_F_READ`.
pub const MAP_F_READ: u32 = 1 << 0;
/// `VIRTIO_IOMMU_MAP_F_WRITE`.
pub const MAP_F_WRITE: u32 = 1 << 1;
/// `VIRTIO_IOMMU_MAP_F_MMIO` (with `F_MMIO`).
pub const MAP_F_MMIO: u32 = 1 << 2;

/// RFC21 `inv_gran`: the whole domain.
pub const INVAL_G_DOMAIN: u16 = 1 << 0;
/// RFC21 `inv_gran`: one PASID.
pub const INVAL_G_PASID: u16 = 1 << 1;
/// RFC21 `inv_gran`: an address range of one PASID.
pub const INVAL_G_VA: u16 = 1 << 2;
/// RFC21 `inv_type`: the IOTLB.
pub const INV_T_IOTLB: u16 = 1 << 0;
/// RFC21 `inv_type`: the device IOTLBs (ATS).
pub const INV_T_DEV_IOTLB: u16 = 1 << 1;
/// RFC21 `inv_type`: PASID-table entries (the configuration).
pub const INV_T_PASID: u16 = 1 << 2;
/// RFC21 `flags`: `pasid` is valid.
pub const INVAL_F_PASID: u16 = 1 << 0;
/// RFC21 `flags`: `archid` is valid.
pub const INVAL_F_ARCHID: u16 = 1 << 1;
/// RFC21 `flags`: leaf entries only.
pub const INVAL_F_LEAF: u16 = 1 << 2;

/// DRAFT18 `scope`: the whole domain.
pub const INVAL_S_DOMAIN: u16 = 1 << 0;
/// DRAFT18 `scope`: one PASID (`pasid` and `id` valid).
pub const INVAL_S_PASID: u16 = 1 << 1;
/// DRAFT18 `scope`: an address range of one PASID.
pub const INVAL_S_VA: u16 = 1 << 2;
/// DRAFT18 `flags`: the configuration (PASID-table entry).
pub const INVAL_F_CONFIG_2018: u16 = 1 << 0;
/// DRAFT18 `flags`: leaf entries only.
pub const INVAL_F_LEAF_2018: u16 = 1 << 1;

/// ATTACH_TABLE `format` of an Arm LPAE page table (DRAFT18 `attach_pgt_arm`).
pub const FORMAT_PGTF_ARM_LPAE: u16 = 1;
/// ATTACH_TABLE `format` of an SMMUv3 PASID (context-descriptor) table
/// (`attach_pst_arm`, both drafts).
pub const FORMAT_PSTF_ARM_SMMU_V3: u16 = 2;

/// The longest readable part (ATTACH_TABLE).
pub const MAX_BYTES: usize = 76;
/// The most 64-bit words of a request's word form (ATTACH_TABLE).
pub const MAX_WORDS: usize = MAX_BYTES.div_ceil(8);

/// The readable length of request type `ty`, `None` for an unknown type.
pub const fn len_of_type(ty: u8) -> Option<usize> {
    match ty {
        T_ATTACH | T_DETACH => Some(20),
        T_MAP => Some(36),
        T_UNMAP => Some(28),
        T_PROBE => Some(72),
        T_ATTACH_TABLE => Some(76),
        T_INVALIDATE => Some(60),
        _ => None,
    }
}

/// Field names of [`DecodeError`]s whose status is not `S_INVAL` (see
/// [`crate::status`]).
pub(crate) mod why {
    /// A draft request on a device without that draft (S_UNSUPP).
    pub const DRAFT: &str = "draft (vSVA request not offered)";
    /// MAP / UNMAP without `F_MAP_UNMAP` (S_UNSUPP).
    pub const MAP_UNMAP: &str = "VIRTIO_IOMMU_F_MAP_UNMAP not negotiated";
    /// PROBE without `F_PROBE` (nothing written).
    pub const PROBE: &str = "VIRTIO_IOMMU_F_PROBE not offered";
    /// An address outside `input_range` (S_RANGE).
    pub const INPUT_RANGE: &str = "input_range";
    /// A domain outside `domain_range` (S_RANGE).
    pub const DOMAIN_RANGE: &str = "domain_range";
}

// ---- byte helpers -------------------------------------------------------

/// `N` bytes of `b` from `off` (`off + N <= B`, by the fixed layouts).
#[inline(always)]
fn arr<const B: usize, const N: usize>(b: &[u8; B], off: usize) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(&b[off..off + N]);
    a
}
#[inline(always)]
pub(crate) fn le16<const B: usize>(b: &[u8; B], off: usize) -> u16 {
    u16::from_le_bytes(arr(b, off))
}
#[inline(always)]
pub(crate) fn le32<const B: usize>(b: &[u8; B], off: usize) -> u32 {
    u32::from_le_bytes(arr(b, off))
}
#[inline(always)]
pub(crate) fn le64<const B: usize>(b: &[u8; B], off: usize) -> u64 {
    u64::from_le_bytes(arr(b, off))
}
#[inline(always)]
fn put<const B: usize>(b: &mut [u8; B], off: usize, v: &[u8]) {
    b[off..off + v.len()].copy_from_slice(v);
}

/// The 64-bit word index and mask of the set bits of `b[off..off + len]`
/// that lie in the word of the first non-zero byte (all its bytes when
/// `zero_ok`).
fn word_mask(b: &[u8], off: usize, len: usize, first: usize) -> (u8, u64) {
    let w = first / 8;
    let mut mask = 0u64;
    for (k, &x) in b.iter().enumerate().skip(off).take(len) {
        if k / 8 == w {
            mask |= u64::from(x) << (8 * (k % 8));
        }
    }
    (w as u8, mask)
}

/// `ReservedBits` unless `b[off..off + len]` is zero.
fn zero(b: &[u8], off: usize, len: usize) -> Result<(), DecodeError> {
    match b.iter().skip(off).take(len).position(|&x| x != 0) {
        None => Ok(()),
        Some(i) => {
            let (w, m) = word_mask(b, off, len, off + i);
            Err(DecodeError::reserved(w, m))
        }
    }
}

/// The reserved-bits error of the set bits `bits` of a field at byte
/// `off` (at most 8 bytes, within one word).
fn reserved_field(off: usize, bits: u64) -> DecodeError {
    DecodeError::reserved((off / 8) as u8, bits << (8 * (off % 8)))
}

/// `InvalidField` `field`, for the `len` bytes at `off`.
fn invalid(off: usize, len: usize, field: &'static str) -> DecodeError {
    let full = if len >= 8 {
        u64::MAX
    } else {
        (1u64 << (8 * len)) - 1
    };
    DecodeError::invalid((off / 8) as u8, full << (8 * (off % 8)), field)
}

// ---- the requests -------------------------------------------------------

/// ATTACH (type 1, SPEC "ATTACH request"): attach `endpoint` to `domain`,
/// creating the domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Attach {
    /// The head's `reserved` (the device MUST ignore it; kept).
    pub head_reserved: [u8; 3],
    /// `domain`.
    pub domain: u32,
    /// `endpoint`.
    pub endpoint: u32,
    /// `flags`: [`ATTACH_F_BYPASS`] only (any other bit: MUST S_INVAL).
    pub flags: u32,
}

/// DETACH (type 2, SPEC "DETACH request"): detach `endpoint` from `domain`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Detach {
    /// The head's `reserved` (ignored; kept).
    pub head_reserved: [u8; 3],
    /// `domain`.
    pub domain: u32,
    /// `endpoint`.
    pub endpoint: u32,
    /// `reserved` (the device MUST ignore it; kept).
    pub reserved: [u8; 8],
}

/// MAP (type 3, SPEC "MAP request"): map `[virt_start; virt_end]`
/// (inclusive) of `domain` to `phys_start` onwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Map {
    /// The head's `reserved` (ignored; kept).
    pub head_reserved: [u8; 3],
    /// `domain`.
    pub domain: u32,
    /// `virt_start`.
    pub virt_start: u64,
    /// `virt_end` (inclusive; the driver MUST make it greater than `virt_start`).
    pub virt_end: u64,
    /// `phys_start`.
    pub phys_start: u64,
    /// `flags`: [`MAP_F_READ`], [`MAP_F_WRITE`], [`MAP_F_MMIO`] (any other
    /// bit: MUST S_INVAL).
    pub flags: u32,
}

/// UNMAP (type 4, SPEC "UNMAP request"): remove every mapping of `domain`
/// inside `[virt_start; virt_end]` (inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Unmap {
    /// The head's `reserved` (ignored; kept).
    pub head_reserved: [u8; 3],
    /// `domain`.
    pub domain: u32,
    /// `virt_start`.
    pub virt_start: u64,
    /// `virt_end` (inclusive).
    pub virt_end: u64,
    /// `reserved`: kept. Non-zero, the device MAY answer S_INVAL and MAY
    /// still unmap (SPEC); that choice is the front end's.
    pub reserved: [u8; 4],
}

/// PROBE (type 5, SPEC "PROBE request"): ask for `endpoint`'s properties
/// (written by the device into the request's writable part).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Probe {
    /// The head's `reserved` (ignored; kept).
    pub head_reserved: [u8; 3],
    /// `endpoint`.
    pub endpoint: u32,
    /// `reserved` (the device MUST ignore it; kept).
    pub reserved: [u8; 64],
}

impl Default for Probe {
    fn default() -> Self {
        Probe {
            head_reserved: [0; 3],
            endpoint: 0,
            reserved: [0; 64],
        }
    }
}

/// The table an ATTACH_TABLE binds, by its `format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    /// `format` 2, `struct virtio_iommu_req_attach_pst_arm` (RFC21 11/15,
    /// and the same layout in DRAFT18): an SMMUv3 context-descriptor table.
    PstArm {
        /// `s1fmt`: 0 linear, 1 4 KiB level 2, 2 64 KiB level 2.
        s1fmt: u8,
        /// `s1dss`: 0 terminate, 1 bypass, 2 substream 0.
        s1dss: u8,
        /// `s1contextptr`: the table's address.
        s1contextptr: u64,
        /// `s1cdmax`: log2 of the number of context descriptors.
        s1cdmax: u32,
    },
    /// `format` 1, `struct virtio_iommu_req_attach_pgt_arm` (DRAFT18 only):
    /// an Arm LPAE page table.
    PgtArm {
        /// `asid`.
        asid: u16,
        /// `tcr`.
        tcr: u64,
        /// `ttbr0`.
        ttbr0: u64,
        /// `ttbr1`.
        ttbr1: u64,
        /// `mair`.
        mair: u64,
    },
}

/// ATTACH_TABLE (type 6, a vSVA draft): attach `endpoint` to `domain` and
/// bind the domain to a guest table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AttachTable {
    /// The head's `reserved` (ignored; kept).
    pub head_reserved: [u8; 3],
    /// `domain`.
    pub domain: u32,
    /// `endpoint`.
    pub endpoint: u32,
    /// The table (and so `format`).
    pub table: Table,
}

/// INVALIDATE of the 2021 RFC (type 7; RFC21 11/15 and 12/15).
///
/// `inv_gran` is one of [`INVAL_G_DOMAIN`], [`INVAL_G_PASID`],
/// [`INVAL_G_VA`] (one-hot: the RFC never combines them); `inv_type` a
/// non-empty set of [`INV_T_IOTLB`], [`INV_T_DEV_IOTLB`], [`INV_T_PASID`];
/// `flags` of [`INVAL_F_PASID`], [`INVAL_F_ARCHID`], [`INVAL_F_LEAF`]. With
/// `G_PASID` or `G_VA` the PASID is named by `pasid` (`F_PASID`) or by the
/// architecture's address-space id `archid` (`F_ARCHID`; the Arm ASID):
/// one of them is required. With `G_VA` the range is `virt_start ..
/// virt_start + (nr_pages << granule)` and `nr_pages` is not 0. Fields a
/// granularity does not use are kept as they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Invalidate {
    /// The head's `reserved` (ignored; kept).
    pub head_reserved: [u8; 3],
    /// `inv_gran`.
    pub inv_gran: u16,
    /// `inv_type`.
    pub inv_type: u16,
    /// `flags`.
    pub flags: u16,
    /// `domain`.
    pub domain: u32,
    /// `pasid`.
    pub pasid: u32,
    /// `archid` (e.g. the Arm ASID).
    pub archid: u64,
    /// `virt_start`.
    pub virt_start: u64,
    /// `nr_pages`.
    pub nr_pages: u64,
    /// `granule`: log2 of the page size (below 64).
    pub granule: u8,
}

/// INVALIDATE of the 2018 draft (type 7; DRAFT18 "v0.9-devel").
///
/// `scope` is one of [`INVAL_S_DOMAIN`], [`INVAL_S_PASID`],
/// [`INVAL_S_VA`]; `flags` of [`INVAL_F_CONFIG_2018`] (the PASID-table
/// entry; without it, the TLBs — how the 2018 driver flushes a PASID's
/// TLB) and [`INVAL_F_LEAF_2018`]. `pasid` and `id` (the arch-specific
/// tag, e.g. the Arm ASID) are valid with `S_PASID` and `S_VA`; with
/// `S_VA` the range is `virt_start .. virt_start + (nr_pages << granule)`
/// and `nr_pages` is not 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Invalidate2018 {
    /// The head's `reserved` (ignored; kept).
    pub head_reserved: [u8; 3],
    /// `scope`.
    pub scope: u16,
    /// `flags`.
    pub flags: u16,
    /// `domain`.
    pub domain: u32,
    /// `pasid`.
    pub pasid: u32,
    /// `id`: the architecture-specific tag (a hint beside `pasid`).
    pub id: u64,
    /// `virt_start`.
    pub virt_start: u64,
    /// `nr_pages`.
    pub nr_pages: u64,
    /// `granule`: log2 of the page size (below 64).
    pub granule: u8,
}

/// One virtio-iommu request (its device-readable part).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    /// ATTACH (type 1).
    Attach(Attach),
    /// DETACH (type 2).
    Detach(Detach),
    /// MAP (type 3).
    Map(Map),
    /// UNMAP (type 4).
    Unmap(Unmap),
    /// PROBE (type 5).
    Probe(Probe),
    /// ATTACH_TABLE (type 6, drafts).
    AttachTable(AttachTable),
    /// INVALIDATE (type 7) of the 2021 RFC.
    Invalidate(Invalidate),
    /// INVALIDATE (type 7) of the 2018 draft.
    Invalidate2018(Invalidate2018),
}

macro_rules! from_req {
    ($($v:ident),*) => {$(
        impl From<$v> for Command {
            fn from(r: $v) -> Command {
                Command::$v(r)
            }
        }
    )*};
}
from_req!(
    Attach,
    Detach,
    Map,
    Unmap,
    Probe,
    AttachTable,
    Invalidate,
    Invalidate2018
);

/// The head of a request: its type and the ignored reserved bytes.
#[inline(always)]
fn head<const B: usize>(b: &[u8; B]) -> [u8; 3] {
    arr(b, 1)
}

impl Attach {
    const LEN: usize = 20;
    fn from_bytes(b: &[u8; 20]) -> Result<Self, DecodeError> {
        let flags = le32(b, 12);
        if flags & !ATTACH_F_BYPASS != 0 {
            return Err(reserved_field(12, u64::from(flags & !ATTACH_F_BYPASS)));
        }
        zero(b, 16, 4)?;
        Ok(Attach {
            head_reserved: head(b),
            domain: le32(b, 4),
            endpoint: le32(b, 8),
            flags,
        })
    }
    fn bytes(&self) -> [u8; 20] {
        let mut b = [0u8; 20];
        b[0] = T_ATTACH;
        put(&mut b, 1, &self.head_reserved);
        put(&mut b, 4, &self.domain.to_le_bytes());
        put(&mut b, 8, &self.endpoint.to_le_bytes());
        put(&mut b, 12, &self.flags.to_le_bytes());
        b
    }
}

impl Detach {
    const LEN: usize = 20;
    fn from_bytes(b: &[u8; 20]) -> Result<Self, DecodeError> {
        Ok(Detach {
            head_reserved: head(b),
            domain: le32(b, 4),
            endpoint: le32(b, 8),
            reserved: arr(b, 12),
        })
    }
    fn bytes(&self) -> [u8; 20] {
        let mut b = [0u8; 20];
        b[0] = T_DETACH;
        put(&mut b, 1, &self.head_reserved);
        put(&mut b, 4, &self.domain.to_le_bytes());
        put(&mut b, 8, &self.endpoint.to_le_bytes());
        put(&mut b, 12, &self.reserved);
        b
    }
}

impl Map {
    const LEN: usize = 36;
    const FLAGS: u32 = MAP_F_READ | MAP_F_WRITE | MAP_F_MMIO;
    fn from_bytes(b: &[u8; 36]) -> Result<Self, DecodeError> {
        let flags = le32(b, 32);
        if flags & !Self::FLAGS != 0 {
            return Err(reserved_field(32, u64::from(flags & !Self::FLAGS)));
        }
        let m = Map {
            head_reserved: head(b),
            domain: le32(b, 4),
            virt_start: le64(b, 8),
            virt_end: le64(b, 16),
            phys_start: le64(b, 24),
            flags,
        };
        // The driver MUST make virt_end strictly greater (SPEC, MAP driver
        // requirements); the device's status is not named: S_INVAL, as crosvm.
        if m.virt_end <= m.virt_start {
            return Err(invalid(16, 8, "virt_end (not above virt_start)"));
        }
        Ok(m)
    }
    fn bytes(&self) -> [u8; 36] {
        let mut b = [0u8; 36];
        b[0] = T_MAP;
        put(&mut b, 1, &self.head_reserved);
        put(&mut b, 4, &self.domain.to_le_bytes());
        put(&mut b, 8, &self.virt_start.to_le_bytes());
        put(&mut b, 16, &self.virt_end.to_le_bytes());
        put(&mut b, 24, &self.phys_start.to_le_bytes());
        put(&mut b, 32, &self.flags.to_le_bytes());
        b
    }
}

impl Unmap {
    const LEN: usize = 28;
    fn from_bytes(b: &[u8; 28]) -> Result<Self, DecodeError> {
        Ok(Unmap {
            head_reserved: head(b),
            domain: le32(b, 4),
            virt_start: le64(b, 8),
            virt_end: le64(b, 16),
            reserved: arr(b, 24),
        })
    }
    fn bytes(&self) -> [u8; 28] {
        let mut b = [0u8; 28];
        b[0] = T_UNMAP;
        put(&mut b, 1, &self.head_reserved);
        put(&mut b, 4, &self.domain.to_le_bytes());
        put(&mut b, 8, &self.virt_start.to_le_bytes());
        put(&mut b, 16, &self.virt_end.to_le_bytes());
        put(&mut b, 24, &self.reserved);
        b
    }
}

impl Probe {
    const LEN: usize = 72;
    fn from_bytes(b: &[u8; 72]) -> Result<Self, DecodeError> {
        Ok(Probe {
            head_reserved: head(b),
            endpoint: le32(b, 4),
            reserved: arr(b, 8),
        })
    }
    fn bytes(&self) -> [u8; 72] {
        let mut b = [0u8; 72];
        b[0] = T_PROBE;
        put(&mut b, 1, &self.head_reserved);
        put(&mut b, 4, &self.endpoint.to_le_bytes());
        put(&mut b, 8, &self.reserved);
        b
    }
}

impl Table {
    /// Its `format`.
    pub const fn format(&self) -> u16 {
        match self {
            Table::PstArm { .. } => FORMAT_PSTF_ARM_SMMU_V3,
            Table::PgtArm { .. } => FORMAT_PGTF_ARM_LPAE,
        }
    }
}

impl AttachTable {
    const LEN: usize = 76;
    fn from_bytes(b: &[u8; 76], draft: Draft) -> Result<Self, DecodeError> {
        let table = match le16(b, 12) {
            FORMAT_PSTF_ARM_SMMU_V3 => {
                let (s1fmt, s1dss) = (b[14], b[15]);
                if s1fmt > 2 {
                    return Err(invalid(14, 1, "s1fmt"));
                }
                if s1dss > 2 {
                    return Err(invalid(15, 1, "s1dss"));
                }
                zero(b, 28, 48)?;
                Table::PstArm {
                    s1fmt,
                    s1dss,
                    s1contextptr: le64(b, 16),
                    s1cdmax: le32(b, 24),
                }
            }
            FORMAT_PGTF_ARM_LPAE if draft == Draft::Brucker2018 => {
                zero(b, 48, 28)?;
                Table::PgtArm {
                    asid: le16(b, 14),
                    tcr: le64(b, 16),
                    ttbr0: le64(b, 24),
                    ttbr1: le64(b, 32),
                    mair: le64(b, 40),
                }
            }
            _ => return Err(invalid(12, 2, "format")),
        };
        Ok(AttachTable {
            head_reserved: head(b),
            domain: le32(b, 4),
            endpoint: le32(b, 8),
            table,
        })
    }
    fn bytes(&self) -> [u8; 76] {
        let mut b = [0u8; 76];
        b[0] = T_ATTACH_TABLE;
        put(&mut b, 1, &self.head_reserved);
        put(&mut b, 4, &self.domain.to_le_bytes());
        put(&mut b, 8, &self.endpoint.to_le_bytes());
        put(&mut b, 12, &self.table.format().to_le_bytes());
        match self.table {
            Table::PstArm {
                s1fmt,
                s1dss,
                s1contextptr,
                s1cdmax,
            } => {
                b[14] = s1fmt;
                b[15] = s1dss;
                put(&mut b, 16, &s1contextptr.to_le_bytes());
                put(&mut b, 24, &s1cdmax.to_le_bytes());
            }
            Table::PgtArm {
                asid,
                tcr,
                ttbr0,
                ttbr1,
                mair,
            } => {
                put(&mut b, 14, &asid.to_le_bytes());
                put(&mut b, 16, &tcr.to_le_bytes());
                put(&mut b, 24, &ttbr0.to_le_bytes());
                put(&mut b, 32, &ttbr1.to_le_bytes());
                put(&mut b, 40, &mair.to_le_bytes());
            }
        }
        b
    }
}

/// One of three one-hot granularity / scope values, else `InvalidField`.
fn one_hot(v: u16, off: usize, field: &'static str) -> Result<(), DecodeError> {
    if matches!(v, 1 | 2 | 4) {
        Ok(())
    } else {
        Err(invalid(off, 2, field))
    }
}

/// `flags`-like field with no bit outside `defined`.
fn defined(v: u16, defined: u16, off: usize) -> Result<(), DecodeError> {
    if v & !defined != 0 {
        Err(reserved_field(off, u64::from(v & !defined)))
    } else {
        Ok(())
    }
}

/// A range-scoped request's `granule` below 64 and `nr_pages` not 0.
fn va_fields(granule: u8, g_off: usize, nr_pages: u64, n_off: usize) -> Result<(), DecodeError> {
    if granule >= 64 {
        return Err(invalid(g_off, 1, "granule"));
    }
    if nr_pages == 0 {
        return Err(invalid(n_off, 8, "nr_pages"));
    }
    Ok(())
}

impl Invalidate {
    const LEN: usize = 60;
    fn from_bytes(b: &[u8; 60]) -> Result<Self, DecodeError> {
        let i = Invalidate {
            head_reserved: head(b),
            inv_gran: le16(b, 4),
            inv_type: le16(b, 6),
            flags: le16(b, 8),
            domain: le32(b, 12),
            pasid: le32(b, 16),
            archid: le64(b, 24),
            virt_start: le64(b, 32),
            nr_pages: le64(b, 40),
            granule: b[48],
        };
        one_hot(i.inv_gran, 4, "inv_gran")?;
        defined(i.inv_type, INV_T_IOTLB | INV_T_DEV_IOTLB | INV_T_PASID, 6)?;
        if i.inv_type == 0 {
            return Err(invalid(6, 2, "inv_type (no cache)"));
        }
        defined(i.flags, INVAL_F_PASID | INVAL_F_ARCHID | INVAL_F_LEAF, 8)?;
        zero(b, 10, 2)?;
        zero(b, 20, 4)?;
        zero(b, 49, 11)?;
        if i.inv_gran != INVAL_G_DOMAIN && i.flags & (INVAL_F_PASID | INVAL_F_ARCHID) == 0 {
            return Err(invalid(
                8,
                2,
                "flags (G_PASID / G_VA without F_PASID or F_ARCHID)",
            ));
        }
        if i.inv_gran == INVAL_G_VA {
            va_fields(i.granule, 48, i.nr_pages, 40)?;
        }
        Ok(i)
    }
    fn bytes(&self) -> [u8; 60] {
        let mut b = [0u8; 60];
        b[0] = T_INVALIDATE;
        put(&mut b, 1, &self.head_reserved);
        put(&mut b, 4, &self.inv_gran.to_le_bytes());
        put(&mut b, 6, &self.inv_type.to_le_bytes());
        put(&mut b, 8, &self.flags.to_le_bytes());
        put(&mut b, 12, &self.domain.to_le_bytes());
        put(&mut b, 16, &self.pasid.to_le_bytes());
        put(&mut b, 24, &self.archid.to_le_bytes());
        put(&mut b, 32, &self.virt_start.to_le_bytes());
        put(&mut b, 40, &self.nr_pages.to_le_bytes());
        b[48] = self.granule;
        b
    }
}

impl Invalidate2018 {
    const LEN: usize = 60;
    fn from_bytes(b: &[u8; 60]) -> Result<Self, DecodeError> {
        let i = Invalidate2018 {
            head_reserved: head(b),
            scope: le16(b, 4),
            flags: le16(b, 6),
            domain: le32(b, 8),
            pasid: le32(b, 12),
            id: le64(b, 16),
            virt_start: le64(b, 24),
            nr_pages: le64(b, 32),
            granule: b[40],
        };
        one_hot(i.scope, 4, "scope")?;
        defined(i.flags, INVAL_F_CONFIG_2018 | INVAL_F_LEAF_2018, 6)?;
        zero(b, 41, 19)?;
        if i.scope == INVAL_S_VA {
            va_fields(i.granule, 40, i.nr_pages, 32)?;
        }
        Ok(i)
    }
    fn bytes(&self) -> [u8; 60] {
        let mut b = [0u8; 60];
        b[0] = T_INVALIDATE;
        put(&mut b, 1, &self.head_reserved);
        put(&mut b, 4, &self.scope.to_le_bytes());
        put(&mut b, 6, &self.flags.to_le_bytes());
        put(&mut b, 8, &self.domain.to_le_bytes());
        put(&mut b, 12, &self.pasid.to_le_bytes());
        put(&mut b, 16, &self.id.to_le_bytes());
        put(&mut b, 24, &self.virt_start.to_le_bytes());
        put(&mut b, 32, &self.nr_pages.to_le_bytes());
        b[40] = self.granule;
        b
    }
}

/// Request type `ty` refused by the device's features: `unknown_opcode`
/// with the reason `why` as its field (the status depends on it).
fn refused(ty: u8, why: &'static str) -> DecodeError {
    let mut e = DecodeError::unknown_opcode(u64::from(ty));
    e.field = why;
    e
}

/// The layout of types 6 and 7 a device of `draft` reads: its own, and
/// the newest for a device without a draft (which refuses them anyway).
pub(crate) const fn parse_draft(draft: Draft) -> Draft {
    match draft {
        Draft::None => Draft::Rfc2021,
        d => d,
    }
}

/// `&[u8; N]` of `bytes`, which must be exactly `N` long.
#[inline(always)]
fn exact<const N: usize>(bytes: &[u8]) -> Result<&[u8; N], DecodeError> {
    bytes
        .try_into()
        .map_err(|_| DecodeError::bad_length(bytes.len()))
}

impl Command {
    /// The request type (`head.type`).
    pub const fn type_byte(&self) -> u8 {
        match self {
            Command::Attach(_) => T_ATTACH,
            Command::Detach(_) => T_DETACH,
            Command::Map(_) => T_MAP,
            Command::Unmap(_) => T_UNMAP,
            Command::Probe(_) => T_PROBE,
            Command::AttachTable(_) => T_ATTACH_TABLE,
            Command::Invalidate(_) | Command::Invalidate2018(_) => T_INVALIDATE,
        }
    }

    /// The length of the readable part: 20, 20, 36, 28, 72, 76 or 60 bytes.
    pub const fn byte_len(&self) -> usize {
        match self {
            Command::Attach(_) => Attach::LEN,
            Command::Detach(_) => Detach::LEN,
            Command::Map(_) => Map::LEN,
            Command::Unmap(_) => Unmap::LEN,
            Command::Probe(_) => Probe::LEN,
            Command::AttachTable(_) => AttachTable::LEN,
            Command::Invalidate(_) => Invalidate::LEN,
            Command::Invalidate2018(_) => Invalidate2018::LEN,
        }
    }

    /// The word count of op `op`'s requests (its type's readable length in
    /// 64-bit words), which the contract's `from_fields` takes: a tool that
    /// builds a request from named fields needs no width of its own.
    pub fn words_of_op(op: &str) -> Option<usize> {
        blank(op).map(|c| c.word_count())
    }

    /// The draft whose layout the request has (`None`: a ratified request).
    pub const fn draft(&self) -> Draft {
        match self {
            Command::Invalidate2018(_)
            | Command::AttachTable(AttachTable {
                table: Table::PgtArm { .. },
                ..
            }) => Draft::Brucker2018,
            Command::Invalidate(_) | Command::AttachTable(_) => Draft::Rfc2021,
            _ => Draft::None,
        }
    }

    /// Decode the readable part of a request, as a device of every feature
    /// and the newest draft does ([`Features::ALL`]: type 7 is the 2021
    /// RFC's INVALIDATE). The length must be exactly the type's
    /// ([`len_of_type`]), else `bad_length` (in bytes); an unknown type is
    /// `unknown_opcode`; reserved bytes the spec or this crate refuses are
    /// `reserved`; forbidden values `invalid_field`. [`crate::status`]
    /// gives the device's answer to each.
    ///
    /// ```
    /// use iommu_inval_virtio::{Command, Unmap};
    /// // UNMAP domain 1, [0x1000; 0x1fff].
    /// let mut b = [0u8; 28];
    /// b[0] = 4;
    /// b[4] = 1;
    /// b[8..16].copy_from_slice(&0x1000u64.to_le_bytes());
    /// b[16..24].copy_from_slice(&0x1fffu64.to_le_bytes());
    /// let c = Command::decode_bytes(&b).unwrap();
    /// assert_eq!(c, Command::Unmap(Unmap { domain: 1, virt_start: 0x1000, virt_end: 0x1fff, ..Default::default() }));
    /// let mut out = [0u8; 28];
    /// assert_eq!(c.encode_bytes_into(&mut out), Ok(28));
    /// assert_eq!(out, b);
    /// ```
    pub fn decode_bytes(bytes: &[u8]) -> Result<Command, DecodeError> {
        Self::parse(bytes, Draft::Rfc2021)
    }

    /// Decode as a device with `features` does: the layout of its draft
    /// (type 7 of [`Draft::Brucker2018`] is [`Invalidate2018`]), then its
    /// checks ([`Command::check_with`]).
    pub fn decode_bytes_with(bytes: &[u8], features: &Features) -> Result<Command, DecodeError> {
        let c = Self::parse(bytes, parse_draft(features.draft))?;
        c.check_with(features)?;
        Ok(c)
    }

    /// The layout of `draft` for types 6 and 7 (`Rfc2021` or `Brucker2018`).
    pub(crate) fn parse(bytes: &[u8], draft: Draft) -> Result<Command, DecodeError> {
        let Some(&ty) = bytes.first() else {
            return Err(DecodeError::bad_length(0));
        };
        Ok(match ty {
            T_ATTACH => Command::Attach(Attach::from_bytes(exact(bytes)?)?),
            T_DETACH => Command::Detach(Detach::from_bytes(exact(bytes)?)?),
            T_MAP => Command::Map(Map::from_bytes(exact(bytes)?)?),
            T_UNMAP => Command::Unmap(Unmap::from_bytes(exact(bytes)?)?),
            T_PROBE => Command::Probe(Probe::from_bytes(exact(bytes)?)?),
            T_ATTACH_TABLE => Command::AttachTable(AttachTable::from_bytes(exact(bytes)?, draft)?),
            T_INVALIDATE if draft == Draft::Brucker2018 => {
                Command::Invalidate2018(Invalidate2018::from_bytes(exact(bytes)?)?)
            }
            T_INVALIDATE => Command::Invalidate(Invalidate::from_bytes(exact(bytes)?)?),
            _ => return Err(DecodeError::unknown_opcode(u64::from(ty))),
        })
    }

    /// Write the readable part into `out[..self.byte_len()]`; returns the
    /// length. A shorter `out` is `bad_length` (its length). Fields are not
    /// re-checked (the encode contract of
    /// [`NativeCommand`](iommu_inval_core::NativeCommand)).
    pub fn encode_bytes_into(&self, out: &mut [u8]) -> Result<usize, DecodeError> {
        let (b, n) = self.readable();
        let got = out.len();
        let dst = out.get_mut(..n).ok_or(DecodeError::bad_length(got))?;
        dst.copy_from_slice(&b[..n]);
        Ok(n)
    }

    /// The readable part in a [`MAX_BYTES`] buffer, and its length.
    pub(crate) fn readable(&self) -> ([u8; MAX_BYTES], usize) {
        fn pad<const N: usize>(b: [u8; N]) -> ([u8; MAX_BYTES], usize) {
            let mut o = [0u8; MAX_BYTES];
            o[..N].copy_from_slice(&b);
            (o, N)
        }
        match self {
            Command::Attach(r) => pad(r.bytes()),
            Command::Detach(r) => pad(r.bytes()),
            Command::Map(r) => pad(r.bytes()),
            Command::Unmap(r) => pad(r.bytes()),
            Command::Probe(r) => pad(r.bytes()),
            Command::AttachTable(r) => pad(r.bytes()),
            Command::Invalidate(r) => pad(r.bytes()),
            Command::Invalidate2018(r) => pad(r.bytes()),
        }
    }

    /// `Ok` when a device with `features` accepts this request; otherwise
    /// the error it answers (see [`crate::status`] for the status):
    ///
    /// * MAP, UNMAP without `F_MAP_UNMAP`; a draft request on a device
    ///   without that draft → S_UNSUPP;
    /// * PROBE without `F_PROBE` → nothing written (used length 0);
    /// * `MAP_F_MMIO` without `F_MMIO`, `ATTACH_F_BYPASS` without
    ///   `F_BYPASS_CONFIG` → an unrecognised flag, S_INVAL;
    /// * with `F_INPUT_RANGE`, a MAP / UNMAP outside `input_range`, and with
    ///   `F_DOMAIN_RANGE`, a `domain` outside `domain_range` → S_RANGE.
    pub fn check_with(&self, f: &Features) -> Result<(), DecodeError> {
        let draft_ok = self.draft() == Draft::None || self.draft() == f.draft;
        if !draft_ok {
            return Err(refused(self.type_byte(), why::DRAFT));
        }
        let domain = match self {
            Command::Attach(a) => {
                if a.flags & ATTACH_F_BYPASS != 0 && !f.has(F_BYPASS_CONFIG) {
                    return Err(reserved_field(12, u64::from(ATTACH_F_BYPASS)));
                }
                Some(a.domain)
            }
            Command::Detach(d) => Some(d.domain),
            Command::Map(m) => {
                map_unmap(f, T_MAP, m.virt_start, m.virt_end)?;
                if m.flags & MAP_F_MMIO != 0 && !f.has(F_MMIO) {
                    return Err(reserved_field(32, u64::from(MAP_F_MMIO)));
                }
                Some(m.domain)
            }
            Command::Unmap(u) => {
                map_unmap(f, T_UNMAP, u.virt_start, u.virt_end)?;
                Some(u.domain)
            }
            Command::Probe(_) => {
                if !f.has(F_PROBE) {
                    return Err(refused(T_PROBE, why::PROBE));
                }
                None
            }
            Command::AttachTable(a) => Some(a.domain),
            Command::Invalidate(i) => Some(i.domain),
            Command::Invalidate2018(i) => Some(i.domain),
        };
        match domain {
            Some(d) if f.has(F_DOMAIN_RANGE) && (d < f.domain_range.0 || d > f.domain_range.1) => {
                Err(invalid(4, 4, why::DOMAIN_RANGE))
            }
            _ => Ok(()),
        }
    }
}

/// MAP / UNMAP: `F_MAP_UNMAP`, and `input_range` with `F_INPUT_RANGE`.
fn map_unmap(f: &Features, ty: u8, start: u64, end: u64) -> Result<(), DecodeError> {
    if !f.has(F_MAP_UNMAP) {
        return Err(refused(ty, why::MAP_UNMAP));
    }
    if f.has(F_INPUT_RANGE) && (start < f.input_range.0 || end > f.input_range.1) {
        return Err(invalid(8, 8, why::INPUT_RANGE));
    }
    Ok(())
}

// ---- the word form ------------------------------------------------------

impl Command {
    /// 64-bit words of the word form: the readable bytes, zero-padded.
    #[inline]
    pub(crate) const fn word_count(&self) -> usize {
        self.byte_len().div_ceil(8)
    }

    /// Decode the word form with the layout of `draft`: the type in the
    /// low byte of `words[0]`, exactly the type's word count (else
    /// `bad_length` in words), the padding bytes zero (else `reserved`).
    pub(crate) fn decode_words(words: &[u64], draft: Draft) -> Result<Command, DecodeError> {
        let Some(&w0) = words.first() else {
            return Err(DecodeError::bad_length(0));
        };
        let ty = w0 as u8;
        let len = len_of_type(ty).ok_or(DecodeError::unknown_opcode(u64::from(ty)))?;
        if words.len() != len.div_ceil(8) {
            return Err(DecodeError::bad_length(words.len()));
        }
        let mut b = [0u8; MAX_WORDS * 8];
        for (chunk, w) in b.chunks_exact_mut(8).zip(words) {
            chunk.copy_from_slice(&w.to_le_bytes());
        }
        zero(&b, len, words.len() * 8 - len)?;
        Self::parse(&b[..len], draft)
    }

    /// Write the word form into `out[..self.word_count()]`.
    pub(crate) fn encode_words(&self, out: &mut [u64]) -> Result<usize, DecodeError> {
        let (b, n) = self.readable();
        let words = n.div_ceil(8);
        let got = out.len();
        let dst = out.get_mut(..words).ok_or(DecodeError::bad_length(got))?;
        for (w, chunk) in dst.iter_mut().zip(b.chunks_exact(8)) {
            let mut a = [0u8; 8];
            a.copy_from_slice(chunk);
            *w = u64::from_le_bytes(a);
        }
        Ok(words)
    }

    /// Whether this request is one [`Command::decode_bytes`] (with its own
    /// draft's layout) gives back unchanged: every field within its width
    /// and value range.
    pub(crate) fn check_valid(&self) -> Result<(), DecodeError> {
        let (b, n) = self.readable();
        match Self::parse(&b[..n], parse_draft(self.draft())) {
            Ok(c) if c == *self => Ok(()),
            Ok(_) => Err(DecodeError::invalid(0, 0, "field too wide")),
            Err(e) => Err(e),
        }
    }
}

// ---- named fields -------------------------------------------------------

/// Every op name, in type order.
pub(crate) const OP_NAMES: [&str; 9] = [
    "ATTACH",
    "DETACH",
    "MAP",
    "UNMAP",
    "PROBE",
    "ATTACH_TABLE_PST_ARM",
    "ATTACH_TABLE_PGT_ARM",
    "INVALIDATE",
    "INVALIDATE_2018",
];

/// PROBE's 64 reserved bytes as eight little-endian words.
const PROBE_RESERVED: [&str; 8] = [
    "reserved_0",
    "reserved_1",
    "reserved_2",
    "reserved_3",
    "reserved_4",
    "reserved_5",
    "reserved_6",
    "reserved_7",
];

const F_ATTACH: &[&str] = &["head_reserved", "domain", "endpoint", "flags"];
const F_DETACH: &[&str] = &["head_reserved", "domain", "endpoint", "reserved"];
const F_MAP: &[&str] = &[
    "head_reserved",
    "domain",
    "virt_start",
    "virt_end",
    "phys_start",
    "flags",
];
const F_UNMAP: &[&str] = &[
    "head_reserved",
    "domain",
    "virt_start",
    "virt_end",
    "reserved",
];
const F_PROBE_NAMES: &[&str] = &[
    "head_reserved",
    "endpoint",
    "reserved_0",
    "reserved_1",
    "reserved_2",
    "reserved_3",
    "reserved_4",
    "reserved_5",
    "reserved_6",
    "reserved_7",
];
const F_PST: &[&str] = &[
    "head_reserved",
    "domain",
    "endpoint",
    "s1fmt",
    "s1dss",
    "s1contextptr",
    "s1cdmax",
];
const F_PGT: &[&str] = &[
    "head_reserved",
    "domain",
    "endpoint",
    "asid",
    "tcr",
    "ttbr0",
    "ttbr1",
    "mair",
];
const F_INVAL: &[&str] = &[
    "head_reserved",
    "inv_gran",
    "inv_type",
    "flags",
    "domain",
    "pasid",
    "archid",
    "virt_start",
    "nr_pages",
    "granule",
];
const F_INVAL18: &[&str] = &[
    "head_reserved",
    "scope",
    "flags",
    "domain",
    "pasid",
    "id",
    "virt_start",
    "nr_pages",
    "granule",
];

/// Little-endian value of up to 8 bytes.
fn le_uint(b: &[u8]) -> u64 {
    b.iter().rev().fold(0u64, |acc, &x| acc << 8 | u64::from(x))
}

/// `v` as `N` little-endian bytes, `TooWide` when it does not fit.
fn le_bytes<const N: usize>(name: &'static str, v: FieldValue) -> Result<[u8; N], FieldError> {
    let x = uint(name, v, if N >= 8 { u64::MAX } else { (1 << (8 * N)) - 1 })?;
    let mut a = [0u8; N];
    a.copy_from_slice(&x.to_le_bytes()[..N]);
    Ok(a)
}

/// A field's value, at most `max`.
fn uint(name: &'static str, v: FieldValue, max: u64) -> Result<u64, FieldError> {
    match v {
        FieldValue::Uint(x) if x <= max => Ok(x),
        FieldValue::Bool(b) if max >= 1 => Ok(u64::from(b)),
        _ => Err(FieldError::TooWide(name)),
    }
}

impl Command {
    /// The op name: `ATTACH`, `DETACH`, `MAP`, `UNMAP`, `PROBE`,
    /// `ATTACH_TABLE_PST_ARM`, `ATTACH_TABLE_PGT_ARM`, `INVALIDATE` (2021
    /// RFC), `INVALIDATE_2018`.
    pub(crate) const fn name(&self) -> &'static str {
        match self {
            Command::Attach(_) => OP_NAMES[0],
            Command::Detach(_) => OP_NAMES[1],
            Command::Map(_) => OP_NAMES[2],
            Command::Unmap(_) => OP_NAMES[3],
            Command::Probe(_) => OP_NAMES[4],
            Command::AttachTable(AttachTable {
                table: Table::PstArm { .. },
                ..
            }) => OP_NAMES[5],
            Command::AttachTable(_) => OP_NAMES[6],
            Command::Invalidate(_) => OP_NAMES[7],
            Command::Invalidate2018(_) => OP_NAMES[8],
        }
    }

    /// Field names of op `op`, in layout order.
    pub(crate) fn names_of(op: &str) -> Option<&'static [&'static str]> {
        Some(match op {
            "ATTACH" => F_ATTACH,
            "DETACH" => F_DETACH,
            "MAP" => F_MAP,
            "UNMAP" => F_UNMAP,
            "PROBE" => F_PROBE_NAMES,
            "ATTACH_TABLE_PST_ARM" => F_PST,
            "ATTACH_TABLE_PGT_ARM" => F_PGT,
            "INVALIDATE" => F_INVAL,
            "INVALIDATE_2018" => F_INVAL18,
            _ => return None,
        })
    }

    /// Visit every field in layout order (reserved byte arrays as their
    /// little-endian value).
    pub(crate) fn visit_fields(&self, f: &mut dyn FnMut(&'static str, FieldValue)) {
        let u = FieldValue::Uint;
        let hr = |h: &[u8; 3]| u(le_uint(h));
        match self {
            Command::Attach(a) => {
                f("head_reserved", hr(&a.head_reserved));
                f("domain", u(a.domain.into()));
                f("endpoint", u(a.endpoint.into()));
                f("flags", u(a.flags.into()));
            }
            Command::Detach(d) => {
                f("head_reserved", hr(&d.head_reserved));
                f("domain", u(d.domain.into()));
                f("endpoint", u(d.endpoint.into()));
                f("reserved", u(le_uint(&d.reserved)));
            }
            Command::Map(m) => {
                f("head_reserved", hr(&m.head_reserved));
                f("domain", u(m.domain.into()));
                f("virt_start", u(m.virt_start));
                f("virt_end", u(m.virt_end));
                f("phys_start", u(m.phys_start));
                f("flags", u(m.flags.into()));
            }
            Command::Unmap(m) => {
                f("head_reserved", hr(&m.head_reserved));
                f("domain", u(m.domain.into()));
                f("virt_start", u(m.virt_start));
                f("virt_end", u(m.virt_end));
                f("reserved", u(le_uint(&m.reserved)));
            }
            Command::Probe(p) => {
                f("head_reserved", hr(&p.head_reserved));
                f("endpoint", u(p.endpoint.into()));
                for (name, chunk) in PROBE_RESERVED.iter().zip(p.reserved.chunks_exact(8)) {
                    f(name, u(le_uint(chunk)));
                }
            }
            Command::AttachTable(a) => {
                f("head_reserved", hr(&a.head_reserved));
                f("domain", u(a.domain.into()));
                f("endpoint", u(a.endpoint.into()));
                match a.table {
                    Table::PstArm {
                        s1fmt,
                        s1dss,
                        s1contextptr,
                        s1cdmax,
                    } => {
                        f("s1fmt", u(s1fmt.into()));
                        f("s1dss", u(s1dss.into()));
                        f("s1contextptr", u(s1contextptr));
                        f("s1cdmax", u(s1cdmax.into()));
                    }
                    Table::PgtArm {
                        asid,
                        tcr,
                        ttbr0,
                        ttbr1,
                        mair,
                    } => {
                        f("asid", u(asid.into()));
                        f("tcr", u(tcr));
                        f("ttbr0", u(ttbr0));
                        f("ttbr1", u(ttbr1));
                        f("mair", u(mair));
                    }
                }
            }
            Command::Invalidate(i) => {
                f("head_reserved", hr(&i.head_reserved));
                f("inv_gran", u(i.inv_gran.into()));
                f("inv_type", u(i.inv_type.into()));
                f("flags", u(i.flags.into()));
                f("domain", u(i.domain.into()));
                f("pasid", u(i.pasid.into()));
                f("archid", u(i.archid));
                f("virt_start", u(i.virt_start));
                f("nr_pages", u(i.nr_pages));
                f("granule", u(i.granule.into()));
            }
            Command::Invalidate2018(i) => {
                f("head_reserved", hr(&i.head_reserved));
                f("scope", u(i.scope.into()));
                f("flags", u(i.flags.into()));
                f("domain", u(i.domain.into()));
                f("pasid", u(i.pasid.into()));
                f("id", u(i.id));
                f("virt_start", u(i.virt_start));
                f("nr_pages", u(i.nr_pages));
                f("granule", u(i.granule.into()));
            }
        }
    }

    /// Build a request from an op and named fields (fields not given are
    /// 0), for a word form of `words` words (the op's, else `bad_length`).
    /// The request must be one the decoder (with the op's draft) accepts.
    pub(crate) fn build(
        op: &str,
        fields: &mut dyn Iterator<Item = (&str, FieldValue)>,
        words: usize,
    ) -> Result<Command, FieldError> {
        let names = Self::names_of(op).ok_or(FieldError::UnknownOp)?;
        let mut c = blank(op).ok_or(FieldError::UnknownOp)?;
        if words != c.word_count() {
            return Err(FieldError::Invalid(DecodeError::bad_length(words)));
        }
        for (name, v) in fields {
            let Some(n) = names.iter().copied().find(|x| *x == name) else {
                let all = OP_NAMES
                    .iter()
                    .filter_map(|o| Self::names_of(o))
                    .flat_map(|ns| ns.iter().copied())
                    .find(|x| *x == name);
                return Err(FieldError::UnknownField(
                    all.unwrap_or("(not a field of this op)"),
                ));
            };
            set_field(&mut c, n, v)?;
        }
        c.check_valid().map_err(FieldError::Invalid)?;
        Ok(c)
    }
}

/// The op's request with every field 0 (for ATTACH_TABLE, its format).
fn blank(op: &str) -> Option<Command> {
    Some(match op {
        "ATTACH" => Attach::default().into(),
        "DETACH" => Detach::default().into(),
        "MAP" => Map::default().into(),
        "UNMAP" => Unmap::default().into(),
        "PROBE" => Probe::default().into(),
        "ATTACH_TABLE_PST_ARM" | "ATTACH_TABLE_PGT_ARM" => AttachTable {
            head_reserved: [0; 3],
            domain: 0,
            endpoint: 0,
            table: if op == "ATTACH_TABLE_PST_ARM" {
                Table::PstArm {
                    s1fmt: 0,
                    s1dss: 0,
                    s1contextptr: 0,
                    s1cdmax: 0,
                }
            } else {
                Table::PgtArm {
                    asid: 0,
                    tcr: 0,
                    ttbr0: 0,
                    ttbr1: 0,
                    mair: 0,
                }
            },
        }
        .into(),
        "INVALIDATE" => Invalidate::default().into(),
        "INVALIDATE_2018" => Invalidate2018::default().into(),
        _ => return None,
    })
}

/// Store field `n` (one of the op's names) of `c`, checking its width.
fn set_field(c: &mut Command, n: &'static str, v: FieldValue) -> Result<(), FieldError> {
    let u32f = |v| uint(n, v, u32::MAX.into()).map(|x| x as u32);
    let u16f = |v| uint(n, v, u16::MAX.into()).map(|x| x as u16);
    let u8f = |v| uint(n, v, u8::MAX.into()).map(|x| x as u8);
    let u64f = |v| uint(n, v, u64::MAX);
    if n == "head_reserved" {
        let h = le_bytes::<3>(n, v)?;
        match c {
            Command::Attach(r) => r.head_reserved = h,
            Command::Detach(r) => r.head_reserved = h,
            Command::Map(r) => r.head_reserved = h,
            Command::Unmap(r) => r.head_reserved = h,
            Command::Probe(r) => r.head_reserved = h,
            Command::AttachTable(r) => r.head_reserved = h,
            Command::Invalidate(r) => r.head_reserved = h,
            Command::Invalidate2018(r) => r.head_reserved = h,
        }
        return Ok(());
    }
    match c {
        Command::Attach(r) => match n {
            "domain" => r.domain = u32f(v)?,
            "endpoint" => r.endpoint = u32f(v)?,
            _ => r.flags = u32f(v)?,
        },
        Command::Detach(r) => match n {
            "domain" => r.domain = u32f(v)?,
            "endpoint" => r.endpoint = u32f(v)?,
            _ => r.reserved = le_bytes::<8>(n, v)?,
        },
        Command::Map(r) => match n {
            "domain" => r.domain = u32f(v)?,
            "virt_start" => r.virt_start = u64f(v)?,
            "virt_end" => r.virt_end = u64f(v)?,
            "phys_start" => r.phys_start = u64f(v)?,
            _ => r.flags = u32f(v)?,
        },
        Command::Unmap(r) => match n {
            "domain" => r.domain = u32f(v)?,
            "virt_start" => r.virt_start = u64f(v)?,
            "virt_end" => r.virt_end = u64f(v)?,
            _ => r.reserved = le_bytes::<4>(n, v)?,
        },
        Command::Probe(r) => {
            if n == "endpoint" {
                r.endpoint = u32f(v)?;
            } else if let Some(k) = PROBE_RESERVED.iter().position(|x| *x == n) {
                let b = le_bytes::<8>(n, v)?;
                r.reserved[8 * k..8 * k + 8].copy_from_slice(&b);
            }
        }
        Command::AttachTable(r) => match (n, &mut r.table) {
            ("domain", _) => r.domain = u32f(v)?,
            ("endpoint", _) => r.endpoint = u32f(v)?,
            ("s1fmt", Table::PstArm { s1fmt, .. }) => *s1fmt = u8f(v)?,
            ("s1dss", Table::PstArm { s1dss, .. }) => *s1dss = u8f(v)?,
            ("s1contextptr", Table::PstArm { s1contextptr, .. }) => *s1contextptr = u64f(v)?,
            ("s1cdmax", Table::PstArm { s1cdmax, .. }) => *s1cdmax = u32f(v)?,
            ("asid", Table::PgtArm { asid, .. }) => *asid = u16f(v)?,
            ("tcr", Table::PgtArm { tcr, .. }) => *tcr = u64f(v)?,
            ("ttbr0", Table::PgtArm { ttbr0, .. }) => *ttbr0 = u64f(v)?,
            ("ttbr1", Table::PgtArm { ttbr1, .. }) => *ttbr1 = u64f(v)?,
            ("mair", Table::PgtArm { mair, .. }) => *mair = u64f(v)?,
            _ => return Err(FieldError::UnknownField(n)),
        },
        Command::Invalidate(r) => match n {
            "inv_gran" => r.inv_gran = u16f(v)?,
            "inv_type" => r.inv_type = u16f(v)?,
            "flags" => r.flags = u16f(v)?,
            "domain" => r.domain = u32f(v)?,
            "pasid" => r.pasid = u32f(v)?,
            "archid" => r.archid = u64f(v)?,
            "virt_start" => r.virt_start = u64f(v)?,
            "nr_pages" => r.nr_pages = u64f(v)?,
            _ => r.granule = u8f(v)?,
        },
        Command::Invalidate2018(r) => match n {
            "scope" => r.scope = u16f(v)?,
            "flags" => r.flags = u16f(v)?,
            "domain" => r.domain = u32f(v)?,
            "pasid" => r.pasid = u32f(v)?,
            "id" => r.id = u64f(v)?,
            "virt_start" => r.virt_start = u64f(v)?,
            "nr_pages" => r.nr_pages = u64f(v)?,
            _ => r.granule = u8f(v)?,
        },
    }
    Ok(())
}

// ---- the contract: NativeCommand ----------------------------------------

// The word form and named fields of the contract. `decode` reads type 7
// as the 2021 RFC's INVALIDATE (the newest draft, as `Features::LATEST`
// does); `decode_with` reads it with the features' draft.
iommu_inval_core::native_command! {
    Command: iommu_inval_core::ArchId::VirtioIommu, Features, |cmd, features| cmd.check_with(features);
    op_names &OP_NAMES, op = name, fields = visit_fields, Command::names_of;

    const MAX_WORDS: usize = MAX_WORDS;

    fn decode(words: &[u64]) -> Result<Self, DecodeError> {
        Self::decode_words(words, Draft::Rfc2021)
    }
    fn decode_with(words: &[u64], features: &Features) -> Result<Self, DecodeError> {
        let c = Self::decode_words(words, parse_draft(features.draft))?;
        c.check_with(features)?;
        Ok(c)
    }
    fn words(&self) -> usize {
        self.word_count()
    }
    fn encode_into(&self, out: &mut [u64]) -> Result<usize, DecodeError> {
        self.encode_words(out)
    }
    /// The provided `validate` re-decodes with `decode`, which reads type 7
    /// as the 2021 RFC's: a 2018-draft request reads back with its own
    /// draft's layout instead (the buffer is `MAX_WORDS` either way).
    fn validate(&self) -> Result<(), DecodeError> {
        self.check_valid()
    }
    fn from_fields(
        op: &str,
        fields: &mut dyn Iterator<Item = (&str, FieldValue)>,
        words: usize,
    ) -> Result<Self, FieldError> {
        Command::build(op, fields, words)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::Features;
    use std::vec::Vec;

    /// Every field of every op at the offset and width its source gives: a
    /// field set to all ones (as the codec's value range allows) writes
    /// exactly those bytes, and nothing else (beyond the type byte).
    #[test]
    fn fields_land_where_the_layouts_put_them() {
        // (op, field, offset, bytes, value all-ones within the field's range)
        let table: &[(&str, &str, usize, usize, u64)] = &[
            ("ATTACH", "head_reserved", 1, 3, 0xff_ffff),
            ("ATTACH", "domain", 4, 4, 0xffff_ffff),
            ("ATTACH", "endpoint", 8, 4, 0xffff_ffff),
            ("ATTACH", "flags", 12, 1, 1),
            ("DETACH", "domain", 4, 4, 0xffff_ffff),
            ("DETACH", "endpoint", 8, 4, 0xffff_ffff),
            ("DETACH", "reserved", 12, 8, u64::MAX),
            ("MAP", "domain", 4, 4, 0xffff_ffff),
            ("MAP", "virt_start", 8, 8, u64::MAX - 1),
            ("MAP", "virt_end", 16, 8, u64::MAX),
            ("MAP", "phys_start", 24, 8, u64::MAX),
            ("MAP", "flags", 32, 1, 7),
            ("UNMAP", "domain", 4, 4, 0xffff_ffff),
            ("UNMAP", "virt_start", 8, 8, u64::MAX),
            ("UNMAP", "virt_end", 16, 8, u64::MAX),
            ("UNMAP", "reserved", 24, 4, 0xffff_ffff),
            ("PROBE", "endpoint", 4, 4, 0xffff_ffff),
            ("PROBE", "reserved_0", 8, 8, u64::MAX),
            ("PROBE", "reserved_7", 64, 8, u64::MAX),
            ("ATTACH_TABLE_PST_ARM", "domain", 4, 4, 0xffff_ffff),
            ("ATTACH_TABLE_PST_ARM", "endpoint", 8, 4, 0xffff_ffff),
            ("ATTACH_TABLE_PST_ARM", "s1fmt", 14, 1, 2),
            ("ATTACH_TABLE_PST_ARM", "s1dss", 15, 1, 2),
            ("ATTACH_TABLE_PST_ARM", "s1contextptr", 16, 8, u64::MAX),
            ("ATTACH_TABLE_PST_ARM", "s1cdmax", 24, 4, 0xffff_ffff),
            ("ATTACH_TABLE_PGT_ARM", "asid", 14, 2, 0xffff),
            ("ATTACH_TABLE_PGT_ARM", "tcr", 16, 8, u64::MAX),
            ("ATTACH_TABLE_PGT_ARM", "ttbr0", 24, 8, u64::MAX),
            ("ATTACH_TABLE_PGT_ARM", "ttbr1", 32, 8, u64::MAX),
            ("ATTACH_TABLE_PGT_ARM", "mair", 40, 8, u64::MAX),
            ("INVALIDATE", "domain", 12, 4, 0xffff_ffff),
            ("INVALIDATE", "pasid", 16, 4, 0xffff_ffff),
            ("INVALIDATE", "archid", 24, 8, u64::MAX),
            ("INVALIDATE", "virt_start", 32, 8, u64::MAX),
            ("INVALIDATE_2018", "domain", 8, 4, 0xffff_ffff),
            ("INVALIDATE_2018", "pasid", 12, 4, 0xffff_ffff),
            ("INVALIDATE_2018", "id", 16, 8, u64::MAX),
            ("INVALIDATE_2018", "virt_start", 24, 8, u64::MAX),
        ];
        for &(op, field, off, len, v) in table {
            let base = base_fields(op);
            let words = blank(op).unwrap().word_count();
            let mut it = base.iter().copied().chain([(field, FieldValue::Uint(v))]);
            let c = Command::build(op, &mut it, words)
                .unwrap_or_else(|e| panic!("{op}.{field}: {e:?}"));
            let mut it0 = base.iter().copied();
            let c0 = Command::build(op, &mut it0, words).unwrap();
            let (b, n) = c.readable();
            let (b0, _) = c0.readable();
            for k in 0..n {
                let inside = (off..off + len).contains(&k);
                let want = if inside {
                    (v >> (8 * (k - off))) as u8
                } else {
                    b0[k]
                };
                assert_eq!(b[k], want, "{op}.{field} byte {k}");
            }
            assert_eq!(c.name(), op);
        }
    }

    /// The fields an op needs to be valid besides the one under test.
    fn base_fields(op: &str) -> Vec<(&'static str, FieldValue)> {
        let u = FieldValue::Uint;
        match op {
            "MAP" => [("virt_end", u(u64::MAX))].into(),
            "INVALIDATE" => [("inv_gran", u(1)), ("inv_type", u(1))].into(),
            "INVALIDATE_2018" => [("scope", u(1))].into(),
            _ => Vec::new(),
        }
    }

    #[test]
    fn lengths_and_types() {
        for (ty, len) in [
            (1, 20),
            (2, 20),
            (3, 36),
            (4, 28),
            (5, 72),
            (6, 76),
            (7, 60),
        ] {
            assert_eq!(len_of_type(ty), Some(len));
        }
        for ty in [0u8, 8, 9, 0x80, 0xff] {
            assert_eq!(len_of_type(ty), None);
        }
        assert_eq!(MAX_WORDS, 10);
        for op in OP_NAMES {
            let c = blank(op).unwrap();
            assert_eq!(c.byte_len(), len_of_type(c.type_byte()).unwrap());
            assert_eq!(c.word_count(), c.byte_len().div_ceil(8));
        }
    }

    /// The word form: the readable bytes as little-endian words, the
    /// padding bytes zero, the count exactly the type's.
    #[test]
    fn word_form() {
        let c = Command::Attach(Attach {
            head_reserved: [1, 2, 3],
            domain: 0x0a0b_0c0d,
            endpoint: 0x11,
            flags: ATTACH_F_BYPASS,
        });
        let mut w = [0u64; MAX_WORDS];
        assert_eq!(c.encode_words(&mut w), Ok(3));
        assert_eq!(w[..3], [0x0a0b_0c0d_0302_0101, 0x1_0000_0011, 0]);
        assert_eq!(Command::decode_words(&w[..3], Draft::Rfc2021), Ok(c));
        // Padding (bytes 20..24) set: reserved.
        let mut p = w;
        p[2] |= 1 << 40;
        assert_eq!(
            Command::decode_words(&p[..3], Draft::Rfc2021),
            Err(DecodeError::reserved(2, 1 << 40))
        );
        assert_eq!(
            Command::decode_words(&w[..4], Draft::Rfc2021),
            Err(DecodeError::bad_length(4))
        );
        assert_eq!(
            Command::decode_words(&[], Draft::Rfc2021),
            Err(DecodeError::bad_length(0))
        );
        assert_eq!(
            Command::decode_words(&[9], Draft::Rfc2021),
            Err(DecodeError::unknown_opcode(9))
        );
        assert_eq!(
            c.encode_words(&mut [0u64; 2]),
            Err(DecodeError::bad_length(2))
        );
    }

    /// One type byte, two layouts: the draft decides.
    #[test]
    fn invalidate_layout_follows_the_draft() {
        let mut b = [0u8; 60];
        b[0] = T_INVALIDATE;
        b[4] = 4; // 2021 inv_gran G_VA / 2018 scope S_VA
        b[6] = 1; // 2021 inv_type IOTLB / 2018 flags CONFIG
        b[8] = 1; // 2021 flags F_PASID / 2018 domain 1
        b[40] = 1; // 2021 nr_pages 1 / 2018 granule 1
        b[32] = 1; // 2018 nr_pages 1 / 2021 virt_start 1
        b[48] = 12; // 2021 granule
        let c21 = Command::parse(&b, Draft::Rfc2021).unwrap();
        let Command::Invalidate(i) = c21 else {
            panic!()
        };
        assert_eq!(
            (i.inv_gran, i.inv_type, i.flags),
            (INVAL_G_VA, INV_T_IOTLB, INVAL_F_PASID)
        );
        assert_eq!((i.virt_start, i.nr_pages, i.granule), (1, 1, 12));
        // 12 at byte 48 is inside the 2018 layout's reserved bytes.
        assert_eq!(
            Command::parse(&b, Draft::Brucker2018),
            Err(DecodeError::reserved(6, 12))
        );
        b[48] = 0;
        let c18 = Command::parse(&b, Draft::Brucker2018).unwrap();
        let Command::Invalidate2018(j) = c18 else {
            panic!()
        };
        assert_eq!(
            (j.scope, j.flags, j.domain),
            (INVAL_S_VA, INVAL_F_CONFIG_2018, 1)
        );
        assert_eq!((j.nr_pages, j.granule), (1, 1));
        // Each encodes back its own layout.
        assert_eq!(c18.readable().0[..60], b);
        assert_eq!(c18.check_valid(), Ok(()));
        assert_eq!(c21.check_valid(), Ok(()));
        // A device without a draft refuses type 7.
        let e = Command::decode_bytes_with(&b, &Features::VIRTIO_1_2).unwrap_err();
        assert_eq!(e.field, why::DRAFT);
        let f18 = Features::VSVA_2018;
        assert_eq!(Command::decode_bytes_with(&b, &f18), Ok(c18));
        // A 2021 request on a 2018 device (built, not decoded) is refused.
        assert_eq!(c21.check_with(&f18).unwrap_err().field, why::DRAFT);
    }

    #[test]
    fn from_fields_checks_widths_ops_and_validity() {
        let u = FieldValue::Uint;
        let mut it = [("domain", u(1 << 32))].into_iter();
        assert_eq!(
            Command::build("ATTACH", &mut it, 3),
            Err(FieldError::TooWide("domain"))
        );
        let mut it = [("s1fmt", u(1))].into_iter();
        assert_eq!(
            Command::build("ATTACH", &mut it, 3),
            Err(FieldError::UnknownField("s1fmt"))
        );
        let mut it = [("nope", u(1))].into_iter();
        assert_eq!(
            Command::build("ATTACH", &mut it, 3),
            Err(FieldError::UnknownField("(not a field of this op)"))
        );
        let mut it = core::iter::empty();
        assert_eq!(
            Command::build("NOPE", &mut it, 3),
            Err(FieldError::UnknownOp)
        );
        let mut it = core::iter::empty();
        assert_eq!(
            Command::build("ATTACH", &mut it, 2),
            Err(FieldError::Invalid(DecodeError::bad_length(2)))
        );
        // An undefined flag: what the decoder refuses.
        let mut it = [("flags", u(2))].into_iter();
        assert_eq!(
            Command::build("ATTACH", &mut it, 3),
            Err(FieldError::Invalid(DecodeError::reserved(1, 2 << 32)))
        );
        // Every decoded request's fields rebuild it.
        let mut b = [0u8; 76];
        b[0] = T_ATTACH_TABLE;
        b[12] = 2;
        b[14] = 1;
        b[16] = 0x40;
        let c = Command::decode_bytes(&b).unwrap();
        let mut fields = Vec::new();
        c.visit_fields(&mut |n, v| fields.push((n, v)));
        assert_eq!(
            fields.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            Command::names_of(c.name()).unwrap()
        );
        let mut it = fields.into_iter();
        assert_eq!(Command::build(c.name(), &mut it, 10), Ok(c));
    }

    #[test]
    fn feature_checks() {
        let map = Command::Map(Map {
            virt_end: 0xfff,
            flags: MAP_F_READ | MAP_F_MMIO,
            ..Map::default()
        });
        let ch = Features::CLOUD_HYPERVISOR;
        // MMIO without F_MMIO: an unrecognised flag.
        assert_eq!(map.check_with(&ch), Err(DecodeError::reserved(4, 4)));
        assert_eq!(map.check_with(&Features::ALL), Ok(()));
        let no_map = Features {
            bits: ch.bits & !crate::features::F_MAP_UNMAP,
            ..ch
        };
        assert_eq!(map.check_with(&no_map).unwrap_err().field, why::MAP_UNMAP);
        let probe = Command::Probe(Probe::default());
        let no_probe = Features { bits: 0, ..ch };
        assert_eq!(probe.check_with(&no_probe).unwrap_err().field, why::PROBE);
        let bypass = Command::Attach(Attach {
            flags: ATTACH_F_BYPASS,
            ..Attach::default()
        });
        assert_eq!(bypass.check_with(&ch), Ok(()));
        assert!(bypass.check_with(&Features::CROSVM).is_err());
        // Ranges.
        let small = Features {
            bits: Features::ALL.bits,
            input_range: (0x1000, 0xffff),
            domain_range: (1, 10),
            ..Features::ALL
        };
        let unmap = |s, e, d| {
            Command::Unmap(Unmap {
                domain: d,
                virt_start: s,
                virt_end: e,
                ..Unmap::default()
            })
        };
        assert_eq!(unmap(0x1000, 0xffff, 1).check_with(&small), Ok(()));
        assert_eq!(
            unmap(0, 0xffff, 1).check_with(&small).unwrap_err().field,
            why::INPUT_RANGE
        );
        assert_eq!(
            unmap(0x1000, 0x10000, 1)
                .check_with(&small)
                .unwrap_err()
                .field,
            why::INPUT_RANGE
        );
        assert_eq!(
            unmap(0x1000, 0xffff, 11)
                .check_with(&small)
                .unwrap_err()
                .field,
            why::DOMAIN_RANGE
        );
        assert_eq!(unmap(0, 0xffff, 11).check_with(&Features::ALL), Ok(()));
    }
}
