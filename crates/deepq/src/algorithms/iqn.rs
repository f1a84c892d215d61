//! IQN (Dabney et al., "Implicit Quantile Networks for Distributional Reinforcement
//! Learning", ICML 2018) as a [`Learner`] on the shared [off-policy loop](super::off_policy),
//! following Dopamine's implicit quantile agent.
//!
//! The network ([`ImplicitQuantileNet`]) gives the return quantile `Z_τ(s, a)` at any
//! fraction τ. Fractions are drawn uniformly from the run's own `Quantiles` stream. One
//! update:
//!
//! 1. K fractions per next state; the evaluator's (the target network's) greedy action a*
//!    there, by the mean over them;
//! 2. N′ fresh fractions per next state, and the target samples
//!    `r + γᵐ·(1 − done)·Z_τ′(s′, a*)` (m the n-step horizon);
//! 3. N fresh fractions per state, the online quantiles of the taken action there, and the
//!    quantile Huber loss (κ = 1) at those fractions, summed over the N online quantiles and
//!    averaged over the N′ targets and the batch (importance-weighted under prioritized
//!    replay, whose new priority is the sample's loss);
//! 4. backward through the head, the τ-embedding and the torso; clip the global gradient
//!    norm; the optimizer's step.
//!
//! Acting in training averages over K sampled fractions, as Dopamine does; greedy
//! evaluation (and a saved model) over K evenly spaced ones, which is deterministic.
//!
//! With `munchausen = true` this is M-IQN (google-research/munchausen_rl's `m_iqn.py`): the
//! [`Munchausen`] target with Q-values averaged over K fractions of the target network, K
//! fresh ones per state for the log-policy bonus and the choice fractions per next state
//! for the policy `π(·|s′)`, and each target sample
//! `r + α·clip(τ·log π(a|s), l₀, 0) + γᵐ·(1 − done)·Σ_a' π(a'|s′)·(Z_τ′(s′, a') − τ·log π(a'|s′))`
//! in place of step 2's. Acting stays ε-greedy on the mean over K fractions, as M-DQN's does
//! here (`m_iqn.py` samples from π by default).

use deepq_envs::Space;
use deepq_nn::{
    ImplicitQuantileNet, IqnWorkspace, Optimizer, Scalar, argmax_per_row, clip_grad_norm,
    mean_over_quantiles, quantile_huber_loss, scaled_log_policy, soft_value_under,
};
use rand::Rng;
use rand_pcg::Pcg64;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::munchausen::Munchausen;
use super::off_policy::{Learner, OffPolicy, UpdateStats, bootstrap_discounts, discount_powers};
use crate::config::{ConfigError, DqnConfig};
use crate::model::{ImplicitNetwork, Model};
use crate::network;
use crate::replay::Batch;
use crate::rng::{Stream, stream_rng};

/// IQN on `n_envs` copies of environment `E`, with a network of scalar `T`.
pub type Iqn<E, T> = OffPolicy<E, IqnAgent<T>>;

/// Config keys only IQN's learner reads (besides the off-policy loop's), with Dopamine's
/// names.
pub(crate) const KEYS: &[&str] = &[
    "num_tau_samples",
    "num_tau_prime_samples",
    "num_quantile_samples",
    "quantile_embedding_dim",
];

/// How IQN's targets are formed and its gradient applied.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct IqnRule {
    /// Discount factor.
    pub gamma: f64,
    /// Global gradient-norm clip (infinite: none).
    pub max_grad_norm: f64,
    /// Whether truncated transitions bootstrap.
    pub bootstrap_on_truncation: bool,
    /// The longest n-step horizon of a stored return.
    pub n_steps: usize,
    /// Compute new replay priorities (each sample's loss) in each update.
    pub prioritized: bool,
    /// N: fractions of the online quantiles.
    pub num_tau_samples: usize,
    /// N′: fractions of the target quantiles.
    pub num_tau_prime_samples: usize,
    /// K: fractions an action averages over.
    pub num_quantile_samples: usize,
    /// M-IQN's target ([`Munchausen`]), when set.
    pub munchausen: Option<Munchausen>,
}

