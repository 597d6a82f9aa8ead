//! Pasted log lines (`--input auto|words|kernel|qemu`), raw dumps from
//! pipes, `--offset` / `--index`, duplicate JSON keys and 20-bit PASIDs.
//!
//! Where the lines come from: the SMMUv3 lines marked "real" are kernel
//! output quoted in public posts (the issue that asked for this, and the
//! test log in Nicolin Chen's "iommu/arm-smmu-v3: Add CS_NONE quirk" series
//! on the iommu mailing list, where the tab came through as spaces). The
//! VT-d, AMD-Vi and QEMU lines are built from the format strings of
//! drivers/iommu/intel/dmar.c (`qi_dump_fault`, and the older
//! `qi_check_fault` "invalid descriptor" lines), drivers/iommu/amd/iommu.c
//! (`iommu_print_event`, `dump_command`) and QEMU's hw/i386/trace-events and
//! hw/i386/intel_iommu.c `error_report_once` messages, with a dmesg or
//! syslog prefix in front as the kernel's printk adds it.

mod common;
use common::{cli, json_lines, root, strs};

/// Real: the lines quoted in the issue.
const SMMU_ISSUE: &str = "\
arm-smmu-v3 arm-smmu-v3.0.auto: CMDQ error (cons 0x01000003): Illegal command
arm-smmu-v3 arm-smmu-v3.0.auto: skipping command in error state:
arm-smmu-v3 arm-smmu-v3.0.auto: \t0x0000000000000012
arm-smmu-v3 arm-smmu-v3.0.auto: \t0x0000000000000000
";

/// Real: the test log of the CS_NONE quirk series (the tab became spaces),
/// with the unrelated nvme lines of that log left out.
const SMMU_LIST: &str = "\
  arm-smmu-v3: unexpected global error reported (0x00000001),
               this could be serious
  arm-smmu-v3: CMDQ error (cons 0x01000022): Illegal command
  arm-smmu-v3: skipping command in error state:
  arm-smmu-v3:  0x0000000000000000
  arm-smmu-v3:  0x0000000000000000
";

#[test]
fn smmuv3_cmdq_error_dump_decodes_with_its_cerror() {
    let v = cli("decode --arch smmuv3 --json")
        .run(SMMU_ISSUE)
        .code_is(0)
        .json_n(1);
    assert_eq!(v[0]["op"], "CMD_TLBI_NH_VA");
    let ctx = v[0]["context"].as_array().unwrap();
    assert!(
        ctx[0].as_str().unwrap().contains("Illegal command"),
        "{ctx:?}"
    );
    assert!(ctx[0].as_str().unwrap().contains("CERROR_ILL"), "{ctx:?}");
    assert!(
        v[0]["verdict"]
            .as_str()
            .unwrap()
            .contains("valid per the command tables"),
        "{v:?}"
    );
    // The same words as a word line: the same command.
    let w = cli("decode --arch smmuv3 --json").run("0x0000000000000012,0x0000000000000000\n");
    assert_eq!(json_lines(&w.stdout)[0]["fields"], v[0]["fields"]);

    let o = cli("decode --arch smmuv3").run(SMMU_LIST);
    assert_eq!(o.code, 1, "opcode 0 is illegal: {} {}", o.stdout, o.stderr);
    o.stdout_has("# kernel: CMDQ error \"Illegal command\"");
    o.stdout_has("unknown_opcode");
    o.stdout_has("the hardware raises CERROR_ILL");
}

#[test]
fn timestamps_and_syslog_prefixes_are_skipped() {
    let dmesg: String = SMMU_ISSUE
        .lines()
        .enumerate()
        .map(|(i, l)| format!("[  123.45678{i}] {l}\n"))
        .collect();
    let syslog: String = SMMU_ISSUE
        .lines()
        .map(|l| format!("Dec  3 09:30:01 host kernel: [  12.345678] {l}\n"))
        .collect();
    let journal: String = SMMU_ISSUE
        .lines()
        .map(|l| format!("2026-12-03T09:30:01.123456+00:00 host kernel: {l}\n"))
        .collect();
    for text in [dmesg, syslog, journal] {
        let o = cli("decode --arch smmuv3 --input kernel").run(&text);
        assert_eq!(o.code, 0, "{text}: {}", o.stderr);
        o.stdout_has("CMD_TLBI_NH_VA");
    }
}

/// Built from qi_dump_fault's format strings (Linux 5.13+).
const VTD_QI: &str = "\
[  4.123456] DMAR: VT-d detected Invalidation Queue Error: Reason 4
[  4.123457] DMAR: QI HEAD: IOTLB Invalidation qw0 = 0x10000000000012, qw1 = 0x1000
[  4.123458] DMAR: QI PRIOR: Invalidation Wait qw0 = 0x200000025, qw1 = 0x1234000
[  4.123459] DMAR: Invalidation Queue Error (IQE) cleared
";

