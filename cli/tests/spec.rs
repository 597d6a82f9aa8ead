//! docs/SPEC.md's command tables are generated from the codecs, and this
//! test fails when they drift: for every op of every architecture
//! (`op_names`, in table order) its fields (`field_names`, in table order)
//! and, for each field, the bits it occupies, found by building commands
//! with `build_from_fields` and comparing their encodings (one value bit
//! flipped at a time), or from the field mask of the decoder's error for a
//! value the architecture forbids.
//!
//! The record tables (VT-d, AMD-Vi and RISC-V fault, event and page
//! request records) are read from the record formats' own tables.
//!
//! Regenerate after a codec change with
//! `UPDATE_SPEC=1 cargo test -p iommu-inval-cli --test spec`.

// The binary's private modules, compiled from source.
#[allow(dead_code)]
#[path = "../src/app/mod.rs"]
mod app;

use app::text::parse_hex_line;
use iommu_inval::core::record::RecordFormat;
use iommu_inval::core::{ArchId, FieldError, FieldValue};
use iommu_inval::{AnyCommand, Arch, ArchOps, NativeAny};
use std::collections::BTreeMap;
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Words per command used for the table (VT-d: 256-bit, so that
/// `priv_data` has its words).
fn words_of(a: ArchId) -> usize {
    if a == ArchId::Vtd {
        4
    } else {
        2
    }
}

type Fields = Vec<(&'static str, FieldValue)>;

fn fields_of(c: &NativeAny) -> Fields {
    let mut v = Vec::new();
    c.visit_fields(&mut |n, x| v.push((n, x)));
    v
}

fn build(arch: &Arch, op: &str, f: &Fields, words: usize) -> Result<NativeAny, FieldError> {
    arch.build_from_fields(op, &mut f.iter().map(|(n, v)| (*n, *v)), words)
}

/// Valid commands of each op to start from: all fields 0, and every
/// command of the examples.
fn bases(arch: &Arch) -> BTreeMap<&'static str, Vec<NativeAny>> {
    let words = words_of(arch.id());
    let mut m: BTreeMap<&'static str, Vec<NativeAny>> = BTreeMap::new();
    for op in arch.op_names() {
        if let Ok(c) = build(arch, op, &Vec::new(), words) {
            m.entry(op).or_default().push(c);
        }
    }
    // Small random values (0..=3) reach the combinations some ops need
    // (an SMMU TLBI range wants tg != 0 with a ttl or a range).
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        seed >> 33
    };
    for op in arch.op_names() {
        let Some(zero) = m.get(op).and_then(|v| v.first()).copied().or_else(|| {
            // A template for the field kinds: any command of the op.
            (0..2000).find_map(|_| {
                let f: Fields = arch
                    .field_names(op)
                    .unwrap_or(&[])
                    .iter()
                    .map(|n| (*n, FieldValue::Uint(next() % 4)))
                    .collect();
                build(arch, op, &f, words).ok()
            })
        }) else {
            continue;
        };
        let kinds = fields_of(&zero);
        let mut found = 0;
        for _ in 0..2000 {
            let f: Fields = kinds
                .iter()
                .map(|(n, v)| {
                    let x = next() % 4;
                    let v = match v {
                        FieldValue::Bool(_) => FieldValue::Bool(x & 1 == 1),
                        FieldValue::Uint(_) => FieldValue::Uint(x),
                        FieldValue::Pair(_) => FieldValue::Pair([x, 0]),
                    };
                    (*n, v)
                })
                .collect();
            if let Ok(c) = build(arch, op, &f, words) {
                m.entry(op).or_default().push(c);
                found += 1;
                if found == 16 {
                    break;
                }
            }
        }
    }
    let files: &[&str] = match arch.id() {
        ArchId::Smmuv3 => &["examples/smmuv3.cmds"],
        ArchId::Vtd => &["examples/vtd.cmds", "examples/vtd256.cmds"],
        ArchId::Amd => &["examples/amd.cmds"],
        ArchId::Riscv => &["examples/riscv.cmds"],
        ArchId::VirtioIommu => &[],
    };
    for f in files {
        let text = std::fs::read_to_string(root().join(f)).unwrap();
        for line in text.lines() {
            let Ok((w, n)) = parse_hex_line(line, 4).or_else(|_| parse_hex_line(line, 2)) else {
                continue;
            };
            let mut ws = [0u64; 4];
            ws[..n].copy_from_slice(&w[..n]);
            // Re-encode at the table's width.
            let Ok(c) = arch.decode(&w[..n]) else {
                continue;
            };
            let Ok(c) = build(arch, c.op(), &fields_of(&c), words) else {
                continue;
            };
            m.entry(c.op()).or_default().push(c);
        }
    }
    m
}

