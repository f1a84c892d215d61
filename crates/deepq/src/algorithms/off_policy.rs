//! The off-policy loop that every value-based learner shares, as SB3's `OffPolicyAlgorithm`:
//! act in every environment copy (uniformly while warming up, then ε-greedily or through a
//! noisy network's noise), store the transitions in replay (uniform or prioritized, one-step
//! or n-step), train on sampled minibatches when `train_freq` says so, and move the target
//! network. [`OffPolicy::step`] reads top to bottom like that.
//!
//! A [`Learner`] supplies only what differs between DQN, QR-DQN and their kin: its network,
//! its TD target and loss in [`Learner::update`], and the priorities it reports.

use deepq_envs::{Env, Observation, Space, VecEnv};
use deepq_nn::{Mlp, Scalar, polyak_update};
use rand::Rng;
use rand_pcg::Pcg64;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::augment::RandomShift;
use crate::config::{Augmentation, ConfigError, DqnConfig, LearningRateSchedule, Unit};
use crate::core::{Algorithm, RunState};
use crate::error::TrainError;
use crate::model::Model;
use crate::observer::{LastStep, Observer};
use crate::replay::{Batch, Replay};
use crate::rng::{Stream, stream_rng};
use crate::schedule::explore;

/// Config keys the loop reads (replay, when and how much to train, the target network), on
/// top of the run, network, optimizer, exploration and evaluation keys every algorithm reads.
pub(crate) const KEYS: &[&str] = &[
    "buffer_size",
    "replay",
    "replay_with_replacement",
    "sample_vector_steps",
    "batch_size",
    "learning_starts",
    "random_warmup",
    "train_freq",
    "gradient_steps",
    "target_network",
    "target_update_interval",
    "tau",
    "n_steps",
    "prioritized_replay",
    "prioritized_replay_alpha",
    "prioritized_replay_beta0",
    "prioritized_replay_eps",
    "learning_rate_schedule",
    "clip_reward",
    "terminal_on_life_loss",
    "augmentation",
];

/// What one gradient step measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UpdateStats {
    /// The loss value before the step.
    pub loss: f64,
    /// Mean of Q(s, a) over the batch, for the taken actions.
    pub mean_q: f64,
}

/// A value-based learner: its online (and target) network, optimizer and update rule.
pub trait Learner: Serialize + DeserializeOwned {
    /// The network's floating-point type.
    type Float: Scalar;

    /// A fresh learner for `cfg` (already validated) on observations of `space` with
    /// `n_actions` actions, its network initialised from the run's `Init` stream.
    fn new(cfg: &DqnConfig, space: &Space, n_actions: usize) -> Result<Self, ConfigError>;

    /// Number of actions.
    fn n_actions(&self) -> usize;

    /// The greedy action for one flat observation (the first on ties), as evaluation acts.
    fn greedy_action(&mut self, obs: &[f32]) -> usize;

    /// The action of the behaviour policy where it is not exploring: the greedy action,
    /// unless the learner's own acting draws randomness (IQN samples its fractions).
    fn behaviour_action(&mut self, obs: &[f32]) -> usize {
        self.greedy_action(obs)
    }

    /// [`behaviour_action`](Self::behaviour_action) for flat observations row after row,
    /// one action per row, as one row at a time in order would give them; a learner whose
    /// network acts on all rows in one pass overrides it.
    fn behaviour_actions(&mut self, obs: &[f32], actions: &mut [usize]) {
        if let Some(width) = obs.len().checked_div(actions.len()) {
            for (action, row) in actions.iter_mut().zip(obs.chunks_exact(width)) {
                *action = self.behaviour_action(row);
            }
        }
    }

    /// Draws fresh noise into a noisy online network, for the next action.
    fn sample_noise(&mut self, rng: &mut Pcg64);

    /// Switches the networks' noise off, so that greedy actions use the mean weights.
    fn remove_noise(&mut self);

    /// One gradient step on `batch`; a noisy learner draws its noise from `noise_rng`.
    fn update(&mut self, batch: &Batch<Self::Float>, noise_rng: &mut Pcg64) -> UpdateStats;

    /// New replay priorities of the last update's `batch_len` samples (empty unless the
    /// learner was built for prioritized replay).
    fn priorities(&self, batch_len: usize) -> &[f64];

    /// Moves the target network towards the online one: a copy when `tau` is 1, else Polyak.
    fn update_target(&mut self, tau: f64);

