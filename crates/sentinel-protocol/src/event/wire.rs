//! A typed, borrowing view of an event payload: only the fields the pipeline reads.
//!
//! Every type here is lenient the way Relay is: a value of an unexpected JSON type reads as absent
//! instead of failing the event. Nothing is buffered: each visitor accepts any JSON value and skips
//! what it does not want with `IgnoredAny`, so a payload is read in one pass, and strings without
//! escapes are borrowed from it. Only malformed JSON fails.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::Level;

/// How one lenient type reads each kind of JSON value. Every kind it does not override reads as
/// `Default::default()` (absent), after consuming the value.
pub(crate) trait Leaf<'a>: Sized + Default {
    fn from_str(_: Cow<'a, str>) -> Self {
        Self::default()
    }
    fn from_i64(_: i64) -> Self {
        Self::default()
    }
    fn from_u64(_: u64) -> Self {
        Self::default()
    }
    fn from_f64(_: f64) -> Self {
        Self::default()
    }
    fn from_bool(_: bool) -> Self {
        Self::default()
    }
    fn from_seq<A: SeqAccess<'a>>(mut seq: A) -> Result<Self, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Self::default())
    }
    fn from_map<A: MapAccess<'a>>(mut map: A) -> Result<Self, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Self::default())
    }
}

struct LeafVisitor<T>(PhantomData<T>);

