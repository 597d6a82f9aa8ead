//! Lift and lower on hand-worked examples.

use iommu_inval_arm::*;
use iommu_inval_core::arch::Arch;
use iommu_inval_core::arch::Target;
use iommu_inval_core::context::Topology;
use iommu_inval_core::model::*;
use iommu_inval_core::Budget;
use iommu_inval_core::Flags;
use iommu_inval_core::NativeCommand;
use iommu_inval_core::{IdentityContext, LowerError};

const TOPO: &str = r#"{
  "domains": [{"id": 1, "smmuv3": {"vmid": 3}}, {"id": 2}],
  "devices": [
    {"rid": 16, "domain": 1, "ats": true, "pasids": [{"pasid": 1, "asid": 5}, {"pasid": 9, "asid": 5}]},
    {"rid": 17, "domain": 1, "ats": false, "pasids": [{"pasid": 2, "asid": 6}]}
  ]
}"#;

fn topo() -> Topology {
    Topology::from_json(TOPO).unwrap()
}

fn low(
    op: Op,
    caps: Target<Smmuv3>,
    ctx: &dyn iommu_inval_core::Context,
) -> (Vec<Command>, Outcome) {
    let mut v = Vec::new();
    let o = Smmuv3::lower(&op, &caps.features, caps.budget, ctx, &mut v).unwrap();
    (v, o)
}

/// A non-leaf CMD_TLBI_NH_VA without a 128-bit level hint.
fn va(vmid: u16, asid: u16, [num, scale, ttl, tg]: [u8; 4], address: u64) -> Command {
    Command::TlbiNhVa(TlbiAddr {
        num,
        scale,
        vmid,
        asid,
        leaf: false,
        ttl128: false,
        ttl,
        tg,
        address,
        ..Default::default()
    })
}

/// The one op `c` lifts to without a topology.
fn lift_one(c: Command) -> Op {
    let mut ops = Vec::new();
    Smmuv3::lift(&c, &IdentityContext, &mut ops).unwrap();
    match ops.as_slice() {
        [op] => *op,
        other => panic!("{other:?}"),
    }
}

/// Stage-1 IOTLB entries of domain `d`.
fn s1_of(d: u32) -> Inval {
    Inval::new(Caches::IOTLB)
        .stage(Stages::S1)
        .domain(DomainSel::One(d))
}

fn s1(pasid: u32, first: u64, size: u64) -> Inval {
    s1_of(1)
        .pasid(PasidSel::One(pasid))
        .range(AddrRange::new(first, size).unwrap())
}

#[test]
fn lift_resolves_asid_and_vmid() {
    let t = topo();
    let c: Command = Command::TlbiNhVa(TlbiAddr {
        num: 0,
        scale: 0,
        vmid: 3,
        asid: 5,
        leaf: true,
        ttl128: false,
        ttl: 0,
        tg: 0,
        address: 0x1234_5678_9000,
        ..Default::default()
    });
    let mut ops = Vec::new();
    let o = Smmuv3::lift(&c, &t, &mut ops).unwrap();
    assert!(o.is_exact());
    let page = AddrRange::new(0x1234_5678_9000, 0x1000).unwrap();
    let want: Vec<Op> = [1, 9]
        .iter()
        .map(|&p| {
            Op::Inval(
                Inval::new(Caches::IOTLB | Caches::LEAF)
                    .stage(Stages::S1)
                    .domain(DomainSel::One(1))
                    .pasid(PasidSel::One(p))
                    .range(page),
            )
        })
        .collect();
    assert_eq!(ops, want);
    // Unknown VMID and ASID: every domain, every PASID, reported.
    let c: Command = Command::TlbiNhAsid(TlbiScope { vmid: 4, asid: 77 });
    let mut ops = Vec::new();
    let o = Smmuv3::lift(&c, &t, &mut ops).unwrap();
    assert_eq!(o.widened, Widened::DOMAIN | Widened::PASID);
    assert_eq!(
        ops,
        [Op::Inval(Inval::new(Caches::IOTLB).stage(Stages::S1))]
    );
}

