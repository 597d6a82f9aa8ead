//! SMMUv3 command → generic operations.
//!
//! | command | generic |
//! |---|---|
//! | CMD_CFGI_STE, STE_RANGE, ALL | `CONFIG_DEVICE` and `CONFIG_PASID` (all PASIDs) of the streams: the STE commands also invalidate every CD cached through the STE (IHI0070 §4.3.1, §4.3.2, §4.3.6) |
//! | CMD_CFGI_CD, CD_ALL | `CONFIG_PASID` of one stream, one or all SubstreamIDs |
//! | CMD_TLBI_NH_* | `IOTLB`, stage 1, guest regime, domain of the VMID, PASIDs of the ASID, and requests without PASID when it is a device's CD 0 ASID ([`Context::pasids_of_tag`]); NH_ALL, and an ASID the context does not know, every PASID and no PASID |
//! | CMD_TLBI_EL2_* / EL3_* | `IOTLB`, stage 1, regime `Hyp` / `Secure` |
//! | CMD_TLBI_S2_IPA | `IOTLB`, stage 2, domain of the VMID |
//! | CMD_TLBI_S12_VMALL / NSNH_ALL | `IOTLB`, both stages, one / every domain |
//! | CMD_TLBI_S_EL2_* | `IOTLB`, stage 1, regime `SecureHyp`, as the EL2 commands (IHI0070 §4.4.2.11–§4.4.2.14) |
//! | CMD_TLBI_S_S12_VMALL / S_S2_IPA / SNH_ALL | `IOTLB`, regime `SecureGuest`: both stages of the VMID's domain / stage 2 by IPA / everything (§4.4.3.3, §4.4.3.4, §4.4.4.2); the Secure VMID maps through the same [`Context`] as the Non-secure one, and S_S2_IPA's `ns` (which IPA space) is not kept: the footprint covers both |
//! | CMD_CFGI_VMS_PIDM, CMD_DPTI_ALL | nothing, reported as `dropped`: the MPAM PARTID_MAP cache and the Device Permission Table cache have no generic form (§4.3.5, §4.6.1) |
//! | CMD_ATC_INV | `DEV_TLB` of one device; `ssv` = 0 is every PASID (PCIe: a request without PASID hits every ATC entry of the range) |
//! | CMD_SYNC | [`Sync`] with its signal |
//! | PREFETCH_*, PRI_RESP, RESUME, STALL_TERM | their generic ops |
//!
//! Secure-stream (`ssec`) configuration invalidations are `Regime::Secure`.
//! `leaf` = 1 becomes [`Caches::LEAF`]. Ranges: `tg` = 0 is the 4 KiB page
//! holding `address`; otherwise `(num + 1) * 2^scale` granules from
//! `address`, widened to whole granules (the footprint must cover whatever
//! the hardware removes, IHI0070 §4.4.1.1 leaves unaligned starts
//! UNPREDICTABLE) and clamped at 2^64 (the range "is not considered to
//! wrap"). A level hint with `ttl128` = 1 is for 128-bit descriptors: the
//! generic level hint does not say which format, so it is left out (0,
//! unknown), which a lowering may only widen.

use iommu_inval_core::Flags;
use crate::cmd::*;
use crate::codec::effective_ttl;
use iommu_inval_core::context::Context;
use iommu_inval_core::LowerError;
use iommu_inval_core::lift::{self, Emit};
use iommu_inval_core::model::{
    Barrier, Caches, DeviceSel, DomainSel, Hints, Inval, Op, PageResponse, PasidSel,
    Prefetch, Regime, RespCode, Stages, StallAction, Store,
};
use iommu_inval_core::native::ArchId;
use iommu_inval_core::range::AddrRange;

/// log2 of the granule of TLBI `tg` 1, 2, 3 (4, 16, 64 KiB); 0 for `tg` = 0.
#[inline]
pub(crate) const fn tg_shift(tg: u8) -> u32 {
    match tg {
        1 => 12,
        2 => 14,
        3 => 16,
        _ => 0,
    }
}

