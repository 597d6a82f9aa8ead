//! Lift and lower, case by case.

use iommu_inval_amd::*;
use iommu_inval_core::arch::Arch;
use iommu_inval_core::arch::Target;
use iommu_inval_core::context::Topology;
use iommu_inval_core::footprint::{Footprint, Relation};
use iommu_inval_core::model::*;
use iommu_inval_core::Flags;
use iommu_inval_core::{Context, IdentityContext, LowerError};

fn lift1<C: Context>(w: [u64; 2], ctx: &C) -> (Vec<Op>, Outcome) {
    let c = Command::decode(&w).unwrap();
    let mut ops = Vec::new();
    let o = AmdVi::lift(&c, ctx, &mut ops).unwrap();
    assert_eq!(o.emitted, ops.len());
    (ops, o)
}

fn inval(op: &Op) -> Inval {
    match op {
        Op::Inval(i) => *i,
        other => panic!("not an inval: {other:?}"),
    }
}

fn low<C: Context>(op: Op, caps: &Target<AmdVi>, ctx: &C) -> (Vec<Command>, Outcome) {
    let mut out = Vec::new();
    let o = AmdVi::lower(&op, &caps.features, caps.budget, ctx, &mut out).unwrap();
    assert_eq!(o.emitted, out.len());
    (out, o)
}

fn span(a: u64, size: u64) -> AddrRange {
    AddrRange::new(a, size).unwrap()
}

fn topo() -> Topology {
    Topology::from_json(
        r#"{
      "domains": [
        {"id": 1, "amd": {"domain_id": 10}},
        {"id": 2, "amd": {"domain_id": 20}},
        {"id": 3}
      ],
      "devices": [
        {"rid": 16, "domain": 1, "ats": true, "pasids": [{"pasid": 1}]},
        {"rid": 17, "domain": 1, "ats": false},
        {"rid": 32, "domain": 2, "ats": true}
      ]
    }"#,
    )
    .unwrap()
}

#[test]
fn lift_iommu_pages_ranges() {
    let ctx = IdentityContext;
    // s = 1, address 0x5000: bit 12 set, bit 13 clear → 16 KiB at 0x4000.
    let (ops, o) = lift1([0x3000_0001_0000_0000, 0x5003], &ctx);
    let i = inval(&ops[0]);
    assert!(o.is_exact());
    assert_eq!(i.range, AddrRange::inclusive(0x4000, 0x7fff).unwrap());
    assert_eq!(
        (i.stages, i.domain, i.caches),
        (Stages::S2, DomainSel::One(1), Caches::IOTLB)
    );
    // s = 1, 0x2000: bit 12 clear → 8 KiB at 0x2000.
    let i = inval(&lift1([0x3000_0001_0000_0000, 0x2001], &ctx).0[0]);
    assert_eq!(i.range, AddrRange::inclusive(0x2000, 0x3fff).unwrap());
    // s = 0: the 4 KiB page; pde = 0 → LEAF; gn = 1 → stage 1 of the PASID.
    let i = inval(&lift1([0x3000_0001_0000_0042, 0x5004], &ctx).0[0]);
    assert_eq!(i.range, span(0x5000, 0x1000));
    assert_eq!(i.caches, Caches::IOTLB | Caches::LEAF);
    assert_eq!((i.stages, i.pasid), (Stages::S1, PasidSel::One(0x42)));
    // The all-pages address.
    let i = inval(&lift1([0x3000_0001_0000_0000, 0x7fff_ffff_ffff_f001], &ctx).0[0]);
    assert_eq!(i.range, AddrRange::All);
    // gn = 0 ignores the PASID field.
    let a = lift1([0x3000_0001_0000_0042, 0x1000], &ctx).0;
    let b = lift1([0x3000_0001_0000_0000, 0x1000], &ctx).0;
    assert_eq!(Footprint::of_ops(&a, &ctx), Footprint::of_ops(&b, &ctx));
}

