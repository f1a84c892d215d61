//! DQN (Mnih et al. 2015) with every classic knob and Rainbow's parts: one step acts in every
//! environment copy, stores the transitions in replay, trains on sampled minibatches when
//! `train_freq` says so, and moves the target network. [`Dqn::step`] reads top to bottom
//! like the algorithm; the TD update itself is [`DqnAgent::update`].

use deepq_envs::{Env, Observation, VecEnv};
use deepq_nn::Scalar;
use rand::Rng;
use rand_pcg::Pcg64;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::agent::DqnAgent;
use crate::config::{DqnConfig, Unit};
use crate::core::{Algorithm, RunState};
use crate::error::TrainError;
use crate::model::{Model, QNetwork};
use crate::network;
use crate::observer::Observer;
use crate::replay::{Batch, Replay};
use crate::rng::{Stream, stream_rng};

/// A DQN learner on `n_envs` copies of environment `E`, with a network of scalar `T`.
#[derive(Serialize, Deserialize)]
#[serde(bound(serialize = "E: Serialize", deserialize = "E: DeserializeOwned"))]
pub struct Dqn<E: Env, T: Scalar> {
    envs: VecEnv<E>,
    agent: DqnAgent<T>,
    replay: Replay,
    explore_rng: Pcg64,
    replay_rng: Pcg64,
    noise_rng: Pcg64,
    vector_steps: u64,
    vector_steps_since_train: u64,
    episodes_since_train: u64,
    /// Per-step buffers, rebuilt after a restore.
    #[serde(skip)]
    scratch: Option<Scratch<T>>,
}

/// Buffers one step reuses.
struct Scratch<T> {
    obs_dim: usize,
    /// The observation each copy acts on next, flat, `n_envs × obs_dim`.
    obs: Vec<f32>,
    next_obs: Vec<f32>,
    actions: Vec<usize>,
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
            batch: Batch::with_capacity(batch_size.max(n), obs_dim),
            indices: Vec::with_capacity(batch_size.max(n)),
        }
    }
}

impl<E, T> Dqn<E, T>
where
    E: Env + Clone + Serialize + DeserializeOwned,
    T: Scalar,
{
    /// The agent being trained.
    pub fn agent(&self) -> &DqnAgent<T> {
        &self.agent
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
        let progress = run.steps as f64 / run.cfg.total_timesteps as f64;
        if !self
            .replay
            .sample(&mut self.replay_rng, progress, &mut s.indices, &mut s.batch)
        {
            return Ok(false);
        }
        let stats = self.agent.update(&s.batch, &mut self.noise_rng);
        let sampled = s.indices.len();
        self.replay
            .update_priorities(&s.indices, self.agent.priorities(sampled));
        let lr = self.agent.optimizer().lr();
        run.record_update(stats.loss, stats.mean_q, lr, observer)?;
        Ok(true)
    }

    /// SB3's `train_freq`: counted in vector steps, or in episodes finished by any copy.
    fn train_due(&self, cfg: &DqnConfig) -> bool {
        let since = cfg
            .train_freq
            .of(self.vector_steps_since_train, self.episodes_since_train);
        since >= cfg.train_freq.n
    }
}

/// Before `learning_starts`: SB3 acts randomly while `steps < learning_starts`…
fn warming_up(run: &RunState) -> bool {
    let ls = run.cfg.learning_starts;
    ls.of(run.steps, run.episodes()) < ls.n
}

/// …and trains once `steps > learning_starts` (or that many episodes have finished).
fn learning_started(run: &RunState) -> bool {
    let ls = run.cfg.learning_starts;
    match ls.unit {
        Unit::Step => run.steps > ls.n,
        Unit::Episode => run.episodes() >= ls.n,
    }
}

impl<E, T> Algorithm<E> for Dqn<E, T>
where
    E: Env + Clone + Serialize + DeserializeOwned,
    T: Scalar,
    QNetwork: From<deepq_nn::Mlp<T>>,
{
    fn new(cfg: &DqnConfig, env: &E) -> Result<Self, TrainError> {
        let space = env.observation_space();
        let online = network::q_network(
            cfg,
            &space,
            env.n_actions(),
            &mut stream_rng(cfg.seed, Stream::Init),
        )?;
        let agent = DqnAgent::from_network(online, cfg);
        let mut envs = VecEnv::new(vec![env.clone(); cfg.n_envs]);
        envs.reset(Some(cfg.seed));
        Ok(Dqn {
            scratch: Some(Scratch::new(&envs, cfg.batch_size)),
            envs,
            agent,
            replay: Replay::new(cfg, &space),
            explore_rng: stream_rng(cfg.seed, Stream::Explore),
            replay_rng: stream_rng(cfg.seed, Stream::Replay),
            noise_rng: stream_rng(cfg.seed, Stream::Noise),
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
        let random = run.cfg.random_warmup && warming_up(run);
        let s = self
            .scratch
            .get_or_insert_with(|| Scratch::new(&self.envs, run.cfg.batch_size));
        let d = s.obs_dim;

        // 1. Act: uniformly at random while warming up (as SB3), ε-greedy afterwards.
        for (i, obs) in s.obs.chunks_exact(d).enumerate() {
            s.actions[i] = if random {
                self.explore_rng.random_range(0..self.agent.n_actions())
            } else if run.cfg.noisy {
                self.agent.act_noisy(obs, &mut self.noise_rng)
            } else {
                self.agent.act(obs, epsilon, &mut self.explore_rng)
            };
        }

        // 2. Step every copy; a copy whose episode ended has already reset itself.
        let step = self.envs.step(&s.actions);

        // 3. Store the transitions. Where an episode ended, the next observation is its
        //    final one (kept by the vector env), not the first of the next episode.
        for i in 0..n {
            let row = i * d..(i + 1) * d;
            let ended = step.terminated[i] || step.truncated[i];
            let next = if ended {
                &step.final_obs[i]
            } else {
                &step.obs[i]
            };
            next.write_flat(&mut s.next_obs[row.clone()]);
            self.replay.store(
                i,
                &s.obs[row.clone()],
                s.actions[i] as u32,
                step.rewards[i],
                &s.next_obs[row.clone()],
                step.terminated[i],
                step.truncated[i],
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
                let gradient_steps = match run.cfg.gradient_steps {
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
        let interval = (run.cfg.target_update_interval / n as u64).max(1);
        if self.vector_steps.is_multiple_of(interval) {
            self.agent.update_target(run.cfg.tau);
        }
        Ok(())
    }

    /// ε of ε-greedy exploration (0 with noisy nets, which explore through their noise).
    fn epsilon(&self, run: &RunState) -> f64 {
        if run.cfg.noisy {
            return 0.0;
        }
        run.cfg.exploration().epsilon(run.steps, run.episodes())
    }

    fn greedy_policy(&mut self) -> impl FnMut(&[f32]) -> usize + '_ {
        // Noisy nets act greedily on their mean weights.
        self.agent.remove_noise();
        |obs| self.agent.greedy_action(obs)
    }

    fn fits(&self, cfg: &DqnConfig, env: &E) -> bool {
        let space = env.observation_space();
        network::fits(self.agent.network(), cfg, &space, env.n_actions())
            && self.envs.num_envs() == cfg.n_envs
            && self.replay.fits(cfg, &space)
    }

    fn model(&self) -> Model {
        // The trained network, acting on its mean weights if it is noisy.
        let mut network = self.agent.network().clone();
        network.remove_noise();
        Model::Network(network.into())
    }
}
