//! `decode --queue` and `convert --queue`: records (events, page requests)
//! through the built binary — hex words, raw dumps and what the kernel
//! prints (examples/smmuv3-events.txt, vtd-faults.txt, amd-events.txt,
//! riscv-faults.txt), pSID → vSID through the topology, every pair of
//! architectures, typed errors, exit status 1 for bad records and 2 for
//! usage.

use serde_json::Value;

mod common;
use common::{cli, le_bytes, read, TempFile};

const EVENTS: &str = "examples/smmuv3-events.txt";
const TOPO: &str = "examples/iommufd-topology.json";
/// F_TRANSLATION of StreamID 0x100, a stage-1 read of 0x80001000.
const F_TRANSLATION: &str =
    "0x0000010000000010,0x0000020800000000,0x0000000080001000,0x0000000000000000";

#[test]
fn decodes_the_kernel_event_dumps_of_a_log() {
    let o = cli("decode --arch smmuv3 --queue event").run(&read(EVENTS));
    o.code_is(0).stderr_has("2 other log line(s) skipped");
    let ops: Vec<&str> = o
        .stdout
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(ops, ["F_TRANSLATION", "F_PERMISSION", "C_BAD_STE"]);
    o.stdout_has("permission fault at stage 2, device 0x100 PASID 5 write at 0xffff8000");
    o.stdout_has("sid=512");
}

#[test]
fn json_records_re_encode_to_their_words() {
    let o = cli("decode --arch smmuv3 --queue event --json").run(&read(EVENTS));
    o.code_is(0);
    let v = o.json_n(3);
    assert_eq!(v[0]["queue"], "event");
    assert_eq!(v[0]["op"], "F_TRANSLATION");
    assert_eq!(v[0]["words"], F_TRANSLATION);
    assert_eq!(v[1]["fields"]["ssid"], 5);
    // The words of each record are the dump's.
    let text = read(EVENTS);
    for r in &v {
        let w = r["words"].as_str().unwrap_or_default();
        for word in w.split(',') {
            assert!(text.contains(word), "{word}");
        }
    }
}

#[test]
fn bad_records_are_typed_and_exit_1() {
    let o = cli("decode --arch smmuv3 --queue event --json")
        .args("0xff,0,0,0")
        .arg("0x0000010000000010,0x0000030800000000,0,0")
        .arg(F_TRANSLATION)
        .run("");
    o.code_is(1);
    let v = o.json_n(3);
    let kinds: Vec<&Value> = v.iter().map(|x| &x["error"]["kind"]).collect();
    assert_eq!(kinds[0], "unknown_opcode");
    assert_eq!(kinds[1], "invalid_field"); // CLASS = 0b11 (Reserved)
    assert_eq!(v[2]["op"], "F_TRANSLATION");
    assert_eq!(v[0]["queue"], "event");
    // Not hex words: text of the wrong form, exit 2.
    cli("decode --arch smmuv3 --queue event")
        .run("zzz\n")
        .code_is(2)
        .stderr_has("not hex");
    // A PRI entry is 2 words.
    cli("decode --arch smmuv3 --queue pri")
        .arg(F_TRANSLATION)
        .run("")
        .code_is(2)
        .stderr_has("expected 2 64-bit words");
}

#[test]
fn a_cut_or_mismatched_kernel_dump_is_reported() {
    let text = read(EVENTS);
    let cut: Vec<&str> = text
        .lines()
        .filter(|l| !l.ends_with("0x0000000040000000"))
        .collect();
    let o = cli("decode --arch smmuv3 --queue event").run(&cut.join("\n"));
    o.code_is(1)
        .stderr_has("line 7: the kernel dump of event 0x13 ends after 3 of its 4 words");
    // The others are decoded.
    assert_eq!(o.stdout.lines().count(), 2, "{}", o.stdout);
    let wrong = text.replace("event 0x10 received", "event 0x11 received");
    cli("decode --arch smmuv3 --queue event")
        .run(&wrong)
        .code_is(1)
        .stderr_has("says event 0x11 but word 0 holds 0x10");
}

