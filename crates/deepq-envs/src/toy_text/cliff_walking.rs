//! Cliff walking: cross a 4x12 grid from start to goal along a cliff
//! (Sutton & Barto, example 6.6), as Gymnasium's `CliffWalking-v1`.

use rand::Rng;
use rand_pcg::Pcg64;
use serde::{Deserialize, Serialize};

use crate::env::{self, Env, RgbFrame, Step};
use crate::render::{Canvas, Rgb};
use crate::space::Space;
use crate::toy_text::frozen_lake::Transition;
use crate::toy_text::{sample_transition, state_index};

/// Action that moves one row up.
pub const UP: usize = 0;
/// Action that moves one column right.
pub const RIGHT: usize = 1;
/// Action that moves one row down.
pub const DOWN: usize = 2;
/// Action that moves one column left.
pub const LEFT: usize = 3;

/// Number of rows.
pub const NROW: usize = 4;
/// Number of columns.
pub const NCOL: usize = 12;
/// Number of states (every cell, cliff and goal included, as Gymnasium's `nS`).
pub const N_STATES: usize = NROW * NCOL;
/// The start cell, bottom left.
pub const START: usize = 36;
/// The goal cell, bottom right.
pub const GOAL: usize = 47;

/// Pixels per cell side in [`Env::render_rgb`], as Gymnasium's.
const CELL_PX: u32 = 64;

/// Whether cell `s` is part of the cliff (bottom row between start and goal).
pub fn is_cliff(s: usize) -> bool {
    s > START && s < GOAL
}

/// The cliff-walking grid world.
///
/// Observation: the cell index `row * 12 + col` (`Discrete(48)`). Actions
/// [`UP`], [`RIGHT`], [`DOWN`], [`LEFT`]; moves into the border stay put.
/// Every step costs 1; stepping into the cliff costs 100 and sends the agent
/// back to the start without ending the episode; reaching the goal ends it.
/// On a slippery cliff (Gymnasium 1.x's `is_slippery`) the agent moves in the
/// intended direction or either perpendicular one with probability 1/3 each.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CliffWalking {
    transitions: Vec<Vec<Vec<Transition>>>,
    is_slippery: bool,
    state: usize,
    last_action: Option<usize>,
    rng: Pcg64,
}

impl Default for CliffWalking {
    fn default() -> Self {
        Self::new(false)
    }
}

impl CliffWalking {
    /// A cliff walk, slippery or not, with the agent on the start cell and
    /// its RNG at [`env::DEFAULT_SEED`].
    pub fn new(is_slippery: bool) -> Self {
        Self {
            transitions: build_transitions(is_slippery),
            is_slippery,
            state: START,
            last_action: None,
            rng: env::default_rng(),
        }
    }

    /// Whether moves can slip sideways.
    pub fn is_slippery(&self) -> bool {
        self.is_slippery
    }

    /// Gymnasium's `P`: `transitions()[state][action]` lists the possible
    /// outcomes in Gymnasium's order. Like Gymnasium's, the table has rows
    /// for the cliff and goal cells too, computed as for any other cell.
    pub fn transitions(&self) -> &[Vec<Vec<Transition>>] {
        &self.transitions
    }
}

/// Builds Gymnasium's `P`.
fn build_transitions(is_slippery: bool) -> Vec<Vec<Vec<Transition>>> {
    // Gymnasium's POSITION_MAPPING, indexed by action.
    const DELTAS: [(isize, isize); 4] = [(-1, 0), (0, 1), (1, 0), (0, -1)];
    let outcome = |s: usize, action: usize, prob: f64| {
        let (dr, dc) = DELTAS[action];
        let row = (s / NCOL).saturating_add_signed(dr).min(NROW - 1);
        let col = (s % NCOL).saturating_add_signed(dc).min(NCOL - 1);
        let next = row * NCOL + col;
        if is_cliff(next) {
            Transition {
                prob,
                next_state: START,
                reward: -100.0,
                terminated: false,
            }
        } else {
            Transition {
                prob,
                next_state: next,
                reward: -1.0,
                terminated: next == GOAL,
            }
        }
    };
    (0..N_STATES)
        .map(|s| {
            (0..4)
                .map(|a| {
                    if is_slippery {
                        // Gymnasium computes `1 / len(deltas)` for each.
                        [(a + 3) % 4, a, (a + 1) % 4]
                            .into_iter()
                            .map(|b| outcome(s, b, 1.0 / 3.0))
                            .collect()
                    } else {
                        vec![outcome(s, a, 1.0)]
                    }
                })
                .collect()
        })
        .collect()
}

impl Env for CliffWalking {
    type Obs = usize;

    fn observation_space(&self) -> Space {
        Space::Discrete { n: N_STATES }
    }

    fn action_space(&self) -> Space {
        Space::Discrete { n: 4 }
    }

