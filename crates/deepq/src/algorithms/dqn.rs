//! DQN (Mnih et al. 2015) with every classic knob and Rainbow's parts, as a [`Learner`] on the
//! shared [off-policy loop](super::off_policy): the online Q-network, an optional target
//! network and the optimizer, and the TD update [`DqnAgent::update`] (double DQN, the naive
//! learner's max-Q regression, C51's categorical projection, n-step horizons, importance
//! weights and new priorities for prioritized replay).

use deepq_envs::Space;
use deepq_nn::{
    Loss, Mlp, Optimizer, Scalar, Workspace, argmax_per_row, categorical_loss,
    categorical_projection, clip_grad_norm, expected_q, expected_q_from_probs, expected_value,
    gather, max_per_row, q_loss, soft_value, softmax_rows,
};
use rand::Rng;
use rand_pcg::Pcg64;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::munchausen::Munchausen;
use super::off_policy::{
    Learner, OffPolicy, UpdateStats, bootstrap_discounts, discount_powers, sync_target,
};
use crate::config::{ConfigError, DqnConfig};
use crate::model::{Model, QNetwork};
use crate::network::{self, Actor};
use crate::replay::Batch;
use crate::rng::{Stream, stream_rng};

/// DQN on `n_envs` copies of environment `E`, with a network of scalar `T`.
pub type Dqn<E, T> = OffPolicy<E, DqnAgent<T>>;

/// Config keys only DQN's learner reads (besides the off-policy loop's).
pub(crate) const KEYS: &[&str] = &[
    "double_q",
    "regress_max_q",
    "loss",
    "dueling",
    "noisy",
    "noisy_sigma0",
    "atoms",
    "v_min",
    "v_max",
];

/// How the TD target is formed and the gradient applied.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct UpdateRule {
    /// Discount factor.
    pub gamma: f64,
    /// Double DQN: the online network picks a', the target network values it.
    pub double_q: bool,
    /// Loss on the TD error.
    pub loss: Loss,
    /// Global gradient-norm clip (infinite: none).
    pub max_grad_norm: f64,
    /// Whether truncated transitions bootstrap (only termination stops the bootstrap).
    pub bootstrap_on_truncation: bool,
    /// Regress max_a Q(s, a) rather than the taken action's value (the naive learner).
    pub regress_max_q: bool,
    /// The longest n-step horizon of a stored return (1 for one-step returns).
    pub n_steps: usize,
    /// Compute new replay priorities (|TD error|, or the C51 cross-entropy) in each update.
    pub prioritized: bool,
    /// Munchausen-DQN's target ([`Munchausen`]), when set.
    pub munchausen: Option<Munchausen>,
}

impl UpdateRule {
    /// The rule a config asks for.
    pub fn from_config(cfg: &DqnConfig) -> Self {
        UpdateRule {
            gamma: cfg.returns.gamma,
            double_q: cfg.dqn.double_q,
            loss: cfg.dqn.loss,
            max_grad_norm: cfg.optimizer.max_grad_norm,
            bootstrap_on_truncation: cfg.returns.bootstrap_on_truncation,
            regress_max_q: cfg.dqn.regress_max_q,
            n_steps: cfg.replay.n_steps,
            prioritized: cfg.replay.prioritized,
            munchausen: Munchausen::from_config(cfg),
        }
    }
}

