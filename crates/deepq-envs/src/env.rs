//! The environment interface shared by every environment and wrapper.

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

use crate::space::Space;

/// Seed of the RNG of an environment that has never been given one, so that a
/// run without any seed is still reproducible. `reset(None)` on a fresh
/// environment draws from the stream of `Pcg64::seed_from_u64(DEFAULT_SEED)`.
pub const DEFAULT_SEED: u64 = 0;

/// What [`Env::step`] returns: Gymnasium's `(obs, reward, terminated, truncated)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Step<O> {
    /// Observation after the step.
    pub obs: O,
    /// Reward for the step.
    pub reward: f64,
    /// The episode reached a terminal state of the task (the value of the next
    /// state is zero for bootstrapping).
    pub terminated: bool,
    /// The episode was cut short from outside the task, e.g. by a time limit
    /// (the next state still has a value).
    pub truncated: bool,
}

impl<O> Step<O> {
    /// Whether the episode is over, for either reason.
    pub fn done(&self) -> bool {
        self.terminated || self.truncated
    }
}

/// An observation that can be written into a flat f32 vector of length
/// `observation_space().flat_dim()`, the input format of the networks.
pub trait Observation: Clone + std::fmt::Debug + PartialEq + Send + Sync + 'static {
    /// Writes the flat encoding into `out`, overwriting all of it.
    ///
    /// # Panics
    /// If `out` has the wrong length for this observation.
    fn write_flat(&self, out: &mut [f32]);
}

/// A box observation is its own flat encoding.
impl<const N: usize> Observation for [f32; N] {
    fn write_flat(&self, out: &mut [f32]) {
        out.copy_from_slice(self);
    }
}

/// A two-dimensional box observation (`shape = [R, C]`) is flattened row by
/// row, numpy's C order, so element `[r][c]` lands at `r * C + c`.
impl<const R: usize, const C: usize> Observation for [[f32; C]; R] {
    fn write_flat(&self, out: &mut [f32]) {
        assert_eq!(
            out.len(),
            R * C,
            "a {R}x{C} observation needs a flat vector of width {}",
            R * C
        );
        for (row, chunk) in self.iter().zip(out.chunks_exact_mut(C)) {
            chunk.copy_from_slice(row);
        }
    }
}

/// A discrete observation is encoded one-hot.
impl Observation for usize {
    fn write_flat(&self, out: &mut [f32]) {
        assert!(
            *self < out.len(),
            "discrete observation {self} does not fit a one-hot vector of width {}",
            out.len()
        );
        out.fill(0.0);
        out[*self] = 1.0;
    }
}

/// An RGB picture of an environment, for GIFs and videos.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RgbFrame {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width * height` pixels of 3 bytes (R, G, B), row by row from the top.
    pub data: Vec<u8>,
}

impl RgbFrame {
    /// The colour of pixel `(x, y)`, `y` counted from the top.
    ///
    /// # Panics
    /// If the pixel lies outside the frame.
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        assert!(
            x < self.width && y < self.height,
            "pixel ({x}, {y}) is outside the frame"
        );
        let i = 3 * (y as usize * self.width as usize + x as usize);
        [self.data[i], self.data[i + 1], self.data[i + 2]]
    }
}

/// A reinforcement-learning environment with Gymnasium 1.x semantics.
///
/// Implementations are plain values (no interior mutability, no dynamic
/// dispatch), so generic code over `E: Env` compiles to direct calls.
pub trait Env: Send {
    /// The observation type.
    type Obs: Observation;

    /// The space observations come from.
    fn observation_space(&self) -> Space;

    /// The space of actions; `Space::Discrete` for every environment of this crate.
    fn action_space(&self) -> Space;

    /// Number of discrete actions. The default reads it from [`Env::action_space`].
    ///
    /// # Panics
    /// The default panics if the action space is not discrete.
    fn n_actions(&self) -> usize {
        self.action_space()
            .n()
            .expect("n_actions needs a discrete action space")
    }

    /// Starts a new episode and returns its first observation.
    ///
    /// `Some(seed)` reseeds the environment's own RNG with
    /// `Pcg64::seed_from_u64(seed)`; `None` keeps drawing from the current
    /// stream (see [`DEFAULT_SEED`] for an environment never seeded).
    fn reset(&mut self, seed: Option<u64>) -> Self::Obs;

    /// Applies `action` and advances one time step.
    ///
    /// # Panics
    /// If `action >= n_actions()`: that is a bug in the caller, not a condition
    /// to recover from.
    fn step(&mut self, action: usize) -> Step<Self::Obs>;

    /// Test hook: puts the environment into `state` (layout as [`Env::state`]),
    /// as if an episode had just been reset into it, and returns its observation.
    /// The RNG is left alone.
    ///
    /// # Panics
    /// If `state` has the wrong length or an impossible value.
    fn reset_to_state(&mut self, state: &[f64]) -> Self::Obs;