#[test]
fn lift_domain_through_context() {
    let t = topo();
    let (ops, o) = lift1([0x3000_000a_0000_0000, 0x1000], &t);
    assert_eq!(inval(&ops[0]).domain, DomainSel::One(1));
    assert!(o.is_exact());
    // DomainID 99 is unknown: every domain, reported.
    let (ops, o) = lift1([0x3000_0063_0000_0000, 0x1000], &t);
    assert_eq!(inval(&ops[0]).domain, DomainSel::All);
    assert_eq!(o.widened, Widened::DOMAIN);
}

#[test]
fn lift_device_commands() {
    let ctx = IdentityContext;
    // IOTLB_PAGES gn = 0: every PASID; hints carry maxpend and queue_id.
    let i = inval(&lift1([0x4000_0010_0500_0010, 0x3000], &ctx).0[0]);
    assert_eq!(
        (i.caches, i.device, i.pasid),
        (Caches::DEV_TLB, DeviceSel::One(16), PasidSel::All)
    );
    assert_eq!((i.hints.max_pending, i.hints.queue_id), (5, 16));
    assert_eq!(i.range, span(0x3000, 0x1000));
    let i = inval(&lift1([0x4007_0000_0000_0010, 0x3004], &ctx).0[0]);
    assert_eq!(i.pasid, PasidSel::One(7));
    // DTE: both configuration caches of the device, every PASID.
    let i = inval(&lift1([0x2000_0000_0000_0010, 0], &ctx).0[0]);
    assert_eq!(i.caches, Caches::CONFIG_DEVICE | Caches::CONFIG_PASID);
    assert_eq!((i.device, i.pasid), (DeviceSel::One(16), PasidSel::All));
    // Interrupt table: every entry.
    let i = inval(&lift1([0x5000_0000_0000_0010, 0], &ctx).0[0]);
    assert_eq!(
        (i.caches, i.device, i.range),
        (Caches::INTR_REMAP, DeviceSel::One(16), AddrRange::All)
    );
    // IOMMU_ALL: IOMMU caches only, not device TLBs.
    let i = inval(&lift1([0x8000_0000_0000_0000, 0], &ctx).0[0]);
    assert_eq!(
        i.caches,
        Caches::CONFIG | Caches::IOTLB | Caches::INTR_REMAP
    );
    assert!(!i.caches.contains(Caches::DEV_TLB));
    assert_eq!(
        (i.domain, i.device, i.range, i.stages),
        (
            DomainSel::All,
            DeviceSel::All,
            AddrRange::All,
            Stages::all()
        )
    );
}

#[test]
fn lift_wait_prefetch_ppr() {
    let ctx = IdentityContext;
    let (ops, _) = lift1([0x1000_0000_0000_1007, 99], &ctx);
    assert_eq!(
        ops,
        [Op::Sync(Barrier {
            interrupt: true,
            fence: true,
            store: Some(Store {
                address: 0x1000,
                data: 99
            }),
            ..Barrier::default()
        })]
    );
    let (ops, _) = lift1([0x1000_0000_0000_1000, 99], &ctx);
    assert_eq!(ops, [Op::Sync(Barrier::default())]);
    // Prefetch with inv: the invalidation first, then the hint.
    let t = topo();
    let (ops, o) = lift1([0x6000_0000_0300_0010, 0x5011], &t);
    assert!(o.is_exact());
    assert_eq!(ops.len(), 2);
    let i = inval(&ops[0]);
    assert_eq!(
        (i.caches, i.stages, i.domain),
        (Caches::IOTLB, Stages::S2, DomainSel::One(1))
    );
    assert_eq!(i.range, AddrRange::inclusive(0x4000, 0x7fff).unwrap());
    match ops[1] {
        Op::Prefetch(p) => {
            assert_eq!((p.device, p.pasid, p.count), (16, None, 3));
            assert_eq!(p.range, Some(AddrRange::inclusive(0x4000, 0x7fff).unwrap()));
        }
        ref o => panic!("{o:?}"),
    }
    // Prefetch of an unknown device: every domain, reported.
    let (ops, o) = lift1([0x6000_0000_0000_0099, 0x5010], &t);
    assert_eq!(
        (inval(&ops[0]).domain, o.widened),
        (DomainSel::All, Widened::DOMAIN)
    );
    // PPR: status 0 / 1 / 0xf; gn carries the PASID.
    for (status, code) in [
        (0u64, RespCode::Success),
        (1, RespCode::Invalid),
        (0xf, RespCode::Failure),
    ] {
        let (ops, _) = lift1(
            [0x7000_0005_0000_0010, (status << 44) | (0x1a << 32) | 4],
            &ctx,
        );
        assert_eq!(
            ops,
            [Op::PageResponse(PageResponse {
                device: 16,
                pasid: Some(5),
                prg_index: 0x1a,
                code,
                last: false,
                priv_data: None,
                guest: true
            })]
        );
    }
    let c = Command::decode(&[0x7000_0000_0000_0010, 2 << 44]).unwrap();
    assert!(matches!(
        AmdVi::lift(&c, &ctx, &mut Vec::new()),
        Err(LowerError::NoEquivalent(_))
    ));
}

