//! Starting, resuming and continuing runs: [`train`], [`train_env`] and [`resume`] pick the
//! algorithm the config names and the network precision and hand them to the shared training
//! [`core`](crate::core); a [`Trainer`] keeps the run between calls, as an SB3 model does.

use deepq_envs::{Env, EnvSpec, EnvVisitor};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::algorithms::{Dqn, Iqn, Pqn, QrDqn, Tabular};
use crate::checkpoint::{self, CheckpointError};
use crate::config::{Algorithm as AlgorithmKind, DqnConfig, Dtype};
use crate::core::{Algorithm, Session};
use crate::model::Model;
use crate::replay::ReplayFill;

pub use crate::core::TrainSummary;
pub use crate::error::TrainError;
pub use crate::model::QNetwork;
pub use crate::observer::{
    EpisodeRecord, EvalRecord, LastStep, Observer, Progress, RunView, UpdateRecord,
};

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
    Trainer::new(cfg)?.learn(observer)
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
    E: Env + Clone + Serialize + DeserializeOwned + Send + 'static,
{
    Trainer::with_env(cfg, env, spec)?.learn(observer)
}

/// Continues a run from a checkpoint (see [`Observer::on_checkpoint`]) to its configured end.
/// The result is bit-identical to a run that was never interrupted.
pub fn resume(checkpoint: &[u8], observer: &mut dyn Observer) -> Result<TrainOutcome, TrainError> {
    Trainer::resume(checkpoint)?.learn(observer)
}

/// A run that outlives one call, as an SB3 model does: [`Trainer::learn`] trains to the
/// config's budget, and [`Trainer::continue_with`] sets the next budget, after which
/// `learn` goes on from the same weights, optimizer state, replay and environments.
pub struct Trainer {
    session: Box<dyn Run>,
}

impl Trainer {
    /// A fresh run of `cfg` on the environment it names.
    pub fn new(cfg: &DqnConfig) -> Result<Self, TrainError> {
        cfg.validate()?;
        let env = deepq_envs::make(&cfg.run.env, &cfg.run.env_kwargs)?;
        env.visit(Start {
            cfg,
            checkpoint: None,
        })
        .map(|session| Trainer { session })
    }

    /// A fresh run of `cfg` on `env`, which is not in the registry (see [`train_env`]).
    pub fn with_env<E>(cfg: &DqnConfig, env: E, spec: EnvSpec) -> Result<Self, TrainError>
    where
        E: Env + Clone + Serialize + DeserializeOwned + Send + 'static,
    {
        cfg.validate()?;
        Start {
            cfg,
            checkpoint: None,
        }
        .dispatch(env, spec)
        .map(|session| Trainer { session })
    }

    /// The run a checkpoint holds, to continue to its configured end.
    pub fn resume(checkpoint: &[u8]) -> Result<Self, TrainError> {
        let cfg = checkpoint_config(checkpoint)?;
        let env = deepq_envs::make(&cfg.run.env, &cfg.run.env_kwargs)?;
        env.visit(Start {
            cfg: &cfg,
            checkpoint: Some(checkpoint),
        })
        .map(|session| Trainer { session })
    }

    /// The run a checkpoint holds, on `env`, for an environment that the checkpoint could
    /// not hold and kept only the place of (a Python env: see `deepq-py`), so that restoring
    /// it gives fresh copies of `env`, which `spec` describes: the checkpoint's run must be on
    /// the environment `spec` names. The episodes under way at the checkpoint start anew
    /// ([`Session::restart_detached_episodes`]); everything else goes on from the checkpoint.
    pub fn resume_on<E>(checkpoint: &[u8], env: E, spec: EnvSpec) -> Result<Self, TrainError>
    where
        E: Env + Clone + Serialize + DeserializeOwned + Send + 'static,
    {
        let cfg = checkpoint_config(checkpoint)?;
        let mut session = Start {
            cfg: &cfg,
            checkpoint: Some(checkpoint),
        }
        .dispatch(env, spec)?;
        session.restart_detached_episodes()?;
        Ok(Trainer { session })
    }

    /// Trains until the budget is spent (or the observer stops it), then evaluates.
    pub fn learn(&mut self, observer: &mut dyn Observer) -> Result<TrainOutcome, TrainError> {
        let (summary, model) = self.session.run(observer)?;
        Ok(TrainOutcome { summary, model })
    }

    /// Sets the config of the next [`Trainer::learn`], SB3's `reset_num_timesteps` in
    /// `restart_counters`, and whether new episodes start ([`Session::continue_with`]).
    pub fn continue_with(
        &mut self,
        cfg: &DqnConfig,
        restart_counters: bool,
        restart_episodes: bool,
    ) -> Result<(), TrainError> {
        self.session
            .continue_with(cfg.clone(), restart_counters, restart_episodes)
    }

    /// Whether the run could go on with `cfg` ([`Session::check_config`]).
    pub fn check_config(&self, cfg: &DqnConfig) -> Result<(), TrainError> {
        self.session.check_config(cfg)
    }

    /// The run's config.
    pub fn config(&self) -> &DqnConfig {
        self.session.config()
    }

    /// Environment steps taken since the counters last started.
    pub fn num_timesteps(&self) -> u64 {
        self.session.steps()
    }

    /// The run, to read its model and replay buffer.
    pub fn view(&self) -> &dyn RunView {
        &*self.session
    }

    /// Episodes finished since the counters last started.
    pub fn num_episodes(&self) -> u64 {
        self.session.episodes()
    }

    /// Replaces the network's weights with `model`'s ([`Session::load_model`]).
    pub fn load_model(&mut self, model: &Model) -> Result<(), TrainError> {
        self.session.load_model(model)
    }

