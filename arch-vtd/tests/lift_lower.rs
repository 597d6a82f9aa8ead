//! Known answers for lift and lower, written from the VT-d rules (docs/SPEC.md
//! range semantics, docs/ARCHITECTURE.md translation rules).
#![cfg(feature = "std")]

use iommu_inval_core::arch::{Arch, Target};
use iommu_inval_core::context::Topology;
use iommu_inval_core::footprint::Footprint;
use iommu_inval_core::model::*;
use iommu_inval_core::Flags;
use iommu_inval_core::NativeCommand;
use iommu_inval_core::{Context, IdentityContext, LowerError};
use iommu_inval_vtd::*;

fn lift1(w: &[u64], ctx: &dyn Context) -> (Vec<Op>, Outcome) {
    let c = Command::decode(w).unwrap();
    let mut ops = Vec::new();
    let o = Vtd::lift(&c, ctx, &mut ops).unwrap();
    assert_eq!(o.emitted, ops.len());
    (ops, o)
}

fn inval(op: &Op) -> Inval {
    match op {
        Op::Inval(i) => *i,
        other => panic!("not an inval: {other:?}"),
    }
}

fn lower_v(op: &Op, caps: &Target<Vtd>, ctx: &dyn Context) -> (Vec<Command>, Outcome) {
    let mut out = Vec::new();
    let o = Vtd::lower(op, &caps.features, caps.budget, ctx, &mut out).unwrap();
    assert_eq!(o.emitted, out.len());
    (out, o)
}

fn span(first: u64, last: u64) -> AddrRange {
    AddrRange::inclusive(first, last).unwrap()
}

fn topo() -> Topology {
    Topology::from_json(
        r#"{"domains": [{"id": 1, "vtd": {"did": 7}}, {"id": 2, "vtd": {"did": 9}}],
            "devices": [{"rid": 16, "domain": 1, "ats": true}, {"rid": 17, "domain": 1, "ats": false},
                        {"rid": 32, "domain": 2, "ats": true}]}"#,
    )
    .unwrap()
}

#[test]
fn cc_inv_function_masks_are_exact() {
    let ctx = IdentityContext;
    // fm=1 masks sid[2]: sid 0x0a → {0x0a, 0x0e}.
    let (ops, _) = lift1(&[0x0001_000a_0003_0031, 0], &ctx);
    let devs: Vec<_> = ops.iter().map(|o| inval(o).device).collect();
    assert_eq!(devs, [DeviceSel::One(0x0a), DeviceSel::One(0x0e)]);
    assert!(ops
        .iter()
        .all(|o| inval(o).caches == Caches::CONFIG_DEVICE && inval(o).domain == DomainSel::One(3)));
    // fm=2 masks sid[2:1]: sid 0x0b → {9, 0xb, 0xd, 0xf}.
    let (ops, _) = lift1(&[0x0002_000b_0000_0031, 0], &ctx);
    let devs: Vec<_> = ops.iter().map(|o| inval(o).device).collect();
    assert_eq!(
        devs,
        [
            DeviceSel::One(9),
            DeviceSel::One(0xb),
            DeviceSel::One(0xd),
            DeviceSel::One(0xf)
        ]
    );
    // fm=3 masks sid[2:0]: the aligned 8.
    let (ops, _) = lift1(&[0x0003_000b_0000_0031, 0], &ctx);
    assert_eq!(
        inval(&ops[0]).device,
        DeviceSel::Range { first: 8, last: 15 }
    );
    // Domain-selective and global.
    let (ops, _) = lift1(&[0x0005_0021, 0], &ctx);
    assert_eq!(
        (inval(&ops[0]).domain, inval(&ops[0]).device),
        (DomainSel::One(5), DeviceSel::All)
    );
    let (ops, _) = lift1(&[0x11, 0], &ctx);
    assert_eq!(inval(&ops[0]), Inval::new(Caches::CONFIG_DEVICE));
}

