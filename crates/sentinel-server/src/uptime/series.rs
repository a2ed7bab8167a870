//! A monitor's response times over the last 24 hours, from the rollups: per point the checks,
//! failures, mean, and p50/p95 of the successful checks (from the latency histograms). The
//! dashboard's chart and `GET /api/0/monitors/{id}/response-times/` both draw on it.

use sentinel_store::{
    DAY_MS, HOUR_MS, LatencyHistogram, Monitor, Resolution, Store, StoreError, UptimeBucket,
};

/// Monitors checked at least this often get five-minute points; the others hourly ones.
pub const FINE_STEP_MS: i64 = 5 * 60_000;

/// One point of the series.
#[derive(Debug, Clone, Default)]
pub struct Point {
    pub bucket: UptimeBucket,
    pub latency: LatencyHistogram,
}

impl Point {
    /// Mean response time of all checks (failures too), milliseconds.
    pub fn mean_ms(&self) -> Option<f64> {
        let b = &self.bucket;
        (b.checks > 0).then(|| b.latency_sum_ms as f64 / b.checks as f64)
    }

    pub fn p50_ms(&self) -> Option<i64> {
        self.latency.quantile(0.5)
    }

    pub fn p95_ms(&self) -> Option<i64> {
        self.latency.quantile(0.95)
    }
}

/// The last 24 hours of a monitor, in points of `step_ms`.
#[derive(Debug, Clone)]
pub struct Series {
    pub since_ms: i64,
    pub until_ms: i64,
    pub step_ms: i64,
    /// Non-empty points only, in time order.
    pub points: Vec<Point>,
    /// All successful checks of the 24 hours.
    pub total: LatencyHistogram,
}

/// Reads the series ending with the current step.
pub async fn last_day(store: &dyn Store, m: &Monitor, now_ms: i64) -> Result<Series, StoreError> {
    let (resolution, step_ms) = if m.interval_ms <= FINE_STEP_MS {
        (Resolution::Minute, FINE_STEP_MS)
    } else {
        (Resolution::Hour, HOUR_MS)
    };
    let until_ms = now_ms - now_ms.rem_euclid(step_ms) + step_ms;
    let since_ms = until_ms - DAY_MS;
    let buckets = store
        .uptime_buckets(&[m.id], resolution, since_ms, until_ms)
        .await?;
    let histograms = store
        .latency_histograms(&[m.id], resolution, since_ms, until_ms)
        .await?;
    let merged = merge_buckets(&buckets.into_iter().map(|(_, b)| b).collect::<Vec<_>>(), step_ms);
    let mut points: Vec<Point> = merged
        .into_iter()
        .map(|bucket| Point {
            bucket,
            latency: LatencyHistogram::default(),
        })
        .collect();
    let start_of = |ms: i64| ms - ms.rem_euclid(step_ms);
    let mut total = LatencyHistogram::default();
    for (_, at, h) in histograms {
        total.merge(&h);
        let start = start_of(at);
        // Both lists are in time order; a histogram's bucket always has its counts' bucket.
        if let Ok(i) = points.binary_search_by_key(&start, |p| p.bucket.bucket_ms) {
            points[i].latency.merge(&h);
        }
    }
    Ok(Series {
        since_ms,
        until_ms,
        step_ms,
        points,
        total,
    })
}

/// Buckets merged into buckets of `step_ms` (aligned to the epoch), e.g. minute rollups into
/// five-minute points: sums and maxima, so means stay exact. Input and output in time order.
pub fn merge_buckets(buckets: &[UptimeBucket], step_ms: i64) -> Vec<UptimeBucket> {
    let mut out: Vec<UptimeBucket> = Vec::new();
    for b in buckets {
        let start = b.bucket_ms - b.bucket_ms.rem_euclid(step_ms);
        match out.last_mut() {
            Some(last) if last.bucket_ms == start => {
                last.checks += b.checks;
                last.failures += b.failures;
                last.latency_sum_ms += b.latency_sum_ms;
                last.latency_max_ms = last.latency_max_ms.max(b.latency_max_ms);
            }
            _ => out.push(UptimeBucket {
                bucket_ms: start,
                ..*b
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_800_000_000_000;

    fn bucket(bucket_ms: i64, checks: u64, failures: u64, latency_sum_ms: i64) -> UptimeBucket {
        UptimeBucket {
            bucket_ms,
            checks,
            failures,
            latency_sum_ms,
            latency_max_ms: latency_sum_ms,
        }
    }

    #[test]
    fn minute_buckets_merge_into_five_minute_points_with_exact_means() {
        let minute = 60_000;
        let merged = merge_buckets(
            &[
                bucket(T0, 1, 0, 10),
                bucket(T0 + minute, 1, 1, 30),
                bucket(T0 + 5 * minute, 2, 0, 8),
            ],
            5 * minute,
        );
        assert_eq!(merged.len(), 2);
        assert_eq!((merged[0].checks, merged[0].failures), (2, 1));
        assert_eq!(
            Point {
                bucket: merged[0],
                latency: LatencyHistogram::default()
            }
            .mean_ms(),
            Some(20.0)
        );
        assert_eq!(merged[0].latency_max_ms, 30);
        assert_eq!(merged[1].bucket_ms, T0 + 5 * minute);
    }
}
