//! The umbrella contract of an architecture: [`Arch`], implemented once per
//! architecture crate by a unit type (`iommu_inval_arm::Smmuv3`,
//! `iommu_inval_vtd::Vtd`, `iommu_inval_amd::AmdVi`,
//! `iommu_inval_riscv::RiscV`).
//!
//! It ties the architecture's pieces together: its command type
//! ([`NativeCommand`]), its one capability type ([`FeatureSet`]: what an
//! IOMMU implements, gating decoding and lowering alike), its queue front
//! end, and its lift and lower. Code that serves every architecture (the
//! facade's dispatch, the property oracles, the CLI, the fuzz targets) is
//! written once, generic over `A: Arch`.
//!
//! ```
//! use iommu_inval_core::arch::{Arch, Target};
//! use iommu_inval_core::{FixedBuf, IdentityContext, LowerError, Op};
//!
//! /// One generic op for the default host of any architecture, without allocating.
//! fn lowered<A: Arch>(op: &Op) -> Result<FixedBuf<A::Command, 8>, LowerError> {
//!     let mut out = FixedBuf::new();
//!     Target::<A>::default().lower(op, &IdentityContext, &mut out)?;
//!     Ok(out)
//! }
//! ```

use crate::context::Context;
use crate::device::QueueProducer;
use crate::error::LowerError;
use crate::event::{Event, Record};
use crate::lower::Budget;
use crate::model::{Caches, Op, Outcome};
use crate::native::{ArchId, FeatureSet, NativeCommand};
use crate::sink::Sink;

/// What an architecture crate's `queue.rs` implements and names, from one
/// place (`use iommu_inval_core::arch::prelude::*;`): the queue traits
/// ([`QueueEngine`](crate::device::QueueEngine),
/// [`CommandQueue`](crate::device::CommandQueue),
/// [`QueueProducer`]), what a completion and a fault return
/// ([`Signals`](crate::device::Signals),
/// [`FaultReport`](crate::device::FaultReport) of a
/// [`FaultCause`](crate::device::FaultCause)), the [`Ring`](crate::ring::Ring)
/// its registers address, the command trait, the sync it completes and
/// the errors its steps return.
pub mod prelude {
    pub use crate::device::{
        BackendError, CommandQueue, FaultCause, FaultReport, QueueEngine, QueueProducer, Signals,
    };
    pub use crate::error::{DecodeError, ErrorKind};
    pub use crate::model::Barrier;
    pub use crate::native::NativeCommand;
    pub use crate::queue::{MemError, QueueMemory};
    pub use crate::ring::Ring;
}

/// One architecture: its command set, capabilities, queue, lift and lower.
pub trait Arch:
    Sized + Copy + Eq + core::hash::Hash + core::fmt::Debug + Default + 'static
{
    /// Its capability type (decoding gates and lowering targets).
    type Features: FeatureSet;
    /// Its native command.
    type Command: NativeCommand<Features = Self::Features>;
    /// Which architecture ([`NativeCommand::ARCH`] of its command).
    const ID: ArchId = <Self::Command as NativeCommand>::ARCH;
    /// The lowering budget when none is chosen.
    const DEFAULT_BUDGET: Budget;
    /// [`Arch::max_lowered`] of [`Arch::DEFAULT_BUDGET`], as a constant: the
    /// capacity of a [`FixedBuf`](crate::FixedBuf) that one op's default
    /// lowering never fills (`FixedBuf<Cmd, { <Smmuv3 as Arch>::MAX_LOWERED }>`).
    const MAX_LOWERED: usize;

    /// Native command → generic ops, appended to `out` (never narrower
    /// than the command; widening reported).
    fn lift<C: Context + ?Sized>(
        cmd: &Self::Command,
        ctx: &C,
        out: &mut dyn Sink<Op>,
    ) -> Result<Outcome, LowerError>;

    /// Generic op → native commands for a host with `features`, within
    /// `budget`, appended to `out` (never under-invalidating).
    fn lower<C: Context + ?Sized>(
        op: &Op,
        features: &Self::Features,
        budget: Budget,
        ctx: &C,
        out: &mut dyn Sink<Self::Command>,
    ) -> Result<Outcome, LowerError>;

    /// The most commands [`Arch::lower`] writes for one op within `budget`:
    /// a buffer of this capacity never fills.
    fn max_lowered(budget: Budget) -> usize;

    /// The caches a host with `features` does not have: their
    /// invalidations are dropped by [`Arch::lower`] (reported), so a
    /// comparison of footprints leaves them out.
    fn lacks(features: &Self::Features) -> Caches;

    /// The cache entries `cmd` removes: the union of the footprints of its
    /// lift (a lift error removes nothing).
    #[cfg(feature = "alloc")]
    fn footprint<C: Context + ?Sized>(cmd: &Self::Command, ctx: &C) -> crate::footprint::Footprint {
        let mut ops = alloc::vec::Vec::new();
        let _ = Self::lift(cmd, ctx, &mut ops);
        crate::footprint::Footprint::of_ops(ops.iter(), ctx)
    }
}

