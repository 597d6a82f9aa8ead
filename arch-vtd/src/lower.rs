//! Generic operations → VT-d descriptors for a host described by its
//! [`Features`], within a [`Budget`].
//!
//! Rules (see docs/ARCHITECTURE.md, "the rules every translation keeps"):
//! * never under-invalidate: a scope VT-d cannot name is widened to the
//!   narrowest descriptor that covers it, and reported in `Outcome.widened`;
//! * ranges become the fewest page-selective descriptors whose aligned
//!   `2^am`-page blocks cover them (`am` ≤ CAP.MAMV), at most
//!   the budget's `max_cmds`, else one covering block or a PASID-/domain-selective
//!   descriptor;
//! * stage 1 of every PASID of a domain is one `p_iotlb_inv_dsc` per PASID
//!   the context lists for the domain (`Context::pasids_of_domain`) and one
//!   for its RID_PASID (requests without PASID), within the budget's `max_cmds`;
//!   else the global `iotlb_inv_dsc` (the domain-selective one does not
//!   reach first-stage entries, §6.5.2.4);
//! * requests without PASID are the domain's RID_PASID
//!   (`Context::tags_of_pasid`; 0, Linux's `IOMMU_NO_PASID`, by default):
//!   one `p_iotlb_inv_dsc`, reported as widened when that PASID is shared
//!   with PASID-tagged requests (`Context::pasids_of_tag`);
//! * an invalidation spanning caches is emitted as configuration caches
//!   (context, PASID, interrupt entry), `inv_wait`, IOTLB, `inv_wait`,
//!   device TLB, `inv_wait` (fence waits, §6.5.2.8: later descriptors are
//!   not processed before earlier ones complete);
//! * a page response is one `page_grp_resp_dsc`; one with a PASID the host
//!   cannot have taken a request for (not scalable, or wider than
//!   `Features::pasid_bits`) is `NoEquivalent`.

use iommu_inval_core::Flags;
use crate::desc::*;
use crate::features::Features;
use iommu_inval_core::lower::{InvalJob, 
    lacking, one_tag, prg_response_code, tag_shared, Budget, Emitter, ListedPasids, Lowering,
};
use iommu_inval_core::model::{
    Barrier, Caches, DeviceSel, DomainSel, Inval, PageResponse, PasidSel, Regime, Stages,
};
use iommu_inval_core::range::{
    ats_encode_block, plan_aligned, AddrRange, AlignedBlocks, Block, Plan, PAGE_SHIFT,
};
use iommu_inval_core::{ArchId, Context, LowerError, Outcome, Widened};

/// The most descriptors `Arch::lower` emits for one op within `budget`: the
/// capacity of a [`FixedBuf`](iommu_inval_core::FixedBuf) that never fills.
/// From `lower_inval`: the configuration group (context cache at most the
/// cap, one PASID-cache descriptor, interrupt entries at most the cap), a
/// wait, the IOTLB group (second stage and first stage, each at most the
/// cap), a wait, device TLBs (devices × pieces within the cap), and the
/// closing fence. Every other op is one descriptor.
pub(crate) const fn max_lowered(budget: Budget) -> usize {
    // (2 * cap + 1) + 1 + 2 * cap + 1 + cap + 1, saturating.
    budget.cap().saturating_mul(5).saturating_add(4)
}

/// The caches a host unit with `f` lacks: device TLBs without ECAP_REG.DT,
/// the PASID configuration caches outside scalable mode.
pub(crate) fn lacks(f: &Features) -> Caches {
    lacking(
        Caches::empty(),
        &[(Caches::DEV_TLB, f.dt), (Caches::CONFIG_PASID, f.smts)],
    )
}

/// The host [`Features`] and the command cap, as the lowering reads them.
type Host<'a> = iommu_inval_core::lower::Host<'a, Features>;
type Job<'a, C> = InvalJob<'a, crate::Vtd, C>;

impl Features {
    /// True when a scalable-mode unit takes PASID `p` (ECAP_REG.PSS).
    #[inline]
    fn pasid_ok(&self, p: u32) -> bool {
        let bits = self.pasid_bits.min(20);
        self.smts && bits > 0 && p >> bits == 0
    }
    /// The largest block order of a page-selective descriptor (CAP_REG.MAMV).
    #[inline]
    fn max_order(&self) -> u32 {
        PAGE_SHIFT + u32::from(self.mamv.min(52))
    }
}

