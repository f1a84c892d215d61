//! Gymnasium environments stepped from Rust: [`GymEnv`] describes a Python environment (its
//! spaces, as the Python layer read them), and [`PyEnv`] implements [`deepq::envs::Env`] on it,
//! so deepq's training loop and evaluation run on any Gymnasium `Env` with a `Discrete` action
//! space and a `Box` (flat, or an image) or `Discrete` observation space.
//!
//! Each call into the environment attaches to the interpreter only for that call. The `Env`
//! trait cannot return errors, so an exception raised by the environment (or an observation
//! that does not fit its space) is kept in a [`Failure`] shared by every copy of the env and
//! the training observer: from then on the env reports terminated episodes without calling
//! Python again, the observer stops training at the next step, and the exception is raised.

use std::sync::{Arc, Mutex};

use deepq::envs::{ElementType, Env, EnvSpec, Observation, RgbFrame, Space, Step};
use pyo3::buffer::PyBuffer;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString, PyTuple};

use crate::checkpoint_place::saved_as_marker;
use crate::convert::{repr, type_name};
use crate::errors::{Error, Result};
use crate::vector::{Autoreset, VectorSpec};

/// A Python env's observation in deepq's flat encoding: a `Box` flattened, an image in
/// (height, width, channels) order, a `Discrete` one-hot.
#[derive(Clone, Debug, PartialEq)]
pub struct FlatObs(pub Vec<f32>);

impl FlatObs {
    /// The observation as a state: a Python env's state is not visible to deepq, so its
    /// flat observation stands in.
    pub fn as_state(&self) -> Vec<f64> {
        self.0.iter().map(|&x| f64::from(x)).collect()
    }
}

impl Observation for FlatObs {
    fn write_flat(&self, out: &mut [f32]) {
        out.copy_from_slice(&self.0);
    }
}

/// How a Gymnasium observation becomes the network's flat input.
#[derive(Clone, Debug, PartialEq)]
pub enum ObsLayout {
    /// `Box`: the values in row-major order, as float32.
    Box {
        /// The space's shape.
        shape: Vec<usize>,
        /// Lower bound of every element.
        low: Vec<f32>,
        /// Upper bound of every element.
        high: Vec<f32>,
    },
    /// An image `Box` (rank 3): deepq's (height, width, channels) order, from channels-last
    /// observations as they are or from channels-first ones transposed; `u8` values scaled
    /// to `value / 255`.
    Image {
        /// (height, width, channels).
        shape: [usize; 3],
        /// The element type.
        dtype: ElementType,
        /// Whether the env gives (channels, height, width).
        channels_first: bool,
    },
    /// `Discrete(n, start)`: one-hot of `obs - start`.
    Discrete {
        /// Number of values.
        n: usize,
        /// The smallest value.
        start: i64,
    },
}

/// What deepq needs to know about a Gymnasium environment.
#[derive(Debug)]
pub struct Layout {
    /// The observation encoding.
    pub obs: ObsLayout,
    /// Number of discrete actions.
    pub n_actions: usize,
    /// The action space's `start`: deepq's action `a` is `a + action_start` in Python.
    pub action_start: i64,
    /// Id, step limit and reward threshold (infinite when the env has none).
    pub spec: EnvSpec,
    /// `numpy.asarray`, to convert observations that are not float32 buffers.
    as_array: Py<PyAny>,
}

impl Layout {
    /// The observation space in deepq's terms.
    pub fn space(&self) -> Space {
        match &self.obs {
            ObsLayout::Box { shape, low, high } => Space::Box {
                low: low.clone(),
                high: high.clone(),
                shape: shape.clone(),
            },
            ObsLayout::Image { shape, dtype, .. } => Space::Image {
                shape: *shape,
                dtype: *dtype,
            },
            ObsLayout::Discrete { n, .. } => Space::Discrete { n: *n },
        }
    }