/// An architecture whose commands come through a ring of fixed-size slots
/// with head and tail registers (SMMUv3, VT-d, AMD-Vi, RISC-V): its queue
/// front end. virtio-iommu is an [`Arch`] without one: its requests are
/// descriptor chains of a virtqueue, whose front end is apart.
pub trait RingArch: Arch {
    /// Its command queue front end (consumer and producer).
    type Queue: QueueProducer<Arch = Self>;
}

/// An architecture whose IOMMU reports events and page requests to software
/// through records (issue 32; docs/EVENTS.md): its record types and their
/// lift and lower to the neutral [`Event`].
///
/// The records are codecs on [`NativeCommand`] (decode, encode, named
/// fields; the op names are the record types' names in the architecture's
/// specification), so the CLI, property and fuzz machinery serve them as
/// they serve commands. `lift_record` reads a record as the host IOMMU wrote it:
/// its device id becomes the guest's through [`Context::guest_device`] (a
/// device the guest does not see is [`LowerError::NoEquivalent`]).
/// `lower_record` writes a record for the guest from the model: what the record cannot
/// hold is [`LowerError::NoEquivalent`], never dropped. On one
/// architecture, `lower(lift(r)) == r` for every record that lifts (with
/// the identity context).
pub trait EventArch: Arch {
    /// Its event (fault) record.
    type EventRecord: NativeCommand;
    /// Its page request record.
    type PageRequestRecord: NativeCommand;

    /// A host record → the model (a page request record lifts to
    /// [`Event::PageRequest`]).
    fn lift_record<C: Context + ?Sized>(
        rec: &Record<Self::EventRecord, Self::PageRequestRecord>,
        ctx: &C,
    ) -> Result<Event, LowerError>;
    /// The model → a record: [`Event::PageRequest`] to a page request
    /// record, the rest to event records.
    fn lower_record<C: Context + ?Sized>(
        event: &Event,
        ctx: &C,
    ) -> Result<Record<Self::EventRecord, Self::PageRequestRecord>, LowerError>;
}

/// Architecture `A` as a lowering target: the host's features and the
/// lowering budget. `Default` is [`FeatureSet::HOST`] with
/// [`Arch::DEFAULT_BUDGET`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Target<A: Arch> {
    /// The host IOMMU's features.
    pub features: A::Features,
    /// The lowering policy.
    pub budget: Budget,
}

impl<A: Arch> Default for Target<A> {
    fn default() -> Self {
        Target {
            features: <A::Features as FeatureSet>::HOST,
            budget: A::DEFAULT_BUDGET,
        }
    }
}

impl<A: Arch> Target<A> {
    /// `features` with the architecture's default budget.
    pub fn new(features: A::Features) -> Self {
        Target {
            features,
            budget: A::DEFAULT_BUDGET,
        }
    }
    /// `self` with a budget of `max_cmds` commands.
    pub fn max_cmds(self, max_cmds: usize) -> Self {
        Target {
            budget: Budget::new(max_cmds),
            ..self
        }
    }
    /// [`Arch::lower`] for this host.
    pub fn lower<C: Context + ?Sized>(
        &self,
        op: &Op,
        ctx: &C,
        out: &mut dyn Sink<A::Command>,
    ) -> Result<Outcome, LowerError> {
        A::lower(op, &self.features, self.budget, ctx, out)
    }
}