#[test]
fn lower_stage1_and_stage2() {
    let ctx = IdentityContext;
    let caps = Target::<AmdVi>::default();
    let s1 = Inval::new(Caches::IOTLB)
        .stage(Stages::S1)
        .domain(DomainSel::One(4))
        .pasid(PasidSel::One(0x77))
        .range(span(0x1000, 0x1000));
    let (out, o) = low(Op::Inval(s1), &caps, &ctx);
    assert!(o.is_exact());
    assert_eq!(
        out.iter().map(|c| c.encode()).collect::<Vec<_>>(),
        [[0x3000_0004_0000_0077, 0x1006]]
    );
    // Both stages of a domain, all addresses: gn = 1 and gn = 0 commands.
    let both = s1.stage(Stages::all()).range(AddrRange::All);
    let (out, o) = low(Op::Inval(both), &caps, &ctx);
    assert!(o.is_exact());
    assert_eq!(
        out.iter().map(|c| c.encode()).collect::<Vec<_>>(),
        [
            [0x3000_0004_0000_0077, 0x7fff_ffff_ffff_f007],
            [0x3000_0004_0000_0000, 0x7fff_ffff_ffff_f003]
        ]
    );
    // No guest translation, or a PASID wider than the host's: INVALIDATE_IOMMU_ALL.
    for (caps, pasid) in [
        (
            Target::<AmdVi>::new(Features {
                gt_sup: false,
                ..Features::REV2
            }),
            0x77,
        ),
        (
            Target::<AmdVi>::new(Features {
                pasid_bits: 8,
                ..Features::REV2
            }),
            0x100,
        ),
    ] {
        let (out, o) = low(Op::Inval(s1.pasid(PasidSel::One(pasid))), &caps, &ctx);
        assert_eq!(out, [Command::InvalidateIommuAll(InvalidateIommuAll)]);
        assert!(o
            .widened
            .contains(Widened::DOMAIN | Widened::CACHES | Widened::RANGE));
    }
    // Every domain, or the hypervisor regime: INVALIDATE_IOMMU_ALL.
    let (out, _) = low(Op::Inval(s1.domain(DomainSel::All)), &caps, &ctx);
    assert_eq!(out, [Command::InvalidateIommuAll(InvalidateIommuAll)]);
    let hyp = Inval::new(Caches::IOTLB)
        .regime(Regime::Hyp)
        .stage(Stages::S1);
    assert_eq!(
        low(Op::Inval(hyp), &caps, &ctx).0,
        [Command::InvalidateIommuAll(InvalidateIommuAll)]
    );
    // Secure: dropped.
    let (out, o) = low(Op::Inval(s1.regime(Regime::Secure)), &caps, &ctx);
    assert!(out.is_empty() && o.dropped.is_some());
    // ... and so are device TLBs and interrupt entries: they serve
    // non-secure requests only, so a secure invalidation removes nothing.
    let sec = Inval::new(Caches::IOTLB | Caches::DEV_TLB | Caches::INTR_REMAP)
        .regime(Regime::Secure)
        .device(DeviceSel::One(5));
    for caches in [
        Caches::DEV_TLB,
        Caches::INTR_REMAP,
        Caches::CONFIG_DEVICE,
        sec.caches,
    ] {
        let (out, o) = low(Op::Inval(Inval { caches, ..sec }), &caps, &ctx);
        assert!(out.is_empty(), "{caches:?}: {out:?}");
        assert_eq!((o.emitted, o.widened), (0, Widened::empty()));
        assert!(o.dropped.is_some(), "{caches:?}");
    }
    // Device TLBs and interrupt entries are not regime-tagged: Hyp lowers as Guest.
    let dev = Inval::new(Caches::DEV_TLB | Caches::INTR_REMAP).device(DeviceSel::One(5));
    for regime in [Regime::Guest, Regime::Hyp] {
        let (out, o) = low(Op::Inval(dev.regime(regime)), &caps, &ctx);
        assert_eq!(
            out.iter().map(|c| c.encode()).collect::<Vec<_>>(),
            [
                // INVALIDATE_INTERRUPT_TABLE, DeviceID 5 (opcode 5 in bits 63:60).
                [0x5000_0000_0000_0005, 0],
                // COMPLETION_WAIT f = 1 (bit 2).
                [0x1000_0000_0000_0004, 0],
                // INVALIDATE_IOTLB_PAGES DeviceID 5, gn = 0, s = 1, all addresses.
                [0x4000_0000_0000_0005, 0x7fff_ffff_ffff_f001]
            ],
            "{regime:?}"
        );
        assert!(o.is_exact(), "{regime:?}: {o:?}");
    }
    // A domain the topology has no AMD id for.
    let (out, o) = low(Op::Inval(s1.domain(DomainSel::One(3))), &caps, &topo());
    assert_eq!(out, [Command::InvalidateIommuAll(InvalidateIommuAll)]);
    assert!(o.widened.contains(Widened::DOMAIN));
    // Domain 1 is AMD DomainID 10.
    let (out, _) = low(Op::Inval(s1.domain(DomainSel::One(1))), &caps, &topo());
    assert_eq!(out[0].encode()[0], 0x3000_000a_0000_0077);
}

