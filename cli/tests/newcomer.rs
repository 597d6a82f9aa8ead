//! Issue 30, items 1-5: what a new user types on a fresh clone. Each test
//! runs the binary as a user would: a real-looking `dmesg` with unrelated
//! lines around each kind of dump, `od` and QEMU monitor output, CONS
//! values for `--index`, and the messages.
//!
//! Where the log lines come from: the formats of drivers/iommu/arm/
//! arm-smmu-v3/arm-smmu-v3.c (`CMDQ error (cons 0x%08x): %s` with the
//! CERROR strings, `retrying command fetch`), drivers/iommu/intel/dmar.c
//! (`qi_dump_fault`, `qi_check_fault`, `dmar_fault`'s `DRHD: handling fault
//! status reg %x`) and drivers/iommu/amd/iommu.c (`iommu_print_event`,
//! `wait_on_sem`); the VT-d ITE line and the AMD-Vi IOTLB_INV_TIMEOUT lines
//! are as quoted in public kernel patches (PCI ATS quirks for devices whose
//! ATS answers time out).

// The binary's private modules, compiled from source.
#[allow(dead_code)]
#[path = "../src/app/mod.rs"]
mod app;

mod common;
use common::{cli, json_lines, read, root, run, TempFile};

/// `n` lines of an ordinary boot log (USB enumeration), with timestamps.
fn usb_noise(n: usize, t0: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "[{:5}.{:06}] usb 1-{}: new high-speed USB device number {} using xhci_hcd\n",
                t0 + i / 1000,
                i % 1000,
                i % 4 + 1,
                i % 127 + 1
            )
        })
        .collect()
}

/// The issue's case: 2,000 USB lines around an SMMUv3 CERROR_ILL dump.
fn smmu_dmesg() -> String {
    let mut s =
        String::from("[    0.000000] Linux version 6.8.0-45-generic (buildd@lcy02) #45 SMP\n");
    s += &usb_noise(1000, 1);
    s += "\
[  812.402117] arm-smmu-v3 arm-smmu-v3.0.auto: CMDQ error (cons 0x01000003): Illegal command
[  812.402125] arm-smmu-v3 arm-smmu-v3.0.auto: skipping command in error state:
[  812.402127] usb 1-1: USB disconnect, device number 2
[  812.402129] arm-smmu-v3 arm-smmu-v3.0.auto: \t0x0000000000000012
[  812.402133] arm-smmu-v3 arm-smmu-v3.0.auto: \t0x0000000000000000
";
    s += &usb_noise(1000, 900);
    s
}

#[test]
fn item1_a_real_dmesg_decodes_and_counts_the_rest_in_one_line() {
    for form in [&[][..], &["--input", "kernel"][..]] {
        let mut args = vec!["decode", "--arch", "smmuv3"];
        args.extend_from_slice(form);
        let o = run(&args, &smmu_dmesg());
        assert_eq!(o.code, 0, "{args:?}: {}", o.stderr);
        o.stdout_has("CMD_TLBI_NH_VA");
        o.stdout_has("CERROR_ILL");
        let err: Vec<&str> = o.stderr.lines().collect();
        assert_eq!(err.len(), 1, "one line on stderr: {}", o.stderr);
        assert!(
            err[0].contains("skipped 2002 line(s)"),
            "the count of unrelated lines: {}",
            o.stderr
        );
    }
    // `dmesg -t` (no timestamps): the lines before the first dump are held
    // until the input shows it is a log, then counted too.
    let plain: String = smmu_dmesg()
        .lines()
        .map(|l| format!("{}\n", l.split_once("] ").map_or(l, |x| x.1)))
        .collect();
    let o = cli("decode --arch smmuv3").run(&plain);
    o.code_is(0);
    o.stdout_has("CMD_TLBI_NH_VA");
    assert_eq!(o.stderr.lines().count(), 1, "{}", o.stderr);
    // A log with no dump at all: nothing to show, the count, exit 0.
    cli("decode --arch amd")
        .run(&usb_noise(50, 1))
        .code_is(0)
        .stderr_has("skipped 50 line(s)");
    // Text that is no log is still refused line by line (exit 2).
    let o = cli("decode --arch amd").run("hello\n0x8000000000000000,0\n0x80000000000000zz,0\n");
    o.code_is(2);
    assert!(
        o.stderr.contains("line 1:") && o.stderr.contains("line 3:"),
        "{}",
        o.stderr
    );
}