impl<'a, T: Leaf<'a>> Visitor<'a> for LeafVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<T, E> {
        Ok(T::from_bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        Ok(T::from_i64(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        Ok(T::from_u64(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        Ok(T::from_f64(v))
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'a str) -> Result<T, E> {
        Ok(T::from_str(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        Ok(T::from_str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<T, E> {
        Ok(T::from_str(Cow::Owned(v)))
    }
    fn visit_unit<E: de::Error>(self) -> Result<T, E> {
        Ok(T::default())
    }
    fn visit_none<E: de::Error>(self) -> Result<T, E> {
        Ok(T::default())
    }
    fn visit_some<D: Deserializer<'a>>(self, d: D) -> Result<T, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'a>>(self, seq: A) -> Result<T, A::Error> {
        T::from_seq(seq)
    }
    fn visit_map<A: MapAccess<'a>>(self, map: A) -> Result<T, A::Error> {
        T::from_map(map)
    }
}

fn deserialize_leaf<'a, D: Deserializer<'a>, T: Leaf<'a>>(d: D) -> Result<T, D::Error> {
    d.deserialize_any(LeafVisitor(PhantomData))
}

/// Implements `Deserialize` through the type's `Leaf` impl.
macro_rules! deserialize_via_leaf {
    ($($ty:ident $(<$lt:lifetime>)?),* $(,)?) => {$(
        impl<'a> Deserialize<'a> for $ty $(<$lt>)? {
            fn deserialize<D: Deserializer<'a>>(d: D) -> Result<Self, D::Error> {
                deserialize_leaf(d)
            }
        }
    )*};
}

/// Declares a struct read from a JSON object: listed keys fill the fields (the last duplicate wins),
/// other keys are skipped, and any non-object value reads as the all-absent default.
macro_rules! lenient_struct {
    (
        $(#[$meta:meta])*
        struct $name:ident {
            $( $(#[$fmeta:meta])* $field:ident : $ty:ty = $($key:literal)|+ ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Default)]
        pub(crate) struct $name<'a> {
            $( $(#[$fmeta])* pub(crate) $field: $ty, )*
            _borrows: PhantomData<&'a str>,
        }

        impl<'a> Leaf<'a> for $name<'a> {
            fn from_map<A: MapAccess<'a>>(mut map: A) -> Result<Self, A::Error> {
                let mut out = Self::default();
                while let Some(key) = map.next_key::<Key<'a>>()? {
                    match key.0.as_ref() {
                        $( $($key)|+ => out.$field = map.next_value()?, )*
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(out)
            }
        }

        deserialize_via_leaf!($name<'a>);
    };
}

/// An object key, borrowed when it has no escapes.
pub(crate) struct Key<'a>(pub(crate) Cow<'a, str>);

impl<'a> Deserialize<'a> for Key<'a> {
    fn deserialize<D: Deserializer<'a>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'a> Visitor<'a> for KeyVisitor {
            type Value = Key<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'a str) -> Result<Key<'a>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'a>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'a>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// A JSON string; any other value is absent.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Str<'a>(pub(crate) Option<Cow<'a, str>>);

impl<'a> Str<'a> {
    pub(crate) fn get(&self) -> Option<&str> {
        self.0.as_deref()
    }

    /// The string when it is not empty.
    pub(crate) fn non_empty(&self) -> Option<&str> {
        self.get().filter(|s| !s.is_empty())
    }
}

impl<'a> Leaf<'a> for Str<'a> {
    fn from_str(s: Cow<'a, str>) -> Self {
        Str(Some(s))
    }
}

/// Relay's `LenientString`: a string, or a number or boolean turned into one.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct LenientStr<'a>(pub(crate) Option<Cow<'a, str>>);

impl<'a> LenientStr<'a> {
    pub(crate) fn get(&self) -> Option<&str> {
        self.0.as_deref()
    }

    pub(crate) fn non_empty(&self) -> Option<&str> {
        self.get().filter(|s| !s.is_empty())
    }
}

impl<'a> Leaf<'a> for LenientStr<'a> {
    fn from_str(s: Cow<'a, str>) -> Self {
        LenientStr(Some(s))
    }
    fn from_i64(v: i64) -> Self {
        LenientStr(Some(Cow::Owned(v.to_string())))
    }
    fn from_u64(v: u64) -> Self {
        LenientStr(Some(Cow::Owned(v.to_string())))
    }
    fn from_f64(v: f64) -> Self {
        LenientStr(v.is_finite().then(|| Cow::Owned(v.to_string())))
    }
    fn from_bool(v: bool) -> Self {
        LenientStr(Some(Cow::Borrowed(if v { "true" } else { "false" })))
    }
}

/// A JSON boolean; any other value is absent.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub(crate) struct Bool(pub(crate) Option<bool>);

impl Leaf<'_> for Bool {
    fn from_bool(v: bool) -> Self {
        Bool(Some(v))
    }
}

/// A JSON integer (or an integral float); any other value is absent.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub(crate) struct Int(pub(crate) Option<i64>);

impl Leaf<'_> for Int {
    fn from_i64(v: i64) -> Self {
        Int(Some(v))
    }
    fn from_u64(v: u64) -> Self {
        Int(i64::try_from(v).ok())
    }
    fn from_f64(v: f64) -> Self {
        #[expect(
            clippy::cast_possible_truncation,
            reason = "only integral values within i64 range reach the cast"
        )]
        let int = (v.fract() == 0.0 && v.abs() < 9.0e15).then_some(v as i64);
        Int(int)
    }
}

/// Whether a key holds anything but `null`.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub(crate) struct Present(pub(crate) bool);

impl<'a> Leaf<'a> for Present {
    fn from_str(_: Cow<'a, str>) -> Self {
        Present(true)
    }
    fn from_i64(_: i64) -> Self {
        Present(true)
    }
    fn from_u64(_: u64) -> Self {
        Present(true)
    }
    fn from_f64(_: f64) -> Self {
        Present(true)
    }
    fn from_bool(_: bool) -> Self {
        Present(true)
    }
    fn from_seq<A: SeqAccess<'a>>(mut seq: A) -> Result<Self, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Present(true))
    }
    fn from_map<A: MapAccess<'a>>(mut map: A) -> Result<Self, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Present(true))
    }
}

/// A JSON array of lenient items; any other value is an empty list.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct List<T>(pub(crate) Vec<T>);

impl<T> Default for List<T> {
    fn default() -> Self {
        List(Vec::new())
    }
}

impl<'a, T: Deserialize<'a>> Leaf<'a> for List<T> {
    fn from_seq<A: SeqAccess<'a>>(mut seq: A) -> Result<Self, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(List(items))
    }
}

impl<'a, T: Deserialize<'a>> Deserialize<'a> for List<T> {
    fn deserialize<D: Deserializer<'a>>(d: D) -> Result<Self, D::Error> {
        deserialize_leaf(d)
    }
}