#[test]
fn convert_maps_psid_to_vsid_and_reports_unseen_devices() {
    let o = cli("convert --from smmuv3 --to smmuv3 --queue event --topology")
        .arg(TOPO)
        .run(&read(EVENTS));
    // pSID 0x100 is vSID 0x10; pSID 0x200 has no vDEVICE: refused, exit 1.
    o.code_is(1)
        .stderr_has("line 12: C_BAD_STE")
        .stderr_has("device not seen by the guest");
    assert_eq!(
        o.stdout.lines().collect::<Vec<_>>(),
        [
            "0x0000001000000010,0x0000020800000000,0x0000000080001000,0x0000000000000000",
            "0x0000001000005813,0x0000028000000000,0x00000000ffff8000,0x0000000040000000",
        ]
    );
    let j = cli("convert --from smmuv3 --to smmuv3 --queue pri --json --topology")
        .arg(TOPO)
        .run("0x3000000000000100,0x0000000000004003\n");
    j.code_is(0);
    let v = j.json_n(1);
    assert_eq!(
        (&v[0]["queue"], &v[0]["fields"]["sid"]),
        (&Value::from("pri"), &Value::from(16))
    );
    // Without a topology every device is its own.
    cli("convert --from smmuv3 --to smmuv3 --queue event")
        .arg(F_TRANSLATION)
        .run("")
        .code_is(0)
        .stdout_has(F_TRANSLATION);
}

#[test]
fn raw_dumps_of_records() {
    let dump = TempFile::new(
        "h9-evtq.bin",
        le_bytes(&format!("{F_TRANSLATION}\n0x0000020000000004,0,0,0\n")),
    );
    let o = cli("decode --arch smmuv3 --queue event --json --raw")
        .arg(dump.path())
        .run("");
    o.code_is(0);
    let v = o.json_n(2);
    assert_eq!(
        (&v[0]["op"], &v[1]["op"]),
        (&"F_TRANSLATION".into(), &"C_BAD_STE".into())
    );
    cli("decode --arch smmuv3 --queue event --json --raw")
        .arg(dump.path())
        .args("--index 1")
        .run("")
        .code_is(0)
        .stdout_has("C_BAD_STE")
        .stdout_lacks("F_TRANSLATION");
}

#[test]
fn usage_errors_exit_2() {
    for (args, msg) in [
        ("decode --arch smmuv3 --queue cmdq 0,0", "event and pri"),
        (
            "decode --arch virtio --queue event 0,0",
            "no record codecs for virtio-iommu",
        ),
        ("decode --arch vtd --queue cmdq 0,0", "fault and prq"),
        (
            "decode --arch smmuv3 --queue event --caps smmuv3.2 0,0,0,0",
            "--caps",
        ),
        (
            "convert --from smmuv3 --to iommufd-smmuv3 --queue event 0,0,0,0",
            "iommufd targets take commands",
        ),
        (
            "convert --from smmuv3 --to smmuv3 --queue event --explain 0,0,0,0",
            "--explain is for commands",
        ),
    ] {
        cli(args).run("").code_is(2).stderr_has(msg);
    }
    cli("decode --arch smmuv3 --queue event")
        .run("")
        .code_is(2)
        .stderr_has("no input");
}

/// Asserts a JSON record's words and the fields its kernel message did not
/// print (`not_in_message`, absent when it printed every one).
fn record_is(r: &Value, words: &str, missing: &[&str]) {
    assert_eq!(r["words"], words, "{r}");
    match missing {
        [] => assert!(r.get("not_in_message").is_none(), "{r}"),
        m => assert_eq!(r["not_in_message"], serde_json::json!(m), "{r}"),
    }
}

/// A shipped kernel log decoded by `decode --arch ARGS`: its text, and the
/// op of each record read, the other lines (`skipped`) counted.
fn sample_ops(args: &str, file: &str, skipped: usize) -> (String, String, Vec<String>) {
    let text = read(file);
    let o = cli(&format!("decode --arch {args}")).run(&text);
    o.code_is(0)
        .stderr_has(&format!("{skipped} other log line(s) skipped"));
    let ops = o
        .stdout
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect();
    (text, o.stdout.clone(), ops)
}

