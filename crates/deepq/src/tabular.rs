//! Tabular Q-learning for environments with discrete observations, and the optimum it is
//! measured against: dynamic programming on the environment's known transition table.

use std::collections::VecDeque;
use std::time::Instant;

use deepq_envs::{AnyEnv, Env, EnvSpec, EnvVisitor, Observation, Space};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;
use safetensors::tensor::{Dtype as StDtype, SafeTensors, TensorView};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::config::{ConfigError, DqnConfig};
use crate::eval::{EvalStats, evaluate};
use crate::train::{EpisodeRecord, EvalRecord, Observer, Progress, TrainError, TrainSummary};

/// Name of the table in a saved model.
const TENSOR_NAME: &str = "q_table";

/// A table of action values, `n_states × n_actions`, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct QTable {
    n_states: usize,
    n_actions: usize,
    values: Vec<f64>,
}

impl QTable {
    /// A table of zeros.
    pub fn zeros(n_states: usize, n_actions: usize) -> Self {
        QTable {
            n_states,
            n_actions,
            values: vec![0.0; n_states * n_actions],
        }
    }

    /// Number of states (rows).
    pub fn n_states(&self) -> usize {
        self.n_states
    }

    /// Number of actions (columns).
    pub fn n_actions(&self) -> usize {
        self.n_actions
    }

    /// The action values of `state`.
    pub fn row(&self, state: usize) -> &[f64] {
        &self.values[state * self.n_actions..(state + 1) * self.n_actions]
    }

    /// The greedy action in `state` (the first on ties, as `numpy.argmax`).
    pub fn greedy(&self, state: usize) -> usize {
        let row = self.row(state);
        (1..row.len()).fold(0, |best, a| if row[a] > row[best] { a } else { best })
    }

    /// The table as safetensors: one F64 tensor `q_table` of shape `[n_states, n_actions]`.
    pub fn to_safetensors(&self) -> Vec<u8> {
        let bytes: Vec<u8> = self.values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let view = TensorView::new(StDtype::F64, vec![self.n_states, self.n_actions], &bytes)
            .expect("the table's shape matches its data");
        safetensors::serialize([(TENSOR_NAME, view)], None).expect("a Q-table serializes")
    }

    /// Reads a table written by [`QTable::to_safetensors`]; any other content is an error.
    pub fn from_safetensors(bytes: &[u8]) -> Result<Self, String> {
        let tensors =
            SafeTensors::deserialize(bytes).map_err(|e| format!("not a safetensors file: {e}"))?;
        let view = tensors
            .tensor(TENSOR_NAME)
            .map_err(|_| format!("no '{TENSOR_NAME}' tensor"))?;
        match (view.dtype(), view.shape()) {
            (StDtype::F64, &[n_states, n_actions]) if n_states > 0 && n_actions > 0 => {
                let values = view
                    .data()
                    .chunks_exact(8)
                    .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
                    .collect();
                Ok(QTable {
                    n_states,
                    n_actions,
                    values,
                })
            }
            (dtype, shape) => Err(format!(
                "'{TENSOR_NAME}' is {dtype:?} {shape:?}, expected F64 [states, actions]"
            )),
        }
    }

    /// A greedy policy over one-hot observations.
    pub fn greedy_policy(&self) -> impl FnMut(&[f32]) -> usize + '_ {
        move |obs| self.greedy(one_hot_index(obs))
    }
}

/// The index of a one-hot vector: discrete observations reach learners one-hot encoded.
fn one_hot_index(obs: &[f32]) -> usize {
    obs.iter().position(|&x| x == 1.0).unwrap_or(0)
}

/// The result of [`train_tabular`].
#[derive(Clone, Debug)]
pub struct TabularOutcome {
    /// What the run achieved.
    pub summary: TrainSummary,
    /// The learned table.
    pub table: QTable,
}

/// Trains a Q-table with one-step Q-learning: `Q(s,a) += α·(r + γ·max Q(s') − Q(s,a))`,
/// with `learning_rate` as α, `gamma`, the ε schedule and the step/episode budget of `cfg`.
/// Only termination stops the bootstrap (unless `bootstrap_on_truncation` is false).
pub fn train_tabular(
    cfg: &DqnConfig,
    observer: &mut dyn Observer,
) -> Result<TabularOutcome, TrainError> {
    cfg.validate()?;
    let env = deepq_envs::make(&cfg.env, &cfg.env_kwargs)?;
    if let Space::Box { shape, .. } = env.observation_space() {
        return Err(ConfigError(format!(
            "invalid value \"tabular\" for 'algorithm': {} has continuous observations (Box {shape:?}); tabular Q-learning needs a Discrete observation space",
            cfg.env
        ))
        .into());
    }
    env.visit(TabularVisitor { cfg, observer })
}

