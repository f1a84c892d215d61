//! The training configuration: one flat set of keys named after Stable-Baselines3's
//! arguments, so configs carry over from SB3 and RL Zoo.
//!
//! A [`DqnConfig`] is built from defaults (SB3's, where SB3 has the option), then overridden
//! from TOML tables with [`DqnConfig::apply_toml`] (which also expands the `rainbow`
//! shorthand), and checked with [`DqnConfig::validate`] (in `validate.rs`, one function per
//! concern). The keys are flat, as SB3's are; the struct groups them by concern: the run, the
//! network, the optimizer, DQN's replay and target network, Rainbow's parts, PQN's rollouts,
//! exploration, and evaluation.

use std::fmt;

use deepq_envs::Kwargs;
use deepq_nn::{Arch, ConvLayer, Loss, OptimizerConfig};
use serde::{Deserialize, Serialize};

use crate::schedule::{ExplorationKind, ExplorationSchedule};

/// Why a configuration was refused: one line naming the key, the bad value and what is allowed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl ConfigError {
    fn invalid(key: &str, value: impl fmt::Display, allowed: &str) -> Self {
        ConfigError(format!("invalid value {value} for '{key}': {allowed}"))
    }
}

/// A number of environment steps or of finished episodes (SB3's `train_freq` form).
///
/// In TOML it is either an integer, counting steps (`train_freq = 4`), or SB3's tuple form
/// (`train_freq = [1, "episode"]`, `eval_freq = [100, "episode"]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Count {
    /// How many units.
    pub n: u64,
    /// Whether `n` counts environment steps or finished episodes.
    pub unit: Unit,
}

/// The unit of a [`Count`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    /// Environment steps (each copy of a vector env counts).
    Step,
    /// Finished episodes.
    Episode,
}

impl Count {
    /// `n` environment steps.
    pub const fn steps(n: u64) -> Self {
        Count {
            n,
            unit: Unit::Step,
        }
    }

    /// `n` finished episodes.
    pub const fn episodes(n: u64) -> Self {
        Count {
            n,
            unit: Unit::Episode,
        }
    }

    /// The value of a (steps, episodes) pair in this count's unit.
    pub fn of(&self, steps: u64, episodes: u64) -> u64 {
        match self.unit {
            Unit::Step => steps,
            Unit::Episode => episodes,
        }
    }
}

impl Serialize for Count {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.unit {
            Unit::Step => s.serialize_u64(self.n),
            Unit::Episode => (self.n, Unit::Episode).serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Steps(u64),
            Tuple(u64, Unit),
        }
        match Repr::deserialize(d) {
            Ok(Repr::Steps(n)) => Ok(Count::steps(n)),
            Ok(Repr::Tuple(n, unit)) => Ok(Count { n, unit }),
            Err(_) => Err(serde::de::Error::custom(
                "expected a step count such as 4, or [n, \"step\"|\"episode\"]",
            )),
        }
    }
}

/// The network's floating-point type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    /// 32-bit floats: the default, and what PyTorch uses.
    F32,
    /// 64-bit floats, for set-ups that ran a float64 (Keras) network.
    F64,
}

/// The optimizer family; its hyperparameters come from the `learning_rate`, `optimizer_*`,
/// `weight_decay` and `momentum` keys, with PyTorch's defaults for the rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// torch.optim.Adam (SB3's default).
    Adam,
    /// torch.optim.AdamW (decoupled weight decay, default 0.01).
    AdamW,
    /// torch.optim.NAdam.
    NAdam,
    /// torch.optim.RAdam (PQN's optimizer).
    RAdam,
    /// torch.optim.RMSprop.
    RmsProp,
    /// torch.optim.SGD, optionally with momentum.
    Sgd,
}