/// Sentry's `Values<T>`: `{"values": [...]}` or a bare list.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Values<T>(pub(crate) Vec<T>);

impl<T> Default for Values<T> {
    fn default() -> Self {
        Values(Vec::new())
    }
}

impl<'a, T: Deserialize<'a>> Leaf<'a> for Values<T> {
    fn from_seq<A: SeqAccess<'a>>(seq: A) -> Result<Self, A::Error> {
        List::from_seq(seq).map(|list| Values(list.0))
    }
    fn from_map<A: MapAccess<'a>>(mut map: A) -> Result<Self, A::Error> {
        let mut values = Vec::new();
        while let Some(key) = map.next_key::<Key<'a>>()? {
            if key.0 == "values" {
                values = map.next_value::<List<T>>()?.0;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(Values(values))
    }
}

impl<'a, T: Deserialize<'a>> Deserialize<'a> for Values<T> {
    fn deserialize<D: Deserializer<'a>>(d: D) -> Result<Self, D::Error> {
        deserialize_leaf(d)
    }
}

/// A JSON object with arbitrary keys, in payload order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Map<'a, V>(pub(crate) Vec<(Cow<'a, str>, V)>);

impl<V> Default for Map<'_, V> {
    fn default() -> Self {
        Map(Vec::new())
    }
}

impl<'a, V: Deserialize<'a>> Leaf<'a> for Map<'a, V> {
    fn from_map<A: MapAccess<'a>>(mut map: A) -> Result<Self, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Key<'a>>()? {
            entries.push((key.0, map.next_value()?));
        }
        Ok(Map(entries))
    }
}

impl<'a, V: Deserialize<'a>> Deserialize<'a> for Map<'a, V> {
    fn deserialize<D: Deserializer<'a>>(d: D) -> Result<Self, D::Error> {
        deserialize_leaf(d)
    }
}

/// `tags` as `{"k": "v"}` or `[["k", "v"], …]`. Values may be numbers or booleans (stringified);
/// entries without a string key or with a `null` value are skipped.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Tags<'a>(pub(crate) Vec<(Cow<'a, str>, Cow<'a, str>)>);

impl<'a> Leaf<'a> for Tags<'a> {
    fn from_map<A: MapAccess<'a>>(mut map: A) -> Result<Self, A::Error> {
        let mut tags = Vec::new();
        while let Some(key) = map.next_key::<Key<'a>>()? {
            if let LenientStr(Some(value)) = map.next_value()? {
                tags.push((key.0, value));
            }
        }
        Ok(Tags(tags))
    }
    fn from_seq<A: SeqAccess<'a>>(mut seq: A) -> Result<Self, A::Error> {
        let mut tags = Vec::new();
        while let Some(pair) = seq.next_element::<TagPair<'a>>()? {
            if let Some(pair) = pair.0 {
                tags.push(pair);
            }
        }
        Ok(Tags(tags))
    }
}

#[derive(Default)]
struct TagPair<'a>(Option<(Cow<'a, str>, Cow<'a, str>)>);

impl<'a> Leaf<'a> for TagPair<'a> {
    fn from_seq<A: SeqAccess<'a>>(mut seq: A) -> Result<Self, A::Error> {
        let key = seq.next_element::<Str<'a>>()?.and_then(|k| k.0);
        let value = match key {
            Some(_) => seq.next_element::<LenientStr<'a>>()?.and_then(|v| v.0),
            None => None,
        };
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(TagPair(key.zip(value)))
    }
}

deserialize_via_leaf!(Str<'a>, LenientStr<'a>, Bool, Int, Present, Tags<'a>, TagPair<'a>);

/// `timestamp`: RFC 3339 (a naive date-time is UTC) or seconds since the epoch, as epoch ms.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub(crate) struct Timestamp(pub(crate) Option<i64>);

