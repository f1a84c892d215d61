//! LunarLander: land a rocket on the pad between the flags, as Gymnasium's
//! `LunarLander-v3` with discrete actions.

use std::collections::VecDeque;
use std::f64::consts::PI;

use rand::Rng;
use rand_pcg::Pcg64;
use serde::{Deserialize, Serialize};

use crate::box2d::{Readout, Setup, World};
use crate::env::{self, Env, RgbFrame, Step};
use crate::render::{Canvas, Rgb, TextGrid, WHITE};
use crate::space::Space;

/// Action: do nothing.
pub const NOOP: usize = 0;
/// Action: fire the left orientation engine (pushes the lander right, turns it clockwise).
pub const FIRE_LEFT: usize = 1;
/// Action: fire the main engine.
pub const FIRE_MAIN: usize = 2;
/// Action: fire the right orientation engine.
pub const FIRE_RIGHT: usize = 3;
/// Number of actions.
pub const N_ACTIONS: usize = 4;

/// Gymnasium's default gravity (m/s², must be within -12..0).
pub const DEFAULT_GRAVITY: f64 = -10.0;
/// Gymnasium's default wind strength.
pub const DEFAULT_WIND_POWER: f64 = 15.0;
/// Gymnasium's default rotational turbulence strength.
pub const DEFAULT_TURBULENCE_POWER: f64 = 1.5;

// Gymnasium's constants, as the Python integers and floats they are there.
const FPS: f64 = 50.0;
const SCALE: f64 = 30.0;
const MAIN_ENGINE_POWER: f64 = 13.0;
const SIDE_ENGINE_POWER: f64 = 0.6;
const INITIAL_RANDOM: f64 = 1000.0;
const LANDER_POLY: [(i32, i32); 6] = [
    (-14, 17),
    (-17, 0),
    (-17, -10),
    (17, -10),
    (17, 0),
    (14, 17),
];
const LEG_AWAY: i32 = 20;
const LEG_DOWN: i32 = 18;
const LEG_W: i32 = 2;
const LEG_H: i32 = 8;
const LEG_SPRING_TORQUE: f64 = 40.0;
const SIDE_ENGINE_HEIGHT: i32 = 14;
const SIDE_ENGINE_AWAY: i32 = 12;
const MAIN_ENGINE_Y_LOCATION: i32 = 4;
const VIEWPORT_W: f64 = 600.0;
const VIEWPORT_H: f64 = 400.0;
const CHUNKS: usize = 11;
/// Box2D solver iterations per step, as `world.Step(1.0 / FPS, 6 * 30, 2 * 30)`.
const VELOCITY_ITERATIONS: i32 = 6 * 30;
const POSITION_ITERATIONS: i32 = 2 * 30;

/// Width of the world in Box2D units.
const W: f64 = VIEWPORT_W / SCALE;
/// Height of the world in Box2D units.
const H: f64 = VIEWPORT_H / SCALE;

/// Number of values of [`Env::state`]: see [`LunarLander`].
pub const STATE_LEN: usize = CHUNKS + 1 + 6;

/// Why LunarLander parameters are not acceptable.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum LanderError {
    /// Gymnasium asserts `-12 < gravity < 0`.
    #[error("gravity must be between -12 and 0 (exclusive), got {0}")]
    Gravity(f64),
    /// A parameter is NaN or infinite.
    #[error("{name} must be finite, got {value}")]
    NotFinite {
        /// The parameter.
        name: &'static str,
        /// The value given.
        value: f64,
    },
}

/// The random draws an episode starts from: Gymnasium's terrain heights
/// (before the helipad flattens five of them), the initial push, the wind
/// phases and the engine noise of the step `reset` takes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Start {
    heights: [f64; CHUNKS + 1],
    force: [f64; 2],
    wind_idx: i64,
    torque_idx: i64,
    dispersion: [f64; 2],
}

