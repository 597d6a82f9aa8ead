//! Batch lowering: coalesce a sequence of generic operations before lowering.
//!
//! The seed proposal gathers several invalidations into one request. Lowered
//! one by one, every request pays its own commands and its own syncs
//! (config → sync → IOTLB → sync → device TLB → sync). [`coalesce`] rewrites
//! a sequence of [`Op`]s into an equivalent, shorter one:
//!
//! * **Barriers stay.** A *run* is a maximal stretch of [`Op::Inval`]s. Every
//!   other op (an input [`Op::Sync`], a prefetch, a page response, a stall
//!   command) ends the run and is emitted unchanged, after all the output of
//!   the run; nothing moves across it.
//! * **Stage order.** Within a run, each invalidation is split by stage: the
//!   configuration caches (`CONFIG_DEVICE`, `CONFIG_PASID`, `INTR_REMAP`),
//!   then `IOTLB`, then `DEV_TLB`. The run is emitted as config, sync, IOTLB,
//!   sync, device TLB, sync: one sync per stage present, for the whole run.
//!   The sync closing the last stage is the input sync that ends the run when
//!   there is one (its signal is kept), else a plain [`Sync`] (with the
//!   default options; not with `QUEUE` or `HOST`). Reordering inside a run is allowed:
//!   without a barrier between them the hardware gives no order either, and
//!   the added syncs only strengthen it. For a queue lifted from native
//!   commands, [`BatchOptions::QUEUE`] adds no sync at all (the stage order
//!   is kept, the writer's own barriers are the only ones).
//! * **Merge.** Invalidations of one stage with identical non-address
//!   coordinates (caches, regime, stages, domain, PASID, device, global and
//!   the device-side hints) whose ranges overlap or touch become one with the
//!   union range. Differing `leaf_shift`, `tg_shift` or `level` hints are
//!   reset to 0 ("unknown"), which is always safe.
//! * **Drop covered.** An invalidation whose footprint lies inside another
//!   (kept) invalidation of the run is dropped. The test is conservative:
//!   every non-address coordinate of the wider one must contain the
//!   narrower's (per the tagging rules of each cache) and its range must contain the range.
//!
//! The output footprint between two consecutive input barriers equals the
//! input's: nothing is widened and nothing is under-invalidated (tested
//! with [`Footprint`](crate::footprint::Footprint) in the property tests).
//!
//! * **Whole ops.** With [`BatchOptions::HOST`] (`split_stages` off) an
//!   invalidation is merged or dropped whole, with its caches as part of
//!   the key: a back end lowering each op keeps that lowering's fences
//!   between stages, and no sync is added. `LowerToHost` and the iommufd
//!   back ends coalesce each guest batch (one barrier) this way.
//!
//! The output is written through core's lowering [`Emitter`] (a stage is a
//! phase, its fence an added plain sync).
//!
//! No allocation: the caller supplies a scratch slice that holds one run (a
//! run longer than the scratch is coalesced in pieces, which is still
//! correct, only less compact), and an output [`Sink`].
//!
//! ```
//! use iommu_inval_core::batch::{coalesce, BatchOptions};
//! use iommu_inval_core::model::*;
//! use iommu_inval_core::sink::FixedBuf;
//!
//! // Unmapping three adjacent pages, each as its own seed request.
//! let page = |n: u64| Op::Inval(Inval::new(Caches::IOTLB).stage(Stages::S1)
//!     .domain(DomainSel::One(1)).pasid(PasidSel::One(3))
//!     .range(AddrRange::new(0x10_0000 + n * 0x1000, 0x1000).unwrap()));
//! let ops = [page(0), page(2), page(1)];
//! let mut scratch = [Inval::new(Caches::empty()); 16];
//! let mut out: FixedBuf<Op, 8> = FixedBuf::new();
//! let stats = coalesce(&ops, &mut scratch, BatchOptions::default(), &mut out).unwrap();
//! // One invalidation of 12 KiB, then one sync.
//! assert_eq!(out.len(), 2);
//! assert_eq!(stats.merged, 2);
//! match out.get(0) {
//!     Some(Op::Inval(i)) => assert_eq!(i.range, AddrRange::new(0x10_0000, 0x3000).unwrap()),
//!     other => panic!("{other:?}"),
//! }
//! assert!(matches!(out.get(1), Some(Op::Sync(_))));
//! ```

use crate::Flags;
use core::cmp::Ordering;

use crate::lower::Emitter;
use crate::model::{Barrier, Caches, DomainSel, Hints, Inval, Op, PasidSel};
use crate::range::AddrRange;
use crate::sink::{Full, Sink};

/// Options of [`coalesce`]: the default (seed requests), [`BatchOptions::QUEUE`]
/// or [`BatchOptions::HOST`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchOptions {
    /// End a run that no input sync ends with a plain sync (the seed
    /// request semantic: the batch has completed when the call returns).
    close_runs: bool,
    /// Put a sync between the stages of a run (config, sync, IOTLB, sync,
    /// device TLB): the seed request order, where each stage must be
    /// complete before the next is invalidated. Off, a run is still emitted
    /// in stage order but only the input's own barriers separate anything
    /// (for a lifted queue, whose writer chose where to wait).
    stage_syncs: bool,
    /// Split each invalidation by stage (configuration, IOTLB, device TLB)
    /// and merge the parts. Off, invalidations are merged and dropped whole
    /// (same caches), so each keeps the phase fences its own lowering puts
    /// between its stages.
    split_stages: bool,
}

impl BatchOptions {
    /// For a queue lifted from native commands: no sync is added; runs are
    /// coalesced between the queue's own barriers.
    pub const QUEUE: BatchOptions = BatchOptions {
        close_runs: false,
        stage_syncs: false,
        split_stages: true,
    };
    /// For a back end that lowers each op on its own within one guest
    /// barrier (`LowerToHost`, the iommufd back ends): no sync is added and
    /// invalidations are merged whole, never split.
    pub const HOST: BatchOptions = BatchOptions {
        close_runs: false,
        stage_syncs: false,
        split_stages: false,
    };
}

