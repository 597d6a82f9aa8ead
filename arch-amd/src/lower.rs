//! Lower: generic operations to AMD-Vi commands for a host described by
//! its [`Features`], within a [`Budget`].
//!
//! An invalidation becomes up to three phases, in this order, with a fencing
//! COMPLETION_WAIT (`f` = 1) between two non-empty phases so that no phase
//! starts before the one before it is done:
//!
//! 1. configuration: INVALIDATE_DEVTAB_ENTRY / INVALIDATE_INTERRUPT_TABLE per
//!    device; for the configuration of one PASID (AMD has no PASID-config
//!    command, so the DTE, whose GCR3 root covers every PASID, is the
//!    superset) also INVALIDATE_IOMMU_PAGES gn = 1, pde = 1, all pages for
//!    that PASID when the device's DomainID is known: the flush the Linux
//!    AMD-Vi driver issues after changing a GCR3 table entry;
//! 2. IOMMU TLB: INVALIDATE_IOMMU_PAGES (gn = 1 per PASID for stage 1, gn = 0 for stage 2);
//!    requests without PASID are GCR3 entry 0 (gn = 1, PASID 0: Linux's
//!    `IOMMU_NO_PASID`, the entry its v2 page-table mode uses for DMA
//!    without PASID), and every PASID of a domain whose PASIDs the context
//!    lists is one gn = 1 command per listed PASID and one for entry 0;
//! 3. device TLBs: INVALIDATE_IOTLB_PAGES per ATS-enabled device.
//!
//! The completion after the last phase is the caller's own `Sync` (which
//! lowers to exactly one COMPLETION_WAIT): nothing moves across it. This is
//! a deliberate deviation from the seed order, which ended with a trailing
//! COMPLETION_WAIT; see the crate documentation for the reason.
//!
//! Whatever AMD-Vi cannot name exactly is widened to the narrowest safe
//! scope and reported in [`Outcome::widened`]; the fallback of phases 1 and
//! 2 is one INVALIDATE_IOMMU_ALL. Device TLBs have no such fallback: a
//! device-TLB invalidation whose devices cannot be enumerated (or number more
//! than `max_cmds`) is refused with `NoEquivalent` rather than under-done.

use iommu_inval_core::Flags;
use crate::cmd::*;
use crate::features::Features;
use iommu_inval_core::lower::{
    ats_devices, dropped, is_inverted, lacking, prg_response_code, one_tag, tag_shared, Budget, DeviceSet, Emitter,
    InvalJob, ListedPasids, Lowering, RangePlan,
};
use iommu_inval_core::model::*;
use iommu_inval_core::{ArchId, Context, LowerError, Sink};

/// The most commands `Arch::lower` emits for one op within `budget`: the
/// capacity of a [`FixedBuf`](iommu_inval_core::FixedBuf) that never fills.
/// From `lower_inval`: configuration and interrupt-table commands (at most
/// the cap, else one INVALIDATE_IOMMU_ALL) and the GCR3 flush; a fence;
/// IOMMU_PAGES for each stage, each with half the cap (at least one); a
/// fence; IOTLB_PAGES, devices × pieces within the cap. Every other op is
/// one command.
pub(crate) const fn max_lowered(budget: Budget) -> usize {
    let cap = budget.cap();
    let tlb = if cap < 2 { 2 } else { cap };
    // cap + 1 + 1 + tlb + 1 + cap, saturating.
    cap.saturating_mul(2).saturating_add(tlb).saturating_add(3)
}

/// The caches a host IOMMU with `f` lacks: device TLBs without ATS.
pub(crate) fn lacks(f: &Features) -> Caches {
    lacking(Caches::empty(), &[(Caches::DEV_TLB, f.ats)])
}

/// The host [`Features`] and the command cap, as the lowering reads them.
type Host<'a> = iommu_inval_core::lower::Host<'a, Features>;
type Job<'a, C> = InvalJob<'a, crate::AmdVi, C>;

/// The largest AMD-Vi DeviceID: requester ids wider than 16 bits have no
/// device behind an AMD-Vi, and no command can name them.
const DEVICE_ID_MAX: u32 = 0xffff;

/// The DeviceID bound of INVALIDATE_IOTLB_PAGES and why a device-TLB
/// invalidation it cannot send is refused ([`ats_devices`]).
const ATS_IDS: (u32, [&str; 2]) = (
    DEVICE_ID_MAX,
    [
        "device-TLB invalidation of devices the context cannot enumerate: \
         AMD-Vi has no all-device INVALIDATE_IOTLB_PAGES",
        "device-TLB invalidation of a requester id wider than the 16-bit AMD-Vi DeviceID",
    ],
);