/// An IQN learner: the online network, an optional target network, an optimizer per network
/// part (one Adam over all parameters, as the parts' updates are elementwise), and the
/// stream of fractions. Every buffer is allocated here, once.
#[derive(Clone, Debug)]
pub struct IqnAgent<T: Scalar> {
    online: ImplicitQuantileNet<T>,
    target: Option<ImplicitQuantileNet<T>>,
    optimizers: Vec<Optimizer<T>>,
    rule: IqnRule,
    max_batch: usize,
    quantile_rng: Pcg64,
    ws_online: IqnWorkspace<T>,
    ws_next: IqnWorkspace<T>,
    ws_act: IqnWorkspace<T>,
    obs_scalar: Vec<T>,
    act_taus: Vec<T>,
    greedy_taus: Vec<T>,
    taus: Vec<T>,
    taus_prime: Vec<T>,
    taus_choice: Vec<T>,
    /// M-IQN: the fractions of the target network's Q-values at each state (`batch × K`).
    taus_here: Vec<T>,
    gamma_pows: Vec<T>,
    discounts: Vec<T>,
    next_q: Vec<T>,
    next_choice: Vec<u32>,
    /// M-IQN: the evaluator's Q-values at each state.
    q_here: Vec<T>,
    /// M-IQN: each sample's reward plus its log-policy bonus.
    rewards: Vec<T>,
    /// M-IQN: `τ·log π` of one row.
    log_pi: Vec<T>,
    targets: Vec<T>,
    current: Vec<T>,
    grad_current: Vec<T>,
    grad_out: Vec<T>,
    grads: Vec<T>,
    per_sample: Vec<T>,
    priorities: Vec<f64>,
}

/// Fills `taus` with fractions drawn uniformly from [0, 1).
fn draw_fractions<T: Scalar>(rng: &mut Pcg64, taus: &mut [T]) {
    for t in taus {
        *t = T::from_f64(rng.random::<f64>());
    }
}

impl<T: Scalar> IqnAgent<T> {
    /// An agent around an online network, the target a copy of it (with `target_network`),
    /// fresh optimizer state and the run's `Quantiles` stream.
    pub fn from_network(online: ImplicitQuantileNet<T>, cfg: &DqnConfig) -> Self {
        let target = cfg.target.enabled.then(|| online.clone());
        let optimizers = online
            .parts()
            .iter()
            .map(|p| Optimizer::new(cfg.optimizer_config(), p.n_params()))
            .collect();
        let rule = IqnRule {
            gamma: cfg.returns.gamma,
            max_grad_norm: cfg.optimizer.max_grad_norm,
            bootstrap_on_truncation: cfg.returns.bootstrap_on_truncation,
            n_steps: cfg.replay.n_steps,
            prioritized: cfg.replay.prioritized,
            num_tau_samples: cfg.iqn.num_tau_samples,
            num_tau_prime_samples: cfg.iqn.num_tau_prime_samples,
            num_quantile_samples: cfg.iqn.num_quantile_samples,
            munchausen: Munchausen::from_config(cfg),
        };
        let quantile_rng = stream_rng(cfg.run.seed, Stream::Quantiles);
        let max_batch = cfg.replay.batch_size.max(cfg.run.n_envs);
        Self::assemble(online, target, optimizers, rule, max_batch, quantile_rng)
    }

    fn assemble(
        online: ImplicitQuantileNet<T>,
        target: Option<ImplicitQuantileNet<T>>,
        optimizers: Vec<Optimizer<T>>,
        rule: IqnRule,
        max_batch: usize,
        quantile_rng: Pcg64,
    ) -> Self {
        let b = max_batch;
        let (n, n_prime, k) = (
            rule.num_tau_samples,
            rule.num_tau_prime_samples,
            rule.num_quantile_samples,
        );
        let a = online.n_actions();
        let prioritized = if rule.prioritized { b } else { 0 };
        let munchausen = if rule.munchausen.is_some() { b } else { 0 };
        IqnAgent {
            ws_online: IqnWorkspace::new(&online, b, n),
            ws_next: IqnWorkspace::new(&online, b, n_prime.max(k)),
            ws_act: IqnWorkspace::new(&online, 1, k),
            obs_scalar: vec![T::ZERO; online.n_inputs()],
            act_taus: vec![T::ZERO; k],
            greedy_taus: online.greedy_taus(),
            taus: vec![T::ZERO; b * n],
            taus_prime: vec![T::ZERO; b * n_prime],
            taus_choice: vec![T::ZERO; b * k],
            taus_here: vec![T::ZERO; munchausen * k],
            gamma_pows: discount_powers(rule.gamma, rule.n_steps),
            discounts: vec![T::ZERO; b],
            next_q: vec![T::ZERO; b * a],
            next_choice: vec![0; b],
            q_here: vec![T::ZERO; munchausen * a],
            rewards: vec![T::ZERO; munchausen],
            log_pi: vec![T::ZERO; if munchausen > 0 { a } else { 0 }],
            targets: vec![T::ZERO; b * n_prime],
            current: vec![T::ZERO; b * n],
            grad_current: vec![T::ZERO; b * n],
            grad_out: vec![T::ZERO; b * n * a],
            grads: vec![T::ZERO; online.n_params()],
            per_sample: vec![T::ZERO; prioritized],
            priorities: vec![0.0; prioritized],
            online,
            target,
            optimizers,
            rule,
            max_batch,
            quantile_rng,
        }
    }

