//! Small value types that accept the loose shapes real CloudBees files use (one string or a
//! list, quoted numbers) and serialize back to one canonical JSON shape.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// 2^53: past it, integers are not all exact as IEEE 754 doubles, which is what JSON
/// numbers are in most implementations (RFC 7493 §2.2), the services' included.
const EXACT_LIMIT: f64 = 9_007_199_254_740_992.0;

/// Why a number beyond [`EXACT_LIMIT`] is refused (matched by the loader's classifier).
pub(crate) const INEXACT_NUMBER: &str = "a number beyond ±2^53 (9007199254740992): JSON services keep numbers as doubles, so it would not stay exact";

/// An integer, refused past ±2^53. A YAML integer past 64 bits reaches the visitor
/// already rounded to a float, so [`exact_f64`] refuses floats past the limit too.
pub(crate) fn exact_int<E: de::Error>(v: i128) -> Result<i64, E> {
    match i64::try_from(v) {
        Ok(i) if i.unsigned_abs() <= 1 << 53 => Ok(i),
        _ => Err(E::custom(INEXACT_NUMBER)),
    }
}

pub(crate) fn exact_f64<E: de::Error>(v: f64) -> Result<f64, E> {
    if v.abs() > EXACT_LIMIT {
        Err(E::custom(INEXACT_NUMBER))
    } else {
        Ok(v)
    }
}

/// An optional number, refused past ±2^53 (`deserialize_with` of double fields).
pub(crate) fn exact_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = f64;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a number")
        }
        // Integers are checked as integers: 2^53 + 1 would round down to the limit.
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
            exact_int(v.into()).map(|i| i as f64)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
            exact_int(v.into()).map(|i| i as f64)
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
            exact_f64(v)
        }
    }
    d.deserialize_any(V).map(Some)
}

/// A YAML/JSON scalar: what `availableValues`, flag values and split options hold.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
}

impl Scalar {
    /// How this scalar is written in messages and compared with `availableValues`.
    pub fn as_display(&self) -> String {
        match self {
            Scalar::Bool(b) => b.to_string(),
            Scalar::Int(i) => i.to_string(),
            Scalar::Float(f) => f.to_string(),
            Scalar::String(s) => s.clone(),
        }
    }

    /// Equality as a flag evaluates it: `10` and `10.0` are one number.
    pub fn same_value(&self, other: &Scalar) -> bool {
        match (self, other) {
            (Scalar::Int(a), Scalar::Float(b)) | (Scalar::Float(b), Scalar::Int(a)) => {
                (*a as f64) == *b
            }
            _ => self == other,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Scalar::Int(i) => Some(*i as f64),
            Scalar::Float(f) => Some(*f),
            _ => None,
        }
    }
}

impl Serialize for Scalar {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Scalar::Bool(b) => s.serialize_bool(*b),
            Scalar::Int(i) => s.serialize_i64(*i),
            Scalar::Float(f) => s.serialize_f64(*f),
            Scalar::String(v) => s.serialize_str(v),
        }
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string, number or boolean")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
        Ok(Scalar::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
        exact_int(v.into()).map(Scalar::Int)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
        exact_int(v.into()).map(Scalar::Int)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
        exact_f64(v).map(Scalar::Float)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
        Ok(Scalar::String(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Scalar, E> {
        Ok(Scalar::String(v))
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarVisitor)
    }
}

impl JsonSchema for Scalar {
    fn schema_name() -> Cow<'static, str> {
        "Scalar".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": ["string", "number", "boolean"] })
    }
}

/// A number that real files sometimes quote (`percentage: '50'`). Integers stay integers so
/// that the JSON sent to the API looks like what the service writes itself.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    Int(i64),
    Float(f64),
}

impl Number {
    pub fn as_f64(self) -> f64 {
        match self {
            Number::Int(i) => i as f64,
            Number::Float(f) => f,
        }
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Number::Int(i) => write!(f, "{i}"),
            Number::Float(x) => write!(f, "{x}"),
        }
    }
}

impl Serialize for Number {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Number::Int(i) => s.serialize_i64(*i),
            Number::Float(f) => s.serialize_f64(*f),
        }
    }
}

impl<'de> Deserialize<'de> for Number {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Number;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Number, E> {
                exact_int(v.into()).map(Number::Int)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Number, E> {
                exact_int(v.into()).map(Number::Int)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Number, E> {
                if v.is_finite() {
                    exact_f64(v).map(Number::Float)
                } else {
                    Err(E::custom("expected a finite number"))
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Number, E> {
                let t = v.trim();
                if let Ok(i) = t.parse::<i64>() {
                    return Ok(Number::Int(i));
                }
                match t.parse::<f64>() {
                    Ok(f) if f.is_finite() => Ok(Number::Float(f)),
                    _ => Err(E::invalid_value(de::Unexpected::Str(v), &self)),
                }
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for Number {
    fn schema_name() -> Cow<'static, str> {
        "Number".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A number; a quoted number is accepted too.",
            "type": ["number", "string"]
        })
    }
}

/// One string or a list of strings (`labels: x` and `labels: [x]` mean the same). Serializes
/// as a list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StringList(pub Vec<String>);

impl StringList {
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for StringList {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for StringList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StringList;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or a list of strings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<StringList, E> {
                Ok(StringList(vec![v.to_owned()]))
            }
            fn visit_unit<E: de::Error>(self) -> Result<StringList, E> {
                Ok(StringList(Vec::new()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<StringList, A::Error> {
                let mut out = Vec::new();
                while let Some(s) = seq.next_element::<String>()? {
                    out.push(s);
                }
                Ok(StringList(out))
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for StringList {
    fn schema_name() -> Cow<'static, str> {
        "StringOrList".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "anyOf": [
                { "type": "string" },
                { "type": "array", "items": { "type": "string" } }
            ]
        })
    }
}

/// A string that real files sometimes write unquoted as a number or boolean
/// (`dependency.value`). Kept as the text a YAML reader would print.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LenientString(pub String);

impl Serialize for LenientString {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for LenientString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Scalar::deserialize(d)? {
            Scalar::String(s) => Ok(LenientString(s)),
            other => Ok(LenientString(other.as_display())),
        }
    }
}

impl JsonSchema for LenientString {
    fn schema_name() -> Cow<'static, str> {
        "LenientString".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": ["string", "number", "boolean"] })
    }
}

/// The operand of a property condition: one scalar, or a list for `in-array`.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    Scalar(Scalar),
    List(Vec<Scalar>),
}

impl Serialize for Operand {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Operand::Scalar(v) => v.serialize(s),
            Operand::List(v) => v.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Operand {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Operand;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, number, boolean or a list of them")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Operand, E> {
                ScalarVisitor.visit_bool(v).map(Operand::Scalar)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Operand, E> {
                ScalarVisitor.visit_i64(v).map(Operand::Scalar)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Operand, E> {
                ScalarVisitor.visit_u64(v).map(Operand::Scalar)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Operand, E> {
                ScalarVisitor.visit_f64(v).map(Operand::Scalar)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Operand, E> {
                ScalarVisitor.visit_str(v).map(Operand::Scalar)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Operand, A::Error> {
                let mut out = Vec::new();
                while let Some(s) = seq.next_element::<Scalar>()? {
                    out.push(s);
                }
                Ok(Operand::List(out))
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for Operand {
    fn schema_name() -> Cow<'static, str> {
        "Operand".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "anyOf": [
                { "type": ["string", "number", "boolean"] },
                { "type": "array", "items": { "type": ["string", "number", "boolean"] } }
            ]
        })
    }
}