/// A DQN learner over a flat observation vector and `n_actions` discrete actions.
///
/// Every buffer an update or an action needs is allocated here, once.
#[derive(Clone, Debug)]
pub struct DqnAgent<T: Scalar> {
    online: Mlp<T>,
    /// `None` when targets come from the online network itself.
    target: Option<Mlp<T>>,
    /// The target network is an exact copy of the online one (copied since the last gradient
    /// step, without noise): its forward passes would repeat the online network's bits, so
    /// double DQN takes a' from the target's own Q-values instead of a second pass (as with
    /// DrQ(ε)'s target update at every step).
    target_is_copy: bool,
    optimizer: Optimizer<T>,
    rule: UpdateRule,
    /// Largest batch the scratch buffers hold.
    max_batch: usize,
    /// Activations of the online forward pass on `obs`, kept for the backward pass.
    ws_train: Workspace<T>,
    /// Activations of forward passes on `next_obs`.
    ws_next: Workspace<T>,
    actor: Actor<T>,
    /// The evaluator's Q(s', ·) rows, kept while the online network chooses a' (double DQN).
    next_q: Vec<T>,
    next_values: Vec<T>,
    next_choice: Vec<u32>,
    /// Q(s, a) of the regressed actions, for the mean-Q statistic.
    q_taken: Vec<T>,
    /// Greedy actions of the batch, for `regress_max_q`.
    max_actions: Vec<u32>,
    targets: Vec<T>,
    /// Munchausen: each sample's reward plus its log-policy bonus (empty without it).
    rewards: Vec<T>,
    /// γ^horizon, times 0 where the target does not bootstrap.
    discounts: Vec<T>,
    /// `gamma_pows[h]` = γ^h for the horizons of n-step returns.
    gamma_pows: Vec<T>,
    /// d loss / d output of the online network.
    grad_q: Vec<T>,
    grads: Vec<T>,
    /// TD errors of the last update (for priorities).
    td: Vec<T>,
    /// New priorities of the last update's samples (|TD error| or cross-entropy), when the
    /// rule is prioritized.
    priorities: Vec<f64>,
    /// C51: the evaluator's next-state distributions, per sample and action.
    next_probs: Vec<T>,
    /// C51: the chosen next action's distribution, then the projected target.
    chosen: Vec<T>,
    target_dist: Vec<T>,
    per_sample: Vec<T>,
}

impl<T: Scalar> DqnAgent<T> {
    /// A fresh agent: the online network initialised from `rng`, the target a copy of it.
    pub fn new(obs_dim: usize, n_actions: usize, cfg: &DqnConfig, rng: &mut impl Rng) -> Self {
        let mut sizes = vec![obs_dim];
        sizes.extend(&cfg.network.net_arch);
        sizes.push(n_actions);
        let online = Mlp::with_arch(&sizes, cfg.arch(), cfg.dqn.noisy_sigma0, rng);
        Self::from_network(online, cfg)
    }

    /// An agent around an existing network (e.g. loaded weights), with fresh optimizer state.
    pub fn from_network(online: Mlp<T>, cfg: &DqnConfig) -> Self {
        let optimizer = Optimizer::new(cfg.optimizer_config(), online.n_params());
        let target = cfg.target.enabled.then(|| online.clone());
        let max_batch = cfg.replay.batch_size.max(cfg.run.n_envs);
        Self::assemble(
            online,
            target,
            optimizer,
            UpdateRule::from_config(cfg),
            max_batch,
        )
    }

    /// Builds the agent around its learned state, allocating every scratch buffer once.
    fn assemble(
        online: Mlp<T>,
        target: Option<Mlp<T>>,
        optimizer: Optimizer<T>,
        rule: UpdateRule,
        max_batch: usize,
    ) -> Self {
        let n_params = online.n_params();
        let (batch, n_out) = (max_batch, online.n_outputs());
        let (width, atoms) = (online.output_width(), online.arch().atoms);
        let dist = |n: usize| {
            if atoms > 1 {
                vec![T::default(); n]
            } else {
                Vec::new()
            }
        };
        DqnAgent {
            target,
            target_is_copy: false,
            optimizer,
            rule,
            max_batch,
            ws_train: Workspace::new(&online, batch),
            ws_next: Workspace::new(&online, batch),
            actor: Actor::new(&online),
            next_q: vec![T::default(); batch * n_out],
            next_values: vec![T::default(); batch],
            next_choice: vec![0; batch],
            q_taken: vec![T::default(); batch],
            max_actions: vec![0; batch],
            targets: vec![T::default(); batch],
            rewards: vec![T::default(); if rule.munchausen.is_some() { batch } else { 0 }],
            grad_q: vec![T::default(); batch * width],
            grads: vec![T::default(); n_params],
            discounts: vec![T::default(); batch],
            gamma_pows: discount_powers(rule.gamma, rule.n_steps),
            // Prioritized replay's and C51's buffers stay empty unless the rule uses them:
            // an empty `priorities` is how `priorities()` says there are none to write back.
            td: if rule.prioritized {
                vec![T::default(); batch]
            } else {
                Vec::new()
            },
            priorities: vec![0.0; if rule.prioritized { batch } else { 0 }],
            next_probs: dist(batch * width),
            chosen: dist(batch * atoms),
            target_dist: dist(batch * atoms),
            per_sample: dist(batch),
            online,
        }
    }

