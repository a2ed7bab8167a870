//! The part of the OTLP trace messages Sentinel reads and answers with: prost messages that also
//! deserialize from OTLP/JSON.
//!
//! Field numbers are opentelemetry-proto v1's (`opentelemetry/proto/collector/trace/v1/
//! trace_service.proto`, `trace/v1/trace.proto`, `common/v1/common.proto`,
//! `resource/v1/resource.proto`). Fields Sentinel has no use for (span ids, events, links, scopes,
//! dropped counts…) are left out: protobuf decoding skips them and JSON decoding ignores them, as
//! the spec requires of OTLP/JSON receivers. The tests encode requests with the official
//! generated types (the opentelemetry-proto crate) to show both read the same bytes.
//!
//! OTLP/JSON (<https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding>) is the proto3
//! JSON mapping with lowerCamelCase keys, enums as integers, ids as hex, and 64-bit integers as
//! decimal strings ("either numbers or strings are accepted when decoding"). Like protobuf JSON
//! parsers, this one also takes the snake_case field names, enum names and `null` for a default.

use std::fmt;

use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

pub(super) const SPAN_KIND_SERVER: i32 = 2;
pub(super) const STATUS_CODE_ERROR: i32 = 2;

#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct ExportTraceServiceRequest {
    #[prost(message, repeated, tag = "1")]
    #[serde(alias = "resource_spans", deserialize_with = "nullable")]
    pub(super) resource_spans: Vec<ResourceSpans>,
}

#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct ResourceSpans {
    #[prost(message, optional, tag = "1")]
    pub(super) resource: Option<Resource>,
    #[prost(message, repeated, tag = "2")]
    #[serde(alias = "scope_spans", deserialize_with = "nullable")]
    pub(super) scope_spans: Vec<ScopeSpans>,
}

#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct Resource {
    #[prost(message, repeated, tag = "1")]
    #[serde(deserialize_with = "nullable")]
    pub(super) attributes: Vec<KeyValue>,
}

#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct ScopeSpans {
    #[prost(message, repeated, tag = "2")]
    #[serde(deserialize_with = "nullable")]
    pub(super) spans: Vec<Span>,
}

#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct Span {
    /// 16 bytes; OTLP/JSON writes it as hex.
    #[prost(bytes = "vec", tag = "1")]
    #[serde(alias = "trace_id", deserialize_with = "hex_id")]
    pub(super) trace_id: Vec<u8>,
    #[prost(string, tag = "5")]
    #[serde(deserialize_with = "nullable")]
    pub(super) name: String,
    /// `SpanKind`: an open enum on the wire, so kept as its number.
    #[prost(int32, tag = "6")]
    #[serde(deserialize_with = "span_kind")]
    pub(super) kind: i32,
    #[prost(fixed64, tag = "7")]
    #[serde(alias = "start_time_unix_nano", deserialize_with = "fixed64")]
    pub(super) start_time_unix_nano: u64,
    #[prost(fixed64, tag = "8")]
    #[serde(alias = "end_time_unix_nano", deserialize_with = "fixed64")]
    pub(super) end_time_unix_nano: u64,
    #[prost(message, repeated, tag = "9")]
    #[serde(deserialize_with = "nullable")]
    pub(super) attributes: Vec<KeyValue>,
    #[prost(message, optional, tag = "15")]
    pub(super) status: Option<Status>,
}

#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct Status {
    /// `StatusCode`: 0 unset, 1 ok, 2 error.
    #[prost(int32, tag = "3")]
    #[serde(deserialize_with = "status_code")]
    pub(super) code: i32,
}

#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct KeyValue {
    #[prost(string, tag = "1")]
    #[serde(deserialize_with = "nullable")]
    pub(super) key: String,
    #[prost(message, optional, tag = "2")]
    pub(super) value: Option<AnyValue>,
}

/// An attribute value. Arrays, key-value lists and bytes (tags 5–7) are never an endpoint, a
/// method, a status or a tenant, so they are not kept: a value of those kinds reads as empty.
#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct AnyValue {
    #[prost(oneof = "Value", tags = "1, 2, 3, 4")]
    pub(super) value: Option<Value>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
pub(super) enum Value {
    #[prost(string, tag = "1")]
    String(String),
    #[prost(bool, tag = "2")]
    Bool(bool),
    #[prost(int64, tag = "3")]
    Int(i64),
    #[prost(double, tag = "4")]
    Double(f64),
}

#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct ExportTraceServiceResponse {
    #[prost(message, optional, tag = "1")]
    pub(super) partial_success: Option<ExportTracePartialSuccess>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct ExportTracePartialSuccess {
    #[prost(int64, tag = "1")]
    pub(super) rejected_spans: i64,
    #[prost(string, tag = "2")]
    pub(super) error_message: String,
}

/// `google.rpc.Status`, the body of an OTLP/HTTP 4xx or 5xx answer. The spec leaves `code` unused.
#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct RpcStatus {
    #[prost(string, tag = "2")]
    pub(super) message: String,
}

/// `null` reads as the field's default, as in the proto3 JSON mapping.
fn nullable<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// An id as OTLP/JSON writes it, in hex. A malformed one reads as empty (no id): a request is
/// worth counting without the trace it belongs to.
fn hex_id<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
    let text: Option<std::borrow::Cow<'de, str>> = Option::deserialize(deserializer)?;
    Ok(text
        .and_then(|t| hex::decode(t.as_ref()).ok())
        .unwrap_or_default())
}

