//! Greedy evaluation: run a fixed policy for whole episodes and summarise the returns.

use deepq_envs::{Env, Observation};
use serde::{Deserialize, Serialize};

/// Returns of an evaluation, summarised as SB3's `evaluate_policy` reports them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalStats {
    /// Mean episode return.
    pub mean: f64,
    /// Population standard deviation of the returns (numpy's default, as SB3 reports).
    pub std: f64,
    /// Lowest return.
    pub min: f64,
    /// Highest return.
    pub max: f64,
    /// Number of episodes.
    pub episodes: usize,
    /// Mean episode length in steps.
    pub mean_length: f64,
    /// Every episode's return, in order.
    pub returns: Vec<f64>,
}

impl EvalStats {
    /// Summarises episode returns and lengths.
    pub fn from_episodes(returns: Vec<f64>, lengths: &[u64]) -> Self {
        let n = returns.len().max(1) as f64;
        let mean = returns.iter().sum::<f64>() / n;
        let var = returns.iter().map(|r| (r - mean) * (r - mean)).sum::<f64>() / n;
        EvalStats {
            mean,
            std: var.sqrt(),
            min: returns.iter().copied().fold(f64::INFINITY, f64::min),
            max: returns.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            episodes: returns.len(),
            mean_length: lengths.iter().sum::<u64>() as f64 / n,
            returns,
        }
    }
}

/// How one episode ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EpisodeEnd {
    /// The environment reached a terminal state (failure or goal).
    Terminated,
    /// The time limit cut the episode.
    Truncated,
}

/// Runs one episode with `policy`, calling `on_frame` after the reset and after every step
/// (to render it); returns (return, length, how it ended).
pub fn run_episode<E: Env>(
    env: &mut E,
    seed: Option<u64>,
    policy: &mut impl FnMut(&[f32]) -> usize,
    mut on_frame: impl FnMut(&E),
) -> (f64, u64, EpisodeEnd) {
    let mut flat = vec![0.0f32; env.observation_space().flat_dim()];
    env.reset(seed).write_flat(&mut flat);
    on_frame(env);
    let (mut total, mut length) = (0.0, 0u64);
    loop {
        let step = env.step(policy(&flat));
        total += step.reward;
        length += 1;
        on_frame(env);
        if step.terminated || step.truncated {
            let end = if step.terminated {
                EpisodeEnd::Terminated
            } else {
                EpisodeEnd::Truncated
            };
            return (total, length, end);
        }
        step.obs.write_flat(&mut flat);
    }
}

/// Runs `episodes` episodes with `policy` on `env`. The first reset uses `seed`; later
/// episodes continue the env's random stream, as Gymnasium does after one seeded reset.
pub fn evaluate<E: Env>(
    env: &mut E,
    episodes: usize,
    seed: Option<u64>,
    mut policy: impl FnMut(&[f32]) -> usize,
) -> EvalStats {
    let mut returns = Vec::with_capacity(episodes);
    let mut lengths = Vec::with_capacity(episodes);
    for k in 0..episodes {
        let episode_seed = if k == 0 { seed } else { None };
        let (ret, len, _) = run_episode(env, episode_seed, &mut policy, |_| {});
        returns.push(ret);
        lengths.push(len);
    }
    EvalStats::from_episodes(returns, &lengths)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_match_numpy_conventions() {
        let s = EvalStats::from_episodes(vec![1.0, 2.0, 3.0, 4.0], &[10, 20, 30, 40]);
        assert_eq!(s.mean, 2.5);
        assert_eq!(s.std, 1.25f64.sqrt());
        assert_eq!((s.min, s.max, s.episodes), (1.0, 4.0, 4));
        assert_eq!(s.mean_length, 25.0);
    }

    #[test]
    fn evaluation_is_reproducible_and_seeded() {
        let mut env = deepq_envs::make("CartPole-v1", &Default::default()).unwrap();
        let deepq_envs::AnyEnv::CartPole(env) = &mut env else {
            unreachable!()
        };
        let lean = |o: &[f32]| usize::from(o[2] > 0.0);
        let a = evaluate(env, 5, Some(3), lean);
        let b = evaluate(env, 5, Some(3), lean);
        assert_eq!(a, b);
        assert!(a.mean > 25.0, "a pole-following policy beats random: {a:?}");
    }
}
