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
//! `DEVICE`); a device's configuration is the domain scope's `INV_T_PASID`
//! (the seed proposal's `CONFIG` at domain scope covers both), so
//! configuration caches at the domain scope count as both (`CACHES` when
//! one was asked for); secure regimes and the interrupt-remapping cache
//! (which virtio-iommu has not) are dropped and reported.

use crate::cmd::*;
use crate::features::{Draft, Features};
use iommu_inval_core::lower::{dropped, is_inverted, lacking, Budget};
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

/// Lower one invalidation (see the module docs).
pub(crate) fn lower_inval<C: Context + ?Sized>(
    i: &Inval,
    host: &Host<'_>,
    ctx: &C,
    out: &mut dyn Sink<Command>,
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
        caches.remove(Caches::INTR_REMAP);
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
        // The request reaches every endpoint of the domain.
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
