//! Distributional (C51) pieces: softmax over atoms, expected Q-values, the categorical
//! projection of the Bellman target onto the support, and the cross-entropy loss
//! (Bellemare, Dabney & Munos 2017).
//!
//! Network outputs are `batch × n_actions × atoms` logits, action-major: the `atoms` logits of
//! action `a` in row `i` start at `(i·n_actions + a)·atoms`.

use crate::dense;
use crate::kernels::simd_dispatch;
use crate::scalar::Scalar;

/// Atoms per stack chunk of exponentials in [`expected_value`].
const CHUNK: usize = 64;

#[inline(always)]
fn max_of<T: Scalar>(xs: &[T]) -> T {
    dense::max(xs)
}

/// Softmax of one row of logits into `probs` (max-subtracted, as PyTorch's).
///
/// # Panics
/// If the lengths differ.
pub fn softmax<T: Scalar>(logits: &[T], probs: &mut [T]) {
    assert_eq!(logits.len(), probs.len(), "softmax lengths");
    softmax_rows(logits, logits.len(), probs);
}

/// Softmax of every `atoms`-long group of `logits` into `probs`.
///
/// # Panics
/// If the lengths differ or are not a multiple of `atoms`.
pub fn softmax_rows<T: Scalar>(logits: &[T], atoms: usize, probs: &mut [T]) {
    assert!(
        logits.len() == probs.len() && logits.len().is_multiple_of(atoms),
        "softmax_rows lengths"
    );
    for (l, p) in logits
        .chunks_exact(atoms)
        .zip(probs.chunks_exact_mut(atoms))
    {
        let max = max_of(l);
        for (p, &l) in p.iter_mut().zip(l) {
            *p = l - max;
        }
    }
    // One vectorised pass of exponentials over every row.
    T::exp_slice(probs);
    normalize_rows(probs, atoms);
}

simd_dispatch! {
    /// Divides every `atoms`-long row by its sum.
    fn normalize_rows<T: Scalar>(probs: &mut [T], atoms: usize) {
        for p in probs.chunks_exact_mut(atoms) {
            let sum = dense::sum(p);
            for v in p.iter_mut() {
                *v = *v / sum;
            }
        }
    }
}

/// The expectation `Σ_j softmax(logits)_j · support_j` of one action's return distribution.
/// Allocation-free.
#[inline]
pub fn expected_value<T: Scalar>(logits: &[T], support: &[T]) -> T {
    expected_value_kernel(logits, support)
}

simd_dispatch! {
    /// [`expected_value`], compiled per SIMD level (its sums use fused multiply-adds).
    fn expected_value_kernel<T: Scalar>(logits: &[T], support: &[T]) -> T {
        expected_value_inline(logits, support)
    }

    /// [`expected_q_from_probs`] after the checks.
    fn expected_q_from_probs_kernel<T: Scalar>(probs: &[T], support: &[T], q: &mut [T]) {
        for (q, p) in q.iter_mut().zip(probs.chunks_exact(support.len())) {
            *q = dense::dot(p, support);
        }
    }

    /// [`categorical_projection`] after the checks.
    fn projection_kernel<T: Scalar>(
        next_probs: &[T],
        rewards: &[T],
        discounts: &[T],
        v_min: f64,
        v_max: f64,
        target: &mut [T],
    ) {
        projection_inline(next_probs, rewards, discounts, v_min, v_max, target)
    }
}

#[inline(always)]
fn expected_value_inline<T: Scalar>(logits: &[T], support: &[T]) -> T {
    let max = max_of(logits);
    let (mut sum, mut weighted) = (T::ZERO, T::ZERO);
    let mut buf = [T::ZERO; CHUNK];
    for (l, z) in logits.chunks(CHUNK).zip(support.chunks(CHUNK)) {
        let e = &mut buf[..l.len()];
        for (e, &l) in e.iter_mut().zip(l) {
            *e = l - max;
        }
        T::exp_slice(e);
        sum = sum + dense::sum(e);
        weighted = weighted + dense::dot(e, z);
    }
    weighted / sum
}

/// Q-values of every `support.len()`-long group of `logits` (one per row and action).
///
/// # Panics
/// If `logits.len() != q.len() * support.len()`.
pub fn expected_q<T: Scalar>(logits: &[T], support: &[T], q: &mut [T]) {
    assert_eq!(logits.len(), q.len() * support.len(), "expected_q lengths");
    for (q, l) in q.iter_mut().zip(logits.chunks_exact(support.len())) {
        *q = expected_value(l, support);
    }
}

/// Q-values from probabilities: `q[k] = Σ_j probs[k·atoms + j] · support_j` for every
/// `support.len()`-long group of `probs`.
///
/// # Panics
/// If `probs.len() != q.len() * support.len()`.
pub fn expected_q_from_probs<T: Scalar>(probs: &[T], support: &[T], q: &mut [T]) {
    assert_eq!(probs.len(), q.len() * support.len(), "expected_q lengths");
    expected_q_from_probs_kernel(probs, support, q);
}

