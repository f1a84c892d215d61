//! `train`: one deepq training run, on a built-in environment (at full Rust speed) or on a
//! Gymnasium environment stepped through Python, without holding the interpreter except to
//! call Python.

use std::path::PathBuf;
use std::sync::Arc;

use deepq::TrainOutcome;
use deepq::run_dir::{self, RunDir};
use deepq::run_log::{self, RunLog};
use pyo3::prelude::*;

use crate::config::Config;
use crate::errors::{Error, Result};
use crate::gym::{Failure, GymEnv, PyEnv, close_quietly, deepcopy};
use crate::network::{Net, Network};
use crate::observer::PyObserver;
use crate::vector::PyVecCopy;

/// Trains a DQN agent as `config` describes and returns `(network, summary_json,
/// stopped_by_callback)`.
///
/// With `env=None` the run uses the built-in environment `config.env` (with
/// `config.env_kwargs`); with a `GymEnv` it steps that Python environment, deep-copying it
/// when the run needs more than one instance (`n_envs > 1`, or periodic evaluation with
/// `eval_freq > 0`). `callback(info)` is called every `callback_freq` steps and stops training
/// by returning `False`; `progress(kind, info)` receives progress, evaluation and (with
/// `progress_episodes`) episode reports. Exceptions raised by the env or these functions stop
/// training and are re-raised.
#[pyfunction]
#[pyo3(signature = (config, env=None, callback=None, callback_freq=1, progress=None, progress_episodes=false))]
pub fn train(
    py: Python<'_>,
    config: &Config,
    env: Option<&Bound<'_, GymEnv>>,
    callback: Option<Py<PyAny>>,
    callback_freq: u64,
    progress: Option<Py<PyAny>>,
    progress_episodes: bool,
) -> Result<(Network, String, bool)> {
    let cfg = config.inner.clone();
    cfg.validate()?;
    let failure = Arc::new(Failure::default());
    let mut observer = PyObserver::new(
        callback,
        callback_freq,
        progress,
        progress_episodes,
        cfg.exploration(),
        cfg.run.n_envs,
        Arc::clone(&failure),
    );
    let outcome = match env {
        None => py.detach(|| deepq::train(&cfg, &mut observer)),
        Some(handle) if handle.get().vector.is_some() => {
            let handle = handle.get();
            let spec = handle.vector.expect("matched a vector env");
            check_vector_config(&cfg, spec.num_envs)?;
            let env = PyVecCopy::new(py, handle, spec, Arc::clone(&failure));
            let env_spec = handle.layout.spec.clone();
            py.detach(|| deepq::train::train_env(&cfg, env, env_spec, &mut observer))
        }
        Some(handle) => {
            let handle = handle.get();
            let copies = cfg.run.n_envs > 1 || cfg.eval.freq.n > 0;
            if copies {
                check_copyable(py, handle, &cfg)?;
            }
            let env = PyEnv::new(py, handle, Arc::clone(&failure), copies);
            let spec = handle.layout.spec.clone();
            py.detach(|| deepq::train::train_env(&cfg, env, spec, &mut observer))
        }
    };
    if let Some(e) = failure.take() {
        return Err(Error::Python(e));
    }
    let TrainOutcome { summary, model } = outcome?;
    let network = Net::from_model(model, || "the trained model".to_string())?;
    if !summary.interrupted {
        observer.finish(summary.env_steps);
        if let Some(e) = failure.take() {
            return Err(Error::Python(e));
        }
    }
    let summary = serde_json::to_string(&summary)
        .map_err(|e| Error::runtime(format!("cannot encode the training summary: {e}")))?;
    Ok((
        Network::new(network),
        summary,
        observer.stopped_by_callback(),
    ))
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
