//! The architecture-neutral half of every lowering: the phased emitter and
//! the enumeration of a domain's devices and PASIDs.
//!
//! An architecture's `lower` plans which native commands name a scope; it
//! writes them through an [`Emitter`], which keeps the phase order
//! (configuration, IOTLB, device TLB) fenced, counts what was written and
//! collects the [`Outcome`]. [`DeviceSet`], [`one_tag`], [`tag_shared`] and
//! [`ListedPasids`] answer "which devices / which native tags" through the
//! [`Context`], with `None` / a [`DeviceSet`] of every or unlisted devices meaning
//! "unknown: widen".

use crate::arch::Arch;
use crate::context::Context;
use crate::error::LowerError;
use crate::model::{
    Barrier, Caches, DeviceSel, DomainSel, Inval, Op, Outcome, PageResponse, PasidSel, Prefetch,
    RespCode, StallAction, Widened,
};
use crate::native::ArchId;
use crate::range::{ats_encode_block, covering_block, AddrRange, AlignedBlocks, Block, PAGE_SHIFT};
use crate::sink::Sink;
use crate::Flags;

/// An architecture's lowering of every op but invalidations (its own
/// function, `crate::lower::lower_inval` for [`arch_impl!`](crate::arch_impl)), and the barrier
/// parts it cannot carry. Its [`Arch::lower`] refuses those parts and
/// emits the one command of a barrier, page response or stall op.
pub trait Lowering: Arch {
    /// Why a barrier that sends an event (`sev`) is `NoEquivalent`; `None`:
    /// [`lower_barrier`](Self::lower_barrier) takes it.
    const NO_EVENT: Option<&'static str> = None;
    /// Why a barrier that drains page requests is `NoEquivalent`; `None`:
    /// [`lower_barrier`](Self::lower_barrier) takes it.
    const NO_DRAIN: Option<&'static str> = None;
    /// Why a prefetch is dropped, where [`lower_prefetch`](Self::lower_prefetch)
    /// is not the architecture's own.
    const NO_PREFETCH: &'static str = "no prefetch command";
    /// Why resume (first) and stall terminate (second) are `NoEquivalent`,
    /// where [`lower_stall`](Self::lower_stall) is not the architecture's own.
    const NO_STALL: [&'static str; 2] = ["no stall resume command", "no stall terminate command"];
    /// Why a secure invalidation is dropped (an architecture without a
    /// secure regime has nothing to remove); `None`: its `lower_inval`
    /// takes it.
    const NO_SECURE: Option<&'static str> = None;
    /// Whether an invalidation of a hand-built inverted range (a `Span`
    /// with `first > last`, [`is_inverted`]) is refused as
    /// `LowerError::Invalid` before anything else; `false`: its
    /// `lower_inval` reads it (as [`AddrRange::first`] and
    /// [`AddrRange::last`] do).
    const REFUSES_INVERTED: bool = false;

    /// The one command of barrier `b` (without the parts `NO_EVENT` and
    /// `NO_DRAIN` refuse), or `NoEquivalent`.
    fn lower_barrier(
        _b: &Barrier,
        _host: &Host<'_, Self::Features>,
    ) -> Result<Self::Command, LowerError> {
        Err(LowerError::NoEquivalent("no sync command"))
    }
    /// A sync: the one command of [`lower_barrier`](Self::lower_barrier)
    /// after the `NO_EVENT` and `NO_DRAIN` refusals, unless the
    /// architecture has no sync command because each of its requests
    /// completes on its own (virtio-iommu: nothing is emitted, exactly).
    fn lower_sync(
        b: &Barrier,
        host: &Host<'_, Self::Features>,
        out: &mut dyn Sink<Self::Command>,
    ) -> Result<Outcome, LowerError> {
        match (Self::NO_EVENT, Self::NO_DRAIN) {
            (Some(why), _) if b.sev => Err(LowerError::NoEquivalent(why)),
            (_, Some(why)) if b.drain_page_requests => Err(LowerError::NoEquivalent(why)),
            _ => emit_one(out, Self::lower_barrier(b, host)?),
        }
    }
    /// The one command of a page response, or `NoEquivalent`.
    fn lower_page_response(
        r: &PageResponse,
        host: &Host<'_, Self::Features>,
    ) -> Result<Self::Command, LowerError>;
    /// A prefetch (a hint): dropped with [`NO_PREFETCH`](Self::NO_PREFETCH)
    /// unless the architecture has a prefetch command.
    fn lower_prefetch(
        _p: &Prefetch,
        _host: &Host<'_, Self::Features>,
        _out: &mut dyn Sink<Self::Command>,
    ) -> Result<Outcome, LowerError> {
        Ok(dropped(Self::NO_PREFETCH))
    }
    /// The one command resuming (`Some((stag, action))`) or terminating
    /// (`None`) the stalled transactions of `device`: `NoEquivalent` with
    /// [`NO_STALL`](Self::NO_STALL) unless the architecture has a stall model.
    fn lower_stall(
        _device: u32,
        resume: Option<(u16, StallAction)>,
    ) -> Result<Self::Command, LowerError> {
        let [res, term] = Self::NO_STALL;
        Err(LowerError::NoEquivalent(if resume.is_some() {
            res
        } else {
            term
        }))
    }
}

/// Writes, inside an `impl Lowering`, the refusal consts from the
/// architecture's barrier command name and its own name:
/// `refusals!(barrier = "IOFENCE.C", event, drain; lacks = "the RISC-V IOMMU", prefetch, stall);`
/// gives `NO_EVENT` "IOFENCE.C cannot send an event (SEV)", `NO_DRAIN`
/// "… cannot drain page requests", `NO_PREFETCH` "the RISC-V IOMMU has no
/// prefetch command" and `NO_STALL` "… has no stall resume / terminate
/// command"; `secure` gives `NO_SECURE` "… has no secure regime".
#[macro_export]
macro_rules! refusals {
    (barrier = $b:literal $(, $bf:ident)*; lacks = $a:literal $(, $af:ident)*) => {
        $($crate::refusals!(@ $b, $bf);)*
        $($crate::refusals!(@ $a, $af);)*
    };
    (@ $b:literal, event) => {
        const NO_EVENT: Option<&'static str> = Some(concat!($b, " cannot send an event (SEV)"));
    };
    (@ $b:literal, drain) => {
        const NO_DRAIN: Option<&'static str> = Some(concat!($b, " cannot drain page requests"));
    };
    (@ $a:literal, prefetch) => {
        const NO_PREFETCH: &'static str = concat!($a, " has no prefetch command");
    };
    (@ $a:literal, secure) => {
        const NO_SECURE: Option<&'static str> = Some(concat!($a, " has no secure regime"));
    };
    (@ $a:literal, stall) => {
        const NO_STALL: [&'static str; 2] = [
            concat!($a, " has no stall resume command"),
            concat!($a, " has no stall terminate command"),
        ];
    };
}

/// Lower `op` for a host with `features` within `budget`: invalidations
/// through `inval` (the architecture's own), every other op through `A`'s
/// [`Lowering`]. The body of the [`Arch::lower`] that
/// [`arch_impl!`](crate::arch_impl) writes (hidden: it exists for that
/// macro's expansion; callers use [`Arch::lower`]).
#[doc(hidden)]
#[inline]
pub fn lower<A: Lowering, X: Context + ?Sized>(
    op: &Op,
    features: &A::Features,
    budget: Budget,
    ctx: &X,
    out: &mut dyn Sink<A::Command>,
    inval: impl FnOnce(InvalJob<'_, A, X>) -> Result<Outcome, LowerError>,
) -> Result<Outcome, LowerError> {
    let host = &Host::new(features, budget);
    match op {
        Op::Inval(i) => {
            if A::REFUSES_INVERTED && is_inverted(&i.range) {
                return Err(LowerError::Invalid("range with first > last"));
            }
            match A::NO_SECURE {
                Some(why) if i.regime.is_secure() => Ok(dropped(why)),
                _ => inval((i, host, ctx, out)),
            }
        }
        Op::Prefetch(p) => A::lower_prefetch(p, host, out),
        Op::Sync(b) => A::lower_sync(b, host, out),
        _ => emit_one(out, lower_one::<A>(op, host)?),
    }
}

/// The one command of a barrier, page response or stall op (out of line:
/// the invalidation path stays small).
#[inline(never)]
fn lower_one<A: Lowering>(op: &Op, host: &Host<'_, A::Features>) -> Result<A::Command, LowerError> {
    match op {
        Op::PageResponse(r) => A::lower_page_response(r, host),
        Op::Resume {
            device,
            stag,
            action,
        } => A::lower_stall(*device, Some((*stag, *action))),
        Op::StallTerminate { device } => A::lower_stall(*device, None),
        Op::Inval(_) | Op::Prefetch(_) | Op::Sync(_) => Err(LowerError::Invalid(
            "an invalidation, prefetch or sync is not a one-command op",
        )),
    }
}

/// One invalidation to lower, as [`arch_impl!`](crate::arch_impl) passes it to
/// the architecture's `lower_inval`: the op, the host written for, the
/// context (ids and memberships) and the output.
pub type InvalJob<'a, A, X> = (
    &'a Inval,
    &'a Host<'a, <A as Arch>::Features>,
    &'a X,
    &'a mut dyn Sink<<A as Arch>::Command>,
);

/// The host a lowering writes for: its features and the command cap of
/// its [`Budget`].
#[derive(Debug)]
pub struct Host<'a, F> {
    /// The host IOMMU's features.
    pub f: &'a F,
    /// [`Budget::cap`]: at least one.
    pub cap: usize,
}

