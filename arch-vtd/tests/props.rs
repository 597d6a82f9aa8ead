//! Property tests over every descriptor type and both widths:
//! R1 (bytes) and R2 (same-architecture footprint round trip).
#![cfg(feature = "std")]

use iommu_inval_core::arch::Arch;
use iommu_inval_core::arch::Target;
use iommu_inval_core::context::Topology;
use iommu_inval_core::footprint::Footprint;
use iommu_inval_core::model::Op;
use iommu_inval_core::native::{FieldValue, NativeCommand};
use iommu_inval_core::Flags;
use iommu_inval_core::{Context, IdentityContext};
use iommu_inval_vtd::*;
use proptest::prelude::*;

/// A field of `bits` bits, biased to its edges.
fn edge(bits: u32) -> BoxedStrategy<u64> {
    let max = if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    prop_oneof![Just(0u64), Just(max), Just(1 & max), (0..=max)].boxed()
}

/// Page addresses, biased to range-encoding edges.
fn addr() -> BoxedStrategy<u64> {
    prop_oneof![
        Just(0u64),
        Just(!0xfffu64),
        Just(0x7fff_ffff_ffff_f000u64),
        (12u32..=62, any::<u64>())
            .prop_map(|(z, b)| (b & !((1u64 << (z + 1)) - 1)) | (((1u64 << z) - 1) & !0xfff)),
        any::<u64>().prop_map(|a| a & !0xfff),
    ]
    .boxed()
}

fn valid_cmd() -> impl Strategy<Value = Command> {
    let cc = (
        prop_oneof![Just(1u8), Just(2), Just(3)],
        edge(16),
        edge(16),
        edge(2),
        any::<bool>(),
    )
        .prop_map(|(g, did, sid, fm, wide)| {
            Command::CcInv(CcInv {
                g,
                did: did as u16,
                sid: sid as u16,
                fm: fm as u8,
                wide,
            })
        });
    let iotlb = (1u8..=3, any::<[bool; 4]>(), edge(16), edge(6), addr()).prop_map(
        |(g, b, did, am, address)| {
            Command::IotlbInv(IotlbInv {
                g,
                dw: b[0],
                dr: b[1],
                did: did as u16,
                am: am as u8,
                ih: b[2],
                address,
                wide: b[3],
            })
        },
    );
    let dev = (edge(16), edge(5), edge(16), any::<[bool; 2]>(), addr()).prop_map(
        |(pfsid, mip, sid, b, address)| {
            Command::DevTlbInv(DevTlbInv {
                pfsid: pfsid as u16,
                mip: mip as u8,
                sid: sid as u16,
                s: b[0],
                address,
                wide: b[1],
            })
        },
    );
    let iec = (any::<[bool; 2]>(), edge(5), edge(16)).prop_map(|(b, im, iidx)| {
        Command::IecInv(IecInv {
            g: b[0],
            im: im as u8,
            iidx: iidx as u16,
            wide: b[1],
        })
    });
    let wait = (any::<[bool; 5]>(), edge(32), edge(64)).prop_map(|(b, data, a)| {
        Command::InvWait(InvWait {
            r#if: b[0],
            sw: b[1],
            r#fn: b[2],
            pd: b[3],
            status_data: data as u32,
            status_address: a & !3,
            wide: b[4],
        })
    });
    let piotlb = (
        2u8..=3,
        edge(16),
        edge(20),
        edge(6),
        any::<[bool; 2]>(),
        addr(),
    )
        .prop_map(|(g, did, pasid, am, b, address)| {
            Command::PIotlbInv(PIotlbInv {
                g,
                did: did as u16,
                pasid: pasid as u32,
                am: am as u8,
                ih: b[0],
                address,
                wide: b[1],
            })
        });
    let pc = (
        prop_oneof![Just(0u8), Just(1), Just(3)],
        edge(16),
        edge(20),
        any::<bool>(),
    )
        .prop_map(|(g, did, pasid, wide)| {
            Command::PcInv(PcInv {
                g,
                did: did as u16,
                pasid: pasid as u32,
                wide,
            })
        });
    let pdev = (
        edge(5),
        edge(16),
        edge(16),
        edge(20),
        any::<[bool; 3]>(),
        addr(),
    )
        .prop_map(|(mip, pfsid, sid, pasid, b, address)| {
            Command::PDevTlbInv(PDevTlbInv {
                mip: mip as u8,
                pfsid: pfsid as u16,
                sid: sid as u16,
                pasid: pasid as u32,
                g: b[0],
                s: b[1],
                address,
                wide: b[2],
            })
        });
    let pgr = (
        any::<[bool; 4]>(),
        prop_oneof![Just(0u8), Just(1), Just(0xf), 2u8..=0xe],
        edge(16),
        edge(20),
        edge(9),
        any::<bool>(),
        any::<[u64; 2]>(),
    )
        .prop_map(|(b, resp_code, rid, pasid, prg, wide, pd)| {
            Command::PageGrpResp(PageGrpResp {
                pasid_present: b[0],
                priv_data_present: b[1],
                resp_code,
                rid: rid as u16,
                pasid: pasid as u32,
                lpig: b[2],
                prg_index: prg as u16,
                priv_data: if wide { Some(pd) } else { None },
            })
        });
    prop_oneof![cc, iotlb, dev, iec, wait, piotlb, pc, pdev, pgr]
}

