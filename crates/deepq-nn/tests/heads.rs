//! Dueling, noisy and distributional (C51) networks, and LayerNorm torsos under every head:
//! forward passes against a naive f64 reference, gradients against central finite
//! differences (f64), the categorical projection against a hand-computed case, and
//! safetensors round trips.

mod common;

use common::{rng, uniform};
use deepq_nn::{
    Arch, Loss, Mlp, NnError, Workspace, categorical_loss, categorical_projection,
    from_safetensors, q_loss, safetensors_metadata, softmax_rows, to_safetensors,
};
use rand::Rng;

const H: f64 = 1e-6;
const TOL: f64 = 1e-7;
const KINK_MARGIN: f64 = 1e-3;

/// Textbook forward pass in f64 for any head: effective noisy weights rebuilt from the
/// network's noise factors, `y = x Wᵀ + b` with ReLU between layers (after a LayerNorm,
/// `(z − mean)/√(var + ε)·γ + β` with the biased variance, if the network has them), then the
/// dueling combination. Returns the hidden pre-activations (what ReLU sees) and the output
/// rows.
fn naive_forward(mlp: &Mlp<f64>, input: &[f64], batch: usize) -> (Vec<f64>, Vec<f64>) {
    let arch = *mlp.arch();
    let sizes = mlp.sizes();
    let n_actions = mlp.n_outputs();
    let raw = if arch.dueling {
        (n_actions + 1) * arch.atoms
    } else {
        n_actions * arch.atoms
    };
    let mut widths = sizes[..sizes.len() - 1].to_vec();
    widths.push(raw);
    let p = mlp.params();
    let factors = mlp.noise_factors();
    let (mut offset, mut f_off) = (0, 0);
    let mut x = input.to_vec();
    let mut hidden = Vec::new();
    let n_layers = widths.len() - 1;
    for l in 0..n_layers {
        let (n_in, n_out) = (widths[l], widths[l + 1]);
        let mut w: Vec<f64> = p[offset..offset + n_in * n_out].to_vec();
        let mut b: Vec<f64> = p[offset + n_in * n_out..offset + n_in * n_out + n_out].to_vec();
        offset += n_in * n_out + n_out;
        if arch.noisy {
            let ws = &p[offset..offset + n_in * n_out];
            let bs = &p[offset + n_in * n_out..offset + n_in * n_out + n_out];
            offset += n_in * n_out + n_out;
            let groups = if arch.dueling && l + 1 == n_layers {
                2
            } else {
                1
            };
            if let Some(f) = factors {
                let f_in = &f[f_off..f_off + groups * n_in];
                let f_out = &f[f_off + groups * n_in..f_off + groups * n_in + n_out];
                for i in 0..n_out {
                    let g = if groups == 2 && i >= arch.atoms { 1 } else { 0 };
                    for j in 0..n_in {
                        w[i * n_in + j] += ws[i * n_in + j] * f_out[i] * f_in[g * n_in + j];
                    }
                    b[i] += bs[i] * f_out[i];
                }
            }
            f_off += groups * n_in + n_out;
        }
        let mut z = vec![0.0; batch * n_out];
        for r in 0..batch {
            for o in 0..n_out {
                let mut s = b[o];
                for i in 0..n_in {
                    s += x[r * n_in + i] * w[o * n_in + i];
                }
                z[r * n_out + o] = s;
            }
        }
        if l + 1 < n_layers {
            if arch.layer_norm {
                let (gamma, beta) = p[offset..offset + 2 * n_out].split_at(n_out);
                offset += 2 * n_out;
                for row in z.chunks_mut(n_out) {
                    let mean = row.iter().sum::<f64>() / n_out as f64;
                    let var =
                        row.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n_out as f64;
                    let std = (var + arch.layer_norm_eps).sqrt();
                    for ((v, g), b) in row.iter_mut().zip(gamma).zip(beta) {
                        *v = (*v - mean) / std * g + b;
                    }
                }
            }
            hidden.extend_from_slice(&z);
            x = z.iter().map(|&v| v.max(0.0)).collect();
        } else {
            x = z;
        }
    }
    if !arch.dueling {
        return (hidden, x);
    }
    let n = arch.atoms;
    let mut out = vec![0.0; batch * n_actions * n];
    for r in 0..batch {
        let row = &x[r * raw..(r + 1) * raw];
        for z in 0..n {
            let mean = (0..n_actions).map(|a| row[n + a * n + z]).sum::<f64>() / n_actions as f64;
            for a in 0..n_actions {
                out[r * n_actions * n + a * n + z] = row[z] + row[n + a * n + z] - mean;
            }
        }
    }
    (hidden, out)
}

