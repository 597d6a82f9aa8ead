//! `--caps <preset>`: decoding as an emulated IOMMU of a given revision or
//! feature set refuses what that IOMMU refuses, in the decode error shape,
//! with exit status 1; an unknown preset is a usage error (exit 2). The
//! new SMMUv3 ops decode under their specification names.

use serde_json::Value;
use std::process::Command;

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_iommu-inval"))
        .args(args)
        .output()
        .expect("run iommu-inval");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json_lines(s: &str) -> Vec<Value> {
    s.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

#[test]
fn new_smmu_ops_have_their_specification_names() {
    let (code, out, _) = run(&[
        "decode",
        "--arch",
        "smmuv3",
        "--json",
        "0x0000012300000007,0",
        "0x50,0",
        "0x0007000000000051,0",
        "0x0007000000001052,0x0000000040000701",
        "0x53,0x40000000",
        "0x0000000900000058,0",
        "0x000000090000005a,0x80000003",
        "0x60,0",
        "0x70,0",
    ]);
    assert_eq!(code, 0, "{out}");
    let ops: Vec<String> = json_lines(&out)
        .iter()
        .map(|v| v["op"].as_str().unwrap_or("?").to_owned())
        .collect();
    assert_eq!(
        ops,
        [
            "CMD_CFGI_VMS_PIDM",
            "CMD_TLBI_S_EL2_ALL",
            "CMD_TLBI_S_EL2_ASID",
            "CMD_TLBI_S_EL2_VA",
            "CMD_TLBI_S_EL2_VAA",
            "CMD_TLBI_S_S12_VMALL",
            "CMD_TLBI_S_S2_IPA",
            "CMD_TLBI_SNH_ALL",
            "CMD_DPTI_ALL"
        ]
    );
    let v = &json_lines(&out)[6]["fields"];
    assert_eq!(
        (v["ns"].as_bool(), v["vmid"].as_u64()),
        (Some(true), Some(9))
    );
}

#[test]
fn caps_preset_refuses_like_the_hardware() {
    // CMD_DPTI_ALL on an SMMUv3.2 without DPT; CMD_TLBI_NSNH_ALL is fine.
    let (code, out, _) = run(&[
        "decode", "--arch", "smmuv3", "--json", "--caps", "smmuv3.2", "0x70,0", "0x30,0",
    ]);
    assert_eq!(code, 1);
    let v = json_lines(&out);
    assert_eq!(v[0]["error"]["kind"], "invalid_field");
    assert!(v[0]["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("SMMU_IDR3.DPT")));
    assert_eq!(v[1]["op"], "CMD_TLBI_NSNH_ALL");
    // The same words with the default (latest) decode.
    let (code, _, _) = run(&["decode", "--arch", "smmuv3", "0x70,0"]);
    assert_eq!(code, 0);
    // A range TLBI needs RIL (SMMUv3.2): RES0 on SMMUv3.0.
    let w = "0x0005000100001012,0x400";
    let (code, out, _) = run(&[
        "decode", "--arch", "smmuv3", "--json", "--caps", "smmuv3.0", w,
    ]);
    assert_eq!(code, 1);
    assert_eq!(json_lines(&out)[0]["error"]["kind"], "reserved_bits");
    let (code, _, _) = run(&["decode", "--arch", "smmuv3", "--caps", "smmuv3.2", w]);
    assert_eq!(code, 0);
    // VT-d legacy mode: no PASID-based descriptors; AMD without GTSup: no gn.
    let (code, out, _) = run(&[
        "lift",
        "--arch",
        "vtd",
        "--json",
        "--caps",
        "vtd-legacy",
        "0x0000000500010026,0",
    ]);
    assert_eq!(code, 1);
    assert_eq!(json_lines(&out)[0]["error"]["kind"], "invalid_field");
    let (code, out, _) = run(&[
        "convert",
        "--from",
        "amd",
        "--to",
        "vtd",
        "--json",
        "--caps",
        "amd-host",
        "0x3000000100000005,0x1004",
    ]);
    assert_eq!(code, 1);
    assert!(json_lines(&out)[0]["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("GTSup")));
}

#[test]
fn unknown_preset_is_a_usage_error() {
    let (code, _, err) = run(&["decode", "--arch", "vtd", "--caps", "smmuv3.2", "0x4,0"]);
    assert_eq!(code, 2);
    assert!(err.contains("vtd-legacy"), "{err}");
    let (_, help, _) = run(&["decode", "--help"]);
    assert!(help.contains("--caps"), "{help}");
}

#[test]
fn secure_regimes_lower_to_the_secure_tlbis() {
    // Secure stage 2 by IPA: CMD_TLBI_S_S2_IPA for both IPA spaces (ns = 0, 1).
    let op = r#"{"op":"inval","caches":["iotlb"],"regime":"secure_guest","stages":["s2"],"domain":9,"range":{"iova":2147483648,"size":4096}}"#;
    let (code, out, err) = run(&["lower", "--arch", "smmuv3", "--json", op]);
    assert_eq!(code, 0, "{err}");
    let v = json_lines(&out);
    assert_eq!(v.len(), 2, "{out}");
    for (x, ns) in v.iter().zip([false, true]) {
        assert_eq!(x["op"], "CMD_TLBI_S_S2_IPA");
        assert_eq!(x["fields"]["ns"].as_bool(), Some(ns));
    }
    // Secure EL2 stage 1, every address: CMD_TLBI_S_EL2_ALL.
    let op = r#"{"op":"inval","caches":["iotlb"],"regime":"secure_hyp","stages":["s1"]}"#;
    let (code, out, _) = run(&["lower", "--arch", "smmuv3", "--json", op]);
    assert_eq!(code, 0);
    assert_eq!(json_lines(&out)[0]["op"], "CMD_TLBI_S_EL2_ALL");
    // VT-d has no secure state: dropped, nothing emitted.
    let (code, out, _) = run(&["lower", "--arch", "vtd", op]);
    assert_eq!((code, out.trim()), (0, ""));
}
