//! n-step returns: each environment copy keeps its last `n` steps and hands out a transition
//! once its return is complete.
//!
//! A transition started at step t carries `R = Σ_{k<m} γᵏ r_{t+k}` and the observation
//! `m` steps later, with `m = n` while the episode goes on. When the episode ends, every
//! pending transition is completed with the steps that are left (`m < n`): after a
//! termination the target is `R` alone; after a truncation the target still bootstraps, with
//! `γᵐ` from the final observation (unless `bootstrap_on_truncation = false`). The horizon
//! `m` travels with the transition, so targets use the right power of γ.

use serde::{Deserialize, Serialize};

/// The pending steps of one environment copy: a ring of at most `n` (observation, action,
/// reward) triples.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NStepQueue {
    n: usize,
    obs_dim: usize,
    obs: Vec<f32>,
    actions: Vec<u32>,
    rewards: Vec<f64>,
    /// Ring position of the oldest pending step.
    start: usize,
    len: usize,
}

/// One completed n-step transition, as [`NStepQueue::push`] hands it out.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NStepTransition<'a> {
    /// The observation the transition starts from.
    pub obs: &'a [f32],
    /// The action taken there.
    pub action: u32,
    /// The discounted sum of the `horizon` rewards that followed.
    pub ret: f64,
    /// The observation `horizon` steps later (the final one if the episode ended).
    pub next_obs: &'a [f32],
    /// Steps summed into `ret`.
    pub horizon: u16,
    /// Whether the episode terminated within those steps.
    pub terminated: bool,
    /// Whether it was truncated within them.
    pub truncated: bool,
}

impl NStepQueue {
    /// An empty queue for `n`-step returns (`1 ≤ n ≤ u16::MAX`) of `obs_dim`-wide observations.
    pub fn new(n: usize, obs_dim: usize) -> Self {
        assert!(
            n >= 1 && n <= usize::from(u16::MAX),
            "n-step horizon out of range"
        );
        NStepQueue {
            n,
            obs_dim,
            obs: vec![0.0; n * obs_dim],
            actions: vec![0; n],
            rewards: vec![0.0; n],
            start: 0,
            len: 0,
        }
    }

    /// Steps waiting for their return to complete.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no step is pending.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Drops the pending steps, whose episode was cut before their returns completed.
    pub fn clear(&mut self) {
        self.start = 0;
        self.len = 0;
    }

    /// Whether the queue fits `n` and `obs_dim` (a decoded checkpoint's check).
    pub fn fits(&self, n: usize, obs_dim: usize) -> bool {
        self.n == n
            && self.obs_dim == obs_dim
            && self.obs.len() == n * obs_dim
            && self.actions.len() == n
            && self.rewards.len() == n
            && self.start < n
            && self.len <= n
    }

