//! Tests that run the built `iommu-inval` binary: exit statuses, JSON
//! shapes, error kinds, decode→encode round trips over every op of every
//! architecture, garbage input, the examples, and the help texts.
//!
//! Known-answer words below are computed by hand from the tables of
//! the command tables (docs/SPEC.md) (the comment on each gives the fields).

// The binary's private modules, compiled from source.
#[allow(dead_code)]
#[path = "../src/app/mod.rs"]
mod app;

use serde_json::Value;
use std::io::{Read, Write};
use std::process::{Command, Stdio};

mod common;
use common::{cli, json_lines, le_bytes, read, root, run, run_bytes};

/// One valid command per op, hand-encoded from docs/SPEC.md.
const SMMU_VECTORS: &[(&str, &str)] = &[
    // ssv=1 ssid=3 sid=0x10
    (
        "CMD_PREFETCH_CONFIG",
        "0x0000001000003801,0x0000000000000000",
    ),
    // sid=0x10 size=2 stride=1 address=0x5000
    ("CMD_PREFETCH_ADDR", "0x0000001000000002,0x0000000000005022"),
    // sid=0x18 leaf=1
    ("CMD_CFGI_STE", "0x0000001800000003,0x0000000000000001"),
    // sid=0x20 range=4
    (
        "CMD_CFGI_STE_RANGE",
        "0x0000002000000004,0x0000000000000004",
    ),
    // range=31
    ("CMD_CFGI_ALL", "0x0000000000000004,0x000000000000001f"),
    // ssid=2 sid=0x10 leaf=1
    ("CMD_CFGI_CD", "0x0000001000002005,0x0000000000000001"),
    ("CMD_CFGI_CD_ALL", "0x0000001000000006,0x0000000000000000"),
    // vmid=1
    ("CMD_TLBI_NH_ALL", "0x0000000100000010,0x0000000000000000"),
    // vmid=1 asid=6
    ("CMD_TLBI_NH_ASID", "0x0006000100000011,0x0000000000000000"),
    // num=0 scale=9 vmid=1 asid=5 leaf ttl=3 tg=1 address=0x40000000
    ("CMD_TLBI_NH_VA", "0x0005000100900012,0x0000000040000701"),
    // num=1 vmid=1 tg=1 address=0x1000
    ("CMD_TLBI_NH_VAA", "0x0000000100001013,0x0000000000001400"),
    ("CMD_TLBI_EL3_ALL", "0x0000000000000018,0x0000000000000000"),
    ("CMD_TLBI_EL3_VA", "0x000000000000001a,0x0000000000002000"),
    ("CMD_TLBI_EL2_ALL", "0x0000000000000020,0x0000000000000000"),
    ("CMD_TLBI_EL2_ASID", "0x0003000000000021,0x0000000000000000"),
    // asid=3 leaf address=0x3000
    ("CMD_TLBI_EL2_VA", "0x0003000000000022,0x0000000000003001"),
    ("CMD_TLBI_EL2_VAA", "0x0000000000000023,0x0000000000004000"),
    (
        "CMD_TLBI_S12_VMALL",
        "0x0000000200000028,0x0000000000000000",
    ),
    // scale=4 vmid=2 leaf ttl=3 tg=1 address=0x80000000
    ("CMD_TLBI_S2_IPA", "0x000000020040002a,0x0000000080000701"),
    ("CMD_TLBI_NSNH_ALL", "0x0000000000000030,0x0000000000000000"),
    // ssv=1 ssid=1 sid=0x10 size=9 address=0x40000000
    ("CMD_ATC_INV", "0x0000001000001840,0x0000000040000009"),
    // ssv=1 ssid=1 sid=0x10 prg_index=0x1a resp=2
    ("CMD_PRI_RESP", "0x0000001000001841,0x000000000000201a"),
    // resp=1 sid=0x10 stag=7
    ("CMD_RESUME", "0x0000001000001044,0x0000000000000007"),
    ("CMD_STALL_TERM", "0x0000001000000045,0x0000000000000000"),
    // cs=1 msh=3 msi_attr=0xf msi_data=0x1234 msi_address=0x80001000
    ("CMD_SYNC", "0x000012340fc01046,0x0000000080001000"),
    // The newest revision (IHI0070 §4.1.1 opcodes, §4.4.1.1 fields):
    // CMD_CFGI_VMS_PIDM ssec=1 vmid=0x123
    ("CMD_CFGI_VMS_PIDM", "0x0000012300000407,0x0000000000000000"),
    (
        "CMD_TLBI_S_EL2_ALL",
        "0x0000000000000050,0x0000000000000000",
    ),
    // asid=7
    (
        "CMD_TLBI_S_EL2_ASID",
        "0x0007000000000051,0x0000000000000000",
    ),
    // num=1 asid=7 leaf ttl=3 tg=1 address=0x40000000
    ("CMD_TLBI_S_EL2_VA", "0x0007000000001052,0x0000000040000701"),
    // address=0x40000000
    (
        "CMD_TLBI_S_EL2_VAA",
        "0x0000000000000053,0x0000000040000000",
    ),
    // vmid=9
    (
        "CMD_TLBI_S_S12_VMALL",
        "0x0000000900000058,0x0000000000000000",
    ),
    // vmid=9 leaf ns address=0x80000000
    ("CMD_TLBI_S_S2_IPA", "0x000000090000005a,0x0000000080000003"),
    ("CMD_TLBI_SNH_ALL", "0x0000000000000060,0x0000000000000000"),
    ("CMD_DPTI_ALL", "0x0000000000000070,0x0000000000000000"),
];