impl Default for BatchOptions {
    /// Seed requests: stage syncs and a closing sync.
    fn default() -> Self {
        BatchOptions {
            close_runs: true,
            stage_syncs: true,
            split_stages: true,
        }
    }
}

/// What [`coalesce`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BatchStats {
    /// Ops written.
    pub output_ops: usize,
    /// Invalidations (per stage) folded into a neighbour by range union.
    pub merged: usize,
    /// Invalidations (per stage) dropped because another one covers them.
    pub covered: usize,
    /// Invalidations with no cache kind at all (an empty footprint), dropped.
    pub empty: usize,
    /// Syncs written that were not in the input (read by the unit tests).
    pub(crate) syncs_added: usize,
}

/// Why [`coalesce`] stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BatchError {
    /// The output sink is full.
    #[error("the output of coalescing is full")]
    Full,
    /// The scratch slice holds fewer than 3 invalidations (one op split in
    /// its three stages).
    #[error("the coalescing scratch holds fewer than 3 invalidations")]
    ScratchTooSmall,
}

impl From<Full> for BatchError {
    fn from(_: Full) -> Self {
        BatchError::Full
    }
}

/// The three stages of a run, in emission order.
const STAGE_CONFIG: u8 = 0;
const STAGE_IOTLB: u8 = 1;
const STAGE_DEV_TLB: u8 = 2;
const CONFIG_KINDS: Caches = Caches::CONFIG_DEVICE
    .union(Caches::CONFIG_PASID)
    .union(Caches::INTR_REMAP);
/// Caches whose footprint has an address (or index) coordinate.
const ADDRESSED: Caches = Caches::IOTLB
    .union(Caches::DEV_TLB)
    .union(Caches::INTR_REMAP);
/// Caches tagged by device (everything but the IOTLB).
const DEVICE_TAGGED: Caches = Caches::CONFIG_DEVICE
    .union(Caches::CONFIG_PASID)
    .union(Caches::DEV_TLB)
    .union(Caches::INTR_REMAP);

/// Stage of a split invalidation (its caches lie in one stage).
fn stage_of(i: &Inval) -> u8 {
    if i.caches.intersects(Caches::IOTLB) {
        STAGE_IOTLB
    } else if i.caches.intersects(Caches::DEV_TLB) {
        STAGE_DEV_TLB
    } else {
        STAGE_CONFIG
    }
}

fn kinds(i: &Inval) -> Caches {
    i.caches & Caches::ALL_KINDS
}

/// Merged away (no cache kind left). Every live split invalidation has one.
fn is_merged(i: &Inval) -> bool {
    kinds(i).is_empty()
}

/// `hints.level` of an op dropped because another covers it. Inputs never
/// carry it: [`split`] maps it to 0 ("unknown"), which is always safe.
const DROPPED_LEVEL: u8 = u8::MAX;

fn is_live(i: &Inval) -> bool {
    !is_merged(i) && i.hints.level != DROPPED_LEVEL
}

fn kill(i: &mut Inval) {
    i.caches = Caches::empty();
}

/// Mark as dropped, keeping the merge key (so key groups stay contiguous).
fn mark_dropped(i: &mut Inval) {
    i.hints.level = DROPPED_LEVEL;
}

/// Order of the device-side hints, which must be equal for a merge.
fn cmp_fixed_hints(a: &Hints, b: &Hints) -> Ordering {
    (
        a.drain_reads,
        a.drain_writes,
        a.pfsid,
        a.max_pending,
        a.queue_id,
    )
        .cmp(&(
            b.drain_reads,
            b.drain_writes,
            b.pfsid,
            b.max_pending,
            b.queue_id,
        ))
}

/// Order of everything but the range and the mergeable hints: equal means
/// "same non-address coordinates" (the merge key).
fn cmp_key(a: &Inval, b: &Inval) -> Ordering {
    stage_of(a)
        .cmp(&stage_of(b))
        .then_with(|| a.caches.cmp(&b.caches))
        .then_with(|| a.regime.cmp(&b.regime))
        .then_with(|| a.stages.cmp(&b.stages))
        .then_with(|| a.domain.cmp(&b.domain))
        .then_with(|| a.pasid.cmp(&b.pasid))
        .then_with(|| a.global.cmp(&b.global))
        .then_with(|| a.device.cmp(&b.device))
        .then_with(|| cmp_fixed_hints(&a.hints, &b.hints))
}

fn cmp_range(a: &Inval, b: &Inval) -> Ordering {
    (a.range.first(), a.range.last()).cmp(&(b.range.first(), b.range.last()))
}

fn cmp_sort(a: &Inval, b: &Inval) -> Ordering {
    cmp_key(a, b).then_with(|| cmp_range(a, b))
}

/// True when every non-address coordinate of `wide` contains `narrow`'s, for
/// the caches `narrow` names (conservative: a `false` only costs a command).
///
/// Rules, per the model's tagging table: kinds ⊇; a leaf-only `wide` covers
/// only leaf-only `narrow`; same regime; stages ⊇ (IOTLB); domain `All` or
/// equal; PASID `All` or equal; `global` ⊇ (device TLB); devices ⊇ (device
/// caches) where `DeviceSel::All` of one domain covers only the same
/// selection, since which devices the domain holds is the context's business.
fn key_covers(wide: &Inval, narrow: &Inval) -> bool {
    let nk = kinds(narrow);
    if !kinds(wide).contains(nk) {
        return false;
    }
    if wide.leaf_only() && !narrow.leaf_only() {
        return false;
    }
    if wide.regime != narrow.regime {
        return false;
    }
    if nk.contains(Caches::IOTLB) && !wide.stages.contains(narrow.stages) {
        return false;
    }
    let domain_ok = match (wide.domain, narrow.domain) {
        (DomainSel::All, _) => true,
        (a, b) => a == b,
    };
    if !domain_ok {
        return false;
    }
    let pasid_ok = match (wide.pasid, narrow.pasid) {
        (PasidSel::All, _) => true,
        (a, b) => a == b,
    };
    if !pasid_ok {
        return false;
    }
    if nk.contains(Caches::DEV_TLB) && narrow.global && !wide.global {
        return false;
    }
    if nk.intersects(DEVICE_TAGGED) && !device_covers(wide, narrow) {
        return false;
    }
    true
}

