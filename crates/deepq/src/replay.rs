//! Experience replay. [`Replay`] is what DQN talks to: it stores each environment copy's
//! transitions (completing n-step returns first), keeps prioritized replay's priorities in
//! step with the slots it writes, and samples minibatches the way the config asks (uniform
//! with or without replacement, whole vector steps, prioritized with importance weights, or
//! just the latest transitions). [`ReplayBuffer`] is its storage: a fixed-capacity ring of
//! transitions stored as structure-of-arrays.
//!
//! Observations are not stored per transition: the buffer keeps a pool of frames (one
//! [`ObsRows`] row each, in the observation's own element type) with a reference count per
//! frame and a free list, and each slot names the frames of its observation and of its next
//! observation. A frame is a whole observation, except for `u8` images of several channels
//! (Atari's stacks of 4 grayscale 84×84 frames), where it is one channel: there the
//! observation of step t + 1 shares three of its four frames with that of step t, besides
//! being the next observation of step t, and each frame is stored once instead of eight
//! times. The buffer shares frames by value: for each environment copy it keeps its
//! most recently used frames alive and reuses one whenever a frame to store is equal to it,
//! bit for bit, which with n-step returns still finds every frame of an observation among
//! those of the transitions emitted before it (see [`ReplayBuffer::window`]). Sharing equal
//! values cannot change what is sampled, so training is the same as with whole copies.

use std::collections::VecDeque;

use deepq_nn::Scalar;
use rand::Rng;
use serde::{Deserialize, Serialize};

use deepq_envs::{ElementType, Space};

use crate::config::DqnConfig;
use crate::nstep::{NStepQueue, NStepTransition};
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
        let n = cfg.run.n_envs;
        let capacity = if cfg.replay.enabled {
            cfg.replay.buffer_size
        } else {
            n
        };
        let sampling = if cfg.replay.prioritized {
            Sampling::Prioritized {
                batch_size: cfg.replay.batch_size,
                beta0: cfg.replay.priority_beta0,
                priorities: Priorities::new(
                    capacity,
                    cfg.replay.priority_alpha,
                    cfg.replay.priority_eps,
                ),
            }
        } else if cfg.replay.enabled {
            Sampling::Uniform {
                batch_size: cfg.replay.batch_size,
                with_replacement: cfg.replay.with_replacement,
                block: if cfg.replay.sample_vector_steps { n } else { 1 },
            }
        } else {
            Sampling::Latest { count: n }
        };
        Replay {
            storage: ReplayBuffer::with_encoding(
                capacity,
                obs_dim,
                Encoding::of(space),
                frames_per_observation(space),
                cfg.replay.n_steps,
                n,
            ),
            pending: if cfg.replay.n_steps > 1 {
                vec![NStepQueue::new(cfg.replay.n_steps, obs_dim); n]
            } else {
                Vec::new()
            },
            sampling,
            gamma: cfg.returns.gamma,
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
        let (mine, fresh_storage) = (&self.storage, &fresh.storage);
        sampling_fits
            && self.gamma == fresh.gamma
            && mine.obs_dim == obs_dim
            && mine.planes == fresh_storage.planes
            && mine.frames.encoding() == fresh_storage.frames.encoding()
            && mine.capacity == fresh_storage.capacity
            && mine.n_steps == fresh_storage.n_steps
            && mine.recent.len() == fresh_storage.recent.len()
            && self.pending.len() == fresh.pending.len()
            && self
                .pending
                .iter()
                .all(|q| q.fits(cfg.replay.n_steps, obs_dim))
    }

    /// Forgets the n-step steps still waiting for their returns: their episodes were cut
    /// (a continued run restarts its episodes), so they never complete.
    pub fn cut_episodes(&mut self) {
        self.pending.iter_mut().for_each(NStepQueue::clear);
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
        let mut keep = |t: NStepTransition<'_>| {
            let slot = storage.push_transition(env, t);
            if let Some(p) = priorities.as_mut() {
                p.on_push(slot);
            }
        };
        match self.pending.get_mut(env) {
            Some(queue) => queue.push(
                obs, action, reward, next_obs, terminated, truncated, self.gamma, keep,
            ),
            None => keep(NStepTransition {
                obs,
                action,
                ret: reward,
                next_obs,
                horizon: 1,
                terminated,
                truncated,
            }),
        }
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
/// capacity costs memory only once it is used.
///
/// Observations live in a pool of frames ([`ObsRows`], in the observation's own element
/// type) that transitions name by id, so an observation that is one transition's next
/// observation and a later one's observation is stored once, and so is a channel that
/// consecutive stacked images share. Each frame counts the references to it; a frame
/// nothing refers to goes on a free list and its row is reused. Which frames to share is
/// decided by value: each environment copy keeps its most recently used frames (see
/// [`ReplayBuffer::with_encoding`]), and a frame equal to one of them reuses it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(try_from = "UncheckedReplayBuffer")]
pub struct ReplayBuffer {
    capacity: usize,
    obs_dim: usize,
    /// Frames per observation: its channels for a `u8` image, else 1 (the whole observation).
    /// Frame `c` of an observation is its values `c`, `c + planes`, `c + 2·planes`, …, one
    /// channel of the (height, width, channels) image.
    planes: usize,
    /// The pool: one row per frame.
    frames: ObsRows,
    /// References to each frame, from slots and from the recent frames of each copy.
    refs: Vec<u32>,
    /// Frames nothing refers to, whose rows the next new frames overwrite.
    free: Vec<u32>,
    /// Per environment copy, the ids of the frames it stored or matched last, least recently
    /// used first, at most [`ReplayBuffer::window`] of them; each holds a reference so the
    /// frame stays alive until a later observation of the copy can match it.
    recent: Vec<VecDeque<u32>>,
    /// The frames of each slot's observation, `planes` per slot.
    obs: Vec<u32>,
    /// The frames of each slot's next observation, `planes` per slot.
    next_obs: Vec<u32>,
    actions: Vec<u32>,
    rewards: Vec<f64>,
    terminated: Vec<bool>,
    truncated: Vec<bool>,
    /// Steps summed into each stored return (n-step returns); empty when every transition is
    /// a one-step one.
    horizons: Vec<u16>,
    /// The n of the n-step returns stored: transitions carry a horizon when it is above 1.
    n_steps: usize,
    /// Index the next transition is written to once the buffer is full.
    next: usize,
    /// The observation being stored, encoded once as its frames and compared with the
    /// candidates.
    #[serde(skip)]
    scratch: ObsRows,
    /// With stacked images, per environment copy, its last next observation stored and that
    /// observation's frames (see [`ReplayBuffer::reuse_previous_next`]); empty after a resume,
    /// which only costs the first observation an encoding.
    #[serde(skip)]
    previous_next: Vec<(Vec<f32>, Vec<u32>)>,
}

