//! Tabular Q-learning (Watkins 1989) on environments with discrete observations:
//! `Q(s,a) += α·(r + γ·max Q(s') − Q(s,a))`, with `learning_rate` as α, `gamma`, the ε
//! schedule and the run's budget. Only termination stops the bootstrap (unless
//! `bootstrap_on_truncation` is false).

use deepq_envs::{Env, Observation};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, DqnConfig};
use crate::core::{Algorithm, RunState};
use crate::error::TrainError;
use crate::model::Model;
use crate::observer::Observer;
use crate::schedule::epsilon_greedy;
use crate::tabular::{QTable, one_hot_index};

/// A Q-table learner on one copy of environment `E`.
#[derive(Serialize, Deserialize)]
#[serde(bound(serialize = "E: Serialize", deserialize = "E: DeserializeOwned"))]
pub struct Tabular<E> {
    env: E,
    table: QTable,
    rng: Pcg64,
    /// The state the agent is in.
    state: usize,
    /// An observation, one-hot encoded.
    #[serde(skip)]
    flat: Vec<f32>,
}

impl<E: Env> Tabular<E> {
    /// The state index of a (one-hot encoded) observation.
    fn state_of(&mut self, obs: &E::Obs) -> usize {
        self.flat.resize(self.table.n_states(), 0.0);
        obs.write_flat(&mut self.flat);
        one_hot_index(&self.flat)
    }

    /// ε-greedy, breaking ties at random so that an all-zero row explores evenly.
    fn act(&mut self, epsilon: f64) -> usize {
        let row = self.table.row(self.state);
        epsilon_greedy(&mut self.rng, epsilon, self.table.n_actions(), |rng| {
            let best = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let ties = row.iter().filter(|&&q| q == best).count();
            let pick = rng.random_range(0..ties);
            row.iter()
                .enumerate()
                .filter(|&(_, &q)| q == best)
                .nth(pick)
                .map_or(0, |(a, _)| a)
        })
    }
}

impl<E> Algorithm<E> for Tabular<E>
where
    E: Env + Clone + Serialize + DeserializeOwned,
{
    fn new(cfg: &DqnConfig, env: &E) -> Result<Self, TrainError> {
        let space = env.observation_space();
        if space.n().is_none() {
            return Err(ConfigError(format!(
                "invalid value \"tabular\" for 'algorithm': {} has continuous observations ({space}); tabular Q-learning needs a Discrete observation space",
                cfg.run.env
            ))
            .into());
        }
        let n_states = env.observation_space().flat_dim();
        let mut learner = Tabular {
            env: env.clone(),
            table: QTable::zeros(n_states, env.n_actions()),
            rng: Pcg64::seed_from_u64(cfg.run.seed),
            state: 0,
            flat: Vec::new(),
        };
        let first = learner.env.reset(Some(cfg.run.seed));
        learner.state = learner.state_of(&first);
        Ok(learner)
    }

    fn n_envs(&self) -> usize {
        1
    }

    fn step(&mut self, run: &mut RunState, observer: &mut dyn Observer) -> Result<(), TrainError> {
        let epsilon = self.epsilon(run);
        let action = self.act(epsilon);
        let step = self.env.step(action);
        let next = self.state_of(&step.obs);

        let cfg = &run.cfg;
        let stops = step.terminated || (step.truncated && !cfg.returns.bootstrap_on_truncation);
        let bootstrap = if stops {
            0.0
        } else {
            let row = self.table.row(next);
            row.iter().copied().fold(f64::NEG_INFINITY, f64::max)
        };
        let q = self.table.value_mut(self.state, action);
        *q += cfg.optimizer.learning_rate * (step.reward + cfg.returns.gamma * bootstrap - *q);
        run.steps += 1;
        run.updates += 1;

        self.state = next;
        let ended = step.terminated || step.truncated;
        if run.env_step(0, step.reward, ended, run.steps, epsilon, observer) {
            let first = self.env.reset(None);
            self.state = self.state_of(&first);
        }
        Ok(())
    }

    fn epsilon(&self, run: &RunState) -> f64 {
        run.cfg.exploration().epsilon(run.steps, run.episodes())
    }

    fn greedy_policy(&mut self) -> impl FnMut(&[f32]) -> usize + '_ {
        self.table.greedy_policy()
    }

    fn fits(&self, cfg: &DqnConfig, env: &E) -> bool {
        let _ = cfg;
        self.table.n_states() == env.observation_space().flat_dim()
            && self.table.n_actions() == env.n_actions()
            && self.state < self.table.n_states()
    }

    fn model(&self) -> Model {
        Model::Table(self.table.clone())
    }
}