fn device_covers(wide: &Inval, narrow: &Inval) -> bool {
    match (wide.device.interval(), narrow.device.interval()) {
        // Every device of every domain.
        (None, _) if wide.domain == DomainSel::All => true,
        // Every device of one domain: only the same selection is known inside.
        (None, None) => wide.domain == narrow.domain,
        (None, Some(_)) => false,
        (Some(_), None) => false,
        (Some((a, b)), Some((c, d))) => a.min(b) <= c.min(d) && c.max(d) <= a.max(b),
    }
}

/// True when `a` and `b` overlap or touch (`a` starts no later than `b`).
fn touches(a: &AddrRange, b: &AddrRange) -> bool {
    b.first() <= a.last().saturating_add(1)
}

fn merge_hint(a: u8, b: u8) -> u8 {
    if a == b {
        a
    } else {
        0
    }
}

/// Split `op` into its (up to) three stage parts (one part, the whole op,
/// when `by_stage` is off), written to `buf`. Returns the number of parts
/// (0 when it names no cache).
fn split(op: &Inval, by_stage: bool, buf: &mut [Inval; 3]) -> usize {
    let leaf = op.caches & Caches::LEAF;
    let mut n = 0;
    let groups: &[Caches] = if by_stage {
        &[CONFIG_KINDS, Caches::IOTLB, Caches::DEV_TLB]
    } else {
        &[Caches::ALL_KINDS]
    };
    for &group in groups {
        let k = op.caches & group;
        if k.is_empty() {
            continue;
        }
        let mut part = *op;
        part.caches = k | leaf;
        if part.hints.level == DROPPED_LEVEL {
            part.hints.level = 0;
        }
        if !k.intersects(ADDRESSED) {
            // Configuration caches have no address coordinate: the range is
            // irrelevant to the footprint, so make equal ones comparable.
            part.range = AddrRange::All;
        }
        if let Some(slot) = buf.get_mut(n) {
            *slot = part;
            n += 1;
        }
    }
    n
}

/// Core's lowering emitter over generic ops: a stage is a phase, its fence
/// an added plain sync.
type OpEmitter<'o> = Emitter<'o, Op>;

fn plain_sync() -> Op {
    Op::Sync(Barrier::default())
}

/// Coalesce `run` in place and emit it in stage order, a stage per phase
/// (fenced when `stage_syncs`). The last stage's phase is left open.
fn flush(
    run: &mut [Inval],
    stage_syncs: bool,
    em: &mut OpEmitter<'_>,
    stats: &mut BatchStats,
) -> Result<(), BatchError> {
    let Some(first) = run.first().copied() else {
        return Ok(());
    };
    // One key (the common case: a stream of unmaps of one address space)
    // needs no key ordering and nothing can cover anything after the merge.
    let uniform = run.iter().all(|x| cmp_key(x, &first) == Ordering::Equal);
    if uniform {
        run.sort_unstable_by(cmp_range);
    } else {
        run.sort_unstable_by(cmp_sort);
    }
    // 1. Merge neighbours of the same key with touching ranges.
    let mut acc: Option<usize> = None;
    for i in 0..run.len() {
        let Some(cur) = run.get(i).copied() else {
            break;
        };
        if let Some(prev) = acc.and_then(|a| run.get_mut(a)) {
            if cmp_key(prev, &cur) == Ordering::Equal && touches(&prev.range, &cur.range) {
                let last = prev.range.last().max(cur.range.last());
                prev.range = AddrRange::Span {
                    first: prev.range.first(),
                    last,
                };
                prev.hints.leaf_shift = merge_hint(prev.hints.leaf_shift, cur.hints.leaf_shift);
                prev.hints.tg_shift = merge_hint(prev.hints.tg_shift, cur.hints.tg_shift);
                prev.hints.level = merge_hint(prev.hints.level, cur.hints.level);
                if let Some(c) = run.get_mut(i) {
                    kill(c);
                }
                stats.merged += 1;
                continue;
            }
        }
        acc = Some(i);
    }
    // Move the survivors to the front, in order.
    let mut live = 0;
    for r in 0..run.len() {
        if run.get(r).is_some_and(|x| !is_merged(x)) {
            run.swap(live, r);
            live += 1;
        }
    }
    let run = run.get_mut(..live).unwrap_or_default();
    // 2. Drop what another live op covers. Groups of one key are contiguous,
    // sorted by start, and (after step 1) hold disjoint, non-touching ranges,
    // so a range inside their union is inside one of them.
    if !uniform && run.len() <= PAIRWISE_MAX {
        stats.covered += drop_covered_pairwise(run);
    } else if !uniform {
        let mut ga = 0;
        while ga < run.len() {
            let ea = group_end(run, ga);
            let mut gb = 0;
            while gb < run.len() {
                let eb = group_end(run, gb);
                if ga != gb {
                    if let (Some(a0), Some(b0)) = (run.get(ga), run.get(gb)) {
                        if stage_of(a0) == stage_of(b0) && key_covers(b0, a0) {
                            stats.covered += drop_covered(run, (ga, ea), (gb, eb));
                        }
                    }
                }
                gb = eb;
            }
            ga = ea;
        }
    }
    // 3. Emit: config, sync, IOTLB, sync, device TLB (the closing sync is the caller's).
    let mut last_stage: Option<u8> = None;
    for i in run.iter().filter(|i| is_live(i)) {
        let s = stage_of(i);
        if stage_syncs && last_stage.is_some_and(|l| l != s) {
            em.end_phase();
        }
        last_stage = Some(s);
        em.push_fenced(Op::Inval(*i))
            .map_err(|_| BatchError::Full)?;
        stats.output_ops += 1;
    }
    Ok(())
}

