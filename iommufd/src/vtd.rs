//! VT-d stage-1 entries (`IOMMU_HWPT_INVALIDATE_DATA_VTD_S1`) from generic
//! ops, of any architecture's lift (a VT-d guest's descriptors included).
//!
//! One entry per invalidation of the IOTLB (`struct iommu_hwpt_vtd_s1_invalidate`):
//! the byte range aligned out to 4 KiB pages (`addr`, `npages`; every
//! address is `addr` = 0, `npages` = U64_MAX as the uAPI header says), and
//! `IOMMU_VTD_INV_FLAGS_LEAF` when only leaf entries need go. The entry goes
//! to the nested HWPT(s) of its [`S1Scope`] (the guest domain and PASID):
//! the entry itself names neither, a HWPT is one guest stage-1 table.
//!
//! What has no entry is reported in [`VmmWork`], never dropped silently:
//! context- and PASID-cache invalidations are the VMM's configuration
//! handling (it re-reads the guest entry and re-attaches a nested HWPT);
//! device-TLB invalidations are done by the kernel with each IOTLB entry
//! (`intel_nested_cache_invalidate_user` → `cache_tag_flush_range`, which
//! flushes the ATS device TLBs of the domain's devices); interrupt-cache
//! invalidations go to the VMM's interrupt remapping; a guest's
//! second-stage translations are not nested (the VMM shadows them into the
//! IOAS) unless [`S1Options::nest_stage2`] says the VMM installed the
//! guest's only table as the nested stage 1; a sync is the end of one
//! ioctl, which returns when the flush is complete.

use crate::uapi::{HwptVtdS1Invalidate, IOMMU_VTD_INV_FLAGS_LEAF};
use iommu_inval_core::model::{Caches, DomainSel, Op, PasidSel, Regime, Stages, Widened};
use iommu_inval_core::Flags;
use iommu_inval_core::{lift, AddrRange, ArchId, Context};

iommu_inval_core::flags! {
    /// What a generic op asks of the VMM beyond the HWPT entries;
    /// `reasons` says why each set flag has no entry, and what the VMM does
    /// instead.
    #[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct VmmWork: u16, reasons {
        /// Device configuration (VT-d context entry, SMMU STE, AMD DTE).
        const CONFIG_DEVICE = 1 << 0 => "context-cache (device configuration) invalidation: the VMM's configuration handling re-reads the guest context entry and re-attaches the device's nested HWPT";
        /// PASID configuration (VT-d PASID-table entry, SMMU CD).
        const CONFIG_PASID = 1 << 1 => "PASID-cache invalidation: the VMM's configuration handling re-reads the guest PASID entry and replaces the nested HWPT of that PASID (IOMMU_HWPT_ALLOC with iommu_hwpt_vtd_s1, then attach)";
        /// Device TLB only: the kernel flushes device TLBs with the IOTLB entries.
        const DEV_TLB = 1 << 2 => "device-TLB invalidation: done by the kernel with the IOTLB entries (cache_tag_flush_range flushes the ATS device TLBs of the domain)";
        /// Interrupt remapping entries.
        const INTR_REMAP = 1 << 3 => "interrupt-entry-cache invalidation: the VMM's interrupt remapping emulation";
        /// Second-stage (stage-2) translations: not nested.
        const STAGE2 = 1 << 4 => "second-stage translations are not nested: the VMM updates its shadow mappings in the IOAS (IOMMU_IOAS_UNMAP / IOMMU_IOAS_MAP)";
        /// SMMU EL2 / Secure translations: no nested equivalent.
        const OTHER_REGIME = 1 << 5 => "EL2 / Secure translations of an SMMU guest have no nested stage-1 equivalent";
        /// A sync / wait: the ioctl completes synchronously.
        const SYNC = 1 << 6 => "a wait descriptor: submit the entries (the ioctl returns when the flush is complete), then complete the guest's wait";
        /// A prefetch hint.
        const PREFETCH = 1 << 7 => "a prefetch hint: nothing to do";
        /// A page-request response.
        const PAGE_RESPONSE = 1 << 8 => "a page response: answer through the iommufd fault queue (struct iommu_hwpt_page_response)";
        /// A stall resume / terminate: no equivalent on VT-d (rule 2 of the
        /// design: an error of kind `no_equivalent`).
        const STALL = 1 << 9 => "stall resume/terminate has no equivalent on VT-d";
    }
}

