//! Known-answer tests: words computed by hand from the AMD-Vi table of
//! the command tables (docs/SPEC.md) (opcode w0[63:60]; fields as listed there).

use iommu_inval_amd::*;
use iommu_inval_core::{DecodeError, ErrorKind, FieldError, FieldValue};

/// Op names of the table, by opcode (0x1..=0x8).
const TABLE_NAMES: [&str; 8] = [
    "COMPLETION_WAIT",
    "INVALIDATE_DEVTAB_ENTRY",
    "INVALIDATE_IOMMU_PAGES",
    "INVALIDATE_IOTLB_PAGES",
    "INVALIDATE_INTERRUPT_TABLE",
    "PREFETCH_IOMMU_PAGES",
    "COMPLETE_PPR_REQUEST",
    "INVALIDATE_IOMMU_ALL",
];

fn kat(words: [u64; 2], cmd: Command) {
    assert_eq!(Command::decode(&words), Ok(cmd), "decode {words:#x?}");
    assert_eq!(cmd.encode(), words, "encode {cmd:?}");
    // The op name is the table's name of the opcode in w0[63:60].
    assert_eq!(cmd.op(), TABLE_NAMES[(words[0] >> 60) as usize - 1]);
    assert!(Command::op_names().contains(&cmd.op()));
    // Named fields rebuild the same command.
    let mut fields = Vec::new();
    cmd.for_each_field(&mut |n, v| fields.push((n, v)));
    let names: Vec<_> = fields.iter().map(|(n, _)| *n).collect();
    assert_eq!(Command::field_names(cmd.op()).unwrap(), &names[..]);
    let back = Command::from_fields(cmd.op(), &mut fields.iter().copied(), 2).unwrap();
    assert_eq!(back, cmd);
}

#[test]
fn completion_wait() {
    // s = 1, i = 1, f = 0, store_address = all ones of w0[51:3], data.
    kat(
        [0x100f_ffff_ffff_fffb, 0xdead_beef_0123_4567],
        Command::CompletionWait(CompletionWait {
            s: true,
            i: true,
            f: false,
            store_address: 0x000f_ffff_ffff_fff8,
            store_data: 0xdead_beef_0123_4567,
        }),
    );
    // f only.
    kat(
        [0x1000_0000_0000_0004, 0],
        Command::CompletionWait(CompletionWait {
            f: true,
            ..Default::default()
        }),
    );
    // s = 0 with a store address: legal (ignored by hardware), kept by the codec.
    kat(
        [0x1000_0000_0000_1000, 7],
        Command::CompletionWait(CompletionWait {
            store_address: 0x1000,
            store_data: 7,
            ..Default::default()
        }),
    );
}

#[test]
fn devtab_interrupt_table_iommu_all() {
    kat(
        [0x2000_0000_0000_beef, 0],
        Command::InvalidateDevtabEntry(InvalidateDevtabEntry { device_id: 0xbeef }),
    );
    kat(
        [0x5000_0000_0000_0001, 0],
        Command::InvalidateInterruptTable(InvalidateInterruptTable { device_id: 1 }),
    );
    kat(
        [0x8000_0000_0000_0000, 0],
        Command::InvalidateIommuAll(InvalidateIommuAll),
    );
}

#[test]
fn iommu_pages() {
    // pasid 0xfffff (w0[19:0]), domain 0xffff (w0[47:32]), gn = 1, s = 0, pde = 0.
    kat(
        [0x3000_ffff_000f_ffff, 0xffff_ffff_ffff_f004],
        Command::InvalidateIommuPages(InvalidateIommuPages {
            pasid: 0xf_ffff,
            domain_id: 0xffff,
            s: false,
            pde: false,
            gn: true,
            address: 0xffff_ffff_ffff_f000,
        }),
    );
    // All pages of domain 2, pde = 1, s = 1 (the Linux "flush everything" form).
    kat(
        [0x3000_0002_0000_0000, 0x7fff_ffff_ffff_f003],
        Command::InvalidateIommuPages(InvalidateIommuPages {
            domain_id: 2,
            s: true,
            pde: true,
            address: ALL_PAGES_ADDRESS,
            ..Default::default()
        }),
    );
    // gn = 0 with a PASID: kept for byte round trips.
    kat(
        [0x3000_0001_0000_0009, 0x1000],
        Command::InvalidateIommuPages(InvalidateIommuPages {
            pasid: 9,
            domain_id: 1,
            address: 0x1000,
            ..Default::default()
        }),
    );
}

