//! Space Invaders: a cannon on the bottom row shoots at a descending block of aliens.
//!
//! The aliens march sideways, stepping down and turning at the edges, faster as fewer remain;
//! the alien nearest the cannon fires every ten frames. +1 per alien shot; a cleared wave is
//! replaced (with ramping, by a faster one). The game ends when an alien or alien bullet
//! reaches the cannon. No random draws.

use serde::{Deserialize, Serialize};

use super::Frame;
use crate::Action;

const SHOT_COOL_DOWN: i32 = 5;
const ENEMY_MOVE_INTERVAL: i32 = 12;
const ENEMY_SHOT_INTERVAL: i32 = 10;

const CANNON: usize = 0;
const ALIEN: usize = 1;
const ALIEN_LEFT: usize = 2;
const ALIEN_RIGHT: usize = 3;
const FRIENDLY_BULLET: usize = 4;
const ENEMY_BULLET: usize = 5;

/// A `[y][x]` occupancy map.
type Map = [[bool; 10]; 10];

/// The starting wave: rows 0–3, columns 2–7.
fn wave() -> Map {
    let mut map = [[false; 10]; 10];
    for row in &mut map[0..4] {
        row[2..8].fill(true);
    }
    map
}

fn count(map: &Map) -> i32 {
    map.iter().flatten().filter(|&&b| b).count() as i32
}

fn column_occupied(map: &Map, x: usize) -> bool {
    map.iter().any(|row| row[x])
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SpaceInvaders {
    ramping: bool,
    /// Cannon column (row 9).
    pos: i32,
    f_bullets: Map,
    e_bullets: Map,
    aliens: Map,
    /// -1 left, +1 right.
    alien_dir: i32,
    enemy_move_interval: i32,
    alien_move_timer: i32,
    alien_shot_timer: i32,
    pub(crate) ramp_index: u32,
    shot_timer: i32,
    pub(crate) terminal: bool,
}

impl SpaceInvaders {
    pub(crate) fn new(ramping: bool) -> Self {
        Self {
            ramping,
            pos: 5,
            f_bullets: [[false; 10]; 10],
            e_bullets: [[false; 10]; 10],
            aliens: wave(),
            alien_dir: -1,
            enemy_move_interval: ENEMY_MOVE_INTERVAL,
            alien_move_timer: ENEMY_MOVE_INTERVAL,
            alien_shot_timer: ENEMY_SHOT_INTERVAL,
            ramp_index: 0,
            shot_timer: 0,
            terminal: false,
        }
    }

    pub(crate) fn reset(&mut self) {
        *self = Self::new(self.ramping);
    }

    fn cannon_hit(&self, map: &Map) -> bool {
        map[9][self.pos as usize]
    }

    pub(crate) fn act(&mut self, action: Action) -> (i32, bool) {
        if self.terminal {
            return (0, true);
        }
        let mut reward = 0;

        match action {
            Action::Fire if self.shot_timer == 0 => {
                self.f_bullets[9][self.pos as usize] = true;
                self.shot_timer = SHOT_COOL_DOWN;
            }
            Action::Left => self.pos = (self.pos - 1).max(0),
            Action::Right => self.pos = (self.pos + 1).min(9),
            _ => {}
        }

        // Friendly bullets rise one row (leaving the top), enemy bullets fall one row.
        self.f_bullets.rotate_left(1);
        self.f_bullets[9] = [false; 10];
        self.e_bullets.rotate_right(1);
        self.e_bullets[0] = [false; 10];
        if self.cannon_hit(&self.e_bullets) {
            self.terminal = true;
        }

        if self.cannon_hit(&self.aliens) {
            self.terminal = true;
        }
        if self.alien_move_timer == 0 {
            self.alien_move_timer = count(&self.aliens).min(self.enemy_move_interval);
            let at_edge = (self.alien_dir < 0 && column_occupied(&self.aliens, 0))
                || (self.alien_dir > 0 && column_occupied(&self.aliens, 9));
            if at_edge {
                self.alien_dir = -self.alien_dir;
                if self.aliens[9].iter().any(|&b| b) {
                    self.terminal = true;
                }
                // np.roll down one row: the bottom row wraps to the top.
                self.aliens.rotate_right(1);
            } else {
                for row in &mut self.aliens {
                    if self.alien_dir > 0 {
                        row.rotate_right(1);
                    } else {
                        row.rotate_left(1);
                    }
                }
            }
            if self.cannon_hit(&self.aliens) {
                self.terminal = true;
            }
        }
        if self.alien_shot_timer == 0 {
            self.alien_shot_timer = ENEMY_SHOT_INTERVAL;
            if let Some((y, x)) = self.nearest_alien() {
                self.e_bullets[y][x] = true;
            }
        }

        for (alien_row, bullet_row) in self.aliens.iter_mut().zip(&mut self.f_bullets) {
            for (alien, bullet) in alien_row.iter_mut().zip(bullet_row) {
                if *alien && *bullet {
                    reward += 1;
                    *alien = false;
                    *bullet = false;
                }
            }
        }

        self.shot_timer -= i32::from(self.shot_timer > 0);
        self.alien_move_timer -= 1;
        self.alien_shot_timer -= 1;
        if count(&self.aliens) == 0 {
            if self.enemy_move_interval > 6 && self.ramping {
                self.enemy_move_interval -= 1;
                self.ramp_index += 1;
            }
            self.aliens = wave();
        }
        (reward, self.terminal)
    }

    /// The lowest alien in the occupied column nearest the cannon (ties: the left column).
    fn nearest_alien(&self) -> Option<(usize, usize)> {
        let mut order: Vec<usize> = (0..10).collect();
        order.sort_by_key(|&x| (x as i32 - self.pos).abs());
        order
            .into_iter()
            .find_map(|x| (0..10).rev().find(|&y| self.aliens[y][x]).map(|y| (y, x)))
    }

    pub(crate) fn draw(&self, frame: &mut Frame<'_>) {
        frame.set(9, self.pos, CANNON);
        frame.set_map(&self.aliens, ALIEN);
        let heading = if self.alien_dir < 0 {
            ALIEN_LEFT
        } else {
            ALIEN_RIGHT
        };
        frame.set_map(&self.aliens, heading);
        frame.set_map(&self.f_bullets, FRIENDLY_BULLET);
        frame.set_map(&self.e_bullets, ENEMY_BULLET);
    }
}
