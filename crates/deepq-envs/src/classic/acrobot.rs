//! Acrobot: swing up a two-link pendulum actuated at the elbow (Sutton 1996),
//! as Gymnasium's `Acrobot-v1` with the "book" dynamics, bit for bit.

use std::f64::consts::PI;

use rand_pcg::Pcg64;
use serde::{Deserialize, Serialize};

use crate::env::{self, Env, RgbFrame, Step};
use crate::math::pow2;
use crate::render::{BLACK, Canvas, TextGrid, WHITE, rotate};
use crate::space::Space;

/// Seconds integrated by one step (a single RK4 step).
const DT: f64 = 0.2;
const LINK_LENGTH_1: f64 = 1.0;
const LINK_LENGTH_2: f64 = 1.0;
const LINK_MASS_1: f64 = 1.0;
const LINK_MASS_2: f64 = 1.0;
/// Position of each link's centre of mass along the link.
const LINK_COM_POS_1: f64 = 0.5;
const LINK_COM_POS_2: f64 = 0.5;
/// Moment of inertia of both links.
const LINK_MOI: f64 = 1.0;
const MAX_VEL_1: f64 = 4.0 * PI;
const MAX_VEL_2: f64 = 9.0 * PI;
/// Torque applied at the elbow by actions 0, 1 and 2.
const AVAIL_TORQUE: [f64; 3] = [-1.0, 0.0, 1.0];
const GRAVITY: f64 = 9.8;
/// Half-width of the reset distribution of every state variable.
const RESET_BOUND: f64 = 0.1;

/// The acrobot swing-up task.
///
/// State `[theta1, theta2, dtheta1, dtheta2]` (f64); observation
/// `[cos theta1, sin theta1, cos theta2, sin theta2, dtheta1, dtheta2]`,
/// computed in f64 and cast to f32. Actions apply torque -1, 0 or +1 at the
/// joint between the links. The episode terminates when the free end rises
/// more than one link length above the pivot; the reward is -1 per step and
/// 0 on the terminating step.
///
/// Reset draws the state from `U[-0.1, 0.1)^4` and rounds it to f32 like
/// Gymnasium. Gymnasium then computes the reset observation with f32 `cos`/`sin`,
/// this port with f64 ones cast to f32: the two can differ by 1 f32 ulp on a
/// small fraction of resets (never after a step).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Acrobot {
    state: [f64; 4],
    rng: Pcg64,
}

impl Default for Acrobot {
    fn default() -> Self {
        Self::new()
    }
}

/// Time derivative of `(theta1, theta2, dtheta1, dtheta2)` under `torque`,
/// Gymnasium's `_dsdt` with the book's equation for `ddtheta2`.
///
/// Gymnasium's `x ** 2` is libm `pow`, so [`pow2`] stands for it; products and
/// sums keep Python's left-to-right order.
fn dsdt(y: [f64; 4], torque: f64) -> [f64; 4] {
    let (m1, m2) = (LINK_MASS_1, LINK_MASS_2);
    let l1 = LINK_LENGTH_1;
    let (lc1, lc2) = (LINK_COM_POS_1, LINK_COM_POS_2);
    let (i1, i2) = (LINK_MOI, LINK_MOI);
    let g = GRAVITY;
    let [theta1, theta2, dtheta1, dtheta2] = y;
    let (sin_t2, cos_t2) = (theta2.sin(), theta2.cos());
    let d1 = m1 * pow2(lc1) + m2 * (pow2(l1) + pow2(lc2) + 2.0 * l1 * lc2 * cos_t2) + i1 + i2;
    let d2 = m2 * (pow2(lc2) + l1 * lc2 * cos_t2) + i2;
    let phi2 = m2 * lc2 * g * (theta1 + theta2 - PI / 2.0).cos();
    let phi1 = -m2 * l1 * lc2 * pow2(dtheta2) * sin_t2
        - 2.0 * m2 * l1 * lc2 * dtheta2 * dtheta1 * sin_t2
        + (m1 * lc1 + m2 * l1) * g * (theta1 - PI / 2.0).cos()
        + phi2;
    let ddtheta2 = (torque + d2 / d1 * phi1 - m2 * l1 * lc2 * pow2(dtheta1) * sin_t2 - phi2)
        / (m2 * pow2(lc2) + i2 - pow2(d2) / d1);
    let ddtheta1 = -(d2 * ddtheta2 + phi1) / d1;
    [dtheta1, dtheta2, ddtheta1, ddtheta2]
}

