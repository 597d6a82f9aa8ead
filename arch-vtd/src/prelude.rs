//! One import for the common API: `use iommu_inval_vtd::prelude::*;`
//! brings the queue front end ([`InvQueue`]), the descriptor type, [`lift()`], [`lower()`] and the core traits and
//! buffers their signatures use ([`iommu_inval_core::prelude`]).
//! (`Command` has inherent `op()` and `words()`, so those need no import.)
//!
//! ```
//! use iommu_inval_vtd::prelude::*;
//! let mut out: FixedBuf<Command, MAX_LOWERED> = FixedBuf::new();
//! lower(&Op::Sync(Default::default()), &Features::SCALABLE, DEFAULT_BUDGET, &IdentityContext, &mut out).unwrap();
//! let d = out.get(0).unwrap();
//! assert_eq!((d.op(), d.words()), ("inv_wait_dsc", 4));
//! ```

pub use crate::{lift, lower, max_lowered, Command, Features, DEFAULT_BUDGET, MAX_LOWERED};
// The queue front end of the emulated IOMMU.
pub use crate::queue::InvQueue;
pub use iommu_inval_core::prelude::*;
