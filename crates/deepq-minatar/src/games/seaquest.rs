//! Seaquest: a submarine shoots fish and enemy subs, rescues divers and surfaces for air.
//!
//! The sub (a front and a back cell) moves in four directions and fires sideways (+1 per
//! enemy shot). Enemy subs fire too; touching an enemy or an enemy bullet ends the game.
//! Oxygen falls by one per frame under water; surfacing with at least one diver refills it
//! (and costs a diver; with six on board, all are dropped off for a bonus of one point per
//! 20 oxygen left). Surfacing with none, or running out of oxygen, ends the game. With
//! ramping, each surfacing speeds up enemy spawning (and every other time their movement).
//!
//! Random draws: per enemy spawn `rand()` (side), `rand()` (sub or fish), `randint(1, 9)`
//! (row); per diver spawn `rand()` (side), `randint(1, 9)` (row). Enemies spawn first.
//!
//! The update loops follow the reference's Python list semantics exactly (see
//! [`super::objlist`]), quirks included (e.g. surfacing with six divers leaves the count
//! at -1, and a sub removed mid-loop still fires that frame).

use serde::{Deserialize, Serialize};

use super::objlist::{ObjList, RevCursor};
use super::{Frame, on_field, step_x};
use crate::Action;
use crate::rng::RandomState;

const MAX_OXYGEN: i32 = 200;
const INIT_SPAWN_SPEED: i32 = 20;
const DIVER_SPAWN_SPEED: i32 = 30;
const INIT_MOVE_INTERVAL: i32 = 5;
const SHOT_COOL_DOWN: i32 = 5;
const ENEMY_SHOT_INTERVAL: i32 = 10;
const DIVER_MOVE_INTERVAL: i32 = 5;

const SUB_FRONT: usize = 0;
const SUB_BACK: usize = 1;
const FRIENDLY_BULLET: usize = 2;
const TRAIL: usize = 3;
const ENEMY_BULLET: usize = 4;
const ENEMY_FISH: usize = 5;
const ENEMY_SUB: usize = 6;
const OXYGEN_GAUGE: usize = 7;
const DIVER_GAUGE: usize = 8;
const DIVER: usize = 9;

/// A bullet (the player's or an enemy sub's); moves one cell every frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Bullet {
    x: i32,
    y: i32,
    right: bool,
}

/// An enemy fish or a diver: moves when `move_timer` reaches 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Swimmer {
    x: i32,
    y: i32,
    right: bool,
    move_timer: i32,
}

/// An enemy sub: a swimmer that also fires when `shot_timer` reaches 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct EnemySub {
    x: i32,
    y: i32,
    right: bool,
    move_timer: i32,
    shot_timer: i32,
}

