//! Lift and lower against known answers: the Linux driver's command shapes
//! (examples/riscv.cmds) lift to what the specification says and lower back
//! to the same words; generic operations lower to the expected commands;
//! what RISC-V cannot name is widened, dropped or refused as documented.

use iommu_inval_core::arch::{Arch, Target};
use iommu_inval_core::footprint::Footprint;
use iommu_inval_core::model::*;
use iommu_inval_core::Flags;
use iommu_inval_core::{
    AddrRange, ArchId, Context, FixedBuf, IdentityContext, LowerError, NativeCommand, Widened,
};
use iommu_inval_riscv::{Command, Features, IofenceC, Iotinval, RiscV};

fn cmds_of(text: &str) -> Vec<[u64; 2]> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(|l| {
            let w: Vec<u64> = l
                .split(',')
                .map(|x| u64::from_str_radix(x.trim().trim_start_matches("0x"), 16).unwrap())
                .collect();
            [w[0], w[1]]
        })
        .collect()
}

fn lift_all(c: &Command, ctx: &dyn Context) -> (Vec<Op>, Outcome) {
    let mut ops = Vec::new();
    let o = RiscV::lift(c, ctx, &mut ops).unwrap();
    (ops, o)
}

fn lower_all(
    op: &Op,
    caps: &Target<RiscV>,
    ctx: &dyn Context,
) -> Result<(Vec<Command>, Outcome), LowerError> {
    let mut out = Vec::new();
    let o = RiscV::lower(op, &caps.features, caps.budget, ctx, &mut out)?;
    Ok((out, o))
}

#[test]
fn linux_stream_round_trips() {
    let stream = cmds_of(include_str!("../../examples/riscv.cmds"));
    assert!(stream.len() >= 20);
    for w in stream {
        let c = Command::decode(&w).unwrap();
        let (ops, o) = lift_all(&c, &IdentityContext);
        assert!(o.is_exact(), "{c:?}");
        let mut back = Vec::new();
        for op in &ops {
            back.extend(
                lower_all(op, &Target::<RiscV>::default(), &IdentityContext)
                    .unwrap()
                    .0,
            );
        }
        // One command back, with the same words, except IODIR.INVAL_DDT
        // DV = 1, which lifts to its two caches and lowers to one command
        // per cache (the same command twice).
        if matches!(c, Command::IodirInvalDdt(d) if d.dv) {
            assert_eq!(back, [c, c]);
        } else {
            assert_eq!(back.len(), 1, "{c:?} -> {back:?}");
            assert_eq!(back[0].encode(), w, "{c:?} -> {back:?}");
        }
        let fp_in = RiscV::footprint(&c, &IdentityContext);
        let mut fp_out = Footprint::new();
        for b in &back {
            fp_out.extend(&RiscV::footprint(b, &IdentityContext));
        }
        assert!(fp_out.same_as(&fp_in), "{c:?}");
    }
}

#[test]
fn host_and_vm_first_stage() {
    for (vma, want, caches) in [
        // GV = 0: the host regime, every domain; PSCID 5 is PASID 5.
        (
            Iotinval {
                pscv: true,
                pscid: 5,
                ..Iotinval::default()
            },
            (Regime::Hyp, DomainSel::All, PasidSel::One(5)),
            Caches::IOTLB | Caches::LEAF,
        ),
        // GV = 1 with NL: the VM of GSCID 3, every level of the page.
        (
            Iotinval {
                nl: true,
                gv: true,
                gscid: 3,
                ..Iotinval::default()
            },
            (Regime::Guest, DomainSel::One(3), PasidSel::All),
            Caches::IOTLB,
        ),
    ] {
        let c = Command::IotinvalVma(Iotinval {
            av: true,
            addr: 0x4000_0000,
            ..vma
        });
        let (ops, _) = lift_all(&c, &IdentityContext);
        let Op::Inval(i) = ops[0] else { panic!() };
        assert_eq!((i.regime, i.domain, i.pasid), want, "{c:?}");
        assert_eq!(i.caches, caches, "{c:?}");
    }
    // GVMA GV = 0 ignores AV, NL and S: every VM, every address.
    let c = Command::decode(&[0x81 | 1 << 10, 0x1000 >> 2]).unwrap();
    let (ops, _) = lift_all(&c, &IdentityContext);
    let Op::Inval(i) = ops[0] else { panic!() };
    assert_eq!(
        (i.stages, i.domain, i.range),
        (Stages::S2, DomainSel::All, AddrRange::All)
    );
}

