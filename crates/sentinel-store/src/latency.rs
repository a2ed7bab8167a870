//! Latency histograms of uptime checks, on log-spaced bins: mergeable by adding counts (a
//! rollup row per `(monitor, resolution, bucket, bin)`), small whatever the number of checks,
//! and good for percentiles within [`RELATIVE_ERROR`].
//!
//! Bin 0 holds latencies of 0 and 1 ms; bin `b > 0` holds `(GAMMA^(b-1), GAMMA^b]` ms, so a
//! 60-second timeout is bin 226. A percentile answers the bin's geometric middle, off the true
//! value by at most about 2.5 % of it.

use std::collections::BTreeMap;

use serde::Serialize;

/// The ratio of a bin's upper to its lower bound.
pub const GAMMA: f64 = 1.05;
/// The largest relative error of a percentile read off the bins (half a bin, geometrically).
pub const RELATIVE_ERROR: f64 = 0.025;

/// The bin a latency falls in.
pub fn bin_of(latency_ms: i64) -> i32 {
    if latency_ms <= 1 {
        return 0;
    }
    // The smallest b with GAMMA^b >= latency (up to float rounding at the edges).
    ((latency_ms as f64).ln() / GAMMA.ln()).ceil() as i32
}

/// The value a bin stands for: its geometric middle (1 ms for bin 0).
pub fn bin_value(bin: i32) -> f64 {
    if bin <= 0 {
        return 1.0;
    }
    GAMMA.powf(f64::from(bin) - 0.5)
}

/// Counts per bin.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LatencyHistogram {
    pub bins: BTreeMap<i32, u64>,
}

impl LatencyHistogram {
    pub fn add(&mut self, latency_ms: i64) {
        self.add_count(bin_of(latency_ms), 1);
    }

    pub fn add_count(&mut self, bin: i32, count: u64) {
        if count > 0 {
            *self.bins.entry(bin).or_default() += count;
        }
    }

    pub fn merge(&mut self, other: &LatencyHistogram) {
        for (&bin, &count) in &other.bins {
            self.add_count(bin, count);
        }
    }

    pub fn count(&self) -> u64 {
        self.bins.values().sum()
    }

    /// The `q`-quantile (0 ≤ q ≤ 1) in whole milliseconds, by the nearest-rank method over the
    /// bins; `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<i64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        // The rank of the answer, 1-based: ceil(q * n), at least 1.
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (&bin, &count) in &self.bins {
            seen += count;
            if seen >= rank {
                return Some(bin_value(bin).round() as i64);
            }
        }
        self.bins.keys().next_back().map(|&b| bin_value(b).round() as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_latency_falls_in_the_bin_whose_bounds_hold_it() {
        assert_eq!(bin_of(0), 0);
        assert_eq!(bin_of(1), 0);
        for ms in [2_i64, 3, 10, 99, 100, 101, 250, 1_000, 59_999, 60_000] {
            let b = bin_of(ms);
            let (lo, hi) = (GAMMA.powi(b - 1), GAMMA.powi(b));
            assert!(
                lo < ms as f64 + 1e-9 && ms as f64 <= hi + 1e-9,
                "{ms} ms in bin {b} ({lo}, {hi}]"
            );
        }
        assert!(bin_of(60_000) < 240);
    }

    #[test]
    fn quantiles_are_within_the_relative_error_of_the_exact_ones() {
        // 1..=2000 ms, each once: exact p50 is 1000, p95 is 1900, p99 is 1980.
        let mut h = LatencyHistogram::default();
        for ms in 1..=2_000 {
            h.add(ms);
        }
        for (q, exact) in [(0.5, 1_000.0), (0.95, 1_900.0), (0.99, 1_980.0)] {
            let got = h.quantile(q).unwrap() as f64;
            assert!(
                (got - exact).abs() <= exact * RELATIVE_ERROR + 1.0,
                "q{q}: {got} against {exact}"
            );
        }
        assert_eq!(LatencyHistogram::default().quantile(0.5), None);
    }

    #[test]
    fn merged_histograms_answer_as_one_built_from_all_latencies() {
        let (mut a, mut b, mut all) = Default::default();
        for ms in [5_i64, 7, 120, 130, 900] {
            LatencyHistogram::add(&mut a, ms);
            LatencyHistogram::add(&mut all, ms);
        }
        for ms in [6_i64, 125, 2_000] {
            LatencyHistogram::add(&mut b, ms);
            LatencyHistogram::add(&mut all, ms);
        }
        let mut merged: LatencyHistogram = a;
        merged.merge(&b);
        assert_eq!(merged, all);
        assert_eq!(merged.count(), 8);
        let p50 = merged.quantile(0.5).unwrap();
        assert!((119..=131).contains(&p50), "p50 {p50}");
    }
}