#[test]
fn vtd_kernel_faults_are_read_with_what_they_lack() {
    // The DRHD status lines, the vfio line and the page request are not fault records.
    let (text, out, ops) = sample_ops("vtd --queue fault", "examples/vtd-faults.txt", 6);
    assert_eq!(ops, ["dma_fault", "dma_fault", "dma_fault", "ir_fault"]);
    for says in [
        "permission fault at stage 2, device 0x100 read at 0x7ff00000",
        "translation fault at stage 1, device 0x100 PASID 5 write at 0x80001000",
        "not in the kernel message, read as 0: t2 priv exe pv at",
        "no neutral meaning",
    ] {
        assert!(out.contains(says), "{says}");
    }
    let v = cli("decode --arch vtd --queue fault --json")
        .run(&text)
        .json_n(4);
    // FRCD: F, T1 (DMA Read), FR 6, SID 01:00.0; page 0x7ff00000.
    let no_pasid = ["t2", "priv", "exe", "pv", "at"];
    record_is(&v[0], "0x000000007ff00000,0xc000000600000100", &no_pasid);
    // F, PV 5, FR 0x71, PP (DMA Write: T1 clear).
    let pasid = ["t2", "priv", "exe", "at"];
    record_is(&v[1], "0x0000000080001000,0x8000057180000100", &pasid);
    // The interrupt-remapping fault: the index in w0[63:48].
    assert_eq!(
        (&v[3]["op"], &v[3]["fields"]["index"]),
        (&Value::from("ir_fault"), &Value::from(0x15))
    );
    // Converted, it has no equivalent (exit 1); the others reach the guest.
    cli("convert --from vtd --to smmuv3 --queue fault --topology")
        .arg(TOPO)
        .run(&text)
        .code_is(1)
        .stderr_has("line 9: ir_fault")
        .stderr_has("an interrupt-remapping fault")
        .stderr_has("line 7: dma_fault")
        .stderr_has("device not seen by the guest");
    // The request line of a kernel log, read as the request.
    let p = cli("decode --arch vtd --queue prq --json").run(&text);
    let w = "0x0000000501000101,0x000000000000700d,0x0000000000000000,0x0000000000000000";
    record_is(&p.code_is(0).json_n(1)[0], w, &["priv_data"]);
}

#[test]
fn amd_kernel_events_of_every_kind() {
    let (text, _, ops) = sample_ops("amd --queue event", "examples/amd-events.txt", 2);
    assert_eq!(
        ops,
        [
            "IO_PAGE_FAULT",
            "IO_PAGE_FAULT",
            "ILLEGAL_DEV_TABLE_ENTRY",
            "DEV_TAB_HARDWARE_ERROR",
            "PAGE_TAB_HARDWARE_ERROR",
            "ILLEGAL_COMMAND_ERROR",
            "COMMAND_HARDWARE_ERROR",
            "IOTLB_INV_TIMEOUT",
            "INVALID_DEVICE_REQUEST",
            "INVALID_PPR_REQUEST",
            "RMP_PAGE_FAULT",
            "RMP_HW_ERROR",
            "EVENT_COUNTER_ZERO",
        ]
    );
    let v = cli("decode --arch amd --queue event --json")
        .run(&text)
        .json_n(13);
    // The pci_err form names the device in its prefix (0000:03:00.0); the
    // domain is printed as 16 bits.
    let domain = ["domain_or_pasid[19:16]"];
    record_is(&v[0], "0x2000001000000300,0x0000000064a7f000", &domain);
    // flags=0x0021: GN and RW (w0[59:48]).
    record_is(&v[1], "0x2021000500000100,0x0000000080001000", &domain);
    // INVALID_PPR_REQUEST: PASID in w0[45:42]:w0[31:16], tag in w0[41:32].
    record_is(&v[9], "0x9000000300010100,0x0000000000007000", &[]);
    // RMP_PAGE_FAULT: vmg_tag w0[47:32], flags_rmp w0[23:16].
    record_is(&v[10], "0xd000000100010100,0x0000000080000000", &[]);
    // UNKNOWN: the four 32-bit halves, lowest first.
    record_is(&v[12], "0xa000000000000000,0x0000000000000010", &[]);
    assert!(v.iter().skip(2).all(|r| r.get("not_in_message").is_none()));
}

