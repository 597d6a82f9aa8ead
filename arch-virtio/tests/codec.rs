//! The virtio-iommu codec from outside the crate: known-answer vectors
//! from the layouts (SPEC `device-types/iommu/description.tex`, the 2021
//! RFC 11/15, the 2018 "v0.9-devel" uapi header), R1 on bytes for every
//! request type, and the device's answer to each refusal.

use iommu_inval_core::{DecodeError, ErrorKind, FeatureSet};
use iommu_inval_virtio::status::{refusal, Status};
use iommu_inval_virtio::*;
use proptest::prelude::*;

/// Bytes from a hex string (spaces ignored).
fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|k| u8::from_str_radix(&s[k..k + 2], 16).unwrap())
        .collect()
}

fn round_trip(b: &[u8]) -> Command {
    let c = Command::decode_bytes(b).unwrap();
    assert_eq!(c.byte_len(), b.len());
    let mut out = [0u8; MAX_BYTES];
    assert_eq!(c.encode_bytes_into(&mut out), Ok(b.len()));
    assert_eq!(&out[..b.len()], b);
    c
}

#[test]
fn known_answers_ratified() {
    // ATTACH domain 1, endpoint 0x10 (as Linux sends it: flags 0).
    let c = round_trip(&hex("01000000 01000000 10000000 00000000 00000000"));
    assert_eq!(
        c,
        Command::Attach(Attach {
            domain: 1,
            endpoint: 0x10,
            ..Attach::default()
        })
    );
    // ATTACH with ATTACH_F_BYPASS.
    let c = round_trip(&hex("01000000 02000000 08000000 01000000 00000000"));
    assert!(matches!(
        c,
        Command::Attach(Attach {
            flags: ATTACH_F_BYPASS,
            domain: 2,
            endpoint: 8,
            ..
        })
    ));
    // DETACH domain 0x0102_0304 endpoint 0x55, reserved bytes kept.
    let c = round_trip(&hex("02aabbcc 04030201 55000000 0102030405060708"));
    assert_eq!(
        c,
        Command::Detach(Detach {
            head_reserved: [0xaa, 0xbb, 0xcc],
            domain: 0x0102_0304,
            endpoint: 0x55,
            reserved: [1, 2, 3, 4, 5, 6, 7, 8],
        })
    );
    // MAP domain 1, [0x10000; 0x1ffff] -> 0x8000_0000, READ | WRITE.
    let c = round_trip(&hex(
        "03000000 01000000 0000010000000000 ffff010000000000 0000008000000000 03000000",
    ));
    assert_eq!(
        c,
        Command::Map(Map {
            domain: 1,
            virt_start: 0x1_0000,
            virt_end: 0x1_ffff,
            phys_start: 0x8000_0000,
            flags: MAP_F_READ | MAP_F_WRITE,
            ..Map::default()
        })
    );
    // UNMAP domain 1, the whole space.
    let c = round_trip(&hex(
        "04000000 01000000 0000000000000000 ffffffffffffffff 00000000",
    ));
    assert!(matches!(
        c,
        Command::Unmap(Unmap {
            virt_start: 0,
            virt_end: u64::MAX,
            ..
        })
    ));
    // PROBE endpoint 0x20.
    let mut b = hex("05000000 20000000");
    b.resize(72, 0);
    b[71] = 0x77; // reserved, ignored, kept
    let c = round_trip(&b);
    let Command::Probe(p) = c else { panic!() };
    assert_eq!((p.endpoint, p.reserved[63]), (0x20, 0x77));
}

