//! # iommu-inval-virtio
//!
//! virtio-iommu (virtio device 23) for `iommu-inval`: the requests of the
//! ratified specification (virtio 1.2 and 1.3, whose IOMMU text is the
//! same) and of the two public vSVA drafts, as a fifth source and target
//! of the generic invalidation model.
//!
//! * [`Command`]: the device-readable part of every request (ATTACH,
//!   DETACH, MAP, UNMAP, PROBE; the drafts' ATTACH_TABLE and INVALIDATE),
//!   with a bit-exact little-endian codec ([`Command::decode_bytes`],
//!   [`Command::encode_bytes_into`], [`Command::byte_len`]); layouts and
//!   sources [below](crate#the-requests).
//! * [`Features`]: the negotiated feature bits, the configuration space and
//!   the [`Draft`] a device implements (drafts are not feature bits).
//! * [`status`]: the tail's status codes, the status of every refusal, and
//!   the event queue's fault record.
//! * [`VirtioIommu`]: the crate's [`Arch`](iommu_inval_core::arch::Arch)
//!   (no ring: no `RingArch`), with the lift (requests to generic
//!   operations: UNMAP and DETACH are invalidations in all but name;
//!   INVALIDATE is the seed proposal's request, `core::seed`) and the
//!   lowering (generic invalidations to INVALIDATE requests of a draft; a
//!   ratified device has none, and no invalidation is ever lowered to
//!   UNMAP; a sync lowers to nothing); [`prelude`] imports it all.
//!   docs/VIRTIO_IOMMU.md gives the mapping request by request.
//!
//! ## The requests
//!
//! The codec covers the device-readable part of each request of the
//! request queue (head and body; the device-writable part — a PROBE's
//! properties and the tail with the status — is the device's answer,
//! written by the front end), little-endian, bit-exact.
//!
//! Sources: **SPEC** = OASIS virtio specification, `device-types/iommu/
//! description.tex` (virtio 1.2 and 1.3 have the same text), section
//! "Device operations" and its subsections; **RFC21** = "[PATCH RFC v1
//! 11/15] iommu/virtio: Add headers for binding pasid table in iommu" and
//! "12/15 ... Add support for INVALIDATE request", Vivek Gautam (patches
//! by Jean-Philippe Brucker), 15 Jan 2021,
//! `<20210115121342.15093-12-vivek.gautam@arm.com>`, `-13-`; **DRAFT18**
//! = the 2018 Linux uapi header "Virtio-iommu definition v0.9-devel" (Arm)
//! used by the 2018 vSVA driver patch.
//!
//! | type | request | readable bytes | layout (byte offsets) | source |
//! |---|---|---|---|---|
//! | 1 | ATTACH | 20 | head 0, le32 `domain` 4, le32 `endpoint` 8, le32 `flags` 12, u8\[4\] `reserved` 16 | SPEC "ATTACH request" |
//! | 2 | DETACH | 20 | head 0, le32 `domain` 4, le32 `endpoint` 8, u8\[8\] `reserved` 12 | SPEC "DETACH request" |
//! | 3 | MAP | 36 | head 0, le32 `domain` 4, le64 `virt_start` 8, le64 `virt_end` 16, le64 `phys_start` 24, le32 `flags` 32 | SPEC "MAP request" |
//! | 4 | UNMAP | 28 | head 0, le32 `domain` 4, le64 `virt_start` 8, le64 `virt_end` 16, u8\[4\] `reserved` 24 | SPEC "UNMAP request" |
//! | 5 | PROBE | 72 | head 0, le32 `endpoint` 4, u8\[64\] `reserved` 8 | SPEC "PROBE request" |
//! | 6 | ATTACH_TABLE (draft) | 76 | head 0, le32 `domain` 4, le32 `endpoint` 8, le16 `format` 12, format-specific 14 | RFC21 11/15, DRAFT18 |
//! | 7 | INVALIDATE (RFC 2021) | 60 | head 0, le16 `inv_gran` 4, le16 `inv_type` 6, le16 `flags` 8, u8\[2\] 10, le32 `domain` 12, le32 `pasid` 16, u8\[4\] 20, le64 `archid` 24, le64 `virt_start` 32, le64 `nr_pages` 40, u8 `granule` 48, u8\[11\] 49 | RFC21 11/15 |
//! | 7 | INVALIDATE (2018) | 60 | head 0, le16 `scope` 4, le16 `flags` 6, le32 `domain` 8, le32 `pasid` 12, le64 `id` 16, le64 `virt_start` 24, le64 `nr_pages` 32, u8 `granule` 40, u8\[19\] 41 | DRAFT18 |
//!
//! The head is `u8 type; u8 reserved[3]`. ATTACH_TABLE's format-specific
//! part: `format` 2 (`attach_pst_arm`, both drafts): u8 `s1fmt` 14, u8
//! `s1dss` 15, le64 `s1contextptr` 16, le32 `s1cdmax` 24, u8\[48\] 28;
//! `format` 1 (`attach_pgt_arm`, DRAFT18 only): le16 `asid` 14, le64 `tcr`
//! 16, `ttbr0` 24, `ttbr1` 32, `mair` 40, u8\[28\] 48.
//!
//! Reserved bytes (R1 holds on bytes for every request):
//!
//! * those the spec says the device MUST ignore (the head's, DETACH's,
//!   PROBE's) and UNMAP's (the device MAY refuse them with S_INVAL and MAY
//!   still unmap: the front end's choice) are **kept** in the request, so
//!   that decoding and encoding give back the same bytes;
//! * ATTACH's (non-zero: the device MUST answer S_INVAL) are refused;
//! * the drafts say nothing of theirs: refused when non-zero, as ATTACH's
//!   (a driver of either draft zeroes its request buffer).
//!
//! The word form (the contract's `NativeCommand`) is the readable bytes as little-endian 64-bit words, the last one padded
//! with zero bytes (reserved: a non-zero padding byte is refused).
//!
//! ```
//! use iommu_inval_virtio::{Command, Detach};
//! // DETACH endpoint 8 from domain 3 (reserved bytes kept: the device ignores them).
//! let mut b = [0u8; 20];
//! b[0] = 2;
//! b[4] = 3;
//! b[8] = 8;
//! b[12] = 0xaa;
//! let c = Command::decode_bytes(&b).unwrap();
//! let Command::Detach(Detach { domain, endpoint, reserved, .. }) = c else { panic!() };
//! assert_eq!((domain, endpoint, reserved[0]), (3, 8, 0xaa));
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(any(feature = "std", test))]
extern crate std;