    /// The online Q-network.
    pub fn network(&self) -> &Mlp<T> {
        &self.online
    }

    /// The target network, if the agent keeps one.
    pub fn target_network(&self) -> Option<&Mlp<T>> {
        self.target.as_ref()
    }

    /// The optimizer with its state.
    pub fn optimizer(&self) -> &Optimizer<T> {
        &self.optimizer
    }

    /// Number of actions.
    pub fn n_actions(&self) -> usize {
        self.online.n_outputs()
    }

    /// The greedy action argmax_a Q(obs, a) (the first on ties).
    pub fn greedy_action(&mut self, obs: &[f32]) -> usize {
        self.actor.greedy_action(&self.online, obs)
    }

    /// Switches the networks' noise off, so that greedy actions use the mean weights (for
    /// evaluation). The next update or noisy action draws noise again.
    pub fn remove_noise(&mut self) {
        self.online.remove_noise();
        if let Some(t) = &mut self.target {
            t.remove_noise();
        }
    }

    /// The new priorities (|TD error|, or the C51 cross-entropy) of the samples of the last
    /// update, when the update rule is prioritized (empty otherwise).
    pub fn priorities(&self, batch_len: usize) -> &[f64] {
        &self.priorities[..batch_len.min(self.priorities.len())]
    }

    /// One gradient step on `batch` towards r + γᵐ·(1 − done)·Q_target(s', a') (m the
    /// transition's horizon; for C51, the cross-entropy to the projected target distribution),
    /// each sample's loss scaled by its importance weight if the batch has weights. A noisy
    /// network first draws fresh noise, online then target, from `noise_rng`.
    pub fn update(&mut self, batch: &Batch<T>, noise_rng: &mut impl Rng) -> UpdateStats {
        let b = batch.len();
        let rule = self.rule;
        if self.online.arch().noisy {
            self.online.sample_noise(noise_rng);
            if let Some(t) = &mut self.target {
                t.sample_noise(noise_rng);
            }
        }
        bootstrap_discounts(
            batch,
            &self.gamma_pows,
            rule.bootstrap_on_truncation,
            &mut self.discounts[..b],
        );
        let weights = (!batch.weights.is_empty()).then(|| &batch.weights[..b]);
        let (loss, mean_q) = if self.online.arch().is_distributional() {
            self.categorical_step(batch, weights)
        } else {
            self.scalar_step(batch, weights)
        };
        let width = self.online.output_width();
        self.online.backward(
            &mut self.ws_train,
            &self.grad_q[..b * width],
            &mut self.grads,
        );
        if rule.max_grad_norm.is_finite() {
            clip_grad_norm(&mut self.grads, T::from_f64(rule.max_grad_norm));
        }
        self.optimizer.step(self.online.params_mut(), &self.grads);
        self.target_is_copy = false;
        UpdateStats {
            loss: loss.to_f64(),
            mean_q,
        }
    }