#[test]
fn known_answers_drafts() {
    // RFC 2021 INVALIDATE: G_VA, IOTLB, F_PASID | F_ARCHID, domain 1,
    // pasid 2, archid 3, 16 pages of 4 KiB from 0x4000_0000.
    let mut b = hex(
        "07000000 0400 0100 0300 0000 01000000 02000000 00000000 0300000000000000
         0000004000000000 1000000000000000 0c",
    );
    b.resize(60, 0);
    let c = round_trip(&b);
    assert_eq!(
        c,
        Command::Invalidate(Invalidate {
            inv_gran: INVAL_G_VA,
            inv_type: INV_T_IOTLB,
            flags: INVAL_F_PASID | INVAL_F_ARCHID,
            domain: 1,
            pasid: 2,
            archid: 3,
            virt_start: 0x4000_0000,
            nr_pages: 16,
            granule: 12,
            ..Invalidate::default()
        })
    );
    // 2018 INVALIDATE (v0.9-devel): S_PASID, F_CONFIG, domain 5, pasid 6, id 7.
    let mut b = hex("07000000 0200 0100 05000000 06000000 0700000000000000");
    b.resize(60, 0);
    let c = Command::decode_bytes_with(&b, &Features::VSVA_2018).unwrap();
    assert_eq!(
        c,
        Command::Invalidate2018(Invalidate2018 {
            scope: INVAL_S_PASID,
            flags: INVAL_F_CONFIG_2018,
            domain: 5,
            pasid: 6,
            id: 7,
            ..Invalidate2018::default()
        })
    );
    // ATTACH_TABLE, SMMUv3 PASID table: domain 1, endpoint 2, 4K-L2, S1DSS
    // bypass, table at 0x8_0000_1000, 2^8 descriptors.
    let mut b = hex("06000000 01000000 02000000 0200 01 01 0010000008000000 08000000");
    b.resize(76, 0);
    let c = round_trip(&b);
    let Command::AttachTable(t) = c else { panic!() };
    assert_eq!(
        t.table,
        Table::PstArm {
            s1fmt: 1,
            s1dss: 1,
            s1contextptr: 0x8_0000_1000,
            s1cdmax: 8
        }
    );
    // The 2018 page-table format: only on a 2018 device.
    let mut b = hex("06000000 01000000 02000000 0100 0900 1111111111111111 2222222222222222");
    b.resize(76, 0);
    assert_eq!(Command::decode_bytes(&b).unwrap_err().field, "format");
    let c = Command::decode_bytes_with(&b, &Features::VSVA_2018).unwrap();
    assert!(matches!(
        c,
        Command::AttachTable(AttachTable {
            table: Table::PgtArm {
                asid: 9,
                tcr: 0x1111_1111_1111_1111,
                ttbr0: 0x2222_2222_2222_2222,
                ..
            },
            ..
        })
    ));
}

/// The status of the refusal of `b` by a device with `f`.
fn answer(b: &[u8], f: &Features) -> Option<Status> {
    let e = Command::decode_bytes_with(b, f).unwrap_err();
    refusal(b, &e)
}

