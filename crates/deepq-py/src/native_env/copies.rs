//! The copies of one environment and their step loop: [`Copies`] hides the concrete env type
//! behind one trait object per batch, so the loop over the copies is monomorphised, and
//! [`Autoreset`] is Gymnasium 1.x's rule for when a finished copy starts again.

use deepq::envs::{Env, EnvSpec, EnvVisitor, Observation, RgbFrame};

use super::obs::ObsRows;
use crate::errors::{Error, Result};

/// When a copy whose episode ended starts its next one (Gymnasium 1.x's `AutoresetMode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Autoreset {
    /// The step after the one that ended the episode resets the copy and ignores its action,
    /// returning the first observation with reward 0 and both flags false.
    NextStep,
    /// The step that ends the episode resets the copy at once and returns the next episode's
    /// first observation; the last observation of the ended episode is returned beside it.
    SameStep,
    /// Copies never reset on their own (a single environment, or Gymnasium's `DISABLED`:
    /// the caller resets finished copies with a mask).
    Disabled,
}

impl Autoreset {
    /// The mode named `name` (`"next_step"`, `"same_step"` or `"disabled"`, Gymnasium's values).
    pub(super) fn parse(name: &str) -> Result<Self> {
        match name {
            "next_step" => Ok(Autoreset::NextStep),
            "same_step" => Ok(Autoreset::SameStep),
            "disabled" => Ok(Autoreset::Disabled),
            _ => Err(Error::usage(format!(
                "invalid autoreset_mode '{name}'; expected next_step, same_step or disabled"
            ))),
        }
    }
}

/// What one step of every copy produced.
pub(super) struct StepRows {
    pub(super) obs: ObsRows,
    pub(super) rewards: Vec<f64>,
    pub(super) terminated: Vec<bool>,
    pub(super) truncated: Vec<bool>,
    /// `same_step` mode, once some copy finished: each finished copy's last observation,
    /// zeros for the others.
    pub(super) final_obs: Option<ObsRows>,
}

/// The copies of one concrete environment type, behind a trait object so that
/// [`super::NativeEnvs`] needs no type parameter while the step loop is monomorphised.
pub(super) trait Copies: Send {
    /// Resets copy `i` with `seeds[i]` where `mask` (if any) allows, and appends every
    /// copy's observation to `obs`.
    fn reset(&mut self, seeds: &[Option<u64>], mask: Option<&[bool]>, obs: &mut ObsRows);
    /// Steps copy `i` with `actions[i]` under `mode`; `width` is the flat width of one
    /// observation (for the zero rows of `final_obs`).
    fn step(&mut self, actions: &[usize], mode: Autoreset, width: usize, out: &mut StepRows);
    /// Puts copy `index` into `state` and appends its observation to `obs`.
    fn reset_to_state(&mut self, index: usize, state: &[f64], obs: &mut ObsRows);
    /// The internal state of copy `index`.
    fn state(&self, index: usize) -> Vec<f64>;
    /// Copy `index`, for rendering.
    fn env(&self, index: usize) -> &dyn RenderEnv;
    /// An independent copy, in the same state and with the same random streams.
    fn duplicate(&self) -> Box<dyn Copies>;
}

/// The renderers of an environment, object-safe.
pub(super) trait RenderEnv {
    fn text(&self) -> String;
    fn rgb(&self) -> RgbFrame;
}

impl<E: Env> RenderEnv for E {
    fn text(&self) -> String {
        self.render_text()
    }

    fn rgb(&self) -> RgbFrame {
        self.render_rgb()
    }
}

/// `num_envs` copies of `E` and the state of their autoreset.
#[derive(Clone)]
struct Batch<E: Env> {
    envs: Vec<E>,
    /// `next_step` mode: which copies ended their episode on the previous step.
    pending_reset: Vec<bool>,
    /// One observation in deepq's flat encoding, on its way into [`ObsRows`].
    flat: Vec<f32>,
}

impl<E: Env> Batch<E> {
    fn push_obs(&mut self, obs: &E::Obs, rows: &mut ObsRows) {
        obs.write_flat(&mut self.flat);
        rows.push(&self.flat);
    }
}

impl<E: Env + Clone + 'static> Copies for Batch<E> {
    fn reset(&mut self, seeds: &[Option<u64>], mask: Option<&[bool]>, rows: &mut ObsRows) {
        for i in 0..self.envs.len() {
            let obs = if mask.is_none_or(|m| m[i]) {
                self.pending_reset[i] = false;
                self.envs[i].reset(seeds[i])
            } else {
                self.envs[i].observation()
            };
            self.push_obs(&obs, rows);
        }
    }

    fn step(&mut self, actions: &[usize], mode: Autoreset, width: usize, out: &mut StepRows) {
        for (i, &action) in actions.iter().enumerate() {
            if mode == Autoreset::NextStep && self.pending_reset[i] {
                let obs = self.envs[i].reset(None);
                self.push_obs(&obs, &mut out.obs);
                out.rewards.push(0.0);
                out.terminated.push(false);
                out.truncated.push(false);
                self.pending_reset[i] = false;
                if let Some(finals) = &mut out.final_obs {
                    finals.push_zeros(width);
                }
                continue;
            }
            let step = self.envs[i].step(action);
            let done = step.terminated || step.truncated;
            out.rewards.push(step.reward);
            out.terminated.push(step.terminated);
            out.truncated.push(step.truncated);
            match mode {
                Autoreset::SameStep if done => {
                    let finals = out.final_obs.get_or_insert_with(|| {
                        let mut rows = out.obs.empty_like();
                        for _ in 0..i {
                            rows.push_zeros(width);
                        }
                        rows
                    });
                    self.push_obs(&step.obs, finals);
                    let obs = self.envs[i].reset(None);
                    self.push_obs(&obs, &mut out.obs);
                }
                _ => {
                    self.pending_reset[i] = mode == Autoreset::NextStep && done;
                    if let Some(finals) = &mut out.final_obs {
                        finals.push_zeros(width);
                    }
                    self.push_obs(&step.obs, &mut out.obs);
                }
            }
        }
    }

    fn reset_to_state(&mut self, index: usize, state: &[f64], rows: &mut ObsRows) {
        self.pending_reset[index] = false;
        let obs = self.envs[index].reset_to_state(state);
        self.push_obs(&obs, rows);
    }

    fn state(&self, index: usize) -> Vec<f64> {
        self.envs[index].state()
    }

    fn env(&self, index: usize) -> &dyn RenderEnv {
        &self.envs[index]
    }

    fn duplicate(&self) -> Box<dyn Copies> {
        Box::new(self.clone())
    }
}

/// Builds the [`Batch`] of `num_envs` copies of a made environment.
pub(super) struct BuildCopies {
    pub(super) num_envs: usize,
}

impl EnvVisitor for BuildCopies {
    type Output = (Box<dyn Copies>, usize);

    fn visit<E>(self, env: E, _spec: EnvSpec) -> Self::Output
    where
        E: Env + Clone + serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
    {
        let width = env.observation_space().flat_dim();
        let batch = Batch {
            envs: vec![env; self.num_envs],
            pending_reset: vec![false; self.num_envs],
            flat: vec![0.0; width],
        };
        (Box::new(batch), width)
    }
}
