//! Writes the seed corpora of the fuzz targets from the spec-table vectors
//! (props/src/vectors.rs) and a few deterministic pseudo-random inputs.
//!
//! `cargo run -p iommu-inval-props --example make_corpus -- fuzz/corpus [examples]`
//!
//! With the examples directory (default `examples`), its command streams,
//! generic JSON, topology and raw dumps seed `cli_input`, and each of its
//! hex command lines seeds `decode_<arch>`.

use std::fs;
use std::path::Path;

use iommu_inval_props::bodies::RAW;
use iommu_inval_props::vectors::{
    Bad, Vector, AMD, AMD_BAD, RISCV, RISCV_BAD, SMMUV3, SMMUV3_BAD, VTD, VTD_BAD,
};
use iommu_inval_props::{hex, Rng};

fn le(words: &[u64]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

fn write(dir: &Path, target: &str, name: &str, data: &[u8]) -> std::io::Result<()> {
    let d = dir.join(target);
    fs::create_dir_all(&d)?;
    fs::write(d.join(name), data)
}

fn main() -> std::io::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "fuzz/corpus".into());
    let dir = Path::new(&dir);
    let mut rng = Rng::new(0xc0de);
    let sets: [(&str, u8, &[Vector], &[Bad]); 4] = [
        ("smmuv3", 0, SMMUV3, SMMUV3_BAD),
        ("vtd", 1, VTD, VTD_BAD),
        ("amd", 2, AMD, AMD_BAD),
        ("riscv", 3, RISCV, RISCV_BAD),
    ];
    let mut cli = Vec::new();
    for (arch, arch_byte, good, bad) in sets {
        for (i, (op, words, _)) in good.iter().enumerate() {
            let name = format!("{i:02}-{op}");
            write(dir, &format!("decode_{arch}"), &name, &le(words))?;
            let width = words.len() as u8;
            let mut rt = vec![RAW, width];
            rt.extend(le(words));
            rt.extend(rng.bytes(48));
            write(dir, &format!("roundtrip_{arch}"), &name, &rt)?;
            let mut cv = vec![RAW, arch_byte, width];
            cv.extend(le(words));
            cv.extend(rng.bytes(64));
            write(dir, "convert", &format!("{arch}-{name}"), &cv)?;
            cli.push((arch_byte, width, hex(words)));
        }
        for (i, (_, words, kind)) in bad.iter().enumerate() {
            let kind = kind.split('|').next().unwrap_or("bad");
            write(
                dir,
                &format!("decode_{arch}"),
                &format!("bad-{i:02}-{kind}"),
                &le(words),
            )?;
            cli.push((arch_byte, words.len() as u8, hex(words)));
        }
    }
    for i in 0..24 {
        write(
            dir,
            "lower_lift",
            &format!("random-{i:02}"),
            &rng.bytes(160),
        )?;
    }
    for i in 0..8 {
        write(dir, "convert", &format!("random-{i:02}"), &rng.bytes(160))?;
    }
    // queues: a few register bytes, then guest memory (here: the vectors).
    for (arch, set) in [SMMUV3, VTD, AMD, RISCV].iter().enumerate() {
        let mut d = vec![arch as u8];
        d.extend(rng.bytes(40));
        for (_, words, _) in set.iter() {
            d.extend(le(words));
        }
        write(dir, "queues", &format!("vectors-{arch}"), &d)?;
    }
    for i in 0..6 {
        write(dir, "queues", &format!("random-{i:02}"), &rng.bytes(600))?;
    }
    let texts: [&str; 8] = [
        "# comment\n\n0x0000000100000012,0x0000000000001000\n  0X12 , 1000 # trailing\n",
        "0x12,0x1000,\n,,\n0xg,1\n00000000000000000012,0\n",
        "{\"arch\":\"smmuv3\",\"op\":\"CMD_TLBI_NH_VA\",\"fields\":{\"vmid\":1,\"address\":4096}}",
        "{\"arch\":\"vtd\",\"op\":\"page_grp_resp_dsc\",\"fields\":{\"priv_data\":[1,2],\"lpig\":true}}",
        "{\"arch\":\"amd\",\"op\":\"COMPLETION_WAIT\",\"fields\":{\"store_data\":18446744073709551615}}",
        "{\"op\":\"inval\",\"caches\":[\"iotlb\"],\"domain\":1,\"pasid\":5,\"range\":{\"first\":4096,\"last\":8191}}",
        "{\"domains\":[{\"id\":1}],\"devices\":[{\"rid\":16,\"domain\":1}]}",
        "0x1_0000_0000_0000_0000,0\n\u{feff}0x12,0\r\n",
    ];
    // cli_input: selector byte (fuzz/fuzz_targets/cli_input.rs: bits 0-1 source
    // arch, 2-3 target arch, 4 256-bit VT-d, 5-7 subcommand), then text.
    let json_lines = [
        "{\"arch\":\"smmuv3\",\"op\":\"CMD_TLBI_NH_VA\",\"fields\":{\"vmid\":1,\"asid\":5,\"tg\":1,\"num\":3,\"ttl\":3,\"address\":4096}}",
        "{\"arch\":\"vtd\",\"op\":\"page_grp_resp_dsc\",\"fields\":{\"priv_data\":[1,2],\"lpig\":true,\"rid\":16}}",
        "{\"arch\":\"amd\",\"op\":\"COMPLETION_WAIT\",\"fields\":{\"s\":true,\"store_address\":4096,\"store_data\":18446744073709551615}}",
        "{\"arch\":\"amd\",\"op\":\"INVALIDATE_IOMMU_PAGES\",\"fields\":{\"domain_id\":1,\"s\":true,\"address\":9223372036854771712}}",
        "{\"op\":\"CMD_SYNC\",\"fields\":{\"cs\":3}}",
    ];
    let topo = "{\"domains\":[{\"id\":1,\"smmuv3\":{\"vmid\":1},\"vtd\":{\"did\":1},\"amd\":{\"domain_id\":1}}],\"devices\":[{\"rid\":16,\"domain\":1,\"ats\":true,\"pasids\":[{\"pasid\":1,\"asid\":5}]}]}";
    for arch in 0..4u8 {
        for wide in [false, true] {
            let lines: Vec<&str> = cli
                .iter()
                .filter(|(a, w, _)| *a == arch && (*w == 4) == wide)
                .map(|(_, _, t)| t.as_str())
                .collect();
            if lines.is_empty() {
                continue;
            }
            let text = format!("# seed\n\n{}\n", lines.join("\n"));
            for mode in [0u8, 1, 3, 5] {
                let to = (arch + 1 + mode % 2) % 4;
                let sel = arch | (to << 2) | if wide { 0x10 } else { 0 } | (mode << 5);
                let mut d = vec![sel];
                d.extend_from_slice(text.as_bytes());
                write(
                    dir,
                    "cli_input",
                    &format!("hex-{arch}-{}-{mode}", u8::from(wide)),
                    &d,
                )?;
            }
        }
        let mut d = vec![arch | (2 << 5)];
        d.extend_from_slice(json_lines.join("\n").as_bytes());
        write(dir, "cli_input", &format!("encode-{arch}"), &d)?;
    }
    for (i, t) in texts.iter().enumerate() {
        let mut d = vec![(i as u8 % 8) << 5 | (i as u8 % 3)];
        d.extend_from_slice(t.as_bytes());
        write(dir, "cli_input", &format!("text-{i:02}"), &d)?;
    }
    let mut d = vec![4 << 5];
    d.extend_from_slice(topo.as_bytes());
    write(dir, "cli_input", "topology", &d)?;
    // lower: generic JSON lines.
    let mut d = vec![(4 << 5) | (1 << 2)];
    d.extend_from_slice(texts[5].as_bytes());
    write(dir, "cli_input", "lower-generic", &d)?;
    examples(
        dir,
        Path::new(&std::env::args().nth(2).unwrap_or_else(|| "examples".into())),
    )
}

