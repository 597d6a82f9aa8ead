//! Property tests: R1 (bytes) for every opcode and any 128-bit input, R2
//! (same-architecture footprint) with the identity context and a topology,
//! and R3-style coverage for generic invalidations.

use iommu_inval_arm::*;
use iommu_inval_core::arch::Arch;
use iommu_inval_core::arch::Target;
use iommu_inval_core::context::Topology;
use iommu_inval_core::footprint::Footprint;
use iommu_inval_core::model::*;
use iommu_inval_core::Flags;
use iommu_inval_core::{Context, IdentityContext, NativeCommand};
use proptest::prelude::*;

/// Raw values biased to edges.
fn edgy() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        Just(u64::MAX),
        any::<u64>(),
        (0u32..64).prop_map(|b| 1u64 << b)
    ]
}

fn valid_cmd() -> impl Strategy<Value = Command> {
    let names = Command::op_names();
    (0..names.len(), edgy(), edgy()).prop_map(move |(i, a, b)| {
        let w = valid_words(names[i], a, b).unwrap();
        Command::decode(&w).unwrap_or_else(|e| panic!("{} {w:#x?}: {e}", names[i]))
    })
}

const TOPO: &str = r#"{
  "domains": [
    {"id": 1, "smmuv3": {"vmid": 1}},
    {"id": 2, "smmuv3": {"vmid": 0}},
    {"id": 7, "smmuv3": {"vmid": 65535}}
  ],
  "devices": [
    {"rid": 0, "domain": 2, "ats": true, "pasids": [{"pasid": 0, "asid": 0}]},
    {"rid": 16, "domain": 1, "ats": true, "pasids": [{"pasid": 1, "asid": 5}, {"pasid": 9, "asid": 5}]},
    {"rid": 17, "domain": 1, "ats": false, "pasids": [{"pasid": 2, "asid": 6}]},
    {"rid": 4294967295, "domain": 7, "ats": true, "pasids": [{"pasid": 1048575, "asid": 65535}]}
  ]
}"#;

fn lifted(c: &Command, ctx: &dyn Context) -> (Vec<Op>, Outcome) {
    let mut ops = Vec::new();
    let o = Smmuv3::lift(c, ctx, &mut ops).unwrap_or_default();
    (ops, o)
}

