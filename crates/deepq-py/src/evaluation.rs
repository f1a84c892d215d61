//! `evaluate`: whole episodes of a trained network's (ε-)greedy policy, on a built-in
//! environment or a Gymnasium one, returning every episode's return and length.

use std::sync::Arc;

use deepq::QNetwork;
use deepq::envs::{Env, EnvSpec, EnvVisitor, Kwargs};
use deepq::eval::run_episode;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

use crate::convert::{dict_to_table, type_name};
use crate::errors::{Error, Result};
use crate::gym::{Failure, GymEnv, PyEnv};
use crate::network::Network;

/// How the evaluation acts and how many episodes it runs.
#[derive(Clone, Copy)]
struct Plan {
    episodes: usize,
    seed: Option<u64>,
    epsilon: f64,
    rng_seed: u64,
}

/// Returns and lengths of the episodes.
type Episodes = (Vec<f64>, Vec<u64>);

impl Plan {
    /// Runs the episodes on `env`: the first reset uses the seed, later ones continue the
    /// env's random stream; with probability ε an action is uniformly random.
    fn run<E: Env>(&self, env: &mut E, network: &QNetwork, failure: Option<&Failure>) -> Episodes {
        let mut greedy = network.greedy_policy();
        let mut rng = Pcg64::seed_from_u64(self.rng_seed);
        let n_actions = env.n_actions();
        let epsilon = self.epsilon;
        let mut policy = |obs: &[f32]| {
            if epsilon > 0.0 && rng.random::<f64>() < epsilon {
                rng.random_range(0..n_actions)
            } else {
                greedy(obs)
            }
        };
        let (mut returns, mut lengths) = (Vec::new(), Vec::new());
        for k in 0..self.episodes {
            let seed = if k == 0 { self.seed } else { None };
            let (ret, len, _) = run_episode(env, seed, &mut policy, |_| {});
            if failure.is_some_and(Failure::is_set) {
                break;
            }
            returns.push(ret);
            lengths.push(len);
        }
        (returns, lengths)
    }
}

/// Runs a plan on a built-in environment, whatever its concrete type.
struct Visit<'a> {
    plan: Plan,
    network: &'a QNetwork,
}

impl EnvVisitor for Visit<'_> {
    type Output = Episodes;

    fn visit<E: Env + Clone + 'static>(self, mut env: E, _spec: EnvSpec) -> Episodes {
        self.plan.run(&mut env, self.network, None)
    }
}

/// Reads `env_kwargs` for `make`.
pub fn kwargs(env_kwargs: Option<&Bound<'_, PyDict>>) -> Result<Kwargs> {
    let Some(dict) = env_kwargs else {
        return Ok(Kwargs::new());
    };
    let table =
        dict_to_table(dict).map_err(|why| Error::usage(format!("invalid env_kwargs: {why}")))?;
    toml::Value::Table(table)
        .try_into()
        .map_err(|e: toml::de::Error| Error::usage(format!("invalid env_kwargs: {}", e.message())))
}

/// Runs `episodes` episodes of `network`'s policy on `env` — a built-in environment id (made
/// with `env_kwargs`) or a `GymEnv` — and returns `(returns, lengths)`.
///
/// The first reset uses `seed` (`None`: the env's own stream, as SB3's `evaluate_policy`
/// does); actions are greedy, or uniformly random with probability `epsilon` (drawn from a
/// generator seeded with `rng_seed`). Exceptions raised by a Gymnasium env are re-raised.
#[pyfunction]
#[pyo3(signature = (network, env, episodes, seed=None, epsilon=0.0, rng_seed=0, env_kwargs=None))]
#[allow(clippy::too_many_arguments)]
pub fn evaluate(
    py: Python<'_>,
    network: &Network,
    env: &Bound<'_, PyAny>,
    episodes: usize,
    seed: Option<u64>,
    epsilon: f64,
    rng_seed: u64,
    env_kwargs: Option<&Bound<'_, PyDict>>,
) -> Result<Episodes> {
    if episodes == 0 {
        return Err(Error::usage(
            "invalid value 0 for 'n_eval_episodes': must be at least 1",
        ));
    }
    if !(0.0..=1.0).contains(&epsilon) {
        return Err(Error::usage(format!(
            "invalid exploration rate {epsilon}: must be in [0, 1]"
        )));
    }
    let plan = Plan {
        episodes,
        seed,
        epsilon,
        rng_seed,
    };
    let net = &network.net;
    if let Ok(id) = env.cast::<PyString>() {
        let id = id.to_str()?;
        let made = deepq::envs::make(id, &kwargs(env_kwargs)?)?;
        network.check_fits(
            id,
            made.observation_space().flat_dim(),
            made.action_space().flat_dim(),
        )?;
        return Ok(py.detach(|| made.visit(Visit { plan, network: net })));
    }
    let Ok(handle) = env.cast::<GymEnv>() else {
        return Err(Error::usage(format!(
            "env must be an environment id or a GymEnv, not '{}'",
            type_name(env)
        )));
    };
    let handle = handle.get();
    network.check_fits(
        &handle.layout.spec.id,
        handle.layout.flat_dim(),
        handle.layout.n_actions,
    )?;
    let failure = Arc::new(Failure::default());
    let mut env = PyEnv::new(py, handle, Arc::clone(&failure), false);
    let result = py.detach(|| plan.run(&mut env, net, Some(&failure)));
    match failure.take() {
        Some(e) => Err(Error::Python(e)),
        None => Ok(result),
    }
}