/// Whether something at `(x, y)` shares a cell with `(ox, oy)`.
fn same_cell(x: i32, y: i32, ox: i32, oy: i32) -> bool {
    x == ox && y == oy
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Seaquest {
    ramping: bool,
    oxygen: i32,
    /// Divers on board; -1 (or lower) after the reference's six-diver surfacing quirk.
    diver_count: i32,
    sub_x: i32,
    sub_y: i32,
    /// Facing right.
    sub_right: bool,
    f_bullets: ObjList<Bullet>,
    e_bullets: ObjList<Bullet>,
    e_fish: ObjList<Swimmer>,
    e_subs: ObjList<EnemySub>,
    divers: ObjList<Swimmer>,
    e_spawn_speed: i32,
    e_spawn_timer: i32,
    d_spawn_timer: i32,
    move_speed: i32,
    pub(crate) ramp_index: u32,
    shot_timer: i32,
    /// At the surface since the last refill.
    surface: bool,
    pub(crate) terminal: bool,
}

impl Seaquest {
    pub(crate) fn new(ramping: bool) -> Self {
        Self {
            ramping,
            oxygen: MAX_OXYGEN,
            diver_count: 0,
            sub_x: 5,
            sub_y: 0,
            sub_right: false,
            f_bullets: ObjList::default(),
            e_bullets: ObjList::default(),
            e_fish: ObjList::default(),
            e_subs: ObjList::default(),
            divers: ObjList::default(),
            e_spawn_speed: INIT_SPAWN_SPEED,
            e_spawn_timer: INIT_SPAWN_SPEED,
            d_spawn_timer: DIVER_SPAWN_SPEED,
            move_speed: INIT_MOVE_INTERVAL,
            ramp_index: 0,
            shot_timer: 0,
            surface: true,
            terminal: false,
        }
    }

    pub(crate) fn reset(&mut self) {
        *self = Self::new(self.ramping);
    }

    fn at_sub(&self, x: i32, y: i32) -> bool {
        same_cell(x, y, self.sub_x, self.sub_y)
    }

    pub(crate) fn act(&mut self, action: Action, rng: &mut RandomState) -> (i32, bool) {
        if self.terminal {
            return (0, true);
        }
        let mut reward = 0;

        if self.e_spawn_timer == 0 {
            self.spawn_enemy(rng);
            self.e_spawn_timer = self.e_spawn_speed;
        }
        if self.d_spawn_timer == 0 {
            self.spawn_diver(rng);
            self.d_spawn_timer = DIVER_SPAWN_SPEED;
        }

        match action {
            Action::Fire if self.shot_timer == 0 => {
                self.f_bullets.push(Bullet {
                    x: self.sub_x,
                    y: self.sub_y,
                    right: self.sub_right,
                });
                self.shot_timer = SHOT_COOL_DOWN;
            }
            Action::Left => {
                self.sub_x = (self.sub_x - 1).max(0);
                self.sub_right = false;
            }
            Action::Right => {
                self.sub_x = (self.sub_x + 1).min(9);
                self.sub_right = true;
            }
            Action::Up => self.sub_y = (self.sub_y - 1).max(0),
            Action::Down => self.sub_y = (self.sub_y + 1).min(8),
            Action::Noop | Action::Fire => {}
        }

        reward += self.update_friendly_bullets();
        self.update_divers();
        reward += self.update_enemy_subs();
        self.update_enemy_bullets();
        reward += self.update_fish();

        self.e_spawn_timer -= i32::from(self.e_spawn_timer > 0);
        self.d_spawn_timer -= i32::from(self.d_spawn_timer > 0);
        self.shot_timer -= i32::from(self.shot_timer > 0);
        if self.oxygen <= 0 {
            self.terminal = true;
        }
        if self.sub_y > 0 {
            self.oxygen -= 1;
            self.surface = false;
        } else if !self.surface {
            if self.diver_count == 0 {
                self.terminal = true;
            } else {
                reward += self.surface_sub();
            }
        }
        (reward, self.terminal)
    }

    fn update_friendly_bullets(&mut self) -> i32 {
        let mut reward = 0;
        let mut cursor = RevCursor::new(&self.f_bullets);
        while let Some((id, mut b)) = cursor.next(&self.f_bullets) {
            b.x += step_x(b.right);
            self.f_bullets.write(id, b);
            if !on_field(b.x) {
                self.f_bullets.remove_eq(&b);
            } else if let Some(fish) = self.e_fish.find(|f| same_cell(b.x, b.y, f.x, f.y)) {
                self.e_fish.remove_eq(&fish);
                self.f_bullets.remove_eq(&b);
                reward += 1;
            } else if let Some(sub) = self.e_subs.find(|s| same_cell(b.x, b.y, s.x, s.y)) {
                self.e_subs.remove_eq(&sub);
                self.f_bullets.remove_eq(&b);
                reward += 1;
            }
        }
        reward
    }

    fn update_divers(&mut self) {
        let mut cursor = RevCursor::new(&self.divers);
        while let Some((id, mut d)) = cursor.next(&self.divers) {
            if self.at_sub(d.x, d.y) && self.diver_count < 6 {
                self.divers.remove_eq(&d);
                self.diver_count += 1;
            } else if d.move_timer == 0 {
                d.move_timer = DIVER_MOVE_INTERVAL;
                d.x += step_x(d.right);
                self.divers.write(id, d);
                if !on_field(d.x) {
                    self.divers.remove_eq(&d);
                } else if self.at_sub(d.x, d.y) && self.diver_count < 6 {
                    self.divers.remove_eq(&d);
                    self.diver_count += 1;
                }
            } else {
                d.move_timer -= 1;
                self.divers.write(id, d);
            }
        }
    }

    fn update_enemy_subs(&mut self) -> i32 {
        let mut reward = 0;
        let mut cursor = RevCursor::new(&self.e_subs);
        while let Some((id, mut s)) = cursor.next(&self.e_subs) {
            if self.at_sub(s.x, s.y) {
                self.terminal = true;
            }
            if s.move_timer == 0 {
                s.move_timer = self.move_speed;
                s.x += step_x(s.right);
                self.e_subs.write(id, s);
                if !on_field(s.x) {
                    self.e_subs.remove_eq(&s);
                } else if self.at_sub(s.x, s.y) {
                    self.terminal = true;
                } else if let Some(b) = self.f_bullets.find(|b| same_cell(s.x, s.y, b.x, b.y)) {
                    self.e_subs.remove_eq(&s);
                    self.f_bullets.remove_eq(&b);
                    reward += 1;
                }
            } else {
                s.move_timer -= 1;
                self.e_subs.write(id, s);
            }
            // Runs even for a sub just removed above, as in the reference.
            if s.shot_timer == 0 {
                s.shot_timer = ENEMY_SHOT_INTERVAL;
                self.e_subs.write(id, s);
                self.e_bullets.push(Bullet {
                    x: s.x,
                    y: s.y,
                    right: s.right,
                });
            } else {
                s.shot_timer -= 1;
                self.e_subs.write(id, s);
            }
        }
        reward
    }

    fn update_enemy_bullets(&mut self) {
        let mut cursor = RevCursor::new(&self.e_bullets);
        while let Some((id, mut b)) = cursor.next(&self.e_bullets) {
            if self.at_sub(b.x, b.y) {
                self.terminal = true;
            }
            b.x += step_x(b.right);
            self.e_bullets.write(id, b);
            if !on_field(b.x) {
                self.e_bullets.remove_eq(&b);
            } else if self.at_sub(b.x, b.y) {
                self.terminal = true;
            }
        }
    }

    fn update_fish(&mut self) -> i32 {
        let mut reward = 0;
        let mut cursor = RevCursor::new(&self.e_fish);
        while let Some((id, mut f)) = cursor.next(&self.e_fish) {
            if self.at_sub(f.x, f.y) {
                self.terminal = true;
            }
            if f.move_timer == 0 {
                f.move_timer = self.move_speed;
                f.x += step_x(f.right);
                self.e_fish.write(id, f);
                if !on_field(f.x) {
                    self.e_fish.remove_eq(&f);
                } else if self.at_sub(f.x, f.y) {
                    self.terminal = true;
                } else if let Some(b) = self.f_bullets.find(|b| same_cell(f.x, f.y, b.x, b.y)) {
                    self.e_fish.remove_eq(&f);
                    self.f_bullets.remove_eq(&b);
                    reward += 1;
                }
            } else {
                f.move_timer -= 1;
                self.e_fish.write(id, f);
            }
        }
        reward
    }

    /// Reaching the surface with divers on board: refill oxygen, drop a diver (or all six for
    /// a bonus), and ramp the difficulty.
    fn surface_sub(&mut self) -> i32 {
        self.surface = true;
        let reward = if self.diver_count == 6 {
            self.diver_count = 0;
            (self.oxygen * 10).div_euclid(MAX_OXYGEN)
        } else {
            0
        };
        self.oxygen = MAX_OXYGEN;
        self.diver_count -= 1;
        if self.ramping && (self.e_spawn_speed > 1 || self.move_speed > 2) {
            if self.move_speed > 2 && self.ramp_index % 2 == 1 {
                self.move_speed -= 1;
            }
            if self.e_spawn_speed > 1 {
                self.e_spawn_speed -= 1;
            }
            self.ramp_index += 1;
        }
        reward
    }

    /// An enemy fish or sub in a random row and direction, unless that row holds an enemy
    /// heading the other way.
    fn spawn_enemy(&mut self, rng: &mut RandomState) {
        let right = rng.rand() < 0.5;
        let is_sub = rng.rand() < 1.0 / 3.0;
        let x = if right { 0 } else { 9 };
        let y = rng.randint(1, 9) as i32;

        let clash = self.e_subs.iter().any(|s| s.y == y && s.right != right)
            || self.e_fish.iter().any(|f| f.y == y && f.right != right);
        if clash {
            return;
        }
        if is_sub {
            self.e_subs.push(EnemySub {
                x,
                y,
                right,
                move_timer: self.move_speed,
                shot_timer: ENEMY_SHOT_INTERVAL,
            });
        } else {
            self.e_fish.push(Swimmer {
                x,
                y,
                right,
                move_timer: self.move_speed,
            });
        }
    }

    fn spawn_diver(&mut self, rng: &mut RandomState) {
        let right = rng.rand() < 0.5;
        let x = if right { 0 } else { 9 };
        let y = rng.randint(1, 9) as i32;
        self.divers.push(Swimmer {
            x,
            y,
            right,
            move_timer: DIVER_MOVE_INTERVAL,
        });
    }

    pub(crate) fn draw(&self, frame: &mut Frame<'_>) {
        frame.set(self.sub_y, self.sub_x, SUB_FRONT);
        frame.set(self.sub_y, self.sub_x - step_x(self.sub_right), SUB_BACK);
        for x in 0..self.oxygen.max(0) * 10 / MAX_OXYGEN {
            frame.set(9, x, OXYGEN_GAUGE);
        }
        // numpy slice 9 - count .. 9 (empty once the count is negative).
        for x in (9 - self.diver_count).max(0)..9 {
            frame.set(9, x, DIVER_GAUGE);
        }
        for b in self.f_bullets.iter() {
            frame.set(b.y, b.x, FRIENDLY_BULLET);
        }
        for b in self.e_bullets.iter() {
            frame.set(b.y, b.x, ENEMY_BULLET);
        }
        let mut with_trail = |x: i32, y: i32, right: bool, channel: usize| {
            frame.set(y, x, channel);
            let back_x = x - step_x(right);
            if on_field(back_x) {
                frame.set(y, back_x, TRAIL);
            }
        };
        for f in self.e_fish.iter() {
            with_trail(f.x, f.y, f.right, ENEMY_FISH);
        }
        for s in self.e_subs.iter() {
            with_trail(s.x, s.y, s.right, ENEMY_SUB);
        }
        for d in self.divers.iter() {
            with_trail(d.x, d.y, d.right, DIVER);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(x: i32, y: i32, right: bool, move_timer: i32, shot_timer: i32) -> EnemySub {
        EnemySub {
            x,
            y,
            right,
            move_timer,
            shot_timer,
        }
    }

    fn swimmer(x: i32, y: i32, right: bool, move_timer: i32) -> Swimmer {
        Swimmer {
            x,
            y,
            right,
            move_timer,
        }
    }

    /// A sub leaving the field whose new value equals an earlier (ghost) sub: the reference's
    /// `remove` drops the ghost, the leaving sub is visited twice and still fires, and the
    /// ghost at x = -1 is drawn in column 9. Expected values from minatar 1.0.15 with the same
    /// state injected.
    #[test]
    fn python_list_quirks_match_the_reference() {
        let mut g = Seaquest::new(true);
        g.e_spawn_timer = 5;
        g.d_spawn_timer = 5;
        for s in [
            sub(-1, 4, false, 5, 0),
            sub(2, 6, false, 1, 4),
            sub(0, 4, false, 0, 0),
        ] {
            g.e_subs.push(s);
        }
        g.e_fish.push(swimmer(3, 2, true, 0));
        g.e_fish.push(swimmer(7, 7, false, 2));
        g.divers.push(swimmer(4, 1, true, 0));
        g.sub_y = 1;

        let mut rng = RandomState::new(0);
        assert_eq!(g.act(Action::Noop, &mut rng), (0, false));
        let subs: Vec<_> = g.e_subs.iter().copied().collect();
        assert_eq!(subs, [sub(2, 6, false, 0, 3), sub(-1, 4, false, 4, 9)]);
        let fish: Vec<_> = g.e_fish.iter().copied().collect();
        assert_eq!(fish, [swimmer(4, 2, true, 5), swimmer(7, 7, false, 1)]);
        assert_eq!(g.e_bullets.iter().count(), 0);
        assert_eq!(g.divers.iter().count(), 0);
        assert_eq!((g.diver_count, g.oxygen), (1, 199));

        let mut cells = vec![false; 1000];
        g.draw(&mut Frame::new(&mut cells, 10));
        let hex: String = cells
            .chunks(8)
            .map(|c| {
                let byte = c
                    .iter()
                    .enumerate()
                    .fold(0u8, |acc, (i, &b)| acc | (u8::from(b) << (7 - i)));
                format!("{byte:02x}")
            })
            .collect();
        assert_eq!(
            hex,
            "00000000000000000000000000000000000002004000000000000000004004000000000000000000\
             00000000000000000000100000000000000000000000800000000000000000000000000000002040\
             00000000000000000000000000000000010100000000000000000000000000000010040100401004\
             0100401800"
        );
    }
}
