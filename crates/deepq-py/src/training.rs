//! `Trainer`: a deepq training run kept between `learn()` calls, and `train_run`: a run into
//! a run directory; each on a built-in environment (at full Rust speed) or on a Gymnasium
//! environment stepped through Python, without holding the interpreter except to call Python.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};

use deepq::TrainOutcome;
use deepq::run_dir::{self, RunDir};
use deepq::run_log::{self, RunLog};
use deepq::train::{EpisodeRecord, EvalRecord, Observer, RunView, UpdateRecord};
use numpy::PyArray1;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::checkpoint_place;
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
            Some(handle) => {
                check_env_fits(py, handle, cfg)?;
                shared_env = handle.vector.is_none() && !needs_copies(cfg);
                python_trainer(py, handle, cfg, needs_copies(cfg), &failure, None)
            }
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
/// `train` does. A checkpoint cannot hold a Python environment, so it keeps only its place:
/// `resume_run` goes on from it on a fresh one. Such a run's checkpoint is removed once the
/// run has finished, since nothing goes on from it then.
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
    let (cfg, handle) = checked(py, config, env)?;
    let run = RunDir::create(&path)?;
    run.write_config(&run_dir::config_text(&cfg, Some(preset)))?;
    let failure = Arc::new(Failure::default());
    let trainer = match handle {
        None => deepq::train::Trainer::new(&cfg),
        Some(h) => python_trainer(py, h, &cfg, needs_copies(&cfg), &failure, None),
    };
    let reporter = run_reporter(&cfg, progress, &failure);
    let log = RunLogOf::new(&run, None, handle.is_some(), &failure)?;
    train_into(py, &run, &cfg, preset, trainer, log, reporter, &failure)
}

/// Goes on with the unfinished run that `train_run` left at `path`, from its last checkpoint,
/// and its logs lose their rows past it. On a built-in environment (`env=None`) the run
/// goes on bit for bit. On a Python environment, which the checkpoint could not hold, `env`
/// is a fresh instance of it: the episodes under way at the checkpoint start anew, and
/// everything else goes on from it. `config` is the run's, but for the keys read at every
/// step (`total_timesteps`, exploration, ...), which it may change (`ValueError` for
/// another key). Returns the run's summary as JSON, as `train_run` does.
#[pyfunction]
#[pyo3(signature = (config, path, preset="custom", progress=None, env=None))]
pub fn resume_run(
    py: Python<'_>,
    config: &Config,
    path: PathBuf,
    preset: &str,
    progress: Option<Py<PyAny>>,
    env: Option<&Bound<'_, GymEnv>>,
) -> Result<String> {
    let (cfg, handle) = checked(py, config, env)?;
    let run = RunDir::open(&path)?;
    let bytes = run_dir::read_file(&run.checkpoint())?;
    let (header, _) = deepq::checkpoint::read_header(&bytes).map_err(|e| {
        Error::runtime(format!(
            "cannot resume from '{}': {e}",
            run.checkpoint().display()
        ))
    })?;
    let saved = header.config;
    if let Some(vector) = handle.and_then(|h| h.vector)
        && vector.num_envs != saved.run.n_envs
    {
        return Err(Error::usage(format!(
            "cannot resume '{}': it trained on {} copies of its env, and this vector env has {}; resume it on {} copies (--num-envs {})",
            path.display(),
            saved.run.n_envs,
            vector.num_envs,
            saved.run.n_envs,
            saved.run.n_envs
        )));
    }
    let failure = Arc::new(Failure::default());
    let trainer = match handle {
        None => py.detach(|| deepq::train::Trainer::resume(&bytes)),
        Some(h) => {
            // Copies if the run had them, or if the new settings need them.
            let copies = needs_copies(&saved) || needs_copies(&cfg);
            python_trainer(py, h, &saved, copies, &failure, Some(&bytes))
        }
    };
    // The run holds what it needs: the checkpoint's bytes (as large as its replay buffer)
    // are not kept while it trains.
    drop(bytes);
    // A run resumed as it was goes on exactly as it would have; only a changed key
    // reconfigures it.
    let changed = !saved.changed_keys(&cfg).is_empty();
    let trainer = trainer.and_then(|mut trainer| {
        if changed {
            trainer.continue_with(&cfg, false, false)?;
        }
        Ok(trainer)
    });
    if let Some(e) = failure.take() {
        return Err(Error::Python(e));
    }
    let trainer = trainer?;
    run.write_config(&run_dir::config_text(&cfg, Some(preset)))?;
    let reporter =
        run_reporter(&cfg, progress, &failure).starting_at(header.steps, header.episodes);
    let log = RunLogOf::new(&run, Some(header.steps), handle.is_some(), &failure)?;
    train_into(py, &run, &cfg, preset, Ok(trainer), log, reporter, &failure)
}

/// The config of a run into a run directory, checked, and the Python env it runs on (checked
/// against it), if any.
fn checked<'a>(
    py: Python<'_>,
    config: &Config,
    env: Option<&'a Bound<'_, GymEnv>>,
) -> Result<(deepq::DqnConfig, Option<&'a GymEnv>)> {
    let cfg = config.inner.clone();
    cfg.validate()?;
    let handle = env.map(Bound::get);
    if let Some(h) = handle {
        check_env_fits(py, h, &cfg)?;
    }
    Ok((cfg, handle))
}

/// Whether a run on a single Python env needs copies of it: several training copies, or
/// one for periodic evaluation.
fn needs_copies(cfg: &deepq::DqnConfig) -> bool {
    cfg.run.n_envs > 1 || cfg.eval.freq.n > 0
}

