//! Event timestamps: every shape SDKs send, Relay's clock-drift correction, and the clamp.

use chrono::{DateTime, NaiveDateTime, SecondsFormat};

use super::NormalizeConfig;

/// Relay corrects clock drift only when sender and receiver disagree by at least this much
/// (`MINIMUM_CLOCK_DRIFT`, 55 minutes, in getsentry/relay `relay-server/src/services/processor.rs`):
/// smaller differences are network latency or ordinary skew, larger ones a wrong clock or zone.
const MINIMUM_CLOCK_DRIFT_SECS: i64 = 55 * 60;

/// Parses an RFC 3339 timestamp (fraction and offset optional; without an offset it is UTC) or a
/// number of seconds written as a string, to epoch milliseconds.
pub(crate) fn parse_str(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(dt.timestamp_millis());
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%z"] {
        if let Ok(dt) = DateTime::parse_from_str(s, format) {
            return Some(dt.timestamp_millis());
        }
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(s, format) {
            return Some(dt.and_utc().timestamp_millis());
        }
    }
    s.parse::<f64>().ok().and_then(from_secs_f64)
}

/// Seconds since the epoch (fractional) to milliseconds, rounded; `None` when not representable.
pub(crate) fn from_secs_f64(secs: f64) -> Option<i64> {
    let ms = (secs * 1000.0).round();
    #[expect(
        clippy::cast_possible_truncation,
        reason = "the range check above the cast keeps it exact"
    )]
    let ms = (ms.is_finite() && ms.abs() < 9.0e15).then_some(ms as i64);
    ms
}

/// The event time to store: the payload's timestamp, shifted by the clock drift between `sent_at`
/// and receipt when that drift is large, then replaced by the receive time when it is still too far
/// in the future or the past (Relay's `ClockDriftProcessor` and `normalize_timestamps`, in that
/// order). Without a timestamp the receive time is used.
pub(crate) fn normalize(timestamp_ms: Option<i64>, cfg: &NormalizeConfig) -> i64 {
    let received = cfg.received_at_ms;
    let Some(mut timestamp) = timestamp_ms else {
        return received;
    };
    if let Some(sent_at) = cfg.sent_at.as_deref().and_then(parse_str) {
        let drift = received.saturating_sub(sent_at);
        if (drift / 1000).abs() >= MINIMUM_CLOCK_DRIFT_SECS {
            timestamp = timestamp.saturating_add(drift);
        }
    }
    if timestamp > received.saturating_add(cfg.max_future_ms)
        || timestamp < received.saturating_sub(cfg.max_past_ms)
    {
        return received;
    }
    timestamp
}

/// RFC 3339 in UTC with milliseconds, e.g. `2024-05-01T12:00:00.123Z`.
pub(crate) fn to_rfc3339(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_700_000_000_000; // 2023-11-14T22:13:20Z

    fn cfg(sent_at: Option<&str>) -> NormalizeConfig {
        NormalizeConfig::new(T0, sent_at.map(str::to_owned))
    }

    #[test]
    fn rfc3339_with_zone_offset_or_none_parses() {
        assert_eq!(parse_str("2023-11-14T22:13:20Z"), Some(T0));
        assert_eq!(parse_str("2023-11-14T22:13:20.5Z"), Some(T0 + 500));
        assert_eq!(parse_str("2023-11-14T23:13:20+01:00"), Some(T0));
        assert_eq!(parse_str("2023-11-14T23:13:20+0100"), Some(T0));
        assert_eq!(parse_str("2023-11-14T22:13:20"), Some(T0));
        assert_eq!(parse_str("2023-11-14T22:13:20.123456"), Some(T0 + 123));
        assert_eq!(parse_str("2023-11-14 22:13:20"), Some(T0));
        assert_eq!(
            parse_str("2020-05-12T22:30:36.0021839+00:00"),
            Some(1_589_322_636_002)
        );
    }

    #[test]
    fn numeric_strings_are_seconds() {
        assert_eq!(parse_str("1700000000.25"), Some(T0 + 250));
        assert_eq!(parse_str("yesterday"), None);
        assert_eq!(parse_str(""), None);
    }

    #[test]
    fn float_seconds_round_to_the_nearest_millisecond() {
        assert_eq!(from_secs_f64(1_599_504_520.529), Some(1_599_504_520_529));
        assert_eq!(from_secs_f64(f64::NAN), None);
        assert_eq!(from_secs_f64(1e300), None);
    }

    #[test]
    fn missing_timestamp_is_the_receive_time() {
        assert_eq!(normalize(None, &cfg(None)), T0);
    }

    #[test]
    fn timestamps_within_bounds_are_kept() {
        assert_eq!(normalize(Some(T0 - 5_000), &cfg(None)), T0 - 5_000);
        assert_eq!(normalize(Some(T0 + 60_000), &cfg(None)), T0 + 60_000);
    }

    #[test]
    fn timestamps_too_far_in_the_future_are_clamped() {
        assert_eq!(normalize(Some(T0 + 60_001), &cfg(None)), T0);
    }

    #[test]
    fn timestamps_older_than_thirty_days_are_clamped() {
        let thirty_days = 30 * 24 * 3600 * 1000;
        assert_eq!(normalize(Some(T0 - thirty_days), &cfg(None)), T0 - thirty_days);
        assert_eq!(normalize(Some(T0 - thirty_days - 1), &cfg(None)), T0);
    }

    #[test]
    fn a_sender_clock_an_hour_behind_is_corrected() {
        // The SDK's clock is one hour late: it stamped the event and the envelope an hour early.
        let sent_at = "2023-11-14T21:13:20Z";
        assert_eq!(
            normalize(Some(T0 - 3_600_000 - 2_000), &cfg(Some(sent_at))),
            T0 - 2_000
        );
    }

    #[test]
    fn a_sender_clock_a_day_ahead_is_corrected() {
        let sent_at = "2023-11-15T22:13:20Z";
        let event_time = T0 + 86_400_000 - 10_000;
        assert_eq!(normalize(Some(event_time), &cfg(Some(sent_at))), T0 - 10_000);
    }

    #[test]
    fn small_drift_is_not_corrected() {
        // 54 minutes: below Relay's threshold, so the (old) timestamp is kept as sent.
        let sent_at = "2023-11-14T21:19:20Z";
        assert_eq!(
            normalize(Some(T0 - 3_240_000), &cfg(Some(sent_at))),
            T0 - 3_240_000
        );
    }

    #[test]
    fn unparseable_sent_at_disables_drift_correction() {
        assert_eq!(
            normalize(Some(T0 - 7_200_000), &cfg(Some("garbage"))),
            T0 - 7_200_000
        );
    }

    #[test]
    fn formats_as_utc_with_milliseconds() {
        assert_eq!(to_rfc3339(T0 + 7), "2023-11-14T22:13:20.007Z");
    }
}
