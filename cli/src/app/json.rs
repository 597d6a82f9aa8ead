//! The JSON shape of native commands (docs/CLI.md):
//! `{"arch":"smmuv3","op":"CMD_TLBI_NH_VA","fields":{...}}` with op and
//! field names exactly as in docs/SPEC.md, fields in table order, 1-bit
//! fields as booleans, wider ones as integers (addresses as byte
//! addresses), VT-d `priv_data` as `[w2, w3]`; errors as
//! `{"arch":"vtd","error":{"kind":"reserved_bits","message":"..."}}`.
//!
//! `encode` reads the same shape: `arch` may be left out, `fields` left out
//! or partial (missing fields are 0/false); integers may also be hex
//! strings (`"0x1000"`) and 1-bit fields 0/1.
//!
//! Example: the test `example::module_example` at the end of this file.

use super::jsonval::{as_u64, parse_line};
pub use super::jsonval::{describe_decode_error, JsonError};
use iommu_inval::core::{ArchId, DecodeError, FieldError, FieldValue};
use iommu_inval::{AnyCommand, Arch, ArchOps, NativeAny};
use serde_json::{json, Map, Value};

/// The JSON value of one field.
pub fn field_json(v: FieldValue) -> Value {
    match v {
        FieldValue::Bool(b) => json!(b),
        FieldValue::Uint(x) => json!(x),
        FieldValue::Pair([a, b]) => json!([a, b]),
    }
}

/// The decode JSON object of a command.
pub fn command_to_json(cmd: &NativeAny) -> Value {
    let mut fields = Map::new();
    cmd.visit_fields(&mut |name, v| {
        fields.insert(name.to_owned(), field_json(v));
    });
    let mut m = Map::new();
    m.insert("arch".into(), json!(cmd.arch_id().name()));
    m.insert("op".into(), json!(cmd.op()));
    m.insert("fields".into(), Value::Object(fields));
    Value::Object(m)
}

/// The error object: `{"arch":A,"error":{"kind":K,"message":M}}`.
pub fn error_json(arch: ArchId, kind: &str, message: &str) -> Value {
    json!({"arch": arch.name(), "error": {"kind": kind, "message": message}})
}

/// The error object of a decode error; the message names the offending
/// bits or field.
#[allow(dead_code)] // an entry point of the tests
pub fn decode_error_json(arch: ArchId, e: &DecodeError) -> Value {
    error_json(arch, e.kind.as_str(), &describe_decode_error(e))
}

/// Where each architecture keeps its opcode (docs/SPEC.md).
pub const fn opcode_bits(arch: ArchId) -> &'static str {
    match arch {
        ArchId::Smmuv3 => "w0[7:0]",
        ArchId::Vtd => "type = w0[3:0] | w0[11:9] << 4",
        ArchId::Amd => "w0[63:60]",
        ArchId::Riscv => "opcode w0[6:0] | func3 w0[9:7] << 7",
        ArchId::VirtioIommu => "type = byte 0 (w0[7:0])",
    }
}

/// [`describe_decode_error`] with what only the caller knows: where the
/// opcode sits, and the value of an invalid field in `words`.
pub fn describe_decode_error_in(arch: ArchId, e: &DecodeError, words: &[u64]) -> String {
    match e.kind {
        iommu_inval::core::ErrorKind::UnknownOpcode => {
            format!("unknown opcode {:#x} ({})", e.mask, opcode_bits(arch))
        }
        iommu_inval::core::ErrorKind::InvalidField
            if e.mask != 0
                && (e.mask >> e.mask.trailing_zeros()).count_ones()
                    == 64 - (e.mask >> e.mask.trailing_zeros()).leading_zeros() =>
        {
            // One contiguous field: show its value.
            let w = words.get(usize::from(e.word)).copied().unwrap_or(0);
            let value = (w & e.mask) >> e.mask.trailing_zeros();
            let bits = super::jsonval::bit_ranges(e.word, e.mask);
            format!("invalid value {value} in field {} ({bits})", e.field)
        }
        _ => describe_decode_error(e),
    }
}

/// The error object of a decode error of `words`.
pub fn decode_error_json_in(arch: ArchId, e: &DecodeError, words: &[u64]) -> Value {
    error_json(
        arch,
        e.kind.as_str(),
        &describe_decode_error_in(arch, e, words),
    )
}

