//! MountainCar: drive an underpowered car up a hill (Moore 1990), as
//! Gymnasium's `MountainCar-v0`, bit for bit.

use rand_pcg::Pcg64;
use serde::{Deserialize, Serialize};

use crate::env::{self, Env, RgbFrame, Step};
use crate::render::{BLACK, Canvas, TextGrid, WHITE, rotate};
use crate::space::Space;

const MIN_POSITION: f64 = -1.2;
const MAX_POSITION: f64 = 0.6;
const MAX_SPEED: f64 = 0.07;
const GOAL_POSITION: f64 = 0.5;
const FORCE: f64 = 0.001;
const GRAVITY: f64 = 0.0025;
/// Range of the reset position.
const RESET_LOW: f64 = -0.6;
const RESET_HIGH: f64 = -0.4;

/// Height of the track at `position`, in the renderers' units.
fn height(position: f64) -> f64 {
    (3.0 * position).sin() * 0.45 + 0.55
}

/// The mountain-car task.
///
/// State and observation `[position, velocity]` (f64 state, f32 observation).
/// Actions accelerate left (0), not at all (1) or right (2). The episode
/// terminates when `position >= 0.5` and `velocity >= goal_velocity`; the
/// reward is -1 per step.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MountainCar {
    state: [f64; 2],
    goal_velocity: f64,
    rng: Pcg64,
}

impl Default for MountainCar {
    fn default() -> Self {
        Self::new()
    }
}

impl MountainCar {
    /// Number of actions: accelerate left, don't accelerate, accelerate right.
    pub const N_ACTIONS: usize = 3;

    /// A car at rest at position -0.5 (the centre of the reset distribution)
    /// with Gymnasium's default `goal_velocity` of 0, its RNG at
    /// [`env::DEFAULT_SEED`]. Call [`Env::reset`] to start an episode.
    pub fn new() -> Self {
        Self::with_goal_velocity(0.0)
    }

    /// Like [`MountainCar::new`] with the minimum velocity at the goal that
    /// ends an episode (Gymnasium's `goal_velocity`).
    pub fn with_goal_velocity(goal_velocity: f64) -> Self {
        Self {
            state: [(RESET_LOW + RESET_HIGH) / 2.0, 0.0],
            goal_velocity,
            rng: env::default_rng(),
        }
    }

    /// The minimum velocity at the goal that ends an episode.
    pub fn goal_velocity(&self) -> f64 {
        self.goal_velocity
    }
}

impl Env for MountainCar {
    type Obs = [f32; 2];

    fn observation_space(&self) -> Space {
        Space::box_1d(
            vec![MIN_POSITION as f32, -MAX_SPEED as f32],
            vec![MAX_POSITION as f32, MAX_SPEED as f32],
        )
    }

    fn action_space(&self) -> Space {
        Space::Discrete { n: Self::N_ACTIONS }
    }

    fn n_actions(&self) -> usize {
        Self::N_ACTIONS
    }

    fn reset(&mut self, seed: Option<u64>) -> [f32; 2] {
        env::reseed(&mut self.rng, seed);
        self.state = [env::uniform(&mut self.rng, RESET_LOW, RESET_HIGH), 0.0];
        self.observation()
    }

    fn step(&mut self, action: usize) -> Step<[f32; 2]> {
        env::check_action("MountainCar", action, Self::N_ACTIONS);
        let [position, velocity] = self.state;
        // Python adds the parenthesised sum to the velocity last.
        let velocity =
            velocity + ((action as f64 - 1.0) * FORCE + (3.0 * position).cos() * (-GRAVITY));
        let velocity = velocity.clamp(-MAX_SPEED, MAX_SPEED);
        let position = (position + velocity).clamp(MIN_POSITION, MAX_POSITION);
        let velocity = if position == MIN_POSITION && velocity < 0.0 {
            0.0
        } else {
            velocity
        };
        self.state = [position, velocity];
        let terminated = position >= GOAL_POSITION && velocity >= self.goal_velocity;
        Step {
            obs: self.observation(),
            reward: -1.0,
            terminated,
            truncated: false,
        }
    }