#[test]
fn lower_order_config_iotlb_devtlb() {
    let ctx = IdentityContext;
    let i = Inval::new(Caches::CONFIG | Caches::IOTLB | Caches::DEV_TLB)
        .stage(Stages::S2)
        .domain(DomainSel::One(1))
        .device(DeviceSel::One(16))
        .range(span(0, 0x1000));
    let (out, o) = low(Op::Inval(i), &Target::<AmdVi>::default(), &ctx);
    assert!(o.is_exact(), "{o:?}");
    let fence = [0x1000_0000_0000_0004, 0];
    assert_eq!(
        out.iter().map(|c| c.encode()).collect::<Vec<_>>(),
        [
            [0x2000_0000_0000_0010, 0],
            fence,
            [0x3000_0001_0000_0000, 0x2],
            fence,
            [0x4000_0000_0000_0010, 0],
        ]
    );
}

#[test]
fn lower_device_caches() {
    let ctx = IdentityContext;
    let caps = Target::<AmdVi>::default();
    // PASID configuration: the whole DTE, reported.
    let cp = Inval::new(Caches::CONFIG_PASID)
        .device(DeviceSel::One(16))
        .pasid(PasidSel::One(3));
    let (out, o) = low(Op::Inval(cp), &caps, &ctx);
    assert_eq!(
        out,
        [Command::InvalidateDevtabEntry(InvalidateDevtabEntry {
            device_id: 16
        })]
    );
    assert_eq!(o.widened, Widened::CACHES | Widened::PASID);
    // With the device's domain known, the PASID's GCR3 entry is flushed too
    // (INVALIDATE_IOMMU_PAGES gn = 1, pde = 1, all pages), as Linux does.
    let (out, o) = low(Op::Inval(cp.domain(DomainSel::One(1))), &caps, &topo());
    assert_eq!(
        out.iter().map(|c| c.encode()).collect::<Vec<_>>(),
        [
            [0x2000_0000_0000_0010, 0],
            [0x3000_000a_0000_0003, 0x7fff_ffff_ffff_f007]
        ]
    );
    assert_eq!(
        o.widened,
        Widened::CACHES | Widened::PASID | Widened::DEVICE
    );
    let (out2, _) = low(Op::Inval(cp), &caps, &topo());
    assert_eq!(out2, out, "domain found through the device");
    // Interrupt entries of three devices, an index range: three whole tables.
    let ir = Inval::new(Caches::INTR_REMAP)
        .device(DeviceSel::Range { first: 4, last: 6 })
        .range(span(0, 8));
    let (out, o) = low(Op::Inval(ir), &caps, &ctx);
    assert_eq!(
        out,
        (4..=6)
            .map(|d| Command::InvalidateInterruptTable(InvalidateInterruptTable { device_id: d }))
            .collect::<Vec<_>>()
    );
    assert_eq!(o.widened, Widened::RANGE);
    // More devices than max_cmds, or devices nobody can enumerate: IOMMU_ALL.
    let many = ir.device(DeviceSel::Range {
        first: 0,
        last: 100,
    });
    let (out, o) = low(Op::Inval(many), &caps, &ctx);
    assert_eq!(out, [Command::InvalidateIommuAll(InvalidateIommuAll)]);
    assert!(o.widened.contains(Widened::CAP));
    let unknown = Inval::new(Caches::CONFIG_DEVICE).domain(DomainSel::One(9));
    assert_eq!(
        low(Op::Inval(unknown), &caps, &ctx).0,
        [Command::InvalidateIommuAll(InvalidateIommuAll)]
    );
    // With the topology, the devices of domain 1.
    let (out, _) = low(
        Op::Inval(Inval::new(Caches::CONFIG_DEVICE).domain(DomainSel::One(1))),
        &caps,
        &topo(),
    );
    assert_eq!(out.len(), 2);
}

