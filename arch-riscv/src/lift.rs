//! Lift: RISC-V IOMMU commands to the generic model, with exact footprints.
//!
//! | command | generic |
//! |---|---|
//! | IOTINVAL.VMA GV = 1 | `IOTLB`, `S1`, `Regime::Guest`, domain of `GSCID` |
//! | IOTINVAL.VMA GV = 0 | `IOTLB`, `S1`, `Regime::Hyp` (host address spaces: second stage Bare, no GSCID — as SMMU EL2 translations have no VMID), every domain |
//! | … PSCV = 1 | the PASIDs whose process context uses `PSCID`, and requests without process_id when a device context's `ta` does (context: [`Context::pasids_of_tag`]); PSCV = 0 every PASID and no PASID |
//! | … AV = 1 | the page of `ADDR` (S = 0) or its NAPOT range (S = 1, §9.3); leaf entries only unless NL = 1 (§9.2) |
//! | IOTINVAL.GVMA GV = 1 | `IOTLB`, `S2`, domain of `GSCID`; AV = 1 the guest-physical page / range, leaf only unless NL |
//! | IOTINVAL.GVMA GV = 0 | `IOTLB`, `S2`, every domain, every address (AV, NL, S ignored, §9.2, §9.3) |
//! | IODIR.INVAL_DDT DV = 1 | `CONFIG_DEVICE` leaf entry of `DID`, and `CONFIG_PASID` (every level, every PASID) of it |
//! | IODIR.INVAL_DDT DV = 0 | `CONFIG_DEVICE | CONFIG_PASID` of every device |
//! | IODIR.INVAL_PDT | `CONFIG_PASID` leaf entry of (`DID`, `PID`) |
//! | ATS.INVAL | `DEV_TLB` of the device; PV = 0 every PASID; `G` → `global`; range by the PCIe ATS size encoding |
//! | IOFENCE.C | `Sync` (AV → store of the 32-bit DATA at ADDR, WSI → interrupt) |
//! | ATS.PRGR | `PageResponse` |
//!
//! Devices are RISC-V `device_id`s: for PCIe, segment `<< 16 |` requester
//! id (IODIR `DID`, 24 bits); ATS commands name `DSEG << 16 | RID` when
//! DSV = 1 and `RID` otherwise.
//!
//! Not modelled (kept by the codec, ignored here): IOFENCE.C `PR` / `PW`
//! (ordering of earlier device reads / writes; `Arch::lower`
//! always sets both, as the Linux driver does), and the global-mapping
//! exception of PSCV = 1 (entries of global first-stage mappings stay,
//! §3.1.1: the footprint counts them in, which is the safe side for a
//! conversion).

use crate::cmd::*;
use iommu_inval_core::lift::{self, Emit};
use iommu_inval_core::model::*;
use iommu_inval_core::range::ats_decode;
use iommu_inval_core::{ArchId, Context, LowerError, Sink};

/// The address range of an IOTINVAL `ADDR` / `S` pair with `AV` = 1: the
/// 4 KiB page (S = 0), or the NAPOT range whose size is given by the lowest
/// zero bit of `ADDR[63:12]` (S = 1, §9.3; the PCIe ATS convention). All
/// ones (UNSPECIFIED behaviour) lifts to every address.
#[inline]
pub(crate) const fn iot_range(addr: u64, s: bool) -> AddrRange {
    ats_decode(addr, s)
}

/// The generic device of an ATS command: `DSEG << 16 | RID` with DSV = 1.
#[inline]
pub(crate) const fn ats_device(rid: u16, dseg: u8, dsv: bool) -> u32 {
    if dsv {
        (dseg as u32) << 16 | rid as u32
    } else {
        rid as u32
    }
}

/// The generic PRG response code of a `resp_code`, `None` for PCIe-reserved values.
pub(crate) const fn resp_code(code: u8) -> Option<RespCode> {
    match code {
        0x0 => Some(RespCode::Success),
        0x1 => Some(RespCode::Invalid),
        0xf => Some(RespCode::Failure),
        _ => None,
    }
}

#[inline]
fn domain_of<C: Context + ?Sized>(ctx: &C, gscid: u16, w: &mut Widened) -> DomainSel {
    lift::domain_of(ctx, ArchId::Riscv, u32::from(gscid), w)
}