/// The learning algorithm; each is a module of [`crate::algorithms`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    /// Deep Q-learning (every env), with Rainbow's parts.
    Dqn,
    /// QR-DQN (Dabney et al. 2018): `n_quantiles` quantiles of each action's return,
    /// learned with the quantile Huber loss, as sb3-contrib's `QRDQN`.
    QrDqn,
    /// IQN (Dabney et al. 2018b): quantiles at sampled fractions τ through a cosine
    /// τ-embedding, as Dopamine's implicit quantile agent.
    Iqn,
    /// Parallel Q-learning (Gallici et al. 2025): λ-returns over short rollouts of many
    /// vectorized envs, no replay, no target network.
    Pqn,
    /// One-step Q-learning on a table (discrete observation spaces only).
    Tabular,
}

impl Algorithm {
    /// Every algorithm, in the order the docs list them.
    pub const ALL: [Algorithm; 5] = [
        Algorithm::Dqn,
        Algorithm::QrDqn,
        Algorithm::Iqn,
        Algorithm::Pqn,
        Algorithm::Tabular,
    ];

    /// The name the `algorithm` key takes.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Dqn => "dqn",
            Algorithm::QrDqn => "qrdqn",
            Algorithm::Iqn => "iqn",
            Algorithm::Pqn => "pqn",
            Algorithm::Tabular => "tabular",
        }
    }
}

/// How the learning rate changes over a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LearningRateSchedule {
    /// `learning_rate` throughout.
    Constant,
    /// Linearly down to 0 over the run: for PQN, at the run's last gradient step (PQN's
    /// `LR_LINEAR_DECAY`); for the off-policy learners, SB3's `learning_rate ·
    /// progress_remaining` with progress counted in environment steps and set before each
    /// training phase (RL Zoo's `lin_<lr>`).
    Linear,
}

