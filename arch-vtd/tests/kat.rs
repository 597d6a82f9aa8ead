//! Known-answer tests: words computed by hand from the VT-d table of
//! the command tables (docs/SPEC.md) (bit positions written out in each comment).

use iommu_inval_core::native::{FieldError, FieldValue, NativeCommand};
use iommu_inval_core::{DecodeError, ErrorKind};
use iommu_inval_vtd::*;

/// Decode `w`, check the fields, re-encode to the same words.
fn roundtrip(w: &[u64], expect: Command) {
    let c = Command::decode(w).unwrap_or_else(|e| panic!("{w:x?}: {e}"));
    assert_eq!(c, expect, "{w:x?}");
    assert_eq!(c.words(), w.len());
    assert_eq!(&c.encode()[..w.len()], w);
    let mut buf = [0u64; 4];
    assert_eq!(c.encode_into(&mut buf), Ok(w.len()));
    assert_eq!(&buf[..w.len()], w);
}

/// Both widths of a descriptor whose w2/w3 are reserved.
fn both(w0: u64, w1: u64, narrow: Command) {
    roundtrip(&[w0, w1], narrow);
    roundtrip(&[w0, w1, 0, 0], narrow.with_width(true));
}

fn kind(w: &[u64]) -> ErrorKind {
    Command::decode(w).expect_err("must be refused").kind
}

#[test]
fn cc_inv_device_selective() {
    // type 1 | g=3 <<4 | did 0x1234 <<16 | sid 0x00a8 <<32 | fm 3 <<48
    both(
        0x0003_00a8_1234_0031,
        0,
        Command::CcInv(CcInv {
            g: 3,
            did: 0x1234,
            sid: 0xa8,
            fm: 3,
            wide: false,
        }),
    );
}

#[test]
fn iotlb_inv_domain_and_page() {
    // type 2 | g=2 <<4 | dw <<6 | dr <<7 | did 0xffff <<16
    both(
        0xffff_00e2,
        0,
        Command::IotlbInv(IotlbInv {
            g: 2,
            dw: true,
            dr: true,
            did: 0xffff,
            ..Default::default()
        }),
    );
    // g=3, did 1; w1: address 0xdead_b000_0000 | ih <<6 | am 9
    both(
        0x0001_0032,
        0x0000_dead_b000_0049,
        Command::IotlbInv(IotlbInv {
            g: 3,
            did: 1,
            am: 9,
            ih: true,
            address: 0xdead_b000_0000,
            ..Default::default()
        }),
    );
}

#[test]
fn dev_tlb_inv_split_pfsid_and_whole_space() {
    // type 3 | pfsid[3:0]=4 <<12 | mip 0x1f <<16 | sid 0xbeef <<32 | pfsid[15:4]=0x123 <<52
    both(
        0x1230_beef_001f_4003,
        0x7fff_ffff_ffff_f001,
        Command::DevTlbInv(DevTlbInv {
            pfsid: 0x1234,
            mip: 0x1f,
            sid: 0xbeef,
            s: true,
            address: 0x7fff_ffff_ffff_f000,
            wide: false,
        }),
    );
}

#[test]
fn iec_inv_index_selective() {
    // type 4 | g <<4 | im 31 <<27 | iidx 0xffff <<32
    both(
        0x0000_ffff_f800_0014,
        0,
        Command::IecInv(IecInv {
            g: true,
            im: 31,
            iidx: 0xffff,
            wide: false,
        }),
    );
    both(0x4, 0, Command::IecInv(IecInv::default()));
}

#[test]
fn inv_wait_all_flags() {
    // type 5 | if, sw, fn, pd (bits 4..7) | status_data <<32; w1 = address [63:2]
    both(
        0xdead_beef_0000_00f5,
        0xffff_ffff_ffff_fffc,
        Command::InvWait(InvWait {
            r#if: true,
            sw: true,
            r#fn: true,
            pd: true,
            status_data: 0xdead_beef,
            status_address: 0xffff_ffff_ffff_fffc,
            wide: false,
        }),
    );
}

#[test]
fn p_iotlb_inv_page_selective() {
    // type 6 | g=3 <<4 | did 0x42 <<16 | pasid 0xfffff <<32; w1 = 0x1000 | ih <<6 | am 0x3f
    both(
        0x000f_ffff_0042_0036,
        0x107f,
        Command::PIotlbInv(PIotlbInv {
            g: 3,
            did: 0x42,
            pasid: 0xfffff,
            am: 0x3f,
            ih: true,
            address: 0x1000,
            wide: false,
        }),
    );
}

