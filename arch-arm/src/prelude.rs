//! One import for the common API: `use iommu_inval_arm::prelude::*;`
//! brings the architecture ([`Smmuv3`], with [`Arch`]'s `lift`, `lower`,
//! `DEFAULT_BUDGET`, `MAX_LOWERED` and [`Target`]), the command type, the
//! queue front end ([`CmdqDevice`]) and the core traits and buffers their
//! signatures use ([`iommu_inval_core::prelude`]).
//!
//! ```
//! use iommu_inval_arm::prelude::*;
//! let mut out: FixedBuf<Command, { Smmuv3::MAX_LOWERED }> = FixedBuf::new();
//! let host = Target::<Smmuv3>::new(Features::LATEST);
//! host.lower(&Op::Sync(Default::default()), &IdentityContext, &mut out).unwrap();
//! let cmd = out.get(0).unwrap();
//! assert_eq!(cmd.words(), 2);
//! assert!(!cmd.op().is_empty());
//! ```

pub use crate::{Command, Features, Smmuv3};
pub use iommu_inval_core::arch::{Arch, Target};
// The queue front end of the emulated IOMMU.
pub use crate::queue::CmdqDevice;
pub use iommu_inval_core::prelude::*;