struct Problem {
    mlp: Mlp<f64>,
    noise_seed: Option<u64>,
    input: Vec<f64>,
    batch: usize,
    actions: Vec<u32>,
    /// Scalar targets, or target distributions (`batch × atoms`) for C51.
    targets: Vec<f64>,
    weights: Option<Vec<f64>>,
}

impl Problem {
    fn with_params(&self, params: &[f64]) -> Mlp<f64> {
        let mut m = self.mlp.clone();
        m.params_mut().copy_from_slice(params);
        if let Some(seed) = self.noise_seed {
            m.sample_noise(&mut rng(seed));
        }
        m
    }

    fn loss_and_grad_out(&self, out: &[f64], grad: &mut [f64]) -> f64 {
        let arch = self.mlp.arch();
        let n_act = self.mlp.n_outputs();
        if arch.atoms > 1 {
            categorical_loss(
                out,
                n_act,
                arch.atoms,
                &self.actions,
                &self.targets,
                self.weights.as_deref(),
                grad,
                None,
            )
        } else {
            q_loss(
                Loss::Mse,
                out,
                n_act,
                &self.actions,
                &self.targets,
                self.weights.as_deref(),
                grad,
                None,
            )
        }
    }

    fn naive_loss(&self, mlp: &Mlp<f64>) -> f64 {
        let (_, out) = naive_forward(mlp, &self.input, self.batch);
        let mut g = vec![0.0; out.len()];
        self.loss_and_grad_out(&out, &mut g)
    }
}

/// Offsets of the LayerNorm weights γ (each followed by its β) of a LayerNorm network, with
/// their widths: after each hidden layer's weight, bias (and σs).
fn layer_norm_offsets(mlp: &Mlp<f64>) -> Vec<(usize, usize)> {
    let sizes = mlp.sizes();
    let per_param = if mlp.arch().noisy { 2 } else { 1 };
    let mut offset = 0;
    let mut out = Vec::new();
    for l in 0..sizes.len() - 2 {
        let (n_in, n_out) = (sizes[l], sizes[l + 1]);
        offset += per_param * (n_in * n_out + n_out);
        out.push((offset, n_out));
        offset += 2 * n_out;
    }
    out
}

fn problem(sizes: &[usize], arch: Arch, batch: usize, weighted: bool, seed: u64) -> Problem {
    let mut r = rng(seed);
    loop {
        let mut mlp = Mlp::<f64>::with_arch(sizes, arch, 0.5, &mut r);
        if arch.layer_norm {
            // Away from the initial γ = 1, β = 0, so that their gradients are general.
            for (gamma, n) in layer_norm_offsets(&mlp) {
                for (i, v) in mlp.params_mut()[gamma..gamma + 2 * n]
                    .iter_mut()
                    .enumerate()
                {
                    *v = if i < n {
                        r.random_range(0.5..1.5)
                    } else {
                        r.random_range(-0.3..0.3)
                    };
                }
            }
        }
        let noise_seed = arch.noisy.then(|| r.random::<u64>());
        if let Some(s) = noise_seed {
            mlp.sample_noise(&mut rng(s));
        }
        let n_act = mlp.n_outputs() as u32;
        let targets = if arch.atoms > 1 {
            // Random distributions, one per row.
            let mut t: Vec<f64> = (0..batch * arch.atoms)
                .map(|_| r.random_range(0.0..1.0))
                .collect();
            for row in t.chunks_mut(arch.atoms) {
                let s: f64 = row.iter().sum();
                row.iter_mut().for_each(|v| *v /= s);
            }
            t
        } else {
            uniform(&mut r, batch, 3.0)
        };
        let p = Problem {
            input: uniform(&mut r, batch * sizes[0], 2.0),
            actions: (0..batch).map(|_| r.random_range(0..n_act)).collect(),
            targets,
            weights: weighted.then(|| (0..batch).map(|_| r.random_range(0.1..2.0)).collect()),
            mlp,
            noise_seed,
            batch,
        };
        let (hidden, _) = naive_forward(&p.mlp, &p.input, batch);
        if hidden.iter().all(|z| z.abs() > KINK_MARGIN) {
            return p;
        }
    }
}