    /// Records one step (`obs`, `action`, `reward`, then `next_obs`, ending the episode if
    /// `terminated` or `truncated`) and calls `emit` for every transition whose return is now
    /// complete, oldest first: the oldest pending one once `n` steps are pending, or all of
    /// them when the episode ends. Returns are summed backwards (`r + γ·(r' + γ·…)`).
    #[allow(clippy::too_many_arguments)]
    pub fn push(
        &mut self,
        obs: &[f32],
        action: u32,
        reward: f64,
        next_obs: &[f32],
        terminated: bool,
        truncated: bool,
        gamma: f64,
        mut emit: impl FnMut(NStepTransition<'_>),
    ) {
        debug_assert_eq!(obs.len(), self.obs_dim);
        let slot = (self.start + self.len) % self.n;
        self.obs[slot * self.obs_dim..(slot + 1) * self.obs_dim].copy_from_slice(obs);
        self.actions[slot] = action;
        self.rewards[slot] = reward;
        self.len += 1;
        let ended = terminated || truncated;
        if !ended && self.len < self.n {
            return;
        }
        let count = if ended { self.len } else { 1 };
        for _ in 0..count {
            let mut ret = 0.0;
            for k in (0..self.len).rev() {
                ret = self.rewards[(self.start + k) % self.n] + gamma * ret;
            }
            let first = self.start;
            emit(NStepTransition {
                obs: &self.obs[first * self.obs_dim..(first + 1) * self.obs_dim],
                action: self.actions[first],
                ret,
                next_obs,
                horizon: self.len as u16,
                terminated: ended && terminated,
                truncated: ended && truncated,
            });
            self.start = (self.start + 1) % self.n;
            self.len -= 1;
        }
        if ended {
            self.start = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_pcg::Pcg64;

    /// One recorded step of a random episode.
    #[derive(Clone, Copy, Debug)]
    struct Step {
        obs: f32,
        action: u32,
        reward: f64,
        next_obs: f32,
        terminated: bool,
        truncated: bool,
    }

    /// What a transition starting at step `t` must be, straight from the definition: the sum
    /// of γᵏ·r over the next min(n, steps left in the episode) rewards.
    fn brute_force(steps: &[Step], t: usize, n: usize, gamma: f64) -> (f64, f32, u16, bool, bool) {
        let mut end = t;
        let mut ret = 0.0;
        for k in 0..n {
            let s = steps[t + k];
            ret += gamma.powi(k as i32) * s.reward;
            end = t + k;
            if s.terminated || s.truncated {
                break;
            }
        }
        let last = steps[end];
        let ended = last.terminated || last.truncated;
        (
            ret,
            last.next_obs,
            (end - t + 1) as u16,
            ended && last.terminated,
            ended && last.truncated,
        )
    }

    #[test]
    fn n_step_targets_match_a_brute_force_computation() {
        let mut rng = Pcg64::seed_from_u64(3);
        for trial in 0..300 {
            let n = rng.random_range(1..7);
            let gamma = rng.random_range(0.5..1.0);
            // Several episodes back to back, ending by termination or truncation at random
            // (and the last one possibly still running).
            let mut steps = Vec::new();
            let mut obs = 0.0f32;
            for _ in 0..rng.random_range(1..60) {
                let end = rng.random_bool(0.15);
                let terminated = end && rng.random_bool(0.5);
                steps.push(Step {
                    obs,
                    action: rng.random_range(0..4),
                    reward: rng.random_range(-2.0..2.0),
                    next_obs: obs + 1.0,
                    terminated,
                    truncated: end && !terminated,
                });
                obs = if end {
                    1000.0 * (steps.len() as f32)
                } else {
                    obs + 1.0
                };
            }
            let mut q = NStepQueue::new(n, 1);
            let mut emitted: Vec<(f32, u32, f64, f32, u16, bool, bool)> = Vec::new();
            for s in &steps {
                q.push(
                    &[s.obs],
                    s.action,
                    s.reward,
                    &[s.next_obs],
                    s.terminated,
                    s.truncated,
                    gamma,
                    |t| {
                        emitted.push((
                            t.obs[0],
                            t.action,
                            t.ret,
                            t.next_obs[0],
                            t.horizon,
                            t.terminated,
                            t.truncated,
                        ))
                    },
                );
            }
            // Every step whose n-step window is complete (closed by the horizon or an episode
            // end) was emitted exactly once, in order.
            let complete: Vec<usize> = (0..steps.len())
                .filter(|&t| {
                    (t..steps.len().min(t + n)).any(|k| steps[k].terminated || steps[k].truncated)
                        || t + n <= steps.len()
                })
                .collect();
            assert_eq!(emitted.len(), complete.len(), "trial {trial}");
            assert_eq!(q.len(), steps.len() - complete.len());
            for (e, &t) in emitted.iter().zip(&complete) {
                let (ret, next, horizon, term, trunc) = brute_force(&steps, t, n, gamma);
                assert_eq!(e.0, steps[t].obs, "trial {trial}, step {t}");
                assert_eq!(e.1, steps[t].action);
                assert!((e.2 - ret).abs() < 1e-12, "trial {trial}: {} vs {ret}", e.2);
                assert_eq!(
                    (e.3, e.4, e.5, e.6),
                    (next, horizon, term, trunc),
                    "trial {trial}, step {t}"
                );
            }
        }
    }

    #[test]
    fn one_step_queue_passes_transitions_through() {
        let mut q = NStepQueue::new(1, 2);
        let mut out = Vec::new();
        q.push(&[1.0, 2.0], 1, 0.5, &[3.0, 4.0], false, false, 0.9, |t| {
            out.push((t.obs.to_vec(), t.ret, t.next_obs.to_vec(), t.horizon))
        });
        assert_eq!(out, vec![(vec![1.0, 2.0], 0.5, vec![3.0, 4.0], 1)]);
        assert!(q.is_empty());
    }
}
