//! Checking a config: each group of [`settings`](super::settings) checks its own ranges, then
//! the whole config checks the relations between groups and what each algorithm reads. Every
//! error is one line naming the key, the bad value and what is allowed.

use super::settings::{
    DqnSettings, EvalSettings, ExplorationSettings, IqnSettings, MunchausenSettings,
    NetworkSettings, OptimizerSettings, PqnSettings, QrDqnSettings, ReplaySettings, ReturnSettings,
    RunSettings, TargetSettings,
};
use super::{
    Algorithm, ConfigError, DqnConfig, Dtype, MAX_ATOMS, MAX_N_STEPS, MAX_QUANTILES, Unit,
};
use crate::algorithms;

fn invalid(key: &str, value: impl std::fmt::Display, allowed: &str) -> ConfigError {
    ConfigError::invalid(key, value, allowed)
}

fn positive(key: &str, v: f64) -> Result<(), ConfigError> {
    if v > 0.0 && v.is_finite() {
        Ok(())
    } else {
        Err(invalid(key, v, "must be a finite number > 0"))
    }
}

fn at_least_one(key: &str, v: u64) -> Result<(), ConfigError> {
    if v == 0 {
        return Err(invalid(key, 0, "must be at least 1"));
    }
    Ok(())
}

fn unit_interval(key: &str, v: f64) -> Result<(), ConfigError> {
    if !(0.0..=1.0).contains(&v) {
        return Err(invalid(key, v, "must be in [0, 1]"));
    }
    Ok(())
}

