//! Lift: virtio-iommu requests to the generic model.
//!
//! Every request ends with one [`Op::Sync`]: the driver waits for each
//! request's completion, which is its barrier (nothing after it may use a
//! stale translation). Domains and endpoints are the generic domains and
//! devices as they are (endpoint IDs are platform ids — VIOT / IORT — that
//! the topology names as devices).
//!
//! | request | generic |
//! |---|---|
//! | UNMAP `[s; e]` of domain `d` | `IOTLB \| DEV_TLB` of `d`, requests without PASID, both stages, every device of `d`, range `[s; e]` (`AddrRange::All` for the whole 64-bit space; nothing for `e < s`, an empty range) |
//! | DETACH `(d, ep)` | `CONFIG_DEVICE` of `ep`; `DEV_TLB` of `ep` in `d` |
//! | ATTACH `(d, ep)` | `CONFIG_DEVICE` of `ep` (the device-TLB entries of `ep`'s old domain are the front end's business: it knows the old domain) |
//! | ATTACH_TABLE `(d, ep)` | `CONFIG_DEVICE` of `ep` (the attach); binding the table itself removes nothing |
//! | MAP, PROBE | nothing: a MAP fills a range that holds no mapping, so no cached translation can be stale; a PROBE reads properties |
//! | INVALIDATE (both drafts) | the seed proposal's request ([`SeedRequest::to_ops`]): its own sequence and syncs |
//!
//! INVALIDATE maps field by field onto [`SeedRequest`] (the values differ:
//! never bit for bit): RFC 2021 `inv_gran` `G_DOMAIN` / `G_PASID` / `G_VA`
//! → [`SeedScope`] `Domain` / `Pasid` / `Va`; `inv_type` `INV_T_PASID` /
//! `INV_T_IOTLB` / `INV_T_DEV_IOTLB` → [`SeedFlags`] `CONFIG` / `TLB` /
//! `DEV_TLB`; `F_LEAF` → `LEAF`; `virt_start` → `iova`, `nr_pages <<
//! granule` → `size`, `1 << granule` → `granule` (the leaf-size hint).
//! `F_PASID` names the PASID; without it, `F_ARCHID`'s `archid` (the Arm
//! ASID of the SMMUv3 PASID table the draft binds) names the PASIDs
//! through the [`Context`] ([`Context::pasids_of_tag`] of SMMUv3 ASIDs in
//! the domain), every PASID (reported as `PASID`) when it does not know
//! them. 2018 `scope` `S_DOMAIN` / `S_PASID` / `S_VA` → `Domain` / `Pasid`
//! / `Va`; `F_CONFIG` → `CONFIG`, and without it the request flushes the
//! TLBs (the 2018 driver's PASID TLB flush sends no flag): `TLB | DEV_TLB`
//! — the guest cannot reach its endpoints' ATCs but through the device;
//! `F_LEAF` → `LEAF`; `id` is a hint beside the valid `pasid`. A range
//! whose end passes 2^64 (`nr_pages << granule` overflowing) widens to
//! every address (reported as `RANGE`).

use crate::cmd::*;
use iommu_inval_core::lift::{self, Emit};
use iommu_inval_core::model::*;
use iommu_inval_core::seed::{SeedFlags, SeedRequest, SeedScope};
use iommu_inval_core::{ArchId, Context, FixedBuf, LowerError, Sink};

/// The generic range of an UNMAP `[s; e]`: `None` when empty (`e < s`).
pub(crate) const fn unmap_range(s: u64, e: u64) -> Option<AddrRange> {
    if s == 0 && e == u64::MAX {
        Some(AddrRange::All)
    } else if e < s {
        None
    } else {
        Some(AddrRange::Span { first: s, last: e })
    }
}

/// The byte size of `nr_pages << granule`, `None` past 2^64 - 1.
pub(crate) const fn pages_size(nr_pages: u64, granule: u8) -> Option<u64> {
    if granule >= 64 || nr_pages > u64::MAX >> granule {
        None
    } else {
        Some(nr_pages << granule)
    }
}

/// Lift one request into generic operations written to `out` (see the
/// module docs). A full sink is `Err(BufferFull)`.
pub(crate) fn lift<C: Context + ?Sized>(
    cmd: &Command,
    ctx: &C,
    out: &mut dyn Sink<Op>,
) -> Result<Outcome, LowerError> {
    let mut e = Emit::new(out);
    let config_of =
        |ep: u32| Op::Inval(Inval::new(Caches::CONFIG_DEVICE).device(DeviceSel::One(ep)));
    match *cmd {
        Command::Unmap(u) => {
            if let Some(range) = unmap_range(u.virt_start, u.virt_end) {
                let i = Inval::new(Caches::IOTLB | Caches::DEV_TLB)
                    .domain(DomainSel::One(u.domain))
                    .pasid(PasidSel::NoPasid)
                    .range(range);
                e.push(Op::Inval(i))?;
            }
        }
        Command::Detach(d) => {
            e.push(config_of(d.endpoint))?;
            let i = Inval::new(Caches::DEV_TLB)
                .domain(DomainSel::One(d.domain))
                .device(DeviceSel::One(d.endpoint));
            e.push(Op::Inval(i))?;
        }
        Command::Attach(a) => e.push(config_of(a.endpoint))?,
        Command::AttachTable(a) => e.push(config_of(a.endpoint))?,
        Command::Map(_) | Command::Probe(_) => {}
        Command::Invalidate(i) => return lift_seed(seed_2021(&i), archid_of(&i), ctx, e),
        Command::Invalidate2018(i) => return lift_seed(seed_2018(&i), None, ctx, e),
    }
    e.push(Op::Sync(Barrier::default()))?;
    Ok(e.outcome())
}