/// Every option of a DQN run. Field names are the config keys.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DqnConfig {
    /// `"dqn"`, `"qrdqn"`, `"iqn"`, `"pqn"`, or `"tabular"` Q-learning (which uses `learning_rate` as α,
    /// `gamma`, the ε schedule, the budget and the evaluation keys).
    pub algorithm: Algorithm,
    /// Gymnasium id of the environment, e.g. `"CartPole-v1"`.
    pub env: String,
    /// Keyword arguments for `make`, e.g. `{ is_slippery = false }`.
    pub env_kwargs: Kwargs,
    /// Number of vectorized copies that collect experience (auto-reset).
    pub n_envs: usize,
    /// Seed for env resets, exploration, replay sampling and network initialisation.
    pub seed: u64,
    /// Stop after this many environment steps (every copy of a vector env counts).
    pub total_timesteps: u64,
    /// Also stop after this many finished episodes, when set.
    pub episodes: Option<u64>,

    /// Convolutional layers in front of the MLP, for image observations: one
    /// `[filters, kernel, stride]` or `[filters, kernel, stride, padding]` per `Conv2d` + ReLU
    /// layer (square kernels; padding 0 when left out). Empty for flat observations.
    /// MinAtar's network is `cnn = [[16, 3, 1]]` with `net_arch = [128]`; Nature DQN's
    /// `cnn = [[32, 8, 4], [64, 4, 2], [64, 3, 1]]` with `net_arch = [512]`.
    pub cnn: Vec<Vec<usize>>,
    /// Hidden layer widths of the Q-network MLP.
    pub net_arch: Vec<usize>,
    /// LayerNorm (with affine weight and bias, ε = 1e-5 as PyTorch's) after each hidden
    /// linear layer, before its ReLU, and after each conv layer over each pixel's channels:
    /// PQN's networks.
    pub layer_norm: bool,
    /// Floating-point type of the network.
    pub dtype: Dtype,
    /// Optimizer family.
    pub optimizer: OptimizerKind,
    /// Learning rate.
    pub learning_rate: f64,
    /// `"constant"`, or `"linear"` decay to 0 over the run (see [`LearningRateSchedule`]).
    pub learning_rate_schedule: LearningRateSchedule,
    /// Adam-family betas; PyTorch's (0.9, 0.999) when unset.
    pub optimizer_betas: Option<[f64; 2]>,
    /// Optimizer epsilon; PyTorch's default when unset (for QR-DQN's Adam, sb3-contrib's
    /// 0.01/`batch_size`).
    pub optimizer_eps: Option<f64>,
    /// L2 (or, for AdamW, decoupled) weight decay; PyTorch's default when unset.
    pub weight_decay: Option<f64>,
    /// Momentum for SGD and RMSprop.
    pub momentum: f64,
    /// RMSprop smoothing constant; PyTorch's 0.99 when unset.
    pub rmsprop_alpha: Option<f64>,
    /// PyTorch's `centered` RMSprop: normalise by the variance of the gradient (its squared
    /// average minus its squared mean) rather than its squared average, as DQN's and
    /// MinAtar's RMSprop do.
    pub rmsprop_centered: bool,
    /// Loss on the TD error: `"huber"` (SB3's smooth L1) or `"mse"`.
    pub loss: Loss,
    /// Global gradient-norm clip; `inf` disables clipping.
    pub max_grad_norm: f64,

    /// Replay capacity in transitions.
    pub buffer_size: usize,
    /// Learn from replayed transitions; `false` learns from the latest transition(s) only.
    pub replay: bool,
    /// Sample replay batches with replacement (SB3) or without (the PyTorch tutorials).
    pub replay_with_replacement: bool,
    /// Sample whole vector steps (all `n_envs` transitions stored together) instead of single
    /// transitions; `batch_size` must then be a multiple of `n_envs`.
    pub sample_vector_steps: bool,
    /// Transitions per gradient step.
    pub batch_size: usize,
    /// Steps (or `[n, "episode"]`) collected before the first gradient step.
    pub learning_starts: Count,
    /// Act uniformly at random until learning starts (SB3); `false` acts ε-greedily throughout.
    pub random_warmup: bool,
    /// How often to train: every `n` steps, or `[n, "episode"]`.
    pub train_freq: Count,
    /// Gradient steps per training phase; -1 means as many as environment steps collected.
    pub gradient_steps: i64,
    /// Discount factor.
    pub gamma: f64,

    /// Keep a separate target network; `false` computes targets with the online network.
    pub target_network: bool,
    /// Environment steps between target updates.
    pub target_update_interval: u64,
    /// Polyak coefficient of target updates; 1.0 is a hard copy.
    pub tau: f64,
    /// Double DQN: the online network chooses the next action, the target network values it.
    pub double_q: bool,
    /// Regress max_a Q(s, a) instead of Q(s, a_taken): the naive learner's mistake, kept to
    /// demonstrate it.
    pub regress_max_q: bool,
    /// Bootstrap from the next state when an episode is truncated by a time limit. `false`
    /// treats truncation like termination, as set-ups built on the old `done` flag did.
    pub bootstrap_on_truncation: bool,

    /// Dueling head: value and advantage streams combined as V + (A − mean A).
    pub dueling: bool,
    /// Noisy nets: every linear layer becomes a factorised Gaussian NoisyLinear layer and
    /// exploration comes from its noise (resampled every step and every update) instead of
    /// ε-greedy; evaluation acts greedily on the mean weights.
    pub noisy: bool,
    /// σ0 of the noisy layers' initial σ = σ0/√fan_in.
    pub noisy_sigma0: f64,
    /// Atoms of the C51 return distribution; 1 means scalar Q-values. With more, the loss is
    /// the cross-entropy to the projected target distribution and `loss` is not used.
    pub atoms: usize,
    /// The smallest C51 atom.
    pub v_min: f64,
    /// The largest C51 atom.
    pub v_max: f64,
    /// Steps summed into each return before bootstrapping (n-step returns).
    pub n_steps: usize,
    /// QR-DQN: quantiles of each action's return (sb3-contrib's `n_quantiles`).
    pub n_quantiles: usize,
    /// IQN: fractions τ sampled for the online quantiles of each update (Dopamine's
    /// `num_tau_samples`, N).
    pub num_tau_samples: usize,
    /// IQN: fractions τ′ sampled for the target quantiles (`num_tau_prime_samples`, N′).
    pub num_tau_prime_samples: usize,
    /// IQN: fractions an action averages over (`num_quantile_samples`, K): sampled when
    /// acting in training and choosing the target's next action, evenly spaced in greedy
    /// evaluation.
    pub num_quantile_samples: usize,
    /// IQN: cosines of the τ-embedding, `cos(π·i·τ)` for `i = 1..=quantile_embedding_dim`.
    pub quantile_embedding_dim: usize,
    /// Munchausen RL (Vieillard et al. 2020), M-DQN with `algorithm = "dqn"` and M-IQN with
    /// `"iqn"`: add `munchausen_alpha · clip(τ·log π(a|s), munchausen_clip, 0)` to the reward
    /// and bootstrap from the soft value `Σ π(a'|s′)·(q(s′, a') − τ·log π(a'|s′))`, with
    /// `π = softmax(q_target/τ)`.
    pub munchausen: bool,
    /// Munchausen: α, the scale of the log-policy bonus (the paper's 0.9).
    pub munchausen_alpha: f64,
    /// Munchausen: τ, the entropy temperature (the paper's 0.03).
    pub munchausen_tau: f64,
    /// Munchausen: l₀, the lower clip of `τ·log π` (the paper's −1).
    pub munchausen_clip: f64,
    /// Proportional prioritized experience replay (Schaul et al. 2016).
    pub prioritized_replay: bool,
    /// Priority exponent α (0 samples uniformly).
    pub prioritized_replay_alpha: f64,
    /// Initial importance-sampling exponent β, annealed linearly to 1 over `total_timesteps`.
    pub prioritized_replay_beta0: f64,
    /// Added to |TD error| (or to the C51 cross-entropy) to form a priority.
    pub prioritized_replay_eps: f64,

    /// PQN: steps each environment copy takes per rollout (PQN's `NUM_STEPS`).
    pub rollout_steps: usize,
    /// PQN: passes over each rollout (`NUM_EPOCHS`).
    pub n_epochs: usize,
    /// PQN: minibatches per pass; they must divide `n_envs × rollout_steps` (`NUM_MINIBATCHES`).
    pub n_minibatches: usize,
    /// PQN: λ of the Q(λ) returns (`LAMBDA`).
    pub q_lambda: f64,
    /// PQN: factor applied to rewards before they enter the targets (`REW_SCALE`); logged
    /// returns stay unscaled.
    pub reward_scale: f64,

    /// Shape of the exploration schedule.
    pub exploration_schedule: ExplorationKind,
    /// Initial ε (and the fixed ε of the constant schedule).
    pub exploration_initial_eps: f64,
    /// Final ε (the floor of the episode-linear schedule).
    pub exploration_final_eps: f64,
    /// Fraction of `total_timesteps` over which the linear schedule anneals ε.
    pub exploration_fraction: f64,
    /// Time constant in steps of the exponential schedule.
    pub exploration_decay_steps: f64,
    /// Episodes over which the episode-linear schedule falls by 1.
    pub exploration_decay_episodes: f64,

    /// Steps (or `[n, "episode"]`) between periodic greedy evaluations; 0 disables them.
    pub eval_freq: Count,
    /// Episodes per periodic evaluation.
    pub eval_episodes: usize,
    /// Episodes of the final greedy evaluation.
    pub final_eval_episodes: usize,
    /// Steps after which an evaluation episode is cut, if neither a terminal state nor the
    /// environment's own time limit has ended it; a cut episode counts as truncated, and
    /// evaluations report how many were cut. It bounds every evaluation (periodic, final,
    /// `deepq eval`, `deepq play`, `evaluate_policy`), which an environment without a time
    /// limit (MinAtar) and a policy that never ends an episode would otherwise never finish.
    /// The default, 27,000, is the longest published evaluation episode: Dopamine's and
    /// Machado et al.'s 108,000 Atari frames at 4 frames per agent step (MinAtar's gymnax
    /// port uses 1,000 steps). Training progress and the summary also flag a training episode
    /// that runs past it.
    pub eval_max_episode_steps: u64,
    /// Steps (or `[n, "episode"]`) between checkpoints; 0 writes one only when training
    /// stops (at its end or on Ctrl-C).
    pub checkpoint_freq: Count,
    /// End training at the first periodic evaluation whose mean reaches the environment's
    /// reward threshold, or `stop_reward_threshold` when set (SB3's
    /// `StopTrainingOnRewardThreshold`).
    pub stop_on_solve: bool,
    /// The mean a periodic evaluation must reach for `stop_on_solve` to end training; the
    /// environment's reward threshold when unset. A margin above the threshold makes it
    /// likelier that the final, longer evaluation passes too.
    pub stop_reward_threshold: Option<f64>,
    /// Updates between two loss/Q-value records.
    pub log_interval: u64,
    /// Episodes in the rolling mean of the returns plots (a run's, and the mean over seeds
    /// that `--seeds` and `deepq ablate` draw). It does not change progress reports: their
    /// mean return ([`Progress::mean_return_100`](crate::observer::Progress::mean_return_100),
    /// shown by the progress bar) is always over the last 100 episodes.
    pub rolling_window: usize,
}