/// AV = 1 and NL = 0: only entries of leaf PTEs (§3.1.1); AV = 0 or NL = 1:
/// every level (§9.2).
#[inline]
const fn leaf(av: bool, nl: bool) -> Caches {
    lift::leaf_if(av && !nl)
}

/// Lift one command into generic operations written to `out`.
///
/// A GSCID the context does not know lifts to every domain, a PSCID it does
/// not know to every PASID (reported as `Widened::DOMAIN` / `PASID`).
/// ATS.PRGR with a PCIe-reserved response code has no generic response
/// code: `Err(NoEquivalent)`. A full sink is `Err(BufferFull)`.
pub(crate) fn lift<C: Context + ?Sized>(
    cmd: &Command,
    ctx: &C,
    out: &mut dyn Sink<Op>,
) -> Result<Outcome, LowerError> {
    let mut e = Emit::new(out);
    match *cmd {
        Command::IotinvalVma(c) => {
            let (regime, domain) = if c.gv {
                (Regime::Guest, domain_of(ctx, c.gscid, e.widened_mut()))
            } else {
                (Regime::Hyp, DomainSel::All)
            };
            let range = if c.av {
                iot_range(c.addr, c.s)
            } else {
                AddrRange::All
            };
            let base = Inval::new(Caches::IOTLB | leaf(c.av, c.nl))
                .regime(regime)
                .stage(Stages::S1)
                .domain(domain)
                .range(range);
            if c.pscv {
                // PASIDs whose process context uses the PSCID, and requests without
                // process_id when a device context does.
                lift::per_tag(ctx, ArchId::Riscv, base, domain, c.pscid, &mut e)?;
            } else {
                e.push(Op::Inval(base))?;
            }
        }
        Command::IotinvalGvma(c) => {
            let base = Inval::new(Caches::IOTLB).stage(Stages::S2);
            let i = if c.gv {
                let domain = domain_of(ctx, c.gscid, e.widened_mut());
                let range = if c.av {
                    iot_range(c.addr, c.s)
                } else {
                    AddrRange::All
                };
                Inval {
                    caches: Caches::IOTLB | leaf(c.av, c.nl),
                    ..base.domain(domain).range(range)
                }
            } else {
                // Every VM, every level and address: AV, NL and S are ignored.
                base
            };
            e.push(Op::Inval(i))?;
        }
        Command::IofenceC(c) => {
            let sync = Barrier {
                interrupt: c.wsi,
                store: c.av.then_some(Store {
                    address: c.addr,
                    data: u64::from(c.data),
                }),
                ..Barrier::default()
            };
            e.push(Op::Sync(sync))?;
        }
        Command::IodirInvalDdt(c) => {
            if c.dv {
                // The leaf DDT entry of the device, and every PDT entry under it.
                let dev = DeviceSel::One(c.did);
                e.push(Op::Inval(
                    Inval::new(Caches::CONFIG_DEVICE | Caches::LEAF).device(dev),
                ))?;
                e.push(Op::Inval(Inval::new(Caches::CONFIG_PASID).device(dev)))?;
            } else {
                e.push(Op::Inval(Inval::new(Caches::CONFIG)))?;
            }
        }
        Command::IodirInvalPdt(c) => {
            let i = Inval::new(Caches::CONFIG_PASID | Caches::LEAF)
                .device(DeviceSel::One(c.did))
                .pasid(PasidSel::One(c.pid));
            e.push(Op::Inval(i))?;
        }
        Command::AtsInval(c) => {
            // Without a PASID prefix the request reaches every ATC entry in
            // the range, with or without PASID.
            let pasid = if c.pv {
                PasidSel::One(c.pid)
            } else {
                PasidSel::All
            };
            let i = Inval::new(Caches::DEV_TLB)
                .device(DeviceSel::One(ats_device(c.rid, c.dseg, c.dsv)))
                .pasid(pasid)
                .global(c.g)
                .range(ats_decode(c.addr, c.s));
            e.push(Op::Inval(i))?;
        }
        Command::AtsPrgr(c) => {
            let code = resp_code(c.resp_code).ok_or(LowerError::NoEquivalent(
                "ATS.PRGR response code is a PCIe-reserved PRG response code",
            ))?;
            e.push(Op::PageResponse(PageResponse {
                device: ats_device(c.rid, c.dseg, c.dsv),
                pasid: c.pv.then_some(c.pid),
                prg_index: c.prg_index,
                code,
                last: false,
                priv_data: None,
                guest: false,
            }))?;
        }
    }
    Ok(e.outcome())
}