/// The addresses a TLBI removes, and its hints.
#[inline]
pub(crate) fn tlbi_range(address: u64, num: u8, scale: u8, ttl: u8, tg: u8) -> (AddrRange, Hints) {
    let g = tg_shift(tg);
    if g == 0 {
        return (AddrRange::block(address, 12), Hints::default());
    }
    let bytes = ((u128::from(num) + 1) << scale) << g;
    let end = u128::from(address) + bytes - 1;
    let last = if end > u128::from(u64::MAX) {
        u64::MAX
    } else {
        end as u64
    };
    let mask = (1u64 << g) - 1;
    let range = AddrRange::Span {
        first: address & !mask,
        last: last | mask,
    };
    let hints = Hints {
        tg_shift: g as u8,
        level: effective_ttl(ttl, tg),
        ..Hints::default()
    };
    (range, hints)
}

/// [`tlbi_range`] of a command with `ttl128`: a 128-bit-descriptor level
/// hint is left out (see the module documentation).
#[inline]
pub(crate) fn tlbi_range128(
    address: u64,
    num: u8,
    scale: u8,
    ttl: u8,
    ttl128: bool,
    tg: u8,
) -> (AddrRange, Hints) {
    tlbi_range(address, num, scale, if ttl128 { 0 } else { ttl }, tg)
}

/// The span of an ATC_INV: `2^size` pages aligned down; 52 and above is
/// everything (IHI0070 §4.5.1).
#[inline]
pub(crate) const fn atc_range(address: u64, size: u8) -> AddrRange {
    if size >= 52 {
        AddrRange::All
    } else {
        AddrRange::block(address, 12 + size as u32)
    }
}

/// The addresses CMD_PREFETCH_ADDR reaches: `2^size` translations at a
/// `2^(12 + stride)` stride from `address` (IHI0070 §4.2.2), clamped at 2^64.
pub(crate) fn prefetch_span(address: u64, size: u8, stride: u8) -> AddrRange {
    let order = 12 + u32::from(size) + u32::from(stride);
    let whole = AddrRange::Span {
        first: address,
        last: u64::MAX,
    };
    if order >= 64 {
        return whole;
    }
    AddrRange::new(address, 1u64 << order).unwrap_or(whole)
}

/// The StreamIDs of CMD_CFGI_STE_RANGE: `2^(range+1)` aligned (IHI0070 §4.3.2).
#[inline]
pub(crate) fn ste_range(sid: u32, range: u8) -> DeviceSel {
    let block = AddrRange::block(u64::from(sid), u32::from(range) + 1);
    match (u32::try_from(block.first()), u32::try_from(block.last())) {
        (Ok(first), Ok(last)) if range < 31 => DeviceSel::Range { first, last },
        _ => DeviceSel::All,
    }
}

/// Secure-stream stall commands have no generic form (the model's stall
/// ops name no Security state).
#[inline]
fn non_secure(ssec: bool, why: &'static str) -> Result<(), LowerError> {
    if ssec {
        Err(LowerError::NoEquivalent(why))
    } else {
        Ok(())
    }
}

/// The PRI response code: 0 ResponseFailure, 1 InvalidRequest, 2 Success
/// (IHI0070 §4.5.2). docs/SPEC.md calls 0 "deny" and 1 "fail"; the
/// specification's names decide the mapping.
#[inline]
pub(crate) const fn pri_code(resp: u8) -> RespCode {
    match resp {
        0 => RespCode::Failure,
        1 => RespCode::Invalid,
        _ => RespCode::Success,
    }
}

/// The stall action of CMD_RESUME: Ac (bit 0 of `resp`) = 1 retries and Ab
/// is ignored; else Ab = 1 aborts, Ab = 0 terminates (IHI0070 §4.7.1).
#[inline]
pub(crate) const fn resume_action(resp: u8) -> StallAction {
    if resp & 1 != 0 {
        StallAction::Retry
    } else if resp & 2 != 0 {
        StallAction::Abort
    } else {
        StallAction::Terminate
    }
}

fn domain_of<C: Context + ?Sized>(ctx: &C, vmid: u16, e: &mut Emit<'_>) -> DomainSel {
    lift::domain_of(ctx, ArchId::Smmuv3, u32::from(vmid), e.widened_mut())
}