#[test]
fn lift_ranges() {
    let one = |c: Command| match lift_one(c) {
        Op::Inval(i) => i,
        other => panic!("{other:?}"),
    };
    // 64 KiB granule, (3+1) * 2^2 = 16 granules = 1 MiB from 0x10_0000, level 3.
    let i = one(Command::TlbiS2Ipa(TlbiAddr {
        num: 3,
        scale: 2,
        vmid: 1,
        leaf: false,
        ttl128: false,
        ttl: 3,
        tg: 3,
        address: 0x10_0000,
        ..Default::default()
    }));
    assert_eq!(i.range, AddrRange::new(0x10_0000, 0x10_0000).unwrap());
    assert_eq!(
        (i.stages, i.hints.tg_shift, i.hints.level),
        (Stages::S2, 16, 3)
    );
    // Unaligned start in a 16 KiB granule: whole granules.
    let i = one(Command::TlbiEl2Vaa(TlbiAddr {
        num: 1,
        scale: 0,
        leaf: true,
        ttl128: false,
        ttl: 0,
        tg: 2,
        address: 0x5000,
        ..Default::default()
    }));
    // [0x5000, 0xd000) touches the granules at 0x4000, 0x8000 and 0xc000.
    assert_eq!(i.range, AddrRange::inclusive(0x4000, 0xffff).unwrap());
    assert_eq!(i.regime, Regime::Hyp);
    // The range stops at the top of the address space.
    let i = one(Command::TlbiEl3Va(TlbiAddr {
        num: 31,
        scale: 31,
        leaf: false,
        ttl128: false,
        ttl: 0,
        tg: 1,
        address: 0xffff_ffff_ffff_f000,
        ..Default::default()
    }));
    assert_eq!(
        i.range,
        AddrRange::inclusive(0xffff_ffff_ffff_f000, u64::MAX).unwrap()
    );
    assert_eq!(i.regime, Regime::Secure);
    // ATC_INV: 2^4 pages aligned down; size 52 is everything.
    let i = one(Command::AtcInv(AtcInv {
        global: true,
        ssv: true,
        ssid: 2,
        sid: 9,
        size: 4,
        address: 0x1_7000,
    }));
    assert_eq!(i.range, AddrRange::new(0x1_0000, 0x1_0000).unwrap());
    assert_eq!(
        (i.device, i.pasid, i.global),
        (DeviceSel::One(9), PasidSel::One(2), true)
    );
    let i = one(Command::AtcInv(AtcInv {
        global: true,
        ssv: false,
        ssid: 2,
        sid: 9,
        size: 52,
        address: 0,
    }));
    assert_eq!(
        (i.range, i.pasid, i.global),
        (AddrRange::All, PasidSel::All, false)
    );
    // STE range: 2^(1+1) streams aligned.
    let i = one(Command::CfgiSteRange(Cfgi {
        ssec: true,
        sid: 0x45,
        range: 1,
        ..Default::default()
    }));
    assert_eq!(
        (i.device, i.regime, i.caches),
        (
            DeviceSel::Range {
                first: 0x44,
                last: 0x47
            },
            Regime::Secure,
            Caches::CONFIG
        )
    );
}

#[test]
fn lift_sync_signals() {
    let sync = |c: CmdSync| match lift_one(Command::CmdSync(c)) {
        Op::Sync(s) => s,
        other => panic!("{other:?}"),
    };
    let s = sync(CmdSync {
        cs: 1,
        msh: 3,
        msi_attr: 0xf,
        msi_data: 7,
        msi_address: 0x1000,
    });
    assert_eq!(
        s.store,
        Some(Store {
            address: 0x1000,
            data: 7
        })
    );
    assert!(!s.interrupt && !s.sev && s.fence);
    assert_eq!((s.msi_msh, s.msi_attr), (3, 0xf));
    let s = sync(CmdSync {
        cs: 1,
        msi_data: 7,
        ..CmdSync::default()
    });
    assert!(s.interrupt && s.store.is_none());
    let s = sync(CmdSync {
        cs: 2,
        ..CmdSync::default()
    });
    assert!(s.sev && !s.interrupt);
}

#[test]
fn range_lowering_uses_fewest_commands() {
    // 37 pages from 0x1000: 36 = (17+1) * 2^1 granules, then one page.
    let (v, o) = low(
        Op::Inval(s1(5, 0x1000, 37 * 4096)),
        Target::<Smmuv3>::default(),
        &IdentityContext,
    );
    assert!(o.is_exact());
    assert_eq!(
        v,
        [
            va(1, 5, [17, 1, 0, 1], 0x1000),
            // One granule without a level hint cannot use tg (IHI0070 §4.4.1.1).
            va(1, 5, [0, 0, 0, 0], 0x2_5000),
        ]
    );
    // With a level hint the last granule keeps the range form.
    let mut i = s1(5, 0x1000, 37 * 4096);
    i.hints = Hints {
        tg_shift: 12,
        level: 3,
        ..Hints::default()
    };
    let (v, _) = low(Op::Inval(i), Target::<Smmuv3>::default(), &IdentityContext);
    assert_eq!(v[1], va(1, 5, [0, 0, 3, 1], 0x2_5000));
    // 64 KiB granule hint: one granule without level = 16 page commands.
    let mut i = s1(5, 0x1_0000, 0x1_0000);
    i.hints.tg_shift = 16;
    let (v, o) = low(Op::Inval(i), Target::<Smmuv3>::default(), &IdentityContext);
    assert_eq!(v.len(), 16);
    assert!(o.is_exact());
}

