//! Generic operations → SMMUv3 commands, for a host described by its
//! [`Features`], within a [`Budget`].
//!
//! Rules (docs/ARCHITECTURE.md, "the rules every translation keeps"): never
//! under-invalidate; widen to the narrowest safe scope and report it in
//! [`Outcome::widened`]; caches and hints the host lacks are
//! [`Outcome::dropped`]; non-invalidations without a counterpart are
//! [`LowerError::NoEquivalent`]; no field is ever cut.
//!
//! * **Stage 1** (guest regime): `CMD_TLBI_NH_VA` (one PASID, through
//!   [`Context::tags_of_pasid`]; requests without PASID through the CD 0
//!   ASID of the domain's devices) or `NH_VAA` (every PASID) per range
//!   chunk, `NH_ASID` / `NH_ALL` for all addresses. An unknown ASID (or
//!   several) widens to every ASID; an unknown domain (or every domain)
//!   widens to `CMD_TLBI_NSNH_ALL`.
//! * **Stage 2**: `CMD_TLBI_S2_IPA` per chunk (the IPA must fit `w1[51:12]`,
//!   else `S12_VMALL`), `S12_VMALL` for all addresses; both stages of a whole
//!   domain are one `S12_VMALL`.
//! * **Ranges**: with [`Features::ril`], the fewest
//!   `(num + 1) * 2^scale`-granule commands (the greedy split of
//!   `crate::range`) in the granule
//!   of [`Hints::tg_shift`] (4 KiB when unknown: the host's own page tables
//!   decide, and the VT-d/AMD-Vi tables every lift comes from are 4 KiB);
//!   `ttl` from [`Hints::level`] when the granule matches. A one-granule
//!   chunk without a level hint cannot use `tg` (IHI0070 §4.4.1.1 makes
//!   num = scale = ttl = 0 ILLEGAL) and becomes `tg = 0` commands, one per
//!   4 KiB page of the granule. Without range support: one `tg = 0`
//!   command per leaf page ([`Hints::leaf_shift`], else 4 KiB), as Linux
//!   does without RIL; the hint promises leaves of that size, so a command
//!   anywhere in a leaf removes it. A footprint counts a `tg = 0` command as
//!   its 4 KiB page, so leaves above 4 KiB are reported as
//!   [`Widened::LEAF_HINT`]: judge the output by
//!   `Footprint::assuming_leaves(leaf_shift)`. Above
//!   the [`Budget`]'s `max_cmds` commands: one ASID-/VMID-wide command
//!   ([`Widened::CAP`]).
//! * **EL2 / EL3** regimes: `CMD_TLBI_EL2_*` / `EL3_*`; **Secure EL2**
//!   (`SecureHyp`): `CMD_TLBI_S_EL2_*` the same way (IHI0070 §4.4.2.11–14).
//! * **Secure EL1&0 under Secure stage 2** (`SecureGuest`): stage 2 by IPA
//!   as `CMD_TLBI_S_S2_IPA` per chunk, issued for both IPA spaces (`ns` =
//!   0 and 1: the model does not say which, IHI0070 §4.4.3.3); a whole
//!   domain or stage 1 as `CMD_TLBI_S_S12_VMALL` (stage 1 alone:
//!   [`Widened::STAGE`]); no VMID as `CMD_TLBI_SNH_ALL`. The host must be
//!   driven through its Secure Command queue. A host without stage 2
//!   ([`Features::s2p`] false) has no such regime: the part is dropped,
//!   reported.
//! * **Configuration**: `CMD_CFGI_STE` per device, aligned power-of-two
//!   StreamID blocks as `CMD_CFGI_STE_RANGE`, `CMD_CFGI_ALL`; PASID
//!   configuration alone as `CMD_CFGI_CD` / `CD_ALL` per device. The STE
//!   commands also remove the stream's CDs ([`Widened::CACHES`] when only
//!   the STE was asked).
//! * **Device TLB**: one `CMD_ATC_INV` per device with ATS, the smallest
//!   aligned `2^size`-page span covering the range. A `Regime::Secure`
//!   device-TLB invalidation is dropped: ATS is not supported for Secure
//!   streams (IHI0070 §3.9), so there is nothing to invalidate.
//! * An invalidation spanning configuration, IOTLB and device TLB is emitted
//!   as config, `CMD_SYNC`, TLBI, `CMD_SYNC`, ATC_INV, `CMD_SYNC` (the order
//!   of the seed proposal's host driver, and IHI0070 §4.5.1's "first
//!   invalidate SMMU caches ... then ... CMD_ATC_INV").
//! * **Sync**: `cs` = 1 with an MSI write for a store, `cs` = 1 with
//!   `msi_address` = 0 for an interrupt, `cs` = 2 for SEV. `fence` is always
//!   met: "Commands ... more recent than a CMD_SYNC do not begin processing
//!   until the CMD_SYNC completes" (IHI0070 §4.7.3). `drain_page_requests`
//!   is not: CMD_SYNC gives no guarantee about page requests
//!   (IHI0070 §4.7.3), so it is `NoEquivalent`.
//! * **Page responses**: `CMD_PRI_RESP`; a PASID wider than
//!   [`Features::ssid_bits`] is `NoEquivalent` (the host took no such request).

use iommu_inval_core::Flags;
use crate::cmd::*;
use crate::codec::effective_ttl;
use crate::features::Features;
use crate::range::{ril_cost, ril_step};
use iommu_inval_core::context::Context;
use iommu_inval_core::LowerError;
use iommu_inval_core::lower::{InvalJob, lacking, Budget, DeviceSet, Emitter, Lowering};
use iommu_inval_core::model::{
    Barrier, Caches, DomainSel, Hints, Inval, Outcome, PageResponse, PasidSel, Prefetch, Regime,
    RespCode, Stages, StallAction, Widened,
};
use iommu_inval_core::native::ArchId;
use iommu_inval_core::range::{covering_block, page_count, pages, plan_aligned, AddrRange, Plan};
use iommu_inval_core::sink::Sink;

