//! [`NativeEnvs`]: copies of one built-in environment, reset and stepped from Python in one
//! call, with results written into fresh NumPy arrays in the dtypes Gymnasium uses (float32
//! boxes, int64 discrete observations, bool MinAtar grids, float64 rewards, bool flags).
//!
//! This is the engine under `deepq.envs`: the Python classes there (a `gymnasium.Env` and a
//! `gymnasium.vector.VectorEnv`) hold the spaces, spec and metadata and call in here for the
//! work. Stepping loops over the copies in Rust, so Python sees one call per batch.

mod copies;
mod obs;

use std::sync::{Mutex, MutexGuard};

use deepq::envs::{AnyEnv, EnvSpec};
use numpy::{PyArray1, PyArrayMethods, PyUntypedArrayMethods};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

use crate::errors::{Error, Result};
use crate::evaluation::kwargs;
use copies::{Autoreset, BuildCopies, Copies, StepRows};
use obs::{Encoding, ObsRows, array};

/// Copies of one built-in environment (`deepq.envs` builds its Gymnasium classes on this).
///
/// Every method works on all copies at once and returns fresh NumPy arrays whose first
/// dimension is the copy; observations have the dtype and shape of Gymnasium's own env.
#[pyclass(name = "NativeEnvs", module = "deepq._native", frozen)]
pub struct NativeEnvs {
    copies: Mutex<Box<dyn Copies>>,
    num_envs: usize,
    n_actions: usize,
    /// Width of one observation in deepq's flat encoding.
    flat_width: usize,
    encoding: Encoding,
    mode: Autoreset,
    /// Whether `reset_to_state` may be used: the env's state is its current physical or
    /// grid state (not LunarLander's start conditions or a MinAtar game's objects).
    settable: bool,
    /// The id, named in error messages.
    spec: EnvSpec,
}

impl NativeEnvs {
    fn lock(&self) -> MutexGuard<'_, Box<dyn Copies>> {
        // A panic inside a step is a bug in deepq that Python already saw as an exception;
        // the copies are still whole values, so carrying on is sound.
        self.copies
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn obs_array<'py>(&self, py: Python<'py>, rows: ObsRows, n: usize) -> Bound<'py, PyAny> {
        rows.into_array(py, n, &self.encoding.shape())
    }

    fn check_index(&self, index: usize) -> Result<()> {
        if index >= self.num_envs {
            return Err(Error::usage(format!(
                "env index {index} is out of range for {} copies",
                self.num_envs
            )));
        }
        Ok(())
    }

    /// Reads one integer action per copy from `actions`: an int64 array (no copy), any other
    /// array of integers, or a sequence of Python ints.
    fn read_actions(&self, py: Python<'_>, actions: &Bound<'_, PyAny>) -> PyResult<Vec<usize>> {
        let contiguous = actions
            .cast::<PyArray1<i64>>()
            .ok()
            .filter(|array| array.is_contiguous());
        let values: Vec<i64> = if let Some(array) = contiguous {
            array.to_vec().expect("a contiguous array converts")
        } else if actions.is_instance_of::<PyList>() || actions.is_instance_of::<PyTuple>() {
            actions.extract().map_err(|_| {
                PyTypeError::new_err(format!(
                    "{}: actions must be integers (Discrete({})), got {}",
                    self.spec.id,
                    self.n_actions,
                    crate::convert::repr(actions)
                ))
            })?
        } else {
            let array = py
                .import("numpy")?
                .call_method1("ascontiguousarray", (actions,))?;
            let dtype = array.getattr("dtype")?;
            let kind: String = dtype.getattr("kind")?.extract()?;
            if kind != "i" && kind != "u" {
                return Err(PyTypeError::new_err(format!(
                    "{}: actions must be integers (Discrete({})), got an array of dtype {}",
                    self.spec.id,
                    self.n_actions,
                    dtype.str()?
                )));
            }
            let shape: Vec<usize> = array.getattr("shape")?.extract()?;
            if shape.len() != 1 {
                return Err(self.shape_error(&shape));
            }
            let array = array.call_method1("astype", ("int64",))?;
            array
                .cast::<PyArray1<i64>>()?
                .to_vec()
                .expect("a fresh array is contiguous")
        };
        if values.len() != self.num_envs {
            return Err(self.shape_error(&[values.len()]));
        }
        values
            .iter()
            .enumerate()
            .map(|(i, &a)| {
                usize::try_from(a)
                    .ok()
                    .filter(|&a| a < self.n_actions)
                    .ok_or_else(|| {
                        PyValueError::new_err(format!(
                            "{}: invalid action {a} for copy {i}; valid actions are 0..{}",
                            self.spec.id, self.n_actions
                        ))
                    })
            })
            .collect()
    }

    fn shape_error(&self, shape: &[usize]) -> PyErr {
        let shape: Vec<String> = shape.iter().map(usize::to_string).collect();
        let shape = if shape.len() == 1 {
            format!("({},)", shape[0])
        } else {
            format!("({})", shape.join(", "))
        };
        PyValueError::new_err(format!(
            "{}: actions must have shape ({},), one per copy, got shape {shape}",
            self.spec.id, self.num_envs
        ))
    }
}

