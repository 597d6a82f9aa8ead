//! Benchmarks, Linux-driver reference lowerings and allocation checks for
//! iommu-inval.
//!
//! * [`linux`]: what the Linux SMMUv3, VT-d and AMD-Vi drivers emit for one
//!   range invalidation (reimplemented from their documented behaviour).
//! * [`cases`]: the fixed set of ranges the efficiency report measures.
//! * [`efficiency`]: commands and over-invalidated bytes, library vs Linux.
//! * [`streams`]: realistic generic operation streams (unmaps, SVA, teardown).
#![forbid(unsafe_code)]

pub mod batch_report;
pub mod cases;
pub mod efficiency;
pub mod linux;
pub mod streams;
pub mod targets;