impl Default for DqnConfig {
    fn default() -> Self {
        DqnConfig {
            algorithm: Algorithm::Dqn,
            env: "CartPole-v1".into(),
            env_kwargs: Kwargs::new(),
            n_envs: 1,
            seed: 0,
            total_timesteps: 100_000,
            episodes: None,
            cnn: Vec::new(),
            net_arch: vec![64, 64],
            layer_norm: false,
            dtype: Dtype::F32,
            optimizer: OptimizerKind::Adam,
            learning_rate: 1e-4,
            learning_rate_schedule: LearningRateSchedule::Constant,
            optimizer_betas: None,
            optimizer_eps: None,
            weight_decay: None,
            momentum: 0.0,
            rmsprop_alpha: None,
            rmsprop_centered: false,
            loss: Loss::Huber,
            max_grad_norm: 10.0,
            buffer_size: 1_000_000,
            replay: true,
            replay_with_replacement: true,
            sample_vector_steps: false,
            batch_size: 32,
            learning_starts: Count::steps(100),
            random_warmup: true,
            train_freq: Count::steps(4),
            gradient_steps: 1,
            gamma: 0.99,
            target_network: true,
            target_update_interval: 10_000,
            tau: 1.0,
            double_q: false,
            regress_max_q: false,
            bootstrap_on_truncation: true,
            dueling: false,
            noisy: false,
            noisy_sigma0: 0.5,
            atoms: 1,
            v_min: -10.0,
            v_max: 10.0,
            n_steps: 1,
            n_quantiles: 200,
            num_tau_samples: 64,
            num_tau_prime_samples: 64,
            num_quantile_samples: 32,
            quantile_embedding_dim: 64,
            munchausen: false,
            munchausen_alpha: 0.9,
            munchausen_tau: 0.03,
            munchausen_clip: -1.0,
            prioritized_replay: false,
            prioritized_replay_alpha: 0.6,
            prioritized_replay_beta0: 0.4,
            prioritized_replay_eps: 1e-6,
            rollout_steps: 64,
            n_epochs: 4,
            n_minibatches: 16,
            q_lambda: 0.95,
            reward_scale: 1.0,
            exploration_schedule: ExplorationKind::Linear,
            exploration_initial_eps: 1.0,
            exploration_final_eps: 0.05,
            exploration_fraction: 0.1,
            exploration_decay_steps: 1000.0,
            exploration_decay_episodes: 500.0,
            eval_freq: Count::steps(10_000),
            eval_episodes: 10,
            final_eval_episodes: 100,
            eval_max_episode_steps: DEFAULT_EVAL_MAX_EPISODE_STEPS,
            checkpoint_freq: Count::steps(50_000),
            stop_on_solve: false,
            stop_reward_threshold: None,
            log_interval: 100,
            rolling_window: 100,
        }
    }
}

