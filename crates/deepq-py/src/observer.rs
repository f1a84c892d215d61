//! The training observer behind `DQN.learn`: it calls the Python callback every N steps and
//! the progress reporter now and then, stops training when the callback asks to or Python
//! raised (in the env, a callback, or a signal such as Ctrl-C), and attaches to the
//! interpreter only for those calls.

use std::collections::VecDeque;
use std::sync::Arc;

use deepq::eval::EvalProgress;
use deepq::schedule::ExplorationSchedule;
use deepq::train::{EpisodeRecord, EvalRecord, Observer, Progress, RunView, UpdateRecord};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict};

use crate::gym::Failure;
use crate::live;

/// Steps between checks for pending signals (Ctrl-C) while no Python code runs.
const SIGNAL_CHECK_POLLS: u64 = 1024;

/// Decides whether an evaluation stops: when Python has raised (in a Gymnasium env, or a
/// progress hook), or a signal such as Ctrl-C is pending (checked every
/// `SIGNAL_CHECK_POLLS` evaluation steps).
#[derive(Default)]
pub struct EvaluationStop {
    polls: u64,
}

impl EvaluationStop {
    /// Whether to stop now; a pending signal's exception is kept in `failure`.
    pub fn now(&mut self, failure: &Failure) -> bool {
        self.polls += 1;
        if failure.is_set() {
            return true;
        }
        if self.polls.is_multiple_of(SIGNAL_CHECK_POLLS)
            && let Err(e) = Python::attach(|py| py.check_signals())
        {
            failure.record(e);
            return true;
        }
        false
    }
}

/// An evaluation's observer outside training (`evaluate_policy`): it only stops it.
pub struct Interruptible<'a> {
    failure: &'a Failure,
    stop: EvaluationStop,
}

impl<'a> Interruptible<'a> {
    /// Stops the evaluation once `failure` holds an exception or a signal arrives.
    pub fn new(failure: &'a Failure) -> Self {
        Interruptible {
            failure,
            stop: EvaluationStop::default(),
        }
    }
}

impl Observer for Interruptible<'_> {
    fn should_stop_evaluating(&mut self) -> bool {
        self.stop.now(self.failure)
    }
}

/// Reports training to Python; see the module docs.
pub struct PyObserver {
    /// `callback(info: dict) -> bool | None`, called every `callback_freq` steps; `False`
    /// stops training.
    callback: Option<Py<PyAny>>,
    callback_freq: u64,
    /// `progress(kind: str, info: dict)`, with kind `"progress"` (every few hundred steps),
    /// `"episode"` or `"eval"`.
    progress: Option<Py<PyAny>>,
    /// Whether `progress` also receives every episode.
    episodes_to_progress: bool,
    schedule: ExplorationSchedule,
    n_envs: u64,
    /// Steps taken before this call, in a run that goes on.
    start_step: u64,
    polls: u64,
    next_callback: u64,
    episodes: u64,
    new_returns: Vec<f64>,
    new_lengths: Vec<u64>,
    new_envs: Vec<usize>,
    failure: Arc<Failure>,
    stopped_by_callback: bool,
    evaluation_stop: EvaluationStop,
    /// `learning_rate(progress_remaining) -> float`, SB3's schedule, if one was given.
    learning_rate: Option<Py<PyAny>>,
    /// Whether `progress` also receives the sampled updates (every `log_interval`).
    updates_to_progress: bool,
    /// The last episodes' return, length and seconds since training started (SB3's
    /// `ep_info_buffer`), at most `recent_capacity`.
    recent: VecDeque<(f64, u64, f64)>,
    recent_capacity: usize,
}

