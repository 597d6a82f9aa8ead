//! The iommufd uAPI payloads, laid out as `include/uapi/linux/iommufd.h`
//! declares them.
//!
//! Plain `#[repr(C)]` structs of fixed-width integers: the size and every
//! field offset are checked against the header's layout in the tests below
//! (`core::mem::offset_of!`). The kernel reads `__aligned_u64` fields in
//! CPU order and `__aligned_le64` fields as little-endian; `to_le_bytes`
//! gives the bytes of an entry as the kernel reads them on a little-endian
//! host (every host that has these IOMMUs: arm64 and x86-64), so a VMM can
//! copy entries into any byte buffer without `unsafe`.

/// `IOMMUFD_TYPE` (`';'`), the ioctl type of every iommufd ioctl.
const IOMMUFD_TYPE: u8 = b';';
/// `IOMMUFD_CMD_HWPT_INVALIDATE`: 0x8d in the command enum of the header.
const IOMMUFD_CMD_HWPT_INVALIDATE: u8 = 0x8d;
/// `IOMMU_HWPT_INVALIDATE` = `_IO(IOMMUFD_TYPE, IOMMUFD_CMD_HWPT_INVALIDATE)`:
/// direction and size bits are zero (iommufd checks `size` itself).
pub const IOMMU_HWPT_INVALIDATE: u32 =
    ((IOMMUFD_TYPE as u32) << 8) | IOMMUFD_CMD_HWPT_INVALIDATE as u32;

/// `IOMMU_HWPT_INVALIDATE_DATA_VTD_S1` (`enum iommu_hwpt_invalidate_data_type`).
pub const IOMMU_HWPT_INVALIDATE_DATA_VTD_S1: u32 = 0;
/// `IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3`.
pub const IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3: u32 = 1;
/// `IOMMU_VTD_INV_FLAGS_LEAF` (`enum iommu_hwpt_vtd_s1_invalidate_flags`):
/// only leaf PTE caches; the paging-structure caches may be kept.
pub(crate) const IOMMU_VTD_INV_FLAGS_LEAF: u32 = 1 << 0;
/// `IOMMU_HWPT_DATA_AMD_GUEST` (`enum iommu_hwpt_data_type`): a guest DTE
/// for allocating an AMD nested domain (not an invalidation type).
pub const IOMMU_HWPT_DATA_AMD_GUEST: u32 = 3;
/// `npages` meaning "every address" (the header: "Invalidating all the
/// caches related to the page table by setting @addr to be 0 and @npages to
/// be U64_MAX").
pub(crate) const NPAGES_ALL: u64 = u64::MAX;

/// `struct iommu_viommu_arm_smmuv3_invalidate { __aligned_le64 cmd[2]; }`:
/// one raw SMMUv3 command for a vSMMU (`IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(C)]
pub struct ViommuArmSmmuv3Invalidate {
    /// The command's two 64-bit words, lowest first (little-endian in memory).
    pub cmd: [u64; 2],
}

impl ViommuArmSmmuv3Invalidate {
    /// The 16 bytes the kernel reads.
    pub fn to_le_bytes(&self) -> [u8; 16] {
        let mut b = [0u8; 16];
        let (lo, hi) = b.split_at_mut(8);
        lo.copy_from_slice(&self.cmd[0].to_le_bytes());
        hi.copy_from_slice(&self.cmd[1].to_le_bytes());
        b
    }
    /// The entry from its 16 bytes.
    pub fn from_le_bytes(b: [u8; 16]) -> Self {
        let (lo, hi) = b.split_at(8);
        ViommuArmSmmuv3Invalidate {
            cmd: [le_u64(lo), le_u64(hi)],
        }
    }
}