    /// The replay buffer as bytes, if the algorithm has one ([`RunView::replay_bytes`]).
    pub fn replay_bytes(&self) -> Option<Vec<u8>> {
        self.session.replay_bytes()
    }

    /// How full the replay buffer is, if the algorithm has one.
    pub fn replay_fill(&self) -> Option<ReplayFill> {
        self.session.replay_fill()
    }

    /// Replaces the replay buffer with saved bytes ([`Session::load_replay`]).
    pub fn load_replay(&mut self, bytes: &[u8]) -> Result<(), TrainError> {
        Ok(self.session.load_replay(bytes)?)
    }
}

/// The config of the run a checkpoint holds, checked.
fn checkpoint_config(checkpoint: &[u8]) -> Result<DqnConfig, TrainError> {
    let (header, _) = checkpoint::read_header(checkpoint)?;
    header.config.validate()?;
    Ok(header.config)
}

/// A [`Session`] whatever its environment and algorithm types.
trait Run: RunView + Send {
    fn run(&mut self, observer: &mut dyn Observer) -> Result<(TrainSummary, Model), TrainError>;
    fn continue_with(
        &mut self,
        cfg: DqnConfig,
        restart_counters: bool,
        restart_episodes: bool,
    ) -> Result<(), TrainError>;
    fn check_config(&self, cfg: &DqnConfig) -> Result<(), TrainError>;
    fn restart_detached_episodes(&mut self) -> Result<(), TrainError>;
    fn config(&self) -> &DqnConfig;
    fn steps(&self) -> u64;
    fn episodes(&self) -> u64;
    fn load_model(&mut self, model: &Model) -> Result<(), TrainError>;
    fn load_replay(&mut self, bytes: &[u8]) -> Result<(), CheckpointError>;
}

impl<E, A> Run for Session<E, A>
where
    E: Env + Clone + Serialize + DeserializeOwned + Send,
    A: Algorithm<E> + Send,
{
    fn run(&mut self, observer: &mut dyn Observer) -> Result<(TrainSummary, Model), TrainError> {
        Session::run(self, observer)
    }
    fn continue_with(
        &mut self,
        cfg: DqnConfig,
        restart_counters: bool,
        restart_episodes: bool,
    ) -> Result<(), TrainError> {
        Session::continue_with(self, cfg, restart_counters, restart_episodes)
    }
    fn check_config(&self, cfg: &DqnConfig) -> Result<(), TrainError> {
        Session::check_config(self, cfg)
    }
    fn restart_detached_episodes(&mut self) -> Result<(), TrainError> {
        Session::restart_detached_episodes(self)
    }
    fn config(&self) -> &DqnConfig {
        Session::config(self)
    }
    fn steps(&self) -> u64 {
        Session::steps(self)
    }
    fn episodes(&self) -> u64 {
        Session::episodes(self)
    }
    fn load_model(&mut self, model: &Model) -> Result<(), TrainError> {
        Session::load_model(self, model)
    }
    fn load_replay(&mut self, bytes: &[u8]) -> Result<(), CheckpointError> {
        Session::load_replay(self, bytes)
    }
}

/// A run about to start, fresh or from a checkpoint.
struct Start<'a> {
    cfg: &'a DqnConfig,
    checkpoint: Option<&'a [u8]>,
}

impl Start<'_> {
    /// The session of the algorithm the config names, in the precision it asks for.
    fn dispatch<E>(self, env: E, spec: EnvSpec) -> Result<Box<dyn Run>, TrainError>
    where
        E: Env + Clone + Serialize + DeserializeOwned + Send + 'static,
    {
        match (self.cfg.algorithm, self.cfg.network.dtype) {
            (AlgorithmKind::Dqn, Dtype::F32) => self.session::<E, Dqn<E, f32>>(env, spec),
            (AlgorithmKind::Dqn, Dtype::F64) => self.session::<E, Dqn<E, f64>>(env, spec),
            (AlgorithmKind::QrDqn, Dtype::F32) => self.session::<E, QrDqn<E, f32>>(env, spec),
            (AlgorithmKind::QrDqn, Dtype::F64) => self.session::<E, QrDqn<E, f64>>(env, spec),
            (AlgorithmKind::Iqn, Dtype::F32) => self.session::<E, Iqn<E, f32>>(env, spec),
            (AlgorithmKind::Iqn, Dtype::F64) => self.session::<E, Iqn<E, f64>>(env, spec),
            (AlgorithmKind::Pqn, Dtype::F32) => self.session::<E, Pqn<E, f32>>(env, spec),
            (AlgorithmKind::Pqn, Dtype::F64) => self.session::<E, Pqn<E, f64>>(env, spec),
            (AlgorithmKind::Tabular, _) => self.session::<E, Tabular<E>>(env, spec),
        }
    }

    fn session<E, A>(self, env: E, spec: EnvSpec) -> Result<Box<dyn Run>, TrainError>
    where
        E: Env + Clone + Serialize + DeserializeOwned + Send + 'static,
        A: Algorithm<E> + Send + 'static,
    {
        Ok(match self.checkpoint {
            None => Box::new(Session::<E, A>::new(self.cfg.clone(), env, spec)?),
            Some(bytes) => Box::new(Session::<E, A>::restore(bytes, &env, &spec)?),
        })
    }
}

impl EnvVisitor for Start<'_> {
    type Output = Result<Box<dyn Run>, TrainError>;

    fn visit<E>(self, env: E, spec: EnvSpec) -> Self::Output
    where
        E: Env + Clone + Serialize + DeserializeOwned + Send + 'static,
    {
        self.dispatch(env, spec)
    }
}
