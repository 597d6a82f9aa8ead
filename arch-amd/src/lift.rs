//! Lift: AMD-Vi commands to the generic model, with exact footprints.
//!
//! | command | generic |
//! |---|---|
//! | INVALIDATE_IOMMU_PAGES gn = 1 | `IOTLB`, `S1`, domain, `PasidSel::One(pasid)`; PASID 0 (GCR3 entry 0) also `PasidSel::NoPasid`, and only that when the context lists the domain's PASIDs without 0 ([`Context::pasids_of_tag`]) |
//! | INVALIDATE_IOMMU_PAGES gn = 0 | `IOTLB`, `S2`, domain (the PASID is ignored, as the hardware does) |
//! | … pde = 0 | adds `LEAF` (only leaf entries; the page-directory cache may stay) |
//! | INVALIDATE_IOTLB_PAGES | `DEV_TLB` of the device; gn = 0 → every PASID (an ATS request without PASID prefix) |
//! | INVALIDATE_DEVTAB_ENTRY | `CONFIG_DEVICE | CONFIG_PASID` of the device (its DTE holds the GCR3 root of the PASID table) |
//! | INVALIDATE_INTERRUPT_TABLE | `INTR_REMAP` of the device, every entry |
//! | INVALIDATE_IOMMU_ALL | `CONFIG | IOTLB | INTR_REMAP` of everything (not device TLBs) |
//! | COMPLETION_WAIT | `Sync` (s → store, i → interrupt, f → fence) |
//! | PREFETCH_IOMMU_PAGES | `Prefetch`, preceded by an `IOTLB` invalidation when inv = 1 |
//! | COMPLETE_PPR_REQUEST | `PageResponse` |
//! | INSERT_GUEST_EVENT, RESET_VMMIO | no generic form (vIOMMU management, not an invalidation): [`LowerError::NoEquivalent`] |
//!
//! Ranges: `s` = 0 is the 4 KiB page holding `address`; `s` = 1 the PCIe ATS
//! size encoding (lowest zero bit z ≥ 12 → 2^(z+1) bytes), with
//! [`ALL_PAGES_ADDRESS`](crate::ALL_PAGES_ADDRESS) meaning every address
//! (AMD #48882 §2.4.3, §2.4.4).

use iommu_inval_core::Flags;
use crate::cmd::*;
use iommu_inval_core::lift::{self, Emit};
use iommu_inval_core::model::*;
use iommu_inval_core::range::ats_decode;
use iommu_inval_core::{ArchId, Context, LowerError};

/// The address range named by an (`address`, `s`) pair of IOMMU_PAGES,
/// IOTLB_PAGES or PREFETCH_IOMMU_PAGES.
#[inline]
pub(crate) const fn page_range(address: u64, s: bool) -> AddrRange {
    // ats_decode: s = 0 → the 4 KiB page; s = 1 → lowest zero bit ≥ 12 gives
    // 2^(z+1) bytes; 0x7fff_ffff_ffff_f000 (z = 63) is every address.
    ats_decode(address, s)
}

/// The generic PRG response code of a `status`, `None` for PCIe-reserved values.
pub(crate) const fn resp_code(status: u8) -> Option<RespCode> {
    match status {
        0x0 => Some(RespCode::Success),
        0x1 => Some(RespCode::Invalid),
        0xf => Some(RespCode::Failure),
        _ => None,
    }
}

fn domain_of<C: Context + ?Sized>(ctx: &C, native: u16, w: &mut Widened) -> DomainSel {
    lift::domain_of(ctx, ArchId::Amd, u32::from(native), w)
}