#[test]
fn without_range_support_one_command_per_page_then_asid_wide() {
    let caps = Target::<Smmuv3>::new(Features {
        ril: false,
        ..Features::LATEST
    })
    .max_cmds(40);
    let (v, o) = low(Op::Inval(s1(5, 0x1000, 37 * 4096)), caps, &IdentityContext);
    assert!(o.is_exact());
    assert_eq!(v.len(), 37);
    assert_eq!(v[36], va(1, 5, [0, 0, 0, 0], 0x2_5000));
    let caps = Target::<Smmuv3>::new(Features {
        ril: false,
        ..Features::LATEST
    })
    .max_cmds(16);
    let (v, o) = low(Op::Inval(s1(5, 0x1000, 37 * 4096)), caps, &IdentityContext);
    assert_eq!(v, [Command::TlbiNhAsid(TlbiScope { vmid: 1, asid: 5 })]);
    assert_eq!(o.widened, Widened::CAP | Widened::RANGE);
    // A 2 MiB leaf hint: one command per 2 MiB block, trusting the hint
    // (reported as LEAF_HINT: the footprint of a tg = 0 command is 4 KiB).
    let mut i = s1(5, 0x20_0000, 0x40_0000);
    i.hints.leaf_shift = 21;
    let (v, o) = low(Op::Inval(i), caps, &IdentityContext);
    let va = |address| va(1, 5, [0, 0, 0, 0], address);
    assert_eq!(v, [va(0x20_0000), va(0x40_0000)]);
    assert_eq!(o.widened, Widened::LEAF_HINT);
    // Judged as core says: the lift's footprint with 2 MiB leaves is the request.
    let mut ops = Vec::new();
    for c in &v {
        Smmuv3::lift(c, &IdentityContext, &mut ops).unwrap();
    }
    let got = iommu_inval_core::footprint::Footprint::of_ops(&ops, &IdentityContext);
    let want = iommu_inval_core::footprint::Footprint::of_inval(&i, &IdentityContext);
    assert!(!got.covers(&want));
    assert!(got.assuming_leaves(21).same_as(&want));
    // An unaligned start: the first leaf is whole, RANGE too.
    let mut i = s1(5, 0x30_0000, 0x20_0000);
    i.hints.leaf_shift = 21;
    let (v, o) = low(Op::Inval(i), caps, &IdentityContext);
    assert_eq!(v, [va(0x20_0000), va(0x40_0000)]);
    assert_eq!(o.widened, Widened::LEAF_HINT | Widened::RANGE);
    // A 4 KiB leaf hint steps by 4 KiB: exact, no LEAF_HINT.
    let mut i = s1(5, 0x20_0000, 0x2000);
    i.hints.leaf_shift = 12;
    let (v, o) = low(Op::Inval(i), caps, &IdentityContext);
    assert_eq!(v, [va(0x20_0000), va(0x20_1000)]);
    assert!(o.is_exact());
    // Above the cap (17 leaves of 64 KiB > 16): NH_ASID, no LEAF_HINT.
    let mut i = s1(5, 0x10_0000, 17 << 16);
    i.hints.leaf_shift = 16;
    let (v, o) = low(Op::Inval(i), caps, &IdentityContext);
    assert_eq!(v, [Command::TlbiNhAsid(TlbiScope { vmid: 1, asid: 5 })]);
    assert_eq!(o.widened, Widened::CAP | Widened::RANGE);
}

/// The single-pass range lowering counts commands before emitting: exactly
/// at the cap it emits the chunks, one above it the ASID-wide command.
#[test]
fn range_cap_is_counted_before_emitting() {
    // 0x1_0821 pages of 4 KiB (greedy: 16*2^12 = 0x1_0000, 16*2^7 = 0x800,
    // 16*2^1 = 0x20, then 1 page): 4 chunks; the last one has no level
    // hint, so num = scale = 0 becomes one tg = 0 command.
    let i = s1(5, 0x4000_0000, 0x1_0821 << 12);
    let caps = |max_cmds| Target::<Smmuv3>::new(Features::LATEST).max_cmds(max_cmds);
    let (v, o) = low(Op::Inval(i), caps(4), &IdentityContext);
    assert!(o.is_exact());
    let want: Vec<[u64; 2]> = vec![
        // num 15 scale 12, vmid 1, asid 5, tg 1 (w1[11:10] = 01).
        [0x0005_0001_00c0_f012, 0x4000_0400],
        // num 15 scale 7 at 0x4000_0000 + 0x1_0000 pages.
        [0x0005_0001_0070_f012, 0x5000_0400],
        // num 15 scale 1 at + 0x800 pages.
        [0x0005_0001_0010_f012, 0x5080_0400],
        // tg = 0: one page at + 0x20 pages.
        [0x0005_0001_0000_0012, 0x5082_0000],
    ];
    assert_eq!(v.iter().map(Command::encode).collect::<Vec<_>>(), want);
    let (v, o) = low(Op::Inval(i), caps(3), &IdentityContext);
    assert_eq!(v, [Command::TlbiNhAsid(TlbiScope { vmid: 1, asid: 5 })]);
    assert_eq!(o.widened, Widened::CAP | Widened::RANGE);
    // A 64 KiB granule without level: the one-granule chunk costs 16 tg = 0
    // commands (33 granules = 16 * 2^1 + 1): 17 commands fit a cap of 17,
    // not 16.
    let mut i = s1(5, 0x40_0000, 33 << 16);
    i.hints.tg_shift = 16;
    let (v, o) = low(Op::Inval(i), caps(17), &IdentityContext);
    assert!(o.is_exact());
    assert_eq!(v.len(), 17);
    // num 15 scale 1 tg 3 (w1[11:10] = 11), then 4 KiB pages from 0x60_0000.
    assert_eq!(v[0].encode(), [0x0005_0001_0010_f012, 0x40_0c00]);
    assert_eq!(v[1].encode(), [0x0005_0001_0000_0012, 0x60_0000]);
    assert_eq!(v[16].encode(), [0x0005_0001_0000_0012, 0x60_f000]);
    let (v, _) = low(Op::Inval(i), caps(16), &IdentityContext);
    assert_eq!(v, [Command::TlbiNhAsid(TlbiScope { vmid: 1, asid: 5 })]);
    // Every address: 2^52 granules of 4 KiB, 2^52 / 2^36 = 2^16 maximal
    // commands: far above the cap.
    let i = s1(5, 0, 0x1000).range(AddrRange::All);
    let (v, _) = low(Op::Inval(i), caps(64), &IdentityContext);
    assert_eq!(v, [Command::TlbiNhAsid(TlbiScope { vmid: 1, asid: 5 })]);
}