/// The core [`Emitter`] (a fence `inv_wait` between cache groups) writing
/// descriptors of the host's width.
struct Em<'a> {
    e: Emitter<'a, Command>,
    wide: bool,
}

impl Em<'_> {
    fn push(&mut self, c: Command) -> Result<(), LowerError> {
        self.e.push_fenced(c.with_width(self.wide))
    }
}

/// [`fence`] of each descriptor width, for the [`Emitter`].
const FENCE: fn() -> Command = || fence(false);
const WIDE_FENCE: fn() -> Command = || fence(true);

fn fence(wide: bool) -> Command {
    Command::InvWait(InvWait {
        r#fn: true,
        wide,
        ..InvWait::default()
    })
}

fn did_of<C: Context + ?Sized>(ctx: &C, d: u32) -> Option<u16> {
    ctx.domain_to_native(ArchId::Vtd, d)
        .and_then(|n| u16::try_from(n).ok())
}

/// The DID every source-id `lo..=hi` is in, if one and known.
fn did_for<C: Context + ?Sized>(ctx: &C, dom: DomainSel, lo: u32, hi: u32) -> Option<u16> {
    match dom {
        DomainSel::One(d) => did_of(ctx, d),
        DomainSel::All => {
            let mut did = None;
            for s in lo..=hi {
                let x = ctx.domain_of_device(s).and_then(|d| did_of(ctx, d))?;
                if did.is_some_and(|p| p != x) {
                    return None;
                }
                did = Some(x);
            }
            did
        }
    }
}

/// Lower one generic operation to VT-d descriptors written to `out`.
impl Lowering for crate::Vtd {
    iommu_inval_core::refusals!(barrier = "VT-d inv_wait", event; lacks = "VT-d", prefetch, stall);
    // IOTLB and configuration entries: no secure regime on VT-d; device-TLB
    // and interrupt entries serve non-secure streams only (core footprint):
    // a secure request has nothing VT-d can or must remove.
    const NO_SECURE: Option<&'static str> =
        Some("VT-d has no secure regime (and device-TLB/interrupt entries are non-secure only)");

    fn lower_barrier(s: &Barrier, caps: &Host<'_>) -> Result<Command, LowerError> {
        let (sw, status_data, status_address) = match s.store {
            None => (false, 0, 0),
            Some(st) => {
                if st.address & 3 != 0 {
                    return Err(LowerError::NoEquivalent(
                        "inv_wait status address must be 4-byte aligned",
                    ));
                }
                let data = u32::try_from(st.data).map_err(|_| {
                    LowerError::NoEquivalent("inv_wait status data is 32 bits; store datum wider")
                })?;
                (true, data, st.address)
            }
        };
        Ok(Command::InvWait(InvWait {
            r#if: s.interrupt,
            sw,
            r#fn: s.fence,
            pd: s.drain_page_requests,
            status_data,
            status_address,
            wide: caps.f.dw,
        }))
    }

    fn lower_page_response(r: &PageResponse, caps: &Host<'_>) -> Result<Command, LowerError> {
        let rid = u16::try_from(r.device)
            .map_err(|_| LowerError::NoEquivalent("requester id wider than 16 bits"))?;
        // A response with a PASID answers a PASID page request, which only a
        // scalable-mode unit with PASIDs that wide (ECAP_REG.PSS) takes.
        if r.pasid.is_some_and(|p| !caps.f.pasid_ok(p)) {
            return Err(LowerError::NoEquivalent(
                "PASID wider than the host's (ECAP_REG.PSS), or not in scalable mode",
            ));
        }
        if r.prg_index >> 9 != 0 {
            return Err(LowerError::NoEquivalent(
                "page request group index wider than 9 bits",
            ));
        }
        if r.priv_data.is_some() && !caps.f.dw {
            return Err(LowerError::NoEquivalent(
                "private data needs 256-bit descriptors",
            ));
        }
        Ok(Command::PageGrpResp(PageGrpResp {
            pasid_present: r.pasid.is_some(),
            priv_data_present: r.priv_data.is_some(),
            resp_code: prg_response_code(r.code),
            rid,
            pasid: r.pasid.unwrap_or(0),
            lpig: r.last,
            prg_index: r.prg_index,
            priv_data: if caps.f.dw {
                Some(r.priv_data.unwrap_or([0, 0]))
            } else {
                None
            },
        }))
    }
}

