//! Ranking guards: an error rate of 1 failure out of 2 requests must not outrank 300 out of
//! 1,000. Rankings use the lower bound of the Wilson score interval (Wilson 1927), which shrinks
//! small samples toward zero.

/// z for a one-sided 95 % bound.
pub const Z_95: f64 = 1.644_853_626_951_472_2;

/// The lower bound of the Wilson score interval of `failures` out of `total` at `z`; 0 for no
/// requests.
pub fn wilson_lower(failures: u64, total: u64, z: f64) -> f64 {
    if total == 0 {
        return 0.0;
    }
    let n = total as f64;
    let p = failures.min(total) as f64 / n;
    let z2 = z * z;
    let centre = p + z2 / (2.0 * n);
    let margin = z * ((p * (1.0 - p) + z2 / (4.0 * n)) / n).sqrt();
    ((centre - margin) / (1.0 + z2 / n)).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_samples_rank_below_large_ones_with_a_lower_rate() {
        // Half of 2 requests failed, 30 % of 1,000 did: the second is the surer problem.
        let tiny = wilson_lower(1, 2, Z_95);
        let large = wilson_lower(300, 1_000, Z_95);
        assert!(tiny < large, "1/2 → {tiny}, 300/1000 → {large}");
        // Even 3 of 3 stays below a steady 60 % of 1,000.
        assert!(wilson_lower(3, 3, Z_95) < wilson_lower(600, 1_000, Z_95));
        // Known value: 300 of 1,000 at 95 % one-sided ≈ 0.2766.
        assert!((large - 0.2766).abs() < 0.001, "{large}");
        assert_eq!(wilson_lower(0, 0, Z_95), 0.0);
        assert_eq!(wilson_lower(0, 50, Z_95), 0.0);
        // With more volume the bound approaches the rate.
        assert!((wilson_lower(30_000, 100_000, Z_95) - 0.3).abs() < 0.003);
    }
}
