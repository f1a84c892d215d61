//! Experience replay. [`Replay`] is what DQN talks to: it stores each environment copy's
//! transitions (completing n-step returns first), keeps prioritized replay's priorities in
//! step with the slots it writes, and samples minibatches the way the config asks (uniform
//! with or without replacement, whole vector steps, prioritized with importance weights, or
//! just the latest transitions). [`ReplayBuffer`] is its storage: a fixed-capacity ring of
//! transitions stored as structure-of-arrays.

use deepq_nn::Scalar;
use rand::Rng;
use serde::{Deserialize, Serialize};

use deepq_envs::Space;

use crate::config::DqnConfig;
use crate::nstep::NStepQueue;
use crate::obs_rows::{Encoding, ObsRows};
use crate::per::Priorities;

/// How [`Replay::sample`] chooses the transitions of a minibatch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Sampling {
    /// No replay: the latest `count` transitions (one vector step).
    Latest {
        /// Transitions per batch.
        count: usize,
    },
    /// Uniformly, in aligned blocks of `block` transitions (a whole vector step when
    /// `block = n_envs`, else 1).
    Uniform {
        /// Transitions per batch.
        batch_size: usize,
        /// Draw with replacement (SB3) or without (the PyTorch tutorials).
        with_replacement: bool,
        /// Transitions per draw.
        block: usize,
    },
    /// In proportion to priority^α, with importance-sampling weights (Schaul et al. 2016).
    Prioritized {
        /// Transitions per batch.
        batch_size: usize,
        /// The initial importance-sampling exponent, annealed linearly to 1 over the run.
        beta0: f64,
        /// The priority of every stored transition.
        priorities: Priorities,
    },
}

/// The replay of one DQN run: storage, n-step queues (one per environment copy) and
/// priorities, kept consistent with each other.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Replay {
    storage: ReplayBuffer,
    /// Pending n-step returns of each environment copy; empty for one-step returns.
    pending: Vec<NStepQueue>,
    sampling: Sampling,
    gamma: f64,
}

impl Replay {
    /// The replay `cfg` asks for, for observations from `space` (stored in their own
    /// element type).
    pub fn new(cfg: &DqnConfig, space: &Space) -> Self {
        let obs_dim = space.flat_dim();
        let n = cfg.n_envs;
        let capacity = if cfg.replay { cfg.buffer_size } else { n };
        let sampling = if cfg.prioritized_replay {
            Sampling::Prioritized {
                batch_size: cfg.batch_size,
                beta0: cfg.prioritized_replay_beta0,
                priorities: Priorities::new(
                    capacity,
                    cfg.prioritized_replay_alpha,
                    cfg.prioritized_replay_eps,
                ),
            }
        } else if cfg.replay {
            Sampling::Uniform {
                batch_size: cfg.batch_size,
                with_replacement: cfg.replay_with_replacement,
                block: if cfg.sample_vector_steps { n } else { 1 },
            }
        } else {
            Sampling::Latest { count: n }
        };
        let n_step = cfg.n_steps > 1;
        Replay {
            storage: ReplayBuffer::with_encoding(capacity, obs_dim, Encoding::of(space), n_step),
            pending: if n_step {
                vec![NStepQueue::new(cfg.n_steps, obs_dim); n]
            } else {
                Vec::new()
            },
            sampling,
            gamma: cfg.gamma,
        }
    }

    /// Whether a replay decoded from a checkpoint is the one `cfg` asks for.
    pub fn fits(&self, cfg: &DqnConfig, space: &Space) -> bool {
        let obs_dim = space.flat_dim();
        let fresh = Replay::new(cfg, space);
        let sampling_fits = match (&self.sampling, &fresh.sampling) {
            (
                Sampling::Prioritized {
                    batch_size,
                    beta0,
                    priorities,
                },
                Sampling::Prioritized {
                    batch_size: b,
                    beta0: b0,
                    ..
                },
            ) => batch_size == b && beta0 == b0 && priorities.len() == self.storage.len(),
            (mine, fresh) => mine == fresh,
        };
        sampling_fits
            && self.gamma == fresh.gamma
            && self.storage.obs_dim() == obs_dim
            && self.storage.obs.encoding() == fresh.storage.obs.encoding()
            && self.storage.capacity() == fresh.storage.capacity()
            && self.pending.len() == fresh.pending.len()
            && self.pending.iter().all(|q| q.fits(cfg.n_steps, obs_dim))
    }

    /// The stored transitions.
    pub fn storage(&self) -> &ReplayBuffer {
        &self.storage
    }

