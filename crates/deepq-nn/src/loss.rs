//! TD losses on the Q-values of the taken actions.

use serde::{Deserialize, Serialize};

use crate::qvalues::check_shape;
use crate::scalar::Scalar;

/// Per-sample loss on the TD error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Loss {
    /// Squared error, PyTorch's `mse_loss`.
    Mse,
    /// PyTorch's `smooth_l1_loss` with `beta = 1` (the Huber loss with `delta = 1`):
    /// `0.5 x²` for `|x| < 1`, else `|x| − 0.5`.
    Huber,
}

impl Loss {
    /// Loss and its derivative at `x = prediction − target`.
    #[inline]
    fn value_and_slope<T: Scalar>(self, x: T) -> (T, T) {
        match self {
            Loss::Mse => (x * x, T::from_f64(2.0) * x),
            Loss::Huber => {
                let half = T::from_f64(0.5);
                if x.abs() < T::ONE {
                    (half * x * x, x)
                } else {
                    let sign = if x < T::ZERO { -T::ONE } else { T::ONE };
                    (x.abs() - half, sign)
                }
            }
        }
    }
}

/// The DQN loss on a batch: gathers `Q(s, a)` from `q` (`batch × n_actions`, row-major) by
/// `actions`, and returns the mean over the batch of `loss(Q(s, a) − target)`, each sample
/// multiplied by its weight if `weights` is given (importance weights of prioritized
/// replay).
///
/// Writes d loss / d q into `grad_q` (zero except at the gathered entries) and, if given,
/// the TD errors `target − Q(s, a)` into `td_errors` (new priorities for prioritized replay).
///
/// # Panics
/// If a length does not match `batch = actions.len()` or an action is `≥ n_actions`.
#[allow(clippy::too_many_arguments)]
pub fn q_loss<T: Scalar>(
    loss: Loss,
    q: &[T],
    n_actions: usize,
    actions: &[u32],
    targets: &[T],
    weights: Option<&[T]>,
    grad_q: &mut [T],
    mut td_errors: Option<&mut [T]>,
) -> T {
    let batch = actions.len();
    check_shape(q.len(), n_actions, batch);
    assert_eq!(targets.len(), batch, "one target per sample");
    assert_eq!(grad_q.len(), q.len(), "grad_q must have q's shape");
    if let Some(w) = weights {
        assert_eq!(w.len(), batch, "one weight per sample");
    }
    if let Some(td) = td_errors.as_deref() {
        assert_eq!(td.len(), batch, "one TD error per sample");
    }
    grad_q.fill(T::ZERO);
    // The mean's backward pass hands each sample 1/batch, as PyTorch's does.
    let inv_batch = T::ONE / T::from_f64(batch as f64);
    let mut total = T::ZERO;
    for i in 0..batch {
        let a = actions[i] as usize;
        assert!(
            a < n_actions,
            "action {a} out of range for {n_actions} actions"
        );
        let row = i * n_actions;
        let x = q[row + a] - targets[i];
        let (value, slope) = loss.value_and_slope(x);
        let w = weights.map_or(T::ONE, |w| w[i]);
        total = total + w * value;
        grad_q[row + a] = slope * (w * inv_batch);
        if let Some(td) = td_errors.as_deref_mut() {
            td[i] = -x;
        }
    }
    total / T::from_f64(batch as f64)
}
