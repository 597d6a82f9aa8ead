//! One import for the common API: `use iommu_inval_amd::prelude::*;`
//! brings the architecture ([`AmdVi`], with [`Arch`]'s `lift`, `lower`,
//! `DEFAULT_BUDGET`, `MAX_LOWERED` and [`Target`]), the command type, the
//! queue front end ([`CmdBufDevice`]) and the core traits and buffers their
//! signatures use ([`iommu_inval_core::prelude`]).
//!
//! ```
//! use iommu_inval_amd::prelude::*;
//! let mut out: FixedBuf<Command, { AmdVi::MAX_LOWERED }> = FixedBuf::new();
//! let host = Target::<AmdVi>::new(Features::REV2);
//! host.lower(&Op::Sync(Default::default()), &IdentityContext, &mut out).unwrap();
//! let cmd = out.get(0).unwrap();
//! assert_eq!(cmd.words(), 2);
//! assert!(!cmd.op().is_empty());
//! ```

pub use crate::{AmdVi, Command, Features};
pub use iommu_inval_core::arch::{Arch, Target};
// The queue front end of the emulated IOMMU.
pub use crate::queue::CmdBufDevice;
pub use iommu_inval_core::prelude::*;