impl<'a, F> Host<'a, F> {
    /// The host with `features`, within `budget`.
    #[inline]
    pub(crate) const fn new(features: &'a F, budget: Budget) -> Self {
        Host {
            f: features,
            cap: budget.cap(),
        }
    }
}

/// The caches a host lacks: `always` (caches the architecture has not)
/// and each of `optional` whose feature the host has not (`false`).
#[inline]
pub const fn lacking(always: Caches, optional: &[(Caches, bool)]) -> Caches {
    let mut l = always;
    let mut k = 0;
    while k < optional.len() {
        if !optional[k].1 {
            l = l.union(optional[k].0);
        }
        k += 1;
    }
    l
}

/// Writes one lowering's commands to a sink, phase by phase, and keeps its
/// [`Outcome`].
///
/// A phase is closed with [`end_phase`](Self::end_phase), after which the
/// architecture's `fence` command is due: written at once by
/// [`fence_now`](Self::fence_now), or before the next command by
/// [`push_fenced`](Self::push_fenced) (so no phase starts before the one
/// before it completes). Empty phases add no fence.
pub struct Emitter<'a, C> {
    sink: &'a mut dyn Sink<C>,
    /// Makes the fence (called only when one is written, so that a large
    /// command type is not copied into every emitter).
    fence: fn() -> C,
    emitted: usize,
    widened: Widened,
    dropped: Option<&'static str>,
    /// Non-empty phases closed so far.
    phases: usize,
    /// `emitted` when the current phase began: it has written a command
    /// when `emitted` is past it.
    mark: usize,
    /// A closed phase wrote something: the next command needs a fence first.
    fence_due: bool,
}