/// The most commands `Arch::lower` emits for one op within `budget`: the
/// capacity of a [`FixedBuf`](iommu_inval_core::FixedBuf) that never fills.
/// From the code below: an invalidation is at most three groups with a
/// `CMD_SYNC` after each — configuration (`CFGI_CD` per stream, or
/// STE-level commands, at most the cap), TLBIs (stage 1 and stage 2, each
/// at most the cap before falling back to one command) and `CMD_ATC_INV`
/// (one per device, refused above the cap); every other op is one command.
pub(crate) const fn max_lowered(budget: Budget) -> usize {
    // cap + 1 + 2 * cap + 1 + cap + 1, saturating (a cap near usize::MAX).
    budget.cap().saturating_mul(4).saturating_add(3)
}

/// The caches a host SMMU with `f` lacks: the interrupt-remapping cache
/// (SMMUv3 has none) and, without ATS (SMMU_IDR0.ATS), device TLBs.
pub(crate) fn lacks(f: &Features) -> Caches {
    lacking(Caches::INTR_REMAP, &[(Caches::DEV_TLB, f.ats)])
}

/// The host [`Features`] and the command cap, as the lowering reads them.
type Host<'a> = iommu_inval_core::lower::Host<'a, Features>;
type Job<'a, C> = InvalJob<'a, crate::Smmuv3, C>;

/// True when `v` fits in `bits` bits.
#[inline]
fn fits_bits(v: u64, bits: u8) -> bool {
    bits >= 64 || v >> bits == 0
}

impl Features {
    #[inline]
    fn asid_fits(&self, a: u16) -> bool {
        fits_bits(u64::from(a), self.asid_bits.min(16))
    }
    #[inline]
    fn vmid_fits(&self, v: u32) -> bool {
        fits_bits(u64::from(v), self.vmid_bits.min(16))
    }
    #[inline]
    fn ssid_fits(&self, p: u32) -> bool {
        fits_bits(u64::from(p), self.ssid_bits.min(20))
    }
}

/// The core [`Emitter`]: SMMUv3 commands, a CMD_SYNC between the groups
/// of a multi-group invalidation.
type Out<'a> = Emitter<'a, Command>;

/// An invalidation through the emitter (a `CMD_SYNC` between its groups).
#[inline]
pub(crate) fn lower_inval<C: Context + ?Sized>(
    (i, caps, ctx, out): Job<'_, C>,
) -> Result<Outcome, LowerError> {
    let mut o = Out::new(out, fence);
    lower_groups(i, caps, ctx, &mut o)?;
    Ok(o.outcome())
}

/// The fence between the groups of an invalidation: `CMD_SYNC`.
fn fence() -> Command {
    Command::CmdSync(CmdSync::default())
}

/// Lower one generic operation to SMMUv3 commands, written to `out`.
impl Lowering for crate::Smmuv3 {
    const NO_DRAIN: Option<&'static str> =
        Some("CMD_SYNC does not drain page requests (IHI0070 §4.7.3)");

    fn lower_prefetch(
        p: &Prefetch,
        host: &Host<'_>,
        out: &mut dyn Sink<Command>,
    ) -> Result<Outcome, LowerError> {
        let mut o = Out::new(out, fence);
        lower_prefetch(p, host, &mut o)?;
        Ok(o.outcome())
    }

    fn lower_barrier(b: &Barrier, _: &Host<'_>) -> Result<Command, LowerError> {
        lower_sync(b).map(Command::CmdSync)
    }

    fn lower_page_response(r: &PageResponse, host: &Host<'_>) -> Result<Command, LowerError> {
        lower_page_response(r, host).map(Command::PriResp)
    }

    fn lower_stall(sid: u32, resume: Option<(u16, StallAction)>) -> Result<Command, LowerError> {
        Ok(match resume {
            Some((stag, action)) => Command::Resume(Resume {
                ssec: false,
                resp: match action {
                    StallAction::Terminate => 0,
                    StallAction::Retry => 1,
                    StallAction::Abort => 2,
                },
                sid,
                stag,
            }),
            None => Command::StallTerm(StallTerm { ssec: false, sid }),
        })
    }
}

