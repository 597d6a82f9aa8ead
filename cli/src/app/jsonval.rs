//! JSON errors and value helpers shared by the native ([`super::json`]) and
//! generic ([`super::generic`]) JSON forms.

use serde_json::Value;
use std::fmt;

/// A JSON line that does not make a command or an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonError {
    /// Not JSON at all (the parser's message).
    Syntax(String),
    /// JSON, but not an object.
    NotObject,
    /// A required key is missing.
    Missing(&'static str),
    /// A key that this object does not have.
    UnknownKey(String),
    /// `arch` names another architecture than the one selected.
    ArchMismatch {
        /// The architecture selected on the command line.
        want: &'static str,
        /// The one in the object.
        got: String,
    },
    /// No op of that name in the architecture's table (or generic kind).
    UnknownOp(String),
    /// The op has no field of that name.
    UnknownField {
        /// The op.
        op: String,
        /// The field.
        field: String,
    },
    /// A value of the wrong JSON type or out of its range.
    BadValue {
        /// Where (key or field name).
        key: String,
        /// What was expected.
        expected: &'static str,
    },
    /// The value does not fit the field (too wide, unaligned address, wrong type).
    TooWide {
        /// The op.
        op: String,
        /// The field.
        field: String,
        /// What fits it (`16 bits: at most 0xffff`), when known.
        fits: String,
    },
    /// The fields make a command the decoder would refuse.
    Invalid(iommu_inval::core::DecodeError),
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonError::Syntax(m) => write!(f, "malformed JSON: {m}"),
            JsonError::NotObject => f.write_str("expected a JSON object"),
            JsonError::Missing(k) => write!(f, "missing key \"{k}\""),
            JsonError::UnknownKey(k) => write!(f, "unknown key \"{}\"", clip(k)),
            JsonError::ArchMismatch { want, got } => {
                write!(
                    f,
                    "object is for arch \"{}\" but --arch is {want}",
                    clip(got)
                )
            }
            JsonError::UnknownOp(op) => write!(f, "unknown op \"{}\"", clip(op)),
            JsonError::UnknownField { op, field } => {
                write!(f, "op {} has no field \"{}\"", clip(op), clip(field))
            }
            JsonError::BadValue { key, expected } => {
                write!(f, "\"{}\": expected {expected}", clip(key))
            }
            JsonError::TooWide { op, field, fits } => {
                write!(
                    f,
                    "value of field \"{}\" does not fit {}",
                    clip(field),
                    clip(op)
                )?;
                if fits.is_empty() {
                    Ok(())
                } else {
                    write!(f, ": the field takes {fits}")
                }
            }
            JsonError::Invalid(e) => write!(f, "{}: {}", e.kind.as_str(), describe_decode_error(e)),
        }
    }
}

impl std::error::Error for JsonError {}

/// A message for a decode error that names the offending bits: the field
/// (or rule) and the bit ranges of the word, e.g. `field cs (w0[13:12])`.
pub fn describe_decode_error(e: &iommu_inval::core::DecodeError) -> String {
    use iommu_inval::core::ErrorKind;
    let bits = bit_ranges(e.word, e.mask);
    match e.kind {
        ErrorKind::UnknownOpcode => format!("unknown opcode {:#x}", e.mask),
        ErrorKind::ReservedBits => {
            format!(
                "reserved bits set: {bits} (w{} mask {:#018x})",
                e.word, e.mask
            )
        }
        ErrorKind::InvalidField => {
            format!("invalid value in field {} ({bits})", e.field)
        }
        ErrorKind::BadLength => format!("wrong number of 64-bit words: {}", e.mask),
        ErrorKind::NoEquivalent => format!("no equivalent: {}", e.field),
        _ => e.to_string(),
    }
}