/// Device TLBs hold non-secure translations only (IHI0070 §3.9): a Secure
/// device-TLB invalidation emits nothing and says so; Hyp lowers as Guest.
#[test]
fn secure_device_tlb_is_dropped_hyp_is_not() {
    let t = topo();
    let base = Inval::new(Caches::DEV_TLB)
        .domain(DomainSel::One(1))
        .device(DeviceSel::One(16))
        .range(AddrRange::new(0x4000, 0x1000).unwrap());
    let (v, o) = low(
        Op::Inval(base.regime(Regime::Secure)),
        Target::<Smmuv3>::default(),
        &t,
    );
    assert!(v.is_empty());
    assert_eq!(o.emitted, 0);
    assert!(o.dropped.is_some());
    // CMD_ATC_INV sid 16, every PASID, one page at 0x4000.
    let atc = [0x0000_0010_0000_0040, 0x4000];
    for r in [Regime::Guest, Regime::Hyp] {
        let (v, o) = low(Op::Inval(base.regime(r)), Target::<Smmuv3>::default(), &t);
        assert!(o.is_exact(), "{r:?}");
        assert_eq!(v.iter().map(Command::encode).collect::<Vec<_>>(), [atc]);
    }
    // Secure IOTLB + DEV_TLB: the TLBI stays, the ATC part goes, no sync
    // after an empty group.
    let i = Inval::new(Caches::IOTLB | Caches::DEV_TLB)
        .regime(Regime::Secure)
        .stage(Stages::S1)
        .device(DeviceSel::One(16))
        .range(AddrRange::new(0x4000, 0x1000).unwrap());
    let (v, o) = low(Op::Inval(i), Target::<Smmuv3>::default(), &t);
    assert!(o.dropped.is_some());
    assert_eq!(
        v,
        [
            Command::TlbiEl3Va(TlbiAddr {
                num: 0,
                scale: 0,
                leaf: false,
                ttl128: false,
                ttl: 0,
                tg: 0,
                address: 0x4000,
                ..Default::default()
            }),
            Command::CmdSync(CmdSync::default())
        ]
    );
}

#[test]
fn unknown_ids_widen() {
    let t = topo();
    // Domain 2 has no VMID: every domain.
    let i = s1(1, 0x1000, 0x1000).domain(DomainSel::One(2));
    let (v, o) = low(Op::Inval(i), Target::<Smmuv3>::default(), &t);
    assert_eq!(v, [Command::TlbiNsnhAll]);
    assert!(o
        .widened
        .contains(Widened::DOMAIN | Widened::RANGE | Widened::PASID | Widened::STAGE));
    // PASID 3 has no ASID: every ASID of the VMID.
    let (v, o) = low(
        Op::Inval(s1(3, 0x1000, 0x1000)),
        Target::<Smmuv3>::default(),
        &t,
    );
    assert_eq!(
        v,
        [Command::TlbiNhVaa(TlbiAddr {
            num: 0,
            scale: 0,
            vmid: 3,
            leaf: false,
            ttl128: false,
            ttl: 0,
            tg: 0,
            address: 0x1000,
            ..Default::default()
        })]
    );
    assert_eq!(o.widened, Widened::PASID);
    // PASID 1 shares ASID 5 with PASID 9: reported.
    let (v, o) = low(
        Op::Inval(s1(1, 0x1000, 0x1000)),
        Target::<Smmuv3>::default(),
        &t,
    );
    assert_eq!(v, [va(3, 5, [0, 0, 0, 0], 0x1000)]);
    assert_eq!(o.widened, Widened::PASID);
    // A PASID too wide for the host's SubstreamIDs: ATC_INV without PASID.
    let caps = Target::<Smmuv3>::new(Features {
        ssid_bits: 8,
        ..Features::LATEST
    });
    let i = Inval::new(Caches::DEV_TLB)
        .device(DeviceSel::One(4))
        .pasid(PasidSel::One(256));
    let (v, o) = low(Op::Inval(i), caps, &IdentityContext);
    assert_eq!(
        v,
        [Command::AtcInv(AtcInv {
            global: false,
            ssv: false,
            ssid: 0,
            sid: 4,
            size: 52,
            address: 0
        })]
    );
    assert_eq!(o.widened, Widened::PASID);
}

#[test]
fn stage2_and_vmall() {
    let i = Inval::new(Caches::IOTLB | Caches::LEAF)
        .stage(Stages::S2)
        .domain(DomainSel::One(7))
        .range(AddrRange::new(0x8000_0000, 0x20_0000).unwrap());
    let (v, o) = low(Op::Inval(i), Target::<Smmuv3>::default(), &IdentityContext);
    assert!(o.is_exact());
    assert_eq!(
        v,
        [Command::TlbiS2Ipa(TlbiAddr {
            num: 15,
            scale: 5,
            vmid: 7,
            leaf: true,
            ttl128: false,
            ttl: 0,
            tg: 1,
            address: 0x8000_0000,
            ..Default::default()
        })]
    );
    // Beyond w1[51:12]: S12_VMALL.
    let i = i.range(AddrRange::new(1 << 52, 0x1000).unwrap());
    let (v, o) = low(Op::Inval(i), Target::<Smmuv3>::default(), &IdentityContext);
    assert_eq!(
        v,
        [Command::TlbiS12Vmall(TlbiScope {
            vmid: 7,
            ..Default::default()
        })]
    );
    assert!(o.widened.contains(Widened::RANGE | Widened::STAGE));
    // Everything of a domain: one S12_VMALL.
    let i = Inval::new(Caches::IOTLB).domain(DomainSel::One(7));
    let (v, o) = low(Op::Inval(i), Target::<Smmuv3>::default(), &IdentityContext);
    assert_eq!(
        (v, o.is_exact()),
        (
            vec![Command::TlbiS12Vmall(TlbiScope {
                vmid: 7,
                ..Default::default()
            })],
            true
        )
    );
}