/// Parse one JSON line of the decode shape into a command of `arch`, for a
/// command of `words` 64-bit words. Never panics.
#[allow(dead_code)] // an entry point of the tests and the fuzz harness
pub fn parse_native_json(arch: ArchId, line: &str, words: usize) -> Result<NativeAny, JsonError> {
    parse_native_value(&Arch::new(arch), &parse_line(line)?, words)
}

fn to_field_value(name: &str, v: &Value) -> Result<FieldValue, JsonError> {
    match v {
        Value::Bool(b) => Ok(FieldValue::Bool(*b)),
        Value::Array(a) => match a.as_slice() {
            [x, y] => match (as_u64(x), as_u64(y)) {
                (Some(x), Some(y)) => Ok(FieldValue::Pair([x, y])),
                _ => Err(JsonError::BadValue {
                    key: name.to_owned(),
                    expected: "two 64-bit integers",
                }),
            },
            _ => Err(JsonError::BadValue {
                key: name.to_owned(),
                expected: "a list of two 64-bit integers",
            }),
        },
        other => as_u64(other)
            .map(FieldValue::Uint)
            .ok_or_else(|| JsonError::BadValue {
                key: name.to_owned(),
                expected: "a boolean or an unsigned 64-bit integer",
            }),
    }
}

/// [`parse_native_json`] for an already parsed value.
pub fn parse_native_value(arch: &Arch, v: &Value, words: usize) -> Result<NativeAny, JsonError> {
    let m = v.as_object().ok_or(JsonError::NotObject)?;
    if m.contains_key("error") && !m.contains_key("op") {
        // A decode error object fed back: say so rather than "unknown key".
        return Err(JsonError::BadValue {
            key: "error".into(),
            expected: "a command object, not an error object",
        });
    }
    if let Some(k) = m
        .keys()
        .find(|k| !["arch", "op", "fields"].contains(&k.as_str()))
    {
        return Err(JsonError::UnknownKey(k.clone()));
    }
    match m.get("arch") {
        None | Some(Value::Null) => {}
        Some(Value::String(a)) if a == arch.id().name() => {}
        Some(Value::String(a)) => {
            return Err(JsonError::ArchMismatch {
                want: arch.id().name(),
                got: a.clone(),
            })
        }
        Some(_) => {
            return Err(JsonError::BadValue {
                key: "arch".into(),
                expected: "a string",
            })
        }
    }
    let op = match m.get("op") {
        None => return Err(JsonError::Missing("op")),
        Some(Value::String(s)) => s.as_str(),
        Some(_) => {
            return Err(JsonError::BadValue {
                key: "op".into(),
                expected: "a string",
            })
        }
    };
    let names = arch
        .field_names(op)
        .ok_or_else(|| JsonError::UnknownOp(op.to_owned()))?;
    let empty = Map::new();
    let fields = match m.get("fields") {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(f)) => f,
        Some(_) => {
            return Err(JsonError::BadValue {
                key: "fields".into(),
                expected: "an object",
            })
        }
    };
    let mut vals: Vec<(&str, FieldValue)> = Vec::with_capacity(fields.len());
    for (k, v) in fields {
        if !names.contains(&k.as_str()) {
            return Err(JsonError::UnknownField {
                op: op.to_owned(),
                field: k.clone(),
            });
        }
        vals.push((k.as_str(), to_field_value(k, v)?));
    }
    // A virtio-iommu request's length is its type's, not a width the caller picks.
    let words = match arch.id() {
        ArchId::VirtioIommu => iommu_inval::virtio::Command::words_of_op(op).unwrap_or(words),
        _ => words,
    };
    match build(arch, op, &vals, words) {
        Err(FieldError::TooWide(f)) => {
            // A 1-bit field given as 0/1 (or a wide one as true/false): retry with the other type.
            let swapped: Vec<(&str, FieldValue)> = vals
                .iter()
                .map(|&(k, v)| match v {
                    FieldValue::Uint(x @ (0 | 1)) if k == f => (k, FieldValue::Bool(x == 1)),
                    FieldValue::Bool(b) if k == f => (k, FieldValue::Uint(u64::from(b))),
                    other => (k, other),
                })
                .collect();
            if swapped == vals {
                return Err(JsonError::TooWide {
                    op: op.to_owned(),
                    field: f.to_owned(),
                    fits: field_fits(arch, op, f, &vals, words),
                });
            }
            build(arch, op, &swapped, words).map_err(|e| map_field_error(arch, op, &vals, words, e))
        }
        r => r.map_err(|e| map_field_error(arch, op, &vals, words, e)),
    }
}

