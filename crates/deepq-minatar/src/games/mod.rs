//! The five games. Each is a plain struct with `new` (= construct + `reset`), `reset`, `act`,
//! `draw` and `is_terminal`; [`GameState`] dispatches over them.

pub(crate) mod asterix;
pub(crate) mod breakout;
pub(crate) mod freeway;
mod objlist;
pub(crate) mod seaquest;
pub(crate) mod space_invaders;

use serde::{Deserialize, Serialize};

use crate::rng::RandomState;
use crate::{Action, Game};

/// Side length of the square playing field.
pub(crate) const SIZE: i32 = 10;

/// `+1` for an object heading right, `-1` for one heading left.
pub(crate) fn step_x(right: bool) -> i32 {
    if right { 1 } else { -1 }
}

/// Whether a column or row index lies on the field.
pub(crate) fn on_field(i: i32) -> bool {
    (0..SIZE).contains(&i)
}

/// A `(y, x, channel)` observation being drawn, with numpy's indexing rules.
pub(crate) struct Frame<'a> {
    cells: &'a mut [bool],
    channels: usize,
}

impl<'a> Frame<'a> {
    /// Clears `cells` (length `10 * 10 * channels`) and wraps it.
    pub(crate) fn new(cells: &'a mut [bool], channels: usize) -> Self {
        assert_eq!(
            cells.len(),
            (SIZE * SIZE) as usize * channels,
            "observation buffer must hold 10 x 10 x {channels} cells"
        );
        cells.fill(false);
        Self { cells, channels }
    }

    /// Sets cell `(y, x, channel)`. Like numpy, an index in `-10..0` counts from the end; the
    /// reference would raise `IndexError` beyond that, which no recorded game reaches, and here
    /// such a cell is skipped.
    pub(crate) fn set(&mut self, y: i32, x: i32, channel: usize) {
        let wrap = |i: i32| {
            if on_field(i) {
                Some(i as usize)
            } else if on_field(i + SIZE) {
                Some((i + SIZE) as usize)
            } else {
                None
            }
        };
        if let (Some(y), Some(x)) = (wrap(y), wrap(x)) {
            self.cells[(y * SIZE as usize + x) * self.channels + channel] = true;
        }
    }

    /// Copies a `[y][x]` map into one channel.
    pub(crate) fn set_map(&mut self, map: &[[bool; 10]; 10], channel: usize) {
        for (y, row) in map.iter().enumerate() {
            for (x, &on) in row.iter().enumerate() {
                if on {
                    self.set(y as i32, x as i32, channel);
                }
            }
        }
    }
}

/// The state of whichever game is being played.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) enum GameState {
    Asterix(asterix::Asterix),
    Breakout(breakout::Breakout),
    Freeway(freeway::Freeway),
    Seaquest(seaquest::Seaquest),
    SpaceInvaders(space_invaders::SpaceInvaders),
}

impl GameState {
    /// A new game in its start state (draws what `reset` draws).
    pub(crate) fn new(game: Game, ramping: bool, rng: &mut RandomState) -> Self {
        match game {
            Game::Asterix => Self::Asterix(asterix::Asterix::new(ramping)),
            Game::Breakout => Self::Breakout(breakout::Breakout::new(rng)),
            Game::Freeway => Self::Freeway(freeway::Freeway::new(rng)),
            Game::Seaquest => Self::Seaquest(seaquest::Seaquest::new(ramping)),
            Game::SpaceInvaders => Self::SpaceInvaders(space_invaders::SpaceInvaders::new(ramping)),
        }
    }

    pub(crate) fn game(&self) -> Game {
        match self {
            Self::Asterix(_) => Game::Asterix,
            Self::Breakout(_) => Game::Breakout,
            Self::Freeway(_) => Game::Freeway,
            Self::Seaquest(_) => Game::Seaquest,
            Self::SpaceInvaders(_) => Game::SpaceInvaders,
        }
    }

    pub(crate) fn reset(&mut self, rng: &mut RandomState) {
        match self {
            Self::Asterix(g) => g.reset(),
            Self::Breakout(g) => g.reset(rng),
            Self::Freeway(g) => g.reset(rng),
            Self::Seaquest(g) => g.reset(),
            Self::SpaceInvaders(g) => g.reset(),
        }
    }

    /// One frame; returns the reward and whether the game is over.
    pub(crate) fn act(&mut self, action: Action, rng: &mut RandomState) -> (i32, bool) {
        match self {
            Self::Asterix(g) => g.act(action, rng),
            Self::Breakout(g) => g.act(action),
            Self::Freeway(g) => g.act(action, rng),
            Self::Seaquest(g) => g.act(action, rng),
            Self::SpaceInvaders(g) => g.act(action),
        }
    }

    pub(crate) fn draw(&self, frame: &mut Frame<'_>) {
        match self {
            Self::Asterix(g) => g.draw(frame),
            Self::Breakout(g) => g.draw(frame),
            Self::Freeway(g) => g.draw(frame),
            Self::Seaquest(g) => g.draw(frame),
            Self::SpaceInvaders(g) => g.draw(frame),
        }
    }

    pub(crate) fn is_terminal(&self) -> bool {
        match self {
            Self::Asterix(g) => g.terminal,
            Self::Breakout(g) => g.terminal,
            Self::Freeway(g) => g.terminal,
            Self::Seaquest(g) => g.terminal,
            Self::SpaceInvaders(g) => g.terminal,
        }
    }

    pub(crate) fn difficulty_ramp(&self) -> Option<u32> {
        match self {
            Self::Asterix(g) => Some(g.ramp_index),
            Self::Seaquest(g) => Some(g.ramp_index),
            Self::SpaceInvaders(g) => Some(g.ramp_index),
            Self::Breakout(_) | Self::Freeway(_) => None,
        }
    }
}
