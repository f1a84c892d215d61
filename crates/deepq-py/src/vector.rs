//! Vector environments from Python stepped from Rust: a Gymnasium `VectorEnv` (ale-py's
//! `AtariVectorEnv`, anything from `gymnasium.make_vec`) or a Stable-Baselines3 `VecEnv`
//! (`make_vec_env`, `make_atari_env` + `VecFrameStack`). [`PyVecCopy`] is one copy of such an
//! env as a deepq [`Env`]: the copies of one vector env share it, and
//! [`Env::step_copies`] steps them all with one Python call per vector step, each batch of
//! observations copied once into the copies' rows.
//!
//! Auto-reset follows the library that made the env:
//!
//! - Gymnasium "same step" and SB3: an ended copy's observation is already its next
//!   episode's first, and the last one of the ended episode comes in the infos
//!   (`final_obs`, or SB3's `terminal_observation`); SB3 reports a time limit as
//!   `TimeLimit.truncated`.
//! - Gymnasium "next step" (its default, and ale-py's): an ended copy returns its last
//!   observation, and the following step resets it instead of stepping it; that copy is then
//!   reported as not stepped ([`deepq::envs::CopySteps::stepped`]), giving no transition.
//!
//! Errors go to the run's [`Failure`], as for single Python envs ([`crate::gym`]).

use std::sync::{Arc, Mutex, MutexGuard};

use deepq::envs::{CopySteps, Env, RgbFrame, Space, Step};
use pyo3::buffer::PyBuffer;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::checkpoint_place::saved_as_marker;
use crate::errors::{Error, Result};
use crate::gym::{Failure, FlatObs, GymEnv, Layout, expect_tuple};

/// How a vector env resets its copies, which decides where final observations are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Autoreset {
    /// Gymnasium's `AutoresetMode.NEXT_STEP`.
    NextStep,
    /// Gymnasium's `AutoresetMode.SAME_STEP`.
    SameStep,
    /// A Stable-Baselines3 `VecEnv`: same step, final observations in `terminal_observation`.
    Sb3,
}

impl Autoreset {
    /// The mode named as the Python layer names it: Gymnasium's `AutoresetMode` values
    /// (`"NextStep"`, `"SameStep"`) or `"sb3"`.
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "NextStep" => Ok(Autoreset::NextStep),
            "SameStep" => Ok(Autoreset::SameStep),
            "sb3" => Ok(Autoreset::Sb3),
            other => Err(Error::usage(format!(
                "deepq cannot train on a vector env with autoreset mode '{other}': it needs \"NextStep\" or \"SameStep\" (Gymnasium) or an SB3 VecEnv"
            ))),
        }
    }
}

/// A Python vector env, as the Python layer described it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VectorSpec {
    /// Copies stepped together.
    pub num_envs: usize,
    /// How ended copies reset.
    pub autoreset: Autoreset,
}

/// What the copies of one vector env share.
struct Shared {
    env: Py<PyAny>,
    layout: Arc<Layout>,
    autoreset: Autoreset,
    failure: Arc<Failure>,
    /// Next-step auto-reset: copies whose episode ended on the last step, which the next
    /// step resets.
    resetting: Vec<bool>,
    /// Steps of each copy's current episode, to name the step a bad value came from.
    episode_steps: Vec<u64>,
    /// Each copy's lives as its infos last reported them (Atari's `lives`), if they do.
    lives: Vec<Option<f64>>,
    /// Observations of the last call, `num_envs` flat rows.
    rows: Vec<f32>,
    /// One final observation.
    final_row: Vec<f32>,
}

/// One copy of a Python vector env (see the [module docs](self)). Clones share the env.
#[derive(Clone)]
pub struct PyVecCopy {
    shared: Arc<Mutex<Shared>>,
    /// This copy's observation as the last step left it.
    obs: FlatObs,
}

/// The outcome of one vector step, per copy.
struct Outcome {
    rewards: Vec<f64>,
    terminated: Vec<bool>,
    truncated: Vec<bool>,
    /// Whether each copy's lives went down on the step.
    life_lost: Vec<bool>,
    /// Final observations of the copies that ended, where the env reports them apart.
    finals: Vec<Option<Vec<f32>>>,
}

impl PyVecCopy {
    /// Copy 0 of the vector env of `handle` (whose description says it is one).
    pub fn new(py: Python<'_>, handle: &GymEnv, spec: VectorSpec, failure: Arc<Failure>) -> Self {
        let d = handle.layout.flat_dim();
        let n = spec.num_envs;
        PyVecCopy {
            shared: Arc::new(Mutex::new(Shared {
                env: handle.env.clone_ref(py),
                layout: Arc::clone(&handle.layout),
                autoreset: spec.autoreset,
                failure,
                resetting: vec![false; n],
                episode_steps: vec![0; n],
                lives: vec![None; n],
                rows: vec![0.0; n * d],
                final_row: vec![0.0; d],
            })),
            obs: FlatObs(vec![0.0; d]),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        lock(&self.shared)
    }
}

/// The shared state, even if a panic poisoned its lock (it holds no invariant a panic breaks).
fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    fn num_envs(&self) -> usize {
        self.resetting.len()
    }

