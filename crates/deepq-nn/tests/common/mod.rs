//! Helpers shared by the integration tests: a naive reference implementation of the
//! network, random data, and PyTorch's recorded tensors from the golden directory.

// Each test binary compiles this module and uses only part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use deepq_nn::{Arch, ConvLayer, ImageShape, Loss, Mlp, Scalar, Workspace, q_loss};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;
use safetensors::SafeTensors;
use safetensors::tensor::TensorView;

pub fn rng(seed: u64) -> Pcg64 {
    Pcg64::seed_from_u64(seed)
}

pub fn uniform<T: Scalar>(rng: &mut Pcg64, n: usize, bound: f64) -> Vec<T> {
    (0..n)
        .map(|_| T::from_f64(rng.random_range(-bound..bound)))
        .collect()
}

/// Textbook triple-loop forward pass in f64, straight from PyTorch's definition
/// (`y = x Wᵀ + b`, ReLU between layers). Returns every layer's pre-activation
/// (`batch × width`), the last one being the network output.
pub fn naive_forward<T: Scalar>(mlp: &Mlp<T>, input: &[T], batch: usize) -> Vec<Vec<f64>> {
    let sizes = mlp.sizes();
    let params: Vec<f64> = mlp.params().iter().map(|p| p.to_f64()).collect();
    let mut x: Vec<f64> = input.iter().map(|v| v.to_f64()).collect();
    let mut pre = Vec::new();
    let mut offset = 0;
    for l in 0..sizes.len() - 1 {
        let (n_in, n_out) = (sizes[l], sizes[l + 1]);
        let w = &params[offset..offset + n_out * n_in];
        let b = &params[offset + n_out * n_in..offset + n_out * n_in + n_out];
        offset += n_out * n_in + n_out;
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
        x = if l + 2 < sizes.len() {
            z.iter().map(|&v| v.max(0.0)).collect()
        } else {
            z.clone()
        };
        pre.push(z);
    }
    pre
}

/// The golden directory: `$DEEPQ_GOLDEN_DIR`, else the first `shared/golden` found walking
/// up from this crate.
pub fn golden_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("DEEPQ_GOLDEN_DIR") {
        return PathBuf::from(dir);
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .map(|a| a.join("shared").join("golden"))
        .find(|d| d.is_dir())
        .unwrap_or_else(|| manifest.join("../../../shared/golden"))
}

