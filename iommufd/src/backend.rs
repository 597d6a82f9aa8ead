//! The two ways a VMM hands a guest's invalidations to iommufd.
//!
//! * **Generic ops → VT-d stage-1 entries** ([`VtdS1Backend`]): a
//!   [`Backend`] for the queue front ends of `iommu_inval_core::device`, so a
//!   guest IOMMU of any architecture (whose stage-1 tables the host walks
//!   nested) is served by the same few lines. Each lifted op becomes at most
//!   one entry ([`crate::vtd::s1_entry`]) for the HWPTs of its scope
//!   ([`HwptRouter`]); the entries are gathered per HWPT and submitted at
//!   the guest's barrier, one `IOMMU_HWPT_INVALIDATE` per HWPT
//!   ([`Invalidator`]). Before that, the entries of one HWPT whose pages
//!   overlap or touch become one (exactly their union; never across a
//!   barrier); a full pending list (64 entries) is coalesced so, and submitted early only
//!   when that frees nothing (the one case of two calls for one HWPT in
//!   one barrier). What has no entry goes to the VMM's callback
//!   with its [`VmmWork`]. Each entry remembers the first op it came from,
//!   so a call the kernel stops at entry `k` (`entry_num`) fails the guest
//!   command of the first entry not handled ([`Backend::unfinished`]).
//! * **Raw SMMUv3 commands → vSMMU entries** ([`Smmuv3Forwarder`]): the
//!   kernel's vSMMU takes the guest's own commands, which lifting would
//!   lose, so the VMM walks the guest CMDQ itself (`QueueEngine::consume` of
//!   `iommu_inval_arm::queue::CmdqDevice`) and gives each command to the forwarder: permitted ones are queued
//!   (checked against the kernel's rules first, so no batch fails), a
//!   CMD_SYNC submits the queue, and the rest is returned as a
//!   [`Refusal`] saying what the VMM does instead.
//! * **Generic ops → SMMUv3 commands → vSMMU entries** ([`VsmmuBackend`]):
//!   a [`Backend`] for an SMMUv3 guest that keeps the `CmdqDevice` front
//!   end's emulation; each batch of ops (one guest barrier at most) is
//!   coalesced whole (`iommu_inval_core::batch`, `BatchOptions::HOST`),
//!   lowered back to (re-encoded) SMMUv3 commands and forwarded.
//!
//! Neither issues the ioctl: `IOMMU_HWPT_INVALIDATE` passes a user pointer
//! to the kernel, which no safe Rust interface can check, and this crate
//! forbids `unsafe`. The VMM implements [`Invalidator`] /
//! [`ViommuInvalidator`] with its own ioctl wrapper (rustix's and nix's
//! ioctl calls are `unsafe fn` for that reason), filling
//! [`HwptInvalidate`](crate::uapi::HwptInvalidate) with
//! `entries.as_ptr() as u64`.

use crate::smmuv3::{Refusal, VdevTable, Vsmmu};
use crate::uapi::{HwptVtdS1Invalidate, ViommuArmSmmuv3Invalidate};
use crate::vtd::{s1_entry, S1Options, S1Scope, VmmWork};
use iommu_inval_arm::{Command, Smmuv3};
use iommu_inval_core::arch::Arch;
use iommu_inval_core::batch::{coalesce, BatchOptions};
use iommu_inval_core::device::{Backend, BackendError, BATCH_OPS};
use iommu_inval_core::model::{Barrier, Caches, Inval, Op, Widened};
use iommu_inval_core::Flags;

/// Entries a [`VtdS1Backend`] holds before it submits them.
const PENDING: usize = 64;

/// Entries per vSMMU ioctl: the kernel converts and issues at most
/// `CMDQ_BATCH_ENTRIES - 1` = 63 per call (`arm_vsmmu_cache_invalidate`).
pub const VIOMMU_BATCH: usize = 63;

/// The VMM's map from a guest stage-1 scope to its nested HWPT ids.
pub trait HwptRouter {
    /// Calls `f` with the id of every nested HWPT whose stage-1 table holds
    /// translations of `scope` (a wider scope — `DomainSel::All`,
    /// `PasidSel::All` — names every matching HWPT).
    fn for_each_hwpt(&self, scope: &S1Scope, f: &mut dyn FnMut(u32));
}

impl<F: Fn(&S1Scope, &mut dyn FnMut(u32))> HwptRouter for F {
    fn for_each_hwpt(&self, scope: &S1Scope, f: &mut dyn FnMut(u32)) {
        self(scope, f)
    }
}

/// `IOMMU_HWPT_INVALIDATE` with VT-d stage-1 entries, implemented by the VMM.
pub trait Invalidator {
    /// Invalidate `entries` in nested HWPT `hwpt_id`; `Ok` once the kernel
    /// handled all of them (the ioctl is synchronous). On failure, the
    /// number of entries the kernel handled (`entry_num` on return: it
    /// flushes them in order and stops at the first it refuses,
    /// `intel_nested_cache_invalidate_user`) and the error.
    fn invalidate_vtd_s1(
        &mut self,
        hwpt_id: u32,
        entries: &[HwptVtdS1Invalidate],
    ) -> Result<(), (u32, BackendError)>;
}