#[test]
fn config_lowering() {
    let caps = Target::<Smmuv3>::default();
    // 0x10..=0x2f: two aligned blocks of 16 streams.
    let i = Inval::new(Caches::CONFIG).device(DeviceSel::Range {
        first: 0x10,
        last: 0x2f,
    });
    let (v, o) = low(Op::Inval(i), caps, &IdentityContext);
    assert!(o.is_exact());
    assert_eq!(
        v,
        [
            Command::CfgiSteRange(Cfgi {
                ssec: false,
                sid: 0x10,
                range: 3,
                ..Default::default()
            }),
            Command::CfgiSteRange(Cfgi {
                ssec: false,
                sid: 0x20,
                range: 3,
                ..Default::default()
            }),
        ]
    );
    // Every device, secure: CMD_CFGI_ALL with ssec.
    let i = Inval::new(Caches::CONFIG).regime(Regime::Secure);
    let (v, _) = low(Op::Inval(i), caps, &IdentityContext);
    assert_eq!(
        v,
        [Command::CfgiAll(Cfgi {
            ssec: true,
            sid: 0,
            ..Default::default()
        })]
    );
    // One CD.
    let i = Inval::new(Caches::CONFIG_PASID | Caches::LEAF)
        .device(DeviceSel::One(3))
        .pasid(PasidSel::One(4));
    let (v, o) = low(Op::Inval(i), caps, &IdentityContext);
    assert!(o.is_exact());
    assert_eq!(
        v,
        [Command::CfgiCd(Cfgi {
            ssec: false,
            ssid: 4,
            sid: 3,
            leaf: true,
            ..Default::default()
        })]
    );
    // Only the STE asked: CFGI_STE removes the CDs too.
    let i = Inval::new(Caches::CONFIG_DEVICE).device(DeviceSel::One(3));
    let (v, o) = low(Op::Inval(i), caps, &IdentityContext);
    assert_eq!(
        v,
        [Command::CfgiSte(Cfgi {
            ssec: false,
            sid: 3,
            leaf: false,
            ..Default::default()
        })]
    );
    assert_eq!(o.widened, Widened::CACHES);
    // The devices of an unknown domain: every device.
    let i = Inval::new(Caches::CONFIG).domain(DomainSel::One(5));
    let (v, o) = low(Op::Inval(i), caps, &IdentityContext);
    assert_eq!(
        v,
        [Command::CfgiAll(Cfgi {
            ssec: false,
            sid: 0,
            ..Default::default()
        })]
    );
    assert_eq!(o.widened, Widened::DEVICE);
}

#[test]
fn seed_request_order_config_tlb_atc() {
    let t = topo();
    let i = Inval::new(Caches::CONFIG_PASID | Caches::IOTLB | Caches::DEV_TLB)
        .stage(Stages::S1)
        .domain(DomainSel::One(1))
        .pasid(PasidSel::One(2))
        .range(AddrRange::new(0x4000, 0x2000).unwrap());
    let (v, o) = low(Op::Inval(i), Target::<Smmuv3>::default(), &t);
    let sync = Command::CmdSync(CmdSync::default());
    assert_eq!(
        v,
        [
            Command::CfgiCd(Cfgi {
                ssec: false,
                ssid: 2,
                sid: 16,
                leaf: false,
                ..Default::default()
            }),
            Command::CfgiCd(Cfgi {
                ssec: false,
                ssid: 2,
                sid: 17,
                leaf: false,
                ..Default::default()
            }),
            sync,
            va(3, 6, [1, 0, 0, 1], 0x4000),
            sync,
            // rid 17 has no ATS.
            Command::AtcInv(AtcInv {
                global: false,
                ssv: true,
                ssid: 2,
                sid: 16,
                size: 1,
                address: 0x4000
            }),
            sync,
        ]
    );
    // rid 17 has no device TLB: skipping it is exact.
    assert_eq!(o.dropped, None);
    // The seed proposal's own sequence (scope VA, CONFIG | TLB | DEV_TLB,
    // granule 4 KiB: core's seed tests check it is these ops) lowers op by
    // op to the same shape.
    let step = |caches| {
        Op::Inval(
            Inval::new(caches)
                .stage(Stages::S1)
                .domain(DomainSel::One(1))
                .pasid(PasidSel::One(2))
                .range(AddrRange::new(0x4000, 0x2000).unwrap())
                .hints(Hints {
                    leaf_shift: 12,
                    ..Hints::default()
                }),
        )
    };
    let s = Op::Sync(Barrier::default());
    let ops = [
        step(Caches::CONFIG_PASID),
        s,
        step(Caches::IOTLB),
        s,
        step(Caches::DEV_TLB),
        s,
    ];
    let mut out = Vec::new();
    for op in &ops {
        Smmuv3::lower(op, &Features::LATEST, Smmuv3::DEFAULT_BUDGET, &t, &mut out).unwrap();
    }
    let kinds: Vec<&str> = out.iter().map(|c| c.op()).collect();
    assert_eq!(
        kinds,
        [
            "CMD_CFGI_CD",
            "CMD_CFGI_CD",
            "CMD_SYNC",
            "CMD_TLBI_NH_VA",
            "CMD_SYNC",
            "CMD_ATC_INV",
            "CMD_SYNC"
        ]
    );
}

