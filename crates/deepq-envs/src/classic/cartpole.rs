//! CartPole: balance a pole on a cart (Barto, Sutton & Anderson 1983), as
//! Gymnasium's `CartPole-v1`, bit for bit.

use rand_pcg::Pcg64;
use serde::{Deserialize, Serialize};

use crate::env::{self, Env, RgbFrame, Step};
use crate::render::{BLACK, Canvas, TextGrid, WHITE, rotate};
use crate::space::Space;

const GRAVITY: f64 = 9.8;
const MASSCART: f64 = 1.0;
const MASSPOLE: f64 = 0.1;
// Derived the way Gymnasium derives them, so the rounding is the same.
const TOTAL_MASS: f64 = MASSPOLE + MASSCART;
/// Half the pole's length.
const LENGTH: f64 = 0.5;
const POLEMASS_LENGTH: f64 = MASSPOLE * LENGTH;
const FORCE_MAG: f64 = 10.0;
/// Seconds between state updates.
const TAU: f64 = 0.02;
const THETA_THRESHOLD_RADIANS: f64 = 12.0 * 2.0 * std::f64::consts::PI / 360.0;
const X_THRESHOLD: f64 = 2.4;
/// Half-width of the reset distribution of every state variable.
const RESET_BOUND: f64 = 0.05;

/// The cart-pole balancing task.
///
/// State `[x, x_dot, theta, theta_dot]` (f64), observation the same as f32.
/// Action 0 pushes the cart left, 1 right. The episode terminates when
/// `|x| > 2.4` or `|theta| > 12°`; the reward is 1 per step, the terminating
/// step included. With the Sutton–Barto reward it is 0 per step and -1 on
/// termination, as Gymnasium's `sutton_barto_reward=True`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CartPole {
    state: [f64; 4],
    rng: Pcg64,
    sutton_barto_reward: bool,
    /// Gymnasium pays nothing (or -1 with the Sutton–Barto reward) for steps
    /// taken after termination, so whether it already happened matters.
    already_terminated: bool,
}

impl Default for CartPole {
    fn default() -> Self {
        Self::new()
    }
}

impl CartPole {
    /// Number of actions: push left, push right.
    pub const N_ACTIONS: usize = 2;

    /// A cart-pole with the default reward, its state at the upright rest
    /// position (the centre of the reset distribution) and its RNG at
    /// [`env::DEFAULT_SEED`]. Call [`Env::reset`] to start an episode.
    pub fn new() -> Self {
        Self::with_sutton_barto_reward(false)
    }

    /// Like [`CartPole::new`], choosing the reward scheme: `true` for
    /// Sutton & Barto's (0 per step, -1 on termination).
    pub fn with_sutton_barto_reward(sutton_barto_reward: bool) -> Self {
        Self {
            state: [0.0; 4],
            rng: env::default_rng(),
            sutton_barto_reward,
            already_terminated: false,
        }
    }
}

impl Env for CartPole {
    type Obs = [f32; 4];

    fn observation_space(&self) -> Space {
        let high = [
            (X_THRESHOLD * 2.0) as f32,
            f32::INFINITY,
            (THETA_THRESHOLD_RADIANS * 2.0) as f32,
            f32::INFINITY,
        ];
        Space::box_1d(high.map(|h| -h).to_vec(), high.to_vec())
    }

    fn action_space(&self) -> Space {
        Space::Discrete { n: Self::N_ACTIONS }
    }

    fn n_actions(&self) -> usize {
        Self::N_ACTIONS
    }

    fn reset(&mut self, seed: Option<u64>) -> [f32; 4] {
        env::reseed(&mut self.rng, seed);
        for v in &mut self.state {
            *v = env::uniform(&mut self.rng, -RESET_BOUND, RESET_BOUND);
        }
        self.already_terminated = false;
        self.observation()
    }

    #[inline]
    fn step(&mut self, action: usize) -> Step<[f32; 4]> {
        env::check_action("CartPole", action, Self::N_ACTIONS);
        let [x, x_dot, theta, theta_dot] = self.state;
        let force = if action == 1 { FORCE_MAG } else { -FORCE_MAG };
        let (sin_t, cos_t) = (theta.sin(), theta.cos());
        // Operation order copies Gymnasium's expressions (Python evaluates
        // products left to right); any regrouping changes the last bits.
        let temp = (force + POLEMASS_LENGTH * (theta_dot * theta_dot) * sin_t) / TOTAL_MASS;
        let theta_acc = (GRAVITY * sin_t - cos_t * temp)
            / (LENGTH * (4.0 / 3.0 - MASSPOLE * (cos_t * cos_t) / TOTAL_MASS));
        let x_acc = temp - POLEMASS_LENGTH * theta_acc * cos_t / TOTAL_MASS;
        let (x, x_dot, theta, theta_dot) = (
            x + TAU * x_dot,
            x_dot + TAU * x_acc,
            theta + TAU * theta_dot,
            theta_dot + TAU * theta_acc,
        );
        self.state = [x, x_dot, theta, theta_dot];

        let terminated = !(-X_THRESHOLD..=X_THRESHOLD).contains(&x)
            || !(-THETA_THRESHOLD_RADIANS..=THETA_THRESHOLD_RADIANS).contains(&theta);
        let reward = match (
            terminated,
            self.already_terminated,
            self.sutton_barto_reward,
        ) {
            (false, _, false) => 1.0,
            (false, _, true) => 0.0,
            (true, false, false) => 1.0,
            (true, true, false) => 0.0,
            (true, _, true) => -1.0,
        };
        self.already_terminated |= terminated;
        Step {
            obs: self.observation(),
            reward,
            terminated,
            truncated: false,
        }
    }

