//! Lower: generic invalidations to virtio-iommu INVALIDATE requests, for a
//! device described by its [`Features`] (a nested hypervisor whose own
//! IOMMU is a virtio-iommu with a vSVA draft).
//!
//! * **A ratified device (virtio 1.2 / 1.3) has no cache invalidation**:
//!   every invalidation is `NoEquivalent`. It is never lowered to UNMAP:
//!   UNMAP removes *mappings* (the translations themselves), not cached
//!   copies of them, so it would change what the guest mapped.
//! * With the 2021 RFC: one INVALIDATE per invalidation. `inv_type` has a
//!   bit per cache (`INV_T_PASID` for configuration, `INV_T_IOTLB`,
//!   `INV_T_DEV_IOTLB`); `inv_gran` is `G_VA` for an address range of one
//!   PASID, `G_PASID` for every address of one PASID, `G_DOMAIN` for every
//!   PASID of the domain (with `F_PASID` and `pasid` in the first two).
//! * With the 2018 draft: up to two INVALIDATEs, the configuration
//!   (`F_CONFIG`) first, then the TLBs (no flag: the IOTLB and the device
//!   TLBs together, reported as `CACHES` when only one was asked for).
//! * A range becomes `virt_start`, `nr_pages`, `granule` covering it: the
//!   device's granule (the least set bit of `page_size_mask`; the leaf
//!   size of [`Hints::leaf_shift`] when the range is aligned to it), the
//!   start aligned down, the page count rounded up to a power of two (as
//!   the RFC driver's 2023 fix does); `RANGE` when it covers more, every
//!   address (`G_PASID`) when the cover passes 2^64.
//!
//! What the drafts cannot say: an invalidation of every domain, a
//! hypervisor regime, and stage-2 IOTLB entries (INVALIDATE acts on the
//! translations of the guest's PASID tables: stage 1) are `NoEquivalent`;
//! requests without PASID have no selector (widened to the domain,
//! `PASID`); one device of a domain has none either (the whole domain,
//! `DEVICE`, when the context lists the device in it or does not list the
//! domain's devices; else `NoEquivalent`); a device's configuration is the domain scope's `INV_T_PASID`
//! (the seed proposal's `CONFIG` at domain scope covers both), so
//! configuration caches at the domain scope count as both (`CACHES` when
//! one was asked for), at every level (`LEAF` for a leaf-only one: the
//! seed's configuration invalidation has no leaf-only form); secure regimes and the interrupt-remapping cache
//! (which virtio-iommu has not) are dropped and reported.

use iommu_inval_core::Flags;
use crate::cmd::*;
use crate::features::{Draft, Features};
use iommu_inval_core::lower::{dropped, is_inverted, lacking, Budget, Lowering};
use iommu_inval_core::model::*;
use iommu_inval_core::{Context, LowerError, Sink};

/// The host [`Features`] and the command cap, as the lowering reads them.
pub(crate) type Host<'a> = iommu_inval_core::lower::Host<'a, Features>;

/// Why a ratified device gets no invalidation.
pub(crate) const NO_INVAL: &str =
    "virtio-iommu 1.2 has no cache invalidation; UNMAP removes mappings";

/// The most requests one op lowers to (any budget): two (the 2018 draft's
/// configuration and TLB requests).
pub(crate) const fn max_lowered(_budget: Budget) -> usize {
    2
}

/// The caches a device with `f` lacks: the interrupt-remapping cache
/// (virtio-iommu has none). A ratified device has the others but no way
/// to invalidate them: its invalidations are `NoEquivalent`, not dropped.
pub(crate) const fn lacks(_f: &Features) -> Caches {
    lacking(Caches::INTR_REMAP, &[])
}

/// The INVALIDATE scope of a lowering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    Domain,
    Pasid(u32),
    /// One PASID's range: `virt_start`, `nr_pages`, `granule`.
    Va(u32, u64, u64, u8),
}