#[test]
fn iotlb_page_selective_aligns_down_and_keeps_leaf() {
    // g=3, did 4, address 0x1234_5000, am 2, ih: 4 pages from 0x1234_4000.
    let (ops, o) = lift1(&[0x0004_0032, 0x1234_5000 | 0x40 | 2], &IdentityContext);
    let i = inval(&ops[0]);
    assert!(o.widened.is_empty());
    assert_eq!(i.caches, Caches::IOTLB | Caches::LEAF);
    assert_eq!(i.stages, Stages::S2);
    assert_eq!(i.domain, DomainSel::One(4));
    assert_eq!(i.range, span(0x1234_4000, 0x1234_7fff));
    // Global: both stages, everything.
    let (ops, _) = lift1(&[0x12 | 0xc0, 0], &IdentityContext);
    let i = inval(&ops[0]);
    assert_eq!(
        (i.caches, i.stages, i.domain, i.range),
        (Caches::IOTLB, Stages::all(), DomainSel::All, AddrRange::All)
    );
    assert!(i.hints.drain_reads && i.hints.drain_writes);
}

#[test]
fn unknown_did_widens_to_all_domains() {
    let (ops, o) = lift1(&[0x0063_0022, 0], &topo()); // DID 0x63 not in the topology
    assert_eq!(inval(&ops[0]).domain, DomainSel::All);
    assert!(o.widened.contains(Widened::DOMAIN));
    let (ops, o) = lift1(&[0x0007_0022, 0], &topo());
    assert_eq!(inval(&ops[0]).domain, DomainSel::One(1));
    assert!(o.widened.is_empty());
}

#[test]
fn device_tlb_size_encoding_and_pasid() {
    // dev_tlb_inv sid 0x10, s=1, address 0x5000: lowest zero bit 13 → 16 KiB at 0x4000.
    let (ops, _) = lift1(&[0x0010_0000_0003, 0x5001], &IdentityContext);
    let i = inval(&ops[0]);
    assert_eq!(
        (i.caches, i.device, i.pasid),
        (Caches::DEV_TLB, DeviceSel::One(0x10), PasidSel::All)
    );
    assert_eq!(i.range, span(0x4000, 0x7fff));
    // p_dev_tlb_inv sid 0x10, pasid 5, g: global entries too; s=0: one page.
    let (ops, _) = lift1(&[0x0000_0005_0010_0008, 0x9000 | 1], &IdentityContext);
    let i = inval(&ops[0]);
    assert_eq!(
        (i.pasid, i.global, i.range),
        (PasidSel::One(5), true, span(0x9000, 0x9fff))
    );
}

#[test]
fn iec_index_mask() {
    // g=1, im=2, iidx 0x13 → entries 0x10..=0x13.
    let (ops, _) = lift1(&[0x0013_1000_0014, 0], &IdentityContext);
    let i = inval(&ops[0]);
    assert_eq!((i.caches, i.range), (Caches::INTR_REMAP, span(0x10, 0x13)));
    // Lowered back: one index-selective descriptor.
    let (cmds, o) = lower_v(
        &ops[0],
        &Target::<Vtd>::new(Features::SCALABLE.in_legacy_mode()),
        &IdentityContext,
    );
    assert!(o.is_exact());
    assert_eq!(
        cmds,
        [Command::IecInv(IecInv {
            g: true,
            im: 2,
            iidx: 0x10,
            wide: false
        })]
    );
}

#[test]
fn inv_wait_and_page_response() {
    let (ops, _) = lift1(&[0x1234_5678_0000_0075, 0x1000_0004], &IdentityContext);
    let Op::Sync(s) = ops[0] else { panic!() };
    assert!(s.interrupt && s.fence && !s.drain_page_requests);
    assert_eq!(
        s.store,
        Some(Store {
            address: 0x1000_0004,
            data: 0x1234_5678
        })
    );
    let (ops, _) = lift1(&[0x0000_0003_0010_1019, 0x8 | 0x4], &IdentityContext);
    let Op::PageResponse(r) = ops[0] else {
        panic!()
    };
    assert_eq!(
        (r.device, r.pasid, r.code, r.prg_index, r.last),
        (0x10, Some(3), RespCode::Invalid, 1, true)
    );
}