#[test]
fn iotlb_pages_split_pasid() {
    // device 0x0102, pasid 0xabcd: pasid[15:8] = 0xab in w0[23:16], pasid[7:0] = 0xcd in
    // w0[55:48]; maxpend 0x20 in w0[31:24]; queue_id 0x0102 in w0[47:32]; s = 1, gn = 1.
    kat(
        [0x40cd_0102_20ab_0102, 0x7fff_ffff_ffff_f005],
        Command::InvalidateIotlbPages(InvalidateIotlbPages {
            device_id: 0x0102,
            pasid: 0xabcd,
            maxpend: 0x20,
            queue_id: 0x0102,
            s: true,
            gn: true,
            inv_type: 0,
            address: ALL_PAGES_ADDRESS,
        }),
    );
    // pasid 0x00ff only sets w0[55:48]; 0xff00 only w0[23:16].
    let lo = Command::decode(&[0x40ff_0000_0000_0000, 0]).unwrap();
    let hi = Command::decode(&[0x4000_0000_00ff_0000, 0]).unwrap();
    match (lo, hi) {
        (Command::InvalidateIotlbPages(a), Command::InvalidateIotlbPages(b)) => {
            assert_eq!((a.pasid, b.pasid), (0x00ff, 0xff00));
        }
        other => panic!("{other:?}"),
    }
}

/// INVALIDATE_IOTLB_PAGES `w1[5:4]` is a 2-bit field ("type" in FreeBSD's
/// `amdiommu` header and VirtualBox's AMD IOMMU header, outside QEMU's
/// reserved-bit check): decoded and encoded as `type`, every value; `w1[1]`,
/// `w1[3]` and `w1[11:6]` stay reserved.
#[test]
fn iotlb_pages_type_field() {
    for t in 0u64..4 {
        // device 0x10, one page at 0x1000, type t.
        let w = [0x4000_0000_0000_0010, 0x1000 | t << 4];
        let c = Command::decode(&w).unwrap_or_else(|e| panic!("type {t}: {e}"));
        assert_eq!(c.encode(), w);
        let mut ty = None;
        c.for_each_field(&mut |n, v| {
            if n == "type" {
                ty = Some(v);
            }
        });
        assert_eq!(ty, Some(FieldValue::Uint(t)), "type {t}");
        assert!(Command::check_words(&w).is_ok());
        // Built from named fields, the same words.
        let f = [
            ("device_id", FieldValue::Uint(0x10)),
            ("address", FieldValue::Uint(0x1000)),
            ("type", FieldValue::Uint(t)),
        ];
        let b = Command::from_fields("INVALIDATE_IOTLB_PAGES", &mut f.iter().copied(), 2);
        assert_eq!(b.map(|c| c.encode()), Ok(w));
    }
    for bit in [1u32, 3, 6, 7, 8, 9, 10, 11] {
        let w = [0x4000_0000_0000_0010, 0x1000 | 1 << bit];
        assert_eq!(
            Command::decode(&w),
            Err(DecodeError::reserved(1, 1 << bit)),
            "w1[{bit}]"
        );
    }
    // Wider than two bits: refused by name.
    let f = [("type", FieldValue::Uint(4))];
    assert!(matches!(
        Command::from_fields("INVALIDATE_IOTLB_PAGES", &mut f.iter().copied(), 2),
        Err(FieldError::TooWide("type"))
    ));
}