#[test]
fn vtd_qi_fault_dump_names_the_refused_bit() {
    let v = cli("decode --arch vtd --json")
        .run(VTD_QI)
        .code_is(1)
        .json_n(2);
    assert_eq!(v[0]["error"]["kind"], "reserved_bits");
    assert!(v[0]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("w0[52]"));
    let ctx: Vec<&str> = strs(&v[0]["context"]);
    assert!(
        ctx[0].contains("FSTS.IQE") && ctx[0].contains("IQEI = 0x4"),
        "{ctx:?}"
    );
    assert!(ctx[1].contains("QI HEAD (IOTLB Invalidation)"), "{ctx:?}");
    assert!(v[0]["verdict"].as_str().unwrap().contains("FSTS.IQE"));
    assert_eq!(v[1]["op"], "inv_wait_dsc");
    assert_eq!(v[1]["fields"]["status_address"], 0x1234000);
    assert_eq!(v[1]["fields"]["status_data"], 2);
    // 256-bit: the kernel does not print qw2/qw3; they are taken as 0 and said so.
    let o = cli("decode --arch vtd --desc-width 256")
        .run("DMAR: QI HEAD: PASID-based IOTLB Invalidation qw0 = 0x200010026, qw1 = 0x0\n");
    assert_eq!(o.code, 0, "{} {}", o.stdout, o.stderr);
    o.stdout_has("qw2 and qw3 are not printed");
    o.stdout_has("p_iotlb_inv_dsc");
}

#[test]
fn vtd_older_invalid_descriptor_lines() {
    // Linux 5.0-5.12 and older kernels (no 0x in front of the values).
    let text = "\
[  1.0] DMAR: VT-d detected invalid descriptor: qw0 = 2000000000012, qw1 = 0
[  1.1] DMAR: VT-d detected invalid descriptor: low=12, high=0
";
    let v = cli("decode --arch vtd --json").run(text).json_n(2);
    assert_eq!(v[0]["error"]["kind"], "reserved_bits");
    assert_eq!(v[1]["op"], "iotlb_inv_dsc");
    assert!(v[1]["verdict"]
        .as_str()
        .unwrap()
        .contains("refused it for state"));
}

/// Built from iommu_print_event's and dump_command's format strings.
const AMD_ILL: &str = "\
[  7.0] iommu ivhd0: AMD-Vi: Event logged [ILLEGAL_COMMAND_ERROR address=0x1f0e00]
[  7.0] AMD-Vi: CMD[0]: 00000010
[  7.0] AMD-Vi: CMD[1]: 30000005
[  7.0] AMD-Vi: CMD[2]: 00001000
[  7.0] AMD-Vi: CMD[3]: 00000000
";

#[test]
fn amd_illegal_command_dwords_pair_little_endian() {
    let v = cli("decode --arch amd --json")
        .run(AMD_ILL)
        .code_is(0)
        .json_n(1);
    // w0 = CMD[1]:CMD[0] = 0x30000005_00000010, w1 = CMD[3]:CMD[2] = 0x1000.
    let w = cli("decode --arch amd --json").run("0x3000000500000010,0x0000000000001000\n");
    assert_eq!(json_lines(&w.stdout)[0], {
        let mut x = v[0].clone();
        let m = x.as_object_mut().unwrap();
        m.remove("context");
        m.remove("verdict");
        x
    });
    assert_eq!(v[0]["op"], "INVALIDATE_IOMMU_PAGES");
    assert!(v[0]["context"][0]
        .as_str()
        .unwrap()
        .contains("ILLEGAL_COMMAND_ERROR event (code 5): the command at 0x1f0e00"));
    // A dump cut short, and dwords out of order: exit 2, naming the line.
    cli("decode --arch amd")
        .run("AMD-Vi: CMD[0]: 00000010\nAMD-Vi: CMD[1]: 30000005\n")
        .code_is(2)
        .stderr_has("line 1: the AMD-Vi CMD[] dump ends at line 2, after 2 of the 4");
    cli("decode --arch amd")
        .run("AMD-Vi: CMD[1]: 00000010\n")
        .code_is(2)
        .stderr_has("line 1: CMD[1] where CMD[0] was expected");
}