impl<'a> Leaf<'a> for Timestamp {
    fn from_str(s: Cow<'a, str>) -> Self {
        Timestamp(super::timestamp::parse_str(&s))
    }
    fn from_i64(v: i64) -> Self {
        Timestamp(v.checked_mul(1000))
    }
    fn from_u64(v: u64) -> Self {
        Timestamp(i64::try_from(v).ok().and_then(|v| v.checked_mul(1000)))
    }
    fn from_f64(v: f64) -> Self {
        Timestamp(super::timestamp::from_secs_f64(v))
    }
}

/// `level`: a name (case-insensitive, with Relay's aliases) or a Python logging level number.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub(crate) struct LevelValue(pub(crate) Option<Level>);

impl<'a> Leaf<'a> for LevelValue {
    fn from_str(s: Cow<'a, str>) -> Self {
        LevelValue(Level::from_wire_name(&s))
    }
    fn from_i64(v: i64) -> Self {
        LevelValue(Level::from_python_level(v))
    }
    fn from_u64(v: u64) -> Self {
        LevelValue(i64::try_from(v).ok().and_then(Level::from_python_level))
    }
    fn from_f64(v: f64) -> Self {
        #[expect(
            clippy::cast_possible_truncation,
            reason = "only small integral values reach the cast"
        )]
        let level = (v.fract() == 0.0 && v.abs() < 1000.0).then(|| Level::from_python_level(v as i64));
        LevelValue(level.flatten())
    }
}

deserialize_via_leaf!(Timestamp, LevelValue);

/// One formatting parameter of a log entry, rendered as text (`None` when it is not a scalar).
pub(crate) type Param<'a> = LenientStr<'a>;

/// `logentry.params`: positional (`[…]`) or named (`{…}`).
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) enum Params<'a> {
    #[default]
    None,
    Positional(Vec<Param<'a>>),
    Named(Vec<(Cow<'a, str>, Param<'a>)>),
}

impl<'a> Leaf<'a> for Params<'a> {
    fn from_seq<A: SeqAccess<'a>>(seq: A) -> Result<Self, A::Error> {
        List::from_seq(seq).map(|list| Params::Positional(list.0))
    }
    fn from_map<A: MapAccess<'a>>(map: A) -> Result<Self, A::Error> {
        Map::from_map(map).map(|map| Params::Named(map.0))
    }
}

/// `logentry` (and the legacy `message` object): `{message, formatted, params}`. A bare string is
/// the formatted message, as Relay reads it.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct LogEntry<'a> {
    pub(crate) message: LenientStr<'a>,
    pub(crate) formatted: LenientStr<'a>,
    pub(crate) params: Params<'a>,
    /// Whether the payload had this key with a non-null value at all.
    pub(crate) present: bool,
}

impl<'a> Leaf<'a> for LogEntry<'a> {
    fn from_str(s: Cow<'a, str>) -> Self {
        LogEntry {
            formatted: LenientStr(Some(s)),
            present: true,
            ..LogEntry::default()
        }
    }
    fn from_map<A: MapAccess<'a>>(mut map: A) -> Result<Self, A::Error> {
        let mut out = LogEntry {
            present: true,
            ..LogEntry::default()
        };
        while let Some(key) = map.next_key::<Key<'a>>()? {
            match key.0.as_ref() {
                "message" => out.message = map.next_value()?,
                "formatted" => out.formatted = map.next_value()?,
                "params" => out.params = map.next_value()?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(out)
    }
}

deserialize_via_leaf!(Params<'a>, LogEntry<'a>);

lenient_struct! {
    /// The top level of an event payload.
    struct Event {
        event_id: Str<'a> = "event_id",
        ty: Str<'a> = "type",
        timestamp: Timestamp = "timestamp",
        level: LevelValue = "level",
        platform: Str<'a> = "platform",
        logger: Str<'a> = "logger",
        environment: Str<'a> = "environment",
        release: LenientStr<'a> = "release",
        dist: LenientStr<'a> = "dist",
        server_name: Str<'a> = "server_name",
        transaction: Str<'a> = "transaction",
        culprit: Str<'a> = "culprit",
        message: LogEntry<'a> = "message",
        logentry: LogEntry<'a> = "logentry" | "sentry.interfaces.Message",
        fingerprint: List<LenientStr<'a>> = "fingerprint",
        tags: Tags<'a> = "tags",
        user: User<'a> = "user" | "sentry.interfaces.User",
        contexts: Map<'a, Context<'a>> = "contexts",
        request: Request<'a> = "request" | "sentry.interfaces.Http",
        exception: Values<Exception<'a>> = "exception" | "sentry.interfaces.Exception",
        stacktrace: Stacktrace<'a> = "stacktrace" | "sentry.interfaces.Stacktrace",
        threads: Values<Thread<'a>> = "threads",
        sdk: Sdk<'a> = "sdk",
    }
}