/// A line of a kernel form that does not read, or reads as a record the
/// codec refuses, is exit status 1 with the form or the field named;
/// nothing is cut or guessed.
#[test]
fn kernel_lines_that_do_not_read_are_exit_1() {
    // Per form (`--arch --queue`): the line, and what the error names.
    let vtd_fault: &[(&str, &str)] = &[
        // Device 00:40.0: no PCI device number above 0x1f.
        ("DMAR: [DMA Read NO_PASID] Request device [00:40.0] fault addr 0x1000 [fault reason 0x06] x", "DMAR fault: cannot read the device"),
        // A reason the codec does not know is the codec's error.
        ("DMAR: [DMA Read NO_PASID] Request device [00:02.0] fault addr 0x1000 [fault reason 0x0e] Unknown", "fr"),
        ("DMAR: [DMA Fetch NO_PASID] Request device [00:02.0] fault addr 0x1000 [fault reason 0x06] x", "the request type"),
    ];
    let amd_event: &[(&str, &str)] = &[
        // A value wider than the entry's field is refused, never cut.
        ("AMD-Vi: Event logged [IO_PAGE_FAULT device=0000:00:14.0 domain=0x0000 address=0x0 flags=0x1000]", "cannot read flags"),
        // Reserved flag bits are the codec's error.
        ("AMD-Vi: Event logged [ILLEGAL_COMMAND_ERROR address=0x0 flags=0x0001]", "reserved"),
        ("AMD-Vi: Event logged [UNKNOWN event[0]=0x00000000 event[1]=0xa0000000", "event[0..3]"),
        ("AMD-Vi: Event logged [NO_SUCH_EVENT address=0x0]", "the event kind"),
    ];
    let vtd_prq: &[(&str, &str)] = &[(
        "DMAR: dmar0: Invalid page request: 0000000500100101",
        "its two words",
    )];
    let riscv_fault: &[(&str, &str)] = &[(
        "riscv,iommu 10001000.iommu: Fault x13 devid: 0x10 iotval: 0 iotval2: 0",
        "its numbers",
    )];
    let smmuv3_pri: &[(&str, &str)] = &[("arm-smmu-v3 x: \tsid 0x00000100.0x00000: [1] unprivileged Q access at iova 0x0000000000005000", "the permissions")];
    let forms = [
        ("vtd --queue fault", vtd_fault),
        ("vtd --queue prq", vtd_prq),
        ("amd --queue event", amd_event),
        ("riscv --queue fault", riscv_fault),
        ("smmuv3 --queue pri", smmuv3_pri),
    ];
    for (args, lines) in forms {
        for (line, says) in lines {
            cli(&format!("decode --arch {args}"))
                .run(&format!("{line}\n"))
                .code_is(1)
                .stderr_has(says);
        }
    }
}

#[test]
fn riscv_kernel_faults_lack_the_transaction() {
    let text = read("examples/riscv-faults.txt");
    let o = cli("decode --arch riscv --queue fault --json").run(&text);
    o.code_is(0).stderr_has("1 other log line(s) skipped");
    let v = o.json_n(4);
    let unprinted = ["pid", "pv", "priv", "ttyp", "custom"];
    let w = "0x0001000000000102,0x0000000000000000,0x0000000000000000,0x0000000000000000";
    record_is(&v[0], w, &unprinted);
    let w = "0x000100000000000d,0x0000000000000000,0x0000000080001000,0x0000000000000000";
    record_is(&v[2], w, &unprinted);
    // Without TTYP the fault at 0x80001000 has no transaction: it does not lift.
    cli("convert --from riscv --to vtd --queue fault")
        .run(&text)
        .code_is(1)
        .stderr_has("line 4: fault_record")
        .stderr_has("an iotval without a transaction");
}

#[test]
fn smmuv3_pri_kernel_lines() {
    let text = "[ 7.1] arm-smmu-v3 arm-smmu-v3.0.auto: unexpected PRI request received:\n\
        [ 7.1] arm-smmu-v3 arm-smmu-v3.0.auto: \tsid 0x00000100.0x00005: [3L] privileged RWX access at iova 0x0000000000004000\n\
        [ 7.2] arm-smmu-v3 arm-smmu-v3.0.auto: \tsid 0x00000100.0x00000: [1] unprivileged R access at iova 0x0000000000005000\n";
    let o = cli("decode --arch smmuv3 --queue pri --json").run(text);
    o.code_is(0).stderr_lacks("skipped");
    let v = o.json_n(2);
    // SSV, PRIV, EXEC, READ, WRITE, LAST; SSID 5, SID 0x100; group 3.
    record_is(&v[0], "0xfc00000500000100,0x0000000000004003", &[]);
    // SSID 0 without priv / exec: SSV is not in the message.
    record_is(
        &v[1],
        "0x1000000000000100,0x0000000000005001",
        &["ssv", "ssid"],
    );
}

