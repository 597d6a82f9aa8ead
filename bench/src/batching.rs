//! Coalescing and lowering in one pass, for the batch benches and report:
//! [`coalesce`] streaming its output through an architecture's lowering,
//! without an intermediate buffer.

use iommu_inval_core::batch::{coalesce, BatchError, BatchOptions, BatchStats};
use iommu_inval_core::model::{Inval, Op, Outcome};
use iommu_inval_core::sink::{Full, Sink};
use iommu_inval_core::LowerError;

/// Why [`lower_batch`] stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchLowerError {
    /// Coalescing failed (scratch too small).
    Batch(BatchError),
    /// Lowering op number `index` of the *coalesced* sequence failed.
    Lower {
        /// Index in the coalesced sequence.
        index: usize,
        /// The error.
        error: LowerError,
    },
}

/// A sink of generic ops that lowers each into a native sink.
struct LowerSink<'a, T, F> {
    lower: F,
    out: &'a mut dyn Sink<T>,
    outcome: Outcome,
    index: usize,
    error: Option<LowerError>,
}

impl<T, F> Sink<Op> for LowerSink<'_, T, F>
where
    F: FnMut(&Op, &mut dyn Sink<T>) -> Result<Outcome, LowerError>,
{
    fn push(&mut self, op: Op) -> Result<(), Full> {
        match (self.lower)(&op, self.out) {
            Ok(o) => {
                self.outcome.merge(o);
                self.index += 1;
                Ok(())
            }
            Err(e) => {
                self.error = Some(e);
                Err(Full)
            }
        }
    }
}

/// Coalesce `ops` (see [`coalesce`]) and lower the result with `lower` (an
/// architecture's `lower` with its caps and context bound), streaming into
/// `out` without an intermediate buffer. Returns the merged outcome and the
/// coalescing statistics.
///
/// ```
/// use iommu_inval_bench::batching::lower_batch;
/// use iommu_inval_core::batch::BatchOptions;
/// use iommu_inval_core::model::*;
/// use iommu_inval_core::sink::{CountSink, Sink};
///
/// // A toy target: one "command" per op.
/// let lower = |op: &Op, out: &mut dyn Sink<u8>| -> Result<Outcome, iommu_inval_core::LowerError> {
///     out.push(if op.is_sync() { 0 } else { 1 })?;
///     Ok(Outcome { emitted: 1, ..Outcome::default() })
/// };
/// let inv = Inval::new(Caches::IOTLB).domain(DomainSel::One(2));
/// let ops = [Op::Inval(inv), Op::Inval(inv)];
/// let mut scratch = [Inval::new(Caches::empty()); 8];
/// let mut out = CountSink::default();
/// let (outcome, stats) = lower_batch(&ops, &mut scratch, BatchOptions::default(), lower, &mut out).unwrap();
/// assert_eq!(out.0, 2); // one invalidation, one sync
/// assert_eq!(outcome.emitted, 2);
/// assert_eq!(stats.merged, 1);
/// ```
pub fn lower_batch<T, F>(
    ops: &[Op],
    scratch: &mut [Inval],
    opts: BatchOptions,
    lower: F,
    out: &mut dyn Sink<T>,
) -> Result<(Outcome, BatchStats), BatchLowerError>
where
    F: FnMut(&Op, &mut dyn Sink<T>) -> Result<Outcome, LowerError>,
{
    let mut ls = LowerSink {
        lower,
        out,
        outcome: Outcome::default(),
        index: 0,
        error: None,
    };
    match coalesce(ops, scratch, opts, &mut ls) {
        Ok(stats) => Ok((ls.outcome, stats)),
        Err(BatchError::Full) => Err(BatchLowerError::Lower {
            index: ls.index,
            error: ls.error.unwrap_or(LowerError::BufferFull),
        }),
        Err(e) => Err(BatchLowerError::Batch(e)),
    }
}
