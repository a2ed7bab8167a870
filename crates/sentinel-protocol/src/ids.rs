//! Identifiers that arrive on the wire, parsed once at the boundary.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A Sentry event id: a UUID sent as 32 hex digits (preferred) or in the dashed 36-character form.
/// Displayed and stored as 32 lower-case hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventId([u8; 16]);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid event id {value:?}: expected a UUID as 32 hex digits or in the dashed 8-4-4-4-12 form")]
pub struct EventIdError {
    value: String,
}

impl EventId {
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// True for the all-zero id, which SDKs use as "no id" and must not be stored as an event id.
    pub fn is_nil(&self) -> bool {
        self.0 == [0; 16]
    }
}

impl FromStr for EventId {
    type Err = EventIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || EventIdError {
            value: s.chars().take(64).collect(),
        };
        let hex: String = match s.len() {
            32 => s.to_owned(),
            36 => {
                let b = s.as_bytes();
                if b[8] != b'-' || b[13] != b'-' || b[18] != b'-' || b[23] != b'-' {
                    return Err(err());
                }
                s.chars().filter(|c| *c != '-').collect()
            }
            _ => return Err(err()),
        };
        let mut out = [0u8; 16];
        hex::decode_to_slice(&hex, &mut out).map_err(|_| err())?;
        Ok(Self(out))
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventId({self})")
    }
}

impl Serialize for EventId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for EventId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A W3C trace id (Sentry's and OpenTelemetry's): 16 bytes, written as 32 hex digits. The all-zero
/// id is invalid in both, so it is never made.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TraceId([u8; 16]);

impl TraceId {
    /// `None` for the all-zero (invalid) id.
    pub fn from_bytes(bytes: [u8; 16]) -> Option<Self> {
        (bytes != [0; 16]).then_some(Self(bytes))
    }

    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// 32 hex digits (either case), not all zeros; anything else is no trace id.
    pub fn parse(hex: &str) -> Option<Self> {
        let mut out = [0u8; 16];
        if hex.len() != 32 {
            return None;
        }
        hex::decode_to_slice(hex, &mut out).ok()?;
        Self::from_bytes(out)
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_id_accepts_plain_and_dashed_forms() {
        let plain: EventId = "9ec79c33ec9942ab8353589fcb2e04dc".parse().unwrap();
        let dashed: EventId = "9ec79c33-ec99-42ab-8353-589fcb2e04dc".parse().unwrap();
        assert_eq!(plain, dashed);
        assert_eq!(dashed.to_string(), "9ec79c33ec9942ab8353589fcb2e04dc");
    }

    #[test]
    fn event_id_rejects_wrong_length_and_non_hex() {
        assert!("9ec79c33ec9942ab".parse::<EventId>().is_err());
        assert!("zzc79c33ec9942ab8353589fcb2e04dc".parse::<EventId>().is_err());
        assert!("9ec79c33_ec99_42ab_8353_589fcb2e04dc".parse::<EventId>().is_err());
    }

    #[test]
    fn event_id_upper_case_is_normalized_to_lower_case() {
        let id: EventId = "9EC79C33EC9942AB8353589FCB2E04DC".parse().unwrap();
        assert_eq!(id.to_string(), "9ec79c33ec9942ab8353589fcb2e04dc");
    }

    #[test]
    fn a_trace_id_is_32_hex_digits_and_never_all_zeros() {
        let id = TraceId::parse("4C79F60C11214EB38604F4AE0781BFB2").unwrap();
        assert_eq!(id.to_string(), "4c79f60c11214eb38604f4ae0781bfb2");
        assert_eq!(TraceId::from_bytes(*id.as_bytes()), Some(id));
        assert!(TraceId::parse("00000000000000000000000000000000").is_none());
        assert!(TraceId::parse("4c79f60c").is_none());
        assert!(TraceId::parse("4c79f60c11214eb38604f4ae0781bfbz").is_none());
    }
}
