//! The DQN training loop, and the observer interface through which it reports progress.
//!
//! [`Trainer::run`] reads top to bottom like the algorithm: act, step, store, sample,
//! update, sync the target network, evaluate.

use std::collections::VecDeque;
use std::time::Instant;

use deepq_envs::{Env, EnvError, EnvSpec, EnvVisitor, Observation, VecEnv};
use deepq_nn::{Mlp, NnError, Scalar};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::agent::DqnAgent;
use crate::checkpoint::{self, CheckpointError, CheckpointHeader};
use crate::config::{ConfigError, DqnConfig, Dtype, Unit};
use crate::eval::{EvalStats, evaluate};
use crate::nstep::NStepQueue;
use crate::per::Priorities;
use crate::replay::{Batch, ReplayBuffer};

/// One finished training episode.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EpisodeRecord {
    /// 1-based episode number.
    pub episode: u64,
    /// Environment steps taken when it ended.
    pub step: u64,
    /// Undiscounted return.
    pub ret: f64,
    /// Length in steps.
    pub length: u64,
    /// ε when it ended.
    pub epsilon: f64,
    /// Seconds since training started.
    pub wall_s: f64,
}

/// A sampled record of the learner's state.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UpdateRecord {
    /// Environment steps taken.
    pub step: u64,
    /// Gradient steps taken.
    pub updates: u64,
    /// Loss of the latest update.
    pub loss: f64,
    /// Mean Q(s, a) of the latest batch.
    pub mean_q: f64,
    /// Current learning rate.
    pub learning_rate: f64,
}

/// One periodic greedy evaluation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EvalRecord {
    /// Environment steps taken.
    pub step: u64,
    /// The evaluation's returns.
    pub stats: EvalStats,
}

/// A periodic progress report, for progress bars.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Progress {
    /// Environment steps taken.
    pub step: u64,
    /// The step budget.
    pub total_timesteps: u64,
    /// Finished episodes.
    pub episodes: u64,
    /// The episode budget, if any.
    pub max_episodes: Option<u64>,
    /// Current ε.
    pub epsilon: f64,
    /// Mean return of the last 100 episodes, once one has finished.
    pub mean_return_100: Option<f64>,
    /// Seconds since training started.
    pub wall_s: f64,
}

/// Receives what the training loop reports; the CLI writes CSVs, progress bars and
/// TensorBoard files through it. Every method has a do-nothing default.
pub trait Observer {
    /// Called when a training episode ends.
    fn on_episode(&mut self, _record: &EpisodeRecord) {}
    /// Called every `log_interval` gradient steps.
    fn on_update(&mut self, _record: &UpdateRecord) {}
    /// Called after each periodic evaluation.
    fn on_eval(&mut self, _record: &EvalRecord) {}
    /// Called every few hundred environment steps.
    fn on_progress(&mut self, _progress: &Progress) {}
    /// Polled once per environment step; returning true ends training early (a
    /// checkpoint is written first).
    fn should_stop(&mut self) -> bool {
        false
    }
    /// Whether to encode checkpoints for [`Observer::on_checkpoint`] at all; encoding a large
    /// replay buffer takes time, so observers that do not save them say no.
    fn wants_checkpoints(&self) -> bool {
        false
    }
    /// Receives an encoded checkpoint every `checkpoint_freq`, when training stops early, and
    /// at the end of training (if [`Observer::wants_checkpoints`]); [`resume`] continues from
    /// it bit for bit.
    fn on_checkpoint(&mut self, _checkpoint: &[u8], _step: u64) {}
}

/// An observer that ignores everything.
impl Observer for () {}

