//! FrozenLake: walk across a frozen lake from start to goal without falling
//! into a hole, as Gymnasium's `FrozenLake-v1`.

use rand::Rng;
use rand_pcg::Pcg64;
use serde::{Deserialize, Serialize};

use crate::env::{self, Env, RgbFrame, Step};
use crate::render::{Canvas, Rgb};
use crate::space::Space;
use crate::toy_text::{categorical_sample, sample_transition, state_index};

/// Action that moves one cell left.
pub const LEFT: usize = 0;
/// Action that moves one cell down.
pub const DOWN: usize = 1;
/// Action that moves one cell right.
pub const RIGHT: usize = 2;
/// Action that moves one cell up.
pub const UP: usize = 3;

const ACTION_NAMES: [&str; 4] = ["Left", "Down", "Right", "Up"];

/// Gymnasium's built-in `"4x4"` map: `S` start, `F` frozen, `H` hole, `G` goal.
pub const MAP_4X4: [&str; 4] = ["SFFF", "FHFH", "FFFH", "HFFG"];

/// Gymnasium's built-in `"8x8"` map.
pub const MAP_8X8: [&str; 8] = [
    "SFFFFFFF", "FFFFFFFF", "FFFHFFFF", "FFFFFHFF", "FFFHFFFF", "FHHFFFHF", "FHFFHFHF", "FFFHFFFG",
];

/// Gymnasium's default probability of moving in the intended direction on
/// slippery ice; each perpendicular direction gets half of the rest.
pub const DEFAULT_SUCCESS_RATE: f64 = 1.0 / 3.0;

/// Pixels per cell side in [`Env::render_rgb`].
const CELL_PX: u32 = 64;

/// One possible outcome of an action: an entry of Gymnasium's `P[s][a]`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    /// Probability of this outcome.
    pub prob: f64,
    /// Cell the agent ends up in.
    pub next_state: usize,
    /// Reward: 1 for entering the goal, else 0.
    pub reward: f64,
    /// Whether the episode ends there (goal or hole).
    pub terminated: bool,
}

/// Why a map or a parameter cannot make a FrozenLake.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum MapError {
    /// The map has no rows or an empty row.
    #[error("the map is empty")]
    Empty,
    /// A row's length differs from the first row's.
    #[error("map row {row} has {len} cells but row 0 has {expected}")]
    Ragged {
        /// Index of the offending row.
        row: usize,
        /// Its length.
        len: usize,
        /// Length of row 0.
        expected: usize,
    },
    /// A cell is not one of `S`, `F`, `H`, `G`.
    #[error("map cell ({row}, {col}) is {found:?}; cells must be S, F, H or G")]
    BadCell {
        /// Row of the cell.
        row: usize,
        /// Column of the cell.
        col: usize,
        /// The character found.
        found: char,
    },
    /// No cell is marked `S`.
    #[error("the map has no start cell 'S'")]
    NoStart,
    /// The success rate is not a probability.
    #[error("success_rate must be within 0..=1, got {0}")]
    SuccessRate(f64),
}

/// The frozen-lake grid world.
///
/// Observation: the agent's cell index `row * ncol + col`. Actions
/// [`LEFT`], [`DOWN`], [`RIGHT`], [`UP`]; moves into the border leave the agent
/// in place. On slippery ice the agent moves in the intended direction with
/// probability `success_rate` and in each perpendicular direction with
/// probability `(1 - success_rate) / 2`. Entering the goal pays 1 and ends the
/// episode, entering a hole ends it with 0.
///
/// The transition table is built exactly like Gymnasium's `P` (same outcome
/// order, duplicates not merged), so tabular methods can use
/// [`FrozenLake::transitions`] directly.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FrozenLake {
    desc: Vec<String>,
    ncol: usize,
    transitions: Vec<Vec<Vec<Transition>>>,
    start_cells: Vec<usize>,
    is_slippery: bool,
    success_rate: f64,
    state: usize,
    last_action: Option<usize>,
    rng: Pcg64,
}

impl FrozenLake {
    /// A lake with the map `desc` (one string per row, cells `S`, `F`, `H`,
    /// `G`), in the first start cell with its RNG at [`env::DEFAULT_SEED`].
    /// `success_rate` only matters when `is_slippery`; Gymnasium's default is
    /// [`DEFAULT_SUCCESS_RATE`].
    ///
    /// # Errors
    /// A [`MapError`] if the map is empty, ragged, has a letter other than
    /// `S`, `F`, `H`, `G` or no start cell, or if `success_rate` is outside 0..=1.
    pub fn new(
        desc: &[impl AsRef<str>],
        is_slippery: bool,
        success_rate: f64,
    ) -> Result<Self, MapError> {
        let desc: Vec<String> = desc.iter().map(|row| row.as_ref().to_owned()).collect();
        let ncol = desc.first().map_or(0, |row| row.chars().count());
        if ncol == 0 {
            return Err(MapError::Empty);
        }
        for (row, line) in desc.iter().enumerate() {
            let len = line.chars().count();
            if len != ncol {
                return Err(MapError::Ragged {
                    row,
                    len,
                    expected: ncol,
                });
            }
            if let Some((col, found)) = line
                .chars()
                .enumerate()
                .find(|(_, c)| !matches!(c, 'S' | 'F' | 'H' | 'G'))
            {
                return Err(MapError::BadCell { row, col, found });
            }
        }
        if !(0.0..=1.0).contains(&success_rate) {
            return Err(MapError::SuccessRate(success_rate));
        }
        let cells: Vec<u8> = desc.iter().flat_map(|row| row.bytes()).collect();
        let start_cells: Vec<usize> = (0..cells.len()).filter(|&s| cells[s] == b'S').collect();
        if start_cells.is_empty() {
            return Err(MapError::NoStart);
        }
        let transitions = build_transitions(&cells, ncol, is_slippery, success_rate);
        Ok(Self {
            state: start_cells[0],
            desc,
            ncol,
            transitions,
            start_cells,
            is_slippery,
            success_rate,
            last_action: None,
            rng: env::default_rng(),
        })
    }

