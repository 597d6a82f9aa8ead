//! One import for the common API: `use iommu_inval_vtd::prelude::*;`
//! brings the architecture ([`Vtd`], with [`Arch`]'s `lift`, `lower`,
//! `DEFAULT_BUDGET`, `MAX_LOWERED` and [`Target`]), the command type, the
//! queue front end ([`InvQueue`]) and the core traits and buffers their
//! signatures use ([`iommu_inval_core::prelude`]).
//!
//! ```
//! use iommu_inval_vtd::prelude::*;
//! let mut out: FixedBuf<Command, { Vtd::MAX_LOWERED }> = FixedBuf::new();
//! let host = Target::<Vtd>::new(Features::SCALABLE);
//! host.lower(&Op::Sync(Default::default()), &IdentityContext, &mut out).unwrap();
//! let cmd = out.get(0).unwrap();
//! assert_eq!((cmd.op(), cmd.words()), ("inv_wait_dsc", 4));
//! ```

pub use crate::{Command, Features, Vtd};
pub use iommu_inval_core::arch::{Arch, Target};
// The queue front end of the emulated IOMMU.
pub use crate::queue::InvQueue;
pub use iommu_inval_core::prelude::*;