/// `y + h * k`, element by element.
fn euler(y: [f64; 4], h: f64, k: [f64; 4]) -> [f64; 4] {
    std::array::from_fn(|i| y[i] + h * k[i])
}

/// One classic RK4 step of length `DT`, as Gymnasium's `rk4` over `[0, dt]`.
/// The torque is the constant fifth component of Gymnasium's state vector.
fn rk4(y0: [f64; 4], torque: f64) -> [f64; 4] {
    let dt2 = DT / 2.0;
    let k1 = dsdt(y0, torque);
    let k2 = dsdt(euler(y0, dt2, k1), torque);
    let k3 = dsdt(euler(y0, dt2, k2), torque);
    let k4 = dsdt(euler(y0, DT, k3), torque);
    std::array::from_fn(|i| y0[i] + DT / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]))
}

/// Brings an angle into `[-pi, pi]` by whole turns, one turn at a time like
/// Gymnasium's `wrap` (the rounding of repeated subtraction matters).
fn wrap(mut x: f64) -> f64 {
    let turn = PI - (-PI);
    while x > PI {
        x -= turn;
    }
    while x < -PI {
        x += turn;
    }
    x
}

impl Acrobot {
    /// Number of actions: torque -1, 0, +1.
    pub const N_ACTIONS: usize = 3;

    /// An acrobot hanging at rest (the centre of the reset distribution), its
    /// RNG at [`env::DEFAULT_SEED`]. Call [`Env::reset`] to start an episode.
    pub fn new() -> Self {
        Self {
            state: [0.0; 4],
            rng: env::default_rng(),
        }
    }

    /// Whether the free end is above the goal line.
    fn is_terminal(&self) -> bool {
        let [theta1, theta2, ..] = self.state;
        -theta1.cos() - (theta2 + theta1).cos() > 1.0
    }

    /// Joint positions `[pivot, elbow, tip]` in link-length units, y up.
    fn joints(&self) -> [(f64, f64); 3] {
        let [theta1, theta2, ..] = self.state;
        let elbow = (LINK_LENGTH_1 * theta1.sin(), -LINK_LENGTH_1 * theta1.cos());
        let tip = (
            elbow.0 + LINK_LENGTH_2 * (theta1 + theta2).sin(),
            elbow.1 - LINK_LENGTH_2 * (theta1 + theta2).cos(),
        );
        [(0.0, 0.0), elbow, tip]
    }
}

impl Env for Acrobot {
    type Obs = [f32; 6];

    fn observation_space(&self) -> Space {
        let high = [1.0, 1.0, 1.0, 1.0, MAX_VEL_1 as f32, MAX_VEL_2 as f32];
        Space::box_1d(high.map(|h| -h).to_vec(), high.to_vec())
    }

    fn action_space(&self) -> Space {
        Space::Discrete { n: Self::N_ACTIONS }
    }

    fn n_actions(&self) -> usize {
        Self::N_ACTIONS
    }

    fn reset(&mut self, seed: Option<u64>) -> [f32; 6] {
        env::reseed(&mut self.rng, seed);
        for v in &mut self.state {
            // Gymnasium holds the reset state as float32.
            *v = env::uniform(&mut self.rng, -RESET_BOUND, RESET_BOUND) as f32 as f64;
        }
        self.observation()
    }

    fn step(&mut self, action: usize) -> Step<[f32; 6]> {
        env::check_action("Acrobot", action, Self::N_ACTIONS);
        let [theta1, theta2, dtheta1, dtheta2] = rk4(self.state, AVAIL_TORQUE[action]);
        self.state = [
            wrap(theta1),
            wrap(theta2),
            dtheta1.clamp(-MAX_VEL_1, MAX_VEL_1),
            dtheta2.clamp(-MAX_VEL_2, MAX_VEL_2),
        ];
        let terminated = self.is_terminal();
        Step {
            obs: self.observation(),
            reward: if terminated { 0.0 } else { -1.0 },
            terminated,
            truncated: false,
        }
    }

