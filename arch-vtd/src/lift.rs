//! VT-d descriptors → generic operations.
//!
//! Decisions (VT-d rev 3+/4 section numbers):
//! * `iotlb_inv_dsc` domain- and page-selective remove second-stage
//!   (domain-tagged) translations only: in scalable mode first-stage and
//!   nested (PASID-granular) entries are invalidated with
//!   `p_iotlb_inv_dsc` (§6.5.2.4; §6.5.2.3 scopes the IOTLB descriptor to
//!   the domain's second-stage mappings, and the software guidance table of
//!   §6.5.3.3 lists the PASID-based IOTLB invalidation for first-stage
//!   changes). Global (`g` = 1) removes everything: `Stages::S1 | S2`.
//! * `cc_inv_dsc` lifts to `CONFIG_DEVICE` only: the PASID cache is a
//!   separate structure invalidated with `pc_inv_dsc`; the guidance of
//!   §6.5.3.3 requires a PASID-cache invalidation after a scalable-mode
//!   context-entry change, so a context-cache invalidation does not remove
//!   PASID-cache entries.
//! * Device-TLB invalidations without PASID lift to `PasidSel::All` (PCIe
//!   ATS: a request without PASID prefix removes every ATC entry of the range).
//! * `p_iotlb_inv_dsc` with the domain's RID_PASID (the PASID the
//!   scalable-mode context entry gives requests without PASID, §9.4; 0, as
//!   Linux's `IOMMU_NO_PASID`, unless the context says otherwise) lifts to
//!   `PasidSel::NoPasid`, and also to that PASID unless the context lists
//!   the domain's PASIDs without it ([`Context::pasids_of_tag`]).

use iommu_inval_core::Flags;
use crate::desc::*;
use iommu_inval_core::lift::{self, Emit};
use iommu_inval_core::model::{
    Barrier, Caches, DeviceSel, DomainSel, Hints, Inval, Op, PageResponse, PasidSel, RespCode,
    Stages, Store,
};
use iommu_inval_core::range::{ats_decode, AddrRange, PAGE_SHIFT};
use iommu_inval_core::{ArchId, Context, LowerError, Widened};

/// The generic domain of `did`, widened to every domain when unknown.
fn domain<C: Context + ?Sized>(ctx: &C, did: u16, w: &mut Widened) -> DomainSel {
    lift::domain_of(ctx, ArchId::Vtd, u32::from(did), w)
}

/// The generic domain of `did` when known (no widening: used where the
/// domain does not change the footprint).
fn domain_quiet<C: Context + ?Sized>(ctx: &C, did: u16) -> DomainSel {
    ctx.domain_from_native(ArchId::Vtd, u32::from(did))
        .map_or(DomainSel::All, DomainSel::One)
}

/// Field widths of a hand-built descriptor's values (as `encode` masks them).
const AM: u8 = 0x3f;
const PASID: u32 = 0xf_ffff;
const MIP: u8 = 0x1f;
const ADDR_BITS: u64 = !0xfff;

/// `2^am` 4 KiB pages at `address` aligned down to that size (the hardware
/// ignores the low address bits, §6.5.2.3).
fn am_range(address: u64, am: u8) -> AddrRange {
    AddrRange::block(address, PAGE_SHIFT + u32::from(am))
}

/// The device-TLB invalidation of source-id `sid` (both descriptors): the
/// ATS-encoded range, `pfsid` and `mip` as hints.
#[inline]
fn dev_tlb(sid: u16, pfsid: u16, mip: u8, address: u64, s: bool) -> Inval {
    Inval::new(Caches::DEV_TLB)
        .device(DeviceSel::One(u32::from(sid)))
        .range(ats_decode(address & ADDR_BITS, s))
        .hints(Hints {
            pfsid,
            max_pending: mip & MIP,
            ..Hints::default()
        })
}

