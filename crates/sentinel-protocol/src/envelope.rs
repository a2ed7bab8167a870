//! Sentry envelope framing.
//!
//! An envelope is a header line (a compact JSON object) followed by items; each item is a header
//! line followed by a payload. With a `length` the payload is exactly that many bytes and must be
//! followed by `\n` or the end of the body; without one it runs to the next `\n`. `\r` is an
//! ordinary byte. The grammar is in getsentry/sentry-docs
//! `develop-docs/sdk/foundations/transport/envelopes.mdx`.
//!
//! Where the document is silent, this follows Relay, the parser Sentry itself runs, so that whatever
//! an SDK gets away with against sentry.io also works here: whitespace (including blank lines)
//! before a header line is skipped, but an envelope may not end in whitespace after its final
//! newline. Headers are read into small structs, never into a JSON tree, and a key that appears
//! twice in one header line is rejected, because two `sent_at` or two `length` values leave the
//! meaning of the envelope open to whoever reads it.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};

use crate::ids::EventId;

/// A parsed envelope borrowing its payloads from the decoded request body.
#[derive(Debug)]
pub struct Envelope<'a> {
    pub header: EnvelopeHeader,
    pub items: Vec<Item<'a>>,
}

/// The envelope header line. Unknown attributes are ignored.
#[derive(Debug, Default, Clone)]
pub struct EnvelopeHeader {
    pub event_id: Option<EventId>,
    pub dsn: Option<String>,
    /// `sent_at` exactly as sent (RFC 3339); parsed by the event normalizer for clock-drift correction.
    pub sent_at: Option<String>,
}

#[derive(Debug)]
pub struct Item<'a> {
    pub header: ItemHeader,
    pub payload: &'a [u8],
}

#[derive(Debug, Clone)]
pub struct ItemHeader {
    pub ty: ItemType,
    pub length: Option<usize>,
    pub content_type: Option<String>,
    pub filename: Option<String>,
    pub attachment_type: Option<String>,
    pub item_count: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemType {
    Event,
    Transaction,
    Span,
    CheckIn,
    Session,
    Sessions,
    Attachment,
    ClientReport,
    /// Any other type (log, profile, replay_event, …): accepted and dropped by Sentinel.
    Other(String),
}

impl ItemType {
    /// Maps the `type` header of an item; names Sentinel does not handle are kept as `Other`.
    pub fn from_name(name: &str) -> Self {
        match name {
            "event" => ItemType::Event,
            "transaction" => ItemType::Transaction,
            "span" => ItemType::Span,
            "check_in" => ItemType::CheckIn,
            "session" => ItemType::Session,
            "sessions" => ItemType::Sessions,
            "attachment" => ItemType::Attachment,
            "client_report" => ItemType::ClientReport,
            other => ItemType::Other(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            ItemType::Event => "event",
            ItemType::Transaction => "transaction",
            ItemType::Span => "span",
            ItemType::CheckIn => "check_in",
            ItemType::Session => "session",
            ItemType::Sessions => "sessions",
            ItemType::Attachment => "attachment",
            ItemType::ClientReport => "client_report",
            ItemType::Other(s) => s,
        }
    }
}

/// Why a body is not a well-formed envelope. Items are numbered from 1 in the order they appear.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnvelopeError {
    #[error("envelope is empty")]
    Empty,
    #[error("envelope has no header line: the body is only whitespace")]
    MissingHeader,
    #[error("envelope header is not valid JSON: {detail}")]
    HeaderNotJson { detail: String },
    /// Valid JSON, but not a usable header: not an object, a duplicate key, a value of the wrong type.
    #[error("envelope header is invalid: {detail}")]
    HeaderInvalid { detail: String },
    #[error(
        "envelope header event_id is not a valid UUID: {value:?} \
         (expected 32 hex digits or the dashed 8-4-4-4-12 form)"
    )]
    InvalidEventId { value: String },
    #[error("item {item} header is not valid JSON: {detail}")]
    ItemHeaderNotJson { item: usize, detail: String },
    #[error("item {item} header is invalid: {detail}")]
    ItemHeaderInvalid { item: usize, detail: String },
    #[error("item {item} header has no `type`")]
    MissingItemType { item: usize },
    #[error("item {item} declares length {length} but only {remaining} bytes remain")]
    LengthExceedsBody {
        item: usize,
        length: u64,
        remaining: usize,
    },
    #[error("item {item} payload (length {length}) is followed by '{}' instead of a newline", .found.escape_ascii())]
    MissingNewlineAfterPayload { item: usize, length: usize, found: u8 },
    #[error("envelope has whitespace after the final newline (after {})", Position(*.items))]
    TrailingWhitespace {
        /// How many items were parsed before the whitespace.
        items: usize,
    },
}