#[test]
fn atc_span_is_the_smallest_aligned_cover() {
    // 0x3000..=0x4fff straddles 0x4000: the aligned cover is 32 KiB at 0.
    let i = Inval::new(Caches::DEV_TLB)
        .device(DeviceSel::One(1))
        .range(AddrRange::inclusive(0x3000, 0x4fff).unwrap());
    let (v, o) = low(Op::Inval(i), Target::<Smmuv3>::default(), &IdentityContext);
    assert_eq!(
        v,
        [Command::AtcInv(AtcInv {
            global: false,
            ssv: false,
            ssid: 0,
            sid: 1,
            size: 3,
            address: 0
        })]
    );
    assert_eq!(o.widened, Widened::RANGE);
    // Every device of an unknown set: no single ATC_INV names them.
    let i = Inval::new(Caches::DEV_TLB);
    assert!(matches!(
        Smmuv3::lower(
            &Op::Inval(i),
            &Features::LATEST,
            Smmuv3::DEFAULT_BUDGET,
            &IdentityContext,
            &mut Vec::new()
        ),
        Err(LowerError::NoEquivalent(_))
    ));
    // A host without ATS: dropped.
    let caps = Target::<Smmuv3>::new(Features {
        ats: false,
        ..Features::LATEST
    });
    let i = Inval::new(Caches::DEV_TLB).device(DeviceSel::One(1));
    let (v, o) = low(Op::Inval(i), caps, &IdentityContext);
    assert!(v.is_empty() && o.dropped.is_some());
}

#[test]
fn interrupt_remapping_is_dropped() {
    let i = Inval::new(Caches::INTR_REMAP).device(DeviceSel::One(1));
    let (v, o) = low(Op::Inval(i), Target::<Smmuv3>::default(), &IdentityContext);
    assert!(v.is_empty());
    assert_eq!(
        (o.emitted, o.dropped),
        (0, Some("SMMUv3 has no interrupt remapping cache"))
    );
}

#[test]
fn sync_lowering() {
    let one = |s: Barrier| {
        Smmuv3::lower(
            &Op::Sync(s),
            &Features::LATEST,
            Smmuv3::DEFAULT_BUDGET,
            &IdentityContext,
            &mut Vec::new(),
        )
        .map(|_| ())
    };
    let mut v = Vec::new();
    let st = Barrier::storing(0xfee0_0000, 0x1234);
    Smmuv3::lower(
        &Op::Sync(st),
        &Features::LATEST,
        Smmuv3::DEFAULT_BUDGET,
        &IdentityContext,
        &mut v,
    )
    .unwrap();
    assert_eq!(
        v,
        [Command::CmdSync(CmdSync {
            cs: 1,
            msh: 0,
            msi_attr: 0,
            msi_data: 0x1234,
            msi_address: 0xfee0_0000
        })]
    );
    assert_eq!(v[0].encode(), [0x0000_1234_0000_1046, 0xfee0_0000]);
    let ne = |r: Result<(), LowerError>| matches!(r, Err(LowerError::NoEquivalent(_)));
    // A store SMMUv3 cannot write: 64-bit data, unaligned, above 56 bits,
    // to 0, or with an interrupt besides.
    let store = |address, data| Some(Store { address, data });
    for (interrupt, (address, data)) in [
        (false, (0x1000, 1 << 32)),
        (false, (0x1002, 1)),
        (false, (1 << 56, 1)),
        (false, (0, 1)),
        (true, (0x1000, 1)),
    ] {
        let s = Barrier {
            interrupt,
            store: store(address, data),
            ..Barrier::default()
        };
        assert!(ne(one(s)), "{s:?}");
    }
    for s in [
        Barrier {
            sev: true,
            interrupt: true,
            ..Barrier::default()
        },
        Barrier {
            drain_page_requests: true,
            ..Barrier::default()
        },
    ] {
        assert!(ne(one(s)), "{s:?}");
    }
    let mut v = Vec::new();
    Smmuv3::lower(
        &Op::Sync(Barrier {
            sev: true,
            ..Barrier::default()
        }),
        &Features::LATEST,
        Smmuv3::DEFAULT_BUDGET,
        &IdentityContext,
        &mut v,
    )
    .unwrap();
    assert_eq!(v[0].encode(), [0x2046, 0]);
}

#[test]
fn responses_and_stalls() {
    let mut v = Vec::new();
    let pr = PageResponse {
        device: 2,
        pasid: Some(1),
        prg_index: 0x1ff,
        code: RespCode::Success,
        last: true,
        priv_data: None,
        guest: false,
    };
    Smmuv3::lower(
        &Op::PageResponse(pr),
        &Features::LATEST,
        Smmuv3::DEFAULT_BUDGET,
        &IdentityContext,
        &mut v,
    )
    .unwrap();
    assert_eq!(v[0].encode(), [0x0000_0002_0000_1841, 0x21ff]);
    let bad = PageResponse {
        priv_data: Some([1, 2]),
        ..pr
    };
    assert!(matches!(
        Smmuv3::lower(
            &Op::PageResponse(bad),
            &Features::LATEST,
            Smmuv3::DEFAULT_BUDGET,
            &IdentityContext,
            &mut v
        ),
        Err(LowerError::NoEquivalent(_))
    ));
    v.clear();
    Smmuv3::lower(
        &Op::Resume {
            device: 5,
            stag: 0xabcd,
            action: StallAction::Abort,
        },
        &Features::LATEST,
        Smmuv3::DEFAULT_BUDGET,
        &IdentityContext,
        &mut v,
    )
    .unwrap();
    Smmuv3::lower(
        &Op::StallTerminate { device: 6 },
        &Features::LATEST,
        Smmuv3::DEFAULT_BUDGET,
        &IdentityContext,
        &mut v,
    )
    .unwrap();
    assert_eq!(v[0].encode(), [0x0000_0005_0000_2044, 0xabcd]);
    assert_eq!(v[1].encode(), [0x0000_0006_0000_0045, 0]);
}