    /// Resets every copy (each copy `i` seeded with `seed + i`, as both libraries seed).
    /// Returns false once the run has failed.
    fn reset(&mut self, seed: Option<u64>) -> bool {
        if self.failure.is_set() {
            return false;
        }
        self.lives.fill(None);
        let result = Python::attach(|py| -> PyResult<()> {
            let env = self.env.bind(py);
            let obs = if self.autoreset == Autoreset::Sb3 {
                if let Some(seed) = seed {
                    env.call_method1(intern!(py, "seed"), (seed,))?;
                }
                env.call_method0(intern!(py, "reset"))?
            } else {
                let kwargs = PyDict::new(py);
                kwargs.set_item(intern!(py, "seed"), seed)?;
                let result = env.call_method(intern!(py, "reset"), (), Some(&kwargs))?;
                let t = expect_tuple(result, 2, "env.reset()", "(observations, infos)")?;
                // The lives each copy starts with, so that a life lost on the first step
                // counts.
                self.update_lives(py, &py.import("numpy")?, &t.get_item(1)?)?;
                t.get_item(0)?
            };
            self.layout
                .encode_rows(py, &obs, &mut self.rows, "env.reset()")?
                .check_finite(&self.rows, "env.reset()", None)
        });
        self.resetting.fill(false);
        self.episode_steps.fill(0);
        result.map_err(|e| self.failure.record(e)).is_ok()
    }

    /// Steps every copy with `actions` (deepq's, 0-based); the observations land in `rows`.
    fn step(&mut self, actions: &[usize]) -> Option<Outcome> {
        if self.failure.is_set() {
            return None;
        }
        for (steps, &resetting) in self.episode_steps.iter_mut().zip(&self.resetting) {
            *steps = if resetting { 0 } else { *steps + 1 };
        }
        let result = Python::attach(|py| self.call_step(py, actions));
        result.map_err(|e| self.failure.record(e)).ok()
    }

    fn call_step(&mut self, py: Python<'_>, actions: &[usize]) -> PyResult<Outcome> {
        let layout = Arc::clone(&self.layout);
        let n_actions = layout.n_actions;
        if let Some(&bad) = actions.iter().find(|&&a| a >= n_actions) {
            return Err(PyValueError::new_err(format!(
                "invalid action {bad}; valid actions are 0..{n_actions}"
            )));
        }
        let python_actions: Vec<i64> = actions
            .iter()
            .map(|&a| a as i64 + layout.action_start)
            .collect();
        let numpy = py.import("numpy")?;
        let actions = numpy.call_method1(intern!(py, "asarray"), (python_actions, "int64"))?;
        let result = self
            .env
            .bind(py)
            .call_method1(intern!(py, "step"), (actions,))?;
        let n = self.num_envs();
        let (obs, rewards, terminated, truncated, infos) = if self.autoreset == Autoreset::Sb3 {
            let t = expect_tuple(
                result,
                4,
                "env.step()",
                "(observations, rewards, dones, infos)",
            )?;
            let dones = bools(&numpy, &t.get_item(2)?, n, "dones")?;
            let infos = t.get_item(3)?;
            let mut truncated = vec![false; n];
            for (i, cut) in truncated.iter_mut().enumerate() {
                let info = infos.get_item(i)?;
                *cut = dones[i]
                    && info
                        .call_method1(intern!(py, "get"), ("TimeLimit.truncated", false))?
                        .is_truthy()?;
            }
            let terminated = dones
                .iter()
                .zip(&truncated)
                .map(|(&d, &t)| d && !t)
                .collect();
            (t.get_item(0)?, t.get_item(1)?, terminated, truncated, infos)
        } else {
            let t = expect_tuple(
                result,
                5,
                "env.step()",
                "(observations, rewards, terminations, truncations, infos)",
            )?;
            let terminated = bools(&numpy, &t.get_item(2)?, n, "terminations")?;
            let truncated = bools(&numpy, &t.get_item(3)?, n, "truncations")?;
            (
                t.get_item(0)?,
                t.get_item(1)?,
                terminated,
                truncated,
                t.get_item(4)?,
            )
        };
        let rewards = floats(&numpy, &rewards, n, "rewards")?;
        let source = layout.encode_rows(py, &obs, &mut self.rows, "env.step()")?;
        let d = layout.flat_dim();
        let mut finals = vec![None; n];
        for i in 0..n {
            if !rewards[i].is_finite() {
                return Err(PyValueError::new_err(format!(
                    "env.step() returned a non-finite reward {} for copy {i} on step {} of its episode",
                    rewards[i], self.episode_steps[i]
                )));
            }
            let what = format!("env.step() (copy {i})");
            source.check_finite(
                &self.rows[i * d..(i + 1) * d],
                &what,
                Some(self.episode_steps[i]),
            )?;
            let ended = terminated[i] || truncated[i];
            if ended {
                self.episode_steps[i] = 0;
            }
            // Next-step envs return the last observation itself where an episode ends.
            if ended && self.autoreset != Autoreset::NextStep {
                let final_obs = self.final_observation(py, &infos, i)?;
                layout
                    .encode(py, &final_obs, &mut self.final_row, &what)?
                    .check_finite(&self.final_row, &what, Some(self.episode_steps[i]))?;
                finals[i] = Some(self.final_row.clone());
            }
        }
        let life_lost = self.update_lives(py, &numpy, &infos)?;
        Ok(Outcome {
            rewards,
            terminated,
            truncated,
            life_lost,
            finals,
        })
    }