/// "the envelope header" or "item N", for messages about what came last.
struct Position(usize);

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            0 => f.write_str("the envelope header"),
            n => write!(f, "item {n}"),
        }
    }
}

/// Parses an envelope, borrowing each payload from `body`.
pub fn parse(body: &[u8]) -> Result<Envelope<'_>, EnvelopeError> {
    if body.is_empty() {
        return Err(EnvelopeError::Empty);
    }
    let rest = skip_whitespace(body);
    if rest.is_empty() {
        return Err(EnvelopeError::MissingHeader);
    }
    let (line, mut rest) = split_line(rest);
    let header = parse_envelope_header(line)?;

    let mut items = Vec::new();
    while !rest.is_empty() {
        let number = items.len() + 1;
        let start = skip_whitespace(rest);
        if start.is_empty() {
            return Err(EnvelopeError::TrailingWhitespace { items: items.len() });
        }
        let (line, after_header) = split_line(start);
        let header = parse_item_header(line, number, after_header.len())?;
        let (payload, after_payload) = match header.length {
            Some(length) => split_sized_payload(after_header, length, number)?,
            None => split_line(after_header),
        };
        items.push(Item { header, payload });
        rest = after_payload;
    }

    Ok(Envelope { header, items })
}

/// JSON whitespace, which is what Relay's streaming JSON reader skips before a header.
fn skip_whitespace(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        .unwrap_or(bytes.len());
    bytes.get(start..).unwrap_or_default()
}

/// Splits at the first `\n`, which belongs to neither side. Without one, the line is everything.
fn split_line(bytes: &[u8]) -> (&[u8], &[u8]) {
    let mut parts = bytes.splitn(2, |b| *b == b'\n');
    let line = parts.next().unwrap_or_default();
    (line, parts.next().unwrap_or_default())
}

fn split_sized_payload(bytes: &[u8], length: usize, item: usize) -> Result<(&[u8], &[u8]), EnvelopeError> {
    let Some((payload, rest)) = bytes.split_at_checked(length) else {
        return Err(EnvelopeError::LengthExceedsBody {
            item,
            length: length as u64,
            remaining: bytes.len(),
        });
    };
    match rest.split_first() {
        None => Ok((payload, rest)),
        Some((b'\n', rest)) => Ok((payload, rest)),
        Some((&found, _)) => Err(EnvelopeError::MissingNewlineAfterPayload { item, length, found }),
    }
}

fn parse_envelope_header(line: &[u8]) -> Result<EnvelopeHeader, EnvelopeError> {
    let raw: RawEnvelopeHeader<'_> = serde_json::from_slice(line).map_err(|error| {
        let detail = error.to_string();
        if error.is_data() {
            EnvelopeError::HeaderInvalid { detail }
        } else {
            EnvelopeError::HeaderNotJson { detail }
        }
    })?;
    let event_id = match raw.event_id {
        None => None,
        Some(value) => Some(value.0.parse().map_err(|_| EnvelopeError::InvalidEventId {
            value: value.0.chars().take(64).collect(),
        })?),
    };
    Ok(EnvelopeHeader {
        event_id,
        dsn: raw.dsn,
        sent_at: raw.sent_at,
    })
}