    /// The observation's shape as the env gives it.
    fn env_shape(&self) -> Vec<usize> {
        match &self.obs {
            ObsLayout::Box { shape, .. } => shape.clone(),
            ObsLayout::Image {
                shape: [h, w, c],
                channels_first: true,
                ..
            } => vec![*c, *h, *w],
            ObsLayout::Image { shape, .. } => shape.to_vec(),
            ObsLayout::Discrete { .. } => Vec::new(),
        }
    }

    /// `obs` as a float32 buffer, converting it with `numpy.asarray` when it is not one.
    fn f32_buffer(
        &self,
        py: Python<'_>,
        obs: &Bound<'_, PyAny>,
        what: &str,
    ) -> PyResult<PyBuffer<f32>> {
        if let Ok(buffer) = PyBuffer::<f32>::get(obs) {
            return Ok(buffer);
        }
        let array = self
            .as_array
            .bind(py)
            .call1((obs, "float32"))
            .map_err(|e| {
                PyTypeError::new_err(format!(
                    "{what} returned an observation that is not numeric ({}): {e}",
                    type_name(obs)
                ))
            })?;
        PyBuffer::<f32>::get(&array)
    }

    /// Width of the flat observation.
    pub fn flat_dim(&self) -> usize {
        self.space().flat_dim()
    }

    /// Writes the flat encodings of a batch of observations (a vector env's, one per copy)
    /// into `rows`, one row of [`Layout::flat_dim`] values each; `what` names the call that
    /// produced them.
    pub(crate) fn encode_rows(
        &self,
        py: Python<'_>,
        obs: &Bound<'_, PyAny>,
        rows: &mut [f32],
        what: &str,
    ) -> PyResult<Source> {
        let d = self.flat_dim();
        match &self.obs {
            ObsLayout::Discrete { .. } => {
                for (i, row) in rows.chunks_exact_mut(d).enumerate() {
                    let _one_hot = self.encode(py, &obs.get_item(i)?, row, what)?;
                }
                Ok(Source::Bytes)
            }
            _ => self.encode_values(py, obs, rows, Some(rows.len() / d), what),
        }
    }

    /// Writes the values of a `Box` or image observation, or of `copies` of them, into
    /// `out` in deepq's flat encoding, after checking their number. A `uint8` image in a
    /// `uint8` array (Atari's frames) is read as bytes, without a float copy.
    fn encode_values(
        &self,
        py: Python<'_>,
        obs: &Bound<'_, PyAny>,
        out: &mut [f32],
        copies: Option<usize>,
        what: &str,
    ) -> PyResult<Source> {
        if let ObsLayout::Image {
            shape,
            dtype: ElementType::U8,
            channels_first,
        } = &self.obs
        {
            let bytes = PyBuffer::<u8>::get(obs)
                .ok()
                .filter(|b| b.item_count() == out.len());
            if let Some(bytes) = bytes {
                let mut values = vec![0u8; out.len()];
                bytes.copy_to_slice(py, &mut values)?;
                let d = self.flat_dim();
                for (from, row) in values.chunks_exact(d).zip(out.chunks_exact_mut(d)) {
                    write_image(
                        from,
                        |&b| f32::from(b) / 255.0,
                        *shape,
                        *channels_first,
                        row,
                    );
                }
                return Ok(Source::Bytes);
            }
        }
        let buffer = self.f32_buffer(py, obs, what)?;
        if buffer.item_count() != out.len() {
            let (values, space) = match copies {
                None => (
                    "an observation".to_string(),
                    format!(
                        "the observation space has shape {}",
                        python_shape(&self.env_shape())
                    ),
                ),
                Some(n) => {
                    let mut shape = vec![n];
                    shape.extend(self.env_shape());
                    (
                        "observations".to_string(),
                        format!(
                            "{n} copies of the observation space take shape {}",
                            python_shape(&shape)
                        ),
                    )
                }
            };
            return Err(PyValueError::new_err(format!(
                "{what} returned {values} with {} values, but {space} ({} values)",
                buffer.item_count(),
                out.len()
            )));
        }
        match &self.obs {
            ObsLayout::Image {
                shape,
                dtype,
                channels_first,
            } => {
                let values = buffer.to_vec(py)?;
                let d = self.flat_dim();
                let scale = if *dtype == ElementType::U8 {
                    255.0
                } else {
                    1.0
                };
                for (from, row) in values.chunks_exact(d).zip(out.chunks_exact_mut(d)) {
                    write_image(from, |x| x / scale, *shape, *channels_first, row);
                }
                Ok(Source::Numbers)
            }
            _ => buffer.copy_to_slice(py, out).map(|()| Source::Numbers),
        }
    }