    /// The map, one string per row.
    pub fn desc(&self) -> &[String] {
        &self.desc
    }

    /// Number of rows.
    pub fn nrow(&self) -> usize {
        self.desc.len()
    }

    /// Number of columns.
    pub fn ncol(&self) -> usize {
        self.ncol
    }

    /// Number of cells, i.e. of observations.
    pub fn n_states(&self) -> usize {
        self.transitions.len()
    }

    /// Whether moves can slip sideways.
    pub fn is_slippery(&self) -> bool {
        self.is_slippery
    }

    /// Probability of moving in the intended direction on slippery ice.
    pub fn success_rate(&self) -> f64 {
        self.success_rate
    }

    /// Gymnasium's `P`: `transitions()[state][action]` lists the possible
    /// outcomes. Goal and hole cells have the single outcome
    /// `(1.0, same cell, 0, terminated)` for every action.
    pub fn transitions(&self) -> &[Vec<Vec<Transition>>] {
        &self.transitions
    }

    /// The map letter of cell `state`.
    ///
    /// # Panics
    /// If `state` is not a cell of the map.
    pub fn cell(&self, state: usize) -> char {
        char::from(self.desc[state / self.ncol].as_bytes()[state % self.ncol])
    }
}

/// Builds Gymnasium's `P` for the row-major `cells` of a map `ncol` wide.
fn build_transitions(
    cells: &[u8],
    ncol: usize,
    is_slippery: bool,
    success_rate: f64,
) -> Vec<Vec<Vec<Transition>>> {
    let nrow = cells.len() / ncol;
    let fail_rate = (1.0 - success_rate) / 2.0;
    let outcome = |row: usize, col: usize, action: usize, prob: f64| {
        let (row, col) = match action {
            LEFT => (row, col.saturating_sub(1)),
            DOWN => ((row + 1).min(nrow - 1), col),
            RIGHT => (row, (col + 1).min(ncol - 1)),
            _ => (row.saturating_sub(1), col),
        };
        let next_state = row * ncol + col;
        let letter = cells[next_state];
        Transition {
            prob,
            next_state,
            reward: if letter == b'G' { 1.0 } else { 0.0 },
            terminated: letter == b'G' || letter == b'H',
        }
    };
    (0..cells.len())
        .map(|s| {
            let (row, col) = (s / ncol, s % ncol);
            (0..4)
                .map(|a| {
                    if matches!(cells[s], b'G' | b'H') {
                        vec![Transition {
                            prob: 1.0,
                            next_state: s,
                            reward: 0.0,
                            terminated: true,
                        }]
                    } else if is_slippery {
                        [(a + 3) % 4, a, (a + 1) % 4]
                            .into_iter()
                            .map(|b| {
                                let prob = if b == a { success_rate } else { fail_rate };
                                outcome(row, col, b, prob)
                            })
                            .collect()
                    } else {
                        vec![outcome(row, col, a, 1.0)]
                    }
                })
                .collect()
        })
        .collect()
}

impl Env for FrozenLake {
    type Obs = usize;

    fn observation_space(&self) -> Space {
        Space::Discrete { n: self.n_states() }
    }

    fn action_space(&self) -> Space {
        Space::Discrete { n: 4 }
    }

    fn n_actions(&self) -> usize {
        4
    }

    /// Puts the agent on a start cell, chosen uniformly among the `S` cells;
    /// consumes one draw like Gymnasium even when there is only one.
    fn reset(&mut self, seed: Option<u64>) -> usize {
        env::reseed(&mut self.rng, seed);
        let u: f64 = self.rng.random();
        let p = 1.0 / self.start_cells.len() as f64;
        let i = categorical_sample(self.start_cells.iter().map(|_| p), u);
        self.state = self.start_cells[i];
        self.last_action = None;
        self.state
    }

    /// Samples the outcome with one draw from the RNG, even when the move is
    /// deterministic, like Gymnasium.
    fn step(&mut self, action: usize) -> Step<usize> {
        env::check_action("FrozenLake", action, 4);
        let t = sample_transition(&self.transitions, self.state, action, &mut self.rng);
        self.state = t.next_state;
        self.last_action = Some(action);
        t.step()
    }

