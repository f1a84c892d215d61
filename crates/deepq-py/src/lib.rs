//! The native half of the `deepq` Python package (`deepq._native`), built with pyo3 and
//! maturin (`pip install .` at the repository root).
//!
//! The Python half (`python/deepq`) provides the Stable-Baselines3-style API — `deepq.DQN`,
//! `deepq.evaluate_policy` — and calls into this module for the work:
//!
//! - [`config::Config`]: deepq's `DqnConfig`, changed with Python keyword values;
//! - [`training::Trainer`]: a training run, kept between `learn()` calls, on a built-in env (full Rust speed) or on a Gymnasium
//!   env stepped through Python ([`gym::PyEnv`], or [`vector::PyVecCopy`] for a Gymnasium or
//!   SB3 vector env), reporting through [`observer::PyObserver`];
//! - [`network::Network`]: the Q-network, for predictions and safetensors I/O;
//! - [`tensorboard::EventWriter`]: TensorBoard event files, for `tensorboard_log`;
//! - [`gif::GifWriter`]: episodes as GIFs, for `python -m deepq play`;
//! - [`evaluation::evaluate`]: greedy or ε-greedy episodes;
//! - [`run_dir`]: saving and loading run directories (the format of `deepq::run_dir`, shared
//!   with the CLI);
//! - [`envs`]: the built-in environments and presets;
//! - [`native_env::NativeEnvs`]: copies of a built-in environment stepped together in one
//!   call, under `deepq.envs`' Gymnasium classes;
//! - [`training::train_run`], [`training::resume_run`] and [`reports`]: run directories as
//!   `deepq train` writes and resumes them, and their multi-seed reports, for `python -m
//!   deepq train`, `deepq.atari100k` and `deepq.tune`'s sweeps; a run on a Python env
//!   resumes on a fresh one ([`checkpoint_place`]).
//!
//! Errors carry the library's one-line messages (see [`errors`]).

#![warn(missing_docs)]

pub mod checkpoint_place;
pub mod config;
pub mod convert;
pub mod envs;
pub mod errors;
pub mod evaluation;
pub mod gif;
pub mod gym;
pub mod live;
pub mod native_env;
pub mod network;
pub mod observer;
pub mod reports;
pub mod run_dir;
pub mod tensorboard;
pub mod training;
pub mod vector;

use pyo3::prelude::*;

/// Native core of the deepq Python package: configuration, training, evaluation and model
/// files. Use the `deepq` package (`deepq.DQN`, `deepq.evaluate_policy`) rather than this
/// module directly.
#[pymodule(name = "_native")]
pub mod native {
    use pyo3::prelude::*;

    #[pymodule_export]
    use crate::config::Config;
    #[pymodule_export]
    use crate::envs::{builtin_env, env_ids, is_builtin, presets};
    #[pymodule_export]
    use crate::evaluation::evaluate;
    #[pymodule_export]
    use crate::gif::GifWriter;
    #[pymodule_export]
    use crate::gym::GymEnv;
    #[pymodule_export]
    use crate::native_env::NativeEnvs;
    #[pymodule_export]
    use crate::network::Network;
    #[pymodule_export]
    use crate::reports::{aggregate, plot_sweep};
    #[pymodule_export]
    use crate::run_dir::{load_run, save_archive, save_run};
    #[pymodule_export]
    use crate::tensorboard::EventWriter;
    #[pymodule_export]
    use crate::training::{Trainer, resume_run, train_run};

    /// Sets the module's `__version__` (the crate version, shared by the workspace).
    #[pymodule_init]
    fn init(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add("__version__", env!("CARGO_PKG_VERSION"))
    }
}
