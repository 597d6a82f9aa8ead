//! `convert --to iommufd-smmuv3 | iommufd-vtd` through the built binary:
//! every input command is either an entry or reported, entries pass the
//! kernel's checks, `--explain` never shows an under-invalidation, and bad
//! usage exits 2.

use iommu_inval::iommufd::uapi::HwptVtdS1Invalidate;
use serde_json::Value;

mod common;
use common::{cli, command_lines, read, run, strs, TempFile};

fn commands(file: &str) -> usize {
    command_lines(&read(file)).len()
}

const TOPO: &str = "examples/iommufd-topology.json";

#[test]
fn smmuv3_every_command_is_an_entry_or_reported() {
    let input = read("examples/smmuv3.cmds");
    let o = cli("convert --from smmuv3 --to iommufd-smmuv3 --topology")
        .arg(TOPO)
        .run(&input);
    assert_eq!(o.code, 1, "the stream holds refused commands: {}", o.stderr);
    let entries = o.stdout.lines().count();
    let reports = o.stderr.lines().count();
    assert!(entries > 0);
    assert_eq!(
        entries + reports,
        commands("examples/smmuv3.cmds"),
        "{}",
        o.stderr
    );
    for l in o.stderr.lines() {
        assert!(
            l.contains("absorbed:") || l.contains("dropped:") || l.contains("no_equivalent:"),
            "{l}"
        );
        assert!(l.contains("instead:"), "{l}");
    }
    // The entries are the guest's words, unchanged.
    for l in o.stdout.lines() {
        assert!(input.contains(l), "{l}");
    }
}

#[test]
fn smmuv3_explain_shows_the_kernel_rewriting_and_no_under() {
    let input = read("examples/smmuv3.cmds");
    let o = cli("convert --from smmuv3 --to iommufd-smmuv3 --topology")
        .arg(TOPO)
        .args("--explain")
        .run(&input);
    o.stdout_lacks("UNDER");
    o.stdout_has("#   kernel issues: 0x0005000300900012,0x0000000040000701");
    // vSID 0x10 became pSID 0x100.
    o.stdout_has("#   kernel issues: 0x0000010000001840,0x0000000040000009");
    let j = cli("convert --from smmuv3 --to iommufd-smmuv3 --topology")
        .arg(TOPO)
        .args("--explain --json")
        .run(&input);
    let objs: Vec<Value> = j
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(j.code, 1, "refusals give exit 1 with --explain --json too");
    assert_eq!(objs.len(), commands("examples/smmuv3.cmds"));
    for v in &objs {
        let out = v["output"].as_array().unwrap();
        assert!(out.len() == 1 || v.get("error").is_some(), "{v}");
        if !out.is_empty() {
            assert_eq!(v["relation"], "exact", "{v}");
        }
    }
}

#[test]
fn vtd_entries_pass_the_kernel_checks() {
    for (file, width) in [
        ("examples/vtd256.cmds", "256"),
        ("examples/vtd.cmds", "128"),
    ] {
        let input = read(file);
        let o = cli("convert --from vtd --desc-width")
            .arg(width)
            .args("--to iommufd-vtd --topology examples/topology.json")
            .run(&input);
        o.code_is(0);
        for l in o.stdout.lines() {
            let v: Value = serde_json::from_str(l).unwrap();
            let m = v.as_object().unwrap();
            assert_eq!(m.len(), 3, "{l}");
            let e = HwptVtdS1Invalidate {
                addr: v["addr"].as_u64().unwrap(),
                npages: v["npages"].as_u64().unwrap(),
                flags: v["flags"].as_u64().unwrap() as u32,
                reserved: 0,
            };
            assert_eq!(e.check(), Ok(()), "{l}");
        }
        for l in o.stderr.lines() {
            assert!(l.contains("no entry:"), "{l}");
        }
        let x = cli("convert --from vtd --desc-width")
            .arg(width)
            .args("--to iommufd-vtd --topology examples/topology.json --explain")
            .run(&input);
        x.stdout_lacks("UNDER");
    }
}

#[test]
fn vtd_from_other_architectures_and_stall_is_no_equivalent() {
    let input = read("examples/amd.cmds");
    let o = cli("convert --from amd --to iommufd-vtd --explain").run(&input);
    o.stdout_lacks("UNDER");
    // CMD_STALL_TERM: no equivalent, in the error shape.
    let s = cli("convert --from smmuv3 --to iommufd-vtd --json 0x0000001000000045,0").run("");
    s.code_is(1);
    let v: Value = serde_json::from_str(s.stdout.trim()).unwrap();
    assert_eq!(v["arch"], "iommufd-vtd");
    assert_eq!(v["error"]["kind"], "no_equivalent");
}