    /// Writes the flat encoding of `obs` into `out`; `what` names the call that produced it.
    pub(crate) fn encode(
        &self,
        py: Python<'_>,
        obs: &Bound<'_, PyAny>,
        out: &mut [f32],
        what: &str,
    ) -> PyResult<Source> {
        match &self.obs {
            ObsLayout::Box { .. } | ObsLayout::Image { .. } => {
                self.encode_values(py, obs, out, None, what)
            }
            ObsLayout::Discrete { n, start } => {
                let value: i64 = obs.extract().map_err(|_| {
                    PyTypeError::new_err(format!(
                        "{what} returned observation {} for a Discrete observation space; expected an integer",
                        repr(obs)
                    ))
                })?;
                let index = value
                    .checked_sub(*start)
                    .and_then(|i| usize::try_from(i).ok())
                    .filter(|&i| i < *n)
                    .ok_or_else(|| {
                        PyValueError::new_err(format!(
                            "{what} returned observation {value}, outside the observation space Discrete({n}, start={start})"
                        ))
                    })?;
                out.fill(0.0);
                out[index] = 1.0;
                Ok(Source::Bytes)
            }
        }
    }
}

/// Where an encoded observation's values came from: bytes (or a one-hot index), finite by
/// construction, or other numbers, which may be NaN or infinite.
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    Bytes,
    Numbers,
}

impl Source {
    /// [`check_finite`] on `obs` when its values can be non-finite.
    pub(crate) fn check_finite(self, obs: &[f32], what: &str, step: Option<u64>) -> PyResult<()> {
        match self {
            Source::Bytes => Ok(()),
            Source::Numbers => check_finite(obs, what, step),
        }
    }
}

/// Writes an image's values (in the env's order) into `out` in deepq's flat encoding:
/// (height, width, channels) order, each value through `scale` (`u8` values are divided by
/// 255).
fn write_image<V>(
    values: &[V],
    scale: impl Fn(&V) -> f32,
    [height, width, channels]: [usize; 3],
    channels_first: bool,
    out: &mut [f32],
) {
    if !channels_first {
        for (o, x) in out.iter_mut().zip(values) {
            *o = scale(x);
        }
        return;
    }
    let pixels = height * width;
    for (pixel, row) in out.chunks_exact_mut(channels).enumerate() {
        for (channel, o) in row.iter_mut().enumerate() {
            *o = scale(&values[channel * pixels + pixel]);
        }
    }
}

/// A shape written as Python writes tuples: `(4,)`, `(2, 3)`, `()`.
fn python_shape(shape: &[usize]) -> String {
    match shape {
        [d] => format!("({d},)"),
        _ => {
            let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
            format!("({})", dims.join(", "))
        }
    }
}

/// A Gymnasium environment with its spaces described for deepq (built by the Python layer,
/// which reads the spaces).
#[pyclass(name = "GymEnv", module = "deepq._native", frozen)]
pub struct GymEnv {
    /// The Python environment.
    pub env: Py<PyAny>,
    /// Its description.
    pub layout: Arc<Layout>,
    /// For a vector env (whose spaces described are those of one copy), how many copies it
    /// steps and how it resets them.
    pub vector: Option<VectorSpec>,
}

