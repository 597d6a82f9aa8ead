//! One import for the common API: `use iommu_inval_amd::prelude::*;`
//! brings the queue front end ([`CmdBufDevice`]), the command type, [`lift()`], [`lower()`] and the core traits and
//! buffers their signatures use ([`iommu_inval_core::prelude`]). (The
//! command type also has inherent [`Command::op`](iommu_inval_core::NativeCommand::op) and [`Command::words`](iommu_inval_core::NativeCommand::words),
//! so those need no import.)
//!
//! ```
//! use iommu_inval_amd::prelude::*;
//! let mut out: FixedBuf<Command, MAX_LOWERED> = FixedBuf::new();
//! lower(&Op::Sync(Default::default()), &Features::REV2, DEFAULT_BUDGET, &IdentityContext, &mut out).unwrap();
//! let cmd = out.get(0).unwrap();
//! assert_eq!(cmd.words(), 2);
//! assert!(!cmd.op().is_empty());
//! ```

pub use crate::{lift, lower, max_lowered, Command, Features, DEFAULT_BUDGET, MAX_LOWERED};
// The queue front end of the emulated IOMMU.
pub use crate::queue::CmdBufDevice;
pub use iommu_inval_core::prelude::*;