/// Hex words of a command line (`0x..,0x..`, `#` comments), if it is one.
fn hex_line(line: &str) -> Option<Vec<u64>> {
    let line = line.split('#').next()?.trim();
    if line.is_empty() {
        return None;
    }
    line.split(',')
        .map(|w| u64::from_str_radix(w.trim().trim_start_matches("0x"), 16).ok())
        .collect()
}

fn examples(dir: &Path, ex: &Path) -> std::io::Result<()> {
    let read = |name: &str| fs::read(ex.join(name)).ok();
    // (file, source arch bits, wide)
    for (file, arch, wide) in [
        ("smmuv3.cmds", 0u8, false),
        ("vtd.cmds", 1, false),
        ("vtd256.cmds", 1, true),
        ("amd.cmds", 2, false),
        ("riscv.cmds", 3, false),
    ] {
        let Some(text) = read(file) else { continue };
        for mode in 0..6u8 {
            let to = (arch + 1 + mode % 2) % 4;
            let mut d = vec![arch | (to << 2) | if wide { 0x10 } else { 0 } | (mode << 5)];
            d.extend_from_slice(&text);
            write(dir, "cli_input", &format!("example-{file}-{mode}"), &d)?;
        }
        let target = ["decode_smmuv3", "decode_vtd", "decode_amd", "decode_riscv"]
            .get(usize::from(arch))
            .copied()
            .unwrap_or("decode_riscv");
        for (i, words) in String::from_utf8_lossy(&text)
            .lines()
            .filter_map(hex_line)
            .enumerate()
        {
            write(dir, target, &format!("example-{file}-{i:02}"), &le(&words))?;
        }
    }
    if let Some(g) = read("generic.jsonl") {
        for to in 0..4u8 {
            let mut d = vec![(4 << 5) | (to << 2)];
            d.extend_from_slice(&g);
            write(dir, "cli_input", &format!("example-generic-{to}"), &d)?;
        }
    }
    if let Some(t) = read("topology.json") {
        let mut d = vec![5 << 5];
        d.extend_from_slice(&t);
        write(dir, "cli_input", "example-topology", &d)?;
    }
    for (file, arch) in [
        ("smmuv3-cmdq.bin", 0u8),
        ("vtd-iq.bin", 1),
        ("amd-cmdbuf.bin", 2),
    ] {
        if let Some(b) = read(file) {
            let mut d = vec![(6 << 5) | arch];
            d.extend_from_slice(&b);
            write(dir, "cli_input", &format!("example-{file}"), &d)?;
        }
    }
    Ok(())
}
