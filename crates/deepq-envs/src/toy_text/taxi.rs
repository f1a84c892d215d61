//! Taxi: pick a passenger up and drop them off at their destination on a
//! 5x5 grid (Dietterich 2000), as Gymnasium's `Taxi-v4`.

use rand::Rng;
use rand_pcg::Pcg64;
use serde::{Deserialize, Serialize};

use crate::env::{self, Env, RgbFrame, Step};
use crate::render::{Canvas, Rgb};
use crate::space::Space;
use crate::toy_text::frozen_lake::Transition;
use crate::toy_text::{categorical_sample, sample_transition, state_index};

/// Action that moves the taxi one row down.
pub const SOUTH: usize = 0;
/// Action that moves the taxi one row up.
pub const NORTH: usize = 1;
/// Action that moves the taxi one column right.
pub const EAST: usize = 2;
/// Action that moves the taxi one column left.
pub const WEST: usize = 3;
/// Action that picks the passenger up.
pub const PICKUP: usize = 4;
/// Action that drops the passenger off.
pub const DROPOFF: usize = 5;

/// Number of actions.
pub const N_ACTIONS: usize = 6;
/// Number of states: 25 taxi cells x 5 passenger locations x 4 destinations.
pub const N_STATES: usize = 500;
/// Passenger location meaning "in the taxi".
pub const IN_TAXI: usize = 4;

/// Gymnasium's map: `|` is a wall between two cells, `:` an open passage.
pub const MAP: [&str; 7] = [
    "+---------+",
    "|R: | : :G|",
    "| : | : : |",
    "| : : : : |",
    "| | : | : |",
    "|Y| : |B: |",
    "+---------+",
];

/// The four pick-up and drop-off pads (row, column): Red, Green, Yellow, Blue.
pub const LOCS: [(usize, usize); 4] = [(0, 0), (0, 4), (4, 0), (4, 3)];

/// Gymnasium's default probability of moving as intended when it rains.
pub const DEFAULT_RAINY_PROBABILITY: f64 = 0.8;
/// Gymnasium's default probability that a fickle passenger changes destination.
pub const DEFAULT_FICKLE_PROBABILITY: f64 = 0.3;

const ACTION_NAMES: [&str; N_ACTIONS] = ["South", "North", "East", "West", "Pickup", "Dropoff"];
const LOC_NAMES: [char; 4] = ['R', 'G', 'Y', 'B'];
const MAX_ROW: usize = 4;
const MAX_COL: usize = 4;

/// The state index of a taxi at (`taxi_row`, `taxi_col`) with the passenger at
/// `passenger` (a pad index, or [`IN_TAXI`]) heading to pad `destination`:
/// `((taxi_row * 5 + taxi_col) * 5 + passenger) * 4 + destination`.
pub fn encode(taxi_row: usize, taxi_col: usize, passenger: usize, destination: usize) -> usize {
    ((taxi_row * 5 + taxi_col) * 5 + passenger) * 4 + destination
}

/// The inverse of [`encode`]: `[taxi_row, taxi_col, passenger, destination]`.
///
/// # Panics
/// If `state >= 500`.
pub fn decode(state: usize) -> [usize; 4] {
    assert!(state < N_STATES, "Taxi: state {state} is not below 500");
    [state / 100, state / 20 % 5, state / 4 % 5, state % 4]
}

/// The map character at (`r`, `c`) of [`MAP`].
fn map_at(r: usize, c: usize) -> u8 {
    MAP[r].as_bytes()[c]
}

/// Whether the taxi at (`row`, `col`) can move one column east (no wall).
fn open_east(row: usize, col: usize) -> bool {
    map_at(1 + row, 2 * col + 2) == b':'
}

/// Whether the taxi at (`row`, `col`) can move one column west (no wall).
fn open_west(row: usize, col: usize) -> bool {
    map_at(1 + row, 2 * col) == b':'
}