#[test]
fn item1_lines_that_accompany_dumps_are_context() {
    // VT-d: the fault interrupt's FSTS line around an IQE dump.
    let log = format!(
        "{}\
[ 4.123455] DMAR: DRHD: handling fault status reg 10
[ 4.123456] DMAR: VT-d detected Invalidation Queue Error: Reason 4
[ 4.123457] DMAR: QI HEAD: IOTLB Invalidation qw0 = 0x10000000000012, qw1 = 0x1000
[ 4.123458] DMAR: QI PRIOR: Invalidation Wait qw0 = 0x200000025, qw1 = 0x1234000
[ 4.123459] DMAR: Invalidation Queue Error (IQE) cleared
[ 5.000000] DMAR: DRHD: handling fault status reg 2
[ 5.000001] DMAR: [DMA Read NO_PASID] Request device [00:02.0] fault addr 0x1000 [fault reason 0x06] PTE Read access is not set
{}",
        usb_noise(20, 1),
        usb_noise(20, 6)
    );
    let o = cli("decode --arch vtd --json").run(&log);
    assert_eq!(o.code, 1, "the head descriptor is invalid: {}", o.stderr);
    let v = o.json_n(2);
    let ctx = v[0]["context"].to_string();
    assert!(ctx.contains("FSTS = 0x10 (IQE)"), "{ctx}");
    o.stderr_has("skipped 42 line(s)");
    assert_eq!(o.stderr.lines().count(), 1, "{}", o.stderr);
    // SMMUv3: "retrying command fetch" is the CERROR_ABT's own line.
    let o = cli("decode --arch smmuv3").run(
        "[1.0] arm-smmu-v3 x: CMDQ error (cons 0x02000005): Abort on command fetch\n\
         [1.0] arm-smmu-v3 x: retrying command fetch\n",
    );
    o.code_is(0);
    o.stdout_has("# kernel: retrying command fetch");
    assert!(o.stderr.is_empty(), "{}", o.stderr);
}