#[pymethods]
impl GymEnv {
    /// Describes `env`: a `Box` observation space by `obs_shape`, `obs_low` and `obs_high`
    /// (an image when `image_dtype` is `"bool"`, `"uint8"` or `"float32"`: `obs_shape` is
    /// then (height, width, channels), or (channels, height, width) with `channels_first`),
    /// or a `Discrete` one by `obs_n` and `obs_start`; `n_actions` discrete actions from
    /// `action_start`; `id`, `max_episode_steps` and `reward_threshold` from its spec. A
    /// vector env has `num_envs` copies, described by those of one, and resets them as
    /// `autoreset` says (`"NextStep"`, `"SameStep"` or `"sb3"`; see [`crate::vector`]).
    #[new]
    #[pyo3(signature = (
        env, *, n_actions, id, action_start=0, obs_shape=None, obs_low=None, obs_high=None,
        image_dtype=None, channels_first=false, obs_n=None, obs_start=0, max_episode_steps=0,
        reward_threshold=None, num_envs=0, autoreset=None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        env: Py<PyAny>,
        n_actions: usize,
        id: String,
        action_start: i64,
        obs_shape: Option<Vec<usize>>,
        obs_low: Option<Vec<f32>>,
        obs_high: Option<Vec<f32>>,
        image_dtype: Option<&str>,
        channels_first: bool,
        obs_n: Option<usize>,
        obs_start: i64,
        max_episode_steps: usize,
        reward_threshold: Option<f64>,
        num_envs: usize,
        autoreset: Option<&str>,
    ) -> Result<Self> {
        let vector = match (num_envs, autoreset) {
            (0, None) => None,
            (1.., Some(mode)) => Some(VectorSpec {
                num_envs,
                autoreset: Autoreset::parse(mode)?,
            }),
            _ => {
                return Err(Error::usage(
                    "a vector env needs num_envs >= 1 and its autoreset mode",
                ));
            }
        };
        if n_actions == 0 {
            return Err(Error::usage(
                "the action space must have at least one action",
            ));
        }
        let obs = match (obs_shape, obs_n, image_dtype) {
            (Some(shape), None, Some(dtype)) => image_layout(&shape, dtype, channels_first)?,
            (Some(shape), None, None) => {
                let dim: usize = shape.iter().product();
                let low = obs_low.unwrap_or_else(|| vec![f32::NEG_INFINITY; dim]);
                let high = obs_high.unwrap_or_else(|| vec![f32::INFINITY; dim]);
                if dim == 0 || low.len() != dim || high.len() != dim {
                    return Err(Error::usage(format!(
                        "invalid Box observation space: shape {shape:?} with {} low and {} high bounds",
                        low.len(),
                        high.len()
                    )));
                }
                ObsLayout::Box { shape, low, high }
            }
            (None, Some(n), None) if n > 0 => ObsLayout::Discrete {
                n,
                start: obs_start,
            },
            _ => {
                return Err(Error::usage(
                    "describe the observation space by obs_shape (Box, with image_dtype for an image) or obs_n > 0 (Discrete)",
                ));
            }
        };
        let as_array = py.import("numpy")?.getattr("asarray")?.unbind();
        let spec = EnvSpec {
            id,
            max_episode_steps,
            reward_threshold: reward_threshold.unwrap_or(f64::INFINITY),
        };
        Ok(GymEnv {
            env,
            vector,
            layout: Arc::new(Layout {
                obs,
                n_actions,
                action_start,
                spec,
                as_array,
            }),
        })
    }

    /// The environment's id (its Gymnasium spec id, or its class name).
    #[getter]
    fn id(&self) -> String {
        self.layout.spec.id.clone()
    }

    /// Width of the flat observation the network sees.
    #[getter]
    fn flat_dim(&self) -> usize {
        self.layout.flat_dim()
    }

    /// Number of actions.
    #[getter]
    fn n_actions(&self) -> usize {
        self.layout.n_actions
    }

    fn __repr__(&self) -> String {
        format!(
            "GymEnv(id={:?}, observation_space={}, n_actions={})",
            self.layout.spec.id,
            self.layout.space(),
            self.layout.n_actions
        )
    }
}

