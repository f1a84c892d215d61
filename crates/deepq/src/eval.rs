//! Greedy evaluation: run a fixed policy for whole episodes and summarise the returns.
//!
//! Every evaluation episode is capped ([`EvalPlan::max_episode_steps`], the config key
//! `eval_max_episode_steps`): an environment without a time limit (MinAtar, or any env under a
//! degenerate policy that never reaches a terminal state) would otherwise run one episode
//! forever. A capped episode counts as truncated; its return is reported and
//! [`EvalStats::capped`] counts it.

use std::time::Instant;

use deepq_envs::{Env, Observation};
use serde::{Deserialize, Serialize};

use crate::observer::Observer;

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
    /// Every episode's length in steps, in order.
    #[serde(default)]
    pub lengths: Vec<u64>,
    /// Episodes cut by the evaluation's step cap (`eval_max_episode_steps`) rather than
    /// ended by the environment.
    #[serde(default)]
    pub capped: usize,
}

impl EvalStats {
    /// Summarises episode returns and lengths; `capped` of them hit the step cap.
    pub fn from_episodes(returns: Vec<f64>, lengths: Vec<u64>, capped: usize) -> Self {
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
            lengths,
            capped,
        }
    }
}

/// How one episode ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EpisodeEnd {
    /// The environment reached a terminal state (failure or goal).
    Terminated,
    /// The environment's time limit cut the episode.
    Truncated,
    /// The evaluation's step cap cut the episode before the environment ended it; it
    /// counts as truncated.
    Capped,
}

/// One finished episode.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Episode {
    /// Undiscounted return.
    pub ret: f64,
    /// Length in steps.
    pub length: u64,
    /// How it ended.
    pub end: EpisodeEnd,
}

/// Runs one episode with `policy`, at most `max_steps` steps long, calling `on_frame` after
/// the reset and after every step (to render it). `keep_going` is asked after every step
/// with the episode's length so far; when it says no, the episode is abandoned (`None`).
pub fn run_episode<E: Env>(
    env: &mut E,
    seed: Option<u64>,
    max_steps: u64,
    policy: &mut impl FnMut(&[f32]) -> usize,
    mut on_frame: impl FnMut(&E),
    mut keep_going: impl FnMut(u64) -> bool,
) -> Option<Episode> {
    let mut flat = vec![0.0f32; env.observation_space().flat_dim()];
    env.reset(seed).write_flat(&mut flat);
    on_frame(env);
    let (mut ret, mut length) = (0.0, 0u64);
    loop {
        let step = env.step(policy(&flat));
        ret += step.reward;
        length += 1;
        on_frame(env);
        let end = if step.terminated {
            Some(EpisodeEnd::Terminated)
        } else if step.truncated {
            Some(EpisodeEnd::Truncated)
        } else if length >= max_steps {
            Some(EpisodeEnd::Capped)
        } else {
            None
        };
        if let Some(end) = end {
            return Some(Episode { ret, length, end });
        }
        if !keep_going(length) {
            return None;
        }
        step.obs.write_flat(&mut flat);
    }
}

/// What an evaluation runs: how many episodes, the seed of the first reset, and the step cap
/// of every episode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EvalPlan {
    /// Episodes to run.
    pub episodes: usize,
    /// Seed of the first reset; later episodes continue the env's random stream, as
    /// Gymnasium does after one seeded reset.
    pub seed: Option<u64>,
    /// Steps after which an episode is cut (and counted as truncated) if neither a terminal
    /// state nor the env's own time limit has ended it: the config key
    /// `eval_max_episode_steps`.
    pub max_episode_steps: u64,
}

/// How far an evaluation has got, for progress displays.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct EvalProgress {
    /// Episodes finished.
    pub episodes_done: usize,
    /// Episodes the evaluation runs.
    pub episodes: usize,
    /// Environment steps taken by the whole evaluation so far.
    pub steps: u64,
    /// Steps of the episode under way.
    pub episode_steps: u64,
    /// The step cap of each episode.
    pub max_episode_steps: u64,
    /// Episodes finished so far that hit the cap.
    pub capped: usize,
    /// Seconds since the evaluation started.
    pub wall_s: f64,
}

/// Evaluation steps between two [`Observer::on_eval_progress`] reports.
pub const EVAL_PROGRESS_INTERVAL: u64 = 1000;