#[inline]
pub(crate) fn lower_inval<C: Context + ?Sized>(
    (i, caps, ctx, out): Job<'_, C>,
) -> Result<Outcome, LowerError> {
    let op_regime = i.regime;
    let mut o = Outcome::default();
    // Device-TLB and interrupt entries are not regime-tagged: `dev` keeps the
    // request's domain whatever its regime. (The regime is not read below.)
    let dev = i;
    let hyp_i;
    let regime_tagged = Caches::IOTLB | Caches::CONFIG_DEVICE | Caches::CONFIG_PASID;
    let i = if op_regime == Regime::Hyp && i.caches.intersects(regime_tagged) {
        // SMMU EL2 entries carry no domain: every domain of the single VT-d
        // regime, for the regime-tagged caches only.
        o.widened |= Widened::REGIME;
        hyp_i = Inval {
            domain: DomainSel::All,
            ..*i
        };
        &hyp_i
    } else {
        i
    };
    let want_dev = i.caches.contains(Caches::DEV_TLB) && caps.f.dt;
    let n_dev = if want_dev {
        check_devices(dev, caps, ctx)?
    } else {
        0
    };
    let mut em = Em {
        e: Emitter::new(out, if caps.f.dw { WIDE_FENCE } else { FENCE }),
        wide: caps.f.dw,
    };
    // Group 1: configuration caches.
    if i.caches.contains(Caches::CONFIG_DEVICE) {
        o.widened |= lower_cc(i, caps, ctx, &mut em)?;
    }
    if i.caches.contains(Caches::CONFIG_PASID) {
        if caps.f.smts {
            o.widened |= lower_pc(i, caps, ctx, &mut em)?;
        } else {
            o.dropped = Some("legacy-mode VT-d has no PASID cache");
        }
    }
    if i.caches.contains(Caches::INTR_REMAP) {
        o.widened |= lower_iec(dev, caps, &mut em)?;
    }
    em.e.end_phase();
    if i.caches.contains(Caches::IOTLB) {
        o.widened |= lower_iotlb(i, caps, ctx, &mut em)?;
    }
    em.e.end_phase();
    if i.caches.contains(Caches::DEV_TLB) {
        if want_dev {
            o.widened |= lower_dev(dev, n_dev, caps, ctx, &mut em)?;
        } else if o.dropped.is_none() {
            o.dropped = Some("host has no device-TLB support (ECAP.DT = 0)");
        }
    }
    em.e.end_phase();
    if em.e.phases() >= 2 {
        em.e.raw(fence(caps.f.dw))?;
    }
    o.emitted = em.e.emitted();
    Ok(o)
}

/// Widening of a leaf-only request lowered to a descriptor that also removes
/// non-leaf entries.
fn leaf_w(i: &Inval) -> Widened {
    if i.leaf_only() {
        Widened::LEAF
    } else {
        Widened::empty()
    }
}

