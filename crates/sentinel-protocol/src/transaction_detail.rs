//! A stored Sentry transaction as its event page shows it: name, op, status, start and duration,
//! tags, and its spans as a waterfall (each with its offset from the transaction's start, its
//! duration and its depth in the span tree).
//!
//! The fields are the transaction event's (`transaction`, `start_timestamp`, `timestamp`,
//! `contexts.trace`, `tags`, `spans[]` with `span_id`, `parent_span_id`, `op`, `description`,
//! `status`, `start_timestamp`, `timestamp`); timestamps are seconds or RFC 3339 as the SDKs write
//! them ([`crate::transaction`]). Spans are ordered as a tree: children right after their parent,
//! siblings by start time. A span whose parent is not in the transaction hangs off the root.

use std::collections::{HashMap, HashSet};

use serde::Deserialize;
use serde_json::Value;

use crate::event::wire::Tags;
use crate::ids::TraceId;
use crate::transaction::instant_us;

/// Spans shown of one transaction (the SDKs send at most 1,000).
pub const MAX_SPANS: usize = 1_000;

#[derive(Debug, Clone, PartialEq)]
pub struct TransactionDetail {
    pub name: String,
    /// `contexts.trace.op`, empty when absent.
    pub op: String,
    /// `contexts.trace.status`, empty when absent.
    pub status: String,
    pub trace_id: Option<TraceId>,
    /// Epoch microseconds.
    pub start_us: i64,
    pub duration_us: i64,
    /// By key.
    pub tags: Vec<(String, String)>,
    /// In waterfall order.
    pub spans: Vec<SpanDetail>,
    /// Spans left out beyond `MAX_SPANS`.
    pub spans_dropped: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SpanDetail {
    pub span_id: String,
    pub op: String,
    pub description: String,
    pub status: String,
    /// From the transaction's start; negative when the SDK's clock put the span before it.
    pub offset_us: i64,
    /// `None` for a span that never finished.
    pub duration_us: Option<i64>,
    /// 1 for a child of the transaction, 2 for a grandchild, …
    pub depth: usize,
}

#[derive(Deserialize)]
struct Transaction {
    #[serde(default)]
    transaction: Value,
    #[serde(default)]
    start_timestamp: Value,
    #[serde(default)]
    timestamp: Value,
    #[serde(default)]
    contexts: Value,
    #[serde(default)]
    tags: Value,
    #[serde(default)]
    spans: Vec<Value>,
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

/// The transaction in `payload`, or `None` when it is not one (no JSON object, or no start and
/// end time).
pub fn transaction_detail(payload: &[u8]) -> Option<TransactionDetail> {
    let t: Transaction = serde_json::from_slice(payload).ok()?;
    let start_us = instant_us(&t.start_timestamp)?;
    let end_us = instant_us(&t.timestamp)?;
    let trace = &t.contexts["trace"];
    let root = text(&trace["span_id"]);
    let mut spans: Vec<(String, SpanDetail)> = t
        .spans
        .iter()
        .map(|s| {
            let begin = instant_us(&s["start_timestamp"]);
            let offset_us = begin.map_or(0, |b| b - start_us);
            let duration_us = begin
                .zip(instant_us(&s["timestamp"]))
                .map(|(b, e)| (e - b).max(0));
            let parent = text(&s["parent_span_id"]);
            let detail = SpanDetail {
                span_id: text(&s["span_id"]),
                op: text(&s["op"]),
                description: text(&s["description"]),
                status: text(&s["status"]),
                offset_us,
                duration_us,
                depth: 0,
            };
            (parent, detail)
        })
        .collect();
    let spans_dropped = spans.len().saturating_sub(MAX_SPANS);
    spans.sort_by(|a, b| {
        a.1.offset_us
            .cmp(&b.1.offset_us)
            .then_with(|| a.1.span_id.cmp(&b.1.span_id))
    });
    Some(TransactionDetail {
        name: text(&t.transaction),
        op: text(&trace["op"]),
        status: text(&trace["status"]),
        trace_id: trace["trace_id"].as_str().and_then(TraceId::parse),
        start_us,
        duration_us: (end_us - start_us).max(0),
        tags: sorted_tags(&t.tags),
        spans: waterfall(&root, spans),
        spans_dropped,
    })
}

/// The tags read as events' are (an object or a list of pairs, numbers and booleans as text), by
/// key.
fn sorted_tags(tags: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Tags::deserialize(tags)
        .unwrap_or_default()
        .0
        .into_iter()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    out.sort();
    out
}

/// `spans` (parent id, span; sorted by start) in tree order under `root`, with their depths.
fn waterfall(root: &str, spans: Vec<(String, SpanDetail)>) -> Vec<SpanDetail> {
    let ids: HashSet<&str> = spans.iter().map(|(_, s)| s.span_id.as_str()).collect();
    let mut children: HashMap<String, Vec<usize>> = HashMap::new();
    let mut tops = Vec::new();
    for (i, (parent, span)) in spans.iter().enumerate() {
        // A parent outside the transaction (or the span itself) puts it at the top.
        if parent == root || !ids.contains(parent.as_str()) || *parent == span.span_id {
            tops.push(i);
        } else {
            children.entry(parent.clone()).or_default().push(i);
        }
    }
    let mut out = Vec::with_capacity(spans.len().min(MAX_SPANS));
    let mut placed = vec![false; spans.len()];
    // Depth-first, children in start order; `placed` breaks any cycle of parent ids.
    let mut stack: Vec<(usize, usize)> = tops.iter().rev().map(|i| (*i, 1)).collect();
    while let Some((i, depth)) = stack.pop() {
        if placed[i] || out.len() == MAX_SPANS {
            continue;
        }
        placed[i] = true;
        let mut span = spans[i].1.clone();
        span.depth = depth;
        if let Some(kids) = children.get(&span.span_id) {
            stack.extend(kids.iter().rev().map(|k| (*k, depth + 1)));
        }
        out.push(span);
    }
    // Spans only reachable through a cycle: after the rest, at the top.
    for (i, (_, span)) in spans.iter().enumerate() {
        if !placed[i] && out.len() < MAX_SPANS {
            let mut span = span.clone();
            span.depth = 1;
            out.push(span);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PYTHON: &str = r#"{
      "type": "transaction", "transaction": "/v1/orders/{order_id}",
      "contexts": {"trace": {"trace_id": "4c79f60c11214eb38604f4ae0781bfb2", "span_id": "fa90fdead5f74052",
                             "op": "http.server", "status": "internal_error"}},
      "tags": {"tenant_id": "acme", "http.status_code": "503", "retries": 2},
      "start_timestamp": "2027-01-15T07:59:59.000000Z", "timestamp": "2027-01-15T07:59:59.250000Z",
      "spans": [
        {"span_id": "c2", "parent_span_id": "c1", "op": "db", "description": "SELECT 1",
         "start_timestamp": "2027-01-15T07:59:59.020000Z", "timestamp": "2027-01-15T07:59:59.060000Z"},
        {"span_id": "c3", "parent_span_id": "fa90fdead5f74052", "op": "http.client", "description": "GET /pay",
         "status": "ok", "start_timestamp": 1799999999.1, "timestamp": 1799999999.2},
        {"span_id": "c1", "parent_span_id": "fa90fdead5f74052", "op": "middleware", "description": "auth",
         "start_timestamp": 1799999999.01, "timestamp": 1799999999.09},
        {"span_id": "c4", "parent_span_id": "elsewhere", "op": "cache", "start_timestamp": 1799999999.15},
        {"span_id": "x", "parent_span_id": "y", "op": "loop"},
        {"span_id": "y", "parent_span_id": "x", "op": "loop"}
      ]
    }"#;

    #[test]
    fn spans_are_a_waterfall_under_the_transaction() {
        let t = transaction_detail(PYTHON.as_bytes()).unwrap();
        assert_eq!(t.name, "/v1/orders/{order_id}");
        assert_eq!(
            (t.op.as_str(), t.status.as_str()),
            ("http.server", "internal_error")
        );
        assert_eq!(
            t.trace_id.map(|t| t.to_string()).as_deref(),
            Some("4c79f60c11214eb38604f4ae0781bfb2")
        );
        assert_eq!(t.duration_us, 250_000);
        assert_eq!(
            t.tags,
            [
                ("http.status_code".to_owned(), "503".to_owned()),
                ("retries".to_owned(), "2".to_owned()),
                ("tenant_id".to_owned(), "acme".to_owned())
            ]
        );
        let rows: Vec<(&str, usize, i64, Option<i64>)> = t
            .spans
            .iter()
            .map(|s| (s.span_id.as_str(), s.depth, s.offset_us, s.duration_us))
            .collect();
        assert_eq!(
            rows,
            [
                // Offsets and durations to the microsecond, whether seconds or RFC 3339.
                ("c1", 1, 10_000, Some(80_000)),
                ("c2", 2, 20_000, Some(40_000)),
                ("c3", 1, 100_000, Some(100_000)),
                // Its parent is not in the transaction; it never finished.
                ("c4", 1, 150_000, None),
                // Only reachable through a cycle of parents: shown last, at the top.
                ("x", 1, 0, None),
                ("y", 1, 0, None),
            ]
        );
        assert_eq!(t.spans[1].description, "SELECT 1");
        assert_eq!(t.spans_dropped, 0);
    }

    #[test]
    fn a_payload_without_times_is_no_transaction() {
        assert!(transaction_detail(b"{\"transaction\": \"x\"}").is_none());
        assert!(transaction_detail(b"not json").is_none());
    }
}
