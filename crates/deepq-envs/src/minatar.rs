//! MinAtar's games (Young & Tian 2019) as deepq environments, registered as the `minatar`
//! package registers them with Gymnasium: `MinAtar/<Game>-v0` with all six actions and
//! `MinAtar/<Game>-v1` with the game's minimal action set.
//!
//! The games themselves are the `deepq-minatar` crate, a port of `minatar` 1.0.15 that is
//! GPL-3.0-or-later like the original; this module, and with it the dependency, exists only
//! with the `minatar` cargo feature.
//!
//! `reset(Some(seed))` is the package's `seed(seed)` then `reset()`; `reset(None)` continues
//! the same random stream, as a training loop's later resets do. Seeds are taken modulo 2³²
//! (numpy's `RandomState` accepts no larger ones).

use deepq_minatar::{Environment, Game};
use serde::{Deserialize, Serialize};

use crate::env::{Env, Observation, RgbFrame, Step, check_action};
use crate::render::TextGrid;
use crate::space::{ElementType, Space};

/// The package's default probability that an action is replaced by the previous one.
pub const DEFAULT_STICKY_ACTION_PROB: f64 = 0.1;

/// Pixels per grid cell in [`Env::render_rgb`] frames.
const CELL: u32 = 16;

/// A MinAtar observation: the 10×10 grid of boolean channels, in (y, x, channel) order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoolImage(pub Vec<bool>);

impl Observation for BoolImage {
    fn write_flat(&self, out: &mut [f32]) {
        assert_eq!(out.len(), self.0.len(), "image observation width");
        for (o, &b) in out.iter_mut().zip(&self.0) {
            *o = f32::from(u8::from(b));
        }
    }
}

/// One MinAtar game with the action set of its id.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MinAtar {
    env: Environment,
    /// The package's actions that this env's actions stand for.
    actions: Vec<usize>,
}

impl MinAtar {
    /// `game` with all six actions (`-v0`) or its minimal action set (`-v1`).
    pub fn new(
        game: Game,
        minimal_action_set: bool,
        sticky_action_prob: f64,
        difficulty_ramping: bool,
    ) -> Self {
        let actions = if minimal_action_set {
            game.minimal_action_set().to_vec()
        } else {
            (0..6).collect()
        };
        MinAtar {
            env: Environment::new(game, sticky_action_prob, difficulty_ramping, 0),
            actions,
        }
    }

    /// The game.
    pub fn game(&self) -> Game {
        self.env.game()
    }
}

impl Env for MinAtar {
    type Obs = BoolImage;

    fn observation_space(&self) -> Space {
        Space::Image {
            shape: self.env.state_shape(),
            dtype: ElementType::Bool,
        }
    }

    fn action_space(&self) -> Space {
        Space::Discrete {
            n: self.actions.len(),
        }
    }

    fn reset(&mut self, seed: Option<u64>) -> BoolImage {
        if let Some(seed) = seed {
            self.env.seed(seed & u64::from(u32::MAX));
        }
        self.env.reset();
        self.observation()
    }

    fn step(&mut self, action: usize) -> Step<BoolImage> {
        check_action(self.game().display_name(), action, self.actions.len());
        let (reward, terminated) = self.env.act(self.actions[action]);
        Step {
            obs: self.observation(),
            reward,
            terminated,
            truncated: false,
        }
    }

    /// MinAtar's state is the game's objects, not a vector; its golden test replays episodes
    /// from the seed instead.
    fn reset_to_state(&mut self, _state: &[f64]) -> BoolImage {
        panic!("MinAtar games cannot be put into a state; replay them from a seed")
    }

    fn observation(&self) -> BoolImage {
        BoolImage(self.env.state())
    }

    /// The observation as 0/1 values.
    fn state(&self) -> Vec<f64> {
        self.env
            .state()
            .into_iter()
            .map(|b| f64::from(u8::from(b)))
            .collect()
    }

