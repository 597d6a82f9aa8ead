//! Where docs/SPEC.md and IHI0070 (SMMUv3) differ, the specification wins
//! (shared rule). Each test shows one difference; the table's reading is in
//! the comment.

use iommu_inval_arm::*;
use iommu_inval_core::arch::Arch;
use iommu_inval_core::model::{Caches, DeviceSel, Op, PasidSel, RespCode, StallAction};
use iommu_inval_core::NativeCommand;
use iommu_inval_core::{ErrorKind, IdentityContext};

fn lift_all(c: &Command) -> Vec<Op> {
    let mut v = Vec::new();
    Smmuv3::lift(c, &IdentityContext, &mut v).unwrap();
    v
}

/// IHI0070 §4.4.1.1: "The parameter combination of NUM == 0, SCALE == 0 and
/// TTL = 0b00 is Reserved ... causes CERROR_ILL" when TG != 0. The table
/// lists only tg = 0 with num/scale as invalid.
#[test]
fn tg_with_num_scale_ttl_zero_is_illegal() {
    for tg in 1..=3u64 {
        let w = [0x12, tg << 10];
        let e = Command::decode(&w).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidField, "tg {tg}");
        // With a level hint, one granule is legal.
        assert!(Command::decode(&[0x12, tg << 10 | 3 << 8]).is_ok());
        // With num or scale, legal.
        assert!(Command::decode(&[0x12 | 1 << 12, tg << 10]).is_ok());
        assert!(Command::decode(&[0x12 | 1 << 20, tg << 10]).is_ok());
    }
    // 16 KiB granule, ttl = 1: Reserved without SMMU_IDR5.DS, treated as 0;
    // a level-1 hint with DS (the newest revision, `decode`).
    assert_eq!(
        Command::decode_with(&[0x2a, 2 << 10 | 1 << 8], &Features::SMMUV3_2)
            .unwrap_err()
            .kind,
        ErrorKind::InvalidField
    );
    assert!(Command::decode(&[0x2a, 2 << 10 | 1 << 8]).is_ok());
    assert!(Command::decode(&[0x2a, 3 << 10 | 1 << 8]).is_ok());
    assert!(Command::decode(&[0x2a | 1 << 12, 2 << 10 | 1 << 8]).is_ok());
}

/// IHI0070 §4.4.1.1: TTL, like NUM and SCALE, "is RES0" when TG == 0b00.
#[test]
fn ttl_without_tg_is_illegal() {
    let e = Command::decode(&[0x13, 2 << 8]).unwrap_err();
    assert_eq!(
        (e.kind, e.field),
        (ErrorKind::InvalidField, "ttl with tg=0")
    );
}

/// IHI0070 §4.7.1 and §4.7.2: CMD_RESUME(StreamID, SSec, ...) and
/// CMD_STALL_TERM(StreamID, SSec) have SSec; the table lists none.
#[test]
fn resume_and_stall_term_have_ssec() {
    let r = Command::decode(&[0x0000_0005_0000_0444, 7]).unwrap();
    assert_eq!(
        r,
        Command::Resume(Resume {
            ssec: true,
            resp: 0,
            sid: 5,
            stag: 7
        })
    );
    let s = Command::decode(&[0x0000_0005_0000_0445, 0]).unwrap();
    assert_eq!(s, Command::StallTerm(StallTerm { ssec: true, sid: 5 }));
    // A Secure-stream stall command has no generic form.
    assert!(Smmuv3::lift(&r, &IdentityContext, &mut Vec::new()).is_err());
}

/// IHI0070 §4.7.1: with Ac (bit 12) = 1 the transaction is retried and "the
/// Abort parameter, Ab, is IGNORED", so resp = 3 is a retry, not ILLEGAL as
/// the table says.
#[test]
fn resume_resp_3_is_a_retry() {
    let c = Command::decode(&[0x0000_0005_0000_3044, 1]).unwrap();
    assert_eq!(c.encode(), [0x0000_0005_0000_3044, 1]);
    match lift_all(&c).as_slice() {
        [Op::Resume {
            action: StallAction::Retry,
            device: 5,
            stag: 1,
        }] => {}
        other => panic!("{other:?}"),
    }
}

/// IHI0070 §4.5.2: Resp 0b00 is ResponseFailure, 0b01 InvalidRequest, 0b10
/// Success. The table's "0 deny, 1 fail" (older Linux names) would map 0 to
/// Invalid Request and 1 to Failure.
#[test]
fn pri_resp_codes_follow_the_specification() {
    let code = |resp: u64| match lift_all(&Command::decode(&[0x41, resp << 12]).unwrap()).as_slice()
    {
        [Op::PageResponse(p)] => p.code,
        other => panic!("{other:?}"),
    };
    assert_eq!(code(0), RespCode::Failure);
    assert_eq!(code(1), RespCode::Invalid);
    assert_eq!(code(2), RespCode::Success);
}