impl DqnConfig {
    /// Checks ranges and relations between keys; the error names the value and what is allowed.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_algorithm_keys()?;
        self.run.validate()?;
        self.returns.validate()?;
        self.network.validate()?;
        self.optimizer.validate()?;
        self.replay.validate()?;
        self.target.validate()?;
        self.exploration.validate()?;
        self.eval.validate()?;
        self.dqn.validate()?;
        self.qrdqn.validate()?;
        self.iqn.validate()?;
        self.munchausen.validate()?;
        self.pqn.validate()?;
        self.validate_relations()
    }

    /// Keys of one algorithm set on a run of another are refused, rather than ignored. Which
    /// algorithm reads which key is what the algorithms declare
    /// (`algorithms::own_keys`).
    fn validate_algorithm_keys(&self) -> Result<(), ConfigError> {
        if let Some(key) = self.foreign_keys().first() {
            let readers: Vec<String> = Algorithm::ALL
                .iter()
                .filter(|a| algorithms::own_keys(**a).contains(key))
                .map(|a| format!("\"{}\"", a.name()))
                .collect();
            return Err(ConfigError(format!(
                "invalid value {} for '{key}': it applies to algorithm = {} only (this run is \"{}\")",
                super::to_table(self)[*key],
                readers.join(" or "),
                self.algorithm.name()
            )));
        }
        if self.algorithm == Algorithm::Tabular {
            if self.network.layer_norm {
                return Err(ConfigError(
                    "invalid value true for 'layer_norm': a tabular run has no network; use algorithm = \"dqn\" or \"pqn\"".into(),
                ));
            }
            if !self.network.cnn.is_empty() {
                return Err(ConfigError(
                    "invalid value for 'cnn': a tabular run has no network; use algorithm = \"dqn\" or \"pqn\"".into(),
                ));
            }
            if !self.network.precision.is_f32() {
                return Err(ConfigError(format!(
                    "invalid value \"{}\" for 'precision': a tabular run has no network; use algorithm = \"dqn\" or \"pqn\"",
                    self.network.precision
                )));
            }
            if self.run.n_envs != 1 {
                return Err(invalid(
                    "n_envs",
                    self.run.n_envs,
                    "tabular Q-learning steps one environment (n_envs = 1)",
                ));
            }
        }
        if !self.network.precision.is_f32() && self.network.dtype != Dtype::F32 {
            return Err(ConfigError(format!(
                "invalid value \"{}\" for 'precision': bf16 products need dtype = \"f32\" (this run's dtype is \"f64\")",
                self.network.precision
            )));
        }
        if !self.network.precision.is_f32() {
            deepq_nn::Bf16Kernel::requested().map_err(ConfigError)?;
        }
        if !self.network.activation.is_relu()
            && matches!(self.algorithm, Algorithm::Iqn | Algorithm::Tabular)
        {
            let why = if self.algorithm == Algorithm::Iqn {
                "IQN's network uses ReLU, as Dopamine's does"
            } else {
                "a tabular run has no network"
            };
            return Err(invalid(
                "activation",
                format!("\"{}\"", self.network.activation),
                why,
            ));
        }
        if self.algorithm == Algorithm::Iqn && self.network.layer_norm {
            return Err(ConfigError(
                "invalid value true for 'layer_norm': IQN's network has no LayerNorm; use algorithm = \"dqn\" or \"pqn\"".into(),
            ));
        }
        Ok(())
    }

    /// What one group's keys ask of another's.
    fn validate_relations(&self) -> Result<(), ConfigError> {
        // Only the algorithms that warm up (the off-policy loop) read learning_starts.
        if algorithms::own_keys(self.algorithm).contains(&"learning_starts")
            && self.replay.learning_starts.unit == Unit::Step
            && self.replay.learning_starts.n > self.run.total_timesteps
        {
            return Err(ConfigError(format!(
                "invalid value {} for 'learning_starts': must not exceed total_timesteps ({})",
                self.replay.learning_starts.n, self.run.total_timesteps
            )));
        }
        let n_envs = self.run.n_envs;
        if self.replay.sample_vector_steps
            && !(self.replay.batch_size.is_multiple_of(n_envs)
                && self.replay.buffer_size.is_multiple_of(n_envs))
        {
            return Err(ConfigError(format!(
                "invalid value true for 'sample_vector_steps': batch_size ({}) and buffer_size ({}) must be multiples of n_envs ({n_envs})",
                self.replay.batch_size, self.replay.buffer_size
            )));
        }
        // The optimizer as this algorithm builds it (QR-DQN's Adam ε depends on batch_size).
        self.optimizer_config().validate().map_err(|e| {
            ConfigError(format!(
                "invalid optimizer settings for '{:?}': {e}",
                self.optimizer.kind
            ))
        })?;
        if self.algorithm == Algorithm::Pqn {
            let rows = n_envs * self.pqn.rollout_steps;
            if !rows.is_multiple_of(self.pqn.n_minibatches) {
                return Err(ConfigError(format!(
                    "invalid value {} for 'n_minibatches': must divide n_envs × rollout_steps ({n_envs} × {} = {rows}) into equal minibatches",
                    self.pqn.n_minibatches, self.pqn.rollout_steps
                )));
            }
        }
        if self.munchausen.enabled {
            let conflict = if self.dqn.atoms > 1 {
                Some("C51 (atoms > 1); Munchausen needs scalar Q-values (atoms = 1)")
            } else if self.dqn.double_q {
                Some("double DQN; Munchausen bootstraps from the soft value, not a chosen action")
            } else if self.dqn.regress_max_q {
                Some("the naive learner (regress_max_q)")
            } else {
                None
            };
            if let Some(why) = conflict {
                return Err(ConfigError(format!(
                    "invalid value true for 'munchausen': it does not combine with {why}"
                )));
            }
        }
        Ok(())
    }
}

impl RunSettings {
    /// The budget, the vector env and the logs' cadence.
    fn validate(&self) -> Result<(), ConfigError> {
        at_least_one("n_envs", self.n_envs as u64)?;
        at_least_one("total_timesteps", self.total_timesteps)?;
        if self.episodes == Some(0) {
            return Err(invalid("episodes", 0, "must be at least 1"));
        }
        at_least_one("rolling_window", self.rolling_window as u64)?;
        at_least_one("log_interval", self.log_interval)
    }
}

impl ReturnSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        unit_interval("gamma", self.gamma)
    }
}

impl NetworkSettings {
    /// The layers.
    fn validate(&self) -> Result<(), ConfigError> {
        if self.net_arch.is_empty() || self.net_arch.contains(&0) {
            return Err(invalid(
                "net_arch",
                format!("{:?}", self.net_arch),
                "must list at least one hidden layer width, each > 0, e.g. [64, 64]",
            ));
        }
        if let Some(layer) = self
            .cnn
            .iter()
            .find(|l| !(3..=4).contains(&l.len()) || l[..3].contains(&0))
        {
            return Err(invalid(
                "cnn",
                format!("{layer:?}"),
                "each layer is [filters, kernel, stride] or [filters, kernel, stride, padding] with filters, kernel and stride > 0, e.g. cnn = [[16, 3, 1]]",
            ));
        }
        if !self.activation.is_relu() {
            let uses_relu = if !self.cnn.is_empty() {
                Some("a network with conv layers (cnn) uses ReLU, as NatureCNN does")
            } else if self.layer_norm {
                Some("a LayerNorm network (layer_norm = true) uses ReLU, as PQN's does")
            } else {
                None
            };
            if let Some(why) = uses_relu {
                return Err(invalid(
                    "activation",
                    format!("\"{}\"", self.activation),
                    why,
                ));
            }
        }
        Ok(())
    }
}