const VTD_VECTORS: &[(&str, &str)] = &[
    // g=3 did=2 sid=0x18
    ("cc_inv_dsc", "0x0000001800020031,0x0000000000000000"),
    // g=3 dw dr did=1; am=9 ih address=0x40000000
    ("iotlb_inv_dsc", "0x00000000000100f2,0x0000000040000049"),
    // pfsid=0x10 (w0[52] = pfsid[4]) sid=0x10; s=1 address=0x400ff000
    ("dev_tlb_inv_dsc", "0x0010001000000003,0x00000000400ff001"),
    // g=1 im=3 iidx=32
    ("iec_inv_dsc", "0x0000002018000014,0x0000000000000000"),
    // sw fn status_data=1 status_address=0x7f000000
    ("inv_wait_dsc", "0x0000000100000065,0x000000007f000000"),
    // g=3 did=1 pasid=1; am=9 ih address=0x40000000
    ("p_iotlb_inv_dsc", "0x0000000100010036,0x0000000040000049"),
    // g=1 did=1 pasid=2
    ("pc_inv_dsc", "0x0000000200010017,0x0000000000000000"),
    // sid=0x10 pasid=1 pfsid=0x10; s=1 address=0x400ff000
    ("p_dev_tlb_inv_dsc", "0x0010000100100008,0x00000000400ff800"),
    // pasid_present rid=0x10 pasid=1; lpig prg_index=0x1a
    ("page_grp_resp_dsc", "0x0000000100100019,0x00000000000000d4"),
];

const AMD_VECTORS: &[(&str, &str)] = &[
    // s store_address=0x7f000000 store_data=1
    ("COMPLETION_WAIT", "0x100000007f000001,0x0000000000000001"),
    (
        "INVALIDATE_DEVTAB_ENTRY",
        "0x2000000000000010,0x0000000000000000",
    ),
    // domain_id=1; s=1 address=0x400ff000 (2 MiB at 0x40000000)
    (
        "INVALIDATE_IOMMU_PAGES",
        "0x3000000100000000,0x00000000400ff001",
    ),
    // device_id=0x10 pasid=0x1234 (0x12 in w0[23:16], 0x34 in w0[55:48]); gn address=0x7000
    (
        "INVALIDATE_IOTLB_PAGES",
        "0x4034000000120010,0x0000000000007004",
    ),
    (
        "INVALIDATE_INTERRUPT_TABLE",
        "0x5000000000000018,0x0000000000000000",
    ),
    // device_id=0x10 pfcount=2 pasid=1; gn address=0x5000
    (
        "PREFETCH_IOMMU_PAGES",
        "0x6000000102000010,0x0000000000005004",
    ),
    // device_id=0x10 pasid=1; gn tag=0x1a status=0
    (
        "COMPLETE_PPR_REQUEST",
        "0x7000000100000010,0x0000001a00000004",
    ),
    (
        "INVALIDATE_IOMMU_ALL",
        "0x8000000000000000,0x0000000000000000",
    ),
    // Revision 3.x: guest_id=0x1234
    (
        "INSERT_GUEST_EVENT",
        "0x9000123400000000,0x0000000000000000",
    ),
    // guest_id=0x42 all vcmd
    ("RESET_VMMIO", "0xa000000090000042,0x0000000000000000"),
];

fn vectors(arch: &str) -> &'static [(&'static str, &'static str)] {
    match arch {
        "smmuv3" => SMMU_VECTORS,
        "vtd" => VTD_VECTORS,
        _ => AMD_VECTORS,
    }
}

fn op_names(arch: &str) -> &'static [&'static str] {
    use iommu_inval::core::NativeCommand;
    match arch {
        "smmuv3" => iommu_inval::arm::Command::op_names(),
        "vtd" => iommu_inval::vtd::Command::op_names(),
        _ => iommu_inval::amd::Command::op_names(),
    }
}

#[test]
fn vectors_cover_every_op_of_every_arch() {
    for arch in ["smmuv3", "vtd", "amd"] {
        let mut want: Vec<&str> = op_names(arch).to_vec();
        let mut have: Vec<&str> = vectors(arch).iter().map(|v| v.0).collect();
        want.sort_unstable();
        have.sort_unstable();
        assert_eq!(have, want, "{arch}");
    }
}

#[test]
fn decode_then_encode_round_trips_every_op() {
    for arch in ["smmuv3", "vtd", "amd"] {
        let input: String = vectors(arch)
            .iter()
            .map(|(_, w)| format!("{w}\n"))
            .collect();
        let d = cli("decode --arch").arg(arch).args("--json").run(&input);
        assert_eq!(d.code, 0, "{arch}: {}", d.stderr);
        let objs = json_lines(&d.stdout);
        assert_eq!(objs.len(), vectors(arch).len());
        for (o, (op, _)) in objs.iter().zip(vectors(arch)) {
            assert_eq!(o["arch"], arch);
            assert_eq!(o["op"], *op, "{o}");
        }
        let e = cli("encode --arch").arg(arch).run(&d.stdout);
        assert_eq!(e.code, 0, "{arch}: {}", e.stderr);
        assert_eq!(e.stdout, input, "{arch}");
    }
}

#[test]
fn vtd_256_bit_round_trip_keeps_priv_data() {
    // page_grp_resp_dsc with priv_data_present: w2, w3 are the private data.
    let w = "0x0000000100100039,0x00000000000000d4,0x1122334455667788,0x99aabbccddeeff00";
    let d = cli("decode --arch vtd --desc-width 256 --json").run_arg(w);
    d.code_is(0);
    let o = &json_lines(&d.stdout)[0];
    assert_eq!(o["op"], "page_grp_resp_dsc");
    assert_eq!(
        o["fields"]["priv_data"],
        serde_json::json!([0x1122334455667788u64, 0x99aabbccddeeff00u64])
    );
    assert_eq!(o["fields"]["priv_data_present"], true);
    let e = cli("encode --arch vtd --desc-width 256").run(&d.stdout);
    assert_eq!((e.code, e.stdout.trim()), (0, w));
    // The same descriptor as 128 bits has no room for it.
    let n = cli("decode --arch vtd").run_arg(w);
    n.code_is(2);
}