impl<'a, C> Emitter<'a, C> {
    /// An emitter writing to `sink`, separating phases with `fence()`.
    #[inline]
    pub fn new(sink: &'a mut dyn Sink<C>, fence: fn() -> C) -> Self {
        Emitter {
            sink,
            fence,
            emitted: 0,
            widened: Widened::empty(),
            dropped: None,
            phases: 0,
            mark: 0,
            fence_due: false,
        }
    }

    /// Write `c` in the current phase.
    #[inline]
    pub fn push(&mut self, c: impl Into<C>) -> Result<(), LowerError> {
        self.raw(c.into())
    }

    /// Write `c` in the current phase, after the fence a closed phase left due.
    #[inline]
    pub fn push_fenced(&mut self, c: C) -> Result<(), LowerError> {
        if self.fence_due {
            self.push_barrier((self.fence)())?;
        }
        self.push(c)
    }

    /// Write `c`, which completes everything written before it (a fence, or
    /// a barrier passed through from the input): no fence is due after it
    /// and the next command starts a new phase.
    #[inline]
    pub(crate) fn push_barrier(&mut self, c: C) -> Result<(), LowerError> {
        self.fence_due = false;
        self.raw(c)?;
        self.mark = self.emitted;
        Ok(())
    }

    /// Write `c` with no fence before it (after the last phase: a trailing fence).
    #[inline]
    pub fn raw(&mut self, c: C) -> Result<(), LowerError> {
        self.sink.push(c)?;
        self.emitted += 1;
        Ok(())
    }

    /// Close the current phase; if it wrote anything, a fence is due.
    #[inline]
    pub fn end_phase(&mut self) {
        if self.emitted > self.mark {
            self.mark = self.emitted;
            self.fence_due = true;
            self.phases += 1;
        }
    }

    /// Close the current phase and write its fence now if one is due
    /// (a fence right after the phase, whether or not another follows).
    #[inline]
    pub fn fence_now(&mut self) -> Result<(), LowerError> {
        self.end_phase();
        if self.fence_due {
            self.push_barrier((self.fence)())?;
        }
        Ok(())
    }

