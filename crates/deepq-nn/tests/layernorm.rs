//! PQN's LayerNorm network against PyTorch: `torch_nets/layernorm_mlp.safetensors` from the
//! shared golden directory (`$DEEPQ_GOLDEN_DIR`, else the first `shared/golden` above this
//! crate; its README, section "PyTorch reference tensors", and `gen_torch_nets.py` say how
//! it was made). `Linear(4, 256) → LayerNorm(256, ε 1e-6) → ReLU → Linear(256, 256) →
//! LayerNorm → ReLU → Linear(256, 2)`, float32, MSE loss on a batch of 16: the Q-values, the
//! loss, every gradient, and the parameters after three Adam and three RAdam steps
//! (lr 1e-4) must match PyTorch to float32 rounding.
//!
//! Run with `--nocapture` to see the largest errors per tensor group.

mod common;

use common::{batch, f32s, group, loss_and_grads};

use std::collections::HashMap;

use deepq_nn::{
    Loss, Mlp, Optimizer, OptimizerConfig, Workspace, from_safetensors,
    to_safetensors_with_metadata,
};
use safetensors::SafeTensors;

fn golden_bytes() -> Vec<u8> {
    common::torch_net("layernorm_mlp.safetensors")
}

/// The network's tensors by PyTorch name, through this crate's safetensors writer (so the
/// names and layouts are the ones it gives PyTorch).
fn named(mlp: &Mlp<f32>) -> HashMap<String, (Vec<usize>, Vec<f32>)> {
    let bytes = to_safetensors_with_metadata(mlp, None);
    let file = SafeTensors::deserialize(&bytes).unwrap();
    file.names()
        .into_iter()
        .map(|n| {
            (
                n.to_string(),
                (file.tensor(n).unwrap().shape().to_vec(), f32s(&file, n)),
            )
        })
        .collect()
}

/// Relative tolerance: float32 rounding (≈ 6e-8 per operation) accumulated over a
/// few hundred-term sums in a different order than PyTorch's kernels.
const RTOL: f64 = 1e-5;

/// Absolute float32 noise of a gradient entry that cancels to nearly zero (see the Adam
/// comparison).
const DELTA_GRAD: f64 = 2e-9;

/// Largest absolute and relative errors of one tensor group, for the report.
#[derive(Default, Debug)]
struct MaxErr {
    abs: f64,
    rel: f64,
}

/// Compares `got` with PyTorch's `want` elementwise: `|got − want| ≤ RTOL·|want| + atol(i)`.
fn compare(what: &str, got: &[f32], want: &[f32], atol: impl Fn(usize) -> f64, max: &mut MaxErr) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let (g, w) = (g as f64, w as f64);
        let err = (g - w).abs();
        assert!(
            err <= RTOL * w.abs() + atol(i),
            "{what}[{i}]: got {g:e}, PyTorch {w:e} (error {err:e})"
        );
        max.abs = max.abs.max(err);
        if w != 0.0 {
            max.rel = max.rel.max(err / w.abs());
        }
    }
}

/// Loads `params/*` as a network through [`from_safetensors`], the way a PyTorch
/// `state_dict` file would arrive, with PQN's ε in the metadata.
fn load_network(file: &SafeTensors<'_>) -> Mlp<f32> {
    let params = group(file, "params");
    let metadata = HashMap::from([("layer_norm_eps".to_string(), "1e-6".to_string())]);
    let bytes = safetensors::serialize(params, Some(metadata)).unwrap();
    let mlp: Mlp<f32> = from_safetensors(&bytes).expect("the PyTorch state_dict loads");
    assert_eq!(mlp.sizes(), [4, 256, 256, 2]);
    assert!(mlp.arch().layer_norm);
    assert_eq!(mlp.arch().layer_norm_eps, 1e-6);
    assert!(mlp.arch().is_plain());
    mlp
}