/// Runs `plan.episodes` episodes of `policy` on `env`, each cut at `plan.max_episode_steps`.
/// `observer` receives [`Observer::on_eval_progress`] every [`EVAL_PROGRESS_INTERVAL`] steps
/// and after each episode, and is asked [`Observer::should_stop_evaluating`] after every
/// step; when it says yes, the evaluation is abandoned and `None` returned.
pub fn evaluate<E: Env>(
    env: &mut E,
    plan: &EvalPlan,
    mut policy: impl FnMut(&[f32]) -> usize,
    observer: &mut dyn Observer,
) -> Option<EvalStats> {
    let start = Instant::now();
    let mut progress = EvalProgress {
        episodes_done: 0,
        episodes: plan.episodes,
        steps: 0,
        episode_steps: 0,
        max_episode_steps: plan.max_episode_steps,
        capped: 0,
        wall_s: 0.0,
    };
    let mut returns = Vec::with_capacity(plan.episodes);
    let mut lengths = Vec::with_capacity(plan.episodes);
    for k in 0..plan.episodes {
        let seed = if k == 0 { plan.seed } else { None };
        let episode = run_episode(
            env,
            seed,
            plan.max_episode_steps,
            &mut policy,
            |_| {},
            |length| {
                if (progress.steps + length).is_multiple_of(EVAL_PROGRESS_INTERVAL) {
                    observer.on_eval_progress(&EvalProgress {
                        steps: progress.steps + length,
                        episode_steps: length,
                        wall_s: start.elapsed().as_secs_f64(),
                        ..progress
                    });
                }
                !observer.should_stop_evaluating()
            },
        )?;
        progress.capped += usize::from(episode.end == EpisodeEnd::Capped);
        progress.episodes_done += 1;
        progress.steps += episode.length;
        progress.wall_s = start.elapsed().as_secs_f64();
        observer.on_eval_progress(&progress);
        returns.push(episode.ret);
        lengths.push(episode.length);
    }
    Some(EvalStats::from_episodes(returns, lengths, progress.capped))
}

#[cfg(test)]
mod tests {
    use super::*;
    use deepq_envs::{RgbFrame, Space, Step};

    #[test]
    fn stats_match_numpy_conventions() {
        let s = EvalStats::from_episodes(vec![1.0, 2.0, 3.0, 4.0], vec![10, 20, 30, 40], 1);
        assert_eq!(s.mean, 2.5);
        assert_eq!(s.std, 1.25f64.sqrt());
        assert_eq!((s.min, s.max, s.episodes, s.capped), (1.0, 4.0, 4, 1));
        assert_eq!(s.mean_length, 25.0);
    }

    fn plan(episodes: usize, seed: Option<u64>) -> EvalPlan {
        EvalPlan {
            episodes,
            seed,
            max_episode_steps: crate::config::DEFAULT_EVAL_MAX_EPISODE_STEPS,
        }
    }