    /// Non-empty phases closed so far.
    #[inline]
    pub const fn phases(&self) -> usize {
        self.phases
    }

    /// Commands written so far (fences included).
    #[inline]
    pub const fn emitted(&self) -> usize {
        self.emitted
    }

    /// What has been widened so far.
    #[inline]
    pub const fn widened(&self) -> Widened {
        self.widened
    }

    /// Report `w` as widened.
    #[inline]
    pub fn widen(&mut self, w: Widened) {
        self.widened |= w;
    }

    /// Report a dropped part; the first reason is kept.
    #[inline]
    pub fn drop_part(&mut self, reason: &'static str) {
        if self.dropped.is_none() {
            self.dropped = Some(reason);
        }
    }

    /// The outcome of a lowering whose planning widened `widened` and
    /// dropped the part `dropped` (replacing any earlier reason).
    #[inline]
    pub fn finish(mut self, widened: Widened, dropped: Option<&'static str>) -> Outcome {
        self.widened |= widened;
        self.dropped = dropped;
        self.outcome()
    }

    /// The outcome so far.
    #[inline]
    pub fn outcome(&self) -> Outcome {
        Outcome {
            emitted: self.emitted,
            widened: self.widened,
            dropped: self.dropped,
        }
    }
}

/// Write the one command `c` of a single-command operation.
#[inline]
fn emit_one<C>(out: &mut dyn Sink<C>, c: C) -> Result<Outcome, LowerError> {
    out.push(c)?;
    Ok(Outcome {
        emitted: 1,
        ..Outcome::default()
    })
}

/// The outcome of an operation dropped whole (rule 2: the target lacks the
/// cache or hint), with its reason.
#[inline]
pub const fn dropped(reason: &'static str) -> Outcome {
    Outcome {
        emitted: 0,
        widened: Widened::EMPTY,
        dropped: Some(reason),
    }
}

/// An `AddrRange::Span` built by hand with `first > last`: not a range.
#[inline]
pub const fn is_inverted(r: &AddrRange) -> bool {
    matches!(*r, AddrRange::Span { first, last } if first > last)
}

/// The devices a device-tagged invalidation reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceSet {
    /// Requester ids `lo..=hi`.
    Interval(u32, u32),
    /// The devices the context lists for a domain.
    Domain {
        /// The generic domain.
        domain: u32,
        /// How many devices it lists.
        count: usize,
        /// The largest requester id among them (0 when none).
        max: u32,
    },
    /// Every device (no device and no domain named).
    Every,
    /// Every device of a domain whose devices the context does not list.
    Unlisted,
}

impl DeviceSet {
    /// The devices of `sel` (a device interval), or else of `domain`
    /// through the context.
    #[inline]
    pub fn resolve<X: Context + ?Sized>(sel: DeviceSel, domain: DomainSel, ctx: &X) -> Self {
        if let Some((a, b)) = sel.interval() {
            return DeviceSet::Interval(a.min(b), a.max(b));
        }
        let DomainSel::One(d) = domain else {
            return DeviceSet::Every;
        };
        let (mut count, mut max) = (0usize, 0u32);
        if ctx.devices_of_domain(d, &mut |rid| {
            count += 1;
            max = max.max(rid);
        }) {
            DeviceSet::Domain {
                domain: d,
                count,
                max,
            }
        } else {
            DeviceSet::Unlisted
        }
    }

    /// True when the devices can be named one by one.
    #[inline]
    pub(crate) const fn is_enumerable(&self) -> bool {
        matches!(self, DeviceSet::Interval(..) | DeviceSet::Domain { .. })
    }

    /// The largest requester id, when enumerable.
    #[inline]
    pub(crate) const fn max_id(&self) -> Option<u32> {
        match *self {
            DeviceSet::Interval(_, hi) => Some(hi),
            DeviceSet::Domain { max, .. } => Some(max),
            DeviceSet::Every | DeviceSet::Unlisted => None,
        }
    }

    /// True when enumerable and every id is at most `limit`.
    #[inline]
    pub fn fits(&self, limit: u32) -> bool {
        self.max_id().is_some_and(|m| m <= limit)
    }

    /// How many devices (`usize::MAX` when not enumerable).
    #[inline]
    pub fn count(&self) -> usize {
        match *self {
            DeviceSet::Interval(lo, hi) => {
                usize::try_from(hi - lo).map_or(usize::MAX, |n| n.saturating_add(1))
            }
            DeviceSet::Domain { count, .. } => count,
            DeviceSet::Every | DeviceSet::Unlisted => usize::MAX,
        }
    }