/// `remaining` is how many bytes follow the header line, for the error about an impossible length.
fn parse_item_header(line: &[u8], item: usize, remaining: usize) -> Result<ItemHeader, EnvelopeError> {
    let raw: RawItemHeader<'_> = serde_json::from_slice(line).map_err(|error| {
        let detail = error.to_string();
        if error.is_data() {
            EnvelopeError::ItemHeaderInvalid { item, detail }
        } else {
            EnvelopeError::ItemHeaderNotJson { item, detail }
        }
    })?;
    let ty = raw.ty.ok_or(EnvelopeError::MissingItemType { item })?;
    let length = match raw.length {
        None => None,
        // Only reachable on a 32-bit target; the body could not hold that many bytes anyway.
        Some(length) => Some(
            usize::try_from(length).map_err(|_| EnvelopeError::LengthExceedsBody {
                item,
                length,
                remaining,
            })?,
        ),
    };
    Ok(ItemHeader {
        ty: ItemType::from_name(&ty.0),
        length,
        content_type: raw.content_type,
        filename: raw.filename,
        attachment_type: raw.attachment_type,
        item_count: raw.item_count,
    })
}

/// A string that borrows from the header line unless it contains escapes.
struct Str<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Str<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StrVisitor;

        impl<'de> Visitor<'de> for StrVisitor {
            type Value = Str<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Borrowed(v)))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v)))
            }
        }

        deserializer.deserialize_str(StrVisitor)
    }
}

/// Remembers the keys of one header object so a repeated key is an error rather than a silent
/// overwrite. Known keys are checked through their `Option` slot; only unknown keys are hashed.
#[derive(Default)]
struct SeenKeys<'a>(Option<HashSet<Cow<'a, str>>>);

impl<'a> SeenKeys<'a> {
    fn unknown<E: de::Error>(&mut self, key: Cow<'a, str>) -> Result<(), E> {
        let seen = self.0.get_or_insert_with(HashSet::new);
        if seen.contains(&key) {
            return Err(duplicate(&key));
        }
        seen.insert(key);
        Ok(())
    }
}

fn duplicate<E: de::Error>(key: &str) -> E {
    E::custom(format_args!("duplicate key {key:?}"))
}

/// Stores a known key's value, failing if the key was already present (even as `null`).
fn set_once<'de, A, T>(slot: &mut Option<Option<T>>, key: &str, map: &mut A) -> Result<(), A::Error>
where
    A: MapAccess<'de>,
    T: Deserialize<'de>,
{
    if slot.is_some() {
        return Err(duplicate(key));
    }
    *slot = Some(map.next_value()?);
    Ok(())
}

struct RawEnvelopeHeader<'a> {
    event_id: Option<Str<'a>>,
    dsn: Option<String>,
    sent_at: Option<String>,
}

impl<'de> Deserialize<'de> for RawEnvelopeHeader<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct HeaderVisitor;

        impl<'de> Visitor<'de> for HeaderVisitor {
            type Value = RawEnvelopeHeader<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an envelope header object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut event_id = None;
                let mut dsn = None;
                let mut sent_at = None;
                let mut seen = SeenKeys::default();
                while let Some(Str(key)) = map.next_key()? {
                    match &*key {
                        "event_id" => set_once(&mut event_id, &key, &mut map)?,
                        "dsn" => set_once(&mut dsn, &key, &mut map)?,
                        "sent_at" => set_once(&mut sent_at, &key, &mut map)?,
                        _ => {
                            seen.unknown(key)?;
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(RawEnvelopeHeader {
                    event_id: event_id.flatten(),
                    dsn: dsn.flatten(),
                    sent_at: sent_at.flatten(),
                })
            }
        }

        deserializer.deserialize_map(HeaderVisitor)
    }
}

struct RawItemHeader<'a> {
    ty: Option<Str<'a>>,
    length: Option<u64>,
    content_type: Option<String>,
    filename: Option<String>,
    attachment_type: Option<String>,
    item_count: Option<u64>,
}