/// The layout of an image observation space of `shape` (as the env gives it) and `dtype`.
fn image_layout(shape: &[usize], dtype: &str, channels_first: bool) -> Result<ObsLayout> {
    let dtype = match dtype {
        "bool" => ElementType::Bool,
        "uint8" => ElementType::U8,
        "float32" => ElementType::F32,
        other => {
            return Err(Error::usage(format!(
                "invalid image dtype '{other}': expected \"bool\", \"uint8\" or \"float32\""
            )));
        }
    };
    let &[a, b, c] = shape else {
        return Err(Error::usage(format!(
            "an image observation space has three dimensions, not shape {}",
            python_shape(shape)
        )));
    };
    if a * b * c == 0 {
        return Err(Error::usage(format!(
            "invalid image observation space: shape {}",
            python_shape(shape)
        )));
    }
    let shape = if channels_first { [b, c, a] } else { [a, b, c] };
    Ok(ObsLayout::Image {
        shape,
        dtype,
        channels_first,
    })
}

/// The first exception raised by Python during a run (by the env, or by a callback).
#[derive(Debug, Default)]
pub struct Failure {
    error: Mutex<Option<PyErr>>,
}

impl Failure {
    /// Keeps `error` unless an earlier one is kept already.
    pub fn record(&self, error: PyErr) {
        let mut slot = self.error.lock().unwrap_or_else(|p| p.into_inner());
        slot.get_or_insert(error);
    }

