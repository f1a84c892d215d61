//! The DQN agent: an online Q-network, an optional target network and the optimizer, with
//! ε-greedy acting and the TD update.

use deepq_nn::{
    Loss, Mlp, Optimizer, Scalar, Workspace, argmax_per_row, clip_grad_norm, gather, max_per_row,
    polyak_update, q_loss,
};
use rand::Rng;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::config::DqnConfig;
use crate::replay::Batch;

/// What one gradient step measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UpdateStats {
    /// The loss value before the step.
    pub loss: f64,
    /// Mean of Q(s, a) over the batch, for the taken actions.
    pub mean_q: f64,
}

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
}

impl UpdateRule {
    /// The rule a config asks for.
    pub fn from_config(cfg: &DqnConfig) -> Self {
        UpdateRule {
            gamma: cfg.gamma,
            double_q: cfg.double_q,
            loss: cfg.loss,
            max_grad_norm: cfg.max_grad_norm,
            bootstrap_on_truncation: cfg.bootstrap_on_truncation,
            regress_max_q: cfg.regress_max_q,
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
    optimizer: Optimizer<T>,
    rule: UpdateRule,
    /// Largest batch the scratch buffers hold.
    max_batch: usize,
    /// Activations of the online forward pass on `obs`, kept for the backward pass.
    ws_train: Workspace<T>,
    /// Activations of forward passes on `next_obs`.
    ws_next: Workspace<T>,
    /// Batch-of-one scratch for acting.
    ws_act: Workspace<T>,
    /// The evaluator's Q(s', ·) rows, kept while the online network chooses a' (double DQN).
    next_q: Vec<T>,
    next_values: Vec<T>,
    next_choice: Vec<u32>,
    /// Q(s, a) of the regressed actions, for the mean-Q statistic.
    q_taken: Vec<T>,
    /// Greedy actions of the batch, for `regress_max_q`.
    max_actions: Vec<u32>,
    targets: Vec<T>,
    grad_q: Vec<T>,
    grads: Vec<T>,
    obs_scalar: Vec<T>,
}

impl<T: Scalar> DqnAgent<T> {
    /// A fresh agent: the online network initialised from `rng`, the target a copy of it.
    pub fn new(obs_dim: usize, n_actions: usize, cfg: &DqnConfig, rng: &mut impl Rng) -> Self {
        let mut sizes = vec![obs_dim];
        sizes.extend(&cfg.net_arch);
        sizes.push(n_actions);
        let online = Mlp::new(&sizes, rng);
        Self::from_network(online, cfg)
    }

    /// An agent around an existing network (e.g. loaded weights), with fresh optimizer state.
    pub fn from_network(online: Mlp<T>, cfg: &DqnConfig) -> Self {
        let optimizer = Optimizer::new(cfg.optimizer_config(), online.n_params());
        let target = cfg.target_network.then(|| online.clone());
        let max_batch = cfg.batch_size.max(cfg.n_envs);
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
        DqnAgent {
            target,
            optimizer,
            rule,
            max_batch,
            ws_train: Workspace::new(&online, batch),
            ws_next: Workspace::new(&online, batch),
            ws_act: Workspace::new(&online, 1),
            next_q: vec![T::default(); batch * n_out],
            next_values: vec![T::default(); batch],
            next_choice: vec![0; batch],
            q_taken: vec![T::default(); batch],
            max_actions: vec![0; batch],
            targets: vec![T::default(); batch],
            grad_q: vec![T::default(); batch * n_out],
            grads: vec![T::default(); n_params],
            obs_scalar: vec![T::default(); online.n_inputs()],
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
        for (dst, &x) in self.obs_scalar.iter_mut().zip(obs) {
            *dst = T::from_f64(f64::from(x));
        }
        self.online
            .argmax_action(&self.obs_scalar, &mut self.ws_act)
    }

    /// ε-greedy: a uniformly random action with probability `epsilon`, else the greedy one.
    pub fn act(&mut self, obs: &[f32], epsilon: f64, rng: &mut impl Rng) -> usize {
        if rng.random::<f64>() < epsilon {
            rng.random_range(0..self.n_actions())
        } else {
            self.greedy_action(obs)
        }
    }

    /// One gradient step on `batch` towards r + γ·(1 − done)·Q_target(s', a').
    pub fn update(&mut self, batch: &Batch<T>) -> UpdateStats {
        let b = batch.len();
        let n_actions = self.n_actions();
        let rule = self.rule;

        // Value of the next state, from the target network (or the online one without it).
        let evaluator = self.target.as_ref().unwrap_or(&self.online);
        let q_next = evaluator.forward(&batch.next_obs, b, &mut self.ws_next);
        if rule.double_q {
            // Double DQN: keep the evaluator's rows, let the online network choose a'.
            self.next_q[..b * n_actions].copy_from_slice(q_next);
            let q_choice = self.online.forward(&batch.next_obs, b, &mut self.ws_next);
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

        let gamma = T::from_f64(rule.gamma);
        let one = T::from_f64(1.0);
        for i in 0..b {
            let stops =
                batch.terminated[i] || (batch.truncated[i] && !rule.bootstrap_on_truncation);
            let not_done = if stops { T::default() } else { one };
            self.targets[i] = batch.rewards[i] + gamma * not_done * self.next_values[i];
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
            None,
            &mut self.grad_q[..b * n_actions],
            None,
        );
        self.online.backward(
            &mut self.ws_train,
            &self.grad_q[..b * n_actions],
            &mut self.grads,
        );
        if rule.max_grad_norm.is_finite() {
            clip_grad_norm(&mut self.grads, T::from_f64(rule.max_grad_norm));
        }
        self.optimizer.step(self.online.params_mut(), &self.grads);
        UpdateStats {
            loss: loss.to_f64(),
            mean_q,
        }
    }

    /// Moves the target network towards the online one: a copy when `tau` is 1, else Polyak.
    pub fn update_target(&mut self, tau: f64) {
        if let Some(target) = &mut self.target {
            if tau >= 1.0 {
                target.copy_params_from(&self.online);
            } else {
                polyak_update(target.params_mut(), self.online.params(), T::from_f64(tau));
            }
        }
    }
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
        let consistent = target.as_ref().is_none_or(|t| t.sizes() == online.sizes())
            && optimizer.n_params() == online.n_params();
        if !consistent {
            return Err(serde::de::Error::custom(
                "agent networks and optimizer state do not fit together",
            ));
        }
        Ok(Self::assemble(online, target, optimizer, rule, max_batch))
    }
}
