//! Gymnasium's toy-text (tabular) environments.

use rand::Rng;
use rand_pcg::Pcg64;

use crate::env::Step;
use frozen_lake::Transition;

pub mod cliff_walking;
pub mod frozen_lake;
pub mod taxi;

/// Draws the outcome of `action` in `state` from a transition table with one RNG draw, even
/// when the move is deterministic, as Gymnasium's toy-text environments do.
pub(crate) fn sample_transition(
    table: &[Vec<Vec<Transition>>],
    state: usize,
    action: usize,
    rng: &mut Pcg64,
) -> Transition {
    let outcomes = &table[state][action];
    let u: f64 = rng.random();
    outcomes[categorical_sample(outcomes.iter().map(|t| t.prob), u)]
}

impl Transition {
    /// The step this outcome makes (time limits are `TimeLimit`'s business).
    pub(crate) fn step(self) -> Step<usize> {
        Step {
            obs: self.next_state,
            reward: self.reward,
            terminated: self.terminated,
            truncated: false,
        }
    }
}

/// Reads the `[index]` state of `reset_to_state`, panicking with `env`'s name on a value that
/// is not an index below `n_states`.
pub(crate) fn state_index(env: &str, state: &[f64], n_states: usize) -> usize {
    crate::env::check_state_len(env, state, 1);
    let s = state[0];
    assert!(
        s >= 0.0 && s.fract() == 0.0 && (s as usize) < n_states,
        "{env}: state {s} is not an index below {n_states}"
    );
    s as usize
}

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