#[inline]
fn lower_groups<C: Context + ?Sized>(
    i: &Inval,
    caps: &Host<'_>,
    ctx: &C,
    o: &mut Out<'_>,
) -> Result<(), LowerError> {
    if i.caches.contains(Caches::INTR_REMAP) {
        o.drop_part("SMMUv3 has no interrupt remapping cache");
    }
    // Straight-line, one test per group: a loop over the groups let the
    // compiler hoist all three lowerings' set-up out of it, whichever ran.
    let cfg = i.caches.intersects(Caches::CONFIG);
    let tlb = i.caches.contains(Caches::IOTLB);
    let dev = i.caches.contains(Caches::DEV_TLB);
    let several = u8::from(cfg) + u8::from(tlb) + u8::from(dev) > 1;
    // A CMD_SYNC after each group of a multi-group invalidation that
    // emitted something.
    if cfg {
        lower_config(i, caps, ctx, o)?;
        if several {
            o.fence_now()?;
        }
    }
    if tlb {
        lower_tlb(i, caps, ctx, o)?;
        if several {
            o.fence_now()?;
        }
    }
    if dev {
        lower_dev_tlb(i, caps, ctx, o)?;
        if several {
            o.fence_now()?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- config --

/// The devices a device-tagged invalidation names; those of a domain
/// whose devices the context does not list are every device (widened).
fn devices<C: Context + ?Sized>(i: &Inval, ctx: &C, o: &mut Out<'_>) -> DeviceSet {
    let devs = DeviceSet::resolve(i.device, i.domain, ctx);
    if devs == DeviceSet::Unlisted {
        o.widen(Widened::DEVICE);
    }
    devs
}

#[inline(always)]
fn lower_config<C: Context + ?Sized>(
    i: &Inval,
    caps: &Host<'_>,
    ctx: &C,
    o: &mut Out<'_>,
) -> Result<(), LowerError> {
    let ssec = match i.regime {
        Regime::Guest => false,
        // The configuration of Secure streams (`ssec`), whichever Secure
        // regime names it (the core footprint tags configuration by
        // Security state only).
        Regime::Secure | Regime::SecureHyp | Regime::SecureGuest => true,
        Regime::Hyp => {
            o.drop_part("SMMUv3 configuration caches have no EL2 regime");
            return Ok(());
        }
    };
    let want_ste = i.caches.contains(Caches::CONFIG_DEVICE);
    let want_cd = i.caches.contains(Caches::CONFIG_PASID);
    let leaf = i.leaf_only();
    if !want_ste && !caps.f.s1p {
        o.drop_part("host SMMU has no stage 1: no context descriptors are cached");
        return Ok(());
    }
    let devs = devices(i, ctx, o);
    if want_ste {
        // CMD_CFGI_STE* also remove the CDs of the streams (IHI0070 §4.3.1).
        if !want_cd {
            o.widen(Widened::CACHES);
        } else {
            if i.pasid != PasidSel::All {
                o.widen(Widened::PASID);
            }
            if leaf {
                // CFGI_STE leaf=1 still removes the L1CDs.
                o.widen(Widened::LEAF);
            }
        }
        return ste_level(devs, ssec, leaf, caps, ctx, o);
    }
    // PASID configuration only: CMD_CFGI_CD / CD_ALL per device.
    let cd = |sid: u32, o: &mut Out<'_>| -> Result<(), LowerError> {
        match i.pasid {
            PasidSel::One(p) if caps.f.ssid_fits(p) => o.push(Command::CfgiCd(Cfgi {
                ssec,
                ssid: p,
                sid,
                leaf,
                ..Default::default()
            })),
            sel => {
                if sel != PasidSel::All {
                    o.widen(Widened::PASID);
                }
                if leaf {
                    o.widen(Widened::LEAF);
                }
                o.push(Command::CfgiCdAll(Cfgi { ssec, sid, ..Default::default() }))
            }
        }
    };
    // Every stream, or too many streams for per-stream CD commands:
    // STE-level commands remove the CDs too. (Every stream is no count: as
    // `u64::MAX` it passed the cap test of `max_cmds = usize::MAX`.)
    let count = match devs {
        DeviceSet::Interval(a, b) => u64::from(b - a) + 1,
        DeviceSet::Domain { count, .. } => count as u64,
        DeviceSet::Every | DeviceSet::Unlisted => {
            o.widen(Widened::CACHES);
            return ste_level(devs, ssec, leaf, caps, ctx, o);
        }
    };
    if count > caps.cap as u64 {
        o.widen(Widened::CACHES | Widened::CAP);
        return ste_level(devs, ssec, leaf, caps, ctx, o);
    }
    match devs {
        DeviceSet::Interval(a, b) => {
            for sid in a..=b {
                cd(sid, o)?;
            }
            Ok(())
        }
        DeviceSet::Domain { .. } => devs.for_each(ctx, &mut |sid| cd(sid, o)),
        // Went to `ste_level` above.
        DeviceSet::Every | DeviceSet::Unlisted => ste_level(devs, ssec, leaf, caps, ctx, o),
    }
}

/// STE-level invalidation of `devs`: CFGI_STE, STE_RANGE blocks or ALL.
fn ste_level<C: Context + ?Sized>(
    devs: DeviceSet,
    ssec: bool,
    leaf: bool,
    caps: &Host<'_>,
    ctx: &C,
    o: &mut Out<'_>,
) -> Result<(), LowerError> {
    let all = |o: &mut Out<'_>| {
        if leaf {
            o.widen(Widened::LEAF);
        }
        o.push(Command::CfgiAll(Cfgi { ssec, sid: 0, ..Default::default() }))
    };
    let block = |addr: u64, order: u32, o: &mut Out<'_>| -> Result<(), LowerError> {
        match order {
            0 => o.push(Command::CfgiSte(Cfgi {
                ssec,
                sid: addr as u32,
                leaf,
                ..Default::default()
            })),
            1..=31 => {
                if leaf {
                    o.widen(Widened::LEAF);
                }
                o.push(Command::CfgiSteRange(Cfgi {
                    ssec,
                    sid: addr as u32,
                    range: (order - 1) as u8,
                    ..Default::default()
                }))
            }
            _ => all(o),
        }
    };
    match devs {
        DeviceSet::Interval(a, b) => {
            let r = AddrRange::Span {
                first: u64::from(a),
                last: u64::from(b),
            };
            match plan_aligned(&r, 0, 32, caps.cap) {
                Plan::Pieces(blocks) => {
                    for b in blocks {
                        block(b.addr, b.order, o)?;
                    }
                    Ok(())
                }
                Plan::Single(b) => {
                    o.widen(Widened::DEVICE | Widened::CAP);
                    block(b.addr, b.order, o)
                }
                Plan::All => {
                    o.widen(Widened::DEVICE | Widened::CAP);
                    all(o)
                }
            }
        }
        DeviceSet::Domain { count, .. } => {
            if count > caps.cap {
                o.widen(Widened::DEVICE | Widened::CAP);
                return all(o);
            }
            devs.for_each(ctx, &mut |sid| o.push(Command::CfgiSte(Cfgi { ssec, sid, leaf, ..Default::default() })))
        }
        DeviceSet::Every | DeviceSet::Unlisted => all(o),
    }
}