#[test]
fn pc_inv_pasid_selective() {
    // type 7 | g=1 <<4 | did 7 <<16 | pasid 0x12345 <<32
    both(
        0x0001_2345_0007_0017,
        0,
        Command::PcInv(PcInv {
            g: 1,
            did: 7,
            pasid: 0x12345,
            wide: false,
        }),
    );
    // g=0 (domain-selective) is valid for pc_inv.
    both(
        0x0007_0007,
        0,
        Command::PcInv(PcInv {
            g: 0,
            did: 7,
            pasid: 0,
            wide: false,
        }),
    );
}

#[test]
fn p_dev_tlb_inv_every_w0_bit_is_a_field() {
    // type 8 | mip 0x1f <<4 | pfsid[3:0]=0xf <<12 | sid 0x0102 <<16 | pasid 0x80000 <<32 | pfsid[15:4]=0xfff <<52
    // w1: address 0x1_0000_0000 | s <<11 | g
    both(
        0xfff8_0000_0102_f1f8,
        0x0000_0001_0000_0801,
        Command::PDevTlbInv(PDevTlbInv {
            mip: 0x1f,
            pfsid: 0xffff,
            sid: 0x0102,
            pasid: 0x80000,
            g: true,
            s: true,
            address: 0x1_0000_0000,
            wide: false,
        }),
    );
}

#[test]
fn page_grp_resp_private_data_only_when_wide() {
    // type 9 | pasid_present <<4 | priv_data_present <<5 | resp 0xf <<12 | rid 0xabcd <<16 | pasid 0x55 <<32
    // w1: lpig <<2 | prg_index 0x1ff <<3
    let narrow = PageGrpResp {
        pasid_present: true,
        priv_data_present: true,
        resp_code: 0xf,
        rid: 0xabcd,
        pasid: 0x55,
        lpig: true,
        prg_index: 0x1ff,
        priv_data: None,
    };
    roundtrip(
        &[0x0000_0055_abcd_f039, 0xffc],
        Command::PageGrpResp(narrow),
    );
    let wide = PageGrpResp {
        priv_data: Some([u64::MAX, 0x1234]),
        ..narrow
    };
    roundtrip(
        &[0x0000_0055_abcd_f039, 0xffc, u64::MAX, 0x1234],
        Command::PageGrpResp(wide),
    );
}

#[test]
fn unknown_types_including_high_type_bits() {
    for t in [0x0u64, 0xa, 0xb, 0xc, 0xd, 0xe, 0xf] {
        assert_eq!(
            Command::decode(&[t, 0]),
            Err(DecodeError::unknown_opcode(t))
        );
    }
    // w0[9] set makes type 0x11 out of a cc_inv; w0[11] makes 0x42.
    assert_eq!(
        Command::decode(&[0x231, 0]),
        Err(DecodeError::unknown_opcode(0x11))
    );
    assert_eq!(
        Command::decode(&[0x802, 0, 0, 0]),
        Err(DecodeError::unknown_opcode(0x42))
    );
}

