//! Breakout: bounce a ball off a paddle to break three rows of bricks.
//!
//! The ball moves diagonally one cell per frame and reflects off walls and bricks (+1 per
//! brick). Hitting the paddle sends it back up, to the left or right depending on which
//! side it struck. When every brick is gone, three new rows appear as the ball next reaches
//! the bottom. The game ends when the ball reaches the bottom row past the paddle.
//!
//! Random draws: `randint(2)` on reset (the ball starts top-left heading down-right, or
//! top-right heading down-left).

use serde::{Deserialize, Serialize};

use super::Frame;
use crate::Action;
use crate::rng::RandomState;

const PADDLE: usize = 0;
const BALL: usize = 1;
const TRAIL: usize = 2;
const BRICK: usize = 3;

/// Ball directions: 0 up-left, 1 up-right, 2 down-right, 3 down-left.
const DX: [i32; 4] = [-1, 1, 1, -1];
const DY: [i32; 4] = [-1, -1, 1, 1];
/// Direction after a horizontal reflection (off a side wall).
const FLIP_X: [usize; 4] = [1, 0, 3, 2];
/// Direction after a vertical reflection (off the top, a brick or the paddle's near side).
const FLIP_Y: [usize; 4] = [3, 2, 1, 0];
/// Direction after hitting the paddle's far side.
const FLIP_XY: [usize; 4] = [2, 3, 0, 1];

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Breakout {
    ball_x: i32,
    ball_y: i32,
    ball_dir: usize,
    /// Paddle column (row 9).
    pos: i32,
    bricks: [[bool; 10]; 10],
    /// Whether the ball struck a brick last frame (it then passes through the next one).
    strike: bool,
    last_x: i32,
    last_y: i32,
    pub(crate) terminal: bool,
}

impl Breakout {
    pub(crate) fn new(rng: &mut RandomState) -> Self {
        let mut game = Self {
            ball_x: 0,
            ball_y: 0,
            ball_dir: 0,
            pos: 0,
            bricks: [[false; 10]; 10],
            strike: false,
            last_x: 0,
            last_y: 0,
            terminal: false,
        };
        game.reset(rng);
        game
    }

    pub(crate) fn reset(&mut self, rng: &mut RandomState) {
        let (ball_x, ball_dir) = if rng.randint(0, 2) == 0 {
            (0, 2)
        } else {
            (9, 3)
        };
        let mut bricks = [[false; 10]; 10];
        bricks[1..4].fill([true; 10]);
        *self = Self {
            ball_x,
            ball_y: 3,
            ball_dir,
            pos: 4,
            bricks,
            strike: false,
            last_x: ball_x,
            last_y: 3,
            terminal: false,
        };
    }

    pub(crate) fn act(&mut self, action: Action) -> (i32, bool) {
        if self.terminal {
            return (0, true);
        }
        let mut reward = 0;

        match action {
            Action::Left => self.pos = (self.pos - 1).max(0),
            Action::Right => self.pos = (self.pos + 1).min(9),
            _ => {}
        }

        self.last_x = self.ball_x;
        self.last_y = self.ball_y;
        let mut new_x = self.ball_x + DX[self.ball_dir];
        let mut new_y = self.ball_y + DY[self.ball_dir];

        let mut strike_toggle = false;
        if !(0..=9).contains(&new_x) {
            new_x = new_x.clamp(0, 9);
            self.ball_dir = FLIP_X[self.ball_dir];
        }
        if new_y < 0 {
            new_y = 0;
            self.ball_dir = FLIP_Y[self.ball_dir];
        } else if self.bricks[new_y as usize][new_x as usize] {
            strike_toggle = true;
            if !self.strike {
                reward += 1;
                self.strike = true;
                self.bricks[new_y as usize][new_x as usize] = false;
                new_y = self.last_y;
                self.ball_dir = FLIP_Y[self.ball_dir];
            }
        } else if new_y == 9 {
            if self.bricks.iter().flatten().all(|&b| !b) {
                self.bricks[1..4].fill([true; 10]);
            }
            if self.ball_x == self.pos {
                self.ball_dir = FLIP_Y[self.ball_dir];
                new_y = self.last_y;
            } else if new_x == self.pos {
                self.ball_dir = FLIP_XY[self.ball_dir];
                new_y = self.last_y;
            } else {
                self.terminal = true;
            }
        }

        if !strike_toggle {
            self.strike = false;
        }
        self.ball_x = new_x;
        self.ball_y = new_y;
        (reward, self.terminal)
    }

    pub(crate) fn draw(&self, frame: &mut Frame<'_>) {
        frame.set(self.ball_y, self.ball_x, BALL);
        frame.set(9, self.pos, PADDLE);
        frame.set(self.last_y, self.last_x, TRAIL);
        frame.set_map(&self.bricks, BRICK);
    }
}