/// `IOMMU_HWPT_INVALIDATE` on a vSMMU, implemented by the VMM.
pub trait ViommuInvalidator {
    /// Issue `entries` (at most [`VIOMMU_BATCH`]); `Ok` once complete. A
    /// failed call counts as handling none of them: the kernel converts
    /// and issues a call this short as one block, and its `entry_num`
    /// counts entries of a failed block that it did not issue
    /// (`arm_vsmmu_cache_invalidate`; the validation series reports 0).
    fn invalidate_smmuv3(
        &mut self,
        entries: &[ViommuArmSmmuv3Invalidate],
    ) -> Result<(), BackendError>;
}

/// A [`Backend`] turning lifted ops into VT-d stage-1 entries. No allocation.
///
/// `W` is called with every op that asks for something without an entry
/// ([`VmmWork`]), in queue order; its error fails that op (the guest sees
/// the architecture's error at the op's command, [`Backend::unfinished`]),
/// and the ops after it in the batch are not taken.
pub struct VtdS1Backend<R, I, W> {
    /// HWPT routing.
    router: R,
    /// The ioctl.
    pub ioctl: I,
    /// The VMM's handler of what has no entry.
    on_vmm_work: W,
    /// Choices.
    pub opts: S1Options,
    /// What the entries widened so far (reported, never silent).
    pub widened: Widened,
    /// Entries submitted so far (after coalescing).
    pub entries: u64,
    /// Ioctls issued so far (the unit tests read it).
    pub(crate) ioctls: u64,
    pending: [Held; PENDING],
    len: usize,
    /// Ops handed to `execute` since the last barrier.
    seq: u32,
    /// After an error: [`Backend::unfinished`].
    unfinished: u32,
}

/// A pending entry: its HWPT, and the first op (of those since the last
/// barrier) it came from.
#[derive(Debug, Clone, Copy, Default)]
struct Held {
    hwpt: u32,
    entry: HwptVtdS1Invalidate,
    origin: u32,
}

impl<R, I, W> VtdS1Backend<R, I, W>
where
    R: HwptRouter,
    I: Invalidator,
    W: FnMut(&Op, VmmWork) -> Result<(), BackendError>,
{
    /// A back end with the default options.
    pub fn new(router: R, ioctl: I, on_vmm_work: W) -> Self {
        VtdS1Backend {
            router,
            ioctl,
            on_vmm_work,
            opts: S1Options::default(),
            widened: Widened::empty(),
            entries: 0,
            ioctls: 0,
            pending: [Held::default(); PENDING],
            len: 0,
            seq: 0,
            unfinished: 0,
        }
    }

    /// Entries waiting for the next barrier.
    pub fn pending(&self) -> usize {
        self.len
    }

    /// Submit every pending entry: one ioctl per HWPT, in the order the
    /// HWPTs first appear, each with its entries in queue order.
    pub fn flush(&mut self) -> Result<(), BackendError> {
        let r = flush_pending(
            &mut self.pending,
            &mut self.len,
            &mut self.ioctl,
            &mut self.ioctls,
            &mut self.entries,
        );
        self.settle(r)
    }

    /// After a submission or an op's failure (`Err((f, e))`: op `f` of
    /// those since the last barrier is the first not done): what
    /// [`Backend::unfinished`] reports; pending entries of op `f` and later
    /// are dropped (their commands run again once the guest restarts the
    /// queue) and the count of ops starts again.
    fn settle(&mut self, r: Result<(), (Option<u32>, BackendError)>) -> Result<(), BackendError> {
        let Err((first, e)) = r else {
            return Ok(());
        };
        self.unfinished = first.map_or(0, |f| self.seq.saturating_sub(f));
        let cut = first.unwrap_or(u32::MAX);
        let mut kept = 0;
        for i in 0..self.len {
            if let Some(h) = self.pending.get(i).copied().filter(|h| h.origin < cut) {
                if let Some(slot) = self.pending.get_mut(kept) {
                    *slot = Held { origin: 0, ..h };
                    kept += 1;
                }
            }
        }
        self.len = kept;
        self.seq = 0;
        Err(e)
    }
}

