//! Runs every fuzz body over deterministic pseudo-random inputs and groups
//! the violations by kind, printing one (the shortest) reproducer per kind:
//! a triage tool for bug reports.
//!
//! `cargo run --release -p iommu-inval-props --example survey -- [CASES] [TARGET]`

use std::collections::BTreeMap;

use iommu_inval_props::bodies;
use iommu_inval_props::{Amd, Rng, Smmu, Vtd};

type Body = fn(&[u8]) -> Result<(), String>;

fn class(msg: &str) -> String {
    let mut k = String::new();
    let mut last_digit = false;
    for ch in msg.chars().take(400) {
        if ch.is_ascii_hexdigit() && (last_digit || ch.is_ascii_digit()) {
            if !last_digit {
                k.push('#');
            }
            last_digit = true;
        } else {
            last_digit = false;
            k.push(ch);
        }
    }
    // Keep the rule and the op names, not the values.
    k.chars().take(160).collect()
}

/// R3 on one architecture only (lower_lift stops at the first failing one).
fn r3_one(data: &[u8], arch: u8) -> Result<(), String> {
    use arbitrary::Unstructured;
    use iommu_inval_core::IdentityContext;
    use iommu_inval_props::{arbitrary_topology, check_r3, gen, AllCaps, NamedIds};
    let mut u = Unstructured::new(data);
    let Ok(op) = gen::any_op(&mut u) else {
        return Ok(());
    };
    let caps = AllCaps::default();
    let topo = arbitrary_topology(&mut u, &NamedIds::default()).unwrap_or_default();
    for ctx in [&IdentityContext as &dyn iommu_inval_core::Context, &topo] {
        match arch {
            0 => check_r3::<Smmu>(&op, &caps.smmu, ctx).map(|_| ())?,
            1 => check_r3::<Vtd>(&op, &caps.vtd, ctx).map(|_| ())?,
            _ => check_r3::<Amd>(&op, &caps.amd, ctx).map(|_| ())?,
        }
    }
    Ok(())
}

fn main() {
    let cases: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000);
    let only = std::env::args().nth(2);
    let targets: [(&str, Body); 11] = [
        ("r3_smmuv3", |d| r3_one(d, 0)),
        ("r3_vtd", |d| r3_one(d, 1)),
        ("r3_amd", |d| r3_one(d, 2)),
        ("decode_smmuv3", bodies::decode::<Smmu>),
        ("decode_vtd", bodies::decode::<Vtd>),
        ("decode_amd", bodies::decode::<Amd>),
        ("roundtrip_smmuv3", bodies::roundtrip::<Smmu>),
        ("roundtrip_vtd", bodies::roundtrip::<Vtd>),
        ("roundtrip_amd", bodies::roundtrip::<Amd>),
        ("lower_lift", bodies::lower_lift),
        ("convert", bodies::convert),
    ];
    std::panic::set_hook(Box::new(|_| {}));
    for (name, body) in targets.iter() {
        if only.as_deref().is_some_and(|o| o != *name) {
            continue;
        }
        let mut rng = Rng::new(0x5eed ^ name.len() as u64);
        let mut classes: BTreeMap<String, (usize, String, Vec<u8>)> = BTreeMap::new();
        for _ in 0..cases {
            let len = 16 + (rng.next_u64() % 200) as usize;
            let data = rng.bytes(len);
            let r = std::panic::catch_unwind(|| body(&data));
            let msg = match r {
                Ok(Ok(())) => continue,
                Ok(Err(e)) => e,
                Err(p) => format!(
                    "PANIC {}",
                    p.downcast_ref::<String>()
                        .cloned()
                        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default()
                ),
            };
            let e = classes
                .entry(class(&msg))
                .or_insert((0, msg.clone(), data.clone()));
            e.0 += 1;
            if msg.len() < e.1.len() {
                e.1 = msg;
                e.2 = data;
            }
        }
        println!(
            "== {name}: {cases} cases, {} violation kinds",
            classes.len()
        );
        for (_, (n, msg, data)) in classes {
            println!("-- {n} cases; shortest:\n{msg}\n   input bytes: {data:02x?}\n");
        }
    }
}