/// Which actions change the state of `state`, as Gymnasium's
/// `TaxiEnv.action_mask` (the `action_mask` of its `info`): moves that are not
/// blocked by the border or a wall, a pickup where the passenger waits, a
/// drop-off at any pad while carrying the passenger.
///
/// # Panics
/// If `state >= 500`.
pub fn action_mask(state: usize) -> [bool; N_ACTIONS] {
    let [row, col, passenger, destination] = decode(state);
    let at_pad = LOCS.contains(&(row, col));
    [
        row < MAX_ROW,
        row > 0,
        col < MAX_COL && open_east(row, col),
        col > 0 && open_west(row, col),
        passenger < IN_TAXI && (row, col) == LOCS[passenger],
        passenger == IN_TAXI && ((row, col) == LOCS[destination] || at_pad),
    ]
}

/// Why a Taxi parameter is not acceptable.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum TaxiError {
    /// A probability is outside 0..=1.
    #[error("{name} must be within 0..=1, got {value}")]
    Probability {
        /// The parameter.
        name: &'static str,
        /// The value given.
        value: f64,
    },
}

/// The taxi world.
///
/// Observation: the state index of [`encode`] (`Discrete(500)`). Actions
/// [`SOUTH`], [`NORTH`], [`EAST`], [`WEST`], [`PICKUP`], [`DROPOFF`]. Every
/// step costs 1; delivering the passenger pays 20 and ends the episode; a
/// pickup or drop-off where it is not allowed costs 10. A reset puts the taxi
/// on a uniformly drawn one of the 300 states where the passenger waits on a
/// pad other than the destination.
///
/// Options, as Gymnasium's: `is_rainy` makes moves go sideways with
/// probability `(1 - rainy_probability) / 2` each; `fickle_passenger` makes
/// the passenger change destination, with probability `fickle_probability`
/// per episode, on the first move after the first pickup.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Taxi {
    transitions: Vec<Vec<Vec<Transition>>>,
    is_rainy: bool,
    rainy_probability: f64,
    fickle_passenger: bool,
    fickle_probability: f64,
    state: usize,
    last_action: Option<usize>,
    /// Whether the passenger will still change their mind this episode.
    fickle_step: bool,
    /// Direction the taxi last moved in (for the RGB frame), like
    /// Gymnasium's `taxi_orientation`.
    heading: usize,
    rng: Pcg64,
}

impl Default for Taxi {
    fn default() -> Self {
        Self::new()
    }
}

impl Taxi {
    /// Gymnasium's default taxi: dry and with a steady passenger, in state 0
    /// with its RNG at [`env::DEFAULT_SEED`]. Call [`Env::reset`] to start.
    pub fn new() -> Self {
        Self::with_options(
            false,
            DEFAULT_RAINY_PROBABILITY,
            false,
            DEFAULT_FICKLE_PROBABILITY,
        )
        .expect("the default probabilities are valid")
    }

    /// A taxi with Gymnasium's `is_rainy`, `rainy_probability`,
    /// `fickle_passenger` and `fickle_probability`.
    ///
    /// # Errors
    /// [`TaxiError::Probability`] if a probability is outside 0..=1.
    pub fn with_options(
        is_rainy: bool,
        rainy_probability: f64,
        fickle_passenger: bool,
        fickle_probability: f64,
    ) -> Result<Self, TaxiError> {
        for (name, value) in [
            ("rainy_probability", rainy_probability),
            ("fickle_probability", fickle_probability),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(TaxiError::Probability { name, value });
            }
        }
        Ok(Self {
            transitions: build_transitions(is_rainy, rainy_probability),
            is_rainy,
            rainy_probability,
            fickle_passenger,
            fickle_probability,
            state: 0,
            last_action: None,
            fickle_step: false,
            heading: SOUTH,
            rng: env::default_rng(),
        })
    }

    /// Gymnasium's `P`: `transitions()[state][action]` lists the possible
    /// outcomes, in Gymnasium's order. Delivering states are not absorbing:
    /// Gymnasium's table lets the episode go on, only `terminated` ends it.
    pub fn transitions(&self) -> &[Vec<Vec<Transition>>] {
        &self.transitions
    }

    /// Gymnasium's `initial_state_distrib`: 1/300 on each state where the
    /// passenger waits on a pad other than the destination, 0 elsewhere.
    pub fn initial_state_distribution() -> Vec<f64> {
        let mut weights: Vec<f64> = (0..N_STATES)
            .map(|s| {
                let [_, _, passenger, destination] = decode(s);
                if passenger < IN_TAXI && passenger != destination {
                    1.0
                } else {
                    0.0
                }
            })
            .collect();
        // numpy divides by the sum, which adds the ones up to exactly 300.
        let total: f64 = weights.iter().sum();
        for w in &mut weights {
            *w /= total;
        }
        weights
    }

    /// Whether moves can go sideways.
    pub fn is_rainy(&self) -> bool {
        self.is_rainy
    }

    /// Probability of moving as intended when it rains.
    pub fn rainy_probability(&self) -> f64 {
        self.rainy_probability
    }

    /// Whether the passenger may change destination.
    pub fn fickle_passenger(&self) -> bool {
        self.fickle_passenger
    }

    /// Probability that a fickle passenger changes destination in an episode.
    pub fn fickle_probability(&self) -> f64 {
        self.fickle_probability
    }

    /// [`action_mask`] of the current state: the actions that change it.
    pub fn current_action_mask(&self) -> [bool; N_ACTIONS] {
        action_mask(self.state)
    }
}