fn lower_cc<C: Context + ?Sized>(
    i: &Inval,
    caps: &Host<'_>,
    ctx: &C,
    em: &mut Em,
) -> Result<Widened, LowerError> {
    let mut w = leaf_w(i);
    let global = |em: &mut Em| {
        em.push(Command::CcInv(CcInv {
            g: 1,
            ..CcInv::default()
        }))
    };
    match i.device.interval() {
        None => match i.domain {
            DomainSel::One(d) => match did_of(ctx, d) {
                Some(did) => em.push(Command::CcInv(CcInv {
                    g: 2,
                    did,
                    ..CcInv::default()
                }))?,
                None => {
                    global(em)?;
                    w |= Widened::DOMAIN | Widened::DEVICE;
                }
            },
            DomainSel::All => global(em)?,
        },
        Some((a, b)) => {
            let (lo, hi) = (a.min(b), a.max(b));
            // Aligned groups of 8 functions use fm = 3 (mask sid[2:0]); the
            // rest one source-id each (fm 1, 2 mask non-contiguous bits).
            // Count with an early stop: ranges can span 2^32 ids.
            let cap = caps.cap;
            let mut k = 0usize;
            let within = hi <= 0xffff
                && cc_pieces(lo, hi, &mut |_, _| {
                    k += 1;
                    k <= cap
                })
                .is_some();
            let over_cap = hi > 0xffff || !within;
            let ok = within;
            let ok = ok
                && cc_pieces(lo, hi, &mut |s, fm| {
                    did_for(ctx, i.domain, s, s | fm_span(fm)).is_some()
                })
                .is_some();
            if ok {
                let mut err = Ok(());
                cc_pieces(lo, hi, &mut |s, fm| {
                    let did = did_for(ctx, i.domain, s, s | fm_span(fm)).unwrap_or(0);
                    let sid = s as u16;
                    if err.is_ok() {
                        err = em.push(Command::CcInv(CcInv {
                            g: 3,
                            did,
                            sid,
                            fm,
                            ..CcInv::default()
                        }));
                    }
                    true
                });
                err?;
            } else {
                global(em)?;
                w |= Widened::DEVICE;
                if over_cap && hi <= 0xffff {
                    w |= Widened::CAP;
                }
            }
        }
    }
    Ok(w)
}

fn fm_span(fm: u8) -> u32 {
    if fm == 3 {
        7
    } else {
        0
    }
}

/// Visit the device-selective pieces covering `lo..=hi` (`(sid, fm)`), stop
/// when `f` returns false (then `None`); returns the piece count.
fn cc_pieces(lo: u32, hi: u32, f: &mut dyn FnMut(u32, u8) -> bool) -> Option<usize> {
    let mut s = u64::from(lo);
    let end = u64::from(hi);
    let mut n = 0usize;
    while s <= end {
        let (fm, step) = if s & 7 == 0 && s + 7 <= end {
            (3u8, 8u64)
        } else {
            (0u8, 1u64)
        };
        if !f(s as u32, fm) {
            return None;
        }
        n += 1;
        s += step;
    }
    Some(n)
}

fn lower_pc<C: Context + ?Sized>(
    i: &Inval,
    caps: &Host<'_>,
    ctx: &C,
    em: &mut Em,
) -> Result<Widened, LowerError> {
    let mut w = leaf_w(i);
    let did = match (i.domain, i.device) {
        (DomainSel::One(d), sel) if devices_in_domain(ctx, d, sel) => did_of(ctx, d),
        (DomainSel::All, DeviceSel::One(r)) => ctx.domain_of_device(r).and_then(|d| did_of(ctx, d)),
        _ => None,
    };
    if i.device != DeviceSel::All {
        // The PASID cache is tagged by DID and PASID, not by device.
        w |= Widened::DEVICE;
    }
    match did {
        None => {
            if !(i.domain == DomainSel::All && i.device == DeviceSel::All) {
                w |= Widened::DOMAIN;
            }
            if i.pasid != PasidSel::All {
                w |= Widened::PASID;
            }
            em.push(Command::PcInv(PcInv {
                g: 3,
                ..PcInv::default()
            }))?;
        }
        Some(did) => match i.pasid {
            PasidSel::One(p) if caps.f.pasid_ok(p) => em.push(Command::PcInv(PcInv {
                g: 1,
                did,
                pasid: p,
                ..PcInv::default()
            }))?,
            p => {
                if p != PasidSel::All {
                    w |= Widened::PASID;
                }
                em.push(Command::PcInv(PcInv {
                    g: 0,
                    did,
                    ..PcInv::default()
                }))?;
            }
        },
    }
    Ok(w)
}

/// True when a domain-selective PASID-cache invalidation of `d` reaches every
/// device of `sel`: the context does not list the domain's devices (then the
/// domain is taken to hold them), or lists each of them in `d`.
fn devices_in_domain<C: Context + ?Sized>(ctx: &C, d: u32, sel: DeviceSel) -> bool {
    let Some((a, b)) = sel.interval() else {
        return true;
    };
    if !ctx.devices_of_domain(d, &mut |_| {}) {
        return true;
    }
    let (lo, hi) = (a.min(b), a.max(b));
    hi - lo < 4096 && (lo..=hi).all(|r| ctx.domain_of_device(r) == Some(d))
}

