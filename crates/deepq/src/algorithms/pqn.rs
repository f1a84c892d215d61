//! PQN (Gallici et al., "Simplifying Deep Temporal Difference Learning", ICLR 2025): no replay
//! buffer and no target network. Many auto-resetting environment copies are stepped ε-greedily
//! for `rollout_steps` steps; Q(λ) targets are computed backwards over that rollout from the
//! online network; then the network learns from the rollout for `n_epochs` passes of
//! `n_minibatches` shuffled minibatches. LayerNorm after each hidden layer keeps this stable.
//!
//! As purejaxql's `pqn_gymnax.py`, with one deliberate difference: purejaxql ends the λ-return
//! on any `done`, time-limit truncations included, so a truncated episode's last step is
//! valued as if the episode had terminated. Here a truncated step bootstraps from its final
//! observation, `r + γ·max Q(s_final)`, as DQN does (`bootstrap_on_truncation = false`
//! restores purejaxql's behaviour).

use deepq_envs::{Env, Observation, VecEnv};
use deepq_nn::{Loss, Mlp, Optimizer, Scalar, Workspace, argmax, clip_grad_norm, q_loss};
use rand::seq::SliceRandom;
use rand_pcg::Pcg64;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::config::{DqnConfig, LearningRateSchedule};
use crate::core::{Algorithm, RunState};
use crate::error::TrainError;
use crate::model::{Model, QNetwork};
use crate::network;
use crate::observer::Observer;
use crate::rng::{Stream, stream_rng};
use crate::schedule::epsilon_greedy;

/// Config keys only PQN reads, with their names in purejaxql's configs: `rollout_steps`
/// (`NUM_STEPS`), `n_epochs` (`NUM_EPOCHS`), `n_minibatches` (`NUM_MINIBATCHES`), `q_lambda`
/// (`LAMBDA`), `reward_scale` (`REW_SCALE`), `learning_rate_schedule` (`LR_LINEAR_DECAY`).
pub(crate) const KEYS: &[&str] = &[
    "rollout_steps",
    "n_epochs",
    "n_minibatches",
    "q_lambda",
    "reward_scale",
    "learning_rate_schedule",
];

/// A PQN learner on `n_envs` copies of environment `E`, with a network of scalar `T`.
#[derive(Serialize, Deserialize)]
#[serde(bound(serialize = "E: Serialize", deserialize = "E: DeserializeOwned"))]
pub struct Pqn<E: Env, T: Scalar> {
    envs: VecEnv<E>,
    online: Mlp<T>,
    optimizer: Optimizer<T>,
    explore_rng: Pcg64,
    shuffle_rng: Pcg64,
    /// Optimizer steps taken before the step count last restarted (a continued run's
    /// learning-rate decay counts from there); 0 in a run that never restarted, the only
    /// kind that checkpoints.
    #[serde(skip)]
    steps_before_restart: u64,
    /// Per-rollout buffers, rebuilt after a restore.
    #[serde(skip)]
    scratch: Option<Scratch<T>>,
}

/// One rollout, time-major (`rollout_steps × n_envs` rows), and the buffers learning reuses.
struct Scratch<T: Scalar> {
    obs_dim: usize,
    n_actions: usize,
    /// The observation each copy acts on next, `n_envs × obs_dim`.
    obs: Vec<T>,
    rollout_obs: Vec<T>,
    actions: Vec<u32>,
    /// Scaled rewards.
    rewards: Vec<T>,
    /// Whether the step ended its episode (terminated or truncated).
    ended: Vec<bool>,
    /// max_a Q(s', a) of the step's next state: the final observation's if the episode was
    /// truncated, 0 if it terminated.
    next_max: Vec<T>,
    targets: Vec<T>,
    env_actions: Vec<usize>,
    /// The final observation of a truncated episode, and its Q-values.
    final_obs: Vec<T>,
    final_q: Vec<T>,
    ws_act: Workspace<T>,
    ws_one: Workspace<T>,
    order: Vec<usize>,
    minibatch: MinibatchStep<T>,
}

/// One gradient step of PQN on a minibatch: the rows to learn from and the buffers the step
/// reuses. Public so that `deepq bench updates` times exactly what training runs.
pub struct MinibatchStep<T: Scalar> {
    /// Observations, one flat row each.
    pub obs: Vec<T>,
    /// The action taken from each.
    pub actions: Vec<u32>,
    /// Each row's Q(λ) target.
    pub targets: Vec<T>,
    ws: Workspace<T>,
    grad_q: Vec<T>,
    grads: Vec<T>,
}