impl Start {
    /// The start of an environment that was never reset: flat ground at the
    /// helipad's height, no push, no noise.
    fn neutral() -> Self {
        Self {
            heights: [H / 4.0; CHUNKS + 1],
            force: [0.0; 2],
            wind_idx: 0,
            torque_idx: 0,
            dispersion: [0.0; 2],
        }
    }

    fn to_state(&self) -> Vec<f64> {
        let mut v = self.heights.to_vec();
        v.extend(self.force);
        v.extend([self.wind_idx as f64, self.torque_idx as f64]);
        v.extend(self.dispersion);
        v
    }

    fn from_state(state: &[f64]) -> Self {
        env::check_state_len("LunarLander", state, STATE_LEN);
        assert!(
            state.iter().all(|v| v.is_finite()),
            "LunarLander: the state must be finite, got {state:?}"
        );
        let idx = |v: f64| {
            assert!(
                v.fract() == 0.0,
                "LunarLander: wind index {v} is not an integer"
            );
            v as i64
        };
        Self {
            heights: std::array::from_fn(|i| state[i]),
            force: [state[12], state[13]],
            wind_idx: idx(state[14]),
            torque_idx: idx(state[15]),
            dispersion: [state[16], state[17]],
        }
    }
}

/// The lunar lander with discrete actions.
///
/// Observation `[x, y, vx, vy, angle, angular velocity, left leg contact,
/// right leg contact]` (f32), scaled like Gymnasium's: `x` and `y` are 0 on
/// the helipad and ±1 at the edges of the screen. Actions [`NOOP`],
/// [`FIRE_LEFT`], [`FIRE_MAIN`], [`FIRE_RIGHT`].
///
/// Reward as Gymnasium's: the change of the shaping
/// `-100 |(x, y)| - 100 |(vx, vy)| - 100 |angle| + 10 (left contact) + 10 (right contact)`,
/// minus 0.3 per main-engine step and 0.03 per side-engine step; a crash (the
/// lander's body touching the ground) or leaving the screen (`|x| >= 1`)
/// ends the episode with -100, coming to rest (Box2D puts the lander to
/// sleep) ends it with +100.
///
/// The physics is Gymnasium's own Box2D build (see the [module docs](super)),
/// and every number the Python code computes in double precision is computed
/// the same way here, so from the same random draws the trajectories match
/// Gymnasium's bit for bit. The draws themselves come from this crate's RNG.
///
/// [`Env::state`] is not the physical state (a Box2D world is not a flat
/// vector) but the episode's random start, from which the world is rebuilt:
/// the 12 raw terrain heights, the initial force (x, y), the wind and torque
/// phases (0 without wind), and the two engine-noise draws of the step that
/// `reset` takes. Clones and deserialized copies replay the episode's Box2D
/// calls and continue exactly.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LunarLander {
    gravity: f64,
    enable_wind: bool,
    wind_power: f64,
    turbulence_power: f64,
    // Boxed, like the terrain, to keep the value (and `AnyEnv`) small.
    start: Box<Start>,
    world: World,
    helipad_y: f64,
    /// The terrain's corner heights (Gymnasium's `smooth_y`).
    smooth_y: Box<[f64; CHUNKS]>,
    wind_idx: i64,
    torque_idx: i64,
    prev_shaping: Option<f64>,
    obs: [f32; 8],
    /// Engine-noise draws to use instead of the RNG's (replay tests).
    scripted: VecDeque<[f64; 2]>,
    rng: Pcg64,
}

impl Default for LunarLander {
    fn default() -> Self {
        Self::new()
    }
}

/// `chunk_x[i]`, as Gymnasium's `W / (CHUNKS - 1) * i`.
fn chunk_x(i: usize) -> f64 {
    W / (CHUNKS - 1) as f64 * i as f64
}

impl LunarLander {
    /// Gymnasium's default lander (gravity -10, no wind) with its RNG at
    /// [`env::DEFAULT_SEED`]. Until the first [`Env::reset`] it hangs at the
    /// start position above flat ground.
    pub fn new() -> Self {
        Self::with_options(
            DEFAULT_GRAVITY,
            false,
            DEFAULT_WIND_POWER,
            DEFAULT_TURBULENCE_POWER,
        )
        .expect("the defaults are valid")
    }

