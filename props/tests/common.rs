//! Helpers shared by the property-test files (included with `mod common;`).
#![allow(dead_code)]

use iommu_inval_core::NativeCommand;
use iommu_inval_props::Tally;

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