fn flip(v: FieldValue, k: u32) -> FieldValue {
    match v {
        FieldValue::Bool(b) => FieldValue::Bool(!b),
        FieldValue::Uint(x) => FieldValue::Uint(x ^ (1u64 << k)),
        FieldValue::Pair([a, b]) if k < 64 => FieldValue::Pair([a ^ (1u64 << k), b]),
        FieldValue::Pair([a, b]) => FieldValue::Pair([a, b ^ (1u64 << (k - 64))]),
    }
}

fn value_bits(v: FieldValue) -> u32 {
    match v {
        FieldValue::Bool(_) => 1,
        FieldValue::Uint(_) => 64,
        FieldValue::Pair(_) => 128,
    }
}

/// (word, bit) of each command bit of `field`, in the order of the value
/// bits they hold (bits known only from an error mask come last).
fn positions(arch: &Arch, op: &str, field: &str, bases: &[NativeAny]) -> Vec<(usize, u32)> {
    let words = words_of(arch.id());
    let mut by_value: BTreeMap<u32, (usize, u32)> = BTreeMap::new();
    let mut from_masks: Vec<(usize, u32)> = Vec::new();
    let Some(kind) = bases
        .first()
        .and_then(|b| fields_of(b).into_iter().find(|(n, _)| *n == field))
    else {
        return Vec::new();
    };
    for k in 0..value_bits(kind.1) {
        for b in bases {
            let mut f = fields_of(b);
            let Some(slot) = f.iter_mut().find(|(n, _)| *n == field) else {
                continue;
            };
            slot.1 = flip(slot.1, k);
            match build(arch, op, &f, words) {
                Ok(c) => {
                    let (x, _) = c.to_words();
                    let (y, _) = b.to_words();
                    let diff: Vec<(usize, u64)> = x
                        .iter()
                        .zip(y.iter())
                        .map(|(p, q)| p ^ q)
                        .enumerate()
                        .filter(|(_, d)| *d != 0)
                        .collect();
                    if let [(w, d)] = diff[..] {
                        if d.count_ones() == 1 {
                            by_value.insert(k, (w, d.trailing_zeros()));
                            break;
                        }
                    }
                }
                Err(FieldError::Invalid(e)) if e.field == field => {
                    for bit in 0..64 {
                        if e.mask >> bit & 1 == 1 {
                            from_masks.push((usize::from(e.word), bit));
                        }
                    }
                }
                Err(_) => {}
            }
        }
    }
    let mut v: Vec<(usize, u32)> = by_value.into_values().collect();
    for p in from_masks {
        if !v.contains(&p) {
            v.push(p);
        }
    }
    v
}

/// `w0[5:4]`, `w0[15:12]+w0[63:52]`: the bits of a field in value order
/// (`pos`, as [`positions`] gives them), one range per run of value bits
/// held by consecutive command bits, lowest value bits first. A bit only
/// extends the run just before it in value order, so pieces of a split
/// field that happen to be adjacent in the command (AMD
/// INVALIDATE_IOTLB_PAGES: pasid[7:0] in `w0[55:48]`, pasid[19:16] in
/// `w0[59:56]`) stay separate ranges.
fn ranges(pos: &[(usize, u32)]) -> String {
    let mut runs: Vec<(usize, u32, u32)> = Vec::new();
    let mut bits: Vec<(usize, u32)> = pos.to_vec();
    bits.dedup();
    for &(w, b) in &bits {
        match runs.last_mut() {
            Some(r) if r.0 == w && r.2 + 1 == b => r.2 = b,
            _ => runs.push((w, b, b)),
        }
    }
    runs.iter()
        .map(|&(w, lo, hi)| {
            if lo == hi {
                format!("w{w}[{lo}]")
            } else {
                format!("w{w}[{hi}:{lo}]")
            }
        })
        .collect::<Vec<_>>()
        .join("+")
}

/// The opcode (SMMUv3 w0[7:0], VT-d type, AMD w0[63:60], RISC-V opcode
/// w0[6:0] and func3 w0[9:7] as `opcode | func3 << 7`) of a command.
fn opcode(a: ArchId, c: &NativeAny) -> u64 {
    let (w, _) = c.to_words();
    match a {
        ArchId::Smmuv3 => w[0] & 0xff,
        ArchId::Vtd => (w[0] & 0xf) | ((w[0] >> 9) & 0x7) << 4,
        ArchId::Amd => w[0] >> 60,
        ArchId::Riscv => w[0] & 0x3ff,
        ArchId::VirtioIommu => w[0] & 0xff,
    }
}