impl<T: Scalar> MinibatchStep<T> {
    /// Buffers for minibatches of `size` rows for `online`.
    pub fn new(online: &Mlp<T>, size: usize) -> Self {
        MinibatchStep {
            obs: vec![T::ZERO; size * online.n_inputs()],
            actions: vec![0; size],
            targets: vec![T::ZERO; size],
            ws: Workspace::new(online, size),
            grad_q: vec![T::ZERO; size * online.n_outputs()],
            grads: vec![T::ZERO; online.n_params()],
        }
    }

    /// Forward pass, ½·MSE between Q(s, a) and the targets (purejaxql's loss), backward,
    /// gradient clipping to a global norm of `max_grad_norm`, and an optimizer step at
    /// learning rate `lr`. Returns the loss and the mean Q-value of the taken actions.
    pub fn update(
        &mut self,
        online: &mut Mlp<T>,
        optimizer: &mut Optimizer<T>,
        max_grad_norm: f64,
        lr: f64,
    ) -> (f64, f64) {
        let size = self.actions.len();
        let n_actions = online.n_outputs();
        let half = T::from_f64(0.5);
        let q = online.forward(&self.obs, size, &mut self.ws);
        let mean_q = self
            .actions
            .iter()
            .enumerate()
            .map(|(j, &act)| q[j * n_actions + act as usize].to_f64())
            .sum::<f64>()
            / size as f64;
        let mse = q_loss(
            Loss::Mse,
            q,
            n_actions,
            &self.actions,
            &self.targets,
            None,
            &mut self.grad_q,
            None,
        );
        self.grad_q.iter_mut().for_each(|g| *g = *g * half);
        online.backward(&mut self.ws, &self.grad_q, &mut self.grads);
        clip_grad_norm(&mut self.grads, T::from_f64(max_grad_norm));
        optimizer.set_lr(lr);
        optimizer.step(online.params_mut(), &self.grads);
        ((mse * half).to_f64(), mean_q)
    }
}

impl<T: Scalar> Scratch<T> {
    fn new<E: Env>(envs: &VecEnv<E>, online: &Mlp<T>, cfg: &DqnConfig) -> Self {
        let (n, len) = (envs.num_envs(), cfg.pqn.rollout_steps);
        let obs_dim = online.n_inputs();
        let n_actions = online.n_outputs();
        let rows = n * len;
        let minibatch = rows / cfg.pqn.n_minibatches;
        let mut obs = vec![T::ZERO; n * obs_dim];
        let mut flat = vec![0.0f32; obs_dim];
        for (o, row) in envs
            .observations()
            .iter()
            .zip(obs.chunks_exact_mut(obs_dim))
        {
            o.write_flat(&mut flat);
            to_scalar(&flat, row);
        }
        Scratch {
            obs_dim,
            n_actions,
            obs,
            rollout_obs: vec![T::ZERO; rows * obs_dim],
            actions: vec![0; rows],
            rewards: vec![T::ZERO; rows],
            ended: vec![false; rows],
            next_max: vec![T::ZERO; rows],
            targets: vec![T::ZERO; rows],
            env_actions: vec![0; n],
            final_obs: vec![T::ZERO; obs_dim],
            final_q: vec![T::ZERO; n_actions],
            ws_act: Workspace::new(online, n),
            ws_one: Workspace::new(online, 1),
            order: (0..rows).collect(),
            minibatch: MinibatchStep::new(online, minibatch),
        }
    }
}

fn to_scalar<T: Scalar>(src: &[f32], dst: &mut [T]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = T::from_f64(f64::from(s));
    }
}

fn row_max<T: Scalar>(row: &[T]) -> T {
    row[argmax(row)]
}