#[test]
fn usage_errors_exit_2() {
    let o = cli("convert --from vtd --to iommufd-smmuv3 0,0").run("");
    o.code_is(2);
    let o = cli("convert --from smmuv3 --to iommufd-nope 0,0").run("");
    o.code_is(2);
    cli("convert --from smmuv3 --to iommufd-smmuv3 --topology")
        .file(
            "topo.json",
            r#"{"iommufd": {"vdevices": [{"vsid": 1, "psid": 2}, {"vsid": 1, "psid": 3}]}}"#,
        )
        .args("0x10,0")
        .run("")
        .code_is(2);
}

#[test]
fn host_flags_reach_the_vsmmu_checks() {
    // A range TLBI (NUM = 1) is refused on a host without range invalidation.
    let w = "0x0005000100001012,0x0000000040000401";
    let ok = cli("convert --from smmuv3 --to iommufd-smmuv3").run_arg(w);
    ok.code_is(0);
    cli("convert --from smmuv3 --to iommufd-smmuv3 --no-range-inval")
        .run_arg(w)
        .code_is(1)
        .stderr_has("ARM_SMMU_FEAT_RANGE_INV");
}

/// Issue 28 item 2: SCALE bit 5 (w0[25], SCALE >= 32) is RES0 on a host
/// SMMU without SMMU_IDR5.DS; the kernel refuses it (-EIO, the whole batch
/// lost), so the target refuses it naming the feature, and accepts it when
/// the topology's `iommufd.host` says the host has DS.
#[test]
fn scale_above_31_needs_ds() {
    let w = "0x0001000002001012,0x0000000000000400";
    let no = cli("convert --from smmuv3 --to iommufd-smmuv3").run_arg(w);
    assert_eq!(no.code, 1, "{}{}", no.stdout, no.stderr);
    assert!(no.stdout.is_empty(), "{}", no.stdout);
    assert!(
        no.stderr.contains("no_equivalent") && no.stderr.contains("DS"),
        "{}",
        no.stderr
    );
    let yes = cli("convert --from smmuv3 --to iommufd-smmuv3 --topology")
        .file("ds.json", r#"{"iommufd": {"host": {"ds": true}}}"#)
        .run_arg(w);
    yes.code_is(0);
    assert_eq!(yes.stdout.trim(), w);
    // --json: the error shape with the kernel's reason.
    let j = cli("convert --from smmuv3 --to iommufd-smmuv3 --json").run_arg(w);
    let v: Value = serde_json::from_str(j.stdout.trim()).unwrap();
    assert_eq!(v["error"]["kind"], "no_equivalent");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("ARM_SMMU_FEAT_DS"));
}

/// The topology's host features reach every check the kernel makes
/// (ASID bits, substreams, ATS, range invalidation); the flags narrow them.
#[test]
fn topology_host_features_reach_the_vsmmu_checks() {
    let small = TempFile::new(
        "host.json",
        r#"{"iommufd": {"host": {"asid_bits": 8, "ssid_bits": 0, "ats": false, "range_inv": false}}}"#,
    );
    let conv = |w: &str| {
        cli("convert --from smmuv3 --to iommufd-smmuv3 --topology")
            .arg(small.path())
            .run_arg(w)
    };
    for (w, feature) in [
        // NH_ASID with ASID 0x100: 8-bit ASIDs.
        ("0x0100000100000011,0", "asid_bits"),
        // CFGI_CD with SSID 1: no substreams.
        ("0x0000001000001005,0", "ssid_bits"),
        // ATC_INV: no ATS.
        ("0x0000001000000040,0", "ATS"),
        // NH_VA with NUM = 1, TG = 4 KiB: no range invalidation.
        ("0x0005000100001012,0x0000000040000401", "RANGE_INV"),
    ] {
        let o = conv(w);
        assert_eq!(o.code, 1, "{w}: {}", o.stdout);
        assert!(o.stderr.contains(feature), "{w}: {}", o.stderr);
    }
    cli("convert --from smmuv3 --to iommufd-smmuv3 --topology")
        .file(
            "badhost.json",
            r#"{"iommufd": {"host": {"asid_bits": 12}}}"#,
        )
        .args("0x10,0")
        .run("")
        .code_is(2)
        .stderr_has("asid_bits");
}

