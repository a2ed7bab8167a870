//! Properties of envelope framing: no input makes the parser panic, and every envelope written by
//! the rules of the spec reads back item for item.

use proptest::prelude::*;
use sentinel_protocol::envelope::{self, ItemType};

const TYPES: &[&str] = &[
    "event",
    "transaction",
    "span",
    "check_in",
    "session",
    "sessions",
    "attachment",
    "client_report",
    "log",
    "profile_chunk",
];

#[derive(Debug, Clone)]
struct GenItem {
    ty: &'static str,
    explicit_length: bool,
    payload: Vec<u8>,
}

fn item() -> impl Strategy<Value = GenItem> {
    (
        prop::sample::select(TYPES),
        any::<bool>(),
        prop::collection::vec(any::<u8>(), 0..64),
    )
        .prop_map(|(ty, explicit_length, mut payload)| {
            if !explicit_length {
                // Without a length the payload ends at the first newline, so it cannot hold one.
                payload.retain(|b| *b != b'\n');
            }
            GenItem {
                ty,
                explicit_length,
                payload,
            }
        })
}

#[derive(Debug, Clone)]
struct GenEnvelope {
    header: &'static str,
    items: Vec<GenItem>,
    final_newline: bool,
}

fn envelope() -> impl Strategy<Value = GenEnvelope> {
    (
        prop::sample::select(&[
            "{}",
            "{\"event_id\":\"9ec79c33ec9942ab8353589fcb2e04dc\"}",
            "{\"event_id\":\"9ec79c33-ec99-42ab-8353-589fcb2e04dc\",\"sent_at\":\"2026-08-01T00:00:00Z\",\"sdk\":{\"name\":\"x\"}}",
        ][..]),
        prop::collection::vec(item(), 0..8),
        any::<bool>(),
    )
        .prop_map(|(header, items, final_newline)| GenEnvelope {
            header,
            items,
            final_newline,
        })
}

fn serialize(envelope: &GenEnvelope) -> Vec<u8> {
    let mut out = envelope.header.as_bytes().to_vec();
    for item in &envelope.items {
        out.push(b'\n');
        let header = if item.explicit_length {
            format!("{{\"type\":\"{}\",\"length\":{}}}", item.ty, item.payload.len())
        } else {
            format!("{{\"type\":\"{}\"}}", item.ty)
        };
        out.extend_from_slice(header.as_bytes());
        out.push(b'\n');
        out.extend_from_slice(&item.payload);
    }
    if envelope.final_newline {
        out.push(b'\n');
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parse_never_panics_on_arbitrary_bytes(body in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = envelope::parse(&body);
    }

    #[test]
    fn parse_never_panics_on_damaged_envelopes(
        generated in envelope(),
        cut in any::<prop::sample::Index>(),
        flip in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let mut body = serialize(&generated);
        if !body.is_empty() {
            let at = flip.index(body.len());
            body[at] = byte;
            body.truncate(cut.index(body.len()) + 1);
        }
        let _ = envelope::parse(&body);
    }

    #[test]
    fn well_formed_envelopes_round_trip(generated in envelope()) {
        let body = serialize(&generated);
        let parsed = envelope::parse(&body)
            .map_err(|e| TestCaseError::fail(format!("{e} in {:?}", String::from_utf8_lossy(&body))))?;
        prop_assert_eq!(parsed.items.len(), generated.items.len());
        for (parsed, generated) in parsed.items.iter().zip(&generated.items) {
            prop_assert_eq!(parsed.header.ty.clone(), ItemType::from_name(generated.ty));
            prop_assert_eq!(parsed.header.ty.as_str(), generated.ty);
            prop_assert_eq!(
                parsed.header.length,
                generated.explicit_length.then_some(generated.payload.len())
            );
            prop_assert_eq!(parsed.payload, &generated.payload[..]);
        }
    }
}