/// How full a replay buffer is, as SB3's `ReplayBuffer` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplayFill {
    /// Transitions held (SB3's `size()`).
    pub len: usize,
    /// Transitions it can hold (`buffer_size`).
    pub capacity: usize,
    /// The slot the next transition is written to (`pos`); the buffer is full when `len`
    /// is `capacity`.
    pub position: usize,
}

/// A buffer as decoded from a checkpoint, before its columns and frames are checked to agree.
#[derive(Deserialize)]
struct UncheckedReplayBuffer {
    capacity: usize,
    obs_dim: usize,
    planes: usize,
    frames: ObsRows,
    refs: Vec<u32>,
    free: Vec<u32>,
    recent: Vec<VecDeque<u32>>,
    obs: Vec<u32>,
    next_obs: Vec<u32>,
    actions: Vec<u32>,
    rewards: Vec<f64>,
    terminated: Vec<bool>,
    truncated: Vec<bool>,
    horizons: Vec<u16>,
    n_steps: usize,
    next: usize,
}

impl UncheckedReplayBuffer {
    /// Whether the frame pool is one pushes could have built: every id names a frame, each
    /// frame's count is the number of slots and recent lists naming it, and the free list
    /// holds exactly the frames with no reference, once each.
    fn frames_agree(&self) -> bool {
        let n_frames = self.refs.len();
        let window = self.planes * (2 * self.n_steps - 1);
        if !self.frames.holds(n_frames, self.obs_dim / self.planes)
            || self.recent.is_empty()
            || self.recent.iter().any(|r| r.len() > window)
        {
            return false;
        }
        let mut counts = vec![0usize; n_frames];
        let named = self.obs.iter().chain(&self.next_obs);
        for &id in named.chain(self.recent.iter().flatten()) {
            match counts.get_mut(id as usize) {
                Some(c) => *c += 1,
                None => return false,
            }
        }
        if counts
            .iter()
            .zip(&self.refs)
            .any(|(&c, &r)| c != r as usize)
        {
            return false;
        }
        let mut listed = vec![false; n_frames];
        let free_once = self.free.iter().all(|&id| {
            let i = id as usize;
            i < n_frames && counts[i] == 0 && !std::mem::replace(&mut listed[i], true)
        });
        free_once && self.free.len() == counts.iter().filter(|&&c| c == 0).count()
    }
}

impl TryFrom<UncheckedReplayBuffer> for ReplayBuffer {
    type Error = &'static str;