/// The bits a rendering of [`ranges`] names, in the order it says they hold
/// the value (first range lowest, each range low bit first).
fn parse_ranges(s: &str) -> Vec<(usize, u32)> {
    let mut v = Vec::new();
    for piece in s.split('+') {
        let (w, rest) = piece
            .strip_prefix('w')
            .and_then(|p| p.split_once('['))
            .unwrap_or_else(|| panic!("bad range {piece:?}"));
        let w: usize = w.parse().unwrap();
        let inner = rest.trim_end_matches(']');
        let (hi, lo) = match inner.split_once(':') {
            Some((h, l)) => (h.parse::<u32>().unwrap(), l.parse::<u32>().unwrap()),
            None => {
                let b = inner.parse::<u32>().unwrap();
                (b, b)
            }
        };
        v.extend((lo..=hi).map(|b| (w, b)));
    }
    v
}

fn table(a: ArchId) -> String {
    let arch = Arch::new(a);
    let bases = bases(&arch);
    let mut s = String::from("| opcode | op | fields |\n|---|---|---|\n");
    for op in arch.op_names() {
        let b = bases
            .get(op)
            .unwrap_or_else(|| panic!("{a} {op}: no valid command to probe from"));
        let names = arch.field_names(op).unwrap();
        let fields: Vec<String> = names
            .iter()
            .map(|n| {
                let p = positions(&arch, op, n, b);
                assert!(!p.is_empty(), "{a} {op}.{n}: no bit found");
                let r = ranges(&p);
                // The rendering says which bit holds which value bit: read
                // back, it is the field's bits in value order.
                assert_eq!(
                    parse_ranges(&r),
                    p,
                    "{a} {op}.{n}: {r} misorders the value bits"
                );
                format!("{n} {r}")
            })
            .collect();
        let fields = if fields.is_empty() {
            "(none)".to_owned()
        } else {
            fields.join(", ")
        };
        s.push_str(&format!(
            "| {:#04x} | {op} | {fields} |\n",
            opcode(a, &b[0])
        ));
    }
    s
}

fn markers(name: &str) -> (String, String) {
    (
        format!("<!-- generated table {name}: do not edit (cli/tests/spec.rs) -->\n"),
        format!("<!-- end of table {name} -->\n"),
    )
}

/// The table of a record format (issue 32: the records an IOMMU writes):
/// one row per kind, the code its format's code bits hold and each field's
/// ranges, lowest value bits first, read from the format's table.
fn record_table<F: RecordFormat>() -> String {
    let mut s = String::from("| code | kind | fields |\n|---|---|---|\n");
    let (word, mask) = F::CODE;
    for k in F::KINDS {
        let code = match mask {
            0 => "(none)".to_owned(),
            m => format!(
                "w{word}[{}:{}] = {:#x}",
                63 - m.leading_zeros(),
                m.trailing_zeros(),
                k.code()
            ),
        };
        let fields: Vec<String> = (0..k.fields().len())
            .map(|i| {
                let ranges: Vec<String> = k
                    .ranges_of(i)
                    .map(|(w, hi, lo)| match hi == lo {
                        true => format!("w{w}[{hi}]"),
                        false => format!("w{w}[{hi}:{lo}]"),
                    })
                    .collect();
                format!("{} {}", k.fields()[i], ranges.join("+"))
            })
            .collect();
        s.push_str(&format!(
            "| {code} | {} | {} |\n",
            k.name(),
            fields.join(", ")
        ));
    }
    s
}

/// The generated blocks of docs/SPEC.md: `(marker name, table)`, the
/// command tables and then the record tables.
fn generated_tables() -> Vec<(String, String)> {
    use iommu_inval::{amd, riscv, vtd};
    let mut t: Vec<(String, String)> = ring_arches()
        .map(|a| (a.name().to_owned(), table(a)))
        .collect();
    t.extend(
        [
            (
                "records-vtd-fault",
                record_table::<vtd::fault::FaultFormat>(),
            ),
            ("records-vtd-prq", record_table::<vtd::prq::PageReqFormat>()),
            (
                "records-amd-event",
                record_table::<amd::event::EventFormat>(),
            ),
            ("records-amd-ppr", record_table::<amd::ppr::PprFormat>()),
            (
                "records-riscv-fault",
                record_table::<riscv::fault::FaultFormat>(),
            ),
            (
                "records-riscv-pq",
                record_table::<riscv::pq::PageRequestFormat>(),
            ),
        ]
        .map(|(n, t)| (n.to_owned(), t)),
    );
    t
}