// ----------------------------------------------------------------- IOTLB --

/// The address-based TLBI a span becomes: a plain value, so that building a
/// command is a direct match, not a call through a closure.
#[derive(Debug, Clone, Copy)]
enum VaCmd {
    /// CMD_TLBI_NH_VA.
    NhVa { vmid: u16, asid: u16 },
    /// CMD_TLBI_NH_VAA.
    NhVaa { vmid: u16 },
    /// CMD_TLBI_EL3_VA.
    El3,
    /// CMD_TLBI_EL2_VA.
    El2Va { asid: u16 },
    /// CMD_TLBI_EL2_VAA.
    El2Vaa,
    /// CMD_TLBI_S2_IPA.
    S2Ipa { vmid: u16 },
    /// CMD_TLBI_S_EL2_VA.
    SEl2Va { asid: u16 },
    /// CMD_TLBI_S_EL2_VAA.
    SEl2Vaa,
    /// CMD_TLBI_S_S2_IPA.
    SS2Ipa { vmid: u16, ns: bool },
}

impl VaCmd {
    /// The ASID-/VMID-wide command that replaces the address-based ones
    /// above the cap: NH_ASID, NH_ALL, EL3_ALL, EL2_ASID, EL2_ALL, S12_VMALL.
    fn wide(self) -> Command {
        match self {
            VaCmd::NhVa { vmid, asid } => Command::TlbiNhAsid(TlbiScope { vmid, asid }),
            VaCmd::NhVaa { vmid } => Command::TlbiNhAll(TlbiScope { vmid, ..Default::default() }),
            VaCmd::El3 => Command::TlbiEl3All,
            VaCmd::El2Va { asid } => Command::TlbiEl2Asid(TlbiScope { asid, ..Default::default() }),
            VaCmd::El2Vaa => Command::TlbiEl2All,
            VaCmd::S2Ipa { vmid } => Command::TlbiS12Vmall(TlbiScope { vmid, ..Default::default() }),
            VaCmd::SEl2Va { asid } => Command::TlbiSEl2Asid(TlbiScope { asid, ..Default::default() }),
            VaCmd::SEl2Vaa => Command::TlbiSEl2All,
            VaCmd::SS2Ipa { vmid, .. } => Command::TlbiSS12Vmall(TlbiScope { vmid, ..Default::default() }),
        }
    }

    #[inline(always)]
    fn make(self, leaf: bool, address: u64, num: u8, scale: u8, ttl: u8, tg: u8) -> Command {
        // The fields every address-based TLBI has; each op adds its own ids.
        let a = TlbiAddr {
            num,
            scale,
            vmid: 0,
            asid: 0,
            leaf,
            ns: false,
            ttl128: false,
            ttl,
            tg,
            address,
        };
        match self {
            VaCmd::NhVa { vmid, asid } => Command::TlbiNhVa(TlbiAddr { vmid, asid, ..a }),
            VaCmd::NhVaa { vmid } => Command::TlbiNhVaa(TlbiAddr { vmid, ..a }),
            VaCmd::El3 => Command::TlbiEl3Va(a),
            VaCmd::El2Va { asid } => Command::TlbiEl2Va(TlbiAddr { asid, ..a }),
            VaCmd::El2Vaa => Command::TlbiEl2Vaa(a),
            VaCmd::S2Ipa { vmid } => Command::TlbiS2Ipa(TlbiAddr { vmid, ..a }),
            VaCmd::SEl2Va { asid } => Command::TlbiSEl2Va(TlbiAddr { asid, ..a }),
            VaCmd::SEl2Vaa => Command::TlbiSEl2Vaa(a),
            VaCmd::SS2Ipa { vmid, ns } => Command::TlbiSS2Ipa(TlbiAddr { vmid, ns, ..a }),
        }
    }
}