impl<'de> Deserialize<'de> for RawItemHeader<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct HeaderVisitor;

        impl<'de> Visitor<'de> for HeaderVisitor {
            type Value = RawItemHeader<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an item header object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut ty = None;
                let mut length = None;
                let mut content_type = None;
                let mut filename = None;
                let mut attachment_type = None;
                let mut item_count = None;
                let mut seen = SeenKeys::default();
                while let Some(Str(key)) = map.next_key()? {
                    match &*key {
                        "type" => set_once(&mut ty, &key, &mut map)?,
                        "length" => set_once(&mut length, &key, &mut map)?,
                        "content_type" => set_once(&mut content_type, &key, &mut map)?,
                        "filename" => set_once(&mut filename, &key, &mut map)?,
                        "attachment_type" => set_once(&mut attachment_type, &key, &mut map)?,
                        "item_count" => set_once(&mut item_count, &key, &mut map)?,
                        _ => {
                            seen.unknown(key)?;
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(RawItemHeader {
                    ty: ty.flatten(),
                    length: length.flatten(),
                    content_type: content_type.flatten(),
                    filename: filename.flatten(),
                    attachment_type: attachment_type.flatten(),
                    item_count: item_count.flatten(),
                })
            }
        }

        deserializer.deserialize_map(HeaderVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENT_ID: &str = "9ec79c33ec9942ab8353589fcb2e04dc";

    fn payloads<'a>(envelope: &Envelope<'a>) -> Vec<&'a [u8]> {
        envelope.items.iter().map(|item| item.payload).collect()
    }

    fn types(envelope: &Envelope<'_>) -> Vec<String> {
        envelope
            .items
            .iter()
            .map(|item| item.header.ty.as_str().to_owned())
            .collect()
    }

    fn error(body: &[u8]) -> String {
        parse(body).unwrap_err().to_string()
    }

    const TWO_ITEMS: &[u8] = b"{\"event_id\":\"9ec79c33ec9942ab8353589fcb2e04dc\",\"dsn\":\"https://e12d836b15bb49d7bbf99e64295d995b:@sentry.io/42\"}\n\
{\"type\":\"attachment\",\"length\":10,\"content_type\":\"text/plain\",\"filename\":\"hello.txt\"}\n\
\xef\xbb\xbfHello\r\n\n\
{\"type\":\"event\",\"length\":41,\"content_type\":\"application/json\",\"filename\":\"application.log\"}\n\
{\"message\":\"hello world\",\"level\":\"error\"}\n";

    #[test]
    fn spec_example_with_two_items_keeps_the_windows_newline_in_the_attachment() {
        let envelope = parse(TWO_ITEMS).unwrap();
        assert_eq!(envelope.header.event_id.unwrap().to_string(), EVENT_ID);
        assert_eq!(
            envelope.header.dsn.as_deref(),
            Some("https://e12d836b15bb49d7bbf99e64295d995b:@sentry.io/42")
        );
        assert_eq!(types(&envelope), ["attachment", "event"]);
        assert_eq!(
            payloads(&envelope),
            [
                &b"\xef\xbb\xbfHello\r\n"[..],
                &b"{\"message\":\"hello world\",\"level\":\"error\"}"[..]
            ]
        );
        let attachment = &envelope.items[0].header;
        assert_eq!(attachment.ty, ItemType::Attachment);
        assert_eq!(attachment.length, Some(10));
        assert_eq!(attachment.content_type.as_deref(), Some("text/plain"));
        assert_eq!(attachment.filename.as_deref(), Some("hello.txt"));
    }

    #[test]
    fn spec_example_with_two_items_parses_without_the_final_newline() {
        let body = TWO_ITEMS.strip_suffix(b"\n").unwrap();
        let envelope = parse(body).unwrap();
        assert_eq!(types(&envelope), ["attachment", "event"]);
        assert_eq!(
            envelope.items[1].payload,
            b"{\"message\":\"hello world\",\"level\":\"error\"}"
        );
    }

    #[test]
    fn empty_attachments_with_length_zero_are_two_items() {
        let body = b"{\"event_id\":\"9ec79c33ec9942ab8353589fcb2e04dc\"}\n\
{\"type\":\"attachment\",\"length\":0}\n\
\n\
{\"type\":\"attachment\",\"length\":0}\n\
\n";
        let envelope = parse(body).unwrap();
        assert_eq!(payloads(&envelope), [b"", b""]);
        assert_eq!(types(&envelope), ["attachment", "attachment"]);
    }

    #[test]
    fn empty_attachments_with_length_zero_parse_without_the_final_newline() {
        let body = b"{\"event_id\":\"9ec79c33ec9942ab8353589fcb2e04dc\"}\n\
{\"type\":\"attachment\",\"length\":0}\n\
\n\
{\"type\":\"attachment\",\"length\":0}\n";
        let envelope = parse(body).unwrap();
        assert_eq!(payloads(&envelope), [b"", b""]);
    }

    #[test]
    fn length_zero_item_header_at_the_end_of_the_body_has_an_empty_payload() {
        let envelope = parse(b"{}\n{\"type\":\"attachment\",\"length\":0}").unwrap();
        assert_eq!(payloads(&envelope), [b""]);
    }

    #[test]
    fn implicit_length_payload_runs_to_the_next_newline() {
        let body =
            b"{\"event_id\":\"9ec79c33ec9942ab8353589fcb2e04dc\"}\n{\"type\":\"attachment\"}\nhelloworld\n";
        let envelope = parse(body).unwrap();
        assert_eq!(payloads(&envelope), [b"helloworld"]);
        assert_eq!(envelope.items[0].header.length, None);
    }

    #[test]
    fn implicit_length_payload_may_end_at_the_end_of_the_body() {
        let body =
            b"{\"event_id\":\"9ec79c33ec9942ab8353589fcb2e04dc\"}\n{\"type\":\"attachment\"}\nhelloworld";
        let envelope = parse(body).unwrap();
        assert_eq!(payloads(&envelope), [b"helloworld"]);
    }

    #[test]
    fn empty_envelope_header_with_an_implicit_length_session() {
        let body = b"{}\n{\"type\":\"session\"}\n{\"started\": \"2020-02-07T14:16:00Z\",\"attrs\":{\"release\":\"sentry-test@1.0.0\"}}";
        let envelope = parse(body).unwrap();
        assert!(envelope.header.event_id.is_none());
        assert_eq!(envelope.items[0].header.ty, ItemType::Session);
        assert_eq!(
            envelope.items[0].payload,
            &b"{\"started\": \"2020-02-07T14:16:00Z\",\"attrs\":{\"release\":\"sentry-test@1.0.0\"}}"[..]
        );
    }

    #[test]
    fn implicit_length_items_follow_each_other_line_by_line() {
        let body = b"{}\n{\"type\":\"session\"}\n{\"a\":1}\n{\"type\":\"session\"}\n{\"b\":2}\n";
        let envelope = parse(body).unwrap();
        assert_eq!(payloads(&envelope), [&b"{\"a\":1}"[..], &b"{\"b\":2}"[..]]);
    }

    #[test]
    fn carriage_return_before_newline_stays_in_an_implicit_length_payload() {
        let envelope = parse(b"{}\n{\"type\":\"attachment\"}\nhello\r\n").unwrap();
        assert_eq!(payloads(&envelope), [b"hello\r"]);
    }

    #[test]
    fn carriage_return_after_a_header_line_is_tolerated() {
        let envelope = parse(b"{}\r\n{\"type\":\"attachment\"}\r\nhello").unwrap();
        assert_eq!(payloads(&envelope), [b"hello"]);
    }

    #[test]
    fn header_only_envelope_has_no_items() {
        let with_newline = parse(b"{\"event_id\":\"9ec79c33ec9942ab8353589fcb2e04dc\"}\n").unwrap();
        assert!(with_newline.items.is_empty());
        assert!(with_newline.header.event_id.is_some());
        let without_newline = parse(b"{}").unwrap();
        assert!(without_newline.items.is_empty());
    }

    #[test]
    fn event_id_may_be_plain_or_dashed() {
        let plain = parse(b"{\"event_id\":\"9ec79c33ec9942ab8353589fcb2e04dc\"}").unwrap();
        let dashed = parse(b"{\"event_id\":\"9ec79c33-ec99-42ab-8353-589fcb2e04dc\"}").unwrap();
        assert_eq!(plain.header.event_id, dashed.header.event_id);
        assert_eq!(dashed.header.event_id.unwrap().to_string(), EVENT_ID);
    }

    #[test]
    fn null_header_values_count_as_absent() {
        let envelope =
            parse(b"{\"event_id\":null,\"sent_at\":null}\n{\"type\":\"event\",\"length\":null}\n{}").unwrap();
        assert!(envelope.header.event_id.is_none());
        assert!(envelope.header.sent_at.is_none());
        assert_eq!(envelope.items[0].header.length, None);
    }

    #[test]
    fn unknown_item_types_are_kept_as_other() {
        let body = b"{}\n{\"type\":\"profile_chunk\",\"platform\":\"python\"}\n{}\n{\"type\":\"log\",\"item_count\":2}\n{}";
        let envelope = parse(body).unwrap();
        assert_eq!(
            envelope.items[0].header.ty,
            ItemType::Other("profile_chunk".to_owned())
        );
        assert_eq!(envelope.items[1].header.ty, ItemType::Other("log".to_owned()));
        assert_eq!(envelope.items[1].header.item_count, Some(2));
    }

    #[test]
    fn every_known_item_type_maps_to_its_variant_and_back() {
        for name in [
            "event",
            "transaction",
            "span",
            "check_in",
            "session",
            "sessions",
            "attachment",
            "client_report",
            "replay_event",
        ] {
            assert_eq!(ItemType::from_name(name).as_str(), name);
        }
        assert_eq!(ItemType::from_name("check_in"), ItemType::CheckIn);
    }

    #[test]
    fn unknown_header_attributes_are_ignored() {
        let body = b"{\"sdk\":{\"name\":\"sentry.python\",\"version\":\"2.68.0\"},\"trace\":{\"trace_id\":\"abc\"},\"sent_at\":\"2026-08-01T00:00:00.000Z\"}\n\
{\"type\":\"event\",\"length\":2,\"platform\":\"python\",\"attachment_type\":\"event.attachment\"}\n{}";
        let envelope = parse(body).unwrap();
        assert_eq!(
            envelope.header.sent_at.as_deref(),
            Some("2026-08-01T00:00:00.000Z")
        );
        assert_eq!(
            envelope.items[0].header.attachment_type.as_deref(),
            Some("event.attachment")
        );
    }

    #[test]
    fn header_strings_with_escapes_are_decoded() {
        let envelope = parse(b"{\"dsn\":\"https://k@h\\/1\"}\n{\"type\":\"ev\\u0065nt\"}\n{}").unwrap();
        assert_eq!(envelope.header.dsn.as_deref(), Some("https://k@h/1"));
        assert_eq!(envelope.items[0].header.ty, ItemType::Event);
    }

    #[test]
    fn length_prefixed_payload_may_contain_newlines() {
        let envelope = parse(b"{}\n{\"type\":\"event\",\"length\":5}\na\nb\nc\n").unwrap();
        assert_eq!(payloads(&envelope), [b"a\nb\nc"]);
    }

    #[test]
    fn blank_lines_between_items_are_skipped_like_relay_does() {
        let envelope = parse(b"{}\n\n{\"type\":\"event\"}\n{}\n\n\n{\"type\":\"event\"}\n{}").unwrap();
        assert_eq!(envelope.items.len(), 2);
    }

    #[test]
    fn empty_body_is_rejected() {
        assert_eq!(parse(b"").unwrap_err(), EnvelopeError::Empty);
        assert_eq!(error(b""), "envelope is empty");
    }

    #[test]
    fn whitespace_only_body_has_no_header() {
        assert_eq!(
            error(b" \n\n"),
            "envelope has no header line: the body is only whitespace"
        );
    }

    #[test]
    fn whitespace_after_the_final_newline_is_rejected() {
        assert_eq!(
            error(b"{}\n\n"),
            "envelope has whitespace after the final newline (after the envelope header)"
        );
        assert_eq!(
            error(b"{}\n{\"type\":\"event\",\"length\":2}\n{}\n \n"),
            "envelope has whitespace after the final newline (after item 1)"
        );
    }

    #[test]
    fn length_prefixed_payload_must_be_followed_by_newline() {
        assert_eq!(
            error(b"{}\n{\"type\":\"event\",\"length\":5}\nhellox"),
            "item 1 payload (length 5) is followed by 'x' instead of a newline"
        );
        assert_eq!(
            error(b"{}\n{\"type\":\"event\",\"length\":5}\nhello\r\n"),
            "item 1 payload (length 5) is followed by '\\r' instead of a newline"
        );
    }

    #[test]
    fn declared_length_longer_than_the_body_is_rejected() {
        assert_eq!(
            error(b"{}\n{\"type\":\"event\",\"length\":500}\n{\"message\":\"too short\"}"),
            "item 1 declares length 500 but only 23 bytes remain"
        );
        assert_eq!(
            error(b"{}\n{\"type\":\"event\",\"length\":2}\n{}\n{\"type\":\"attachment\",\"length\":1}"),
            "item 2 declares length 1 but only 0 bytes remain"
        );
    }

    #[test]
    fn envelope_header_that_is_not_json_is_rejected() {
        assert_eq!(
            error(b"{\"event_id\":\n{\"type\":\"event\"}\n{}"),
            "envelope header is not valid JSON: EOF while parsing a value at line 1 column 12"
        );
        assert_eq!(
            error(b"not json\n"),
            "envelope header is not valid JSON: expected ident at line 1 column 2"
        );
    }

    #[test]
    fn envelope_header_must_be_an_object() {
        assert_eq!(
            error(b"[1,2]\n"),
            "envelope header is invalid: invalid type: sequence, expected an envelope header object at line 1 column 0"
        );
    }

    #[test]
    fn a_header_may_not_continue_on_the_next_line() {
        assert_eq!(
            error(b"{\"sent_at\":\n\"2026-08-01T00:00:00Z\"}"),
            "envelope header is not valid JSON: EOF while parsing a value at line 1 column 11"
        );
    }

    #[test]
    fn duplicate_sent_at_in_the_envelope_header_is_rejected() {
        assert_eq!(
            error(b"{\"sent_at\":\"2026-08-01T00:00:00Z\",\"sent_at\":\"2026-08-01T00:00:01Z\"}\n"),
            "envelope header is invalid: duplicate key \"sent_at\" at line 1 column 43"
        );
    }

    #[test]
    fn duplicate_unknown_keys_are_rejected_too() {
        assert_eq!(
            error(b"{\"sdk\":{},\"sdk\":{}}"),
            "envelope header is invalid: duplicate key \"sdk\" at line 1 column 15"
        );
        assert_eq!(
            error(b"{}\n{\"type\":\"event\",\"x\":1,\"x\":2}\n{}"),
            "item 1 header is invalid: duplicate key \"x\" at line 1 column 25"
        );
    }

    #[test]
    fn duplicate_length_in_an_item_header_is_rejected() {
        assert_eq!(
            error(b"{}\n{\"type\":\"event\",\"length\":2,\"length\":3}\n{}"),
            "item 1 header is invalid: duplicate key \"length\" at line 1 column 35"
        );
    }

    #[test]
    fn invalid_event_id_names_the_field() {
        assert_eq!(
            error(b"{\"event_id\":\"not-a-uuid\"}\n"),
            "envelope header event_id is not a valid UUID: \"not-a-uuid\" \
             (expected 32 hex digits or the dashed 8-4-4-4-12 form)"
        );
    }

    #[test]
    fn event_id_of_the_wrong_type_is_rejected() {
        assert_eq!(
            error(b"{\"event_id\":42}\n"),
            "envelope header is invalid: invalid type: integer `42`, expected a string at line 1 column 14"
        );
    }

    #[test]
    fn item_header_that_is_not_json_names_the_item() {
        assert_eq!(
            error(b"{}\n{\"type\":\"event\",\"length\":2}\n{}\n{\"type\":\"event\",\n{}"),
            "item 2 header is not valid JSON: EOF while parsing a value at line 1 column 16"
        );
    }

    #[test]
    fn item_header_without_type_is_rejected() {
        assert_eq!(error(b"{}\n{\"length\":2}\n{}"), "item 1 header has no `type`");
        assert_eq!(error(b"{}\n{\"type\":null}\n{}"), "item 1 header has no `type`");
    }

    #[test]
    fn negative_length_is_rejected() {
        assert_eq!(
            error(b"{}\n{\"type\":\"event\",\"length\":-1}\n{}"),
            "item 1 header is invalid: invalid value: integer `-1`, expected u64 at line 1 column 27"
        );
    }

    #[test]
    fn huge_declared_length_does_not_overflow() {
        assert_eq!(
            error(b"{}\n{\"type\":\"event\",\"length\":18446744073709551615}\n{}"),
            "item 1 declares length 18446744073709551615 but only 2 bytes remain"
        );
    }

    #[test]
    fn item_header_line_ending_the_body_without_payload_fails_with_a_length() {
        assert_eq!(
            error(b"{}\n{\"type\":\"event\",\"length\":3}"),
            "item 1 declares length 3 but only 0 bytes remain"
        );
    }
}
