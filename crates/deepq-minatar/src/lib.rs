//! MinAtar's five games — Asterix, Breakout, Freeway, Seaquest and Space Invaders — on a
//! 10×10 grid of boolean channels, in Rust.
//!
//! This crate is a port of the `minatar` 1.0.15 Python package by **Kenny Young and Tian
//! Tian** (<https://github.com/kenjyoung/MinAtar>; Young & Tian 2019, *MinAtar: An
//! Atari-Inspired Testbed for Thorough and Reproducible Reinforcement Learning
//! Experiments*, arXiv:1903.03176). The games and their rules are theirs; like the original,
//! this crate is licensed under the GNU GPL (version 3 or later).
//!
//! The port is step for step identical to the reference: from the same seed and actions it
//! produces the same observations, rewards and terminals, including the reference's random
//! number stream (numpy's legacy `RandomState`, see [`rng`]) and its quirks.
//!
//! ```
//! use deepq_minatar::{Environment, Game};
//!
//! let mut env = Environment::new(Game::Breakout, 0.1, true, 0);
//! let mut obs = vec![false; env.state_len()];
//! let mut ret = 0.0;
//! loop {
//!     let (reward, terminal) = env.act(3); // always "right"
//!     ret += reward;
//!     env.state_into(&mut obs);
//!     if terminal {
//!         break;
//!     }
//! }
//! env.reset();
//! assert!(!env.game_over());
//! # let _ = ret;
//! ```

#![warn(missing_docs)]

mod games;
pub mod rng;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use games::{Frame, GameState};
use rng::RandomState;

/// One of MinAtar's five games.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Game {
    /// Dodge enemies and collect gold (4 channels).
    Asterix,
    /// Break bricks with a ball and paddle (4 channels).
    Breakout,
    /// Cross eight lanes of traffic before the timer runs out (7 channels).
    Freeway,
    /// Shoot enemies, rescue divers and surface for air (10 channels).
    Seaquest,
    /// Shoot a descending block of aliens (6 channels).
    SpaceInvaders,
}

impl Game {
    /// All five games, in the reference's alphabetical order.
    pub const ALL: [Game; 5] = [
        Game::Asterix,
        Game::Breakout,
        Game::Freeway,
        Game::Seaquest,
        Game::SpaceInvaders,
    ];

    /// The reference's module name: `"asterix"`, `"breakout"`, `"freeway"`, `"seaquest"`,
    /// `"space_invaders"` (what `Environment(name)` takes).
    pub fn name(self) -> &'static str {
        match self {
            Game::Asterix => "asterix",
            Game::Breakout => "breakout",
            Game::Freeway => "freeway",
            Game::Seaquest => "seaquest",
            Game::SpaceInvaders => "space_invaders",
        }
    }

    /// The display name: `"Asterix"`, `"Breakout"`, `"Freeway"`, `"Seaquest"`,
    /// `"SpaceInvaders"` (as in the Gymnasium ids `MinAtar/Breakout-v1`).
    pub fn display_name(self) -> &'static str {
        match self {
            Game::Asterix => "Asterix",
            Game::Breakout => "Breakout",
            Game::Freeway => "Freeway",
            Game::Seaquest => "Seaquest",
            Game::SpaceInvaders => "SpaceInvaders",
        }
    }

    /// Parses a module name or a display name (case-insensitive, `-`/`_` ignored), e.g.
    /// `"space_invaders"`, `"SpaceInvaders"`, `"space-invaders"`.
    pub fn from_name(name: &str) -> Option<Game> {
        let norm: String = name
            .chars()
            .filter(|c| *c != '_' && *c != '-')
            .map(|c| c.to_ascii_lowercase())
            .collect();
        Game::ALL
            .into_iter()
            .find(|g| g.name().replace('_', "") == norm)
    }

    /// Number of observation channels (the last dimension of the state).
    pub fn n_channels(self) -> usize {
        self.channel_names().len()
    }

    /// The channel names, in channel order (the reference's spellings, e.g. Seaquest's
    /// `"oxygen_guage"`).
    pub fn channel_names(self) -> &'static [&'static str] {
        match self {
            Game::Asterix => &["player", "enemy", "trail", "gold"],
            Game::Breakout => &["paddle", "ball", "trail", "brick"],
            Game::Freeway => &[
                "chicken", "car", "speed1", "speed2", "speed3", "speed4", "speed5",
            ],
            Game::Seaquest => &[
                "sub_front",
                "sub_back",
                "friendly_bullet",
                "trail",
                "enemy_bullet",
                "enemy_fish",
                "enemy_sub",
                "oxygen_guage",
                "diver_guage",
                "diver",
            ],
            Game::SpaceInvaders => &[
                "cannon",
                "alien",
                "alien_left",
                "alien_right",
                "friendly_bullet",
                "enemy_bullet",
            ],
        }
    }

    /// The actions (indices into the full set `n l u r d f`) that matter in this game, in
    /// the reference's order: Asterix `[0, 1, 2, 3, 4]`, Breakout `[0, 1, 3]`, Freeway
    /// `[0, 2, 4]`, Seaquest `[0, 1, 2, 3, 4, 5]`, Space Invaders `[0, 1, 3, 5]`.
    pub fn minimal_action_set(self) -> &'static [usize] {
        match self {
            Game::Asterix => &[0, 1, 2, 3, 4],
            Game::Breakout => &[0, 1, 3],
            Game::Freeway => &[0, 2, 4],
            Game::Seaquest => &[0, 1, 2, 3, 4, 5],
            Game::SpaceInvaders => &[0, 1, 3, 5],
        }
    }
}