    /// Whether an exception was recorded.
    pub fn is_set(&self) -> bool {
        self.error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    /// Takes the recorded exception.
    pub fn take(&self) -> Option<PyErr> {
        self.error.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// A Python Gymnasium environment as a deepq [`Env`].
///
/// Cloning either shares the Python object (when a run needs only one instance) or makes a
/// `copy.deepcopy` of it (for `n_envs > 1` and the separate evaluation env); deep copies are
/// closed when dropped. Checkpoints cannot hold a Python env: they keep its place
/// ([`crate::checkpoint_place`]).
pub struct PyEnv {
    env: Py<PyAny>,
    layout: Arc<Layout>,
    obs: FlatObs,
    failure: Arc<Failure>,
    /// Whether clones are deep copies.
    copies: bool,
    /// Whether this instance is a deep copy made here (and so closed on drop).
    owned: bool,
    /// Steps taken since the last reset, to name the step a bad value came from.
    episode_steps: u64,
}

impl PyEnv {
    /// Wraps the environment of `handle`; `copies` chooses deep copies for clones.
    pub fn new(py: Python<'_>, handle: &GymEnv, failure: Arc<Failure>, copies: bool) -> Self {
        PyEnv {
            env: handle.env.clone_ref(py),
            obs: FlatObs(vec![0.0; handle.layout.flat_dim()]),
            layout: Arc::clone(&handle.layout),
            failure,
            copies,
            owned: false,
            episode_steps: 0,
        }
    }

    /// Runs `f` on the environment while attached to the interpreter, recording its error.
    /// Does nothing once a failure is recorded.
    fn call<R>(
        &mut self,
        f: impl FnOnce(Python<'_>, &Bound<'_, PyAny>, &Layout, &mut [f32]) -> PyResult<R>,
    ) -> Option<R> {
        if self.failure.is_set() {
            return None;
        }
        let result = Python::attach(|py| f(py, self.env.bind(py), &self.layout, &mut self.obs.0));
        result.map_err(|e| self.failure.record(e)).ok()
    }

    /// What a step reports once the env has failed: a terminated episode, so loops end.
    fn failed_step(&self) -> Step<FlatObs> {
        Step {
            obs: self.obs.clone(),
            reward: 0.0,
            terminated: true,
            truncated: false,
        }
    }

    /// The env's `render_mode`, if it has one.
    fn render_mode(&self, py: Python<'_>) -> Option<String> {
        self.env
            .bind(py)
            .getattr(intern!(py, "render_mode"))
            .ok()?
            .extract()
            .ok()
    }
}

/// `copy.deepcopy(env)`.
pub fn deepcopy(py: Python<'_>, env: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
    Ok(py
        .import("copy")?
        .getattr("deepcopy")?
        .call1((env,))?
        .unbind())
}

/// Calls `env.close()`, ignoring its errors (the env is being discarded).
pub fn close_quietly(env: &Bound<'_, PyAny>) {
    let _ = env.call_method0(intern!(env.py(), "close"));
}

/// Refuses an observation with a NaN or infinite value, which would otherwise surface later
/// as a diverged loss.
/// `step` counts the episode's steps (None for a reset).
pub(crate) fn check_finite(obs: &[f32], what: &str, step: Option<u64>) -> PyResult<()> {
    let Some(i) = obs.iter().position(|v| !v.is_finite()) else {
        return Ok(());
    };
    let when = step.map_or(String::new(), |n| format!(" on step {n} of the episode"));
    Err(PyValueError::new_err(format!(
        "{what} returned an observation with a non-finite value{when}: {} at flat index {i}",
        obs[i]
    )))
}

/// Checks the `(obs, info)` / `(obs, reward, terminated, truncated, info)` shape of a result.
pub(crate) fn expect_tuple<'py>(
    value: Bound<'py, PyAny>,
    len: usize,
    what: &str,
    expected: &str,
) -> PyResult<Bound<'py, PyTuple>> {
    match value.cast_into::<PyTuple>() {
        Ok(t) if t.len() == len => Ok(t),
        Ok(t) => Err(PyTypeError::new_err(format!(
            "{what} must return {expected} as Gymnasium does; it returned a tuple of {} values",
            t.len()
        ))),
        Err(e) => Err(PyTypeError::new_err(format!(
            "{what} must return {expected} as Gymnasium does; it returned a value of type '{}'",
            type_name(e.into_inner().as_any())
        ))),
    }
}

impl Clone for PyEnv {
    fn clone(&self) -> Self {
        Python::attach(|py| {
            let (env, owned) = if self.copies && !self.failure.is_set() {
                match deepcopy(py, self.env.bind(py)) {
                    Ok(copy) => (copy, true),
                    Err(e) => {
                        self.failure.record(e);
                        (self.env.clone_ref(py), false)
                    }
                }
            } else {
                (self.env.clone_ref(py), false)
            };
            PyEnv {
                env,
                layout: Arc::clone(&self.layout),
                obs: self.obs.clone(),
                failure: Arc::clone(&self.failure),
                copies: self.copies,
                owned,
                episode_steps: self.episode_steps,
            }
        })
    }
}

impl Drop for PyEnv {
    fn drop(&mut self) {
        if self.owned {
            Python::attach(|py| close_quietly(self.env.bind(py)));
        }
    }
}

impl Env for PyEnv {
    type Obs = FlatObs;

    fn observation_space(&self) -> Space {
        self.layout.space()
    }

    fn action_space(&self) -> Space {
        Space::Discrete {
            n: self.layout.n_actions,
        }
    }