/// What a training run achieved.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainSummary {
    /// Environment id.
    pub env: String,
    /// The run's seed.
    pub seed: u64,
    /// The configured step budget.
    pub total_timesteps: u64,
    /// Environment steps taken.
    pub env_steps: u64,
    /// Finished training episodes.
    pub episodes: u64,
    /// Gradient steps taken.
    pub updates: u64,
    /// Wall-clock seconds of training, over every session of a resumed run (the final
    /// evaluation excluded).
    pub wall_s: f64,
    /// Environment steps per second.
    pub steps_per_s: f64,
    /// Gradient steps per second.
    pub updates_per_s: f64,
    /// The final greedy evaluation; none when training was interrupted.
    pub eval: Option<EvalStats>,
    /// The environment's reward threshold.
    pub reward_threshold: f64,
    /// Whether the final evaluation's mean reached the threshold (false when interrupted).
    pub solved: bool,
    /// Step of the first periodic evaluation whose mean reached the threshold.
    pub solved_at_step: Option<u64>,
    /// Whether training was stopped early by the observer.
    pub interrupted: bool,
}

/// A trained Q-network in the precision it was trained in.
#[derive(Clone, Debug)]
pub enum QNetwork {
    /// A float32 network.
    F32(Mlp<f32>),
    /// A float64 network.
    F64(Mlp<f64>),
}

impl QNetwork {
    /// The network as safetensors bytes (`0.weight`, `0.bias`, `2.weight`, ...).
    pub fn to_safetensors(&self) -> Vec<u8> {
        match self {
            QNetwork::F32(m) => deepq_nn::to_safetensors(m),
            QNetwork::F64(m) => deepq_nn::to_safetensors(m),
        }
    }

    /// Reads a network saved by [`QNetwork::to_safetensors`] (or by PyTorch), in either precision.
    pub fn from_safetensors(bytes: &[u8]) -> Result<Self, NnError> {
        deepq_nn::from_safetensors::<f32>(bytes)
            .map(QNetwork::F32)
            .or_else(|e32| {
                deepq_nn::from_safetensors::<f64>(bytes)
                    .map(QNetwork::F64)
                    .map_err(|_| e32)
            })
    }

    /// Layer sizes, input first.
    pub fn sizes(&self) -> &[usize] {
        match self {
            QNetwork::F32(m) => m.sizes(),
            QNetwork::F64(m) => m.sizes(),
        }
    }

    /// A greedy policy over flat observations.
    pub fn greedy_policy(&self) -> impl FnMut(&[f32]) -> usize + '_ {
        let mut scratch32 = (Vec::new(), None);
        let mut scratch64 = (Vec::new(), None);
        move |obs| match self {
            QNetwork::F32(m) => greedy(m, obs, &mut scratch32),
            QNetwork::F64(m) => greedy(m, obs, &mut scratch64),
        }
    }
}

fn greedy<T: Scalar>(
    net: &Mlp<T>,
    obs: &[f32],
    (input, ws): &mut (Vec<T>, Option<deepq_nn::Workspace<T>>),
) -> usize {
    input.clear();
    input.extend(obs.iter().map(|&x| T::from_f64(f64::from(x))));
    let ws = ws.get_or_insert_with(|| deepq_nn::Workspace::new(net, 1));
    net.argmax_action(input, ws)
}

/// The result of [`train`]: the summary and the trained network.
#[derive(Clone, Debug)]
pub struct TrainOutcome {
    /// What the run achieved.
    pub summary: TrainSummary,
    /// The trained online network.
    pub network: QNetwork,
}

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
}

/// Validates `cfg`, makes its environment and trains a DQN agent on it.
pub fn train(cfg: &DqnConfig, observer: &mut dyn Observer) -> Result<TrainOutcome, TrainError> {
    cfg.validate()?;
    let env = deepq_envs::make(&cfg.env, &cfg.env_kwargs)?;
    env.visit(TrainVisitor {
        cfg,
        checkpoint: None,
        observer,
    })
}