#[test]
fn topology_maps_gscid_and_pscid() {
    let t = iommu_inval_core::context::Topology::from_json(include_str!(
        "../../examples/topology.json"
    ))
    .unwrap();
    // Domain 3 has GSCID 9; its PASID 7 uses PSCID 9.
    let op = Op::Inval(
        Inval::new(Caches::IOTLB | Caches::LEAF)
            .stage(Stages::S1)
            .domain(DomainSel::One(3))
            .pasid(PasidSel::One(7))
            .range(AddrRange::new(0x1000, 0x1000).unwrap()),
    );
    let (out, o) = lower_all(&op, &Target::<RiscV>::default(), &t).unwrap();
    assert!(o.is_exact(), "{o:?}");
    assert_eq!(
        out,
        [Command::IotinvalVma(Iotinval {
            av: true,
            pscv: true,
            pscid: 9,
            gv: true,
            gscid: 9,
            addr: 0x1000,
            ..Default::default()
        })]
    );
    // And back: GSCID 9 is domain 3, PSCID 9 is PASID 7.
    let (ops, o) = lift_all(&out[0], &t);
    assert!(o.is_exact());
    assert_eq!(ops, [op]);
    // A GSCID the topology does not know: every domain, reported.
    let c = Command::IotinvalGvma(Iotinval {
        gv: true,
        gscid: 77,
        ..Default::default()
    });
    let (_, o) = lift_all(&c, &t);
    assert_eq!(o.widened, Widened::DOMAIN);
}

#[test]
fn what_riscv_cannot_name() {
    let caps = Target::<RiscV>::default();
    // Stage 1 of every VM: no command, refused.
    let all = Op::Inval(Inval::new(Caches::IOTLB).stage(Stages::S1));
    assert!(matches!(
        lower_all(&all, &caps, &IdentityContext),
        Err(LowerError::NoEquivalent(_))
    ));
    // Interrupt remapping: dropped, reported.
    let ir = Op::Inval(Inval::new(Caches::INTR_REMAP).device(DeviceSel::One(0x10)));
    let (out, o) = lower_all(&ir, &caps, &IdentityContext).unwrap();
    assert!(out.is_empty() && o.dropped.is_some());
    // A non-leaf device configuration: IODIR.INVAL_DDT DV = 0, widened.
    let cfg = Op::Inval(Inval::new(Caches::CONFIG).device(DeviceSel::One(0x10)));
    let (out, o) = lower_all(&cfg, &caps, &IdentityContext).unwrap();
    assert_eq!(out.len(), 1);
    assert!(matches!(out[0], Command::IodirInvalDdt(d) if !d.dv));
    assert!(o.widened.contains(Widened::DEVICE));
    // A sync storing 64-bit data: IOFENCE.C stores 32 bits.
    let s = Op::Sync(Barrier {
        store: Some(Store {
            address: 0x1000,
            data: 1 << 40,
        }),
        ..Barrier::default()
    });
    assert!(matches!(
        lower_all(&s, &caps, &IdentityContext),
        Err(LowerError::NoEquivalent(_))
    ));
    // Without wired interrupts, an interrupting sync has no equivalent.
    let irq = Op::Sync(Barrier {
        interrupt: true,
        ..Barrier::default()
    });
    let no_wsi = Target {
        features: Features {
            wsi: false,
            ..caps.features
        },
        ..caps
    };
    assert!(lower_all(&irq, &no_wsi, &IdentityContext).is_err());
    let (out, _) = lower_all(&irq, &caps, &IdentityContext).unwrap();
    assert_eq!(
        out,
        [Command::IofenceC(IofenceC {
            wsi: true,
            pr: true,
            pw: true,
            ..Default::default()
        })]
    );
}