    /// An agent around existing online and target networks (e.g. loaded weights): as
    /// [`from_network`](Self::from_network), with `target` as the target network.
    ///
    /// # Panics
    /// If `target` differs from `online` in shape.
    pub fn from_networks(
        online: ImplicitQuantileNet<T>,
        target: Option<ImplicitQuantileNet<T>>,
        cfg: &DqnConfig,
    ) -> Self {
        assert!(
            target.as_ref().is_none_or(|t| t
                .parts()
                .iter()
                .zip(online.parts())
                .all(|(a, b)| a.sizes() == b.sizes() && a.conv_layers() == b.conv_layers())),
            "the target network must have the online network's shape"
        );
        let mut agent = Self::from_network(online, cfg);
        agent.target = target;
        agent
    }

    /// The online network.
    pub fn network(&self) -> &ImplicitQuantileNet<T> {
        &self.online
    }

    /// One gradient step on `batch`, as the module docs describe, at fractions drawn from the
    /// run's stream (K per next state for the choice, then N′, then N per state, then for
    /// M-IQN K per state); returns the loss before the step and the mean quantile of the
    /// taken actions.
    pub fn update(&mut self, batch: &Batch<T>) -> UpdateStats {
        let b = batch.len();
        let (n, n_prime, k) = self.fraction_counts();
        let here = self.fractions_here(b);
        let mut taus = std::mem::take(&mut self.taus);
        let mut taus_prime = std::mem::take(&mut self.taus_prime);
        let mut taus_choice = std::mem::take(&mut self.taus_choice);
        let mut taus_here = std::mem::take(&mut self.taus_here);
        draw_fractions(&mut self.quantile_rng, &mut taus_choice[..b * k]);
        draw_fractions(&mut self.quantile_rng, &mut taus_prime[..b * n_prime]);
        draw_fractions(&mut self.quantile_rng, &mut taus[..b * n]);
        draw_fractions(&mut self.quantile_rng, &mut taus_here[..here]);
        let stats = self.update_at(
            batch,
            &taus_choice[..b * k],
            &taus_prime[..b * n_prime],
            &taus[..b * n],
            &taus_here[..here],
        );
        (self.taus, self.taus_prime, self.taus_choice, self.taus_here) =
            (taus, taus_prime, taus_choice, taus_here);
        stats
    }

    /// (N, N′, K).
    fn fraction_counts(&self) -> (usize, usize, usize) {
        let rule = &self.rule;
        (
            rule.num_tau_samples,
            rule.num_tau_prime_samples,
            rule.num_quantile_samples,
        )
    }

    /// How many fractions M-IQN's Q-values at the states of a batch of `b` take (none without
    /// Munchausen).
    fn fractions_here(&self, b: usize) -> usize {
        match self.rule.munchausen {
            Some(_) => b * self.rule.num_quantile_samples,
            None => 0,
        }
    }