#[test]
fn prefetch_and_ppr() {
    // device 0xff, pfcount 0x80 (w0[31:24]), pasid 0x12345 (w0[51:32]); s, gn, inv (w1[4]).
    kat(
        [0x6001_2345_8000_00ff, 0x1015],
        Command::PrefetchIommuPages(PrefetchIommuPages {
            device_id: 0xff,
            pfcount: 0x80,
            pasid: 0x12345,
            s: true,
            gn: true,
            inv: true,
            address: 0x1000,
        }),
    );
    // device 0x1234, pasid 0x54321, gn, tag 0x1ff (w1[40:32]), status 0xf (w1[47:44]).
    kat(
        [0x7005_4321_0000_1234, 0x0000_f1ff_0000_0004],
        Command::CompletePprRequest(CompletePprRequest {
            device_id: 0x1234,
            pasid: 0x5_4321,
            gn: true,
            tag: 0x1ff,
            status: 0xf,
        }),
    );
    // A PCIe-reserved status (2) is not an illegal command: the IOMMU forwards it.
    kat(
        [0x7000_0000_0000_0001, 0x0000_2000_0000_0000],
        Command::CompletePprRequest(CompletePprRequest {
            device_id: 1,
            status: 2,
            ..Default::default()
        }),
    );
}

#[test]
fn reserved_bits_are_typed_errors() {
    let cases: [([u64; 2], DecodeError); 9] = [
        (
            [0x1010_0000_0000_0000, 0],
            DecodeError::reserved(0, 1 << 52),
        ),
        (
            [0x2000_0000_0001_0000, 0],
            DecodeError::reserved(0, 1 << 16),
        ),
        ([0x2000_0000_0000_0000, 1], DecodeError::reserved(1, 1)),
        (
            [0x3000_0000_0010_0000, 0],
            DecodeError::reserved(0, 1 << 20),
        ),
        ([0x3000_0000_0000_0000, 0x8], DecodeError::reserved(1, 0x8)),
        ([0x4000_0000_0000_0000, 0x2], DecodeError::reserved(1, 0x2)),
        (
            [0x6000_0000_0001_0000, 0],
            DecodeError::reserved(0, 1 << 16),
        ),
        (
            [0x7000_0000_0000_0000, 0x0000_0200_0000_0000],
            DecodeError::reserved(1, 1 << 41),
        ),
        ([0x8000_0000_0000_0001, 0], DecodeError::reserved(0, 1)),
    ];
    for (w, e) in cases {
        assert_eq!(Command::decode(&w), Err(e), "{w:#x?}");
    }
    // Several reserved bits: all of them in the mask, w0 reported first.
    let e = Command::decode(&[0x5000_0000_ffff_0000, 0xff]).unwrap_err();
    assert_eq!(
        (e.kind, e.word, e.mask),
        (ErrorKind::ReservedBits, 0, 0xffff_0000)
    );
    // PREFETCH w1 bits 1, 3 and [11:5] are reserved.
    let e = Command::decode(&[0x6000_0000_0000_0000, 0xfea]).unwrap_err();
    assert_eq!((e.word, e.mask), (1, 0xfea));
}

#[test]
fn unknown_opcodes() {
    // 0x9 INSERT_GUEST_EVENT and 0xa RESET_VMMIO exist from revision 3.x
    // (tests/revisions.rs).
    for op in [0x0u64, 0xb, 0xc, 0xd, 0xe, 0xf] {
        let e = Command::decode(&[op << 60, 0]).unwrap_err();
        assert_eq!(e, DecodeError::unknown_opcode(op));
    }
}