    /// Targets, forward pass and loss gradient of a scalar-Q update; returns (loss, mean Q).
    fn scalar_step(&mut self, batch: &Batch<T>, weights: Option<&[T]>) -> (T, f64) {
        let b = batch.len();
        let n_actions = self.n_actions();
        let rule = self.rule;

        // Value of the next state, from the target network (or the online one without it).
        let evaluator = self.target.as_ref().unwrap_or(&self.online);
        let q_next = evaluator.forward(&batch.next_obs, b, &mut self.ws_next);
        if let Some(m) = rule.munchausen {
            // Munchausen: bootstrap from the soft value of the next state, and add the
            // clipped, scaled log-policy of the taken action, both under the evaluator's
            // Boltzmann policy.
            let log_pi = &mut self.next_q[..n_actions];
            for (v, row) in self.next_values[..b]
                .iter_mut()
                .zip(q_next.chunks_exact(n_actions))
            {
                *v = soft_value(row, T::from_f64(m.tau), log_pi);
            }
            let q_here = evaluator.forward(&batch.obs, b, &mut self.ws_next);
            for (i, row) in q_here.chunks_exact(n_actions).enumerate() {
                self.rewards[i] =
                    batch.rewards[i] + m.bonus(row, batch.actions[i] as usize, log_pi);
            }
        } else if rule.double_q {
            // Double DQN: keep the evaluator's rows, let the online network choose a' (the
            // same rows when the target is an exact copy of it).
            self.next_q[..b * n_actions].copy_from_slice(q_next);
            let q_choice = if self.target_is_copy {
                &self.next_q[..b * n_actions]
            } else {
                self.online.forward(&batch.next_obs, b, &mut self.ws_next)
            };
            argmax_per_row(q_choice, n_actions, &mut self.next_choice[..b]);
            gather(
                &self.next_q[..b * n_actions],
                n_actions,
                &self.next_choice[..b],
                &mut self.next_values[..b],
            );
        } else {
            max_per_row(q_next, n_actions, &mut self.next_values[..b]);
        }
        let rewards = match rule.munchausen {
            Some(_) => &self.rewards[..b],
            None => &batch.rewards[..b],
        };
        for (((t, &r), &d), &v) in self.targets[..b]
            .iter_mut()
            .zip(rewards)
            .zip(&self.discounts[..b])
            .zip(&self.next_values[..b])
        {
            *t = r + d * v;
        }

        let q = self.online.forward(&batch.obs, b, &mut self.ws_train);
        let actions = if rule.regress_max_q {
            argmax_per_row(q, n_actions, &mut self.max_actions[..b]);
            &self.max_actions[..b]
        } else {
            &batch.actions[..]
        };
        gather(q, n_actions, actions, &mut self.q_taken[..b]);
        let mean_q = self.q_taken[..b].iter().map(|v| v.to_f64()).sum::<f64>() / b as f64;
        let loss = q_loss(
            rule.loss,
            q,
            n_actions,
            actions,
            &self.targets[..b],
            weights,
            &mut self.grad_q[..b * n_actions],
            rule.prioritized.then(|| &mut self.td[..b]),
        );
        if rule.prioritized {
            for (p, td) in self.priorities.iter_mut().zip(&self.td[..b]) {
                *p = td.to_f64().abs();
            }
        }
        (loss, mean_q)
    }

    /// Target distributions, forward pass and loss gradient of a C51 update; returns (loss,
    /// mean Q of the taken actions).
    fn categorical_step(&mut self, batch: &Batch<T>, weights: Option<&[T]>) -> (T, f64) {
        let b = batch.len();
        let n_actions = self.n_actions();
        let rule = self.rule;
        let arch = *self.online.arch();
        let atoms = arch.atoms;
        let width = n_actions * atoms;

        // The next state's distributions from the evaluator; a' by the expected values of
        // the evaluator, or of the online network (double DQN).
        let evaluator = self.target.as_ref().unwrap_or(&self.online);
        let logits_next = evaluator.forward(&batch.next_obs, b, &mut self.ws_next);
        softmax_rows(logits_next, atoms, &mut self.next_probs[..b * width]);
        if !rule.double_q {
            expected_q_from_probs(
                &self.next_probs[..b * width],
                evaluator.support(),
                &mut self.next_q[..b * n_actions],
            );
        } else {
            // The online network's logits: the target's own when it is an exact copy.
            let logits_choice = if self.target_is_copy {
                logits_next
            } else {
                self.online.forward(&batch.next_obs, b, &mut self.ws_next)
            };
            expected_q(
                logits_choice,
                self.online.support(),
                &mut self.next_q[..b * n_actions],
            );
        }
        argmax_per_row(
            &self.next_q[..b * n_actions],
            n_actions,
            &mut self.next_choice[..b],
        );
        for i in 0..b {
            let a = self.next_choice[i] as usize;
            let from = (i * n_actions + a) * atoms;
            self.chosen[i * atoms..(i + 1) * atoms]
                .copy_from_slice(&self.next_probs[from..from + atoms]);
        }
        categorical_projection(
            &self.chosen[..b * atoms],
            &batch.rewards[..b],
            &self.discounts[..b],
            arch.v_min,
            arch.v_max,
            &mut self.target_dist[..b * atoms],
        );

        let logits = self.online.forward(&batch.obs, b, &mut self.ws_train);
        let support = self.online.support();
        let mut sum_q = 0.0;
        for (i, &a) in batch.actions.iter().enumerate() {
            let from = (i * n_actions + a as usize) * atoms;
            sum_q += expected_value(&logits[from..from + atoms], support).to_f64();
        }
        let loss = categorical_loss(
            logits,
            n_actions,
            atoms,
            &batch.actions,
            &self.target_dist[..b * atoms],
            weights,
            &mut self.grad_q[..b * width],
            rule.prioritized.then_some(&mut self.per_sample[..b]),
        );
        if rule.prioritized {
            for (p, ce) in self.priorities.iter_mut().zip(&self.per_sample[..b]) {
                *p = ce.to_f64();
            }
        }
        (loss, sum_q / b as f64)
    }