    /// A lander with Gymnasium's `gravity`, `enable_wind`, `wind_power` and
    /// `turbulence_power`. Gymnasium only warns about wind or turbulence
    /// outside 0..=20 and 0..=2; so does this (by accepting them).
    ///
    /// # Errors
    /// [`LanderError::Gravity`] unless `-12 < gravity < 0` (Gymnasium
    /// asserts it), [`LanderError::NotFinite`] for a NaN or infinite value.
    pub fn with_options(
        gravity: f64,
        enable_wind: bool,
        wind_power: f64,
        turbulence_power: f64,
    ) -> Result<Self, LanderError> {
        for (name, value) in [
            ("gravity", gravity),
            ("wind_power", wind_power),
            ("turbulence_power", turbulence_power),
        ] {
            if !value.is_finite() {
                return Err(LanderError::NotFinite { name, value });
            }
        }
        if !(-12.0 < gravity && gravity < 0.0) {
            return Err(LanderError::Gravity(gravity));
        }
        let start = Start::neutral();
        let (setup, smooth_y) = build_setup(gravity, &start);
        let mut lander = Self {
            gravity,
            enable_wind,
            wind_power,
            turbulence_power,
            world: World::new(setup),
            start: Box::new(start),
            helipad_y: H / 4.0,
            smooth_y: Box::new(smooth_y),
            wind_idx: 0,
            torque_idx: 0,
            prev_shaping: None,
            obs: [0.0; 8],
            scripted: VecDeque::new(),
            rng: env::default_rng(),
        };
        lander.begin((*lander.start).clone());
        Ok(lander)
    }

    /// Gravity (m/s²).
    pub fn gravity(&self) -> f64 {
        self.gravity
    }

    /// Whether wind and turbulence act on the lander.
    pub fn enable_wind(&self) -> bool {
        self.enable_wind
    }

    /// Strength of the wind.
    pub fn wind_power(&self) -> f64 {
        self.wind_power
    }

    /// Strength of the rotational turbulence.
    pub fn turbulence_power(&self) -> f64 {
        self.turbulence_power
    }

    /// Replaces the engine-noise draws (Gymnasium's two `U[-1, 1)` draws per
    /// step, the `dispersion`) of the next steps with `draws`, one pair per
    /// step, after which the RNG takes over again. With the draws recorded
    /// from Gymnasium, a replay matches Gymnasium's trajectory exactly.
    pub fn script_dispersion(&mut self, draws: impl IntoIterator<Item = [f64; 2]>) {
        self.scripted = draws.into_iter().collect();
    }

    /// The helipad's flag positions `(x1, x2)` and height, in Box2D units.
    pub fn helipad(&self) -> (f64, f64, f64) {
        (
            chunk_x(CHUNKS / 2 - 1),
            chunk_x(CHUNKS / 2 + 1),
            self.helipad_y,
        )
    }

    /// Builds the world for `start` and takes the step `reset` takes.
    fn begin(&mut self, start: Start) -> [f32; 8] {
        let (setup, smooth_y) = build_setup(self.gravity, &start);
        self.world = World::new(setup);
        *self.smooth_y = smooth_y;
        self.helipad_y = H / 4.0;
        self.wind_idx = start.wind_idx;
        self.torque_idx = start.torque_idx;
        self.prev_shaping = None;
        let dispersion = start.dispersion;
        *self.start = start;
        self.advance(NOOP, dispersion).obs
    }

    /// The engine noise of the next step: scripted, else two RNG draws.
    fn next_dispersion(&mut self) -> [f64; 2] {
        self.scripted.pop_front().unwrap_or_else(|| {
            [
                env::uniform(&mut self.rng, -1.0, 1.0),
                env::uniform(&mut self.rng, -1.0, 1.0),
            ]
        })
    }