#[test]
fn qemu_trace_lines_put_the_high_word_second() {
    // vtd_inv_desc with the log trace backend's pid@time prefix.
    let o = cli("decode --arch vtd --json --input qemu").run(
        "12345@1700000000.123456:vtd_inv_desc invalidate desc type iotlb high 0x1000 low 0x10012\n",
    );
    o.code_is(0);
    let v = json_lines(&o.stdout);
    assert_eq!(v[0]["op"], "iotlb_inv_dsc");
    assert_eq!(v[0]["fields"]["address"], 0x1000, "low word first: {v:?}");
    assert_eq!(v[0]["fields"]["did"], 1);
    // error_report_once lines, without and with 0x, and the 256-bit report.
    cli("decode --arch vtd").run("qemu-system-x86_64: vtd_process_inv_desc: invalid inv desc: hi=0, lo=ff (unknown type)\n\
         qemu-system-x86_64: vtd_process_iotlb_desc: invalid iotlb inv desc: hi=0x0, lo=0x10000000000012 (reserved bits unzero)\n")
        .code_is(1)
        .stdout_has("unknown_opcode")
        .stdout_has("(unknown type)")
        .stdout_has("w0[52]");
    let o = cli("decode --arch vtd --desc-width 256 --json").run("qemu-system-x86_64: vtd_inv_desc_reserved_check: invalid iotlb desc val[3]: 0x4 val[2]: 0x3 val[1]=0x1000 val[0]=0x10012 (reserved nonzero)\n");
    let v = json_lines(&o.stdout);
    assert_eq!(v[0]["error"]["kind"], "reserved_bits", "{v:?}");
    assert_eq!(
        v[0]["error"]["message"].as_str().map(|m| m.contains("w2")),
        Some(true),
        "{v:?}"
    );
}

#[test]
fn forced_forms_and_other_architectures() {
    // --input words: a kernel line is the plain text error.
    let o = cli("decode --arch smmuv3 --input words").run(SMMU_ISSUE);
    o.code_is(2);
    o.stderr_has("line 1: word 0 is not hex");
    assert!(o.stdout.is_empty());
    // --input qemu: kernel lines are no form.
    let o = cli("decode --arch vtd --input qemu").run(VTD_QI);
    o.code_is(2);
    assert!(
        o.stderr.contains("line 1:") && o.stderr.contains("QEMU"),
        "{}",
        o.stderr
    );
    // --input kernel: word lines are refused.
    cli("decode --arch amd --input kernel")
        .run("0x8000000000000000,0\n")
        .code_is(2)
        .stderr_has("line 1: a line of hex words, but --input is kernel");
    // A dump of another architecture's driver.
    cli("decode --arch vtd")
        .run(AMD_ILL)
        .code_is(2)
        .stderr_has("line 1: this is an AMD-Vi event, but the architecture is vtd");
    // Unrelated lines are named; the commands around them still decode.
    let o = cli("decode --arch amd")
        .run("nvme nvme0: 72/0/0 default/read/poll queues\n0x8000000000000000,0\n");
    o.code_is(2);
    o.stderr_has("line 1:");
    assert!(o.stdout.starts_with("INVALIDATE_IOMMU_ALL"), "{}", o.stdout);
    // Context that announces a command, with no command after it.
    cli("decode --arch smmuv3")
        .run("arm-smmu-v3: CMDQ error (cons 0x01000001): Illegal command\n")
        .code_is(2)
        .stderr_has("no command follows");
    // A CERROR_ABT prints no command: the event is complete (issue 30).
    cli("decode --arch smmuv3").run("arm-smmu-v3: CMDQ error (cons 0x02000001): Abort on command fetch\narm-smmu-v3: retrying command fetch\n")
        .code_is(0)
        .stdout_has("#   => CERROR_ABT");
    // Pasted lines as arguments work too.
    let o =
        cli("decode --arch vtd").run_arg("DMAR: QI HEAD: IOTLB Invalidation qw0 = 0x12, qw1 = 0x0");
    o.code_is(0);
    o.stdout_has("# kernel: QI HEAD");
}

#[test]
fn lift_and_convert_show_the_context_with_explain() {
    let o = cli("lift --arch amd --explain").run(AMD_ILL);
    o.code_is(0);
    assert!(
        o.stdout.starts_with("# kernel: ILLEGAL_COMMAND_ERROR"),
        "{}",
        o.stdout
    );
    let o = cli("convert --from smmuv3 --to vtd --explain --json").run(SMMU_ISSUE);
    o.code_is(0);
    let v = json_lines(&o.stdout);
    assert!(v[0]["input"]["context"][0]
        .as_str()
        .unwrap()
        .contains("CMDQ error"));
    // Without --explain the output stays plain words / JSON Lines.
    let o = cli("convert --from smmuv3 --to vtd").run(SMMU_ISSUE);
    o.code_is(0);
    assert!(!o.stdout.contains('#'), "{}", o.stdout);
}

