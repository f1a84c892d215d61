//! The training configuration: one flat set of keys named after Stable-Baselines3's
//! arguments, so configs carry over from SB3 and RL Zoo.
//!
//! A [`DqnConfig`] is built from defaults (SB3's, where SB3 has the option), then overridden
//! from TOML tables with [`DqnConfig::apply_toml`] (which also expands the `rainbow`
//! shorthand), and checked with [`DqnConfig::validate`] (in `validate.rs`, one function per
//! concern). The keys are flat, as SB3's are; the struct holds them in typed groups by
//! concern ([`settings`]): the run, the network, the optimizer, returns, replay, the target
//! network, one group per algorithm, exploration, and evaluation.

use std::fmt;

use deepq_nn::{Arch, ConvLayer, OptimizerConfig};
use serde::{Deserialize, Serialize};

use crate::schedule::{ExplorationKind, ExplorationSchedule};

pub mod settings;

pub use settings::{
    Augmentation, DqnSettings, EvalSettings, ExplorationSettings, IqnSettings, MunchausenSettings,
    NetworkSettings, OptimizerSettings, PqnSettings, QrDqnSettings, ReplaySettings, ReturnSettings,
    RunSettings, TargetSettings,
};

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
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    /// Deep Q-learning (every env), with Rainbow's parts.
    #[default]
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

