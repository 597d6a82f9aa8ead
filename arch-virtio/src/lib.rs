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
//!   sources in [`cmd`](crate#the-requests).
//! * [`Features`]: the negotiated feature bits, the configuration space and
//!   the [`Draft`] a device implements (drafts are not feature bits).
//! * [`status`]: the tail's status codes, the status of every refusal, and
//!   the event queue's fault record.
//! * The lift (requests to generic operations: UNMAP and DETACH are
//!   invalidations in all but name; INVALIDATE is the seed proposal's
//!   request) and the lowering (generic invalidations to INVALIDATE
//!   requests of a draft; a ratified device has none).
//!
//! ## The requests
//!
//! See the table of the `cmd` module, re-exported here: every request's
//! readable bytes, offsets and source (the OASIS specification's section,
//! or the draft's message and date).
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

#[cfg(feature = "arbitrary")]
mod arb;
// The word form and named fields, the lift and the lowering are wired into
// `core::arch::Arch` once the contract has a virtio-iommu architecture
// (`arch_impl!`); until then only the tests call them.
#[allow(dead_code)]
mod cmd;
mod features;
#[allow(dead_code)]
mod lift;
#[allow(dead_code)]
mod lower;
pub mod status;

#[cfg(feature = "arbitrary")]
pub use arb::arbitrary_bytes;
pub use cmd::{
    len_of_type, Attach, AttachTable, Command, Detach, Invalidate, Invalidate2018, Map, Probe,
    Table, Unmap, ATTACH_F_BYPASS, FORMAT_PGTF_ARM_LPAE, FORMAT_PSTF_ARM_SMMU_V3, INVAL_F_ARCHID,
    INVAL_F_CONFIG_2018, INVAL_F_LEAF, INVAL_F_LEAF_2018, INVAL_F_PASID, INVAL_G_DOMAIN,
    INVAL_G_PASID, INVAL_G_VA, INVAL_S_DOMAIN, INVAL_S_PASID, INVAL_S_VA, INV_T_DEV_IOTLB,
    INV_T_IOTLB, INV_T_PASID, MAP_F_MMIO, MAP_F_READ, MAP_F_WRITE, MAX_BYTES, MAX_WORDS, T_ATTACH,
    T_ATTACH_TABLE, T_DETACH, T_INVALIDATE, T_MAP, T_PROBE, T_UNMAP,
};
pub use features::{
    Draft, Features, CONFIG_LEN, F_ALL, F_BYPASS, F_BYPASS_CONFIG, F_DOMAIN_RANGE, F_INPUT_RANGE,
    F_MAP_UNMAP, F_MMIO, F_PROBE,
};
