//! Writes the seed corpora of the fuzz targets from the spec-table vectors
//! (props/src/vectors.rs) and a few deterministic pseudo-random inputs.
//!
//! `cargo run -p iommu-inval-props --example make_corpus -- fuzz/corpus`

use std::fs;
use std::path::Path;

use iommu_inval_props::bodies::RAW;
use iommu_inval_props::vectors::{Bad, Vector, AMD, AMD_BAD, SMMUV3, SMMUV3_BAD, VTD, VTD_BAD};
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
    let sets: [(&str, u8, &[Vector], &[Bad]); 3] = [
        ("smmuv3", 0, SMMUV3, SMMUV3_BAD),
        ("vtd", 1, VTD, VTD_BAD),
        ("amd", 2, AMD, AMD_BAD),
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
    // cli_input: first byte = parser selector (see fuzz/fuzz_targets/cli_input.rs), then text.
    for (i, (arch, width, text)) in cli.iter().enumerate() {
        let mut d = vec![*arch * 3 + u8::from(*width == 4)];
        d.extend_from_slice(text.as_bytes());
        write(dir, "cli_input", &format!("hex-{i:02}"), &d)?;
    }
    let texts: [&str; 8] = [
        "# comment\n\n0x0000000100000012,0x0000000000001000\n  0X12 , 1000 # trailing\n",
        "0x12,0x1000,\n,,\n0xg,1\n00000000000000000012,0\n",
        "{\"arch\":\"smmuv3\",\"op\":\"CMD_TLBI_NH_VA\",\"fields\":{\"vmid\":1,\"address\":4096}}",
        "{\"arch\":\"vtd\",\"op\":\"page_grp_resp_dsc\",\"fields\":{\"priv_data\":[1,2],\"lpig\":true}}",
        "{\"arch\":\"amd\",\"op\":\"COMPLETION_WAIT\",\"fields\":{\"store_data\":18446744073709551615}}",
        "{\"op\":\"inval\",\"caches\":[\"iotlb\"],\"domain\":1,\"pasid\":5,\"range\":{\"first\":4096,\"last\":8191}}",
        "{\"domains\":[{\"id\":1,\"smmuv3\":{\"vmid\":1},\"vtd\":{\"did\":1},\"amd\":{\"domain_id\":1}}],\"devices\":[{\"rid\":16,\"domain\":1,\"ats\":true,\"pasids\":[{\"pasid\":1,\"asid\":5}]}]}",
        "0x1_0000_0000_0000_0000,0\n\u{feff}0x12,0\r\n",
    ];
    for (i, t) in texts.iter().enumerate() {
        for sel in [i as u8, 9 + i as u8] {
            let mut d = vec![sel];
            d.extend_from_slice(t.as_bytes());
            write(dir, "cli_input", &format!("text-{i:02}-{sel}"), &d)?;
        }
    }
    Ok(())
}