/// The bytes of `torch_nets/<file>` in the golden directory; a missing file fails the test.
pub fn torch_net(file: &str) -> Vec<u8> {
    let path = golden_dir().join("torch_nets").join(file);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// A float32 tensor's values.
pub fn f32s(file: &SafeTensors<'_>, name: &str) -> Vec<f32> {
    let view = file.tensor(name).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(view.dtype(), safetensors::Dtype::F32, "{name}");
    view.data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

/// The tensors under `prefix/` with the prefix removed, sorted by name.
pub fn group<'a>(file: &'a SafeTensors<'a>, prefix: &str) -> Vec<(String, TensorView<'a>)> {
    let mut out: Vec<_> = file
        .tensors()
        .into_iter()
        .filter_map(|(name, view)| {
            name.strip_prefix(&format!("{prefix}/"))
                .map(|n| (n.to_string(), view))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The recorded batch: observations, actions (int64 in the file) and TD targets.
pub struct Batch {
    pub obs: Vec<f32>,
    pub actions: Vec<u32>,
    pub targets: Vec<f32>,
}

pub fn batch(file: &SafeTensors<'_>) -> Batch {
    let actions = file.tensor("actions").unwrap();
    assert_eq!(actions.dtype(), safetensors::Dtype::I64);
    Batch {
        obs: f32s(file, "obs"),
        actions: actions
            .data()
            .chunks_exact(8)
            .map(|b| i64::from_le_bytes(b.try_into().unwrap()) as u32)
            .collect(),
        targets: f32s(file, "targets"),
    }
}

/// Forward, `loss` and backward on the recorded batch: `(q, loss, grads)`.
pub fn loss_and_grads(
    loss: Loss,
    mlp: &Mlp<f32>,
    b: &Batch,
    ws: &mut Workspace<f32>,
) -> (Vec<f32>, f32, Vec<f32>) {
    let n = b.actions.len();
    let q = mlp.forward(&b.obs, n, ws).to_vec();
    let mut grad_q = vec![0.0; q.len()];
    let value = q_loss(
        loss,
        &q,
        mlp.n_outputs(),
        &b.actions,
        &b.targets,
        None,
        &mut grad_q,
        None,
    );
    let mut grads = vec![0.0; mlp.n_params()];
    mlp.backward(ws, &grad_q, &mut grads);
    (q, value, grads)
}

/// A TD-like scalar loss of the network's output and its gradient w.r.t. the output:
/// `Σ c_i · out_i²/2`, with fixed weights `c`.
pub fn loss_of(out: &[f64], c: &[f64]) -> (f64, Vec<f64>) {
    let loss = out.iter().zip(c).map(|(o, c)| c * o * o / 2.0).sum();
    (loss, out.iter().zip(c).map(|(o, c)| c * o).collect())
}

/// Central finite differences of every parameter of a conv network (3 actions, drawn from
/// seed 11) against the backward pass, in f64; returns the backward pass's gradients.
pub fn check_gradients(
    input: ImageShape,
    conv: &[ConvLayer],
    hidden: &[usize],
    arch: Arch,
) -> Vec<f64> {
    let mut rng = rng(11);
    let mlp = Mlp::<f64>::with_conv(input, conv, hidden, 3, arch, 0.5, &mut rng);
    check_gradients_of(mlp, &mut rng)
}

/// [`check_gradients`] on a given network, with the batch and loss weights drawn from `rng`.
pub fn check_gradients_of(mut mlp: Mlp<f64>, rng: &mut Pcg64) -> Vec<f64> {
    let arch = *mlp.arch();
    let conv = mlp.conv_layers().to_vec();
    if arch.noisy {
        // Seed 99 every time, so the finite differences see the same noise.
        mlp.sample_noise(&mut self::rng(99));
    }
    let batch = 3;
    let obs: Vec<f64> = uniform(rng, batch * mlp.n_inputs(), 1.0);
    let mut ws = Workspace::new(&mlp, batch);
    let out = mlp.forward(&obs, batch, &mut ws).to_vec();
    let c: Vec<f64> = (0..out.len()).map(|_| rng.random_range(0.5..1.5)).collect();
    let (_, g_out) = loss_of(&out, &c);
    let mut grads = vec![0.0; mlp.n_params()];
    mlp.backward(&mut ws, &g_out, &mut grads);
    let h = 1e-6;
    let mut worst = 0f64;
    for (i, &analytic) in grads.iter().enumerate() {
        let p = mlp.params()[i];
        let mut f = |v: f64, mlp: &mut Mlp<f64>| {
            mlp.params_mut()[i] = v;
            if arch.noisy {
                // The effective weights are rebuilt from the parameters with the same noise.
                mlp.sample_noise(&mut self::rng(99));
            }
            let out = mlp.forward(&obs, batch, &mut ws).to_vec();
            loss_of(&out, &c).0
        };
        let numeric = (f(p + h, &mut mlp) - f(p - h, &mut mlp)) / (2.0 * h);
        f(p, &mut mlp);
        let err = (numeric - analytic).abs() / (1e-3 + numeric.abs().max(analytic.abs()));
        worst = worst.max(err);
        assert!(
            err < 1e-5,
            "parameter {i}: backward {analytic:e}, finite difference {numeric:e} ({conv:?}, {arch:?})"
        );
    }
    assert!(grads.iter().any(|&g| g != 0.0));
    eprintln!("{conv:?} {arch:?}: worst relative error {worst:.2e}");
    grads
}

/// Checks that `wide` (f64) computed in f32 agrees with f64 to within `tol` (relative):
/// the f32 copy of its parameters, the f64 network re-rounded to those parameters, then
/// forward on `batch` random images and backward of a fixed output gradient. `what` names
/// the case in failures.
pub fn assert_f32_matches_f64(wide: &Mlp<f64>, arch: Arch, tol: f64, what: &str) {
    let input = wide.input_shape().expect("a conv network");
    let (hidden, n_actions) = (&wide.sizes()[1..wide.sizes().len() - 1], wide.n_outputs());
    let mut narrow =
        Mlp::<f32>::try_zeros_with_conv(input, wide.conv_layers(), hidden, n_actions, arch)
            .unwrap();
    for (n, &w) in narrow.params_mut().iter_mut().zip(wide.params()) {
        *n = w as f32;
    }
    let mut wide = wide.clone();
    let rounded: Vec<f64> = narrow.params().iter().map(|&v| v as f64).collect();
    wide.params_mut().copy_from_slice(&rounded);
    let batch = 5;
    let obs: Vec<f32> = uniform(&mut rng(22), batch * input.size(), 1.0);
    let obs64: Vec<f64> = obs.iter().map(|&v| v as f64).collect();
    let (mut ws32, mut ws64) = (Workspace::new(&narrow, batch), Workspace::new(&wide, batch));
    let q32 = narrow.forward(&obs, batch, &mut ws32).to_vec();
    let q64 = wide.forward(&obs64, batch, &mut ws64).to_vec();
    for (a, b) in q32.iter().zip(&q64) {
        assert!(
            (*a as f64 - b).abs() < tol * (1.0 + b.abs()),
            "{what}: {a} vs {b}"
        );
    }
    let g: Vec<f64> = (0..q64.len())
        .map(|i| ((i % 5) as f64 - 2.0) / 4.0)
        .collect();
    let g32: Vec<f32> = g.iter().map(|&v| v as f32).collect();
    let (mut d32, mut d64) = (vec![0f32; narrow.n_params()], vec![0f64; wide.n_params()]);
    narrow.backward(&mut ws32, &g32, &mut d32);
    wide.backward(&mut ws64, &g, &mut d64);
    let scale = d64.iter().fold(0f64, |m, v| m.max(v.abs()));
    for (i, (a, b)) in d32.iter().zip(&d64).enumerate() {
        assert!(
            (*a as f64 - b).abs() < tol * scale,
            "{what}: gradient {i}: {a} vs {b}"
        );
    }
}
