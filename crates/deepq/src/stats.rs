//! Statistics across seeds, as RL research reports them: mean, median, interquartile mean
//! and a bootstrap confidence interval (see Agarwal et al., "Deep RL at the Edge of the
//! Statistical Precipice", 2021).

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;
use serde::{Deserialize, Serialize};

/// Summary of one quantity measured over several runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Aggregate {
    /// Number of values.
    pub n: usize,
    /// Arithmetic mean.
    pub mean: f64,
    /// Median.
    pub median: f64,
    /// Interquartile mean: the mean of the middle 50% of values.
    pub iqm: f64,
    /// 95% percentile-bootstrap confidence interval of the mean.
    pub ci95: [f64; 2],
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
}

/// Resamples used for the bootstrap interval.
const BOOTSTRAP_RESAMPLES: usize = 10_000;

impl Aggregate {
    /// Summarises `values` (which must not be empty). The bootstrap uses a fixed seed, so
    /// the same values always give the same interval.
    pub fn of(values: &[f64]) -> Self {
        assert!(!values.is_empty(), "cannot aggregate zero values");
        let n = values.len();
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let mean = sorted.iter().sum::<f64>() / n as f64;
        let mut rng = Pcg64::seed_from_u64(0x5EED);
        let mut means: Vec<f64> = (0..BOOTSTRAP_RESAMPLES)
            .map(|_| (0..n).map(|_| sorted[rng.random_range(0..n)]).sum::<f64>() / n as f64)
            .collect();
        means.sort_by(f64::total_cmp);
        Aggregate {
            n,
            mean,
            median: quantile(&sorted, 0.5),
            iqm: interquartile_mean(&sorted),
            ci95: [quantile(&means, 0.025), quantile(&means, 0.975)],
            min: sorted[0],
            max: sorted[n - 1],
        }
    }
}

/// Linear-interpolated quantile of sorted values (numpy's default method).
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, frac) = (pos.floor() as usize, pos.fract());
    match sorted.get(lo + 1) {
        Some(&hi) => sorted[lo] + frac * (hi - sorted[lo]),
        None => sorted[lo],
    }
}

/// Mean of the middle 50% of sorted values, weighting the boundary values fractionally so
/// that every sample size gives exactly half the mass (rliable's IQM for n divisible by 4).
pub fn interquartile_mean(sorted: &[f64]) -> f64 {
    let n = sorted.len() as f64;
    let (lo, hi) = (n * 0.25, n * 0.75);
    let mut total = 0.0;
    for (i, &v) in sorted.iter().enumerate() {
        // Overlap of the value's slot [i, i+1) with the middle half [lo, hi).
        let weight = ((i as f64 + 1.0).min(hi) - (i as f64).max(lo)).max(0.0);
        total += weight * v;
    }
    total / (hi - lo)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iqm_trims_a_quarter_each_side() {
        let v: Vec<f64> = (1..=8).map(f64::from).collect();
        assert_eq!(interquartile_mean(&v), 4.5); // mean of 3, 4, 5, 6
        assert_eq!(interquartile_mean(&[1.0, 2.0, 3.0, 100.0]), 2.5);
        assert_eq!(interquartile_mean(&[7.0]), 7.0);
    }

    #[test]
    fn quantiles_match_numpy() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile(&v, 0.5), 2.5);
        assert_eq!(quantile(&v, 0.25), 1.75);
        assert_eq!(quantile(&v, 1.0), 4.0);
    }

    #[test]
    fn bootstrap_interval_brackets_the_mean_and_is_reproducible() {
        let v = [
            480.0, 500.0, 500.0, 495.0, 120.0, 500.0, 499.0, 470.0, 500.0, 500.0,
        ];
        let a = Aggregate::of(&v);
        assert!(a.ci95[0] < a.mean && a.mean < a.ci95[1], "{a:?}");
        assert!(a.ci95[0] > 120.0 && a.ci95[1] <= 500.0);
        assert_eq!(a, Aggregate::of(&v));
        assert_eq!(Aggregate::of(&[3.0, 3.0]).ci95, [3.0, 3.0]);
    }
}
