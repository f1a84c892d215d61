//! Quantile regression (QR-DQN, Dabney et al. 2018): a network's quantile outputs reduced to
//! Q-values, the quantile midpoints, and the quantile Huber loss.
//!
//! A quantile head's output row is `[n_quantiles, n_actions]`: unit `i·n_actions + a` is
//! quantile `i` of action `a` (sb3-contrib's `QuantileNetwork` layout, see
//! [`Arch::quantiles`](crate::Arch::quantiles)).

use crate::scalar::Scalar;

/// Q-values from quantile rows: `q[r·n_actions + a]` is the mean over the `n_quantiles`
/// quantiles of action `a` in row `r` of `quantiles` (`rows × n_quantiles × n_actions`),
/// summed in quantile order then divided by `n_quantiles` (PyTorch's `mean(dim=1)`).
/// Allocation-free.
///
/// # Panics
/// If `q` is not a whole number of `n_actions`-long rows or `quantiles` does not hold
/// `n_quantiles` of them per row.
pub fn mean_over_quantiles<T: Scalar>(
    quantiles: &[T],
    n_quantiles: usize,
    n_actions: usize,
    q: &mut [T],
) {
    assert!(
        n_quantiles > 0
            && n_actions > 0
            && q.len().is_multiple_of(n_actions)
            && quantiles.len() == q.len() * n_quantiles,
        "quantile rows and Q-values do not fit together"
    );
    let count = T::from_f64(n_quantiles as f64);
    for (row, q_row) in quantiles
        .chunks_exact(n_quantiles * n_actions)
        .zip(q.chunks_exact_mut(n_actions))
    {
        q_row.fill(T::ZERO);
        for quantile in row.chunks_exact(n_actions) {
            for (acc, &z) in q_row.iter_mut().zip(quantile) {
                *acc = *acc + z;
            }
        }
        for acc in q_row.iter_mut() {
            *acc = *acc / count;
        }
    }
}

/// The quantile midpoints `τ̂ᵢ = (i + 0.5)/n` that QR-DQN's `n` quantiles estimate, computed
/// in f64 and rounded once.
pub fn quantile_midpoints<T: Scalar>(n: usize) -> Vec<T> {
    (0..n)
        .map(|i| T::from_f64((i as f64 + 0.5) / n as f64))
        .collect()
}

/// Targets whose loss terms [`quantile_huber_loss`] computes at once.
const TARGET_BLOCK: usize = 64;

/// The quantile Huber loss (κ = 1) of QR-DQN and IQN, as sb3-contrib's `quantile_huber_loss`
/// with `sum_over_quantiles = True`: for each of the `batch` rows, with `current` the row's
/// `N` predicted quantiles (`batch × N`) at fractions `taus` and `targets` its `N′` target
/// samples (`batch × N′`), and `δᵢⱼ = targets[j] − current[i]`,
///
/// `Lᵦ = (1/N′) Σᵢ Σⱼ |τᵢ − 1{δᵢⱼ < 0}| · huber(δᵢⱼ)`, `huber(δ) = ½δ²` for `|δ| ≤ 1`, else
/// `|δ| − ½`;
///
/// returns the mean over the rows, each multiplied by its weight if `weights` is given
/// (importance weights of prioritized replay). `taus` holds `N` fractions shared by every row
/// (QR-DQN's midpoints) or `batch × N`, one set per row (IQN's samples).
///
/// Writes d loss / d current into `grad_current` and, if given, each row's unweighted `Lᵦ`
/// into `per_sample` (priorities for prioritized replay). Allocation-free.
///
/// # Panics
/// If a length does not fit `batch` rows.
pub fn quantile_huber_loss<T: Scalar>(
    batch: usize,
    current: &[T],
    taus: &[T],
    targets: &[T],
    weights: Option<&[T]>,
    grad_current: &mut [T],
    mut per_sample: Option<&mut [T]>,
) -> T {
    assert!(
        batch > 0
            && current.len().is_multiple_of(batch)
            && targets.len().is_multiple_of(batch)
            && grad_current.len() == current.len(),
        "quantile loss shapes: current and targets must be batch × N and batch × N′"
    );
    let (n, n_target) = (current.len() / batch, targets.len() / batch);
    assert!(
        taus.len() == n || taus.len() == batch * n,
        "taus must hold N or batch × N fractions"
    );
    assert!(
        weights.is_none_or(|w| w.len() >= batch),
        "one weight per row"
    );
    assert!(
        per_sample.as_ref().is_none_or(|p| p.len() >= batch),
        "one per-sample loss per row"
    );
    let (one, half) = (T::ONE, T::from_f64(0.5));
    let per_target = T::from_f64(1.0 / n_target as f64);
    let per_row = T::from_f64(1.0 / batch as f64);
    let mut total = T::ZERO;
    // Each pair's terms are computed a block of targets at a time, branch-free so that the
    // compiler vectorizes them, then added in the order of the pairs: every sum is the one
    // the pairs give one after the other.
    let mut losses = [T::ZERO; TARGET_BLOCK];
    let mut slopes = [T::ZERO; TARGET_BLOCK];
    for b in 0..batch {
        let row_taus = if taus.len() == n {
            taus
        } else {
            &taus[b * n..(b + 1) * n]
        };
        let row_targets = &targets[b * n_target..(b + 1) * n_target];
        let weight = weights.map_or(one, |w| w[b]);
        let grad_scale = weight * per_row * per_target;
        let mut row_loss = T::ZERO;
        for i in 0..n {
            let (z, tau) = (current[b * n + i], row_taus[i]);
            let mut slope_sum = T::ZERO;
            for block in row_targets.chunks(TARGET_BLOCK) {
                let terms = block.iter().zip(&mut losses).zip(&mut slopes);
                for ((&target, loss), slope) in terms {
                    let delta = target - z;
                    let negative = delta < T::ZERO;
                    let asymmetry = (tau - if negative { one } else { T::ZERO }).abs();
                    let outside = delta.abs() > one;
                    let huber = if outside {
                        delta.abs() - half
                    } else {
                        half * delta * delta
                    };
                    let sign = if negative { -one } else { one };
                    *loss = asymmetry * huber;
                    *slope = asymmetry * if outside { sign } else { delta };
                }
                for (&loss, &slope) in losses.iter().zip(&slopes).take(block.len()) {
                    row_loss = row_loss + loss;
                    slope_sum = slope_sum + slope;
                }
            }
            // δ = target − current, so d huber / d current = −slope.
            grad_current[b * n + i] = -slope_sum * grad_scale;
        }
        let row_loss = row_loss * per_target;
        if let Some(p) = per_sample.as_deref_mut() {
            p[b] = row_loss;
        }
        total = total + weight * row_loss;
    }
    total * per_row
}