    /// Stores the step environment copy `env` just took (`next_obs` is the final observation
    /// if the episode ended). With n-step returns it stores whatever transitions this step
    /// completed; each new transition gets the highest priority seen so far.
    #[allow(clippy::too_many_arguments)]
    pub fn store(
        &mut self,
        env: usize,
        obs: &[f32],
        action: u32,
        reward: f64,
        next_obs: &[f32],
        terminated: bool,
        truncated: bool,
    ) {
        let storage = &mut self.storage;
        let mut priorities = match &mut self.sampling {
            Sampling::Prioritized { priorities, .. } => Some(priorities),
            _ => None,
        };
        let Some(queue) = self.pending.get_mut(env) else {
            let slot = storage.push(obs, action, reward, next_obs, terminated, truncated);
            if let Some(p) = priorities {
                p.on_push(slot);
            }
            return;
        };
        queue.push(
            obs,
            action,
            reward,
            next_obs,
            terminated,
            truncated,
            self.gamma,
            |t| {
                let slot = storage.push_n(
                    t.obs,
                    t.action,
                    t.ret,
                    t.next_obs,
                    t.terminated,
                    t.truncated,
                    t.horizon,
                );
                if let Some(p) = priorities.as_mut() {
                    p.on_push(slot);
                }
            },
        );
    }

    /// Samples a minibatch into `batch` (with importance weights under prioritized replay,
    /// whose β is annealed by `progress`, the fraction of the run done) and its slots into
    /// `indices`. Returns false, drawing nothing, when replay cannot fill a batch yet.
    pub fn sample<T: Scalar>(
        &self,
        rng: &mut impl Rng,
        progress: f64,
        indices: &mut Vec<usize>,
        batch: &mut Batch<T>,
    ) -> bool {
        // n-step returns store a transition only once its return is complete.
        if self.storage.is_empty() {
            return false;
        }
        match &self.sampling {
            Sampling::Prioritized {
                batch_size,
                beta0,
                priorities,
            } => {
                if priorities.is_empty() {
                    return false;
                }
                priorities.sample(rng, *batch_size, indices);
                self.storage.gather(indices, batch);
                let beta = beta0 + (1.0 - beta0) * progress.min(1.0);
                batch.weights.clear();
                batch
                    .weights
                    .extend(priorities.weights(indices, beta).map(T::from_f64));
            }
            &Sampling::Uniform {
                batch_size,
                with_replacement,
                block,
            } => {
                if !with_replacement && self.storage.len() < batch_size {
                    return false;
                }
                self.storage
                    .sample_indices(rng, batch_size, with_replacement, block, indices);
                self.storage.gather(indices, batch);
            }
            &Sampling::Latest { count } => {
                self.storage.latest_indices(count, indices);
                self.storage.gather(indices, batch);
            }
        }
        true
    }

    /// Sets the priorities of the slots `indices` from the last update's errors (no-op
    /// without prioritized replay).
    pub fn update_priorities(&mut self, indices: &[usize], errors: &[f64]) {
        if let Sampling::Prioritized { priorities, .. } = &mut self.sampling {
            priorities.update(indices, errors.iter().copied());
        }
    }
}

/// A ring buffer of `(obs, action, reward, next_obs, terminated, truncated)` transitions.
///
/// Storage grows on demand up to `capacity` transitions and never beyond, so a large
/// capacity costs memory only once it is used. Observations are stored flat, in their own
/// element type ([`ObsRows`]).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(try_from = "UncheckedReplayBuffer")]
pub struct ReplayBuffer {
    capacity: usize,
    obs_dim: usize,
    obs: ObsRows,
    next_obs: ObsRows,
    actions: Vec<u32>,
    rewards: Vec<f64>,
    terminated: Vec<bool>,
    truncated: Vec<bool>,
    /// Steps summed into each stored return (n-step returns); empty when every transition is
    /// a one-step one.
    horizons: Vec<u16>,
    /// Whether transitions carry a horizon (the buffer of an n-step run).
    n_step: bool,
    /// Index the next transition is written to once the buffer is full.
    next: usize,
}

/// A buffer as decoded from a checkpoint, before its columns are checked to agree.
#[derive(Deserialize)]
struct UncheckedReplayBuffer {
    capacity: usize,
    obs_dim: usize,
    obs: ObsRows,
    next_obs: ObsRows,
    actions: Vec<u32>,
    rewards: Vec<f64>,
    terminated: Vec<bool>,
    truncated: Vec<bool>,
    horizons: Vec<u16>,
    n_step: bool,
    next: usize,
}

