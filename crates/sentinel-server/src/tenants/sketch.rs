//! Latency sketches of request events: DDSketch (Masson, Rim, Lee, VLDB 2019) at 1 % relative
//! error, so any quantile of any union of sketches (minutes, endpoints, nodes) is within 1 % of the
//! exact one. Stored as DataDog's binary format (`to_bytes`), a few kilobytes at most.

use sketches_ddsketch::{Config, DDSketch};

/// The relative error of every quantile.
pub const RELATIVE_ERROR: f64 = 0.01;

#[derive(Clone)]
pub struct LatencySketch(DDSketch);

impl std::fmt::Debug for LatencySketch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LatencySketch")
            .field("count", &self.count())
            .field("p50_ms", &self.quantile_ms(0.5))
            .finish()
    }
}

impl Default for LatencySketch {
    fn default() -> Self {
        // The crate's defaults (1 %, 2,048 bins): the configuration a decoded sketch gets back,
        // and sketches only merge with their own configuration.
        Self(DDSketch::new(Config::defaults()))
    }
}

impl LatencySketch {
    pub fn add_ms(&mut self, latency_ms: f64) {
        if latency_ms.is_finite() {
            self.0.add(latency_ms.max(0.0));
        }
    }

    pub fn count(&self) -> u64 {
        self.0.count() as u64
    }

    /// The `q`-quantile in milliseconds; `None` when empty.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        self.0.quantile(q.clamp(0.0, 1.0)).ok().flatten()
    }

    /// Adds `other` in: the result answers as one sketch of both streams.
    pub fn merge(&mut self, other: &LatencySketch) -> Result<(), String> {
        self.0
            .merge(&other.0)
            .map_err(|e| format!("latency sketches do not merge: {e}"))
    }

    /// The stored form.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.0.to_java_bytes()
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        DDSketch::from_java_bytes(bytes)
            .map(Self)
            .map_err(|e| format!("not a latency sketch: {e:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Exact nearest-rank quantile of sorted values.
    fn exact(sorted: &[f64], q: f64) -> f64 {
        let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        sorted[rank - 1]
    }

    /// A deterministic long-tailed latency stream: mostly 20–80 ms, a tail to seconds.
    fn latencies(n: usize, seed: u64) -> Vec<f64> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x = x
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                let u = (x >> 11) as f64 / (1u64 << 53) as f64;
                // Pareto-like tail over a 20 ms floor.
                20.0 / (1.0 - u * 0.999).powf(0.7)
            })
            .collect()
    }

    #[test]
    fn quantiles_of_merged_sketches_are_within_one_percent_of_the_exact_ones() {
        let a = latencies(60_000, 7);
        let b: Vec<f64> = latencies(40_000, 11).into_iter().map(|v| v * 3.0).collect();
        let (mut sa, mut sb) = (LatencySketch::default(), LatencySketch::default());
        a.iter().for_each(|v| sa.add_ms(*v));
        b.iter().for_each(|v| sb.add_ms(*v));
        // Through the stored form, as the minute rollups keep them.
        let mut merged = LatencySketch::from_bytes(&sa.to_bytes()).unwrap();
        merged
            .merge(&LatencySketch::from_bytes(&sb.to_bytes()).unwrap())
            .unwrap();
        assert_eq!(merged.count(), 100_000);
        // A fresh sketch takes a decoded one in (minutes merged into a window start empty).
        let mut fresh = LatencySketch::default();
        fresh.merge(&merged).unwrap();
        assert_eq!(fresh.count(), 100_000);
        let mut all: Vec<f64> = a.into_iter().chain(b).collect();
        all.sort_by(f64::total_cmp);
        for q in [0.5, 0.95, 0.99] {
            let (got, want) = (merged.quantile_ms(q).unwrap(), exact(&all, q));
            assert!(
                (got - want).abs() <= want * RELATIVE_ERROR,
                "q{q}: {got} against exact {want}"
            );
        }
        assert!(sa.to_bytes().len() < 8 * 1024, "{} bytes", sa.to_bytes().len());
        assert_eq!(LatencySketch::default().quantile_ms(0.5), None);
        assert!(LatencySketch::from_bytes(b"not a sketch").is_err());
    }
}