#[test]
fn json_fields_are_in_table_order_with_bools_and_byte_addresses() {
    let d = cli("decode --arch smmuv3 --json 0x0005000100900012,0x0000000040000701").run("");
    assert_eq!(
        d.stdout.trim(),
        r#"{"arch":"smmuv3","op":"CMD_TLBI_NH_VA","fields":{"num":0,"scale":9,"vmid":1,"asid":5,"leaf":true,"ttl128":false,"ttl":3,"tg":1,"address":1073741824}}"#
    );
    for arch in ["smmuv3", "vtd", "amd"] {
        let input: String = vectors(arch)
            .iter()
            .map(|(_, w)| format!("{w}\n"))
            .collect();
        let d = cli("decode --arch").arg(arch).args("--json").run(&input);
        for o in json_lines(&d.stdout) {
            let keys: Vec<&String> = o.as_object().unwrap().keys().collect();
            assert_eq!(keys, ["arch", "op", "fields"]);
            let op = o["op"].as_str().unwrap();
            let arch_id = iommu_inval::core::ArchId::from_name(arch).unwrap();
            use iommu_inval::ArchOps;
            let names = iommu_inval::Arch::new(arch_id).field_names(op).unwrap();
            let got: Vec<&str> = o["fields"]
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            // Table order; VT-d priv_data only exists with 256-bit descriptors.
            let want: Vec<&str> = names.iter().copied().filter(|n| got.contains(n)).collect();
            assert_eq!(got, want, "{op}");
            assert!(
                names.len() - got.len() <= usize::from(op == "page_grp_resp_dsc"),
                "{op}"
            );
        }
    }
}

#[test]
fn every_error_kind_in_the_error_shape() {
    // SMMU opcode 0xff: unknown; CMD_SYNC with w0[8] set: reserved; CMD_SYNC cs=3: invalid.
    let cases = [
        ("smmuv3", "0x00000000000000ff,0", "unknown_opcode", "opcode"),
        ("smmuv3", "0x0000000000000146,0", "reserved_bits", "w0[8]"),
        ("smmuv3", "0x0000000000003046,0", "invalid_field", "cs"),
        // TLBI with tg=0 and num != 0
        (
            "smmuv3",
            "0x0000000100001012,0x0000000000001000",
            "invalid_field",
            "w0",
        ),
        // VT-d type 0xa is not in the table; iotlb g=0 is invalid; cc_inv_dsc w1 bit 0 reserved
        ("vtd", "0x000000000000000a,0", "unknown_opcode", "opcode"),
        ("vtd", "0x0000000000000002,0", "invalid_field", "g"),
        (
            "vtd",
            "0x0000000000000031,0x0000000000000001",
            "reserved_bits",
            "w1[0]",
        ),
        // AMD opcode 0 is not a command; INVALIDATE_DEVTAB_ENTRY with w1 bit 63 set
        ("amd", "0x0000000000000000,0", "unknown_opcode", "opcode"),
        (
            "amd",
            "0x2000000000000010,0x8000000000000000",
            "reserved_bits",
            "w1[63]",
        ),
    ];
    for (arch, w, kind, needle) in cases {
        let d = cli("decode --arch").arg(arch).args("--json").run_arg(w);
        assert_eq!(d.code, 1, "{arch} {w}");
        let o = &json_lines(&d.stdout)[0];
        assert_eq!(o["arch"], arch);
        assert_eq!(o["error"]["kind"], kind, "{arch} {w}: {o}");
        let msg = o["error"]["message"].as_str().unwrap();
        assert!(
            msg.contains(needle),
            "{arch} {w}: message {msg:?} should name {needle}"
        );
        let keys: Vec<&String> = o.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["arch", "error"]);
        // Text mode reports it in place too.
        cli("decode --arch")
            .arg(arch)
            .run_arg(w)
            .code_is(1)
            .stdout_has(kind);
    }
}

/// A TLBI range error shows the value of the field it names, read from
/// that field's bits alone: tg = 1 with no range and no level hint is
/// "invalid value 1 in field tg", not 4 (tg and ttl read together); a
/// level hint without a granule is ttl's own value; on an SMMUv3.2 (no DS)
/// the 16 KiB level-1 hint without a range names ttl = 1.
#[test]
fn range_errors_show_the_named_fields_value() {
    for (caps, w, want) in [
        (
            "latest",
            "0x0007000000000012,0x0000000000000400",
            "invalid value 1 in field tg with num=scale=ttl=0 (w1[11:10])",
        ),
        (
            "latest",
            "0x0000000000000013,0x0000000000000200",
            "invalid value 2 in field ttl with tg=0 (w1[9:8])",
        ),
        (
            "latest",
            "0x0000000000001012,0x0000000000000480",
            "invalid value 1 in field ttl128 with ttl=0 (w1[7])",
        ),
        (
            "smmuv3.2",
            "0x000000000000002a,0x0000000000000900",
            "invalid value 1 in field ttl with tg=2",
        ),
    ] {
        let d = cli("decode --arch smmuv3 --caps")
            .arg(caps)
            .args("--json")
            .run_arg(w);
        assert_eq!(d.code, 1, "{w}");
        let o = &json_lines(&d.stdout)[0];
        assert_eq!(o["error"]["kind"], "invalid_field", "{w}: {o}");
        let msg = o["error"]["message"].as_str().unwrap();
        assert!(msg.starts_with(want), "{w}: {msg:?}, want {want:?}");
    }
}

#[test]
fn bad_length_is_the_library_error_for_a_wrong_buffer() {
    use iommu_inval::core::ArchId;
    use iommu_inval::ArchOps;
    for id in ArchId::ALL {
        // A virtio-iommu request's length is its type's: a MAP (type 3,
        // 5 words) of 3 words.
        let w = if id == ArchId::VirtioIommu {
            [3, 0, 0]
        } else {
            [0; 3]
        };
        let e = iommu_inval::Arch::new(id).decode(&w).unwrap_err();
        assert_eq!(e.kind.as_str(), "bad_length");
        let j = app::json::decode_error_json(id, &e);
        assert_eq!(j["error"]["kind"], "bad_length");
        assert!(j["error"]["message"].as_str().unwrap().contains('3'));
    }
}

