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
    let merged =
        crate::web::charts::merge_buckets(&buckets.into_iter().map(|(_, b)| b).collect::<Vec<_>>(), step_ms);
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