    /// The optimizer's learning rate now.
    fn learning_rate(&self) -> f64;

    /// Sets the optimizer's learning rate (a schedule's value for the next updates).
    fn set_learning_rate(&mut self, lr: f64);

    /// Whether a learner decoded from a checkpoint fits `cfg` on `space` with `n_actions`.
    fn fits(&self, cfg: &DqnConfig, space: &Space, n_actions: usize) -> bool;

    /// The trained network, acting on its mean weights if it is noisy.
    fn model(&self) -> Model;

    /// The target network as a model (on its mean weights if noisy), if the learner keeps
    /// one apart from the online network.
    fn target_model(&self) -> Option<Model>;

    /// Sets the online and target networks' weights to `model`'s (a network of the same
    /// architecture, as [`Learner::model`] gives).
    fn load_model(&mut self, model: &Model) -> Result<(), ConfigError>;
}

/// A learner `L` trained off-policy on `n_envs` copies of environment `E`.
#[derive(Serialize, Deserialize)]
#[serde(bound(serialize = "E: Serialize", deserialize = "E: DeserializeOwned"))]
pub struct OffPolicy<E: Env, L: Learner> {
    envs: VecEnv<E>,
    learner: L,
    replay: Replay,
    explore_rng: Pcg64,
    replay_rng: Pcg64,
    noise_rng: Pcg64,
    /// The augmentation of replayed images, with its random stream, if the config asks for one.
    augment: Option<RandomShift>,
    vector_steps: u64,
    vector_steps_since_train: u64,
    episodes_since_train: u64,
    /// Per-step buffers, rebuilt after a restore.
    #[serde(skip)]
    scratch: Option<Scratch<L::Float>>,
}

/// Buffers one step reuses.
struct Scratch<T> {
    obs_dim: usize,
    /// The observation each copy acts on next, flat, `n_envs × obs_dim`.
    obs: Vec<f32>,
    next_obs: Vec<f32>,
    actions: Vec<usize>,
    /// The copies that act greedily at this step, their observations and their actions.
    greedy_copies: Vec<usize>,
    greedy_obs: Vec<f32>,
    greedy_actions: Vec<usize>,
    /// The reward each copy received at the last step.
    rewards: Vec<f64>,
    batch: Batch<T>,
    indices: Vec<usize>,
}

impl<T: Scalar> Scratch<T> {
    fn new<E: Env>(envs: &VecEnv<E>, batch_size: usize) -> Self {
        let n = envs.num_envs();
        let obs_dim = envs.envs()[0].observation_space().flat_dim();
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
            greedy_copies: Vec::with_capacity(n),
            greedy_obs: Vec::with_capacity(n * obs_dim),
            greedy_actions: vec![0; n],
            rewards: vec![0.0; n],
            batch: Batch::with_capacity(batch_size.max(n), obs_dim),
            indices: Vec::with_capacity(batch_size.max(n)),
        }
    }
}

impl<E, L> OffPolicy<E, L>
where
    E: Env + Clone + Serialize + DeserializeOwned,
    L: Learner,
{
    /// The learner being trained.
    pub fn learner(&self) -> &L {
        &self.learner
    }

    /// One gradient step on a sampled batch; returns false when replay cannot yet fill a batch.
    fn gradient_step(
        &mut self,
        run: &mut RunState,
        observer: &mut dyn Observer,
    ) -> Result<bool, TrainError> {
        let s = self
            .scratch
            .as_mut()
            .expect("scratch is built before the first step");
        let progress = run.steps as f64 / run.cfg.run.total_timesteps as f64;
        if !self
            .replay
            .sample(&mut self.replay_rng, progress, &mut s.indices, &mut s.batch)
        {
            return Ok(false);
        }
        if let Some(augment) = &mut self.augment {
            augment.apply(&mut s.batch.obs);
            augment.apply(&mut s.batch.next_obs);
        }
        let stats = self.learner.update(&s.batch, &mut self.noise_rng);
        let sampled = s.indices.len();
        self.replay
            .update_priorities(&s.indices, self.learner.priorities(sampled));
        let lr = self.learner.learning_rate();
        run.record_update(stats.loss, stats.mean_q, lr, observer)?;
        Ok(true)
    }

    /// SB3's `train_freq`: counted in vector steps, or in episodes finished by any copy.
    fn train_due(&self, cfg: &DqnConfig) -> bool {
        let since = cfg
            .replay
            .train_freq
            .of(self.vector_steps_since_train, self.episodes_since_train);
        since >= cfg.replay.train_freq.n
    }
}