#[test]
fn refusals_get_the_spec_status() {
    let all = Features::ALL;
    let attach = hex("01000000 01000000 10000000 00000000 00000000");
    // Reserved ATTACH bytes, unknown flags: MUST S_INVAL.
    let mut r = attach.clone();
    r[16] = 1;
    assert_eq!(answer(&r, &all), Some(Status::Inval));
    let mut r = attach.clone();
    r[12] = 2;
    assert_eq!(answer(&r, &all), Some(Status::Inval));
    // The head's reserved bytes are ignored.
    let mut r = attach.clone();
    r[1] = 0xff;
    assert!(Command::decode_bytes_with(&r, &all).is_ok());
    // Unknown type: nothing written.
    assert_eq!(answer(&[0, 0, 0, 0], &all), None);
    assert_eq!(answer(&[8, 0, 0, 0, 0, 0, 0, 0], &all), None);
    // Too short: unparseable, nothing written. Too long: S_INVAL.
    assert_eq!(answer(&attach[..19], &all), None);
    let mut long = attach.clone();
    long.push(0);
    assert_eq!(answer(&long, &all), Some(Status::Inval));
    assert_eq!(answer(&[], &all), None);
    // Drafts on a ratified device: S_UNSUPP.
    let mut inv = vec![0u8; 60];
    inv[0] = 7;
    inv[4] = 1;
    inv[6] = 1;
    assert!(Command::decode_bytes_with(&inv, &all).is_ok());
    assert_eq!(answer(&inv, &Features::VIRTIO_1_2), Some(Status::Unsupp));
    // MAP without F_MAP_UNMAP: S_UNSUPP; MMIO without F_MMIO: S_INVAL.
    let map = hex("03000000 01000000 0000010000000000 ffff010000000000 0000008000000000 05000000");
    let no_map = Features {
        bits: F_PROBE,
        ..Features::CLOUD_HYPERVISOR
    };
    assert_eq!(answer(&map, &no_map), Some(Status::Unsupp));
    assert_eq!(
        answer(&map, &Features::CLOUD_HYPERVISOR),
        Some(Status::Inval)
    );
    assert!(Command::decode_bytes_with(&map, &Features::CROSVM).is_ok());
    // MAP with virt_end not above virt_start: S_INVAL.
    let mut bad = map.clone();
    bad[16..24].copy_from_slice(&0x1_0000u64.to_le_bytes());
    assert_eq!(answer(&bad, &all), Some(Status::Inval));
    // PROBE without F_PROBE: nothing written.
    let mut probe = vec![0u8; 72];
    probe[0] = 5;
    let no_probe = Features {
        bits: F_MAP_UNMAP,
        ..Features::CLOUD_HYPERVISOR
    };
    assert_eq!(answer(&probe, &no_probe), None);
    // Outside input_range / domain_range: S_RANGE.
    let narrow = Features {
        input_range: (0x2_0000, u64::MAX),
        domain_range: (2, 9),
        ..Features::ALL
    };
    let mut rw = map.clone();
    rw[32] = 3; // READ | WRITE
    assert!(Command::decode_bytes_with(&rw, &all).is_ok());
    assert_eq!(answer(&rw, &narrow), Some(Status::Range));
    assert_eq!(answer(&attach, &narrow), Some(Status::Range));
    // UNMAP's reserved bytes are the front end's choice: decoded and kept.
    let mut unmap = hex("04000000 01000000 0000000000000000 ff0f000000000000 00000000");
    unmap[27] = 1;
    let c = round_trip(&unmap);
    assert!(matches!(
        c,
        Command::Unmap(Unmap {
            reserved: [0, 0, 0, 1],
            ..
        })
    ));
    // Draft reserved bytes: S_INVAL.
    inv[59] = 1;
    let e = Command::decode_bytes(&inv).unwrap_err();
    assert_eq!(e.kind, ErrorKind::ReservedBits);
    assert_eq!(refusal(&inv, &e), Some(Status::Inval));
    assert_eq!(
        Command::decode_bytes(&inv[..59]),
        Err(DecodeError::bad_length(59))
    );
}

/// A request type and its readable length.
fn typed_bytes() -> impl Strategy<Value = (Vec<u8>, bool)> {
    (1u8..=7, any::<[u8; 76]>(), any::<u64>()).prop_map(|(ty, raw, clean)| {
        let len = len_of_type(ty).unwrap();
        let mut b = raw[..len].to_vec();
        b[0] = ty;
        // Often make it valid: clear the bytes a decoder refuses when set,
        // and pick defined values for the drafts' enumerations.
        let valid = clean & 1 != 0;
        if valid {
            let zero = |b: &mut Vec<u8>, r: core::ops::Range<usize>| b[r].fill(0);
            match ty {
                1 => {
                    zero(&mut b, 13..20);
                    b[12] &= 1;
                }
                3 => {
                    zero(&mut b, 33..36);
                    b[32] &= 7;
                    b[23] = 0xff; // virt_end above virt_start
                    b[15] = 0;
                }
                6 => {
                    b[12] = 2;
                    b[13] = 0;
                    b[14] %= 3;
                    b[15] %= 3;
                    zero(&mut b, 28..76);
                }
                7 => {
                    let pick = [1u8, 2, 4];
                    b[4] = pick[(clean >> 8) as usize % 3];
                    b[5] = 0;
                    b[6] = (b[6] & 7).max(1);
                    b[7] = 0;
                    b[8] = (b[8] & 7) | 1;
                    b[9] = 0;
                    zero(&mut b, 10..12);
                    zero(&mut b, 20..24);
                    b[48] %= 64;
                    b[40] |= 1;
                    zero(&mut b, 49..60);
                }
                _ => {}
            }
        }
        (b, valid)
    })
}