    /// The observation of the current state: what the last `reset` or `step`
    /// returned. Lets a learner restored from a checkpoint carry on without a reset.
    fn observation(&self) -> Self::Obs;

    /// The internal state as `f64` values, in the layout of the golden files'
    /// `state_layout` (FrozenLake: `[cell index]`).
    fn state(&self) -> Vec<f64>;

    /// A text picture of the current state for a terminal. Every frame of one
    /// environment has the same number of lines, so an animation can redraw
    /// in place.
    fn render_text(&self) -> String;

    /// An RGB picture of the current state, drawn like Gymnasium's `rgb_array`.
    fn render_rgb(&self) -> RgbFrame;

    /// Resets `copies`, the copies of a [`VecEnv`](crate::VecEnv) in order, writing their
    /// first observations to `obs`: `Some(seed)` reseeds copy `i` with `seed + i`
    /// (wrapping). The default resets each copy in turn; an env whose copies are the
    /// sub-environments of one outside vector env (a Gymnasium `VectorEnv` in Python)
    /// resets them all with one call.
    fn reset_copies(copies: &mut [Self], seed: Option<u64>, obs: &mut Vec<Self::Obs>)
    where
        Self: Sized,
    {
        obs.clear();
        for (i, env) in copies.iter_mut().enumerate() {
            obs.push(env.reset(seed.map(|s| s.wrapping_add(i as u64))));
        }
    }

    /// Steps `copies` (as for [`Env::reset_copies`]) with `actions`, auto-resetting the
    /// copies whose episode ended on the step (see [`VecEnv`](crate::VecEnv)'s "same step"
    /// contract). The default steps each copy in turn, resetting it where its episode
    /// ended; an outside vector env steps them all with one call, and may report a copy
    /// as only reset (see [`CopySteps::stepped`]).
    fn step_copies(copies: &mut [Self], actions: &[usize], out: CopySteps<'_, Self::Obs>)
    where
        Self: Sized,
    {
        let results = out
            .obs
            .iter_mut()
            .zip(out.final_obs.iter_mut())
            .zip(out.rewards.iter_mut())
            .zip(out.terminated.iter_mut().zip(out.truncated.iter_mut()));
        for ((env, &action), (((obs, final_obs), reward), (terminated, truncated))) in
            copies.iter_mut().zip(actions).zip(results)
        {
            let step = env.step(action);
            *reward = step.reward;
            *terminated = step.terminated;
            *truncated = step.truncated;
            if step.terminated || step.truncated {
                *obs = env.reset(None);
            } else {
                obs.clone_from(&step.obs);
            }
            *final_obs = step.obs;
        }
        out.life_lost.fill(false);
        out.stepped.fill(true);
    }
}

/// Where [`Env::step_copies`] writes the outcome of one step of every copy, one entry per
/// copy.
pub struct CopySteps<'a, O> {
    /// The observation to act on next: after an episode ended, the next one's first.
    pub obs: &'a mut [O],
    /// The observation the step returned, before any auto-reset.
    pub final_obs: &'a mut [O],
    /// The step's reward.
    pub rewards: &'a mut [f64],
    /// Whether the step reached a terminal state.
    pub terminated: &'a mut [bool],
    /// Whether the episode was cut short on this step.
    pub truncated: &'a mut [bool],
    /// Whether the copy lost a life on this step (an Atari game's `lives` going down);
    /// false for envs without lives.
    pub life_lost: &'a mut [bool],
    /// False where the copy took no step but only started its next episode, as a Gymnasium
    /// vector env auto-resetting on the step after an episode's end (its "next step" mode)
    /// does: the action was ignored and there is no transition; `obs` is the new episode's
    /// first observation.
    pub stepped: &'a mut [bool],
}

/// A fresh RNG for an environment, seeded with [`DEFAULT_SEED`].
pub(crate) fn default_rng() -> Pcg64 {
    Pcg64::seed_from_u64(DEFAULT_SEED)
}

/// Gymnasium's reseeding rule: a seed replaces the stream, `None` keeps it.
pub(crate) fn reseed(rng: &mut Pcg64, seed: Option<u64>) {
    if let Some(seed) = seed {
        *rng = Pcg64::seed_from_u64(seed);
    }
}

/// A draw from `U[low, high)`, mapped like numpy's `Generator.uniform`.
pub(crate) fn uniform(rng: &mut Pcg64, low: f64, high: f64) -> f64 {
    low + (high - low) * rng.random::<f64>()
}

/// Panics unless `action` is one of the `n` actions.
#[track_caller]
#[inline]
pub(crate) fn check_action(env: &str, action: usize, n: usize) {
    assert!(
        action < n,
        "{env}: invalid action {action}; valid actions are 0..{n}"
    );
}

/// Panics unless `state` has `len` values.
#[track_caller]
pub(crate) fn check_state_len(env: &str, state: &[f64], len: usize) {
    assert_eq!(
        state.len(),
        len,
        "{env}: a state has {len} values, got {}",
        state.len()
    );
}