/// Before `learning_starts`: SB3 acts randomly while `steps < learning_starts`…
fn warming_up(run: &RunState) -> bool {
    let ls = run.cfg.replay.learning_starts;
    ls.of(run.steps, run.episodes()) < ls.n
}

/// …and trains once `steps > learning_starts` (or that many episodes have finished).
fn learning_started(run: &RunState) -> bool {
    let ls = run.cfg.replay.learning_starts;
    match ls.unit {
        Unit::Step => run.steps > ls.n,
        Unit::Episode => run.episodes() >= ls.n,
    }
}

/// The learning rate of a training phase: `learning_rate`, or with the linear schedule SB3's
/// `learning_rate · progress_remaining` (RL Zoo's `lin_<lr>`), progress counted in steps.
fn learning_rate(run: &RunState) -> f64 {
    let cfg = &run.cfg;
    match cfg.optimizer.learning_rate_schedule {
        LearningRateSchedule::Constant => cfg.optimizer.learning_rate,
        LearningRateSchedule::Linear => {
            cfg.optimizer.learning_rate * progress_remaining(run).max(0.0)
        }
    }
}

/// SB3's `progress_remaining`: 1 at the start of the budget, 0 at its end.
fn progress_remaining(run: &RunState) -> f64 {
    1.0 - run.steps as f64 / run.cfg.run.total_timesteps as f64
}