#[test]
fn lower_device_tlb() {
    let ctx = IdentityContext;
    let caps = Target::<AmdVi>::default();
    let d = Inval::new(Caches::DEV_TLB)
        .device(DeviceSel::One(16))
        .pasid(PasidSel::One(0x1_0000))
        .range(span(0, 0x1000));
    // A 17-bit PASID does not fit the 16-bit field: every PASID (gn = 0), reported.
    let (out, o) = low(Op::Inval(d), &caps, &ctx);
    assert_eq!(
        out.iter().map(|c| c.encode()).collect::<Vec<_>>(),
        [[0x4000_0000_0000_0010, 0]]
    );
    assert_eq!(o.widened, Widened::PASID);
    // A 16-bit one is split across w0[23:16] and w0[55:48].
    let (out, o) = low(Op::Inval(d.pasid(PasidSel::One(0xbeef))), &caps, &ctx);
    assert!(o.is_exact());
    assert_eq!(out[0].encode(), [0x40ef_0000_00be_0010, 4]);
    // Devices without ATS are skipped, expanded from a domain or named (reported as dropped).
    let (out, o) = low(Op::Inval(d.device(DeviceSel::One(17))), &caps, &topo());
    assert!(out.is_empty() && o.dropped.is_some());
    let dom = Inval::new(Caches::DEV_TLB).domain(DomainSel::One(1));
    let (out, o) = low(Op::Inval(dom), &caps, &topo());
    assert_eq!(out.len(), 1);
    assert!(o.dropped.is_some());
    // A known domain without devices has no device TLB: nothing to emit,
    // nothing widened (not even the 20-bit PASID), not refused.
    let empty = Inval::new(Caches::DEV_TLB)
        .regime(Regime::Hyp)
        .domain(DomainSel::One(3))
        .pasid(PasidSel::One(890_713))
        .range(span(0, 0x100_0000));
    let (out, o) = low(Op::Inval(empty), &caps, &topo());
    assert!(out.is_empty());
    assert_eq!(o, Outcome::default());
    // Host without ATS: dropped.
    let (out, o) = low(
        Op::Inval(d),
        &Target {
            features: Features {
                ats: false,
                ..caps.features
            },
            ..caps
        },
        &ctx,
    );
    assert!(out.is_empty() && o.dropped.is_some());
    // Devices nobody can enumerate: refused rather than under-invalidated.
    let mut sink = Vec::new();
    let e = AmdVi::lower(
        &Op::Inval(Inval::new(Caches::DEV_TLB)),
        &caps.features,
        caps.budget,
        &ctx,
        &mut sink,
    )
    .unwrap_err();
    assert!(matches!(e, LowerError::NoEquivalent(_)));
    assert!(sink.is_empty());
    // A requester id wider than the 16-bit DeviceID (an SMMU StreamID, say):
    // refused for the device TLB; configuration falls back to IOMMU_ALL.
    let wide = d.device(DeviceSel::One(0x1_0000)).pasid(PasidSel::All);
    let e = AmdVi::lower(
        &Op::Inval(wide),
        &caps.features,
        caps.budget,
        &ctx,
        &mut sink,
    )
    .unwrap_err();
    assert!(matches!(e, LowerError::NoEquivalent(m) if m.contains("16-bit")));
    let (out, o) = low(
        Op::Inval(Inval::new(Caches::CONFIG_DEVICE).device(DeviceSel::One(0x1_0000))),
        &caps,
        &ctx,
    );
    assert_eq!(out, [Command::InvalidateIommuAll(InvalidateIommuAll)]);
    assert!(o.widened.contains(Widened::DEVICE));
}