    fn reset_to_state(&mut self, state: &[f64]) -> [f32; 2] {
        env::check_state_len("MountainCar", state, 2);
        self.state.copy_from_slice(state);
        self.observation()
    }

    fn observation(&self) -> [f32; 2] {
        self.state.map(|v| v as f32)
    }

    fn state(&self) -> Vec<f64> {
        self.state.to_vec()
    }

    /// Thirteen lines: the state, then the hill (`.`), the car (`@`) and the
    /// flag (`F`) at the goal.
    fn render_text(&self) -> String {
        const WIDTH: usize = 61;
        const HILL_ROWS: f64 = 10.0;
        let [position, velocity] = self.state;
        let mut grid = TextGrid::new(WIDTH, 13);
        grid.text(
            0,
            0,
            &format!("position {position:+.4}  velocity {velocity:+.5}"),
        );
        let col = |p: f64| (p - MIN_POSITION) / (MAX_POSITION - MIN_POSITION) * (WIDTH - 1) as f64;
        // Heights span 0.1..=1.0: the valley floor sits on the last row (12) and
        // the top of the hill on row 2, leaving row 1 for the car and the flag.
        let row = |p: f64| (12.0 - (height(p) - 0.1) / 0.9 * HILL_ROWS).round() as i64;
        for c in 0..WIDTH {
            let p = MIN_POSITION + (MAX_POSITION - MIN_POSITION) * c as f64 / (WIDTH - 1) as f64;
            grid.put(c as i64, row(p), '.');
        }
        grid.put(
            col(GOAL_POSITION).round() as i64,
            row(GOAL_POSITION) - 1,
            'F',
        );
        grid.put(col(position).round() as i64, row(position) - 1, '@');
        grid.into_string()
    }

    /// 600x400, drawn like Gymnasium's renderer.
    fn render_rgb(&self) -> RgbFrame {
        const WIDTH: u32 = 600;
        const HEIGHT: u32 = 400;
        let scale = WIDTH as f64 / (MAX_POSITION - MIN_POSITION);
        let (car_w, car_h) = (40.0_f32, 20.0_f32);
        let clearance = 10.0;
        let mut canvas = Canvas::y_up(WIDTH, HEIGHT, WHITE);
        let track: Vec<(f32, f32)> = (0..100)
            .map(|i| {
                let p = MIN_POSITION + (MAX_POSITION - MIN_POSITION) * i as f64 / 99.0;
                (
                    ((p - MIN_POSITION) * scale) as f32,
                    (height(p) * scale) as f32,
                )
            })
            .collect();
        canvas.polyline(&track, 1.0, BLACK);

        let position = self.state[0];
        let tilt = (3.0 * position).cos() as f32;
        let base = (
            ((position - MIN_POSITION) * scale) as f32,
            clearance + (height(position) * scale) as f32,
        );
        let place = |p: (f32, f32)| {
            let (x, y) = rotate(p, tilt);
            (x + base.0, y + base.1)
        };
        let (l, r, t, b) = (-car_w / 2.0, car_w / 2.0, car_h, 0.0);
        canvas.polygon(&[(l, b), (l, t), (r, t), (r, b)].map(place), BLACK);
        for wheel in [(car_w / 4.0, 0.0), (-car_w / 4.0, 0.0)] {
            let (x, y) = place(wheel);
            canvas.circle(x, y, car_h / 2.5, [128, 128, 128]);
        }

        let flag_x = ((GOAL_POSITION - MIN_POSITION) * scale) as f32;
        let flag_y1 = (height(GOAL_POSITION) * scale) as f32;
        let flag_y2 = flag_y1 + 50.0;
        canvas.polyline(&[(flag_x, flag_y1), (flag_x, flag_y2)], 1.0, BLACK);
        canvas.polygon(
            &[
                (flag_x, flag_y2),
                (flag_x, flag_y2 - 10.0),
                (flag_x + 25.0, flag_y2 - 5.0),
            ],
            [204, 204, 0],
        );
        canvas.finish()
    }
}