impl<E, L> Algorithm<E> for OffPolicy<E, L>
where
    E: Env + Clone + Serialize + DeserializeOwned,
    L: Learner,
{
    fn new(cfg: &DqnConfig, env: &E) -> Result<Self, TrainError> {
        let space = env.observation_space();
        let learner = L::new(cfg, &space, env.n_actions())?;
        let mut envs = VecEnv::new(vec![env.clone(); cfg.run.n_envs]);
        envs.reset(Some(cfg.run.seed));
        Ok(OffPolicy {
            scratch: Some(Scratch::new(&envs, cfg.replay.batch_size)),
            envs,
            learner,
            replay: Replay::new(cfg, &space),
            explore_rng: stream_rng(cfg.run.seed, Stream::Explore),
            replay_rng: stream_rng(cfg.run.seed, Stream::Replay),
            noise_rng: stream_rng(cfg.run.seed, Stream::Noise),
            augment: augmentation(cfg, &space)?,
            vector_steps: 0,
            vector_steps_since_train: 0,
            episodes_since_train: 0,
        })
    }

    fn n_envs(&self) -> usize {
        self.envs.num_envs()
    }

    fn step(&mut self, run: &mut RunState, observer: &mut dyn Observer) -> Result<(), TrainError> {
        let n = self.envs.num_envs();
        let epsilon = self.epsilon(run);
        let random = run.cfg.replay.random_warmup && warming_up(run);
        let s = self
            .scratch
            .get_or_insert_with(|| Scratch::new(&self.envs, run.cfg.replay.batch_size));
        let d = s.obs_dim;

        // 1. Act: uniformly at random while warming up (as SB3), then ε-greedily, or
        //    greedily on freshly drawn noise with noisy nets.
        let n_actions = self.learner.n_actions();
        if random {
            for action in &mut s.actions {
                *action = self.explore_rng.random_range(0..n_actions);
            }
        } else if run.cfg.dqn.noisy {
            for (action, obs) in s.actions.iter_mut().zip(s.obs.chunks_exact(d)) {
                self.learner.sample_noise(&mut self.noise_rng);
                *action = self.learner.behaviour_action(obs);
            }
        } else {
            // ε's draws copy by copy, then one pass of the network for the copies acting
            // greedily: acting greedily draws nothing from `explore_rng`, so its stream is
            // the one acting copy by copy would draw.
            s.greedy_copies.clear();
            for (i, action) in s.actions.iter_mut().enumerate() {
                match explore(&mut self.explore_rng, epsilon, n_actions) {
                    Some(random_action) => *action = random_action,
                    None => s.greedy_copies.push(i),
                }
            }
            let k = s.greedy_copies.len();
            if k == n {
                self.learner.behaviour_actions(&s.obs, &mut s.actions);
            } else if k > 0 {
                s.greedy_obs.clear();
                for &i in &s.greedy_copies {
                    s.greedy_obs.extend_from_slice(&s.obs[i * d..(i + 1) * d]);
                }
                let greedy = &mut s.greedy_actions[..k];
                self.learner.behaviour_actions(&s.greedy_obs, greedy);
                for (&i, &action) in s.greedy_copies.iter().zip(greedy.iter()) {
                    s.actions[i] = action;
                }
            }
        }

        // 2. Step every copy; a copy whose episode ended has already reset itself.
        let step = self.envs.step(&s.actions);

        // 3. Store the transitions. Where an episode ended, the next observation is its
        //    final one (kept by the vector env), not the first of the next episode. A copy
        //    that only started its next episode (a Gymnasium vector env resetting on the
        //    step after an end) gives no transition: it just has a new observation.
        for i in 0..n {
            let row = i * d..(i + 1) * d;
            s.rewards[i] = step.rewards[i];
            if !step.stepped[i] {
                step.obs[i].write_flat(&mut s.obs[row]);
                continue;
            }
            let ended = step.terminated[i] || step.truncated[i];
            let next = if ended {
                &step.final_obs[i]
            } else {
                &step.obs[i]
            };
            next.write_flat(&mut s.next_obs[row.clone()]);
            // What is learnt from may differ from what happened (Atari's set-ups): a clipped
            // reward, a lost life as the end of the TD target.
            let replay = &run.cfg.replay;
            let reward = if replay.clip_reward {
                clip_to_sign(step.rewards[i])
            } else {
                step.rewards[i]
            };
            let terminal =
                step.terminated[i] || (replay.terminal_on_life_loss && step.life_lost[i]);
            self.replay.store(
                i,
                &s.obs[row.clone()],
                s.actions[i] as u32,
                reward,
                &s.next_obs[row.clone()],
                terminal,
                step.truncated[i] && !terminal,
            );
            step.obs[i].write_flat(&mut s.obs[row]);
            let step_number = run.steps + i as u64 + 1;
            if run.env_step(i, step.rewards[i], ended, step_number, epsilon, observer) {
                self.episodes_since_train += 1;
            }
        }
        run.steps += n as u64;
        self.vector_steps += 1;
        self.vector_steps_since_train += 1;

        // 4. Train: sample minibatches from replay and take gradient steps.
        if self.train_due(&run.cfg) {
            let collected = self.vector_steps_since_train * n as u64;
            self.vector_steps_since_train = 0;
            self.episodes_since_train = 0;
            if learning_started(run) {
                // A schedule moves it; a continued run may have been given a new one.
                let lr = observer
                    .learning_rate(progress_remaining(run))
                    .unwrap_or_else(|| learning_rate(run));
                if lr != self.learner.learning_rate() {
                    self.learner.set_learning_rate(lr);
                }
                let gradient_steps = match run.cfg.replay.gradient_steps {
                    -1 => collected,
                    g => g as u64,
                };
                for _ in 0..gradient_steps {
                    if !self.gradient_step(run, observer)? {
                        break;
                    }
                }
            }
        }

        // 5. Move the target network towards the online one (SB3 counts vector steps).
        let interval = (run.cfg.target.update_interval / n as u64).max(1);
        if self.vector_steps.is_multiple_of(interval) {
            self.learner.update_target(run.cfg.target.tau);
        }
        Ok(())
    }

    /// ε of ε-greedy exploration (0 with noisy nets: see [`DqnConfig::exploration`]).
    fn epsilon(&self, run: &RunState) -> f64 {
        run.cfg.exploration().epsilon(run.steps, run.episodes())
    }

    fn greedy_policy(&mut self) -> impl FnMut(&[f32]) -> usize + '_ {
        // Noisy nets act greedily on their mean weights.
        self.learner.remove_noise();
        |obs| self.learner.greedy_action(obs)
    }

    fn fits(&self, cfg: &DqnConfig, env: &E) -> bool {
        let space = env.observation_space();
        let augment_fits = match (&self.augment, augmentation_shape(cfg, &space)) {
            (None, None) => true,
            (Some(a), Some(Ok(shape))) => a.fits(shape),
            _ => false,
        };
        self.learner.fits(cfg, &space, env.n_actions())
            && augment_fits
            && self.envs.num_envs() == cfg.run.n_envs
            && self.replay.fits(cfg, &space)
    }

    fn model(&self) -> Model {
        self.learner.model()
    }

    fn target_model(&self) -> Option<Model> {
        self.learner.target_model()
    }

    /// What [`OffPolicy::step`] reads from the config at every step, besides ε's schedule.
    const LIVE_KEYS: &'static [&'static str] = &[
        "learning_rate",
        "learning_rate_schedule",
        "learning_starts",
        "random_warmup",
        "train_freq",
        "gradient_steps",
        "target_update_interval",
        "tau",
        "clip_reward",
        "terminal_on_life_loss",
    ];

    fn restart_episodes(
        &mut self,
        _cfg: &DqnConfig,
        _restart_counters: bool,
        seed: Option<u64>,
    ) -> Result<(), TrainError> {
        self.envs.reset(seed);
        self.replay.cut_episodes();
        // Rebuilt from the new episodes' first observations at the next step.
        self.scratch = None;
        Ok(())
    }

    fn load_model(&mut self, model: &Model, _cfg: &DqnConfig) -> Result<(), TrainError> {
        Ok(self.learner.load_model(model)?)
    }

    fn replay(&self) -> Option<&Replay> {
        Some(&self.replay)
    }

    fn last_step(&self) -> Option<LastStep<'_>> {
        self.scratch.as_ref().map(|s| LastStep {
            new_obs: &s.obs,
            actions: &s.actions,
            rewards: &s.rewards,
        })
    }

    fn set_replay(&mut self, replay: Replay, cfg: &DqnConfig, env: &E) -> bool {
        let fits = replay.fits(cfg, &env.observation_space());
        if fits {
            self.replay = replay;
        }
        fits
    }
}