/// Runs up to this long drop covered ops by testing every pair, cheapest
/// test first (a range inside the other's, then liveness, then the key):
/// fewer instructions than walking the key groups while they are short.
const PAIRWISE_MAX: usize = 64;

/// Drop every live op whose range lies inside the range of another live op
/// whose key covers its own (of the same stage). An op dropped no longer
/// covers anything, so of two that cover each other one stays. Returns how
/// many were dropped.
fn drop_covered_pairwise(run: &mut [Inval]) -> usize {
    let mut dropped = 0;
    for i in 0..run.len() {
        let Some(x) = run.get(i).copied().filter(is_live) else {
            continue;
        };
        let covered = run.iter().enumerate().any(|(j, y)| {
            j != i
                && y.range.contains(&x.range)
                && is_live(y)
                && stage_of(y) == stage_of(&x)
                && key_covers(y, &x)
        });
        if let Some(slot) = run.get_mut(i).filter(|_| covered) {
            mark_dropped(slot);
            dropped += 1;
        }
    }
    dropped
}

/// End (exclusive) of the key group starting at `start`.
fn group_end(run: &[Inval], start: usize) -> usize {
    let Some(first) = run.get(start) else {
        return run.len();
    };
    let mut end = start + 1;
    while let Some(x) = run.get(end) {
        if cmp_key(x, first) != Ordering::Equal {
            break;
        }
        end += 1;
    }
    end
}

/// Drop every live op of group `a` whose range lies inside the range of a
/// live op of group `b` (whose key covers `a`'s). Both are sorted by start.
/// Returns how many were dropped.
fn drop_covered(run: &mut [Inval], a: (usize, usize), b: (usize, usize)) -> usize {
    let (mut j, mut dropped) = (b.0, 0);
    for i in a.0..a.1 {
        let Some(x) = run.get(i).copied() else {
            return dropped;
        };
        if !is_live(&x) {
            continue;
        }
        // Skip b's ranges that end before x starts.
        while let Some(y) = run.get(j) {
            if j < b.1 && (!is_live(y) || y.range.last() < x.range.first()) {
                j += 1;
            } else {
                break;
            }
        }
        if j >= b.1 {
            return dropped;
        }
        if let Some(y) = run.get(j) {
            if is_live(y) && y.range.contains(&x.range) {
                if let Some(slot) = run.get_mut(i) {
                    mark_dropped(slot);
                    dropped += 1;
                }
            }
        }
    }
    dropped
}

/// True when `i` comes out of a whole-op [`split`] unchanged: it names a
/// cache, carries no [`DROPPED_LEVEL`] and, without an addressed cache,
/// has the whole range already.
fn whole_as_is(i: &Inval) -> bool {
    let k = kinds(i);
    !k.is_empty()
        && i.hints.level != DROPPED_LEVEL
        && (k.intersects(ADDRESSED) || i.range == AddrRange::All)
}

/// True when whole-op coalescing could merge `a` and `b` or drop one of
/// them (conservative: same key or one covering the other, with ranges
/// that overlap or touch). Ranges apart cost two comparisons.
fn interact(a: &Inval, b: &Inval) -> bool {
    let (ra, rb) = (&a.range, &b.range);
    if !(touches(ra, rb) && touches(rb, ra)) {
        return false;
    }
    cmp_key(a, b) == Ordering::Equal
        || (ra.contains(rb) && key_covers(a, b))
        || (rb.contains(ra) && key_covers(b, a))
}

/// True when whole-op coalescing (`split_stages` and `stage_syncs` off)
/// would only reorder `ops`: every invalidation is [`whole_as_is`] and no
/// two interact (pairs across a barrier count too, which only errs towards
/// coalescing). Pairwise, so only for batches up to [`PAIRWISE_MAX`] ops;
/// when the ranges' starts ascend (a stream of unmaps) each op is tested
/// only against the following ones that start before it ends. With nothing
/// to gain, [`coalesce`] hands the ops over in their order (as lowering op
/// by op would), skipping the sort.
pub(crate) fn nothing_to_coalesce(ops: &[Op]) -> bool {
    if ops.len() > PAIRWISE_MAX {
        return false;
    }
    let invals = || {
        ops.iter().filter_map(|o| match o {
            Op::Inval(i) => Some(i),
            _ => None,
        })
    };
    // Neighbours first: a batch that coalesces usually shows it there.
    let (mut ascending, mut prev) = (true, None::<&Inval>);
    for i in invals() {
        if !whole_as_is(i) || prev.is_some_and(|p| interact(p, i)) {
            return false;
        }
        ascending &= prev.is_none_or(|p| i.range.first() >= p.range.first());
        prev = Some(i);
    }
    let mut rest = invals();
    while let Some(a) = rest.next() {
        let after = a.range.last().saturating_add(1);
        for b in rest.clone().skip(1) {
            if ascending && b.range.first() > after {
                break;
            }
            if interact(a, b) {
                return false;
            }
        }
    }
    true
}

/// Rewrite `ops` into an equivalent sequence with fewer invalidations and
/// one sync per stage per barrier-free run (see the module documentation).
/// With whole ops and no stage syncs ([`BatchOptions::HOST`]), a batch of
/// at most 64 ops in which no two invalidations merge or cover each other
/// comes out in its own order, unchanged.
///
/// `scratch` holds one run (split by stage); it must hold at least 3.
/// On [`BatchError::Full`] the sink holds a prefix of the output.
pub fn coalesce(
    ops: &[Op],
    scratch: &mut [Inval],
    opts: BatchOptions,
    out: &mut dyn Sink<Op>,
) -> Result<BatchStats, BatchError> {
    coalesce_with(ops, scratch, opts, out, true)
}