    /// Gymnasium's `step` with the given engine noise (`U[-1, 1)` draws).
    /// Expressions keep Python's operation order and its float64 arithmetic on
    /// the float32 values Box2D returns, so every rounding is the same.
    fn advance(&mut self, action: usize, dispersion: [f64; 2]) -> Step<[f32; 8]> {
        let before = self.world.read();
        if self.enable_wind && before.leg_contact == [0, 0] {
            // tanh(sin(2 k x) + sin(pi k x)) with k = 0.01: never periodic.
            let wind = self.wind_idx as f64;
            let wind_mag =
                ((0.02 * wind).sin() + (PI * 0.01 * wind).sin()).tanh() * self.wind_power;
            self.wind_idx += 1;
            self.world.apply_force_to_center(wind_mag as f32, 0.0);
            let torque = self.torque_idx as f64;
            let torque_mag =
                ((0.02 * torque).sin() + (PI * 0.01 * torque).sin()).tanh() * self.turbulence_power;
            self.torque_idx += 1;
            self.world.apply_torque(torque_mag as f32);
        }

        let angle = f64::from(before.angle);
        let tip = (angle.sin(), angle.cos());
        let side = (-tip.1, tip.0);
        let dispersion = dispersion.map(|u| u / SCALE);
        let (px, py) = (f64::from(before.position[0]), f64::from(before.position[1]));

        let mut m_power = 0.0;
        if action == FIRE_MAIN {
            m_power = 1.0;
            let offset = f64::from(MAIN_ENGINE_Y_LOCATION) / SCALE + 2.0 * dispersion[0];
            let ox = tip.0 * offset + side.0 * dispersion[1];
            let oy = -tip.1 * offset - side.1 * dispersion[1];
            let impulse_pos = (px + ox, py + oy);
            self.world.apply_linear_impulse(
                (
                    (-ox * MAIN_ENGINE_POWER * m_power) as f32,
                    (-oy * MAIN_ENGINE_POWER * m_power) as f32,
                ),
                (impulse_pos.0 as f32, impulse_pos.1 as f32),
            );
        }

        let mut s_power = 0.0;
        if action == FIRE_LEFT || action == FIRE_RIGHT {
            // action 1 is left (-1), 3 is right (+1).
            let direction = action as i32 - 2;
            s_power = 1.0;
            let lateral = 3.0 * dispersion[1] + f64::from(direction * SIDE_ENGINE_AWAY) / SCALE;
            let ox = tip.0 * dispersion[0] + side.0 * lateral;
            let oy = -tip.1 * dispersion[0] - side.1 * lateral;
            // Gymnasium uses 17 here where SIDE_ENGINE_HEIGHT (14) was
            // presumably meant; the torque this gives depends on the angle.
            let impulse_pos = (
                px + ox - tip.0 * 17.0 / SCALE,
                py + oy + tip.1 * f64::from(SIDE_ENGINE_HEIGHT) / SCALE,
            );
            self.world.apply_linear_impulse(
                (
                    (-ox * SIDE_ENGINE_POWER * s_power) as f32,
                    (-oy * SIDE_ENGINE_POWER * s_power) as f32,
                ),
                (impulse_pos.0 as f32, impulse_pos.1 as f32),
            );
        }

        self.world
            .step((1.0 / FPS) as f32, VELOCITY_ITERATIONS, POSITION_ITERATIONS);

        let r = self.world.read();
        let state = observation_values(&r, self.helipad_y);
        let shaping = -100.0 * (state[0] * state[0] + state[1] * state[1]).sqrt()
            - 100.0 * (state[2] * state[2] + state[3] * state[3]).sqrt()
            - 100.0 * state[4].abs()
            + 10.0 * state[6]
            + 10.0 * state[7];
        let mut reward = match self.prev_shaping {
            Some(prev) => shaping - prev,
            None => 0.0,
        };
        self.prev_shaping = Some(shaping);
        reward -= m_power * 0.30;
        reward -= s_power * 0.03;

        let mut terminated = false;
        if r.game_over != 0 || state[0].abs() >= 1.0 {
            terminated = true;
            reward = -100.0;
        }
        if r.awake == 0 {
            terminated = true;
            reward = 100.0;
        }
        self.obs = state.map(|v| v as f32);
        Step {
            obs: self.obs,
            reward,
            terminated,
            truncated: false,
        }
    }
}

