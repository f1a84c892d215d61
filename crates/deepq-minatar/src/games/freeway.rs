//! Freeway: walk a chicken up across eight lanes of traffic.
//!
//! The chicken (column 4) may move up or down once every four frames. Reaching the top gives
//! +1, sends it back to the bottom and re-draws every car's speed and direction. A car moves
//! one cell every `|speed|` + 1 frames and wraps around the edges; being hit sends the
//! chicken back to the bottom. The game ends after 2,500 frames.
//!
//! Random draws (on reset and on each crossing): `randint(1, 6, 8)` (speeds), then
//! `rand(8)` (directions: the sign of `u - 0.5`).

use serde::{Deserialize, Serialize};

use super::Frame;
use crate::Action;
use crate::rng::RandomState;

const PLAYER_SPEED: i32 = 3;
const TIME_LIMIT: i32 = 2500;

const CHICKEN: usize = 0;
const CAR: usize = 1;
/// Channel of the trail of a car with `|speed| == 1`; speeds 2–5 follow.
const SPEED1: usize = 2;

/// A car in lane `y`; it moves when `timer` reaches 0, then waits `|speed|` frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Car {
    x: i32,
    y: i32,
    timer: i32,
    /// Signed: positive heads right. 0 only if a direction draw was exactly 0.5.
    speed: i32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Freeway {
    cars: [Car; 8],
    /// Chicken row (column 4).
    pos: i32,
    move_timer: i32,
    terminate_timer: i32,
    pub(crate) terminal: bool,
}

/// Eight signed car speeds: `randint(1, 6, 8) * sign(rand(8) - 0.5)`.
fn draw_speeds(rng: &mut RandomState) -> [i32; 8] {
    let magnitudes: [i64; 8] = std::array::from_fn(|_| rng.randint(1, 6));
    magnitudes.map(|m| {
        let u = rng.rand();
        let sign = if u > 0.5 {
            1
        } else if u < 0.5 {
            -1
        } else {
            0
        };
        m as i32 * sign
    })
}

impl Freeway {
    pub(crate) fn new(rng: &mut RandomState) -> Self {
        let mut game = Self {
            cars: [Car {
                x: 0,
                y: 0,
                timer: 0,
                speed: 0,
            }; 8],
            pos: 0,
            move_timer: 0,
            terminate_timer: 0,
            terminal: false,
        };
        game.reset(rng);
        game
    }

    pub(crate) fn reset(&mut self, rng: &mut RandomState) {
        let speeds = draw_speeds(rng);
        *self = Self {
            cars: std::array::from_fn(|i| Car {
                x: 0,
                y: i as i32 + 1,
                timer: speeds[i].abs(),
                speed: speeds[i],
            }),
            pos: 9,
            move_timer: PLAYER_SPEED,
            terminate_timer: TIME_LIMIT,
            terminal: false,
        };
    }

    /// Hit by a car: back to the bottom.
    fn check_hit(&mut self, car: Car) {
        if car.x == 4 && car.y == self.pos {
            self.pos = 9;
        }
    }

    pub(crate) fn act(&mut self, action: Action, rng: &mut RandomState) -> (i32, bool) {
        if self.terminal {
            return (0, true);
        }
        let mut reward = 0;

        match action {
            Action::Up if self.move_timer == 0 => {
                self.move_timer = PLAYER_SPEED;
                self.pos = (self.pos - 1).max(0);
            }
            Action::Down if self.move_timer == 0 => {
                self.move_timer = PLAYER_SPEED;
                self.pos = (self.pos + 1).min(9);
            }
            _ => {}
        }

        if self.pos == 0 {
            reward += 1;
            let speeds = draw_speeds(rng);
            for (car, speed) in self.cars.iter_mut().zip(speeds) {
                car.timer = speed.abs();
                car.speed = speed;
            }
            self.pos = 9;
        }

        for i in 0..self.cars.len() {
            self.check_hit(self.cars[i]);
            let car = &mut self.cars[i];
            if car.timer == 0 {
                car.timer = car.speed.abs();
                car.x += if car.speed > 0 { 1 } else { -1 };
                if car.x < 0 {
                    car.x = 9;
                } else if car.x > 9 {
                    car.x = 0;
                }
                self.check_hit(self.cars[i]);
            } else {
                car.timer -= 1;
            }
        }

        if self.move_timer > 0 {
            self.move_timer -= 1;
        }
        self.terminate_timer -= 1;
        if self.terminate_timer < 0 {
            self.terminal = true;
        }
        (reward, self.terminal)
    }

    pub(crate) fn draw(&self, frame: &mut Frame<'_>) {
        frame.set(self.pos, 4, CHICKEN);
        // The reference keeps the previous car's trail channel for a (practically impossible)
        // speed-0 car, and raises an error if the first car has one; here that car has none.
        let mut trail = None;
        for car in &self.cars {
            frame.set(car.y, car.x, CAR);
            let back_x = (car.x + if car.speed > 0 { -1 } else { 1 }).rem_euclid(10);
            if (1..=5).contains(&car.speed.abs()) {
                trail = Some(SPEED1 + car.speed.unsigned_abs() as usize - 1);
            }
            if let Some(channel) = trail {
                frame.set(car.y, back_x, channel);
            }
        }
    }
}
