//! Sentry envelope framing (placeholder: being implemented; the public API below is the contract).

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

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnvelopeError {
    #[error("envelope is not implemented yet")]
    Unimplemented,
}

pub fn parse(_body: &[u8]) -> Result<Envelope<'_>, EnvelopeError> {
    Err(EnvelopeError::Unimplemented)
}
