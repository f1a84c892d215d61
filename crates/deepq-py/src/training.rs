//! `Trainer`: a deepq training run kept between `learn()` calls, and `train_run`: a run into
//! a run directory; each on a built-in environment (at full Rust speed) or on a Gymnasium
//! environment stepped through Python, without holding the interpreter except to call Python.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};

use deepq::TrainOutcome;
use deepq::run_dir::{self, RunDir};
use deepq::run_log::{self, RunLog};
use deepq::train::RunView;
use numpy::PyArray1;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::config::Config;
use crate::errors::{Error, Result};
use crate::gym::{Failure, GymEnv, PyEnv, close_quietly, deepcopy};
use crate::live;
use crate::network::{Net, Network};
use crate::observer::PyObserver;
use crate::vector::PyVecCopy;

/// A finished episode as `learn` reports it: return, length, seconds since training started.
type Episode = (f64, u64, f64);

/// A training run kept between `learn()` calls, as an SB3 model keeps its networks,
/// optimizer, replay buffer and environments: on a built-in environment (`env=None`: the
/// config's `env` and `env_kwargs`, at full Rust speed) or on a Python environment stepped
/// through Python (a `GymEnv`, deep-copied when the run needs more than one instance:
/// `n_envs > 1`, or periodic evaluation with `eval_freq > 0`).
///
/// While `learn` runs, a callback reads the run as it is (`network`, `replay_bytes`, ...);
/// outside a callback the run is busy until `learn` returns.
#[pyclass(name = "Trainer", module = "deepq._native")]
pub struct Trainer {
    state: Mutex<State>,
    /// What the Python environment raised, shared with its copies inside the run.
    failure: Arc<Failure>,
}

/// The run and how its next `learn` begins.
struct State {
    trainer: deepq::train::Trainer,
    /// Whether `learn` has run: the first call trains the run as it was made.
    started: bool,
    /// Whether training and evaluation step the same Python env object (one that is not
    /// copied): each evaluation ends its episode, so a later call starts new ones.
    shared_env: bool,
}

#[pymethods]
impl Trainer {
    #[new]
    #[pyo3(signature = (config, env=None))]
    fn new(py: Python<'_>, config: &Config, env: Option<&Bound<'_, GymEnv>>) -> Result<Self> {
        let cfg = &config.inner;
        cfg.validate()?;
        let failure = Arc::new(Failure::default());
        let mut shared_env = false;
        let trainer = match env.map(Bound::get) {
            None => deepq::train::Trainer::new(cfg),
            Some(handle) => match handle.vector {
                Some(spec) => {
                    check_vector_config(cfg, spec.num_envs)?;
                    let env = PyVecCopy::new(py, handle, spec, Arc::clone(&failure));
                    let env_spec = handle.layout.spec.clone();
                    py.detach(|| deepq::train::Trainer::with_env(cfg, env, env_spec))
                }
                None => {
                    let copies = cfg.run.n_envs > 1 || cfg.eval.freq.n > 0;
                    if copies {
                        check_copyable(py, handle, cfg)?;
                    }
                    shared_env = !copies;
                    let env = PyEnv::new(py, handle, Arc::clone(&failure), copies);
                    let spec = handle.layout.spec.clone();
                    py.detach(|| deepq::train::Trainer::with_env(cfg, env, spec))
                }
            },
        };
        if let Some(e) = failure.take() {
            return Err(Error::Python(e));
        }
        Ok(Trainer {
            state: Mutex::new(State {
                trainer: trainer?,
                started: false,
                shared_env,
            }),
            failure,
        })
    }