/// One stage-1 translation fault (device 0x10, PASID 5, a read of page
/// 0x80001000) and one page request (device 0x10, PASID 5, read, last of
/// group 1, page 0x7000) in each architecture's records.
const PAIRS: [(&str, &str, &str, &str); 4] = [
    (
        "smmuv3",
        "0x0000001000005810,0x0000020800000000,0x0000000080001000,0x0000000000000000",
        "pri",
        "0xd000000500000010,0x0000000000007001",
    ),
    (
        "vtd",
        "0x0000000080001000,0xc000057180000010",
        "prq",
        "0x0000000500100101,0x000000000000700d,0x0000000000000000,0x0000000000000000",
    ),
    (
        "amd",
        "0x2005000500000010,0x0000000080001000",
        "ppr",
        "0x1144020100050010,0x0000000000007000",
    ),
    (
        "riscv",
        "0x000010090000500d,0x0000000000000000,0x0000000080001000,0x0000000000000000",
        "pq",
        "0x0000100100005000,0x000000000000700d",
    ),
];

#[test]
fn convert_every_pair_on_a_fault_and_a_page_request() {
    for (from, fault, pq, request) in PAIRS {
        for (to, to_fault, to_pq, to_request) in PAIRS {
            for (q, words, want, to_q) in [
                ("fault", fault, to_fault, "event"),
                (pq, request, to_request, to_pq),
            ] {
                let o = cli(&format!("convert --from {from} --to {to} --queue {q}"))
                    .arg(words)
                    .run("");
                o.code_is(0);
                // The same fault / request in the target's record.
                assert_eq!(o.stdout.trim(), want, "{from} -> {to} --queue {q}");
                let j = cli(&format!(
                    "convert --from {from} --to {to} --queue {q} --json"
                ))
                .arg(words)
                .run("");
                let v = j.json_n(1);
                assert_eq!(v[0]["arch"], to);
                if to_q != "event" {
                    assert_eq!(v[0]["queue"], to_q, "{from} -> {to}");
                }
            }
        }
    }
}

#[test]
fn convert_refuses_what_the_target_cannot_carry() {
    // F_PERMISSION at stage 2 with an IPA: a VT-d fault record has no IPA.
    cli("convert --from smmuv3 --to vtd --queue event --json")
        .arg("0x0000010000005813,0x0000028000000000,0x00000000ffff8000,0x0000000040000000")
        .run("")
        .code_is(1)
        .stdout_has("\"kind\":\"no_equivalent\"")
        .stdout_has("no table walk class, IPA or stall");
    // A VT-d request with private data (PDP): no other record holds it (a
    // VMM keeps it with the host's group, `PageRequestGroups`; a record
    // converted alone has nowhere to keep it).
    cli("convert --from vtd --to riscv --queue prq")
        .arg("0x0000000500100301,0x000000000000700d,0x1,0x2")
        .run("")
        .code_is(1)
        .stderr_has("no equivalent on the target: private data");
    // An AMD-Vi command error has no neutral meaning.
    cli("convert --from amd --to smmuv3 --queue event")
        .arg("0x5000000000000000,0x4001230")
        .run("")
        .code_is(1)
        .stderr_has("no neutral meaning");
}

#[test]
fn queue_names_of_every_architecture() {
    // Each architecture's own names, and the names of issue 32 for every one.
    for (arch, own, words) in [
        ("smmuv3", ["event", "pri"], ["0,0,0,0", "0,0"]),
        ("vtd", ["fault", "prq"], ["0,0", "0,0,0,0"]),
        ("amd", ["event", "ppr"], ["0,0", "0,0"]),
        ("riscv", ["fault", "pq"], ["0,0,0,0", "0,0"]),
    ] {
        for (i, names) in [["event", "fault"], ["pri", "ppr"]].iter().enumerate() {
            for name in names.iter().chain([&own[i]]) {
                let o = cli(&format!("decode --arch {arch} --queue {name} --json"))
                    .arg(words[i])
                    .run("");
                // Zero words: some codecs refuse them (exit 1), none is a usage error.
                assert!(o.code <= 1, "{arch} {name}: {}", o.stderr);
                assert_eq!(o.json_n(1)[0]["queue"], own[i], "{arch} {name}");
            }
        }
    }
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn bits(&mut self, n: u32) -> u64 {
        self.next() >> (64 - n)
    }
}