    /// Call `f` with each device, stopping at the first error; nothing for
    /// a set that is not enumerable.
    pub fn for_each<X: Context + ?Sized, E>(
        &self,
        ctx: &X,
        f: &mut dyn FnMut(u32) -> Result<(), E>,
    ) -> Result<(), E> {
        match *self {
            DeviceSet::Interval(lo, hi) => (lo..=hi).try_for_each(f),
            DeviceSet::Domain { domain, .. } => {
                let mut res = Ok(());
                ctx.devices_of_domain(domain, &mut |rid| {
                    if res.is_ok() {
                        res = f(rid);
                    }
                });
                res
            }
            DeviceSet::Every | DeviceSet::Unlisted => Ok(()),
        }
    }
}

/// How many devices of `devs` the device-TLB phase of an invalidation
/// reaches: none on a host without ATS (`host_ats` false), else those whose
/// ATS the context enables; `dropped` is set to why the phase leaves a part
/// out (the host has no ATS, or some devices have none). Refused
/// (`NoEquivalent`) when the devices cannot be enumerated (`unlisted`: the
/// architecture has no all-device command), one id is above `max_id`
/// (`too_wide`), or the ATS devices number more than `cap`. `ids` is the
/// architecture's `(max_id, [unlisted, too_wide])`.
pub fn ats_devices<X: Context + ?Sized>(
    devs: &DeviceSet,
    ctx: &X,
    host_ats: bool,
    cap: usize,
    ids: (u32, [&'static str; 2]),
    dropped: &mut Option<&'static str>,
) -> Result<usize, LowerError> {
    let (max_id, [unlisted, too_wide]) = ids;
    if !host_ats {
        *dropped = Some("host without ATS: no device TLBs");
        return Ok(0);
    }
    if !devs.is_enumerable() {
        return Err(LowerError::NoEquivalent(unlisted));
    }
    if !devs.fits(max_id) {
        return Err(LowerError::NoEquivalent(too_wide));
    }
    let mut n = 0usize;
    devs.for_each(ctx, &mut |d| {
        n += usize::from(ctx.ats_enabled(d));
        Ok::<(), LowerError>(())
    })?;
    if n > cap {
        return Err(LowerError::NoEquivalent(
            "device-TLB invalidation of more devices than max_cmds",
        ));
    }
    if n < devs.count() {
        *dropped = Some("devices without ATS have no device TLB");
    }
    Ok(n)
}

/// The PCIe Page Request Group Response code of a page response (PCIe
/// base specification, "Page Request Group Response Message": Success
/// 0000b, Invalid Request 0001b, Response Failure 1111b), the code VT-d's
/// `page_grp_resp_dsc`, AMD-Vi's COMPLETE_PPR_REQUEST and RISC-V's
/// ATS.PRGR carry.
pub const fn prg_response_code(code: RespCode) -> u8 {
    match code {
        RespCode::Success => 0x0,
        RespCode::Invalid => 0x1,
        RespCode::Failure => 0xf,
    }
}

/// The one native tag (ASID, PSCID, PASID-table entry...) of PASID
/// selection `sel` in `domain`: when the context knows the tags, names
/// exactly one (repeats allowed) and it `fits` the host.
#[inline]
pub fn one_tag<X: Context + ?Sized>(
    ctx: &X,
    arch: ArchId,
    domain: DomainSel,
    sel: PasidSel,
    fits: impl Fn(u32) -> bool,
) -> Option<u32> {
    let (mut tag, mut several) = (None, false);
    let known = ctx.tags_of_pasid(arch, domain, sel, &mut |t| match tag {
        None => tag = Some(t),
        Some(x) => several |= x != t,
    });
    tag.filter(|&t| known && !several && fits(t))
}

/// True when a PASID selection other than `sel` also carries native tag
/// `tag` in `domain` (an invalidation by that tag removes its entries too).
#[inline]
pub fn tag_shared<X: Context + ?Sized>(
    ctx: &X,
    arch: ArchId,
    domain: DomainSel,
    tag: u32,
    sel: PasidSel,
) -> bool {
    let mut shared = false;
    ctx.pasids_of_tag(arch, domain, tag, &mut |q| shared |= q != sel);
    shared
}

/// Every PASID of a domain, as the native PASIDs a lowering names one by
/// one: the ones the context lists and the entry of requests without PASID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListedPasids {
    domain: u32,
    count: usize,
    /// The no-PASID entry when it is not one of the listed PASIDs.
    extra: Option<u32>,
}

impl ListedPasids {
    /// The PASIDs of domain `d`, when the context lists at least one, names
    /// one entry for requests without PASID ([`one_tag`]), each `fits`, and
    /// they number at most `budget`; else `None` (unknown: widen).
    pub fn resolve<X: Context + ?Sized>(
        ctx: &X,
        arch: ArchId,
        d: u32,
        fits: impl Fn(u32) -> bool,
        budget: usize,
    ) -> Option<Self> {
        let no_pasid = one_tag(ctx, arch, DomainSel::One(d), PasidSel::NoPasid, &fits)?;
        let (mut n, mut fit, mut has) = (0usize, true, false);
        if !ctx.pasids_of_domain(d, &mut |p| {
            n += 1;
            fit &= fits(p);
            has |= p == no_pasid;
        }) {
            return None;
        }
        let extra = (!has).then_some(no_pasid);
        let count = n + usize::from(extra.is_some());
        (n > 0 && fit && count <= budget).then_some(ListedPasids {
            domain: d,
            count,
            extra,
        })
    }

    /// How many PASIDs (each once).
    #[inline]
    pub const fn count(&self) -> usize {
        self.count
    }

    /// Call `f` with each PASID, the no-PASID entry last, stopping at the
    /// first error.
    pub fn for_each<X: Context + ?Sized, E>(
        &self,
        ctx: &X,
        f: &mut dyn FnMut(u32) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut res = Ok(());
        ctx.pasids_of_domain(self.domain, &mut |p| {
            if res.is_ok() {
                res = f(p);
            }
        });
        res?;
        match self.extra {
            Some(x) => f(x),
            None => Ok(()),
        }
    }
}

/// The range rule of the NAPOT (PCIe ATS size) encodings: a range is sent
/// as the one smallest aligned block covering it, unless that block is more
/// than `NAPOT_SPLIT_FACTOR` times the requested (page-aligned) bytes; then
/// as its naturally aligned blocks, one command each, when they number at
/// most the cap.
pub const NAPOT_SPLIT_FACTOR: u128 = 2;

/// The commands that send one address range in the PCIe ATS size encoding
/// ([`ats_encode_block`]: AMD-Vi's `s` bit, RISC-V's NAPOT `S`, ATS
/// invalidations): how many, what they widen, and the `(address, s)` of
/// each ([`RangePlan::for_each`]). Built by one rule: [`RangePlan::napot`]
/// (the [`NAPOT_SPLIT_FACTOR`] rule), [`RangePlan::leaves`] (one `s` = 0
/// command per leaf) or [`RangePlan::no_address`] (the command's form
/// without an address).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangePlan {
    addrs: Addrs,
    count: usize,
    /// `RANGE` when the commands cover more than asked, plus `CAP` when the
    /// cap forced a wider encoding (a caller may add its own reasons).
    pub widened: Widened,
}

