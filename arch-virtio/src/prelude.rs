//! One import for the common API: `use iommu_inval_virtio::prelude::*;`
//! brings the architecture ([`VirtioIommu`], with [`Arch`]'s `lift`,
//! `lower`, `DEFAULT_BUDGET`, `MAX_LOWERED` and [`Target`]), the request
//! type, the features and the core traits and buffers their signatures use
//! ([`iommu_inval_core::prelude`]).
//!
//! ```
//! use iommu_inval_virtio::prelude::*;
//! use iommu_inval_core::model::*;
//! // A guest's UNMAP lifts to the IOTLB and device-TLB entries of its range.
//! let mut b = [0u8; 28];
//! b[0] = 4;
//! b[4] = 1;
//! b[16..24].copy_from_slice(&0xfffu64.to_le_bytes());
//! let unmap = Command::decode_bytes(&b).unwrap();
//! let mut ops: FixedBuf<Op, 4> = FixedBuf::new();
//! VirtioIommu::lift(&unmap, &IdentityContext, &mut ops).unwrap();
//! assert!(matches!(ops.get(1), Some(Op::Sync(_))));
//! // A device of the 2021 RFC takes it back as one INVALIDATE; a ratified
//! // device has no invalidation.
//! let Some(Op::Inval(i)) = ops.get(0) else { panic!() };
//! let s1 = Op::Inval(i.stage(Stages::S1).pasid(PasidSel::One(3)));
//! let mut out: FixedBuf<Command, { VirtioIommu::MAX_LOWERED }> = FixedBuf::new();
//! Target::<VirtioIommu>::new(Features::VSVA_2021).lower(&s1, &IdentityContext, &mut out).unwrap();
//! assert_eq!(out.get(0).map(|c| c.op()), Some("INVALIDATE"));
//! assert!(Target::<VirtioIommu>::default().lower(&s1, &IdentityContext, &mut out).is_err());
//! ```

pub use crate::{Command, Draft, Features, VirtioIommu};
pub use iommu_inval_core::arch::{Arch, Target};
pub use iommu_inval_core::prelude::*;