#[inline]
const fn regime(ssec: bool) -> Regime {
    if ssec {
        Regime::Secure
    } else {
        Regime::Guest
    }
}

#[inline]
fn s1(regime: Regime, domain: DomainSel) -> Inval {
    Inval::new(Caches::IOTLB)
        .regime(regime)
        .stage(Stages::S1)
        .domain(domain)
}

#[inline]
fn with_range(i: Inval, r: (AddrRange, Hints)) -> Inval {
    i.range(r.0).hints(r.1)
}

/// The entries of `asid` in the EL2 (or Secure EL2) translation regime,
/// which has no VMID: [`lift::per_tag`] over every domain.
#[inline(always)]
fn el2_asid<C: Context + ?Sized>(
    ctx: &C,
    base: Inval,
    asid: u16,
    e: &mut Emit<'_>,
) -> Result<(), LowerError> {
    lift::per_tag(
        ctx,
        ArchId::Smmuv3,
        base,
        DomainSel::All,
        u32::from(asid),
        e,
    )
}

/// The range, TTL hints and leaf flag of a ranged TLBI command `$c`, on
/// `$base`.
macro_rules! ranged {
    ($c:ident, $base:expr) => {{
        let r = tlbi_range128($c.address, $c.num, $c.scale, $c.ttl, $c.ttl128, $c.tg);
        let mut i = with_range($base, r);
        i.caches |= lift::leaf_if($c.leaf);
        i
    }};
}

