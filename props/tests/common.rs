//! Helpers shared by the property-test files (included with `mod common;`).
#![allow(dead_code)]

use arbitrary::Unstructured;
use iommu_inval_core::context::Topology;
use iommu_inval_core::NativeCommand;
use iommu_inval_props::{arbitrary_topology, run_cases, NamedIds, NativeAny, Tally};

/// Scale factor for case counts: `PROPS_SCALE=10 cargo test -p iommu-inval-props`
/// runs ten times as many cases (default 1).
pub fn scale() -> usize {
    std::env::var("PROPS_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|&n: &usize| n > 0)
        .unwrap_or(1)
}

/// Assert that every op of `C` was seen at least `min` times.
pub fn assert_every_op<C: NativeCommand>(t: &Tally, min: usize, what: &str) {
    let low: Vec<String> = C::op_names()
        .iter()
        .filter(|op| t.get(op) < min)
        .map(|op| format!("{op}: {}", t.get(op)))
        .collect();
    assert!(
        low.is_empty(),
        "{what} on {}: ops generated fewer than {min} times: {low:?} (all: {:?})",
        C::ARCH,
        t.0
    );
}

/// `cases` (times [`scale`]) runs of `f` on a command of any architecture
/// and a topology that often knows the ids it names, drawn from 160 bytes
/// of `seed`'s stream (the rest stays in `u` for `f`); the test fails
/// with every distinct failure.
pub fn on_commands(
    seed: u64,
    cases: usize,
    mut f: impl FnMut(&mut Unstructured<'_>, NativeAny, Topology) -> Result<(), String>,
) {
    ok(run_cases(seed, cases * scale(), 160, |u| {
        let cmd: NativeAny = u.arbitrary().map_err(|e| e.to_string())?;
        let topo = arbitrary_topology(u, &NamedIds::of(&cmd)).map_err(|e| e.to_string())?;
        f(u, cmd, topo)
    }));
}

/// Run `body` and fail the test with its message.
pub fn ok(r: Result<(), String>) {
    if let Err(e) = r {
        panic!("{e}");
    }
}

/// One `#[test]` for each `name => call;` line: the instances of one
/// generic check, a line each.
#[allow(unused_macros)]
macro_rules! tests {
    ($($name:ident => $call:expr;)*) => {
        $(
            #[test]
            fn $name() {
                $call;
            }
        )*
    };
}
#[allow(unused_imports)]
pub(crate) use tests;

/// A sampled fuzz target's body on every seed of `fuzz/corpus/<target>`
/// with each of its `cases` choices appended as the last byte (the byte
/// that picks the check): over the seeds, every check runs, as every
/// input ran all of them before the target was sampled.
pub fn every_case_on_seeds(target: &str, cases: u8, body: fn(&[u8]) -> Result<(), String>) {
    let dir = format!("{}/../fuzz/corpus/{target}", env!("CARGO_MANIFEST_DIR"));
    let mut seeds = 0;
    for e in std::fs::read_dir(dir).expect("seed corpus").flatten() {
        let mut data = std::fs::read(e.path()).expect("seed");
        data.push(0);
        for k in 0..cases {
            if let Some(last) = data.last_mut() {
                *last = k;
            }
            ok(body(&data).map_err(|m| format!("{}, case {k}: {m}", e.path().display())));
        }
        seeds += 1;
    }
    assert!(seeds > 0, "no seeds for {target}");
}