#[test]
fn raw_dumps_from_pipes_and_queue_indexes() {
    let bin = std::fs::read(root().join("examples/amd-cmdbuf.bin")).unwrap();
    let file = cli("decode --arch amd --raw examples/amd-cmdbuf.bin").run("");
    file.code_is(0);
    for p in ["-", "/dev/stdin"] {
        let o = cli("decode --arch amd --raw").arg(p).run_bytes(&bin);
        assert_eq!(o.code, 0, "{p}: {}", o.stderr);
        assert_eq!(o.stdout, file.stdout, "{p}");
        // Skipping by reading works on a pipe.
        let o = cli("decode --arch amd --raw")
            .arg(p)
            .args("--index 1 --count 1")
            .run_bytes(&bin);
        assert_eq!(o.code, 0, "{p}: {}", o.stderr);
        assert_eq!(o.stdout.lines().next(), file.stdout.lines().nth(1), "{p}");
    }
    let idx = cli("decode --arch amd --raw examples/amd-cmdbuf.bin --index 1 --count 1").run("");
    let off =
        cli("decode --arch amd --raw examples/amd-cmdbuf.bin --offset 0x10 --count 1").run("");
    assert_eq!((idx.code, off.code), (0, 0));
    assert_eq!(idx.stdout, off.stdout);
    // 256-bit VT-d: --index counts 32-byte descriptors.
    cli("decode --arch vtd --desc-width 256 --raw - --offset 16")
        .run("")
        .code_is(2)
        .stderr_has("not a multiple of the 32-byte command size");
    // Misaligned, past the end, at the end.
    cli("decode --arch amd --raw examples/amd-cmdbuf.bin --offset 8")
        .run("")
        .code_is(2)
        .stderr_has("--offset 0x8 is not a multiple of the 16-byte command size");
    let past = format!("{:#x}", bin.len() + 16);
    cli("decode --arch amd --raw examples/amd-cmdbuf.bin --offset")
        .run_arg(&past)
        .code_is(2)
        .stderr_has("is past the end of examples/amd-cmdbuf.bin");
    let end = format!("{:#x}", bin.len());
    cli("decode --arch amd --raw examples/amd-cmdbuf.bin --offset")
        .run_arg(&end)
        .code_is(2)
        .stderr_has("--offset 0x120 is at the end");
    let o = cli("decode --arch amd --raw - --offset 0 --index 1").run("");
    assert_eq!(o.code, 2, "--offset and --index exclude each other");
}

#[test]
fn duplicate_json_keys_are_refused_naming_the_key() {
    // Topology: the second "domains" would silently drop every domain.
    cli("decode --arch vtd --topology")
        .file(
            "dup.json",
            r#"{"domains":[{"id":1,"vtd":{"did":1}}],"domains":[],"devices":[]}"#,
        )
        .args("0x12,0")
        .run("")
        .code_is(2)
        .stderr_has("duplicate key \"domains\"");
    // Native JSON.
    let o = cli("encode --arch smmuv3").run(r#"{"op":"CMD_SYNC","op":"CMD_TLBI_NH_ALL"}"#);
    o.code_is(1);
    assert!(o.stdout.is_empty(), "{}", o.stdout);
    o.stderr_has("duplicate key \"op\"");
    cli("encode --arch amd --json")
        .run(r#"{"op":"INVALIDATE_DEVTAB_ENTRY","fields":{"device_id":1,"device_id":2}}"#)
        .code_is(1)
        .stdout_has("duplicate key \\\"device_id\\\"");
    // Generic JSON.
    let o =
        cli("lower --arch vtd").run(r#"{"op":"inval","caches":["iotlb"],"domain":1,"domain":2}"#);
    o.code_is(1);
    o.stderr_has("duplicate key \"domain\"");
}

#[test]
fn generic_pasids_wider_than_20_bits_are_refused() {
    for op in [
        r#"{"op":"inval","caches":["iotlb"],"domain":1,"pasid":2097152}"#,
        r#"{"op":"inval","caches":["iotlb"],"domain":1,"pasid":1048576}"#,
        r#"{"op":"page_response","device":16,"pasid":1048576,"prg_index":1}"#,
        r#"{"op":"prefetch","device":16,"pasid":"0x100000"}"#,
    ] {
        let o = cli("lower --arch smmuv3").run(op);
        assert_eq!(o.code, 1, "{op}: {}", o.stdout);
        assert!(o.stdout.is_empty(), "{op}: {}", o.stdout);
        assert!(o.stderr.contains("PASID of 20 bits"), "{op}: {}", o.stderr);
    }
    let o = cli("lower --arch smmuv3")
        .run(r#"{"op":"inval","caches":["iotlb"],"domain":1,"pasid":1048575}"#);
    assert_eq!(o.code, 0, "the largest PASID is fine: {}", o.stderr);
}