#[test]
fn exit_status_zero_one_two() {
    let ok = cli("decode --arch amd 0x8000000000000000,0").run("");
    ok.code_is(0);
    assert!(ok.stdout.starts_with("INVALIDATE_IOMMU_ALL"));
    let mixed = cli("decode --arch amd").run("0x8000000000000000,0\n0x0,0\n");
    mixed.code_is(1);
    assert_eq!(
        mixed.stdout.lines().count(),
        2,
        "both commands reported, in order"
    );
    let text = cli("decode --arch amd").run("0x8000000000000000,0\nzz,0\n0x0,0\n");
    assert_eq!(text.code, 2, "text errors dominate");
    text.stderr_has("line 2");
    assert_eq!(
        text.stdout.lines().count(),
        2,
        "the other lines are still decoded"
    );
    for usage in [
        vec!["decode"],
        vec!["decode", "--arch", "arm64", "0,0"],
        vec!["frobnicate"],
        vec!["decode", "--arch", "amd", "--desc-width", "256", "0,0"],
        vec!["decode", "--arch", "vtd", "--desc-width", "512", "0,0"],
        vec!["decode", "--arch", "amd", "--offset", "4", "0,0"],
        vec!["decode", "--arch", "amd", "--raw", "no/such/file"],
        vec![
            "convert",
            "--from",
            "amd",
            "--to",
            "vtd",
            "--topology",
            "no/such/file",
            "0x8000000000000000,0",
        ],
        vec![
            "convert",
            "--from",
            "amd",
            "--to",
            "amd",
            "--legacy",
            "0x8000000000000000,0",
        ],
    ] {
        let o = run(&usage, "");
        assert_eq!(o.code, 2, "{usage:?}");
        assert!(!o.stderr.is_empty(), "{usage:?}");
    }
    let help = cli("--help").run("");
    help.code_is(0);
}

#[test]
fn garbage_input_is_exit_2_with_a_message() {
    let big = format!("{}\n", "0".repeat(1 << 20));
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty stdin", Vec::new()),
        ("only comments", b"# nothing\n\n".to_vec()),
        ("non-hex", b"hello,world\n".to_vec()),
        ("one word", b"0x46\n".to_vec()),
        ("three words", b"0x46,0,0\n".to_vec()),
        ("17 digits", b"0x10000000000000046,0\n".to_vec()),
        ("1 MB line", big.into_bytes()),
        ("invalid UTF-8", b"0x46,\xff\xfe\n".to_vec()),
        ("NUL bytes", b"\0\0\0\n".to_vec()),
    ];
    for sub in [
        &["decode", "--arch", "smmuv3"][..],
        &["convert", "--from", "smmuv3", "--to", "amd"],
        &["lift", "--arch", "smmuv3"],
    ] {
        for (what, input) in &cases {
            let o = run_bytes(sub, input);
            assert_eq!(o.code, 2, "{sub:?} {what}: {}", o.stderr);
            assert!(
                o.stderr.starts_with("iommu-inval: "),
                "{sub:?} {what}: {:?}",
                o.stderr
            );
            assert!(o.stderr.len() < 400, "{what}: message should be short");
        }
    }
    let empty_arg = cli("decode --arch amd").run_arg("");
    empty_arg.code_is(2);
    // encode and lower: invalid UTF-8 and overlong lines are text errors too.
    for sub in [
        &["encode", "--arch", "amd"][..],
        &["lower", "--arch", "amd"],
    ] {
        assert_eq!(run_bytes(sub, b"{\xff}\n").code, 2);
        assert_eq!(
            run_bytes(sub, format!("{}\n", " ".repeat(1 << 20)).as_bytes()).code,
            2
        );
        assert_eq!(run_bytes(sub, b"").code, 2);
    }
}