/// Builds Gymnasium's `P`, dry or rainy.
fn build_transitions(is_rainy: bool, rainy_probability: f64) -> Vec<Vec<Vec<Transition>>> {
    let lateral = (1.0 - rainy_probability) / 2.0;
    (0..N_STATES)
        .map(|s| {
            let [row, col, passenger, destination] = decode(s);
            (0..N_ACTIONS)
                .map(|a| {
                    if is_rainy {
                        rainy_outcomes(
                            row,
                            col,
                            passenger,
                            destination,
                            a,
                            rainy_probability,
                            lateral,
                        )
                    } else {
                        vec![dry_outcome(row, col, passenger, destination, a)]
                    }
                })
                .collect()
        })
        .collect()
}

/// Gymnasium's `_pickup`: `(passenger, reward)`.
fn pickup(taxi: (usize, usize), passenger: usize, reward: f64) -> (usize, f64) {
    if passenger < IN_TAXI && taxi == LOCS[passenger] {
        (IN_TAXI, reward)
    } else {
        (passenger, -10.0)
    }
}

/// Gymnasium's `_dropoff`: `(passenger, reward, terminated)`.
fn dropoff(
    taxi: (usize, usize),
    passenger: usize,
    destination: usize,
    reward: f64,
) -> (usize, f64, bool) {
    if taxi == LOCS[destination] && passenger == IN_TAXI {
        (destination, 20.0, true)
    } else if passenger == IN_TAXI
        && let Some(pad) = LOCS.iter().position(|&l| l == taxi)
    {
        // Dropping the passenger at another pad is allowed and leaves them there.
        (pad, reward, false)
    } else {
        (passenger, -10.0, false)
    }
}

/// Gymnasium's `_build_dry_transitions` for one state and action.
fn dry_outcome(
    row: usize,
    col: usize,
    passenger: usize,
    destination: usize,
    action: usize,
) -> Transition {
    let (mut new_row, mut new_col, mut new_passenger) = (row, col, passenger);
    let mut reward = -1.0;
    let mut terminated = false;
    match action {
        SOUTH => new_row = (row + 1).min(MAX_ROW),
        NORTH => new_row = row.saturating_sub(1),
        EAST if open_east(row, col) => new_col = (col + 1).min(MAX_COL),
        WEST if open_west(row, col) => new_col = col.saturating_sub(1),
        PICKUP => (new_passenger, reward) = pickup((row, col), passenger, reward),
        DROPOFF => {
            (new_passenger, reward, terminated) =
                dropoff((row, col), passenger, destination, reward)
        }
        // A move into a wall leaves everything as it is.
        _ => {}
    }
    Transition {
        prob: 1.0,
        next_state: encode(new_row, new_col, new_passenger, destination),
        reward,
        terminated,
    }
}

