//! An environment whose episodes never end: every evaluation (periodic and final) of every
//! algorithm stops at `eval_max_episode_steps` and says so, and training progress and the
//! summary flag the training episode that never ended.

use deepq::config::{Algorithm, Count};
use deepq::config::{EvalSettings, NetworkSettings, ReplaySettings, RunSettings};
use deepq::envs::{Env, EnvSpec, RgbFrame, Space, Step};
use deepq::train::{EvalRecord, Observer, Progress, train_env};
use deepq::{DqnConfig, EvalStats};
use serde::{Deserialize, Serialize};

/// One state, two actions, reward 1 a step, no terminal state and no time limit.
#[derive(Clone, Serialize, Deserialize)]
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
        "∞".into()
    }
    fn render_rgb(&self) -> RgbFrame {
        RgbFrame {
            width: 1,
            height: 1,
            data: vec![0; 3],
        }
    }
}

#[derive(Default)]
struct Recorder {
    evals: Vec<EvalRecord>,
    progress: Vec<Progress>,
    eval_progress_reports: usize,
}

impl Observer for Recorder {
    fn on_eval(&mut self, r: &EvalRecord) {
        self.evals.push(r.clone());
    }
    fn on_progress(&mut self, p: &Progress) {
        self.progress.push(p.clone());
    }
    fn on_eval_progress(&mut self, _: &deepq::eval::EvalProgress) {
        self.eval_progress_reports += 1;
    }
}

fn spec() -> EnvSpec {
    EnvSpec {
        id: "Endless".into(),
        max_episode_steps: usize::MAX,
        reward_threshold: f64::INFINITY,
    }
}

fn all_capped(stats: &EvalStats, episodes: usize, cap: u64) {
    assert_eq!(stats.episodes, episodes);
    assert_eq!(stats.capped, episodes);
    assert!(stats.lengths.iter().all(|&n| n == cap), "{stats:?}");
    assert_eq!(
        stats.mean, cap as f64,
        "a capped episode's return is reported"
    );
}

#[test]
fn every_algorithm_caps_its_evaluations_and_flags_the_endless_training_episode() {
    for algorithm in [Algorithm::Dqn, Algorithm::Pqn, Algorithm::Tabular] {
        let mut cfg = DqnConfig {
            algorithm,
            run: RunSettings {
                total_timesteps: 1_600,
                ..RunSettings::default()
            },
            eval: EvalSettings {
                freq: Count::steps(512),
                episodes: 2,
                final_episodes: 3,
                max_episode_steps: 700,
                ..EvalSettings::default()
            },
            network: NetworkSettings {
                net_arch: vec![8],
                ..NetworkSettings::default()
            },
            ..DqnConfig::default()
        };
        if algorithm == Algorithm::Pqn {
            (cfg.run.n_envs, cfg.pqn.rollout_steps, cfg.pqn.n_minibatches) = (2, 16, 2);
        } else {
            cfg.replay.learning_starts = Count::steps(100);
        }
        let mut rec = Recorder::default();
        let outcome = train_env(&cfg, Endless, spec(), &mut rec).unwrap();
        let s = &outcome.summary;
        assert!(!s.interrupted, "{algorithm:?}");
        all_capped(s.eval.as_ref().unwrap(), 3, 700);
        assert_eq!(rec.evals.len(), 3, "{algorithm:?}");
        for e in &rec.evals {
            all_capped(&e.stats, 2, 700);
        }
        // 3 periodic and 1 final evaluation: at least one report per episode.
        assert!(rec.eval_progress_reports >= 3 * 2 + 3);
        // The training episodes never end: each copy's one episode is as long as the run.
        let per_copy = s.env_steps / cfg.run.n_envs as u64;
        assert_eq!(s.episodes, 0);
        assert_eq!(s.long_episode_steps, Some(per_copy), "{algorithm:?}");
        let flagged: Vec<Option<u64>> = rec.progress.iter().map(|p| p.long_episode_steps).collect();
        let first = rec
            .progress
            .iter()
            .position(|p| p.long_episode_steps.is_some());
        assert!(
            first.is_some_and(|i| rec.progress[i].step / cfg.run.n_envs as u64 >= 700
                && rec.progress[..i]
                    .iter()
                    .all(|p| p.step / cfg.run.n_envs as u64 <= 700)),
            "{algorithm:?}: {flagged:?}"
        );
    }
}

#[test]
fn a_run_whose_episodes_end_flags_nothing() {
    let cfg = DqnConfig {
        run: RunSettings {
            total_timesteps: 1_000,
            ..RunSettings::default()
        },
        replay: ReplaySettings {
            learning_starts: Count::steps(100),
            ..ReplaySettings::default()
        },
        eval: EvalSettings {
            final_episodes: 2,
            ..EvalSettings::default()
        },
        ..DqnConfig::default()
    };
    let mut rec = Recorder::default();
    let s = deepq::train(&cfg, &mut rec).unwrap().summary;
    assert_eq!(s.long_episode_steps, None);
    assert_eq!(s.eval.unwrap().capped, 0);
    assert!(rec.progress.iter().all(|p| p.long_episode_steps.is_none()));
}