/// Trains on an environment that is not in the registry (e.g. one implemented by an embedding
/// application); `spec` gives its name, step limit and reward threshold, and `cfg.env` and
/// `cfg.env_kwargs` are not used. Checkpoints need `E`'s serde implementations to succeed.
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
    TrainVisitor {
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
    let env = deepq_envs::make(&cfg.env, &cfg.env_kwargs)?;
    env.visit(TrainVisitor {
        cfg: &cfg,
        checkpoint: Some(checkpoint),
        observer,
    })
}

struct TrainVisitor<'a> {
    cfg: &'a DqnConfig,
    checkpoint: Option<&'a [u8]>,
    observer: &'a mut dyn Observer,
}

impl TrainVisitor<'_> {
    /// Trains in the precision the config asks for.
    fn dispatch<E>(self, env: E, spec: EnvSpec) -> Result<TrainOutcome, TrainError>
    where
        E: Env + Clone + Serialize + DeserializeOwned,
    {
        Ok(match self.cfg.dtype {
            Dtype::F32 => {
                let (summary, net) = self.run::<E, f32>(env, spec)?;
                TrainOutcome {
                    summary,
                    network: QNetwork::F32(net),
                }
            }
            Dtype::F64 => {
                let (summary, net) = self.run::<E, f64>(env, spec)?;
                TrainOutcome {
                    summary,
                    network: QNetwork::F64(net),
                }
            }
        })
    }

    fn run<E, T: Scalar>(self, env: E, spec: EnvSpec) -> Result<(TrainSummary, Mlp<T>), TrainError>
    where
        E: Env + Clone + Serialize + DeserializeOwned,
    {
        let mut trainer = match self.checkpoint {
            None => Trainer::<E, T>::new(self.cfg.clone(), env, spec),
            Some(bytes) => Trainer::<E, T>::restore(bytes, &env)?,
        };
        let summary = trainer.run(self.observer)?;
        // The trained network, acting on its mean weights if it is noisy.
        let mut network = trainer.agent.network().clone();
        network.remove_noise();
        Ok((summary, network))
    }
}

impl EnvVisitor for TrainVisitor<'_> {
    type Output = Result<TrainOutcome, TrainError>;

    fn visit<E>(self, env: E, spec: EnvSpec) -> Self::Output
    where
        E: Env + Clone + Serialize + DeserializeOwned + 'static,
    {
        self.dispatch(env, spec)
    }
}

/// Independent random streams derived from the run's one seed.
#[derive(Clone, Copy)]
enum Stream {
    Init = 1,
    Explore = 2,
    Replay = 3,
    Noise = 4,
}

