//! The training configuration: one flat set of keys named after Stable-Baselines3's DQN
//! arguments, so configs carry over from SB3 and RL Zoo.
//!
//! A [`DqnConfig`] is built from defaults (SB3's, where SB3 has the option), then overridden
//! from TOML tables with [`DqnConfig::apply_toml`], and checked with [`DqnConfig::validate`].

use std::fmt;

use deepq_envs::Kwargs;
use deepq_nn::{Arch, Loss, OptimizerConfig};
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
    /// torch.optim.RMSprop.
    RmsProp,
    /// torch.optim.SGD, optionally with momentum.
    Sgd,
}

/// The learning algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    /// Deep Q-learning with an MLP (every env).
    Dqn,
    /// One-step Q-learning on a table (discrete observation spaces only).
    Tabular,
}

/// Every option of a DQN run. Field names are the config keys.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DqnConfig {
    /// `"dqn"`, or `"tabular"` Q-learning (which uses `learning_rate` as α, `gamma`, the ε
    /// schedule, the budget and the evaluation keys).
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

    /// Hidden layer widths of the Q-network MLP.
    pub net_arch: Vec<usize>,
    /// Floating-point type of the network.
    pub dtype: Dtype,
    /// Optimizer family.
    pub optimizer: OptimizerKind,
    /// Learning rate.
    pub learning_rate: f64,
    /// Adam-family betas; PyTorch's (0.9, 0.999) when unset.
    pub optimizer_betas: Option<[f64; 2]>,
    /// Optimizer epsilon; PyTorch's default when unset.
    pub optimizer_eps: Option<f64>,
    /// L2 (or, for AdamW, decoupled) weight decay; PyTorch's default when unset.
    pub weight_decay: Option<f64>,
    /// Momentum for SGD and RMSprop.
    pub momentum: f64,
    /// RMSprop smoothing constant; PyTorch's 0.99 when unset.
    pub rmsprop_alpha: Option<f64>,
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

    /// Shorthand for Rainbow (Hessel et al. 2018): setting it to `true` turns on `dueling`,
    /// `noisy`, `prioritized_replay` and `double_q`, sets `n_steps` to 3 and `atoms` to 51
    /// where they are 1; other keys of the same table (or later ones) may then change the
    /// settings of a component, but with `rainbow = true` none may be switched off. Setting
    /// it to `false` on a config where it was `true` switches all six off again.
    pub rainbow: bool,
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
    /// Proportional prioritized experience replay (Schaul et al. 2016).
    pub prioritized_replay: bool,
    /// Priority exponent α (0 samples uniformly).
    pub prioritized_replay_alpha: f64,
    /// Initial importance-sampling exponent β, annealed linearly to 1 over `total_timesteps`.
    pub prioritized_replay_beta0: f64,
    /// Added to |TD error| (or to the C51 cross-entropy) to form a priority.
    pub prioritized_replay_eps: f64,

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
    /// Episodes in the rolling mean of the returns plot and progress display.
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
            net_arch: vec![64, 64],
            dtype: Dtype::F32,
            optimizer: OptimizerKind::Adam,
            learning_rate: 1e-4,
            optimizer_betas: None,
            optimizer_eps: None,
            weight_decay: None,
            momentum: 0.0,
            rmsprop_alpha: None,
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
            rainbow: false,
            dueling: false,
            noisy: false,
            noisy_sigma0: 0.5,
            atoms: 1,
            v_min: -10.0,
            v_max: 10.0,
            n_steps: 1,
            prioritized_replay: false,
            prioritized_replay_alpha: 0.6,
            prioritized_replay_beta0: 0.4,
            prioritized_replay_eps: 1e-6,
            exploration_schedule: ExplorationKind::Linear,
            exploration_initial_eps: 1.0,
            exploration_final_eps: 0.05,
            exploration_fraction: 0.1,
            exploration_decay_steps: 1000.0,
            exploration_decay_episodes: 500.0,
            eval_freq: Count::steps(10_000),
            eval_episodes: 10,
            final_eval_episodes: 100,
            checkpoint_freq: Count::steps(50_000),
            stop_on_solve: false,
            stop_reward_threshold: None,
            log_interval: 100,
            rolling_window: 100,
        }
    }
}

/// The largest `atoms`.
pub const MAX_ATOMS: usize = 1001;