#[test]
fn phases_are_fenced_and_ranges_follow_the_caps() {
    // Device config + IOTLB + device TLB of device 0x10 in domain 1:
    // IODIR, IOFENCE.C, IOTINVAL, IOFENCE.C, ATS.INVAL.
    let op = Op::Inval(
        Inval::new(Caches::CONFIG | Caches::IOTLB | Caches::DEV_TLB | Caches::LEAF)
            .stage(Stages::S1)
            .domain(DomainSel::One(1))
            .pasid(PasidSel::One(2))
            .device(DeviceSel::One(0x10))
            .range(AddrRange::new(0x20_0000, 0x20_0000).unwrap()),
    );
    let (out, _) = lower_all(&op, &Target::<RiscV>::default(), &IdentityContext).unwrap();
    let names: Vec<&str> = out.iter().map(|c| c.op()).collect();
    assert_eq!(
        names,
        [
            "iodir_inval_ddt",
            "iofence_c",
            "iotinval_vma",
            "iofence_c",
            "ats_inval"
        ]
    );
    // 2 MiB of 2 MiB leaves without capabilities.S: one command (the hint).
    let mut i = Inval::new(Caches::IOTLB | Caches::LEAF)
        .regime(Regime::Hyp)
        .stage(Stages::S1)
        .pasid(PasidSel::One(5))
        .range(AddrRange::new(0x20_0000, 0x20_0000).unwrap());
    i.hints.leaf_shift = 21;
    let v10 = Target::<RiscV>::new(Features {
        s: false,
        nl: false,
        ..Features::ALL
    });
    let (out, o) = lower_all(&Op::Inval(i), &v10, &IdentityContext).unwrap();
    assert_eq!(out.len(), 1);
    assert!(o.widened.contains(Widened::LEAF_HINT));
    // Without the hint: 512 pages > 16, so the whole PSCID (AV = 0), as Linux does.
    i.hints.leaf_shift = 0;
    let (out, o) = lower_all(&Op::Inval(i), &v10, &IdentityContext).unwrap();
    assert!(matches!(out[..], [Command::IotinvalVma(c)] if !c.av && c.pscv));
    assert!(o.widened.contains(Widened::CAP));
    // With capabilities.S: one NAPOT command, exact.
    let (out, o) = lower_all(&Op::Inval(i), &Target::<RiscV>::default(), &IdentityContext).unwrap();
    assert!(o.is_exact());
    assert!(matches!(out[..], [Command::IotinvalVma(c)] if c.av && c.s && c.addr == 0x2f_f000));
}

#[test]
fn every_command_lifts_to_at_most_a_few_ops() {
    let mut buf: FixedBuf<Op, 8> = FixedBuf::new();
    for w in cmds_of(include_str!("../../examples/riscv.cmds")) {
        buf.clear();
        let c = Command::decode(&w).unwrap();
        let o = RiscV::lift(&c, &IdentityContext, &mut buf).unwrap();
        assert!(o.emitted <= 2);
        assert_eq!(<Command as NativeCommand>::ARCH, ArchId::Riscv);
    }
}

#[test]
fn footprints_through_arch() {
    use iommu_inval_core::arch::Arch;
    let fp = |w: [u64; 2]| RiscV::footprint(&Command::decode(&w).unwrap(), &IdentityContext);
    // IODIR.INVAL_DDT DV = 0 covers IODIR.INVAL_PDT of device 1, PID 2, not the reverse.
    let all = fp([0x3, 0]);
    let pdt = fp([0x0000_0102_0000_2083, 0]);
    assert!(all.covers(&pdt) && !pdt.covers(&all));
    // An IOFENCE.C removes nothing.
    assert!(fp([0x2, 0]).is_empty());
}