struct TabularVisitor<'a> {
    cfg: &'a DqnConfig,
    observer: &'a mut dyn Observer,
}

impl EnvVisitor for TabularVisitor<'_> {
    type Output = Result<TabularOutcome, TrainError>;

    fn visit<E>(self, env: E, spec: EnvSpec) -> Self::Output
    where
        E: Env + Clone + Serialize + DeserializeOwned + 'static,
    {
        Ok(run(self.cfg, env, spec, self.observer))
    }
}

fn run<E: Env + Clone>(
    cfg: &DqnConfig,
    mut env: E,
    spec: EnvSpec,
    observer: &mut dyn Observer,
) -> TabularOutcome {
    let start = Instant::now();
    let n_states = env.observation_space().flat_dim();
    let n_actions = env.n_actions();
    let mut table = QTable::zeros(n_states, n_actions);
    let mut eval_env = env.clone();
    let mut rng = Pcg64::seed_from_u64(cfg.seed);
    let schedule = cfg.exploration();
    let (alpha, gamma) = (cfg.learning_rate, cfg.gamma);
    let mut flat = vec![0.0f32; n_states];
    let mut state_of = |obs: &E::Obs| {
        obs.write_flat(&mut flat);
        one_hot_index(&flat)
    };

    let mut state = state_of(&env.reset(Some(cfg.seed)));
    let (mut steps, mut episodes, mut ret, mut length) = (0u64, 0u64, 0.0, 0u64);
    let mut next_eval = cfg.eval_freq.n;
    let mut solved_at_step = None;
    let mut stop_reached = false;
    let mut recent = VecDeque::with_capacity(100);
    let eval_seed = cfg.seed.wrapping_add(1_000_000_007);
    while steps < cfg.total_timesteps && cfg.episodes.is_none_or(|max| episodes < max) {
        if observer.should_stop() {
            break;
        }
        // ε-greedy, breaking ties at random so that an all-zero row explores evenly.
        let epsilon = schedule.epsilon(steps, episodes);
        let action = if rng.random::<f64>() < epsilon {
            rng.random_range(0..n_actions)
        } else {
            let row = table.row(state);
            let best = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let ties = row.iter().filter(|&&q| q == best).count();
            let pick = rng.random_range(0..ties);
            row.iter()
                .enumerate()
                .filter(|&(_, &q)| q == best)
                .nth(pick)
                .map_or(0, |(a, _)| a)
        };
        let step = env.step(action);
        let next = state_of(&step.obs);
        let stops = step.terminated || (step.truncated && !cfg.bootstrap_on_truncation);
        let bootstrap = if stops {
            0.0
        } else {
            table
                .row(next)
                .iter()
                .copied()
                .fold(f64::NEG_INFINITY, f64::max)
        };
        let q = &mut table.values[state * n_actions + action];
        *q += alpha * (step.reward + gamma * bootstrap - *q);
        steps += 1;
        ret += step.reward;
        length += 1;
        state = next;
        if step.terminated || step.truncated {
            episodes += 1;
            observer.on_episode(&EpisodeRecord {
                episode: episodes,
                step: steps,
                ret,
                length,
                epsilon,
                wall_s: start.elapsed().as_secs_f64(),
            });
            if recent.len() == 100 {
                recent.pop_front();
            }
            recent.push_back(ret);
            (ret, length) = (0.0, 0);
            state = state_of(&env.reset(None));
        }
        let progress = cfg.eval_freq.of(steps, episodes);
        if cfg.eval_freq.n > 0 && progress >= next_eval {
            while next_eval <= progress {
                next_eval += cfg.eval_freq.n;
            }
            let stats = evaluate(
                &mut eval_env,
                cfg.eval_episodes,
                Some(eval_seed),
                table.greedy_policy(),
            );
            if solved_at_step.is_none() && stats.mean >= spec.reward_threshold {
                solved_at_step = Some(steps);
            }
            stop_reached = cfg.stops_at(stats.mean, spec.reward_threshold);
            observer.on_eval(&EvalRecord { step: steps, stats });
            if stop_reached {
                break;
            }
        }
        if steps.is_multiple_of(10_000) {
            observer.on_progress(&Progress {
                step: steps,
                total_timesteps: cfg.total_timesteps,
                episodes,
                max_episodes: cfg.episodes,
                epsilon,
                mean_return_100: (!recent.is_empty())
                    .then(|| recent.iter().sum::<f64>() / recent.len() as f64),
                wall_s: start.elapsed().as_secs_f64(),
            });
        }
    }
    let wall_s = start.elapsed().as_secs_f64();
    let interrupted = steps < cfg.total_timesteps
        && cfg.episodes.is_none_or(|max| episodes < max)
        && !stop_reached;
    let eval: Option<EvalStats> = (!interrupted).then(|| {
        evaluate(
            &mut eval_env,
            cfg.final_eval_episodes,
            Some(eval_seed),
            table.greedy_policy(),
        )
    });
    let summary = TrainSummary {
        env: spec.id.clone(),
        seed: cfg.seed,
        total_timesteps: cfg.total_timesteps,
        env_steps: steps,
        episodes,
        updates: steps,
        wall_s,
        steps_per_s: steps as f64 / wall_s.max(1e-9),
        updates_per_s: steps as f64 / wall_s.max(1e-9),
        solved: eval
            .as_ref()
            .is_some_and(|e| e.mean >= spec.reward_threshold),
        eval,
        reward_threshold: spec.reward_threshold,
        solved_at_step,
        interrupted,
    };
    TabularOutcome { summary, table }
}

