//! QR-DQN (Dabney et al., "Distributional Reinforcement Learning with Quantile Regression",
//! AAAI 2018) as a [`Learner`] on the shared [off-policy loop](super::off_policy), computing
//! what sb3-contrib's `QRDQN.train` computes.
//!
//! The network estimates `n_quantiles` quantiles of the return of each action, at the
//! midpoints `τ̂ᵢ = (i + 0.5)/N`; its last Linear layer's output is read as `[N, n_actions]`
//! ([`Arch::quantiles`](deepq_nn::Arch::quantiles)), so its safetensors load into
//! sb3-contrib's `QuantileNetwork`. An action's Q-value is the mean of its quantiles, which
//! is how actions are chosen, greedily and for the target. One update:
//!
//! 1. the target network's quantiles of the next state, and its greedy action a* there;
//! 2. target samples `r + γᵐ·(1 − done)·Z_target(s′, a*)ⱼ` (m the n-step horizon);
//! 3. the online quantiles of the taken action, and the quantile Huber loss (κ = 1) between
//!    them and the targets, summed over the online quantiles and averaged over the targets and
//!    the batch (each sample weighted by its importance weight under prioritized replay, whose
//!    new priority is the sample's loss);
//! 4. backward, clip the gradient norm, the optimizer's step.

use deepq_envs::Space;
use deepq_nn::{
    Mlp, Optimizer, Scalar, Workspace, argmax_per_row, clip_grad_norm, mean_over_quantiles,
    quantile_huber_loss, quantile_midpoints,
};
use rand_pcg::Pcg64;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::off_policy::{
    Learner, OffPolicy, UpdateStats, bootstrap_discounts, discount_powers, sync_target,
};
use crate::config::{ConfigError, DqnConfig};
use crate::model::{Model, QNetwork};
use crate::network::{self, Actor};
use crate::replay::Batch;
use crate::rng::{Stream, stream_rng};

/// QR-DQN on `n_envs` copies of environment `E`, with a network of scalar `T`.
pub type QrDqn<E, T> = OffPolicy<E, QrDqnAgent<T>>;

/// Config keys only QR-DQN's learner reads (besides the off-policy loop's).
pub(crate) const KEYS: &[&str] = &["n_quantiles"];

/// How QR-DQN's targets are formed and its gradient applied.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct QuantileRule {
    /// Discount factor.
    pub gamma: f64,
    /// Global gradient-norm clip (infinite: none).
    pub max_grad_norm: f64,
    /// Whether truncated transitions bootstrap (only termination stops the bootstrap).
    pub bootstrap_on_truncation: bool,
    /// The longest n-step horizon of a stored return (1 for one-step returns).
    pub n_steps: usize,
    /// Compute new replay priorities (each sample's loss) in each update.
    pub prioritized: bool,
}

/// A QR-DQN learner: the online quantile network, an optional target network and the
/// optimizer. Every buffer an update or an action needs is allocated here, once.
#[derive(Clone, Debug)]
pub struct QrDqnAgent<T: Scalar> {
    online: Mlp<T>,
    /// `None` when targets come from the online network itself.
    target: Option<Mlp<T>>,
    optimizer: Optimizer<T>,
    rule: QuantileRule,
    /// Largest batch the scratch buffers hold.
    max_batch: usize,
    ws_train: Workspace<T>,
    ws_next: Workspace<T>,
    actor: Actor<T>,
    /// The quantile midpoints τ̂.
    taus: Vec<T>,
    /// γ^h for the horizons of n-step returns.
    gamma_pows: Vec<T>,
    /// γ^horizon, times 0 where the target does not bootstrap.
    discounts: Vec<T>,
    /// The evaluator's Q-values of the next state (mean over quantiles), and its choice.
    next_q: Vec<T>,
    next_choice: Vec<u32>,
    /// `batch × N` target samples, online quantiles of the taken actions, and the loss
    /// gradient at them.
    targets: Vec<T>,
    current: Vec<T>,
    grad_current: Vec<T>,
    /// d loss / d output of the online network, `batch × N × n_actions`.
    grad_out: Vec<T>,
    grads: Vec<T>,
    /// Each sample's loss, then as f64 the new priorities (empty unless prioritized).
    per_sample: Vec<T>,
    priorities: Vec<f64>,
}

impl<T: Scalar> QrDqnAgent<T> {
    /// An agent around an existing quantile network (its [`Arch::quantiles`] above 1), with
    /// fresh optimizer state; the target network a copy of it.
    ///
    /// [`Arch::quantiles`]: deepq_nn::Arch::quantiles
    pub fn from_network(online: Mlp<T>, cfg: &DqnConfig) -> Self {
        let target = cfg.target.enabled.then(|| online.clone());
        Self::from_networks(online, target, cfg)
    }

