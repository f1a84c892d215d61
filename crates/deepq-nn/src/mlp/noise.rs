//! Noisy layers (Fortunato et al. 2018): factorised Gaussian noise, the effective weights
//! built from it, and the σ gradients.

use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

use super::{Layer, Mlp};
use crate::kernels;
use crate::scalar::Scalar;

/// The current noise of a noisy network: the factors `f(ε)` and the effective weights built
/// from them. Not part of the saved state: a network starts (and is loaded) with noise off.
#[derive(Clone, Debug, Default)]
pub(super) struct Noise<T> {
    pub(super) active: bool,
    pub(super) eff: Vec<T>,
    pub(super) factors: Vec<T>,
}

impl<T: Scalar> Mlp<T> {
    /// Draws fresh factorised noise for every noisy layer from `rng` and builds the effective
    /// weights the following passes use. Per layer, in order: `n_in` standard normals for the
    /// input factors (twice for a dueling output layer: value stream, then advantage stream),
    /// then `n_out` for the output factors, each passed through `f(x) = sgn(x)·√|x|`. Does
    /// nothing (and draws nothing) for a network without noisy layers. Allocation-free.
    pub fn sample_noise(&mut self, rng: &mut impl Rng) {
        if !self.arch.noisy {
            return;
        }
        for v in &mut self.noise.factors {
            let x: f64 = StandardNormal.sample(rng);
            *v = T::from_f64(x.signum() * x.abs().sqrt());
        }
        let Noise { eff, factors, .. } = &mut self.noise;
        for layer in &self.layout.layers {
            let Some(n) = layer.noisy else { continue };
            let (n_in, n_out) = (layer.n_in, layer.n_out);
            let (eff_w, eff_b) =
                eff[n.eff..n.eff + n_in * n_out + n_out].split_at_mut(n_in * n_out);
            for i in 0..n_out {
                let group = usize::from(i >= n.split);
                let eps_in = &factors[n.eps_in + group * n_in..][..n_in];
                let scale = factors[n.eps_out + i];
                let row = i * n_in..(i + 1) * n_in;
                kernels::noisy_row(
                    &self.params[layer.weight..][row.clone()],
                    &self.params[n.weight_sigma..][row.clone()],
                    scale,
                    eps_in,
                    &mut eff_w[row],
                );
                eff_b[i] = self.params[layer.bias + i] + self.params[n.bias_sigma + i] * scale;
            }
        }
        self.noise.active = true;
    }

    /// Switches the noise off: the following passes use the mean weights μ (greedy
    /// evaluation of a noisy network).
    pub fn remove_noise(&mut self) {
        self.noise.active = false;
    }

    /// Whether the passes currently use noisy effective weights.
    pub fn noise_active(&self) -> bool {
        self.noise.active
    }

    /// The noise factors `f(ε)` in use, in the order [`sample_noise`](Self::sample_noise)
    /// draws them (per noisy layer: the input factors of each group, then the output
    /// factors); `None` with noise off.
    pub fn noise_factors(&self) -> Option<&[T]> {
        self.noise.active.then_some(&self.noise.factors[..])
    }

    /// The weight and bias a pass uses: the effective ones of a noisy layer with noise on,
    /// else the (mean) parameters.
    #[inline]
    pub(super) fn weights(&self, layer: &Layer) -> (&[T], &[T]) {
        match layer.noisy {
            Some(n) if self.noise.active => {
                let size = layer.n_in * layer.n_out;
                let (w, b) = self.noise.eff[n.eff..n.eff + size + layer.n_out].split_at(size);
                (w, b)
            }
            _ => (
                &self.params[layer.weight_range()],
                &self.params[layer.bias_range()],
            ),
        }
    }

    /// d loss / d σ from d loss / d μ: the effective weight is `μ + σ·ε`, so the σ gradient is
    /// the μ gradient times the noise (zero with noise off).
    pub(super) fn sigma_gradients(&self, grads: &mut [T]) {
        for layer in &self.layout.layers {
            let Some(n) = layer.noisy else { continue };
            let (n_in, n_out) = (layer.n_in, layer.n_out);
            let (mu, sigma) = grads[layer.weight..n.bias_sigma + n_out]
                .split_at_mut(n.weight_sigma - layer.weight);
            if !self.noise.active {
                sigma.fill(T::ZERO);
                continue;
            }
            let f = &self.noise.factors;
            for i in 0..n_out {
                let group = usize::from(i >= n.split);
                let eps_in = &f[n.eps_in + group * n_in..][..n_in];
                let scale = f[n.eps_out + i];
                let row = i * n_in..(i + 1) * n_in;
                kernels::noise_scaled_row(&mu[row.clone()], scale, eps_in, &mut sigma[row]);
            }
            let bias_mu = &mu[n_in * n_out..n_in * n_out + n_out];
            let bias_sigma = &mut sigma[n_in * n_out..n_in * n_out + n_out];
            for ((s, &g), &e) in bias_sigma
                .iter_mut()
                .zip(bias_mu)
                .zip(&f[n.eps_out..n.eps_out + n_out])
            {
                *s = g * e;
            }
        }
    }
}