fn check(p: &Problem) {
    let mut ws = Workspace::new(&p.mlp, p.batch);
    let out = p.mlp.forward(&p.input, p.batch, &mut ws).to_vec();
    let (_, reference) = naive_forward(&p.mlp, &p.input, p.batch);
    assert_eq!(out.len(), reference.len());
    for (a, b) in out.iter().zip(&reference) {
        assert!(
            (a - b).abs() < 1e-12 * b.abs().max(1.0),
            "forward {a} vs {b}"
        );
    }
    let mut grad_out = vec![0.0; out.len()];
    p.loss_and_grad_out(&out, &mut grad_out);
    let mut grads = vec![f64::NAN; p.mlp.n_params()];
    p.mlp.backward(&mut ws, &grad_out, &mut grads);
    let mut params = p.mlp.params().to_vec();
    for (i, &analytic) in grads.iter().enumerate() {
        let original = params[i];
        params[i] = original + H;
        let up = p.naive_loss(&p.with_params(&params));
        params[i] = original - H;
        let down = p.naive_loss(&p.with_params(&params));
        params[i] = original;
        let numeric = (up - down) / (2.0 * H);
        let err = (analytic - numeric).abs() / analytic.abs().max(numeric.abs()).max(1.0);
        assert!(
            err < TOL,
            "{:?} sizes {:?}: param {i} of {}: analytic {analytic:e}, numeric {numeric:e}",
            p.mlp.arch(),
            p.mlp.sizes(),
            grads.len()
        );
    }
}

fn arch(dueling: bool, noisy: bool, atoms: usize) -> Arch {
    Arch {
        dueling,
        noisy,
        atoms,
        v_min: -2.0,
        v_max: 3.0,
        ..Arch::default()
    }
}

#[test]
fn dueling_gradients_match_finite_differences() {
    for (seed, sizes) in [
        (1, &[3, 5, 2][..]),
        (2, &[4, 6, 7, 3]),
        (3, &[5, 33, 20, 4]),
    ] {
        check(&problem(
            sizes,
            arch(true, false, 1),
            6,
            seed % 2 == 1,
            seed,
        ));
    }
    // Batches of 16 and more take the matrixmultiply path.
    check(&problem(&[5, 20, 3], arch(true, false, 1), 24, true, 4));
}

#[test]
fn noisy_gradients_match_finite_differences() {
    for (seed, sizes) in [(11, &[3, 5, 2][..]), (12, &[4, 6, 7, 3]), (13, &[3, 2])] {
        check(&problem(
            sizes,
            arch(false, true, 1),
            5,
            seed % 2 == 1,
            seed,
        ));
    }
    check(&problem(
        &[5, 20, 17, 3],
        arch(false, true, 1),
        20,
        true,
        14,
    ));
}

#[test]
fn noisy_gradients_with_noise_off_leave_sigma_at_zero() {
    let mut p = problem(&[4, 6, 3], arch(false, true, 1), 5, false, 21);
    p.mlp.remove_noise();
    p.noise_seed = None;
    check(&p);
}

#[test]
fn c51_gradients_match_finite_differences() {
    for (seed, sizes) in [(31, &[3, 5, 2][..]), (32, &[4, 6, 7, 3])] {
        check(&problem(
            sizes,
            arch(false, false, 5),
            4,
            seed % 2 == 1,
            seed,
        ));
    }
    check(&problem(&[4, 17, 2], arch(false, false, 11), 18, true, 33));
}

#[test]
fn rainbow_head_gradients_match_finite_differences() {
    check(&problem(&[3, 6, 5, 2], arch(true, true, 4), 4, true, 41));
    check(&problem(&[4, 18, 3], arch(true, true, 7), 17, false, 42));
    check(&problem(&[4, 8, 3], arch(true, false, 6), 5, true, 43));
    check(&problem(&[4, 8, 3], arch(false, true, 6), 5, true, 44));
}

/// Worked by hand: support {−1, −0.5, 0, 0.5, 1}, reward 0.3, discount 0.5: the shifted atoms
/// −0.2, 0.05, 0.3, 0.55, 0.8 sit at positions 1.6, 2.1, 2.6, 3.1, 3.6 and split their mass
/// between the neighbouring atoms.
#[test]
fn layer_norm_gradients_match_finite_differences_under_every_head() {
    // Linear weight and bias, LayerNorm weight and bias (and σ of noisy layers) are all in
    // the parameter vector that `check` perturbs one by one.
    for (seed, (dueling, noisy, atoms), sizes) in [
        (40, (false, false, 1), &[3usize, 7, 5, 2][..]),
        (41, (false, false, 1), &[4, 20, 3]),
        (42, (true, false, 1), &[3, 6, 5, 3]),
        (43, (false, true, 1), &[3, 6, 5, 2]),
        (44, (false, false, 5), &[3, 6, 2]),
        (45, (true, true, 4), &[2, 6, 5, 3]),
        (46, (false, false, 1), &[3, 2]),
    ] {
        let arch = Arch {
            layer_norm: true,
            layer_norm_eps: 1e-3,
            ..arch(dueling, noisy, atoms)
        };
        check(&problem(sizes, arch, 6, seed % 2 == 0, seed));
    }
}