#[test]
fn layer_norm_mlp_matches_pytorch() {
    let bytes = golden_bytes();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let b = batch(&file);
    let mlp = load_network(&file);
    let mut ws = Workspace::new(&mlp, b.actions.len());
    let mut report = Vec::new();

    // Parameters read back exactly, under PyTorch's names and shapes.
    let ours = named(&mlp);
    let params = group(&file, "params");
    assert_eq!(ours.len(), params.len());
    for (name, view) in &params {
        let (shape, values) = &ours[name];
        assert_eq!(shape, view.shape(), "{name}");
        assert_eq!(values, &f32s(&file, &format!("params/{name}")), "{name}");
    }

    let (q, loss, grads) = loss_and_grads(Loss::Mse, &mlp, &b, &mut ws);
    let mut err = MaxErr::default();
    compare("q", &q, &f32s(&file, "q"), |_| 1e-6, &mut err);
    report.push(("q", err));
    let mut err = MaxErr::default();
    compare("loss", &[loss], &f32s(&file, "loss"), |_| 0.0, &mut err);
    report.push(("loss", err));

    // Gradients by name: this network's gradient buffer written under parameter names.
    let mut as_net = mlp.clone();
    as_net.params_mut().copy_from_slice(&grads);
    let ours = named(&as_net);
    let mut err = MaxErr::default();
    let mut grad_scaled = 0f64;
    for (name, _) in group(&file, "grads") {
        let want = f32s(&file, &format!("grads/{name}"));
        // Summation-order noise scales with the tensor's largest entries (entries that
        // cancel to near zero keep the rounding error of their large terms).
        let scale = want.iter().fold(0f64, |m, &v| m.max(v.abs() as f64));
        let before = err.abs;
        err.abs = 0.0;
        compare(
            &format!("grads/{name}"),
            &ours[&name].1,
            &want,
            |_| 1e-6 * scale,
            &mut err,
        );
        grad_scaled = grad_scaled.max(err.abs / scale);
        err.abs = err.abs.max(before);
    }
    report.push(("grads", err));
    eprintln!("grads: max error relative to the tensor's largest entry {grad_scaled:.3e}");

    for (key, config) in [
        ("adam_lr1e-4", OptimizerConfig::adam(1e-4)),
        ("radam_lr1e-4", OptimizerConfig::radam(1e-4)),
    ] {
        let mut net = mlp.clone();
        let mut opt = Optimizer::new(config, net.n_params());
        for _ in 0..3 {
            let (_, _, grads) = loss_and_grads(Loss::Mse, &net, &b, &mut ws);
            opt.step(net.params_mut(), &grads);
        }
        let ours = named(&net);
        let mut err = MaxErr::default();
        for (name, _) in group(&file, &format!("after/{key}")) {
            let want = f32s(&file, &format!("after/{key}/{name}"));
            let grad = f32s(&file, &format!("grads/{name}"));
            // Float32 rounding of an O(0.1) parameter, plus, for Adam, the amplification of
            // gradient noise by its normalised step `m̂/(√v̂ + ε)`: an absolute error δ in a
            // gradient g moves each of the 3 steps by up to lr·δ/(|g| + ε). Gradients that
            // cancel to nearly zero carry δ ≈ 1e-9 (float32 rounding of their O(1e-2) terms;
            // one at 8e-9 differs from PyTorch's by 2.5e-10), so there Adam's step is only
            // known to a few percent. RAdam's first five steps are linear in the gradient.
            let adam = key.starts_with("adam");
            let atol = |i: usize| {
                let amplified = 3.0 * 1e-4 * (DELTA_GRAD / (grad[i].abs() as f64 + 1e-8)).min(1.0);
                1e-8 + if adam { amplified } else { 0.0 }
            };
            compare(
                &format!("after/{key}/{name}"),
                &ours[&name].1,
                &want,
                atol,
                &mut err,
            );
        }
        report.push((key, err));
    }
    for (what, err) in report {
        eprintln!(
            "{what:>14}: max abs error {:.3e}, max rel error {:.3e}",
            err.abs, err.rel
        );
    }
}