/// Raw words with a valid type most of the time.
fn raw_words() -> impl Strategy<Value = Vec<u64>> {
    (
        any::<[u64; 4]>(),
        0u8..=0x7f,
        any::<bool>(),
        any::<bool>(),
        any::<u8>(),
    )
        .prop_map(|(mut w, t, typed, wide, sparse)| {
            if typed {
                w[0] = (w[0] & !0xe0f) | u64::from(t % 10);
            }
            // Sparse words hit valid descriptors more often.
            if sparse & 1 == 1 {
                w[0] &= 0x0000_ffff_ffff_00ff;
                w[1] &= !0xf80;
                w[2] = 0;
                w[3] = 0;
            }
            w[..if wide { 4 } else { 2 }].to_vec()
        })
}

fn topo() -> Topology {
    Topology::from_json(
        r#"{"domains": [{"id": 1, "vtd": {"did": 0}}, {"id": 2, "vtd": {"did": 65535}}, {"id": 3, "vtd": {"did": 1}}],
            "devices": [{"rid": 0, "domain": 1, "ats": true}, {"rid": 1, "domain": 1, "ats": false},
                        {"rid": 65535, "domain": 2, "ats": true}, {"rid": 8, "domain": 3}]}"#,
    )
    .unwrap()
}

/// R2: Vtd::lift(Vtd::lower(Vtd::lift(d))) has the footprint of Vtd::lift(d), or covers it when
/// the lowering reported widening.
fn r2(c: &Command, ctx: &dyn Context, caps: &Target<Vtd>) -> Result<(), TestCaseError> {
    let mut ops: Vec<Op> = Vec::new();
    match Vtd::lift(c, ctx, &mut ops) {
        // Reserved PRG response codes are valid descriptors without a generic form.
        Err(iommu_inval_core::LowerError::NoEquivalent(_)) if matches!(c, Command::PageGrpResp(p) if (2..=0xe).contains(&p.resp_code)) => {
            return Ok(())
        }
        r => r.map_err(|e| TestCaseError::fail(format!("lift: {e}")))?,
    };
    let f0 = Footprint::of_ops(ops.iter(), ctx);
    let mut cmds = Vec::new();
    let mut widened = false;
    for op in &ops {
        let o = Vtd::lower(op, &caps.features, caps.budget, ctx, &mut cmds)
            .map_err(|e| TestCaseError::fail(format!("lower {op:?}: {e}")))?;
        prop_assert!(o.dropped.is_none(), "dropped {:?}", o.dropped);
        widened |= !o.widened.is_empty();
    }
    let mut ops2: Vec<Op> = Vec::new();
    for d in &cmds {
        prop_assert_eq!(d.is_wide(), caps.features.dw);
        Vtd::lift(d, ctx, &mut ops2).map_err(|e| TestCaseError::fail(format!("relift: {e}")))?;
    }
    let f1 = Footprint::of_ops(ops2.iter(), ctx);
    prop_assert!(f1.covers(&f0), "under-invalidation: {c:?} -> {cmds:?}");
    if !widened {
        prop_assert!(f0.covers(&f1), "unreported widening: {c:?} -> {cmds:?}");
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn r1_valid_fields_roundtrip(c in valid_cmd()) {
        let w = c.encode();
        let n = c.words();
        prop_assert_eq!(n, if c.is_wide() { 4 } else { 2 });
        let d = Command::decode(&w[..n]);
        prop_assert_eq!(d, Ok(c));
        // Named fields round trip too.
        let mut fields: Vec<(&str, FieldValue)> = Vec::new();
        c.for_each_field(&mut |name, v| fields.push((name, v)));
        let back = Command::from_fields(c.op(), &mut fields.iter().copied(), n);
        prop_assert_eq!(back, Ok(c));
    }

    #[test]
    fn r1_any_words_never_panic(w in raw_words()) {
        if let Ok(c) = Command::decode(&w) {
            prop_assert_eq!(c.words(), w.len());
            prop_assert_eq!(&c.encode()[..w.len()], &w[..]);
        }
    }

    #[test]
    fn r2_identity_context(c in valid_cmd(), wide in any::<bool>()) {
        // Private data needs a 256-bit queue; everything else lowers to either width.
        let caps = Target::<Vtd>::new(Features { dw: wide || c.is_wide(), ..Features::SCALABLE });
        r2(&c, &IdentityContext, &caps)?;
    }

    #[test]
    fn r2_topology(c in valid_cmd()) {
        r2(&c, &topo(), &Target::<Vtd>::default())?;
    }
}

fn generic_inval() -> impl Strategy<Value = iommu_inval_core::model::Inval> {
    use iommu_inval_core::model::*;
    let dom = prop_oneof![
        Just(DomainSel::All),
        (0u32..4).prop_map(DomainSel::One),
        Just(DomainSel::One(0x1_0000))
    ];
    let pasid = prop_oneof![
        Just(PasidSel::All),
        Just(PasidSel::NoPasid),
        (0u32..4).prop_map(PasidSel::One),
        Just(PasidSel::One(0xfffff)),
        Just(PasidSel::One(1 << 20))
    ];
    let dev = prop_oneof![
        Just(DeviceSel::All),
        (0u32..20).prop_map(DeviceSel::One),
        (0u32..40, 0u32..40).prop_map(|(a, b)| DeviceSel::Range {
            first: a.min(b),
            last: a.max(b)
        }),
    ];
    let range = prop_oneof![
        Just(AddrRange::All),
        (any::<u64>(), 0u64..0x40_0000)
            .prop_map(|(a, n)| AddrRange::new(a & 0xffff_ffff, n + 1).unwrap()),
        (0u64..0x2_0000, 0u64..0x100).prop_map(|(a, n)| AddrRange::new(a, n + 1).unwrap()),
        (any::<u64>(), any::<u64>())
            .prop_map(|(a, b)| AddrRange::inclusive(a.min(b), a.max(b)).unwrap()),
    ];
    let regime = prop_oneof![Just(Regime::Guest), Just(Regime::Guest), Just(Regime::Hyp)];
    (
        0u8..64,
        1u8..4,
        dom,
        pasid,
        dev,
        range,
        regime,
        any::<bool>(),
    )
        .prop_map(
            |(caches, stages, domain, pasid, device, range, regime, global)| Inval {
                caches: Caches::from_bits_truncate(caches),
                regime,
                stages: Stages::from_bits_truncate(stages),
                domain,
                pasid,
                global,
                device,
                range,
                hints: Hints::default(),
            },
        )
}

/// R3 for this crate's lowering: Vtd::lift(Vtd::lower(g)) covers g, and equals it
/// when no widening was reported.
fn r3(
    i: &iommu_inval_core::model::Inval,
    ctx: &dyn Context,
    caps: &Target<Vtd>,
) -> Result<(), TestCaseError> {
    let op = Op::Inval(*i);
    let mut cmds = Vec::new();
    let o = match Vtd::lower(&op, &caps.features, caps.budget, ctx, &mut cmds) {
        Ok(o) => o,
        Err(iommu_inval_core::LowerError::NoEquivalent(_)) => return Ok(()),
        Err(e) => return Err(TestCaseError::fail(format!("{e}"))),
    };
    prop_assert!(o.dropped.is_none());
    let mut ops2: Vec<Op> = Vec::new();
    for d in &cmds {
        Vtd::lift(d, ctx, &mut ops2).map_err(|e| TestCaseError::fail(format!("relift: {e}")))?;
    }
    let mut f_in = Footprint::of_op(&op, ctx).fold_regimes(false);
    // Devices without ATS have no device TLB: the lowering skips them when
    // it enumerates a domain's devices (brief: skip !ats_enabled), and the
    // core footprint drops them from single-device boxes only, so a device
    // range is compared without its non-ATS devices too.
    if i.caches.contains(iommu_inval_core::model::Caches::DEV_TLB) {
        let mut no_ats = Vec::new();
        match (i.device, i.domain) {
            (
                iommu_inval_core::model::DeviceSel::All,
                iommu_inval_core::model::DomainSel::One(d),
            ) => {
                ctx.devices_of_domain(d, &mut |r| {
                    if !ctx.ats_enabled(r) {
                        no_ats.push(r)
                    }
                });
            }
            (iommu_inval_core::model::DeviceSel::Range { first, last }, _) => {
                // Device by device (the core drops non-ATS devices from
                // single-device boxes only). Bounded: more devices than the
                // cap were refused above.
                let per_device: Vec<Op> = (first.min(last)..=first.max(last))
                    .map(|r| {
                        Op::Inval(iommu_inval_core::model::Inval {
                            device: iommu_inval_core::model::DeviceSel::One(r),
                            ..*i
                        })
                    })
                    .collect();
                f_in = Footprint::of_ops(per_device.iter(), ctx).fold_regimes(false);
            }
            _ => {}
        }
        for r in no_ats {
            let gone = iommu_inval_core::model::Inval {
                caches: iommu_inval_core::model::Caches::DEV_TLB,
                device: iommu_inval_core::model::DeviceSel::One(r),
                ..*i
            };
            f_in = f_in.minus(&Footprint::of_inval(&gone, ctx).fold_regimes(false));
        }
    }
    let f_out = Footprint::of_ops(ops2.iter(), ctx).fold_regimes(false);
    prop_assert!(f_out.covers(&f_in), "under-invalidation: {i:?} -> {cmds:?}");
    if o.widened.is_empty() {
        prop_assert!(
            f_in.covers(&f_out),
            "unreported widening: {i:?} -> {cmds:?}"
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn r3_identity(i in generic_inval(), scalable in any::<bool>()) {
        let caps = if scalable { Target::<Vtd>::default() } else { Target::<Vtd>::new(Features { dt: true, ..Features::SCALABLE.in_legacy_mode() }) };
        if !scalable && i.caches.contains(iommu_inval_core::model::Caches::CONFIG_PASID) {
            return Ok(()); // dropped in legacy mode (no PASID cache)
        }
        r3(&i, &IdentityContext, &caps)?;
    }

    #[test]
    fn r3_topology(i in generic_inval()) {
        r3(&i, &topo(), &Target::<Vtd>::default())?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    /// R2 on a legacy-mode host for the descriptors legacy mode has (types 1..=5).
    #[test]
    fn r2_legacy_host(c in valid_cmd()) {
        prop_assume!(c.type_code() <= 5);
        r2(&c.with_width(false), &IdentityContext, &Target::<Vtd>::new(Features::SCALABLE.in_legacy_mode()))?;
        r2(&c.with_width(false), &topo(), &Target::<Vtd>::new(Features::SCALABLE.in_legacy_mode()))?;
    }
}

/// Any field values, including ones wider than their field.
fn any_fields_cmd() -> impl Strategy<Value = Command> {
    (
        0u8..9,
        any::<[u8; 4]>(),
        any::<[u16; 2]>(),
        any::<u32>(),
        any::<[u64; 2]>(),
        any::<[bool; 5]>(),
        any::<Option<[u64; 2]>>(),
    )
        .prop_map(|(k, b, h, p, q, f, pd)| match k {
            0 => Command::CcInv(CcInv {
                g: b[0],
                did: h[0],
                sid: h[1],
                fm: b[1],
                wide: f[0],
            }),
            1 => Command::IotlbInv(IotlbInv {
                g: b[0],
                dw: f[1],
                dr: f[2],
                did: h[0],
                am: b[1],
                ih: f[3],
                address: q[0],
                wide: f[0],
            }),
            2 => Command::DevTlbInv(DevTlbInv {
                pfsid: h[0],
                mip: b[0],
                sid: h[1],
                s: f[1],
                address: q[0],
                wide: f[0],
            }),
            3 => Command::IecInv(IecInv {
                g: f[1],
                im: b[0],
                iidx: h[0],
                wide: f[0],
            }),
            4 => Command::InvWait(InvWait {
                r#if: f[1],
                sw: f[2],
                r#fn: f[3],
                pd: f[4],
                status_data: p,
                status_address: q[0],
                wide: f[0],
            }),
            5 => Command::PIotlbInv(PIotlbInv {
                g: b[0],
                did: h[0],
                pasid: p,
                am: b[1],
                ih: f[1],
                address: q[0],
                wide: f[0],
            }),
            6 => Command::PcInv(PcInv {
                g: b[0],
                did: h[0],
                pasid: p,
                wide: f[0],
            }),
            7 => Command::PDevTlbInv(PDevTlbInv {
                mip: b[0],
                pfsid: h[0],
                sid: h[1],
                pasid: p,
                g: f[1],
                s: f[2],
                address: q[0],
                wide: f[0],
            }),
            _ => Command::PageGrpResp(PageGrpResp {
                pasid_present: f[1],
                priv_data_present: f[2],
                resp_code: b[0],
                rid: h[0],
                pasid: p,
                lpig: f[3],
                prg_index: h[1],
                priv_data: pd,
            }),
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    /// `lift` of a hand-built descriptor is the lift of its bytes: the same
    /// operations as lifting `decode(encode(c))`, and an error exactly when
    /// those bytes do not decode or have no generic form.
    #[test]
    fn lift_reads_what_encode_writes(c in any_fields_cmd()) {
        let w = c.encode();
        let mut a: Vec<Op> = Vec::new();
        let ra = Vtd::lift(&c, &topo(), &mut a);
        match Command::decode(&w[..c.words()]) {
            Ok(d) => {
                let mut b: Vec<Op> = Vec::new();
                let rb = Vtd::lift(&d, &topo(), &mut b);
                prop_assert_eq!(ra, rb);
                prop_assert_eq!(a, b);
            }
            Err(_) => prop_assert!(
                matches!(ra, Err(iommu_inval_core::LowerError::Invalid(_))),
                "{:?} lifted to {:?}", c, ra
            ),
        }
    }
}
