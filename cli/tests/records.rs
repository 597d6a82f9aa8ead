//! `decode --queue` and `convert --queue`: records (events, page requests)
//! through the built binary — hex words, raw dumps and the kernel's event
//! dumps (examples/smmuv3-events.txt), pSID → vSID through the topology,
//! typed errors, exit status 1 for bad records and 2 for usage.

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
            "decode --arch amd --queue ppr 0,0",
            "no record codecs for amd",
        ),
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