    #[test]
    fn evaluation_is_reproducible_and_seeded() {
        let mut env = deepq_envs::make("CartPole-v1", &Default::default()).unwrap();
        let deepq_envs::AnyEnv::CartPole(env) = &mut env else {
            unreachable!()
        };
        let lean = |o: &[f32]| usize::from(o[2] > 0.0);
        let a = evaluate(env, &plan(5, Some(3)), lean, &mut ()).unwrap();
        let b = evaluate(env, &plan(5, Some(3)), lean, &mut ()).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.capped, 0);
        assert!(a.mean > 25.0, "a pole-following policy beats random: {a:?}");
    }

    /// An environment that never ends an episode: one step earns 1.
    #[derive(Clone)]
    struct Endless;

    impl Env for Endless {
        type Obs = usize;
        fn observation_space(&self) -> Space {
            Space::Discrete { n: 1 }
        }
        fn action_space(&self) -> Space {
            Space::Discrete { n: 2 }
        }
        fn reset(&mut self, _seed: Option<u64>) -> usize {
            0
        }
        fn step(&mut self, _action: usize) -> Step<usize> {
            Step {
                obs: 0,
                reward: 1.0,
                terminated: false,
                truncated: false,
            }
        }
        fn reset_to_state(&mut self, _state: &[f64]) -> usize {
            0
        }
        fn observation(&self) -> usize {
            0
        }
        fn state(&self) -> Vec<f64> {
            vec![0.0]
        }
        fn render_text(&self) -> String {
            String::new()
        }
        fn render_rgb(&self) -> RgbFrame {
            RgbFrame {
                width: 1,
                height: 1,
                data: vec![0; 3],
            }
        }
    }

    /// Records evaluation progress and stops the evaluation after `stop_after` polls.
    #[derive(Default)]
    struct Watch {
        reports: Vec<EvalProgress>,
        polls: u64,
        stop_after: Option<u64>,
    }

    impl Observer for Watch {
        fn on_eval_progress(&mut self, progress: &EvalProgress) {
            self.reports.push(*progress);
        }
        fn should_stop_evaluating(&mut self) -> bool {
            self.polls += 1;
            self.stop_after.is_some_and(|n| self.polls >= n)
        }
    }

    #[test]
    fn endless_episodes_are_capped_counted_and_reported() {
        let mut watch = Watch::default();
        let plan = EvalPlan {
            episodes: 3,
            seed: Some(0),
            max_episode_steps: 2500,
        };
        let stats = evaluate(&mut Endless, &plan, |_| 0, &mut watch).unwrap();
        assert_eq!((stats.episodes, stats.capped), (3, 3));
        assert_eq!(stats.lengths, [2500, 2500, 2500]);
        assert_eq!(stats.returns, [2500.0; 3]);
        // Every 1,000 steps of the whole evaluation, and after each episode (which replaces the
        // step report when both fall on its last step).
        let seen: Vec<(usize, u64, u64)> = watch
            .reports
            .iter()
            .map(|p| (p.episodes_done, p.steps, p.episode_steps))
            .collect();
        assert_eq!(
            seen,
            [
                (0, 1000, 1000),
                (0, 2000, 2000),
                (1, 2500, 0),
                (1, 3000, 500),
                (1, 4000, 1500),
                (2, 5000, 0),
                (2, 6000, 1000),
                (2, 7000, 2000),
                (3, 7500, 0),
            ]
        );
        assert_eq!(watch.reports.last().unwrap().capped, 3);
    }

    #[test]
    fn the_default_cap_ends_an_endless_episode() {
        let stats = evaluate(&mut Endless, &plan(1, None), |_| 1, &mut ()).unwrap();
        assert_eq!(
            stats.lengths,
            [crate::config::DEFAULT_EVAL_MAX_EPISODE_STEPS]
        );
        assert_eq!(stats.capped, 1);
    }

    /// Evaluates "always left" on any registered env, capped at `cap` steps.
    struct AlwaysLeft {
        cap: u64,
    }

    impl deepq_envs::EnvVisitor for AlwaysLeft {
        type Output = EvalStats;
        fn visit<E: Env + Clone + 'static>(self, mut env: E, _: deepq_envs::EnvSpec) -> EvalStats {
            let plan = EvalPlan {
                episodes: 2,
                seed: Some(0),
                max_episode_steps: self.cap,
            };
            evaluate(&mut env, &plan, |_| 0, &mut ()).unwrap()
        }
    }

    #[test]
    fn the_env_time_limit_applies_under_the_cap_and_the_cap_under_it() {
        // Non-slippery FrozenLake: walking into the left wall never ends an episode; only
        // its 100-step time limit, or a shorter cap, does.
        let mut kwargs = deepq_envs::Kwargs::new();
        kwargs.insert("is_slippery".into(), false.into());
        let env = || deepq_envs::make("FrozenLake-v1", &kwargs).unwrap();
        let limited = env().visit(AlwaysLeft { cap: 27_000 });
        assert_eq!(
            (limited.lengths.as_slice(), limited.capped),
            (&[100, 100][..], 0)
        );
        let capped = env().visit(AlwaysLeft { cap: 40 });
        assert_eq!(
            (capped.lengths.as_slice(), capped.capped),
            (&[40, 40][..], 2)
        );
    }

    #[test]
    fn an_observer_can_abandon_an_evaluation() {
        let mut watch = Watch {
            stop_after: Some(10),
            ..Watch::default()
        };
        assert!(evaluate(&mut Endless, &plan(2, None), |_| 0, &mut watch).is_none());
        assert_eq!(watch.polls, 10);
    }
}