    /// Which copies lost a life on the step whose infos are `infos`: their `lives` (ale-py
    /// reports them for every Atari env) went down. Copies without lives never lose one.
    fn update_lives(
        &mut self,
        py: Python<'_>,
        numpy: &Bound<'_, PyModule>,
        infos: &Bound<'_, PyAny>,
    ) -> PyResult<Vec<bool>> {
        let n = self.num_envs();
        let now: Vec<Option<f64>> = if self.autoreset == Autoreset::Sb3 {
            (0..n)
                .map(|i| {
                    infos
                        .get_item(i)?
                        .call_method1(intern!(py, "get"), ("lives",))?
                        .extract::<Option<f64>>()
                })
                .collect::<PyResult<_>>()?
        } else {
            match infos
                .call_method1(intern!(py, "get"), ("lives",))?
                .extract::<Option<Bound<'_, PyAny>>>()?
            {
                Some(lives) => floats(numpy, &lives, n, "lives")?
                    .into_iter()
                    .map(Some)
                    .collect(),
                None => vec![None; n],
            }
        };
        let lost = self
            .lives
            .iter()
            .zip(&now)
            .map(|(before, now)| matches!((before, now), (Some(b), Some(a)) if a < b))
            .collect();
        self.lives = now;
        Ok(lost)
    }

    /// The last observation of copy `i`'s ended episode, from the step's infos.
    fn final_observation<'py>(
        &self,
        py: Python<'py>,
        infos: &Bound<'py, PyAny>,
        i: usize,
    ) -> PyResult<Bound<'py, PyAny>> {
        let missing = |key: &str| {
            PyValueError::new_err(format!(
                "env.step() ended copy {i}'s episode without its final observation in the infos ('{key}')"
            ))
        };
        if self.autoreset == Autoreset::Sb3 {
            let key = "terminal_observation";
            return infos
                .get_item(i)?
                .call_method1(intern!(py, "get"), (key,))?
                .extract::<Option<Bound<'py, PyAny>>>()?
                .ok_or_else(|| missing(key));
        }
        let key = "final_obs";
        let finals = infos
            .call_method1(intern!(py, "get"), (key,))?
            .extract::<Option<Bound<'py, PyAny>>>()?
            .ok_or_else(|| missing(key))?;
        finals.get_item(i)
    }
}

/// `value` as `n` booleans (a numpy array or a sequence); `what` names it in errors.
fn bools(
    numpy: &Bound<'_, PyModule>,
    value: &Bound<'_, PyAny>,
    n: usize,
    what: &str,
) -> PyResult<Vec<bool>> {
    Ok(floats(numpy, value, n, what)?
        .into_iter()
        .map(|x| x != 0.0)
        .collect())
}

/// `value` as `n` floats (a numpy array or a sequence); `what` names it in errors.
fn floats(
    numpy: &Bound<'_, PyModule>,
    value: &Bound<'_, PyAny>,
    n: usize,
    what: &str,
) -> PyResult<Vec<f64>> {
    let py = value.py();
    let array = numpy
        .call_method1(intern!(py, "asarray"), (value, "float64"))
        .map_err(|e| {
            PyTypeError::new_err(format!(
                "env.step() returned {what} that are not numbers: {e}"
            ))
        })?
        .call_method0(intern!(py, "ravel"))?;
    let buffer = PyBuffer::<f64>::get(&array)?;
    if buffer.item_count() != n {
        return Err(PyValueError::new_err(format!(
            "env.step() returned {} {what} for {n} copies",
            buffer.item_count()
        )));
    }
    buffer.to_vec(py)
}

impl Env for PyVecCopy {
    type Obs = FlatObs;

    fn observation_space(&self) -> Space {
        self.lock().layout.space()
    }