impl<E, T> Pqn<E, T>
where
    E: Env + Clone + Serialize + DeserializeOwned,
    T: Scalar,
{
    /// The online network.
    pub fn network(&self) -> &Mlp<T> {
        &self.online
    }

    /// 1. Rollout: `rollout_steps` ε-greedy steps of every copy, keeping for each step the
    ///    observation, action, scaled reward, whether it ended the episode, and the greedy
    ///    value of the state that followed.
    fn collect(&mut self, run: &mut RunState, observer: &mut dyn Observer) {
        let epsilon = run.cfg.exploration().epsilon(run.steps, run.episodes());
        let s = self
            .scratch
            .as_mut()
            .expect("scratch is built before a rollout");
        let (n, d, a) = (self.envs.num_envs(), s.obs_dim, s.n_actions);
        let reward_scale = T::from_f64(run.cfg.pqn.reward_scale);
        let mut flat = vec![0.0f32; d];
        for t in 0..run.cfg.pqn.rollout_steps {
            let rows = t * n..(t + 1) * n;
            let q = self.online.forward(&s.obs, n, &mut s.ws_act);
            for i in 0..n {
                let q_row = &q[i * a..(i + 1) * a];
                // The previous step's next state is this one, unless its episode ended.
                if t > 0 && !s.ended[rows.start - n + i] {
                    s.next_max[rows.start - n + i] = row_max(q_row);
                }
                s.env_actions[i] =
                    epsilon_greedy(&mut self.explore_rng, epsilon, a, |_| argmax(q_row));
            }
            s.rollout_obs[rows.start * d..rows.end * d].copy_from_slice(&s.obs);

            let step = self.envs.step(&s.env_actions);
            for i in 0..n {
                let k = rows.start + i;
                s.actions[k] = s.env_actions[i] as u32;
                s.rewards[k] = T::from_f64(step.rewards[i]) * reward_scale;
                let bootstraps = step.truncated[i] && run.cfg.returns.bootstrap_on_truncation;
                s.ended[k] = step.terminated[i] || step.truncated[i];
                s.next_max[k] = if bootstraps {
                    step.final_obs[i].write_flat(&mut flat);
                    to_scalar(&flat, &mut s.final_obs);
                    self.online
                        .predict_one(&s.final_obs, &mut s.ws_one, &mut s.final_q);
                    row_max(&s.final_q)
                } else {
                    T::ZERO
                };
                step.obs[i].write_flat(&mut flat);
                to_scalar(&flat, &mut s.obs[i * d..(i + 1) * d]);
                let step_number = run.steps + i as u64 + 1;
                run.env_step(
                    i,
                    step.rewards[i],
                    s.ended[k],
                    step_number,
                    epsilon,
                    observer,
                );
            }
            run.steps += n as u64;
        }
        // The state after the rollout values its last step.
        let last = (run.cfg.pqn.rollout_steps - 1) * n;
        let q = self.online.forward(&s.obs, n, &mut s.ws_act);
        for i in 0..n {
            if !s.ended[last + i] {
                s.next_max[last + i] = row_max(&q[i * a..(i + 1) * a]);
            }
        }
    }

    /// 2. Q(λ) targets, backwards over the rollout: `G_t = r_t + γ·((1−λ)·max Q(s_{t+1}) +
    ///    λ·G_{t+1})`, with `G_t = r_t + γ·max Q(s_{t+1})` at the rollout's last step and at a
    ///    truncation (whose next state is the final observation), and `G_t = r_t` at a
    ///    termination (`next_max` is 0 there).
    fn compute_targets(&mut self, cfg: &DqnConfig) {
        let s = self
            .scratch
            .as_mut()
            .expect("scratch is built before a rollout");
        let n = self.envs.num_envs();
        let (gamma, lambda) = (
            T::from_f64(cfg.returns.gamma),
            T::from_f64(cfg.pqn.q_lambda),
        );
        for i in 0..n {
            let mut next_return = T::ZERO;
            for t in (0..cfg.pqn.rollout_steps).rev() {
                let k = t * n + i;
                let next_max = s.next_max[k];
                let bootstrap = if s.ended[k] || t + 1 == cfg.pqn.rollout_steps {
                    next_max
                } else {
                    (T::ONE - lambda) * next_max + lambda * next_return
                };
                s.targets[k] = s.rewards[k] + gamma * bootstrap;
                next_return = s.targets[k];
            }
        }
    }

    /// 3. Learn: `n_epochs` passes over the rollout in `n_minibatches` shuffled minibatches,
    ///    each a gradient step on ½·mean (Q(s, a) − G)² (purejaxql's loss), with global-norm
    ///    clipping and the learning-rate schedule.
    fn learn(&mut self, run: &mut RunState, observer: &mut dyn Observer) -> Result<(), TrainError> {
        let s = self
            .scratch
            .as_mut()
            .expect("scratch is built before a rollout");
        let d = s.obs_dim;
        let mb = &mut s.minibatch;
        let total_steps = gradient_steps_of_run(&run.cfg);
        for _ in 0..run.cfg.pqn.n_epochs {
            // A fresh permutation of the rollout each epoch, so that it depends only on
            // the shuffle stream (which a checkpoint saves).
            s.order
                .iter_mut()
                .enumerate()
                .for_each(|(k, slot)| *slot = k);
            s.order.shuffle(&mut self.shuffle_rng);
            for chunk in s.order.chunks_exact(mb.actions.len()) {
                for (j, &k) in chunk.iter().enumerate() {
                    mb.obs[j * d..(j + 1) * d].copy_from_slice(&s.rollout_obs[k * d..(k + 1) * d]);
                    mb.actions[j] = s.actions[k];
                    mb.targets[j] = s.targets[k];
                }
                let step = self.optimizer.steps() - self.steps_before_restart;
                let lr = learning_rate(&run.cfg, step, total_steps);
                let (loss, mean_q) = mb.update(
                    &mut self.online,
                    &mut self.optimizer,
                    run.cfg.optimizer.max_grad_norm,
                    lr,
                );
                run.record_update(loss, mean_q, lr, observer)?;
            }
        }
        Ok(())
    }
}