/// Gymnasium's `state` list, in float64 from Box2D's float32 values.
fn observation_values(r: &Readout, helipad_y: f64) -> [f64; 8] {
    let (x, y) = (f64::from(r.position[0]), f64::from(r.position[1]));
    let (vx, vy) = (
        f64::from(r.linear_velocity[0]),
        f64::from(r.linear_velocity[1]),
    );
    [
        (x - VIEWPORT_W / SCALE / 2.0) / (VIEWPORT_W / SCALE / 2.0),
        (y - (helipad_y + f64::from(LEG_DOWN) / SCALE)) / (VIEWPORT_H / SCALE / 2.0),
        vx * (VIEWPORT_W / SCALE / 2.0) / FPS,
        vy * (VIEWPORT_H / SCALE / 2.0) / FPS,
        f64::from(r.angle),
        20.0 * f64::from(r.angular_velocity) / FPS,
        if r.leg_contact[0] != 0 { 1.0 } else { 0.0 },
        if r.leg_contact[1] != 0 { 1.0 } else { 0.0 },
    ]
}

/// Gymnasium's `reset` up to the first step: the terrain, the lander with
/// its initial push, the legs and their joints, as Box2D inputs (float32,
/// rounded from Python's float64 values), and the terrain's corner heights.
fn build_setup(gravity: f64, start: &Start) -> (Setup, [f64; CHUNKS]) {
    let helipad_y = H / 4.0;
    let mut height = start.heights;
    for h in &mut height[CHUNKS / 2 - 2..=CHUNKS / 2 + 2] {
        *h = helipad_y;
    }
    // Python's height[i - 1] wraps around to the last height for i = 0.
    let smooth_y: [f64; CHUNKS] = std::array::from_fn(|i| {
        let prev = height[(i + CHUNKS) % (CHUNKS + 1)];
        0.33 * (prev + height[i] + height[i + 1])
    });
    let terrain = std::array::from_fn(|i| {
        [chunk_x(i), smooth_y[i], chunk_x(i + 1), smooth_y[i + 1]].map(|v| v as f32)
    });
    let initial_x = VIEWPORT_W / SCALE / 2.0;
    let initial_y = VIEWPORT_H / SCALE;
    let legs = [-1i32, 1];
    let leg_angle = legs.map(|i| (f64::from(i) * 0.05) as f32);
    let setup = Setup {
        gravity: gravity as f32,
        ground: [0.0, 0.0, W as f32, 0.0],
        terrain,
        lander_position: [initial_x as f32, initial_y as f32],
        lander_vertices: LANDER_POLY
            .map(|(x, y)| [(f64::from(x) / SCALE) as f32, (f64::from(y) / SCALE) as f32]),
        initial_force: start.force.map(|f| f as f32),
        leg_position: legs.map(|i| {
            [
                (initial_x - f64::from(i * LEG_AWAY) / SCALE) as f32,
                initial_y as f32,
            ]
        }),
        leg_angle,
        leg_half_size: [
            (f64::from(LEG_W) / SCALE) as f32,
            (f64::from(LEG_H) / SCALE) as f32,
        ],
        leg_anchor: legs.map(|i| {
            [
                (f64::from(i * LEG_AWAY) / SCALE) as f32,
                (f64::from(LEG_DOWN) / SCALE) as f32,
            ]
        }),
        // pybox2d sets referenceAngle = bodyB.angle - bodyA.angle when the
        // joint definition names both bodies; the lander starts at angle 0.
        leg_reference_angle: leg_angle.map(|a| (f64::from(a) - 0.0) as f32),
        leg_lower_angle: [(0.9 - 0.5) as f32, -0.9],
        leg_upper_angle: [0.9, (-0.9 + 0.5) as f32],
        leg_motor_speed: legs.map(|i| (0.3 * f64::from(i)) as f32),
        leg_max_motor_torque: LEG_SPRING_TORQUE as f32,
    };
    (setup, smooth_y)
}