/// What field `f` of `op` takes, found by building the command with one
/// value bit set at a time (the other fields as given): `16 bits (at most
/// 0xffff)`, `a multiple of 0x1000 below 2^64`, `true or false (1 bit)`.
fn field_fits(arch: &Arch, op: &str, f: &str, vals: &[(&str, FieldValue)], words: usize) -> String {
    let fits = |v: FieldValue| {
        let mut probe: Vec<(&str, FieldValue)> =
            vals.iter().copied().filter(|(k, _)| *k != f).collect();
        probe.push((f, v));
        !matches!(build(arch, op, &probe, words), Err(FieldError::TooWide(g)) if g == f)
    };
    let bits: Vec<u32> = (0..64)
        .filter(|&b| fits(FieldValue::Uint(1 << b)))
        .collect();
    let (Some(&lo), Some(&hi)) = (bits.first(), bits.last()) else {
        return if fits(FieldValue::Bool(true)) {
            "true or false (1 bit)".into()
        } else {
            String::new()
        };
    };
    let max = if hi == 63 {
        u64::MAX
    } else {
        (1u64 << (hi + 1)) - 1
    } & !((1u64 << lo) - 1);
    if bits.len() as u32 != hi - lo + 1 {
        return format!("bits {:?} of the value (at most {max:#x})", bits);
    }
    if lo == 0 {
        let n = hi + 1;
        format!(
            "{n} bit{} (at most {max:#x})",
            if n == 1 { "" } else { "s" }
        )
    } else {
        format!(
            "a multiple of {:#x} below 2^{} ({} bits from bit {lo}; at most {max:#x})",
            1u64 << lo,
            hi + 1,
            hi - lo + 1
        )
    }
}

fn build(
    arch: &Arch,
    op: &str,
    vals: &[(&str, FieldValue)],
    words: usize,
) -> Result<NativeAny, FieldError> {
    arch.build_from_fields(op, &mut vals.iter().copied(), words)
}

fn map_field_error(
    arch: &Arch,
    op: &str,
    vals: &[(&str, FieldValue)],
    words: usize,
    e: FieldError,
) -> JsonError {
    match e {
        FieldError::UnknownOp => JsonError::UnknownOp(op.to_owned()),
        FieldError::UnknownField(f) => JsonError::UnknownField {
            op: op.to_owned(),
            field: f.to_owned(),
        },
        FieldError::TooWide(f) => JsonError::TooWide {
            op: op.to_owned(),
            field: f.to_owned(),
            fits: field_fits(arch, op, f, vals, words),
        },
        FieldError::Invalid(d) => JsonError::Invalid(d),
        // A field error this command does not know (the enum is
        // non-exhaustive).
        _ => JsonError::BadValue {
            key: op.to_owned(),
            expected: "fields that make a command",
        },
    }
}

/// The error kind a JSON error is reported with (`invalid_field` for field
/// values, `unknown_opcode` for an unknown op, `bad_json` otherwise).
pub fn json_error_kind(e: &JsonError) -> &'static str {
    match e {
        JsonError::UnknownOp(_) => "unknown_opcode",
        JsonError::Invalid(d) => d.kind.as_str(),
        JsonError::TooWide { .. } | JsonError::UnknownField { .. } | JsonError::BadValue { .. } => {
            "invalid_field"
        }
        _ => "bad_json",
    }
}

/// The module documentation's example, as a test (a binary has no doc tests).
#[cfg(test)]
mod example {
    use super::*;

    #[test]
    fn module_example() {
        use iommu_inval::core::ArchId;
        let c = parse_native_json(
            ArchId::Amd,
            r#"{"op":"INVALIDATE_DEVTAB_ENTRY","fields":{"device_id":16}}"#,
            2,
        )
        .unwrap();
        let j = command_to_json(&c);
        assert_eq!(
            j.to_string(),
            r#"{"arch":"amd","op":"INVALIDATE_DEVTAB_ENTRY","fields":{"device_id":16}}"#
        );
    }
}