    /// Moves the target network towards the online one: a copy when `tau` is 1, else Polyak.
    pub fn update_target(&mut self, tau: f64) {
        sync_target(self.target.as_mut(), &self.online, tau);
        self.target_is_copy = self.target.is_some() && tau >= 1.0 && !self.online.arch().noisy;
    }
}

impl<T: Scalar> Learner for DqnAgent<T>
where
    QNetwork: From<Mlp<T>>,
{
    type Float = T;

    fn new(cfg: &DqnConfig, space: &Space, n_actions: usize) -> Result<Self, ConfigError> {
        let mut rng = stream_rng(cfg.run.seed, Stream::Init);
        let online = network::q_network(cfg, space, n_actions, &mut rng)?;
        Ok(DqnAgent::from_network(online, cfg))
    }

    fn n_actions(&self) -> usize {
        DqnAgent::n_actions(self)
    }

    fn greedy_action(&mut self, obs: &[f32]) -> usize {
        DqnAgent::greedy_action(self, obs)
    }

    fn behaviour_actions(&mut self, obs: &[f32], actions: &mut [usize]) {
        self.actor.greedy_actions(&self.online, obs, actions);
    }

    fn sample_noise(&mut self, rng: &mut Pcg64) {
        self.online.sample_noise(rng);
    }

    fn remove_noise(&mut self) {
        DqnAgent::remove_noise(self);
    }

    fn update(&mut self, batch: &Batch<T>, noise_rng: &mut Pcg64) -> UpdateStats {
        DqnAgent::update(self, batch, noise_rng)
    }

    fn priorities(&self, batch_len: usize) -> &[f64] {
        DqnAgent::priorities(self, batch_len)
    }

    fn update_target(&mut self, tau: f64) {
        DqnAgent::update_target(self, tau);
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
        acting_model(&self.online)
    }

    fn target_model(&self) -> Option<Model> {
        self.target.as_ref().map(acting_model)
    }

    fn load_model(&mut self, model: &Model) -> Result<(), ConfigError> {
        self.target_is_copy = false;
        network::load_q_network(&mut self.online, self.target.as_mut(), model)
    }
}

/// `network` as a model acting on its mean weights (a noisy network's noise removed).
fn acting_model<T: Scalar>(network: &Mlp<T>) -> Model
where
    QNetwork: From<Mlp<T>>,
{
    let mut network = network.clone();
    network.remove_noise();
    Model::Network(network.into())
}