    /// [`update`](Self::update) at given fractions: `taus_choice` (`batch × K`) for the next
    /// action (M-IQN: the next policy), `taus_prime` (`batch × N′`) for the targets, `taus`
    /// (`batch × N`) for the online quantiles, and `taus_here` (`batch × K` for M-IQN, else
    /// empty) for the target network's Q-values at each state.
    ///
    /// # Panics
    /// If a length does not fit the batch and the rule's counts.
    pub fn update_at(
        &mut self,
        batch: &Batch<T>,
        taus_choice: &[T],
        taus_prime: &[T],
        taus: &[T],
        taus_here: &[T],
    ) -> UpdateStats {
        let b = batch.len();
        let rule = self.rule;
        let (n, n_prime, k) = self.fraction_counts();
        let here = self.fractions_here(b);
        assert!(
            taus_choice.len() == b * k
                && taus_prime.len() == b * n_prime
                && taus.len() == b * n
                && taus_here.len() == here,
            "fractions must be batch × K, batch × N′, batch × N and (M-IQN) batch × K"
        );
        let a = self.online.n_actions();
        bootstrap_discounts(
            batch,
            &self.gamma_pows,
            rule.bootstrap_on_truncation,
            &mut self.discounts[..b],
        );

        // 1. The evaluator's greedy next action, by the mean over K fractions.
        let evaluator = self.target.as_ref().unwrap_or(&self.online);
        let z_choice = evaluator.forward(&batch.next_obs, b, taus_choice, &mut self.ws_next);
        mean_over_quantiles(z_choice, k, a, &mut self.next_q[..b * a]);
        argmax_per_row(&self.next_q[..b * a], a, &mut self.next_choice[..b]);

        // 2. The target samples at N′ fresh fractions.
        if let Some(m) = rule.munchausen {
            // M-IQN: each reward gains its log-policy bonus under the evaluator's Q-values
            // at the state ...
            let z_here = evaluator.forward(&batch.obs, b, taus_here, &mut self.ws_next);
            mean_over_quantiles(z_here, k, a, &mut self.q_here[..b * a]);
            for (i, row) in self.q_here[..b * a].chunks_exact(a).enumerate() {
                self.rewards[i] =
                    batch.rewards[i] + m.bonus(row, batch.actions[i] as usize, &mut self.log_pi);
            }
            // ... and each target sample bootstraps from the soft value of its quantile
            // under the Boltzmann policy of the next state's mean (choice) Q-values.
            let tau = T::from_f64(m.tau);
            let z_next = evaluator.forward(&batch.next_obs, b, taus_prime, &mut self.ws_next);
            for i in 0..b {
                scaled_log_policy(&self.next_q[i * a..(i + 1) * a], tau, &mut self.log_pi);
                for j in 0..n_prime {
                    let z = &z_next[(i * n_prime + j) * a..(i * n_prime + j + 1) * a];
                    let soft = soft_value_under(z, tau, &self.log_pi);
                    self.targets[i * n_prime + j] = self.rewards[i] + self.discounts[i] * soft;
                }
            }
        } else {
            let z_next = evaluator.forward(&batch.next_obs, b, taus_prime, &mut self.ws_next);
            for i in 0..b {
                let choice = self.next_choice[i] as usize;
                for j in 0..n_prime {
                    self.targets[i * n_prime + j] = batch.rewards[i]
                        + self.discounts[i] * z_next[(i * n_prime + j) * a + choice];
                }
            }
        }

        // 3. The online quantiles of the taken actions at N fractions, and the loss.
        let z = self
            .online
            .forward(&batch.obs, b, taus, &mut self.ws_online);
        let mut sum_q = 0.0;
        for (i, &action) in batch.actions.iter().enumerate() {
            for j in 0..n {
                let v = z[(i * n + j) * a + action as usize];
                self.current[i * n + j] = v;
                sum_q += v.to_f64();
            }
        }
        let weights = (!batch.weights.is_empty()).then(|| &batch.weights[..b]);
        let loss = quantile_huber_loss(
            b,
            &self.current[..b * n],
            taus,
            &self.targets[..b * n_prime],
            weights,
            &mut self.grad_current[..b * n],
            rule.prioritized.then(|| &mut self.per_sample[..b]),
        );
        if rule.prioritized {
            for (p, l) in self.priorities.iter_mut().zip(&self.per_sample[..b]) {
                *p = l.to_f64();
            }
        }

        // 4. Backward, clip, step each part with its optimizer.
        let grad_out = &mut self.grad_out[..b * n * a];
        grad_out.fill(T::ZERO);
        for (i, &action) in batch.actions.iter().enumerate() {
            for j in 0..n {
                grad_out[(i * n + j) * a + action as usize] = self.grad_current[i * n + j];
            }
        }
        self.online
            .backward(&mut self.ws_online, grad_out, &mut self.grads);
        if rule.max_grad_norm.is_finite() {
            clip_grad_norm(&mut self.grads, T::from_f64(rule.max_grad_norm));
        }
        let mut grads = &self.grads[..];
        for (params, optimizer) in self
            .online
            .params_mut()
            .into_iter()
            .zip(&mut self.optimizers)
        {
            let (part, rest) = grads.split_at(params.len());
            optimizer.step(params, part);
            grads = rest;
        }
        UpdateStats {
            loss: loss.to_f64(),
            mean_q: sum_q / (b * n) as f64,
        }
    }