/// The addresses of a [`RangePlan`]'s commands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Addrs {
    /// One command without an address.
    None,
    /// One command for this block (order 64: the whole space).
    Block(Block),
    /// One command per block.
    Blocks(AlignedBlocks),
    /// One `s` = 0 command per `2^shift` bytes from `first`.
    Leaves { first: u64, shift: u32 },
}

impl RangePlan {
    /// One command without an address (RISC-V `AV` = 0: every address and
    /// every level), widening by `widened`.
    pub const fn no_address(widened: Widened) -> RangePlan {
        RangePlan {
            addrs: Addrs::None,
            count: 1,
            widened,
        }
    }

    /// `r` under the [`NAPOT_SPLIT_FACTOR`] rule with at most `cap` commands
    /// (at least one): the one covering block (the whole space when `r` is
    /// everything or no block below 2^64 covers it), or its page-aligned
    /// blocks when the covering block is too wide and they fit the cap,
    /// else the covering block with `CAP`.
    #[inline]
    pub fn napot(r: &AddrRange, cap: usize) -> RangePlan {
        let cap = cap.max(1);
        if r.is_all() {
            return RangePlan {
                addrs: Addrs::Block(Block { addr: 0, order: 64 }),
                count: 1,
                widened: Widened::empty(),
            };
        }
        let exact = |covered: &AddrRange| {
            if covered == r {
                Widened::empty()
            } else {
                Widened::RANGE
            }
        };
        let block = covering_block(r, PAGE_SHIFT);
        let single = |extra: Widened| RangePlan {
            addrs: Addrs::Block(block),
            count: 1,
            widened: exact(&block.range()) | extra,
        };
        // One page (an unmap's common case) is its own block: no split to weigh.
        if block.order == PAGE_SHIFT {
            return single(Widened::empty());
        }
        let pages = r.align_out(PAGE_SHIFT);
        if block.order >= 64 || (1u128 << block.order) <= NAPOT_SPLIT_FACTOR * pages.size() {
            return single(Widened::empty());
        }
        let blocks = AlignedBlocks::new(&pages, PAGE_SHIFT, 63);
        let count = blocks.clone().take(cap.saturating_add(1)).count();
        if count <= cap {
            RangePlan {
                addrs: Addrs::Blocks(blocks),
                count,
                widened: exact(&pages),
            }
        } else {
            single(Widened::CAP)
        }
    }

