//! The Q-table that tabular Q-learning ([`crate::algorithms::tabular`]) learns, and the
//! optimum it is measured against: dynamic programming on the environment's known transition
//! table.

use deepq_envs::{AnyEnv, Env};
use safetensors::tensor::{Dtype as StDtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};

/// Name of the table in a saved model.
const TENSOR_NAME: &str = "q_table";

/// A table of action values, `n_states × n_actions`, row-major.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "StoredTable")]
pub struct QTable {
    n_states: usize,
    n_actions: usize,
    values: Vec<f64>,
}

/// A table as decoded from a checkpoint, before its size is checked.
#[derive(Deserialize)]
struct StoredTable {
    n_states: usize,
    n_actions: usize,
    values: Vec<f64>,
}

impl TryFrom<StoredTable> for QTable {
    type Error = &'static str;

    fn try_from(s: StoredTable) -> Result<Self, Self::Error> {
        if s.n_states.checked_mul(s.n_actions) != Some(s.values.len()) {
            return Err("Q-table size does not match its values");
        }
        Ok(QTable {
            n_states: s.n_states,
            n_actions: s.n_actions,
            values: s.values,
        })
    }
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

    /// The value of `action` in `state`, to update it.
    pub fn value_mut(&mut self, state: usize, action: usize) -> &mut f64 {
        &mut self.values[state * self.n_actions + action]
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
pub(crate) fn one_hot_index(obs: &[f32]) -> usize {
    obs.iter().position(|&x| x == 1.0).unwrap_or(0)
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
        // At a fixed point every later iteration gives the same values again, so a huge
        // horizon (an env made without a practical time limit) costs no more than the
        // iterations to converge.
        if next == value {
            break;
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
    use crate::DqnConfig;
    use crate::config::Algorithm;
    use crate::config::{
        EvalSettings, ExplorationSettings, OptimizerSettings, ReturnSettings, RunSettings,
    };
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
        assert_eq!(
            optimal_values(&table, usize::MAX)[0],
            1.0,
            "converges, then stops"
        );
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
            algorithm: Algorithm::Tabular,
            run: RunSettings {
                env: "FrozenLake-v1".into(),
                env_kwargs: [("is_slippery".to_string(), KwValue::Bool(false))]
                    .into_iter()
                    .collect(),
                total_timesteps: 20_000,
                ..RunSettings::default()
            },
            optimizer: OptimizerSettings {
                learning_rate: 0.5,
                ..OptimizerSettings::default()
            },
            returns: ReturnSettings {
                gamma: 0.95,
                ..ReturnSettings::default()
            },
            exploration: ExplorationSettings {
                fraction: 0.5,
                ..ExplorationSettings::default()
            },
            eval: EvalSettings {
                final_episodes: 10,
                freq: crate::config::Count::steps(0),
                ..EvalSettings::default()
            },
            ..DqnConfig::default()
        };
        let out = crate::train(&cfg, &mut ()).unwrap();
        assert_eq!(out.summary.eval.unwrap().mean, 1.0);
        let cart = {
            let mut config = cfg;
            config.run.env = "CartPole-v1".into();
            config.run.env_kwargs = Kwargs::new();
            config
        };
        let err = crate::train(&cart, &mut ()).unwrap_err().to_string();
        assert!(err.contains("Discrete observation space"), "{err}");
    }
}