impl OptimizerSettings {
    /// The optimizer and what it does to the gradient.
    fn validate(&self) -> Result<(), ConfigError> {
        positive("learning_rate", self.learning_rate)?;
        if self.max_grad_norm.is_nan() || self.max_grad_norm <= 0.0 {
            return Err(invalid(
                "max_grad_norm",
                self.max_grad_norm,
                "must be > 0 (use inf to disable clipping)",
            ));
        }
        if let Some(eps) = self.eps {
            positive("optimizer_eps", eps)?;
        }
        if let Some([b1, b2]) = self.betas
            && !((0.0..1.0).contains(&b1) && (0.0..1.0).contains(&b2))
        {
            return Err(invalid(
                "optimizer_betas",
                format!("[{b1}, {b2}]"),
                "both must be in [0, 1)",
            ));
        }
        if let Some(w) = self.weight_decay
            && (w.is_nan() || w < 0.0)
        {
            return Err(invalid("weight_decay", w, "must be >= 0"));
        }
        if let Some(alpha) = self.rmsprop_alpha {
            unit_interval("rmsprop_alpha", alpha)?;
        }
        if self.momentum.is_nan() || self.momentum < 0.0 {
            return Err(invalid("momentum", self.momentum, "must be >= 0"));
        }
        Ok(())
    }
}

