//! Gymnasium's toy-text (tabular) environments.

pub mod cliff_walking;
pub mod frozen_lake;
pub mod taxi;

/// Index of the first cumulative probability that exceeds `u`, or 0 if none
/// does (numpy's `argmax` of an all-false array), as Gymnasium's
/// `categorical_sample`. The running sum adds in order like `np.cumsum`, so
/// the boundaries round the same way.
pub(crate) fn categorical_sample(probs: impl IntoIterator<Item = f64>, u: f64) -> usize {
    let mut cumulative = 0.0;
    for (i, p) in probs.into_iter().enumerate() {
        cumulative += p;
        if cumulative > u {
            return i;
        }
    }
    0
}