/// The categorical projection of C51: for each row `i`, the distribution of
/// `rewards[i] + discounts[i]·Z` (with `Z` distributed as `next_probs` row `i` over the support
/// `v_min..=v_max` in `atoms` steps), clipped to `[v_min, v_max]` and split between the two
/// nearest atoms in proportion to closeness. A return that lands exactly on an atom puts all
/// its mass there. `discounts[i]` is `γⁿ` for a bootstrapped n-step target and 0 where the
/// episode terminated. Writes `target` (`rows × atoms`). Allocation-free.
///
/// # Panics
/// If the lengths do not fit `rows × atoms`, or `atoms < 2`.
pub fn categorical_projection<T: Scalar>(
    next_probs: &[T],
    rewards: &[T],
    discounts: &[T],
    v_min: f64,
    v_max: f64,
    target: &mut [T],
) {
    let rows = rewards.len();
    assert!(
        rows > 0 && discounts.len() == rows,
        "one reward and discount per row"
    );
    let atoms = next_probs.len() / rows;
    assert!(
        atoms >= 2 && next_probs.len() == rows * atoms && target.len() == rows * atoms,
        "projection shapes"
    );
    projection_kernel(next_probs, rewards, discounts, v_min, v_max, target);
}

/// The C51 loss on a batch: for each row `i`, the cross-entropy `−Σ_j target[i, j] ·
/// log softmax(logits[i, actions[i], ·])_j` of the taken action's predicted distribution
/// against the projected target; returns the mean over the batch, each row multiplied by its
/// weight if `weights` is given (importance weights of prioritized replay).
///
/// Writes d loss / d logits into `grad_logits` (zero except at the taken actions' atoms) and,
/// if given, each row's (unweighted) cross-entropy into `per_sample` (the priorities of
/// prioritized replay). Allocation-free.
///
/// # Panics
/// If a length does not fit `batch = actions.len()` rows of `n_actions × atoms` logits, or
/// an action is `≥ n_actions`.
#[allow(clippy::too_many_arguments)]
pub fn categorical_loss<T: Scalar>(
    logits: &[T],
    n_actions: usize,
    atoms: usize,
    actions: &[u32],
    target: &[T],
    weights: Option<&[T]>,
    grad_logits: &mut [T],
    mut per_sample: Option<&mut [T]>,
) -> T {
    let batch = actions.len();
    let width = n_actions * atoms;
    assert!(
        logits.len() == batch * width && grad_logits.len() == logits.len(),
        "logits and grad_logits must be batch × n_actions × atoms"
    );
    assert_eq!(target.len(), batch * atoms, "target must be batch × atoms");
    if let Some(w) = weights {
        assert_eq!(w.len(), batch, "one weight per sample");
    }
    if let Some(ps) = per_sample.as_deref() {
        assert_eq!(ps.len(), batch, "one loss per sample");
    }
    grad_logits.fill(T::ZERO);
    let inv_batch = T::ONE / T::from_f64(batch as f64);
    let mut total = T::ZERO;
    for i in 0..batch {
        let a = actions[i] as usize;
        assert!(
            a < n_actions,
            "action {a} out of range for {n_actions} actions"
        );
        let start = i * width + a * atoms;
        let l = &logits[start..start + atoms];
        let m = &target[i * atoms..(i + 1) * atoms];
        let max = max_of(l);
        // The exponentials go through the gradient row, which they become.
        let g = &mut grad_logits[start..start + atoms];
        for (g, &v) in g.iter_mut().zip(l) {
            *g = v - max;
        }
        T::exp_slice(g);
        let sum = dense::sum(g);
        let log_sum = sum.ln();
        let (mut ce, mut mass) = (T::ZERO, T::ZERO);
        for (&v, &mj) in l.iter().zip(m) {
            ce = ce - mj * ((v - max) - log_sum);
            mass = mass + mj;
        }
        let w = weights.map_or(T::ONE, |w| w[i]);
        total = total + w * ce;
        let scale = w * inv_batch;
        for (g, &mj) in g.iter_mut().zip(m) {
            let p = *g / sum;
            *g = (p * mass - mj) * scale;
        }
        if let Some(ps) = per_sample.as_deref_mut() {
            ps[i] = ce;
        }
    }
    total / T::from_f64(batch as f64)
}

#[inline(always)]
fn projection_inline<T: Scalar>(
    next_probs: &[T],
    rewards: &[T],
    discounts: &[T],
    v_min: f64,
    v_max: f64,
    target: &mut [T],
) {
    let rows = rewards.len();
    let atoms = next_probs.len() / rows;
    let (lo, hi) = (T::from_f64(v_min), T::from_f64(v_max));
    let dz64 = (v_max - v_min) / (atoms - 1) as f64;
    let dz = T::from_f64(dz64);
    let last = (atoms - 1) as f64;
    for i in 0..rows {
        let (p, m) = (
            &next_probs[i * atoms..(i + 1) * atoms],
            &mut target[i * atoms..(i + 1) * atoms],
        );
        m.fill(T::ZERO);
        for (j, &pj) in p.iter().enumerate() {
            let z = T::from_f64(v_min + j as f64 * dz64);
            let tz = rewards[i] + discounts[i] * z;
            let tz = if tz < lo {
                lo
            } else if tz > hi {
                hi
            } else {
                tz
            };
            let b = ((tz - lo) / dz).to_f64().clamp(0.0, last);
            // b ≥ 0, so truncation is the floor.
            let li = b as usize;
            let l = li as f64;
            if b == l {
                m[li] = m[li] + pj;
            } else {
                let (bt, ui) = (T::from_f64(b), li + 1);
                m[li] = m[li] + pj * (T::from_f64(l + 1.0) - bt);
                m[ui] = m[ui] + pj * (bt - T::from_f64(l));
            }
        }
    }
}