    fn n_actions(&self) -> usize {
        4
    }

    /// Puts the agent on the start cell; consumes one draw like Gymnasium's
    /// categorical sample over its one-cell start distribution.
    fn reset(&mut self, seed: Option<u64>) -> usize {
        env::reseed(&mut self.rng, seed);
        let _: f64 = self.rng.random();
        self.state = START;
        self.last_action = None;
        self.state
    }

    /// Samples the outcome with one draw from the RNG, even when the move is
    /// deterministic, like Gymnasium.
    fn step(&mut self, action: usize) -> Step<usize> {
        env::check_action("CliffWalking", action, 4);
        let t = sample_transition(&self.transitions, self.state, action, &mut self.rng);
        self.state = t.next_state;
        self.last_action = Some(action);
        t.step()
    }

    /// `state` is `[cell index]`.
    fn reset_to_state(&mut self, state: &[f64]) -> usize {
        self.state = state_index("CliffWalking", state, N_STATES);
        self.last_action = None;
        self.state
    }

    fn observation(&self) -> usize {
        self.state
    }

    fn state(&self) -> Vec<f64> {
        vec![self.state as f64]
    }

    /// Gymnasium's `ansi` frame: `x` the agent, `C` the cliff, `T` the goal,
    /// `o` the rest, in four rows; without the trailing newline and empty
    /// line Gymnasium adds, like the other text frames of this crate.
    fn render_text(&self) -> String {
        let mut out = String::new();
        for s in 0..N_STATES {
            let mark = if s == self.state {
                'x'
            } else if s == GOAL {
                'T'
            } else if is_cliff(s) {
                'C'
            } else {
                'o'
            };
            let col = s % NCOL;
            if col > 0 {
                out.push(' ');
            }
            out.push(mark);
            if col < NCOL - 1 {
                out.push(' ');
            } else if s < N_STATES - 1 {
                out.push('\n');
            }
        }
        out
    }

    /// 768x256, 64 pixels per cell: grass, the cliff as a dark chasm, an `S`
    /// pad on the start, a flag on the goal, the agent as a red disc.
    fn render_rgb(&self) -> RgbFrame {
        const GROUND: Rgb = [120, 180, 90];
        const GRID: Rgb = [100, 155, 75];
        const CLIFF: Rgb = [70, 55, 45];
        let c = CELL_PX as f32;
        let mut canvas = Canvas::y_down(CELL_PX * NCOL as u32, CELL_PX * NROW as u32, GROUND);
        for s in 0..N_STATES {
            let (x, y) = ((s % NCOL) as f32 * c, (s / NCOL) as f32 * c);
            let square = [(x, y), (x + c, y), (x + c, y + c), (x, y + c)];
            if is_cliff(s) {
                canvas.polygon(&square, CLIFF);
            }
            let mut outline = square.to_vec();
            outline.push((x, y));
            canvas.polyline(&outline, 1.0, GRID);
            if s == START {
                canvas.polygon(
                    &[
                        (x + c * 0.2, y + c * 0.7),
                        (x + c * 0.8, y + c * 0.7),
                        (x + c * 0.8, y + c * 0.85),
                        (x + c * 0.2, y + c * 0.85),
                    ],
                    [230, 230, 230],
                );
            }
            if s == GOAL {
                canvas.polyline(
                    &[(x + c * 0.35, y + c * 0.85), (x + c * 0.35, y + c * 0.15)],
                    3.0,
                    [90, 60, 30],
                );
                canvas.polygon(
                    &[
                        (x + c * 0.37, y + c * 0.15),
                        (x + c * 0.8, y + c * 0.3),
                        (x + c * 0.37, y + c * 0.45),
                    ],
                    [220, 40, 40],
                );
            }
        }
        let (cx, cy) = (
            ((self.state % NCOL) as f32 + 0.5) * c,
            ((self.state / NCOL) as f32 + 0.5) * c,
        );
        canvas.circle(cx, cy, c * 0.28, [40, 40, 40]);
        canvas.circle(cx, cy, c * 0.22, [214, 48, 49]);
        canvas.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_frame_is_gymnasiums() {
        let mut env = CliffWalking::new(false);
        env.reset(Some(0));
        assert_eq!(
            env.render_text(),
            "o  o  o  o  o  o  o  o  o  o  o  o\n\
             o  o  o  o  o  o  o  o  o  o  o  o\n\
             o  o  o  o  o  o  o  o  o  o  o  o\n\
             x  C  C  C  C  C  C  C  C  C  C  T"
        );
    }

    #[test]
    fn cliff_sends_back_to_start() {
        let mut env = CliffWalking::new(false);
        env.reset(Some(0));
        let step = env.step(RIGHT);
        assert_eq!(
            (step.obs, step.reward, step.terminated),
            (START, -100.0, false)
        );
    }
}
