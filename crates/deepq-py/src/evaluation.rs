//! `evaluate`: whole episodes of a trained network's (ε-)greedy policy, on a built-in
//! environment or a Gymnasium one, returning every episode's return and length.

use std::sync::Arc;

use deepq::EvalPlan;
use deepq::envs::{Env, EnvSpec, EnvVisitor, Kwargs};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

use crate::convert::{dict_to_table, type_name};
use crate::errors::{Error, Result};
use crate::gym::{Failure, GymEnv, PyEnv};
use crate::network::{Net, Network};
use crate::observer::Interruptible;
use crate::vector::PyVecCopy;

/// How the evaluation acts and how many episodes it runs.
#[derive(Clone, Copy)]
struct Plan {
    eval: EvalPlan,
    epsilon: f64,
    rng_seed: u64,
}

/// Returns and lengths of the episodes, and how many hit the step cap.
type Episodes = (Vec<f64>, Vec<u64>, usize);

impl Plan {
    /// Runs the episodes on `env` (see [`deepq::evaluate`]); with probability ε an action is
    /// uniformly random. `None` if a Python exception or signal (Ctrl-C) stopped them.
    fn run<E: Env>(&self, env: &mut E, network: &Net, failure: &Failure) -> Option<Episodes> {
        let mut greedy = network.greedy_policy();
        let mut rng = Pcg64::seed_from_u64(self.rng_seed);
        let n_actions = env.n_actions();
        let epsilon = self.epsilon;
        let policy = |obs: &[f32]| {
            if epsilon > 0.0 && rng.random::<f64>() < epsilon {
                rng.random_range(0..n_actions)
            } else {
                greedy(obs)
            }
        };
        let mut watch = Interruptible::new(failure);
        let stats = deepq::evaluate(env, &self.eval, policy, &mut watch)?;
        Some((stats.returns, stats.lengths, stats.capped))
    }
}

/// Runs a plan on a built-in environment, whatever its concrete type.
struct Visit<'a> {
    plan: Plan,
    network: &'a Net,
    failure: &'a Failure,
}

impl EnvVisitor for Visit<'_> {
    type Output = Option<Episodes>;

    fn visit<E: Env + Clone + 'static>(self, mut env: E, _spec: EnvSpec) -> Option<Episodes> {
        self.plan.run(&mut env, self.network, self.failure)
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
/// with `env_kwargs`) or a `GymEnv` — each cut at `max_episode_steps` steps if the env has not
/// ended it, and returns `(returns, lengths, capped)`, `capped` counting the cut episodes.
///
/// The first reset uses `seed` (`None`: the env's own stream, as SB3's `evaluate_policy`
/// does); actions are greedy, or uniformly random with probability `epsilon` (drawn from a
/// generator seeded with `rng_seed`). Exceptions raised by a Gymnasium env, and Ctrl-C, are re-raised.
#[pyfunction]
#[pyo3(signature = (network, env, episodes, max_episode_steps, seed=None, epsilon=0.0, rng_seed=0, env_kwargs=None))]
#[allow(clippy::too_many_arguments)]
pub fn evaluate(
    py: Python<'_>,
    network: &Network,
    env: &Bound<'_, PyAny>,
    episodes: usize,
    max_episode_steps: u64,
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
    if max_episode_steps == 0 {
        return Err(Error::usage(
            "invalid value 0 for 'eval_max_episode_steps': must be at least 1",
        ));
    }
    let plan = Plan {
        eval: EvalPlan {
            episodes,
            seed,
            max_episode_steps,
        },
        epsilon,
        rng_seed,
    };
    let failure = Arc::new(Failure::default());
    let net = &network.net;
    if let Ok(id) = env.cast::<PyString>() {
        let id = id.to_str()?;
        let made = deepq::envs::make(id, &kwargs(env_kwargs)?)?;
        network.check_fits(
            id,
            made.observation_space().flat_dim(),
            made.action_space().flat_dim(),
        )?;
        let result = py.detach(|| {
            made.visit(Visit {
                plan,
                network: net,
                failure: &failure,
            })
        });
        return finished(result, &failure);
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
    let result = match handle.vector {
        // Episodes of copy 0, the other copies stepping alongside.
        Some(spec) => {
            let mut env = PyVecCopy::new(py, handle, spec, Arc::clone(&failure));
            py.detach(|| plan.run(&mut env, net, &failure))
        }
        None => {
            let mut env = PyEnv::new(py, handle, Arc::clone(&failure), false);
            py.detach(|| plan.run(&mut env, net, &failure))
        }
    };
    finished(result, &failure)
}

/// The episodes, or the Python exception (from the env, or a signal) that stopped them.
fn finished(result: Option<Episodes>, failure: &Failure) -> Result<Episodes> {
    match (failure.take(), result) {
        (Some(e), _) => Err(Error::Python(e)),
        (None, Some(episodes)) => Ok(episodes),
        (None, None) => Err(Error::runtime("the evaluation was stopped")),
    }
}