/// Refuses, with the way out, settings the Python environment of `handle` cannot run.
fn check_env_fits(py: Python<'_>, handle: &GymEnv, cfg: &deepq::DqnConfig) -> Result<()> {
    match handle.vector {
        Some(vector) => check_vector_config(cfg, vector.num_envs),
        None if needs_copies(cfg) => check_copyable(py, handle, cfg),
        None => Ok(()),
    }
}

/// A run of `cfg` on the Python environment of `handle` (deep-copied for each instance the
/// run needs, with `copies`, if it is a single env): fresh, or from `checkpoint` on a fresh
/// instance of the environment ([`deepq::train::Trainer::resume_on`]).
fn python_trainer(
    py: Python<'_>,
    handle: &GymEnv,
    cfg: &deepq::DqnConfig,
    copies: bool,
    failure: &Arc<Failure>,
    checkpoint: Option<&[u8]>,
) -> std::result::Result<deepq::train::Trainer, deepq::TrainError> {
    let spec = handle.layout.spec.clone();
    match handle.vector {
        Some(vector) => start_on(py, cfg, spec, checkpoint, || {
            PyVecCopy::new(py, handle, vector, Arc::clone(failure))
        }),
        None => start_on(py, cfg, spec, checkpoint, || {
            PyEnv::new(py, handle, Arc::clone(failure), copies)
        }),
    }
}

/// A run on the environment `make` gives, released from the interpreter while it starts.
fn start_on<E>(
    py: Python<'_>,
    cfg: &deepq::DqnConfig,
    spec: deepq::envs::EnvSpec,
    checkpoint: Option<&[u8]>,
    make: impl Fn() -> E,
) -> std::result::Result<deepq::train::Trainer, deepq::TrainError>
where
    E: deepq::envs::Env + Clone + serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
{
    let env = make();
    match checkpoint {
        None => py.detach(|| deepq::train::Trainer::with_env(cfg, env, spec)),
        Some(bytes) => {
            let fresh = make();
            py.detach(|| {
                checkpoint_place::restore_on(fresh, || {
                    deepq::train::Trainer::resume_on(bytes, env, spec)
                })
            })
        }
    }
}

/// The progress reports of a run into a run directory.
fn run_reporter(
    cfg: &deepq::DqnConfig,
    progress: Option<Py<PyAny>>,
    failure: &Arc<Failure>,
) -> PyObserver {
    PyObserver::new(
        None,
        1,
        progress,
        false,
        cfg.exploration(),
        cfg.run.n_envs,
        Arc::clone(failure),
    )
}

/// Trains `trainer` to its end, logging into `run`, then saves the model, `summary.json` and
/// the plots; returns the summary as JSON.
#[allow(clippy::too_many_arguments)]
fn train_into(
    py: Python<'_>,
    run: &RunDir,
    cfg: &deepq::DqnConfig,
    preset: &str,
    trainer: std::result::Result<deepq::train::Trainer, deepq::TrainError>,
    log: RunLogOf,
    reporter: PyObserver,
    failure: &Arc<Failure>,
) -> Result<String> {
    let mut observer = (log, reporter);
    let outcome = trainer.and_then(|mut trainer| py.detach(|| trainer.learn(&mut observer)));
    if let Some(e) = failure.take() {
        return Err(Error::Python(e));
    }
    let python_env = observer.0.python_env.is_some();
    observer.0.log.finish()?;
    let TrainOutcome { summary, model } = outcome?;
    let summary = run_log::save(run, cfg, preset, summary, &model.to_safetensors())?;
    if python_env && !summary.interrupted {
        remove_checkpoint(run)?;
    }
    deepq_plots::draw_run(run, deepq_plots::Format::Png)?;
    serde_json::to_string(&summary)
        .map_err(|e| Error::runtime(format!("cannot encode the run summary: {e}")))
}

/// Removes the checkpoint of a finished run on a Python env: nothing goes on from it, and
/// it is as large as the replay buffer.
fn remove_checkpoint(run: &RunDir) -> Result<()> {
    let path = run.checkpoint();
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io("remove", &path, &e)),
        _ => Ok(()),
    }
}

/// A run's logs and checkpoints. On a Python env they keep the last checkpoint from before
/// Python raised (in the env, a callback, or Ctrl-C): a step whose env raised may have stored
/// a transition the env never gave, so the run resumes from the checkpoint before it.
struct RunLogOf {
    log: RunLog,
    /// What Python raised, for a run on a Python env.
    python_env: Option<Arc<Failure>>,
}

impl RunLogOf {
    /// The logs of a run in `run`, new or resuming at `resume_step` ([`RunLog::new`]).
    fn new(
        run: &RunDir,
        resume_step: Option<u64>,
        python_env: bool,
        failure: &Arc<Failure>,
    ) -> Result<Self> {
        Ok(RunLogOf {
            log: RunLog::new(run, resume_step)?,
            python_env: python_env.then(|| Arc::clone(failure)),
        })
    }

    /// Whether Python raised during a run on a Python env.
    fn python_raised(&self) -> bool {
        self.python_env.as_ref().is_some_and(|f| f.is_set())
    }
}

impl Observer for RunLogOf {
    fn on_episode(&mut self, r: &EpisodeRecord) {
        self.log.on_episode(r);
    }

    fn on_update(&mut self, r: &UpdateRecord) {
        self.log.on_update(r);
    }

    fn on_eval(&mut self, r: &EvalRecord) {
        self.log.on_eval(r);
    }

    fn wants_checkpoints(&self) -> bool {
        !self.python_raised() && self.log.wants_checkpoints()
    }

    fn on_checkpoint(&mut self, checkpoint: &[u8], step: u64) {
        if !self.python_raised() {
            self.log.on_checkpoint(checkpoint, step);
        }
    }
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