    /// Trains as `config` says (the run's config but for the keys read at every step, and
    /// `total_timesteps`, this call's budget), going on from the run's weights, optimizer
    /// state and replay; `reset_num_timesteps` restarts the step count, schedules and
    /// episodes as SB3's does. Returns `(network, summary_json, stopped_by_callback,
    /// recent_episodes)`, the last `rolling_window` episodes as `(return, length, seconds)`.
    ///
    /// `callback(info)` is called every `callback_freq` steps and stops training by
    /// returning `False`; `progress(kind, info)` receives progress, evaluation and (with
    /// `progress_episodes`) episode and (with `progress_updates`) sampled update reports;
    /// `learning_rate(progress_remaining)`, SB3's
    /// schedule, sets the learning rate at every training phase. Exceptions raised by the
    /// env or these functions stop training and are re-raised.
    #[pyo3(signature = (config, reset_num_timesteps=true, callback=None, callback_freq=1, progress=None, progress_episodes=false, learning_rate=None, progress_updates=false))]
    #[allow(clippy::too_many_arguments)]
    fn learn(
        &self,
        py: Python<'_>,
        config: &Config,
        reset_num_timesteps: bool,
        callback: Option<Py<PyAny>>,
        callback_freq: u64,
        progress: Option<Py<PyAny>>,
        progress_episodes: bool,
        learning_rate: Option<Py<PyAny>>,
        progress_updates: bool,
    ) -> Result<(Network, String, bool, Vec<Episode>)> {
        let cfg = &config.inner;
        let mut state = self.state.try_lock().map_err(|e| match e {
            TryLockError::WouldBlock => Error::runtime(
                "learn() is already running on this model; a callback cannot call it",
            ),
            TryLockError::Poisoned(_) => failed_before(),
        })?;
        // The first call trains the fresh run: its environments already hold their first
        // observations, drawn from the run's seed.
        let restart = reset_num_timesteps && state.started;
        let restart_episodes = state.shared_env && state.started;
        state.started = true;
        let trainer = &mut state.trainer;
        trainer.continue_with(cfg, restart, restart_episodes)?;
        let mut observer = PyObserver::new(
            callback,
            callback_freq,
            progress,
            progress_episodes,
            cfg.exploration(),
            cfg.run.n_envs,
            Arc::clone(&self.failure),
        )
        .starting_at(trainer.num_timesteps(), trainer.num_episodes())
        .with_learning_rate(learning_rate)
        .with_update_reports(progress_updates)
        .keeping_episodes(cfg.run.rolling_window);
        let outcome = py.detach(|| trainer.learn(&mut observer));
        if let Some(e) = self.failure.take() {
            return Err(Error::Python(e));
        }
        let TrainOutcome { summary, model } = outcome?;
        let network = Net::from_model(model, || "the trained model".to_string())?;
        if !summary.interrupted {
            observer.finish(summary.env_steps, trainer.view());
            if let Some(e) = self.failure.take() {
                return Err(Error::Python(e));
            }
        }
        let summary = serde_json::to_string(&summary)
            .map_err(|e| Error::runtime(format!("cannot encode the training summary: {e}")))?;
        Ok((
            Network::new(network),
            summary,
            observer.stopped_by_callback(),
            observer.recent_episodes(),
        ))
    }

    /// Raises `ValueError` unless the run could go on with `config`: only the keys read at
    /// every step (budget, exploration, learning rate, training and target frequencies,
    /// evaluation) may change once it has started.
    fn check_config(&self, config: &Config) -> Result<()> {
        Ok(self.idle()?.trainer.check_config(&config.inner)?)
    }

    /// Sets the online and target networks' weights to `network`'s (same architecture); the
    /// optimizer state, replay buffer and counters are kept.
    fn load_network(&self, network: &Network) -> Result<()> {
        let mut state = self.idle()?;
        Ok(state.trainer.load_model(&network.net.to_model())?)
    }