/// `bb:dd.f` of a requester id, as the drivers print it.
fn bdf(rid: u64) -> String {
    format!("{:02x}:{:02x}.{}", rid >> 8, (rid >> 3) & 0x1f, rid & 7)
}

/// Runs `decode --json` over `lines` and checks each record's words
/// against `want` (the record the message says, its unprinted fields 0).
fn round_trip(args: &str, lines: &[String], want: &[String]) {
    let o = cli(args).run(&lines.join("\n"));
    o.code_is(0);
    let v = o.json_n(lines.len());
    for ((line, r), w) in lines.iter().zip(&v).zip(want) {
        assert_eq!(r["words"], w.as_str(), "{line}");
    }
}

/// The general rule of the kernel forms: a record printed the way the
/// driver prints it (its format strings) reads back as the same record,
/// the fields the message does not print 0 — for every kind and field
/// value, over generated records of each architecture.
#[test]
fn kernel_messages_read_back_as_the_records_printed() {
    use iommu_inval::amd::event::EventRecord;
    use iommu_inval::core::record::RecordFormat;
    use iommu_inval::core::NativeCommand;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let words = |w: &[u64]| {
        w.iter()
            .map(|x| format!("{x:#018x}"))
            .collect::<Vec<_>>()
            .join(",")
    };

    // VT-d dmar_fault_do_one: F set, T1, PP / PV, FR, SID, the page.
    let reasons = iommu_inval::vtd::fault::FAULT_REASONS.names;
    let (mut lines, mut want) = (vec![], vec![]);
    for i in 0..300 {
        let (rid, t1, pp) = (rng.bits(16), rng.bits(1), rng.bits(1));
        let pv = rng.bits(20);
        let (fr, text) = reasons[i % reasons.len()];
        let fi = rng.next() & !0xfff;
        let kind = format!(
            "DMA {}{}",
            if t1 == 1 { "Read" } else { "Write" },
            if pp == 1 {
                format!(" PASID {pv:#x}")
            } else {
                " NO_PASID".into()
            }
        );
        lines.push(format!(
            "DMAR: [{kind}] Request device [{}] fault addr {fi:#x} [fault reason {fr:#04x}] {text}",
            bdf(rid)
        ));
        let w1 = 1 << 63 | t1 << 62 | (pv * pp) << 40 | (fr as u64) << 32 | pp << 31 | rid;
        want.push(words(&[fi, w1]));
    }
    round_trip("decode --arch vtd --queue fault --json", &lines, &want);

    // AMD-Vi iommu_print_event and the report functions, every kind.
    let (mut lines, mut want) = (vec![], vec![]);
    let mut kinds = std::collections::BTreeSet::new();
    while lines.len() < 400 {
        // A kind, and random bits in its fields (the codec's table).
        let kinds_of = iommu_inval::amd::event::EventFormat::KINDS;
        let k = &kinds_of[rng.bits(8) as usize % kinds_of.len()];
        let mut mask = [0u64; 2];
        for i in 0..k.fields().len() {
            for (w, hi, lo) in k.ranges_of(i) {
                mask[usize::from(w)] |= (u64::MAX >> (63 - hi)) & !((1u64 << lo) - 1);
            }
        }
        let w0 = k.code() << 60 | rng.next() & mask[0];
        let w1 = rng.next() & mask[1];
        let Ok(r) = EventRecord::decode(&[w0, w1]) else {
            continue;
        };
        kinds.insert(r.op());
        let g = |n: &str| r.uint(n).unwrap_or(0);
        let dev = format!("0000:{}", bdf(g("device_id")));
        let (flags, addr) = ((w0 >> 48) & 0xfff, w1);
        let body = match r.op() {
            "IO_PAGE_FAULT" => format!(
                "device={dev} domain={:#06x} address={addr:#x} flags={flags:#06x}",
                g("domain_or_pasid") & 0xffff
            ),
            "ILLEGAL_DEV_TABLE_ENTRY" | "INVALID_DEVICE_REQUEST" => format!(
                "device={dev} pasid={:#07x} address={addr:#x} flags={flags:#06x}",
                g("pasid")
            ),
            "DEV_TAB_HARDWARE_ERROR" => format!("device={dev} address={addr:#x} flags={flags:#06x}"),
            "PAGE_TAB_HARDWARE_ERROR" => format!(
                "device={dev} pasid={:#06x} address={addr:#x} flags={flags:#06x}",
                g("domain_or_pasid")
            ),
            "ILLEGAL_COMMAND_ERROR" => format!("address={addr:#x}"),
            "COMMAND_HARDWARE_ERROR" => format!("address={addr:#x} flags={flags:#06x}"),
            "IOTLB_INV_TIMEOUT" => format!("device={dev} address={addr:#x}"),
            "INVALID_PPR_REQUEST" => format!(
                "device={dev} pasid={:#07x} address={addr:#x} flags={flags:#06x} tag={:#05x}",
                g("pasid"),
                g("tag")
            ),
            "RMP_PAGE_FAULT" => format!(
                "device={dev}, vmg_tag={:#06x}, gpa={addr:#x}, flags_rmp={:#06x}, flags={flags:#06x}",
                g("vmg_tag"),
                g("flags_rmp")
            ),
            "RMP_HW_ERROR" => format!(
                "device={dev}, vmg_tag={:#06x}, spa={addr:#x}, flags={flags:#06x}",
                g("vmg_tag")
            ),
            _ => format!(
                "UNKNOWN event[0]={:#010x} event[1]={:#010x} event[2]={:#010x} event[3]={:#010x}",
                w0 & 0xffff_ffff,
                w0 >> 32,
                w1 & 0xffff_ffff,
                w1 >> 32
            ),
        };
        let (kind, close) = match r.op() {
            "EVENT_COUNTER_ZERO" => ("", ""),
            op => (op, "]"),
        };
        let sep = if kind.is_empty() { "" } else { " " };
        lines.push(format!("AMD-Vi: Event logged [{kind}{sep}{body}{close}"));
        // IO_PAGE_FAULT's domain is printed as a u16: bits 19:16 are lost.
        let lost = if r.op() == "IO_PAGE_FAULT" {
            0xf << 16
        } else {
            0
        };
        want.push(words(&[w0 & !lost, w1]));
    }
    assert_eq!(kinds.len(), 12, "{kinds:?}");
    round_trip("decode --arch amd --queue event --json", &lines, &want);

    // RISC-V riscv_iommu_fault: CAUSE (decimal), DID, iotval, iotval2.
    let causes = iommu_inval::riscv::fault::CAUSES.names;
    let (mut lines, mut want) = (vec![], vec![]);
    for i in 0..200 {
        let (cause, did) = (causes[i % causes.len()].0 as u64, rng.bits(24));
        let (v, v2) = (rng.next() >> rng.bits(6), rng.next() >> rng.bits(6));
        lines.push(format!(
            "riscv,iommu 10001000.iommu: Fault {cause} devid: {did:#x} iotval: {v:x} iotval2: {v2:x}"
        ));
        want.push(words(&[did << 40 | cause, 0, v, v2]));
    }
    round_trip("decode --arch riscv --queue fault --json", &lines, &want);

    // SMMUv3 arm_smmu_handle_ppr: the SSID is printed 0 without SSV, and
    // SSV is read back only from what needs it.
    let (mut lines, mut want) = (vec![], vec![]);
    for _ in 0..200 {
        let (sid, ssv, ssid) = (rng.bits(32), rng.bits(1), rng.bits(20) * rng.bits(1));
        let (privileged, exec) = (rng.bits(1) & ssv, rng.bits(1) & ssv);
        let (read, write, last, index) = (rng.bits(1), rng.bits(1), rng.bits(1), rng.bits(9));
        let addr = rng.next() & !0xfff;
        let shown = ssid * ssv;
        lines.push(format!(
            "arm-smmu-v3 arm-smmu-v3.0.auto: \tsid {sid:#010x}.{shown:#07x}: [{index}{}] {}privileged {}{}{} access at iova {addr:#018x}",
            if last == 1 { "L" } else { "" },
            if privileged == 1 { "" } else { "un" },
            if read == 1 { "R" } else { "" },
            if write == 1 { "W" } else { "" },
            if exec == 1 { "X" } else { "" },
        ));
        let ssv_read = u64::from(shown != 0 || privileged == 1 || exec == 1);
        let w0 = ssv_read << 63
            | last << 62
            | write << 61
            | read << 60
            | exec << 59
            | privileged << 58
            | shown << 32
            | sid;
        want.push(words(&[w0, addr | index]));
    }
    round_trip("decode --arch smmuv3 --queue pri --json", &lines, &want);
}