/// [`coalesce`]; `in_order_if_apart` off always takes the sorting path
/// (for a caller that tested [`nothing_to_coalesce`] already; the tests
/// compare the two).
pub(crate) fn coalesce_with(
    ops: &[Op],
    scratch: &mut [Inval],
    opts: BatchOptions,
    out: &mut dyn Sink<Op>,
    in_order_if_apart: bool,
) -> Result<BatchStats, BatchError> {
    if scratch.len() < 3 {
        return Err(BatchError::ScratchTooSmall);
    }
    let mut stats = BatchStats::default();
    let mut em = Emitter::new(out, plain_sync);
    if in_order_if_apart && !opts.split_stages && !opts.stage_syncs && nothing_to_coalesce(ops) {
        for op in ops {
            match op {
                Op::Inval(_) => {
                    em.push_fenced(*op).map_err(|_| BatchError::Full)?;
                    stats.output_ops += 1;
                }
                b => end_run(&mut em, b, opts.close_runs, &mut stats)?,
            }
        }
        return finish(em, opts.close_runs, stats);
    }
    let mut n = 0usize; // invalidations held in scratch
    let mut parts = [Inval::new(Caches::empty()); 3];
    for op in ops {
        // `Ok(k)`: an invalidation in `k` parts; `Err(b)`: a barrier.
        let step = match op {
            Op::Inval(inv) => Ok(split(inv, opts.split_stages, &mut parts)),
            other => Err(other),
        };
        match step {
            Ok(0) => stats.empty += 1,
            Ok(k) => {
                if n + k > scratch.len() {
                    // Scratch full: coalesce what it holds; the run goes on.
                    let held = scratch.get_mut(..n).unwrap_or_default();
                    flush(held, opts.stage_syncs, &mut em, &mut stats)?;
                    n = 0;
                }
                for (slot, p) in scratch.iter_mut().skip(n).zip(parts.iter().take(k)) {
                    *slot = *p;
                }
                n += k;
            }
            Err(b) => {
                let held = scratch.get_mut(..n).unwrap_or_default();
                flush(held, opts.stage_syncs, &mut em, &mut stats)?;
                n = 0;
                end_run(&mut em, b, opts.close_runs, &mut stats)?;
            }
        }
    }
    let held = scratch.get_mut(..n).unwrap_or_default();
    flush(held, opts.stage_syncs, &mut em, &mut stats)?;
    finish(em, opts.close_runs, stats)
}

/// The run ends at barrier `b`: its last stage is closed by the input
/// sync, or else by an added one when `close_runs`; nothing crosses `b`.
fn end_run(
    em: &mut OpEmitter<'_>,
    b: &Op,
    close_runs: bool,
    stats: &mut BatchStats,
) -> Result<(), BatchError> {
    em.end_phase();
    if close_runs && !b.is_sync() {
        em.fence_now().map_err(|_| BatchError::Full)?;
    }
    em.push_barrier(*b).map_err(|_| BatchError::Full)?;
    stats.output_ops += 1;
    Ok(())
}

