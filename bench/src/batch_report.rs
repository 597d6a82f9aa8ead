//! Batch lowering against one-by-one lowering, per architecture, on the
//! realistic streams of [`crate::streams`].

use crate::streams;
use crate::targets::{amd, arm, vtd};

/// One row of the batch table.
#[derive(Debug, Clone)]
pub struct BatchRow {
    /// Architecture.
    pub arch: &'static str,
    /// Stream name.
    pub stream: String,
    /// Generic operations in the stream.
    pub requests: usize,
    /// Native commands lowered one request at a time (syncs included).
    pub one_by_one: usize,
    /// Native commands lowered as one batch (syncs included).
    pub batched: usize,
    /// The batch output's footprint covers the input's.
    pub covers: bool,
}

/// Measure every stream on every architecture: the synthetic request
/// streams, then each architecture's example queue (examples/*.cmds) lifted
/// with the example topology, with its own syncs.
pub fn measure() -> Vec<BatchRow> {
    let mut inputs: Vec<(String, Vec<iommu_inval_core::Op>, bool)> = Vec::new();
    for (name, ops) in streams::named_streams() {
        inputs.push((name.to_string(), ops, true));
    }
    inputs.push((
        format!(
            "examples/smmuv3.cmds lifted ({} cmds)",
            arm::example_commands().len()
        ),
        arm::example_ops(),
        false,
    ));
    inputs.push((
        format!(
            "examples/vtd*.cmds lifted ({} cmds)",
            vtd::example_commands().len()
        ),
        vtd::example_ops(),
        false,
    ));
    inputs.push((
        format!(
            "examples/amd.cmds lifted ({} cmds)",
            amd::example_commands().len()
        ),
        amd::example_ops(),
        false,
    ));
    let mut rows = Vec::new();
    for (name, ops, requests) in inputs {
        for (arch, (o, b, _, c)) in [
            (arm::NAME, arm::batch_counts(&ops, requests)),
            (vtd::NAME, vtd::batch_counts(&ops, requests)),
            (amd::NAME, amd::batch_counts(&ops, requests)),
        ] {
            rows.push(BatchRow {
                arch,
                stream: name.clone(),
                requests: ops.len(),
                one_by_one: o,
                batched: b,
                covers: c,
            });
        }
    }
    rows
}

/// Markdown table.
pub fn markdown(rows: &[BatchRow]) -> String {
    let mut s = String::from(
        "| target | stream | generic ops | native cmds one by one | native cmds batched | ratio | footprint covered |\n|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let ratio = if r.batched == 0 {
            0.0
        } else {
            r.one_by_one as f64 / r.batched as f64
        };
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {:.1}x | {} |\n",
            r.arch,
            r.stream,
            r.requests,
            r.one_by_one,
            r.batched,
            ratio,
            if r.covers { "yes" } else { "**NO**" }
        ));
    }
    s
}
