//! deepq: Deep Q-Learning on Gymnasium-exact environments.
//!
//! The library behind the `deepq` command and the Python package. A run is described by a
//! [`DqnConfig`] (flat keys named after Stable-Baselines3's arguments, held in typed groups by
//! concern) and started with [`train()`](fn@train):
//!
//! ```no_run
//! let mut cfg = deepq::DqnConfig::default();
//! cfg.run.total_timesteps = 20_000;
//! let outcome = deepq::train(&cfg, &mut ()).expect("valid config");
//! println!("solved: {}", outcome.summary.solved);
//! ```
//!
//! Where things live:
//! - [`algorithms`]: one module per algorithm. The value-based learners ([`algorithms::dqn`],
//!   [`algorithms::qrdqn`], [`algorithms::iqn`]) share [`algorithms::off_policy`], the loop that acts, stores into
//!   replay, trains and moves the target network; [`algorithms::pqn`] and
//!   [`algorithms::tabular`] supply their own step;
//! - [`core`]: the training core they share (budget, episodes, evaluations, checkpoints and
//!   resume, progress, divergence, the summary); [`train`](mod@train) starts and resumes runs;
//! - [`network`]: the Q-network a config asks for (MLP, or conv torso then MLP on images);
//! - the off-policy loop's parts: [`replay`] (the buffer, with [`nstep`]
//!   returns, [`per`] priorities, and [`obs_rows`] storing observations in their own type,
//!   each once, in a pool of frames shared between transitions),
//!   [`schedule`] (ε and ε-greedy);
//! - [`config`] and [`presets`]; [`eval`] (greedy evaluation), [`stats`] (across seeds),
//!   [`model`] (what a run saves), [`run_dir`] (the run directory both front ends read and
//!   write), [`run_log`] (training into one), [`summary`] (its `summary.json`, one seed or many), [`observer`] (what a run reports), [`checkpoint`],
//!   [`tabular`] (the Q-table and the optimum it is compared with), [`tensorboard`] (event
//!   files, for the CLI's `--tensorboard` and Python's `tensorboard_log`).
//!
//! The network core lives in the `deepq-nn` crate, environments in `deepq-envs`.

#![warn(missing_docs)]

pub mod algorithms;
pub mod archive;
pub mod augment;
pub mod checkpoint;
pub mod config;
pub mod core;
pub mod error;
pub mod eval;
pub mod model;
pub mod network;
pub mod nstep;
pub mod obs_rows;
pub mod observer;
pub mod per;
pub mod presets;
pub mod replay;
pub mod rng;
pub mod run_dir;
pub mod run_log;
pub mod schedule;
pub mod stats;
pub mod summary;
pub mod tabular;
pub mod tensorboard;
pub mod train;

pub use algorithms::dqn::DqnAgent;
pub use config::{ConfigError, DqnConfig};
pub use core::TrainSummary;
pub use error::TrainError;
pub use eval::{EvalPlan, EvalStats, evaluate};
pub use model::{Model, QNetwork};
pub use observer::Observer;
pub use presets::{PRESETS, Preset};
pub use train::{TrainOutcome, train};

pub use deepq_envs as envs;
pub use deepq_nn as nn;
