//! Lower: generic operations to RISC-V IOMMU commands for a host described
//! by its [`Features`], within a [`Budget`].
//!
//! An invalidation becomes up to three phases, in this order, with an
//! IOFENCE.C (`PR` = `PW` = 1, the Linux driver's fence) between two
//! non-empty phases, so that no phase starts on stale directory entries:
//!
//! 1. directory caches: IODIR.INVAL_DDT / IODIR.INVAL_PDT per device, or
//!    IODIR.INVAL_DDT `DV` = 0 (every device);
//! 2. IOMMU address-translation cache: IOTINVAL.VMA (first stage) and
//!    IOTINVAL.GVMA (second stage);
//! 3. device TLBs: ATS.INVAL per ATS-enabled device.
//!
//! As on AMD-Vi, the completion after the last phase is the caller's own
//! `Sync` (one IOFENCE.C): a native command lifted and lowered gives back
//! that one command, and every input sync becomes exactly one output sync.
//!
//! Rules where RISC-V cannot name the generic scope exactly:
//!
//! * IODIR.INVAL_DDT `DV` = 1 and IODIR.INVAL_PDT invalidate *leaf*
//!   directory entries only (§3.1.3): a non-leaf configuration invalidation
//!   (or one of devices the context cannot enumerate) becomes `DV` = 0.
//! * IOTINVAL with `AV` = 1 removes leaf entries only unless `NL` = 1
//!   (§9.2): a non-leaf range without `capabilities.NL` becomes `AV` = 0 —
//!   the form the Linux driver uses after freeing page-table pages.
//! * Ranges: with `capabilities.S` one NAPOT command per aligned block
//!   (§9.3, as on AMD-Vi: the single covering block when it is at most
//!   twice the range, else exact blocks within `max_cmds`); without it one
//!   command per 4 KiB page within `max_cmds`, else `AV` = 0.
//! * A first-stage invalidation names the host (`GV` = 0, generic
//!   `Regime::Hyp`) or *one* VM (`GV` = 1): there is no first-stage
//!   invalidation of every VM, so a `Regime::Guest` first-stage
//!   invalidation of every domain, or of a domain without a GSCID, is
//!   refused with `NoEquivalent` rather than under-done. Second stage:
//!   IOTINVAL.GVMA `GV` = 0 covers every VM.
//! * PASIDs reach first-stage entries through their PSCIDs, and requests
//!   without process_id through the PSCIDs of the device contexts
//!   ([`Context::tags_of_pasid`]); an unknown PSCID widens to `PSCV` = 0.
//! * Device TLBs: ATS.INVAL per device; devices the context cannot
//!   enumerate, more than `max_cmds` of them, or ids wider than 24 bits are
//!   refused with `NoEquivalent` (no all-device ATS command).
//! * No interrupt-remapping cache and no secure regime: those parts are
//!   dropped and reported; prefetch (a hint) is dropped.

use iommu_inval_core::Flags;
use crate::cmd::*;
use crate::features::Features;
use iommu_inval_core::lower::{
    ats_devices, lacking, prg_response_code, tag_shared, Budget, DeviceSet, Emitter, InvalJob,
    Lowering, RangePlan,
};
use iommu_inval_core::model::*;
use iommu_inval_core::range::PAGE_SHIFT;
use iommu_inval_core::{ArchId, Context, LowerError};

/// The most commands `Arch::lower` emits for one op within `budget`: the
/// capacity of a [`FixedBuf`](iommu_inval_core::FixedBuf) that never fills.
/// From `lower_inval`: directory commands (at most the cap, else one
/// IODIR.INVAL_DDT `DV` = 0); a fence; IOTINVAL commands, at most the cap,
/// or one per PSCID and one IOTINVAL.GVMA when they outnumber it (the
/// PSCIDs are at most the cap); a fence; ATS.INVAL, devices × pieces within
/// the cap. Every other op is one command.
pub(crate) const fn max_lowered(budget: Budget) -> usize {
    // cap + 1 + (cap + 1) + 1 + cap, saturating.
    budget.cap().saturating_mul(3).saturating_add(3)
}