/// Gymnasium's `_calc_new_position`: a lateral move, blocked by walls
/// checked at the destination cell.
fn lateral_position(row: usize, col: usize, (dr, dc): (isize, isize)) -> (usize, usize) {
    let new_row = row.saturating_add_signed(dr).min(MAX_ROW);
    let new_col = col.saturating_add_signed(dc).min(MAX_COL);
    if dc == 1 && map_at(1 + new_row, 2 * new_col) != b':' {
        return (row, col);
    }
    if dc == -1 && map_at(1 + new_row, 2 * new_col + 2) != b':' {
        return (row, col);
    }
    (new_row, new_col)
}

/// Gymnasium's `_build_rainy_transitions` for one state and action: the
/// intended move, then the one to its left, then the one to its right.
fn rainy_outcomes(
    row: usize,
    col: usize,
    passenger: usize,
    destination: usize,
    action: usize,
    rainy_probability: f64,
    lateral: f64,
) -> Vec<Transition> {
    // (forward, left, right) for each heading, as Gymnasium's `moves`.
    const MOVES: [[(isize, isize); 3]; 4] = [
        [(1, 0), (0, 1), (0, -1)],
        [(-1, 0), (0, -1), (0, 1)],
        [(0, 1), (-1, 0), (1, 0)],
        [(0, -1), (1, 0), (-1, 0)],
    ];
    let (mut new_row, mut new_col, mut new_passenger) = (row, col, passenger);
    let (mut left, mut right) = ((row, col), (row, col));
    let mut reward = -1.0;
    let mut terminated = false;
    let possible = match action {
        SOUTH => row < MAX_ROW,
        NORTH => row > 0,
        EAST => open_east(row, col),
        WEST => open_west(row, col),
        _ => false,
    };
    if possible {
        let (dr, dc) = MOVES[action][0];
        new_row = row.saturating_add_signed(dr).min(MAX_ROW);
        new_col = col.saturating_add_signed(dc).min(MAX_COL);
        left = lateral_position(row, col, MOVES[action][1]);
        right = lateral_position(row, col, MOVES[action][2]);
    } else if action == PICKUP {
        (new_passenger, reward) = pickup((row, col), passenger, reward);
    } else if action == DROPOFF {
        (new_passenger, reward, terminated) = dropoff((row, col), passenger, destination, reward);
    }
    let intended = encode(new_row, new_col, new_passenger, destination);
    if action <= WEST {
        // A blocked move does not drift either: all three outcomes stay put.
        [
            (rainy_probability, intended),
            (lateral, encode(left.0, left.1, new_passenger, destination)),
            (
                lateral,
                encode(right.0, right.1, new_passenger, destination),
            ),
        ]
        .into_iter()
        .map(|(prob, next_state)| Transition {
            prob,
            next_state,
            reward: -1.0,
            terminated,
        })
        .collect()
    } else {
        vec![Transition {
            prob: 1.0,
            next_state: intended,
            reward,
            terminated,
        }]
    }
}

impl Env for Taxi {
    type Obs = usize;

    fn observation_space(&self) -> Space {
        Space::Discrete { n: N_STATES }
    }

    fn action_space(&self) -> Space {
        Space::Discrete { n: N_ACTIONS }
    }

    fn n_actions(&self) -> usize {
        N_ACTIONS
    }

    /// Draws the state from [`Taxi::initial_state_distribution`] with one
    /// uniform draw like Gymnasium, then, for a fickle passenger only, one
    /// more to decide whether they will change their mind.
    fn reset(&mut self, seed: Option<u64>) -> usize {
        env::reseed(&mut self.rng, seed);
        let u: f64 = self.rng.random();
        self.state = categorical_sample(Self::initial_state_distribution(), u);
        self.last_action = None;
        self.fickle_step =
            self.fickle_passenger && self.rng.random::<f64>() < self.fickle_probability;
        self.heading = SOUTH;
        self.state
    }