/// Gymnasium's scripted `heuristic` lander for the discrete actions: aim the
/// lander at the pad, hover at a height proportional to the distance from it,
/// and only brake the fall once a leg touches down. Scores about 240 on
/// average.
///
/// Computed in f32 like Gymnasium's, where numpy keeps float32 arithmetic for
/// float32 observations, so it picks the same actions on the same observations.
pub fn heuristic(s: &[f32; 8]) -> usize {
    let mut angle_targ = s[0] * 0.5 + s[2] * 1.0;
    angle_targ = angle_targ.clamp(-0.4, 0.4);
    let hover_targ = 0.55 * s[0].abs();
    let mut angle_todo = (angle_targ - s[4]) * 0.5 - s[5] * 1.0;
    let mut hover_todo = (hover_targ - s[1]) * 0.5 - s[3] * 0.5;
    if s[6] != 0.0 || s[7] != 0.0 {
        angle_todo = 0.0;
        hover_todo = -s[3] * 0.5;
    }
    if hover_todo > angle_todo.abs() && hover_todo > 0.05 {
        FIRE_MAIN
    } else if angle_todo < -0.05 {
        FIRE_RIGHT
    } else if angle_todo > 0.05 {
        FIRE_LEFT
    } else {
        NOOP
    }
}

impl Env for LunarLander {
    type Obs = [f32; 8];

    fn observation_space(&self) -> Space {
        let two_pi = (2.0 * PI) as f32;
        Space::box_1d(
            vec![-2.5, -2.5, -10.0, -10.0, -two_pi, -10.0, -0.0, -0.0],
            vec![2.5, 2.5, 10.0, 10.0, two_pi, 10.0, 1.0, 1.0],
        )
    }

    fn action_space(&self) -> Space {
        Space::Discrete { n: N_ACTIONS }
    }

    fn n_actions(&self) -> usize {
        N_ACTIONS
    }

    /// Draws Gymnasium's start (12 terrain heights in `U[0, H/2)`, the push in
    /// `U[-1000, 1000)²`, with wind the two phases in `-9999..9999`) and takes
    /// a no-op step like Gymnasium's `reset`, whose observation it returns.
    fn reset(&mut self, seed: Option<u64>) -> [f32; 8] {
        env::reseed(&mut self.rng, seed);
        let heights = std::array::from_fn(|_| env::uniform(&mut self.rng, 0.0, H / 2.0));
        let force = [
            env::uniform(&mut self.rng, -INITIAL_RANDOM, INITIAL_RANDOM),
            env::uniform(&mut self.rng, -INITIAL_RANDOM, INITIAL_RANDOM),
        ];
        let (wind_idx, torque_idx) = if self.enable_wind {
            (
                self.rng.random_range(-9999..9999),
                self.rng.random_range(-9999..9999),
            )
        } else {
            (0, 0)
        };
        let dispersion = self.next_dispersion();
        self.begin(Start {
            heights,
            force,
            wind_idx,
            torque_idx,
            dispersion,
        })
    }

    fn step(&mut self, action: usize) -> Step<[f32; 8]> {
        env::check_action("LunarLander", action, N_ACTIONS);
        let dispersion = self.next_dispersion();
        self.advance(action, dispersion)
    }

    /// `state` is the episode's start (see [`LunarLander`]); the world is
    /// rebuilt from it and the reset step taken with its noise draws.
    fn reset_to_state(&mut self, state: &[f64]) -> [f32; 8] {
        let start = Start::from_state(state);
        self.begin(start)
    }

    fn observation(&self) -> [f32; 8] {
        self.obs
    }

    fn state(&self) -> Vec<f64> {
        self.start.to_state()
    }