    /// An agent around existing online and target networks (e.g. loaded weights), with fresh
    /// optimizer state.
    ///
    /// # Panics
    /// If `online` is not a quantile network or `target` differs from it in shape.
    pub fn from_networks(online: Mlp<T>, target: Option<Mlp<T>>, cfg: &DqnConfig) -> Self {
        assert!(online.arch().quantiles > 1, "QR-DQN needs a quantile head");
        assert!(
            target
                .as_ref()
                .is_none_or(|t| t.sizes() == online.sizes() && t.arch() == online.arch()),
            "the target network must have the online network's shape"
        );
        let optimizer = Optimizer::new(cfg.optimizer_config(), online.n_params());
        let rule = QuantileRule {
            gamma: cfg.returns.gamma,
            max_grad_norm: cfg.optimizer.max_grad_norm,
            bootstrap_on_truncation: cfg.returns.bootstrap_on_truncation,
            n_steps: cfg.replay.n_steps,
            prioritized: cfg.replay.prioritized,
        };
        Self::assemble(
            online,
            target,
            optimizer,
            rule,
            cfg.replay.batch_size.max(cfg.run.n_envs),
        )
    }

    fn assemble(
        online: Mlp<T>,
        target: Option<Mlp<T>>,
        optimizer: Optimizer<T>,
        rule: QuantileRule,
        max_batch: usize,
    ) -> Self {
        let (batch, n_actions) = (max_batch, online.n_outputs());
        let n = online.arch().quantiles;
        let prioritized = if rule.prioritized { batch } else { 0 };
        QrDqnAgent {
            ws_train: Workspace::new(&online, batch),
            ws_next: Workspace::new(&online, batch),
            actor: Actor::new(&online),
            taus: quantile_midpoints(n),
            gamma_pows: discount_powers(rule.gamma, rule.n_steps),
            discounts: vec![T::ZERO; batch],
            next_q: vec![T::ZERO; batch * n_actions],
            next_choice: vec![0; batch],
            targets: vec![T::ZERO; batch * n],
            current: vec![T::ZERO; batch * n],
            grad_current: vec![T::ZERO; batch * n],
            grad_out: vec![T::ZERO; batch * n * n_actions],
            grads: vec![T::ZERO; online.n_params()],
            per_sample: vec![T::ZERO; prioritized],
            priorities: vec![0.0; prioritized],
            online,
            target,
            optimizer,
            rule,
            max_batch,
        }
    }

    /// The online quantile network.
    pub fn network(&self) -> &Mlp<T> {
        &self.online
    }

    /// The target network, if the agent keeps one.
    pub fn target_network(&self) -> Option<&Mlp<T>> {
        self.target.as_ref()
    }

    /// One gradient step on `batch`, as the module docs describe; returns the loss before the
    /// step and the mean Q-value (mean quantile) of the taken actions.
    pub fn update(&mut self, batch: &Batch<T>) -> UpdateStats {
        let b = batch.len();
        let (n, n_actions) = (self.online.arch().quantiles, self.online.n_outputs());
        let row = n * n_actions;
        bootstrap_discounts(
            batch,
            &self.gamma_pows,
            self.rule.bootstrap_on_truncation,
            &mut self.discounts[..b],
        );

        // 1–2. The evaluator's quantiles at the next state, its greedy action, the targets.
        let evaluator = self.target.as_ref().unwrap_or(&self.online);
        let z_next = evaluator.forward(&batch.next_obs, b, &mut self.ws_next);
        mean_over_quantiles(z_next, n, n_actions, &mut self.next_q[..b * n_actions]);
        argmax_per_row(
            &self.next_q[..b * n_actions],
            n_actions,
            &mut self.next_choice[..b],
        );
        for i in 0..b {
            let a = self.next_choice[i] as usize;
            for j in 0..n {
                self.targets[i * n + j] =
                    batch.rewards[i] + self.discounts[i] * z_next[i * row + j * n_actions + a];
            }
        }

        // 3. The online quantiles of the taken actions, and the loss.
        let z = self.online.forward(&batch.obs, b, &mut self.ws_train);
        let mut sum_q = 0.0;
        for (i, &a) in batch.actions.iter().enumerate() {
            for j in 0..n {
                let v = z[i * row + j * n_actions + a as usize];
                self.current[i * n + j] = v;
                sum_q += v.to_f64();
            }
        }
        let weights = (!batch.weights.is_empty()).then(|| &batch.weights[..b]);
        let loss = quantile_huber_loss(
            b,
            &self.current[..b * n],
            &self.taus,
            &self.targets[..b * n],
            weights,
            &mut self.grad_current[..b * n],
            self.rule.prioritized.then(|| &mut self.per_sample[..b]),
        );
        if self.rule.prioritized {
            for (p, l) in self.priorities.iter_mut().zip(&self.per_sample[..b]) {
                *p = l.to_f64();
            }
        }

        // 4. Backward through the taken actions' quantiles, clip, step.
        let grad_out = &mut self.grad_out[..b * row];
        grad_out.fill(T::ZERO);
        for (i, &a) in batch.actions.iter().enumerate() {
            for j in 0..n {
                grad_out[i * row + j * n_actions + a as usize] = self.grad_current[i * n + j];
            }
        }
        self.online
            .backward(&mut self.ws_train, grad_out, &mut self.grads);
        if self.rule.max_grad_norm.is_finite() {
            clip_grad_norm(&mut self.grads, T::from_f64(self.rule.max_grad_norm));
        }
        self.optimizer.step(self.online.params_mut(), &self.grads);
        UpdateStats {
            loss: loss.to_f64(),
            mean_q: sum_q / (b * n) as f64,
        }
    }
}