/// The default `eval_max_episode_steps`: 108,000 Atari frames (Machado et al. 2018, Dopamine)
/// at 4 frames per agent step.
pub const DEFAULT_EVAL_MAX_EPISODE_STEPS: u64 = 27_000;

/// ε of the LayerNorm layers: PyTorch's default.
pub const LAYER_NORM_EPS: f64 = 1e-5;

/// The largest `atoms`.
pub const MAX_ATOMS: usize = 1001;

/// The largest `n_steps`.
pub const MAX_N_STEPS: usize = 1000;

/// The largest `n_quantiles`.
pub const MAX_QUANTILES: usize = 10_000;

/// Every config key, for "did you mean" suggestions and documentation.
pub fn config_keys() -> Vec<String> {
    // Optional keys are omitted from TOML when unset, so list them from a config that sets them all.
    let all_set = DqnConfig {
        episodes: Some(1),
        optimizer_betas: Some([0.9, 0.999]),
        optimizer_eps: Some(1e-8),
        weight_decay: Some(0.0),
        rmsprop_alpha: Some(0.99),
        stop_reward_threshold: Some(0.0),
        ..DqnConfig::default()
    };
    let mut keys: Vec<String> = to_table(&all_set).keys().cloned().collect();
    keys.push(RAINBOW_KEY.to_string());
    keys
}