#[test]
fn reserved_response_codes_decode_but_do_not_lift() {
    // page_grp_resp_dsc, rid 0x10, resp_code 2h..Eh (PCIe reserved).
    for code in 2u64..=0xe {
        let c = Command::decode(&[0x0010_0009 | code << 12, 0]).unwrap();
        let mut ops: Vec<Op> = Vec::new();
        assert!(
            matches!(
                Vtd::lift(&c, &IdentityContext, &mut ops),
                Err(LowerError::NoEquivalent(r)) if r.contains("reserved response code")
            ),
            "resp_code {code}"
        );
        assert!(ops.is_empty());
    }
    // 0xf (failure) still lifts.
    let (ops, _) = lift1(&[0x0010_f009, 0], &IdentityContext);
    assert!(matches!(ops[0], Op::PageResponse(r) if r.code == RespCode::Failure));
}

#[test]
fn lower_s1_ranges_and_fallbacks() {
    let ctx = IdentityContext;
    let base = Inval::new(Caches::IOTLB)
        .stage(Stages::S1)
        .domain(DomainSel::One(2))
        .pasid(PasidSel::One(1));
    // 0x1000..0x4fff: blocks 0x1000 (1 page), 0x2000 (2 pages), 0x4000 (1 page).
    let (c, o) = lower_v(
        &Op::Inval(base.range(span(0x1000, 0x4fff))),
        &Target::<Vtd>::default(),
        &ctx,
    );
    assert!(o.is_exact());
    // (g, address, am, did, pasid, wide) of each p_iotlb_inv_dsc.
    let p_iotlbs = |c: &[Command]| -> Vec<_> {
        c.iter()
            .map(|c| match c {
                Command::PIotlbInv(d) => (d.g, d.address, d.am, d.did, d.pasid, d.wide),
                _ => panic!("{c:?}"),
            })
            .collect()
    };
    assert_eq!(
        p_iotlbs(&c),
        [
            (3, 0x1000, 0, 2, 1, true),
            (3, 0x2000, 1, 2, 1, true),
            (3, 0x4000, 0, 2, 1, true)
        ]
    );
    // Cap 2: one covering block (0..0x7fff, am 3).
    let caps = Target::<Vtd>::new(Features::SCALABLE).max_cmds(2);
    let (c, o) = lower_v(&Op::Inval(base.range(span(0x1000, 0x4fff))), &caps, &ctx);
    assert!(o.widened.contains(Widened::CAP | Widened::RANGE));
    assert!(matches!(p_iotlbs(&c)[..], [(3, 0, 3, ..)]), "{c:?}");
    // Covering block above MAMV: PASID-selective.
    let caps = Target::<Vtd>::new(Features {
        mamv: 2,
        ..Features::SCALABLE
    })
    .max_cmds(1);
    let (c, _) = lower_v(&Op::Inval(base.range(span(0x1000, 0x4fff))), &caps, &ctx);
    assert!(matches!(p_iotlbs(&c)[..], [(2, _, _, 2, 1, _)]), "{c:?}");
    // All PASIDs of a domain: only the global IOTLB invalidation names them.
    let (c, o) = lower_v(
        &Op::Inval(base.pasid(PasidSel::All)),
        &Target::<Vtd>::default(),
        &ctx,
    );
    assert!(matches!(c[..], [Command::IotlbInv(IotlbInv { g: 1, .. })]));
    assert!(o.widened.contains(Widened::DOMAIN));
    // Legacy mode has no p_iotlb: global.
    let (c, o) = lower_v(
        &Op::Inval(base),
        &Target::<Vtd>::new(Features::SCALABLE.in_legacy_mode()),
        &ctx,
    );
    assert!(matches!(
        c[..],
        [Command::IotlbInv(IotlbInv {
            g: 1,
            wide: false,
            ..
        })]
    ));
    assert!(!o.widened.is_empty());
}