/// Cover `r` with address-based TLBIs of kind `va`, or fall back to
/// [`VaCmd::wide`] above the cap. One pass: the command count is known
/// arithmetically before anything is emitted.
#[inline]
fn tlbi_span(
    r: &AddrRange,
    hints: &Hints,
    leaf: bool,
    caps: &Host<'_>,
    va: VaCmd,
    o: &mut Out<'_>,
) -> Result<(), LowerError> {
    let fallback = |o: &mut Out<'_>| {
        o.widen(Widened::CAP | Widened::RANGE);
        if leaf {
            o.widen(Widened::LEAF);
        }
        o.push(va.wide())
    };
    if caps.f.ril {
        let (g, tg) = match hints.tg_shift {
            14 => (14u32, 2u8),
            16 => (16, 3),
            _ => (12, 1),
        };
        let ttl = if u32::from(hints.tg_shift) == g && (1..=3).contains(&hints.level) {
            hints.level
        } else {
            0
        };
        // num = scale = ttl = 0 with tg is ILLEGAL (IHI0070 §4.4.1.1): a
        // one-granule chunk without a level becomes tg = 0 pages.
        let pages_per_granule = 1u64 << (g - 12);
        let single_tg0 = effective_ttl(ttl, tg) == 0;
        let single_cost = if single_tg0 {
            pages_per_granule as usize
        } else {
            1
        };
        let aligned = r.align_out(g);
        // At most 2^64 bytes: at most 2^52 granules, which fits.
        let granules = u64::try_from(aligned.size() >> g).unwrap_or(u64::MAX);
        // One `(num + 1) * 2^scale` chunk (an aligned power-of-two range, a
        // page with a level hint) or one 4 KiB granule without a level (a
        // tg = 0 page): one command, always within the cap.
        let (k, s) = ril_step(granules);
        let one_chunk = granules != 0 && k << s == granules;
        let tg0_page = k == 1 && s == 0 && single_tg0;
        if one_chunk && (!tg0_page || g == 12) {
            if aligned != *r {
                o.widen(Widened::RANGE);
            }
            let c = if tg0_page {
                va.make(leaf, aligned.first(), 0, 0, 0, 0)
            } else {
                va.make(leaf, aligned.first(), (k - 1) as u8, s as u8, ttl, tg)
            };
            return o.push(c);
        }
        if ril_cost(granules, single_cost, caps.cap).is_none() {
            return fallback(o);
        }
        if aligned != *r {
            o.widen(Widened::RANGE);
        }
        let (mut n, mut addr) = (granules, aligned.first());
        while n != 0 {
            let (k, s) = ril_step(n);
            if k == 1 && s == 0 && single_tg0 {
                for p in 0..pages_per_granule {
                    o.push(va.make(leaf, addr.wrapping_add(p << 12), 0, 0, 0, 0))?;
                }
            } else {
                o.push(va.make(leaf, addr, (k - 1) as u8, s as u8, ttl, tg))?;
            }
            n -= k << s;
            // Wraps only past the last chunk of a range ending at 2^64.
            addr = addr.wrapping_add((k << s) << g);
        }
        Ok(())
    } else {
        // Without RIL: one tg = 0 command per leaf of the hinted size, as
        // Linux does; a command anywhere in a leaf removes the whole leaf.
        let shift = if (12..64).contains(&hints.leaf_shift) {
            u32::from(hints.leaf_shift)
        } else {
            12
        };
        if page_count(r, shift) > caps.cap as u128 {
            return fallback(o);
        }
        if shift > 12 {
            // The footprint of a tg = 0 command is its 4 KiB page: the
            // output covers the request only if the hint is true.
            o.widen(Widened::LEAF_HINT);
        }
        if r.align_out(shift) != *r {
            o.widen(Widened::RANGE);
        }
        for a in pages(r, shift) {
            o.push(va.make(leaf, a, 0, 0, 0, 0))?;
        }
        Ok(())
    }
}

/// IPAs beyond `w1[51:12]` do not exist on SMMUv3 (IHI0070 §4.1.6).
const IPA_LIMIT: u64 = 1 << 52;

#[inline(always)]
fn lower_tlb<C: Context + ?Sized>(
    i: &Inval,
    caps: &Host<'_>,
    ctx: &C,
    o: &mut Out<'_>,
) -> Result<(), LowerError> {
    let s1 = i.stages.contains(Stages::S1);
    let s2 = i.stages.contains(Stages::S2);
    let leaf = i.leaf_only();
    let span = !i.range.is_all();
    match i.regime {
        Regime::Guest => {}
        Regime::SecureGuest => return lower_secure_guest(i, caps, ctx, o),
        Regime::Hyp | Regime::Secure | Regime::SecureHyp => {
            let hyp = i.regime != Regime::Secure;
            let sel2 = i.regime == Regime::SecureHyp;
            if s2 {
                o.drop_part(if sel2 {
                    "SMMUv3 has no Secure EL2 stage-2 translations"
                } else if hyp {
                    "SMMUv3 has no EL2 stage-2 translations"
                } else {
                    "no Secure stage-2 TLBI in the SMMUv3 command set supported"
                });
            }
            if !s1 {
                return Ok(());
            }
            if !caps.f.s1p {
                o.drop_part("host SMMU has no stage 1");
                return Ok(());
            }
            if !hyp {
                if i.pasid != PasidSel::All {
                    o.widen(Widened::PASID);
                }
                if !span {
                    if leaf {
                        o.widen(Widened::LEAF);
                    }
                    return o.push(Command::TlbiEl3All);
                }
                return tlbi_span(&i.range, &i.hints, leaf, caps, VaCmd::El3, o);
            }
            let asid = s1_asid(i, DomainSel::All, caps, ctx, o);
            let va = match (asid, sel2) {
                (Some(asid), false) => VaCmd::El2Va { asid },
                (None, false) => VaCmd::El2Vaa,
                (Some(asid), true) => VaCmd::SEl2Va { asid },
                (None, true) => VaCmd::SEl2Vaa,
            };
            if !span {
                if leaf {
                    o.widen(Widened::LEAF);
                }
                return o.push(va.wide());
            }
            return tlbi_span(&i.range, &i.hints, leaf, caps, va, o);
        }
    }

    // Guest regime: resolve the VMID.
    let vmid: Option<u16> = if !caps.f.s2p {
        // Stage-1-only SMMU: VMID is RES0 (IHI0070 §4.4.2) and one command
        // reaches every domain.
        if matches!(i.domain, DomainSel::One(_)) && s1 && caps.f.s1p {
            o.widen(Widened::DOMAIN);
        }
        Some(0)
    } else {
        vmid_of(i.domain, caps, ctx)
    };
    let (s1, s2) = (
        s1 && {
            if !caps.f.s1p {
                o.drop_part("host SMMU has no stage 1");
            }
            caps.f.s1p
        },
        s2 && {
            if !caps.f.s2p {
                o.drop_part("host SMMU has no stage 2");
            }
            caps.f.s2p
        },
    );
    if !s1 && !s2 {
        return Ok(());
    }
    let Some(vmid) = vmid else {
        // No VMID names the domain: every non-secure, non-hyp entry.
        widen_every_domain(i, s1, s2, o);
        return o.push(Command::TlbiNsnhAll);
    };
    // S12_VMALL removes both stages of every PASID: when stage 2 needs it
    // (all addresses, or IPAs beyond w1[51:12]) it is the only command.
    let vmall_only = s2 && (!span || i.range.last() >= IPA_LIMIT);
    if vmall_only {
        widen_vmall(i, s1, o);
        return o.push(Command::TlbiS12Vmall(TlbiScope { vmid, ..Default::default() }));
    }
    if s1 {
        let asids = s1_asids(i, i.domain, caps, ctx, o);
        if !span && leaf {
            o.widen(Widened::LEAF);
        }
        match asids {
            Asids::All if span => {
                tlbi_span(&i.range, &i.hints, leaf, caps, VaCmd::NhVaa { vmid }, o)?
            }
            Asids::All => o.push(Command::TlbiNhAll(TlbiScope { vmid, ..Default::default() }))?,
            Asids::One(asid) if span => tlbi_span(
                &i.range,
                &i.hints,
                leaf,
                caps,
                VaCmd::NhVa { vmid, asid },
                o,
            )?,
            Asids::One(asid) => o.push(Command::TlbiNhAsid(TlbiScope { vmid, asid }))?,
            Asids::Several(n) => {
                // Each ASID with its share of the cap (n <= cap).
                let share = Host {
                    cap: (caps.cap / n).max(1),
                    ..*caps
                };
                let mut res = Ok(());
                ctx.tags_of_pasid(ArchId::Smmuv3, i.domain, i.pasid, &mut |a| {
                    // `s1_asids` checked that each fits.
                    let asid = a as u16;
                    if res.is_ok() {
                        res = if span {
                            let va = VaCmd::NhVa { vmid, asid };
                            tlbi_span(&i.range, &i.hints, leaf, &share, va, o)
                        } else {
                            o.push(Command::TlbiNhAsid(TlbiScope { vmid, asid }))
                        };
                    }
                });
                res?
            }
        }
    }
    if s2 {
        let before = o.widened();
        tlbi_span(&i.range, &i.hints, leaf, caps, VaCmd::S2Ipa { vmid }, o)?;
        if o.widened().contains(Widened::CAP) && !before.contains(Widened::CAP) {
            // Fell back to S12_VMALL: stage 1 of every PASID goes too.
            if !s1 {
                o.widen(Widened::STAGE);
            } else if i.pasid != PasidSel::All {
                o.widen(Widened::PASID);
            }
        }
    }
    Ok(())
}

