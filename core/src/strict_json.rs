//! JSON text to a [`serde_json::Value`] that refuses duplicate keys
//! (feature `json`).
//!
//! `serde_json` keeps the last of two equal keys silently, so that
//! `{"domains":[…],"domains":[]}` would lose every domain; the topology file
//! and the CLI's JSON inputs are read through [`parse`] instead, which
//! names the key. Nesting is bounded by `serde_json`'s recursion limit.
//!
//! ```
//! use iommu_inval_core::strict_json::parse;
//! assert!(parse(r#"{"a":1,"b":[{"c":2}]}"#).is_ok());
//! let e = parse(r#"{"op":"CMD_SYNC","op":"CMD_TLBI_NH_ALL"}"#).unwrap_err();
//! assert!(e.to_string().starts_with("duplicate key \"op\""), "{e}");
//! ```

use core::fmt;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use std::borrow::ToOwned;
use std::format;
use std::string::String;
use std::vec::Vec;

/// Parse `text` as one JSON value, refusing an object with a key twice.
pub fn parse(text: &str) -> Result<Value, serde_json::Error> {
    serde_json::from_str::<Strict>(text).map(|s| s.0)
}

/// A value whose objects have unique keys.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("a number that is not finite"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Strict::deserialize(d).map(|s| s.0)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut v = Vec::new();
        while let Some(Strict(x)) = seq.next_element()? {
            v.push(x);
        }
        Ok(Value::Array(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut m = Map::new();
        while let Some(k) = map.next_key::<String>()? {
            if m.contains_key(&k) {
                return Err(de::Error::custom(format!("duplicate key \"{}\"", clip(&k))));
            }
            let Strict(v) = map.next_value()?;
            m.insert(k, v);
        }
        Ok(Value::Object(m))
    }
}

/// At most 64 characters of a key in a message.
fn clip(s: &str) -> String {
    if s.chars().count() <= 64 {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(61).collect();
        t.push_str("...");
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn same_values_as_serde_json_without_duplicates() {
        for text in [
            r#"{"a":1,"b":-2,"c":1.5,"d":"x","e":null,"f":[true,false,{"g":{}}],"h":18446744073709551615}"#,
            "[]",
            "\"s\"",
            "0",
        ] {
            let want: Value = serde_json::from_str(text).unwrap();
            assert_eq!(parse(text).unwrap(), want, "{text}");
        }
    }

    #[test]
    fn duplicates_are_refused_at_any_depth() {
        for (text, key) in [
            (r#"{"domains":[],"domains":[],"devices":[]}"#, "domains"),
            (r#"{"a":{"b":1,"b":1}}"#, "b"),
            (r#"[{"x":1},{"y":1,"y":2}]"#, "y"),
        ] {
            let e = parse(text).unwrap_err().to_string();
            assert!(
                e.contains(&format!("duplicate key \"{key}\"")),
                "{text}: {e}"
            );
        }
        let long = format!(r#"{{"{0}":1,"{0}":2}}"#, "k".repeat(200));
        assert!(parse(&long).unwrap_err().to_string().len() < 120);
        assert!(parse(&"[".repeat(100_000)).is_err(), "nesting is bounded");
    }
}