/// The scope of a one-hot `inv_gran` / `scope` (the codec checked it).
const fn scope(v: u16, domain: u16, pasid: u16) -> SeedScope {
    if v == domain {
        SeedScope::Domain
    } else if v == pasid {
        SeedScope::Pasid
    } else {
        SeedScope::Va
    }
}

/// `flag` when `v & bit`.
const fn when(v: u16, bit: u16, flag: SeedFlags) -> SeedFlags {
    if v & bit != 0 {
        flag
    } else {
        SeedFlags::empty()
    }
}

/// The seed request of an RFC 2021 INVALIDATE, field by field.
pub(crate) fn seed_2021(i: &Invalidate) -> (SeedRequest, bool) {
    let flags = when(i.inv_type, INV_T_PASID, SeedFlags::CONFIG)
        .union(when(i.inv_type, INV_T_IOTLB, SeedFlags::TLB))
        .union(when(i.inv_type, INV_T_DEV_IOTLB, SeedFlags::DEV_TLB))
        .union(when(i.flags, INVAL_F_LEAF, SeedFlags::LEAF));
    seed(
        scope(i.inv_gran, INVAL_G_DOMAIN, INVAL_G_PASID),
        flags,
        i.domain,
        i.pasid,
        i.virt_start,
        i.nr_pages,
        i.granule,
    )
}

/// The seed request of a 2018 INVALIDATE, field by field.
pub(crate) fn seed_2018(i: &Invalidate2018) -> (SeedRequest, bool) {
    let caches = if i.flags & INVAL_F_CONFIG_2018 != 0 {
        SeedFlags::CONFIG
    } else {
        SeedFlags::TLB.union(SeedFlags::DEV_TLB)
    };
    seed(
        scope(i.scope, INVAL_S_DOMAIN, INVAL_S_PASID),
        caches.union(when(i.flags, INVAL_F_LEAF_2018, SeedFlags::LEAF)),
        i.domain,
        i.pasid,
        i.virt_start,
        i.nr_pages,
        i.granule,
    )
}

/// The seed request of a scope and flags, and whether its range was
/// widened: a VA range whose end passes 2^64 becomes the PASID scope
/// (every address).
fn seed(
    scope: SeedScope,
    flags: SeedFlags,
    domain: u32,
    pasid: u32,
    iova: u64,
    nr_pages: u64,
    granule: u8,
) -> (SeedRequest, bool) {
    let mut r = SeedRequest {
        scope,
        flags,
        domain,
        pasid,
        iova: 0,
        size: 0,
        granule: 0,
    };
    if scope != SeedScope::Va {
        return (r, false);
    }
    match pages_size(nr_pages, granule) {
        Some(size) if AddrRange::new(iova, size).is_ok() => {
            r.iova = iova;
            r.size = size;
            r.granule = 1 << granule;
            (r, false)
        }
        _ => {
            r.scope = SeedScope::Pasid;
            (r, true)
        }
    }
}

/// The RFC 2021 `archid` that names the PASIDs (`F_ARCHID` without
/// `F_PASID`, in a PASID or VA scope).
fn archid_of(i: &Invalidate) -> Option<u64> {
    let by_archid = i.flags & (INVAL_F_PASID | INVAL_F_ARCHID) == INVAL_F_ARCHID;
    (by_archid && i.inv_gran != INVAL_G_DOMAIN).then_some(i.archid)
}

/// The seed request's ops; with `archid`, each of its PASID-scoped
/// invalidations once per PASID the ASID names in the domain.
fn lift_seed<C: Context + ?Sized>(
    (r, widened): (SeedRequest, bool),
    archid: Option<u64>,
    ctx: &C,
    mut e: Emit<'_>,
) -> Result<Outcome, LowerError> {
    let mut ops: FixedBuf<Op, 6> = FixedBuf::new();
    r.to_ops(&mut ops)?;
    if widened {
        e.widen(Widened::RANGE);
    }
    let lookup = DomainSel::One(r.domain);
    for op in ops.iter() {
        match (op, archid) {
            (Op::Inval(i), Some(id)) if matches!(i.pasid, PasidSel::One(_)) => {
                match u32::try_from(id) {
                    // The RFC binds an SMMUv3 PASID table: `archid` is its ASID.
                    Ok(tag) => lift::per_tag(ctx, ArchId::Smmuv3, *i, lookup, tag, &mut e)?,
                    Err(_) => {
                        e.widen(Widened::PASID);
                        e.push(Op::Inval(i.pasid(PasidSel::All)))?;
                    }
                }
            }
            _ => e.push(*op)?,
        }
    }
    Ok(e.outcome())
}