/// The host VMID of `domain`, when the context names one that fits.
#[inline(always)]
fn vmid_of<C: Context + ?Sized>(domain: DomainSel, caps: &Host<'_>, ctx: &C) -> Option<u16> {
    match domain {
        DomainSel::One(d) => match ctx.domain_to_native(ArchId::Smmuv3, d) {
            Some(v) if caps.f.vmid_fits(v) => Some(v as u16),
            _ => None,
        },
        DomainSel::All => None,
    }
}

/// What one command of every domain (`NSNH_ALL`, `SNH_ALL`: both stages,
/// all addresses, every PASID) widens for stages `s1` / `s2` of `i`.
#[cold]
#[inline(never)]
fn widen_every_domain(i: &Inval, s1: bool, s2: bool, o: &mut Out<'_>) {
    if matches!(i.domain, DomainSel::One(_)) {
        o.widen(Widened::DOMAIN);
    }
    if s1 && i.pasid != PasidSel::All {
        o.widen(Widened::PASID);
    }
    if !(s1 && s2) {
        o.widen(Widened::STAGE);
    }
    widen_whole(i, o);
}

/// What one `S12_VMALL` / `S_S12_VMALL` (both stages of one VMID, every
/// PASID, all addresses) widens for `i`; `both`: `i` asks for both stages.
#[cold]
#[inline(never)]
fn widen_vmall(i: &Inval, both: bool, o: &mut Out<'_>) {
    if !both {
        o.widen(Widened::STAGE);
    } else if i.pasid != PasidSel::All {
        o.widen(Widened::PASID);
    }
    widen_whole(i, o);
}

/// A command of all addresses and every level for `i`: `RANGE` for a
/// span, `LEAF` for a leaf-only request.
#[cold]
#[inline(never)]
fn widen_whole(i: &Inval, o: &mut Out<'_>) {
    if !i.range.is_all() {
        o.widen(Widened::RANGE);
    }
    if i.leaf_only() {
        o.widen(Widened::LEAF);
    }
}

/// The Secure EL1&0 regime under Secure stage 2 (module documentation).
fn lower_secure_guest<C: Context + ?Sized>(
    i: &Inval,
    caps: &Host<'_>,
    ctx: &C,
    o: &mut Out<'_>,
) -> Result<(), LowerError> {
    if !caps.f.s2p {
        // Secure EL1&0 under Secure stage 2 needs stage 2 (SMMU_IDR0.S2P,
        // IHI0070 §4.4.3): a host without it caches no entry of the regime.
        o.drop_part("host SMMU has no stage 2: no Secure stage-2 regime");
        return Ok(());
    }
    let s1 = i.stages.contains(Stages::S1);
    let s2 = i.stages.contains(Stages::S2);
    let leaf = i.leaf_only();
    let span = !i.range.is_all();
    let vmid = vmid_of(i.domain, caps, ctx);
    let Some(vmid) = vmid else {
        widen_every_domain(i, s1, s2, o);
        return o.push(Command::TlbiSnhAll);
    };
    if s1 || !span || i.range.last() >= IPA_LIMIT {
        widen_vmall(i, s1 && s2, o);
        return o.push(Command::TlbiSS12Vmall(TlbiScope { vmid, ..Default::default() }));
    }
    // Both IPA spaces of the Secure regime (IHI0070 §4.4.3.3).
    for ns in [false, true] {
        if ns && o.widened().contains(Widened::CAP) {
            // The ns = 0 pass fell back to S_S12_VMALL: both spaces are gone.
            break;
        }
        tlbi_span(
            &i.range,
            &i.hints,
            leaf,
            caps,
            VaCmd::SS2Ipa { vmid, ns },
            o,
        )?;
    }
    Ok(())
}