/// The range of `r` as `(virt_start, nr_pages, granule)` whose pages
/// cover it, and whether it covers more; `None` past 2^64.
pub(crate) fn cover(
    r: &AddrRange,
    host_shift: u32,
    leaf_shift: u8,
) -> Option<(u64, u64, u8, bool)> {
    let (first, last) = (r.first(), r.last());
    let aligned = |g: u32| {
        let m = (1u64 << g) - 1;
        first & m == 0 && last & m == m
    };
    let leaf = u32::from(leaf_shift);
    let g = if (12..64).contains(&leaf) && aligned(leaf) {
        leaf
    } else {
        host_shift.min(63)
    };
    let start = first & !((1u64 << g) - 1);
    let pages = u128::from((last - start) >> g) + 1;
    let nr = pages.next_power_of_two();
    let end = u128::from(start) + (nr << g) - 1;
    if end > u128::from(u64::MAX) || nr > u128::from(u64::MAX) {
        return None;
    }
    Some((
        start,
        nr as u64,
        g as u8,
        start != first || end != u128::from(last),
    ))
}

/// Whether "every device of domain `d`" includes the devices of `sel`: the
/// context does not list the domain's devices (every device, then), or
/// lists each of them.
pub(crate) fn reaches<C: Context + ?Sized>(ctx: &C, d: u32, sel: DeviceSel) -> bool {
    let Some((a, b)) = sel.interval() else {
        return true;
    };
    let (lo, hi) = (a.min(b), a.max(b));
    let mut n = 0u64;
    let listed = ctx.devices_of_domain(d, &mut |rid| n += u64::from((lo..=hi).contains(&rid)));
    !listed || n > u64::from(hi - lo)
}

/// Lower one invalidation (see the module docs).
pub(crate) fn lower_inval<C: Context + ?Sized>(
    (i, host, ctx, out): iommu_inval_core::lower::InvalJob<'_, crate::VirtioIommu, C>,
) -> Result<Outcome, LowerError> {
    if is_inverted(&i.range) {
        return Err(LowerError::Invalid("range with first > last"));
    }
    let f = host.f;
    if f.draft == Draft::None {
        return Err(LowerError::NoEquivalent(NO_INVAL));
    }
    if i.regime.is_secure() {
        return Ok(dropped("virtio-iommu has no secure regime"));
    }
    if i.regime != Regime::Guest {
        return Err(LowerError::NoEquivalent(
            "virtio-iommu INVALIDATE names a guest domain's translations, not the hypervisor's",
        ));
    }
    let mut o = Outcome::default();
    let mut caches = i.caches;
    if caches.contains(Caches::INTR_REMAP) {
        caches -= Caches::INTR_REMAP;
        o.dropped = Some("virtio-iommu has no interrupt-remapping cache");
    }
    let (cfg_dev, cfg_pasid) = (
        caches.contains(Caches::CONFIG_DEVICE),
        caches.contains(Caches::CONFIG_PASID),
    );
    let (iotlb, dev) = (
        caches.contains(Caches::IOTLB),
        caches.contains(Caches::DEV_TLB),
    );
    let (cfg, tlb) = (cfg_dev || cfg_pasid, iotlb || dev);
    if !cfg && !tlb {
        return Ok(o);
    }
    if iotlb && i.stages.contains(Stages::S2) {
        return Err(LowerError::NoEquivalent(
            "virtio-iommu INVALIDATE removes stage-1 (PASID-table) translations; stage 2 is the host's",
        ));
    }
    let domain = match (i.domain, i.device) {
        (DomainSel::One(d), _) => d,
        // Device-tagged caches of one device: its domain's request.
        (DomainSel::All, DeviceSel::One(ep)) if !iotlb => {
            ctx.domain_of_device(ep).ok_or(LowerError::NoEquivalent(
                "virtio-iommu INVALIDATE names one domain; the device's is unknown",
            ))?
        }
        (DomainSel::All, _) => {
            return Err(LowerError::NoEquivalent(
                "virtio-iommu INVALIDATE names one domain; no request invalidates every domain",
            ))
        }
    };
    if (cfg || dev) && i.device != DeviceSel::All {
        // The request reaches every endpoint of the domain: the devices
        // named must be among them.
        if !reaches(ctx, domain, i.device) {
            return Err(LowerError::NoEquivalent(
                "virtio-iommu INVALIDATE reaches the endpoints of a domain; the device is not one the context lists in it",
            ));
        }
        o.widened |= Widened::DEVICE;
    }
    let mut scope = match i.pasid {
        PasidSel::One(p) if tlb && !i.range.is_all() => {
            match cover(&i.range, f.granule_shift(), i.hints.leaf_shift) {
                Some((start, nr, g, wider)) => {
                    if wider {
                        o.widened |= Widened::RANGE;
                    }
                    Scope::Va(p, start, nr, g)
                }
                None => {
                    o.widened |= Widened::RANGE;
                    Scope::Pasid(p)
                }
            }
        }
        PasidSel::One(p) => Scope::Pasid(p),
        PasidSel::All => Scope::Domain,
        PasidSel::NoPasid => {
            // No selector for requests without PASID: the whole domain.
            o.widened |= Widened::PASID;
            Scope::Domain
        }
    };
    if scope != Scope::Domain && (cfg_dev || (dev && i.global)) {
        // A device's configuration, or global device-TLB entries: only the
        // domain scope reaches them.
        o.widened |= Widened::PASID
            | if i.global {
                Widened::GLOBAL
            } else {
                Widened::empty()
            };
        scope = Scope::Domain;
    }
    if scope == Scope::Domain && tlb && !i.range.is_all() {
        o.widened |= Widened::RANGE;
    }
    if scope == Scope::Domain && cfg && cfg_dev != cfg_pasid {
        // The domain scope's configuration invalidation covers both.
        o.widened |= Widened::CACHES;
    }
    if cfg && caches.contains(Caches::LEAF) {
        // The seed's configuration invalidation has no leaf-only form.
        o.widened |= Widened::LEAF;
    }
    let leaf = iotlb && caches.contains(Caches::LEAF);
    match f.draft {
        Draft::Brucker2018 => {
            if tlb && !(iotlb && dev) {
                // Its TLB request flushes the IOTLB and the device TLBs.
                o.widened |= Widened::CACHES;
            }
            if cfg {
                let s = match scope {
                    Scope::Va(p, ..) => Scope::Pasid(p),
                    s => s,
                };
                push(out, &mut o, req_2018(s, domain, INVAL_F_CONFIG_2018))?;
            }
            if tlb {
                let flags = if leaf { INVAL_F_LEAF_2018 } else { 0 };
                push(out, &mut o, req_2018(scope, domain, flags))?;
            }
        }
        _ => {
            let inv_type = (if cfg { INV_T_PASID } else { 0 })
                | (if iotlb { INV_T_IOTLB } else { 0 })
                | (if dev { INV_T_DEV_IOTLB } else { 0 });
            let leaf = if leaf { INVAL_F_LEAF } else { 0 };
            push(out, &mut o, req_2021(scope, domain, inv_type, leaf))?;
        }
    }
    Ok(o)
}