/// The one entry flushing the pages of `a` and `b` (same flags) when they
/// overlap or touch: their union, exactly (both are whole pages); an entry
/// of every address absorbs the other. `None` when they stay apart.
fn union(a: &HwptVtdS1Invalidate, b: &HwptVtdS1Invalidate) -> Option<HwptVtdS1Invalidate> {
    if a.flags != b.flags || a.reserved != 0 || b.reserved != 0 {
        return None;
    }
    let (Some((a0, a1)), Some((b0, b1))) = (a.span(), b.span()) else {
        return Some(HwptVtdS1Invalidate {
            flags: a.flags,
            ..HwptVtdS1Invalidate::ALL
        });
    };
    if b0 > a1.saturating_add(1) || a0 > b1.saturating_add(1) {
        return None;
    }
    let (first, last) = (a0.min(b0), a1.max(b1));
    let npages = u64::try_from((u128::from(last) + 1 - u128::from(first)) >> 12).ok()?;
    let e = HwptVtdS1Invalidate {
        addr: first,
        npages,
        flags: a.flags,
        reserved: 0,
    };
    (e.check().is_ok() && e.span() == Some((first, last))).then_some(e)
}

/// Coalesce the entries of each HWPT in place: entries of one HWPT whose
/// pages overlap or touch become one (at the first one's place, the
/// order otherwise kept, from the first op of the two). Returns how many
/// are left. Nothing is widened.
fn merge_entries(held: &mut [Held]) -> usize {
    let mut live = held.len();
    let mut i = 0;
    while i < live {
        let mut j = i + 1;
        while j < live {
            let merged = match (held.get(i), held.get(j)) {
                (Some(a), Some(b)) if a.hwpt == b.hwpt => {
                    union(&a.entry, &b.entry).map(|entry| (entry, a.origin.min(b.origin)))
                }
                _ => None,
            };
            match (merged, held.get_mut(i)) {
                (Some((u, origin)), Some(slot)) => {
                    slot.entry = u;
                    slot.origin = origin;
                    held.copy_within(j + 1..live, j);
                    live -= 1;
                    // The union may now touch an entry passed over.
                    j = i + 1;
                }
                _ => j += 1,
            }
        }
        i += 1;
    }
    live
}

/// Submit the pending entries, one call per HWPT. On failure: the first
/// op (since the last barrier) of an entry the kernel did not handle, in
/// any call (`None`: it reported every entry handled), and the first error.
fn flush_pending<I: Invalidator>(
    pending: &mut [Held; PENDING],
    len: &mut usize,
    ioctl: &mut I,
    ioctls: &mut u64,
    entries: &mut u64,
) -> Result<(), (Option<u32>, BackendError)> {
    let live = merge_entries(pending.get_mut(..*len).unwrap_or_default());
    let held = pending.get(..live).unwrap_or(&[]);
    let mut done = [false; PENDING];
    let mut result: Result<(), (Option<u32>, BackendError)> = Ok(());
    for (i, first) in held.iter().enumerate() {
        if done.get(i).copied().unwrap_or(true) {
            continue;
        }
        let mut buf = [HwptVtdS1Invalidate::default(); PENDING];
        let mut origins = [0u32; PENDING];
        let mut n = 0;
        for (j, h) in held.iter().enumerate().skip(i) {
            if h.hwpt == first.hwpt && !done.get(j).copied().unwrap_or(true) {
                if let (Some(slot), Some(o), Some(d)) =
                    (buf.get_mut(n), origins.get_mut(n), done.get_mut(j))
                {
                    *slot = h.entry;
                    *o = h.origin;
                    *d = true;
                    n += 1;
                }
            }
        }
        *ioctls += 1;
        *entries += n as u64;
        if let Err((handled, e)) = ioctl.invalidate_vtd_s1(first.hwpt, buf.get(..n).unwrap_or(&[]))
        {
            // The rest is still submitted: entries only remove cache entries.
            let left = origins.get(handled as usize..n).unwrap_or(&[]);
            let at = left.iter().copied().min();
            result = match result {
                Ok(()) => Err((at, e)),
                Err((a, first_e)) => Err((opt_min(a, at), first_e)),
            };
        }
    }
    *len = 0;
    result
}

/// Count `ops` as handed over since the last barrier: the number of the
/// first.
fn count_ops(seq: &mut u32, ops: &[Op]) -> u32 {
    let base = *seq;
    *seq = base.saturating_add(ops.len() as u32);
    base
}

/// The smaller of two optional op numbers.
fn opt_min(a: Option<u32>, b: Option<u32>) -> Option<u32> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