/// `struct iommu_hwpt_vtd_s1_invalidate { __aligned_u64 addr; __aligned_u64
/// npages; __u32 flags; __u32 __reserved; }` (`IOMMU_HWPT_INVALIDATE_DATA_VTD_S1`).
///
/// The kernel (`intel_nested_cache_invalidate_user`,
/// drivers/iommu/intel/nested.c) refuses `flags` other than
/// `IOMMU_VTD_INV_FLAGS_LEAF` (1) and a non-zero `__reserved` (EOPNOTSUPP), an
/// `addr` that is not 4 KiB aligned and `npages` = `u64::MAX` with a
/// non-zero `addr` (EINVAL); it then flushes `[addr, addr + npages * 4 KiB)`
/// of the nested domain's caches, device TLBs included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(C)]
pub struct HwptVtdS1Invalidate {
    /// First byte, 4 KiB aligned (0 with `npages` = `u64::MAX`).
    pub addr: u64,
    /// Number of 4 KiB pages; `u64::MAX` for every address (with `addr` 0:
    /// [`HwptVtdS1Invalidate::ALL`]).
    pub npages: u64,
    /// `IOMMU_VTD_INV_FLAGS_LEAF` (1) or 0.
    pub flags: u32,
    /// `__reserved`: must be 0.
    pub reserved: u32,
}

/// Why the kernel would refuse a VT-d stage-1 entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum VtdEntryError {
    /// A flag other than LEAF, or `__reserved` ≠ 0 (EOPNOTSUPP).
    Unsupported,
    /// `addr` not 4 KiB aligned, or `npages` = U64_MAX with `addr` ≠ 0 (EINVAL).
    Invalid,
    /// `npages` = 0, or a range past the end of the address space: the
    /// kernel computes `addr + npages * 4 KiB - 1` unchecked, so such an
    /// entry would flush a wrapped range. Never produced by this crate.
    Range,
}

impl core::fmt::Display for VtdEntryError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            VtdEntryError::Unsupported => "unsupported flag or reserved field set",
            VtdEntryError::Invalid => {
                "address not 4 KiB aligned, or an all-pages entry at a non-zero address"
            }
            VtdEntryError::Range => "empty or wrapping page range",
        })
    }
}

impl core::error::Error for VtdEntryError {}

impl HwptVtdS1Invalidate {
    /// Every address of the page table.
    pub const ALL: HwptVtdS1Invalidate = HwptVtdS1Invalidate {
        addr: 0,
        npages: NPAGES_ALL,
        flags: 0,
        reserved: 0,
    };
    /// The 24 bytes the kernel reads.
    pub fn to_le_bytes(&self) -> [u8; 24] {
        let mut b = [0u8; 24];
        let (a, rest) = b.split_at_mut(8);
        let (n, rest) = rest.split_at_mut(8);
        let (f, r) = rest.split_at_mut(4);
        a.copy_from_slice(&self.addr.to_le_bytes());
        n.copy_from_slice(&self.npages.to_le_bytes());
        f.copy_from_slice(&self.flags.to_le_bytes());
        r.copy_from_slice(&self.reserved.to_le_bytes());
        b
    }
    /// The entry from its 24 bytes.
    pub fn from_le_bytes(b: [u8; 24]) -> Self {
        let (a, rest) = b.split_at(8);
        let (n, rest) = rest.split_at(8);
        let (f, r) = rest.split_at(4);
        HwptVtdS1Invalidate {
            addr: le_u64(a),
            npages: le_u64(n),
            flags: le_u32(f),
            reserved: le_u32(r),
        }
    }
    /// The kernel's checks (`intel_nested_cache_invalidate_user`), plus the
    /// range sanity the kernel leaves to the caller.
    pub fn check(&self) -> Result<(), VtdEntryError> {
        if self.flags & !IOMMU_VTD_INV_FLAGS_LEAF != 0 || self.reserved != 0 {
            return Err(VtdEntryError::Unsupported);
        }
        if self.addr & 0xfff != 0 || (self.npages == NPAGES_ALL && self.addr != 0) {
            return Err(VtdEntryError::Invalid);
        }
        if self.npages == NPAGES_ALL {
            return Ok(());
        }
        let end = u128::from(self.addr) + (u128::from(self.npages) << 12);
        if self.npages == 0 || end > 1u128 << 64 {
            return Err(VtdEntryError::Range);
        }
        Ok(())
    }
    /// The bytes `[first, last]` it flushes (`None`: every address).
    pub fn span(&self) -> Option<(u64, u64)> {
        if self.npages == NPAGES_ALL {
            return None;
        }
        let last = u128::from(self.addr) + (u128::from(self.npages) << 12) - 1;
        Some((self.addr, u64::try_from(last).unwrap_or(u64::MAX)))
    }
    /// True when only leaf entries are flushed.
    pub const fn leaf(&self) -> bool {
        self.flags & IOMMU_VTD_INV_FLAGS_LEAF != 0
    }
}

