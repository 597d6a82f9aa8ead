//! `--arch virtio-iommu` through the built binary: the example stream
//! (hex bytes per line) decodes, round-trips through JSON, reads the same
//! from a raw buffer of requests, converts to a ring architecture and back
//! from one to a vSVA draft; wrong lengths and types are refused with
//! exit 2.

mod common;
use common::{cli, command_lines, read};

fn stream() -> String {
    read("examples/virtio-iommu.cmds")
}

/// A line of hex byte groups as bytes.
fn bytes(line: &str) -> Vec<u8> {
    let hex: String = line.split_whitespace().collect();
    (0..hex.len())
        .step_by(2)
        .map(|k| u8::from_str_radix(&hex[k..k + 2], 16).unwrap_or_else(|e| panic!("{line}: {e}")))
        .collect()
}

#[test]
fn decode_json_then_encode_gives_the_bytes_back() {
    let s = stream();
    let lines = command_lines(&s);
    let d = cli("decode --arch virtio-iommu --json").run(&s);
    let ops = d.code_is(0).json_n(lines.len());
    let names: Vec<&str> = ops.iter().filter_map(|o| o["op"].as_str()).collect();
    assert_eq!(
        names,
        [
            "PROBE",
            "ATTACH",
            "MAP",
            "UNMAP",
            "DETACH",
            "INVALIDATE",
            "INVALIDATE"
        ]
    );
    assert!(ops.iter().all(|o| o["arch"] == "virtio-iommu"));
    // encode prints the readable bytes, which read back as the input.
    let e = cli("encode --arch virtio-iommu").run(&d.stdout);
    e.code_is(0);
    let got: Vec<Vec<u8>> = e.stdout.lines().map(bytes).collect();
    let want: Vec<Vec<u8>> = lines.iter().map(|l| bytes(l)).collect();
    assert_eq!(got, want);
}

#[test]
fn a_raw_buffer_of_requests_decodes_like_the_text() {
    let s = stream();
    let buf: Vec<u8> = command_lines(&s).iter().flat_map(|l| bytes(l)).collect();
    let raw = cli("decode --arch virtio-iommu --raw")
        .file("virtio-requests.bin", buf)
        .run("");
    let text = cli("decode --arch virtio-iommu").run(&s);
    raw.code_is(0);
    text.code_is(0);
    assert_eq!(raw.stdout, text.stdout);
}

#[test]
fn guest_requests_convert_to_a_host_queue() {
    let o = cli("convert --from virtio-iommu --to vtd --topology examples/topology.json --explain")
        .run(&stream());
    o.code_is(0);
    o.stdout_lacks("under");
    // UNMAP: the domain's IOTLB and device-TLB entries of the range.
    o.stdout_has("# line 17: UNMAP");
}

#[test]
fn host_invalidations_lower_to_a_draft_device_only() {
    // CMD_TLBI_NH_ASID VMID 1 ASID 6: an INVALIDATE of the 2021 RFC.
    let o = cli("convert --from smmuv3 --to virtio-iommu --host-caps vsva-2021")
        .run_arg("0x0006000100000011,0");
    o.code_is(0);
    let line = o.stdout.lines().next().unwrap_or("");
    let d = cli("decode --arch virtio-iommu --json").run_arg(line);
    d.code_is(0);
    let v = d.json_n(1);
    assert_eq!(v[0]["op"], "INVALIDATE");
    // A ratified device (the default host) has no cache invalidation.
    let o = cli("convert --from smmuv3 --to virtio-iommu").run_arg("0x0006000100000011,0");
    assert_ne!(o.code, 0);
    o.stderr_has("UNMAP removes mappings");
}

#[test]
fn wrong_lengths_and_types_are_refused() {
    let o = cli("decode --arch virtio-iommu").run_arg("01000000 01000000");
    o.code_is(2);
    o.stderr_has("bad_length");
    let o = cli("decode --arch virtio-iommu").run_arg("09000000");
    o.code_is(2);
    o.stderr_has("unknown_opcode");
    let o = cli("decode --arch virtio-iommu").run_arg("0100000");
    o.code_is(2);
    // A reserved ATTACH byte: the device's S_INVAL, reserved_bits here.
    let o = cli("decode --arch virtio-iommu --json")
        .run_arg("01000000 01000000 10000000 00000000 00000001");
    assert_eq!(o.code, 1, "{}", o.stderr);
    o.stdout_has("reserved_bits");
}