impl TryFrom<UncheckedReplayBuffer> for ReplayBuffer {
    type Error = &'static str;

    fn try_from(u: UncheckedReplayBuffer) -> Result<Self, Self::Error> {
        let len = u.actions.len();
        let consistent = u.capacity > 0
            && len <= u.capacity
            && u.next < u.capacity
            && u.obs.holds(len, u.obs_dim)
            && u.next_obs.holds(len, u.obs_dim)
            && u.obs.encoding() == u.next_obs.encoding()
            && [u.rewards.len(), u.terminated.len(), u.truncated.len()] == [len; 3]
            && u.horizons.len() == if u.n_step { len } else { 0 };
        if !consistent {
            return Err("replay buffer columns do not agree");
        }
        Ok(ReplayBuffer {
            capacity: u.capacity,
            obs_dim: u.obs_dim,
            obs: u.obs,
            next_obs: u.next_obs,
            actions: u.actions,
            rewards: u.rewards,
            terminated: u.terminated,
            truncated: u.truncated,
            horizons: u.horizons,
            n_step: u.n_step,
            next: u.next,
        })
    }
}

/// A sampled minibatch, in the network's scalar type, reused from one update to the next.
#[derive(Clone, Debug, Default)]
pub struct Batch<T> {
    /// Observations, `len × obs_dim` row-major.
    pub obs: Vec<T>,
    /// Next observations (the final observation where the episode ended).
    pub next_obs: Vec<T>,
    /// Actions taken.
    pub actions: Vec<u32>,
    /// Rewards received.
    pub rewards: Vec<T>,
    /// Whether the transition ended its episode by termination.
    pub terminated: Vec<bool>,
    /// Whether the transition ended its episode by a time limit.
    pub truncated: Vec<bool>,
    /// Steps summed into each reward (n-step returns): the target bootstraps with γ to this
    /// power. Empty means 1 for every transition.
    pub horizons: Vec<u16>,
    /// Importance-sampling weights of prioritized replay, scaling each sample's loss. Empty
    /// means 1 for every transition.
    pub weights: Vec<T>,
}

impl<T: Scalar> Batch<T> {
    /// An empty batch with room for `batch_size` transitions.
    pub fn with_capacity(batch_size: usize, obs_dim: usize) -> Self {
        Batch {
            obs: Vec::with_capacity(batch_size * obs_dim),
            next_obs: Vec::with_capacity(batch_size * obs_dim),
            actions: Vec::with_capacity(batch_size),
            rewards: Vec::with_capacity(batch_size),
            terminated: Vec::with_capacity(batch_size),
            truncated: Vec::with_capacity(batch_size),
            horizons: Vec::with_capacity(batch_size),
            weights: Vec::with_capacity(batch_size),
        }
    }

    /// Number of transitions in the batch.
    pub fn len(&self) -> usize {
        self.actions.len()
    }

    /// Whether the batch holds no transition.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }
}

impl ReplayBuffer {
    /// An empty buffer for up to `capacity` transitions of `obs_dim`-wide observations,
    /// stored as `f32`.
    pub fn new(capacity: usize, obs_dim: usize) -> Self {
        Self::with_encoding(capacity, obs_dim, Encoding::F32, false)
    }

    /// An empty buffer for up to `capacity` transitions of `obs_dim`-wide observations stored
    /// in `encoding`; with `n_step`, each transition also carries the number of steps summed
    /// into its reward (see [`ReplayBuffer::push_n`]).
    pub fn with_encoding(
        capacity: usize,
        obs_dim: usize,
        encoding: Encoding,
        n_step: bool,
    ) -> Self {
        assert!(capacity > 0, "replay capacity must be positive");
        ReplayBuffer {
            capacity,
            obs_dim,
            obs: ObsRows::new(encoding),
            next_obs: ObsRows::new(encoding),
            actions: Vec::new(),
            rewards: Vec::new(),
            terminated: Vec::new(),
            truncated: Vec::new(),
            horizons: Vec::new(),
            n_step,
            next: 0,
        }
    }

    /// Maximum number of transitions held.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Number of transitions held.
    pub fn len(&self) -> usize {
        self.actions.len()
    }

    /// Whether no transition is held yet.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    /// Width of the stored observations.
    pub fn obs_dim(&self) -> usize {
        self.obs_dim
    }

    /// Stores one transition, overwriting the oldest once the buffer is full; returns the
    /// index it was written to.
    pub fn push(
        &mut self,
        obs: &[f32],
        action: u32,
        reward: f64,
        next_obs: &[f32],
        terminated: bool,
        truncated: bool,
    ) -> usize {
        self.push_n(obs, action, reward, next_obs, terminated, truncated, 1)
    }