/// Which nested HWPT(s) an entry is for: the guest domain (VT-d DID, SMMU
/// VMID, AMD DomainID, generically named) and PASID of the guest's stage-1
/// table. The VMM maps it to its HWPT ids ([`crate::backend::HwptRouter`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct S1Scope {
    /// The guest domain.
    pub domain: DomainSel,
    /// The PASID (`NoPasid`: the RID_PASID table; `All`: every table of the domain).
    pub pasid: PasidSel,
}

/// One entry and where it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct S1Entry {
    /// The payload.
    pub entry: HwptVtdS1Invalidate,
    /// Its HWPTs.
    pub scope: S1Scope,
    /// The guest stages the nested stage 1 holds for it: `S1`, or the
    /// guest's `S2` with [`S1Options::nest_stage2`].
    pub stages: Stages,
}

/// What one generic op becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct S1Result {
    /// The entry, if the op invalidates nested stage-1 translations.
    pub entry: Option<S1Entry>,
    /// Everything else the op asks for.
    pub vmm: VmmWork,
    /// What the entry widened (addresses aligned out to 4 KiB pages).
    pub widened: Widened,
}

/// Choices of the VMM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct S1Options {
    /// The VMM installed the guest's only (second-stage, domain-tagged)
    /// table as the nested stage 1, so stage-2 IOTLB invalidations get
    /// entries too.
    pub nest_stage2: bool,
    /// The architecture of the guest IOMMU the ops are lifted from, if the
    /// VMM knows it. An SMMUv3 or RISC-V guest names an address space by a
    /// tag that means a PASID only within its domain (an ASID under a
    /// VMID, a PSCID under a GSCID); when the lift
    /// does not know the domain (`DomainSel::All`, reported as widened
    /// `domain`), the PASID it found through the tag in *other* domains
    /// is no bound, and the entry goes to every PASID. `None` is treated
    /// the same way (safe); a VT-d or AMD-Vi guest's PASID is the
    /// device's own and is kept.
    pub guest: Option<ArchId>,
}

/// Whether `arch` tags address spaces per domain (SMMU ASIDs under a VMID,
/// RISC-V PSCIDs under a GSCID; `None`, an unknown guest, counts as such),
/// so that an op of an unknown domain cannot name its PASID
/// ([`S1Options::guest`]). VT-d and AMD-Vi name the device's PASID itself.
pub(crate) const fn tags_per_domain(arch: Option<ArchId>) -> bool {
    !matches!(arch, Some(ArchId::Vtd) | Some(ArchId::Amd))
}

/// The entry of `range` (4 KiB pages covering it) and whether that widened it.
pub(crate) fn range_entry(range: &AddrRange, leaf: bool) -> (HwptVtdS1Invalidate, bool) {
    let flags = if leaf { IOMMU_VTD_INV_FLAGS_LEAF } else { 0 };
    if range.is_all() {
        return (
            HwptVtdS1Invalidate {
                flags,
                ..HwptVtdS1Invalidate::ALL
            },
            false,
        );
    }
    let (first, last) = (range.first(), range.last());
    let addr = first & !0xfff;
    let end = u128::from(last | 0xfff) + 1;
    let npages = ((end - u128::from(addr)) >> 12) as u64;
    let widened = first & 0xfff != 0 || last & 0xfff != 0xfff;
    (
        HwptVtdS1Invalidate {
            addr,
            npages,
            flags,
            reserved: 0,
        },
        widened,
    )
}

/// The VT-d stage-1 entry of one generic op, and what it asks of the VMM.
/// Allocation-free.
pub fn s1_entry(op: &Op, opts: &S1Options) -> S1Result {
    let mut r = S1Result::default();
    let i = match op {
        Op::Inval(i) => i,
        Op::Sync(_) => {
            r.vmm = VmmWork::SYNC;
            return r;
        }
        Op::Prefetch(_) => {
            r.vmm = VmmWork::PREFETCH;
            return r;
        }
        Op::PageResponse(_) => {
            r.vmm = VmmWork::PAGE_RESPONSE;
            return r;
        }
        Op::Resume { .. } | Op::StallTerminate { .. } => {
            r.vmm = VmmWork::STALL;
            return r;
        }
    };
    let c = i.caches;
    for (cache, work) in [
        (Caches::CONFIG_DEVICE, VmmWork::CONFIG_DEVICE),
        (Caches::CONFIG_PASID, VmmWork::CONFIG_PASID),
        (Caches::INTR_REMAP, VmmWork::INTR_REMAP),
    ] {
        if c.contains(cache) {
            r.vmm |= work;
        }
    }
    if c.contains(Caches::IOTLB) {
        if i.regime != Regime::Guest {
            r.vmm |= VmmWork::OTHER_REGIME;
        } else {
            let mut stages = i.stages & Stages::S1;
            if i.stages.contains(Stages::S2) {
                if opts.nest_stage2 {
                    stages |= Stages::S2;
                } else {
                    r.vmm |= VmmWork::STAGE2;
                }
            }
            if !stages.is_empty() {
                let (entry, widened) = range_entry(&i.range, i.leaf_only());
                if widened {
                    r.widened |= Widened::RANGE;
                }
                // An unknown domain's tag → PASID mapping is unknown too
                // (docs/CLI.md: unknown ids widen, and are reported).
                let pasid = lift::pasid_bound(
                    i.domain,
                    i.pasid,
                    tags_per_domain(opts.guest),
                    &mut r.widened,
                );
                r.entry = Some(S1Entry {
                    entry,
                    scope: S1Scope {
                        domain: i.domain,
                        pasid,
                    },
                    stages,
                });
            }
        }
    }
    if c.contains(Caches::DEV_TLB) && r.entry.is_none() {
        r.vmm |= VmmWork::DEV_TLB;
    }
    r
}