#[test]
fn reserved_bits_per_word() {
    // cc_inv w0[8] reserved.
    assert_eq!(
        Command::decode(&[0x131, 0]),
        Err(DecodeError::reserved(0, 0x100))
    );
    // cc_inv w0[63:50] reserved.
    assert_eq!(
        Command::decode(&[0x0004_0000_0000_0031, 0]),
        Err(DecodeError::reserved(0, 1 << 50))
    );
    // cc_inv w1 entirely reserved.
    assert_eq!(
        Command::decode(&[0x31, 1 << 63]),
        Err(DecodeError::reserved(1, 1 << 63))
    );
    // iotlb_inv w0[8], w0[63:32], w1[11:7] reserved.
    assert_eq!(
        Command::decode(&[0x122, 0]),
        Err(DecodeError::reserved(0, 0x100))
    );
    assert_eq!(
        Command::decode(&[0x1_0000_0022, 0]),
        Err(DecodeError::reserved(0, 1 << 32))
    );
    assert_eq!(
        Command::decode(&[0x32, 0x80]),
        Err(DecodeError::reserved(1, 0x80))
    );
    // dev_tlb_inv w0[8:4], w0[31:21], w0[51:48], w1[11:1] reserved.
    assert_eq!(
        Command::decode(&[0x13, 0]),
        Err(DecodeError::reserved(0, 0x10))
    );
    assert_eq!(
        Command::decode(&[0x20_0003, 0]),
        Err(DecodeError::reserved(0, 1 << 21))
    );
    assert_eq!(
        Command::decode(&[0x1_0000_0000_0003, 0]),
        Err(DecodeError::reserved(0, 1 << 48))
    );
    assert_eq!(
        Command::decode(&[0x3, 0x2]),
        Err(DecodeError::reserved(1, 0x2))
    );
    // iec_inv w0[26:5] and w0[63:48].
    assert_eq!(
        Command::decode(&[0x24, 0]),
        Err(DecodeError::reserved(0, 0x20))
    );
    assert_eq!(
        Command::decode(&[0x400_0004, 0]),
        Err(DecodeError::reserved(0, 1 << 26))
    );
    // inv_wait w0[31:12] (w0[8] too) and w1[1:0].
    assert_eq!(
        Command::decode(&[0x1005, 0]),
        Err(DecodeError::reserved(0, 0x1000))
    );
    assert_eq!(
        Command::decode(&[0x105, 0]),
        Err(DecodeError::reserved(0, 0x100))
    );
    assert_eq!(
        Command::decode(&[0x5, 0x1]),
        Err(DecodeError::reserved(1, 0x1))
    );
    // p_iotlb_inv w0[15:6] and w0[63:52], w1[11:7].
    assert_eq!(
        Command::decode(&[0x8026, 0]),
        Err(DecodeError::reserved(0, 0x8000))
    );
    assert_eq!(
        Command::decode(&[0x0010_0000_0000_0026, 0]),
        Err(DecodeError::reserved(0, 1 << 52))
    );
    assert_eq!(
        Command::decode(&[0x26, 0x800]),
        Err(DecodeError::reserved(1, 0x800))
    );
    // pc_inv w1.
    assert_eq!(
        Command::decode(&[0x7, 0x1000]),
        Err(DecodeError::reserved(1, 0x1000))
    );
    // p_dev_tlb_inv w1[10:1].
    assert_eq!(
        Command::decode(&[0x8, 0x400]),
        Err(DecodeError::reserved(1, 0x400))
    );
    // page_grp_resp w0[8:6], w0[63:52], w1[1:0], w1[63:12].
    assert_eq!(
        Command::decode(&[0x49, 0]),
        Err(DecodeError::reserved(0, 0x40))
    );
    assert_eq!(
        Command::decode(&[0x9, 0x1]),
        Err(DecodeError::reserved(1, 0x1))
    );
    assert_eq!(
        Command::decode(&[0x9, 0x1000]),
        Err(DecodeError::reserved(1, 0x1000))
    );
}

#[test]
fn upper_words_of_256_bit_descriptors_are_reserved() {
    assert_eq!(
        Command::decode(&[0x22, 0, 1, 0]),
        Err(DecodeError::reserved(2, 1))
    );
    assert_eq!(
        Command::decode(&[0x5, 0, 0, 1 << 63]),
        Err(DecodeError::reserved(3, 1 << 63))
    );
    // ... except for the page group response.
    assert!(Command::decode(&[0x9, 0, 1, 1 << 63]).is_ok());
}

#[test]
fn invalid_granularities_and_codes() {
    assert_eq!(kind(&[0x01, 0]), ErrorKind::InvalidField); // cc_inv g=0
    assert_eq!(kind(&[0x02, 0]), ErrorKind::InvalidField); // iotlb_inv g=0
    assert_eq!(kind(&[0x06, 0]), ErrorKind::InvalidField); // p_iotlb g=0
    assert_eq!(kind(&[0x16, 0]), ErrorKind::InvalidField); // p_iotlb g=1
    assert_eq!(kind(&[0x27, 0, 0, 0]), ErrorKind::InvalidField); // pc_inv g=2
                                                                 // Reserved PRG response codes 2h..Eh are not refused by the codec:
                                                                 // docs/SPEC.md lists no invalid value; `lift` refuses them.
    for code in 2u64..=0xe {
        let w = [0x9 | code << 12 | 0x0012_0000, 0x18];
        let c = Command::decode(&w).unwrap_or_else(|e| panic!("resp_code {code}: {e:?}"));
        let Command::PageGrpResp(d) = c else {
            panic!("resp_code {code}: {c:?}")
        };
        assert_eq!((d.resp_code, d.rid, d.prg_index), (code as u8, 0x12, 3));
        assert_eq!(&c.encode()[..2], &w, "resp_code {code}");
    }
    // Reserved bits are reported before an invalid granularity.
    assert_eq!(kind(&[0x101, 0]), ErrorKind::ReservedBits);
    // Valid granularities of the same descriptors.
    for w0 in [
        0x11u64, 0x21, 0x31, 0x12, 0x22, 0x26, 0x36, 0x07, 0x17, 0x37, 0x9, 0x1009, 0xf009,
    ] {
        assert!(Command::decode(&[w0, 0]).is_ok(), "{w0:#x}");
    }
}