#[pymethods]
impl NativeEnvs {
    /// `num_envs` copies of the built-in env `id` made with `env_kwargs`; `autoreset_mode`
    /// is `"next_step"`, `"same_step"` or `"disabled"` (no automatic reset).
    #[new]
    #[pyo3(signature = (id, num_envs=1, env_kwargs=None, autoreset_mode="disabled"))]
    fn new(
        id: &str,
        num_envs: usize,
        env_kwargs: Option<&Bound<'_, PyDict>>,
        autoreset_mode: &str,
    ) -> Result<Self> {
        if num_envs == 0 {
            return Err(Error::usage("invalid num_envs 0; expected at least 1"));
        }
        let mode = Autoreset::parse(autoreset_mode)?;
        let env = deepq::envs::make(id, &kwargs(env_kwargs)?)?;
        #[cfg(feature = "minatar")]
        let opaque_state = matches!(env, AnyEnv::LunarLander(_) | AnyEnv::MinAtar(_));
        #[cfg(not(feature = "minatar"))]
        let opaque_state = matches!(env, AnyEnv::LunarLander(_));
        let spec = env.spec().clone();
        let encoding = Encoding::of(&env.observation_space())?;
        let n_actions = env.n_actions();
        let (copies, flat_width) = env.visit(BuildCopies { num_envs });
        Ok(Self {
            copies: Mutex::new(copies),
            num_envs,
            n_actions,
            flat_width,
            encoding,
            mode,
            settable: !opaque_state,
            spec,
        })
    }

    /// Number of copies.
    #[getter]
    fn num_envs(&self) -> usize {
        self.num_envs
    }