fn push(out: &mut dyn Sink<Command>, o: &mut Outcome, c: Command) -> Result<(), LowerError> {
    out.push(c)?;
    o.emitted += 1;
    Ok(())
}

/// The RFC 2021 INVALIDATE of `scope`.
fn req_2021(scope: Scope, domain: u32, inv_type: u16, leaf: u16) -> Command {
    let mut r = Invalidate {
        inv_type,
        flags: leaf,
        domain,
        ..Invalidate::default()
    };
    match scope {
        Scope::Domain => r.inv_gran = INVAL_G_DOMAIN,
        Scope::Pasid(p) => {
            r.inv_gran = INVAL_G_PASID;
            r.flags |= INVAL_F_PASID;
            r.pasid = p;
        }
        Scope::Va(p, start, nr, g) => {
            r.inv_gran = INVAL_G_VA;
            r.flags |= INVAL_F_PASID;
            (r.pasid, r.virt_start, r.nr_pages, r.granule) = (p, start, nr, g);
        }
    }
    Command::Invalidate(r)
}

/// The 2018 INVALIDATE of `scope`.
fn req_2018(scope: Scope, domain: u32, flags: u16) -> Command {
    let mut r = Invalidate2018 {
        flags,
        domain,
        ..Invalidate2018::default()
    };
    match scope {
        Scope::Domain => r.scope = INVAL_S_DOMAIN,
        Scope::Pasid(p) => {
            r.scope = INVAL_S_PASID;
            r.pasid = p;
        }
        Scope::Va(p, start, nr, g) => {
            r.scope = INVAL_S_VA;
            (r.pasid, r.virt_start, r.nr_pages, r.granule) = (p, start, nr, g);
        }
    }
    Command::Invalidate2018(r)
}