impl<R, I, W> Backend for VtdS1Backend<R, I, W>
where
    R: HwptRouter,
    I: Invalidator,
    W: FnMut(&Op, VmmWork) -> Result<(), BackendError>,
{
    fn execute(&mut self, ops: &[Op]) -> Result<(), BackendError> {
        let base = count_ops(&mut self.seq, ops);
        for (origin, op) in (base..).zip(ops) {
            let r = s1_entry(op, &self.opts);
            self.widened |= r.widened;
            if !r.vmm.is_empty() {
                if let Err(e) = (self.on_vmm_work)(op, r.vmm) {
                    return self.settle(Err((Some(origin), e)));
                }
            }
            let Some(e) = r.entry else { continue };
            let mut result = Ok(());
            let VtdS1Backend {
                router,
                ioctl,
                pending,
                len,
                entries,
                ioctls,
                ..
            } = self;
            router.for_each_hwpt(&e.scope, &mut |hwpt| {
                if *len == PENDING {
                    // Coalesce first; submit early only when that frees nothing.
                    *len = merge_entries(pending.get_mut(..*len).unwrap_or_default());
                }
                if *len == PENDING {
                    if let Err((at, err)) = flush_pending(pending, len, ioctl, ioctls, entries) {
                        // Every pending entry was sent: this op's are later.
                        if result.is_ok() {
                            result = Err((at.or(Some(origin)), err));
                        }
                    }
                }
                if let Some(slot) = pending.get_mut(*len) {
                    *slot = Held {
                        hwpt,
                        entry: e.entry,
                        origin,
                    };
                    *len += 1;
                }
            });
            if result.is_err() {
                return self.settle(result);
            }
        }
        Ok(())
    }

    fn barrier(&mut self, _sync: &Barrier) -> Result<(), BackendError> {
        let r = self.flush();
        self.seq = 0;
        r
    }

    fn unfinished(&self) -> u32 {
        self.unfinished
    }
}

/// What [`Smmuv3Forwarder::command`] did with a permitted command or a sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forwarded {
    /// Queued for the next submission.
    Queued,
    /// A CMD_SYNC: everything queued before it was submitted and is
    /// complete; complete the sync for the guest now.
    Synced,
}