#[test]
fn layer_norm_parameters_start_at_one_and_zero_and_draw_nothing() {
    for (dueling, noisy, atoms) in [(false, false, 1), (true, true, 3)] {
        let plain =
            Mlp::<f64>::with_arch(&[3, 8, 5, 2], arch(dueling, noisy, atoms), 0.5, &mut rng(7));
        let ln_arch = Arch {
            layer_norm: true,
            ..arch(dueling, noisy, atoms)
        };
        let mut r = rng(7);
        let ln = Mlp::<f64>::with_arch(&[3, 8, 5, 2], ln_arch, 0.5, &mut r);
        // Same random stream consumed, and the same draws in the linear layers.
        assert_eq!(r.random::<u64>(), {
            let mut r2 = rng(7);
            Mlp::<f64>::with_arch(&[3, 8, 5, 2], arch(dueling, noisy, atoms), 0.5, &mut r2);
            r2.random::<u64>()
        });
        let offsets = layer_norm_offsets(&ln);
        let mut stripped = Vec::new();
        let mut start = 0;
        for &(gamma, n) in &offsets {
            stripped.extend_from_slice(&ln.params()[start..gamma]);
            assert!(ln.params()[gamma..gamma + n].iter().all(|&v| v == 1.0));
            assert!(
                ln.params()[gamma + n..gamma + 2 * n]
                    .iter()
                    .all(|&v| v == 0.0)
            );
            start = gamma + 2 * n;
        }
        stripped.extend_from_slice(&ln.params()[start..]);
        assert_eq!(stripped, plain.params());
        assert_eq!(ln.n_params(), plain.n_params() + 2 * (8 + 5));
    }
}

