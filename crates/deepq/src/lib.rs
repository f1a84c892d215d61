//! deepq: Deep Q-Learning on Gymnasium-exact environments.
//!
//! The library behind the `deepq` command. A run is described by a [`DqnConfig`] (keys named
//! after Stable-Baselines3's DQN arguments) and started with [`train`]:
//!
//! ```no_run
//! let mut cfg = deepq::DqnConfig::default();
//! cfg.total_timesteps = 20_000;
//! let outcome = deepq::train(&cfg, &mut ()).expect("valid config");
//! println!("solved: {}", outcome.summary.solved);
//! ```
//!
//! Modules, in the order the algorithm uses them: [`schedule`] (ε), [`nstep`] (n-step
//! returns), [`replay`] (the buffer) and [`per`] (its priorities), [`agent`] (acting and the
//! TD update), [`train`](mod@train) (the loop), [`eval`] (greedy evaluation). The network core lives in the `deepq-nn` crate, environments in `deepq-envs`.

pub mod agent;
pub mod checkpoint;
pub mod config;
pub mod eval;
pub mod nstep;
pub mod per;
pub mod presets;
pub mod replay;
pub mod run_dir;
pub mod schedule;
pub mod stats;
pub mod tabular;
pub mod train;

pub use agent::DqnAgent;
pub use config::{ConfigError, DqnConfig};
pub use eval::{EvalStats, evaluate};
pub use presets::{PRESETS, Preset};
pub use train::{Observer, QNetwork, TrainError, TrainOutcome, TrainSummary, Trainer, train};

pub use deepq_envs as envs;
pub use deepq_nn as nn;