/// Close the last run (when `close_runs`) and count what was added.
fn finish(
    mut em: OpEmitter<'_>,
    close_runs: bool,
    mut stats: BatchStats,
) -> Result<BatchStats, BatchError> {
    if close_runs {
        em.fence_now().map_err(|_| BatchError::Full)?;
    }
    stats.syncs_added = em.emitted().saturating_sub(stats.output_ops);
    stats.output_ops = em.emitted();
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::IdentityContext;
    use crate::footprint::Footprint;
    use crate::model::{DeviceSel, Regime, Stages, StallAction, Store};
    use alloc::vec::Vec;
    use proptest::prelude::*;

    const PAGE: u64 = 0x1000;

    /// Scratch length with which [`coalesce`] never splits a run of `n_ops`
    /// invalidations (each may split into its three stages).
    const fn scratch_needed(n_ops: usize) -> usize {
        let n = n_ops.saturating_mul(3);
        if n < 3 {
            3
        } else {
            n
        }
    }

    fn span(first_page: u64, pages: u64) -> AddrRange {
        AddrRange::new(first_page * PAGE, pages * PAGE).unwrap()
    }

    fn s1(pasid: u32, r: AddrRange) -> Inval {
        Inval::new(Caches::IOTLB)
            .stage(Stages::S1)
            .domain(DomainSel::One(1))
            .pasid(PasidSel::One(pasid))
            .range(r)
    }

    fn run(ops: &[Op]) -> (Vec<Op>, BatchStats) {
        let mut scratch = [Inval::new(Caches::empty()); 64];
        let mut out = Vec::new();
        let st = coalesce(ops, &mut scratch, BatchOptions::default(), &mut out).unwrap();
        (out, st)
    }

    fn invals(ops: &[Op]) -> Vec<Inval> {
        ops.iter()
            .filter_map(|o| if let Op::Inval(i) = o { Some(*i) } else { None })
            .collect()
    }

    #[test]
    fn scattered_pages_stay_apart_touching_merge() {
        let ops = [
            Op::Inval(s1(1, span(10, 1))),
            Op::Inval(s1(1, span(30, 1))),
            Op::Inval(s1(1, span(11, 1))),
            Op::Inval(s1(1, span(12, 2))),
        ];
        let (out, st) = run(&ops);
        let iv = invals(&out);
        assert_eq!(iv.len(), 2);
        assert_eq!(iv[0].range, span(10, 4));
        assert_eq!(iv[1].range, span(30, 1));
        assert_eq!(st.merged, 2);
        assert_eq!(out.len(), 3);
        assert!(out[2].is_sync());
    }

    #[test]
    fn host_lowers_ops_that_do_not_interact_in_their_order() {
        // Two PASIDs, given in descending order, ranges apart: nothing
        // merges or covers, so whole-op coalescing hands them over as they
        // came (as lowering op by op would), not sorted by key.
        let ops = [
            Op::Inval(s1(2, span(10, 1))),
            Op::Resume {
                device: 1,
                stag: 2,
                action: StallAction::Retry,
            },
            Op::Inval(s1(3, span(20, 1))),
            Op::Inval(s1(1, span(30, 1))),
        ];
        let mut scratch = [Inval::new(Caches::empty()); 8];
        let mut out = Vec::new();
        let st = coalesce(&ops, &mut scratch, BatchOptions::HOST, &mut out).unwrap();
        assert_eq!(out, ops);
        assert_eq!((st.output_ops, st.merged, st.syncs_added), (4, 0, 0));
    }

    #[test]
    fn different_pasids_do_not_merge() {
        let ops = [Op::Inval(s1(1, span(10, 1))), Op::Inval(s1(2, span(11, 1)))];
        let (out, st) = run(&ops);
        assert_eq!(invals(&out).len(), 2);
        assert_eq!(st.merged, 0);
    }

    #[test]
    fn pasid_wide_drops_pages_of_that_pasid_only() {
        let wide = Inval::new(Caches::IOTLB)
            .stage(Stages::S1)
            .domain(DomainSel::One(1))
            .pasid(PasidSel::One(1));
        let ops = [
            Op::Inval(s1(1, span(10, 1))),
            Op::Inval(wide),
            Op::Inval(s1(2, span(10, 1))),
        ];
        let (out, st) = run(&ops);
        // Same key as the page: folded in by the merge step.
        assert_eq!(st.covered + st.merged, 1);
        let iv = invals(&out);
        assert_eq!(iv.len(), 2);
        assert!(iv.contains(&wide));
        assert!(iv.contains(&s1(2, span(10, 1))));
    }

    #[test]
    fn leaf_only_does_not_cover_full() {
        let leaf = Inval::new(Caches::IOTLB | Caches::LEAF)
            .stage(Stages::S1)
            .domain(DomainSel::One(1))
            .pasid(PasidSel::All);
        let ops = [Op::Inval(s1(1, span(10, 1))), Op::Inval(leaf)];
        let (_, st) = run(&ops);
        assert_eq!(st.covered, 0);
        // The other way round it does.
        let full = Inval::new(Caches::IOTLB)
            .stage(Stages::S1)
            .domain(DomainSel::One(1))
            .pasid(PasidSel::All);
        let mut narrow = s1(1, span(10, 1));
        narrow.caches |= Caches::LEAF;
        let (_, st) = run(&[Op::Inval(narrow), Op::Inval(full)]);
        assert_eq!(st.covered, 1);
    }

    #[test]
    fn device_all_of_a_domain_does_not_cover_a_named_device() {
        let dom = Inval::new(Caches::DEV_TLB).domain(DomainSel::One(1));
        let dev = Inval::new(Caches::DEV_TLB)
            .domain(DomainSel::One(1))
            .device(DeviceSel::One(16))
            .range(span(1, 1));
        let (_, st) = run(&[Op::Inval(dom), Op::Inval(dev)]);
        assert_eq!(st.covered, 0);
        let every = Inval::new(Caches::DEV_TLB);
        let (_, st) = run(&[Op::Inval(every), Op::Inval(dev)]);
        assert_eq!(st.covered, 1);
    }

    #[test]
    fn seed_requests_share_syncs() {
        // Two seed requests (config + TLB + ATC of one PASID, different pages).
        let req = |p: u64| {
            Op::Inval(
                Inval::new(Caches::CONFIG_PASID | Caches::IOTLB | Caches::DEV_TLB)
                    .stage(Stages::S1)
                    .domain(DomainSel::One(1))
                    .pasid(PasidSel::One(4))
                    .device(DeviceSel::One(16))
                    .range(span(p, 1)),
            )
        };
        let (out, st) = run(&[req(1), req(2)]);
        // config (one: ranges irrelevant), sync, IOTLB 2 pages merged, sync, ATC merged, sync.
        let kinds: Vec<_> = out
            .iter()
            .map(|o| match o {
                Op::Inval(i) => stage_of(i) as i32,
                _ => -1,
            })
            .collect();
        assert_eq!(kinds, [0, -1, 1, -1, 2, -1]);
        assert_eq!(st.syncs_added, 3);
        assert_eq!(st.merged, 3);
    }

    #[test]
    fn queue_options_add_no_sync() {
        let atc = Inval::new(Caches::DEV_TLB)
            .device(DeviceSel::One(16))
            .range(span(1, 1));
        let ops = [
            Op::Inval(atc),
            Op::Inval(s1(1, span(1, 1))),
            Op::Inval(s1(1, span(2, 1))),
            Op::Sync(Barrier::default()),
        ];
        let mut scratch = [Inval::new(Caches::empty()); 8];
        let mut out = Vec::new();
        let st = coalesce(&ops, &mut scratch, BatchOptions::QUEUE, &mut out).unwrap();
        assert_eq!(st.syncs_added, 0);
        // IOTLB (merged) before the ATC, then the input sync.
        assert_eq!(out.len(), 3);
        assert!(
            matches!(out[0], Op::Inval(i) if i.caches == Caches::IOTLB && i.range == span(1, 2))
        );
        assert_eq!(out[1], Op::Inval(atc));
        assert!(out[2].is_sync());
    }

    #[test]
    fn input_sync_closes_the_run_and_keeps_its_signal() {
        let sig = Barrier {
            store: Some(Store {
                address: 0x8000,
                data: 7,
            }),
            ..Barrier::default()
        };
        let ops = [
            Op::Inval(s1(1, span(1, 1))),
            Op::Sync(sig),
            Op::Inval(s1(1, span(2, 1))),
        ];
        let (out, st) = run(&ops);
        assert_eq!(out.len(), 4);
        assert_eq!(out[1], Op::Sync(sig));
        assert!(out[3].is_sync());
        assert_eq!(st.syncs_added, 1);
        assert_eq!(st.merged, 0, "no merge across a barrier");
    }

    #[test]
    fn non_inval_ops_are_barriers_too() {
        // A prefetch, a page response or a stall command takes the same path.
        for other in [
            Op::Resume {
                device: 1,
                stag: 2,
                action: StallAction::Retry,
            },
            Op::StallTerminate { device: 1 },
        ] {
            let ops = [
                Op::Inval(s1(1, span(1, 1))),
                other,
                Op::Inval(s1(1, span(2, 1))),
            ];
            let (out, st) = run(&ops);
            assert_eq!(out[2], other);
            assert_eq!(invals(&out).len(), 2);
            assert_eq!(st.merged, 0);
        }
    }

    #[test]
    fn an_input_level_hint_of_255_is_not_taken_for_dropped() {
        let mut i = s1(1, span(1, 1));
        i.hints.level = u8::MAX;
        let (out, _) = run(&[Op::Inval(i)]);
        let iv = invals(&out);
        assert_eq!(iv.len(), 1);
        assert_eq!(iv[0].hints.level, 0);
        assert_eq!(iv[0].range, span(1, 1));
    }

    #[test]
    fn empty_invalidation_is_dropped_and_counted() {
        let (out, st) = run(&[Op::Inval(Inval::new(Caches::LEAF))]);
        assert!(out.is_empty());
        assert_eq!(st.empty, 1);
    }

    #[test]
    fn small_scratch_still_correct() {
        let ops: Vec<Op> = (0..10).map(|p| Op::Inval(s1(1, span(p, 1)))).collect();
        let mut scratch = [Inval::new(Caches::empty()); 3];
        let mut out = Vec::new();
        coalesce(&ops, &mut scratch, BatchOptions::default(), &mut out).unwrap();
        let f_in = Footprint::of_ops(&ops, &IdentityContext);
        let f_out = Footprint::of_ops(&out, &IdentityContext);
        assert!(f_in.same_as(&f_out));
        assert!(invals(&out).len() <= 4);
        let mut tiny = [Inval::new(Caches::empty()); 2];
        assert_eq!(
            coalesce(&ops, &mut tiny, BatchOptions::default(), &mut out),
            Err(BatchError::ScratchTooSmall)
        );
    }

    #[test]
    fn scratch_needed_holds_every_stage() {
        assert_eq!(scratch_needed(0), 3);
        assert_eq!(scratch_needed(5), 15);
        assert_eq!(scratch_needed(usize::MAX), usize::MAX);
    }

    #[test]
    fn full_sink_is_reported() {
        let ops = [Op::Inval(s1(1, span(1, 1))), Op::Inval(s1(1, span(3, 1)))];
        let mut scratch = [Inval::new(Caches::empty()); 8];
        let mut out: crate::sink::FixedBuf<Op, 1> = crate::sink::FixedBuf::new();
        assert_eq!(
            coalesce(&ops, &mut scratch, BatchOptions::default(), &mut out),
            Err(BatchError::Full)
        );
    }

    #[test]
    fn top_of_space_touching_does_not_overflow() {
        let top = AddrRange::inclusive(u64::MAX - 0xfff, u64::MAX).unwrap();
        let below = AddrRange::inclusive(u64::MAX - 0x1fff, u64::MAX - 0x1000).unwrap();
        let (out, st) = run(&[
            Op::Inval(s1(1, top)),
            Op::Inval(s1(1, below)),
            Op::Inval(s1(1, top)),
        ]);
        assert_eq!(st.merged, 2);
        assert_eq!(
            invals(&out)[0].range,
            AddrRange::inclusive(u64::MAX - 0x1fff, u64::MAX).unwrap()
        );
    }

    // ---- property tests: footprints between barriers are preserved exactly ----

    fn arb_inval() -> impl Strategy<Value = Inval> {
        let caches = (1u8..64).prop_map(Caches::from_bits_truncate);
        let stages = prop_oneof![Just(Stages::S1), Just(Stages::S2), Just(Stages::all())];
        let regime = prop_oneof![6 => Just(Regime::Guest), 1 => Just(Regime::Hyp)];
        let domain = prop_oneof![Just(DomainSel::All), (1u32..3).prop_map(DomainSel::One)];
        let pasid = prop_oneof![
            Just(PasidSel::All),
            Just(PasidSel::NoPasid),
            (1u32..3).prop_map(PasidSel::One)
        ];
        let device = prop_oneof![
            Just(DeviceSel::All),
            (16u32..19).prop_map(DeviceSel::One),
            (16u32..19, 0u32..3).prop_map(|(a, n)| DeviceSel::Range {
                first: a,
                last: a + n
            }),
        ];
        let range = prop_oneof![
            1 => Just(AddrRange::All),
            8 => (0u64..24, 1u64..6).prop_map(|(p, n)| span(p, n)),
            1 => (0u64..0x30000, 1u64..0x3000).prop_map(|(a, n)| AddrRange::new(a, n).unwrap()),
        ];
        let leaf_shift = prop_oneof![Just(0u8), Just(12u8), Just(21u8)];
        let level = prop_oneof![Just(0u8), Just(3u8), Just(u8::MAX)];
        (
            caches,
            stages,
            regime,
            domain,
            pasid,
            any::<bool>(),
            device,
            range,
            (leaf_shift, level),
        )
            .prop_map(
                |(caches, stages, regime, domain, pasid, global, device, range, (ls, lvl))| {
                    let mut i = Inval::new(caches)
                        .stage(stages)
                        .regime(regime)
                        .domain(domain)
                        .pasid(pasid)
                        .global(global)
                        .device(device)
                        .range(range);
                    i.hints.leaf_shift = ls;
                    i.hints.level = lvl;
                    i
                },
            )
    }

    fn arb_ops() -> impl Strategy<Value = Vec<Op>> {
        let op = prop_oneof![
            10 => arb_inval().prop_map(Op::Inval),
            1 => Just(Op::Sync(Barrier::default())),
            1 => Just(Op::StallTerminate { device: 5 }),
        ];
        proptest::collection::vec(op, 0..24)
    }

    /// Split a sequence at its non-invalidation ops: (segments, delimiters).
    fn segments(ops: &[Op]) -> (Vec<Vec<Op>>, Vec<Op>) {
        let mut segs = alloc::vec![Vec::new()];
        let mut delims = Vec::new();
        for op in ops {
            match op {
                Op::Inval(_) => segs.last_mut().unwrap().push(*op),
                Op::Sync(s) if *s == Barrier::default() => segs.last_mut().unwrap().push(*op),
                other => {
                    delims.push(*other);
                    segs.push(Vec::new());
                }
            }
        }
        (segs, delims)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn barriers_kept_and_footprints_equal(
            ops in arb_ops(),
            scratch_len in 3usize..40,
            mode in 0u8..3,
        ) {
            let opts = [BatchOptions::default(), BatchOptions::QUEUE, BatchOptions::HOST][usize::from(mode)];
            // Mark input syncs so they can be found in the output.
            let ops: Vec<Op> = ops.into_iter().enumerate().map(|(k, o)| match o {
                Op::Sync(_) => Op::Sync(Barrier { store: Some(Store { address: 0x1000, data: k as u64 }), ..Barrier::default() }),
                o => o,
            }).collect();
            let mut scratch = alloc::vec![Inval::new(Caches::empty()); scratch_len];
            let mut out = Vec::new();
            let st = coalesce(&ops, &mut scratch, opts, &mut out).unwrap();
            prop_assert_eq!(st.output_ops, out.len());
            let (sin, din) = segments(&ops);
            let (sout, dout) = segments(&out);
            // Barriers (input syncs and other non-invalidations) in the same order.
            prop_assert_eq!(&din, &dout);
            prop_assert_eq!(sin.len(), sout.len());
            for (a, b) in sin.iter().zip(&sout) {
                let fa = Footprint::of_ops(a, &IdentityContext);
                let fb = Footprint::of_ops(b, &IdentityContext);
                prop_assert!(fb.covers(&fa), "under-invalidation: {:?} -> {:?}", a, b);
                prop_assert!(fa.covers(&fb), "widened: {:?} -> {:?}", a, b);
                let parts: usize = invals(a).iter().map(|i| split(i, opts.split_stages, &mut [Inval::new(Caches::empty()); 3])).sum();
                prop_assert!(invals(b).len() <= parts);
            }
        }

        /// Whole-op coalescing hands a batch with nothing to coalesce over
        /// in its order, and the sorting path agrees up to order: nothing
        /// merged, dropped or changed.
        #[test]
        fn host_in_order_only_when_sorting_changes_nothing(ops in arb_ops()) {
            let mut scratch = alloc::vec![Inval::new(Caches::empty()); 64];
            let (mut fast, mut slow) = (Vec::new(), Vec::new());
            let st = coalesce(&ops, &mut scratch, BatchOptions::HOST, &mut fast).unwrap();
            let slow_st = coalesce_with(&ops, &mut scratch, BatchOptions::HOST, &mut slow, false).unwrap();
            if nothing_to_coalesce(&ops) {
                prop_assert_eq!(&fast, &ops);
                prop_assert_eq!(st, BatchStats { output_ops: ops.len(), ..BatchStats::default() });
                let mut left = slow.clone();
                for op in &ops {
                    let k = left.iter().position(|o| o == op);
                    prop_assert!(k.is_some(), "{:?} changed by sorting: {:?}", op, slow);
                    if let Some(k) = k {
                        left.swap_remove(k);
                    }
                }
                prop_assert!(left.is_empty());
                prop_assert_eq!(st, slow_st);
            } else {
                prop_assert_eq!(&fast, &slow);
            }
        }

        #[test]
        fn stage_order_in_each_run(ops in arb_ops()) {
            let ops: Vec<Op> = ops.into_iter().map(|o| match o {
                Op::Sync(_) => Op::Sync(Barrier { interrupt: true, ..Barrier::default() }),
                o => o,
            }).collect();
            let (out, _) = run(&ops);
            let mut last: Option<u8> = None;
            for op in &out {
                match op {
                    Op::Inval(i) => {
                        let s = stage_of(i);
                        if let Some(l) = last {
                            prop_assert!(l <= s, "stage order broken in {:?}", out);
                        }
                        last = Some(s);
                    }
                    // A sync the batch added: the run goes on.
                    Op::Sync(s) if *s == Barrier::default() => {}
                    // An input barrier: a new run starts.
                    _ => last = None,
                }
            }
            // Between two stages there is always a sync.
            for w in out.windows(2) {
                if let (Op::Inval(a), Op::Inval(b)) = (&w[0], &w[1]) {
                    prop_assert_eq!(stage_of(a), stage_of(b));
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        /// Runs longer than `PAIRWISE_MAX` drop covered ops by key groups.
        #[test]
        fn long_runs_keep_footprints(
            invals in proptest::collection::vec(arb_inval(), PAIRWISE_MAX + 1..PAIRWISE_MAX + 40),
            split in any::<bool>(),
        ) {
            let ops: Vec<Op> = invals.into_iter().map(Op::Inval).collect();
            let opts = if split { BatchOptions::QUEUE } else { BatchOptions::HOST };
            let mut scratch = alloc::vec![Inval::new(Caches::empty()); scratch_needed(ops.len())];
            let mut out = Vec::new();
            coalesce(&ops, &mut scratch, opts, &mut out).unwrap();
            let fa = Footprint::of_ops(&ops, &IdentityContext);
            let fb = Footprint::of_ops(&out, &IdentityContext);
            prop_assert!(fa.same_as(&fb), "{:?} -> {:?}", ops, out);
        }
    }
}
