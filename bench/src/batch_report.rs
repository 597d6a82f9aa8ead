//! Batch lowering against one-by-one lowering, per architecture, on the
//! realistic streams of [`crate::streams`].

use crate::streams;
use crate::targets::{amd, vtd};

/// One row of the batch table.
#[derive(Debug, Clone)]
pub struct BatchRow {
    /// Architecture.
    pub arch: &'static str,
    /// Stream name.
    pub stream: &'static str,
    /// Generic requests in the stream.
    pub requests: usize,
    /// Native commands lowered one request at a time (syncs included).
    pub one_by_one: usize,
    /// Native commands lowered as one batch (syncs included).
    pub batched: usize,
    /// The batch output's footprint covers the input's.
    pub covers: bool,
}

/// Measure every stream on every architecture.
pub fn measure() -> Vec<BatchRow> {
    let mut rows = Vec::new();
    for (name, ops) in streams::named_streams() {
        let (o, b, _, c) = vtd::batch_counts(&ops);
        rows.push(BatchRow {
            arch: vtd::NAME,
            stream: name,
            requests: ops.len(),
            one_by_one: o,
            batched: b,
            covers: c,
        });
        let (o, b, _, c) = amd::batch_counts(&ops);
        rows.push(BatchRow {
            arch: amd::NAME,
            stream: name,
            requests: ops.len(),
            one_by_one: o,
            batched: b,
            covers: c,
        });
    }
    rows
}

/// Markdown table.
pub fn markdown(rows: &[BatchRow]) -> String {
    let mut s = String::from(
        "| arch | stream | requests | native cmds one by one | native cmds batched | ratio | footprint covered |\n|---|---|---|---|---|---|---|\n",
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