    /// 21 lines: the observation, then a 60x20 picture (10x20 pixels of the
    /// RGB frame per character): `#` the moon, `|>` the flags, `@` the
    /// lander's body and `/` `\` its legs, `*` where a leg touches the ground.
    fn render_text(&self) -> String {
        const COLS: usize = 60;
        const ROWS: usize = 20;
        let mut grid = TextGrid::new(COLS, ROWS + 1);
        let o = self.obs;
        grid.text(
            0,
            0,
            &format!(
                "x {:+.2} y {:+.2} vx {:+.2} vy {:+.2} a {:+.2} w {:+.2} legs {}{}",
                o[0],
                o[1],
                o[2],
                o[3],
                o[4],
                o[5],
                if o[6] != 0.0 { 'L' } else { '-' },
                if o[7] != 0.0 { 'R' } else { '-' },
            ),
        );
        // Box2D units to (column, row): row 1 is the top of the sky.
        let to_cell = |x: f64, y: f64| (x / W * COLS as f64 - 0.5, (H - y) / H * ROWS as f64 + 0.5);
        for col in 0..COLS {
            let x = (col as f64 + 0.5) / COLS as f64 * W;
            let ground = self.ground_height(x);
            for row in 1..=ROWS {
                let y = H - (row as f64 - 0.5) / ROWS as f64 * H;
                if y < ground {
                    grid.put(col as i64, row as i64, '#');
                }
            }
        }
        let (x1, x2, pad_y) = self.helipad();
        for x in [x1, x2] {
            let (c, r) = to_cell(x, pad_y);
            grid.put(c.round() as i64, r.round() as i64 - 1, '|');
            grid.put(c.round() as i64, r.round() as i64 - 2, '>');
        }
        let r = self.world.read();
        for (i, mark) in ['/', '\\'].into_iter().enumerate() {
            let leg = leg_corners(&r, i);
            let (top, bottom) = (mid(leg[0], leg[1]), mid(leg[2], leg[3]));
            let (a, b) = (to_cell(top.0, top.1), to_cell(bottom.0, bottom.1));
            grid.segment(a, b, mark);
            if r.leg_contact[i] != 0 {
                grid.put(b.0.round() as i64, b.1.round() as i64, '*');
            }
        }
        let body = lander_corners(&r);
        for k in 0..body.len() {
            let (p, q) = (body[k], body[(k + 1) % body.len()]);
            grid.segment(to_cell(p.0, p.1), to_cell(q.0, q.1), '@');
        }
        grid.into_string()
    }

    /// 600x400 like Gymnasium's: black sky above the white moon, the lander
    /// and its legs in purple with dark outlines, white flag poles with
    /// yellow flags at the edges of the pad. The engine particles, which are
    /// decoration without physics in Gymnasium, are not drawn.
    fn render_rgb(&self) -> RgbFrame {
        const FILL: Rgb = [128, 102, 230];
        const OUTLINE: Rgb = [77, 77, 128];
        let s = SCALE as f32;
        let mut canvas = Canvas::y_up(VIEWPORT_W as u32, VIEWPORT_H as u32, WHITE);
        for i in 0..CHUNKS - 1 {
            let (xa, xb) = (chunk_x(i) as f32 * s, chunk_x(i + 1) as f32 * s);
            let (ya, yb) = (self.smooth_y[i] as f32 * s, self.smooth_y[i + 1] as f32 * s);
            let top = VIEWPORT_H as f32;
            canvas.polygon(&[(xa, ya), (xb, yb), (xb, top), (xa, top)], [0, 0, 0]);
        }
        let r = self.world.read();
        let scaled = |pts: &[(f64, f64)]| -> Vec<(f32, f32)> {
            pts.iter()
                .map(|&(x, y)| (x as f32 * s, y as f32 * s))
                .collect()
        };
        for i in 0..2 {
            let leg = scaled(&leg_corners(&r, i));
            canvas.polygon(&leg, FILL);
            let mut outline = leg.clone();
            outline.push(leg[0]);
            canvas.polyline(&outline, 1.0, OUTLINE);
        }
        let body = scaled(&lander_corners(&r));
        canvas.polygon(&body, FILL);
        let mut outline = body.clone();
        outline.push(body[0]);
        canvas.polyline(&outline, 1.0, OUTLINE);
        let (x1, x2, pad_y) = self.helipad();
        for x in [x1, x2] {
            let x = x as f32 * s;
            let flag_y1 = pad_y as f32 * s;
            let flag_y2 = flag_y1 + 50.0;
            canvas.polyline(&[(x, flag_y1), (x, flag_y2)], 1.0, WHITE);
            canvas.polygon(
                &[(x, flag_y2), (x, flag_y2 - 10.0), (x + 25.0, flag_y2 - 5.0)],
                [204, 204, 0],
            );
        }
        canvas.finish()
    }
}