/// Lift one descriptor to generic operations written through `out`.
#[inline(always)]
pub(crate) fn lift<C: Context + ?Sized>(cmd: &Command, ctx: &C, out: &mut Emit<'_>) -> Result<(), LowerError> {
    // Lift what the descriptor's bytes say: a hand-built value wider than
    // its field is taken as encoded (masked to the field, as `encode` does),
    // and a granularity the hardware would refuse is an error.
    let mut w = Widened::empty();
    let emit = |op: Op, out: &mut Emit<'_>| out.push(op);
    match *cmd {
        Command::CcInv(d) => {
            let base = Inval::new(Caches::CONFIG_DEVICE);
            match d.g & 3 {
                1 => emit(base.into(), out)?,
                2 => emit(base.domain(domain(ctx, d.did, &mut w)).into(), out)?,
                3 => {
                    let base = base.domain(domain_quiet(ctx, d.did));
                    let sid = u32::from(d.sid);
                    match d.fm & 3 {
                        0 => emit(base.device(DeviceSel::One(sid)).into(), out)?,
                        // fm masks the *most significant* function bits (§6.5.2.1):
                        // 1 → sid[2], 2 → sid[2:1]; the matching ids are not contiguous.
                        1 => {
                            for s in [sid & !4, sid | 4] {
                                emit(base.device(DeviceSel::One(s)).into(), out)?;
                            }
                        }
                        2 => {
                            let b = sid & !6;
                            for s in [b, b | 2, b | 4, b | 6] {
                                emit(base.device(DeviceSel::One(s)).into(), out)?;
                            }
                        }
                        _ => emit(
                            base.device(DeviceSel::Range {
                                first: sid & !7,
                                last: sid | 7,
                            })
                            .into(),
                            out,
                        )?,
                    }
                }
                _ => return Err(LowerError::Invalid("cc_inv_dsc granularity 0")),
            }
        }
        Command::IotlbInv(d) => {
            let hints = Hints {
                drain_reads: d.dr,
                drain_writes: d.dw,
                ..Hints::default()
            };
            let i = match d.g & 3 {
                1 => Inval::new(Caches::IOTLB),
                2 => Inval::new(Caches::IOTLB)
                    .stage(Stages::S2)
                    .domain(domain(ctx, d.did, &mut w)),
                3 => Inval::new(Caches::IOTLB | lift::leaf_if(d.ih))
                    .stage(Stages::S2)
                    .domain(domain(ctx, d.did, &mut w))
                    .range(am_range(d.address, d.am & AM)),
                _ => return Err(LowerError::Invalid("iotlb_inv_dsc granularity 0")),
            };
            emit(i.hints(hints).into(), out)?;
        }
        Command::PIotlbInv(d) => {
            let dom = domain(ctx, d.did, &mut w);
            let base = Inval::new(Caches::IOTLB).stage(Stages::S1).domain(dom);
            let g = d.g & 3;
            let i = match g {
                2 => base,
                3 => base.range(am_range(d.address, d.am & AM)),
                _ => return Err(LowerError::Invalid("p_iotlb_inv_dsc granularity 0 or 1")),
            };
            let i = if g == 3 && d.ih {
                Inval {
                    caches: i.caches | Caches::LEAF,
                    ..i
                }
            } else {
                i
            };
            // The PASID is a tag: the domain's RID_PASID names its requests
            // without PASID (as well as PASID RID_PASID, unless the context
            // says the domain does not use it): one op per selection.
            let (mut err, mut any) = (Ok(()), false);
            let known = ctx.pasids_of_tag(ArchId::Vtd, dom, d.pasid & PASID, &mut |p| {
                any = true;
                if err.is_ok() {
                    err = emit(i.pasid(p).into(), out);
                }
            });
            err?;
            if !known || !any {
                w |= Widened::PASID;
                emit(i.pasid(PasidSel::All).into(), out)?;
            }
        }
        Command::PcInv(d) => {
            let base = Inval::new(Caches::CONFIG_PASID);
            let i = match d.g & 3 {
                0 => base.domain(domain(ctx, d.did, &mut w)),
                1 => base
                    .domain(domain(ctx, d.did, &mut w))
                    .pasid(PasidSel::One(d.pasid & PASID)),
                3 => base,
                _ => return Err(LowerError::Invalid("pc_inv_dsc granularity 2")),
            };
            emit(i.into(), out)?;
        }
        Command::DevTlbInv(d) => {
            let i = dev_tlb(d.sid, d.pfsid, d.mip, d.address, d.s).pasid(PasidSel::All);
            emit(i.into(), out)?;
        }
        Command::PDevTlbInv(d) => {
            let i = dev_tlb(d.sid, d.pfsid, d.mip, d.address, d.s)
                .pasid(PasidSel::One(d.pasid & PASID))
                .global(d.g);
            emit(i.into(), out)?;
        }
        Command::IecInv(d) => {
            let i = Inval::new(Caches::INTR_REMAP);
            // Index-selective: 2^im entries from iidx aligned down (§6.5.2.7).
            let i = if d.g {
                i.range(AddrRange::block(u64::from(d.iidx), u32::from(d.im & 0x1f)))
            } else {
                i
            };
            emit(i.into(), out)?;
        }
        Command::InvWait(d) => {
            let s = Barrier {
                interrupt: d.r#if,
                store: if d.sw {
                    Some(Store {
                        address: d.status_address & !3,
                        data: u64::from(d.status_data),
                    })
                } else {
                    None
                },
                fence: d.r#fn,
                drain_page_requests: d.pd,
                ..Barrier::default()
            };
            emit(Op::Sync(s), out)?;
        }
        Command::PageGrpResp(d) => {
            let code = match d.resp_code & 0xf {
                0 => RespCode::Success,
                1 => RespCode::Invalid,
                0xf => RespCode::Failure,
                _ => {
                    return Err(LowerError::NoEquivalent(
                        "reserved response code (PCIe PRG Response 2h..Eh) has no generic form",
                    ))
                }
            };
            let priv_data = match d.priv_data {
                Some(p) if d.priv_data_present || p != [0, 0] => Some(p),
                _ => None,
            };
            let r = PageResponse {
                device: u32::from(d.rid),
                pasid: if d.pasid_present {
                    Some(d.pasid & PASID)
                } else {
                    None
                },
                prg_index: d.prg_index & 0x1ff,
                code,
                last: d.lpig,
                priv_data,
                guest: false,
            };
            emit(Op::PageResponse(r), out)?;
        }
    }
    out.widen(w);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use iommu_inval_core::arch::Arch;
    use iommu_inval_core::{FixedBuf, IdentityContext};

    #[test]
    fn hand_built_values_lift_as_encoded() {
        // fm 5 encodes as fm 1 (2 bits): two devices, as the bytes say.
        let c = Command::CcInv(CcInv {
            g: 3,
            did: 1,
            sid: 0,
            fm: 5,
            wide: false,
        });
        let mut out: FixedBuf<Op, 8> = FixedBuf::new();
        let o = crate::Vtd::lift(&c, &IdentityContext, &mut out).unwrap();
        assert_eq!(o.emitted, 2);
        // Granularity 0 is refused, not lifted.
        let bad = Command::IotlbInv(IotlbInv {
            g: 0,
            ..IotlbInv::default()
        });
        assert!(matches!(
            crate::Vtd::lift(&bad, &IdentityContext, &mut out),
            Err(LowerError::Invalid(_))
        ));
    }

    #[test]
    fn am_blocks_align_down() {
        assert_eq!(am_range(0x5000, 1), AddrRange::new(0x4000, 0x2000).unwrap());
        assert_eq!(am_range(0x5fff, 0), AddrRange::new(0x5000, 0x1000).unwrap());
        assert_eq!(am_range(0x1234_5000, 63), AddrRange::All);
    }

    #[test]
    fn full_sink_is_an_error() {
        let c = Command::CcInv(CcInv {
            g: 3,
            did: 1,
            sid: 0,
            fm: 2,
            wide: false,
        });
        let mut out: FixedBuf<Op, 3> = FixedBuf::new();
        assert_eq!(
            crate::Vtd::lift(&c, &IdentityContext, &mut out),
            Err(LowerError::BufferFull)
        );
    }
}
