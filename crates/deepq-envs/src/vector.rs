//! Several copies of one environment stepped together, with automatic reset.
//!
//! # Auto-reset: "same step"
//!
//! [`VecEnv::step`] follows Stable-Baselines3's `VecEnv` and Gymnasium's
//! `AutoresetMode.SAME_STEP`: when copy `i`'s episode ends on a step
//! (`terminated[i] || truncated[i]`), the copy is reset at once with
//! `reset(None)`, so
//!
//! - `obs[i]` is already the first observation of copy `i`'s next episode,
//! - `final_obs[i]` is the last observation of the episode that just ended,
//! - `rewards[i]`, `terminated[i]` and `truncated[i]` belong to the finishing step.
//!
//! A learner stores the transition `(prev_obs[i], action, rewards[i],
//! final_obs[i], terminated[i])` and acts on `obs[i]` next. `final_obs[i]`
//! holds the observation returned by the step for every copy, so where the
//! episode did not end it equals `obs[i]`.
//!
//! The copies of a Gymnasium vector env in Python that resets "on the next step" break
//! that contract in one way only: on the step after an episode ended, the copy takes no
//! step but starts its next episode, and `stepped[i]` is false (see
//! [`Env::step_copies`]). Built-in envs always step.
//!
//! # Seeding
//!
//! [`VecEnv::reset`] with `Some(seed)` reseeds copy `i` with `seed + i`
//! (Gymnasium's vector convention), giving every copy its own stream; copy
//! `i` then behaves exactly like a single environment reset with `seed + i`.
//! Automatic resets continue each copy's stream. Copies that were never
//! seeded all start from [`crate::DEFAULT_SEED`] and would repeat each other,
//! so the first reset should carry a seed.
//!
//! # Cost
//!
//! Stepping allocates nothing and dispatches statically: results live in
//! buffers owned by the `VecEnv` and are lent out until the next call.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::env::{CopySteps, Env};

/// `num_envs` copies of an environment stepped in lockstep, with same-step
/// auto-reset (see the [module docs](self)).
#[derive(Clone, Debug)]
pub struct VecEnv<E: Env> {
    envs: Vec<E>,
    obs: Vec<E::Obs>,
    final_obs: Vec<E::Obs>,
    rewards: Vec<f64>,
    terminated: Vec<bool>,
    truncated: Vec<bool>,
    life_lost: Vec<bool>,
    stepped: Vec<bool>,
}

/// A vector env is saved as its copies: their states and RNGs are all there is to it.
impl<E: Env + Serialize> Serialize for VecEnv<E> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.envs.serialize(serializer)
    }
}

/// Restores the copies mid-episode, as [`VecEnv::resume`] does.
impl<'de, E: Env + Deserialize<'de>> Deserialize<'de> for VecEnv<E> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let envs = Vec::<E>::deserialize(deserializer)?;
        if envs.is_empty() {
            return Err(serde::de::Error::custom(
                "a VecEnv needs at least one environment",
            ));
        }
        Ok(Self::resume(envs))
    }
}

/// Results of one [`VecEnv::step`], one entry per copy, borrowed from the
/// `VecEnv` until its next call.
#[derive(Debug)]
pub struct VecStep<'a, O> {
    /// Observations to act on next: after an episode ended, the first
    /// observation of the next one.
    pub obs: &'a [O],
    /// Rewards of this step.
    pub rewards: &'a [f64],
    /// Whether the step reached a terminal state.
    pub terminated: &'a [bool],
    /// Whether the episode was cut short on this step (e.g. time limit).
    pub truncated: &'a [bool],
    /// Observations the step itself returned, before any auto-reset: the last
    /// observation of the episode where it ended, else equal to `obs`.
    pub final_obs: &'a [O],
    /// Whether the copy lost a life on this step (Atari); false for envs without lives.
    pub life_lost: &'a [bool],
    /// False where the copy only started its next episode, taking no step and giving no
    /// transition (see the [module docs](self)).
    pub stepped: &'a [bool],
}

impl<E: Env> VecEnv<E> {
    /// Bundles `envs`, which should be copies of one environment. Call
    /// [`VecEnv::reset`] before the first step.
    ///
    /// # Panics
    /// If `envs` is empty.
    pub fn new(envs: Vec<E>) -> Self {
        assert!(!envs.is_empty(), "a VecEnv needs at least one environment");
        let n = envs.len();
        Self {
            envs,
            obs: Vec::with_capacity(n),
            final_obs: Vec::with_capacity(n),
            rewards: vec![0.0; n],
            terminated: vec![false; n],
            truncated: vec![false; n],
            life_lost: vec![false; n],
            stepped: vec![true; n],
        }
    }

    /// Number of copies.
    /// Continues copies that are mid-episode (e.g. restored from a checkpoint):
    /// unlike [`VecEnv::new`] it needs no reset before the first step, because
    /// every copy reports its current observation.
    pub fn resume(envs: Vec<E>) -> Self {
        let mut vec_env = Self::new(envs);
        vec_env.obs = vec_env.envs.iter().map(Env::observation).collect();
        vec_env.final_obs.clone_from(&vec_env.obs);
        vec_env
    }

    /// The observation each copy acts on next (after `reset`, `resume` or `step`).
    pub fn observations(&self) -> &[E::Obs] {
        &self.obs
    }

    /// The copies, for saving their state.
    pub fn into_envs(self) -> Vec<E> {
        self.envs
    }

    /// How many copies step together: the length of every per-copy slice this type takes
    /// and returns.
    pub fn num_envs(&self) -> usize {
        self.envs.len()
    }

    /// The copies, e.g. to render one of them.
    pub fn envs(&self) -> &[E] {
        &self.envs
    }

    /// Resets every copy and returns the first observations. `Some(seed)`
    /// reseeds copy `i` with `seed + i` (wrapping), `None` continues each
    /// copy's stream.
    pub fn reset(&mut self, seed: Option<u64>) -> &[E::Obs] {
        E::reset_copies(&mut self.envs, seed, &mut self.obs);
        self.final_obs.clone_from(&self.obs);
        self.rewards.fill(0.0);
        self.terminated.fill(false);
        self.truncated.fill(false);
        self.life_lost.fill(false);
        self.stepped.fill(true);
        &self.obs
    }

    /// Steps copy `i` with `actions[i]`, auto-resetting the copies whose
    /// episode ended.
    ///
    /// # Panics
    /// If `actions.len() != num_envs()`, if [`VecEnv::reset`] was never
    /// called, or if an action is invalid for its copy.
    pub fn step(&mut self, actions: &[usize]) -> VecStep<'_, E::Obs> {
        assert_eq!(
            actions.len(),
            self.envs.len(),
            "VecEnv::step needs one action per environment"
        );
        assert!(
            !self.obs.is_empty(),
            "VecEnv::step called before VecEnv::reset"
        );
        E::step_copies(
            &mut self.envs,
            actions,
            CopySteps {
                obs: &mut self.obs,
                final_obs: &mut self.final_obs,
                rewards: &mut self.rewards,
                terminated: &mut self.terminated,
                truncated: &mut self.truncated,
                life_lost: &mut self.life_lost,
                stepped: &mut self.stepped,
            },
        );
        VecStep {
            obs: &self.obs,
            rewards: &self.rewards,
            terminated: &self.terminated,
            truncated: &self.truncated,
            final_obs: &self.final_obs,
            life_lost: &self.life_lost,
            stepped: &self.stepped,
        }
    }
}
