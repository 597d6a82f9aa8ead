//! Benchmarks, Linux-driver reference lowerings and allocation checks for
//! iommu-inval.
//!
//! * [`linux`]: what the Linux SMMUv3, VT-d and AMD-Vi drivers emit for one
//!   range invalidation (reimplemented from their documented behaviour).
//! * [`cases`]: the fixed set of ranges the efficiency report measures.
//! * [`efficiency`]: commands and over-invalidated bytes, library vs Linux,
//!   both measured with the library's footprints.
//! * [`streams`]: realistic generic operation streams (unmaps, SVA, teardown).
//! * [`targets`]: one module per architecture with the same shape, the
//!   example-stream mixes (`examples/*.cmds`) and the efficiency targets.
//! * [`frontend`]: the guest memory and queue registers of the front-end
//!   benches, over `CellMemory` and over rust-vmm's `GuestMemoryMmap`.
//! * [`batch_report`]: batch lowering against one-by-one lowering.
//! * [`batching`]: coalescing and lowering in one pass (`lower_batch`).
//! * [`host_calls`]: host calls and host entries per guest barrier through
//!   the front ends and the iommufd / host-queue back ends.
//! * [`virtio`]: the virtio-iommu requests of the `virtio` bench and the
//!   allocation check.
//!
//! The benches (`benches/`: codec, lift_lower, convert, batch) use divan;
//! `tests/no_alloc.rs` proves the hot paths allocate nothing;
//! `scripts/bench.sh` runs it all and writes docs/PERFORMANCE.md.
//!
//! ```
//! use iommu_inval_bench::linux;
//! // 37 pages with range invalidation: 5 pages, then 32 (Linux splits from
//! // the low bits of the page count).
//! let l = linux::smmu_tlbi(0x1000_0000, 37 * 0x1000, 0x1000, 12, true, true);
//! assert_eq!(l.count(), 2);
//! ```
#![forbid(unsafe_code)]

pub mod batch_report;
pub mod batching;
pub mod cases;
pub mod efficiency;
pub mod frontend;
pub mod host_calls;
pub mod linux;
pub mod streams;
pub mod targets;
pub mod virtio;
