//! Just enough of the Prometheus text format to read counters and summaries from `/metrics`.

/// The sum of every sample named exactly `name` whose labels contain all of `labels`
/// (e.g. `category="error"`); `None` when there is no such sample.
pub fn value(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    let mut found = None;
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        let (label_part, value) = if let Some(r) = rest.strip_prefix('{') {
            match r.split_once('}') {
                Some((l, v)) => (l, v),
                None => continue,
            }
        } else if rest.starts_with(' ') {
            ("", rest)
        } else {
            continue;
        };
        if !labels
            .iter()
            .all(|l| label_part.split(',').any(|p| p.trim() == *l))
        {
            continue;
        }
        if let Some(v) = value
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<f64>().ok())
        {
            *found.get_or_insert(0.0) += v;
        }
    }
    found
}

/// The largest sample named exactly `name` whose labels contain all of `labels`: for quantiles,
/// which do not add up when the text holds several processes' metrics.
pub fn max_value(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.split('\n')
        .filter_map(|line| value(line, name, labels))
        .reduce(f64::max)
}

/// Count and sum of a summary or histogram (`<name>_count`, `<name>_sum`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Summary {
    pub count: f64,
    pub sum: f64,
}

impl Summary {
    pub fn read(text: &str, name: &str) -> Summary {
        Summary {
            count: value(text, &format!("{name}_count"), &[]).unwrap_or(0.0),
            sum: value(text, &format!("{name}_sum"), &[]).unwrap_or(0.0),
        }
    }

    /// What happened between two readings.
    pub fn since(self, earlier: Summary) -> Summary {
        Summary {
            count: self.count - earlier.count,
            sum: self.sum - earlier.sum,
        }
    }

    pub fn mean(self) -> f64 {
        if self.count > 0.0 {
            self.sum / self.count
        } else {
            0.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# TYPE sentinel_ingest_accepted_total counter\n\
sentinel_ingest_accepted_total{category=\"error\"} 120\n\
sentinel_ingest_accepted_total{category=\"transaction\"} 3\n\
sentinel_worker_events_stored_total 118\n\
sentinel_inbox_commit_seconds{quantile=\"0.5\"} 0.0001\n\
sentinel_inbox_commit_seconds_sum 0.25\n\
sentinel_inbox_commit_seconds_count 50\n";

    #[test]
    fn reads_counters_with_and_without_labels() {
        assert_eq!(
            value(TEXT, "sentinel_ingest_accepted_total", &["category=\"error\""]),
            Some(120.0)
        );
        assert_eq!(value(TEXT, "sentinel_ingest_accepted_total", &[]), Some(123.0));
        assert_eq!(
            value(TEXT, "sentinel_worker_events_stored_total", &[]),
            Some(118.0)
        );
        assert_eq!(value(TEXT, "sentinel_missing_total", &[]), None);
    }

    #[test]
    fn takes_the_largest_quantile_across_processes() {
        let two = "sentinel_worker_batch_seconds{quantile=\"1\"} 0.25\n\
sentinel_worker_batch_seconds_count 3\n\
sentinel_worker_batch_seconds{quantile=\"1\"} 0.5\n";
        let q = ["quantile=\"1\""];
        assert_eq!(value(two, "sentinel_worker_batch_seconds", &q), Some(0.75));
        assert_eq!(max_value(two, "sentinel_worker_batch_seconds", &q), Some(0.5));
    }

    #[test]
    fn reads_summaries_without_confusing_prefixes() {
        let s = Summary::read(TEXT, "sentinel_inbox_commit_seconds");
        assert_eq!(
            s,
            Summary {
                count: 50.0,
                sum: 0.25
            }
        );
        assert_eq!(s.mean(), 0.005);
    }
}