impl PyObserver {
    /// An observer for a run of `n_envs` copies with exploration `schedule`.
    pub fn new(
        callback: Option<Py<PyAny>>,
        callback_freq: u64,
        progress: Option<Py<PyAny>>,
        episodes_to_progress: bool,
        schedule: ExplorationSchedule,
        n_envs: usize,
        failure: Arc<Failure>,
    ) -> Self {
        let callback_freq = callback_freq.max(1);
        PyObserver {
            callback,
            callback_freq,
            progress,
            episodes_to_progress,
            schedule,
            n_envs: n_envs as u64,
            start_step: 0,
            polls: 0,
            next_callback: callback_freq,
            episodes: 0,
            new_returns: Vec::new(),
            new_lengths: Vec::new(),
            new_envs: Vec::new(),
            failure,
            stopped_by_callback: false,
            evaluation_stop: EvaluationStop::default(),
            learning_rate: None,
            updates_to_progress: false,
            recent: VecDeque::new(),
            recent_capacity: 0,
        }
    }

    /// Keeps the last `window` episodes (see [`PyObserver::recent_episodes`]).
    pub fn keeping_episodes(mut self, window: usize) -> Self {
        self.recent_capacity = window;
        self
    }

    /// The last episodes kept: `(return, length, seconds since training started)`, oldest
    /// first.
    pub fn recent_episodes(&self) -> Vec<(f64, u64, f64)> {
        self.recent.iter().copied().collect()
    }

    /// Sends `progress` the sampled updates too (kind `"update"`), when `on`.
    pub fn with_update_reports(mut self, on: bool) -> Self {
        self.updates_to_progress = on;
        self
    }

    /// Takes the learning rate from `schedule(progress_remaining)` at every training phase.
    pub fn with_learning_rate(mut self, schedule: Option<Py<PyAny>>) -> Self {
        self.learning_rate = schedule;
        self
    }

    /// Reports a run that goes on from `steps` steps and `episodes` finished episodes.
    pub fn starting_at(mut self, steps: u64, episodes: u64) -> Self {
        self.start_step = steps;
        self.next_callback = steps + self.callback_freq;
        self.episodes = episodes;
        self
    }

    /// Whether the callback ended training.
    pub fn stopped_by_callback(&self) -> bool {
        self.stopped_by_callback
    }

    /// Ends a run that took `steps` steps: the callback is called once more if a call falls
    /// due on the last step (the loop polls only before each step).
    pub fn finish(&mut self, steps: u64, run: &dyn RunView) {
        if self.callback.is_some() && !self.stopped_by_callback && steps >= self.next_callback {
            self.next_callback = steps + self.callback_freq;
            live::lend(run, || self.call_back(steps));
        }
    }

    /// Calls the user's callback with the step's information; returns whether to stop.
    fn call_back(&mut self, step: u64) -> bool {
        let Some(callback) = &self.callback else {
            return false;
        };
        let epsilon = self.schedule.epsilon(step, self.episodes);
        let result = Python::attach(|py| -> PyResult<bool> {
            let info = PyDict::new(py);
            info.set_item("num_timesteps", step)?;
            info.set_item("episodes", self.episodes)?;
            info.set_item("exploration_rate", epsilon)?;
            info.set_item("new_episode_returns", &self.new_returns)?;
            info.set_item("new_episode_lengths", &self.new_lengths)?;
            info.set_item("new_episode_envs", &self.new_envs)?;
            let answer = callback.bind(py).call1((info,))?;
            Ok(answer.cast::<PyBool>().is_ok_and(|b| !b.is_true()))
        });
        self.new_returns.clear();
        self.new_lengths.clear();
        self.new_envs.clear();
        match result {
            Ok(stop) => {
                self.stopped_by_callback |= stop;
                stop
            }
            Err(e) => {
                self.failure.record(e);
                true
            }
        }
    }

    /// Sends one report to the progress hook.
    fn report(&self, kind: &str, fill: impl FnOnce(&Bound<'_, PyDict>) -> PyResult<()>) {
        let Some(progress) = &self.progress else {
            return;
        };
        let result = Python::attach(|py| -> PyResult<()> {
            let info = PyDict::new(py);
            fill(&info)?;
            progress.bind(py).call1((kind, info))?;
            Ok(())
        });
        if let Err(e) = result {
            self.failure.record(e);
        }
    }
}

impl Observer for PyObserver {
    fn learning_rate(&mut self, progress_remaining: f64) -> Option<f64> {
        let schedule = self.learning_rate.as_ref()?;
        if self.failure.is_set() {
            return None;
        }
        let result = Python::attach(|py| -> PyResult<f64> {
            let value = schedule.bind(py).call1((progress_remaining,))?;
            match value.extract::<f64>() {
                Ok(lr) if lr.is_finite() && lr >= 0.0 => Ok(lr),
                _ => Err(PyValueError::new_err(format!(
                    "the learning_rate schedule returned {} at progress_remaining {progress_remaining}: expected a finite number >= 0",
                    value.repr()?
                ))),
            }
        });
        match result {
            Ok(lr) => Some(lr),
            Err(e) => {
                self.failure.record(e);
                None
            }
        }
    }