/// The set bits of `mask` as ranges of word `word`: `w0[13:12], w0[3]`.
pub fn bit_ranges(word: u8, mask: u64) -> String {
    let mut parts = Vec::new();
    let mut bit = 0u32;
    while bit < 64 {
        if mask >> bit & 1 == 1 {
            let lo = bit;
            while bit < 64 && mask >> bit & 1 == 1 {
                bit += 1;
            }
            let hi = bit - 1;
            parts.push(if hi == lo {
                format!("w{word}[{lo}]")
            } else {
                format!("w{word}[{hi}:{lo}]")
            });
        } else {
            bit += 1;
        }
    }
    if parts.is_empty() {
        format!("w{word}")
    } else {
        parts.join(", ")
    }
}

/// At most 64 characters of user text in a message.
pub fn clip(s: &str) -> String {
    if s.chars().count() <= 64 {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(61).collect();
        t.push_str("...");
        t
    }
}

/// Parse one line as JSON (any value). An object with a key twice is
/// refused, naming the key (serde_json would keep the last one). The
/// serde_json recursion limit bounds nesting, so hostile input cannot
/// overflow the stack.
pub fn parse_line(line: &str) -> Result<Value, JsonError> {
    iommu_inval::core::strict_json::parse(line).map_err(|e| JsonError::Syntax(e.to_string()))
}

/// An unsigned integer: a JSON non-negative integer, or a string of hex
/// (`"0x1000"`) or decimal digits.
pub fn as_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => {
            let t = s.trim();
            if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
                super::text::parse_hex_word(h, 0)
                    .ok()
                    .filter(|_| !h.is_empty())
            } else if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
                t.parse().ok()
            } else {
                None
            }
        }
        _ => None,
    }
}

/// `as_u64` for a named key, with a typed error.
pub fn get_u64(key: &str, v: &Value) -> Result<u64, JsonError> {
    as_u64(v).ok_or_else(|| JsonError::BadValue {
        key: key.to_owned(),
        expected: "an unsigned integer",
    })
}

/// An unsigned integer that fits `max`.
pub fn get_uint(key: &str, v: &Value, max: u64, expected: &'static str) -> Result<u64, JsonError> {
    match as_u64(v) {
        Some(x) if x <= max => Ok(x),
        _ => Err(JsonError::BadValue {
            key: key.to_owned(),
            expected,
        }),
    }
}

/// A boolean (`true`/`false`, or the integers 0 and 1).
pub fn get_bool(key: &str, v: &Value) -> Result<bool, JsonError> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::Number(n) if n.as_u64() == Some(0) => Ok(false),
        Value::Number(n) if n.as_u64() == Some(1) => Ok(true),
        _ => Err(JsonError::BadValue {
            key: key.to_owned(),
            expected: "a boolean",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn integers_in_json_and_hex_strings() {
        assert_eq!(as_u64(&json!(5)), Some(5));
        assert_eq!(as_u64(&json!("0x1000")), Some(0x1000));
        assert_eq!(as_u64(&json!("4096")), Some(4096));
        assert_eq!(as_u64(&json!(u64::MAX)), Some(u64::MAX));
        for bad in [
            json!(-1),
            json!(1.5),
            json!("0x"),
            json!(""),
            json!("12a"),
            json!(null),
            json!([1]),
        ] {
            assert_eq!(as_u64(&bad), None, "{bad}");
        }
        assert!(get_uint("x", &json!(65536), 0xffff, "16 bits").is_err());
        assert_eq!(get_uint("x", &json!(65535), 0xffff, "16 bits"), Ok(65535));
        assert_eq!(get_bool("b", &json!(1)), Ok(true));
        assert!(get_bool("b", &json!(2)).is_err());
    }

    #[test]
    fn bit_ranges_name_the_bits() {
        assert_eq!(bit_ranges(0, 0x3000), "w0[13:12]");
        assert_eq!(bit_ranges(1, 0x8000_0000_0000_0101), "w1[0], w1[8], w1[63]");
        assert_eq!(bit_ranges(2, u64::MAX), "w2[63:0]");
        assert_eq!(bit_ranges(0, 0), "w0");
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = "[".repeat(100_000);
        assert!(matches!(parse_line(&deep), Err(JsonError::Syntax(_))));
        assert_eq!(clip(&"é".repeat(100)).chars().count(), 64);
    }
}