    /// Samples the outcome with one draw (even when it is certain), then
    /// applies a fickle passenger's change of destination with another.
    fn step(&mut self, action: usize) -> Step<usize> {
        env::check_action("Taxi", action, N_ACTIONS);
        let t = sample_transition(&self.transitions, self.state, action, &mut self.rng);
        let [old_row, old_col, old_passenger, old_destination] = decode(self.state);
        let [row, col, passenger, _] = decode(t.next_state);
        let mut next = t.next_state;
        if self.fickle_passenger
            && self.fickle_step
            && old_passenger == IN_TAXI
            && (row, col) != (old_row, old_col)
        {
            self.fickle_step = false;
            // numpy's `choice` over the three other pads is one integer draw.
            let others: Vec<usize> = (0..4).filter(|&d| d != old_destination).collect();
            let destination = others[self.rng.random_range(0..others.len())];
            next = encode(row, col, passenger, destination);
        }
        self.state = next;
        self.last_action = Some(action);
        if action <= WEST {
            self.heading = action;
        }
        Step {
            obs: next,
            reward: t.reward,
            terminated: t.terminated,
            truncated: false,
        }
    }

    /// `state` is `[state index]`. A fickle passenger's pending change of mind
    /// is cancelled: it is drawn at reset, which this does not do.
    fn reset_to_state(&mut self, state: &[f64]) -> usize {
        self.state = state_index("Taxi", state, N_STATES);
        self.last_action = None;
        self.fickle_step = false;
        self.heading = SOUTH;
        self.state
    }

    fn observation(&self) -> usize {
        self.state
    }

    fn state(&self) -> Vec<f64> {
        vec![self.state as f64]
    }

    /// Eight lines like Gymnasium's `ansi` mode, which marks things with
    /// colours; here the taxi is `T` (`@` when carrying the passenger) and the
    /// last line names the last action, the passenger's pad and the destination.
    fn render_text(&self) -> String {
        let [row, col, passenger, destination] = decode(self.state);
        let mut lines: Vec<Vec<char>> = MAP.iter().map(|l| l.chars().collect()).collect();
        lines[1 + row][2 * col + 1] = if passenger == IN_TAXI { '@' } else { 'T' };
        let mut out: String = lines
            .iter()
            .map(|l| l.iter().collect::<String>())
            .collect::<Vec<_>>()
            .join("\n");
        let action = self
            .last_action
            .map_or(String::new(), |a| format!("({})", ACTION_NAMES[a]));
        let waiting = if passenger == IN_TAXI {
            "in taxi".to_owned()
        } else {
            LOC_NAMES[passenger].to_string()
        };
        out.push_str(&format!(
            "\n  {action:<9} passenger: {waiting}, destination: {}",
            LOC_NAMES[destination]
        ));
        out
    }