#[test]
fn lower_s2_domain_and_unknown_domain() {
    let op = Inval::new(Caches::IOTLB | Caches::LEAF)
        .stage(Stages::S2)
        .domain(DomainSel::One(1));
    let (c, o) = lower_v(
        &Op::Inval(op.range(span(0x20_0000, 0x3f_ffff))),
        &Target::<Vtd>::default(),
        &topo(),
    );
    assert!(o.is_exact());
    // DID 7 for domain 1; 2 MiB = am 9, leaf only.
    assert_eq!(
        c,
        [Command::IotlbInv(IotlbInv {
            g: 3,
            did: 7,
            am: 9,
            ih: true,
            address: 0x20_0000,
            wide: true,
            ..Default::default()
        })]
    );
    let (c, o) = lower_v(
        &Op::Inval(op.domain(DomainSel::One(99))),
        &Target::<Vtd>::default(),
        &topo(),
    );
    assert!(matches!(c[..], [Command::IotlbInv(IotlbInv { g: 1, .. })]));
    assert!(o.widened.contains(Widened::DOMAIN));
}

#[test]
fn spanning_request_is_ordered_with_waits() {
    let op = Inval::new(Caches::CONFIG_DEVICE | Caches::IOTLB | Caches::DEV_TLB)
        .stage(Stages::S2)
        .domain(DomainSel::One(1))
        .device(DeviceSel::One(16))
        .range(span(0x1000, 0x1fff));
    let (c, _) = lower_v(&Op::Inval(op), &Target::<Vtd>::default(), &topo());
    let kinds: Vec<_> = c.iter().map(|c| c.op()).collect();
    assert_eq!(
        kinds,
        [
            "cc_inv_dsc",
            "inv_wait_dsc",
            "iotlb_inv_dsc",
            "inv_wait_dsc",
            "dev_tlb_inv_dsc",
            "inv_wait_dsc"
        ]
    );
    assert!(matches!(
        c[1],
        Command::InvWait(InvWait {
            r#fn: true,
            sw: false,
            ..
        })
    ));
    assert!(matches!(
        c[0],
        Command::CcInv(CcInv {
            g: 3,
            did: 7,
            sid: 16,
            fm: 0,
            ..
        })
    ));
    // A single cache: no waits.
    let (c, _) = lower_v(
        &Op::Inval(Inval {
            caches: Caches::IOTLB,
            ..op
        }),
        &Target::<Vtd>::default(),
        &topo(),
    );
    assert_eq!(c.len(), 1);
}

#[test]
fn device_tlb_lowering() {
    let ctx = topo();
    let op = Inval::new(Caches::DEV_TLB)
        .domain(DomainSel::One(1))
        .range(span(0x1000, 0x3fff));
    // Devices of domain 1 with ATS: 16 only. Blocks 0x1000 (s=0) and 0x2000..0x3fff (s=1, address 0x2000).
    let (c, o) = lower_v(&Op::Inval(op), &Target::<Vtd>::default(), &ctx);
    assert!(o.is_exact(), "{o:?}");
    assert_eq!(
        c,
        [
            Command::DevTlbInv(DevTlbInv {
                sid: 16,
                s: false,
                address: 0x1000,
                wide: true,
                ..Default::default()
            }),
            Command::DevTlbInv(DevTlbInv {
                sid: 16,
                s: true,
                address: 0x2000,
                wide: true,
                ..Default::default()
            }),
        ]
    );
    // With a PASID: p_dev_tlb_inv, global kept.
    let one = op
        .device(DeviceSel::One(32))
        .pasid(PasidSel::One(4))
        .global(true)
        .range(AddrRange::All);
    let (c, _) = lower_v(&Op::Inval(one), &Target::<Vtd>::default(), &ctx);
    assert_eq!(
        c,
        [Command::PDevTlbInv(PDevTlbInv {
            sid: 32,
            pasid: 4,
            g: true,
            s: true,
            address: 0x7fff_ffff_ffff_f000,
            wide: true,
            ..Default::default()
        })]
    );
    // Every device of an unknown set: VT-d cannot name them.
    let all = Inval::new(Caches::DEV_TLB | Caches::IOTLB);
    let mut out = Vec::new();
    assert!(matches!(
        Vtd::lower(
            &Op::Inval(all),
            &Features::SCALABLE,
            Vtd::DEFAULT_BUDGET,
            &IdentityContext,
            &mut out
        ),
        Err(LowerError::NoEquivalent(_))
    ));
    assert!(out.is_empty(), "nothing emitted before the refusal");
    // No device-TLB support on the host: dropped, reported.
    let caps = Target::<Vtd>::new(Features {
        dt: false,
        ..Features::SCALABLE
    });
    let (c, o) = lower_v(&Op::Inval(op), &caps, &ctx);
    assert!(c.is_empty() && o.dropped.is_some());
}