#[test]
fn from_fields_refuses_wide_values() {
    let f = |op: &str, name: &'static str, v: FieldValue| {
        Command::from_fields(op, &mut [(name, v)].into_iter(), 2)
    };
    assert_eq!(
        f("INVALIDATE_IOMMU_PAGES", "pasid", FieldValue::Uint(1 << 20)),
        Err(FieldError::TooWide("pasid"))
    );
    assert_eq!(
        f("INVALIDATE_IOTLB_PAGES", "pasid", FieldValue::Uint(1 << 20)),
        Err(FieldError::TooWide("pasid"))
    );
    assert_eq!(
        f(
            "INVALIDATE_IOMMU_PAGES",
            "address",
            FieldValue::Uint(0x1800)
        ),
        Err(FieldError::TooWide("address"))
    );
    assert_eq!(
        f("COMPLETION_WAIT", "store_address", FieldValue::Uint(4)),
        Err(FieldError::TooWide("store_address"))
    );
    assert_eq!(
        f(
            "COMPLETION_WAIT",
            "store_address",
            FieldValue::Uint(1 << 52)
        ),
        Err(FieldError::TooWide("store_address"))
    );
    assert_eq!(
        f("COMPLETE_PPR_REQUEST", "tag", FieldValue::Uint(0x200)),
        Err(FieldError::TooWide("tag"))
    );
    assert_eq!(
        f("COMPLETE_PPR_REQUEST", "status", FieldValue::Uint(0x10)),
        Err(FieldError::TooWide("status"))
    );
    assert_eq!(
        f(
            "INVALIDATE_DEVTAB_ENTRY",
            "device_id",
            FieldValue::Bool(true)
        ),
        Err(FieldError::TooWide("device_id"))
    );
    assert_eq!(
        f("INVALIDATE_IOMMU_PAGES", "gn", FieldValue::Uint(2)),
        Err(FieldError::TooWide("gn"))
    );
    assert_eq!(
        f("INVALIDATE_DEVTAB_ENTRY", "pasid", FieldValue::Uint(1)),
        Err(FieldError::UnknownField("pasid"))
    );
    assert_eq!(
        f("INVALIDATE_IOMMU_ALL", "bogus", FieldValue::Uint(1)).unwrap_err(),
        FieldError::UnknownField("(not a field of this op)")
    );
    assert_eq!(
        f("NOPE", "s", FieldValue::Bool(true)),
        Err(FieldError::UnknownOp)
    );
    assert!(matches!(
        Command::from_fields("INVALIDATE_IOMMU_ALL", &mut core::iter::empty(), 4),
        Err(FieldError::Invalid(e)) if e.kind == ErrorKind::BadLength
    ));
    // Omitted fields are zero; the largest values fit.
    let c = f("INVALIDATE_IOTLB_PAGES", "pasid", FieldValue::Uint(0xffff)).unwrap();
    assert_eq!(c.encode(), [0x40ff_0000_00ff_0000, 0]);
    assert_eq!(Command::op_names().len(), 10);
}

/// AMD #48882 §2.4.7 names dword3[15:0] of COMPLETE_PPR_REQUEST one 16-bit
/// "CompletionTag" that the IOMMU returns in the PRG Response; the table
/// splits it as the PCIe PRG Response does (PRG index [8:0], response code
/// [15:12]) and leaves [11:9] (PCIe-reserved) reserved. The codec follows
/// the table: those three bits are `reserved_bits`, the rest decodes.
#[test]
fn ppr_completion_tag_layout_follows_the_table() {
    for bit in 41..=43 {
        let e = Command::decode(&[0x7000_0000_0000_0000, 1 << bit]).unwrap_err();
        assert_eq!(
            (e.kind, e.word, e.mask),
            (ErrorKind::ReservedBits, 1, 1 << bit)
        );
    }
    // The whole 16-bit tag with [11:9] clear: tag 0x1ff, status 0xf.
    let c = Command::decode(&[0x7000_0000_0000_0000, 0xf1ff << 32]).unwrap();
    assert_eq!(
        c,
        Command::CompletePprRequest(CompletePprRequest {
            tag: 0x1ff,
            status: 0xf,
            ..Default::default()
        })
    );
    // dword3[31:16] is reserved in both.
    assert_eq!(
        Command::decode(&[0x7000_0000_0000_0000, 1 << 48])
            .unwrap_err()
            .kind,
        ErrorKind::ReservedBits
    );
}

#[test]
fn footprints_through_arch() {
    use iommu_inval_core::{arch::Arch, IdentityContext};
    let fp = |w: [u64; 2]| AmdVi::footprint(&Command::decode(&w).unwrap(), &IdentityContext);
    // INVALIDATE_IOMMU_ALL covers INVALIDATE_DEVTAB_ENTRY of device 1, not the reverse.
    let all = fp([0x8000_0000_0000_0000, 0]);
    let dte = fp([0x2000_0000_0000_0001, 0]);
    assert!(all.covers(&dte) && !dte.covers(&all));
    // A COMPLETION_WAIT removes nothing.
    assert!(fp([0x1000_0000_0000_0000, 0]).is_empty());
}