    fn on_episode(&mut self, record: &EpisodeRecord) {
        self.episodes = record.episode;
        if self.recent_capacity > 0 {
            if self.recent.len() == self.recent_capacity {
                self.recent.pop_front();
            }
            self.recent
                .push_back((record.ret, record.length, record.wall_s));
        }
        if self.callback.is_some() {
            self.new_returns.push(record.ret);
            self.new_lengths.push(record.length);
            self.new_envs.push(record.env);
        }
        if self.episodes_to_progress {
            self.report("episode", |d| {
                d.set_item("episode", record.episode)?;
                d.set_item("step", record.step)?;
                d.set_item("return", record.ret)?;
                d.set_item("length", record.length)?;
                d.set_item("exploration_rate", record.epsilon)?;
                d.set_item("wall_s", record.wall_s)
            });
        }
    }

    fn on_update(&mut self, record: &UpdateRecord) {
        if self.updates_to_progress {
            self.report("update", |d| {
                d.set_item("step", record.step)?;
                d.set_item("updates", record.updates)?;
                d.set_item("loss", record.loss)?;
                d.set_item("mean_q", record.mean_q)?;
                d.set_item("learning_rate", record.learning_rate)
            });
        }
    }

    fn on_eval(&mut self, record: &EvalRecord) {
        self.report("eval", |d| {
            d.set_item("step", record.step)?;
            d.set_item("mean", record.stats.mean)?;
            d.set_item("std", record.stats.std)?;
            d.set_item("episodes", record.stats.episodes)?;
            d.set_item("capped", record.stats.capped)
        });
    }

    fn on_eval_progress(&mut self, p: &EvalProgress) {
        self.report("eval_progress", |d| {
            d.set_item("episodes_done", p.episodes_done)?;
            d.set_item("episodes", p.episodes)?;
            d.set_item("steps", p.steps)?;
            d.set_item("episode_steps", p.episode_steps)?;
            d.set_item("max_episode_steps", p.max_episode_steps)?;
            d.set_item("capped", p.capped)?;
            d.set_item("wall_s", p.wall_s)
        });
    }

    fn should_stop_evaluating(&mut self) -> bool {
        self.evaluation_stop.now(&self.failure)
    }

    fn on_progress(&mut self, p: &Progress) {
        self.report("progress", |d| {
            d.set_item("step", p.step)?;
            d.set_item("total_timesteps", p.total_timesteps)?;
            d.set_item("episodes", p.episodes)?;
            d.set_item("exploration_rate", p.epsilon)?;
            d.set_item("mean_return_100", p.mean_return_100)?;
            d.set_item("long_episode_steps", p.long_episode_steps)?;
            d.set_item("wall_s", p.wall_s)
        });
    }

    fn should_stop_at(&mut self, run: &dyn RunView) -> bool {
        // Polled before each vector step: `polls` vector steps have been taken so far in
        // this call.
        let step = self.start_step + self.polls * self.n_envs;
        self.polls += 1;
        if self.failure.is_set() {
            return true;
        }
        if self.polls.is_multiple_of(SIGNAL_CHECK_POLLS)
            && let Err(e) = Python::attach(|py| py.check_signals())
        {
            self.failure.record(e);
            return true;
        }
        if self.callback.is_some() && step >= self.next_callback {
            while self.next_callback <= step {
                self.next_callback += self.callback_freq;
            }
            return live::lend(run, || self.call_back(step));
        }
        false
    }
}