#[test]
fn item2_dumps_without_command_words_are_explained_exit_0() {
    // SMMUv3 CERROR_ABT and CERROR_ATC_INV_SYNC: the queue position from CONS.
    let o = cli("decode --arch smmuv3").run(&format!(
            "{}[  900.000001] arm-smmu-v3 arm-smmu-v3.0.auto: CMDQ error (cons 0x02000005): Abort on command fetch\n\
             [  900.000002] arm-smmu-v3 arm-smmu-v3.0.auto: retrying command fetch\n\
             [  901.000001] arm-smmu-v3 arm-smmu-v3.0.auto: CMDQ error (cons 0x03000010): ATC invalidate timeout\n{}",
            usb_noise(10, 1),
            usb_noise(10, 902)
        ));
    assert_eq!(o.code, 0, "{} {}", o.stdout, o.stderr);
    assert!(
        !o.stderr.contains("cut short") && !o.stderr.contains("no command follows"),
        "{}",
        o.stderr
    );
    o.stdout_has("#   => CERROR_ABT:");
    o.stdout_has("fetches the entry again");
    o.stdout_has("RD = 0x5");
    o.stdout_has("#   => CERROR_ATC_INV_SYNC:");
    o.stdout_has("CMD_SYNC at CONS");
    o.stdout_has("RD = 0x10");
    // The same as JSON: one event object each.
    let o = cli("decode --arch smmuv3 --json")
        .run("arm-smmu-v3 x: CMDQ error (cons 0x03000003): ATC invalidate timeout\n");
    o.code_is(0);
    let v = json_lines(&o.stdout);
    assert_eq!(v[0]["event"], "CERROR_ATC_INV_SYNC", "{v:?}");
    assert!(v[0]["explanation"].as_str().unwrap().contains("RD = 0x3"));
    // AMD-Vi IOTLB_INV_TIMEOUT, as quoted in the ATS quirk patches, with the
    // Completion-Wait time-out that comes with it.
    let o = cli("decode --arch amd").run("[  2.0] AMD-Vi: Completion-Wait loop timed out\n\
         [  2.1] iommu ivhd0: AMD-Vi: Event logged [IOTLB_INV_TIMEOUT device=63:00.0 address=0x42b5b01a0]\n\
         [  2.2] iommu ivhd0: AMD-Vi: Event logged [IOTLB_INV_TIMEOUT device=0000:63:00.0 address=0x42b5b01c0]\n");
    assert_eq!(o.code, 0, "{} {}", o.stdout, o.stderr);
    assert_eq!(
        o.stdout.matches("#   => IOTLB_INV_TIMEOUT:").count(),
        2,
        "{}",
        o.stdout
    );
    o.stdout_has("0x42b5b01a0 is that command's entry");
    o.stdout_has("does not stop");
    o.stdout_has("#   => Completion-Wait time-out:");
    // VT-d ITE: the modern fault line alone, and an older kernel's lines.
    for log in [
        "[  3.0] DMAR: VT-d detected Invalidation Time-out Error: SID 0\n",
        "[  3.0] DMAR: DRHD: handling fault status reg 40\n[  3.0] DMAR: Invalidation Time-out Error (ITE) cleared\n",
        "[  3.0] DMAR: VT-d detected Invalidation Completion Error: SID 300\n[  3.0] DMAR: Invalidation Completion Error (ICE) cleared\n",
    ] {
        let o = cli("decode --arch vtd").run(log);
        assert_eq!(o.code, 0, "{log}: {} {}", o.stdout, o.stderr);
        assert!(o.stdout.contains("#   => FSTS.IT") || o.stdout.contains("#   => FSTS.IC"), "{}", o.stdout);
        o.stdout_has("no command is printed");
    }
    // Linux 5.13+ prints QI HEAD / PRIOR with an ITE: those decode, and the
    // "cleared" line after them adds no second event.
    let o = cli("decode --arch vtd").run(
        "DMAR: VT-d detected Invalidation Time-out Error: SID 100\n\
         DMAR: QI HEAD: Invalidation Wait qw0 = 0x200000025, qw1 = 0x1234000\n\
         DMAR: QI PRIOR: Device-TLB Invalidation qw0 = 0x10000000003, qw1 = 0x0\n\
         DMAR: Invalidation Time-out Error (ITE) cleared\n",
    );
    assert_eq!(o.code, 0, "{} {}", o.stdout, o.stderr);
    assert!(
        o.stdout.contains("inv_wait_dsc") && o.stdout.contains("dev_tlb_inv_dsc"),
        "{}",
        o.stdout
    );
    o.stdout_lacks("#   => FSTS");
    // convert: the event is a note on stderr, the output stays words.
    let o = cli("convert --from smmuv3 --to vtd")
        .run("arm-smmu-v3 x: CMDQ error (cons 0x03000003): ATC invalidate timeout\n0x12,0\n");
    o.code_is(0);
    assert!(!o.stdout.contains('#'), "{}", o.stdout);
    o.stderr_has("line 1: CERROR_ATC_INV_SYNC");
    // A dump that should print a command and does not is still cut short.
    cli("decode --arch smmuv3")
        .run("arm-smmu-v3 x: CMDQ error (cons 0x01000003): Illegal command\n")
        .code_is(2)
        .stderr_has("no command follows");
}