/// `struct iommu_hwpt_invalidate`, the argument of `IOMMU_HWPT_INVALIDATE`:
/// `{ __u32 size; __u32 hwpt_id; __aligned_u64 data_uptr; __u32 data_type;
/// __u32 entry_len; __u32 entry_num; __u32 __reserved; }`.
///
/// `hwpt_id` names a nested HWPT (VT-d stage 1) or a vIOMMU (vSMMU).
/// `entry_num` is in-out: on return, the number of entries the kernel
/// handled; the newest vSMMU code converts a whole batch before issuing it
/// and reports 0 for a batch with a refused entry
/// (`arm_vsmmu_cache_invalidate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(C)]
pub struct HwptInvalidate {
    /// `sizeof(struct iommu_hwpt_invalidate)` = 32.
    pub size: u32,
    /// Nested HWPT id or vIOMMU id.
    pub hwpt_id: u32,
    /// User pointer to the entry array.
    pub data_uptr: u64,
    /// [`IOMMU_HWPT_INVALIDATE_DATA_VTD_S1`] or [`IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3`].
    pub data_type: u32,
    /// Bytes per entry (24 or 16).
    pub entry_len: u32,
    /// Entries in the array (in); entries handled (out).
    pub entry_num: u32,
    /// `__reserved`: must be 0.
    pub reserved: u32,
}

impl HwptInvalidate {
    /// The argument for `entry_num` VT-d stage-1 entries at `data_uptr`.
    pub const fn vtd_s1(hwpt_id: u32, data_uptr: u64, entry_num: u32) -> Self {
        HwptInvalidate {
            size: core::mem::size_of::<HwptInvalidate>() as u32,
            hwpt_id,
            data_uptr,
            data_type: IOMMU_HWPT_INVALIDATE_DATA_VTD_S1,
            entry_len: core::mem::size_of::<HwptVtdS1Invalidate>() as u32,
            entry_num,
            reserved: 0,
        }
    }
    /// The argument for `entry_num` vSMMU commands at `data_uptr`.
    pub const fn arm_smmuv3(viommu_id: u32, data_uptr: u64, entry_num: u32) -> Self {
        HwptInvalidate {
            size: core::mem::size_of::<HwptInvalidate>() as u32,
            hwpt_id: viommu_id,
            data_uptr,
            data_type: IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3,
            entry_len: core::mem::size_of::<ViommuArmSmmuv3Invalidate>() as u32,
            entry_num,
            reserved: 0,
        }
    }
}

/// `struct iommu_hwpt_amd_guest { __aligned_u64 dte[4]; }`
/// (`IOMMU_HWPT_DATA_AMD_GUEST`): the guest's device-table entry from which
/// the kernel builds an AMD nested domain. An *allocation* payload: AMD-Vi
/// has no iommufd invalidation payload (see the crate docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(C)]
pub struct HwptAmdGuest {
    /// The guest DTE, 256 bits, lowest word first.
    pub dte: [u64; 4],
}

fn le_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    for (d, s) in a.iter_mut().zip(b) {
        *d = *s;
    }
    u64::from_le_bytes(a)
}