#[test]
fn lower_other_ops() {
    let ctx = IdentityContext;
    let caps = Target::<AmdVi>::default();
    let mut sink = Vec::new();
    let mut err =
        |op: Op| AmdVi::lower(&op, &caps.features, caps.budget, &ctx, &mut sink).unwrap_err();
    assert!(matches!(
        err(Op::Sync(Barrier {
            sev: true,
            ..Barrier::default()
        })),
        LowerError::NoEquivalent(_)
    ));
    assert!(matches!(
        err(Op::Sync(Barrier {
            drain_page_requests: true,
            ..Barrier::default()
        })),
        LowerError::NoEquivalent(_)
    ));
    for address in [0x1004, 1 << 52] {
        let s = Barrier {
            store: Some(Store { address, data: 1 }),
            ..Barrier::default()
        };
        assert!(matches!(err(Op::Sync(s)), LowerError::NoEquivalent(_)));
    }
    assert!(matches!(
        err(Op::Resume {
            device: 1,
            stag: 2,
            action: StallAction::Retry
        }),
        LowerError::NoEquivalent(_)
    ));
    assert!(matches!(
        err(Op::StallTerminate { device: 1 }),
        LowerError::NoEquivalent(_)
    ));
    let pr = PageResponse {
        device: 1,
        pasid: None,
        prg_index: 3,
        code: RespCode::Success,
        last: true,
        priv_data: Some([1, 2]),
        guest: false,
    };
    assert!(matches!(
        err(Op::PageResponse(pr)),
        LowerError::NoEquivalent(_)
    ));
    assert!(matches!(
        err(Op::PageResponse(PageResponse {
            priv_data: None,
            prg_index: 0x200,
            ..pr
        })),
        LowerError::NoEquivalent(_)
    ));
    // A store sync.
    let s = Barrier {
        store: Some(Store {
            address: 0xf_ffff_ffff_fff8,
            data: u64::MAX,
        }),
        interrupt: true,
        ..Barrier::default()
    };
    let (out, _) = low(Op::Sync(s), &caps, &ctx);
    assert_eq!(out[0].encode(), [0x100f_ffff_ffff_fffb, u64::MAX]);
    // Page response with a PASID: gn = 1.
    let (out, _) = low(
        Op::PageResponse(PageResponse {
            priv_data: None,
            pasid: Some(9),
            code: RespCode::Failure,
            ..pr
        }),
        &caps,
        &ctx,
    );
    assert_eq!(
        out[0].encode(),
        [0x7000_0009_0000_0001, 0x0000_f003_0000_0004]
    );
    // Configuration-only prefetch: dropped hint.
    let p = Prefetch {
        device: 1,
        ..Prefetch::default()
    };
    let (out, o) = low(Op::Prefetch(p), &caps, &ctx);
    assert!(out.is_empty() && o.dropped.is_some());
    let (out, _) = low(
        Op::Prefetch(Prefetch {
            range: Some(span(0x4000, 0x4000)),
            count: 7,
            ..p
        }),
        &caps,
        &ctx,
    );
    assert_eq!(out[0].encode(), [0x6000_0000_0700_0001, 0x5001]);
}