fn lower_iec(i: &Inval, caps: &Host<'_>, em: &mut Em) -> Result<Widened, LowerError> {
    let mut w = Widened::empty();
    if i.device != DeviceSel::All || i.domain != DomainSel::All {
        // Interrupt entries are indexed per remapping unit, not per device.
        w |= Widened::DEVICE;
    }
    let global = IecInv {
        g: false,
        ..IecInv::default()
    };
    let r = i.range;
    if r.is_all() {
        em.push(Command::IecInv(global))?;
        return Ok(w);
    }
    // iidx is 16 bits; a block may be larger (im up to 31) but must start
    // at an index the field can hold.
    let one = |b: Block| IecInv {
        g: true,
        im: b.order as u8,
        iidx: b.addr as u16,
        wide: false,
    };
    let fits = |b: &Block| b.addr <= 0xffff && b.order <= 31;
    match plan_aligned(&r, 0, 31, caps.cap) {
        Plan::Pieces(it) if it.clone().all(|b| fits(&b)) => {
            for b in it {
                em.push(Command::IecInv(one(b)))?;
            }
        }
        Plan::Pieces(_) => {
            em.push(Command::IecInv(global))?;
            w |= Widened::RANGE;
        }
        Plan::Single(b) if fits(&b) => {
            em.push(Command::IecInv(one(b)))?;
            w |= Widened::RANGE | Widened::CAP;
        }
        Plan::Single(_) | Plan::All => {
            em.push(Command::IecInv(global))?;
            w |= Widened::RANGE | Widened::CAP;
        }
    }
    Ok(w)
}

fn lower_iotlb<C: Context + ?Sized>(
    i: &Inval,
    caps: &Host<'_>,
    ctx: &C,
    em: &mut Em,
) -> Result<Widened, LowerError> {
    let s1 = i.stages.contains(Stages::S1);
    let s2 = i.stages.contains(Stages::S2);
    let did = match i.domain {
        DomainSel::One(d) => did_of(ctx, d),
        DomainSel::All => None,
    };
    // The PASID a p_iotlb_inv_dsc names: one PASID's own, or for requests
    // without PASID the domain's RID_PASID (`Context::tags_of_pasid`).
    let mut shared = false;
    let pasid = match (i.pasid, did) {
        (PasidSel::One(_) | PasidSel::NoPasid, Some(_)) if s1 => {
            tag_of(ctx, i.domain, i.pasid, caps, &mut shared)
        }
        _ => None,
    };
    // First-stage (PASID-tagged) entries are named only by p_iotlb_inv_dsc
    // (DID + one PASID): in scalable mode the domain- and page-selective
    // iotlb_inv_dsc reach second-stage-only and pass-through entries, not
    // first-stage or nested ones (VT-d spec rev 3.0+ §6.5.2.4, and §6.5.2.5
    // for the PASID-based-IOTLB invalidation they need; Linux says the same
    // in "iommu/vt-d: Flush iotlb for 1st-level page table"). Only the
    // global iotlb_inv_dsc removes every entry. So all PASIDs of a domain
    // are one p_iotlb_inv_dsc per PASID the context lists for the domain,
    // up to the cap; else, and for any unknown domain, the global one.
    let listed = match (s1, i.pasid, i.domain, did) {
        (true, PasidSel::All, DomainSel::One(d), Some(_)) => {
            ListedPasids::resolve(ctx, ArchId::Vtd, d, |p| caps.f.pasid_ok(p), caps.cap)
        }
        _ => None,
    };
    let need_global = (s1 && (did.is_none() || (pasid.is_none() && listed.is_none())))
        || (s2 && did.is_none())
        || !(s1 || s2);
    let (dr, dw) = (i.hints.drain_reads, i.hints.drain_writes);
    if need_global {
        em.push(Command::IotlbInv(IotlbInv {
            g: 1,
            dr,
            dw,
            ..IotlbInv::default()
        }))?;
        let mut w = leaf_w(i);
        if matches!(i.domain, DomainSel::One(_)) {
            w |= Widened::DOMAIN;
        }
        if !i.range.is_all() {
            w |= Widened::RANGE;
        }
        if i.stages != Stages::all() {
            w |= Widened::STAGE;
        }
        if s1 && i.pasid != PasidSel::All {
            w |= Widened::PASID;
        }
        return Ok(w);
    }
    let did = did.unwrap_or(0);
    let mut w = Widened::empty();
    if s2 {
        w |= page_sel(i, caps, em, |g, am, ih, address| {
            Command::IotlbInv(IotlbInv {
                g,
                dr,
                dw,
                did,
                am,
                ih,
                address,
                wide: false,
            })
        })?;
    }
    if let (true, Some(l)) = (s1, listed) {
        w |= each_listed_pasid(i, caps, ctx, em, l, did)?;
    }
    if let (true, Some(pasid)) = (s1, pasid) {
        if shared {
            // The PASID's tag is also another selection's (PASID RID_PASID
            // and requests without PASID): both go.
            w |= Widened::PASID;
        }
        w |= page_sel(i, caps, em, |g, am, ih, address| {
            Command::PIotlbInv(PIotlbInv {
                g,
                did,
                pasid,
                am,
                ih,
                address,
                wide: false,
            })
        })?;
    }
    Ok(w)
}