/// One entry of a transition table: (probability, next state, reward, terminated).
pub type Outcome = (f64, usize, f64, bool);

/// Known dynamics of an environment: its transition table `P[s][a]` and its distribution of
/// reset states.
pub struct Dynamics {
    /// `P[s][a]`: the possible outcomes of action `a` in state `s`.
    pub table: Vec<Vec<Vec<Outcome>>>,
    /// (state, probability) pairs of the reset distribution.
    pub initial: Vec<(usize, f64)>,
}

fn outcomes(table: &[Vec<Vec<deepq_envs::Transition>>]) -> Vec<Vec<Vec<Outcome>>> {
    table
        .iter()
        .map(|row| {
            row.iter()
                .map(|outs| {
                    outs.iter()
                        .map(|t| (t.prob, t.next_state, t.reward, t.terminated))
                        .collect()
                })
                .collect()
        })
        .collect()
}

/// The dynamics of a registered environment whose transition table is known (FrozenLake,
/// Taxi, CliffWalking).
pub fn dynamics(env: &AnyEnv) -> Option<Dynamics> {
    // Grid worlds with a single start cell: a reset shows it.
    let single_start = |mut probe: AnyEnv| match &mut probe {
        AnyEnv::FrozenLake(e) => vec![(e.reset(Some(0)), 1.0)],
        AnyEnv::CliffWalking(e) => vec![(e.reset(Some(0)), 1.0)],
        _ => Vec::new(),
    };
    match env {
        AnyEnv::FrozenLake(e) => Some(Dynamics {
            table: outcomes(e.inner().transitions()),
            initial: single_start(env.clone()),
        }),
        AnyEnv::CliffWalking(e) => Some(Dynamics {
            table: outcomes(e.inner().transitions()),
            initial: single_start(env.clone()),
        }),
        AnyEnv::Taxi(e) => {
            let initial = deepq_envs::Taxi::initial_state_distribution()
                .into_iter()
                .enumerate()
                .filter(|&(_, p)| p > 0.0)
                .collect();
            Some(Dynamics {
                table: outcomes(e.inner().transitions()),
                initial,
            })
        }
        _ => None,
    }
}

/// The best expected undiscounted return of every state within `horizon` steps:
/// finite-horizon value iteration on the transition table.
pub fn optimal_values(table: &[Vec<Vec<Outcome>>], horizon: usize) -> Vec<f64> {
    let mut value = vec![0.0; table.len()];
    let mut next = value.clone();
    for _ in 0..horizon {
        for (s, actions) in table.iter().enumerate() {
            next[s] = actions
                .iter()
                .map(|outs| {
                    outs.iter()
                        .map(|&(p, s2, r, done)| p * (r + if done { 0.0 } else { value[s2] }))
                        .sum::<f64>()
                })
                .fold(f64::NEG_INFINITY, f64::max);
        }
        std::mem::swap(&mut value, &mut next);
    }
    value
}