#[test]
fn sink_full_is_an_error() {
    let mut buf: iommu_inval_core::FixedBuf<Command, 1> = iommu_inval_core::FixedBuf::new();
    let i = Inval::new(Caches::IOTLB)
        .stage(Stages::all())
        .domain(DomainSel::One(1))
        .pasid(PasidSel::One(1));
    assert_eq!(
        AmdVi::lower(
            &Op::Inval(i),
            &Features::REV2,
            AmdVi::DEFAULT_BUDGET,
            &IdentityContext,
            &mut buf
        ),
        Err(LowerError::BufferFull)
    );
}

#[test]
fn widened_lowering_covers() {
    // A relation check on one widened case: IOMMU_ALL for a PASID too wide.
    let ctx = IdentityContext;
    let i = Inval::new(Caches::IOTLB)
        .stage(Stages::S1)
        .domain(DomainSel::One(1))
        .pasid(PasidSel::One(1 << 19));
    let (out, _) = low(Op::Inval(i), &Target::<AmdVi>::default(), &ctx);
    let got = Footprint::of_ops(
        out.iter()
            .flat_map(|c| {
                let mut v = Vec::new();
                AmdVi::lift(c, &ctx, &mut v).unwrap();
                v
            })
            .collect::<Vec<_>>()
            .iter(),
        &ctx,
    );
    assert!(matches!(
        got.relation_to(&Footprint::of_inval(&i, &ctx)),
        Relation::Superset(_)
    ));
}

#[test]
fn inverted_spans_are_refused_not_a_panic() {
    let bad = AddrRange::Span {
        first: 0x5000,
        last: 0x1000,
    };
    let mut sink = Vec::new();
    let i = Inval::new(Caches::IOTLB | Caches::DEV_TLB)
        .device(DeviceSel::One(1))
        .range(bad);
    assert_eq!(
        AmdVi::lower(
            &Op::Inval(i),
            &Features::REV2,
            AmdVi::DEFAULT_BUDGET,
            &IdentityContext,
            &mut sink
        ),
        Err(LowerError::Invalid("range with first > last"))
    );
    let p = Prefetch {
        device: 1,
        range: Some(bad),
        ..Prefetch::default()
    };
    assert!(AmdVi::lower(
        &Op::Prefetch(p),
        &Features::REV2,
        AmdVi::DEFAULT_BUDGET,
        &IdentityContext,
        &mut sink
    )
    .is_err());
    assert!(sink.is_empty());
}