    /// One `s` = 0 command per `2^shift`-byte leaf of `r` (`shift` 12: every
    /// 4 KiB page), `RANGE` when the leaves cover more than `r`; `None` when
    /// `r` is everything, `shift` is outside `12..64`, or the leaves number
    /// more than `cap` (at least one).
    pub fn leaves(r: &AddrRange, shift: u32, cap: usize) -> Option<RangePlan> {
        if r.is_all() || !(PAGE_SHIFT..64).contains(&shift) {
            return None;
        }
        let leaves = r.align_out(shift);
        let n = leaves.size() >> shift;
        if n > cap.max(1) as u128 {
            return None;
        }
        Some(RangePlan {
            addrs: Addrs::Leaves {
                first: leaves.first(),
                shift,
            },
            count: n as usize,
            widened: if leaves == *r {
                Widened::empty()
            } else {
                Widened::RANGE
            },
        })
    }

    /// Number of commands.
    pub const fn count(&self) -> usize {
        self.count
    }

    /// Whether the commands carry an address (all but [`RangePlan::no_address`]).
    pub const fn has_address(&self) -> bool {
        !matches!(self.addrs, Addrs::None)
    }

    /// Whether the plan is one command for the whole space
    /// (`0x7fff_ffff_ffff_f000`, `s`: [`RangePlan::napot`] of everything).
    pub const fn is_whole(&self) -> bool {
        matches!(self.addrs, Addrs::Block(Block { order: 64, .. }))
    }

    /// Call `f(address, s)` for each command, in address order (`(0,
    /// false)` for the one command of [`RangePlan::no_address`]); the first
    /// error stops it.
    #[inline]
    pub fn for_each(
        &self,
        mut f: impl FnMut(u64, bool) -> Result<(), LowerError>,
    ) -> Result<(), LowerError> {
        match &self.addrs {
            Addrs::None => f(0, false),
            Addrs::Block(b) => {
                let (a, s) = ats_encode_block(*b);
                f(a, s)
            }
            Addrs::Blocks(it) => {
                for b in it.clone() {
                    let (a, s) = ats_encode_block(b);
                    f(a, s)?;
                }
                Ok(())
            }
            Addrs::Leaves { first, shift } => {
                for k in 0..self.count as u64 {
                    f(first.wrapping_add(k << shift), false)?;
                }
                Ok(())
            }
        }
    }
}

/// Lowering policy: the choices a lowering makes that are no hardware
/// fact (those are the architecture's `Features`).
///
/// `max_cmds` is the most commands one range, device list or tag list may
/// become before one wider command replaces them (never under-invalidating;
/// reported as widened). At least one is always allowed. Each architecture
/// names its default ([`Arch::DEFAULT_BUDGET`]) and the capacity [`Arch::max_lowered`]
/// that one lowered op never exceeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Budget {
    /// Most commands per range, device list or tag list (0 counts as 1;
    /// [`Budget::cap`]).
    max_cmds: usize,
}