/// The optimum of a registered environment with known dynamics: the best expected return a
/// policy can reach from its reset distribution within its step limit (e.g. FrozenLake's best
/// success rate). This is what value iteration on the known transition table gives.
pub fn env_optimum(env: &AnyEnv) -> Option<f64> {
    let d = dynamics(env)?;
    let values = optimal_values(&d.table, env.spec().max_episode_steps);
    Some(d.initial.iter().map(|&(s, p)| p * values[s]).sum())
}

#[cfg(test)]
mod tests {
    use super::*;
    use deepq_envs::{KwValue, Kwargs};

    fn lake(map: &str, slippery: bool) -> AnyEnv {
        let mut kw = Kwargs::new();
        kw.insert("map_name".into(), KwValue::Str(map.into()));
        kw.insert("is_slippery".into(), KwValue::Bool(slippery));
        deepq_envs::make("FrozenLake-v1", &kw).unwrap()
    }

    #[test]
    fn optimum_of_frozen_lake_matches_the_known_values() {
        // Deterministic lakes: the goal is always reachable in time.
        assert_eq!(env_optimum(&lake("4x4", false)), Some(1.0));
        assert_eq!(env_optimum(&lake("8x8", false)), Some(1.0));
        let four = env_optimum(&lake("4x4", true)).unwrap();
        let eight = env_optimum(&lake("8x8", true)).unwrap();
        assert!((four - 0.74).abs() < 0.01, "4x4 slippery optimum {four}");
        assert!((eight - 0.91).abs() < 0.01, "8x8 slippery optimum {eight}");
    }

    #[test]
    fn horizon_bounds_the_optimum() {
        let table = dynamics(&lake("4x4", false)).unwrap().table;
        assert_eq!(
            optimal_values(&table, 5)[0],
            0.0,
            "the goal is 6 steps away"
        );
        assert_eq!(optimal_values(&table, 6)[0], 1.0);
    }

    #[test]
    fn optimum_of_cliff_walking_and_taxi() {
        let cliff = deepq_envs::make("CliffWalking-v1", &Kwargs::new()).unwrap();
        assert_eq!(env_optimum(&cliff), Some(-13.0));
        let taxi = deepq_envs::make("Taxi-v4", &Kwargs::new()).unwrap();
        let best = env_optimum(&taxi).unwrap();
        // Gymnasium lists 8 as Taxi's threshold; the optimum averages ~7.9 over its starts.
        assert!((7.0..9.0).contains(&best), "taxi optimum {best}");
    }

    #[test]
    fn q_table_round_trips_through_safetensors() {
        let mut t = QTable::zeros(3, 2);
        t.values = vec![0.5, -1.0, 2.0, 2.0, 0.0, 1e-9];
        let back = QTable::from_safetensors(&t.to_safetensors()).unwrap();
        assert_eq!(back, t);
        assert_eq!(back.greedy(1), 0, "first index on ties");
        assert!(QTable::from_safetensors(b"junk").is_err());
    }

    #[test]
    fn tabular_learns_the_deterministic_lake_and_refuses_box_envs() {
        let cfg = DqnConfig {
            env: "FrozenLake-v1".into(),
            env_kwargs: [("is_slippery".to_string(), KwValue::Bool(false))]
                .into_iter()
                .collect(),
            learning_rate: 0.5,
            gamma: 0.95,
            total_timesteps: 20_000,
            learning_starts: crate::config::Count::steps(0),
            exploration_fraction: 0.5,
            final_eval_episodes: 10,
            eval_freq: crate::config::Count::steps(0),
            ..DqnConfig::default()
        };
        let out = train_tabular(&cfg, &mut ()).unwrap();
        assert_eq!(out.summary.eval.unwrap().mean, 1.0);
        let cart = DqnConfig {
            env: "CartPole-v1".into(),
            env_kwargs: Kwargs::new(),
            ..cfg
        };
        let err = train_tabular(&cart, &mut ()).unwrap_err().to_string();
        assert!(err.contains("Discrete observation space"), "{err}");
    }
}