#[test]
fn item3_index_takes_cons_and_prod_as_the_kernel_prints_them() {
    // A 32-entry SMMUv3 queue with a CMD_TLBI_NH_VA at entry 3.
    let mut q = vec![0u8; 32 * 16];
    q[3 * 16] = 0x12;
    let dump = TempFile::new("q.bin", &q);
    let p = dump.path();
    let o = cli("decode --arch smmuv3 --raw")
        .arg(p)
        .args("--index 0x01000023 --count 1")
        .run("");
    o.code_is(0);
    assert!(o.stdout.starts_with("CMD_TLBI_NH_VA"), "{}", o.stdout);
    assert!(
        o.stderr.contains("ERR = 1 (bits 30:24)")
            && o.stderr.contains("wrap bit (bit 5)")
            && o.stderr.contains("32-entry queue: entry 3"),
        "{}",
        o.stderr
    );
    // Errors name the option the user typed.
    cli("decode --arch amd --raw")
        .arg(p)
        .args("--index 40")
        .run("")
        .code_is(2)
        .stderr_has("--index 0x28 (byte 0x280) is past the end")
        .stderr_lacks("--offset");
    cli("decode --arch amd --raw - --index 32")
        .run_bytes(&q)
        .code_is(2)
        .stderr_has("--index 0x20 (byte 0x200) is at the end");
    cli("decode --arch amd --raw - --index 33")
        .run_bytes(&q)
        .code_is(2)
        .stderr_has("--index 0x21 (byte 0x210) is past the end");
}

#[test]
fn item4_words_separated_by_spaces() {
    let bin = std::fs::read(root().join("examples/amd-cmdbuf.bin")).unwrap();
    let want = cli("decode --arch amd --raw examples/amd-cmdbuf.bin").run("");
    want.code_is(0);
    // What `od -An -tx8 -v` prints for the dump (little-endian host).
    let od: String = bin
        .chunks(16)
        .map(|c| {
            let w0 = u64::from_le_bytes(c[..8].try_into().unwrap());
            let w1 = u64::from_le_bytes(c[8..].try_into().unwrap());
            format!(" {w0:016x} {w1:016x}\n")
        })
        .collect();
    let o = cli("decode --arch amd").run(&od);
    o.code_is(0);
    assert_eq!(o.stdout, want.stdout);
    // QEMU's monitor, `xp /2gx ADDR`: the address, a colon, 0x words.
    let qemu: String = bin
        .chunks(16)
        .enumerate()
        .map(|(i, c)| {
            let w0 = u64::from_le_bytes(c[..8].try_into().unwrap());
            let w1 = u64::from_le_bytes(c[8..].try_into().unwrap());
            format!("{:016x}: 0x{w0:016x} 0x{w1:016x}\n", 0x7f00_0000 + i * 16)
        })
        .collect();
    let o = cli("decode --arch amd").run(&qemu);
    o.code_is(0);
    assert_eq!(o.stdout, want.stdout);
    // Four per command for 256-bit VT-d (`od -An -tx8 -w32`).
    let o = cli("decode --arch vtd --desc-width 256")
        .run("0000000200010026 0000000040000049 0000000000000000 0000000000000000\n");
    o.code_is(0);
    assert!(o.stdout.starts_with("p_iotlb_inv_dsc"), "{}", o.stdout);
    // A wrong count is still an error that says what is expected.
    cli("decode --arch amd")
        .run("0000000 0000000000000012 0000000000001000\n")
        .code_is(2)
        .stderr_has("expected 2 64-bit words (separated by commas or spaces), got 3");
}

