//! Starting and resuming runs: [`train`], [`train_env`] and [`resume`] pick the algorithm the
//! config names and the network precision, and hand them to the shared training
//! [`core`](crate::core).

use deepq_envs::{Env, EnvSpec, EnvVisitor};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::algorithms::{Dqn, Iqn, Pqn, QrDqn, Tabular};
use crate::checkpoint;
use crate::config::{Algorithm as AlgorithmKind, DqnConfig, Dtype};
use crate::core::{Algorithm, Session};
use crate::model::Model;

pub use crate::core::TrainSummary;
pub use crate::error::TrainError;
pub use crate::model::QNetwork;
pub use crate::observer::{EpisodeRecord, EvalRecord, Observer, Progress, UpdateRecord};

/// The result of a run: the summary and the trained model.
#[derive(Clone, Debug)]
pub struct TrainOutcome {
    /// What the run achieved.
    pub summary: TrainSummary,
    /// The trained model: the online network, or the Q-table.
    pub model: Model,
}

/// Validates `cfg`, makes its environment and trains on it with the algorithm it names.
pub fn train(cfg: &DqnConfig, observer: &mut dyn Observer) -> Result<TrainOutcome, TrainError> {
    cfg.validate()?;
    let env = deepq_envs::make(&cfg.run.env, &cfg.run.env_kwargs)?;
    env.visit(Start {
        cfg,
        checkpoint: None,
        observer,
    })
}

/// Trains on an environment that is not in the registry (e.g. one implemented by an embedding
/// application); `spec` gives its name, step limit and reward threshold, and `cfg.run.env` and
/// `cfg.run.env_kwargs` are not used. Checkpoints need `E`'s serde implementations to succeed.
pub fn train_env<E>(
    cfg: &DqnConfig,
    env: E,
    spec: EnvSpec,
    observer: &mut dyn Observer,
) -> Result<TrainOutcome, TrainError>
where
    E: Env + Clone + Serialize + DeserializeOwned,
{
    cfg.validate()?;
    Start {
        cfg,
        checkpoint: None,
        observer,
    }
    .dispatch(env, spec)
}

/// Continues a run from a checkpoint (see [`Observer::on_checkpoint`]) to its configured end.
/// The result is bit-identical to a run that was never interrupted.
pub fn resume(checkpoint: &[u8], observer: &mut dyn Observer) -> Result<TrainOutcome, TrainError> {
    let (header, _) = checkpoint::read_header(checkpoint)?;
    let cfg = header.config;
    cfg.validate()?;
    let env = deepq_envs::make(&cfg.run.env, &cfg.run.env_kwargs)?;
    env.visit(Start {
        cfg: &cfg,
        checkpoint: Some(checkpoint),
        observer,
    })
}

/// A run about to start, fresh or from a checkpoint.
struct Start<'a> {
    cfg: &'a DqnConfig,
    checkpoint: Option<&'a [u8]>,
    observer: &'a mut dyn Observer,
}

impl Start<'_> {
    /// Runs the algorithm the config names, in the precision it asks for.
    fn dispatch<E>(self, env: E, spec: EnvSpec) -> Result<TrainOutcome, TrainError>
    where
        E: Env + Clone + Serialize + DeserializeOwned,
    {
        match (self.cfg.algorithm, self.cfg.network.dtype) {
            (AlgorithmKind::Dqn, Dtype::F32) => self.run::<E, Dqn<E, f32>>(env, spec),
            (AlgorithmKind::Dqn, Dtype::F64) => self.run::<E, Dqn<E, f64>>(env, spec),
            (AlgorithmKind::QrDqn, Dtype::F32) => self.run::<E, QrDqn<E, f32>>(env, spec),
            (AlgorithmKind::QrDqn, Dtype::F64) => self.run::<E, QrDqn<E, f64>>(env, spec),
            (AlgorithmKind::Iqn, Dtype::F32) => self.run::<E, Iqn<E, f32>>(env, spec),
            (AlgorithmKind::Iqn, Dtype::F64) => self.run::<E, Iqn<E, f64>>(env, spec),
            (AlgorithmKind::Pqn, Dtype::F32) => self.run::<E, Pqn<E, f32>>(env, spec),
            (AlgorithmKind::Pqn, Dtype::F64) => self.run::<E, Pqn<E, f64>>(env, spec),
            (AlgorithmKind::Tabular, _) => self.run::<E, Tabular<E>>(env, spec),
        }
    }

    fn run<E, A>(self, env: E, spec: EnvSpec) -> Result<TrainOutcome, TrainError>
    where
        E: Env + Clone + Serialize + DeserializeOwned,
        A: Algorithm<E>,
    {
        let mut session = match self.checkpoint {
            None => Session::<E, A>::new(self.cfg.clone(), env, spec)?,
            Some(bytes) => Session::<E, A>::restore(bytes, &env)?,
        };
        let (summary, model) = session.run(self.observer)?;
        Ok(TrainOutcome { summary, model })
    }
}

impl EnvVisitor for Start<'_> {
    type Output = Result<TrainOutcome, TrainError>;

    fn visit<E>(self, env: E, spec: EnvSpec) -> Self::Output
    where
        E: Env + Clone + Serialize + DeserializeOwned + 'static,
    {
        self.dispatch(env, spec)
    }
}