/// R2: lift, lower with default caps, lift again; same footprint, or a
/// covering one when the lowering reported widening.
fn r2(c: &Command, ctx: &dyn Context) -> Result<(), TestCaseError> {
    let (ops, _) = lifted(c, ctx);
    let before = Footprint::of_ops(&ops, ctx);
    let mut cmds = Vec::new();
    let mut widened = Widened::empty();
    let mut dropped = false;
    for op in &ops {
        match Smmuv3::lower(
            op,
            &Features::LATEST,
            Smmuv3::DEFAULT_BUDGET,
            ctx,
            &mut cmds,
        ) {
            Ok(o) => {
                widened |= o.widened;
                dropped |= o.dropped.is_some();
            }
            Err(e) => return Err(TestCaseError::fail(format!("{c:?}: lower {op:?}: {e}"))),
        }
    }
    let mut again = Vec::new();
    for d in &cmds {
        again.extend(lifted(d, ctx).0);
    }
    let after = Footprint::of_ops(&again, ctx);
    if dropped {
        // Devices without ATS: only what exists must go.
        return Ok(());
    }
    if widened.is_empty() {
        prop_assert!(
            after.same_as(&before),
            "{c:?}\n -> {cmds:?}\n widened {widened:?}"
        );
    } else {
        prop_assert!(after.covers(&before), "{c:?}\n -> {cmds:?}");
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// R1 for valid commands of every opcode.
    #[test]
    fn r1_valid_round_trip(c in valid_cmd()) {
        let w = c.encode();
        prop_assert_eq!(Command::decode(&w), Ok(c));
        prop_assert_eq!(c.validate().map(|()| c.encode()), Ok(w));
        // Named fields round-trip too.
        let mut f = Vec::new();
        c.for_each_field(&mut |n, v| f.push((n, v)));
        prop_assert_eq!(<Command as NativeCommand>::from_fields(c.op(), &mut f.into_iter(), 2), Ok(c));
    }

    /// R1 for any input: an error or exact bytes, never a panic.
    #[test]
    fn r1_any_input(w0 in any::<u64>(), w1 in any::<u64>(), op in any::<u8>(), fix_op in any::<bool>()) {
        let w = if fix_op { [(w0 & !0xff) | u64::from(op % 0x47), w1] } else { [w0, w1] };
        if let Ok(c) = Command::decode(&w) {
            prop_assert_eq!(c.encode(), w);
        }
    }

    /// R1 near-valid: one bit flipped in a valid command.
    #[test]
    fn r1_bit_flips(c in valid_cmd(), bit in 0u32..128) {
        let mut w = c.encode();
        w[(bit / 64) as usize] ^= 1u64 << (bit % 64);
        match Command::decode(&w) {
            Ok(d) => prop_assert_eq!(d.encode(), w),
            Err(e) => prop_assert!(e.word <= 1),
        }
    }

    /// R2 with the identity context.
    #[test]
    fn r2_identity(c in valid_cmd()) {
        r2(&c, &IdentityContext)?;
    }

    /// R2 with a topology (known and unknown VMIDs, ASIDs, devices).
    #[test]
    fn r2_topology(c in valid_cmd()) {
        let t = Topology::from_json(TOPO).unwrap();
        r2(&c, &t)?;
    }
}

fn small_range() -> impl Strategy<Value = AddrRange> {
    prop_oneof![
        Just(AddrRange::All),
        (any::<u64>(), 1u64..0x40_0000)
            .prop_map(|(a, s)| { AddrRange::new(a & 0x000f_ffff_ffff_ffff, s).unwrap() }),
        (0u64..16, 0u32..40).prop_map(|(p, o)| AddrRange::new(p << 12, 1u64 << o).unwrap()),
        Just(AddrRange::Span {
            first: u64::MAX - 0xfff,
            last: u64::MAX
        }),
    ]
}

fn inval() -> impl Strategy<Value = Inval> {
    (
        (1u8..32, 0u8..4, 1u8..4, any::<bool>()),
        prop_oneof![Just(DomainSel::All), (0u32..3).prop_map(DomainSel::One)],
        prop_oneof![
            Just(PasidSel::All),
            Just(PasidSel::NoPasid),
            (0u32..12).prop_map(PasidSel::One)
        ],
        prop_oneof![
            (0u32..20).prop_map(DeviceSel::One),
            (0u32..40, 0u32..40).prop_map(|(a, b)| DeviceSel::Range { first: a, last: b })
        ],
        small_range(),
        (
            prop_oneof![Just(0u8), Just(12), Just(14), Just(16)],
            0u8..4,
            any::<bool>(),
            prop_oneof![Just(0u8), Just(12), Just(13), Just(16), Just(21)],
        ),
    )
        .prop_map(
            |(
                (caches, regime, stages, leaf),
                domain,
                pasid,
                device,
                range,
                (tg, level, global, leaf_shift),
            )| {
                let mut c = Caches::from_bits_truncate(caches & 0x0f);
                if leaf {
                    c |= Caches::LEAF;
                }
                Inval::new(c)
                    .regime(
                        [Regime::Guest, Regime::Guest, Regime::Hyp, Regime::Secure]
                            [usize::from(regime)],
                    )
                    .stage(Stages::from_bits_truncate(stages))
                    .domain(domain)
                    .pasid(pasid)
                    .device(device)
                    .range(range)
                    .global(global)
                    .hints(Hints {
                        tg_shift: tg,
                        level,
                        leaf_shift,
                        ..Hints::default()
                    })
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    /// R3 on SMMUv3's own regimes: Smmuv3::lift(Smmuv3::lower(g)) covers g; exact when
    /// nothing was reported widened or dropped.
    #[test]
    fn r3_lower_then_lift_covers(i in inval(), range_inval in any::<bool>(), max_cmds in 1usize..80) {
        let caps = Target::<Smmuv3>::new(Features { ril: range_inval, ..Features::LATEST }).max_cmds(max_cmds);
        let t = Topology::from_json(TOPO).unwrap();
        for ctx in [&IdentityContext as &dyn Context, &t] {
            let mut cmds = Vec::new();
            let o = match Smmuv3::lower(&Op::Inval(i), &caps.features, caps.budget, ctx, &mut cmds) {
                Ok(o) => o,
                // Device TLBs of unknown device sets have no SMMUv3 form.
                Err(_) => continue,
            };
            prop_assert_eq!(o.emitted, cmds.len());
            let mut ops = Vec::new();
            for c in &cmds {
                ops.extend(lifted(c, ctx).0);
            }
            // What SMMUv3 has: no stage 2 and no configuration outside the
            // guest and secure regimes (reported as dropped).
            let mut have = i;
            if i.regime != Regime::Guest && i.caches.contains(Caches::IOTLB) && i.stages.contains(Stages::S2) {
                have.stages -= Stages::S2;
                if have.stages.is_empty() {
                    have.caches -= Caches::IOTLB;
                }
            }
            if i.regime == Regime::Hyp {
                have.caches -= Caches::CONFIG;
            }
            // Device TLBs hold no Secure entries (IHI0070 §3.9): dropped.
            if i.regime == Regime::Secure {
                have.caches -= Caches::DEV_TLB;
            }
            if have != i {
                prop_assert!(o.dropped.is_some(), "unreported drop {i:?} {o:?}");
            }
            // Devices without ATS have no device TLB (rid 17 of the topology).
            let no_ats = match i.device.interval() {
                Some((a, b)) => (a.min(b)..=a.max(b)).any(|d| !ctx.ats_enabled(d)),
                None => true,
            };
            if no_ats {
                have.caches -= Caches::DEV_TLB;
            }
            let want = Footprint::of_inval(&have, ctx);
            let mut got = Footprint::of_ops(&ops, ctx);
            if o.widened.contains(Widened::LEAF_HINT) {
                // One tg = 0 command per hinted leaf: judged with those leaves.
                prop_assert!(!caps.features.ril && i.hints.leaf_shift > 12, "{i:?} {o:?}");
                got = got.assuming_leaves(i.hints.leaf_shift);
            }
            prop_assert!(got.covers(&want), "{i:?}\n -> {cmds:?}\n {o:?}");
            if o.widened.is_empty() && !no_ats {
                prop_assert!(want.covers(&got), "unreported widening {i:?}\n -> {cmds:?}");
            }
            let mut n = 0;
            for c in &cmds {
                if !matches!(c, Command::CmdSync(_)) {
                    n += 1;
                }
            }
            // Each cache group stays within the cap (STE blocks: one command per block).
            prop_assert!(n <= 3 * caps.budget.cap().max(16) + 64, "{n} commands");
        }
    }
}

fn any_range() -> impl Strategy<Value = AddrRange> {
    prop_oneof![
        Just(AddrRange::All),
        (any::<u64>(), any::<u64>()).prop_map(|(a, b)| AddrRange::Span {
            first: a.min(b),
            last: a.max(b)
        }),
        small_range(),
    ]
}

fn any_op() -> impl Strategy<Value = Op> {
    let inval = (
        (any::<u8>(), 0u8..3, any::<u8>(), any::<bool>()),
        prop_oneof![Just(DomainSel::All), any::<u32>().prop_map(DomainSel::One)],
        prop_oneof![
            Just(PasidSel::All),
            Just(PasidSel::NoPasid),
            any::<u32>().prop_map(PasidSel::One)
        ],
        prop_oneof![
            Just(DeviceSel::All),
            any::<u32>().prop_map(DeviceSel::One),
            (any::<u32>(), any::<u32>()).prop_map(|(a, b)| DeviceSel::Range { first: a, last: b })
        ],
        any_range(),
        (any::<u8>(), any::<u8>(), any::<u8>()),
    )
        .prop_map(
            |((c, r, s, g), domain, pasid, device, range, (leaf_shift, tg_shift, level))| {
                Op::Inval(
                    Inval::new(Caches::from_bits_truncate(c))
                        .regime([Regime::Guest, Regime::Hyp, Regime::Secure][usize::from(r)])
                        .stage(Stages::from_bits_truncate(s))
                        .domain(domain)
                        .pasid(pasid)
                        .device(device)
                        .range(range)
                        .global(g)
                        .hints(Hints {
                            leaf_shift,
                            tg_shift,
                            level,
                            ..Hints::default()
                        }),
                )
            },
        );
    let sync = (
        any::<[bool; 5]>(),
        any::<u64>(),
        any::<u64>(),
        any::<u8>(),
        any::<u8>(),
    )
        .prop_map(|(b, address, data, msi_msh, msi_attr)| {
            Op::Sync(Barrier {
                interrupt: b[0],
                store: if b[1] {
                    Some(Store { address, data })
                } else {
                    None
                },
                sev: b[2],
                fence: b[3],
                drain_page_requests: b[4],
                msi_msh,
                msi_attr,
            })
        });
    let other = (
        any::<u32>(),
        any::<Option<u32>>(),
        any::<bool>(),
        proptest::option::of(any_range()),
        any::<[u8; 3]>(),
        any::<u16>(),
    )
        .prop_map(
            |(device, pasid, secure, range, [size, stride, count], prg)| {
                if secure {
                    Op::Prefetch(Prefetch {
                        device,
                        pasid,
                        secure,
                        range,
                        size,
                        stride,
                        count,
                    })
                } else {
                    Op::PageResponse(PageResponse {
                        device,
                        pasid,
                        prg_index: prg,
                        code: [RespCode::Success, RespCode::Invalid, RespCode::Failure]
                            [usize::from(size % 3)],
                        last: stride & 1 != 0,
                        priv_data: if count & 1 != 0 { Some([1, 2]) } else { None },
                        guest: false,
                    })
                }
            },
        );
    prop_oneof![6 => inval, 2 => sync, 2 => other]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]

    /// Any op, any caps: no panic; every command emitted is valid and counted.
    #[test]
    fn lower_any_op_any_caps(op in any_op(), caps in (any::<[bool; 4]>(), any::<[u8; 3]>(), 0usize..100)) {
        let ([range_inval, ats, stage1, stage2], [asid_bits, vmid_bits, ssid_bits], max_cmds) = caps;
        let caps = Target::<Smmuv3>::new(Features { ril: range_inval, ats, s1p: stage1, s2p: stage2, asid_bits, vmid_bits, ssid_bits, ..Features::LATEST }).max_cmds(max_cmds);
        let mut out = Vec::new();
        if let Ok(o) = Smmuv3::lower(&op, &caps.features, caps.budget, &IdentityContext, &mut out) {
            prop_assert_eq!(o.emitted, out.len());
            for c in &out {
                prop_assert_eq!(c.validate().map(|()| c.encode()).map(|_| ()), Ok(()), "{:?} from {:?}", c, op);
            }
            // Bounded: a range never takes more than the cap per stage, a
            // device set more than the cap per cache group (plus syncs).
            prop_assert!(out.len() <= 4 * (caps.budget.cap() * 16 + 3), "{} commands", out.len());
        }
    }
}
