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
