//! Property tests over every opcode: R1 (bytes), R2 (same-arch round trip of
//! footprints) and R3 (generic → AMD → generic covers, exact unless reported).

use iommu_inval_amd::*;
use iommu_inval_core::arch::Arch;
use iommu_inval_core::arch::Target;
use iommu_inval_core::context::Topology;
use iommu_inval_core::footprint::Footprint;
use iommu_inval_core::model::*;
use iommu_inval_core::Flags;
use iommu_inval_core::{Context, ErrorKind, FieldValue, IdentityContext, LowerError};
use proptest::prelude::*;

/// Field bits (plus opcode) of each opcode, written from the table.
fn defined(op: u64) -> Option<[u64; 2]> {
    let o = 0xf000_0000_0000_0000u64;
    let page = 0xffff_ffff_ffff_f000u64;
    Some(match op {
        1 => [o | 0x000f_ffff_ffff_ffff, u64::MAX],
        2 | 5 => [o | 0xffff, 0],
        3 => [o | 0x0000_ffff_000f_ffff, page | 0x7],
        // pasid[19:16] in w0[59:56] from revision 3.x; type w1[5:4].
        4 => [o | 0x0fff_ffff_ffff_ffff, page | 0x35],
        6 => [o | 0x000f_ffff_ff00_ffff, page | 0x15],
        7 => [o | 0x000f_ffff_0000_ffff, 0x0000_f1ff_0000_0004],
        8 => [o, 0],
        // Revision 3.x: INSERT_GUEST_EVENT, RESET_VMMIO (all w0[28], vcmd w0[31]).
        9 => [o | 0x0000_ffff_0000_0000, 0],
        10 => [o | 0x9000_ffff, 0],
        _ => return None,
    })
}

fn word() -> impl Strategy<Value = u64> {
    prop_oneof![
        any::<u64>(),
        Just(0u64),
        Just(u64::MAX),
        (0u32..64).prop_map(|b| 1u64 << b)
    ]
}

/// Valid command words of every opcode, with range-encoding edges in w1.
fn valid_words() -> impl Strategy<Value = [u64; 2]> {
    let addr = prop_oneof![
        Just(None),
        Just(Some(0x7fff_ffff_ffff_f001u64)),
        Just(Some(0xffff_ffff_ffff_f001u64)),
        (12u32..64).prop_map(|z| Some((((1u64 << z) - 1) & !0xfff) | 1)),
    ];
    (1u64..=8, word(), word(), addr).prop_map(|(op, w0, w1, a)| {
        let [m0, m1] = defined(op).unwrap_or([0, 0]);
        let w0 = (w0 & m0 & !(0xf << 60)) | (op << 60);
        let mut w1 = w1 & m1;
        if let (Some(a), true) = (a, matches!(op, 3 | 4 | 6)) {
            w1 = (w1 & 0xfff) | a;
        }
        [w0, w1]
    })
}

fn topo() -> Topology {
    Topology::from_json(
        r#"{
      "domains": [{"id": 1, "amd": {"domain_id": 0}}, {"id": 2, "amd": {"domain_id": 65535}}, {"id": 3, "amd": {"domain_id": 7}}],
      "devices": [
        {"rid": 0, "domain": 1, "ats": false},
        {"rid": 16, "domain": 1, "ats": false, "pasids": [{"pasid": 1}]},
        {"rid": 65535, "domain": 2, "ats": true}
      ]
    }"#,
    )
    .unwrap()
}

fn full_caps() -> Target<AmdVi> {
    Target::new(Features {
        gt_sup: true,
        pasid_bits: 20,
        ats: true,
        ..Features::REV2
    })
    .max_cmds(64)
}

fn lift_all<C: Context>(cmds: &[Command], ctx: &C) -> Vec<Op> {
    let mut ops = Vec::new();
    for c in cmds {
        AmdVi::lift(c, ctx, &mut ops).unwrap();
    }
    ops
}

/// A device-TLB invalidation of one device whose ATS is disabled.
fn no_atc<C: Context>(i: &Inval, ctx: &C) -> bool {
    i.caches.contains(Caches::DEV_TLB)
        && matches!(i.device, DeviceSel::One(d) if !ctx.ats_enabled(d))
}

