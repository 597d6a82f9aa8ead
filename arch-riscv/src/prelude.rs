//! One import for the common API: `use iommu_inval_riscv::prelude::*;`
//! brings the queue front end ([`CqDevice`]), the command type, [`lift()`], [`lower()`] and the core traits and
//! buffers their signatures use ([`iommu_inval_core::prelude`]). (The command type also has inherent
//! [`Command::op`](iommu_inval_core::NativeCommand::op) and [`Command::words`](iommu_inval_core::NativeCommand::words), so those need no import.)
//!
//! ```
//! use iommu_inval_riscv::prelude::*;
//! let mut out: FixedBuf<Command, MAX_LOWERED> = FixedBuf::new();
//! lower(&Op::Sync(Default::default()), &Features::ALL, DEFAULT_BUDGET, &IdentityContext, &mut out).unwrap();
//! let cmd = out.get(0).unwrap();
//! assert_eq!((cmd.op(), cmd.words()), ("iofence_c", 2));
//! ```

pub use crate::{lift, lower, max_lowered, Command, Features, DEFAULT_BUDGET, MAX_LOWERED};
// The queue front end of the emulated IOMMU.
pub use crate::queue::CqDevice;
pub use iommu_inval_core::prelude::*;