#[test]
fn non_invalidations() {
    let ctx = IdentityContext;
    let caps = Target::<Vtd>::default();
    let mut out = Vec::new();
    let sync = |store| {
        Op::Sync(Barrier {
            store,
            ..Barrier::default()
        })
    };
    // A store VT-d cannot write (unaligned, 64-bit data), SEV, stalls.
    for op in [
        sync(Some(Store {
            address: 0x1002,
            data: 1,
        })),
        sync(Some(Store {
            address: 0x1000,
            data: 1 << 32,
        })),
        Op::Sync(Barrier {
            sev: true,
            ..Barrier::default()
        }),
        Op::StallTerminate { device: 1 },
        Op::Resume {
            device: 1,
            stag: 2,
            action: StallAction::Retry,
        },
    ] {
        let r = Vtd::lower(&op, &caps.features, caps.budget, &ctx, &mut out);
        assert!(
            matches!(r, Err(LowerError::NoEquivalent(_))),
            "{op:?}: {r:?}"
        );
    }
    let pf = Prefetch {
        device: 1,
        ..Prefetch::default()
    };
    let o = Vtd::lower(
        &Op::Prefetch(pf),
        &caps.features,
        caps.budget,
        &ctx,
        &mut out,
    )
    .unwrap();
    assert_eq!((o.emitted, o.dropped.is_some()), (0, true));
    let sec = Inval::new(Caches::IOTLB).regime(Regime::Secure);
    let o = Vtd::lower(&Op::Inval(sec), &caps.features, caps.budget, &ctx, &mut out).unwrap();
    assert_eq!((o.emitted, o.dropped.is_some()), (0, true));
    assert!(out.is_empty());
    let (c, _) = lower_v(
        &sync(Some(Store {
            address: 0x1004,
            data: 0xffff_ffff,
        })),
        &caps,
        &ctx,
    );
    assert_eq!(c[0].encode(), [0xffff_ffff_0000_0025, 0x1004, 0, 0]);
    let resp = PageResponse {
        device: 3,
        pasid: None,
        prg_index: 5,
        code: RespCode::Success,
        last: true,
        priv_data: Some([1, 2]),
        guest: false,
    };
    assert!(matches!(
        Vtd::lower(
            &Op::PageResponse(resp),
            &(Target::<Vtd>::new(Features::SCALABLE.in_legacy_mode())).features,
            (Target::<Vtd>::new(Features::SCALABLE.in_legacy_mode())).budget,
            &ctx,
            &mut out
        ),
        Err(LowerError::NoEquivalent(_))
    ));
    let (c, _) = lower_v(&Op::PageResponse(resp), &caps, &ctx);
    // priv_data_present <<5 | rid 3 <<16; lpig <<2 | prg_index 5 <<3
    assert_eq!(c[0].encode(), [0x0003_0029, 0x2c, 1, 2]);
}