/// The one PASID that tags the entries of `sel` (one PASID, or requests
/// without PASID: the domain's RID_PASID) in `domain`, if the context names
/// exactly one and it fits the host; `shared` is set when other selections
/// carry it too.
fn tag_of<C: Context + ?Sized>(
    ctx: &C,
    domain: DomainSel,
    sel: PasidSel,
    caps: &Host<'_>,
    shared: &mut bool,
) -> Option<u32> {
    let tag = one_tag(ctx, ArchId::Vtd, domain, sel, |t| caps.f.pasid_ok(t))?;
    *shared |= tag_shared(ctx, ArchId::Vtd, domain, tag, sel);
    Some(tag)
}

/// Descriptors `page_sel` takes for `i.range` (one PASID).
fn page_sel_count(i: &Inval, caps: &Host<'_>) -> usize {
    let r = i.range;
    if r.is_all() || exact_block(&r, PAGE_SHIFT, caps.f.max_order()).is_some() {
        return 1;
    }
    match plan_aligned(&r, PAGE_SHIFT, caps.f.max_order(), caps.cap) {
        Plan::Pieces(it) => it.count(),
        Plan::Single(_) | Plan::All => 1,
    }
}

/// First stage of every PASID of a domain ([`ListedPasids`]: its listed PASIDs
/// and its RID_PASID), each with the page-selective descriptors of the
/// range when all of them fit the cap, else one PASID-selective descriptor
/// each (the range widened).
fn each_listed_pasid<C: Context + ?Sized>(
    i: &Inval,
    caps: &Host<'_>,
    ctx: &C,
    em: &mut Em,
    l: ListedPasids,
    did: u16,
) -> Result<Widened, LowerError> {
    let per = page_sel_count(i, caps);
    let mut w = Widened::empty();
    let ranged = l.count().saturating_mul(per) <= caps.cap;
    if !ranged {
        w |= Widened::RANGE | Widened::CAP | leaf_w(i);
    }
    let mut one = |pasid: u32, em: &mut Em| -> Result<(), LowerError> {
        if ranged {
            w |= page_sel(i, caps, em, |g, am, ih, address| {
                Command::PIotlbInv(PIotlbInv {
                    g,
                    did,
                    pasid,
                    am,
                    ih,
                    address,
                    wide: false,
                })
            })?;
            Ok(())
        } else {
            em.push(Command::PIotlbInv(PIotlbInv {
                g: 2,
                did,
                pasid,
                ..PIotlbInv::default()
            }))
        }
    };
    l.for_each(ctx, &mut |pasid| one(pasid, em))?;
    Ok(w)
}