/// The ASIDs a stage-1 PASID selection names.
#[derive(Debug, Clone, Copy)]
enum Asids {
    /// Every ASID of the VMID (NH_ALL / NH_VAA).
    All,
    /// One ASID.
    One(u16),
    /// This many ASIDs (2..=cap), in [`Context::tags_of_pasid`] order.
    Several(usize),
}

/// The ASIDs of a stage-1 PASID selection ([`Context::tags_of_pasid`]: a
/// PASID's CD ASIDs, or the CD 0 ASIDs of the domain's devices for
/// requests without PASID; one PASID may use several on different
/// devices). [`Asids::All`] for all PASIDs, and — widened — when an ASID is
/// unknown or too wide, or more than the cap; ASIDs shared with other
/// selections are reported as widened.
#[inline]
fn s1_asids<C: Context + ?Sized>(
    i: &Inval,
    domain: DomainSel,
    caps: &Host<'_>,
    ctx: &C,
    o: &mut Out<'_>,
) -> Asids {
    if i.pasid == PasidSel::All {
        return Asids::All;
    }
    let (mut first, mut n, mut fit) = (None, 0usize, true);
    let known = ctx.tags_of_pasid(ArchId::Smmuv3, domain, i.pasid, &mut |a| {
        match u16::try_from(a) {
            Ok(a) if caps.f.asid_fits(a) => {
                first = first.or(Some(a));
            }
            _ => fit = false,
        }
        n += 1;
    });
    match first {
        Some(a) if known && fit && n <= caps.cap => {
            // Other PASID selections sharing an ASID go too.
            let mut others = false;
            ctx.tags_of_pasid(ArchId::Smmuv3, domain, i.pasid, &mut |t| {
                ctx.pasids_of_tag(ArchId::Smmuv3, domain, t, &mut |q| others |= q != i.pasid);
            });
            if others {
                o.widen(Widened::PASID);
            }
            if n == 1 {
                Asids::One(a)
            } else {
                Asids::Several(n)
            }
        }
        _ => {
            o.widen(Widened::PASID);
            Asids::All
        }
    }
}

/// [`s1_asids`] where one command must do (the EL2 regimes): several ASIDs
/// widen to every ASID.
#[inline]
fn s1_asid<C: Context + ?Sized>(
    i: &Inval,
    domain: DomainSel,
    caps: &Host<'_>,
    ctx: &C,
    o: &mut Out<'_>,
) -> Option<u16> {
    match s1_asids(i, domain, caps, ctx, o) {
        Asids::One(a) => Some(a),
        Asids::All => None,
        Asids::Several(_) => {
            o.widen(Widened::PASID);
            None
        }
    }
}

// ------------------------------------------------------------ device TLB --

/// ATC_INV `size` and `address` of the smallest aligned span covering `r`.
#[inline]
pub(crate) fn atc_span(r: &AddrRange) -> (u8, u64) {
    let b = covering_block(r, 12);
    if b.order >= 64 {
        (52, 0)
    } else {
        ((b.order - 12) as u8, b.addr)
    }
}

#[inline]
fn lower_dev_tlb<C: Context + ?Sized>(
    i: &Inval,
    caps: &Host<'_>,
    ctx: &C,
    o: &mut Out<'_>,
) -> Result<(), LowerError> {
    if i.regime.is_secure() {
        // Device TLBs hold non-secure translations only: "ATS is not
        // supported for Secure streams" (IHI0070 §3.9). A Hyp regime lowers
        // like Guest (the entries are not regime-tagged).
        o.drop_part("ATS is not supported for Secure streams (IHI0070 §3.9)");
        return Ok(());
    }
    if !caps.f.ats {
        o.drop_part("host SMMU has no ATS");
        return Ok(());
    }
    let (ssv, ssid, global) = match i.pasid {
        PasidSel::One(p) if caps.f.ssid_bits > 0 && caps.f.ssid_fits(p) => (true, p, i.global),
        PasidSel::All => (false, 0, false),
        _ => {
            // Without a PASID prefix the request hits every ATC entry of the
            // range (PCIe ATS; IHI0070 §4.5.1).
            o.widen(Widened::PASID);
            (false, 0, false)
        }
    };
    let (size, address) = atc_span(&i.range);
    if atc_range_of(size, address) != i.range {
        o.widen(Widened::RANGE);
    }
    // A device without ATS has no device TLB: nothing to send. For a single
    // device (named, or one of a domain's) that is exact, as core's
    // footprint says; a StreamID range's footprint counts every device of
    // the interval, so skipping one there is reported as dropped.
    let one = |sid: u32, in_range: bool, o: &mut Out<'_>| -> Result<(), LowerError> {
        if ctx.ats_enabled(sid) {
            o.push(Command::AtcInv(AtcInv {
                global,
                ssv,
                ssid,
                sid,
                size,
                address,
            }))
        } else {
            if in_range {
                o.drop_part("device without ATS has no device TLB");
            }
            Ok(())
        }
    };
    let devs = devices(i, ctx, o);
    match devs {
        DeviceSet::Interval(a, b) => {
            if u64::from(b - a) >= caps.cap as u64 {
                return Err(LowerError::NoEquivalent(
                    "CMD_ATC_INV names one StreamID: too many devices for max_cmds",
                ));
            }
            for sid in a..=b {
                one(sid, a != b, o)?;
            }
            Ok(())
        }
        // One CMD_ATC_INV per device of the domain, within the cap as the
        // other architectures do (so that `max_lowered` bounds it).
        DeviceSet::Domain { count, .. } if count > caps.cap => Err(LowerError::NoEquivalent(
            "CMD_ATC_INV names one StreamID: more devices in the domain than max_cmds",
        )),
        DeviceSet::Domain { .. } => devs.for_each(ctx, &mut |sid| one(sid, false, o)),
        DeviceSet::Every | DeviceSet::Unlisted => Err(LowerError::NoEquivalent(
            "CMD_ATC_INV names one StreamID and the devices are not known",
        )),
    }
}