/// True when `e` passes the kernel's checks; every entry this module makes does.
#[cfg(test)]
fn kernel_accepts(e: &HwptVtdS1Invalidate) -> bool {
    e.check().is_ok()
}

/// Footprints of the entries, and of the part of an op they must cover (R4).
#[cfg(feature = "std")]
pub(crate) mod footprint {
    use super::*;
    use iommu_inval_core::footprint::{kind, Dim, FBox, Footprint};
    use iommu_inval_core::model::Inval;

    /// What the kernel removes for `e` in its HWPT(s): the nested stage-1
    /// IOTLB entries (tagged with the guest stages in `e.stages`) of the
    /// scope, over the entry's pages; leaf only with the LEAF flag. (The
    /// device TLBs the kernel flushes too are not counted: see
    /// [`VmmWork::DEV_TLB`].)
    pub fn of_entry<C: Context + ?Sized>(e: &S1Entry, ctx: &C) -> Footprint {
        let range = match e.entry.span() {
            None => AddrRange::All,
            Some((a, b)) => AddrRange::inclusive(a, b).unwrap_or(AddrRange::All),
        };
        let leaf = if e.entry.leaf() {
            Caches::LEAF
        } else {
            Caches::empty()
        };
        let i = Inval::new(Caches::IOTLB | leaf)
            .stage(e.stages)
            .domain(e.scope.domain)
            .pasid(e.scope.pasid)
            .range(range);
        Footprint::of_inval(&i, ctx)
    }