fn r2<C: Context>(w: [u64; 2], ctx: &C, caps: &Target<AmdVi>) -> Result<(), TestCaseError> {
    let c = Command::decode(&w).unwrap();
    let mut ops = Vec::new();
    let lo = match AmdVi::lift(&c, ctx, &mut ops) {
        Ok(o) => o,
        Err(LowerError::NoEquivalent(_)) => {
            // Only a PCIe-reserved PPR status has no generic form.
            prop_assert!(
                matches!(c, Command::CompletePprRequest(p) if !matches!(p.status, 0 | 1 | 0xf))
            );
            return Ok(());
        }
        Err(e) => return Err(TestCaseError::fail(format!("{e:?}"))),
    };
    let mut cmds = Vec::new();
    let mut out = Outcome::default();
    let mut dropped = false;
    for op in &ops {
        let o = match AmdVi::lower(op, &caps.features, caps.budget, ctx, &mut cmds) {
            Ok(o) => o,
            // A host with narrower PASIDs (EFR.PASmax) logs no page request
            // of a wider one, so it has no response to send.
            Err(LowerError::NoEquivalent(_))
                if matches!(op, Op::PageResponse(r)
                    if r.pasid.is_some_and(|p| p >> caps.features.pasid_bits != 0)) =>
            {
                return Ok(())
            }
            Err(e) => return Err(TestCaseError::fail(format!("{op:?}: {e}"))),
        };
        // Only a hint (a prefetch the host cannot name) or the device TLB of a
        // device without ATS may be dropped.
        prop_assert!(
            o.dropped.is_none()
                || matches!(op, Op::Prefetch(_))
                || matches!(op, Op::Inval(i) if no_atc(i, ctx)),
            "{:?}",
            o
        );
        dropped |= o.dropped.is_some();
        out.merge(Outcome { dropped: None, ..o });
    }
    // What must be covered: no device-TLB entries of devices without ATS.
    let required: Vec<Op> = ops
        .iter()
        .map(|op| match op {
            Op::Inval(i) if no_atc(i, ctx) => {
                let mut i = *i;
                i.caches -= Caches::DEV_TLB;
                Op::Inval(i)
            }
            other => *other,
        })
        .collect();
    let before = Footprint::of_ops(&required, ctx);
    let after = Footprint::of_ops(&lift_all(&cmds, ctx), ctx);
    prop_assert!(after.covers(&before), "under: {c:?} -> {cmds:?}");
    if out.widened.is_empty() {
        prop_assert!(after.same_as(&before), "silent widening: {c:?} -> {cmds:?}");
    }
    // Without unknown ids and with a capable host, AMD → generic → AMD is exact.
    let inv_prefetch = matches!(c, Command::PrefetchIommuPages(p) if p.inv);
    // GCR3 entry 0 is shared by requests without PASID and PASID 0 unless
    // the context says PASID 0 is unused: the lift names both, and each
    // lowered alone is a reported superset whose union is exact.
    let shared = ops
        .iter()
        .any(|o| matches!(o, Op::Inval(i) if i.pasid == PasidSel::NoPasid))
        && ops
            .iter()
            .any(|o| matches!(o, Op::Inval(i) if i.pasid == PasidSel::One(0)));
    if shared && lo.is_exact() && *caps == full_caps() {
        prop_assert!(after.same_as(&before), "{c:?} -> {cmds:?}");
    } else if lo.is_exact() && !inv_prefetch && *caps == full_caps() {
        prop_assert!(out.is_exact(), "{c:?} -> {cmds:?} {out:?}");
        // Invalidations come back as the same command (up to ignored fields).
        if c.opcode() != 1 && c.opcode() != 7 && c.opcode() != 6 && !dropped {
            prop_assert_eq!(cmds.len(), 1);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn r1_valid_words_round_trip(w in valid_words()) {
        let c = Command::decode(&w).unwrap();
        prop_assert_eq!(c.encode(), w);
        prop_assert!(c.check().is_ok());
        let mut fields = Vec::new();
        c.for_each_field(&mut |n, v| fields.push((n, v)));
        prop_assert_eq!(Command::from_fields(c.op(), &mut fields.iter().copied(), 2), Ok(c));
        for (_, v) in fields {
            prop_assert!(matches!(v, FieldValue::Bool(_) | FieldValue::Uint(_)));
        }
    }

    #[test]
    fn r1_any_words_never_panic(w0 in word(), w1 in word(), op in 0u64..16) {
        for w in [[w0, w1], [(w0 & !(0xf << 60)) | (op << 60), w1]] {
            match Command::decode(&w) {
                Ok(c) => prop_assert_eq!(c.encode(), w),
                Err(e) => match defined(w[0] >> 60) {
                    None => prop_assert_eq!(e.kind, ErrorKind::UnknownOpcode),
                    Some([m0, m1]) => {
                        prop_assert_eq!(e.kind, ErrorKind::ReservedBits);
                        let bad = if w[0] & !m0 != 0 { (0, w[0] & !m0) } else { (1, w[1] & !m1) };
                        prop_assert_eq!((e.word, e.mask), bad);
                    }
                },
            }
        }
    }

    #[test]
    fn r2_identity(w in valid_words()) {
        r2(w, &IdentityContext, &full_caps())?;
        r2(w, &IdentityContext, &Target::<AmdVi>::default())?;
    }

    #[test]
    fn r2_topology(w in valid_words()) {
        let t = topo();
        r2(w, &t, &full_caps())?;
        r2(w, &t, &Target::<AmdVi>::new(Features { pasid_bits: 8, ..Features::REV2 }).max_cmds(1))?;
    }
}

fn range_s() -> impl Strategy<Value = AddrRange> {
    prop_oneof![
        Just(AddrRange::All),
        (any::<u64>(), any::<u64>())
            .prop_map(|(a, b)| AddrRange::inclusive(a.min(b), a.max(b)).unwrap()),
        (any::<u64>(), 1u64..0x40_0000).prop_map(|(a, n)| {
            let a = a & !0xfff & 0x0000_ffff_ffff_ffff;
            AddrRange::new(a, n).unwrap()
        }),
        (0u32..52, any::<u64>()).prop_map(|(o, a)| AddrRange::block(a, o + 12)),
    ]
}

fn inval_s() -> impl Strategy<Value = Inval> {
    let dom = prop_oneof![Just(DomainSel::All), (0u32..5).prop_map(DomainSel::One)];
    let pasid = prop_oneof![
        Just(PasidSel::All),
        Just(PasidSel::NoPasid),
        prop_oneof![0u32..4, Just(0xffff), Just(0x1_0000), Just(0xf_ffff)].prop_map(PasidSel::One)
    ];
    let dev = prop_oneof![
        Just(DeviceSel::All),
        prop_oneof![0u32..20, Just(0xffff), Just(0x1_0000)].prop_map(DeviceSel::One),
        (0u32..40, 0u32..40).prop_map(|(a, b)| DeviceSel::Range { first: a, last: b }),
    ];
    let regime = prop_oneof![
        Just(Regime::Guest),
        Just(Regime::Guest),
        Just(Regime::Hyp),
        Just(Regime::Secure)
    ];
    (
        0u8..64,
        regime,
        1u8..4,
        dom,
        pasid,
        dev,
        range_s(),
        any::<bool>(),
    )
        .prop_map(|(c, r, s, d, p, dv, rg, g)| {
            Inval::new(Caches::from_bits_truncate(c))
                .regime(r)
                .stage(Stages::from_bits_truncate(s))
                .domain(d)
                .pasid(p)
                .device(dv)
                .range(rg)
                .global(g)
        })
}

/// What a lowering of `i` must cover on AMD-Vi: its single-regime footprint
/// (secure IOTLB and configuration entries do not exist there), without
/// device TLBs on a host without ATS or of a device whose ATS is disabled.
/// `None` when devices without ATS hide in a range or a domain (not checked).
fn required<C: Context>(i: &Inval, caps: &Target<AmdVi>, ctx: &C) -> Option<Footprint> {
    let mut j = *i;
    if !caps.features.ats {
        j.caches -= Caches::DEV_TLB;
    }
    if j.caches.contains(Caches::DEV_TLB) {
        match (j.device, j.domain) {
            (DeviceSel::One(d), _) if !ctx.ats_enabled(d) => j.caches -= Caches::DEV_TLB,
            (DeviceSel::One(_), _) => {}
            (DeviceSel::Range { first, last }, _) => {
                if (first.min(last)..=first.max(last)).any(|d| !ctx.ats_enabled(d)) {
                    return None;
                }
            }
            (DeviceSel::All, DomainSel::One(d)) => {
                let mut all_ats = true;
                ctx.devices_of_domain(d, &mut |r| all_ats &= ctx.ats_enabled(r));
                if !all_ats {
                    return None;
                }
            }
            (DeviceSel::All, DomainSel::All) => {}
        }
    }
    Some(Footprint::of_inval(&j, ctx).fold_regimes(false))
}

fn r3<C: Context>(i: Inval, ctx: &C, caps: &Target<AmdVi>) -> Result<(), TestCaseError> {
    let mut cmds = Vec::new();
    match AmdVi::lower(&Op::Inval(i), &caps.features, caps.budget, ctx, &mut cmds) {
        Ok(o) => {
            prop_assert_eq!(o.emitted, cmds.len());
            // No secure regime on AMD-Vi, and device TLBs and interrupt
            // entries serve non-secure requests only: a secure invalidation
            // is dropped whole.
            if i.regime == Regime::Secure {
                prop_assert!(cmds.is_empty() && o.dropped.is_some(), "{i:?} -> {cmds:?}");
                prop_assert!(o.widened.is_empty());
            }
            // Only what AMD-Vi lacks may be dropped.
            if o.dropped.is_some() {
                prop_assert!(
                    i.regime == Regime::Secure || i.caches.contains(Caches::DEV_TLB),
                    "{o:?}"
                );
            }
            let Some(asked) = required(&i, caps, ctx) else {
                return Ok(());
            };
            // AMD-Vi has one regime: compare both sides folded into it.
            let got = Footprint::of_ops(&lift_all(&cmds, ctx), ctx).fold_regimes(false);
            prop_assert!(got.covers(&asked), "under: {i:?} -> {cmds:?}");
            if o.widened.is_empty() {
                prop_assert!(got.same_as(&asked), "silent widening: {i:?} -> {cmds:?}");
            }
        }
        Err(e) => {
            prop_assert!(matches!(e, LowerError::NoEquivalent(_)), "{e:?}");
            prop_assert!(i.caches.contains(Caches::DEV_TLB));
            prop_assert!(cmds.is_empty());
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]

    #[test]
    fn r3_lower_then_lift_covers(i in inval_s()) {
        r3(i, &IdentityContext, &Target::<AmdVi>::default())?;
        r3(i, &topo(), &Target::<AmdVi>::new(Features::REV2).max_cmds(3))?;
        r3(i, &IdentityContext, &Target::<AmdVi>::new(Features { gt_sup: false, ats: false, ..Features::REV2 }))?;
    }

    /// Device TLBs and interrupt entries are not regime-tagged: for them a
    /// `Hyp` invalidation lowers exactly as the `Guest` one.
    #[test]
    fn hyp_is_guest_for_device_tlb_and_interrupts(i in inval_s(), k in 1u8..4) {
        let mut caches = i.caches & Caches::LEAF;
        if k & 1 != 0 {
            caches |= Caches::DEV_TLB;
        }
        if k & 2 != 0 {
            caches |= Caches::INTR_REMAP;
        }
        let i = Inval { caches, ..i };
        for (ctx, caps) in [
            (&topo() as &dyn Context, Target::<AmdVi>::default()),
            (&IdentityContext as &dyn Context, Target::<AmdVi>::new(Features::REV2).max_cmds(3)),
        ] {
            let (mut g, mut h) = (Vec::new(), Vec::new());
            let rg = AmdVi::lower(&Op::Inval(i.regime(Regime::Guest)), &caps.features, caps.budget, ctx, &mut g);
            let rh = AmdVi::lower(&Op::Inval(i.regime(Regime::Hyp)), &caps.features, caps.budget, ctx, &mut h);
            prop_assert_eq!(rg, rh);
            prop_assert_eq!(g, h);
        }
    }
}