/// Call `f` with each device of `devs` as a DeviceID; nothing when the set
/// is not enumerable or holds an id wider than 16 bits.
fn each_device<C: Context + ?Sized>(
    devs: &DeviceSet,
    ctx: &C,
    f: &mut dyn FnMut(u16) -> Result<(), LowerError>,
) -> Result<(), LowerError> {
    if !devs.fits(DEVICE_ID_MAX) {
        return Ok(());
    }
    devs.for_each(ctx, &mut |rid| match u16::try_from(rid) {
        Ok(id) => f(id),
        Err(_) => Ok(()),
    })
}

/// The fence between two phases: COMPLETION_WAIT `f` = 1.
const FENCE: Command = Command::CompletionWait(CompletionWait {
    s: false,
    i: false,
    f: true,
    store_address: 0,
    store_data: 0,
});

/// Lower one generic operation to AMD-Vi commands written to `out`.
///
/// * `Inval`: up to three phases (configuration, IOMMU TLB, device TLBs;
///   see the module docs) with a fencing COMPLETION_WAIT (`f` = 1) between
///   two non-empty phases. A `Regime::Secure` invalidation is dropped whole
///   (AMD-Vi has no secure regime, and device TLBs and interrupt entries
///   serve non-secure requests only); `Regime::Hyp` lowers device TLBs and
///   interrupt entries as `Guest` does (they are not regime-tagged). Device
///   TLBs on a host without ATS and devices whose ATS is disabled are
///   dropped too.
///
///   **Deliberate deviation (no trailing COMPLETION_WAIT):** the seed order
///   was "configuration, COMPLETION_WAIT, IOMMU pages, COMPLETION_WAIT,
///   IOTLB pages, COMPLETION_WAIT". No wait is emitted after the last
///   phase: the caller's next `Sync` is that completion. A trailing wait
///   would make a single native command (e.g. one INVALIDATE_IOTLB_PAGES)
///   round-trip to two commands, and would add an output sync that no input
///   sync asked for (docs/ARCHITECTURE.md rule 3: every input sync becomes exactly one
///   output sync); batched invalidations would also pay one wait each.
/// * `Sync` → one COMPLETION_WAIT; `sev`, `drain_page_requests` or a store
///   address that is not 8-byte aligned below 2^52 → `NoEquivalent`.
/// * `Prefetch` → PREFETCH_IOMMU_PAGES (inv = 0); configuration-only,
///   secure or unnameable prefetches are dropped (a hint).
/// * `PageResponse` → COMPLETE_PPR_REQUEST (`NoEquivalent` for a PASID
///   wider than `Features::pasid_bits`, or a guest response without
///   `Features::gt_sup`: the host logged no such request);
///   `Resume`, `StallTerminate` → `NoEquivalent`.
impl Lowering for crate::AmdVi {
    // COMPLETION_WAIT has no page-request drain (VT-d pd); dropping it
    // would let the caller believe in-flight page requests were drained.
    iommu_inval_core::refusals!(barrier = "COMPLETION_WAIT", event, drain; lacks = "AMD-Vi", stall);
    // AMD-Vi has no secure regime: secure IOTLB and configuration entries
    // do not exist, and device TLBs (ATS) and interrupt remapping serve
    // non-secure requests only (PCIe ATS has no secure translation;
    // IHI0070 §3.9 for the model's convention). Nothing to remove.
    const NO_SECURE: Option<&'static str> = Some(
        "AMD-Vi has no secure regime (no secure IOTLB, configuration, device TLB or interrupt entries)",
    );
    const REFUSES_INVERTED: bool = true;

    fn lower_prefetch(
        p: &Prefetch,
        host: &Host<'_>,
        out: &mut dyn Sink<Command>,
    ) -> Result<Outcome, LowerError> {
        lower_prefetch(p, host, out)
    }

    fn lower_barrier(s: &Barrier, _: &Host<'_>) -> Result<Command, LowerError> {
        let mut c = CompletionWait {
            i: s.interrupt,
            f: s.fence,
            ..Default::default()
        };
        if let Some(st) = s.store {
            if st.address & !STORE_ADDR_MASK != 0 {
                return Err(LowerError::NoEquivalent(
                    "COMPLETION_WAIT store address must be 8-byte aligned and below 2^52",
                ));
            }
            c.s = true;
            c.store_address = st.address;
            c.store_data = st.data;
        }
        Ok(Command::CompletionWait(c))
    }

    fn lower_page_response(r: &PageResponse, caps: &Host<'_>) -> Result<Command, LowerError> {
        if r.priv_data.is_some() {
            return Err(LowerError::NoEquivalent(
                "COMPLETE_PPR_REQUEST has no private data",
            ));
        }
        let device_id = u16::try_from(r.device)
            .map_err(|_| LowerError::NoEquivalent("device id wider than 16 bits"))?;
        if r.prg_index > 0x1ff {
            return Err(LowerError::NoEquivalent("PRG index wider than 9 bits"));
        }
        let pasid = r.pasid.unwrap_or(0);
        // A PASID response answers a PPR of that PASID, which a host with
        // narrower PASIDs (EFR.PASmax) cannot have logged.
        if pasid > PASID_MAX || (r.pasid.is_some() && pasid > pasid_limit(caps, 20)) {
            return Err(LowerError::NoEquivalent(
                "PASID wider than the host's (EFR.PASmax)",
            ));
        }
        let gn = r.pasid.is_some() || r.guest;
        if gn && !caps.f.gt_sup {
            // A guest PPR needs guest translation (EFR.GTSup): the host logged none.
            return Err(LowerError::NoEquivalent(
                "guest page response on a host without guest translation (EFR.GTSup)",
            ));
        }
        Ok(Command::CompletePprRequest(CompletePprRequest {
            device_id,
            pasid,
            gn,
            tag: r.prg_index,
            status: prg_response_code(r.code),
        }))
    }
}