/// Declares an architecture crate's conventional modules, its unit type and
/// its [`Arch`] implementation, with `budget` commands as
/// [`Arch::DEFAULT_BUDGET`]; invoked once, in the crate's `lib.rs`:
/// `arch_impl!(/** doc */ Smmuv3, queue::CmdqDevice, budget = 64);`.
///
/// The modules (the checklist of docs/ARCHITECTURE.md): `lift` and `lower`
/// (private), `prelude` and `queue` (public) and, with the crate's
/// `arbitrary` feature, `arb` with its `arbitrary_words` re-exported. The
/// implementation takes `crate::Command`, `crate::Features`,
/// `crate::lift::lift` (writing through the [`Emit`](crate::lift::Emit) the
/// macro builds), `crate::lower::lower_inval` (invalidations, given as one
/// [`InvalJob`](crate::lower::InvalJob); every
/// other op goes through the unit type's [`Lowering`](crate::lower::Lowering)
/// impl, through `core::lower::lower`),
/// `crate::lower::max_lowered` (a `const fn`) and `crate::lower::lacks`,
/// none of them public.
// `crate::` names the invoking architecture crate's items, by design.
#[allow(clippy::crate_in_macro_def)]
#[macro_export]
macro_rules! arch_impl {
    (@arch $(#[$m:meta])* $name:ident, budget = $budget:expr) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub struct $name;

        impl $crate::arch::Arch for $name {
            type Features = crate::Features;
            type Command = crate::Command;
            const DEFAULT_BUDGET: $crate::lower::Budget = $crate::lower::Budget::new($budget);
            const MAX_LOWERED: usize = crate::lower::max_lowered(Self::DEFAULT_BUDGET);
            // Inlined into its caller, so that a caller with a concrete
            // sink (the facade's `Vec`, the front end's batch) calls its
            // `push` directly.
            #[inline(always)]
            fn lift<C: $crate::Context + ?Sized>(
                cmd: &crate::Command,
                ctx: &C,
                out: &mut dyn $crate::Sink<$crate::Op>,
            ) -> Result<$crate::Outcome, $crate::LowerError> {
                let mut e = $crate::lift::Emit::new(out);
                crate::lift::lift(cmd, ctx, &mut e)?;
                Ok(e.outcome())
            }
            #[inline]
            fn lower<C: $crate::Context + ?Sized>(
                op: &$crate::Op,
                features: &crate::Features,
                budget: $crate::lower::Budget,
                ctx: &C,
                out: &mut dyn $crate::Sink<crate::Command>,
            ) -> Result<$crate::Outcome, $crate::LowerError> {
                $crate::lower::lower::<Self, C>(
                    op,
                    features,
                    budget,
                    ctx,
                    out,
                    crate::lower::lower_inval,
                )
            }
            fn max_lowered(budget: $crate::lower::Budget) -> usize {
                crate::lower::max_lowered(budget)
            }
            fn lacks(features: &crate::Features) -> $crate::model::Caches {
                crate::lower::lacks(features)
            }
        }
    };
    // An architecture without a ring (virtio-iommu): no `queue` module.
    ($(#[$m:meta])* $name:ident, budget = $budget:expr) => {
        mod lift;
        mod lower;
        pub mod prelude;
        #[cfg(feature = "arbitrary")]
        mod arb;

        $crate::arch_impl!(@arch $(#[$m])* $name, budget = $budget);
    };
    ($(#[$m:meta])* $name:ident, $queue:ty, budget = $budget:expr) => {
        mod lift;
        mod lower;
        pub mod prelude;
        pub mod queue;
        #[cfg(feature = "arbitrary")]
        mod arb;
        #[cfg(feature = "arbitrary")]
        pub use arb::arbitrary_words;

        $crate::arch_impl!(@arch $(#[$m])* $name, budget = $budget);

        impl $crate::arch::RingArch for $name {
            type Queue = $queue;
        }
    };
}