#[test]
fn layer_norm_single_observation_matches_the_batched_pass() {
    let arch = Arch {
        layer_norm: true,
        layer_norm_eps: 1e-6,
        ..arch(true, false, 1)
    };
    let p = problem(&[4, 32, 17, 3], arch, 5, false, 50);
    let mut ws = Workspace::new(&p.mlp, p.batch);
    let batched = p.mlp.forward(&p.input, p.batch, &mut ws).to_vec();
    let mut q = [0.0; 3];
    for r in 0..p.batch {
        p.mlp
            .predict_one(&p.input[r * 4..(r + 1) * 4], &mut ws, &mut q);
        for (a, b) in q.iter().zip(&batched[r * 3..(r + 1) * 3]) {
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
    }
}

#[test]
fn invalid_layer_norm_eps_is_rejected() {
    for eps in [0.0, -1e-5, f64::NAN, f64::INFINITY] {
        let arch = Arch {
            layer_norm: true,
            layer_norm_eps: eps,
            ..Arch::default()
        };
        assert!(arch.validate().unwrap_err().contains("layer_norm_eps"));
    }
    // Ignored, and made canonical, without LayerNorm.
    let off = Arch {
        layer_norm_eps: 0.0,
        ..Arch::default()
    };
    assert!(off.validate().is_ok());
    assert_eq!(off.canonical(), Arch::default());
}

#[test]
fn categorical_projection_matches_a_hand_computed_case() {
    let p = [0.1, 0.2, 0.3, 0.25, 0.15];
    let mut probs = Vec::new();
    for _ in 0..4 {
        probs.extend_from_slice(&p);
    }
    let rewards = [0.3, 0.3, 5.0, 0.0];
    // Bootstrapped; terminated (all mass at the reward, between atoms 2 and 3); clipped at
    // v_max; the identity (every atom lands exactly on an atom).
    let discounts = [0.5, 0.0, 0.9, 1.0];
    let mut m = vec![0.0f64; 20];
    categorical_projection(&probs, &rewards, &discounts, -1.0, 1.0, &mut m);
    let expected = [
        [0.0, 0.04, 0.36, 0.485, 0.115],
        [0.0, 0.0, 0.4, 0.6, 0.0],
        [0.0, 0.0, 0.0, 0.0, 1.0],
        p,
    ];
    for (row, e) in m.chunks(5).zip(expected) {
        for (a, b) in row.iter().zip(e) {
            assert!((a - b).abs() < 1e-12, "{row:?} vs {e:?}");
        }
    }
    // f32 agrees to rounding.
    let probs32: Vec<f32> = probs.iter().map(|&v| v as f32).collect();
    let mut m32 = vec![0.0f32; 20];
    categorical_projection(
        &probs32,
        &[0.3, 0.3, 5.0, 0.0],
        &[0.5, 0.0, 0.9, 1.0],
        -1.0,
        1.0,
        &mut m32,
    );
    for (a, b) in m32.iter().zip(&m) {
        assert!((f64::from(*a) - b).abs() < 1e-6);
    }
}

#[test]
fn projection_conserves_mass_for_random_inputs() {
    let mut r = rng(5);
    for _ in 0..200 {
        let atoms = r.random_range(2..60);
        let logits: Vec<f64> = uniform(&mut r, atoms, 3.0);
        let mut probs = vec![0.0; atoms];
        softmax_rows(&logits, atoms, &mut probs);
        let reward = r.random_range(-30.0..30.0);
        let discount = if r.random_bool(0.2) {
            0.0
        } else {
            r.random_range(0.0..1.0)
        };
        let mut m = vec![0.0; atoms];
        categorical_projection(&probs, &[reward], &[discount], -10.0, 10.0, &mut m);
        let total: f64 = m.iter().sum();
        assert!((total - 1.0).abs() < 1e-12, "{total}");
        assert!(m.iter().all(|&v| v >= 0.0));
        // The projected mean is the clipped shifted mean where nothing is clipped.
        let support: Vec<f64> = (0..atoms)
            .map(|j| -10.0 + j as f64 * 20.0 / (atoms - 1) as f64)
            .collect();
        let shifted: Vec<f64> = support.iter().map(|z| reward + discount * z).collect();
        if shifted.iter().all(|z| (-10.0..=10.0).contains(z)) {
            let mean_before: f64 = probs.iter().zip(&shifted).map(|(p, z)| p * z).sum();
            let mean_after: f64 = m.iter().zip(&support).map(|(p, z)| p * z).sum();
            assert!((mean_before - mean_after).abs() < 1e-9);
        }
    }
}

#[test]
fn single_observation_q_values_match_the_batched_pass() {
    for a in [
        arch(true, false, 1),
        arch(false, true, 1),
        arch(false, false, 7),
        arch(true, true, 51),
    ] {
        let mut mlp = Mlp::<f64>::with_arch(&[4, 16, 16, 3], a, 0.5, &mut rng(3));
        mlp.sample_noise(&mut rng(4));
        let obs: Vec<f64> = uniform(&mut rng(5), 4, 1.0);
        let mut ws = Workspace::new(&mlp, 1);
        let out = mlp.forward(&obs, 1, &mut ws).to_vec();
        let q_batch: Vec<f64> = if a.atoms > 1 {
            let mut q = vec![0.0; 3];
            deepq_nn::expected_q(&out, mlp.support(), &mut q);
            q
        } else {
            out
        };
        let mut q = [0.0; 3];
        mlp.predict_one(&obs, &mut ws, &mut q);
        for (x, y) in q.iter().zip(&q_batch) {
            assert!((x - y).abs() < 1e-12, "{a:?}: {q:?} vs {q_batch:?}");
        }
        assert_eq!(mlp.argmax_action(&obs, &mut ws), deepq_nn::argmax(&q_batch));
    }
}

#[test]
fn noise_is_reproducible_and_removable() {
    let a = arch(true, true, 1);
    let mut m = Mlp::<f32>::with_arch(&[4, 8, 2], a, 0.5, &mut rng(1));
    let obs = [0.1f32, -0.2, 0.3, 0.4];
    let mut ws = Workspace::new(&m, 1);
    let mut mean = [0.0f32; 2];
    m.predict_one(&obs, &mut ws, &mut mean);
    m.sample_noise(&mut rng(9));
    let mut noisy1 = [0.0f32; 2];
    m.predict_one(&obs, &mut ws, &mut noisy1);
    m.sample_noise(&mut rng(9));
    let mut noisy2 = [0.0f32; 2];
    m.predict_one(&obs, &mut ws, &mut noisy2);
    assert_eq!(noisy1, noisy2);
    assert_ne!(noisy1, mean);
    m.remove_noise();
    let mut again = [0.0f32; 2];
    m.predict_one(&obs, &mut ws, &mut again);
    assert_eq!(again, mean);
    // σ starts at σ0/√fan_in.
    let sigma0 = m.params()[4 * 8 + 8];
    assert_eq!(sigma0, (0.5 / 2.0) as f32);
}

#[test]
fn safetensors_round_trip_every_head() {
    for a in [
        arch(true, false, 1),
        arch(false, true, 1),
        arch(false, false, 51),
        arch(true, true, 51),
        arch(true, true, 1),
    ] {
        let mlp = Mlp::<f32>::with_arch(&[4, 16, 8, 3], a, 0.5, &mut rng(7));
        let bytes = to_safetensors(&mlp);
        let back: Mlp<f32> = from_safetensors(&bytes).unwrap();
        assert_eq!(back.sizes(), mlp.sizes());
        assert_eq!(back.arch(), mlp.arch(), "{a:?}");
        assert_eq!(back.params(), mlp.params());
        let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let mut names = file.names();
        names.sort();
        let has = |n: &str| names.contains(&n);
        assert_eq!(has("value.bias") || has("value.bias_mu"), a.dueling);
        assert_eq!(has("torso.0.weight_mu"), a.noisy);
        assert_eq!(has("support"), a.atoms > 1);
        assert!(has("torso.2.weight") || has("torso.2.weight_mu"));
        assert!(from_safetensors::<f64>(&bytes).is_err());
    }
}

#[test]
fn safetensors_round_trip_layer_norm_under_every_head() {
    for (a, sizes) in [
        (arch(true, false, 1), &[4usize, 16, 8, 3][..]),
        (arch(false, true, 1), &[4, 16, 8, 3]),
        (arch(true, true, 51), &[4, 16, 8, 3]),
        // No hidden layer, so no LayerNorm tensor: the metadata alone marks it.
        (arch(true, false, 1), &[4, 3]),
    ] {
        let a = Arch {
            layer_norm: true,
            layer_norm_eps: 1e-6,
            ..a
        };
        let mut mlp = Mlp::<f32>::with_arch(sizes, a, 0.5, &mut rng(7));
        let mut r = rng(8);
        for v in mlp.params_mut() {
            *v += r.random_range(-0.1..0.1);
        }
        let bytes = to_safetensors(&mlp);
        let back: Mlp<f32> = from_safetensors(&bytes).unwrap();
        assert_eq!(back.sizes(), mlp.sizes());
        assert_eq!(back.arch(), mlp.arch(), "{a:?}");
        assert_eq!(back.params(), mlp.params());
        let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let names = file.names();
        let has = |n: &str| names.contains(&n);
        let hidden = sizes.len() > 2;
        assert_eq!(has("torso.1.weight"), hidden);
        assert_eq!(has("torso.4.bias"), hidden);
        if hidden {
            assert_eq!(file.tensor("torso.1.weight").unwrap().shape(), [16]);
            assert_eq!(file.tensor("torso.4.bias").unwrap().shape(), [8]);
            assert!(has("torso.3.weight") || has("torso.3.weight_mu"));
            assert!(!has("torso.2.weight") && !has("torso.2.weight_mu"));
        }
        assert_eq!(
            safetensors_metadata(&bytes).unwrap()["layer_norm_eps"],
            "1e-6"
        );
    }
}

#[test]
fn damaged_structured_files_are_refused() {
    let mlp = Mlp::<f32>::with_arch(&[4, 8, 2], arch(true, true, 5), 0.5, &mut rng(7));
    let bytes = to_safetensors(&mlp);
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let tensors: Vec<(String, safetensors::tensor::TensorView<'_>)> = file.tensors();
    for skip in 0..tensors.len() {
        let kept = tensors
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != skip)
            .map(|(_, (n, v))| (n.clone(), v.clone()));
        let damaged = safetensors::serialize(kept, None).unwrap();
        let err = from_safetensors::<f32>(&damaged);
        assert!(err.is_err(), "loaded without {}", tensors[skip].0);
    }
    let mut extra: Vec<_> = tensors.clone();
    extra.push(("advantage.scale".into(), tensors[0].1.clone()));
    let err = from_safetensors::<f32>(&safetensors::serialize(extra, None).unwrap()).unwrap_err();
    assert!(matches!(err, NnError::UnexpectedTensor(_)), "{err}");
}