#[test]
fn hyp_and_secure_regimes() {
    let i = Inval::new(Caches::IOTLB)
        .regime(Regime::Hyp)
        .stage(Stages::S1)
        .pasid(PasidSel::One(9))
        .range(AddrRange::new(0x1000, 0x1000).unwrap());
    let (v, o) = low(Op::Inval(i), Target::<Smmuv3>::default(), &IdentityContext);
    assert!(o.is_exact());
    assert_eq!(
        v,
        [Command::TlbiEl2Va(TlbiAddr {
            num: 0,
            scale: 0,
            asid: 9,
            leaf: false,
            ttl128: false,
            ttl: 0,
            tg: 0,
            address: 0x1000,
            ..Default::default()
        })]
    );
    let i = Inval::new(Caches::IOTLB)
        .regime(Regime::Secure)
        .stage(Stages::S1);
    let (v, o) = low(Op::Inval(i), Target::<Smmuv3>::default(), &IdentityContext);
    assert!(o.is_exact());
    assert_eq!(v, [Command::TlbiEl3All]);
    // Stage 2 of the EL2 regime does not exist: dropped, reported.
    let i = Inval::new(Caches::IOTLB).regime(Regime::Hyp);
    let (v, o) = low(Op::Inval(i), Target::<Smmuv3>::default(), &IdentityContext);
    assert_eq!(v, [Command::TlbiEl2All]);
    assert!(o.dropped.is_some());
}

#[test]
fn buffer_full_is_an_error() {
    let mut buf: iommu_inval_core::FixedBuf<Command, 1> = iommu_inval_core::FixedBuf::new();
    let r = Smmuv3::lower(
        &Op::Inval(s1(5, 0x1000, 37 * 4096)),
        &Features::LATEST,
        Smmuv3::DEFAULT_BUDGET,
        &IdentityContext,
        &mut buf,
    );
    assert_eq!(r, Err(LowerError::BufferFull));
}

#[test]
fn a_pasid_with_two_asids_gets_one_command_per_asid() {
    // PASID 7 uses ASID 1 on rid 1 and ASID 2 on rid 2: one NH_VA each.
    let t = Topology::from_json(
        r#"{"domains":[{"id":1,"smmuv3":{"vmid":1}}],"devices":[{"rid":1,"domain":1,"pasids":[{"pasid":7,"asid":1}]},{"rid":2,"domain":1,"pasids":[{"pasid":7,"asid":2}]}]}"#,
    )
    .unwrap();
    let va = |asid| va(1, asid, [0, 0, 0, 0], 0x8000);
    let (v, o) = low(
        Op::Inval(s1(7, 0x8000, 0x1000)),
        Target::<Smmuv3>::default(),
        &t,
    );
    assert_eq!(v, [va(1), va(2)]);
    assert!(o.is_exact(), "{o:?}");
    // More ASIDs than the command cap: NH_VAA, every ASID of the VMID.
    let one = Target::<Smmuv3>::new(Features::LATEST).max_cmds(1);
    let (v, o) = low(Op::Inval(s1(7, 0x8000, 0x1000)), one, &t);
    assert_eq!(
        v,
        [Command::TlbiNhVaa(TlbiAddr {
            num: 0,
            scale: 0,
            vmid: 1,
            leaf: false,
            ttl128: false,
            ttl: 0,
            tg: 0,
            address: 0x8000,
            ..Default::default()
        })]
    );
    assert_eq!(o.widened, Widened::PASID);
}

/// Requests without PASID: the CD 0 ASIDs of the domain's devices (Linux
/// sets STE.S1DSS = SSID0), one NH_ASID each; unknown for some device, the
/// whole VMID (reported). NH_ALL lifts to every PASID, which now includes
/// them.
#[test]
fn requests_without_pasid_are_the_cd0_asids() {
    let t = Topology::from_json(
        r#"{"domains":[{"id":1,"smmuv3":{"vmid":1}},{"id":2,"smmuv3":{"vmid":2}}],
            "devices":[{"rid":1,"domain":1,"asid":3,"pasids":[{"pasid":7,"asid":4}]},
                       {"rid":2,"domain":1,"asid":5},
                       {"rid":3,"domain":2,"pasids":[{"pasid":1,"asid":6}]}]}"#,
    )
    .unwrap();
    let none = |d| Op::Inval(s1_of(d).pasid(PasidSel::NoPasid));
    let (v, o) = low(none(1), Target::<Smmuv3>::default(), &t);
    assert_eq!(
        v,
        [
            Command::TlbiNhAsid(TlbiScope { vmid: 1, asid: 3 }),
            Command::TlbiNhAsid(TlbiScope { vmid: 1, asid: 5 })
        ]
    );
    assert!(o.is_exact(), "{o:?}");
    // The lift of NH_ASID 5 is requests without PASID of domain 1.
    let mut ops = Vec::new();
    Smmuv3::lift(
        &Command::TlbiNhAsid(TlbiScope { vmid: 1, asid: 5 }),
        &t,
        &mut ops,
    )
    .unwrap();
    assert_eq!(ops, [none(1)]);
    // Domain 2's device names no CD 0 ASID: the whole VMID, reported.
    let (v, o) = low(none(2), Target::<Smmuv3>::default(), &t);
    assert_eq!(
        v,
        [Command::TlbiNhAll(TlbiScope {
            vmid: 2,
            ..Default::default()
        })]
    );
    assert_eq!(o.widened, Widened::PASID);
}