lenient_struct! {
    struct User {
        id: LenientStr<'a> = "id",
        email: Str<'a> = "email",
        username: LenientStr<'a> = "username",
        ip_address: Str<'a> = "ip_address",
    }
}

lenient_struct! {
    /// One entry of `contexts`; which fields matter depends on its `type` (or key).
    struct Context {
        ty: Str<'a> = "type",
        name: Str<'a> = "name",
        version: LenientStr<'a> = "version",
        browser: Str<'a> = "browser",
        os: Str<'a> = "os",
        runtime: Str<'a> = "runtime",
        raw_description: Str<'a> = "raw_description",
    }
}

lenient_struct! {
    struct Request {
        url: Str<'a> = "url",
    }
}

lenient_struct! {
    struct Sdk {
        name: Str<'a> = "name",
        version: Str<'a> = "version",
    }
}

lenient_struct! {
    struct Exception {
        ty: Str<'a> = "type",
        value: LenientStr<'a> = "value",
        module: Str<'a> = "module",
        stacktrace: Stacktrace<'a> = "stacktrace",
        mechanism: Mechanism<'a> = "mechanism",
    }
}

lenient_struct! {
    struct Mechanism {
        ty: Str<'a> = "type",
        handled: Bool = "handled",
        synthetic: Bool = "synthetic",
        exception_id: Int = "exception_id",
        parent_id: Int = "parent_id",
        is_exception_group: Bool = "is_exception_group",
        source: Str<'a> = "source",
    }
}

lenient_struct! {
    struct Stacktrace {
        frames: List<Frame<'a>> = "frames",
    }
}

lenient_struct! {
    struct Frame {
        filename: Str<'a> = "filename",
        abs_path: Str<'a> = "abs_path",
        function: Str<'a> = "function",
        raw_function: Str<'a> = "raw_function",
        module: Str<'a> = "module",
        package: Str<'a> = "package",
        platform: Str<'a> = "platform",
        context_line: Str<'a> = "context_line",
        lineno: Int = "lineno",
        colno: Int = "colno",
        in_app: Bool = "in_app",
        data: FrameData<'a> = "data",
    }
}

lenient_struct! {
    struct FrameData {
        sourcemap: Present = "sourcemap",
    }
}

lenient_struct! {
    struct Thread {
        stacktrace: Stacktrace<'a> = "stacktrace",
        crashed: Bool = "crashed",
        current: Bool = "current",
    }
}

/// Just `event_id`, for the cheap ingest-time check; everything else is skipped.
#[derive(Debug, Default)]
pub(crate) struct EventIdOnly<'a>(pub(crate) Str<'a>);

impl<'a> Leaf<'a> for EventIdOnly<'a> {
    fn from_map<A: MapAccess<'a>>(mut map: A) -> Result<Self, A::Error> {
        let mut id = Str::default();
        while let Some(key) = map.next_key::<Key<'a>>()? {
            if key.0 == "event_id" {
                id = map.next_value()?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(EventIdOnly(id))
    }
}

