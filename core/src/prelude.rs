//! The core names every architecture's prelude re-exports beside its own
//! (`use iommu_inval_arm::prelude::*;` brings these too): the command and
//! feature traits, the model's [`Op`], the id-resolving [`Context`] (and,
//! feature `json`, the `Topology` file), the
//! output buffers of lift and lower, and what a VMM wires a queue front end
//! with: [`CommandQueue`], the guest memory ([`QueueMemory`], feature
//! `vm-memory`: the rust-vmm adapter `VmMemory`), the [`Backend`] and the
//! back end that lowers to a host queue ([`LowerToHost`] over a
//! [`QueueProducer`]).
//!
//! ```
//! use iommu_inval_core::prelude::*;
//! struct Count(usize);
//! impl Backend for Count {
//!     fn execute(&mut self, ops: &[Op]) -> Result<(), BackendError> {
//!         self.0 += ops.len();
//!         Ok(())
//!     }
//! }
//! let mut b = Count(0);
//! b.execute(&[]).unwrap();
//! assert_eq!(b.0, 0);
//! ```

pub use crate::{
    ArchId, Context, DecodeError, FeatureSet, FieldValue, FixedBuf, Flags, IdentityContext,
    LowerError, NativeCommand, Op, Outcome, Sink,
};

pub use crate::device::{
    Backend, BackendError, CommandQueue, LowerToHost, ProduceError, Progress, QueueProducer,
};
pub use crate::queue::{MemError, QueueMemory};
// Records travelling from the host to the guest (docs/EVENTS.md).
pub use crate::event::{Event, PageRequest, PageRequestGroups};

#[cfg(feature = "json")]
pub use crate::context::Topology;
#[cfg(feature = "vm-memory")]
pub use crate::queue::VmMemory;