impl<T: Scalar> Learner for QrDqnAgent<T>
where
    QNetwork: From<Mlp<T>>,
{
    type Float = T;

    fn new(cfg: &DqnConfig, space: &Space, n_actions: usize) -> Result<Self, ConfigError> {
        let mut rng = stream_rng(cfg.run.seed, Stream::Init);
        let online = network::q_network(cfg, space, n_actions, &mut rng)?;
        Ok(QrDqnAgent::from_network(online, cfg))
    }

    fn n_actions(&self) -> usize {
        self.online.n_outputs()
    }

    fn greedy_action(&mut self, obs: &[f32]) -> usize {
        self.actor.greedy_action(&self.online, obs)
    }

    fn behaviour_actions(&mut self, obs: &[f32], actions: &mut [usize]) {
        self.actor.greedy_actions(&self.online, obs, actions);
    }

    fn sample_noise(&mut self, rng: &mut Pcg64) {
        self.online.sample_noise(rng);
    }

    fn remove_noise(&mut self) {
        self.online.remove_noise();
    }

    fn update(&mut self, batch: &Batch<T>, _noise_rng: &mut Pcg64) -> UpdateStats {
        QrDqnAgent::update(self, batch)
    }

    fn priorities(&self, batch_len: usize) -> &[f64] {
        &self.priorities[..batch_len.min(self.priorities.len())]
    }

    fn update_target(&mut self, tau: f64) {
        sync_target(self.target.as_mut(), &self.online, tau);
    }

    fn learning_rate(&self) -> f64 {
        self.optimizer.lr()
    }

    fn set_learning_rate(&mut self, lr: f64) {
        self.optimizer.set_lr(lr);
    }

    fn fits(&self, cfg: &DqnConfig, space: &Space, n_actions: usize) -> bool {
        network::fits(&self.online, cfg, space, n_actions)
    }

    fn model(&self) -> Model {
        Model::Network(self.online.clone().into())
    }

    fn target_model(&self) -> Option<Model> {
        self.target
            .clone()
            .map(|target| Model::Network(target.into()))
    }

    fn load_model(&mut self, model: &Model) -> Result<(), ConfigError> {
        network::load_q_network(&mut self.online, self.target.as_mut(), model)
    }
}

/// An agent is saved as what it has learned; the scratch buffers are rebuilt on loading.
impl<T: Scalar> Serialize for QrDqnAgent<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (
            &self.online,
            &self.target,
            &self.optimizer,
            &self.rule,
            self.max_batch,
        )
            .serialize(serializer)
    }
}

impl<'de, T: Scalar> Deserialize<'de> for QrDqnAgent<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (online, target, optimizer, rule, max_batch): (
            Mlp<T>,
            Option<Mlp<T>>,
            Optimizer<T>,
            QuantileRule,
            usize,
        ) = Deserialize::deserialize(deserializer)?;
        let consistent = online.arch().quantiles > 1
            && target
                .as_ref()
                .is_none_or(|t| t.sizes() == online.sizes() && t.arch() == online.arch())
            && optimizer.n_params() == online.n_params();
        if !consistent {
            return Err(serde::de::Error::custom(
                "QR-DQN networks and optimizer state do not fit together",
            ));
        }
        Ok(Self::assemble(online, target, optimizer, rule, max_batch))
    }
}