impl fmt::Display for Game {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.display_name())
    }
}

/// The error of parsing an unknown game name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownGame(pub String);

impl fmt::Display for UnknownGame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown MinAtar game {:?} (expected asterix, breakout, freeway, seaquest or space_invaders)",
            self.0
        )
    }
}

impl std::error::Error for UnknownGame {}

impl FromStr for Game {
    type Err = UnknownGame;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Game::from_name(s).ok_or_else(|| UnknownGame(s.to_string()))
    }
}

/// The full action set shared by all games, in index order `n l u r d f`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Action {
    /// `n` (0): do nothing.
    Noop,
    /// `l` (1): move left.
    Left,
    /// `u` (2): move up.
    Up,
    /// `r` (3): move right.
    Right,
    /// `d` (4): move down.
    Down,
    /// `f` (5): fire.
    Fire,
}

impl Action {
    /// All six actions in index order.
    pub const ALL: [Action; 6] = [
        Action::Noop,
        Action::Left,
        Action::Up,
        Action::Right,
        Action::Down,
        Action::Fire,
    ];

    /// The action with this index, if it is below 6.
    pub fn from_index(index: usize) -> Option<Action> {
        Action::ALL.get(index).copied()
    }

    /// This action's index in `n l u r d f`.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// A MinAtar game behind the reference's `Environment` wrapper: sticky actions and one
/// shared random stream.
///
/// Everything — the game, the random generator, the previous action — is
/// `Serialize`/`Deserialize`, so an episode can be checkpointed and resumed mid-way with an
/// identical continuation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Environment {
    sticky_action_prob: f64,
    difficulty_ramping: bool,
    last_action: usize,
    rng: RandomState,
    state: GameState,
}

impl Environment {
    /// `Environment(game, sticky_action_prob, difficulty_ramping)`, then `seed(seed)`, then
    /// `reset()`, as in the reference. Its defaults are `sticky_action_prob = 0.1` and
    /// `difficulty_ramping = true` (ramping affects Asterix, Seaquest and Space Invaders).
    ///
    /// # Panics
    /// If `seed` is 2³² or more (numpy raises `ValueError`).
    pub fn new(game: Game, sticky_action_prob: f64, difficulty_ramping: bool, seed: u64) -> Self {
        let mut rng = RandomState::new(check_seed(seed));
        let state = GameState::new(game, difficulty_ramping, &mut rng);
        Self {
            sticky_action_prob,
            difficulty_ramping,
            last_action: 0,
            rng,
            state,
        }
    }