/// An agent is saved as what it has learned (networks, optimizer state, update rule); the
/// scratch buffers are rebuilt on loading.
impl<T: Scalar> Serialize for DqnAgent<T> {
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

impl<'de, T: Scalar> Deserialize<'de> for DqnAgent<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (online, target, optimizer, rule, max_batch): (
            Mlp<T>,
            Option<Mlp<T>>,
            Optimizer<T>,
            UpdateRule,
            usize,
        ) = Deserialize::deserialize(deserializer)?;
        let consistent = target
            .as_ref()
            .is_none_or(|t| t.sizes() == online.sizes() && t.arch() == online.arch())
            && optimizer.n_params() == online.n_params();
        if !consistent {
            return Err(serde::de::Error::custom(
                "agent networks and optimizer state do not fit together",
            ));
        }
        Ok(Self::assemble(online, target, optimizer, rule, max_batch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{
        DqnSettings, MunchausenSettings, NetworkSettings, OptimizerSettings, ReplaySettings,
        ReturnSettings,
    };
    use rand::SeedableRng;
    use rand_pcg::Pcg64;

    /// n-step targets bootstrap with γ to the transition's horizon, not at all after a
    /// termination, and after a truncation only with `bootstrap_on_truncation`.
    #[test]
    fn targets_use_the_horizon_and_the_end_kind() {
        for bootstrap_on_truncation in [true, false] {
            let cfg = DqnConfig {
                network: NetworkSettings {
                    net_arch: vec![5],
                    ..NetworkSettings::default()
                },
                returns: ReturnSettings {
                    gamma: 0.9,
                    bootstrap_on_truncation,
                },
                replay: ReplaySettings {
                    n_steps: 3,
                    batch_size: 4,
                    ..ReplaySettings::default()
                },
                optimizer: OptimizerSettings {
                    max_grad_norm: f64::INFINITY,
                    ..OptimizerSettings::default()
                },
                ..DqnConfig::default()
            };
            let mut rng = Pcg64::seed_from_u64(1);
            let mut agent = DqnAgent::<f64>::new(2, 2, &cfg, &mut rng);
            let mut batch = Batch::with_capacity(4, 2);
            batch.obs = vec![0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8];
            batch.next_obs = vec![-0.1, 0.2, 0.9, -0.4, 0.3, 0.3, -0.7, 0.1];
            batch.actions = vec![0, 1, 1, 0];
            batch.rewards = vec![1.0, 2.0, 3.0, 4.0];
            batch.terminated = vec![false, true, false, false];
            batch.truncated = vec![false, false, true, true];
            batch.horizons = vec![3, 2, 1, 2];
            let target = agent.target_network().unwrap().clone();
            let mut ws = Workspace::new(&target, 4);
            let q_next = target.forward(&batch.next_obs, 4, &mut ws).to_vec();
            let next_max: Vec<f64> = q_next.chunks(2).map(|r| r[0].max(r[1])).collect();
            agent.update(&batch, &mut rng);
            let bootstrap = |h: i32| 0.9f64.powi(h);
            let truncated = if bootstrap_on_truncation { 1.0 } else { 0.0 };
            let expected = [
                1.0 + bootstrap(3) * next_max[0],
                2.0,
                3.0 + truncated * bootstrap(1) * next_max[2],
                4.0 + truncated * bootstrap(2) * next_max[3],
            ];
            for (t, e) in agent.targets[..4].iter().zip(expected) {
                assert!((t - e).abs() < 1e-12, "{t} vs {e}");
            }
        }
    }

    /// Munchausen-DQN's targets, computed by hand from the target network's Q-values:
    /// `r + α·clip(τ·ln π(a|s), l₀, 0) + γᵐ·Σ_a' π(a'|s′)(q(s′, a') − τ·ln π(a'|s′))` with
    /// `π = softmax(q/τ)`, the bonus clipped where it falls below l₀, no bootstrap after a
    /// termination.
    #[test]
    fn munchausen_targets_match_the_formula() {
        let (alpha, tau, clip) = (0.9, 0.03, -1.0);
        let cfg = DqnConfig {
            network: NetworkSettings {
                net_arch: vec![6],
                ..NetworkSettings::default()
            },
            returns: ReturnSettings {
                gamma: 0.9,
                ..ReturnSettings::default()
            },
            replay: ReplaySettings {
                n_steps: 2,
                batch_size: 4,
                ..ReplaySettings::default()
            },
            optimizer: OptimizerSettings {
                max_grad_norm: f64::INFINITY,
                ..OptimizerSettings::default()
            },
            munchausen: MunchausenSettings {
                enabled: true,
                alpha,
                tau,
                clip,
            },
            ..DqnConfig::default()
        };
        let mut rng = Pcg64::seed_from_u64(3);
        let mut agent = DqnAgent::<f64>::new(2, 3, &cfg, &mut rng);
        let mut batch = Batch::with_capacity(4, 2);
        // Large inputs spread the Q-values of a row beyond 1, so that an unlikely action's
        // τ·ln π falls below l₀ = −1 and the clip is exercised.
        batch.obs = vec![4.0, 8.0, 36.0, -16.0, -20.0, 24.0, 28.0, 32.0];
        batch.next_obs = vec![-0.1, 0.2, 0.3, -0.4, 0.3, 0.3, -0.7, 0.1];
        batch.actions = vec![0, 1, 2, 1];
        batch.rewards = vec![1.0, -2.0, 0.5, 4.0];
        batch.terminated = vec![false, true, false, false];
        batch.truncated = vec![false; 4];
        batch.horizons = vec![2, 1, 1, 2];
        let target = agent.target_network().unwrap().clone();
        let mut ws = Workspace::new(&target, 4);
        let q_next = target.forward(&batch.next_obs, 4, &mut ws).to_vec();
        let q_here = target.forward(&batch.obs, 4, &mut ws).to_vec();
        // ln π by its definition (the rows' Q-values are small, so no overflow).
        let log_pi = |row: &[f64]| -> Vec<f64> {
            let z: f64 = row.iter().map(|q| (q / tau).exp()).sum();
            row.iter().map(|q| q / tau - z.ln()).collect()
        };
        let mut clipped_somewhere = false;
        let mut expected = Vec::new();
        for i in 0..4 {
            let next = &q_next[i * 3..i * 3 + 3];
            let lp = log_pi(next);
            let soft: f64 = (0..3).map(|a| lp[a].exp() * (next[a] - tau * lp[a])).sum();
            let tau_log_pi = tau * log_pi(&q_here[i * 3..i * 3 + 3])[batch.actions[i] as usize];
            clipped_somewhere |= tau_log_pi < clip;
            let discount = if batch.terminated[i] {
                0.0
            } else {
                0.9f64.powi(i32::from(batch.horizons[i]))
            };
            expected.push(batch.rewards[i] + alpha * tau_log_pi.clamp(clip, 0.0) + discount * soft);
        }
        agent.update(&batch, &mut rng);
        for (i, e) in expected.iter().enumerate() {
            let got = agent.targets[i];
            assert!((got - e).abs() < 1e-9, "sample {i}: {got} vs {e}");
        }
        assert!(clipped_somewhere);
    }

    /// With the target copied before every update, double DQN takes a' from the target's own
    /// Q-values (or C51 logits) instead of a second pass of the online network: the weights
    /// after several updates are the bits of the two-pass update, scalar and C51.
    #[test]
    fn a_copied_target_spares_double_dqn_its_second_pass_with_the_same_bits() {
        for atoms in [1, 11] {
            let cfg = DqnConfig {
                network: NetworkSettings {
                    net_arch: vec![8, 8],
                    ..NetworkSettings::default()
                },
                dqn: DqnSettings {
                    double_q: true,
                    atoms,
                    v_min: -5.0,
                    v_max: 5.0,
                    ..DqnSettings::default()
                },
                ..DqnConfig::default()
            };
            let mut rng = Pcg64::seed_from_u64(7);
            let mut spared = DqnAgent::<f32>::new(3, 4, &cfg, &mut rng);
            let mut two_pass = spared.clone();
            let mut batch = Batch::with_capacity(5, 3);
            for step in 0..6 {
                batch.obs = (0..15).map(|_| rng.random_range(-1.0..1.0)).collect();
                batch.next_obs = (0..15).map(|_| rng.random_range(-1.0..1.0)).collect();
                batch.actions = (0..5).map(|_| rng.random_range(0..4)).collect();
                batch.rewards = (0..5).map(|_| rng.random_range(-1.0..1.0)).collect();
                batch.terminated = vec![step % 2 == 0, false, false, true, false];
                batch.truncated = vec![false; 5];
                batch.horizons = vec![1; 5];
                spared.update_target(1.0);
                two_pass.update_target(1.0);
                two_pass.target_is_copy = false;
                assert!(spared.target_is_copy);
                let (mut noise_a, mut noise_b) = (Pcg64::seed_from_u64(1), Pcg64::seed_from_u64(1));
                spared.update(&batch, &mut noise_a);
                two_pass.update(&batch, &mut noise_b);
                assert!(!spared.target_is_copy, "a gradient step ends the copy");
                assert_eq!(spared.next_choice, two_pass.next_choice, "atoms {atoms}");
                let bits = |a: &DqnAgent<f32>| -> Vec<u32> {
                    a.network().params().iter().map(|w| w.to_bits()).collect()
                };
                assert_eq!(
                    bits(&spared),
                    bits(&two_pass),
                    "atoms {atoms}, update {step}"
                );
            }
        }
    }
}
