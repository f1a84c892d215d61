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
            // (y + dy − PAD, x + dx − PAD), clamped to the edge. So in each row the columns
            // `first..end` read a contiguous run of the source row, those before it its first
            // pixel and those after it its last.
            let row = width * channels;
            let first = PAD.saturating_sub(dx).min(width);
            let end = (width + PAD).saturating_sub(dx).clamp(first, width);
            // Where the run starts (clamped: an empty run may start past the row's end).
            let source_start = ((first + dx).saturating_sub(PAD) * channels).min(row);
            for (y, out) in image.chunks_exact_mut(row).enumerate() {
                let sy = (y + dy).saturating_sub(PAD).min(height - 1);
                let source = &self.image[sy * row..(sy + 1) * row];
                let (before, rest) = out.split_at_mut(first * channels);
                let (middle, after) = rest.split_at_mut((end - first) * channels);
                for pixel in before.chunks_exact_mut(channels) {
                    scale_into(pixel, &source[..channels], scale);
                }
                scale_into(middle, &source[source_start..], scale);
                for pixel in after.chunks_exact_mut(channels) {
                    scale_into(pixel, &source[row - channels..], scale);
                }
            }
        }
    }
}

/// `out[i] = source[i] · scale`, rounded once to `T`, for each `out[i]`.
fn scale_into<T: Scalar>(out: &mut [T], source: &[f64], scale: f64) {
    for (o, &v) in out.iter_mut().zip(source) {
        *o = T::from_f64(v * scale);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// Shifts `images` copies of an image of `shape` whose values name their pixel and
    /// channel, and checks every value against the definition, pixel by pixel.
    fn check_shifts(shape: [usize; 3], images: usize) {
        let [height, width, channels] = shape;
        let original: Vec<f64> = (0..height * width * channels).map(|v| v as f64).collect();
        let mut shift = RandomShift::new(shape, Pcg64::seed_from_u64(3));
        let mut draws = Pcg64::seed_from_u64(3);
        let mut rows = original.repeat(images);
        shift.apply(&mut rows);
        let mut shifts_seen = std::collections::HashSet::new();
        for (k, shifted) in rows.chunks_exact(original.len()).enumerate() {
            let dy = draws.random_range(0..=2 * PAD);
            let dx = draws.random_range(0..=2 * PAD);
            shifts_seen.insert(dx);
            let noise: f64 = draws.sample(StandardNormal);
            let scale = 1.0 + 0.05 * noise.clamp(-2.0, 2.0);
            assert!((0.9..=1.1).contains(&scale));
            for y in 0..height {
                for x in 0..width {
                    let sy = (y + dy).saturating_sub(PAD).min(height - 1);
                    let sx = (x + dx).saturating_sub(PAD).min(width - 1);
                    for c in 0..channels {
                        let want = original[(sy * width + sx) * channels + c] * scale;
                        let got = shifted[(y * width + x) * channels + c];
                        assert_eq!(got, want, "image {k} at ({y}, {x}, {c})");
                    }
                }
            }
        }
        assert_eq!(
            shifts_seen.len(),
            2 * PAD + 1,
            "every horizontal shift drawn"
        );
    }

    #[test]
    fn a_shift_moves_pixels_and_replicates_edges() {
        check_shifts([12, 10, 2], 80);
    }

    #[test]
    fn images_narrower_than_the_padding_shift_too() {
        check_shifts([3, 2, 3], 80);
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