/// Every op but invalidations: a sync emits nothing (exact), the rest has
/// no request.
impl Lowering for crate::VirtioIommu {
    const NO_PREFETCH: &'static str = "virtio-iommu has no prefetch request";
    const NO_STALL: [&'static str; 2] = [
        "virtio-iommu has no stall resume request",
        "virtio-iommu has no stall terminate request",
    ];

    /// No request: virtio-iommu has no sync. Each request completes on its
    /// own and the driver waits for its completion, so the completion of
    /// the requests before a sync is the barrier: nothing to emit, exact.
    /// A signal at completion (an interrupt, a store, an event) is the
    /// virtqueue's used-buffer notification, not a request's, and draining
    /// page requests has no request either: `NoEquivalent`.
    fn lower_sync(
        b: &Barrier,
        _host: &Host<'_>,
        _out: &mut dyn Sink<Command>,
    ) -> Result<Outcome, LowerError> {
        if b.store.is_some() || b.interrupt || b.sev || b.drain_page_requests {
            return Err(LowerError::NoEquivalent(
                "virtio-iommu has no sync request: its completion signal is the virtqueue's",
            ));
        }
        Ok(Outcome::default())
    }

    fn lower_page_response(_r: &PageResponse, _host: &Host<'_>) -> Result<Command, LowerError> {
        Err(LowerError::NoEquivalent(
            "virtio-iommu has no page-request response (the drafts' PAGE_RESP is not implemented)",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iommu_inval_core::IdentityContext;
    use std::vec::Vec;

    fn low(i: &Inval, f: &Features) -> Result<(Vec<Command>, Outcome), LowerError> {
        let mut v = Vec::new();
        let host = Host { f, cap: 16 };
        let o = lower_inval((i, &host, &IdentityContext, &mut v))?;
        assert_eq!(o.emitted, v.len());
        assert!(v.len() <= max_lowered(Budget::new(1)));
        Ok((v, o))
    }

    fn tlb(p: u32, r: AddrRange) -> Inval {
        Inval::new(Caches::IOTLB | Caches::LEAF)
            .stage(Stages::S1)
            .domain(DomainSel::One(1))
            .pasid(PasidSel::One(p))
            .range(r)
    }

    #[test]
    fn a_ratified_device_has_no_invalidation() {
        let i = tlb(1, AddrRange::All);
        for f in [
            Features::VIRTIO_1_2,
            Features::CLOUD_HYPERVISOR,
            Features::CROSVM,
        ] {
            assert_eq!(low(&i, &f), Err(LowerError::NoEquivalent(NO_INVAL)));
        }
    }

    #[test]
    fn power_of_two_cover() {
        // 3 pages from 0x1000: 4 pages (16 KiB) from 0x1000.
        let r = AddrRange::new(0x1000, 0x3000).unwrap();
        assert_eq!(cover(&r, 12, 0), Some((0x1000, 4, 12, true)));
        // Exact: 2 pages.
        let r = AddrRange::new(0x2000, 0x2000).unwrap();
        assert_eq!(cover(&r, 12, 0), Some((0x2000, 2, 12, false)));
        // Unaligned start: aligned down.
        let r = AddrRange::inclusive(0x1800, 0x27ff).unwrap();
        assert_eq!(cover(&r, 12, 0), Some((0x1000, 2, 12, true)));
        // A 2 MiB-aligned range with the 2 MiB leaf hint counts in leaves.
        let r = AddrRange::new(0x20_0000, 0x40_0000).unwrap();
        assert_eq!(cover(&r, 12, 21), Some((0x20_0000, 2, 21, false)));
        // The hint is ignored when the range is not aligned to it.
        let r = AddrRange::new(0x20_1000, 0x1000).unwrap();
        assert_eq!(cover(&r, 12, 21), Some((0x20_1000, 1, 12, false)));
        // Past 2^64: none.
        let r = AddrRange::inclusive(0xffff_ffff_ffff_0000, u64::MAX - 0x1000).unwrap();
        assert_eq!(
            cover(&r, 12, 0),
            Some((0xffff_ffff_ffff_0000, 16, 12, true))
        );
        let r = AddrRange::inclusive(0xffff_ffff_fff0_1000, u64::MAX - 0x1000).unwrap();
        assert_eq!(cover(&r, 12, 0), None);
    }

    #[test]
    fn rfc_2021_requests() {
        let f = Features::VSVA_2021;
        let r = AddrRange::new(0x1000, 0x3000).unwrap();
        let (v, o) = low(&tlb(7, r), &f).unwrap();
        assert_eq!(o.widened, Widened::RANGE);
        assert_eq!(
            v,
            [Command::Invalidate(Invalidate {
                inv_gran: INVAL_G_VA,
                inv_type: INV_T_IOTLB,
                flags: INVAL_F_PASID | INVAL_F_LEAF,
                domain: 1,
                pasid: 7,
                virt_start: 0x1000,
                nr_pages: 4,
                granule: 12,
                ..Invalidate::default()
            })]
        );
        // Every address of a PASID, config and TLBs.
        let i = Inval::new(Caches::CONFIG_PASID | Caches::IOTLB | Caches::DEV_TLB)
            .stage(Stages::S1)
            .domain(DomainSel::One(2))
            .pasid(PasidSel::One(3));
        let (v, o) = low(&i, &f).unwrap();
        assert!(o.is_exact());
        let Command::Invalidate(x) = v[0] else {
            panic!()
        };
        assert_eq!(
            (x.inv_gran, x.inv_type),
            (INVAL_G_PASID, INV_T_IOTLB | INV_T_DEV_IOTLB | INV_T_PASID)
        );
        assert_eq!((x.flags, x.pasid), (INVAL_F_PASID, 3));
        // Every PASID of the domain.
        let (v, o) = low(&i.pasid(PasidSel::All), &f).unwrap();
        let Command::Invalidate(x) = v[0] else {
            panic!()
        };
        assert_eq!((x.inv_gran, x.flags), (INVAL_G_DOMAIN, 0));
        // CONFIG_PASID alone at the domain scope is the seed's CONFIG: both.
        assert_eq!(o.widened, Widened::CACHES);
    }

    #[test]
    fn what_the_draft_cannot_say() {
        let f = Features::VSVA_2021;
        let s2 = Inval::new(Caches::IOTLB).domain(DomainSel::One(1));
        assert!(matches!(low(&s2, &f), Err(LowerError::NoEquivalent(_))));
        let all = tlb(1, AddrRange::All).domain(DomainSel::All);
        assert!(matches!(low(&all, &f), Err(LowerError::NoEquivalent(_))));
        let hyp = tlb(1, AddrRange::All).regime(Regime::Hyp);
        assert!(matches!(low(&hyp, &f), Err(LowerError::NoEquivalent(_))));
        let sec = tlb(1, AddrRange::All).regime(Regime::Secure);
        assert_eq!(
            low(&sec, &f).unwrap().1.dropped,
            Some("virtio-iommu has no secure regime")
        );
        let ir = Inval::new(Caches::INTR_REMAP);
        let (v, o) = low(&ir, &f).unwrap();
        assert!(v.is_empty() && o.dropped.is_some());
        // No PASID: the whole domain, widened.
        let np = tlb(1, AddrRange::All).pasid(PasidSel::NoPasid);
        let (v, o) = low(&np, &f).unwrap();
        assert_eq!(o.widened, Widened::PASID);
        assert!(matches!(
            v[0],
            Command::Invalidate(Invalidate {
                inv_gran: INVAL_G_DOMAIN,
                ..
            })
        ));
        // One device's ATC: every endpoint of its domain.
        let atc = Inval::new(Caches::DEV_TLB)
            .domain(DomainSel::One(1))
            .device(DeviceSel::One(4))
            .pasid(PasidSel::One(2));
        let (_, o) = low(&atc, &f).unwrap();
        assert_eq!(o.widened, Widened::DEVICE);
        // A device's configuration with no domain, unknown to the context.
        let ste = Inval::new(Caches::CONFIG_DEVICE).device(DeviceSel::One(4));
        assert!(matches!(low(&ste, &f), Err(LowerError::NoEquivalent(_))));
    }

    #[test]
    fn draft_2018_requests() {
        let f = Features::VSVA_2018;
        let i = Inval::new(Caches::CONFIG_PASID | Caches::IOTLB | Caches::DEV_TLB)
            .stage(Stages::S1)
            .domain(DomainSel::One(2))
            .pasid(PasidSel::One(3))
            .range(AddrRange::new(0x4000, 0x2000).unwrap());
        let (v, o) = low(&i, &f).unwrap();
        assert!(o.is_exact());
        assert_eq!(
            v,
            [
                Command::Invalidate2018(Invalidate2018 {
                    scope: INVAL_S_PASID,
                    flags: INVAL_F_CONFIG_2018,
                    domain: 2,
                    pasid: 3,
                    ..Invalidate2018::default()
                }),
                Command::Invalidate2018(Invalidate2018 {
                    scope: INVAL_S_VA,
                    flags: 0,
                    domain: 2,
                    pasid: 3,
                    virt_start: 0x4000,
                    nr_pages: 2,
                    granule: 12,
                    ..Invalidate2018::default()
                })
            ]
        );
        // The IOTLB alone: its TLB request also flushes the device TLBs.
        let (v, o) = low(&tlb(3, AddrRange::All), &f).unwrap();
        assert_eq!((v.len(), o.widened), (1, Widened::CACHES));
    }

    /// `lift(lower(g))` covers `g` (less what the host lacks), for both
    /// drafts, and every widening of the cover is reported.
    fn check_round_trip(
        g: &Inval,
        f: &Features,
    ) -> Result<(), proptest::test_runner::TestCaseError> {
        use iommu_inval_core::footprint::Footprint;
        use proptest::prelude::*;
        let Ok((cmds, o)) = low(g, f) else {
            return Ok(());
        };
        if g.regime.is_secure() {
            // No secure regime: dropped whole, reported.
            prop_assert!(cmds.is_empty() && o.dropped.is_some());
            return Ok(());
        }
        let mut ops = Vec::new();
        for c in &cmds {
            prop_assert!(c.check_valid().is_ok(), "{:?}", c);
            <crate::VirtioIommu as iommu_inval_core::arch::Arch>::lift(c, &IdentityContext, &mut ops).unwrap();
        }
        let mut want = *g;
        want.caches -= lacks(f);
        let (got, want) = (
            Footprint::of_ops(ops.iter(), &IdentityContext),
            Footprint::of_inval(&want, &IdentityContext),
        );
        prop_assert!(got.covers(&want), "{:?} -> {:?} -> {:?}", g, cmds, ops);
        if o.widened.is_empty() && o.dropped.is_none() {
            prop_assert!(want.covers(&got), "exact claimed: {:?} -> {:?}", g, ops);
        }
        Ok(())
    }

    #[test]
    fn lift_of_lower_covers_the_op() {
        let r = AddrRange::new(0x3000, 0x5000).unwrap();
        let cases = [
            tlb(7, r),
            tlb(7, AddrRange::All),
            tlb(7, r).pasid(PasidSel::All),
            tlb(7, r).pasid(PasidSel::NoPasid),
            Inval::new(Caches::DEV_TLB)
                .domain(DomainSel::One(1))
                .device(DeviceSel::One(3))
                .global(true)
                .pasid(PasidSel::One(2))
                .range(r),
            Inval::new(Caches::CONFIG)
                .domain(DomainSel::One(2))
                .pasid(PasidSel::One(9)),
            Inval::new(Caches::CONFIG_PASID | Caches::IOTLB | Caches::DEV_TLB | Caches::INTR_REMAP)
                .stage(Stages::S1)
                .domain(DomainSel::One(2))
                .pasid(PasidSel::One(9))
                .range(AddrRange::inclusive(0xffff_ffff_fff0_1000, u64::MAX - 0x1000).unwrap()),
        ];
        for g in &cases {
            for f in [Features::VSVA_2021, Features::VSVA_2018, Features::ALL] {
                check_round_trip(g, &f).unwrap();
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn lift_of_lower_covers_any_op(raw in proptest::collection::vec(proptest::prelude::any::<u8>(), 64..256)) {
            use arbitrary::{Arbitrary, Unstructured};
            let mut u = Unstructured::new(&raw);
            if let Ok(mut g) = Inval::arbitrary(&mut u) {
                // Keep ids small enough to meet, and stage 1 often.
                if raw[0] & 1 != 0 {
                    g.stages = Stages::S1;
                }
                if raw[1] & 3 != 0 {
                    g.regime = Regime::Guest;
                }
                g.domain = match g.domain {
                    DomainSel::One(d) => DomainSel::One(d % 4),
                    DomainSel::All if raw[2] & 3 != 0 => DomainSel::One(u32::from(raw[3] % 4)),
                    DomainSel::All => DomainSel::All,
                };
                if (g.caches & Caches::ALL_KINDS).is_empty() {
                    g.caches |= Caches::IOTLB;
                }
                for f in [Features::VSVA_2021, Features::VSVA_2018] {
                    check_round_trip(&g, &f)?;
                }
            }
        }
    }

    proptest::proptest! {
        /// R2 for INVALIDATE: lowering the lift of a request to a device of
        /// the same draft, and lifting that, covers the request's footprint.
        #[test]
        fn lower_of_lift_covers_invalidate(
            gran in 0usize..3,
            ty in 1u16..8,
            flags in 0u16..8,
            pasid in 0u32..4,
            archid in 0u64..4,
            start in proptest::prelude::any::<u64>(),
            nr_pages in 1u64..1000,
            granule in proptest::prop_oneof![proptest::strategy::Just(12u8), 0u8..64],
            draft18 in proptest::prelude::any::<bool>(),
        ) {
            use iommu_inval_core::footprint::Footprint;
            let flags = if gran == 0 { flags } else { flags | INVAL_F_PASID };
            let c = if draft18 {
                Command::Invalidate2018(Invalidate2018 {
                    scope: 1 << gran,
                    flags: flags & 3,
                    domain: 1,
                    pasid,
                    id: archid,
                    virt_start: start,
                    nr_pages,
                    granule,
                    ..Invalidate2018::default()
                })
            } else {
                Command::Invalidate(Invalidate {
                    inv_gran: 1 << gran,
                    inv_type: ty,
                    flags,
                    domain: 1,
                    pasid,
                    archid,
                    virt_start: start,
                    nr_pages,
                    granule,
                    ..Invalidate::default()
                })
            };
            proptest::prop_assume!(c.check_valid().is_ok());
            let f = if draft18 { Features::VSVA_2018 } else { Features::VSVA_2021 };
            let mut ops = Vec::new();
            <crate::VirtioIommu as iommu_inval_core::arch::Arch>::lift(&c, &IdentityContext, &mut ops).unwrap();
            let mut again = Vec::new();
            for op in &ops {
                if let Op::Inval(i) = op {
                    let (cmds, _) = low(i, &f).unwrap();
                    for c2 in &cmds {
                        <crate::VirtioIommu as iommu_inval_core::arch::Arch>::lift(c2, &IdentityContext, &mut again).unwrap();
                    }
                }
            }
            let (a, b) = (
                Footprint::of_ops(again.iter(), &IdentityContext),
                Footprint::of_ops(ops.iter(), &IdentityContext),
            );
            proptest::prop_assert!(a.covers(&b), "{:?} -> {:?} -> {:?}", c, ops, again);
        }
    }

    /// A device the context does not list in the domain is not reached by
    /// the domain's INVALIDATE (found by props' R3 on a topology whose
    /// domain lists no device: the lowering claimed the domain's endpoints
    /// covered device 0).
    #[test]
    fn a_device_outside_the_domain_is_not_reached() {
        use iommu_inval_core::context::Topology;
        let t = Topology::from_json(
            r#"{"domains":[{"id":1}],"devices":[{"rid":16,"domain":1,"ats":true}]}"#,
        )
        .unwrap();
        let f = Features::VSVA_2021;
        let host = Host { f: &f, cap: 16 };
        let cfg = |d| {
            Inval::new(Caches::CONFIG_DEVICE)
                .domain(DomainSel::One(1))
                .device(d)
        };
        let mut v = Vec::new();
        assert!(matches!(
            lower_inval((&cfg(DeviceSel::One(0)), &host, &t, &mut v)),
            Err(LowerError::NoEquivalent(_))
        ));
        let range = DeviceSel::Range {
            first: 15,
            last: 16,
        };
        assert!(matches!(
            lower_inval((&cfg(range), &host, &t, &mut v)),
            Err(LowerError::NoEquivalent(_))
        ));
        let o = lower_inval((&cfg(DeviceSel::One(16)), &host, &t, &mut v)).unwrap();
        assert_eq!(o.widened, Widened::DEVICE | Widened::CACHES);
        // The identity context lists no domain's devices: every device.
        let o = lower_inval((&cfg(DeviceSel::One(0)), &host, &IdentityContext, &mut v)).unwrap();
        assert!(o.widened.contains(Widened::DEVICE));
    }
}