    fn reset_to_state(&mut self, state: &[f64]) -> [f32; 6] {
        env::check_state_len("Acrobot", state, 4);
        self.state.copy_from_slice(state);
        self.observation()
    }

    fn observation(&self) -> [f32; 6] {
        let [theta1, theta2, dtheta1, dtheta2] = self.state;
        [
            theta1.cos(),
            theta1.sin(),
            theta2.cos(),
            theta2.sin(),
            dtheta1,
            dtheta2,
        ]
        .map(|v| v as f32)
    }

    fn state(&self) -> Vec<f64> {
        self.state.to_vec()
    }

    /// Sixteen lines: the state, then the links seen from the front (`@`
    /// pivot, `#` links, `o` elbow, `x` free end) below the goal line `-`.
    fn render_text(&self) -> String {
        // Terminal cells are about twice as tall as wide: 6 columns but only 3
        // rows per link length keep the picture's proportions.
        const COLS_PER_UNIT: f64 = 6.0;
        const ROWS_PER_UNIT: f64 = 3.0;
        // Wider than the reach of the links (13 columns) so the header fits.
        const HALF_WIDTH: i64 = 19;
        const HALF_HEIGHT: i64 = 7;
        let [theta1, theta2, dtheta1, dtheta2] = self.state;
        let mut grid = TextGrid::new(2 * HALF_WIDTH as usize + 1, 2 * HALF_HEIGHT as usize + 2);
        grid.text(
            0,
            0,
            &format!("th1 {theta1:+.2} th2 {theta2:+.2} w1 {dtheta1:+.2} w2 {dtheta2:+.2}"),
        );
        let cell = |(x, y): (f64, f64)| {
            (
                HALF_WIDTH as f64 + x * COLS_PER_UNIT,
                (HALF_HEIGHT + 1) as f64 - y * ROWS_PER_UNIT,
            )
        };
        let goal_row = cell((0.0, 1.0)).1 as i64;
        for col in 0..=2 * HALF_WIDTH {
            grid.put(col, goal_row, '-');
        }
        let [pivot, elbow, tip] = self.joints().map(cell);
        grid.segment(pivot, elbow, '#');
        grid.segment(elbow, tip, '#');
        for (p, ch) in [(pivot, '@'), (elbow, 'o'), (tip, 'x')] {
            grid.put(p.0.round() as i64, p.1.round() as i64, ch);
        }
        grid.into_string()
    }

    /// 500x500, drawn like Gymnasium's renderer.
    fn render_rgb(&self) -> RgbFrame {
        const SIZE: u32 = 500;
        let bound = (LINK_LENGTH_1 + LINK_LENGTH_2 + 0.2) as f32;
        let scale = SIZE as f32 / (2.0 * bound);
        let offset = SIZE as f32 / 2.0;
        let mut canvas = Canvas::y_up(SIZE, SIZE, WHITE);
        canvas.polyline(
            &[
                (-bound * scale + offset, scale + offset),
                (bound * scale + offset, scale + offset),
            ],
            1.0,
            BLACK,
        );
        let [theta1, theta2, ..] = self.state;
        let [pivot, elbow, _] = self.joints();
        let links = [
            (pivot, theta1 - PI / 2.0, LINK_LENGTH_1),
            (elbow, theta1 + theta2 - PI / 2.0, LINK_LENGTH_2),
        ];
        for ((x, y), angle, length) in links {
            let (x, y) = (x as f32 * scale + offset, y as f32 * scale + offset);
            let (l, r, t, b) = (0.0, length as f32 * scale, 0.1 * scale, -0.1 * scale);
            let corners = [(l, b), (l, t), (r, t), (r, b)].map(|p| {
                let (px, py) = rotate(p, angle as f32);
                (px + x, py + y)
            });
            canvas.polygon(&corners, [0, 204, 204]);
            canvas.circle(x, y, 0.1 * scale, [204, 204, 0]);
        }
        canvas.finish()
    }
}