#[test]
fn fields_by_name_in_table_order() {
    let c = Command::decode(&[0xfff8_0000_0102_f1f8, 0x0000_0001_0000_0801]).unwrap();
    let mut seen = Vec::new();
    c.for_each_field(&mut |n, v| seen.push((n, v)));
    assert_eq!(
        seen,
        [
            ("mip", FieldValue::Uint(0x1f)),
            ("pfsid", FieldValue::Uint(0xffff)),
            ("sid", FieldValue::Uint(0x102)),
            ("pasid", FieldValue::Uint(0x80000)),
            ("g", FieldValue::Bool(true)),
            ("s", FieldValue::Bool(true)),
            ("address", FieldValue::Uint(0x1_0000_0000)),
        ]
    );
    let names = <Command as NativeCommand>::field_names("p_dev_tlb_inv_dsc").unwrap();
    assert_eq!(names, ["mip", "pfsid", "sid", "pasid", "g", "s", "address"]);
    let back = Command::from_fields("p_dev_tlb_inv_dsc", &mut seen.iter().copied(), 2).unwrap();
    assert_eq!(back, c);
    assert_eq!(<Command as NativeCommand>::op_names().len(), 9);
}

#[test]
fn from_fields_refusals() {
    let f = |op: &str, fields: &[(&str, FieldValue)], words: usize| {
        Command::from_fields(op, &mut fields.iter().copied(), words)
    };
    assert_eq!(f("nope", &[], 2), Err(FieldError::UnknownOp));
    assert_eq!(
        f("cc_inv_dsc", &[("g", FieldValue::Uint(4))], 2),
        Err(FieldError::TooWide("g"))
    );
    assert_eq!(
        f(
            "iotlb_inv_dsc",
            &[
                ("g", FieldValue::Uint(3)),
                ("address", FieldValue::Uint(0x1800))
            ],
            2
        ),
        Err(FieldError::TooWide("address"))
    );
    assert_eq!(
        f(
            "inv_wait_dsc",
            &[("status_address", FieldValue::Uint(0x1002))],
            2
        ),
        Err(FieldError::TooWide("status_address"))
    );
    assert!(
        matches!(f("cc_inv_dsc", &[], 2), Err(FieldError::Invalid(e)) if e.kind == ErrorKind::InvalidField)
    );
    assert!(
        matches!(f("pc_inv_dsc", &[], 3), Err(FieldError::Invalid(e)) if e.kind == ErrorKind::BadLength)
    );
    let pd = [("priv_data", FieldValue::Pair([1, 2]))];
    assert!(matches!(
        f("page_grp_resp_dsc", &pd, 2),
        Err(FieldError::UnknownField(_))
    ));
    let c = f("page_grp_resp_dsc", &pd, 4).unwrap();
    assert_eq!(c.encode(), [0x9, 0, 1, 2]);
    // Omitted priv_data of a 256-bit response is zero, and listed.
    let c = f("page_grp_resp_dsc", &[], 4).unwrap();
    let mut n = 0;
    c.for_each_field(&mut |name, v| {
        if name == "priv_data" {
            assert_eq!(v, FieldValue::Pair([0, 0]));
            n += 1;
        }
    });
    assert_eq!(n, 1);
    // The pfsid is one 16-bit field.
    assert_eq!(
        f(
            "dev_tlb_inv_dsc",
            &[("pfsid", FieldValue::Uint(0x1_0000))],
            2
        ),
        Err(FieldError::TooWide("pfsid"))
    );
    assert_eq!(
        f("dev_tlb_inv_dsc", &[("s", FieldValue::Uint(2))], 2),
        Err(FieldError::TooWide("s"))
    );
}

#[test]
fn encode_into_short_buffer() {
    let c = Command::decode(&[0x9, 0, 5, 6]).unwrap();
    let mut small = [0u64; 2];
    assert_eq!(
        c.encode_into(&mut small).unwrap_err().kind,
        ErrorKind::BadLength
    );
    // A 128-bit descriptor needs 2 words; a longer slot keeps its tail.
    let narrow = Command::decode(&[0x0005_0032, 0x20_0041]).unwrap();
    assert_eq!(
        narrow.encode_into(&mut [0u64; 1]).unwrap_err().kind,
        ErrorKind::BadLength
    );
    let mut slot = [7u64; 4];
    assert_eq!(narrow.encode_into(&mut slot), Ok(2));
    assert_eq!(slot, [0x0005_0032, 0x20_0041, 7, 7]);
    assert_eq!(c.encode_into(&mut slot), Ok(4));
    assert_eq!(slot, [0x9, 0, 5, 6]);
}
