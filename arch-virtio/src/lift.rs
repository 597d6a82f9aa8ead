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

use iommu_inval_core::Flags;
use crate::cmd::*;
use iommu_inval_core::lift::{self, Emit};
use iommu_inval_core::model::*;
use iommu_inval_core::seed::{SeedFlags, SeedRequest, SeedScope};
use iommu_inval_core::{ArchId, Context, FixedBuf, LowerError};

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
#[inline(always)]
pub(crate) fn lift<C: Context + ?Sized>(
    cmd: &Command,
    ctx: &C,
    e: &mut Emit<'_>,
) -> Result<(), LowerError> {
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
    Ok(())
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
fn when(v: u16, bit: u16, flag: SeedFlags) -> SeedFlags {
    flag.when(v & bit != 0)
}

/// The seed request of an RFC 2021 INVALIDATE, field by field.
pub(crate) fn seed_2021(i: &Invalidate) -> (SeedRequest, bool) {
    let flags = when(i.inv_type, INV_T_PASID, SeedFlags::CONFIG)
        | when(i.inv_type, INV_T_IOTLB, SeedFlags::TLB)
        | when(i.inv_type, INV_T_DEV_IOTLB, SeedFlags::DEV_TLB)
        | when(i.flags, INVAL_F_LEAF, SeedFlags::LEAF);
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
        SeedFlags::TLB | SeedFlags::DEV_TLB
    };
    seed(
        scope(i.scope, INVAL_S_DOMAIN, INVAL_S_PASID),
        caches | when(i.flags, INVAL_F_LEAF_2018, SeedFlags::LEAF),
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
    e: &mut Emit<'_>,
) -> Result<(), LowerError> {
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
                    Ok(tag) => lift::per_tag(ctx, ArchId::Smmuv3, *i, lookup, tag, e)?,
                    Err(_) => {
                        e.widen(Widened::PASID);
                        e.push(Op::Inval(i.pasid(PasidSel::All)))?;
                    }
                }
            }
            _ => e.push(*op)?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use iommu_inval_core::IdentityContext;
    use std::vec::Vec;

    fn lifted(c: Command) -> (Vec<Op>, Outcome) {
        let mut v = Vec::new();
        let o = <crate::VirtioIommu as iommu_inval_core::arch::Arch>::lift(&c, &IdentityContext, &mut v).unwrap();
        assert_eq!(o.emitted, v.len());
        (v, o)
    }

    const SYNC: Op = Op::Sync(Barrier {
        interrupt: false,
        store: None,
        sev: false,
        fence: false,
        drain_page_requests: false,
        msi_msh: 0,
        msi_attr: 0,
    });

    #[test]
    fn unmap_is_the_domains_tlb_entries_of_the_range() {
        let u = |s, e| {
            Command::Unmap(Unmap {
                domain: 3,
                virt_start: s,
                virt_end: e,
                ..Unmap::default()
            })
        };
        let want = |r| {
            Op::Inval(Inval {
                caches: Caches::IOTLB | Caches::DEV_TLB,
                regime: Regime::Guest,
                stages: Stages::all(),
                domain: DomainSel::One(3),
                pasid: PasidSel::NoPasid,
                global: false,
                device: DeviceSel::All,
                range: r,
                hints: Hints::default(),
            })
        };
        let (v, o) = lifted(u(0x1000, 0x2fff));
        assert!(o.is_exact());
        assert_eq!(v, [want(AddrRange::new(0x1000, 0x2000).unwrap()), SYNC]);
        let (v, _) = lifted(u(0, u64::MAX));
        assert_eq!(v, [want(AddrRange::All), SYNC]);
        assert!(matches!(
            v[0],
            Op::Inval(Inval {
                range: AddrRange::All,
                ..
            })
        ));
        // An empty range removes nothing: only the completion.
        assert_eq!(lifted(u(0x2000, 0x1fff)).0, [SYNC]);
    }

    #[test]
    fn detach_attach_map_probe() {
        let cfg = |ep| Op::Inval(Inval::new(Caches::CONFIG_DEVICE).device(DeviceSel::One(ep)));
        let d = Command::Detach(Detach {
            domain: 2,
            endpoint: 8,
            ..Detach::default()
        });
        let atc = Inval::new(Caches::DEV_TLB)
            .domain(DomainSel::One(2))
            .device(DeviceSel::One(8));
        assert_eq!(lifted(d).0, [cfg(8), Op::Inval(atc), SYNC]);
        let a = Command::Attach(Attach {
            domain: 2,
            endpoint: 8,
            ..Attach::default()
        });
        assert_eq!(lifted(a).0, [cfg(8), SYNC]);
        let t = Command::AttachTable(AttachTable {
            head_reserved: [0; 3],
            domain: 2,
            endpoint: 9,
            table: Table::PstArm {
                s1fmt: 0,
                s1dss: 0,
                s1contextptr: 0x8000,
                s1cdmax: 4,
            },
        });
        assert_eq!(lifted(t).0, [cfg(9), SYNC]);
        let m = Command::Map(Map {
            virt_end: 0xfff,
            ..Map::default()
        });
        assert_eq!(lifted(m).0, [SYNC]);
        assert_eq!(lifted(Command::Probe(Probe::default())).0, [SYNC]);
    }

    /// INVALIDATE is the seed proposal's request, field by field.
    #[test]
    fn invalidate_2021_is_the_seed_request() {
        let i = Invalidate {
            inv_gran: INVAL_G_VA,
            inv_type: INV_T_IOTLB | INV_T_DEV_IOTLB | INV_T_PASID,
            flags: INVAL_F_PASID | INVAL_F_LEAF,
            domain: 1,
            pasid: 7,
            virt_start: 0x20_0000,
            nr_pages: 2,
            granule: 21,
            ..Invalidate::default()
        };
        let seed = SeedRequest {
            scope: SeedScope::Va,
            flags: SeedFlags::all(),
            domain: 1,
            pasid: 7,
            iova: 0x20_0000,
            size: 0x40_0000,
            granule: 0x20_0000,
        };
        let mut want = Vec::new();
        seed.to_ops(&mut want).unwrap();
        let (v, o) = lifted(Command::Invalidate(i));
        assert!(o.is_exact());
        assert_eq!(v, want);
        assert_eq!(v.len(), 6);
        let Op::Inval(tlb) = v[2] else { panic!() };
        assert_eq!(tlb.caches, Caches::IOTLB | Caches::LEAF);
        assert_eq!(tlb.hints.leaf_shift, 21);
        // G_DOMAIN, PASID-table entries: the configuration of the domain.
        let d = Invalidate {
            inv_gran: INVAL_G_DOMAIN,
            inv_type: INV_T_PASID,
            flags: 0,
            ..i
        };
        let (v, _) = lifted(Command::Invalidate(d));
        let Op::Inval(c) = v[0] else { panic!() };
        assert_eq!(
            (c.caches, c.domain, c.pasid),
            (Caches::CONFIG, DomainSel::One(1), PasidSel::All)
        );
        assert_eq!(v[1], SYNC);
    }

    #[test]
    fn invalidate_by_archid_goes_through_the_context() {
        let i = Invalidate {
            inv_gran: INVAL_G_PASID,
            inv_type: INV_T_IOTLB,
            flags: INVAL_F_ARCHID,
            domain: 1,
            pasid: 99, // not valid without F_PASID
            archid: 5,
            ..Invalidate::default()
        };
        let (v, o) = lifted(Command::Invalidate(i));
        assert!(o.is_exact());
        let Op::Inval(t) = v[0] else { panic!() };
        assert_eq!(t.pasid, PasidSel::One(5)); // the identity context's ASID 5
                                               // An ASID no context can name: every PASID, reported.
        let (v, o) = lifted(Command::Invalidate(Invalidate {
            archid: 1 << 40,
            ..i
        }));
        assert_eq!(o.widened, Widened::PASID);
        let Op::Inval(t) = v[0] else { panic!() };
        assert_eq!(t.pasid, PasidSel::All);
        // With F_PASID the pasid field names it; archid is a hint.
        let (v, _) = lifted(Command::Invalidate(Invalidate {
            flags: INVAL_F_ARCHID | INVAL_F_PASID,
            ..i
        }));
        let Op::Inval(t) = v[0] else { panic!() };
        assert_eq!(t.pasid, PasidSel::One(99));
    }

    #[test]
    fn a_range_past_2_64_widens_to_every_address() {
        let i = Invalidate {
            inv_gran: INVAL_G_VA,
            inv_type: INV_T_IOTLB,
            flags: INVAL_F_PASID,
            domain: 1,
            pasid: 2,
            virt_start: 0xffff_ffff_ffff_0000,
            nr_pages: 0x100,
            granule: 12,
            ..Invalidate::default()
        };
        let (v, o) = lifted(Command::Invalidate(i));
        assert_eq!(o.widened, Widened::RANGE);
        let Op::Inval(t) = v[0] else { panic!() };
        assert_eq!((t.pasid, t.range), (PasidSel::One(2), AddrRange::All));
        // nr_pages << granule itself overflowing.
        let (_, o) = lifted(Command::Invalidate(Invalidate {
            virt_start: 0,
            nr_pages: u64::MAX,
            granule: 63,
            ..i
        }));
        assert_eq!(o.widened, Widened::RANGE);
        // Ending exactly at 2^64 is a range.
        let (v, o) = lifted(Command::Invalidate(Invalidate {
            nr_pages: 0x10,
            ..i
        }));
        assert!(o.is_exact());
        let Op::Inval(t) = v[0] else { panic!() };
        assert_eq!(
            t.range,
            AddrRange::inclusive(0xffff_ffff_ffff_0000, u64::MAX).unwrap()
        );
    }

    #[test]
    fn invalidate_2018_flags() {
        let i = Invalidate2018 {
            scope: INVAL_S_PASID,
            flags: 0,
            domain: 4,
            pasid: 3,
            id: 17,
            ..Invalidate2018::default()
        };
        // No flag: the TLBs (the 2018 driver's PASID TLB flush).
        let (v, o) = lifted(Command::Invalidate2018(i));
        assert!(o.is_exact());
        let kinds: Vec<_> = v
            .iter()
            .map(|op| match op {
                Op::Inval(x) => (x.caches, x.pasid),
                _ => (Caches::empty(), PasidSel::All),
            })
            .collect();
        assert_eq!(
            kinds,
            [
                (Caches::IOTLB, PasidSel::One(3)),
                (Caches::empty(), PasidSel::All),
                (Caches::DEV_TLB, PasidSel::One(3)),
                (Caches::empty(), PasidSel::All)
            ]
        );
        // F_CONFIG: the PASID-table entry.
        let (v, _) = lifted(Command::Invalidate2018(Invalidate2018 {
            flags: INVAL_F_CONFIG_2018,
            ..i
        }));
        let Op::Inval(c) = v[0] else { panic!() };
        assert_eq!(c.caches, Caches::CONFIG_PASID);
        assert_eq!(v.len(), 2);
    }
}