/// The host [`Features`] and the command cap, as the lowering reads them.
type Host<'a> = iommu_inval_core::lower::Host<'a, Features>;
type Job<'a, C> = InvalJob<'a, crate::RiscV, C>;

/// The caches a host IOMMU with `f` lacks: the interrupt-remapping cache
/// (the RISC-V IOMMU has none) and, without `capabilities.ATS`, device TLBs.
pub(crate) fn lacks(f: &Features) -> Caches {
    lacking(Caches::INTR_REMAP, &[(Caches::DEV_TLB, f.ats)])
}

/// The IOTINVAL (or, `ats`, ATS.INVAL) commands for `r`: NAPOT blocks when
/// `napot` (IOTINVAL with `capabilities.S`, or ATS.INVAL), else 4 KiB pages;
/// at most `cap` commands. Where the rule gives every address, IOTINVAL
/// sends `AV` = 0 and ATS.INVAL the all-pages NAPOT address.
#[inline]
pub(crate) fn plan_range(r: &AddrRange, napot: bool, cap: usize, ats: bool) -> RangePlan {
    let all = |w: Widened| {
        let w = if r.is_all() { Widened::empty() } else { w };
        if ats {
            let mut p = RangePlan::napot(&AddrRange::All, 1);
            p.widened = w;
            p
        } else {
            RangePlan::no_address(w)
        }
    };
    if !napot {
        return RangePlan::leaves(r, PAGE_SHIFT, cap)
            .unwrap_or_else(|| all(Widened::RANGE | Widened::CAP));
    }
    let p = RangePlan::napot(r, cap);
    if p.is_whole() {
        all(p.widened)
    } else {
        p
    }
}

/// The command cap shared among `n` IOTINVAL kinds or ATS devices:
/// `cap / n`, without the divide for the common `n` ≤ 1 (a hardware divide
/// costs more cycles than the rest of a one-page lowering).
#[inline]
const fn share(cap: usize, n: usize) -> usize {
    if n <= 1 {
        cap
    } else {
        cap / n
    }
}

/// Without `capabilities.S`, a leaf-only range whose leaves are `2^shift`
/// bytes (`Hints::leaf_shift` > 12): one `AV` = 1 command per leaf, as an
/// address anywhere in a leaf removes the cached leaf PTE (§3.1.1), within
/// `cap` commands. Reported as [`Widened::LEAF_HINT`] (the footprint counts
/// each command as its 4 KiB page: judge it with
/// `Footprint::assuming_leaves`). `None` when the hint does not help.
fn plan_leaves(r: &AddrRange, shift: u8, cap: usize) -> Option<RangePlan> {
    let shift = u32::from(shift);
    if shift <= PAGE_SHIFT {
        return None;
    }
    let mut p = RangePlan::leaves(r, shift, cap)?;
    p.widened |= Widened::LEAF_HINT;
    Some(p)
}

/// The device-id bound of ATS.INVAL and why a device-TLB invalidation it
/// cannot send is refused ([`ats_devices`]).
const ATS_IDS: (u32, [&str; 2]) = (
    DID_MAX,
    [
        "device-TLB invalidation of devices the context cannot enumerate: \
         there is no all-device ATS.INVAL",
        "device-TLB invalidation of a device id wider than 24 bits",
    ],
);

/// The fence between two phases: IOFENCE.C `PR` = `PW` = 1.
const FENCE: Command = Command::IofenceC(IofenceC {
    av: false,
    wsi: false,
    pr: true,
    pw: true,
    data: 0,
    addr: 0,
});