#[test]
fn encode_refuses_bad_objects_with_exit_1() {
    let cases = [
        (r#"{"op":"NOPE"}"#, "NOPE"),
        (r#"{"op":"CMD_SYNC","fields":{"cs":3}}"#, "cs"),
        (
            r#"{"op":"CMD_SYNC","fields":{"msi_data":4294967296}}"#,
            "msi_data",
        ),
        (r#"{"op":"CMD_SYNC","fields":{"colour":1}}"#, "colour"),
        (
            r#"{"op":"CMD_SYNC","fields":{"msi_address":1}}"#,
            "msi_address",
        ),
        (r#"{"arch":"vtd","op":"CMD_SYNC"}"#, "vtd"),
        (r#"{"op":"CMD_SYNC""#, "malformed JSON"),
        ("[1,2]", "object"),
        (r#"{"fields":{}}"#, "op"),
    ];
    for (obj, needle) in cases {
        let o = cli("encode --arch smmuv3").run_arg(obj);
        assert_eq!(o.code, 1, "{obj}");
        assert!(o.stdout.is_empty());
        assert!(o.stderr.contains(needle), "{obj}: {}", o.stderr);
        let j = cli("encode --arch smmuv3 --json").run_arg(obj);
        j.code_is(1);
        assert!(json_lines(&j.stdout)[0]["error"]["kind"].is_string());
    }
    // Omitted fields are zero; hex strings and 0/1 for bits are accepted.
    let o = cli("encode --arch smmuv3").run_arg(r#"{"op":"CMD_SYNC"}"#);
    assert_eq!(o.stdout.trim(), "0x0000000000000046,0x0000000000000000");
    let o = cli("encode --arch smmuv3")
        .run_arg(r#"{"op":"CMD_CFGI_STE","fields":{"sid":"0x18","leaf":1}}"#);
    assert_eq!(o.stdout.trim(), "0x0000001800000003,0x0000000000000001");
}

#[test]
fn text_words_accept_every_documented_spelling() {
    for w in [
        "0x0000000000000046,0x0000000000000000",
        "46,0",
        "0X46 , 0x0",
        "  0x000000000000046,0000000000000000 ",
        "0x46,0 # a comment",
    ] {
        let o = cli("decode --arch smmuv3 --json").run_arg(w);
        assert_eq!(o.code, 0, "{w}: {}", o.stderr);
        assert_eq!(json_lines(&o.stdout)[0]["op"], "CMD_SYNC");
    }
}

#[test]
fn raw_dumps_hold_the_text_streams() {
    for (arch, text, bin) in [
        ("smmuv3", "examples/smmuv3.cmds", "examples/smmuv3-cmdq.bin"),
        ("vtd", "examples/vtd.cmds", "examples/vtd-iq.bin"),
        ("amd", "examples/amd.cmds", "examples/amd-cmdbuf.bin"),
    ] {
        let stream = read(text);
        let t = cli("decode --arch").arg(arch).args("--json").run(&stream);
        let r = cli("decode --arch")
            .arg(arch)
            .args("--json --raw")
            .run_arg(bin);
        assert_eq!(
            (t.code, r.code),
            (0, 0),
            "{arch}: {} {}",
            t.stderr,
            r.stderr
        );
        assert_eq!(t.stdout, r.stdout, "{bin} differs from {text}");
        // And byte for byte: the dump is the words, little-endian.
        assert_eq!(
            std::fs::read(root().join(bin)).unwrap(),
            le_bytes(&stream),
            "{bin}"
        );
    }
    // 256-bit VT-d descriptors are 32 bytes each.
    let stream = read("examples/vtd256.cmds");
    let t = cli("decode --arch vtd --desc-width 256 --json").run(&stream);
    let r = cli("decode --arch vtd --desc-width 256 --json --raw")
        .file("vtd256.bin", le_bytes(&stream))
        .run("");
    assert_eq!((t.code, r.code), (0, 0));
    assert_eq!(t.stdout, r.stdout);
    // --offset / --count select a window; a dump cut inside a command is exit 2.
    let r = cli("decode --arch amd --raw examples/amd-cmdbuf.bin --offset 0x10 --count 1").run("");
    r.code_is(0);
    assert!(
        r.stdout.starts_with("INVALIDATE_IOTLB_PAGES"),
        "{}",
        r.stdout
    );
    let r = cli("decode --arch amd --raw examples/amd-cmdbuf.bin --offset 8").run("");
    assert_eq!(r.code, 2, "a misaligned offset is refused");
    r.stderr_has("not a multiple");
    let r = cli("decode --arch amd --raw")
        .file("cut.bin", [0u8; 24])
        .run("");
    r.code_is(2);
    r.stderr_has("ends 8 bytes into");
}

#[test]
fn examples_decode_cleanly() {
    for (arch, file, width) in [
        ("smmuv3", "examples/smmuv3.cmds", "128"),
        ("vtd", "examples/vtd.cmds", "128"),
        ("vtd", "examples/vtd256.cmds", "256"),
        ("amd", "examples/amd.cmds", "128"),
    ] {
        let stream = read(file);
        let o = cli("decode --arch")
            .arg(arch)
            .args("--desc-width")
            .arg(width)
            .run(&stream);
        assert_eq!(o.code, 0, "{file}: {}", o.stderr);
        let n = stream
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .count();
        assert_eq!(o.stdout.lines().count(), n);
        o.stdout_lacks("<invalid>");
    }
}

const SYNCS: [&str; 3] = ["CMD_SYNC", "inv_wait_dsc", "COMPLETION_WAIT"];

#[test]
fn convert_examples_never_under_invalidate() {
    let topo = "examples/topology.json";
    for (from, file, width) in [
        ("smmuv3", "examples/smmuv3.cmds", "128"),
        ("vtd", "examples/vtd.cmds", "128"),
        ("vtd", "examples/vtd256.cmds", "256"),
        ("amd", "examples/amd.cmds", "128"),
    ] {
        let stream = read(file);
        let inputs = stream
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .count();
        for to in ["smmuv3", "vtd", "amd"] {
            let args = [
                "convert",
                "--from",
                from,
                "--to",
                to,
                "--desc-width",
                width,
                "--topology",
                topo,
                "--explain",
            ];
            let o = run(&args, &stream);
            assert!(!o.stdout.contains("UNDER"), "{file} -> {to}:\n{}", o.stdout);
            // Exit 1 exactly when some input had no equivalent (shown on its `=>` line).
            assert_eq!(
                o.code == 0,
                !o.stdout.contains("=> error no_equivalent"),
                "{file} -> {to}: {}",
                o.stderr
            );
            assert!(o.code <= 1, "{file} -> {to}: {}", o.stderr);
            assert_eq!(
                o.stdout.matches("#   => ").count(),
                inputs,
                "{file} -> {to}: one relation per input"
            );
            // The output is valid native text of the target.
            let words: String = o
                .stdout
                .lines()
                .filter(|l| !l.starts_with('#'))
                .map(|l| format!("{l}\n"))
                .collect();
            let out_width = if to == "vtd" { "256" } else { "128" };
            let dec = cli("decode --arch")
                .arg(to)
                .args("--desc-width")
                .arg(out_width)
                .run(&words);
            assert_eq!(
                dec.code, 0,
                "{file} -> {to}: output decodes: {}",
                dec.stdout
            );
            // JSON explain: one object per input with a relation.
            let mut jargs = args.to_vec();
            jargs.push("--json");
            let j = run(&jargs, &stream);
            let objs = json_lines(&j.stdout);
            assert_eq!(objs.len(), inputs);
            for v in objs {
                let rel = v["relation"].as_str().unwrap_or("");
                assert!(rel == "exact" || rel == "superset", "{v}");
                let out = v["output"].as_array().unwrap();
                // Every input sync becomes exactly one output sync (rule 3),
                // unless the target cannot express its signal (no_equivalent).
                if SYNCS.contains(&v["input"]["op"].as_str().unwrap()) {
                    if let Some(errs) = v.get("errors") {
                        assert_eq!(errs[0]["kind"], "no_equivalent", "{v}");
                    } else {
                        assert_eq!(out.len(), 1, "{v}");
                        assert!(SYNCS.contains(&out[0]["op"].as_str().unwrap()), "{v}");
                    }
                }
            }
        }
    }
}

#[test]
fn same_arch_convert_is_exact_for_the_examples() {
    // R2: lower_A(lift_A(n)) has the footprint of n.
    let topo = "examples/topology.json";
    for (arch, file, width) in [
        ("smmuv3", "examples/smmuv3.cmds", "128"),
        ("amd", "examples/amd.cmds", "128"),
        ("vtd", "examples/vtd256.cmds", "256"),
    ] {
        let stream = read(file);
        let args = [
            "convert",
            "--from",
            arch,
            "--to",
            arch,
            "--desc-width",
            width,
            "--topology",
            topo,
            "--explain",
            "--json",
        ];
        let o = run(&args, &stream);
        o.code_is(0);
        for v in json_lines(&o.stdout) {
            assert_eq!(v["relation"], "exact", "{arch}: {v}");
        }
    }
}

#[test]
fn lower_generic_examples() {
    let topo = "examples/topology.json";
    let ops = read("examples/generic.jsonl");
    let kinds: Vec<String> = ops
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["op"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    for k in iommu_inval::core::model::Op::KINDS {
        assert!(kinds.iter().any(|x| x == k), "generic.jsonl lacks {k}");
    }
    for arch in ["smmuv3", "vtd", "amd"] {
        let o = cli("lower --arch")
            .arg(arch)
            .args("--topology")
            .arg(topo)
            .args("--explain --json")
            .run(&ops);
        assert!(!o.stdout.contains("\"under\""), "{arch}: {}", o.stdout);
        let objs = json_lines(&o.stdout);
        assert_eq!(objs.len(), kinds.len(), "{arch}");
        for v in &objs {
            assert!(
                v["relation"] == "exact" || v["relation"] == "superset",
                "{v}"
            );
        }
        // SMMUv3 has stall commands; VT-d and AMD-Vi do not (no_equivalent, exit 1).
        let refused = objs.iter().filter(|v| v.get("errors").is_some()).count();
        if arch == "smmuv3" {
            assert_eq!((o.code, refused), (0, 0), "{}", o.stderr);
        } else {
            assert_eq!((o.code, refused), (1, 2), "{arch}: {}", o.stderr);
        }
        // The interrupt-remapping inval is dropped on SMMUv3 and reported.
        let dropped = objs.iter().filter(|v| v["dropped"].is_string()).count();
        assert!(arch != "smmuv3" || dropped >= 1);
    }
}

#[test]
fn lift_then_lower_round_trips_same_arch() {
    for arch in ["smmuv3", "amd"] {
        for (op, w) in vectors(arch) {
            let l = cli("lift --arch").arg(arch).run_arg(w);
            if l.code != 0 {
                assert!(l.stderr.contains("no_equivalent"), "{op}: {}", l.stderr);
                continue;
            }
            if l.stdout.trim().is_empty() {
                // No generic form (CMD_CFGI_VMS_PIDM, CMD_DPTI_ALL): the lift
                // drops it and `lift --explain` says why.
                let e = cli("lift --arch").arg(arch).args("--explain").run_arg(w);
                assert!(e.stdout.contains("dropped"), "{op}: {}", e.stdout);
                continue;
            }
            let back = cli("lower --arch")
                .arg(arch)
                .args("--explain --json")
                .run(&l.stdout);
            assert_eq!(back.code, 0, "{op}: {}", back.stderr);
            for v in json_lines(&back.stdout) {
                assert_ne!(v["relation"], "under", "{op}: {v}");
            }
        }
    }
}

#[test]
fn lift_explain_reports_unknown_ids() {
    // ASID 77 is not in the topology: the lift widens to every PASID and says so.
    let o =
        cli("lift --arch smmuv3 --topology examples/topology.json --explain 0x004d000100000011,0")
            .run("");
    o.code_is(0);
    o.stdout_has("# argument 1: CMD_TLBI_NH_ASID");
    o.stdout_has("widened pasid");
}

#[test]
fn closed_stdout_ends_quietly() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_iommu-inval"))
        .args(["decode", "--arch", "amd"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut sin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let line = b"0x8000000000000000,0\n";
        for _ in 0..200_000 {
            if sin.write_all(line).is_err() {
                break;
            }
        }
    });
    let mut first = [0u8; 20];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap(); // then drop: closed pipe
    let out = child.wait_with_output().unwrap();
    let _ = writer.join();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains("panicked") && !err.contains("internal error"),
        "{err}"
    );
    assert!(out.status.code().is_some(), "exited, not killed");
}

/// Runs every `$ iommu-inval ...` example of the help texts and compares the
/// lines that follow with the real output.
#[test]
fn help_examples_are_true() {
    let subs = ["decode", "encode", "lift", "lower", "convert"];
    for sub in subs {
        let h = run(&[sub, "--help"], "");
        h.code_is(0);
        assert!(
            h.stdout.contains("Examples:"),
            "{sub} --help has no example"
        );
        assert!(
            h.stdout.contains(&format!("$ iommu-inval {sub}")),
            "{sub} --help example does not run {sub}"
        );
    }
    let top = cli("--help").run("");
    for sub in subs {
        top.stdout_has(sub);
    }
    let texts = [
        app::help::MAIN,
        app::help::DECODE,
        app::help::ENCODE,
        app::help::LIFT,
        app::help::LOWER,
        app::help::CONVERT,
    ];
    let mut checked = 0;
    for text in texts {
        let lines: Vec<&str> = text.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            let Some(cmd) = l.trim_start().strip_prefix("$ iommu-inval ") else {
                continue;
            };
            let expected: Vec<&str> = lines[i + 1..]
                .iter()
                .take_while(|x| {
                    x.starts_with("  ")
                        && !x.trim_start().starts_with('$')
                        && !x.trim_start().starts_with("# ")
                })
                .map(|x| x.get(2..).unwrap_or(""))
                .collect();
            if expected.is_empty() || cmd.contains('<') {
                continue; // a command shown without its (long) output
            }
            let mut parts: Vec<&str> = cmd.split(" | iommu-inval ").collect();
            let mut input = String::new();
            for (k, p) in parts.drain(..).enumerate() {
                let args = split_args(p);
                let refs: Vec<&str> = args.iter().map(String::as_str).collect();
                let o = run(&refs, &input);
                assert!(o.code <= 1, "{cmd}: {}", o.stderr);
                input = o.stdout;
                let _ = k;
            }
            let got: Vec<&str> = input.lines().map(str::trim_end).collect();
            let want: Vec<&str> = expected.iter().map(|x| x.trim_end()).collect();
            assert_eq!(got, want, "help example: {cmd}");
            checked += 1;
        }
    }
    assert!(checked >= 8, "only {checked} help examples checked");
}

/// Split a shell command line: whitespace, and single-quoted strings.
fn split_args(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in s.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            c => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        out.push(cur);
    }
    out
}

#[test]
fn generic_json_doc_examples_parse() {
    let doc = read("docs/GENERIC_JSON.md");
    let mut n = 0;
    let mut in_block = false;
    for line in doc.lines() {
        if line.starts_with("```") {
            in_block = line == "```json";
            continue;
        }
        if in_block {
            let op = app::generic::parse_op_json(line).unwrap_or_else(|e| panic!("{line}: {e}"));
            // What lift prints reads back as the same operation.
            let again = app::generic::op_to_json(&op).to_string();
            assert_eq!(app::generic::parse_op_json(&again), Ok(op));
            n += 1;
        }
    }
    assert!(n >= 8, "{n} examples");
}

#[test]
fn capability_flags_never_under_invalidate() {
    let topo = "examples/topology.json";
    let flag_sets: &[&[&str]] = &[
        &["--to", "vtd", "--legacy"],
        &["--to", "vtd", "--out-desc-width", "128", "--mamv", "0"],
        &["--to", "vtd", "--no-ats", "--max-cmds", "1"],
        &["--to", "smmuv3", "--no-range-inval", "--max-cmds", "2"],
        &["--to", "smmuv3", "--no-ats", "--pasid-bits", "0"],
        &["--to", "amd", "--no-ats", "--pasid-bits", "8"],
    ];
    for (from, file) in [
        ("smmuv3", "examples/smmuv3.cmds"),
        ("vtd", "examples/vtd.cmds"),
        ("amd", "examples/amd.cmds"),
    ] {
        let stream = read(file);
        for flags in flag_sets {
            let mut args = vec!["convert", "--from", from, "--topology", topo, "--explain"];
            args.extend_from_slice(flags);
            let o = run(&args, &stream);
            assert!(
                !o.stdout.contains("UNDER"),
                "{file} {flags:?}:\n{}",
                o.stdout
            );
            assert!(o.code <= 1, "{file} {flags:?}: {}", o.stderr);
        }
    }
    // Options for another architecture are usage errors.
    for bad in [
        &["--to", "amd", "--legacy"][..],
        &["--to", "vtd", "--no-range-inval"],
        &["--to", "smmuv3", "--out-desc-width", "256"],
        &["--to", "vtd", "--mamv", "64"],
    ] {
        let mut args = vec!["convert", "--from", "amd"];
        args.extend_from_slice(bad);
        args.push("0x8000000000000000,0");
        assert_eq!(run(&args, "").code, 2, "{bad:?}");
    }
}

/// A small deterministic generator (xorshift), so the sweeps below are reproducible.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[(self.next() % xs.len() as u64) as usize]
    }
}

/// Random generic invalidations, syncs and responses, lowered with
/// `--explain` on every target: never an under-invalidation (R3), never a
/// panic, every output lifts back.
#[test]
fn random_generic_ops_never_under_invalidate() {
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    let caches = [
        "config_device",
        "config_pasid",
        "iotlb",
        "dev_tlb",
        "intr_remap",
        "leaf",
    ];
    let mut lines = String::new();
    for _ in 0..600 {
        let line = match r.next() % 10 {
            0 => format!(
                r#"{{"op":"sync","interrupt":{},"fence":{}}}"#,
                r.next().is_multiple_of(2),
                r.next().is_multiple_of(2)
            ),
            1 => format!(
                r#"{{"op":"page_response","device":16,"pasid":1,"prg_index":{}}}"#,
                r.next() % 512
            ),
            _ => {
                let n = 1 + r.next() % 3;
                let mut cs: Vec<&str> = (0..n).map(|_| *r.pick(&caches)).collect();
                if cs.iter().all(|c| *c == "leaf") {
                    cs.push("iotlb");
                }
                let cs: Vec<String> = cs.iter().map(|c| format!("\"{c}\"")).collect();
                let (rand_size, rand_iova) = (r.next() % (1 << 40) + 1, r.next() % (1 << 48));
                let size = *r.pick(&[
                    1u64,
                    0x1000,
                    0x3000,
                    0x20_0000,
                    0x20_1000,
                    0x1000_0000,
                    rand_size,
                ]);
                let iova = *r.pick(&[0u64, 0x1000, 0x4000_0000, rand_iova, u64::MAX - size + 1]);
                let range = if r.next().is_multiple_of(5) {
                    r#""all""#.to_owned()
                } else {
                    format!(r#"{{"iova":{iova},"size":{size}}}"#)
                };
                format!(
                    r#"{{"op":"inval","caches":[{}],"stages":{},"regime":"{}","domain":{},"pasid":{},"global":{},"device":{},"range":{range}}}"#,
                    cs.join(","),
                    r.pick(&[r#"["s1"]"#, r#"["s2"]"#, r#"["s1","s2"]"#]),
                    r.pick(&["guest", "guest", "hyp", "secure"]),
                    r.pick(&[r#""all""#, "1", "2", "3", "77"]),
                    r.pick(&[r#""all""#, r#""none""#, "0", "1", "2", "1048575", "70000"]),
                    r.next().is_multiple_of(4),
                    r.pick(&[
                        r#""all""#,
                        "16",
                        "24",
                        "256",
                        "999",
                        r#"{"first":16,"last":31}"#
                    ]),
                )
            }
        };
        lines.push_str(&line);
        lines.push('\n');
    }
    for arch in ["smmuv3", "vtd", "amd"] {
        for topo in [&[][..], &["--topology", "examples/topology.json"]] {
            let mut args = vec!["lower", "--arch", arch, "--explain"];
            args.extend_from_slice(topo);
            let o = run(&args, &lines);
            assert!(
                !o.stderr.contains("UNDER"),
                "{arch} {topo:?}: {}",
                o.stderr.lines().next().unwrap_or("")
            );
            assert!(!o.stderr.contains("do not lift"), "{arch}: {}", o.stderr);
            assert!(o.code <= 1, "{arch}: {}", o.stderr);
            assert_eq!(
                o.stdout.matches("#   => ").count(),
                600,
                "{arch}: one relation per input"
            );
        }
    }
}

/// Example commands with random bits flipped, converted between every pair
/// with `--explain`: invalid ones are reported, valid ones never under-invalidate (R4).
#[test]
fn mutated_example_streams_convert_safely() {
    let mut r = Rng(0x2545_f491_4f6c_dd1d);
    for (from, file) in [
        ("smmuv3", "examples/smmuv3.cmds"),
        ("vtd", "examples/vtd.cmds"),
        ("amd", "examples/amd.cmds"),
    ] {
        let text = read(file);
        let base: Vec<Vec<u64>> = text
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .map(|l| {
                l.split(',')
                    .map(|w| u64::from_str_radix(w.trim_start_matches("0x"), 16).unwrap())
                    .collect()
            })
            .collect();
        let mut input = String::new();
        for _ in 0..800 {
            let mut w = r.pick(&base).clone();
            for _ in 0..r.next() % 3 {
                let i = (r.next() % w.len() as u64) as usize;
                w[i] ^= 1 << (r.next() % 64);
            }
            let s: Vec<String> = w.iter().map(|x| format!("{x:#018x}")).collect();
            input.push_str(&s.join(","));
            input.push('\n');
        }
        for to in ["smmuv3", "vtd", "amd"] {
            for topo in [&[][..], &["--topology", "examples/topology.json"]] {
                let mut args = vec!["convert", "--from", from, "--to", to, "--explain"];
                args.extend_from_slice(topo);
                let o = run(&args, &input);
                assert!(!o.stderr.contains("UNDER"), "{from}->{to}: {}", o.stderr);
                assert!(o.code <= 1, "{from}->{to}: {}", o.stderr);
            }
        }
    }
}

#[test]
fn facade_footprint_is_the_footprint_of_the_lift() {
    use iommu_inval::core::footprint::Footprint;
    use iommu_inval::core::{ArchId, IdentityContext};
    use iommu_inval::{AnyCommand, Arch, ArchOps};
    for (name, id) in [
        ("smmuv3", ArchId::Smmuv3),
        ("vtd", ArchId::Vtd),
        ("amd", ArchId::Amd),
    ] {
        let arch = Arch::new(id);
        for (op, w) in vectors(name) {
            let words: Vec<u64> = w
                .split(',')
                .map(|x| u64::from_str_radix(x.trim_start_matches("0x"), 16).unwrap())
                .collect();
            let cmd = arch.decode(&words).unwrap();
            assert_eq!(cmd.op(), *op);
            let mut ops = Vec::new();
            if cmd.lift(&IdentityContext, &mut ops).is_ok() {
                let f = Footprint::of_ops(ops.iter(), &IdentityContext);
                assert!(cmd.footprint(&IdentityContext).same_as(&f), "{op}");
            }
        }
    }
}

/// `--host-caps <preset>` lowers for the host that preset describes (the
/// names of `--caps`), the same as the host flags that spell it out; an
/// unknown preset is a usage error naming the presets.
#[test]
fn host_caps_presets_are_the_host_flags() {
    let ops = std::fs::read_to_string(root().join("examples/generic.jsonl")).unwrap();
    for (arch, preset, flags) in [
        ("smmuv3", "smmuv3.0", &["--no-range-inval"][..]),
        ("vtd", "vtd-legacy", &["--legacy", "--mamv", "9"][..]),
        ("riscv", "riscv-1.0", &["--no-range-inval"][..]),
    ] {
        let by_preset = run(&["lower", "--arch", arch, "--host-caps", preset], &ops);
        let mut args = vec!["lower", "--arch", arch];
        args.extend_from_slice(flags);
        let by_flags = run(&args, &ops);
        assert_eq!(by_preset.stdout, by_flags.stdout, "{arch} {preset}");
        assert_eq!(by_preset.code, by_flags.code, "{arch} {preset}");
        let default = run(&["lower", "--arch", arch], &ops);
        assert_ne!(by_preset.stdout, default.stdout, "{arch} {preset}");
    }
    let o = run(&["lower", "--arch", "amd", "--host-caps", "smmuv3.0"], &ops);
    o.code_is(2).stderr_has("amd-host");
}

/// The checks of tests/common fail when they should: every test that uses
/// them checks as much as the `assert!` it replaced.
#[test]
fn common_checks_fail_when_they_should() {
    let o = cli("decode --arch amd 0x8000000000000000,0").run("");
    o.code_is(0)
        .stdout_has("INVALIDATE_IOMMU_ALL")
        .stdout_lacks("nothing")
        .stderr_lacks("iommu-inval");
    let fails = |f: &dyn Fn()| std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).is_err();
    assert!(fails(&|| {
        o.code_is(1);
    }));
    assert!(fails(&|| {
        o.stdout_has("nothing");
    }));
    assert!(fails(&|| {
        o.stdout_lacks("INVALIDATE_IOMMU_ALL");
    }));
    assert!(fails(&|| {
        o.stderr_has("iommu-inval");
    }));
    let e = cli("decode --arch amd zz").run("");
    e.stderr_has("iommu-inval");
    assert!(fails(&|| {
        e.stderr_lacks("iommu-inval");
    }));
}
