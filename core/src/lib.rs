//! # iommu-inval-core
//!
//! The architecture-neutral model of IOMMU cache invalidation shared by the
//! four architecture crates of `iommu-inval` (SMMUv3, VT-d, AMD-Vi and the
//! RISC-V IOMMU):
//!
//! * [`model`]: the generic operations ([`Op`]): invalidations of a set of
//!   caches ([`Caches`]) for a stage, domain, PASID selection, device
//!   selection and address range, plus the non-invalidation operations that
//!   share the queues (sync, prefetch, page-request response, stall
//!   resume/terminate).
//! * [`range`]: range math used by every architecture (aligned power-of-two
//!   blocks, SMMU `(num+1)*2^scale` chunks, the PCIe ATS size encoding).
//! * [`footprint`] (feature `alloc`): the set of cache entries an operation
//!   removes, with `covers`, equality and an excess measure.
//! * [`context`]: the [`Context`] trait resolving hardware ids, and (feature
//!   `json`) the JSON [`Topology`](context::Topology).
//! * Errors, one type per layer, each `#[non_exhaustive]` and a
//!   [`core::error::Error`] (in `no_std` too) whose `source()` is the error
//!   it wraps: decoding [`DecodeError`] (an [`ErrorKind`], the CLI's JSON
//!   `kind`; the word and bit mask at fault; the name of the field or rule;
//!   named fields: [`FieldError`], a checked copy: [`CopyError`]), ranges
//!   [`RangeError`], lift and lower [`LowerError`], guest memory
//!   [`MemError`], the back end [`BackendError`] (an errno, or with `std` an
//!   `io::Error`'s kind), a queue front end [`device::FaultCause`], whose
//!   architected error is the queue's
//!   [`QueueEngine::HwError`](device::QueueEngine::HwError), a producer
//!   [`device::ProduceError`]. They are at the crate root.
//! * [`arch`]: the umbrella trait an architecture implements once
//!   ([`arch::Arch`]: command, features, queue, lift, lower), so code over
//!   every architecture is written once.
//! * [`event`]: what an IOMMU's event, fault and page-request records say
//!   ([`event::Event`]), and the outstanding page request groups that link
//!   a guest's page response to the host's request.
//! * [`native`]: the trait every native command type implements
//!   ([`NativeCommand`], with its decoding [`FeatureSet`]), used by the
//!   CLI, the property tests and the fuzzers to handle every architecture
//!   with one code path.
//! * [`prelude`]: the core names every architecture's prelude re-exports.
//! * [`lift`]: the half of every lift that is not an architecture's: its
//!   output and outcome, a native domain's generic domain, a native tag's
//!   PASIDs.
//! * [`lower`]: the half of every lowering that is not an architecture's:
//!   the phased [`lower::Emitter`] and the enumeration of a domain's devices
//!   and PASIDs.
//! * [`sink`]: allocation-free output buffers for lift and lower.
//! * [`flags!`]: how the model's flag sets ([`Caches`], [`Stages`],
//!   [`Widened`]) are declared, with the name of each flag beside it, and
//!   [`Flags`], what every such set has.
//! * [`queue`]: the guest-memory trait the queue front ends read and write
//!   through (and, feature `vm-memory`, its adapter for rust-vmm memory).
//! * [`device`]: the command-queue front end of an emulated IOMMU
//!   ([`device::CommandQueue`]), its [`device::Backend`]
//!   trait and the back ends shipped with it.
//! * [`display`]: the readable one-line meaning of an op (`Display` for
//!   [`Op`] and its parts), as the CLI's `decode` prints it.
//! * [`seed`]: the kernel SVA invalidate proposal this model starts from, and
//!   its one-to-one mapping (virtio-iommu's draft INVALIDATE request lifts
//!   through it).
//! * `strict_json` (feature `json`): JSON parsing that refuses duplicate keys.
//!
//! ```
//! use iommu_inval_core::model::*;
//! use iommu_inval_core::range::AddrRange;
//!
//! // Invalidate 2 MiB of PASID 7's stage-1 translations in domain 1, leaf only.
//! let op = Inval::new(Caches::IOTLB | Caches::LEAF)
//!     .stage(Stages::S1)
//!     .domain(DomainSel::One(1))
//!     .pasid(PasidSel::One(7))
//!     .range(AddrRange::new(0x4000_0000, 0x20_0000).unwrap());
//! assert!(op.caches.contains(Caches::LEAF));
//! assert_eq!(op.range.len(), Some(0x20_0000));
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

#[cfg(feature = "arbitrary")]
pub mod arb;
pub mod arch;
pub mod batch;
pub mod context;
pub mod device;
pub mod display;
mod error;
pub mod event;
mod flags;
#[cfg(feature = "alloc")]
pub mod footprint;
pub mod lift;
pub mod lower;
pub mod model;
pub mod native;
pub mod prelude;
pub mod queue;
pub mod range;
pub mod record;
pub mod ring;
pub mod seed;
pub mod sink;
#[cfg(feature = "json")]
pub mod strict_json;

pub use context::{Context, IdentityContext};
pub use device::{Backend, BackendError, CommandQueue, Progress};
pub use error::{DecodeError, ErrorKind, LowerError, RangeError};
pub use flags::Flags;
pub use lower::Budget;
pub use model::{
    Barrier, Caches, DeviceSel, DomainSel, Hints, Inval, Op, PageResponse, PasidSel, Prefetch,
    Regime, RespCode, Stages, StallAction, Store,
};
pub use model::{Outcome, Widened};
pub use native::{
    copy_checked, ArchId, CopyError, FeatureSet, FieldError, FieldValue, NativeCommand,
};
pub use queue::{CellMemory, MemError, QueueMemory, SliceMemory};
pub use range::AddrRange;
pub use sink::{FixedBuf, Sink};
