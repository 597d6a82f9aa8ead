//! The core names an architecture crate's prelude re-exports beside its own
//! (`use iommu_inval_arm::prelude::*;` brings these too): the command and
//! feature traits, the model's [`Op`], the id-resolving [`Context`] and the
//! output buffers of lift and lower.

pub use crate::{
    ArchId, Context, DecodeError, FeatureSet, FieldValue, FixedBuf, IdentityContext, LowerError,
    NativeCommand, Op, Outcome, Sink,
};