    /// 10 lines of 10 cells: `.` for an empty cell, else the letter of its first channel
    /// (`a` for channel 0, `b` for channel 1, …), then a line naming the channels.
    fn render_text(&self) -> String {
        let [h, w, c] = self.env.state_shape();
        let state = self.env.state();
        let mut grid = TextGrid::new(w, h);
        for y in 0..h {
            for x in 0..w {
                let cell = &state[(y * w + x) * c..(y * w + x + 1) * c];
                let ch = cell
                    .iter()
                    .position(|&b| b)
                    .map_or('.', |channel| char::from(b'a' + channel as u8));
                grid.put(x as i64, y as i64, ch);
            }
        }
        let legend: Vec<String> = self
            .game()
            .channel_names()
            .iter()
            .enumerate()
            .map(|(i, name)| format!("{}={name}", char::from(b'a' + i as u8)))
            .collect();
        format!("{}\n{}", grid.into_string(), legend.join(" "))
    }

    /// MinAtar's colours: black for an empty cell, else the cell's last active channel in
    /// seaborn's `cubehelix` palette of one colour per channel (what the package's
    /// `rgb_array` render draws), 16 pixels per cell.
    fn render_rgb(&self) -> RgbFrame {
        let [h, w, c] = self.env.state_shape();
        let state = self.env.state();
        let palette = cubehelix_palette(c);
        let (width, height) = (w as u32 * CELL, h as u32 * CELL);
        let mut data = Vec::with_capacity((width * height * 3) as usize);
        for py in 0..height {
            for px in 0..width {
                let (y, x) = ((py / CELL) as usize, (px / CELL) as usize);
                let cell = &state[(y * w + x) * c..(y * w + x + 1) * c];
                let colour = cell
                    .iter()
                    .rposition(|&b| b)
                    .map_or([0, 0, 0], |channel| palette[channel]);
                data.extend_from_slice(&colour);
            }
        }
        RgbFrame {
            width,
            height,
            data,
        }
    }
}

/// seaborn's `color_palette("cubehelix", n)`: matplotlib's 256-entry `cubehelix` colormap
/// (γ = 1, s = 0.5, r = −1.5, h = 1) sampled at `n` points evenly inside (0, 1).
fn cubehelix_palette(n: usize) -> Vec<[u8; 3]> {
    let channel = |p0: f64, p1: f64, x: f64| {
        let amplitude = x * (1.0 - x) / 2.0;
        let phi = 2.0 * std::f64::consts::PI * (0.5 / 3.0 - 1.5 * x);
        (x + amplitude * (p0 * phi.cos() + p1 * phi.sin())).clamp(0.0, 1.0)
    };
    (1..=n)
        .map(|k| {
            let t = k as f64 / (n + 1) as f64;
            // The colormap's lookup table: 256 entries at i/255, indexed by floor(t·256).
            let x = ((t * 256.0) as usize).min(255) as f64 / 255.0;
            let rgb = [
                channel(-0.14861, 1.78277, x),
                channel(-0.29227, -0.90649, x),
                channel(1.97294, 0.0, x),
            ];
            rgb.map(|v| (v * 255.0).round() as u8)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn palettes_are_distinct_and_not_black() {
        for n in [4, 6, 7, 10] {
            let palette = cubehelix_palette(n);
            assert_eq!(palette.len(), n);
            for (i, a) in palette.iter().enumerate() {
                assert_ne!(*a, [0, 0, 0]);
                assert!(palette[i + 1..].iter().all(|b| b != a), "{palette:?}");
            }
        }
    }

    #[test]
    fn actions_map_to_the_minimal_set_and_reset_reseeds() {
        let mut env = MinAtar::new(Game::Breakout, true, 0.1, true);
        assert_eq!(env.action_space(), Space::Discrete { n: 3 });
        let first = env.reset(Some(5));
        let trail: Vec<_> = (0..50).map(|t| env.step(t % 3)).collect();
        assert_eq!(env.reset(Some(5)), first);
        // A fresh env from the same seed replays the episode; a reseeded one need not, since
        // the package keeps the previous action (for sticky actions) across resets.
        let mut fresh = MinAtar::new(Game::Breakout, true, 0.1, true);
        assert_eq!(fresh.reset(Some(5)), first);
        let again: Vec<_> = (0..50).map(|t| fresh.step(t % 3)).collect();
        assert_eq!(trail, again);
        let frame = env.render_rgb();
        assert_eq!((frame.width, frame.height), (160, 160));
        assert_eq!(env.render_text().lines().count(), 11);
    }
}