/// Lift one command into generic operations written through `e`.
///
/// A DomainID the context does not know lifts to every domain and is
/// reported as `Widened::DOMAIN`. COMPLETE_PPR_REQUEST with a PCIe-reserved
/// `status` (not 0, 1 or 0xf) has no generic response code:
/// `Err(NoEquivalent)`. A full sink is `Err(BufferFull)`.
#[inline(always)]
pub(crate) fn lift<C: Context + ?Sized>(cmd: &Command, ctx: &C, e: &mut Emit<'_>) -> Result<(), LowerError> {
    match *cmd {
        Command::InsertGuestEvent(_) => {
            return Err(LowerError::NoEquivalent(
                "INSERT_GUEST_EVENT manages a vIOMMU guest's event log: no generic form",
            ))
        }
        Command::ResetVmmio(_) => {
            return Err(LowerError::NoEquivalent(
                "RESET_VMMIO resets vIOMMU guest state: no generic form",
            ))
        }
        Command::CompletionWait(c) => {
            let sync = Barrier {
                interrupt: c.i,
                // With s = 0 the store address is ignored (§2.4.1).
                store: c.s.then_some(Store {
                    address: c.store_address,
                    data: c.store_data,
                }),
                fence: c.f,
                ..Barrier::default()
            };
            e.push(Op::Sync(sync))?;
        }
        Command::InvalidateDevtabEntry(c) => {
            // The DTE holds the device's configuration and the GCR3 table root
            // of its PASIDs: both configuration caches, every PASID.
            let i = Inval::new(Caches::CONFIG_DEVICE | Caches::CONFIG_PASID)
                .device(DeviceSel::One(c.device_id.into()));
            e.push(Op::Inval(i))?;
        }
        Command::InvalidateIommuPages(c) => {
            let domain = domain_of(ctx, c.domain_id, e.widened_mut());
            let leaf = if c.pde { Caches::empty() } else { Caches::LEAF };
            let stage = if c.gn { Stages::S1 } else { Stages::S2 };
            let i = Inval::new(Caches::IOTLB | leaf)
                .stage(stage)
                .domain(domain)
                .range(page_range(c.address, c.s));
            if c.gn {
                // GCR3 entry 0 also holds requests without PASID (Linux's
                // `IOMMU_NO_PASID`): `Context::pasids_of_tag` names both.
                lift::per_tag(ctx, ArchId::Amd, i, i.domain, c.pasid, e)?;
            } else {
                e.push(Op::Inval(i.pasid(PasidSel::All)))?;
            }
        }
        Command::InvalidateIotlbPages(c) => {
            // No PASID prefix: every ATC entry in the range, with or without PASID.
            let pasid = if c.gn {
                PasidSel::One(c.pasid)
            } else {
                PasidSel::All
            };
            let hints = Hints {
                max_pending: c.maxpend,
                queue_id: c.queue_id,
                ..Hints::default()
            };
            let i = Inval::new(Caches::DEV_TLB)
                .device(DeviceSel::One(c.device_id.into()))
                .pasid(pasid)
                .range(page_range(c.address, c.s))
                .hints(hints);
            e.push(Op::Inval(i))?;
        }
        Command::InvalidateInterruptTable(c) => {
            let i = Inval::new(Caches::INTR_REMAP).device(DeviceSel::One(c.device_id.into()));
            e.push(Op::Inval(i))?;
        }
        Command::InvalidateIommuAll(_) => {
            // Every cache inside the IOMMU; device TLBs are not IOMMU caches
            // and need INVALIDATE_IOTLB_PAGES (§2.4.8).
            let i = Inval::new(Caches::CONFIG | Caches::IOTLB | Caches::INTR_REMAP);
            e.push(Op::Inval(i))?;
        }
        Command::PrefetchIommuPages(c) => {
            let range = page_range(c.address, c.s);
            if c.inv {
                // The device's translations at those addresses, in its domain.
                let domain = match ctx.domain_of_device(c.device_id.into()) {
                    Some(d) => DomainSel::One(d),
                    None => {
                        e.widen(Widened::DOMAIN);
                        DomainSel::All
                    }
                };
                let stage = if c.gn { Stages::S1 } else { Stages::S2 };
                let i = Inval::new(Caches::IOTLB)
                    .stage(stage)
                    .domain(domain)
                    .range(range);
                if c.gn {
                    // GCR3 entry 0 also holds requests without PASID (Linux's
                    // `IOMMU_NO_PASID`): `Context::pasids_of_tag` names both.
                    lift::per_tag(ctx, ArchId::Amd, i, i.domain, c.pasid, e)?;
                } else {
                    e.push(Op::Inval(i.pasid(PasidSel::All)))?;
                }
            }
            let p = Prefetch {
                device: c.device_id.into(),
                pasid: c.gn.then_some(c.pasid),
                secure: false,
                range: Some(range),
                size: 0,
                stride: 0,
                count: c.pfcount,
            };
            e.push(Op::Prefetch(p))?;
        }
        Command::CompletePprRequest(c) => {
            let code = resp_code(c.status).ok_or(LowerError::NoEquivalent(
                "COMPLETE_PPR_REQUEST status is a PCIe-reserved PRG response code",
            ))?;
            let r = PageResponse {
                device: c.device_id.into(),
                pasid: c.gn.then_some(c.pasid),
                prg_index: c.tag,
                code,
                last: false,
                priv_data: None,
                guest: c.gn,
            };
            e.push(Op::PageResponse(r))?;
        }
    }
    Ok(())
}