/// Lower one generic operation to RISC-V IOMMU commands written to `out`.
///
/// * `Inval`: up to three phases (directory caches, IOATC, device TLBs; see
///   the module docs) with an IOFENCE.C between two non-empty phases.
/// * `Sync` → one IOFENCE.C (`PR` = `PW` = 1; a store → `AV` with the
///   32-bit `DATA`; an interrupt → `WSI`). `sev`, `drain_page_requests`, a
///   store address not 4-byte aligned, data wider than 32 bits, or an
///   interrupt without wired interrupts ([`Features::wsi`]) → `NoEquivalent`.
/// * `PageResponse` → ATS.PRGR (`NoEquivalent` for a PID wider than
///   [`Features::pid_bits`]); `Prefetch` is dropped (a hint RISC-V lacks);
///   `Resume`, `StallTerminate` → `NoEquivalent`.
impl Lowering for crate::RiscV {
    iommu_inval_core::refusals!(
        barrier = "IOFENCE.C", event, drain; lacks = "the RISC-V IOMMU", prefetch, stall, secure
    );
    const REFUSES_INVERTED: bool = true;

    fn lower_barrier(s: &Barrier, caps: &Host<'_>) -> Result<Command, LowerError> {
        if s.interrupt && !caps.f.wsi {
            return Err(LowerError::NoEquivalent(
                "IOFENCE.C interrupts are wired interrupts (WSI), not enabled on this host",
            ));
        }
        let mut c = IofenceC {
            wsi: s.interrupt,
            pr: true,
            pw: true,
            ..Default::default()
        };
        if let Some(st) = s.store {
            if st.address & !FENCE_ADDR_MASK != 0 {
                return Err(LowerError::NoEquivalent(
                    "IOFENCE.C store address must be 4-byte aligned",
                ));
            }
            let Ok(data) = u32::try_from(st.data) else {
                return Err(LowerError::NoEquivalent(
                    "IOFENCE.C stores 32-bit data; the datum is wider",
                ));
            };
            c.av = true;
            c.addr = st.address;
            c.data = data;
        }
        Ok(Command::IofenceC(c))
    }

    fn lower_page_response(r: &PageResponse, caps: &Host<'_>) -> Result<Command, LowerError> {
        if !caps.f.ats {
            return Err(LowerError::NoEquivalent(
                "host without ATS: no ATS.PRGR command",
            ));
        }
        if r.priv_data.is_some() {
            return Err(LowerError::NoEquivalent("ATS.PRGR has no private data"));
        }
        if r.device > DID_MAX {
            return Err(LowerError::NoEquivalent(
                "device id wider than the 24-bit RISC-V device_id",
            ));
        }
        if r.prg_index > 0x1ff {
            return Err(LowerError::NoEquivalent("PRG index wider than 9 bits"));
        }
        let pid = r.pasid.unwrap_or(0);
        // The response answers a page request of that PID, which a host with
        // narrower PIDs (capabilities.PD8 / PD17 / PD20) cannot have taken.
        if pid > ID20_MAX || (r.pasid.is_some() && pid > caps.f.pid_max()) {
            return Err(LowerError::NoEquivalent(
                "PASID wider than the host's PIDs (capabilities.PD8/PD17/PD20)",
            ));
        }
        let (rid, dseg, dsv) = ats_target(r.device);
        Ok(Command::AtsPrgr(AtsPrgr {
            pid,
            pv: r.pasid.is_some(),
            dsv,
            rid,
            dseg,
            prg_index: r.prg_index,
            resp_code: prg_response_code(r.code),
        }))
    }
}

/// `(rid, dseg, dsv)` of a device id for an ATS command.
const fn ats_target(d: u32) -> (u16, u8, bool) {
    (d as u16, (d >> 16) as u8, d > 0xffff)
}

/// The GSCID of a generic domain, if the context names one that fits.
fn gscid_of<C: Context + ?Sized>(ctx: &C, d: u32) -> Option<u16> {
    ctx.domain_to_native(ArchId::Riscv, d)
        .and_then(|n| u16::try_from(n).ok())
}

/// Whether some PSCID of `pasid` is also used by another PASID selection.
#[inline(never)]
fn pscids_shared<C: Context + ?Sized>(
    ctx: &C,
    lookup: DomainSel,
    pasid: PasidSel,
    others: &mut bool,
) {
    ctx.tags_of_pasid(ArchId::Riscv, lookup, pasid, &mut |x| {
        if x <= ID20_MAX {
            ctx.pasids_of_tag(ArchId::Riscv, lookup, x, &mut |q| *others |= q != pasid);
        }
    });
}