    /// The replay buffer as bytes (deepq's format, `DEEPQRB1`), or None without one.
    fn replay_bytes<'py>(&self, py: Python<'py>) -> Result<Option<Bound<'py, PyBytes>>> {
        let bytes = self.read(|run| run.replay_bytes())?;
        Ok(bytes.map(|b| PyBytes::new(py, &b)))
    }

    /// Replaces the replay buffer with bytes from `replay_bytes` of a run on the same
    /// environment with the same replay settings; `ValueError` otherwise.
    fn load_replay(&self, py: Python<'_>, data: &[u8]) -> Result<()> {
        let mut state = self.idle()?;
        let trainer = &mut state.trainer;
        py.detach(|| trainer.load_replay(data))
            .map_err(|e| Error::usage(e.to_string()))
    }

    /// How full the replay buffer is: `(transitions held, capacity, next slot)`, or None
    /// without one.
    fn replay_fill(&self) -> Result<Option<(usize, usize, usize)>> {
        let fill = self.read(|run| run.replay_fill())?;
        Ok(fill.map(|f| (f.len, f.capacity, f.position)))
    }

    /// The network as it is now, and the gradient steps taken when it was read (it changes
    /// only when they do).
    fn network(&self) -> Result<(Network, u64)> {
        let (model, updates) = self.read(|run| (run.model(), run.updates()))?;
        let net = Net::from_model(model, || "the model".to_string())?;
        Ok((Network::new(net), updates))
    }

    /// The target network as it is now, or None for a run that keeps none apart from the
    /// network (PQN, `target_network = false`).
    fn target_network(&self) -> Result<Option<Network>> {
        let model = self.read(|run| run.target_model())?;
        model
            .map(|m| Net::from_model(m, || "the target network".to_string()).map(Network::new))
            .transpose()
    }

    /// The last vector step: `(new_obs, actions, rewards)`, the observations each copy acts
    /// on next as flat float32 rows (one array, `n_envs × width`), or None before the first
    /// step or for an algorithm that steps whole rollouts.
    #[allow(clippy::type_complexity)]
    fn last_step<'py>(
        &self,
        py: Python<'py>,
    ) -> Result<Option<(Bound<'py, PyArray1<f32>>, Vec<usize>, Vec<f64>)>> {
        self.read(|run| {
            run.last_step().map(|s| {
                (
                    PyArray1::from_slice(py, s.new_obs),
                    s.actions.to_vec(),
                    s.rewards.to_vec(),
                )
            })
        })
    }

    /// Gradient steps taken since the step count last started.
    fn updates(&self) -> Result<u64> {
        self.read(|run| run.updates())
    }

    /// Environment steps taken since the step count last started.
    #[getter]
    fn num_timesteps(&self) -> Result<u64> {
        Ok(self.idle()?.trainer.num_timesteps())
    }
}

impl Trainer {
    /// The run when no `learn` is under way.
    fn idle(&self) -> Result<MutexGuard<'_, State>> {
        self.state.try_lock().map_err(|e| match e {
            TryLockError::WouldBlock => {
                Error::runtime("the model is training: this cannot change until learn() returns")
            }
            TryLockError::Poisoned(_) => failed_before(),
        })
    }

    /// `f` of the run: between `learn` calls, or from a callback during one.
    fn read<R>(&self, f: impl FnOnce(&dyn RunView) -> R) -> Result<R> {
        match self.state.try_lock() {
            Ok(state) => Ok(f(state.trainer.view())),
            Err(TryLockError::Poisoned(_)) => Err(failed_before()),
            Err(TryLockError::WouldBlock) => live::read(f).ok_or_else(|| {
                Error::runtime(
                    "the model is training: read it from a callback, or after learn() returns",
                )
            }),
        }
    }
}

/// A run whose `learn` panicked is not used again.
fn failed_before() -> Error {
    Error::runtime("this training run failed earlier and cannot be used; create a new model")
}

