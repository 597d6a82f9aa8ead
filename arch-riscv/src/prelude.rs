//! One import for the common API: `use iommu_inval_riscv::prelude::*;`
//! brings the architecture ([`RiscV`], with [`Arch`]'s `lift`, `lower`,
//! `DEFAULT_BUDGET`, `MAX_LOWERED` and [`Target`]), the command type, the
//! queue front end ([`CqDevice`]) and the core traits and buffers their
//! signatures use ([`iommu_inval_core::prelude`]).
//!
//! ```
//! use iommu_inval_riscv::prelude::*;
//! let mut out: FixedBuf<Command, { RiscV::MAX_LOWERED }> = FixedBuf::new();
//! let host = Target::<RiscV>::new(Features::ALL);
//! host.lower(&Op::Sync(Default::default()), &IdentityContext, &mut out).unwrap();
//! let cmd = out.get(0).unwrap();
//! assert_eq!((cmd.op(), cmd.words()), ("iofence_c", 2));
//! ```

pub use crate::{Command, Features, RiscV};
pub use iommu_inval_core::arch::{Arch, Target};
// The queue front end of the emulated IOMMU.
pub use crate::queue::CqDevice;
pub use iommu_inval_core::prelude::*;