    /// As [`ReplayBuffer::push`], for a transition whose reward sums `horizon` discounted
    /// steps and whose next observation is `horizon` steps later (the horizon is kept only by
    /// a buffer made with [`ReplayBuffer::new_n_step`]).
    #[allow(clippy::too_many_arguments)]
    pub fn push_n(
        &mut self,
        obs: &[f32],
        action: u32,
        reward: f64,
        next_obs: &[f32],
        terminated: bool,
        truncated: bool,
        horizon: u16,
    ) -> usize {
        debug_assert_eq!(obs.len(), self.obs_dim);
        debug_assert_eq!(next_obs.len(), self.obs_dim);
        let written = if self.len() < self.capacity {
            self.len()
        } else {
            self.next
        };
        if self.len() < self.capacity {
            self.reserve_one();
            self.obs.push(obs);
            self.next_obs.push(next_obs);
            self.actions.push(action);
            self.rewards.push(reward);
            self.terminated.push(terminated);
            self.truncated.push(truncated);
            if self.n_step {
                self.horizons.push(horizon);
            }
        } else {
            let i = self.next;
            self.obs.set(i, obs);
            self.next_obs.set(i, next_obs);
            self.actions[i] = action;
            self.rewards[i] = reward;
            self.terminated[i] = terminated;
            self.truncated[i] = truncated;
            if self.n_step {
                self.horizons[i] = horizon;
            }
        }
        self.next = (self.next + 1) % self.capacity;
        written
    }

    /// Grows storage geometrically but never past `capacity`, so memory stays bounded by it.
    fn reserve_one(&mut self) {
        let len = self.len();
        if len < self.actions.capacity() {
            return;
        }
        let extra = len.max(1024).min(self.capacity - len);
        self.obs.reserve_rows(extra, self.obs_dim);
        self.next_obs.reserve_rows(extra, self.obs_dim);
        self.actions.reserve_exact(extra);
        self.rewards.reserve_exact(extra);
        self.terminated.reserve_exact(extra);
        self.truncated.reserve_exact(extra);
        if self.n_step {
            self.horizons.reserve_exact(extra);
        }
    }

    /// Fills `out` with `batch_size` indices drawn uniformly, with replacement (as SB3 samples)
    /// or without (as the PyTorch tutorial's `random.sample` does).
    ///
    /// With `block > 1` it draws whole aligned blocks of `block` consecutive transitions
    /// (`batch_size / block` of them): a vector env stores its `n_envs` transitions of one
    /// step together, so a block is one vector step. The capacity must be a multiple of `block`.
    ///
    /// Panics if there is no complete block, or fewer blocks than needed when sampling
    /// without replacement.
    pub fn sample_indices(
        &self,
        rng: &mut impl Rng,
        batch_size: usize,
        with_replacement: bool,
        block: usize,
        out: &mut Vec<usize>,
    ) {
        let blocks = self.len() / block;
        let draws = batch_size / block;
        assert!(blocks > 0, "cannot sample from an empty replay buffer");
        out.clear();
        let push_block = |out: &mut Vec<usize>, b: usize| out.extend(b * block..(b + 1) * block);
        if with_replacement {
            for _ in 0..draws {
                push_block(out, rng.random_range(0..blocks));
            }
        } else {
            assert!(draws <= blocks, "batch larger than the buffer");
            // Floyd's algorithm: exactly `draws` draws, no allocation; checking membership
            // through each block's first index keeps it allocation-free for blocks too.
            for j in blocks - draws..blocks {
                let t = rng.random_range(0..=j);
                let b = if out.iter().step_by(block).any(|&i| i == t * block) {
                    j
                } else {
                    t
                };
                push_block(out, b);
            }
        }
    }

    /// Indices of the `count` most recently stored transitions, oldest first.
    pub fn latest_indices(&self, count: usize, out: &mut Vec<usize>) {
        let count = count.min(self.len());
        out.clear();
        out.extend((0..count).map(|k| (self.next + self.capacity - count + k) % self.capacity));
    }