/// Lift one command to generic operations, written through `e`.
///
/// Ids go through `ctx`: a VMID it does not know lifts to every domain, an
/// ASID it does not know to every PASID, and the outcome reports it
/// (`Widened::DOMAIN`, `Widened::PASID`). A Secure-stream CMD_RESUME or
/// CMD_STALL_TERM has no generic form ([`LowerError::NoEquivalent`]).
#[inline(always)]
pub(crate) fn lift<C: Context + ?Sized>(cmd: &Command, ctx: &C, e: &mut Emit<'_>) -> Result<(), LowerError> {
    let mut dropped = None;
    let cfg = |c: Caches, ssec: bool| Inval::new(c).regime(regime(ssec)).stage(Stages::all());
    match *cmd {
        Command::PrefetchConfig(c) => e.push(Op::Prefetch(Prefetch {
            device: c.sid,
            pasid: if c.ssv { Some(c.ssid) } else { None },
            secure: c.ssec,
            range: None,
            size: 0,
            stride: 0,
            count: 0,
        }))?,
        Command::PrefetchAddr(c) => {
            let r = prefetch_span(c.address, c.size, c.stride);
            e.push(Op::Prefetch(Prefetch {
                device: c.sid,
                pasid: if c.ssv { Some(c.ssid) } else { None },
                secure: c.ssec,
                range: Some(r),
                size: c.size,
                stride: c.stride,
                count: 0,
            }))?
        }
        Command::CfgiSte(c) => {
            let dev = DeviceSel::One(c.sid);
            if c.leaf {
                // The STE but not the L1 descriptor; every CD (and L1CD) of
                // the stream regardless of Leaf (IHI0070 §4.3.1).
                e.push(Op::Inval(
                    cfg(Caches::CONFIG_DEVICE | Caches::LEAF, c.ssec).device(dev),
                ))?;
                e.push(Op::Inval(cfg(Caches::CONFIG_PASID, c.ssec).device(dev)))?;
            } else {
                e.push(Op::Inval(cfg(Caches::CONFIG, c.ssec).device(dev)))?;
            }
        }
        Command::CfgiSteRange(c) => e.push(Op::Inval(
            cfg(Caches::CONFIG, c.ssec).device(ste_range(c.sid, c.range)),
        ))?,
        Command::CfgiAll(c) => e.push(Op::Inval(cfg(Caches::CONFIG, c.ssec)))?,
        Command::CfgiCd(c) => e.push(Op::Inval(
            cfg(Caches::CONFIG_PASID | lift::leaf_if(c.leaf), c.ssec)
                .device(DeviceSel::One(c.sid))
                .pasid(PasidSel::One(c.ssid)),
        ))?,
        Command::CfgiCdAll(c) => e.push(Op::Inval(
            cfg(Caches::CONFIG_PASID, c.ssec).device(DeviceSel::One(c.sid)),
        ))?,
        Command::TlbiNhAll(c) => {
            let d = domain_of(ctx, c.vmid, e);
            e.push(Op::Inval(s1(Regime::Guest, d)))?
        }
        Command::TlbiNhAsid(c) => {
            let d = domain_of(ctx, c.vmid, e);
            lift::per_tag(
                ctx,
                ArchId::Smmuv3,
                s1(Regime::Guest, d),
                d,
                u32::from(c.asid),
                e,
            )?
        }
        Command::TlbiNhVa(c) => {
            let d = domain_of(ctx, c.vmid, e);
            let base = ranged!(c, s1(Regime::Guest, d));
            lift::per_tag(ctx, ArchId::Smmuv3, base, d, u32::from(c.asid), e)?
        }
        Command::TlbiNhVaa(c) => {
            let d = domain_of(ctx, c.vmid, e);
            let i = ranged!(c, s1(Regime::Guest, d));
            e.push(Op::Inval(i))?
        }
        Command::TlbiEl3All => e.push(Op::Inval(s1(Regime::Secure, DomainSel::All)))?,
        Command::TlbiEl3Va(c) => {
            let i = ranged!(c, s1(Regime::Secure, DomainSel::All));
            e.push(Op::Inval(i))?
        }
        Command::TlbiEl2All => e.push(Op::Inval(s1(Regime::Hyp, DomainSel::All)))?,
        Command::TlbiEl2Asid(c) => el2_asid(ctx, s1(Regime::Hyp, DomainSel::All), c.asid, e)?,
        Command::TlbiEl2Va(c) => {
            let base = ranged!(c, s1(Regime::Hyp, DomainSel::All));
            el2_asid(ctx, base, c.asid, e)?
        }
        Command::TlbiEl2Vaa(c) => {
            let i = ranged!(c, s1(Regime::Hyp, DomainSel::All));
            e.push(Op::Inval(i))?
        }
        Command::TlbiS12Vmall(c) => {
            let d = domain_of(ctx, c.vmid, e);
            e.push(Op::Inval(Inval::new(Caches::IOTLB).domain(d)))?
        }
        Command::TlbiS2Ipa(c) => {
            let d = domain_of(ctx, c.vmid, e);
            let i = ranged!(c, Inval::new(Caches::IOTLB).stage(Stages::S2).domain(d));
            e.push(Op::Inval(i))?
        }
        Command::TlbiNsnhAll => e.push(Op::Inval(Inval::new(Caches::IOTLB)))?,
        Command::CfgiVmsPidm(_) => {
            dropped = Some("CMD_CFGI_VMS_PIDM: the MPAM PARTID_MAP cache has no generic form")
        }
        Command::DptiAll => {
            dropped = Some("CMD_DPTI_ALL: the Device Permission Table cache has no generic form")
        }
        Command::TlbiSEl2All => e.push(Op::Inval(s1(Regime::SecureHyp, DomainSel::All)))?,
        Command::TlbiSEl2Asid(c) => {
            el2_asid(ctx, s1(Regime::SecureHyp, DomainSel::All), c.asid, e)?
        }
        Command::TlbiSEl2Va(c) => {
            let base = ranged!(c, s1(Regime::SecureHyp, DomainSel::All));
            el2_asid(ctx, base, c.asid, e)?
        }
        Command::TlbiSEl2Vaa(c) => {
            let i = ranged!(c, s1(Regime::SecureHyp, DomainSel::All));
            e.push(Op::Inval(i))?
        }
        Command::TlbiSS12Vmall(c) => {
            let d = domain_of(ctx, c.vmid, e);
            e.push(Op::Inval(
                Inval::new(Caches::IOTLB)
                    .regime(Regime::SecureGuest)
                    .domain(d),
            ))?
        }
        Command::TlbiSS2Ipa(c) => {
            let d = domain_of(ctx, c.vmid, e);
            let i = ranged!(
                c,
                Inval::new(Caches::IOTLB)
                    .regime(Regime::SecureGuest)
                    .stage(Stages::S2)
                    .domain(d)
            );
            e.push(Op::Inval(i))?
        }
        Command::TlbiSnhAll => e.push(Op::Inval(
            Inval::new(Caches::IOTLB).regime(Regime::SecureGuest),
        ))?,
        Command::AtcInv(c) => e.push(Op::Inval(
            Inval::new(Caches::DEV_TLB)
                .device(DeviceSel::One(c.sid))
                .pasid(if c.ssv {
                    PasidSel::One(c.ssid)
                } else {
                    PasidSel::All
                })
                // Global is IGNORED when SSV == 0 (IHI0070 §4.5.1).
                .global(c.global && c.ssv)
                .range(atc_range(c.address, c.size)),
        ))?,
        Command::PriResp(c) => e.push(Op::PageResponse(PageResponse {
            device: c.sid,
            pasid: if c.ssv { Some(c.ssid) } else { None },
            prg_index: c.prg_index,
            code: pri_code(c.resp),
            last: false,
            priv_data: None,
            guest: false,
        }))?,
        Command::Resume(c) => {
            non_secure(c.ssec, "CMD_RESUME of a Secure stream has no generic form")?;
            e.push(Op::Resume {
                device: c.sid,
                stag: c.stag,
                action: resume_action(c.resp),
            })?
        }
        Command::StallTerm(c) => {
            non_secure(c.ssec, "CMD_STALL_TERM of a Secure stream has no generic form")?;
            e.push(Op::StallTerminate { device: c.sid })?
        }
        Command::CmdSync(c) => e.push(Op::Sync(Barrier {
            interrupt: c.cs == 1 && c.msi_address == 0,
            store: if c.cs == 1 && c.msi_address != 0 {
                Some(Store {
                    address: c.msi_address,
                    data: u64::from(c.msi_data),
                })
            } else {
                None
            },
            sev: c.cs == 2,
            // Later commands do not start before a CMD_SYNC completes (IHI0070 §4.7.3).
            fence: true,
            drain_page_requests: false,
            msi_msh: c.msh,
            msi_attr: c.msi_attr,
        }))?,
    }
    e.set_dropped(dropped);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(
            ste_range(0x45, 1),
            DeviceSel::Range {
                first: 0x44,
                last: 0x47
            }
        );
        assert_eq!(
            ste_range(0xffff_ffff, 30),
            DeviceSel::Range {
                first: 0x8000_0000,
                last: 0xffff_ffff
            }
        );
        assert_eq!(ste_range(5, 31), DeviceSel::All);
        assert_eq!(resume_action(0), StallAction::Terminate);
        assert_eq!(resume_action(2), StallAction::Abort);
        assert_eq!(resume_action(1), StallAction::Retry);
        assert_eq!(resume_action(3), StallAction::Retry);
        assert_eq!(atc_range(0x1_2345_6000, 52), AddrRange::All);
        assert_eq!(
            atc_range(0x7000, 1),
            AddrRange::Span {
                first: 0x6000,
                last: 0x7fff
            }
        );
        // 32 * 2^31 granules of 64 KiB = 2^52 bytes; near the top of the
        // address space the range is clamped at 2^64.
        let (r, h) = tlbi_range(0x8000_0000_0000_0000, 31, 31, 0, 3);
        let want = AddrRange::Span {
            first: 0x8000_0000_0000_0000,
            last: 0x800f_ffff_ffff_ffff,
        };
        assert_eq!(r, want);
        let (r, _) = tlbi_range(0xffff_f800_0000_0000, 31, 31, 0, 3);
        assert_eq!(
            r,
            AddrRange::Span {
                first: 0xffff_f800_0000_0000,
                last: u64::MAX
            }
        );
        assert_eq!((h.tg_shift, h.level), (16, 0));
        // 16 KiB granule, ttl 1 is treated as 0 (IHI0070 §4.4.1.1).
        assert_eq!(tlbi_range(0, 1, 0, 1, 2).1.level, 0);
        assert_eq!(
            prefetch_span(0x1000, 1, 1),
            AddrRange::Span {
                first: 0x1000,
                last: 0x4fff
            }
        );
    }
}