fn lower_prefetch(
    p: &Prefetch,
    caps: &Host<'_>,
    out: &mut dyn Sink<Command>,
) -> Result<Outcome, LowerError> {
    if p.range.as_ref().is_some_and(is_inverted) {
        return Err(LowerError::Invalid("range with first > last"));
    }
    let drop = |why| Ok(dropped(why));
    let Some(range) = p.range else {
        return drop("AMD-Vi has no configuration-only prefetch");
    };
    if p.secure {
        return drop("AMD-Vi has no secure streams");
    }
    let Ok(device_id) = u16::try_from(p.device) else {
        return drop("device id wider than 16 bits");
    };
    let (gn, pasid) = match p.pasid {
        None => (false, 0),
        Some(x) if caps.f.gt_sup && x <= pasid_limit(caps, 20) => (true, x),
        Some(_) => return drop("PASID not supported by the host"),
    };
    // A hint: one command, the smallest s-bit block covering the range.
    let plan = RangePlan::napot(&range, 1);
    let mut o = Outcome {
        widened: plan.widened - Widened::CAP,
        ..Outcome::default()
    };
    plan.for_each(|address, s| {
        out.push(Command::PrefetchIommuPages(PrefetchIommuPages {
            device_id,
            pfcount: p.count,
            pasid,
            s,
            gn,
            inv: false,
            address,
        }))?;
        o.emitted += 1;
        Ok(())
    })?;
    Ok(o)
}

/// Whether device `d` gets an INVALIDATE_IOTLB_PAGES: not when the context
/// says its ATS is disabled. Such a device has no device TLB, and an ATS
/// invalidation sent to it would only end in IOTLB_INV_TIMEOUT; the skip is
/// reported in `Outcome::dropped`.
fn has_dev_tlb<C: Context + ?Sized>(ctx: &C, d: u16) -> bool {
    ctx.ats_enabled(d.into())
}

/// The native DomainID whose GCR3 table holds the PASID entries of `i`'s
/// device: from `i.domain`, else from the context for a single device.
fn gcr3_domain<C: Context + ?Sized>(i: &Inval, ctx: &C) -> Option<u16> {
    let d = match (i.domain, i.device) {
        (DomainSel::One(d), _) => d,
        (DomainSel::All, DeviceSel::One(rid)) => ctx.domain_of_device(rid)?,
        _ => return None,
    };
    ctx.domain_to_native(ArchId::Amd, d)
        .and_then(|n| u16::try_from(n).ok())
}

/// Largest PASID the host and a `field_bits`-wide field both hold.
fn pasid_limit(caps: &Host<'_>, field_bits: u8) -> u32 {
    let bits = caps.f.pasid_bits.min(field_bits).min(20);
    (1u32 << bits) - 1
}

