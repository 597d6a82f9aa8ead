//! The readable one-line form of `decode` (without `--json`): the op, its
//! fields, and a short meaning taken from the generic ops the command lifts
//! to, e.g. `invalidate stage-1 IOTLB, 2 MiB at 0x40000000, domain 1 PASID 5, leaf only`.
//!
//! Columns are fixed-width (the op column is as wide as the architecture's
//! longest op name) so that a stream lines up without buffering. The
//! meaning of an op is its `Display` (`iommu_inval::core::display`).

use core::fmt::Write as _;
use iommu_inval::core::model::Op;
use iommu_inval::core::Flags;
use iommu_inval::core::{FieldValue, Outcome};
use iommu_inval::AnyCommand;

/// Width of the fields column.
pub const FIELDS_WIDTH: usize = 72;

/// Fields whose values read best in hex.
fn is_hex_field(name: &str) -> bool {
    name.contains("address") || name.contains("data")
}

// The `write_*` functions append to a caller's buffer (`decode` reuses one
// per stream: no allocation per command); the `String`-returning ones wrap
// them. Writing into a `String` cannot fail, so their `fmt::Result`s are
// dropped.

/// Append the `name=value` pairs of `cmd` to `s`: 1-bit fields as 0/1,
/// addresses and data in hex, the rest decimal.
pub fn write_fields(s: &mut String, cmd: &dyn AnyCommand) {
    let start = s.len();
    cmd.visit_fields(&mut |name, v| {
        if s.len() > start {
            s.push(' ');
        }
        s.push_str(name);
        s.push('=');
        let _ = match v {
            FieldValue::Bool(b) => {
                s.push(if b { '1' } else { '0' });
                Ok(())
            }
            FieldValue::Uint(x) if is_hex_field(name) || x > 0xffff => write!(s, "{x:#x}"),
            FieldValue::Uint(x) => write!(s, "{x}"),
            FieldValue::Pair([a, b]) => write!(s, "[{a:#x},{b:#x}]"),
        };
    });
}

/// Append the native ids the generic meaning renames to `s`: an SMMU
/// `asid` (the generic model names the PASIDs that use it), as ` (ASID 5)`;
/// nothing otherwise.
pub fn write_native_note(s: &mut String, cmd: &dyn AnyCommand) {
    let mut asid = None;
    cmd.visit_fields(&mut |name, v| {
        if let ("asid", FieldValue::Uint(a)) = (name, v) {
            asid = Some(a);
        }
    });
    if let Some(a) = asid {
        let _ = write!(s, " (ASID {a})");
    }
}

/// Append the meaning of a lifted command to `s`: its ops joined by `; `,
/// plus what the lift widened (an id the context does not know) or dropped.
pub fn write_ops(s: &mut String, ops: &[Op], outcome: &Outcome) {
    for (n, op) in ops.iter().enumerate() {
        if n > 0 {
            s.push_str("; ");
        }
        let _ = write!(s, "{op}");
    }
    if ops.is_empty() {
        s.push_str("no generic effect");
    }
    if !outcome.widened.is_empty() {
        s.push_str(" (widened: ");
        for (n, w) in outcome.widened.names().enumerate() {
            if n > 0 {
                s.push_str(", ");
            }
            s.push_str(w);
        }
        s.push(')');
    }
    if let Some(d) = outcome.dropped {
        let _ = write!(s, " (dropped: {d})");
    }
}