    fn act_on(&mut self, obs: &[f32], sampled: bool) -> usize {
        for (dst, &x) in self.obs_scalar.iter_mut().zip(obs) {
            *dst = T::from_f64(f64::from(x));
        }
        let taus = if sampled {
            draw_fractions(&mut self.quantile_rng, &mut self.act_taus);
            &self.act_taus
        } else {
            &self.greedy_taus
        };
        self.online
            .greedy_action(&self.obs_scalar, taus, &mut self.ws_act)
    }
}

impl<T: Scalar> Learner for IqnAgent<T>
where
    ImplicitNetwork: From<ImplicitQuantileNet<T>>,
{
    type Float = T;

    fn new(cfg: &DqnConfig, space: &Space, n_actions: usize) -> Result<Self, ConfigError> {
        let mut rng = stream_rng(cfg.run.seed, Stream::Init);
        let online = network::iqn_network(cfg, space, n_actions, &mut rng)?;
        Ok(IqnAgent::from_network(online, cfg))
    }

    fn n_actions(&self) -> usize {
        self.online.n_actions()
    }

    /// Greedy on the mean over K evenly spaced fractions (deterministic).
    fn greedy_action(&mut self, obs: &[f32]) -> usize {
        self.act_on(obs, false)
    }

    /// Greedy on the mean over K fractions sampled from the run's stream, as Dopamine acts.
    fn behaviour_action(&mut self, obs: &[f32]) -> usize {
        self.act_on(obs, true)
    }

    fn sample_noise(&mut self, _rng: &mut Pcg64) {}

    fn remove_noise(&mut self) {}

    fn update(&mut self, batch: &Batch<T>, _noise_rng: &mut Pcg64) -> UpdateStats {
        IqnAgent::update(self, batch)
    }

    fn priorities(&self, batch_len: usize) -> &[f64] {
        &self.priorities[..batch_len.min(self.priorities.len())]
    }

    fn update_target(&mut self, tau: f64) {
        if let Some(target) = &mut self.target {
            if tau >= 1.0 {
                target.copy_params_from(&self.online);
            } else {
                target.polyak_towards(&self.online, T::from_f64(tau));
            }
        }
    }

    fn learning_rate(&self) -> f64 {
        self.optimizers[0].lr()
    }

    fn set_learning_rate(&mut self, lr: f64) {
        for optimizer in &mut self.optimizers {
            optimizer.set_lr(lr);
        }
    }

    fn fits(&self, cfg: &DqnConfig, space: &Space, n_actions: usize) -> bool {
        network::iqn_fits(&self.online, cfg, space, n_actions)
            && self.rule.num_tau_samples == cfg.iqn.num_tau_samples
    }

    fn model(&self) -> Model {
        Model::Implicit(self.online.clone().into())
    }

    fn target_model(&self) -> Option<Model> {
        self.target
            .clone()
            .map(|target| Model::Implicit(target.into()))
    }

    fn load_model(&mut self, model: &Model) -> Result<(), ConfigError> {
        network::load_implicit_network(&mut self.online, self.target.as_mut(), model)
    }
}

/// What an agent saves: the networks, optimizers, rule, batch capacity and fraction stream.
type Saved<T> = (
    ImplicitQuantileNet<T>,
    Option<ImplicitQuantileNet<T>>,
    Vec<Optimizer<T>>,
    IqnRule,
    usize,
    Pcg64,
);

/// An agent is saved as what it has learned and its stream; scratch is rebuilt on loading.
impl<T: Scalar> Serialize for IqnAgent<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (
            &self.online,
            &self.target,
            &self.optimizers,
            &self.rule,
            self.max_batch,
            &self.quantile_rng,
        )
            .serialize(serializer)
    }
}

impl<'de, T: Scalar> Deserialize<'de> for IqnAgent<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (online, target, optimizers, rule, max_batch, quantile_rng): Saved<T> =
            Deserialize::deserialize(deserializer)?;
        let consistent = optimizers.len() == 3
            && optimizers
                .iter()
                .zip(online.parts())
                .all(|(o, p)| o.n_params() == p.n_params())
            && target
                .as_ref()
                .is_none_or(|t| t.n_params() == online.n_params());
        if !consistent {
            return Err(serde::de::Error::custom(
                "IQN networks and optimizer state do not fit together",
            ));
        }
        Ok(Self::assemble(
            online,
            target,
            optimizers,
            rule,
            max_batch,
            quantile_rng,
        ))
    }
}