fn stream_rng(seed: u64, stream: Stream) -> Pcg64 {
    // SplitMix64 finalizer: nearby seeds and streams give unrelated PCG seeds.
    let mut z = seed ^ (stream as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    Pcg64::seed_from_u64(z ^ (z >> 31))
}

/// The evaluation env is reset with this offset from the run's seed, so it never replays
/// the training envs' episodes (those use `seed + i`).
const EVAL_SEED_OFFSET: u64 = 1_000_000_007;

/// How often, in environment steps, [`Observer::on_progress`] is called.
const PROGRESS_INTERVAL: u64 = 500;

/// Episodes in the rolling mean return reported with progress.
const ROLLING_EPISODES: usize = 100;

/// All state of one training run on environment type `E` with a network of scalar `T`.
///
/// Serializing a trainer is checkpointing it: everything that shapes the rest of the run is
/// saved (networks, optimizer, replay, every RNG, the envs mid-episode, the counters); the
/// per-step scratch buffers are skipped and rebuilt.
#[derive(Serialize, Deserialize)]
#[serde(bound(serialize = "E: Serialize", deserialize = "E: DeserializeOwned"))]
pub struct Trainer<E: Env, T: Scalar> {
    /// Travels in the checkpoint header.
    #[serde(skip)]
    cfg: DqnConfig,
    spec: EnvSpec,
    envs: VecEnv<E>,
    eval_env: E,
    agent: DqnAgent<T>,
    buffer: ReplayBuffer,
    explore_rng: Pcg64,
    replay_rng: Pcg64,
    episode_returns: Vec<f64>,
    episode_lengths: Vec<u64>,
    recent_returns: VecDeque<f64>,
    steps: u64,
    episodes: u64,
    updates: u64,
    vector_steps: u64,
    vector_steps_since_train: u64,
    episodes_since_train: u64,
    /// Next periodic evaluation, in `eval_freq`'s unit.
    next_eval: u64,
    /// Next periodic checkpoint, in `checkpoint_freq`'s unit.
    next_checkpoint: u64,
    solved_at_step: Option<u64>,
    /// A periodic evaluation met the stop criterion (`DqnConfig::stops_at`).
    stop_reached: bool,
    /// Training seconds of earlier sessions of this run.
    wall_before: f64,
    /// The noise of noisy nets (acting and updates draw from it in turn).
    noise_rng: Pcg64,
    /// Pending steps of each env copy, for n-step returns (empty for one-step returns).
    nstep: Vec<NStepQueue>,
    /// Replay priorities, for prioritized replay.
    priorities: Option<Priorities>,
    #[serde(skip)]
    scratch: Scratch<T>,
}

/// Per-step buffers, rebuilt rather than saved.
#[derive(Default)]
struct Scratch<T> {
    obs_dim: usize,
    /// The observation each copy acts on next, flat, `n_envs × obs_dim`.
    obs: Vec<f32>,
    next_obs: Vec<f32>,
    actions: Vec<usize>,
    batch: Batch<T>,
    indices: Vec<usize>,
}

impl<T: Scalar> Scratch<T> {
    fn new<E: Env>(envs: &VecEnv<E>, obs_dim: usize, batch_size: usize) -> Self {
        let n = envs.num_envs();
        let mut obs = vec![0.0; n * obs_dim];
        for (o, row) in envs
            .observations()
            .iter()
            .zip(obs.chunks_exact_mut(obs_dim))
        {
            o.write_flat(row);
        }
        Scratch {
            obs_dim,
            obs,
            next_obs: vec![0.0; n * obs_dim],
            actions: vec![0; n],
            batch: Batch::with_capacity(batch_size.max(n), obs_dim),
            indices: Vec::with_capacity(batch_size.max(n)),
        }
    }
}

impl<E, T> Trainer<E, T>
where
    E: Env + Clone + Serialize + DeserializeOwned,
    T: Scalar,
{
    /// Sets up a run: `n_envs` copies of `env` reset with the seed, a separately seeded
    /// evaluation copy, a freshly initialised agent and an empty replay buffer.
    ///
    /// `cfg` must have passed [`DqnConfig::validate`].
    pub fn new(cfg: DqnConfig, env: E, spec: EnvSpec) -> Self {
        let obs_dim = env.observation_space().flat_dim();
        let n = cfg.n_envs;
        let agent = DqnAgent::new(
            obs_dim,
            env.n_actions(),
            &cfg,
            &mut stream_rng(cfg.seed, Stream::Init),
        );
        let capacity = if cfg.replay { cfg.buffer_size } else { n };
        let buffer = if cfg.n_steps > 1 {
            ReplayBuffer::new_n_step(capacity, obs_dim)
        } else {
            ReplayBuffer::new(capacity, obs_dim)
        };
        let nstep = if cfg.n_steps > 1 {
            vec![NStepQueue::new(cfg.n_steps, obs_dim); n]
        } else {
            Vec::new()
        };
        let priorities = cfg.prioritized_replay.then(|| {
            Priorities::new(
                capacity,
                cfg.prioritized_replay_alpha,
                cfg.prioritized_replay_eps,
            )
        });
        let mut envs = VecEnv::new(vec![env.clone(); n]);
        envs.reset(Some(cfg.seed));
        Trainer {
            scratch: Scratch::new(&envs, obs_dim, cfg.batch_size),
            envs,
            eval_env: env,
            agent,
            buffer,
            explore_rng: stream_rng(cfg.seed, Stream::Explore),
            replay_rng: stream_rng(cfg.seed, Stream::Replay),
            episode_returns: vec![0.0; n],
            episode_lengths: vec![0; n],
            recent_returns: VecDeque::with_capacity(ROLLING_EPISODES),
            steps: 0,
            episodes: 0,
            updates: 0,
            vector_steps: 0,
            vector_steps_since_train: 0,
            episodes_since_train: 0,
            next_eval: cfg.eval_freq.n,
            next_checkpoint: cfg.checkpoint_freq.n,
            solved_at_step: None,
            stop_reached: false,
            wall_before: 0.0,
            noise_rng: stream_rng(cfg.seed, Stream::Noise),
            nstep,
            priorities,
            spec,
            cfg,
        }
    }

    /// A trainer restored from checkpoint bytes; `env` is a fresh instance of the run's
    /// environment, used to check that the checkpoint fits it.
    pub fn restore(bytes: &[u8], env: &E) -> Result<Self, CheckpointError> {
        let (header, state) = checkpoint::read_header(bytes)?;
        let mut trainer: Self = checkpoint::decode_state(state)?;
        let obs_dim = env.observation_space().flat_dim();
        let cfg = header.config;
        let net = trainer.agent.network();
        let fits = net.n_inputs() == obs_dim
            && net.n_outputs() == env.n_actions()
            && trainer.buffer.obs_dim() == obs_dim
            && trainer.envs.num_envs() == cfg.n_envs
            && trainer.episode_returns.len() == cfg.n_envs
            && trainer.episode_lengths.len() == cfg.n_envs
            && trainer.steps == header.steps
            && trainer.agent.network().arch() == &cfg.arch().canonical()
            && trainer.nstep.len() == if cfg.n_steps > 1 { cfg.n_envs } else { 0 }
            && trainer.nstep.iter().all(|q| q.fits(cfg.n_steps, obs_dim))
            && trainer.priorities.as_ref().map(Priorities::len)
                == cfg.prioritized_replay.then(|| trainer.buffer.len());
        if !fits {
            return Err(CheckpointError::Decode(format!(
                "its networks, replay buffer or counters do not fit {} with this config",
                cfg.env
            )));
        }
        trainer.scratch = Scratch::new(&trainer.envs, obs_dim, cfg.batch_size);
        trainer.cfg = cfg;
        Ok(trainer)
    }

    /// The agent being trained.
    pub fn agent(&self) -> &DqnAgent<T> {
        &self.agent
    }

    /// The run as checkpoint bytes.
    pub fn checkpoint(&self) -> Vec<u8> {
        let header = CheckpointHeader {
            deepq_version: env!("CARGO_PKG_VERSION").to_string(),
            config: self.cfg.clone(),
            steps: self.steps,
            episodes: self.episodes,
        };
        checkpoint::encode(&header, self)
    }

    /// Trains until the step or episode budget is spent (or the observer stops it), then
    /// evaluates the greedy policy.
    pub fn run(&mut self, observer: &mut dyn Observer) -> Result<TrainSummary, TrainError> {
        let start = Instant::now();
        let n = self.cfg.n_envs;
        let d = self.scratch.obs_dim;
        let mut interrupted = false;
        while !self.finished() {
            if observer.should_stop() {
                interrupted = true;
                break;
            }

            // 1. Act: uniformly at random while warming up (as SB3), ε-greedy afterwards.
            let epsilon = self.epsilon();
            let random = self.cfg.random_warmup && self.warming_up();
            for (i, obs) in self.scratch.obs.chunks_exact(d).enumerate() {
                self.scratch.actions[i] = if random {
                    self.explore_rng.random_range(0..self.agent.n_actions())
                } else if self.cfg.noisy {
                    self.agent.act_noisy(obs, &mut self.noise_rng)
                } else {
                    self.agent.act(obs, epsilon, &mut self.explore_rng)
                };
            }

            // 2. Step every copy; a copy whose episode ended has already reset itself.
            let step = self.envs.step(&self.scratch.actions);

            // 3. Store the transitions. Where an episode ended, the next observation is its
            //    final one (kept by the vector env), not the first of the next episode.
            for i in 0..n {
                let row = i * d..(i + 1) * d;
                let ended = step.terminated[i] || step.truncated[i];
                let next = if ended {
                    &step.final_obs[i]
                } else {
                    &step.obs[i]
                };
                next.write_flat(&mut self.scratch.next_obs[row.clone()]);
                let (buffer, priorities) = (&mut self.buffer, &mut self.priorities);
                if self.nstep.is_empty() {
                    let slot = buffer.push(
                        &self.scratch.obs[row.clone()],
                        self.scratch.actions[i] as u32,
                        step.rewards[i],
                        &self.scratch.next_obs[row.clone()],
                        step.terminated[i],
                        step.truncated[i],
                    );
                    if let Some(p) = priorities {
                        p.on_push(slot);
                    }
                } else {
                    // n-step returns: store whatever transitions this step completed.
                    self.nstep[i].push(
                        &self.scratch.obs[row.clone()],
                        self.scratch.actions[i] as u32,
                        step.rewards[i],
                        &self.scratch.next_obs[row.clone()],
                        step.terminated[i],
                        step.truncated[i],
                        self.cfg.gamma,
                        |t| {
                            let slot = buffer.push_n(
                                t.obs,
                                t.action,
                                t.ret,
                                t.next_obs,
                                t.terminated,
                                t.truncated,
                                t.horizon,
                            );
                            if let Some(p) = priorities.as_mut() {
                                p.on_push(slot);
                            }
                        },
                    );
                }
                step.obs[i].write_flat(&mut self.scratch.obs[row]);

                self.episode_returns[i] += step.rewards[i];
                self.episode_lengths[i] += 1;
                if ended {
                    self.episodes += 1;
                    self.episodes_since_train += 1;
                    let record = EpisodeRecord {
                        episode: self.episodes,
                        step: self.steps + (i as u64 + 1),
                        ret: self.episode_returns[i],
                        length: self.episode_lengths[i],
                        epsilon,
                        wall_s: self.wall_before + start.elapsed().as_secs_f64(),
                    };
                    if self.recent_returns.len() == ROLLING_EPISODES {
                        self.recent_returns.pop_front();
                    }
                    self.recent_returns.push_back(record.ret);
                    observer.on_episode(&record);
                    self.episode_returns[i] = 0.0;
                    self.episode_lengths[i] = 0;
                }
            }
            self.steps += n as u64;
            self.vector_steps += 1;
            self.vector_steps_since_train += 1;

            // 4. Train: sample minibatches from replay and take gradient steps.
            if self.train_due() {
                let collected = self.vector_steps_since_train * n as u64;
                self.vector_steps_since_train = 0;
                self.episodes_since_train = 0;
                if self.learning_started() {
                    let gradient_steps = match self.cfg.gradient_steps {
                        -1 => collected,
                        g => g as u64,
                    };
                    for _ in 0..gradient_steps {
                        if !self.gradient_step(observer)? {
                            break;
                        }
                    }
                }
            }

            // 5. Move the target network towards the online one (SB3 counts vector steps).
            let interval = (self.cfg.target_update_interval / n as u64).max(1);
            if self.vector_steps.is_multiple_of(interval) {
                self.agent.update_target(self.cfg.tau);
            }

            // 6. Evaluate the greedy policy now and then.
            if due(
                self.cfg.eval_freq,
                self.steps,
                self.episodes,
                &mut self.next_eval,
            ) {
                let stats = self.evaluate(self.cfg.eval_episodes);
                if self.solved_at_step.is_none() && stats.mean >= self.spec.reward_threshold {
                    self.solved_at_step = Some(self.steps);
                }
                self.stop_reached |= self.cfg.stops_at(stats.mean, self.spec.reward_threshold);
                observer.on_eval(&EvalRecord {
                    step: self.steps,
                    stats,
                });
            }

            // 7. Save a checkpoint now and then.
            if due(
                self.cfg.checkpoint_freq,
                self.steps,
                self.episodes,
                &mut self.next_checkpoint,
            ) {
                self.save(observer, start.elapsed().as_secs_f64());
            }

            if self
                .vector_steps
                .is_multiple_of(PROGRESS_INTERVAL.div_ceil(n as u64))
            {
                observer.on_progress(&self.progress(start));
            }
        }
        observer.on_progress(&self.progress(start));
        let session_s = start.elapsed().as_secs_f64();
        self.save(observer, session_s);
        let wall_s = self.wall_before + session_s;

        let eval = (!interrupted).then(|| self.evaluate(self.cfg.final_eval_episodes));
        Ok(TrainSummary {
            env: self.spec.id.clone(),
            seed: self.cfg.seed,
            total_timesteps: self.cfg.total_timesteps,
            env_steps: self.steps,
            episodes: self.episodes,
            updates: self.updates,
            wall_s,
            steps_per_s: self.steps as f64 / wall_s.max(1e-9),
            updates_per_s: self.updates as f64 / wall_s.max(1e-9),
            solved: eval
                .as_ref()
                .is_some_and(|e| e.mean >= self.spec.reward_threshold),
            eval,
            reward_threshold: self.spec.reward_threshold,
            solved_at_step: self.solved_at_step,
            interrupted,
        })
    }

    /// Hands the observer a checkpoint, with this session's training time folded in.
    fn save(&mut self, observer: &mut dyn Observer, session_s: f64) {
        if !observer.wants_checkpoints() {
            return;
        }
        let before = self.wall_before;
        self.wall_before += session_s;
        observer.on_checkpoint(&self.checkpoint(), self.steps);
        self.wall_before = before;
    }

    /// One gradient step on a sampled batch; returns false when replay cannot yet fill a batch.
    fn gradient_step(&mut self, observer: &mut dyn Observer) -> Result<bool, TrainError> {
        if self.buffer.is_empty() {
            // n-step returns store a transition only once its return is complete.
            return Ok(false);
        }
        if let Some(priorities) = &self.priorities {
            if priorities.is_empty() {
                return Ok(false);
            }
            priorities.sample(
                &mut self.replay_rng,
                self.cfg.batch_size,
                &mut self.scratch.indices,
            );
        } else if self.cfg.replay {
            let without_replacement = !self.cfg.replay_with_replacement;
            if without_replacement && self.buffer.len() < self.cfg.batch_size {
                return Ok(false);
            }
            let block = if self.cfg.sample_vector_steps {
                self.cfg.n_envs
            } else {
                1
            };
            self.buffer.sample_indices(
                &mut self.replay_rng,
                self.cfg.batch_size,
                self.cfg.replay_with_replacement,
                block,
                &mut self.scratch.indices,
            );
        } else {
            self.buffer
                .latest_indices(self.cfg.n_envs, &mut self.scratch.indices);
        }
        self.buffer
            .gather(&self.scratch.indices, &mut self.scratch.batch);
        if let Some(priorities) = &self.priorities {
            let beta = self.beta();
            let weights = &mut self.scratch.batch.weights;
            weights.clear();
            weights.extend(
                priorities
                    .weights(&self.scratch.indices, beta)
                    .map(T::from_f64),
            );
        }
        let stats = self.agent.update(&self.scratch.batch, &mut self.noise_rng);
        if let Some(priorities) = &mut self.priorities {
            let b = self.scratch.indices.len();
            priorities.update(
                &self.scratch.indices,
                self.agent.priorities(b).iter().copied(),
            );
        }
        self.updates += 1;
        if !stats.loss.is_finite() || !stats.mean_q.is_finite() {
            let loss = if stats.loss.is_finite() {
                stats.mean_q
            } else {
                stats.loss
            };
            return Err(TrainError::Diverged {
                step: self.steps,
                loss,
            });
        }
        if self.updates.is_multiple_of(self.cfg.log_interval) {
            observer.on_update(&UpdateRecord {
                step: self.steps,
                updates: self.updates,
                loss: stats.loss,
                mean_q: stats.mean_q,
                learning_rate: self.agent.optimizer().lr(),
            });
        }
        Ok(true)
    }

    /// The step or episode budget is spent, or a periodic evaluation met the stop criterion.
    fn finished(&self) -> bool {
        self.steps >= self.cfg.total_timesteps
            || self.cfg.episodes.is_some_and(|max| self.episodes >= max)
            || self.stop_reached
    }

    /// ε of ε-greedy exploration (0 with noisy nets, which explore through their noise).
    fn epsilon(&self) -> f64 {
        if self.cfg.noisy {
            return 0.0;
        }
        self.cfg.exploration().epsilon(self.steps, self.episodes)
    }

    /// The importance-sampling exponent of prioritized replay: `prioritized_replay_beta0`
    /// annealed linearly to 1 over `total_timesteps`.
    fn beta(&self) -> f64 {
        let beta0 = self.cfg.prioritized_replay_beta0;
        let progress = (self.steps as f64 / self.cfg.total_timesteps as f64).min(1.0);
        beta0 + (1.0 - beta0) * progress
    }

    /// SB3's `train_freq`: counted in vector steps, or in episodes finished by any copy.
    fn train_due(&self) -> bool {
        let since = self
            .cfg
            .train_freq
            .of(self.vector_steps_since_train, self.episodes_since_train);
        since >= self.cfg.train_freq.n
    }

    /// Before `learning_starts`: SB3 acts randomly while `steps < learning_starts`…
    fn warming_up(&self) -> bool {
        self.cfg.learning_starts.of(self.steps, self.episodes) < self.cfg.learning_starts.n
    }

    /// …and trains once `steps > learning_starts` (or that many episodes have finished).
    fn learning_started(&self) -> bool {
        let ls = self.cfg.learning_starts;
        match ls.unit {
            Unit::Step => self.steps > ls.n,
            Unit::Episode => self.episodes >= ls.n,
        }
    }

    /// Greedy episodes on the evaluation env, always from the same seed so that
    /// evaluations over a run are comparable.
    fn evaluate(&mut self, episodes: usize) -> EvalStats {
        let seed = self.cfg.seed.wrapping_add(EVAL_SEED_OFFSET);
        // Noisy nets act greedily on their mean weights here.
        self.agent.remove_noise();
        let agent = &mut self.agent;
        evaluate(&mut self.eval_env, episodes, Some(seed), |obs| {
            agent.greedy_action(obs)
        })
    }

    fn progress(&self, start: Instant) -> Progress {
        let recent = &self.recent_returns;
        Progress {
            step: self.steps,
            total_timesteps: self.cfg.total_timesteps,
            episodes: self.episodes,
            max_episodes: self.cfg.episodes,
            epsilon: self.epsilon(),
            mean_return_100: (!recent.is_empty())
                .then(|| recent.iter().sum::<f64>() / recent.len() as f64),
            wall_s: self.wall_before + start.elapsed().as_secs_f64(),
        }
    }
}

/// Whether a periodic event counted by `every` is due at (`steps`, `episodes`); if so,
/// advances `next` past the current count. `every.n == 0` never fires.
fn due(every: crate::config::Count, steps: u64, episodes: u64, next: &mut u64) -> bool {
    let now = every.of(steps, episodes);
    if every.n == 0 || now < *next {
        return false;
    }
    while *next <= now {
        *next += every.n;
    }
    true
}