/// The Rainbow shorthand (Hessel et al. 2018), a key that is read but not stored: `rainbow =
/// true` turns on `dueling`, `noisy`, `prioritized_replay` and `double_q` and sets `n_steps`
/// to 3 and `atoms` to 51 where they are 1; the same table's other keys may then tune a
/// component but not switch one off. `rainbow = false` switches all six off if they are all
/// on (a Rainbow config), and does nothing otherwise.
const RAINBOW_KEY: &str = "rainbow";

fn to_table(cfg: &DqnConfig) -> toml::Table {
    match toml::Value::try_from(cfg) {
        Ok(toml::Value::Table(t)) => t,
        _ => unreachable!("DqnConfig serializes to a table"),
    }
}

impl DqnConfig {
    /// The keys set away from their defaults that only other algorithms read, in
    /// [`Algorithm::ALL`]'s order (what the algorithms declare: `algorithms::own_keys`).
    pub fn foreign_keys(&self) -> Vec<&'static str> {
        let defaults = to_table(&DqnConfig::default());
        let mine = to_table(self);
        let mine_reads = crate::algorithms::own_keys(self.algorithm);
        let mut found = Vec::new();
        for other in Algorithm::ALL {
            for key in crate::algorithms::own_keys(other) {
                if !mine_reads.contains(&key)
                    && mine.get(key) != defaults.get(key)
                    && !found.contains(&key)
                {
                    found.push(key);
                }
            }
        }
        found
    }

    /// Resets to their defaults the keys that only other algorithms read, except those
    /// `keep` names; returns the keys reset. When a run switches a preset's algorithm
    /// (`--set algorithm=iqn` on a DQN preset), the preset's settings for its own algorithm
    /// do not carry over, while a key the user set still meets validation.
    pub fn reset_foreign_keys(&mut self, keep: impl Fn(&str) -> bool) -> Vec<&'static str> {
        let defaults = to_table(&DqnConfig::default());
        let reset: Vec<&'static str> = self
            .foreign_keys()
            .into_iter()
            .filter(|key| !keep(key))
            .collect();
        let table: toml::Table = reset
            .iter()
            .map(|&key| (key.to_string(), defaults[key].clone()))
            .collect();
        self.apply_toml(&table)
            .expect("every default value is a valid value");
        reset
    }

    /// Overrides fields from a TOML table of flat keys (a config file, or `--set` pairs).
    /// Unknown keys and values of the wrong type are errors naming the key.
    pub fn apply_toml(&mut self, overrides: &toml::Table) -> Result<(), ConfigError> {
        let known = config_keys();
        for key in overrides.keys() {
            if !known.iter().any(|k| k == key) {
                return Err(unknown_key_error(key, &known));
            }
        }
        let mut overrides = overrides.clone();
        let rainbow = overrides.remove(RAINBOW_KEY);
        for (key, value) in &overrides {
            // Check key by key first, so an error names the offending key and value.
            let mut single = to_table(&DqnConfig::default());
            single.insert(key.clone(), value.clone());
            if let Err(e) = DqnConfig::deserialize(toml::Value::Table(single)) {
                return Err(ConfigError(format!(
                    "invalid value {value} for '{key}': {}",
                    first_line(e.message())
                )));
            }
        }
        // The shorthand first, so that the table's other keys can adjust its components.
        match rainbow {
            None => {}
            Some(toml::Value::Boolean(true)) => {
                self.set_rainbow_components(true);
                rainbow_keeps_every_component(&overrides)?;
            }
            Some(toml::Value::Boolean(false)) if self.is_rainbow() => {
                self.set_rainbow_components(false);
            }
            Some(toml::Value::Boolean(false)) => {}
            Some(other) => {
                return Err(ConfigError::invalid(
                    RAINBOW_KEY,
                    other,
                    "expected true or false",
                ));
            }
        }
        let mut merged = to_table(self);
        merged.extend(overrides);
        *self = DqnConfig::deserialize(toml::Value::Table(merged))
            .map_err(|e| ConfigError(first_line(e.message()).to_string()))?;
        Ok(())
    }

    /// Switches every Rainbow component on (`n_steps` 3 and `atoms` 51 where they are 1) or
    /// off: what the `rainbow` key does.
    pub fn set_rainbow_components(&mut self, on: bool) {
        self.dueling = on;
        self.noisy = on;
        self.prioritized_replay = on;
        self.double_q = on;
        if on {
            if self.n_steps <= 1 {
                self.n_steps = 3;
            }
            if self.atoms <= 1 {
                self.atoms = 51;
            }
        } else {
            self.n_steps = 1;
            self.atoms = 1;
        }
    }

    /// Whether all six Rainbow components are on.
    pub fn is_rainbow(&self) -> bool {
        self.dueling
            && self.noisy
            && self.prioritized_replay
            && self.double_q
            && self.n_steps > 1
            && self.atoms > 1
    }

    /// The convolutional layers of `cnn`; `validate` has checked each entry's form.
    pub fn conv_layers(&self) -> Vec<ConvLayer> {
        self.cnn
            .iter()
            .map(|layer| ConvLayer {
                filters: layer[0],
                kernel: layer[1],
                stride: layer[2],
                padding: layer.get(3).copied().unwrap_or(0),
            })
            .collect()
    }

    /// The network head this config asks for.
    pub fn arch(&self) -> Arch {
        Arch {
            dueling: self.dueling,
            noisy: self.noisy,
            atoms: self.atoms,
            v_min: self.v_min,
            v_max: self.v_max,
            layer_norm: self.layer_norm,
            layer_norm_eps: LAYER_NORM_EPS,
            quantiles: if self.algorithm == Algorithm::QrDqn {
                self.n_quantiles
            } else {
                1
            },
        }
    }

    /// The resolved configuration as TOML, loadable again with [`DqnConfig::apply_toml`].
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("DqnConfig serializes to TOML")
    }

    /// The optimizer this config asks for, with PyTorch's defaults for unset options.
    pub fn optimizer_config(&self) -> OptimizerConfig {
        let lr = self.learning_rate;
        let mut cfg = match self.optimizer {
            // sb3-contrib's QRDQN gives Adam ε = 0.01/batch_size (the QR-DQN paper's, for
            // batch 32) unless the optimizer is set.
            OptimizerKind::Adam if self.algorithm == Algorithm::QrDqn => {
                let mut adam = OptimizerConfig::adam(lr);
                if let OptimizerConfig::Adam { eps, .. } = &mut adam {
                    *eps = 0.01 / self.batch_size as f64;
                }
                adam
            }
            OptimizerKind::Adam => OptimizerConfig::adam(lr),
            OptimizerKind::AdamW => OptimizerConfig::adamw(lr),
            OptimizerKind::NAdam => OptimizerConfig::nadam(lr),
            OptimizerKind::RAdam => OptimizerConfig::radam(lr),
            OptimizerKind::RmsProp => OptimizerConfig::rmsprop(lr),
            OptimizerKind::Sgd => OptimizerConfig::sgd(lr),
        };
        match &mut cfg {
            OptimizerConfig::Adam {
                beta1,
                beta2,
                eps,
                weight_decay,
                ..
            }
            | OptimizerConfig::AdamW {
                beta1,
                beta2,
                eps,
                weight_decay,
                ..
            }
            | OptimizerConfig::NAdam {
                beta1,
                beta2,
                eps,
                weight_decay,
                ..
            }
            | OptimizerConfig::RAdam {
                beta1,
                beta2,
                eps,
                weight_decay,
                ..
            } => {
                if let Some([b1, b2]) = self.optimizer_betas {
                    (*beta1, *beta2) = (b1, b2);
                }
                *eps = self.optimizer_eps.unwrap_or(*eps);
                *weight_decay = self.weight_decay.unwrap_or(*weight_decay);
            }
            OptimizerConfig::RmsProp {
                alpha,
                eps,
                weight_decay,
                momentum,
                centered,
                ..
            } => {
                *centered = self.rmsprop_centered;
                *alpha = self.rmsprop_alpha.unwrap_or(*alpha);
                *eps = self.optimizer_eps.unwrap_or(*eps);
                *weight_decay = self.weight_decay.unwrap_or(*weight_decay);
                *momentum = self.momentum;
            }
            OptimizerConfig::Sgd {
                weight_decay,
                momentum,
                ..
            } => {
                *weight_decay = self.weight_decay.unwrap_or(*weight_decay);
                *momentum = self.momentum;
            }
        }
        cfg
    }

    /// Whether a periodic evaluation with this mean ends training: `stop_on_solve` is set and
    /// the mean reaches `stop_reward_threshold`, or else the environment's threshold.
    pub fn stops_at(&self, eval_mean: f64, env_threshold: f64) -> bool {
        self.stop_on_solve && eval_mean >= self.stop_reward_threshold.unwrap_or(env_threshold)
    }

    /// The exploration schedule this config asks for.
    pub fn exploration(&self) -> ExplorationSchedule {
        ExplorationSchedule {
            kind: self.exploration_schedule,
            initial: self.exploration_initial_eps,
            final_eps: self.exploration_final_eps,
            fraction: self.exploration_fraction,
            total_timesteps: self.total_timesteps,
            decay_steps: self.exploration_decay_steps,
            decay_episodes: self.exploration_decay_episodes,
        }
    }
}

