//! Time-series counts from the per-minute rollups: `since`, `until`, `resolution`.

use serde::{Deserialize, Serialize};

use super::ApiError;
use crate::clock::rfc3339;

#[derive(Debug, Default, Deserialize)]
pub struct StatsParams {
    pub since: Option<String>,
    pub until: Option<String>,
    pub resolution: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct StatsPoint {
    /// Bucket start, RFC 3339.
    pub time: String,
    /// Bucket start, epoch seconds (Sentry's stats format).
    pub timestamp: i64,
    pub count: u64,
}

#[derive(Debug, Serialize)]
pub struct StatsResponse {
    pub resolution: String,
    pub since: String,
    pub until: String,
    pub total: u64,
    pub data: Vec<StatsPoint>,
}

/// The validated window: bucket-aligned `[since, until)` and the bucket size in ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// `1m`, `1h` or `1d`.
    pub resolution: &'static str,
    pub since_ms: i64,
    pub until_ms: i64,
    pub bucket_ms: i64,
}

const MAX_BUCKETS: i64 = 10_000;

/// RFC 3339, or epoch seconds (integer or fractional).
pub fn parse_time(name: &str, value: &str) -> Result<i64, ApiError> {
    if let Ok(secs) = value.parse::<f64>()
        && secs.is_finite()
    {
        return Ok((secs * 1000.0) as i64);
    }
    chrono::DateTime::parse_from_rfc3339(value)
        .map(|d| d.timestamp_millis())
        .map_err(|_| {
            ApiError::BadRequest(format!(
                "invalid {name} {value:?}: expected RFC 3339 (2026-01-31T12:00:00Z) or epoch seconds"
            ))
        })
}

impl StatsParams {
    pub fn window(&self, now_ms: i64) -> Result<Window, ApiError> {
        let (resolution, bucket_ms) = match self.resolution.as_deref().unwrap_or("1h") {
            "1m" => ("1m", 60_000),
            "1h" => ("1h", 3_600_000),
            "1d" => ("1d", 86_400_000),
            other => {
                return Err(ApiError::BadRequest(format!(
                    "invalid resolution {other:?}: expected 1m, 1h or 1d"
                )));
            }
        };
        let until = match &self.until {
            Some(v) => parse_time("until", v)?,
            None => now_ms,
        };
        let since = match &self.since {
            Some(v) => parse_time("since", v)?,
            None => until - 24 * 3_600_000,
        };
        if since >= until {
            return Err(ApiError::BadRequest("since must be earlier than until".into()));
        }
        let since_ms = since - since.rem_euclid(bucket_ms);
        // `until` is exclusive; round up so the bucket holding `until` is included.
        let until_ms = until - until.rem_euclid(bucket_ms)
            + if until.rem_euclid(bucket_ms) == 0 {
                0
            } else {
                bucket_ms
            };
        if (until_ms - since_ms) / bucket_ms > MAX_BUCKETS {
            return Err(ApiError::BadRequest(format!(
                "the range spans more than {MAX_BUCKETS} buckets at this resolution; use a coarser resolution"
            )));
        }
        Ok(Window {
            resolution,
            since_ms,
            until_ms,
            bucket_ms,
        })
    }
}

/// Every bucket start of `window` with its count, zeros included, from the sparse
/// `(bucket_start, count)` pairs the store answers.
pub fn dense(window: Window, sparse: &[(i64, u64)]) -> Vec<(i64, u64)> {
    let mut out = Vec::with_capacity(((window.until_ms - window.since_ms) / window.bucket_ms) as usize);
    let mut it = sparse.iter().peekable();
    let mut t = window.since_ms;
    while t < window.until_ms {
        let mut count = 0;
        while let Some((b, c)) = it.peek() {
            if *b < t {
                it.next();
            } else if *b == t {
                count += c;
                it.next();
            } else {
                break;
            }
        }
        out.push((t, count));
        t += window.bucket_ms;
    }
    out
}

/// Zero-fills the buckets of `window` from the sparse `(bucket_start, count)` pairs.
pub fn fill(window: Window, sparse: &[(i64, u64)]) -> StatsResponse {
    let data: Vec<StatsPoint> = dense(window, sparse)
        .into_iter()
        .map(|(t, count)| StatsPoint {
            time: rfc3339(t),
            timestamp: t / 1000,
            count,
        })
        .collect();
    StatsResponse {
        resolution: window.resolution.to_owned(),
        since: rfc3339(window.since_ms),
        until: rfc3339(window.until_ms),
        total: data.iter().map(|p| p.count).sum(),
        data,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_aligns_to_buckets_and_includes_the_partial_last_bucket() {
        let since = parse_time("since", "2025-12-31T22:10:00Z").unwrap();
        let until = parse_time("until", "2026-01-01T00:30:00Z").unwrap();
        let p = StatsParams {
            since: Some(format!("{}", since / 1000)),
            until: Some("2026-01-01T00:30:00Z".into()),
            resolution: Some("1h".into()),
        };
        let w = p.window(0).unwrap();
        assert_eq!(w.since_ms, since - 600_000, "aligned down to 22:00");
        assert_eq!(w.until_ms, until + 1_800_000, "aligned up to 01:00");
        assert_eq!(w.bucket_ms, 3_600_000);
    }

    #[test]
    fn bad_resolution_and_times_are_explained() {
        let p = StatsParams {
            resolution: Some("5m".into()),
            ..Default::default()
        };
        assert!(p.window(0).unwrap_err().to_string().contains("1m, 1h or 1d"));
        assert!(
            parse_time("since", "yesterday")
                .unwrap_err()
                .to_string()
                .contains("RFC 3339")
        );
    }

    #[test]
    fn fill_zero_fills_missing_buckets_and_sums_the_total() {
        let w = Window {
            resolution: "1m",
            since_ms: 0,
            until_ms: 180_000,
            bucket_ms: 60_000,
        };
        let r = fill(w, &[(60_000, 4)]);
        assert_eq!(r.data.iter().map(|p| p.count).collect::<Vec<_>>(), vec![0, 4, 0]);
        assert_eq!(r.total, 4);
        assert_eq!(r.resolution, "1m");
    }
}