deserialize_via_leaf!(EventIdOnly<'a>);

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Event<'_> {
        serde_json::from_str(json).expect("valid JSON")
    }

    #[test]
    fn unescaped_strings_are_borrowed_from_the_payload() {
        let event = parse(r#"{"platform":"python","transaction":"a\"b"}"#);
        assert!(matches!(event.platform.0, Some(Cow::Borrowed("python"))));
        assert!(matches!(event.transaction.0, Some(Cow::Owned(ref s)) if s == "a\"b"));
    }

    #[test]
    fn fields_of_the_wrong_type_read_as_absent() {
        let event = parse(
            r#"{"platform":7,"transaction":{"a":[1,2]},"exception":"boom","tags":true,
                "user":[1],"fingerprint":{"x":1},"level":[],"timestamp":{},"release":{"v":1}}"#,
        );
        assert_eq!(event.platform.get(), None);
        assert_eq!(event.transaction.get(), None);
        assert!(event.exception.0.is_empty());
        assert!(event.tags.0.is_empty());
        assert_eq!(event.user.id.get(), None);
        assert!(event.fingerprint.0.is_empty());
        assert_eq!(event.level.0, None);
        assert_eq!(event.timestamp.0, None);
        assert_eq!(event.release.get(), None);
    }

    #[test]
    fn lenient_strings_stringify_numbers_and_booleans() {
        let event = parse(r#"{"release":42,"dist":1.5,"user":{"id":7,"username":true}}"#);
        assert_eq!(event.release.get(), Some("42"));
        assert_eq!(event.dist.get(), Some("1.5"));
        assert_eq!(event.user.id.get(), Some("7"));
        assert_eq!(event.user.username.get(), Some("true"));
    }

    #[test]
    fn tags_accept_objects_and_pair_lists() {
        let event = parse(r#"{"tags":{"a":"1","b":2,"c":null,"d":false}}"#);
        let tags: Vec<(&str, &str)> = event.tags.0.iter().map(|(k, v)| (&**k, &**v)).collect();
        assert_eq!(tags, [("a", "1"), ("b", "2"), ("d", "false")]);

        let event = parse(r#"{"tags":[["a","1"],["b",2,"extra"],[3,"x"],"junk",["c"],["d",null]]}"#);
        let tags: Vec<(&str, &str)> = event.tags.0.iter().map(|(k, v)| (&**k, &**v)).collect();
        assert_eq!(tags, [("a", "1"), ("b", "2")]);
    }

    #[test]
    fn exceptions_accept_values_objects_and_bare_lists() {
        let a = parse(r#"{"exception":{"values":[{"type":"A"}]}}"#);
        let b = parse(r#"{"exception":[{"type":"A"}]}"#);
        assert_eq!(a.exception.0.len(), 1);
        assert_eq!(b.exception.0.len(), 1);
        assert_eq!(b.exception.0[0].ty.get(), Some("A"));
    }

    #[test]
    fn duplicate_keys_keep_the_last_value() {
        let event = parse(r#"{"platform":"a","platform":"b"}"#);
        assert_eq!(event.platform.get(), Some("b"));
    }

    #[test]
    fn message_reads_strings_and_objects() {
        let event = parse(r#"{"message":"hello"}"#);
        assert_eq!(event.message.formatted.get(), Some("hello"));
        let event = parse(r#"{"message":{"message":"hi %s","params":["x"]}}"#);
        assert_eq!(event.message.message.get(), Some("hi %s"));
        assert!(matches!(event.message.params, Params::Positional(ref p) if p.len() == 1));
    }

    #[test]
    fn frames_keep_the_fields_grouping_needs() {
        let event = parse(
            r#"{"exception":{"values":[{"type":"E","stacktrace":{"frames":[
                {"function":"f","lineno":3,"in_app":true,"data":{"sourcemap":"x"},"vars":{"a":1}},
                {"function":"g","lineno":"x","in_app":"yes"}]}}]}}"#,
        );
        let frames = &event.exception.0[0].stacktrace.frames.0;
        assert_eq!(frames[0].lineno.0, Some(3));
        assert_eq!(frames[0].in_app.0, Some(true));
        assert!(frames[0].data.sourcemap.0);
        assert_eq!(frames[1].lineno.0, None);
        assert_eq!(frames[1].in_app.0, None);
    }

    #[test]
    fn malformed_json_still_fails() {
        assert!(serde_json::from_str::<Event<'_>>(r#"{"platform":"x""#).is_err());
        assert!(serde_json::from_str::<Event<'_>>(r#"{"a":[1,}"#).is_err());
    }
}