    /// The part of `op`'s footprint the entry must remove: its IOTLB entries
    /// of the guest regime in the nested stages (stage 1, and stage 2 with
    /// [`S1Options::nest_stage2`]). The rest is [`VmmWork`].
    pub fn carried_part<C: Context + ?Sized>(op: &Op, opts: &S1Options, ctx: &C) -> Footprint {
        let f = Footprint::of_op(op, ctx);
        let stage_hi = if opts.nest_stage2 { 1 } else { 0 };
        let mut mask = Footprint::new();
        mask.push(
            FBox::everything()
                .with(Dim::Kind, kind(Caches::IOTLB), kind(Caches::IOTLB))
                .with(Dim::Regime, 0, 0)
                .with(Dim::Stage, 0, stage_hi),
        );
        let outside = f.minus(&mask);
        f.minus(&outside)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iommu_inval_core::model::Inval;

    fn s1(range: AddrRange) -> Op {
        Inval::new(Caches::IOTLB)
            .stage(Stages::S1)
            .domain(DomainSel::One(1))
            .pasid(PasidSel::One(5))
            .range(range)
            .into()
    }

    #[test]
    fn page_aligned_ranges_are_exact() {
        let r = s1_entry(
            &s1(AddrRange::new(0x4000, 0x3000).unwrap()),
            &S1Options::default(),
        );
        let e = r.entry.unwrap();
        assert_eq!(
            e.entry,
            HwptVtdS1Invalidate {
                addr: 0x4000,
                npages: 3,
                flags: 0,
                reserved: 0
            }
        );
        assert_eq!(
            e.scope,
            S1Scope {
                domain: DomainSel::One(1),
                pasid: PasidSel::One(5)
            }
        );
        assert!(r.widened.is_empty() && r.vmm.is_empty());
        assert!(kernel_accepts(&e.entry));
    }

    #[test]
    fn unaligned_ranges_widen_and_all_is_u64_max() {
        let r = s1_entry(
            &s1(AddrRange::new(0x4100, 0x1000).unwrap()),
            &S1Options::default(),
        );
        assert_eq!(r.entry.unwrap().entry.addr, 0x4000);
        assert_eq!(r.entry.unwrap().entry.npages, 2);
        assert_eq!(r.widened, Widened::RANGE);
        let all = s1_entry(&s1(AddrRange::All), &S1Options::default());
        assert_eq!(all.entry.unwrap().entry, HwptVtdS1Invalidate::ALL);
        let top = s1_entry(
            &s1(AddrRange::inclusive(u64::MAX - 0x1fff, u64::MAX).unwrap()),
            &S1Options::default(),
        );
        let t = top.entry.unwrap().entry;
        assert_eq!((t.addr, t.npages), (u64::MAX - 0x1fff, 2));
        assert!(kernel_accepts(&t));
    }

    #[test]
    fn leaf_flag() {
        let op: Op = Inval::new(Caches::IOTLB | Caches::LEAF)
            .stage(Stages::S1)
            .range(AddrRange::new(0, 0x1000).unwrap())
            .into();
        let e = s1_entry(&op, &S1Options::default()).entry.unwrap();
        assert_eq!(e.entry.flags, IOMMU_VTD_INV_FLAGS_LEAF);
    }

    /// Issue 28 item 3: an SMMU (or RISC-V) guest's op of an unknown domain
    /// (the lift's `DomainSel::All`) names a PASID found through the ASID
    /// (PSCID) of other domains: the entry's scope is every PASID.
    #[test]
    fn unknown_domain_of_a_per_domain_tag_widens_the_pasid() {
        let op: Op = Inval::new(Caches::IOTLB)
            .stage(Stages::S1)
            .domain(DomainSel::All)
            .pasid(PasidSel::One(70000))
            .into();
        for guest in [None, Some(ArchId::Smmuv3), Some(ArchId::Riscv)] {
            let o = S1Options {
                guest,
                ..S1Options::default()
            };
            let r = s1_entry(&op, &o);
            let e = r.entry.unwrap();
            assert_eq!(
                e.scope,
                S1Scope {
                    domain: DomainSel::All,
                    pasid: PasidSel::All
                },
                "{guest:?}"
            );
            assert!(r.widened.contains(Widened::PASID), "{guest:?}");
        }
        // A VT-d or AMD guest's PASID is the device's own: kept.
        for guest in [ArchId::Vtd, ArchId::Amd] {
            let o = S1Options {
                guest: Some(guest),
                ..S1Options::default()
            };
            let r = s1_entry(&op, &o);
            assert_eq!(r.entry.unwrap().scope.pasid, PasidSel::One(70000));
            assert!(r.widened.is_empty());
        }
        // A known domain keeps its PASID whatever the guest.
        assert_eq!(
            s1_entry(&s1(AddrRange::All), &S1Options::default())
                .entry
                .unwrap()
                .scope
                .pasid,
            PasidSel::One(5)
        );
    }

    #[test]
    fn what_has_no_entry_is_reported() {
        let o = S1Options::default();
        let cfg: Op = Inval::new(Caches::CONFIG_PASID).into();
        assert_eq!(s1_entry(&cfg, &o).vmm, VmmWork::CONFIG_PASID);
        let dev: Op = Inval::new(Caches::DEV_TLB).into();
        let r = s1_entry(&dev, &o);
        assert_eq!((r.entry, r.vmm), (None, VmmWork::DEV_TLB));
        let s2: Op = Inval::new(Caches::IOTLB)
            .stage(Stages::S2)
            .domain(DomainSel::One(2))
            .into();
        let r = s1_entry(&s2, &o);
        assert_eq!((r.entry, r.vmm), (None, VmmWork::STAGE2));
        let nested = s1_entry(
            &s2,
            &S1Options {
                nest_stage2: true,
                ..S1Options::default()
            },
        );
        assert_eq!(nested.entry.unwrap().stages, Stages::S2);
        assert!(nested.vmm.is_empty());
        let sync: Op = iommu_inval_core::model::Barrier::default().into();
        assert_eq!(s1_entry(&sync, &o).vmm, VmmWork::SYNC);
        let stall = Op::StallTerminate { device: 1 };
        assert_eq!(s1_entry(&stall, &o).vmm, VmmWork::STALL);
        assert!(VmmWork::all().reasons().count() == 10);
        // Global IOTLB: an entry for stage 1, and stage 2 reported.
        let global: Op = Inval::new(Caches::IOTLB).into();
        let r = s1_entry(&global, &o);
        assert_eq!(r.entry.unwrap().entry, HwptVtdS1Invalidate::ALL);
        assert_eq!(r.vmm, VmmWork::STAGE2);
    }
}