/// Trains `config` into a run directory at `path` (created with its parents), the way `deepq
/// train --out PATH` does: `config.toml` (headed `# preset: NAME`), the CSV logs,
/// checkpoints, the model, `summary.json` and the plots. `progress(kind, info)` receives
/// reports as for `train`, evaluations included. Returns the run's summary as JSON (the
/// keys of `summary.json`).
///
/// With `env=None` the run uses the built-in environment `config.env`; with a `GymEnv` (a
/// Gymnasium env, or a Gymnasium or SB3 vector env) it steps that Python environment, as
/// `train` does. A checkpoint cannot hold a Python environment, so such a run writes none.
#[pyfunction]
#[pyo3(signature = (config, path, preset="custom", progress=None, env=None))]
pub fn train_run(
    py: Python<'_>,
    config: &Config,
    path: PathBuf,
    preset: &str,
    progress: Option<Py<PyAny>>,
    env: Option<&Bound<'_, GymEnv>>,
) -> Result<String> {
    let cfg = config.inner.clone();
    cfg.validate()?;
    let handle = env.map(Bound::get);
    match handle {
        Some(h) if h.vector.is_some() => {
            let spec = h.vector.expect("matched a vector env");
            check_vector_config(&cfg, spec.num_envs)?;
        }
        Some(h) if cfg.run.n_envs > 1 || cfg.eval.freq.n > 0 => check_copyable(py, h, &cfg)?,
        _ => {}
    }
    let run = RunDir::create(&path)?;
    run.write_config(&run_dir::config_text(&cfg, Some(preset)))?;
    let failure = Arc::new(Failure::default());
    let reporter = PyObserver::new(
        None,
        1,
        progress,
        false,
        cfg.exploration(),
        cfg.run.n_envs,
        Arc::clone(&failure),
    );
    let log = RunLog::new(&run, None)?;
    let log = if handle.is_some() {
        log.without_checkpoints()
    } else {
        log
    };
    let mut observer = (log, reporter);
    let outcome = match handle {
        None => py.detach(|| deepq::train(&cfg, &mut observer)),
        Some(h) => {
            let spec = h.layout.spec.clone();
            match h.vector {
                Some(vector) => {
                    let env = PyVecCopy::new(py, h, vector, Arc::clone(&failure));
                    py.detach(|| deepq::train::train_env(&cfg, env, spec, &mut observer))
                }
                None => {
                    let copies = cfg.run.n_envs > 1 || cfg.eval.freq.n > 0;
                    let env = PyEnv::new(py, h, Arc::clone(&failure), copies);
                    py.detach(|| deepq::train::train_env(&cfg, env, spec, &mut observer))
                }
            }
        }
    };
    if let Some(e) = failure.take() {
        return Err(Error::Python(e));
    }
    observer.0.finish()?;
    let TrainOutcome { summary, model } = outcome?;
    let summary = run_log::save(&run, &cfg, preset, summary, &model.to_safetensors())?;
    deepq_plots::draw_run(&run, deepq_plots::Format::Png)?;
    serde_json::to_string(&summary)
        .map_err(|e| Error::runtime(format!("cannot encode the run summary: {e}")))
}

/// Refuses settings a vector env of `num_envs` copies cannot run: another number of copies,
/// or evaluation during training (the copies are all busy training; the final evaluation
/// runs on copy 0 once training is over).
fn check_vector_config(cfg: &deepq::DqnConfig, num_envs: usize) -> Result<()> {
    if cfg.run.n_envs != num_envs {
        return Err(Error::usage(format!(
            "n_envs = {} but the vector env has {num_envs} copies; leave n_envs unset or set it to {num_envs}",
            cfg.run.n_envs
        )));
    }
    if cfg.eval.freq.n > 0 {
        return Err(Error::usage(format!(
            "eval_freq = {} needs a separate evaluation env, which a vector env does not give; set eval_freq=0 (the final evaluation still runs)",
            cfg.eval.freq.n
        )));
    }
    Ok(())
}

/// Refuses, with the way out, an env that `copy.deepcopy` cannot copy when the run needs copies.
fn check_copyable(py: Python<'_>, handle: &GymEnv, cfg: &deepq::DqnConfig) -> Result<()> {
    match deepcopy(py, handle.env.bind(py)) {
        Ok(copy) => {
            close_quietly(copy.bind(py));
            Ok(())
        }
        Err(e) => Err(Error::usage(format!(
            "this environment cannot be copied with copy.deepcopy ({e}), but n_envs = {} and eval_freq = {} need copies; set n_envs=1 and eval_freq=0 to train on it directly",
            cfg.run.n_envs, cfg.eval.freq.n
        ))),
    }
}
