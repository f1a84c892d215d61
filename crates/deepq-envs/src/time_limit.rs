//! Episode time limit, after Gymnasium's `TimeLimit` wrapper.

use crate::env::{Env, RgbFrame, Step};
use serde::{Deserialize, Serialize};

use crate::registry::EnvSpec;
use crate::space::Space;

/// Truncates episodes after `max_episode_steps` steps.
///
/// A step is truncated when the number of steps since the last reset reaches
/// `max_episode_steps`, so `truncated` is first true on step number
/// `max_episode_steps` (counting from 1), and stays true if the caller keeps
/// stepping.
///
/// Differs from Gymnasium's `TimeLimit` in one corner case only: when the last
/// allowed step also terminates, Gymnasium reports both flags, this wrapper
/// only `terminated`. `terminated` and `truncated` are therefore never both
/// true, which keeps "bootstrap from the next state?" unambiguous for learners.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TimeLimit<E> {
    env: E,
    max_episode_steps: usize,
    elapsed_steps: usize,
    spec: Option<EnvSpec>,
}

impl<E: Env> TimeLimit<E> {
    /// Wraps `env` with a limit of `max_episode_steps` steps per episode.
    ///
    /// # Panics
    /// If `max_episode_steps` is 0.
    pub fn new(env: E, max_episode_steps: usize) -> Self {
        assert!(max_episode_steps > 0, "max_episode_steps must be positive");
        Self {
            env,
            max_episode_steps,
            elapsed_steps: 0,
            spec: None,
        }
    }

    /// Wraps `env` as registered under `spec`, whose `max_episode_steps` is the
    /// limit. [`crate::make`] builds its environments this way.
    ///
    /// # Panics
    /// If `spec.max_episode_steps` is 0.
    pub fn with_spec(env: E, spec: EnvSpec) -> Self {
        let mut wrapped = Self::new(env, spec.max_episode_steps);
        wrapped.spec = Some(spec);
        wrapped
    }

    /// The wrapped environment.
    pub fn inner(&self) -> &E {
        &self.env
    }

    /// The wrapped environment, mutably (e.g. to script its randomness in a
    /// replay test). Resetting or stepping it directly bypasses the step count.
    pub fn inner_mut(&mut self) -> &mut E {
        &mut self.env
    }

    /// Unwraps the environment.
    pub fn into_inner(self) -> E {
        self.env
    }

    /// Steps taken since the last reset.
    pub fn elapsed_steps(&self) -> usize {
        self.elapsed_steps
    }

    /// The step limit.
    pub fn max_episode_steps(&self) -> usize {
        self.max_episode_steps
    }

    /// The registry entry this environment was made from, if it came from
    /// [`TimeLimit::with_spec`].
    pub fn spec(&self) -> Option<&EnvSpec> {
        self.spec.as_ref()
    }
}

impl<E: Env> Env for TimeLimit<E> {
    type Obs = E::Obs;

    fn observation_space(&self) -> Space {
        self.env.observation_space()
    }

    fn action_space(&self) -> Space {
        self.env.action_space()
    }

    fn n_actions(&self) -> usize {
        self.env.n_actions()
    }

    fn reset(&mut self, seed: Option<u64>) -> E::Obs {
        self.elapsed_steps = 0;
        self.env.reset(seed)
    }

    #[inline]
    fn step(&mut self, action: usize) -> Step<E::Obs> {
        let mut step = self.env.step(action);
        self.elapsed_steps += 1;
        step.truncated =
            (step.truncated || self.elapsed_steps >= self.max_episode_steps) && !step.terminated;
        step
    }

    fn reset_to_state(&mut self, state: &[f64]) -> E::Obs {
        self.elapsed_steps = 0;
        self.env.reset_to_state(state)
    }

    fn observation(&self) -> E::Obs {
        self.env.observation()
    }

    fn state(&self) -> Vec<f64> {
        self.env.state()
    }

    fn render_text(&self) -> String {
        self.env.render_text()
    }

    fn render_rgb(&self) -> RgbFrame {
        self.env.render_rgb()
    }
}