fn span_kind<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i32, D::Error> {
    const NAMES: [&str; 6] = [
        "SPAN_KIND_UNSPECIFIED",
        "SPAN_KIND_INTERNAL",
        "SPAN_KIND_SERVER",
        "SPAN_KIND_CLIENT",
        "SPAN_KIND_PRODUCER",
        "SPAN_KIND_CONSUMER",
    ];
    enum_number(deserializer, &NAMES)
}

fn status_code<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i32, D::Error> {
    const NAMES: [&str; 3] = ["STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"];
    enum_number(deserializer, &NAMES)
}

/// An enum field: its number (what OTLP/JSON writes) or its name (what proto3 JSON also allows).
fn enum_number<'de, D: Deserializer<'de>>(deserializer: D, names: &[&str]) -> Result<i32, D::Error> {
    match deserializer.deserialize_any(NumberVisitor { names })? {
        Number::Unsigned(n) => i32::try_from(n).map_err(|_| de::Error::custom("enum value out of range")),
        Number::Signed(n) => i32::try_from(n).map_err(|_| de::Error::custom("enum value out of range")),
        Number::Float(_) => Err(de::Error::custom("an enum value must be an integer")),
    }
}

/// A `fixed64` field such as a span's start time: a decimal string or a number.
fn fixed64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    match deserializer.deserialize_any(NumberVisitor { names: &[] })? {
        Number::Unsigned(n) => Ok(n),
        Number::Signed(_) | Number::Float(_) => Err(de::Error::custom(
            "expected an unsigned 64-bit integer, as a decimal string",
        )),
    }
}

/// A JSON number or the decimal string of one; `null` reads as zero.
enum Number {
    Unsigned(u64),
    Signed(i64),
    Float(f64),
}

struct NumberVisitor<'n> {
    /// Enum names whose position is their number.
    names: &'n [&'n str],
}

impl<'de> Visitor<'de> for NumberVisitor<'_> {
    type Value = Number;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number or a decimal string")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Number, E> {
        Ok(Number::Unsigned(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Number, E> {
        Ok(u64::try_from(v).map_or(Number::Signed(v), Number::Unsigned))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Number, E> {
        Ok(Number::Float(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Number, E> {
        Ok(Number::Unsigned(0))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Number, E> {
        if let Some(position) = self.names.iter().position(|name| *name == v) {
            return Ok(Number::Unsigned(position as u64));
        }
        if let Ok(n) = v.parse::<u64>() {
            return Ok(Number::Unsigned(n));
        }
        if let Ok(n) = v.parse::<i64>() {
            return Ok(Number::Signed(n));
        }
        match v {
            "NaN" => Ok(Number::Float(f64::NAN)),
            "Infinity" => Ok(Number::Float(f64::INFINITY)),
            "-Infinity" => Ok(Number::Float(f64::NEG_INFINITY)),
            _ => v
                .parse::<f64>()
                .map(Number::Float)
                .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self)),
        }
    }
}

impl<'de> Deserialize<'de> for AnyValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(AnyValueVisitor)
    }
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "camelCase")]
enum AnyValueField {
    #[serde(alias = "string_value")]
    StringValue,
    #[serde(alias = "bool_value")]
    BoolValue,
    #[serde(alias = "int_value")]
    IntValue,
    #[serde(alias = "double_value")]
    DoubleValue,
    #[serde(other)]
    Other,
}

struct AnyValueVisitor;

impl<'de> Visitor<'de> for AnyValueVisitor {
    type Value = AnyValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an AnyValue object such as {\"stringValue\": \"…\"}")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<AnyValue, A::Error> {
        let mut value = None;
        while let Some(field) = map.next_key::<AnyValueField>()? {
            let read = match field {
                AnyValueField::StringValue => map.next_value::<Option<String>>()?.map(Value::String),
                AnyValueField::BoolValue => map.next_value::<Option<bool>>()?.map(Value::Bool),
                AnyValueField::IntValue => map.next_value::<Option<Int64>>()?.map(|i| Value::Int(i.0)),
                AnyValueField::DoubleValue => map.next_value::<Option<Double>>()?.map(|d| Value::Double(d.0)),
                AnyValueField::Other => {
                    // arrayValue, kvlistValue, bytesValue and unknown fields: not kept.
                    map.next_value::<IgnoredAny>()?;
                    None
                }
            };
            if read.is_some() {
                value = read;
            }
        }
        Ok(AnyValue { value })
    }
}

/// An `int64`: a decimal string or a number.
struct Int64(i64);

impl<'de> Deserialize<'de> for Int64 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match deserializer.deserialize_any(NumberVisitor { names: &[] })? {
            Number::Unsigned(n) => i64::try_from(n)
                .map(Int64)
                .map_err(|_| de::Error::custom("intValue is out of the 64-bit range")),
            Number::Signed(n) => Ok(Int64(n)),
            Number::Float(_) => Err(de::Error::custom("intValue must be an integer")),
        }
    }
}

/// A `double`: a number, or a string (`"NaN"`, `"Infinity"`, or a number written as text).
struct Double(f64);

impl<'de> Deserialize<'de> for Double {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[expect(clippy::cast_precision_loss, reason = "a double read from an integer literal")]
        let value = match deserializer.deserialize_any(NumberVisitor { names: &[] })? {
            Number::Unsigned(n) => n as f64,
            Number::Signed(n) => n as f64,
            Number::Float(f) => f,
        };
        Ok(Double(value))
    }
}