    /// `state` is `[cell index]`.
    fn reset_to_state(&mut self, state: &[f64]) -> usize {
        self.state = state_index("FrozenLake", state, self.n_states());
        self.last_action = None;
        self.state
    }

    fn observation(&self) -> usize {
        self.state
    }

    fn state(&self) -> Vec<f64> {
        vec![self.state as f64]
    }

    /// `nrow + 1` lines like Gymnasium's `ansi` mode: the last action (blank
    /// after a reset), then the map with the agent's cell in brackets.
    fn render_text(&self) -> String {
        let mut out = String::new();
        if let Some(a) = self.last_action {
            out.push_str(&format!("  ({})", ACTION_NAMES[a]));
        }
        for (row, line) in self.desc.iter().enumerate() {
            out.push('\n');
            for (col, c) in line.chars().enumerate() {
                let (open, close) = if row * self.ncol + col == self.state {
                    ('[', ']')
                } else {
                    (' ', ' ')
                };
                out.extend([open, c, close]);
            }
        }
        out
    }

    /// 64 pixels per cell: ice, dark holes, a green goal flag, a brown start
    /// stool, and the agent as a red disc with a nose pointing along its last
    /// move (down after a reset).
    fn render_rgb(&self) -> RgbFrame {
        const ICE: Rgb = [204, 228, 247];
        const GRID: Rgb = [180, 200, 230];
        const HOLE: Rgb = [33, 62, 99];
        const AGENT: Rgb = [214, 48, 49];
        let c = CELL_PX as f32;
        let mut canvas = Canvas::y_down(
            CELL_PX * self.ncol as u32,
            CELL_PX * self.nrow() as u32,
            ICE,
        );
        for s in 0..self.n_states() {
            let (x, y) = ((s % self.ncol) as f32 * c, (s / self.ncol) as f32 * c);
            let square = [(x, y), (x + c, y), (x + c, y + c), (x, y + c), (x, y)];
            canvas.polyline(&square, 1.0, GRID);
            match self.cell(s) {
                'H' => canvas.circle(x + c / 2.0, y + c / 2.0, c * 0.4, HOLE),
                'G' => {
                    canvas.polyline(
                        &[(x + c * 0.3, y + c * 0.85), (x + c * 0.3, y + c * 0.15)],
                        3.0,
                        [90, 60, 30],
                    );
                    canvas.polygon(
                        &[
                            (x + c * 0.32, y + c * 0.15),
                            (x + c * 0.75, y + c * 0.3),
                            (x + c * 0.32, y + c * 0.45),
                        ],
                        [46, 160, 67],
                    );
                }
                'S' => canvas.polygon(
                    &[
                        (x + c * 0.3, y + c * 0.7),
                        (x + c * 0.7, y + c * 0.7),
                        (x + c * 0.65, y + c * 0.85),
                        (x + c * 0.35, y + c * 0.85),
                    ],
                    [139, 94, 60],
                ),
                _ => {}
            }
        }
        let (cx, cy) = (
            ((self.state % self.ncol) as f32 + 0.5) * c,
            ((self.state / self.ncol) as f32 + 0.5) * c,
        );
        let (dx, dy) = match self.last_action.unwrap_or(DOWN) {
            LEFT => (-1.0, 0.0),
            DOWN => (0.0, 1.0),
            RIGHT => (1.0, 0.0),
            _ => (0.0, -1.0),
        };
        let r = c * 0.25;
        canvas.polygon(
            &[
                (cx + dx * r * 1.6, cy + dy * r * 1.6),
                (cx - dy * r, cy + dx * r),
                (cx + dy * r, cy - dx * r),
            ],
            AGENT,
        );
        canvas.circle(cx, cy, r, AGENT);
        canvas.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categorical_sample_takes_first_cumulative_above_u() {
        let p = [0.25, 0.5, 0.25];
        assert_eq!(categorical_sample(p, 0.0), 0);
        assert_eq!(categorical_sample(p, 0.25), 1);
        assert_eq!(categorical_sample(p, 0.7499), 1);
        assert_eq!(categorical_sample(p, 0.75), 2);
        assert_eq!(categorical_sample([0.5, 0.4], 0.95), 0);
    }

    #[test]
    fn bad_maps_are_rejected() {
        let none: [&str; 0] = [];
        assert_eq!(
            FrozenLake::new(&none, true, 0.5).unwrap_err(),
            MapError::Empty
        );
        assert!(matches!(
            FrozenLake::new(&["SF", "F"], true, 0.5),
            Err(MapError::Ragged {
                row: 1,
                len: 1,
                expected: 2
            })
        ));
        assert!(matches!(
            FrozenLake::new(&["SX"], true, 0.5),
            Err(MapError::BadCell {
                row: 0,
                col: 1,
                found: 'X'
            })
        ));
        assert_eq!(
            FrozenLake::new(&["FG"], true, 0.5).unwrap_err(),
            MapError::NoStart
        );
        assert!(matches!(
            FrozenLake::new(&["SG"], true, 1.5),
            Err(MapError::SuccessRate(_))
        ));
    }
}