/// The largest `n_steps`.
pub const MAX_N_STEPS: usize = 1000;

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
    to_table(&all_set).keys().cloned().collect()
}

fn to_table(cfg: &DqnConfig) -> toml::Table {
    match toml::Value::try_from(cfg) {
        Ok(toml::Value::Table(t)) => t,
        _ => unreachable!("DqnConfig serializes to a table"),
    }
}

impl DqnConfig {
    /// Overrides fields from a TOML table of flat keys (a config file, or `--set` pairs).
    /// Unknown keys and values of the wrong type are errors naming the key.
    pub fn apply_toml(&mut self, overrides: &toml::Table) -> Result<(), ConfigError> {
        let known = config_keys();
        for key in overrides.keys() {
            if !known.iter().any(|k| k == key) {
                return Err(unknown_key_error(key, &known));
            }
        }
        for (key, value) in overrides {
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
        if let Some(toml::Value::Boolean(rainbow)) = overrides.get("rainbow") {
            if *rainbow {
                self.set_rainbow_components(true);
            } else if self.rainbow {
                self.set_rainbow_components(false);
            }
        }
        let mut merged = to_table(self);
        merged.extend(overrides.iter().map(|(k, v)| (k.clone(), v.clone())));
        *self = DqnConfig::deserialize(toml::Value::Table(merged))
            .map_err(|e| ConfigError(first_line(e.message()).to_string()))?;
        Ok(())
    }

    /// Switches every Rainbow component on (`n_steps` 3 and `atoms` 51 where they are 1) or
    /// off, and sets `rainbow` to match: what the `rainbow` key does.
    pub fn set_rainbow_components(&mut self, on: bool) {
        self.rainbow = on;
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

    /// The network head this config asks for.
    pub fn arch(&self) -> Arch {
        Arch {
            dueling: self.dueling,
            noisy: self.noisy,
            atoms: self.atoms,
            v_min: self.v_min,
            v_max: self.v_max,
        }
    }

    /// The resolved configuration as TOML, loadable again with [`DqnConfig::apply_toml`].
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("DqnConfig serializes to TOML")
    }

    /// Checks ranges and relations between keys; the error names the value and what is allowed.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let positive = |key: &str, v: f64| {
            if v > 0.0 && v.is_finite() {
                Ok(())
            } else {
                Err(ConfigError::invalid(key, v, "must be a finite number > 0"))
            }
        };
        positive("learning_rate", self.learning_rate)?;
        if !(0.0..=1.0).contains(&self.gamma) {
            return Err(ConfigError::invalid(
                "gamma",
                self.gamma,
                "must be in [0, 1]",
            ));
        }
        if !(self.tau > 0.0 && self.tau <= 1.0) {
            return Err(ConfigError::invalid("tau", self.tau, "must be in (0, 1]"));
        }
        if self.net_arch.is_empty() || self.net_arch.contains(&0) {
            return Err(ConfigError::invalid(
                "net_arch",
                format!("{:?}", self.net_arch),
                "must list at least one hidden layer width, each > 0, e.g. [64, 64]",
            ));
        }
        if self.n_envs == 0 {
            return Err(ConfigError::invalid("n_envs", 0, "must be at least 1"));
        }
        if self.batch_size == 0 {
            return Err(ConfigError::invalid("batch_size", 0, "must be at least 1"));
        }
        if self.buffer_size == 0 {
            return Err(ConfigError::invalid("buffer_size", 0, "must be at least 1"));
        }
        if self.replay && self.batch_size > self.buffer_size {
            return Err(ConfigError(format!(
                "invalid value {} for 'batch_size': must not exceed buffer_size ({})",
                self.batch_size, self.buffer_size
            )));
        }
        if self.total_timesteps == 0 {
            return Err(ConfigError::invalid(
                "total_timesteps",
                0,
                "must be at least 1",
            ));
        }
        if self.episodes == Some(0) {
            return Err(ConfigError::invalid("episodes", 0, "must be at least 1"));
        }
        if self.learning_starts.unit == Unit::Step && self.learning_starts.n > self.total_timesteps
        {
            return Err(ConfigError(format!(
                "invalid value {} for 'learning_starts': must not exceed total_timesteps ({})",
                self.learning_starts.n, self.total_timesteps
            )));
        }
        if self.train_freq.n == 0 {
            return Err(ConfigError::invalid("train_freq", 0, "must be at least 1"));
        }
        if self.sample_vector_steps
            && !(self.batch_size.is_multiple_of(self.n_envs)
                && self.buffer_size.is_multiple_of(self.n_envs))
        {
            return Err(ConfigError(format!(
                "invalid value true for 'sample_vector_steps': batch_size ({}) and buffer_size ({}) must be multiples of n_envs ({})",
                self.batch_size, self.buffer_size, self.n_envs
            )));
        }
        if self.gradient_steps == 0 || self.gradient_steps < -1 {
            return Err(ConfigError::invalid(
                "gradient_steps",
                self.gradient_steps,
                "must be a positive count, or -1 for as many as environment steps collected",
            ));
        }
        if self.target_update_interval == 0 {
            return Err(ConfigError::invalid(
                "target_update_interval",
                0,
                "must be at least 1",
            ));
        }
        if self.max_grad_norm.is_nan() || self.max_grad_norm <= 0.0 {
            return Err(ConfigError::invalid(
                "max_grad_norm",
                self.max_grad_norm,
                "must be > 0 (use inf to disable clipping)",
            ));
        }
        for (key, v) in [
            ("exploration_initial_eps", self.exploration_initial_eps),
            ("exploration_final_eps", self.exploration_final_eps),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(ConfigError::invalid(key, v, "must be in [0, 1]"));
            }
        }
        if !(self.exploration_fraction > 0.0 && self.exploration_fraction <= 1.0) {
            return Err(ConfigError::invalid(
                "exploration_fraction",
                self.exploration_fraction,
                "must be in (0, 1]",
            ));
        }
        positive("exploration_decay_steps", self.exploration_decay_steps)?;
        positive(
            "exploration_decay_episodes",
            self.exploration_decay_episodes,
        )?;
        if let Some(eps) = self.optimizer_eps {
            positive("optimizer_eps", eps)?;
        }
        if let Some([b1, b2]) = self.optimizer_betas
            && !((0.0..1.0).contains(&b1) && (0.0..1.0).contains(&b2))
        {
            return Err(ConfigError::invalid(
                "optimizer_betas",
                format!("[{b1}, {b2}]"),
                "both must be in [0, 1)",
            ));
        }
        if self.weight_decay.is_some_and(|w| w.is_nan() || w < 0.0) {
            return Err(ConfigError::invalid(
                "weight_decay",
                self.weight_decay.unwrap_or_default(),
                "must be >= 0",
            ));
        }
        if let Some(alpha) = self.rmsprop_alpha
            && !(0.0..=1.0).contains(&alpha)
        {
            return Err(ConfigError::invalid(
                "rmsprop_alpha",
                alpha,
                "must be in [0, 1]",
            ));
        }
        if self.momentum.is_nan() || self.momentum < 0.0 {
            return Err(ConfigError::invalid(
                "momentum",
                self.momentum,
                "must be >= 0",
            ));
        }
        if self.final_eval_episodes == 0 {
            return Err(ConfigError::invalid(
                "final_eval_episodes",
                0,
                "must be at least 1",
            ));
        }
        if self.stop_on_solve && self.eval_freq.n == 0 {
            return Err(ConfigError(
                "invalid value true for 'stop_on_solve': needs periodic evaluations (eval_freq > 0)".into(),
            ));
        }
        if let Some(threshold) = self.stop_reward_threshold
            && !threshold.is_finite()
        {
            return Err(ConfigError::invalid(
                "stop_reward_threshold",
                threshold,
                "must be a finite number",
            ));
        }
        if self.eval_freq.n > 0 && self.eval_episodes == 0 {
            return Err(ConfigError::invalid(
                "eval_episodes",
                0,
                "must be at least 1 when eval_freq > 0",
            ));
        }
        if self.rolling_window == 0 {
            return Err(ConfigError::invalid(
                "rolling_window",
                0,
                "must be at least 1",
            ));
        }
        if self.log_interval == 0 {
            return Err(ConfigError::invalid(
                "log_interval",
                0,
                "must be at least 1",
            ));
        }
        self.validate_rainbow()?;
        self.optimizer_config().validate().map_err(|e| {
            ConfigError(format!(
                "invalid optimizer settings for '{:?}': {e}",
                self.optimizer
            ))
        })?;
        Ok(())
    }

    /// Checks the Rainbow component keys and how they combine with the rest.
    fn validate_rainbow(&self) -> Result<(), ConfigError> {
        if self.rainbow {
            let off = [
                ("dueling", !self.dueling),
                ("noisy", !self.noisy),
                ("prioritized_replay", !self.prioritized_replay),
                ("double_q", !self.double_q),
            ];
            if let Some((key, _)) = off.iter().find(|(_, off)| *off) {
                return Err(ConfigError(format!(
                    "invalid value false for '{key}': rainbow = true turns every Rainbow component on; set rainbow = false to switch one off"
                )));
            }
            for (key, value) in [("n_steps", self.n_steps), ("atoms", self.atoms)] {
                if value <= 1 {
                    return Err(ConfigError(format!(
                        "invalid value {value} for '{key}': rainbow = true needs it above 1; set rainbow = false to switch it off"
                    )));
                }
            }
        }
        if !(self.noisy_sigma0 >= 0.0 && self.noisy_sigma0.is_finite()) {
            return Err(ConfigError::invalid(
                "noisy_sigma0",
                self.noisy_sigma0,
                "must be a finite number >= 0",
            ));
        }
        if self.atoms == 0 || self.atoms > MAX_ATOMS {
            return Err(ConfigError::invalid(
                "atoms",
                self.atoms,
                &format!("must be 1 (scalar Q-values) or 2 to {MAX_ATOMS} (C51, e.g. 51)"),
            ));
        }
        for (key, v) in [("v_min", self.v_min), ("v_max", self.v_max)] {
            if !v.is_finite() {
                return Err(ConfigError::invalid(key, v, "must be a finite number"));
            }
        }
        if self.v_min >= self.v_max {
            return Err(ConfigError(format!(
                "invalid value {} for 'v_max': must be greater than v_min ({})",
                self.v_max, self.v_min
            )));
        }
        if self.atoms > 1 && self.regress_max_q {
            return Err(ConfigError(
                "invalid value true for 'regress_max_q': the naive learner needs scalar Q-values (atoms = 1)".into(),
            ));
        }
        if self.n_steps == 0 || self.n_steps > MAX_N_STEPS {
            return Err(ConfigError::invalid(
                "n_steps",
                self.n_steps,
                &format!("must be 1 (one-step returns) to {MAX_N_STEPS}"),
            ));
        }
        if self.n_steps > 1 && self.sample_vector_steps {
            return Err(ConfigError(
                "invalid value true for 'sample_vector_steps': n-step returns (n_steps > 1) store transitions as they complete, not as whole vector steps".into(),
            ));
        }
        if self.prioritized_replay {
            if !self.replay {
                return Err(ConfigError(
                    "invalid value true for 'prioritized_replay': needs replay = true".into(),
                ));
            }
            if !self.replay_with_replacement || self.sample_vector_steps {
                return Err(ConfigError(
                    "invalid value true for 'prioritized_replay': samples single transitions with replacement (replay_with_replacement = true, sample_vector_steps = false)".into(),
                ));
            }
        }
        if !(self.prioritized_replay_alpha >= 0.0 && self.prioritized_replay_alpha.is_finite()) {
            return Err(ConfigError::invalid(
                "prioritized_replay_alpha",
                self.prioritized_replay_alpha,
                "must be a finite number >= 0 (0 samples uniformly)",
            ));
        }
        if !(0.0..=1.0).contains(&self.prioritized_replay_beta0) {
            return Err(ConfigError::invalid(
                "prioritized_replay_beta0",
                self.prioritized_replay_beta0,
                "must be in [0, 1]",
            ));
        }
        if !(self.prioritized_replay_eps > 0.0 && self.prioritized_replay_eps.is_finite()) {
            return Err(ConfigError::invalid(
                "prioritized_replay_eps",
                self.prioritized_replay_eps,
                "must be a finite number > 0",
            ));
        }
        Ok(())
    }

    /// The optimizer this config asks for, with PyTorch's defaults for unset options.
    pub fn optimizer_config(&self) -> OptimizerConfig {
        let lr = self.learning_rate;
        let mut cfg = match self.optimizer {
            OptimizerKind::Adam => OptimizerConfig::adam(lr),
            OptimizerKind::AdamW => OptimizerConfig::adamw(lr),
            OptimizerKind::NAdam => OptimizerConfig::nadam(lr),
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
                ..
            } => {
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
mod tests {
    use super::*;
    use proptest::prelude::Strategy;

    fn table(s: &str) -> toml::Table {
        s.parse().unwrap()
    }

    #[test]
    fn defaults_validate_and_round_trip_through_toml() {
        let cfg = DqnConfig::default();
        cfg.validate().unwrap();
        let mut again = DqnConfig::default();
        again.apply_toml(&table(&cfg.to_toml())).unwrap();
        assert_eq!(again, cfg);
    }

    #[test]
    fn overrides_apply_with_sb3_names_and_tuple_train_freq() {
        let mut cfg = DqnConfig::default();
        cfg.apply_toml(&table(
            "learning_rate = 1e-3\nnet_arch = [128, 64]\ndouble_q = true\ntrain_freq = [2, \"episode\"]\nenv_kwargs = { max_episode_steps = 1000 }\nloss = \"mse\"\noptimizer = \"nadam\"",
        ))
        .unwrap();
        assert_eq!(cfg.learning_rate, 1e-3);
        assert_eq!(cfg.net_arch, vec![128, 64]);
        assert!(cfg.double_q);
        assert_eq!(cfg.train_freq, Count::episodes(2));
        assert_eq!(cfg.loss, Loss::Mse);
        assert_eq!(cfg.optimizer, OptimizerKind::NAdam);
        assert!(cfg.to_toml().contains("train_freq = [2, \"episode\"]"));
    }

    #[test]
    fn unknown_key_suggests_the_closest() {
        let err = DqnConfig::default()
            .apply_toml(&table("lerning_rate = 0.1"))
            .unwrap_err();
        assert_eq!(
            err.0,
            "unknown config key 'lerning_rate'; did you mean 'learning_rate'?"
        );
        let err = DqnConfig::default()
            .apply_toml(&table("zzzzzzzz = 1"))
            .unwrap_err();
        assert!(
            err.0.contains("allowed keys:") && err.0.contains("gamma"),
            "{err}"
        );
    }

    #[test]
    fn wrong_type_names_key_and_value() {
        let err = DqnConfig::default()
            .apply_toml(&table("batch_size = \"big\""))
            .unwrap_err();
        assert!(
            err.0.starts_with("invalid value \"big\" for 'batch_size'"),
            "{err}"
        );
        assert!(!err.0.contains('\n'));
    }

    #[test]
    fn out_of_range_values_are_refused() {
        let cases = [
            ("learning_rate = 0.0", "learning_rate"),
            ("learning_rate = -1.0", "learning_rate"),
            ("gamma = 1.5", "gamma"),
            ("tau = 0.0", "tau"),
            ("tau = 1.5", "tau"),
            ("net_arch = []", "net_arch"),
            ("n_envs = 0", "n_envs"),
            ("batch_size = 64\nbuffer_size = 32", "batch_size"),
            (
                "learning_starts = 200\ntotal_timesteps = 100",
                "learning_starts",
            ),
            ("gradient_steps = -2", "gradient_steps"),
            ("max_grad_norm = 0.0", "max_grad_norm"),
            (
                "optimizer = \"rmsprop\"\nrmsprop_alpha = 5.0",
                "rmsprop_alpha",
            ),
            ("stop_reward_threshold = nan", "stop_reward_threshold"),
            ("stop_reward_threshold = -inf", "stop_reward_threshold"),
        ];
        for (src, key) in cases {
            let mut cfg = DqnConfig::default();
            cfg.apply_toml(&table(src)).unwrap();
            let err = cfg.validate().unwrap_err();
            assert!(err.0.contains(&format!("'{key}'")), "{src}: {err}");
        }
        let err = DqnConfig::default()
            .apply_toml(&table("total_timesteps = -5"))
            .unwrap_err();
        assert!(err.0.contains("'total_timesteps'"), "{err}");
    }

    #[test]
    fn rainbow_shorthand_turns_components_on_and_off() {
        let mut cfg = DqnConfig::default();
        cfg.apply_toml(&table("rainbow = true\nn_steps = 5"))
            .unwrap();
        assert!(cfg.rainbow && cfg.dueling && cfg.noisy && cfg.prioritized_replay && cfg.double_q);
        assert_eq!((cfg.n_steps, cfg.atoms), (5, 51));
        cfg.validate().unwrap();
        // The resolved config reloads to itself.
        let mut again = DqnConfig::default();
        again.apply_toml(&table(&cfg.to_toml())).unwrap();
        assert_eq!(again, cfg);
        // Switching one component off needs rainbow = false.
        let mut off = cfg.clone();
        off.apply_toml(&table("dueling = false")).unwrap();
        let err = off.validate().unwrap_err();
        assert!(
            err.0
                .starts_with("invalid value false for 'dueling': rainbow = true"),
            "{err}"
        );
        let mut off = cfg.clone();
        off.apply_toml(&table("rainbow = false\ndueling = true"))
            .unwrap();
        assert!(!off.rainbow && off.dueling && !off.noisy && !off.prioritized_replay);
        assert_eq!((off.n_steps, off.atoms), (1, 1));
        off.validate().unwrap();
        // A plain config is unaffected by rainbow = false.
        let mut plain = DqnConfig {
            double_q: true,
            ..DqnConfig::default()
        };
        plain.apply_toml(&table("rainbow = false")).unwrap();
        assert!(plain.double_q);
    }

    #[test]
    fn rainbow_component_values_are_checked() {
        let cases = [
            ("atoms = 0", "atoms"),
            ("atoms = 5000", "atoms"),
            ("v_min = 5.0\nv_max = 1.0", "v_max"),
            ("v_min = nan", "v_min"),
            ("n_steps = 0", "n_steps"),
            (
                "n_steps = 3\nsample_vector_steps = true",
                "sample_vector_steps",
            ),
            (
                "prioritized_replay = true\nreplay = false",
                "prioritized_replay",
            ),
            (
                "prioritized_replay = true\nreplay_with_replacement = false",
                "prioritized_replay",
            ),
            (
                "prioritized_replay_alpha = -1.0",
                "prioritized_replay_alpha",
            ),
            ("prioritized_replay_beta0 = 1.5", "prioritized_replay_beta0"),
            ("prioritized_replay_eps = 0.0", "prioritized_replay_eps"),
            ("noisy_sigma0 = -0.5", "noisy_sigma0"),
            ("atoms = 51\nregress_max_q = true", "regress_max_q"),
            ("rainbow = true\nn_steps = 1", "n_steps"),
            ("rainbow = true\natoms = 1", "atoms"),
            ("rainbow = true\nnoisy = false", "noisy"),
        ];
        for (src, key) in cases {
            let mut cfg = DqnConfig::default();
            cfg.apply_toml(&table(src)).unwrap();
            let err = cfg.validate().unwrap_err();
            assert!(err.0.contains(&format!("'{key}'")), "{src}: {err}");
            assert!(!err.0.contains('\n'));
        }
    }

    proptest::proptest! {
        /// The config loader never panics: arbitrary text either fails to parse as TOML or
        /// yields a config that is applied and validated, or refused with an error.
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
            if let Ok(table) = text.parse::<toml::Table>() {
                let mut cfg = DqnConfig::default();
                if cfg.apply_toml(&table).is_ok() {
                    let _ = cfg.validate();
                }
            }
        }

        /// Known keys with values of any TOML type and range.
        #[test]
        fn any_value_for_any_key_never_panics(
            key in proptest::sample::select(config_keys()),
            value in proptest::prop_oneof![
                proptest::num::i64::ANY.prop_map(|v| v.to_string()),
                proptest::num::f64::ANY.prop_map(|v| format!("{v:?}")),
                proptest::bool::ANY.prop_map(|v| v.to_string()),
                "\\PC{0,20}".prop_map(|v| format!("{v:?}")),
                proptest::collection::vec(-5i64..5000, 0..4).prop_map(|v| format!("{v:?}")),
                (0u64..100, proptest::sample::select(vec!["step", "episode", "year"]))
                    .prop_map(|(n, u)| format!("[{n}, \"{u}\"]")),
            ],
        ) {
            if let Ok(table) = format!("{key} = {value}").parse::<toml::Table>() {
                let mut cfg = DqnConfig::default();
                if cfg.apply_toml(&table).is_ok() && cfg.validate().is_ok() {
                    deepq_nn::Optimizer::<f32>::new(cfg.optimizer_config(), 10);
                }
            }
        }
    }

    #[test]
    fn optimizer_options_reach_the_optimizer() {
        let mut cfg = DqnConfig::default();
        cfg.apply_toml(&table(
            "optimizer = \"rmsprop\"\nmomentum = 0.5\noptimizer_eps = 1e-5",
        ))
        .unwrap();
        match cfg.optimizer_config() {
            OptimizerConfig::RmsProp { momentum, eps, .. } => {
                assert_eq!((momentum, eps), (0.5, 1e-5));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