    /// The autoreset mode's name.
    #[getter]
    fn autoreset_mode(&self) -> &'static str {
        match self.mode {
            Autoreset::NextStep => "next_step",
            Autoreset::SameStep => "same_step",
            Autoreset::Disabled => "disabled",
        }
    }

    /// Resets the copies and returns their observations. `seeds` is None (every copy
    /// continues its random stream) or one seed (or None) per copy; `mask`, if given,
    /// names the copies to reset, the others report their current observation.
    #[pyo3(signature = (seeds=None, mask=None))]
    fn reset<'py>(
        &self,
        py: Python<'py>,
        seeds: Option<Vec<Option<u64>>>,
        mask: Option<Vec<bool>>,
    ) -> Result<Bound<'py, PyAny>> {
        let seeds = seeds.unwrap_or_else(|| vec![None; self.num_envs]);
        if seeds.len() != self.num_envs {
            return Err(Error::usage(format!(
                "{}: got {} seeds for {} copies",
                self.spec.id,
                seeds.len(),
                self.num_envs
            )));
        }
        if mask.as_ref().is_some_and(|m| m.len() != self.num_envs) {
            return Err(Error::usage(format!(
                "{}: reset_mask must have shape ({},)",
                self.spec.id, self.num_envs
            )));
        }
        let mut rows = self.encoding.rows(self.num_envs);
        self.lock().reset(&seeds, mask.as_deref(), &mut rows);
        Ok(self.obs_array(py, rows, self.num_envs))
    }

    /// Steps every copy with its action (one integer per copy) and returns `(obs, rewards,
    /// terminated, truncated, final_obs)`; `final_obs` is None except in `same_step` mode on
    /// a step where some copy finished: then it holds, at each finished copy's row, the last
    /// observation of its episode (zeros elsewhere).
    fn step<'py>(
        &self,
        py: Python<'py>,
        actions: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let actions = self.read_actions(py, actions)?;
        let n = self.num_envs;
        let mut out = StepRows {
            obs: self.encoding.rows(n),
            rewards: Vec::with_capacity(n),
            terminated: Vec::with_capacity(n),
            truncated: Vec::with_capacity(n),
            final_obs: None,
        };
        self.lock()
            .step(&actions, self.mode, self.flat_width, &mut out);
        let final_obs = match out.final_obs {
            Some(rows) => self.obs_array(py, rows, n),
            None => py.None().into_bound(py),
        };
        PyTuple::new(
            py,
            [
                self.obs_array(py, out.obs, n),
                array(py, &[n], out.rewards),
                array(py, &[n], out.terminated),
                array(py, &[n], out.truncated),
                final_obs,
            ],
        )
    }

    /// Puts copy `index` into `state` (the layout of deepq's golden files: classic control's
    /// physical state, a toy-text env's cell index) as if just reset, and returns its
    /// observation.
    fn reset_to_state<'py>(
        &self,
        py: Python<'py>,
        index: usize,
        state: Vec<f64>,
    ) -> Result<Bound<'py, PyAny>> {
        self.check_index(index)?;
        let id = &self.spec.id;
        if !self.settable {
            return Err(Error::usage(format!(
                "{id} cannot be started from a given state"
            )));
        }
        let len = self.lock().state(index).len();
        if state.len() != len || !state.iter().all(|v| v.is_finite()) {
            return Err(Error::usage(format!(
                "{id}: a state is {len} finite numbers, got {state:?}"
            )));
        }
        if self.encoding == Encoding::Discrete {
            let s = state[0];
            if s.fract() != 0.0 || s < 0.0 || s as usize >= self.flat_width {
                return Err(Error::usage(format!(
                    "{id}: invalid state {s}; expected an integer in 0..{}",
                    self.flat_width
                )));
            }
        }
        let mut rows = self.encoding.rows(1);
        self.lock().reset_to_state(index, &state, &mut rows);
        Ok(self.obs_array(py, rows, 1))
    }

    /// The internal state of copy `index` (see `reset_to_state`).
    fn state(&self, index: usize) -> Result<Vec<f64>> {
        self.check_index(index)?;
        Ok(self.lock().state(index))
    }

    /// An RGB picture of copy `index` as a `(height, width, 3)` uint8 array.
    fn render_rgb<'py>(&self, py: Python<'py>, index: usize) -> Result<Bound<'py, PyAny>> {
        self.check_index(index)?;
        let frame = self.lock().env(index).rgb();
        let dims = [frame.height as usize, frame.width as usize, 3];
        Ok(array(py, &dims, frame.data))
    }

    /// An independent copy in the same state (`copy.deepcopy`): it continues exactly as
    /// this one would.
    fn __deepcopy__(&self, _memo: &Bound<'_, PyAny>) -> Self {
        Self {
            copies: Mutex::new(self.lock().duplicate()),
            num_envs: self.num_envs,
            n_actions: self.n_actions,
            flat_width: self.flat_width,
            encoding: self.encoding.clone(),
            mode: self.mode,
            settable: self.settable,
            spec: self.spec.clone(),
        }
    }

    /// A text picture of copy `index`, for a terminal.
    fn render_text(&self, index: usize) -> Result<String> {
        self.check_index(index)?;
        Ok(self.lock().env(index).text())
    }
}
