//! Exploration: ε as a function of the step or episode count, and the ε-greedy choice every
//! algorithm makes with it.

use rand::Rng;
use serde::{Deserialize, Serialize};

/// ε-greedy: with probability `epsilon` a uniformly random one of `n_actions` actions, else
/// `greedy(rng)`. Draws one uniform number, then a second for the random action.
pub fn epsilon_greedy<R: Rng>(
    rng: &mut R,
    epsilon: f64,
    n_actions: usize,
    greedy: impl FnOnce(&mut R) -> usize,
) -> usize {
    explore(rng, epsilon, n_actions).unwrap_or_else(|| greedy(rng))
}

/// ε-greedy's random half: with probability `epsilon` a uniformly random one of `n_actions`
/// actions, else `None` (act greedily), drawing what [`epsilon_greedy`] draws before it
/// acts greedily; for acting greedily on many observations at once afterwards.
pub fn explore<R: Rng>(rng: &mut R, epsilon: f64, n_actions: usize) -> Option<usize> {
    (rng.random::<f64>() < epsilon).then(|| rng.random_range(0..n_actions))
}

/// The shape of an ε schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExplorationKind {
    /// ε = initial, always.
    Constant,
    /// SB3's schedule: linear from initial to final over `fraction` of the total steps, then final.
    Linear,
    /// ε = final + (initial − final)·exp(−step / decay_steps), per environment step.
    Exponential,
    /// ε = max(initial − episode / decay_episodes, final), per finished episode.
    LinearEpisode,
}

/// A concrete ε schedule: the kind plus its parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ExplorationSchedule {
    /// The shape.
    pub kind: ExplorationKind,
    /// ε at the start.
    pub initial: f64,
    /// ε at the end, or the floor of the episode-linear schedule.
    pub final_eps: f64,
    /// Fraction of `total_timesteps` over which the linear schedule anneals.
    pub fraction: f64,
    /// Total environment steps of the run (for the linear schedule).
    pub total_timesteps: u64,
    /// Time constant of the exponential schedule, in steps.
    pub decay_steps: f64,
    /// Episodes over which the episode-linear schedule falls by 1.
    pub decay_episodes: f64,
}

impl ExplorationSchedule {
    /// ε after `step` environment steps and `episode` finished episodes.
    pub fn epsilon(&self, step: u64, episode: u64) -> f64 {
        match self.kind {
            ExplorationKind::Constant => self.initial,
            ExplorationKind::Linear => {
                // SB3's get_linear_fn over progress = step / total_timesteps.
                let progress = step as f64 / self.total_timesteps as f64;
                if progress > self.fraction {
                    self.final_eps
                } else {
                    self.initial + progress * (self.final_eps - self.initial) / self.fraction
                }
            }
            ExplorationKind::Exponential => {
                self.final_eps
                    + (self.initial - self.final_eps) * (-(step as f64) / self.decay_steps).exp()
            }
            ExplorationKind::LinearEpisode => {
                (self.initial - episode as f64 / self.decay_episodes).max(self.final_eps)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(kind: ExplorationKind) -> ExplorationSchedule {
        ExplorationSchedule {
            kind,
            initial: 1.0,
            final_eps: 0.05,
            fraction: 0.5,
            total_timesteps: 1000,
            decay_steps: 100.0,
            decay_episodes: 500.0,
        }
    }

    #[test]
    fn constant_never_moves() {
        let s = schedule(ExplorationKind::Constant);
        assert_eq!(s.epsilon(0, 0), 1.0);
        assert_eq!(s.epsilon(10_000, 10_000), 1.0);
    }

    #[test]
    fn linear_reaches_final_at_the_fraction() {
        let s = schedule(ExplorationKind::Linear);
        assert_eq!(s.epsilon(0, 0), 1.0);
        assert!((s.epsilon(250, 0) - 0.525).abs() < 1e-12);
        assert!((s.epsilon(500, 0) - 0.05).abs() < 1e-12);
        assert_eq!(s.epsilon(501, 0), 0.05);
        assert_eq!(s.epsilon(5000, 0), 0.05);
    }

    #[test]
    fn exponential_follows_the_formula() {
        let s = ExplorationSchedule {
            initial: 0.9,
            final_eps: 0.1,
            decay_steps: 1000.0,
            ..schedule(ExplorationKind::Exponential)
        };
        assert_eq!(s.epsilon(0, 0), 0.9);
        assert!((s.epsilon(1000, 0) - (0.1 + 0.8 * (-1.0f64).exp())).abs() < 1e-15);
        assert!(s.epsilon(100_000, 0) - 0.1 < 1e-12);
    }

    #[test]
    fn episode_linear_is_floored() {
        let s = ExplorationSchedule {
            final_eps: 0.01,
            ..schedule(ExplorationKind::LinearEpisode)
        };
        assert_eq!(s.epsilon(123, 0), 1.0);
        assert!((s.epsilon(0, 250) - 0.5).abs() < 1e-12);
        assert_eq!(s.epsilon(0, 400), 1.0 - 400.0 / 500.0);
        assert_eq!(s.epsilon(0, 800), 0.01);
    }
}
