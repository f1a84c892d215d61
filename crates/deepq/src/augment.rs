//! Data augmentation of replayed image observations, as DrQ (Kostrikov et al. 2021) and
//! Dopamine's DrQ(ε) for Atari 100k augment them: every sampled observation and next
//! observation is shifted by up to `pad` pixels in each direction (padding by edge
//! replication, then a random crop of the original size) and its intensity scaled by
//! `1 + 0.05 · clip(N(0, 1), −2, 2)`. The draws come from the run's own augmentation stream,
//! independently for the observations and the next observations of a batch.

use deepq_nn::Scalar;
use rand::Rng;
use rand_distr::StandardNormal;
use rand_pcg::Pcg64;
use serde::{Deserialize, Serialize};

/// The pixels DrQ pads each side with.
pub const PAD: usize = 4;

/// Random shifts and intensity scaling of (height, width, channels) images.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RandomShift {
    shape: [usize; 3],
    rng: Pcg64,
    /// One image while it is shifted.
    #[serde(skip)]
    image: Vec<f64>,
}

impl RandomShift {
    /// Augments images of `shape` (height, width, channels), drawing from `rng`.
    pub fn new(shape: [usize; 3], rng: Pcg64) -> Self {
        RandomShift {
            shape,
            rng,
            image: Vec::new(),
        }
    }

    /// Whether this augments images of `shape`.
    pub fn fits(&self, shape: [usize; 3]) -> bool {
        self.shape == shape
    }

    /// Shifts and scales each image of `rows` (whole images, one after the other), each with
    /// its own draw: the vertical then the horizontal shift, each uniform in `0..=2·PAD`,
    /// then the intensity's normal draw.
    pub fn apply<T: Scalar>(&mut self, rows: &mut [T]) {
        let [height, width, channels] = self.shape;
        let dim = height * width * channels;
        debug_assert_eq!(rows.len() % dim, 0);
        for image in rows.chunks_exact_mut(dim) {
            let dy = self.rng.random_range(0..=2 * PAD);
            let dx = self.rng.random_range(0..=2 * PAD);
            let noise: f64 = self.rng.sample(StandardNormal);
            let scale = 1.0 + 0.05 * noise.clamp(-2.0, 2.0);
            self.image.clear();
            self.image.extend(image.iter().map(|x| x.to_f64()));
            // The padded image's pixel (y + dy, x + dx) is the original's pixel
            // (y + dy − PAD, x + dx − PAD), clamped to the edge.
            let source =
                |i: usize, shift: usize, size: usize| (i + shift).saturating_sub(PAD).min(size - 1);
            for y in 0..height {
                let sy = source(y, dy, height);
                for x in 0..width {
                    let sx = source(x, dx, width);
                    let from = (sy * width + sx) * channels;
                    let to = (y * width + x) * channels;
                    for c in 0..channels {
                        image[to + c] = T::from_f64(self.image[from + c] * scale);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// A 12×10 image of 2 channels whose values name their pixel and channel.
    fn image() -> Vec<f64> {
        (0..12 * 10 * 2).map(|v| v as f64).collect()
    }

    #[test]
    fn a_shift_moves_pixels_and_replicates_edges() {
        let shape = [12, 10, 2];
        let mut shift = RandomShift::new(shape, Pcg64::seed_from_u64(3));
        let mut draws = Pcg64::seed_from_u64(3);
        let original = image();
        let mut rows = [original.clone(), original.clone()].concat();
        shift.apply(&mut rows);
        for (k, shifted) in rows.chunks_exact(original.len()).enumerate() {
            let dy = draws.random_range(0..=2 * PAD);
            let dx = draws.random_range(0..=2 * PAD);
            let noise: f64 = draws.sample(StandardNormal);
            let scale = 1.0 + 0.05 * noise.clamp(-2.0, 2.0);
            assert!((0.9..=1.1).contains(&scale));
            for y in 0..12 {
                for x in 0..10 {
                    let sy = (y + dy).saturating_sub(PAD).min(11);
                    let sx = (x + dx).saturating_sub(PAD).min(9);
                    for c in 0..2 {
                        let want = original[(sy * 10 + sx) * 2 + c] * scale;
                        let got = shifted[(y * 10 + x) * 2 + c];
                        assert_eq!(got, want, "image {k} at ({y}, {x}, {c})");
                    }
                }
            }
        }
    }

    #[test]
    fn a_constant_image_stays_constant_so_edges_are_replicated_not_zero() {
        let mut shift = RandomShift::new([84, 84, 4], Pcg64::seed_from_u64(1));
        let mut rows = vec![0.5f32; 84 * 84 * 4 * 16];
        shift.apply(&mut rows);
        let mut scales = Vec::new();
        for image in rows.chunks_exact(84 * 84 * 4) {
            assert!(image.iter().all(|&v| v == image[0]));
            scales.push(f64::from(image[0]) / 0.5);
        }
        assert!(scales.iter().all(|s| (0.9..=1.1).contains(s)), "{scales:?}");
        assert!(
            scales.iter().any(|&s| s != scales[0]),
            "each image draws its own scale"
        );
    }
}