/// What the directory phase does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DirPlan {
    None,
    /// IODIR.INVAL_DDT `DV` = 0.
    All,
    /// IODIR.INVAL_DDT `DV` = 1 per device.
    Ddt,
    /// IODIR.INVAL_PDT of this PID per device.
    Pdt(u32),
}

#[inline]
pub(crate) fn lower_inval<C: Context + ?Sized>(
    (i, caps, ctx, out): Job<'_, C>,
) -> Result<Outcome, LowerError> {
    let mut dropped_part = None;
    let mut widened = Widened::empty();
    let cap = caps.cap;
    let cfg_dev = i.caches.contains(Caches::CONFIG_DEVICE);
    let cfg_pasid = i.caches.contains(Caches::CONFIG_PASID);
    let iotlb = i.caches.contains(Caches::IOTLB);
    let dev_tlb = i.caches.contains(Caches::DEV_TLB);
    if i.caches.contains(Caches::INTR_REMAP) {
        dropped_part = Some("the RISC-V IOMMU has no interrupt-remapping cache");
    }
    let devs = if cfg_dev || cfg_pasid || dev_tlb {
        DeviceSet::resolve(i.device, i.domain, ctx)
    } else {
        DeviceSet::Every
    };
    let leaf = i.leaf_only();

    // Phase 1: directory caches.
    let mut dir = DirPlan::None;
    if cfg_dev || cfg_pasid {
        // Enumerable, and every id a 24-bit device_id.
        let enumerable = devs.fits(DID_MAX);
        let pid = match i.pasid {
            PasidSel::One(p) if p <= caps.f.pid_max() => Some(p),
            _ => None,
        };
        dir = if !enumerable || !leaf && cfg_dev {
            // Non-leaf DDT entries, or devices that cannot be named: DV = 0.
            DirPlan::All
        } else if !cfg_dev && leaf && pid.is_some() {
            pid.map_or(DirPlan::Ddt, DirPlan::Pdt)
        } else {
            DirPlan::Ddt
        };
        if dir != DirPlan::All && devs.count() > cap {
            dir = DirPlan::All;
            widened |= Widened::CAP;
        }
        match dir {
            DirPlan::All => {
                if !i.caches.contains(Caches::CONFIG) {
                    widened |= Widened::CACHES;
                }
                if !matches!(i.device, DeviceSel::All) || matches!(i.domain, DomainSel::One(_)) {
                    widened |= Widened::DEVICE;
                }
                if cfg_pasid && i.pasid != PasidSel::All {
                    widened |= Widened::PASID;
                }
                if leaf {
                    widened |= Widened::LEAF;
                }
            }
            DirPlan::Ddt => {
                // The device's leaf DDT entry and all its PDT entries.
                if !cfg_dev || !cfg_pasid {
                    widened |= Widened::CACHES;
                }
                if cfg_pasid && i.pasid != PasidSel::All {
                    widened |= Widened::PASID;
                }
                if cfg_pasid && leaf {
                    // Every level of the PDT goes, not only its leaves.
                    widened |= Widened::LEAF;
                }
            }
            DirPlan::Pdt(_) | DirPlan::None => {}
        }
    }

    // Phase 2: the IOATC. Checked before anything is written.
    let s1 = iotlb && i.stages.contains(Stages::S1);
    let s2 = iotlb && i.stages.contains(Stages::S2);
    let hyp = i.regime == Regime::Hyp;
    // First stage: GV, GSCID and the PSCIDs to name.
    let mut vma_gscid = None;
    if s1 && !hyp {
        let DomainSel::One(d) = i.domain else {
            return Err(LowerError::NoEquivalent(
                "first-stage invalidation of every VM: IOTINVAL.VMA names the host or one GSCID",
            ));
        };
        match gscid_of(ctx, d) {
            Some(g) => vma_gscid = Some(g),
            None => {
                return Err(LowerError::NoEquivalent(
                    "first-stage invalidation of a domain without a GSCID",
                ))
            }
        }
    }
    let lookup = if hyp { DomainSel::All } else { i.domain };
    let (mut pscids, mut pscid_all, mut first_pscid) = (0usize, true, 0u32);
    if s1 && i.pasid != PasidSel::All {
        // One PASID, or requests without process_id (the device contexts'
        // PSCIDs): each PSCID its entries carry.
        let p = i.pasid;
        let mut others = false;
        let known = ctx.tags_of_pasid(ArchId::Riscv, lookup, p, &mut |x| {
            if x <= ID20_MAX {
                if pscids == 0 {
                    first_pscid = x;
                }
                pscids += 1;
            }
        });
        pscid_all = !known || pscids == 0 || pscids > cap;
        // A PSCID shared with other PASIDs removes theirs too.
        if !pscid_all && pscids == 1 {
            others = tag_shared(ctx, ArchId::Riscv, lookup, first_pscid, p);
        } else if !pscid_all {
            pscids_shared(ctx, lookup, p, &mut others);
        }
        if pscid_all || others {
            widened |= Widened::PASID;
        }
    }
    // Second stage: the host's is Bare (nothing cached); a VM's is named by
    // its GSCID, every VM by GV = 0.
    let gvma = s2 && !hyp;
    if s2 && hyp && !s1 {
        dropped_part = Some("host address spaces have no second stage");
    }
    let gvma_gscid = match (gvma, i.domain) {
        (true, DomainSel::One(d)) => {
            let g = gscid_of(ctx, d);
            if g.is_none() {
                widened |= Widened::DOMAIN;
            }
            g
        }
        _ => None,
    };
    // Non-leaf with an address needs NL; without it, AV = 0.
    let addr_ok = leaf || caps.f.nl;
    let n_s1 = if s1 {
        if pscid_all {
            1
        } else {
            pscids
        }
    } else {
        0
    };
    let n_iot = n_s1 + usize::from(gvma);
    let iot_plan = if iotlb && i.range.is_all() && leaf && caps.f.s {
        // Leaf entries of every address: AV = 1 with the whole-space NAPOT
        // address (§9.3) keeps the non-leaf entries, as asked.
        RangePlan::napot(&AddrRange::All, 1)
    } else if iotlb && addr_ok {
        let per = share(cap, n_iot);
        if leaf && !caps.f.s {
            let pages = plan_range(&i.range, false, per, false);
            match plan_leaves(&i.range, i.hints.leaf_shift, per) {
                // Fewer commands than per page, or per page hit the cap.
                Some(l) if !pages.has_address() || l.count() < pages.count() => l,
                _ => pages,
            }
        } else {
            plan_range(&i.range, caps.f.s, per, false)
        }
    } else {
        RangePlan::no_address(if i.range.is_all() {
            Widened::empty()
        } else {
            Widened::RANGE
        })
    };
    if iotlb {
        widened |= iot_plan.widened;
        if leaf && !iot_plan.has_address() {
            // AV = 0 removes every level.
            widened |= Widened::LEAF;
        }
    }
    // GVMA GV = 0 ignores the address and removes every level.
    if gvma && gvma_gscid.is_none() {
        if !i.range.is_all() {
            widened |= Widened::RANGE;
        }
        if leaf {
            widened |= Widened::LEAF;
        }
    }

    // Phase 3: device TLBs, checked before anything is written.
    let mut dev_plan = None;
    if dev_tlb {
        let ats_devs = ats_devices(&devs, ctx, caps.f.ats, cap, ATS_IDS, &mut dropped_part)?;
        if ats_devs > 0 {
            let p = plan_range(&i.range, true, share(cap, ats_devs), true);
            widened |= p.widened;
            // A PID wider than the host's (capabilities.PD*) goes without
            // one: PV = 0 reaches every PASID of the range (PCIe ATS).
            if matches!(i.pasid, PasidSel::One(p) if p > caps.f.pid_max())
                || i.pasid == PasidSel::NoPasid
            {
                widened |= Widened::PASID;
            }
            dev_plan = Some(p);
        }
    }

    let mut e = Emitter::new(out, || FENCE);
    // Phase 1.
    match dir {
        DirPlan::None => {}
        DirPlan::All => e.push(Command::IodirInvalDdt(IodirInvalDdt { dv: false, did: 0 }))?,
        DirPlan::Ddt => devs.for_each(ctx, &mut |did| {
            e.push(Command::IodirInvalDdt(IodirInvalDdt { dv: true, did }))
        })?,
        DirPlan::Pdt(pid) => devs.for_each(ctx, &mut |did| {
            e.push(Command::IodirInvalPdt(IodirInvalPdt { pid, dv: true, did }))
        })?,
    }
    // Phase 2 (`AV` = 1 unless the plan has no address).
    let av = iot_plan.has_address();
    if s1 || gvma {
        e.fence_now()?;
    }
    if s1 {
        let base = Iotinval {
            gv: vma_gscid.is_some(),
            gscid: vma_gscid.unwrap_or(0),
            ..Default::default()
        };
        let mut each = |pscv: bool, pscid: u32| {
            iot_plan.for_each(|addr, s| {
                e.push(Command::IotinvalVma(Iotinval {
                    av,
                    pscv,
                    pscid,
                    nl: av && !leaf,
                    s,
                    addr,
                    ..base
                }))
            })
        };
        match i.pasid {
            // The common case: one PSCID, already known.
            PasidSel::One(_) | PasidSel::NoPasid if !pscid_all && pscids == 1 => {
                each(true, first_pscid)?
            }
            p @ (PasidSel::One(_) | PasidSel::NoPasid) if !pscid_all => {
                let mut res = Ok(());
                ctx.tags_of_pasid(ArchId::Riscv, lookup, p, &mut |x| {
                    if res.is_ok() && x <= ID20_MAX {
                        res = each(true, x);
                    }
                });
                res?;
            }
            _ => each(false, 0)?,
        }
    }
    if gvma {
        match gvma_gscid {
            Some(gscid) => iot_plan.for_each(|addr, s| {
                e.push(Command::IotinvalGvma(Iotinval {
                    av,
                    gv: true,
                    gscid,
                    nl: av && !leaf,
                    s,
                    addr,
                    ..Default::default()
                }))
            })?,
            None => e.push(Command::IotinvalGvma(Iotinval::default()))?,
        }
    }
    // Phase 3.
    if let Some(plan) = dev_plan {
        e.fence_now()?;
        let (pv, pid) = match i.pasid {
            PasidSel::One(p) if p <= caps.f.pid_max() => (true, p),
            _ => (false, 0),
        };
        let g = pv && i.global;
        devs.for_each(ctx, &mut |d| {
            if !ctx.ats_enabled(d) {
                return Ok(());
            }
            let (rid, dseg, dsv) = ats_target(d);
            plan.for_each(|addr, s| {
                e.push(Command::AtsInval(AtsInval {
                    pid,
                    pv,
                    dsv,
                    rid,
                    dseg,
                    g,
                    s,
                    addr,
                }))
            })
        })?;
    }
    Ok(e.finish(widened, dropped_part))
}

#[cfg(test)]
mod tests {
    use super::*;
    use iommu_inval_core::lower::NAPOT_SPLIT_FACTOR;

    #[test]
    fn napot_or_pages() {
        assert_eq!(NAPOT_SPLIT_FACTOR, 2);
        // 12 KiB at 0x1000 with NAPOT: one 16 KiB block at 0 (≤ 2 × 12 KiB).
        let r = AddrRange::new(0x1000, 0x3000).unwrap();
        let p = plan_range(&r, true, 16, false);
        let mut got = [(0u64, false); 2];
        let mut n = 0;
        p.for_each(|a, s| {
            got[n] = (a, s);
            n += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!((n, got[0], p.widened), (1, (0x1000, true), Widened::RANGE));
        // Without NAPOT: three page commands, exact.
        let p = plan_range(&r, false, 16, false);
        assert_eq!((p.count(), p.widened), (3, Widened::empty()));
    }

}
