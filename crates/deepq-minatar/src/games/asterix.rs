//! Asterix: dodge enemies and collect gold that cross the field in eight lanes.
//!
//! The player moves in four directions (rows 1–8). Every `spawn_speed` frames an enemy or
//! (one time in three) a gold piece enters a free lane from a random side; everything moves
//! one cell every `move_speed + 1` frames. Gold gives +1; touching an enemy ends the game.
//! With ramping, every 101 frames the spawn interval shrinks (and every other time the
//! move interval too).
//!
//! Random draws per spawn: `rand()` (side), `rand()` (gold?), then, if a lane is free,
//! `randint(n_free)` (which lane; none when only one is free).

use serde::{Deserialize, Serialize};

use super::{Frame, on_field, step_x};
use crate::Action;
use crate::rng::RandomState;

const RAMP_INTERVAL: i32 = 100;
const INIT_SPAWN_SPEED: i32 = 10;
const INIT_MOVE_INTERVAL: i32 = 5;

const PLAYER: usize = 0;
const ENEMY: usize = 1;
const TRAIL: usize = 2;
const GOLD: usize = 3;

/// An enemy or gold piece in lane `y - 1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Entity {
    x: i32,
    y: i32,
    right: bool,
    gold: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Asterix {
    ramping: bool,
    player_x: i32,
    player_y: i32,
    /// One slot per lane (rows 1–8).
    entities: [Option<Entity>; 8],
    spawn_speed: i32,
    spawn_timer: i32,
    move_speed: i32,
    move_timer: i32,
    ramp_timer: i32,
    pub(crate) ramp_index: u32,
    pub(crate) terminal: bool,
}

impl Asterix {
    pub(crate) fn new(ramping: bool) -> Self {
        let mut game = Self {
            ramping,
            player_x: 0,
            player_y: 0,
            entities: [None; 8],
            spawn_speed: 0,
            spawn_timer: 0,
            move_speed: 0,
            move_timer: 0,
            ramp_timer: 0,
            ramp_index: 0,
            terminal: false,
        };
        game.reset();
        game
    }

    pub(crate) fn reset(&mut self) {
        *self = Self {
            ramping: self.ramping,
            player_x: 5,
            player_y: 5,
            entities: [None; 8],
            spawn_speed: INIT_SPAWN_SPEED,
            spawn_timer: INIT_SPAWN_SPEED,
            move_speed: INIT_MOVE_INTERVAL,
            move_timer: INIT_MOVE_INTERVAL,
            ramp_timer: RAMP_INTERVAL,
            ramp_index: 0,
            terminal: false,
        };
    }

    pub(crate) fn act(&mut self, action: Action, rng: &mut RandomState) -> (i32, bool) {
        if self.terminal {
            return (0, true);
        }
        let mut reward = 0;

        if self.spawn_timer == 0 {
            self.spawn_entity(rng);
            self.spawn_timer = self.spawn_speed;
        }

        match action {
            Action::Left => self.player_x = (self.player_x - 1).max(0),
            Action::Right => self.player_x = (self.player_x + 1).min(9),
            Action::Up => self.player_y = (self.player_y - 1).max(1),
            Action::Down => self.player_y = (self.player_y + 1).min(8),
            Action::Noop | Action::Fire => {}
        }

        // Contact before anything moves, then (on a move frame) after each entity moves.
        for lane in 0..self.entities.len() {
            reward += self.resolve_contact(lane);
        }
        if self.move_timer == 0 {
            self.move_timer = self.move_speed;
            for lane in 0..self.entities.len() {
                if let Some(e) = &mut self.entities[lane] {
                    e.x += step_x(e.right);
                    if !on_field(e.x) {
                        self.entities[lane] = None;
                    } else {
                        reward += self.resolve_contact(lane);
                    }
                }
            }
        }

        self.spawn_timer -= 1;
        self.move_timer -= 1;

        if self.ramping && (self.spawn_speed > 1 || self.move_speed > 1) {
            if self.ramp_timer >= 0 {
                self.ramp_timer -= 1;
            } else {
                if self.move_speed > 1 && self.ramp_index % 2 == 1 {
                    self.move_speed -= 1;
                }
                if self.spawn_speed > 1 {
                    self.spawn_speed -= 1;
                }
                self.ramp_index += 1;
                self.ramp_timer = RAMP_INTERVAL;
            }
        }
        (reward, self.terminal)
    }

    /// Gold on the player is picked up (+1); an enemy on the player ends the game.
    fn resolve_contact(&mut self, lane: usize) -> i32 {
        match self.entities[lane] {
            Some(e) if e.x == self.player_x && e.y == self.player_y => {
                if e.gold {
                    self.entities[lane] = None;
                    1
                } else {
                    self.terminal = true;
                    0
                }
            }
            _ => 0,
        }
    }

    fn spawn_entity(&mut self, rng: &mut RandomState) {
        let right = rng.rand() < 0.5;
        let gold = rng.rand() < 1.0 / 3.0;
        let free: Vec<usize> = (0..self.entities.len())
            .filter(|&i| self.entities[i].is_none())
            .collect();
        if free.is_empty() {
            return;
        }
        let lane = free[rng.randint(0, free.len() as i64) as usize];
        self.entities[lane] = Some(Entity {
            x: if right { 0 } else { 9 },
            y: lane as i32 + 1,
            right,
            gold,
        });
    }

    pub(crate) fn draw(&self, frame: &mut Frame<'_>) {
        frame.set(self.player_y, self.player_x, PLAYER);
        for e in self.entities.iter().flatten() {
            frame.set(e.y, e.x, if e.gold { GOLD } else { ENEMY });
            let back_x = e.x - step_x(e.right);
            if on_field(back_x) {
                frame.set(e.y, back_x, TRAIL);
            }
        }
    }
}
