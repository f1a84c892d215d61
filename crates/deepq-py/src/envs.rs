//! The built-in environments and presets, described for the Python layer.

use deepq::PRESETS;
use deepq::envs::Space;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::errors::Result;
use crate::evaluation::kwargs;

/// Describes the built-in environment `id` made with `env_kwargs`: a dict with `id`,
/// `observation` (`("box", shape, low, high)`, `("image", (height, width, channels), dtype)`
/// or `("discrete", n)`), `n_actions`,
/// `max_episode_steps` and `reward_threshold`. Unknown ids and bad kwargs raise ValueError
/// with the registry's message.
#[pyfunction]
#[pyo3(signature = (id, env_kwargs=None))]
pub fn builtin_env<'py>(
    py: Python<'py>,
    id: &str,
    env_kwargs: Option<&Bound<'py, PyDict>>,
) -> Result<Bound<'py, PyDict>> {
    let env = deepq::envs::make(id, &kwargs(env_kwargs)?)?;
    let info = PyDict::new(py);
    let spec = env.spec();
    info.set_item("id", &spec.id)?;
    match env.observation_space() {
        Space::Box { low, high, shape } => {
            info.set_item("observation", ("box", shape, low, high))?
        }
        Space::Discrete { n } => info.set_item("observation", ("discrete", n))?,
        Space::Image { shape, dtype } => {
            info.set_item("observation", ("image", shape.to_vec(), dtype.name()))?
        }
    }
    info.set_item("n_actions", env.n_actions())?;
    info.set_item("max_episode_steps", spec.max_episode_steps)?;
    info.set_item("reward_threshold", spec.reward_threshold)?;
    Ok(info)
}

/// Whether `id` names a built-in environment.
#[pyfunction]
pub fn is_builtin(id: &str) -> bool {
    deepq::envs::spec(id).is_ok()
}

/// The ids of the built-in environments.
#[pyfunction]
pub fn env_ids() -> Vec<&'static str> {
    deepq::envs::env_ids()
}

/// The presets as `(name, description)` pairs.
#[pyfunction]
pub fn presets() -> Vec<(&'static str, &'static str)> {
    PRESETS.iter().map(|p| (p.name, p.description())).collect()
}