#[test]
fn footprint_is_that_of_the_lift() {
    let c = Command::decode(&[0x0004_0022, 0]).unwrap();
    let f = Vtd::footprint(&c, &IdentityContext);
    let want = Inval::new(Caches::IOTLB)
        .stage(Stages::S2)
        .domain(DomainSel::One(4));
    assert!(f.same_as(&Footprint::of_inval(&want, &IdentityContext)));
    // Domain-selective S2 does not cover first-stage (PASID) entries of the domain.
    let s1 = Inval::new(Caches::IOTLB)
        .stage(Stages::S1)
        .domain(DomainSel::One(4))
        .pasid(PasidSel::One(1));
    assert!(!f.covers(&Footprint::of_inval(&s1, &IdentityContext)));
}

#[test]
fn huge_device_ranges_are_bounded() {
    let ctx = IdentityContext;
    let caps = Target::<Vtd>::default();
    // Every 32-bit requester id: the global context-cache invalidation, at once.
    let all = Inval::new(Caches::CONFIG_DEVICE).device(DeviceSel::Range {
        first: 0,
        last: u32::MAX,
    });
    let (c, o) = lower_v(&Op::Inval(all), &caps, &ctx);
    assert_eq!(
        c,
        [Command::CcInv(CcInv {
            g: 1,
            wide: true,
            ..Default::default()
        })]
    );
    assert!(o.widened.contains(Widened::DEVICE));
    // 0..=0xffff needs 8192 device-selective descriptors: over the cap.
    let pci = Inval::new(Caches::CONFIG_DEVICE)
        .domain(DomainSel::One(1))
        .device(DeviceSel::Range {
            first: 0,
            last: 0xffff,
        });
    let (c, o) = lower_v(&Op::Inval(pci), &caps, &ctx);
    assert_eq!(c.len(), 1);
    assert!(o.widened.contains(Widened::CAP | Widened::DEVICE));
    // 16 functions, aligned: two fm=3 descriptors, exact.
    let two = pci.device(DeviceSel::Range {
        first: 0x10,
        last: 0x1f,
    });
    let (c, o) = lower_v(&Op::Inval(two), &caps, &ctx);
    assert!(o.is_exact());
    assert_eq!(
        c,
        [
            Command::CcInv(CcInv {
                g: 3,
                did: 1,
                sid: 0x10,
                fm: 3,
                wide: true
            }),
            Command::CcInv(CcInv {
                g: 3,
                did: 1,
                sid: 0x18,
                fm: 3,
                wide: true
            }),
        ]
    );
    // Device TLBs of ids beyond 16 bits cannot be named.
    let dev = Inval::new(Caches::DEV_TLB).device(DeviceSel::One(0x1_0000));
    assert!(Vtd::lower(
        &Op::Inval(dev),
        &caps.features,
        caps.budget,
        &ctx,
        &mut Vec::new()
    )
    .is_err());
    // Interrupt entries beyond the 16-bit index: global.
    let irte = Inval::new(Caches::INTR_REMAP).range(span(0xfff0, 0x1_0010));
    let (c, o) = lower_v(&Op::Inval(irte), &caps, &ctx);
    assert!(o.widened.contains(Widened::RANGE));
    assert_eq!(
        c,
        [Command::IecInv(IecInv {
            g: false,
            im: 0,
            iidx: 0,
            wide: true
        })]
    );
    // 2^31 entries from 0: one index-selective descriptor with im = 31.
    let big = Inval::new(Caches::INTR_REMAP).range(span(0, (1 << 31) - 1));
    let (c, o) = lower_v(&Op::Inval(big), &caps, &ctx);
    assert!(o.is_exact());
    assert_eq!(
        c,
        [Command::IecInv(IecInv {
            g: true,
            im: 31,
            iidx: 0,
            wide: true
        })]
    );
}