    fn reset_to_state(&mut self, state: &[f64]) -> [f32; 4] {
        env::check_state_len("CartPole", state, 4);
        self.state.copy_from_slice(state);
        self.already_terminated = false;
        self.observation()
    }

    fn observation(&self) -> [f32; 4] {
        self.state.map(|v| v as f32)
    }

    fn state(&self) -> Vec<f64> {
        self.state.to_vec()
    }

    /// Eight lines: the state, five rows of pole, the cart, and the track
    /// whose ends are the `x = ±2.4` bounds.
    fn render_text(&self) -> String {
        const WIDTH: usize = 61;
        const POLE_ROWS: f64 = 5.0;
        const CART_ROW: i64 = 6;
        let [x, x_dot, theta, theta_dot] = self.state;
        let mut grid = TextGrid::new(WIDTH, 8);
        grid.text(
            0,
            0,
            &format!("x {x:+.3}  x' {x_dot:+.3}  theta {theta:+.3}  theta' {theta_dot:+.3}"),
        );
        let col = ((x + X_THRESHOLD) / (2.0 * X_THRESHOLD) * (WIDTH - 1) as f64).round();
        // Terminal cells are about twice as tall as wide, hence the 2.
        let tip = (
            col + 2.0 * POLE_ROWS * theta.sin(),
            CART_ROW as f64 - POLE_ROWS * theta.cos(),
        );
        // Slanted characters only once the lean is visible over the pole's
        // five rows (about half a column at 0.05 rad).
        let pole = match theta {
            t if t > 0.05 => '/',
            t if t < -0.05 => '\\',
            _ => '|',
        };
        grid.segment((col, CART_ROW as f64), tip, pole);
        grid.text(col as i64 - 2, CART_ROW, "[===]");
        grid.put(0, CART_ROW + 1, '|');
        for c in 1..WIDTH as i64 - 1 {
            grid.put(c, CART_ROW + 1, '─');
        }
        grid.put(WIDTH as i64 - 1, CART_ROW + 1, '|');
        grid.into_string()
    }

    /// 600x400, drawn like Gymnasium's renderer.
    fn render_rgb(&self) -> RgbFrame {
        const WIDTH: u32 = 600;
        const HEIGHT: u32 = 400;
        let scale = WIDTH as f32 / (2.0 * X_THRESHOLD) as f32;
        let pole_width = 10.0;
        let pole_len = scale * (2.0 * LENGTH) as f32;
        let (cart_w, cart_h) = (50.0, 30.0);
        let axle_offset = cart_h / 4.0;
        let cart_x = self.state[0] as f32 * scale + WIDTH as f32 / 2.0;
        let cart_y = 100.0;

        let mut canvas = Canvas::y_up(WIDTH, HEIGHT, WHITE);
        let (l, r, t, b) = (-cart_w / 2.0, cart_w / 2.0, cart_h / 2.0, -cart_h / 2.0);
        let cart = [(l, b), (l, t), (r, t), (r, b)].map(|(x, y)| (x + cart_x, y + cart_y));
        canvas.polygon(&cart, BLACK);

        let (l, r, t, b) = (
            -pole_width / 2.0,
            pole_width / 2.0,
            pole_len - pole_width / 2.0,
            -pole_width / 2.0,
        );
        let theta = self.state[2] as f32;
        let pole = [(l, b), (l, t), (r, t), (r, b)].map(|p| {
            let (x, y) = rotate(p, -theta);
            (x + cart_x, y + cart_y + axle_offset)
        });
        canvas.polygon(&pole, [202, 152, 101]);
        canvas.circle(
            cart_x,
            cart_y + axle_offset,
            pole_width / 2.0,
            [129, 132, 203],
        );
        canvas.polyline(&[(0.0, cart_y), (WIDTH as f32, cart_y)], 1.0, BLACK);
        canvas.finish()
    }
}