    fn action_space(&self) -> Space {
        Space::Discrete {
            n: self.lock().layout.n_actions,
        }
    }

    /// Resets the whole vector env and returns copy 0's observation: evaluation runs on
    /// copy 0 (see [`PyVecCopy::step`]).
    fn reset(&mut self, seed: Option<u64>) -> FlatObs {
        let shared_arc = Arc::clone(&self.shared);
        let mut shared = lock(&shared_arc);
        shared.reset(seed);
        let d = self.obs.0.len();
        self.obs.0.copy_from_slice(&shared.rows[..d]);
        drop(shared);
        self.obs.clone()
    }

    /// Steps every copy with `action` and returns copy 0's step, its episode's last
    /// observation where it ended. This is how a finished run evaluates its greedy policy
    /// on a vector env (the other copies play along); training steps the copies through
    /// [`Env::step_copies`], and periodic evaluation during training is refused.
    fn step(&mut self, action: usize) -> Step<FlatObs> {
        let shared_arc = Arc::clone(&self.shared);
        let mut shared = lock(&shared_arc);
        let actions = vec![action; shared.num_envs()];
        let d = self.obs.0.len();
        let Some(outcome) = shared.step(&actions) else {
            return Step {
                obs: self.obs.clone(),
                reward: 0.0,
                terminated: true,
                truncated: false,
            };
        };
        let row = outcome.finals[0].as_deref().unwrap_or(&shared.rows[..d]);
        self.obs.0.copy_from_slice(row);
        let ended = outcome.terminated[0] || outcome.truncated[0];
        shared.resetting[0] = ended && shared.autoreset == Autoreset::NextStep;
        Step {
            obs: self.obs.clone(),
            reward: outcome.rewards[0],
            terminated: outcome.terminated[0],
            truncated: outcome.truncated[0],
        }
    }

    fn reset_copies(copies: &mut [Self], seed: Option<u64>, obs: &mut Vec<FlatObs>) {
        let shared_arc = Arc::clone(&copies[0].shared);
        let mut shared = lock(&shared_arc);
        assert_eq!(
            copies.len(),
            shared.num_envs(),
            "a vector env's copies are stepped together"
        );
        shared.reset(seed);
        let d = copies[0].obs.0.len();
        obs.clear();
        for (copy, row) in copies.iter_mut().zip(shared.rows.chunks_exact(d)) {
            copy.obs.0.copy_from_slice(row);
            obs.push(copy.obs.clone());
        }
    }

    fn step_copies(copies: &mut [Self], actions: &[usize], out: CopySteps<'_, FlatObs>) {
        let shared_arc = Arc::clone(&copies[0].shared);
        let mut shared = lock(&shared_arc);
        let d = copies[0].obs.0.len();
        let Some(outcome) = shared.step(actions) else {
            // The run has failed: end every episode, so that loops stop.
            out.terminated.fill(true);
            out.truncated.fill(false);
            out.rewards.fill(0.0);
            out.life_lost.fill(false);
            out.stepped.fill(true);
            return;
        };
        let next_step = shared.autoreset == Autoreset::NextStep;
        for (i, copy) in copies.iter_mut().enumerate() {
            let row = &shared.rows[i * d..(i + 1) * d];
            copy.obs.0.copy_from_slice(row);
            out.obs[i].0.copy_from_slice(row);
            let stepped = !shared.resetting[i];
            out.stepped[i] = stepped;
            out.rewards[i] = if stepped { outcome.rewards[i] } else { 0.0 };
            out.terminated[i] = stepped && outcome.terminated[i];
            out.truncated[i] = stepped && outcome.truncated[i];
            out.life_lost[i] = stepped && outcome.life_lost[i];
            let ended = out.terminated[i] || out.truncated[i];
            let final_row = outcome.finals[i].as_deref().unwrap_or(row);
            out.final_obs[i].0.copy_from_slice(final_row);
            shared.resetting[i] = next_step && ended;
        }
    }

    /// Python environments cannot be put into a given state: recorded as a failure.
    fn reset_to_state(&mut self, _state: &[f64]) -> FlatObs {
        let shared = self.lock();
        shared.failure.record(PyValueError::new_err(
            "reset_to_state is not supported for Python vector environments",
        ));
        drop(shared);
        self.obs.clone()
    }

    fn observation(&self) -> FlatObs {
        self.obs.clone()
    }

    fn state(&self) -> Vec<f64> {
        self.obs.as_state()
    }

    fn render_text(&self) -> String {
        format!("{:?}", self.obs.0)
    }

    /// A vector env draws its copies together; deepq draws none of them.
    fn render_rgb(&self) -> RgbFrame {
        RgbFrame {
            width: 0,
            height: 0,
            data: Vec::new(),
        }
    }
}

saved_as_marker!(PyVecCopy);