#[inline]
fn atc_range_of(size: u8, address: u64) -> AddrRange {
    crate::lift::atc_range(address, size)
}

// ------------------------------------------------------------------ rest --

#[inline]
fn lower_sync(s: &Barrier) -> Result<CmdSync, LowerError> {
    if s.msi_msh > 3 || s.msi_attr > 15 {
        return Err(LowerError::NoEquivalent(
            "MSI attributes wider than msh/msi_attr",
        ));
    }
    let mut c = CmdSync {
        msh: s.msi_msh,
        msi_attr: s.msi_attr,
        ..CmdSync::default()
    };
    match (s.interrupt, s.store, s.sev) {
        (false, None, false) => {}
        (true, None, false) => c.cs = 1,
        (false, None, true) => c.cs = 2,
        (false, Some(st), false) => {
            if st.data > u64::from(u32::MAX) {
                return Err(LowerError::NoEquivalent("CMD_SYNC stores 32-bit MSI data"));
            }
            // `w1[55:2]` (IHI0070 §4.1.6; bits above the host's OAS are its
            // own RES0).
            if !bits::MSI_ADDR.fits(st.address) {
                return Err(LowerError::NoEquivalent(
                    "CMD_SYNC MSI address must be 4-byte aligned and below 2^56",
                ));
            }
            if st.address == 0 {
                return Err(LowerError::NoEquivalent(
                    "CMD_SYNC MSIAddress 0 means no MSI write (IHI0070 §4.7.3)",
                ));
            }
            c.cs = 1;
            c.msi_address = st.address;
            c.msi_data = st.data as u32;
        }
        _ => {
            return Err(LowerError::NoEquivalent(
                "CMD_SYNC signals one way: an MSI write, an interrupt or SEV",
            ))
        }
    }
    Ok(c)
}

fn lower_prefetch(p: &Prefetch, caps: &Host<'_>, o: &mut Out<'_>) -> Result<(), LowerError> {
    let (ssv, ssid) = match p.pasid {
        None => (false, 0),
        Some(q) if caps.f.ssid_bits > 0 && caps.f.ssid_fits(q) => (true, q),
        Some(_) => {
            o.drop_part("prefetch for a PASID wider than the host's SubstreamIDs");
            return Ok(());
        }
    };
    match p.range {
        None => o.push(Command::PrefetchConfig(PrefetchConfig {
            ssec: p.secure,
            ssv,
            ssid,
            sid: p.device,
        })),
        Some(r) => {
            let address = r.first() & !0xfff;
            let (size, stride) = if p.size <= 31
                && p.stride <= 31
                && prefetch_span(address, p.size, p.stride) == r
            {
                (p.size, p.stride)
            } else {
                // Smallest 2^size pages from `address` reaching the end.
                let mut s = 0u8;
                while s < 31 && prefetch_span(address, s, 0).last() < r.last() {
                    s += 1;
                }
                (s, 0)
            };
            o.push(Command::PrefetchAddr(PrefetchAddr {
                ssec: p.secure,
                ssv,
                ssid,
                sid: p.device,
                size,
                stride,
                ns: false,
                address,
            }))
        }
    }
}

use crate::lift::prefetch_span;

#[inline]
fn lower_page_response(p: &PageResponse, caps: &Host<'_>) -> Result<PriResp, LowerError> {
    if p.priv_data.is_some() {
        return Err(LowerError::NoEquivalent(
            "CMD_PRI_RESP carries no private data",
        ));
    }
    if p.prg_index > 0x1ff {
        return Err(LowerError::NoEquivalent("prg_index wider than 9 bits"));
    }
    let (ssv, ssid) = match p.pasid {
        None => (false, 0),
        // The response answers a page request of this PASID, which a host
        // with narrower SubstreamIDs (SMMU_IDR1.SSIDSIZE) cannot have taken.
        Some(q) if caps.f.ssid_bits > 0 && caps.f.ssid_fits(q) => (true, q),
        Some(_) => {
            return Err(LowerError::NoEquivalent(
                "PASID wider than the host's SubstreamIDs (SMMU_IDR1.SSIDSIZE)",
            ))
        }
    };
    Ok(PriResp {
        ssv,
        ssid,
        sid: p.device,
        prg_index: p.prg_index,
        resp: match p.code {
            RespCode::Failure => 0,
            RespCode::Invalid => 1,
            RespCode::Success => 2,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atc_spans() {
        let span = |a, b| AddrRange::Span { first: a, last: b };
        assert_eq!(atc_span(&span(0x5000, 0x5fff)), (0, 0x5000));
        assert_eq!(atc_span(&span(0x5000, 0x6fff)), (2, 0x4000));
        assert_eq!(atc_span(&AddrRange::All), (52, 0));
        assert_eq!(atc_span(&span(0, u64::MAX >> 1)), (51, 0));
    }

    #[test]
    fn caps_widths() {
        let f = Features {
            asid_bits: 8,
            vmid_bits: 8,
            ssid_bits: 0,
            ..Features::LATEST
        };
        let c = &f;
        assert!(c.asid_fits(0xff) && !c.asid_fits(0x100));
        assert!(c.vmid_fits(0xff) && !c.vmid_fits(0x100));
        assert!(c.ssid_fits(0) && !c.ssid_fits(1));
        assert_eq!(Budget::new(0).cap(), 1);
    }
}