    /// Copies the transitions at `indices` into `batch`, converting to the network's scalar type.
    pub fn gather<T: Scalar>(&self, indices: &[usize], batch: &mut Batch<T>) {
        batch.obs.clear();
        batch.next_obs.clear();
        batch.actions.clear();
        batch.rewards.clear();
        batch.terminated.clear();
        batch.truncated.clear();
        batch.horizons.clear();
        let d = self.obs_dim;
        for &i in indices {
            self.obs.extend_row(i, d, &mut batch.obs);
            self.next_obs.extend_row(i, d, &mut batch.next_obs);
            batch.actions.push(self.actions[i]);
            batch.rewards.push(T::from_f64(self.rewards[i]));
            batch.terminated.push(self.terminated[i]);
            batch.truncated.push(self.truncated[i]);
            if self.n_step {
                batch.horizons.push(self.horizons[i]);
            }
        }
    }

    /// Bytes of transition storage currently allocated.
    pub fn allocated_bytes(&self) -> usize {
        self.obs.allocated_bytes()
            + self.next_obs.allocated_bytes()
            + self.actions.capacity() * 4
            + self.rewards.capacity() * 8
            + self.terminated.capacity()
            + self.truncated.capacity()
            + self.horizons.capacity() * 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand_pcg::Pcg64;

    fn filled(capacity: usize, n: usize) -> ReplayBuffer {
        let mut buf = ReplayBuffer::new(capacity, 2);
        for k in 0..n {
            let x = k as f32;
            buf.push(
                &[x, -x],
                k as u32,
                k as f64,
                &[x + 0.5, 0.0],
                k % 7 == 0,
                k % 11 == 0,
            );
        }
        buf
    }

    #[test]
    fn ring_overwrites_the_oldest() {
        let buf = filled(5, 8);
        assert_eq!(buf.len(), 5);
        let mut idx = Vec::new();
        buf.latest_indices(5, &mut idx);
        let mut batch = Batch::<f32>::with_capacity(5, 2);
        buf.gather(&idx, &mut batch);
        assert_eq!(batch.actions, vec![3, 4, 5, 6, 7]);
        assert_eq!(batch.obs[..4], [3.0, -3.0, 4.0, -4.0]);
        assert_eq!(batch.next_obs[..2], [3.5, 0.0]);
        assert_eq!(batch.rewards, vec![3.0, 4.0, 5.0, 6.0, 7.0]);
        assert_eq!(batch.terminated, vec![false, false, false, false, true]);
    }

    #[test]
    fn storage_never_exceeds_capacity() {
        let buf = filled(3000, 10_000);
        assert_eq!(buf.len(), 3000);
        assert!(buf.actions.capacity() <= 3000);
        assert!(buf.obs.allocated_bytes() <= 3000 * 2 * 4);
    }

    #[test]
    fn sampling_without_replacement_is_distinct_and_uniform() {
        let buf = filled(10, 10);
        let mut rng = Pcg64::seed_from_u64(1);
        let mut idx = Vec::new();
        let mut counts = [0usize; 10];
        for _ in 0..20_000 {
            buf.sample_indices(&mut rng, 4, false, 1, &mut idx);
            let mut sorted = idx.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(sorted.len(), 4);
            for &i in &idx {
                counts[i] += 1;
            }
        }
        // Each index is drawn with probability 0.4: expected 8,000, sd ~ 69.
        for c in counts {
            assert!((c as f64 - 8000.0).abs() < 400.0, "{counts:?}");
        }
    }

    #[test]
    fn block_sampling_returns_whole_vector_steps() {
        let buf = filled(12, 30); // 3 envs: blocks {0,1,2}, {3,4,5}, ...
        let mut rng = Pcg64::seed_from_u64(7);
        let mut idx = Vec::new();
        for repl in [true, false] {
            for _ in 0..100 {
                buf.sample_indices(&mut rng, 6, repl, 3, &mut idx);
                assert_eq!(idx.len(), 6);
                for chunk in idx.chunks(3) {
                    assert_eq!(chunk[0] % 3, 0);
                    assert_eq!(chunk, [chunk[0], chunk[0] + 1, chunk[0] + 2]);
                }
                if !repl {
                    assert_ne!(idx[0], idx[3]);
                }
            }
        }
    }

    proptest! {
        #[test]
        fn sampled_indices_are_in_range(cap in 1usize..50, n in 1usize..120, batch in 1usize..40, seed: u64, repl: bool) {
            let buf = filled(cap, n);
            let batch = if repl { batch } else { batch.min(buf.len()) };
            let mut rng = Pcg64::seed_from_u64(seed);
            let mut idx = Vec::new();
            buf.sample_indices(&mut rng, batch, repl, 1, &mut idx);
            prop_assert_eq!(idx.len(), batch);
            prop_assert!(idx.iter().all(|&i| i < buf.len()));
        }
    }
}