/// IHI0070 §4.3.1: CMD_CFGI_STE "invalidates all Context Descriptors
/// (including L1CD) that were cached using the given StreamID", whatever
/// Leaf; so its footprint includes the stream's PASID configuration.
#[test]
fn cfgi_ste_also_removes_the_cds() {
    let ops = lift_all(&Command::CfgiSte(Cfgi {
        ssec: false,
        sid: 3,
        leaf: false,
        ..Default::default()
    }));
    match ops.as_slice() {
        [Op::Inval(i)] => {
            assert_eq!(i.caches, Caches::CONFIG);
            assert_eq!((i.device, i.pasid), (DeviceSel::One(3), PasidSel::All));
        }
        other => panic!("{other:?}"),
    }
    let ops = lift_all(&Command::CfgiSte(Cfgi {
        ssec: false,
        sid: 3,
        leaf: true,
        ..Default::default()
    }));
    match ops.as_slice() {
        [Op::Inval(a), Op::Inval(b)] => {
            assert_eq!(a.caches, Caches::CONFIG_DEVICE | Caches::LEAF);
            assert_eq!(b.caches, Caches::CONFIG_PASID);
        }
        other => panic!("{other:?}"),
    }
}

/// IHI0070 §4.5.1: "Use of values greater than 52 ... are permitted, but not
/// required, to raise a CERROR_ILL, or might cause an UNKNOWN span". We
/// accept them (bytes round-trip) and lift them as every address.
#[test]
fn atc_size_above_52_is_everything() {
    let c = Command::decode(&[0x0000_0001_0000_0040, 0x3f]).unwrap();
    assert_eq!(c.encode(), [0x0000_0001_0000_0040, 0x3f]);
    match lift_all(&c).as_slice() {
        [Op::Inval(i)] => assert!(i.range.is_all()),
        other => panic!("{other:?}"),
    }
}

/// The error of a TLBI range rule names first the field whose bits its mask
/// covers, so that a reader of the field's value (the CLI prints
/// `invalid value V in field F ...` from the mask) sees that field's own
/// value: for `0x0007000000000012,0x400` (tg = 1, num = scale = ttl = 0)
/// the mask is TG alone, value 1, not TG and TTL read together (4).
/// Checked for every range TLBI and every combination of the rule's inputs,
/// on `decode`, `check_words` and the SMMUv3.2 features (no DS: `ttl` = 1
/// with a 16 KiB granule and no range).
#[test]
fn range_errors_name_the_field_of_their_mask() {
    // The range fields (IHI0070 §4.4.1.1): num w0[16:12], scale w0[25:20],
    // ttl128 w1[7], ttl w1[9:8], tg w1[11:10].
    const NUM: u64 = 0x1f << 12;
    const SCALE: u64 = 0x3f << 20;
    const TTL128: u64 = 1 << 7;
    const TTL: u64 = 3 << 8;
    const TG: u64 = 3 << 10;
    let e = Command::decode(&[0x0007_0000_0000_0012, 0x400]).unwrap_err();
    assert_eq!(
        (e.kind, e.word, e.mask, e.field),
        (ErrorKind::InvalidField, 1, TG, "tg with num=scale=ttl=0")
    );
    let ops = [0x12u64, 0x13, 0x1a, 0x22, 0x23, 0x2a, 0x52, 0x53, 0x5a];
    let by_name = |n: &str| match n {
        "num" => (0u8, NUM),
        "scale" => (0, SCALE),
        "ttl" => (1, TTL),
        "ttl128" => (1, TTL128),
        "tg" => (1, TG),
        other => panic!("range error names {other:?}"),
    };
    let mut seen = 0;
    for op in ops {
        for key in 0u64..64 {
            // w1[11:7] = tg, ttl, ttl128; bit 5 of the key: num (or scale) set.
            for ns in [1u64 << 12, 1 << 20] {
                let w0 = op | if key & 32 != 0 { ns } else { 0 };
                let w = [w0, (key & 31) << 7];
                for (r, how) in [
                    (Command::decode(&w).map(|_| ()), "decode"),
                    (Command::check_words(&w), "check_words"),
                    (
                        Command::decode_with(&w, &Features::SMMUV3_2).map(|_| ()),
                        "smmuv3.2",
                    ),
                ] {
                    let Err(e) = r else { continue };
                    // Refusals of the op itself (the S-EL2 TLBIs on a
                    // Non-secure queue) name the opcode, not a range field.
                    if e.kind != ErrorKind::InvalidField || e.mask == 0xff {
                        continue;
                    }
                    seen += 1;
                    let (lead, _) = e.field.split_once(" with ").unwrap_or((e.field, ""));
                    let mut word = None;
                    let mut mask = 0;
                    for n in lead.split('/') {
                        let (wd, m) = by_name(n);
                        assert!(word.is_none() || word == Some(wd), "{}", e.field);
                        word = Some(wd);
                        mask |= m;
                    }
                    assert_eq!(
                        (e.word, e.mask),
                        (word.unwrap(), mask),
                        "{how} {w:#x?}: {:?} masks other bits than its field",
                        e.field
                    );
                }
            }
        }
    }
    assert!(seen > 1000, "{seen}");
}