/// Why [`Smmuv3Forwarder::command`] did not queue a command; the source is
/// the refusal or the ioctl's error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ForwardError {
    /// The kernel would refuse it: the reason and what to do instead.
    #[error("refused: {0}")]
    Refused(#[source] Refusal),
    /// The ioctl failed (at a sync, or when the batch was full).
    #[error("ioctl failed: {0}")]
    Ioctl(#[source] BackendError),
}

/// Forwards a guest's raw SMMUv3 commands to a vSMMU. No allocation.
pub struct Smmuv3Forwarder<V, I> {
    /// The vSMMU's VMID and the host features.
    pub(crate) vsmmu: Vsmmu,
    /// The vDEVICE table.
    pub vdevs: V,
    /// The ioctl.
    pub ioctl: I,
    buf: [ViommuArmSmmuv3Invalidate; VIOMMU_BATCH],
    len: usize,
    /// For a [`VsmmuBackend`]: the op each queued entry came from
    /// (counted from the last barrier), the op the next entries come
    /// from, and the first op of a failed call.
    origins: [u32; VIOMMU_BATCH],
    origin: u32,
    failed_from: Option<u32>,
}

impl<V: VdevTable, I: ViommuInvalidator> Smmuv3Forwarder<V, I> {
    /// A forwarder for `vsmmu` with vDEVICE table `vdevs`.
    pub fn new(vsmmu: Vsmmu, vdevs: V, ioctl: I) -> Self {
        Smmuv3Forwarder {
            vsmmu,
            vdevs,
            ioctl,
            buf: [ViommuArmSmmuv3Invalidate::default(); VIOMMU_BATCH],
            len: 0,
            origins: [0; VIOMMU_BATCH],
            origin: 0,
            failed_from: None,
        }
    }

    /// Entries queued.
    pub fn pending(&self) -> usize {
        self.len
    }

    /// One guest command, in queue order.
    pub fn command(&mut self, cmd: &Command) -> Result<Forwarded, ForwardError> {
        match self.vsmmu.guest_entry(cmd, &self.vdevs) {
            Ok(e) => {
                if self.len == VIOMMU_BATCH {
                    self.flush().map_err(ForwardError::Ioctl)?;
                }
                if let (Some(slot), Some(o)) =
                    (self.buf.get_mut(self.len), self.origins.get_mut(self.len))
                {
                    *slot = e;
                    *o = self.origin;
                    self.len += 1;
                }
                Ok(Forwarded::Queued)
            }
            Err(Refusal::Sync) => {
                self.flush().map_err(ForwardError::Ioctl)?;
                Ok(Forwarded::Synced)
            }
            Err(r) => Err(ForwardError::Refused(r)),
        }
    }

    /// Submit what is queued (one ioctl; none when nothing is queued).
    pub fn flush(&mut self) -> Result<(), BackendError> {
        let n = core::mem::take(&mut self.len);
        if n == 0 {
            return Ok(());
        }
        let r = self
            .ioctl
            .invalidate_smmuv3(self.buf.get(..n).unwrap_or(&[]));
        if r.is_err() {
            // None of the call's entries is known done.
            let first = self.origins.get(..n).and_then(|o| o.iter().copied().min());
            self.failed_from = opt_min(self.failed_from, first);
        }
        r
    }

    /// Keep the queued entries of ops before `cut`, renumbered to op 0
    /// (the count of ops starts again after an error).
    fn keep_before(&mut self, cut: u32) {
        let mut kept = 0;
        for i in 0..self.len {
            let (Some(e), Some(o)) = (self.buf.get(i).copied(), self.origins.get(i).copied())
            else {
                break;
            };
            if o < cut {
                if let (Some(slot), Some(so)) = (self.buf.get_mut(kept), self.origins.get_mut(kept))
                {
                    *slot = e;
                    *so = 0;
                    kept += 1;
                }
            }
        }
        self.len = kept;
    }
}

/// What a [`VsmmuBackend`] could not forward, for the VMM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VsmmuWork {
    /// A lowered command the kernel would refuse: the reason and the action.
    Refused(Refusal),
    /// Part of the op the SMMUv3 host lacks (e.g. interrupt remapping): the reason.
    Dropped(&'static str),
    /// The op has no SMMUv3 form at all: the reason.
    NoEquivalent(&'static str),
}

/// A [`Backend`] for a guest of the queue front ends on an SMMUv3 host's
/// vSMMU: each lifted op is lowered to SMMUv3 commands
/// (`iommu_inval_arm::lower`, with the host's features and the VMM's
/// context) and each command goes through the vSMMU's rules
/// ([`Smmuv3Forwarder`]); the queue is submitted at every guest barrier.
///
/// For an SMMUv3 guest this keeps the front end's register, completion and
/// error emulation (`CmdqDevice`) at the price of re-encoding: lifting and
/// lowering on one architecture keep the footprint (R2 of the design), so
/// the entries remove what the guest's commands would (a widening is
/// accumulated in `widened`). [`Smmuv3Forwarder`] alone passes the guest's
/// words unchanged. A failed call fails the guest command its first entry
/// came from ([`Backend::unfinished`]; the entries of a batch count from
/// the batch's first op, which coalescing may have merged). No allocation.
pub struct VsmmuBackend<C, V, I, W> {
    /// The vSMMU forwarder (its rules, vDEVICE table and ioctl).
    pub fwd: Smmuv3Forwarder<V, I>,
    /// The ids of the guest (ASID ↔ PASID, VMID ↔ domain) for lowering.
    pub ctx: C,
    /// The lowering's host features (from the vSMMU's features).
    pub features: iommu_inval_arm::Features,
    /// The lowering budget.
    pub budget: iommu_inval_core::Budget,
    /// The VMM's handler of what could not be forwarded.
    on_work: W,
    /// What lowering widened so far.
    pub widened: Widened,
    /// Ops handed to `execute` since the last barrier.
    seq: u32,
    /// After an error: [`Backend::unfinished`].
    unfinished: u32,
}

impl<C, V, I, W> VsmmuBackend<C, V, I, W>
where
    C: iommu_inval_core::Context,
    V: VdevTable,
    I: ViommuInvalidator,
    W: FnMut(&Op, VsmmuWork) -> Result<(), BackendError>,
{
    /// A back end for `fwd`, lowering with `ctx` and features matching
    /// the vSMMU's features (stage 1 only: the guest has no stage 2).
    pub fn new(fwd: Smmuv3Forwarder<V, I>, ctx: C, on_work: W) -> Self {
        let features = fwd.vsmmu.features.lowering_features();
        VsmmuBackend {
            fwd,
            ctx,
            features,
            budget: <Smmuv3 as Arch>::DEFAULT_BUDGET,
            on_work,
            widened: Widened::empty(),
            seq: 0,
            unfinished: 0,
        }
    }

    /// After `r`: on failure, what [`Backend::unfinished`] reports — from
    /// the first op of a failed call, or else from `op` (an op's own
    /// failure: a coalesced op counts from the first op of its batch) —
    /// and the queued entries of that op and later are dropped (their
    /// commands run again once the guest restarts the queue).
    fn settle(&mut self, r: Result<(), BackendError>, op: Option<u32>) -> Result<(), BackendError> {
        let failed = self.fwd.failed_from.take();
        let Err(e) = r else {
            return Ok(());
        };
        let first = opt_min(failed, op);
        self.unfinished = first.map_or(0, |f| self.seq.saturating_sub(f));
        self.fwd.keep_before(first.unwrap_or(u32::MAX));
        self.seq = 0;
        Err(e)
    }
}

/// Lowered commands straight into the forwarder.
struct ForwardSink<'a, V, I, W> {
    fwd: &'a mut Smmuv3Forwarder<V, I>,
    on_work: &'a mut W,
    op: &'a Op,
    err: Option<BackendError>,
}

impl<V, I, W> iommu_inval_core::Sink<Command> for ForwardSink<'_, V, I, W>
where
    V: VdevTable,
    I: ViommuInvalidator,
    W: FnMut(&Op, VsmmuWork) -> Result<(), BackendError>,
{
    fn push(&mut self, c: Command) -> Result<(), iommu_inval_core::sink::Full> {
        // What the lowering emits, as this host executes it (a hint the
        // host ignores would fail the kernel's checks).
        let c = self.fwd.vsmmu.fit_hints(&c);
        let r = match self.fwd.command(&c) {
            Ok(_) => Ok(()),
            Err(ForwardError::Refused(r)) => (self.on_work)(self.op, VsmmuWork::Refused(r)),
            Err(ForwardError::Ioctl(e)) => Err(e),
        };
        if let Err(e) = r {
            self.err.get_or_insert(e);
        }
        Ok(())
    }
}

impl<C, V, I, W> Backend for VsmmuBackend<C, V, I, W>
where
    C: iommu_inval_core::Context,
    V: VdevTable,
    I: ViommuInvalidator,
    W: FnMut(&Op, VsmmuWork) -> Result<(), BackendError>,
{
    fn execute(&mut self, ops: &[Op]) -> Result<(), BackendError> {
        let base = count_ops(&mut self.seq, ops);
        self.fwd.origin = base;
        // Whole invalidations: one scratch slot each.
        let mut scratch = [Inval::new(Caches::empty()); BATCH_OPS];
        let mut each = ForwardEach {
            be: self,
            result: Ok(()),
        };
        // `ForwardEach` takes every op, so only a full scratch could stop
        // it, and a full scratch is coalesced in pieces instead.
        let _ = coalesce(ops, &mut scratch, BatchOptions::HOST, &mut each);
        let r = each.result;
        self.settle(r, Some(base))
    }

    fn barrier(&mut self, _sync: &Barrier) -> Result<(), BackendError> {
        let r = self.fwd.flush();
        let r = self.settle(r, None);
        self.seq = 0;
        r
    }

    fn unfinished(&self) -> u32 {
        self.unfinished
    }
}

/// Forwards each coalesced op; the first error is kept and the rest still
/// forwarded (entries only remove cache entries).
struct ForwardEach<'b, C, V, I, W> {
    be: &'b mut VsmmuBackend<C, V, I, W>,
    result: Result<(), BackendError>,
}