/// Every option of a run, in typed groups by concern ([`settings`]); the
/// config keys are the groups' fields, flat, as SB3's arguments are (`learning_rate`, not
/// `optimizer.learning_rate`).
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct DqnConfig {
    /// `"dqn"`, `"qrdqn"`, `"iqn"`, `"pqn"`, or `"tabular"` Q-learning (which uses `learning_rate` as α,
    /// `gamma`, the ε schedule, the budget and the evaluation keys).
    pub algorithm: Algorithm,
    /// The run: environment, seed, budget, checkpoints and logs.
    #[serde(flatten)]
    pub run: RunSettings,
    /// The network's layers.
    #[serde(flatten)]
    pub network: NetworkSettings,
    /// The optimizer and the gradient clip.
    #[serde(flatten)]
    pub optimizer: OptimizerSettings,
    /// The discount and truncation.
    #[serde(flatten)]
    pub returns: ReturnSettings,
    /// Replay and when the off-policy learners train.
    #[serde(flatten)]
    pub replay: ReplaySettings,
    /// The off-policy learners' target network.
    #[serde(flatten)]
    pub target: TargetSettings,
    /// DQN's own keys: double DQN, loss, Rainbow's heads.
    #[serde(flatten)]
    pub dqn: DqnSettings,
    /// QR-DQN's own keys.
    #[serde(flatten)]
    pub qrdqn: QrDqnSettings,
    /// IQN's own keys.
    #[serde(flatten)]
    pub iqn: IqnSettings,
    /// Munchausen's keys (M-DQN, M-IQN).
    #[serde(flatten)]
    pub munchausen: MunchausenSettings,
    /// PQN's own keys.
    #[serde(flatten)]
    pub pqn: PqnSettings,
    /// The ε schedule.
    #[serde(flatten)]
    pub exploration: ExplorationSettings,
    /// Evaluations and stop-on-solve.
    #[serde(flatten)]
    pub eval: EvalSettings,
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
        run: RunSettings {
            episodes: Some(1),
            ..RunSettings::default()
        },
        optimizer: OptimizerSettings {
            betas: Some([0.9, 0.999]),
            eps: Some(1e-8),
            weight_decay: Some(0.0),
            rmsprop_alpha: Some(0.99),
            ..OptimizerSettings::default()
        },
        eval: EvalSettings {
            stop_reward_threshold: Some(0.0),
            ..EvalSettings::default()
        },
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
    /// The keys whose values differ between `self` and `other`, in key order.
    pub fn changed_keys(&self, other: &DqnConfig) -> Vec<String> {
        let (mine, theirs) = (to_table(self), to_table(other));
        let mut keys: Vec<String> = mine
            .keys()
            .chain(theirs.keys())
            .filter(|key| mine.get(*key) != theirs.get(*key))
            .cloned()
            .collect();
        keys.sort();
        keys.dedup();
        keys
    }

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
        self.dqn.dueling = on;
        self.dqn.noisy = on;
        self.replay.prioritized = on;
        self.dqn.double_q = on;
        if on {
            if self.replay.n_steps <= 1 {
                self.replay.n_steps = 3;
            }
            if self.dqn.atoms <= 1 {
                self.dqn.atoms = 51;
            }
        } else {
            self.replay.n_steps = 1;
            self.dqn.atoms = 1;
        }
    }

    /// Whether all six Rainbow components are on.
    pub fn is_rainbow(&self) -> bool {
        self.dqn.dueling
            && self.dqn.noisy
            && self.replay.prioritized
            && self.dqn.double_q
            && self.replay.n_steps > 1
            && self.dqn.atoms > 1
    }

    /// The convolutional layers of `cnn`; `validate` has checked each entry's form.
    pub fn conv_layers(&self) -> Vec<ConvLayer> {
        self.network
            .cnn
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
            dueling: self.dqn.dueling,
            noisy: self.dqn.noisy,
            atoms: self.dqn.atoms,
            v_min: self.dqn.v_min,
            v_max: self.dqn.v_max,
            layer_norm: self.network.layer_norm,
            layer_norm_eps: LAYER_NORM_EPS,
            precision: self.network.precision,
            activation: self.network.activation,
            quantiles: if self.algorithm == Algorithm::QrDqn {
                self.qrdqn.n_quantiles
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
        let lr = self.optimizer.learning_rate;
        let mut cfg = match self.optimizer.kind {
            // sb3-contrib's QRDQN gives Adam ε = 0.01/batch_size (the QR-DQN paper's, for
            // batch 32) unless the optimizer is set.
            OptimizerKind::Adam if self.algorithm == Algorithm::QrDqn => {
                let mut adam = OptimizerConfig::adam(lr);
                if let OptimizerConfig::Adam { eps, .. } = &mut adam {
                    *eps = 0.01 / self.replay.batch_size as f64;
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
                if let Some([b1, b2]) = self.optimizer.betas {
                    (*beta1, *beta2) = (b1, b2);
                }
                *eps = self.optimizer.eps.unwrap_or(*eps);
                *weight_decay = self.optimizer.weight_decay.unwrap_or(*weight_decay);
            }
            OptimizerConfig::RmsProp {
                alpha,
                eps,
                weight_decay,
                momentum,
                centered,
                ..
            } => {
                *centered = self.optimizer.rmsprop_centered;
                *alpha = self.optimizer.rmsprop_alpha.unwrap_or(*alpha);
                *eps = self.optimizer.eps.unwrap_or(*eps);
                *weight_decay = self.optimizer.weight_decay.unwrap_or(*weight_decay);
                *momentum = self.optimizer.momentum;
            }
            OptimizerConfig::Sgd {
                weight_decay,
                momentum,
                ..
            } => {
                *weight_decay = self.optimizer.weight_decay.unwrap_or(*weight_decay);
                *momentum = self.optimizer.momentum;
            }
        }
        cfg
    }

    /// Whether a periodic evaluation with this mean ends training: `stop_on_solve` is set and
    /// the mean reaches `stop_reward_threshold`, or else the environment's threshold.
    pub fn stops_at(&self, eval_mean: f64, env_threshold: f64) -> bool {
        self.eval.stop_on_solve
            && eval_mean >= self.eval.stop_reward_threshold.unwrap_or(env_threshold)
    }

    /// The ε-greedy schedule the run acts with: the configured one, or ε = 0 throughout with
    /// noisy nets.
    pub fn exploration(&self) -> ExplorationSchedule {
        // Noisy nets explore through their noise: no ε-greedy on top (Rainbow), whatever the
        // schedule keys say, so every reader of ε (the loop, logs, Python) sees 0.
        let (kind, initial) = if self.dqn.noisy {
            (ExplorationKind::Constant, 0.0)
        } else {
            (self.exploration.schedule, self.exploration.initial_eps)
        };
        ExplorationSchedule {
            kind,
            initial,
            final_eps: self.exploration.final_eps,
            fraction: self.exploration.fraction,
            total_timesteps: self.run.total_timesteps,
            decay_steps: self.exploration.decay_steps,
            decay_episodes: self.exploration.decay_episodes,
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