/// Emit page-selective descriptors (g = 3) for `i.range`, or the
/// domain-/PASID-selective one (g = 2) for all addresses or above the cap.
fn page_sel(
    i: &Inval,
    caps: &Host<'_>,
    em: &mut Em,
    mk: impl Fn(u8, u8, bool, u64) -> Command,
) -> Result<Widened, LowerError> {
    let leaf = i.leaf_only();
    let am = |b: &Block| (b.order.saturating_sub(PAGE_SHIFT)) as u8;
    let r = i.range;
    if r.is_all() {
        em.push(mk(2, 0, false, 0))?;
        return Ok(leaf_w(i));
    }
    if let Some(b) = exact_block(&r, PAGE_SHIFT, caps.f.max_order()) {
        em.push(mk(3, am(&b), leaf, b.addr))?;
        return Ok(Widened::empty());
    }
    let mut w = Widened::empty();
    if r.align_out(PAGE_SHIFT) != r {
        w |= Widened::RANGE;
    }
    match plan_aligned(&r, PAGE_SHIFT, caps.f.max_order(), caps.cap) {
        Plan::Pieces(it) => {
            for b in it {
                em.push(mk(3, am(&b), leaf, b.addr))?;
            }
        }
        Plan::Single(b) => {
            em.push(mk(3, am(&b), leaf, b.addr))?;
            w |= Widened::RANGE | Widened::CAP;
        }
        Plan::All => {
            em.push(mk(2, 0, false, 0))?;
            w |= Widened::RANGE | Widened::CAP | leaf_w(i);
        }
    }
    Ok(w)
}

const RID_WIDE: &str = "requester id wider than 16 bits: VT-d source-ids are 16 bits";
const TOO_MANY_DEVICES: &str = "device-TLB invalidation of more devices than caps.max_cmds: VT-d names one source-id per descriptor and has no all-devices form";

/// Count the devices of a device-TLB request, refusing (before anything is
/// emitted) one VT-d cannot name within the budget's `max_cmds` descriptors: every
/// descriptor names one 16-bit source-id (§6.5.2.5, §6.5.2.6), and there is
/// no device-TLB invalidation of all devices. Devices the context lists
/// without ATS have no device TLB and are not counted.
fn check_devices<C: Context + ?Sized>(
    i: &Inval,
    caps: &Host<'_>,
    ctx: &C,
) -> Result<u64, LowerError> {
    let n = match i.device.interval() {
        Some((a, b)) => {
            let (lo, hi) = (a.min(b), a.max(b));
            if hi > 0xffff {
                return Err(LowerError::NoEquivalent(RID_WIDE));
            }
            u64::from(hi - lo) + 1
        }
        None => {
            let mut wide = false;
            let mut n = 0u64;
            let known = match i.domain {
                DomainSel::One(d) => ctx.devices_of_domain(d, &mut |r| {
                    if ctx.ats_enabled(r) {
                        wide |= r > 0xffff;
                        n += 1;
                    }
                }),
                DomainSel::All => false,
            };
            if !known {
                return Err(LowerError::NoEquivalent(
                    "device-TLB invalidation of every device: VT-d names one source-id per descriptor and the context does not list the devices",
                ));
            }
            if wide {
                return Err(LowerError::NoEquivalent(RID_WIDE));
            }
            n
        }
    };
    if n > caps.cap as u64 {
        return Err(LowerError::NoEquivalent(TOO_MANY_DEVICES));
    }
    Ok(n)
}

/// `r` as one aligned block of order `min..=max` when it is exactly that
/// (the common case, without planning).
#[inline]
fn exact_block(r: &AddrRange, min_order: u32, max_order: u32) -> Option<Block> {
    let (a, l) = (r.first(), r.last());
    // 0 for the whole address space, which is not one block of order < 64.
    let len = l.wrapping_sub(a).wrapping_add(1);
    if len.is_power_of_two() && a & (len - 1) == 0 {
        let order = len.trailing_zeros();
        if (min_order..=max_order).contains(&order) {
            return Some(Block { addr: a, order });
        }
    }
    None
}

/// How a range is cut for one device: its aligned blocks, or one block
/// (`order` 64: every address).
enum DevPlan {
    Pieces(AlignedBlocks),
    One(Block),
}