/// The architectures whose command tables docs/SPEC.md renders as bit
/// ranges of 64-bit words: virtio-iommu's requests are byte layouts, in
/// docs/VIRTIO_IOMMU.md (checked by arch-virtio's offset tests).
fn ring_arches() -> impl Iterator<Item = ArchId> {
    ArchId::ALL
        .into_iter()
        .filter(|a| *a != ArchId::VirtioIommu)
}

#[test]
fn spec_tables_match_the_codecs() {
    let path = root().join("docs/SPEC.md");
    let mut doc = std::fs::read_to_string(&path).unwrap();
    let update = std::env::var_os("UPDATE_SPEC").is_some();
    for (name, want) in generated_tables() {
        let (start, end) = markers(&name);
        let i = doc
            .find(&start)
            .unwrap_or_else(|| panic!("no {start:?} in SPEC.md"))
            + start.len();
        let j = i + doc[i..].find(&end).unwrap_or_else(|| panic!("no {end:?}"));
        if update {
            doc.replace_range(i..j, &want);
        } else {
            assert_eq!(
                doc[i..j],
                want,
                "docs/SPEC.md's {name} table drifted from the codec; regenerate with UPDATE_SPEC=1"
            );
        }
    }
    if update {
        std::fs::write(&path, doc).unwrap();
    }
}

/// A field split over places renders one range per run of consecutive
/// value bits in consecutive command bits, lowest value bits first: the AMD
/// INVALIDATE_IOTLB_PAGES PASID (pasid[7:0] w0[55:48], pasid[15:8]
/// w0[23:16], pasid[19:16] w0[59:56]) is three ranges, not `w0[59:48]`
/// (which would make w0[59:56] the bits above pasid[7:0]).
#[test]
fn split_fields_render_in_value_order() {
    let amd_pasid: Vec<(usize, u32)> = (48..56)
        .chain(16..24)
        .chain(56..60)
        .map(|b| (0, b))
        .collect();
    assert_eq!(ranges(&amd_pasid), "w0[55:48]+w0[23:16]+w0[59:56]");
    let vtd_pfsid: Vec<(usize, u32)> = (12..16).chain(52..64).map(|b| (0, b)).collect();
    assert_eq!(ranges(&vtd_pfsid), "w0[15:12]+w0[63:52]");
    for p in [amd_pasid, vtd_pfsid] {
        assert_eq!(parse_ranges(&ranges(&p)), p);
    }
}

#[test]
fn tables_name_every_op_and_field_in_order() {
    // Independent of the generator: the rows of the doc are op_names, and
    // each row's field names are field_names, in order.
    let doc = std::fs::read_to_string(root().join("docs/SPEC.md")).unwrap();
    for a in ring_arches() {
        let arch = Arch::new(a);
        let (start, end) = markers(a.name());
        let i = doc.find(&start).unwrap() + start.len();
        let j = i + doc[i..].find(&end).unwrap();
        let rows: Vec<(&str, Vec<&str>)> = doc[i..j]
            .lines()
            .skip(2)
            .map(|l| {
                let cols: Vec<&str> = l.split('|').map(str::trim).collect();
                let fields = if cols[3] == "(none)" {
                    Vec::new()
                } else {
                    cols[3]
                        .split(", ")
                        .map(|f| f.split(' ').next().unwrap())
                        .collect()
                };
                (cols[2], fields)
            })
            .collect();
        let ops: Vec<&str> = rows.iter().map(|r| r.0).collect();
        assert_eq!(ops, arch.op_names(), "{a}");
        for (op, fields) in rows {
            assert_eq!(fields, arch.field_names(op).unwrap(), "{a} {op}");
        }
    }
}

/// docs/REVISIONS.md gates the AMD-Vi hardware-vIOMMU commands by the EFR
/// bit AMD's own vIOMMU patches define (`FEATURE_VIOMMU`, EFR bit 55), and
/// no longer says that bit is not public.
#[test]
fn revisions_names_the_viommu_efr_bit() {
    let doc = std::fs::read_to_string(root().join("docs/REVISIONS.md")).unwrap();
    for op in ["INSERT_GUEST_EVENT", "RESET_VMMIO"] {
        let row = doc
            .lines()
            .find(|l| l.starts_with('|') && l.contains(&format!("| {op} |")))
            .unwrap_or_else(|| panic!("no {op} row"));
        assert!(row.contains("`viommu` (EFR bit 55)"), "{row}");
    }
    assert!(!doc.contains("not in the public\nmaterial used"));
    assert!(!doc.contains("vIOMMU is not in the public"));
}
