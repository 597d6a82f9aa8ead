//! Requests without PASID belong to "every PASID of a domain" (issue 28,
//! item 1): the `convert` and `lower` reproductions of the issue, run on the
//! built binary.

mod common;
use common::cli;

const ISSUE: &str = r#"{"domains":[{"id":1,"smmuv3":{"vmid":1},"vtd":{"did":7}}],"devices":[{"rid":16,"domain":1,"pasids":[{"pasid":1,"asid":5},{"pasid":2,"asid":6}]}]}"#;

/// Data lines (hex words) of `--explain` output.
fn words(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter(|l| l.starts_with("0x"))
        .map(str::to_string)
        .collect()
}

#[test]
fn nh_all_to_vtd_includes_the_rid_pasid() {
    // CMD_TLBI_NH_ALL, VMID 1: every PASID of domain 1, and its DMA without PASID.
    let o = cli("convert --from smmuv3 --to vtd --explain --topology")
        .file("nh-all.json", ISSUE)
        .args("0x0000000100000010,0x0")
        .run("");
    o.code_is(0);
    let out = &o.stdout;
    // p_iotlb_inv_dsc g = 2, DID 7, PASIDs 1 and 2 and RID_PASID 0.
    let w = words(out);
    for pasid in [1u64, 2, 0] {
        let d = format!("0x{:016x},", pasid << 32 | 7 << 16 | 0x26);
        assert!(
            w.iter().any(|l| l.starts_with(&d)),
            "PASID {pasid} missing: {out}"
        );
    }
    assert_eq!(w.len(), 3, "{out}");
    assert!(out.contains("=> exact"), "{out}");
}

#[test]
fn no_pasid_lowers_to_the_rid_pasid_not_a_global_flush() {
    let o = cli("lower --arch vtd --topology")
        .file("none.json", ISSUE)
        .args("--explain")
        .run(r#"{"op":"inval","caches":["iotlb"],"stages":["s1"],"domain":1,"pasid":"none"}"#);
    o.code_is(0);
    let out = &o.stdout;
    let w = words(out);
    assert_eq!(w.len(), 1, "{out}");
    // p_iotlb_inv_dsc g = 2, DID 7, PASID 0 (RID_PASID by default).
    assert!(w[0].starts_with("0x0000000000070026,"), "{out}");
    assert!(out.contains("=> exact"), "{out}");
}