/// Issue 28 item 3: an NH_ASID under a VMID the topology does not know can
/// be any PASID of any domain: the VT-d stage-1 entry widens to every PASID
/// and --explain says so (never "exact").
#[test]
fn unknown_vmid_widens_the_vtd_scope() {
    let t = TempFile::new(
        "vmid.json",
        r#"{"domains":[{"id":1,"smmuv3":{"vmid":3}}],"devices":[{"rid":256,"domain":1,"pasids":[{"pasid":70000,"asid":5}]}]}"#,
    );
    for w in [
        // NH_ASID, VMID 9 (unknown), ASID 5.
        "0x0005000900000011,0",
        // NH_VA, VMID 9, ASID 5, one page.
        "0x0005000900000012,0x0000000040000000",
    ] {
        let o = cli("convert --from smmuv3 --to iommufd-vtd --topology")
            .arg(t.path())
            .args("--explain")
            .run_arg(w);
        assert_eq!(o.code, 0, "{w}: {}", o.stderr);
        assert!(
            o.stdout.contains("domain all, pasid all"),
            "{w}: {}",
            o.stdout
        );
        assert!(!o.stdout.contains("exact"), "{w}: {}", o.stdout);
        assert!(o.stdout.contains("widened"), "{w}: {}", o.stdout);
        assert!(
            o.stdout.contains("pasid") && o.stdout.contains("domain"),
            "{w}: {}",
            o.stdout
        );
        let j = cli("convert --from smmuv3 --to iommufd-vtd --topology")
            .arg(t.path())
            .args("--explain --json")
            .run_arg(w);
        let v: Value = serde_json::from_str(j.stdout.trim()).unwrap();
        assert_eq!(v["scopes"][0], "domain all, pasid all", "{}", j.stdout);
        assert_ne!(v["relation"], "exact", "{}", j.stdout);
        let widened: Vec<&str> = strs(&v["widened"]);
        assert!(
            widened.contains(&"domain") && widened.contains(&"pasid"),
            "{}",
            j.stdout
        );
    }
    // A known VMID keeps the exact scope.
    let o = cli("convert --from smmuv3 --to iommufd-vtd --topology")
        .arg(t.path())
        .args("--explain 0x0005000300000011,0")
        .run("");
    o.stdout_has("domain 1, pasid 70000");
    o.stdout_has("exact");
}

/// Issue 28 item 4: every target reports what it drops, in the same words
/// as `--to vtd`; the vSMMU refusal of CMD_CFGI_VMS_PIDM / CMD_DPTI_ALL
/// says what to do about those commands, not about prefetches.
#[test]
fn every_target_reports_drops_in_the_same_words() {
    let words = ["0x70,0", "0x07,0"];
    let conv = |to: &str| {
        let mut a = vec!["convert", "--from", "smmuv3", "--to", to];
        a.extend(words);
        run(&a, "")
    };
    let vtd = conv("vtd");
    vtd.code_is(0);
    let lines: Vec<&str> = vtd.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{}", vtd.stderr);
    assert!(
        lines.iter().all(|l| l.contains(": dropped: ")),
        "{}",
        vtd.stderr
    );
    for to in ["amd", "riscv", "smmuv3", "iommufd-vtd"] {
        let o = conv(to);
        assert_eq!(o.code, 0, "{to}: {}", o.stderr);
        assert_eq!(o.stderr, vtd.stderr, "{to} words its drops as --to vtd");
    }
    let ifd = conv("iommufd-vtd");
    assert!(ifd.stdout.is_empty(), "{}", ifd.stdout);
    // A prefetch is dropped too, in the same `dropped:` words.
    cli("convert --from smmuv3 --to iommufd-vtd 0x01,0")
        .run("")
        .code_is(0)
        .stderr_has(": dropped: ");
    // --explain and --explain --json carry the drop too.
    let mut a = vec![
        "convert",
        "--from",
        "smmuv3",
        "--to",
        "iommufd-vtd",
        "--explain",
    ];
    a.extend(words);
    let x = run(&a, "");
    x.stdout_has("dropped: CMD_DPTI_ALL");
    x.stdout_has("dropped: CMD_CFGI_VMS_PIDM");
    a.push("--json");
    let xj = run(&a, "");
    let v: Value = serde_json::from_str(xj.stdout.lines().next().unwrap()).unwrap();
    assert!(
        v["dropped"].as_str().unwrap().starts_with("CMD_DPTI_ALL"),
        "{}",
        xj.stdout
    );
    // The vSMMU refuses them; what to do instead is about them.
    for w in words {
        let o = cli("convert --from smmuv3 --to iommufd-smmuv3").run_arg(w);
        assert_eq!(o.code, 1, "{w}: {}", o.stderr);
        assert!(!o.stderr.contains("prefetch"), "{w}: {}", o.stderr);
        let instead = o.stderr.split("instead:").nth(1).unwrap_or("");
        assert!(
            instead.contains("CMD_CFGI_VMS_PIDM") || instead.contains("CMD_DPTI_ALL"),
            "{w}: {}",
            o.stderr
        );
    }
}