fn le_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    for (d, s) in a.iter_mut().zip(b) {
        *d = *s;
    }
    u32::from_le_bytes(a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::{align_of, offset_of, size_of};

    /// Size, alignment and field offsets of a `#[repr(C)]` payload.
    macro_rules! assert_layout {
        ($T:ty: $size:literal bytes, align $align:literal; $($field:ident @ $off:literal),*) => {
            assert_eq!((size_of::<$T>(), align_of::<$T>()), ($size, $align), stringify!($T));
            $(assert_eq!(offset_of!($T, $field), $off, stringify!($T.$field));)*
        };
    }

    // Sizes and offsets of include/uapi/linux/iommufd.h (all fields
    // naturally aligned; __aligned_u64 / __aligned_le64 are 8-aligned).
    #[test]
    fn layouts_match_the_header() {
        assert_layout!(ViommuArmSmmuv3Invalidate: 16 bytes, align 8; cmd @ 0);
        assert_layout!(HwptVtdS1Invalidate: 24 bytes, align 8;
            addr @ 0, npages @ 8, flags @ 16, reserved @ 20);
        assert_layout!(HwptInvalidate: 32 bytes, align 8;
            size @ 0, hwpt_id @ 4, data_uptr @ 8, data_type @ 16, entry_len @ 20,
            entry_num @ 24, reserved @ 28);
        assert_layout!(HwptAmdGuest: 32 bytes, align 8; dte @ 0);
    }

    #[test]
    fn ioctl_number() {
        // _IO(';', 0x8d): no direction, no size.
        assert_eq!(IOMMU_HWPT_INVALIDATE, 0x3b8d);
        let a = HwptInvalidate::vtd_s1(7, 0x1000, 3);
        assert_eq!((a.size, a.entry_len, a.data_type), (32, 24, 0));
        let b = HwptInvalidate::arm_smmuv3(9, 0x2000, 1);
        assert_eq!((b.size, b.entry_len, b.data_type), (32, 16, 1));
    }

    #[test]
    fn bytes_are_little_endian_and_round_trip() {
        let e = ViommuArmSmmuv3Invalidate {
            cmd: [0x0102_0304_0506_0708, 0x1112_1314_1516_1718],
        };
        let b = e.to_le_bytes();
        assert_eq!(b[0], 0x08);
        assert_eq!(b[7], 0x01);
        assert_eq!(b[8], 0x18);
        assert_eq!(ViommuArmSmmuv3Invalidate::from_le_bytes(b), e);

        let v = HwptVtdS1Invalidate {
            addr: 0x4000_1000,
            npages: 3,
            flags: IOMMU_VTD_INV_FLAGS_LEAF,
            reserved: 0,
        };
        let b = v.to_le_bytes();
        assert_eq!(&b[0..8], &0x4000_1000u64.to_le_bytes());
        assert_eq!(b[8], 3);
        assert_eq!(b[16], 1);
        assert_eq!(&b[20..24], &[0, 0, 0, 0]);
        assert_eq!(HwptVtdS1Invalidate::from_le_bytes(b), v);
    }

    #[test]
    fn kernel_checks_of_vtd_entries() {
        assert_eq!(HwptVtdS1Invalidate::ALL.check(), Ok(()));
        let mut e = HwptVtdS1Invalidate {
            addr: 0x1000,
            npages: 1,
            flags: 0,
            reserved: 0,
        };
        assert_eq!(e.check(), Ok(()));
        assert_eq!(e.span(), Some((0x1000, 0x1fff)));
        e.flags = 2;
        assert_eq!(e.check(), Err(VtdEntryError::Unsupported));
        e.flags = 0;
        e.reserved = 1;
        assert_eq!(e.check(), Err(VtdEntryError::Unsupported));
        e.reserved = 0;
        e.addr = 0x1800;
        assert_eq!(e.check(), Err(VtdEntryError::Invalid));
        e.addr = 0x1000;
        e.npages = NPAGES_ALL;
        assert_eq!(e.check(), Err(VtdEntryError::Invalid));
        e.npages = 0;
        assert_eq!(e.check(), Err(VtdEntryError::Range));
        // The last page of the address space is fine; one more is not.
        let top = HwptVtdS1Invalidate {
            addr: u64::MAX - 0xfff,
            npages: 1,
            flags: 0,
            reserved: 0,
        };
        assert_eq!(top.check(), Ok(()));
        assert_eq!(top.span(), Some((u64::MAX - 0xfff, u64::MAX)));
        assert_eq!(
            HwptVtdS1Invalidate { npages: 2, ..top }.check(),
            Err(VtdEntryError::Range)
        );
    }
}