mod cmd;
#[cfg(feature = "virtqueue")]
pub mod device;
mod features;
mod layout;
pub mod probe;
pub mod status;

#[cfg(feature = "arbitrary")]
pub use arb::arbitrary_bytes;
pub use cmd::{
    len_of_type, Attach, AttachTable, Command, Detach, Invalidate, Invalidate2018, Map, Probe,
    Table, Unmap, ATTACH_F_BYPASS, FORMAT_PGTF_ARM_LPAE, FORMAT_PSTF_ARM_SMMU_V3, INVAL_F_ARCHID,
    INVAL_F_CONFIG_2018, INVAL_F_LEAF, INVAL_F_LEAF_2018, INVAL_F_PASID, INVAL_G_DOMAIN,
    INVAL_G_PASID, INVAL_G_VA, INVAL_S_DOMAIN, INVAL_S_PASID, INVAL_S_VA, INV_T_DEV_IOTLB,
    INV_T_IOTLB, INV_T_PASID, MAP_F_MMIO, MAP_F_READ, MAP_F_WRITE, MAX_BYTES, MAX_WORDS,
};
pub use features::{
    Draft, Features, CONFIG_LEN, F_ALL, F_BYPASS, F_BYPASS_CONFIG, F_DOMAIN_RANGE, F_INPUT_RANGE,
    F_MAP_UNMAP, F_MMIO, F_PROBE,
};

// Declares the modules `lift`, `lower`, `prelude` and (feature `arbitrary`) `arb`, and
// writes `impl Arch` for the unit type (docs/ARCHITECTURE.md, the contract).
iommu_inval_core::arch_impl!(
    /// virtio-iommu: the [`Arch`](iommu_inval_core::arch::Arch) of this
    /// crate. It has no ring ([`RingArch`](iommu_inval_core::arch::RingArch)):
    /// its requests are virtqueue descriptor chains. One op lowers to at
    /// most two requests whatever the budget.
    VirtioIommu,
    budget = 2
);

pub use iommu_inval_core::{Context, NativeCommand};