/// props/FINDINGS.md 3: the regime does not change how device-TLB entries
/// lower; a known domain without devices has nothing to invalidate.
#[test]
fn hyp_dev_tlb_of_an_empty_domain_emits_nothing() {
    let topo = Topology::from_json(
        r#"{"domains":[{"id":0,"vtd":{"did":65535}},{"id":2,"vtd":{"did":65534}}],"devices":[{"rid":13,"domain":2,"ats":false},{"rid":1,"domain":2,"ats":true}]}"#,
    )
    .unwrap();
    let op = Op::Inval(
        Inval::new(Caches::DEV_TLB)
            .regime(Regime::Hyp)
            .stage(Stages::S2)
            .domain(DomainSel::One(0))
            .pasid(PasidSel::One(890713))
            .range(AddrRange::new(0, 16 << 20).unwrap()),
    );
    let mut out: Vec<Command> = Vec::new();
    let o = Vtd::lower(
        &op,
        &Features::SCALABLE,
        Vtd::DEFAULT_BUDGET,
        &topo,
        &mut out,
    )
    .unwrap();
    assert_eq!((o.emitted, o.dropped), (0, None));
    assert!(out.is_empty());
    // Domain 2 under Hyp: its one ATS device (rid 1), not every domain's.
    let op2 = Op::Inval(
        Inval::new(Caches::DEV_TLB)
            .regime(Regime::Hyp)
            .domain(DomainSel::One(2)),
    );
    let o = Vtd::lower(
        &op2,
        &Features::SCALABLE,
        Vtd::DEFAULT_BUDGET,
        &topo,
        &mut out,
    )
    .unwrap();
    assert_eq!(o.emitted, 1);
    assert!(matches!(out[0], Command::DevTlbInv(d) if d.sid == 1));
    assert!(!o.widened.contains(Widened::REGIME));
}

/// props/FINDINGS.md 4: device-TLB descriptors stay within the budget (`Budget::cap`).
#[test]
fn dev_tlb_fan_out_is_capped() {
    let caps = Target::<Vtd>::new(Features::SCALABLE).max_cmds(4);
    // 3 pages at 0x1000: blocks 0x1000 (1 page), 0x2000 (2 pages) per device.
    let r = AddrRange::new(0x1000, 0x3000).unwrap();
    let one = Op::Inval(
        Inval::new(Caches::DEV_TLB)
            .device(DeviceSel::One(5))
            .range(r),
    );
    let mut out: Vec<Command> = Vec::new();
    let o = Vtd::lower(
        &one,
        &caps.features,
        caps.budget,
        &IdentityContext,
        &mut out,
    )
    .unwrap();
    assert_eq!(o.emitted, 2);
    assert!(!o.widened.contains(Widened::CAP));
    // 3 devices x 2 blocks > 4: one covering block per device, 0..=0x3fff.
    let three = Op::Inval(
        Inval::new(Caches::DEV_TLB)
            .device(DeviceSel::Range { first: 5, last: 7 })
            .range(r),
    );
    out.clear();
    let o = Vtd::lower(
        &three,
        &caps.features,
        caps.budget,
        &IdentityContext,
        &mut out,
    )
    .unwrap();
    assert_eq!(o.emitted, 3);
    assert!(o.widened.contains(Widened::CAP));
    for (c, sid) in out.iter().zip(5u16..) {
        // 16 KiB at 0 in PCIe ATS size encoding: s = 1, bit 12 set, bit 13 clear.
        assert!(
            matches!(*c, Command::DevTlbInv(d) if d.sid == sid && d.s && d.address == 0x1000),
            "{c:?}"
        );
    }
    // More devices than the cap: refused before anything is emitted.
    let five =
        Op::Inval(Inval::new(Caches::DEV_TLB).device(DeviceSel::Range { first: 0, last: 4 }));
    out.clear();
    assert!(matches!(
        Vtd::lower(
            &five,
            &caps.features,
            caps.budget,
            &IdentityContext,
            &mut out
        ),
        Err(LowerError::NoEquivalent(_))
    ));
    assert!(out.is_empty());
    // A requester id above 16 bits has no VT-d form (as on AMD-Vi).
    let wide = Op::Inval(Inval::new(Caches::DEV_TLB).device(DeviceSel::One(0x1_0000)));
    assert!(matches!(
        Vtd::lower(
            &wide,
            &caps.features,
            caps.budget,
            &IdentityContext,
            &mut out
        ),
        Err(LowerError::NoEquivalent(_))
    ));
}