/// The augmentation `cfg` asks for on observations of `space`, with its own random stream.
fn augmentation(cfg: &DqnConfig, space: &Space) -> Result<Option<RandomShift>, ConfigError> {
    augmentation_shape(cfg, space)
        .transpose()
        .map(|shape| shape.map(|s| RandomShift::new(s, stream_rng(cfg.run.seed, Stream::Augment))))
}

/// The image shape an augmentation applies to: None without one, an error when the
/// observations are not images.
fn augmentation_shape(cfg: &DqnConfig, space: &Space) -> Option<Result<[usize; 3], ConfigError>> {
    match (cfg.replay.augmentation, space) {
        (Augmentation::None, _) => None,
        (Augmentation::RandomShift, Space::Image { shape, .. }) => Some(Ok(*shape)),
        (Augmentation::RandomShift, other) => Some(Err(ConfigError(format!(
            "invalid value \"random_shift\" for 'augmentation': it shifts images, and {} gives observations of {other}",
            cfg.run.env
        )))),
    }
}

/// A reward clipped to its sign: −1, 0 or 1 (0 for NaN, which no env may give).
fn clip_to_sign(reward: f64) -> f64 {
    if reward > 0.0 {
        1.0
    } else if reward < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// `γʰ` for the horizons `h = 0..=n_steps` of (n-step) returns, each computed in f64 and
/// rounded once.
pub(crate) fn discount_powers<T: Scalar>(gamma: f64, n_steps: usize) -> Vec<T> {
    (0..=n_steps.max(1))
        .map(|h| T::from_f64(gamma.powi(h as i32)))
        .collect()
}

/// Each sample's bootstrap factor: `γ^horizon` (`gamma_pows[horizon]`), or 0 where the
/// episode terminated, or was truncated and truncation does not bootstrap.
pub(crate) fn bootstrap_discounts<T: Scalar>(
    batch: &Batch<T>,
    gamma_pows: &[T],
    bootstrap_on_truncation: bool,
    discounts: &mut [T],
) {
    for (i, d) in discounts.iter_mut().enumerate() {
        let stops = batch.terminated[i] || (batch.truncated[i] && !bootstrap_on_truncation);
        let horizon = batch.horizons.get(i).map_or(1, |&h| usize::from(h));
        *d = if stops { T::ZERO } else { gamma_pows[horizon] };
    }
}

/// Moves `target` towards `online`: a copy when `tau` is 1, else Polyak averaging.
pub(crate) fn sync_target<T: Scalar>(target: Option<&mut Mlp<T>>, online: &Mlp<T>, tau: f64) {
    if let Some(target) = target {
        if tau >= 1.0 {
            target.copy_params_from(online);
        } else {
            polyak_update(target.params_mut(), online.params(), T::from_f64(tau));
        }
    }
}