/// What INVALIDATE_IOMMU_ALL removes beyond the IOMMU-cache part of `i`.
fn iommu_all_widening(i: &Inval) -> Widened {
    let kinds = Caches::CONFIG | Caches::IOTLB | Caches::INTR_REMAP;
    let mut w = Widened::empty();
    if !i.caches.contains(kinds) {
        w |= Widened::CACHES;
    }
    if matches!(i.domain, DomainSel::One(_)) {
        w |= Widened::DOMAIN;
    }
    if !matches!(i.device, DeviceSel::All) || matches!(i.domain, DomainSel::One(_)) {
        w |= Widened::DEVICE;
    }
    if i.pasid != PasidSel::All {
        w |= Widened::PASID;
    }
    if i.stages != Stages::all() {
        w |= Widened::STAGE;
    }
    if !i.range.is_all() {
        w |= Widened::RANGE;
    }
    if i.leaf_only() {
        w |= Widened::LEAF;
    }
    w
}

#[inline]
pub(crate) fn lower_inval<C: Context + ?Sized>(
    (i, caps, ctx, out): Job<'_, C>,
) -> Result<Outcome, LowerError> {
    let mut dropped_part = None;
    let cap = caps.cap;
    let config = i.caches.intersects(Caches::CONFIG);
    let intr = i.caches.contains(Caches::INTR_REMAP);
    let iotlb = i.caches.contains(Caches::IOTLB);
    let dev_tlb = i.caches.contains(Caches::DEV_TLB);
    let mut widened = Widened::empty();
    // Device-tagged caches resolve the same device set.
    let devs = if config || intr || dev_tlb {
        DeviceSet::resolve(i.device, i.domain, ctx)
    } else {
        DeviceSet::Every
    };
    // Every device nameable by a 16-bit DeviceID.
    let nameable = devs.fits(DEVICE_ID_MAX);

    // Phase 1 (configuration): per device, or INVALIDATE_IOMMU_ALL.
    let per_dev = usize::from(config) + usize::from(intr);
    let mut need_all = false;
    if per_dev > 0 {
        match devs {
            _ if !nameable => need_all = true,
            d if d.count().saturating_mul(per_dev) > cap => {
                need_all = true;
                widened |= Widened::CAP;
            }
            _ => {
                if config {
                    // The DTE is the whole device configuration, every PASID's
                    // included (there is no finer command, §2.4.2).
                    if !i.caches.contains(Caches::CONFIG) {
                        widened |= Widened::CACHES;
                    }
                    if i.caches.contains(Caches::CONFIG_PASID) && i.pasid != PasidSel::All {
                        widened |= Widened::PASID;
                    }
                    if i.leaf_only() {
                        widened |= Widened::LEAF;
                    }
                }
                if intr && !i.range.is_all() {
                    // The interrupt table is invalidated whole (§2.4.5).
                    widened |= Widened::RANGE;
                }
            }
        }
    }
    // The GCR3 (PASID table) entry of one PASID: besides the DTE, flush it as
    // the Linux AMD driver does after changing a GCR3 entry, with
    // INVALIDATE_IOMMU_PAGES gn = 1, pde = 1, all pages, for the PASID in the
    // device's DomainID. Emitted when that DomainID can be named; it also
    // drops the PASID's stage-1 IOTLB entries (reported as CACHES).
    let gcr3 = match (
        i.caches.contains(Caches::CONFIG_PASID) && !need_all,
        i.pasid,
    ) {
        (true, PasidSel::One(p)) if caps.f.gt_sup && p <= pasid_limit(caps, 20) => {
            gcr3_domain(i, ctx).map(|d| (d, p))
        }
        _ => None,
    };
    if gcr3.is_some() {
        // IOTLB entries are not device-tagged: they span every device.
        widened |= Widened::CACHES | Widened::DEVICE;
    }

    // Phase 2 (IOMMU TLB): which (gn, pasid) commands, or INVALIDATE_IOMMU_ALL.
    let mut domain_id = 0u16;
    let s1 = iotlb && i.stages.contains(Stages::S1);
    let s2 = iotlb && i.stages.contains(Stages::S2);
    // The commands each stage may take.
    let s1_budget = (cap / (usize::from(s1) + usize::from(s2)).max(1)).max(1);
    let mut listed = None;
    // The GCR3 entry (gn = 1 PASID) of one PASID, or of requests without
    // PASID (entry 0, `Context::tags_of_pasid`); reported when shared.
    let s1_pasid = match i.pasid {
        PasidSel::One(_) | PasidSel::NoPasid if s1 && caps.f.gt_sup => {
            let limit = pasid_limit(caps, 20);
            let tag = one_tag(ctx, ArchId::Amd, i.domain, i.pasid, |t| t <= limit);
            if tag.is_some_and(|t| tag_shared(ctx, ArchId::Amd, i.domain, t, i.pasid)) {
                widened |= Widened::PASID;
            }
            tag
        }
        _ => None,
    };
    if iotlb {
        let native = match (i.regime, i.domain) {
            (Regime::Guest, DomainSel::One(d)) => ctx
                .domain_to_native(ArchId::Amd, d)
                .and_then(|n| u16::try_from(n).ok()),
            // Hypervisor entries and "every domain": no all-domain pages command.
            _ => None,
        };
        match native {
            Some(n) => domain_id = n,
            None => need_all = true,
        }
        if s1 && s1_pasid.is_none() {
            listed = match (i.pasid, i.domain, native) {
                (PasidSel::All, DomainSel::One(d), Some(_)) if caps.f.gt_sup => {
                    let limit = pasid_limit(caps, 20);
                    ListedPasids::resolve(ctx, ArchId::Amd, d, |p| p <= limit, s1_budget)
                }
                _ => None,
            };
        }
        if s1 && s1_pasid.is_none() && listed.is_none() {
            // Stage 1 of every PASID the context does not list (or more
            // than the cap), of a PASID or no-PASID entry it cannot name, of
            // a PASID wider than the host's or on a host without guest
            // translation.
            need_all = true;
        }
    }

    // Phase 3 (device TLBs): checked before anything is written.
    let mut ats_devs = 0usize;
    let mut dev_plan = None;
    let mut dev_gn = None;
    if dev_tlb {
        ats_devs = ats_devices(&devs, ctx, caps.f.ats, cap, ATS_IDS, &mut dropped_part)?;
        // No ATS device reached (an empty domain, ATS disabled): nothing is
        // emitted, so nothing is widened.
        if ats_devs > 0 {
            dev_gn = match i.pasid {
                PasidSel::One(p)
                    // INVALIDATE_IOTLB_PAGES carries 20 PASID bits from
                    // revision 3.x (pasid[19:16] in w0[59:56]); a host with
                    // `pasid_bits` = 16 (the default) keeps 16.
                    if !i.global && caps.f.gt_sup && p <= pasid_limit(caps, 20) =>
                {
                    Some(p)
                }
                _ => None,
            };
            if dev_gn.is_none() && i.pasid != PasidSel::All {
                // gn = 0 reaches every PASID (an ATS request without PASID prefix).
                widened |= Widened::PASID;
            }
            let p = RangePlan::napot(&i.range, cap / ats_devs.max(1));
            widened |= p.widened;
            dev_plan = Some(p);
        }
    }

    let mut e = Emitter::new(out, || FENCE);
    if need_all && (per_dev > 0 || iotlb) {
        widened |= iommu_all_widening(i);
        e.push(Command::InvalidateIommuAll(InvalidateIommuAll))?;
    } else {
        if per_dev > 0 {
            each_device(&devs, ctx, &mut |device_id| {
                if config {
                    e.push(Command::InvalidateDevtabEntry(InvalidateDevtabEntry {
                        device_id,
                    }))?;
                }
                if intr {
                    e.push(Command::InvalidateInterruptTable(
                        InvalidateInterruptTable { device_id },
                    ))?;
                }
                Ok(())
            })?;
            if let Some((domain_id, pasid)) = gcr3 {
                e.push(Command::InvalidateIommuPages(InvalidateIommuPages {
                    pasid,
                    domain_id,
                    s: true,
                    pde: true,
                    gn: true,
                    address: ALL_PAGES_ADDRESS,
                }))?;
            }
        }
        if iotlb {
            e.fence_now()?;
            let stages_n = usize::from(s1) + usize::from(s2);
            let tlb_plan = RangePlan::napot(&i.range, cap / stages_n.max(1));
            if s2 || s1_pasid.is_some() {
                widened |= tlb_plan.widened;
            }
            let pde = !i.leaf_only();
            let mut each = |plan: &RangePlan, gn: bool, pasid: u32| {
                plan.for_each(|address, s| {
                    e.push(Command::InvalidateIommuPages(InvalidateIommuPages {
                        pasid,
                        domain_id,
                        s,
                        pde,
                        gn,
                        address,
                    }))
                })
            };
            if let (true, Some(p)) = (s1, s1_pasid) {
                each(&tlb_plan, true, p)?;
            }
            if let (true, Some(l)) = (s1, listed) {
                // Every PASID of the domain: each listed one and GCR3
                // entry 0 (requests without PASID), within the stage's share.
                let plan = RangePlan::napot(&i.range, s1_budget / l.count());
                widened |= plan.widened;
                l.for_each(ctx, &mut |p| each(&plan, true, p))?;
            }
            if s2 {
                each(&tlb_plan, false, 0)?;
            }
        }
    }
    if let Some(plan) = dev_plan {
        if ats_devs > 0 {
            e.fence_now()?;
        }
        let (gn, pasid) = match dev_gn {
            Some(p) => (true, p),
            None => (false, 0),
        };
        each_device(&devs, ctx, &mut |device_id| {
            if !has_dev_tlb(ctx, device_id) {
                return Ok(());
            }
            plan.for_each(|address, s| {
                e.push(Command::InvalidateIotlbPages(InvalidateIotlbPages {
                    device_id,
                    pasid,
                    maxpend: i.hints.max_pending,
                    queue_id: i.hints.queue_id,
                    s,
                    gn,
                    inv_type: 0,
                    address,
                }))
            })
        })?;
    }
    Ok(e.finish(widened, dropped_part))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ALL_PAGES_ADDRESS;
    use iommu_inval_core::lower::NAPOT_SPLIT_FACTOR;

    fn span(a: u64, size: u64) -> AddrRange {
        AddrRange::new(a, size).unwrap()
    }

    /// The one command of a one-command plan: its `(address, s)`.
    fn single(p: &RangePlan) -> (u64, bool) {
        assert_eq!(p.count(), 1);
        let mut got = None;
        p.for_each(|a, s| {
            assert!(got.replace((a, s)).is_none());
            Ok(())
        })
        .unwrap();
        got.unwrap()
    }

    #[test]
    fn range_rule_split_factor_two() {
        assert_eq!(NAPOT_SPLIT_FACTOR, 2);
        // 12 KiB at 0x1000: the covering block is 16 KiB at 0 (≤ 2 × 12 KiB): one command.
        let p = RangePlan::napot(&span(0x1000, 0x3000), 16);
        assert_eq!(single(&p), (0x1000, true));
        assert_eq!(p.widened, Widened::RANGE);
        // Exactly double (8 KiB at 0x1000 → 16 KiB block at 0): one command, widened.
        let p = RangePlan::napot(&span(0x1000, 0x2000), 16);
        assert_eq!(
            (single(&p), p.count(), p.widened),
            ((0x1000, true), 1, Widened::RANGE)
        );
        // More than double (8 KiB at 0x3000 → 32 KiB block): two exact single pages.
        let p = RangePlan::napot(&span(0x3000, 0x2000), 16);
        assert_eq!((p.count(), p.widened), (2, Widened::empty()));
        let (mut got, mut n) = ([(0u64, true); 2], 0);
        p.for_each(|a, s| {
            got[n] = (a, s);
            n += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!((n, got), (2, [(0x3000, false), (0x4000, false)]));
        // Over the cap: the single covering block, reported with CAP.
        let p = RangePlan::napot(&span(0x3000, 0x2000), 1);
        assert_eq!(single(&p), (0x3000, true)); // 32 KiB at 0: bits 12,13 set, 14 clear
        assert_eq!(p.widened, Widened::RANGE | Widened::CAP);
        // An aligned block is one exact command; an unaligned byte range widens to pages.
        let p = RangePlan::napot(&span(0x20_0000, 0x20_0000), 16);
        assert_eq!(
            (single(&p), p.widened),
            ((0x2f_f000, true), Widened::empty())
        );
        let p = RangePlan::napot(&span(0x1800, 0x10), 16);
        assert_eq!((single(&p), p.widened), ((0x1000, false), Widened::RANGE));
        // Everything, and a range straddling 2^63: the all-pages address.
        assert_eq!(
            single(&RangePlan::napot(&AddrRange::All, 1)),
            (ALL_PAGES_ADDRESS, true)
        );
        let p = RangePlan::napot(
            &AddrRange::inclusive((1 << 63) - 0x1000, (1 << 63) + 0xfff).unwrap(),
            1,
        );
        assert_eq!(single(&p), (ALL_PAGES_ADDRESS, true));
        assert!(p.widened.contains(Widened::RANGE));
    }

}