    /// `seed(s)`: replaces the random stream by `np.random.RandomState(s)`. Does not reset
    /// the game or the previous action.
    ///
    /// # Panics
    /// If `seed` is 2³² or more (numpy raises `ValueError`).
    pub fn seed(&mut self, seed: u64) {
        self.rng = RandomState::new(check_seed(seed));
    }

    /// Starts a new episode (continuing the random stream; the previous action is kept for
    /// sticky actions, as in the reference).
    pub fn reset(&mut self) {
        self.state.reset(&mut self.rng);
    }

    /// One frame with action `action` (an index into `n l u r d f`); returns `(reward,
    /// terminal)`.
    ///
    /// First draws `rand()` and, if it is below `sticky_action_prob`, repeats the previous
    /// action instead; the draw happens on every call, even with probability 0 or after the
    /// game ended. On an ended game the result is `(0.0, true)`.
    ///
    /// # Panics
    /// If `action >= 6`.
    pub fn act(&mut self, action: usize) -> (f64, bool) {
        assert!(action < 6, "MinAtar action {action} is not in 0..6");
        let action = if self.rng.rand() < self.sticky_action_prob {
            self.last_action
        } else {
            action
        };
        self.last_action = action;
        let action = Action::ALL[action];
        let (reward, terminal) = self.state.act(action, &mut self.rng);
        (f64::from(reward), terminal)
    }

    /// Writes the observation into `out` (length [`state_len`](Self::state_len)), indexed
    /// `(y, x, channel)` in C order: cell `(y * 10 + x) * n_channels + channel`.
    ///
    /// # Panics
    /// If `out` has the wrong length.
    pub fn state_into(&self, out: &mut [bool]) {
        let mut frame = Frame::new(out, self.n_channels());
        self.state.draw(&mut frame);
    }

    /// The observation as a new vector; see [`state_into`](Self::state_into).
    pub fn state(&self) -> Vec<bool> {
        let mut out = vec![false; self.state_len()];
        self.state_into(&mut out);
        out
    }

    /// The observation's shape `[10, 10, n_channels]`.
    pub fn state_shape(&self) -> [usize; 3] {
        [10, 10, self.n_channels()]
    }

    /// Number of cells in an observation: `10 * 10 * n_channels`.
    pub fn state_len(&self) -> usize {
        100 * self.n_channels()
    }

    /// The game being played.
    pub fn game(&self) -> Game {
        self.state.game()
    }

    /// Number of observation channels.
    pub fn n_channels(&self) -> usize {
        self.game().n_channels()
    }

    /// Number of actions: always 6 (`n l u r d f`).
    pub fn num_actions(&self) -> usize {
        6
    }

    /// The game's minimal action set; see [`Game::minimal_action_set`].
    pub fn minimal_action_set(&self) -> &'static [usize] {
        self.game().minimal_action_set()
    }

    /// Whether the episode has ended (further `act` calls return `(0.0, true)`).
    pub fn game_over(&self) -> bool {
        self.state.is_terminal()
    }

    /// The probability of repeating the previous action.
    pub fn sticky_action_prob(&self) -> f64 {
        self.sticky_action_prob
    }

    /// Whether difficulty ramping is on.
    pub fn difficulty_ramping(&self) -> bool {
        self.difficulty_ramping
    }

    /// The action actually taken on the last `act` call (0 before the first).
    pub fn last_action(&self) -> usize {
        self.last_action
    }

    /// The game's difficulty level (`difficulty_ramp()` in the reference): the number of
    /// ramps so far for Asterix, Seaquest and Space Invaders; `None` for Breakout and
    /// Freeway, which do not ramp.
    pub fn difficulty_ramp(&self) -> Option<u32> {
        self.state.difficulty_ramp()
    }
}

fn check_seed(seed: u64) -> u32 {
    u32::try_from(seed).unwrap_or_else(|_| panic!("seed {seed} must be between 0 and 2**32 - 1"))
}