#[test]
fn item5_help_names_all_four_architectures_and_keeps_commands_whole() {
    let top = cli("--help").run("");
    top.code_is(0);
    let first = top.stdout.lines().next().unwrap_or("");
    assert!(first.contains("RISC-V"), "{first}");
    let conv = cli("convert --help").run("");
    let to = conv
        .stdout
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("--to"))
        .nth(1)
        .unwrap_or("");
    assert!(to.contains("riscv"), "{to}");
    // Not on a terminal (a pipe here), an example command is one line, as
    // written in help.rs: clap built with `wrap_help` (a workspace build,
    // where divan asks for it) must not wrap it at 100 columns.
    let texts = [
        ("", app::help::MAIN),
        ("decode", app::help::DECODE),
        ("encode", app::help::ENCODE),
        ("lift", app::help::LIFT),
        ("lower", app::help::LOWER),
        ("convert", app::help::CONVERT),
    ];
    let mut checked = 0;
    for (sub, text) in texts {
        let args: Vec<&str> = if sub.is_empty() {
            vec!["--help"]
        } else {
            vec![sub, "--help"]
        };
        let h = run(&args, "");
        let shown: Vec<&str> = h.stdout.lines().collect();
        for l in text.lines().filter(|l| l.trim_start().starts_with("$ ")) {
            assert!(shown.contains(&l), "{sub} --help breaks the example: {l}");
            checked += 1;
        }
    }
    assert!(checked >= 10, "{checked}");
}

#[test]
fn item5_messages_name_files_and_limits() {
    // An I/O error names the file.
    let dir = std::env::temp_dir();
    let o = cli("decode --arch amd --raw")
        .arg(dir.to_str().unwrap())
        .run("");
    o.code_is(2);
    assert!(o.stderr.contains(dir.to_str().unwrap()), "{}", o.stderr);
    // A read error names the file (/proc/self/mem has no page at 0).
    cli("decode --arch amd --raw /proc/self/mem")
        .run("")
        .code_is(2)
        .stderr_has("cannot read /proc/self/mem:");
    // An empty --raw file says so.
    cli("decode --arch amd --raw")
        .file("empty.bin", b"")
        .run("")
        .code_is(2)
        .stderr_has("is empty (0 bytes)");
    // A topology with a UTF-8 byte-order mark is read.
    let mut topo = b"\xef\xbb\xbf".to_vec();
    topo.extend_from_slice(&std::fs::read(root().join("examples/topology.json")).unwrap());
    let o = cli("convert --from smmuv3 --to vtd --topology")
        .file("bom.json", &topo)
        .args("0x0005000100900012,0x0000000040000701")
        .run("");
    o.code_is(0);
    assert!(o.stdout.starts_with("0x0000000100010036"), "{}", o.stdout);
    // A cut-short AMD dump names the line where it ends.
    cli("decode --arch amd")
        .run(
            "[7.0] AMD-Vi: Event logged [ILLEGAL_COMMAND_ERROR address=0x1f0e00]\n\
         [7.0] AMD-Vi: CMD[0]: 00000010\n\
         [7.0] AMD-Vi: CMD[1]: 30000005\n",
        )
        .code_is(2)
        .stderr_has("line 2: the AMD-Vi CMD[] dump ends at line 3, after 2 of the 4");
    // "does not fit" names the width.
    let o =
        cli("encode --arch smmuv3").run_arg(r#"{"op":"CMD_TLBI_NH_VA","fields":{"vmid":65536}}"#);
    o.code_is(1);
    o.stderr_has("16 bits (at most 0xffff)");
    let o =
        cli("encode --arch smmuv3").run_arg(r#"{"op":"CMD_TLBI_NH_VA","fields":{"address":4097}}"#);
    o.stderr_has("a multiple of 0x1000");
    // --arch and --caps in any letter case.
    let o = cli("decode --arch SMMUv3 --caps SMMUv3.2 0x12,0").run("");
    o.code_is(0);
    let o = cli("convert --from VTD --to RISCV 0x0000000100010036,0x0000000040000049").run("");
    o.code_is(0);
}

#[test]
fn item5_explain_says_what_a_box_without_bytes_is() {
    let o = cli("convert --from vtd --to smmuv3 --topology examples/topology.json --explain")
        .run(&read("examples/vtd.cmds"));
    o.stdout_lacks("+0 bytes");
    o.stdout_lacks("reported widened: caches");
    o.stdout_has("no extra IOTLB or device-TLB addresses");
}
