//! Row-wise reductions over Q-value tables (`batch × n_actions`, row-major), as needed to
//! build TD targets.

use crate::scalar::Scalar;

/// Index of the largest value, the first one on ties (NaNs are never selected unless
/// they come first). Returns 0 for an empty slice.
pub fn argmax<T: Scalar>(values: &[T]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate().skip(1) {
        if v > values[best] {
            best = i;
        }
    }
    best
}

/// Writes each row's maximum into `out` (`max_a Q(s', a)` for a DQN target).
///
/// # Panics
/// If `q.len() != out.len() * n_actions` or `n_actions == 0`.
pub fn max_per_row<T: Scalar>(q: &[T], n_actions: usize, out: &mut [T]) {
    check_shape(q.len(), n_actions, out.len());
    for (o, row) in out.iter_mut().zip(q.chunks_exact(n_actions)) {
        *o = row[argmax(row)];
    }
}

/// Writes each row's [`argmax`] into `out` (the online network's choice in Double DQN).
///
/// # Panics
/// If `q.len() != out.len() * n_actions` or `n_actions == 0`.
pub fn argmax_per_row<T: Scalar>(q: &[T], n_actions: usize, out: &mut [u32]) {
    check_shape(q.len(), n_actions, out.len());
    for (o, row) in out.iter_mut().zip(q.chunks_exact(n_actions)) {
        *o = u32::try_from(argmax(row)).expect("action index fits in u32");
    }
}

/// Writes `q[i, actions[i]]` into `out[i]` (Q(s, a) of the taken actions).
///
/// # Panics
/// If the lengths do not match or an action is out of range.
pub fn gather<T: Scalar>(q: &[T], n_actions: usize, actions: &[u32], out: &mut [T]) {
    check_shape(q.len(), n_actions, out.len());
    assert_eq!(actions.len(), out.len(), "one action per row");
    for ((o, row), &a) in out.iter_mut().zip(q.chunks_exact(n_actions)).zip(actions) {
        *o = row[a as usize];
    }
}

pub(crate) fn check_shape(q_len: usize, n_actions: usize, rows: usize) {
    assert!(n_actions > 0, "n_actions must be positive");
    assert_eq!(q_len, rows * n_actions, "Q table must be rows × n_actions");
}

/// `τ·log softmax(q/τ)` of one row of Q-values into `out` (Munchausen-DQN's scaled log-policy,
/// computed stably as `q − max q − τ·log Σ exp((q − max q)/τ)`).
///
/// # Panics
/// If the lengths differ or the row is empty.
pub fn scaled_log_policy<T: Scalar>(q: &[T], tau: T, out: &mut [T]) {
    assert!(
        !q.is_empty() && q.len() == out.len(),
        "one output per Q-value"
    );
    let max = q[argmax(q)];
    let mut sum = T::ZERO;
    for &v in q {
        sum = sum + ((v - max) / tau).exp();
    }
    let log_sum = sum.ln();
    for (o, &v) in out.iter_mut().zip(q) {
        *o = v - max - tau * log_sum;
    }
}

/// The soft value `Σ_a π(a)·(q(a) − τ·log π(a))` of one row of Q-values under the Boltzmann
/// policy `π = softmax(q/τ)` (Munchausen-DQN's bootstrap). `log_policy` is scratch of the
/// row's length; it ends holding `τ·log π`.
///
/// # Panics
/// As [`scaled_log_policy`].
pub fn soft_value<T: Scalar>(q: &[T], tau: T, log_policy: &mut [T]) -> T {
    scaled_log_policy(q, tau, log_policy);
    soft_value_under(q, tau, log_policy)
}

/// The soft value `Σ_a π(a)·(values(a) − τ·log π(a))` of a row of values under a policy given
/// by its scaled log-probabilities `τ·log π` (from [`scaled_log_policy`], possibly of another
/// row: M-IQN values each quantile under the policy of the mean Q-values).
///
/// # Panics
/// If the lengths differ.
pub fn soft_value_under<T: Scalar>(values: &[T], tau: T, log_policy: &[T]) -> T {
    assert_eq!(
        values.len(),
        log_policy.len(),
        "one log-probability per value"
    );
    let mut value = T::ZERO;
    for (&v, &lp) in values.iter().zip(log_policy) {
        value = value + (lp / tau).exp() * (v - lp);
    }
    value
}