/// Gradient steps of the whole run: every rollout (`total_timesteps` rounded up to whole
/// rollouts) takes `n_epochs × n_minibatches`.
fn gradient_steps_of_run(cfg: &DqnConfig) -> u64 {
    let per_rollout = (cfg.run.n_envs * cfg.pqn.rollout_steps) as u64;
    cfg.run.total_timesteps.div_ceil(per_rollout)
        * (cfg.pqn.n_epochs * cfg.pqn.n_minibatches) as u64
}

/// The learning rate of gradient step `k` (0-based) of `total`: constant, or decaying
/// linearly to 0 over the run (purejaxql's `LR_LINEAR_DECAY`).
fn learning_rate(cfg: &DqnConfig, k: u64, total: u64) -> f64 {
    match cfg.optimizer.learning_rate_schedule {
        LearningRateSchedule::Constant => cfg.optimizer.learning_rate,
        LearningRateSchedule::Linear => {
            cfg.optimizer.learning_rate * (1.0 - (k as f64 / total as f64).min(1.0))
        }
    }
}

impl<E, T> Algorithm<E> for Pqn<E, T>
where
    E: Env + Clone + Serialize + DeserializeOwned,
    T: Scalar,
    QNetwork: From<Mlp<T>>,
{
    fn new(cfg: &DqnConfig, env: &E) -> Result<Self, TrainError> {
        let online = network::q_network(
            cfg,
            &env.observation_space(),
            env.n_actions(),
            &mut stream_rng(cfg.run.seed, Stream::Init),
        )?;
        let mut envs = VecEnv::new(vec![env.clone(); cfg.run.n_envs]);
        envs.reset(Some(cfg.run.seed));
        Ok(Pqn {
            scratch: Some(Scratch::new(&envs, &online, cfg)),
            optimizer: Optimizer::new(cfg.optimizer_config(), online.n_params()),
            online,
            envs,
            explore_rng: stream_rng(cfg.run.seed, Stream::Explore),
            shuffle_rng: stream_rng(cfg.run.seed, Stream::Replay),
            steps_before_restart: 0,
        })
    }

    fn n_envs(&self) -> usize {
        self.envs.num_envs()
    }

    fn step(&mut self, run: &mut RunState, observer: &mut dyn Observer) -> Result<(), TrainError> {
        if self.scratch.is_none() {
            self.scratch = Some(Scratch::new(&self.envs, &self.online, &run.cfg));
        }
        self.collect(run, observer);
        self.compute_targets(&run.cfg);
        self.learn(run, observer)
    }

    fn epsilon(&self, run: &RunState) -> f64 {
        run.cfg.exploration().epsilon(run.steps, run.episodes())
    }

    fn greedy_policy(&mut self) -> impl FnMut(&[f32]) -> usize + '_ {
        let network = &self.online;
        let mut ws = Workspace::new(network, 1);
        let mut input = Vec::new();
        move |obs| {
            input.clear();
            input.extend(obs.iter().map(|&x| T::from_f64(f64::from(x))));
            network.argmax_action(&input, &mut ws)
        }
    }

    fn fits(&self, cfg: &DqnConfig, env: &E) -> bool {
        network::fits(&self.online, cfg, &env.observation_space(), env.n_actions())
            && self.optimizer.n_params() == self.online.n_params()
            && self.envs.num_envs() == cfg.run.n_envs
    }

    fn model(&self) -> Model {
        Model::Network(self.online.clone().into())
    }

    /// What [`Pqn::step`] reads from the config at every rollout, besides ε's schedule.
    const LIVE_KEYS: &'static [&'static str] = &[
        "learning_rate",
        "learning_rate_schedule",
        "max_grad_norm",
        "gamma",
        "q_lambda",
        "reward_scale",
        "bootstrap_on_truncation",
    ];

    fn restart_episodes(
        &mut self,
        _cfg: &DqnConfig,
        restart_counters: bool,
        seed: Option<u64>,
    ) -> Result<(), TrainError> {
        self.envs.reset(seed);
        if restart_counters {
            self.steps_before_restart = self.optimizer.steps();
        }
        // Rebuilt from the new episodes' first observations at the next rollout.
        self.scratch = None;
        Ok(())
    }

    fn load_model(&mut self, model: &Model, _cfg: &DqnConfig) -> Result<(), TrainError> {
        Ok(network::load_q_network(&mut self.online, None, model)?)
    }
}
