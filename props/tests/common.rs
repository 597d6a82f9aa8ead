//! Helpers shared by the property-test files (included with `mod common;`).
#![allow(dead_code)]

use arbitrary::Unstructured;
use iommu_inval_core::context::Topology;
use iommu_inval_core::NativeCommand;
use iommu_inval_props::{arbitrary_topology, NamedIds, NativeAny, Tally};

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

/// A command of any architecture, and a topology that often knows the ids
/// it names.
pub fn command_and_topology(u: &mut Unstructured<'_>) -> Result<(NativeAny, Topology), String> {
    let cmd: NativeAny = u.arbitrary().map_err(|e| e.to_string())?;
    let topo = arbitrary_topology(u, &NamedIds::of(&cmd)).map_err(|e| e.to_string())?;
    Ok((cmd, topo))
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