    /// 536x456 like Gymnasium's window, in simple shapes: the grid with its
    /// walls, the four coloured pads, a ring on the destination, the waiting
    /// passenger as a disc and the taxi as a yellow box (with the passenger
    /// inside once picked up) pointing where it last moved.
    fn render_rgb(&self) -> RgbFrame {
        const ORIGIN: (f32, f32) = (48.0, 128.0);
        const CELL: (f32, f32) = (88.0, 56.0);
        const PAD_COLORS: [Rgb; 4] = [[230, 60, 60], [60, 190, 80], [230, 200, 40], [60, 100, 230]];
        const WALL: Rgb = [60, 60, 60];
        let mut canvas = Canvas::y_down(536, 456, [250, 250, 246]);
        let cell_origin =
            |r: usize, c: usize| (ORIGIN.0 + c as f32 * CELL.0, ORIGIN.1 + r as f32 * CELL.1);
        let rect =
            |x: f32, y: f32, w: f32, h: f32| [(x, y), (x + w, y), (x + w, y + h), (x, y + h)];
        canvas.polygon(
            &rect(ORIGIN.0, ORIGIN.1, 5.0 * CELL.0, 5.0 * CELL.1),
            [222, 222, 214],
        );
        for (i, &(r, c)) in LOCS.iter().enumerate() {
            let (x, y) = cell_origin(r, c);
            canvas.polygon(
                &rect(x + 4.0, y + 4.0, CELL.0 - 8.0, CELL.1 - 8.0),
                PAD_COLORS[i],
            );
        }
        for r in 0..=5 {
            let y = ORIGIN.1 + r as f32 * CELL.1;
            canvas.polyline(
                &[(ORIGIN.0, y), (ORIGIN.0 + 5.0 * CELL.0, y)],
                1.0,
                [190, 190, 180],
            );
        }
        for c in 0..=5 {
            let x = ORIGIN.0 + c as f32 * CELL.0;
            canvas.polyline(
                &[(x, ORIGIN.1), (x, ORIGIN.1 + 5.0 * CELL.1)],
                1.0,
                [190, 190, 180],
            );
        }
        // The border and the interior walls (`|` between two cells of a row).
        let (x0, y0) = ORIGIN;
        let (x1, y1) = (x0 + 5.0 * CELL.0, y0 + 5.0 * CELL.1);
        canvas.polyline(
            &[(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)],
            6.0,
            WALL,
        );
        for r in 0..5 {
            for c in 0..4 {
                if !open_east(r, c) {
                    let (x, y) = cell_origin(r, c + 1);
                    canvas.polyline(&[(x, y), (x, y + CELL.1)], 6.0, WALL);
                }
            }
        }
        let [row, col, passenger, destination] = decode(self.state);
        let (dx, dy) = cell_origin(LOCS[destination].0, LOCS[destination].1);
        let centre = (dx + CELL.0 / 2.0, dy + CELL.1 / 2.0);
        canvas.circle(centre.0, centre.1, 20.0, [200, 40, 160]);
        canvas.circle(centre.0, centre.1, 14.0, PAD_COLORS[destination]);
        if passenger < IN_TAXI {
            let (px, py) = cell_origin(LOCS[passenger].0, LOCS[passenger].1);
            canvas.circle(px + CELL.0 / 2.0, py + CELL.1 / 2.0, 10.0, [40, 40, 120]);
        }
        let (tx, ty) = cell_origin(row, col);
        let (cx, cy) = (tx + CELL.0 / 2.0, ty + CELL.1 / 2.0);
        // The box is long along the heading, like the taxi sprite.
        let (hw, hh) = if self.heading <= NORTH {
            (16.0, 24.0)
        } else {
            (30.0, 16.0)
        };
        canvas.polygon(&rect(cx - hw, cy - hh, 2.0 * hw, 2.0 * hh), [245, 190, 20]);
        let (nx, ny) = match self.heading {
            SOUTH => (0.0, hh),
            NORTH => (0.0, -hh),
            EAST => (hw, 0.0),
            _ => (-hw, 0.0),
        };
        canvas.circle(cx + nx * 0.75, cy + ny * 0.75, 5.0, [40, 40, 40]);
        if passenger == IN_TAXI {
            canvas.circle(cx, cy, 9.0, [40, 40, 120]);
        }
        canvas.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_and_decode_are_inverse() {
        for s in 0..N_STATES {
            let [r, c, p, d] = decode(s);
            assert_eq!(encode(r, c, p, d), s);
        }
        assert_eq!(encode(3, 1, 2, 0), 328);
    }

    #[test]
    fn initial_distribution_covers_the_300_start_states() {
        let d = Taxi::initial_state_distribution();
        assert_eq!(d.iter().filter(|&&p| p > 0.0).count(), 300);
        assert!(d.iter().all(|&p| p == 0.0 || p == 1.0 / 300.0));
    }

    #[test]
    fn bad_probabilities_are_rejected() {
        assert_eq!(
            Taxi::with_options(true, 1.5, false, 0.3).unwrap_err(),
            TaxiError::Probability {
                name: "rainy_probability",
                value: 1.5
            }
        );
        assert!(Taxi::with_options(false, 0.8, true, -0.1).is_err());
    }

    #[test]
    fn text_frame_marks_the_taxi() {
        let mut taxi = Taxi::new();
        taxi.reset_to_state(&[encode(2, 2, 1, 2) as f64]);
        assert_eq!(
            taxi.render_text(),
            "+---------+\n|R: | : :G|\n| : | : : |\n| : :T: : |\n| | : | : |\n|Y| : |B: |\n\
             +---------+\n            passenger: G, destination: Y"
        );
        taxi.reset_to_state(&[encode(0, 4, IN_TAXI, 0) as f64]);
        taxi.step(WEST);
        assert!(taxi.render_text().contains("|R: | :@:G|"));
        assert!(
            taxi.render_text()
                .ends_with("  (West)    passenger: in taxi, destination: R")
        );
    }
}