/// An ASID used by two PASIDs lifts to two ops: a sink with room for one
/// reports the overflow (and holds the first PASID's op, in visit order).
#[test]
fn lift_of_a_shared_asid_into_a_one_op_sink_is_buffer_full() {
    let t = topo();
    let c: Command = Command::TlbiNhAsid(TlbiScope { vmid: 3, asid: 5 });
    let mut out: iommu_inval_core::sink::FixedBuf<Op, 1> = iommu_inval_core::sink::FixedBuf::new();
    assert_eq!(Smmuv3::lift(&c, &t, &mut out), Err(LowerError::BufferFull));
    match out.get(0) {
        Some(Op::Inval(i)) => assert_eq!(i.pasid, PasidSel::One(1)),
        other => panic!("{other:?}"),
    }
    // One PASID (6 is only PASID 2's ASID): exactly one op.
    let c: Command = Command::TlbiNhAsid(TlbiScope { vmid: 3, asid: 6 });
    let mut out: iommu_inval_core::sink::FixedBuf<Op, 1> = iommu_inval_core::sink::FixedBuf::new();
    let o = Smmuv3::lift(&c, &t, &mut out).unwrap();
    assert_eq!(o.emitted, 1);
}

/// Single-chunk ranges (the one-command path of the range lowering): the
/// words follow IHI0070 §4.4.1.1 — `(num + 1) * 2^scale` granules, and a
/// one-granule range without a level hint as `tg = 0` pages.
#[test]
fn single_chunk_ranges_lower_to_one_command_or_tg0_pages() {
    let nh = |first: u64, size: u64, tg_shift: u8, level: u8| {
        let mut i = s1(1, first, size);
        i.hints.tg_shift = tg_shift;
        i.hints.level = level;
        low(Op::Inval(i), Target::<Smmuv3>::default(), &IdentityContext).0
    };
    let va = |num: u8, scale: u8, ttl: u8, tg: u8, address: u64| {
        va(1, 1, [num, scale, ttl, tg], address)
    };
    // 3 pages of 4 KiB: num = 2, one command.
    assert_eq!(nh(0x10_0000, 0x3000, 12, 0), [va(2, 0, 0, 1, 0x10_0000)]);
    // 64 pages: the greedy split takes scale = bits(64) - 5 = 2, num + 1 = 16.
    assert_eq!(nh(0x40_0000, 0x4_0000, 12, 0), [va(15, 2, 0, 1, 0x40_0000)]);
    // One 4 KiB page without a level: tg = 0.
    assert_eq!(nh(0x7000, 0x1000, 12, 0), [va(0, 0, 0, 0, 0x7000)]);
    // One 4 KiB page with a level-3 hint: tg = 1, ttl = 3.
    assert_eq!(nh(0x7000, 0x1000, 12, 3), [va(0, 0, 3, 1, 0x7000)]);
    // One 16 KiB granule without a level: four tg = 0 pages.
    assert_eq!(
        nh(0x8000, 0x4000, 14, 0),
        [
            va(0, 0, 0, 0, 0x8000),
            va(0, 0, 0, 0, 0x9000),
            va(0, 0, 0, 0, 0xa000),
            va(0, 0, 0, 0, 0xb000)
        ]
    );
    // An unaligned page-sized range covers both pages it touches: 2 granules.
    assert_eq!(nh(0x7800, 0x1000, 12, 0), [va(1, 0, 0, 1, 0x7000)]);
}

/// A command cap of `usize::MAX` ("no limit"): the CDs of every stream
/// still go (STE-level, CMD_CFGI_ALL), and `max_lowered` saturates instead
/// of overflowing. Found reading the coverage report: with that cap the
/// per-stream count test let "every stream" through to a loop over no
/// streams, which emitted nothing.
#[test]
fn unlimited_cap_still_invalidates_every_cd() {
    let caps = Target::<Smmuv3>::new(Features::LATEST).max_cmds(usize::MAX);
    let i = Inval::new(Caches::CONFIG_PASID);
    let (v, o) = low(Op::Inval(i), caps, &IdentityContext);
    assert!(
        v.contains(&Command::CfgiAll(Cfgi {
            ssec: false,
            sid: 0,
            ..Default::default()
        })),
        "{v:?}"
    );
    assert!(o.widened.contains(Widened::CACHES), "{o:?}");
    assert_eq!(Smmuv3::max_lowered(Budget::new(usize::MAX)), usize::MAX);
    assert_eq!(Smmuv3::max_lowered(Budget::new(usize::MAX / 2)), usize::MAX);
    assert_eq!(
        Smmuv3::max_lowered(Smmuv3::DEFAULT_BUDGET),
        Smmuv3::MAX_LOWERED
    );
}