    fn try_from(u: UncheckedReplayBuffer) -> Result<Self, Self::Error> {
        let len = u.actions.len();
        let consistent = u.capacity > 0
            && len <= u.capacity
            && u.next < u.capacity
            && (1..=usize::from(u16::MAX)).contains(&u.n_steps)
            && u.planes > 0
            && u.obs_dim.is_multiple_of(u.planes)
            && [u.obs.len(), u.next_obs.len()] == [len * u.planes; 2]
            && [u.rewards.len(), u.terminated.len(), u.truncated.len()] == [len; 3]
            && u.horizons.len() == if u.n_steps > 1 { len } else { 0 };
        if !consistent {
            return Err("replay buffer columns do not agree");
        }
        if !u.frames_agree() {
            return Err("replay buffer frames do not agree with the transitions naming them");
        }
        Ok(ReplayBuffer {
            capacity: u.capacity,
            obs_dim: u.obs_dim,
            planes: u.planes,
            scratch: ObsRows::new(u.frames.encoding()),
            previous_next: vec![(Vec::new(), Vec::new()); u.recent.len()],
            frames: u.frames,
            refs: u.refs,
            free: u.free,
            recent: u.recent,
            obs: u.obs,
            next_obs: u.next_obs,
            actions: u.actions,
            rewards: u.rewards,
            terminated: u.terminated,
            truncated: u.truncated,
            horizons: u.horizons,
            n_steps: u.n_steps,
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

/// How many frames replay splits an observation of `space` into: one per channel for a `u8`
/// image (Atari's stacked grayscale frames, which consecutive observations share), else one.
/// MinAtar's boolean channels stay whole: they are not a stack over time, and a frame id per
/// channel would cost more than the channel's bits.
pub fn frames_per_observation(space: &Space) -> usize {
    match space {
        Space::Image {
            shape: [_, _, channels],
            dtype: ElementType::U8,
        } => *channels,
        _ => 1,
    }
}

impl ReplayBuffer {
    /// An empty buffer for up to `capacity` one-step transitions of `obs_dim`-wide
    /// observations from one environment copy, stored as `f32`.
    pub fn new(capacity: usize, obs_dim: usize) -> Self {
        Self::with_encoding(capacity, obs_dim, Encoding::F32, 1, 1, 1)
    }

    /// An empty buffer for up to `capacity` transitions of `obs_dim`-wide observations stored
    /// in `encoding` as `planes` interleaved frames each (see [`frames_per_observation`]),
    /// coming from `n_envs` environment copies as `n_steps`-step returns (with `n_steps > 1`,
    /// each transition also carries the number of steps summed into its reward; see
    /// [`ReplayBuffer::push_transition`]).
    ///
    /// A frame is shared with the [`ReplayBuffer::window`] frames the same copy used last,
    /// which is far enough back to find every frame of a transition's observation among
    /// those of earlier transitions (see `window`).
    pub fn with_encoding(
        capacity: usize,
        obs_dim: usize,
        encoding: Encoding,
        planes: usize,
        n_steps: usize,
        n_envs: usize,
    ) -> Self {
        assert!(capacity > 0, "replay capacity must be positive");
        assert!(n_envs > 0, "replay needs at least one environment copy");
        assert!(
            (1..=usize::from(u16::MAX)).contains(&n_steps),
            "n-step horizon out of range"
        );
        assert!(
            planes > 0 && obs_dim.is_multiple_of(planes),
            "an observation splits into whole frames"
        );
        let buffer = ReplayBuffer {
            capacity,
            obs_dim,
            planes,
            scratch: ObsRows::new(encoding),
            previous_next: vec![(Vec::new(), Vec::new()); n_envs],
            frames: ObsRows::new(encoding),
            refs: Vec::new(),
            free: Vec::new(),
            recent: vec![VecDeque::new(); n_envs],
            obs: Vec::new(),
            next_obs: Vec::new(),
            actions: Vec::new(),
            rewards: Vec::new(),
            terminated: Vec::new(),
            truncated: Vec::new(),
            horizons: Vec::new(),
            n_steps,
            next: 0,
        };
        assert!(
            u32::try_from(buffer.most_frames()).is_ok(),
            "replay capacity too large for 32-bit frame ids"
        );
        buffer
    }

    /// Maximum number of transitions held.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Number of transitions held.
    pub fn len(&self) -> usize {
        self.actions.len()
    }

    /// How full the buffer is, in SB3's terms.
    pub fn fill(&self) -> ReplayFill {
        let len = self.len();
        ReplayFill {
            len,
            capacity: self.capacity,
            position: if len < self.capacity { len } else { self.next },
        }
    }

    /// Whether no transition is held yet.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    /// Width of the stored observations.
    pub fn obs_dim(&self) -> usize {
        self.obs_dim
    }

    /// Observation frames in use: those a transition or a copy's recent frames refer to.
    pub fn frames(&self) -> usize {
        self.refs.len() - self.free.len()
    }

    /// Frames per observation (see [`frames_per_observation`]).
    pub fn planes(&self) -> usize {
        self.planes
    }

    /// Values in one frame.
    fn frame_dim(&self) -> usize {
        self.obs_dim / self.planes
    }

    /// How many frames a copy keeps for matching: `planes · (2n − 1)` for n-step returns,
    /// with `planes` frames per observation. An n-step transition's observation o_t was the
    /// next observation of the transition emitted n steps earlier (or, at an episode's
    /// start, never stored). Between that push and this one's the copy pushed at most
    /// n − 1 transitions, whose observations and next observations used at most
    /// `2 · planes · (n − 1)` frames, and this push's observation is stored first; a frame
    /// moves to the newest end whenever it is used, so o_t's frames are still among the
    /// `planes · (2n − 1)` used last. With one-step returns and whole observations that is
    /// the previous next observation.
    pub fn window(&self) -> usize {
        self.planes * (2 * self.n_steps - 1)
    }

    /// Stores one transition of environment copy 0, overwriting the oldest once the buffer is
    /// full; returns the index it was written to.
    pub fn push(
        &mut self,
        obs: &[f32],
        action: u32,
        reward: f64,
        next_obs: &[f32],
        terminated: bool,
        truncated: bool,
    ) -> usize {
        self.push_transition(
            0,
            NStepTransition {
                obs,
                action,
                ret: reward,
                next_obs,
                horizon: 1,
                terminated,
                truncated,
            },
        )
    }

    /// Stores transition `t` of environment copy `env` (its horizon is kept only by a buffer
    /// of n-step returns), overwriting the oldest once the buffer is full; returns the index
    /// it was written to.
    pub fn push_transition(&mut self, env: usize, t: NStepTransition<'_>) -> usize {
        debug_assert_eq!(t.obs.len(), self.obs_dim);
        debug_assert_eq!(t.next_obs.len(), self.obs_dim);
        let growing = self.len() < self.capacity;
        let i = if growing { self.len() } else { self.next };
        let planes = self.planes;
        if growing {
            self.reserve_one();
            self.obs.resize(self.obs.len() + planes, 0);
            self.next_obs.resize(self.next_obs.len() + planes, 0);
            self.actions.push(t.action);
            self.rewards.push(t.ret);
            self.terminated.push(t.terminated);
            self.truncated.push(t.truncated);
            if self.n_steps > 1 {
                self.horizons.push(t.horizon);
            }
        } else {
            // Let go of the overwritten transition's frames first, so that the new ones can
            // take over their rows.
            for c in 0..planes {
                self.release_frame(self.obs[i * planes + c]);
                self.release_frame(self.next_obs[i * planes + c]);
            }
            self.actions[i] = t.action;
            self.rewards[i] = t.ret;
            self.terminated[i] = t.terminated;
            self.truncated[i] = t.truncated;
            if self.n_steps > 1 {
                self.horizons[i] = t.horizon;
            }
        }
        if !self.reuse_previous_next(env, t.obs, i) {
            self.scratch.clear();
            self.scratch.push_planes(t.obs, planes);
            for c in 0..planes {
                self.obs[i * planes + c] = self.store_frame(env, c);
            }
        }
        self.scratch.clear();
        self.scratch.push_planes(t.next_obs, planes);
        for c in 0..planes {
            self.next_obs[i * planes + c] = self.store_frame(env, c);
        }
        if planes > 1 {
            let (values, ids) = &mut self.previous_next[env];
            values.clear();
            values.extend_from_slice(t.next_obs);
            ids.clear();
            ids.extend_from_slice(&self.next_obs[i * planes..(i + 1) * planes]);
        }
        self.next = (self.next + 1) % self.capacity;
        i
    }

    /// Gives slot `slot` the frames of `env`'s previous next observation, with references
    /// taken, if `obs` is that observation (as it is for every step of an episode but the
    /// first, with one-step returns) and its frames are still among `env`'s recent ones;
    /// returns whether it did. For stacked images only: comparing the floats is much cheaper
    /// than encoding the observation to compare its frames.
    fn reuse_previous_next(&mut self, env: usize, obs: &[f32], slot: usize) -> bool {
        let planes = self.planes;
        let Some((values, ids)) = self.previous_next.get(env) else {
            return false;
        };
        let recent = &mut self.recent[env];
        // Float equality is enough: stacked images are stored as bytes, and values that
        // compare equal (0.0 and -0.0) store as the same byte.
        if values.as_slice() != obs || !ids.iter().all(|id| recent.contains(id)) {
            return false;
        }
        for (c, &id) in ids.iter().enumerate() {
            let k = recent
                .iter()
                .rposition(|&r| r == id)
                .expect("checked above");
            recent.remove(k);
            recent.push_back(id);
            self.refs[id as usize] += 1;
            self.obs[slot * planes + c] = id;
        }
        true
    }

    /// The frame holding frame `plane` of the observation encoded in the scratch rows, with a
    /// reference taken for the caller: one of `env`'s recent frames if it holds the same
    /// value, else a new frame. It becomes `env`'s most recently used.
    fn store_frame(&mut self, env: usize, plane: usize) -> u32 {
        let (dim, window) = (self.frame_dim(), self.window());
        let recent = &mut self.recent[env];
        // Newest first: with one-step returns and whole observations the match is the
        // previous next observation.
        if let Some(k) = recent
            .iter()
            .rposition(|&id| self.frames.row_eq(id as usize, &self.scratch, plane, dim))
        {
            let id = recent.remove(k).expect("the position is in the list");
            recent.push_back(id);
            self.refs[id as usize] += 1;
            return id;
        }
        if recent.len() == window {
            let oldest = recent.pop_front().expect("the window is not empty");
            self.release_frame(oldest);
        }
        let id = match self.free.pop() {
            Some(id) => {
                self.frames.set_row(id as usize, &self.scratch, plane, dim);
                id
            }
            None => {
                self.reserve_frame();
                self.frames.push_row(&self.scratch, plane, dim);
                self.refs.push(0);
                u32::try_from(self.refs.len() - 1).expect("frame ids fit in 32 bits")
            }
        };
        // One reference for the caller, one for the recent list.
        self.refs[id as usize] = 2;
        self.recent[env].push_back(id);
        id
    }

    /// Drops one reference to frame `id`, freeing its row when it was the last.
    fn release_frame(&mut self, id: u32) {
        let refs = &mut self.refs[id as usize];
        *refs -= 1;
        if *refs == 0 {
            self.free.push(id);
        }
    }

    /// Grows storage geometrically but never past `capacity`, so memory stays bounded by it.
    fn reserve_one(&mut self) {
        let len = self.len();
        if len < self.actions.capacity() {
            return;
        }
        let extra = len.max(1024).min(self.capacity - len);
        self.obs.reserve_exact(extra);
        self.next_obs.reserve_exact(extra);
        self.actions.reserve_exact(extra);
        self.rewards.reserve_exact(extra);
        self.terminated.reserve_exact(extra);
        self.truncated.reserve_exact(extra);
        if self.n_steps > 1 {
            self.horizons.reserve_exact(extra);
        }
    }

    /// Frames held when each transition brings one new frame (a whole observation shared
    /// with the previous next observation, or the newest frame of a stack): one per slot,
    /// plus the copies' recent frames.
    fn chained_frames(&self) -> usize {
        self.capacity + self.recent.len() * self.window()
    }

    /// The most frames any pushes can keep alive: all of both observations of every slot,
    /// plus the recent frames.
    fn most_frames(&self) -> usize {
        2 * self.planes * self.capacity + self.recent.len() * self.window()
    }

    /// Makes room for one more frame. The pool grows geometrically up to
    /// [`ReplayBuffer::chained_frames`], then (each episode adds a frame or more that no
    /// transition shares) by a sixteenth at a time, never past
    /// [`ReplayBuffer::most_frames`], so a full buffer holds little unused room.
    fn reserve_frame(&mut self) {
        let rows = self.refs.len();
        if rows < self.refs.capacity() {
            return;
        }
        let chained = self.chained_frames();
        let extra = if rows < chained {
            rows.max(1024).min(chained - rows)
        } else {
            (rows / 16).max(1024).min(self.most_frames() - rows)
        };
        self.frames.reserve_rows(extra, self.frame_dim());
        self.refs.reserve_exact(extra);
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
        let (d, planes, dim) = (self.obs_dim, self.planes, self.frame_dim());
        for &i in indices {
            for (ids, out) in [
                (&self.obs, &mut batch.obs),
                (&self.next_obs, &mut batch.next_obs),
            ] {
                let start = out.len();
                out.resize(start + d, T::ZERO);
                let row = &mut out[start..];
                for (c, &id) in ids[i * planes..(i + 1) * planes].iter().enumerate() {
                    self.frames
                        .write_row(id as usize, dim, &mut row[c..], planes);
                }
            }
            batch.actions.push(self.actions[i]);
            batch.rewards.push(T::from_f64(self.rewards[i]));
            batch.terminated.push(self.terminated[i]);
            batch.truncated.push(self.truncated[i]);
            if self.n_steps > 1 {
                batch.horizons.push(self.horizons[i]);
            }
        }
    }

    /// Bytes of transition storage currently allocated, frame pool included.
    pub fn allocated_bytes(&self) -> usize {
        self.frames.allocated_bytes()
            + (self.refs.capacity() + self.free.capacity()) * 4
            + self.recent.iter().map(VecDeque::capacity).sum::<usize>() * 4
            + self.scratch.allocated_bytes()
            + (self.obs.capacity() + self.next_obs.capacity()) * 4
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
    use crate::config::{ReplaySettings, RunSettings};
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
        // Observations that never repeat a next observation: two frames per transition.
        let buf = filled(3000, 10_000);
        assert_eq!(buf.len(), 3000);
        assert!(buf.actions.capacity() <= 3000);
        assert!(buf.frames() <= 2 * 3000 + 1);
        assert!(buf.frames.allocated_bytes() <= (2 * 3000 + 1) * 2 * 4);
    }

    #[test]
    fn a_continuing_episode_takes_about_one_frame_per_transition() {
        for n_steps in [1, 3] {
            let mut replay = Replay::new(
                &DqnConfig {
                    replay: ReplaySettings {
                        buffer_size: 100,
                        n_steps,
                        ..ReplaySettings::default()
                    },
                    ..DqnConfig::default()
                },
                &image(ElementType::F32),
            );
            let row = |k: usize| [k as f32; 9];
            for k in 0..1000 {
                replay.store(0, &row(k), 0, 1.0, &row(k + 1), false, false);
            }
            let buf = replay.storage();
            assert_eq!(buf.len(), 100);
            // The slots' n + 100 distinct observations, the newest ones also the recent frames.
            assert_eq!(buf.frames(), 100 + n_steps, "n_steps = {n_steps}");
            assert!(buf.frames.allocated_bytes() <= (100 + buf.window()) * 9 * 4);
        }
    }

    #[test]
    fn every_observation_is_stored_once_with_n_step_returns_and_episode_ends() {
        let mut rng = Pcg64::seed_from_u64(2);
        for n_steps in [1, 2, 3, 5] {
            let cfg = DqnConfig {
                run: RunSettings {
                    n_envs: 2,
                    ..RunSettings::default()
                },
                replay: ReplaySettings {
                    n_steps,
                    buffer_size: 50,
                    ..ReplaySettings::default()
                },
                ..DqnConfig::default()
            };
            let mut replay = Replay::new(&cfg, &image(ElementType::F32));
            // Every observation is new (its first value counts them), episodes are 1 to 12
            // steps long, so the slots name as many frames as they hold distinct values.
            let mut counter = 0.0f32;
            let mut new_obs = || {
                counter += 1.0;
                [counter; 9]
            };
            let mut obs = [new_obs(), new_obs()];
            for _ in 0..2000 {
                let env = rng.random_range(0..2);
                let next = new_obs();
                let ended = rng.random_bool(1.0 / 6.0);
                replay.store(env, &obs[env], 0, 0.0, &next, ended, false);
                obs[env] = if ended { new_obs() } else { next };
                let buf = replay.storage();
                let mut ids: Vec<u32> = buf.obs.iter().chain(&buf.next_obs).copied().collect();
                ids.sort_unstable();
                ids.dedup();
                let mut batch = Batch::<f32>::default();
                buf.gather(&(0..buf.len()).collect::<Vec<_>>(), &mut batch);
                let mut values: Vec<u32> = batch
                    .obs
                    .iter()
                    .chain(&batch.next_obs)
                    .map(|x| x.to_bits())
                    .collect();
                values.sort_unstable();
                values.dedup();
                assert_eq!(ids.len(), values.len(), "n_steps = {n_steps}");
            }
        }
    }

    #[test]
    fn a_stack_of_frames_takes_about_one_frame_per_transition() {
        let space = Space::Image {
            shape: [3, 3, 4],
            dtype: ElementType::U8,
        };
        // Frame k is distinct for every k (its first two values count in base 256).
        let frame = |k: usize| {
            let mut f = [0.0; 9];
            f[0] = ElementType::flat_from_byte((k % 256) as u8);
            f[1] = ElementType::flat_from_byte((k / 256) as u8);
            f
        };
        // The (height, width, channels) image stacking frames k − 3 to k.
        let stack = |k: usize| -> Vec<f32> {
            (0..9)
                .flat_map(|p| (0..4).map(move |c| frame(k + c)[p]))
                .collect()
        };
        for n_steps in [1, 3, 10] {
            let cfg = DqnConfig {
                replay: ReplaySettings {
                    buffer_size: 100,
                    n_steps,
                    ..ReplaySettings::default()
                },
                ..DqnConfig::default()
            };
            let mut replay = Replay::new(&cfg, &space);
            for k in 0..1000 {
                replay.store(0, &stack(k), 0, 1.0, &stack(k + 1), false, false);
            }
            let buf = replay.storage();
            assert_eq!(buf.planes(), 4);
            // The slots' observations stack frames k₀ to k₀ + 102, their next observations
            // n frames further.
            assert_eq!(buf.frames(), 103 + n_steps, "n_steps = {n_steps}");
            assert!(buf.frames.allocated_bytes() <= (100 + buf.window()) * 9);
            let (mut latest, mut batch) = (Vec::new(), Batch::<f32>::default());
            buf.latest_indices(100, &mut latest);
            buf.gather(&latest, &mut batch);
            // Of the 1000 steps, the last n − 1 still wait for their n-step returns.
            let oldest = 1000 - (n_steps - 1) - 100;
            for (i, (obs, next)) in batch
                .obs
                .chunks(36)
                .zip(batch.next_obs.chunks(36))
                .enumerate()
            {
                assert_eq!(obs, stack(oldest + i), "n_steps = {n_steps}, slot {i}");
                assert_eq!(
                    next,
                    stack(oldest + i + n_steps),
                    "n_steps = {n_steps}, slot {i}"
                );
            }
        }
    }

    /// A 3×3 one-channel image of `dtype`, stored in its own encoding.
    fn image(dtype: ElementType) -> Space {
        Space::Image {
            shape: [3, 3, 1],
            dtype,
        }
    }

    /// A stored transition as a buffer keeping two copies of the observations returns it.
    #[derive(Clone, Debug, PartialEq)]
    struct Expected {
        obs: Vec<u32>,
        next_obs: Vec<u32>,
        action: u32,
        ret: f64,
        horizon: u16,
        terminated: bool,
        truncated: bool,
    }

    /// `row` as `encoding` gives it back, bit patterns included (so -0.0 stays -0.0).
    fn stored_bits(encoding: Encoding, row: &[f32]) -> Vec<u32> {
        let mut one = ObsRows::new(encoding);
        one.push(row);
        let mut out = Vec::<f32>::new();
        one.extend_row(0, row.len(), &mut out);
        out.iter().map(|x| x.to_bits()).collect()
    }

    /// A random observation: values from a few that each encoding stores differently, and
    /// often a repeat of `last` or of a blank frame, so that equal rows turn up both next to
    /// each other and far apart.
    ///
    /// With several `channels`, it is also often the next image of a stack: `last`'s
    /// channels moved one down, a new frame in the last one.
    fn random_obs(rng: &mut Pcg64, last: &[f32], channels: usize) -> Vec<f32> {
        let pick = rng.random_range(0..10);
        let mut value = || [0.0, -0.0, 1.0, 0.5][rng.random_range(0..4)];
        match pick {
            0..3 => last.to_vec(),
            3 => vec![0.0; last.len()],
            4..7 if channels > 1 => last
                .chunks(channels)
                .flat_map(|pixel| {
                    pixel[1..]
                        .iter()
                        .copied()
                        .chain([value()])
                        .collect::<Vec<_>>()
                })
                .collect(),
            _ => (0..last.len()).map(|_| value()).collect(),
        }
    }

    #[test]
    fn pooled_frames_give_back_what_two_copies_would() {
        let mut rng = Pcg64::seed_from_u64(11);
        let spaces = [
            (ElementType::Bool, 1),
            (ElementType::U8, 1),
            (ElementType::F32, 1),
            // A stack of four frames: one frame per channel.
            (ElementType::U8, 4),
        ];
        for (dtype, channels) in spaces {
            for n_steps in [1, 3] {
                let cfg = DqnConfig {
                    run: RunSettings {
                        n_envs: 2,
                        ..RunSettings::default()
                    },
                    replay: ReplaySettings {
                        n_steps,
                        buffer_size: 23,
                        batch_size: 8,
                        ..ReplaySettings::default()
                    },
                    ..DqnConfig::default()
                };
                let space = Space::Image {
                    shape: [3, 3, channels],
                    dtype,
                };
                let dim = 9 * channels;
                let encoding = Encoding::of(&space);
                let mut replay = Replay::new(&cfg, &space);
                // The model: the same n-step queues feeding a ring of decoded copies.
                let mut queues = vec![NStepQueue::new(n_steps, dim); 2];
                let (mut model, mut emitted) = (Vec::<Expected>::new(), 0);
                let mut obs = [vec![0.0; dim], vec![1.0; dim]];
                let mut sample_rng = Pcg64::seed_from_u64(5);
                let (mut indices, mut batch) = (Vec::new(), Batch::<f32>::with_capacity(8, dim));
                for step in 0..600 {
                    let env = rng.random_range(0..2);
                    let next = random_obs(&mut rng, &obs[env], channels);
                    let ended = rng.random_bool(0.1);
                    let terminated = ended && rng.random_bool(0.5);
                    let truncated = ended && !terminated;
                    let (action, reward) = (rng.random_range(0..4), rng.random_range(-1.0..1.0));
                    replay.store(env, &obs[env], action, reward, &next, terminated, truncated);
                    queues[env].push(
                        &obs[env],
                        action,
                        reward,
                        &next,
                        terminated,
                        truncated,
                        cfg.returns.gamma,
                        |t| {
                            let e = Expected {
                                obs: stored_bits(encoding, t.obs),
                                next_obs: stored_bits(encoding, t.next_obs),
                                action: t.action,
                                ret: t.ret,
                                horizon: t.horizon,
                                terminated: t.terminated,
                                truncated: t.truncated,
                            };
                            // A ring overwriting the oldest, as the buffer's does.
                            if model.len() < cfg.replay.buffer_size {
                                model.push(e);
                            } else {
                                model[emitted % cfg.replay.buffer_size] = e;
                            }
                            emitted += 1;
                        },
                    );
                    obs[env] = if ended {
                        random_obs(&mut rng, &next, channels)
                    } else {
                        next
                    };

                    let buf = replay.storage();
                    assert_eq!(buf.len(), model.len().min(cfg.replay.buffer_size));
                    let all: Vec<usize> = (0..buf.len()).collect();
                    buf.gather(&all, &mut batch);
                    for (i, want) in model.iter().enumerate() {
                        let got = |rows: &[f32]| {
                            rows[i * dim..(i + 1) * dim]
                                .iter()
                                .map(|x| x.to_bits())
                                .collect::<Vec<_>>()
                        };
                        let horizon = if n_steps > 1 { batch.horizons[i] } else { 1 };
                        let have = Expected {
                            obs: got(&batch.obs),
                            next_obs: got(&batch.next_obs),
                            action: batch.actions[i],
                            ret: f64::from(batch.rewards[i]),
                            horizon,
                            terminated: batch.terminated[i],
                            truncated: batch.truncated[i],
                        };
                        let want = Expected {
                            ret: f64::from(want.ret as f32),
                            ..want.clone()
                        };
                        assert_eq!(
                            have, want,
                            "{dtype:?} × {channels}, n = {n_steps}, step {step}, slot {i}"
                        );
                    }
                    if replay.sample(&mut sample_rng, 0.5, &mut indices, &mut batch) {
                        for (k, &i) in indices.iter().enumerate() {
                            let row: Vec<u32> = batch.next_obs[k * dim..(k + 1) * dim]
                                .iter()
                                .map(|x| x.to_bits())
                                .collect();
                            assert_eq!(row, model[i].next_obs);
                        }
                    }
                }
                // What a checkpoint keeps decodes, passing the frame checks, to the same pool.
                let bytes = postcard::to_stdvec(&replay).unwrap();
                let decoded: Replay = postcard::from_bytes(&bytes).unwrap();
                assert!(decoded.fits(&cfg, &space));
                assert_eq!(postcard::to_stdvec(&decoded).unwrap(), bytes);
            }
        }
    }

    #[test]
    fn a_corrupt_frame_pool_is_an_error() {
        let mut replay = Replay::new(
            &DqnConfig {
                replay: ReplaySettings {
                    buffer_size: 8,
                    n_steps: 3,
                    ..ReplaySettings::default()
                },
                run: RunSettings {
                    n_envs: 2,
                    ..RunSettings::default()
                },
                ..DqnConfig::default()
            },
            &image(ElementType::Bool),
        );
        for k in 0..20 {
            let row = |k: usize| [f32::from(u8::from(k.is_multiple_of(3))); 9];
            replay.store(k % 2, &row(k), 0, 1.0, &row(k + 1), k % 7 == 6, false);
        }
        let good = serde_json::to_value(replay.storage()).unwrap();
        assert!(serde_json::from_value::<ReplayBuffer>(good.clone()).is_ok());
        type Corruption = (&'static str, fn(&mut serde_json::Value));
        let corruptions: [Corruption; 6] = [
            ("an id past the pool", |v| v["obs"][0] = 1000.into()),
            ("a count off by one", |v| {
                v["refs"][0] = (v["refs"][0].as_u64().unwrap() + 1).into()
            }),
            ("a recent list longer than the window", |v| {
                let ids = v["recent"][0].as_array_mut().unwrap();
                ids.extend(ids.clone());
            }),
            ("a live frame on the free list", |v| {
                let live = v["obs"][0].clone();
                v["free"].as_array_mut().unwrap().push(live);
            }),
            ("frames that do not split the observation", |v| {
                v["planes"] = 2.into()
            }),
            ("a frame without a row", |v| {
                let id = v["refs"].as_array().unwrap().len();
                v["refs"].as_array_mut().unwrap().push(0.into());
                v["free"].as_array_mut().unwrap().push(id.into());
            }),
        ];
        for (what, corrupt) in corruptions {
            let mut v = good.clone();
            corrupt(&mut v);
            assert!(serde_json::from_value::<ReplayBuffer>(v).is_err(), "{what}");
        }
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