impl LunarLander {
    /// The terrain height at `x` (Box2D units), between the corner heights.
    fn ground_height(&self, x: f64) -> f64 {
        let step = chunk_x(1);
        let i = ((x / step).floor() as usize).min(CHUNKS - 2);
        let t = (x - chunk_x(i)) / step;
        self.smooth_y[i] + (self.smooth_y[i + 1] - self.smooth_y[i]) * t
    }
}

/// `p` rotated by `angle` and moved to `at`, like Box2D's body transform.
fn to_world((x, y): (f64, f64), at: [f32; 2], angle: f32) -> (f64, f64) {
    let (s, c) = f64::from(angle).sin_cos();
    (
        f64::from(at[0]) + c * x - s * y,
        f64::from(at[1]) + s * x + c * y,
    )
}

fn mid(a: (f64, f64), b: (f64, f64)) -> (f64, f64) {
    ((a.0 + b.0) / 2.0, (a.1 + b.1) / 2.0)
}

/// The lander's hull in world coordinates.
fn lander_corners(r: &Readout) -> Vec<(f64, f64)> {
    LANDER_POLY
        .iter()
        .map(|&(x, y)| {
            to_world(
                (f64::from(x) / SCALE, f64::from(y) / SCALE),
                r.position,
                r.angle,
            )
        })
        .collect()
}

/// Leg `i`'s box in world coordinates: top-left, top-right, bottom-right, bottom-left.
fn leg_corners(r: &Readout, i: usize) -> Vec<(f64, f64)> {
    let (hx, hy) = (f64::from(LEG_W) / SCALE, f64::from(LEG_H) / SCALE);
    [(-hx, hy), (hx, hy), (hx, -hy), (-hx, -hy)]
        .into_iter()
        .map(|p| to_world(p, r.leg_position[i], r.leg_angle[i]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips() {
        let mut env = LunarLander::new();
        env.reset(Some(4));
        let state = env.state();
        assert_eq!(state.len(), STATE_LEN);
        let obs = env.observation();
        let mut other = LunarLander::new();
        assert_eq!(other.reset_to_state(&state), obs);
    }

    #[test]
    fn gravity_is_checked_like_gymnasium() {
        assert_eq!(
            LunarLander::with_options(-12.0, false, 15.0, 1.5).unwrap_err(),
            LanderError::Gravity(-12.0)
        );
        assert!(LunarLander::with_options(0.0, false, 15.0, 1.5).is_err());
        assert!(LunarLander::with_options(-5.0, true, f64::NAN, 1.5).is_err());
        assert!(LunarLander::with_options(-11.99, true, 30.0, 3.0).is_ok());
    }

    #[test]
    fn heuristic_fires_the_main_engine_when_falling() {
        assert_eq!(
            heuristic(&[0.0, 0.2, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0]),
            FIRE_MAIN
        );
        assert_eq!(
            heuristic(&[0.0, 1.0, 0.0, 0.0, 0.3, 0.0, 0.0, 0.0]),
            FIRE_RIGHT
        );
        assert_eq!(
            heuristic(&[0.0, 1.0, 0.0, 0.0, -0.3, 0.0, 0.0, 0.0]),
            FIRE_LEFT
        );
        assert_eq!(heuristic(&[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0]), NOOP);
    }
}