    fn reset(&mut self, seed: Option<u64>) -> FlatObs {
        self.call(|py, env, layout, out| {
            let kwargs = PyDict::new(py);
            kwargs.set_item(intern!(py, "seed"), seed)?;
            let result = env.call_method(intern!(py, "reset"), (), Some(&kwargs))?;
            let t = expect_tuple(result, 2, "env.reset()", "(observation, info)")?;
            layout
                .encode(py, &t.get_item(0)?, out, "env.reset()")?
                .check_finite(out, "env.reset()", None)
        });
        self.episode_steps = 0;
        self.obs.clone()
    }

    fn step(&mut self, action: usize) -> Step<FlatObs> {
        let n = self.layout.n_actions;
        self.episode_steps += 1;
        let step = self.episode_steps;
        let outcome = self.call(|py, env, layout, out| {
            if action >= n {
                return Err(PyValueError::new_err(format!(
                    "invalid action {action}; valid actions are 0..{n}"
                )));
            }
            let python_action = action as i64 + layout.action_start;
            let result = env.call_method1(intern!(py, "step"), (python_action,))?;
            let t = expect_tuple(
                result,
                5,
                "env.step()",
                "(observation, reward, terminated, truncated, info)",
            )?;
            layout
                .encode(py, &t.get_item(0)?, out, "env.step()")?
                .check_finite(out, "env.step()", Some(step))?;
            let reward_obj = t.get_item(1)?;
            let reward: f64 = reward_obj.extract().map_err(|_| {
                PyTypeError::new_err(format!(
                    "env.step() returned reward {} that is not a number",
                    repr(&reward_obj)
                ))
            })?;
            if !reward.is_finite() {
                return Err(PyValueError::new_err(format!(
                    "env.step() returned a non-finite reward {reward} on step {step} of the \
                     episode"
                )));
            }
            Ok((
                reward,
                t.get_item(2)?.is_truthy()?,
                t.get_item(3)?.is_truthy()?,
            ))
        });
        match outcome {
            Some((reward, terminated, truncated)) => Step {
                obs: self.obs.clone(),
                reward,
                terminated,
                truncated,
            },
            None => self.failed_step(),
        }
    }

    /// Python environments cannot be put into a given state: recorded as a failure.
    fn reset_to_state(&mut self, _state: &[f64]) -> FlatObs {
        self.call(|_, _, _, _| -> PyResult<()> {
            Err(PyValueError::new_err(
                "reset_to_state is not supported for Gymnasium environments",
            ))
        });
        self.obs.clone()
    }

    fn observation(&self) -> FlatObs {
        self.obs.clone()
    }

    fn state(&self) -> Vec<f64> {
        self.obs.as_state()
    }

    /// The env's own text rendering when its `render_mode` is `"ansi"`, else the observation.
    fn render_text(&self) -> String {
        Python::attach(|py| {
            if self.render_mode(py).as_deref() == Some("ansi")
                && let Ok(text) = self.env.bind(py).call_method0(intern!(py, "render"))
                && let Ok(text) = text.cast::<PyString>()
            {
                return text.to_string();
            }
            format!("{:?}", self.obs.0)
        })
    }

    /// The env's own picture when its `render_mode` is `"rgb_array"` (an `H × W × 3` uint8
    /// array), else an empty frame.
    fn render_rgb(&self) -> RgbFrame {
        let empty = RgbFrame {
            width: 0,
            height: 0,
            data: Vec::new(),
        };
        Python::attach(|py| {
            if self.render_mode(py).as_deref() != Some("rgb_array") {
                return empty;
            }
            let Ok(picture) = self.env.bind(py).call_method0(intern!(py, "render")) else {
                return empty;
            };
            match PyBuffer::<u8>::get(&picture) {
                Ok(b) if b.shape().len() == 3 && b.shape()[2] == 3 => RgbFrame {
                    width: u32::try_from(b.shape()[1]).unwrap_or(0),
                    height: u32::try_from(b.shape()[0]).unwrap_or(0),
                    data: b.to_vec(py).unwrap_or_default(),
                },
                _ => empty,
            }
        })
    }
}

saved_as_marker!(PyEnv);