impl Budget {
    /// A budget of `max_cmds` commands.
    pub const fn new(max_cmds: usize) -> Budget {
        Budget { max_cmds }
    }
    /// The command cap, at least one.
    #[inline]
    pub const fn cap(self) -> usize {
        if self.max_cmds == 0 {
            1
        } else {
            self.max_cmds
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::FixedBuf;
    use crate::IdentityContext;

    #[test]
    fn fences_only_between_non_empty_phases() -> Result<(), LowerError> {
        let mut buf: FixedBuf<u8, 8> = FixedBuf::new();
        let mut e = Emitter::new(&mut buf, || 0u8);
        e.push_fenced(1)?;
        e.end_phase();
        e.end_phase(); // an empty phase adds nothing
        e.push_fenced(2)?;
        e.push_fenced(3)?;
        e.end_phase();
        assert_eq!((e.phases(), e.emitted()), (2, 4));
        e.fence_now()?; // the due fence, written now
        e.fence_now()?; // nothing due
        assert_eq!(e.outcome().emitted, 5);
        let got: [Option<&u8>; 5] = core::array::from_fn(|k| buf.get(k));
        assert_eq!(got, [Some(&1), Some(&0), Some(&2), Some(&3), Some(&0)]);
        Ok(())
    }

    #[test]
    fn device_sets() {
        let s = DeviceSet::resolve(
            DeviceSel::Range { first: 9, last: 7 },
            DomainSel::All,
            &IdentityContext,
        );
        assert_eq!(
            (s, s.count(), s.max_id()),
            (DeviceSet::Interval(7, 9), 3, Some(9))
        );
        let s = DeviceSet::resolve(DeviceSel::All, DomainSel::All, &IdentityContext);
        assert_eq!((s.count(), s.fits(u32::MAX)), (usize::MAX, false));
        let s = DeviceSet::Interval(0, u32::MAX);
        assert!(s.count() >= 1 << 31);
    }

    /// The `(address, s)` of each command of `p` (at most 8), and how many.
    fn commands(p: &RangePlan) -> ([(u64, bool); 8], usize) {
        let (mut got, mut n) = ([(0, false); 8], 0);
        p.for_each(|a, s| {
            if let Some(slot) = got.get_mut(n) {
                *slot = (a, s);
            }
            n += 1;
            Ok(())
        })
        .unwrap();
        (got, n)
    }

    #[test]
    fn range_plans() {
        let span = |a: u64, size: u64| AddrRange::new(a, size).unwrap();
        // The NAPOT rule: the covering block when at most twice the pages ...
        let p = RangePlan::napot(&span(0x1000, 0x3000), 16);
        assert_eq!(
            (commands(&p).0[0], p.count(), p.widened),
            ((0x1000, true), 1, Widened::RANGE)
        );
        // ... else the aligned blocks within the cap (each as its ATS encoding) ...
        let p = RangePlan::napot(&span(0x3000, 0x6000), 16);
        let (got, n) = commands(&p);
        assert_eq!((n, p.count(), p.widened), (3, 3, Widened::empty()));
        assert_eq!(got[..3], [(0x3000, false), (0x5000, true), (0x8000, false)]);
        // ... else the covering block (64 KiB at 0), with CAP.
        let p = RangePlan::napot(&span(0x3000, 0x6000), 2);
        let (got, n) = commands(&p);
        assert_eq!(
            (n, got[0], p.widened),
            (1, (0x7000, true), Widened::RANGE | Widened::CAP)
        );
        // Everything, and a range no block below 2^64 covers: the whole space.
        let p = RangePlan::napot(&AddrRange::All, 1);
        assert!(p.is_whole() && p.widened.is_empty() && p.count() == 1);
        let p = RangePlan::napot(
            &AddrRange::inclusive((1 << 63) - 0x1000, 1 << 63).unwrap(),
            4,
        );
        assert!(p.is_whole() && p.widened == Widened::RANGE);
        assert_eq!(commands(&p).0[0], (0x7fff_ffff_ffff_f000, true));
        // Leaves: one s = 0 command per 2^shift bytes, within the cap.
        let p = RangePlan::leaves(&span(0x1800, 0x2000), 12, 3).unwrap();
        let (got, n) = commands(&p);
        assert_eq!((n, p.count(), p.widened), (3, 3, Widened::RANGE));
        assert_eq!(
            got[..3],
            [(0x1000, false), (0x2000, false), (0x3000, false)]
        );
        assert_eq!(RangePlan::leaves(&span(0x1800, 0x2000), 12, 2), None);
        assert_eq!(
            RangePlan::leaves(&span(0, 0x20_0000), 21, 1).map(|p| p.count()),
            Some(1)
        );
        assert_eq!(RangePlan::leaves(&AddrRange::All, 12, usize::MAX), None);
        assert_eq!(RangePlan::leaves(&span(0, 0x1000), 11, 1), None);
        // No address: one command, (0, false).
        let p = RangePlan::no_address(Widened::RANGE);
        assert_eq!(
            (commands(&p).1, p.has_address(), p.is_whole()),
            (1, false, false)
        );
        assert!(RangePlan::napot(&AddrRange::All, 1).has_address());
    }
}