/// With `rainbow = true`, the same table may tune Rainbow's components but not switch one off.
fn rainbow_keeps_every_component(table: &toml::Table) -> Result<(), ConfigError> {
    for key in ["dueling", "noisy", "prioritized_replay", "double_q"] {
        if table.get(key) == Some(&toml::Value::Boolean(false)) {
            return Err(ConfigError(format!(
                "invalid value false for '{key}': rainbow = true turns every Rainbow component on; set rainbow = false to switch one off"
            )));
        }
    }
    for key in ["n_steps", "atoms"] {
        if let Some(value) = table.get(key).and_then(toml::Value::as_integer)
            && value <= 1
        {
            return Err(ConfigError(format!(
                "invalid value {value} for '{key}': rainbow = true needs it above 1; set rainbow = false to switch it off"
            )));
        }
    }
    Ok(())
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s).trim()
}

/// "unknown config key 'lerning_rate'; did you mean 'learning_rate'?" (or the list of keys).
fn unknown_key_error(key: &str, known: &[String]) -> ConfigError {
    let best = known
        .iter()
        .map(|k| (edit_distance(key, k), k))
        .min_by_key(|(d, _)| *d)
        .filter(|(d, k)| *d <= 2.max(k.len() / 4));
    match best {
        Some((_, k)) => ConfigError(format!("unknown config key '{key}'; did you mean '{k}'?")),
        None => {
            let mut sorted = known.to_vec();
            sorted.sort();
            ConfigError(format!(
                "unknown config key '{key}'; allowed keys: {}",
                sorted.join(", ")
            ))
        }
    }
}

/// Levenshtein distance, for key suggestions.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, &cb) in b.iter().enumerate() {
            let subst = prev[j] + usize::from(ca != cb);
            cur[j + 1] = subst.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests;
mod validate;