impl ReplaySettings {
    /// Replay, n-step returns, prioritizing, and when and how much to train on it.
    fn validate(&self) -> Result<(), ConfigError> {
        at_least_one("batch_size", self.batch_size as u64)?;
        at_least_one("buffer_size", self.buffer_size as u64)?;
        if self.enabled && self.batch_size > self.buffer_size {
            return Err(ConfigError(format!(
                "invalid value {} for 'batch_size': must not exceed buffer_size ({})",
                self.batch_size, self.buffer_size
            )));
        }
        at_least_one("train_freq", self.train_freq.n)?;
        if self.gradient_steps == 0 || self.gradient_steps < -1 {
            return Err(invalid(
                "gradient_steps",
                self.gradient_steps,
                "must be a positive count, or -1 for as many as environment steps collected",
            ));
        }
        if self.n_steps == 0 || self.n_steps > MAX_N_STEPS {
            return Err(invalid(
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
        if self.prioritized {
            if !self.enabled {
                return Err(ConfigError(
                    "invalid value true for 'prioritized_replay': needs replay = true".into(),
                ));
            }
            if !self.with_replacement || self.sample_vector_steps {
                return Err(ConfigError(
                    "invalid value true for 'prioritized_replay': samples single transitions with replacement (replay_with_replacement = true, sample_vector_steps = false)".into(),
                ));
            }
        }
        if !(self.priority_alpha >= 0.0 && self.priority_alpha.is_finite()) {
            return Err(invalid(
                "prioritized_replay_alpha",
                self.priority_alpha,
                "must be a finite number >= 0 (0 samples uniformly)",
            ));
        }
        unit_interval("prioritized_replay_beta0", self.priority_beta0)?;
        if !(self.priority_eps > 0.0 && self.priority_eps.is_finite()) {
            return Err(invalid(
                "prioritized_replay_eps",
                self.priority_eps,
                "must be a finite number > 0",
            ));
        }
        Ok(())
    }
}

impl TargetSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        if !(self.tau > 0.0 && self.tau <= 1.0) {
            return Err(invalid("tau", self.tau, "must be in (0, 1]"));
        }
        at_least_one("target_update_interval", self.update_interval)
    }
}

impl ExplorationSettings {
    /// The ε schedule.
    fn validate(&self) -> Result<(), ConfigError> {
        unit_interval("exploration_initial_eps", self.initial_eps)?;
        unit_interval("exploration_final_eps", self.final_eps)?;
        if !(self.fraction > 0.0 && self.fraction <= 1.0) {
            return Err(invalid(
                "exploration_fraction",
                self.fraction,
                "must be in (0, 1]",
            ));
        }
        positive("exploration_decay_steps", self.decay_steps)?;
        positive("exploration_decay_episodes", self.decay_episodes)
    }
}

impl EvalSettings {
    /// Evaluations and stop-on-solve.
    fn validate(&self) -> Result<(), ConfigError> {
        at_least_one("final_eval_episodes", self.final_episodes as u64)?;
        at_least_one("eval_max_episode_steps", self.max_episode_steps)?;
        unit_interval("eval_epsilon", self.epsilon)?;
        if self.stop_on_solve && self.freq.n == 0 {
            return Err(ConfigError(
                "invalid value true for 'stop_on_solve': needs periodic evaluations (eval_freq > 0)".into(),
            ));
        }
        if let Some(threshold) = self.stop_reward_threshold
            && !threshold.is_finite()
        {
            return Err(invalid(
                "stop_reward_threshold",
                threshold,
                "must be a finite number",
            ));
        }
        if self.freq.n > 0 && self.episodes == 0 {
            return Err(invalid(
                "eval_episodes",
                0,
                "must be at least 1 when eval_freq > 0",
            ));
        }
        Ok(())
    }
}

impl DqnSettings {
    /// Rainbow's heads, and the naive learner's limits.
    fn validate(&self) -> Result<(), ConfigError> {
        if !(self.noisy_sigma0 >= 0.0 && self.noisy_sigma0.is_finite()) {
            return Err(invalid(
                "noisy_sigma0",
                self.noisy_sigma0,
                "must be a finite number >= 0",
            ));
        }
        if self.atoms == 0 || self.atoms > MAX_ATOMS {
            return Err(invalid(
                "atoms",
                self.atoms,
                &format!("must be 1 (scalar Q-values) or 2 to {MAX_ATOMS} (C51, e.g. 51)"),
            ));
        }
        for (key, v) in [("v_min", self.v_min), ("v_max", self.v_max)] {
            if !v.is_finite() {
                return Err(invalid(key, v, "must be a finite number"));
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
        Ok(())
    }
}

impl QrDqnSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.n_quantiles == 0 || self.n_quantiles > MAX_QUANTILES {
            return Err(invalid(
                "n_quantiles",
                self.n_quantiles,
                &format!("must be 1 to {MAX_QUANTILES} (sb3-contrib's default is 200)"),
            ));
        }
        Ok(())
    }
}

impl IqnSettings {
    /// The fractions and the embedding.
    fn validate(&self) -> Result<(), ConfigError> {
        for (key, v) in [
            ("num_tau_samples", self.num_tau_samples),
            ("num_tau_prime_samples", self.num_tau_prime_samples),
            ("num_quantile_samples", self.num_quantile_samples),
            ("quantile_embedding_dim", self.quantile_embedding_dim),
        ] {
            if v == 0 || v > MAX_QUANTILES {
                return Err(invalid(
                    key,
                    v,
                    &format!("must be 1 to {MAX_QUANTILES} (Dopamine's IQN: 64, 64, 32 and 64)"),
                ));
            }
        }
        Ok(())
    }
}

impl MunchausenSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        positive("munchausen_tau", self.tau)?;
        if !(self.alpha >= 0.0 && self.alpha.is_finite()) {
            return Err(invalid(
                "munchausen_alpha",
                self.alpha,
                "must be a finite number >= 0 (the paper's 0.9)",
            ));
        }
        if !(self.clip < 0.0 && self.clip.is_finite()) {
            return Err(invalid(
                "munchausen_clip",
                self.clip,
                "must be a finite number < 0 (the paper's -1)",
            ));
        }
        Ok(())
    }
}

impl PqnSettings {
    /// The rollouts and their minibatches.
    fn validate(&self) -> Result<(), ConfigError> {
        at_least_one("rollout_steps", self.rollout_steps as u64)?;
        at_least_one("n_epochs", self.n_epochs as u64)?;
        at_least_one("n_minibatches", self.n_minibatches as u64)?;
        unit_interval("q_lambda", self.q_lambda)?;
        positive("reward_scale", self.reward_scale)
    }
}