proptest! {
    /// R1 on bytes: a request that decodes encodes back to the same bytes,
    /// reserved bytes included; one that does not gets a status or nothing,
    /// and never a panic. Its refusal and decode agree with the features'.
    #[test]
    fn r1_bytes_every_type((b, valid) in typed_bytes()) {
        let decoded = Command::decode_bytes(&b);
        prop_assert!(!valid || decoded.is_ok(), "{:?}", decoded);
        match decoded {
            Ok(c) => {
                let mut out = [0u8; MAX_BYTES];
                prop_assert_eq!(c.encode_bytes_into(&mut out), Ok(b.len()));
                prop_assert_eq!(&out[..b.len()], &b[..]);
                prop_assert_eq!(c.type_byte(), b[0]);
                prop_assert!(Command::decode_bytes_with(&b, &Features::ALL).is_ok());
            }
            Err(e) => {
                // Every refusal of a well-sized request is answered.
                prop_assert!(refusal(&b, &e).is_some());
            }
        }
        // A byte more or less is a length error, answered as the spec says.
        let mut long = b.clone();
        long.push(0);
        prop_assert_eq!(Command::decode_bytes(&long), Err(DecodeError::bad_length(long.len())));
        prop_assert_eq!(refusal(&long, &DecodeError::bad_length(long.len())), Some(Status::Inval));
        let short = &b[..b.len() - 1];
        prop_assert_eq!(Command::decode_bytes(short), Err(DecodeError::bad_length(short.len())));
        prop_assert_eq!(refusal(short, &DecodeError::bad_length(short.len())), None);
        // The 2018 layout of type 7 round-trips the same way.
        if let Ok(c) = Command::decode_bytes_with(&b, &Features::VSVA_2018) {
            let mut out = [0u8; MAX_BYTES];
            prop_assert_eq!(c.encode_bytes_into(&mut out), Ok(b.len()));
            prop_assert_eq!(&out[..b.len()], &b[..]);
        }
    }

    /// Anything at all: no panic, and an answer.
    #[test]
    fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..90)) {
        for (_, f) in <Features as FeatureSet>::PRESETS {
            if let Err(e) = Command::decode_bytes_with(&b, f) {
                let _ = refusal(&b, &e);
            }
        }
    }
}

/// examples/virtio-iommu.cmds: every request decodes (as a device of every
/// feature and the 2021 RFC) and encodes back to its line's bytes.
#[test]
fn the_example_stream_decodes() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/virtio-iommu.cmds");
    let text = std::fs::read_to_string(path).unwrap();
    let mut ops = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
    {
        let c = round_trip(&hex(line));
        ops.push(c.type_byte());
    }
    assert_eq!(
        ops,
        // PROBE, ATTACH, MAP, UNMAP, DETACH, INVALIDATE ×2 (SPEC "Device
        // operations": types 1 to 5; the drafts: 7).
        [5, 1, 3, 4, 2, 7, 7]
    );
}

proptest! {
    /// Draft PROBE properties: any bytes decode or are refused without a
    /// panic, and a decoded property encodes back to exactly its bytes
    /// (`probe` module: reserved bytes refused, lengths exact).
    #[test]
    fn draft_properties_r1(
        bytes in prop::collection::vec(any::<u8>(), 0..32),
        kind in 0u16..9,
        len in prop::sample::select(vec![4u16, 12, 20]),
        draft in prop::sample::select(vec![Draft::None, Draft::Brucker2018, Draft::Rfc2021]),
    ) {
        use iommu_inval_virtio::probe::DraftProperty;
        let mut b = bytes.clone();
        if b.len() >= 4 {
            // A plausible header half of the time.
            if b[0] & 1 == 0 {
                b[0..2].copy_from_slice(&kind.to_le_bytes());
                b[2..4].copy_from_slice(&len.to_le_bytes());
            }
        }
        if let Ok(p) = DraftProperty::decode(&b, draft) {
            let mut out = [0u8; 24];
            let n = p.encode_into(&mut out).unwrap();
            prop_assert_eq!(n, p.size());
            prop_assert_eq!(&out[..n], &b[..n]);
            prop_assert_eq!(DraftProperty::decode(&out[..n], draft), Ok(p));
        }
    }
}