impl<C, V, I, W> iommu_inval_core::Sink<Op> for ForwardEach<'_, C, V, I, W>
where
    C: iommu_inval_core::Context,
    V: VdevTable,
    I: ViommuInvalidator,
    W: FnMut(&Op, VsmmuWork) -> Result<(), BackendError>,
{
    fn push(&mut self, op: Op) -> Result<(), iommu_inval_core::sink::Full> {
        let mut result = Ok(());
        {
            let this = &mut *self.be;
            let op = &op;
            let mut sink = ForwardSink {
                fwd: &mut this.fwd,
                on_work: &mut this.on_work,
                op,
                err: None,
            };
            let lowered = Smmuv3::lower(op, &this.features, this.budget, &this.ctx, &mut sink);
            let mut err = sink.err.take();
            let work = match lowered {
                Ok(o) => {
                    this.widened |= o.widened;
                    o.dropped.map(VsmmuWork::Dropped)
                }
                Err(iommu_inval_core::LowerError::NoEquivalent(r)) => {
                    Some(VsmmuWork::NoEquivalent(r))
                }
                Err(_) => Some(VsmmuWork::NoEquivalent("the op does not lower to SMMUv3")),
            };
            if let Some(w) = work {
                if let Err(e) = (this.on_work)(op, w) {
                    err.get_or_insert(e);
                }
            }
            if let Some(e) = err {
                result = Err(e);
            }
        }
        if self.result.is_ok() {
            self.result = result;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iommu_inval_core::model::{Caches, DomainSel, Inval, PasidSel, Stages};
    use iommu_inval_core::AddrRange;
    use std::vec::Vec;

    #[derive(Default)]
    struct Log(Vec<(u32, Vec<HwptVtdS1Invalidate>)>);
    impl Invalidator for Log {
        fn invalidate_vtd_s1(
            &mut self,
            hwpt_id: u32,
            entries: &[HwptVtdS1Invalidate],
        ) -> Result<(), (u32, BackendError)> {
            self.0.push((hwpt_id, entries.to_vec()));
            Ok(())
        }
    }

    fn route(s: &S1Scope, f: &mut dyn FnMut(u32)) {
        match s.pasid {
            PasidSel::One(p) => f(100 + p),
            _ => {
                f(101);
                f(102);
            }
        }
    }

    fn page(pasid: u32, at: u64) -> Op {
        Inval::new(Caches::IOTLB)
            .stage(Stages::S1)
            .domain(DomainSel::One(1))
            .pasid(PasidSel::One(pasid))
            .range(AddrRange::new(at, 0x1000).unwrap())
            .into()
    }

    #[test]
    fn entries_are_grouped_per_hwpt_and_sent_at_the_barrier() {
        let mut work = Vec::new();
        let mut b = VtdS1Backend::new(route, Log::default(), |op: &Op, w: VmmWork| {
            work.push((*op, w));
            Ok(())
        });
        let cfg: Op = Inval::new(Caches::CONFIG_PASID).into();
        b.execute(&[page(1, 0x1000), page(2, 0x2000), cfg, page(1, 0x3000)])
            .unwrap();
        assert_eq!(b.pending(), 3);
        assert!(b.ioctl.0.is_empty(), "nothing before the barrier");
        b.barrier(&Barrier::default()).unwrap();
        let log = &b.ioctl.0;
        assert_eq!(log.len(), 2);
        assert_eq!(log[0].0, 101);
        assert_eq!(
            log[0].1.iter().map(|e| e.addr).collect::<Vec<_>>(),
            [0x1000, 0x3000]
        );
        assert_eq!(log[1].0, 102);
        assert_eq!(b.entries, 3);
        assert_eq!(work.len(), 1);
        assert_eq!(work[0].1, VmmWork::CONFIG_PASID);
    }

    #[test]
    fn a_full_buffer_is_submitted_early() {
        let mut b = VtdS1Backend::new(route, Log::default(), |_: &Op, _| Ok(()));
        // Pages one apart: nothing to coalesce.
        let ops: Vec<Op> = (0..PENDING as u64 + 5).map(|i| page(1, i << 13)).collect();
        b.execute(&ops).unwrap();
        assert_eq!(b.ioctl.0.len(), 1);
        assert_eq!(b.ioctl.0[0].1.len(), PENDING);
        b.barrier(&Barrier::default()).unwrap();
        assert_eq!(b.ioctl.0[1].1.len(), 5);
    }

    /// Issue 29 item 6: the entries of one barrier are coalesced per HWPT
    /// before the ioctl (more of them than the buffer holds, too), never
    /// across the barrier and never wider than asked.
    #[test]
    fn overlapping_pages_of_one_barrier_become_one_entry_per_hwpt() {
        let mut b = VtdS1Backend::new(route, Log::default(), |_: &Op, _| Ok(()));
        // 3 * PENDING ops: pages 0x10..0x20 again and again, in a shuffled order.
        let ops: Vec<Op> = (0..3 * PENDING as u64)
            .map(|i| page(1, (0x10 + (i * 7) % 16) << 12))
            .collect();
        for batch in ops.chunks(40) {
            b.execute(batch).unwrap();
        }
        // Coalesced when the buffer filled, instead of submitted early.
        assert!(b.ioctl.0.is_empty() && b.pending() < PENDING);
        b.barrier(&Barrier::default()).unwrap();
        // One ioctl of one entry: pages 0x10..0x20 exactly.
        let want = HwptVtdS1Invalidate {
            addr: 0x10 << 12,
            npages: 16,
            flags: 0,
            reserved: 0,
        };
        assert_eq!(b.ioctl.0, [(101, std::vec![want])]);
        assert_eq!((b.entries, b.ioctls), (1, 1));
        // Across a barrier nothing merges: the next page is its own entry.
        b.execute(&[page(1, 0x20 << 12)]).unwrap();
        b.barrier(&Barrier::default()).unwrap();
        assert_eq!(b.ioctl.0.len(), 2);
        assert_eq!(b.ioctl.0[1].1[0].addr, 0x20 << 12);
        // Different HWPTs and different flags stay apart; every address absorbs.
        let mut leaf = page(1, 0x1000);
        if let Op::Inval(i) = &mut leaf {
            i.caches |= Caches::LEAF;
        }
        let all: Op = Inval::new(Caches::IOTLB)
            .stage(Stages::S1)
            .domain(DomainSel::One(1))
            .pasid(PasidSel::One(1))
            .into();
        b.execute(&[page(1, 0x1000), leaf, page(2, 0x2000), all])
            .unwrap();
        b.barrier(&Barrier::default()).unwrap();
        assert_eq!(
            b.ioctl.0[2..],
            [
                (
                    101,
                    std::vec![HwptVtdS1Invalidate::ALL, {
                        let mut l = HwptVtdS1Invalidate::ALL;
                        l.addr = 0x1000;
                        l.npages = 1;
                        l.flags = crate::uapi::IOMMU_VTD_INV_FLAGS_LEAF;
                        l
                    }]
                ),
                (
                    102,
                    std::vec![HwptVtdS1Invalidate {
                        addr: 0x2000,
                        npages: 1,
                        flags: 0,
                        reserved: 0
                    }]
                ),
            ]
        );
    }

    #[test]
    fn entry_unions() {
        let e = |addr: u64, npages: u64| HwptVtdS1Invalidate {
            addr,
            npages,
            flags: 0,
            reserved: 0,
        };
        assert_eq!(union(&e(0x1000, 1), &e(0x2000, 2)), Some(e(0x1000, 3)));
        assert_eq!(union(&e(0x3000, 1), &e(0x1000, 4)), Some(e(0x1000, 4)));
        assert_eq!(union(&e(0x1000, 1), &e(0x3000, 1)), None);
        let top = e(u64::MAX - 0xfff, 1);
        assert_eq!(
            union(&top, &e(u64::MAX - 0x1fff, 1)),
            Some(e(u64::MAX - 0x1fff, 2))
        );
        assert_eq!(
            union(&top, &HwptVtdS1Invalidate::ALL),
            Some(HwptVtdS1Invalidate::ALL)
        );
    }

    #[derive(Default)]
    struct VLog(Vec<Vec<ViommuArmSmmuv3Invalidate>>);
    impl ViommuInvalidator for VLog {
        fn invalidate_smmuv3(
            &mut self,
            entries: &[ViommuArmSmmuv3Invalidate],
        ) -> Result<(), BackendError> {
            self.0.push(entries.to_vec());
            Ok(())
        }
    }

    #[test]
    fn the_forwarder_submits_at_the_guest_sync() {
        use iommu_inval_arm::*;
        let mut f = Smmuv3Forwarder::new(
            Vsmmu::new(3, Default::default()),
            [(0x10u32, 0x200u32)],
            VLog::default(),
        );
        let tlbi: Command = Command::TlbiNhAsid(TlbiScope { vmid: 0, asid: 5 });
        let ste: Command = Command::CfgiSte(Cfgi {
            ssec: false,
            sid: 0x10,
            leaf: true,
            ..Default::default()
        });
        let sync: Command = Command::CmdSync(CmdSync::default());
        assert_eq!(f.command(&tlbi), Ok(Forwarded::Queued));
        assert_eq!(
            f.command(&ste),
            Err(ForwardError::Refused(Refusal::SteConfig))
        );
        assert_eq!(f.command(&sync), Ok(Forwarded::Synced));
        assert_eq!(
            f.ioctl.0,
            [std::vec![ViommuArmSmmuv3Invalidate { cmd: tlbi.encode() }]]
        );
        // A sync with nothing queued issues no ioctl.
        assert_eq!(f.command(&sync), Ok(Forwarded::Synced));
        assert_eq!(f.ioctl.0.len(), 1);
    }

    /// Issue 29 item 6: a vSMMU back end coalesces the ops of one batch
    /// before lowering them, so 16 adjacent pages of one address space
    /// become fewer entries than one per page.
    #[test]
    fn the_vsmmu_backend_coalesces_a_batch() {
        let sent = |ops: &[Op]| {
            let fwd = Smmuv3Forwarder::new(
                Vsmmu::new(3, Default::default()),
                [(1u32, 1u32)],
                VLog::default(),
            );
            let mut be =
                VsmmuBackend::new(fwd, iommu_inval_core::IdentityContext, |_: &Op, _| Ok(()));
            be.execute(ops).unwrap();
            be.barrier(&Barrier::default()).unwrap();
            be.fwd.ioctl.0.concat()
        };
        let pages: Vec<Op> = (0..16u64).map(|i| page(5, (0x40 + i) << 12)).collect();
        let one_by_one: usize = pages
            .iter()
            .map(|p| sent(std::slice::from_ref(p)).len())
            .sum();
        let batched = sent(&pages);
        assert_eq!(one_by_one, 16);
        assert!(batched.len() < 4, "{batched:#x?}");
    }

    /// Found by the lower_caps property through a vSMMU: the SMMUv3
    /// lowering keeps a level-1 hint with a 16 KiB granule (TTL 1, TG 2),
    /// which a host without DS treats as TTL 0 (IHI0070 §4.4.1.1) but the
    /// kernel refuses (arm_vsmmu_validate_range), failing the whole batch.
    #[test]
    fn the_lowering_fits_the_level_hint_to_a_host_without_ds() {
        use iommu_inval_core::model::Hints;
        let op: Op = Inval::new(Caches::IOTLB | Caches::LEAF)
            .stage(Stages::S1)
            .domain(DomainSel::One(1))
            .pasid(PasidSel::One(5))
            .range(AddrRange::new(0x4000, 0x10_0000 - 0x4000).unwrap())
            .hints(Hints {
                tg_shift: 14,
                level: 1,
                ..Hints::default()
            })
            .into();
        for ds in [false, true] {
            let vsmmu = Vsmmu::new(
                3,
                crate::smmuv3::HostFeatures {
                    ds,
                    ..Default::default()
                },
            );
            let fwd = Smmuv3Forwarder::new(vsmmu, [(1u32, 1u32)], VLog::default());
            let mut work = Vec::new();
            let mut be = VsmmuBackend::new(fwd, iommu_inval_core::IdentityContext, |_: &Op, w| {
                work.push(w);
                Ok(())
            });
            be.execute(&[op]).unwrap();
            be.barrier(&Barrier::default()).unwrap();
            let sent: Vec<_> = be.fwd.ioctl.0.concat();
            drop(be);
            assert!(work.is_empty(), "ds {ds}: {work:?}");
            assert!(!sent.is_empty());
            for e in &sent {
                assert_eq!(vsmmu.validate(&e.cmd), Ok(()), "ds {ds}: {:#x?}", e.cmd);
            }
            // With DS the hint stays.
            let ttl1 = sent
                .iter()
                .any(|e| (e.cmd[1] >> 8) & 3 == 1 && (e.cmd[1] >> 10) & 3 == 2);
            assert_eq!(ttl1, ds, "{sent:#x?}");
        }
    }
}