/// Device-TLB descriptors for `n_dev` devices (counted by
/// [`check_devices`]): the range's blocks per device when all of them fit
/// in the budget's `max_cmds`, else one covering block per device (ATS size
/// encoding, up to the all-addresses span), reported as `CAP`.
fn lower_dev<C: Context + ?Sized>(
    i: &Inval,
    n_dev: u64,
    caps: &Host<'_>,
    ctx: &C,
    em: &mut Em,
) -> Result<Widened, LowerError> {
    let mut w = Widened::empty();
    if n_dev == 0 {
        return Ok(w);
    }
    let pasid = match i.pasid {
        PasidSel::One(p) if caps.f.pasid_ok(p) => Some(p),
        PasidSel::All => None,
        _ => {
            w |= Widened::PASID;
            None
        }
    };
    if pasid.is_none() && i.pasid != PasidSel::All {
        // dev_tlb_inv_dsc also removes global entries.
        w |= Widened::GLOBAL;
    }
    let all = Block { addr: 0, order: 64 };
    let r = i.range;
    let plan = if r.is_all() {
        DevPlan::One(all)
    } else if let Some(b) = exact_block(&r, PAGE_SHIFT, 63) {
        DevPlan::One(b)
    } else {
        if r.align_out(PAGE_SHIFT) != r {
            w |= Widened::RANGE;
        }
        // The per-device share of the cap (n_dev <= cap).
        let budget = (caps.cap as u64 / n_dev).max(1) as usize;
        match plan_aligned(&r, PAGE_SHIFT, 63, budget) {
            Plan::Pieces(it) => DevPlan::Pieces(it),
            Plan::Single(b) => {
                w |= Widened::RANGE | Widened::CAP;
                DevPlan::One(b)
            }
            Plan::All => {
                w |= Widened::RANGE | Widened::CAP;
                DevPlan::One(all)
            }
        }
    };
    let mip = if i.hints.max_pending <= 31 {
        i.hints.max_pending
    } else {
        0
    };
    let pfsid = i.hints.pfsid;
    let one_device = |sid: u16, em: &mut Em| -> Result<(), LowerError> {
        let emit = |b: Block, em: &mut Em| {
            let (address, s) = ats_encode_block(b);
            let c = match pasid {
                Some(p) => Command::PDevTlbInv(PDevTlbInv {
                    mip,
                    pfsid,
                    sid,
                    pasid: p,
                    g: i.global,
                    s,
                    address,
                    wide: false,
                }),
                None => Command::DevTlbInv(DevTlbInv {
                    pfsid,
                    mip,
                    sid,
                    s,
                    address,
                    wide: false,
                }),
            };
            em.push(c)
        };
        match &plan {
            DevPlan::Pieces(it) => {
                for b in it.clone() {
                    emit(b, em)?;
                }
                Ok(())
            }
            DevPlan::One(b) => emit(*b, em),
        }
    };
    // check_devices has bounded the ids to 16 bits and the count to the cap.
    match i.device {
        DeviceSel::One(r) => one_device(r as u16, em)?,
        DeviceSel::Range { first, last } => {
            for r in first.min(last)..=first.max(last) {
                one_device(r as u16, em)?;
            }
        }
        DeviceSel::All => {
            if let DomainSel::One(d) = i.domain {
                let mut res = Ok(());
                ctx.devices_of_domain(d, &mut |r| {
                    // Devices without ATS have no device TLB.
                    if res.is_ok() && ctx.ats_enabled(r) {
                        res = one_device(r as u16, em);
                    }
                });
                res?;
            }
        }
    }
    Ok(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cc_pieces_use_groups_of_eight() {
        let mut v = [(0u32, 0u8); 8];
        let mut k = 0;
        let n = cc_pieces(6, 17, &mut |s, fm| {
            if let Some(x) = v.get_mut(k) {
                *x = (s, fm);
            }
            k += 1;
            true
        });
        // 6, 7 singles; 8..=15 as fm 3; 16, 17 singles.
        assert_eq!(n, Some(5));
        assert_eq!(&v[..5], &[(6, 0), (7, 0), (8, 3), (16, 0), (17, 0)]);
    }

    #[test]
    fn pasid_width_limits() {
        let f = Features {
            pasid_bits: 8,
            ..Features::SCALABLE
        };
        let c = &f;
        assert!(c.pasid_ok(255));
        assert!(!c.pasid_ok(256));
        let legacy = Features::SCALABLE.in_legacy_mode();
        assert!(!legacy.pasid_ok(0));
    }
}
