//! Why training could not run, or stopped.

use deepq_envs::EnvError;

use crate::checkpoint::CheckpointError;
use crate::config::ConfigError;

/// Why training could not run or stopped.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The configuration was refused.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The environment could not be made.
    #[error(transparent)]
    Env(#[from] EnvError),
    /// A checkpoint could not be read, or does not belong to this kind of run.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The loss or a Q-value became NaN or infinite.
    #[error(
        "training diverged at step {step}: the loss became {loss} (try a lower learning_rate or max_grad_norm)"
    )]
    Diverged {
        /// Environment step of the diverging update.
        step: u64,
        /// The non-finite loss.
        loss: f64,
    },
    /// The algorithm trains only in one go, from a fresh start.
    #[error("algorithm {0} cannot continue a run or load weights into one: each run starts afresh")]
    CannotContinue(&'static str),
    /// A change of config that a run under way cannot follow.
    #[error(
        "'{0}' cannot change once training has started (it shapes the network, optimizer, replay or random streams); start a new run to change it"
    )]
    FixedKey(String),
}
