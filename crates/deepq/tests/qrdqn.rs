//! QR-DQN against sb3-contrib: `torch_nets/qrdqn_mlp.safetensors` from the shared golden
//! directory (`$DEEPQ_GOLDEN_DIR`, else the first `shared/golden` above this crate; its
//! README section "QR-DQN reference update" and `gen_qrdqn_net.py` say how it was made) is
//! one update exactly as sb3-contrib's `QRDQN.train` computes it, on a 4-64-64 MLP with 25
//! quantiles of 2 actions. The quantiles, the greedy next actions, the target quantiles, the
//! loss, every gradient, and the parameters after three clipped Adam steps must match
//! PyTorch to float32 rounding.
//!
//! Run with `--nocapture` to see the largest errors.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use deepq::DqnConfig;
use deepq::algorithms::qrdqn::QrDqnAgent;
use deepq::config::Algorithm;
use deepq::config::{
    NetworkSettings, OptimizerSettings, QrDqnSettings, ReplaySettings, ReturnSettings,
};
use deepq::nn::{
    Mlp, N_QUANTILES_KEY, Workspace, argmax_per_row, from_safetensors, mean_over_quantiles,
    quantile_huber_loss, quantile_midpoints, to_safetensors,
};
use deepq::replay::Batch;
use safetensors::SafeTensors;

const N: usize = 25;
const A: usize = 2;
const B: usize = 32;

fn golden_dir() -> PathBuf {
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

fn golden_bytes() -> Vec<u8> {
    let path = golden_dir()
        .join("torch_nets")
        .join("qrdqn_mlp.safetensors");
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn f32s(file: &SafeTensors<'_>, name: &str) -> Vec<f32> {
    let view = file.tensor(name).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(view.dtype(), safetensors::Dtype::F32, "{name}");
    view.data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

fn i64s(file: &SafeTensors<'_>, name: &str) -> Vec<u32> {
    let view = file.tensor(name).unwrap();
    assert_eq!(view.dtype(), safetensors::Dtype::I64, "{name}");
    view.data()
        .chunks_exact(8)
        .map(|b| i64::from_le_bytes(b.try_into().unwrap()) as u32)
        .collect()
}

/// The tensors under `prefix/`, renamed without it: a `state_dict` of
/// `QuantileNetwork.quantile_net`, as sb3-contrib would save it, with `n_quantiles` in the
/// metadata as deepq writes it.
fn network(file: &SafeTensors<'_>, prefix: &str) -> Mlp<f32> {
    let tensors: Vec<_> = file
        .tensors()
        .into_iter()
        .filter_map(|(name, view)| {
            name.strip_prefix(&format!("{prefix}/"))
                .map(|n| (n.to_string(), view))
        })
        .collect();
    let metadata = HashMap::from([(N_QUANTILES_KEY.to_string(), N.to_string())]);
    let bytes = safetensors::serialize(tensors, Some(metadata)).unwrap();
    let net: Mlp<f32> = from_safetensors(&bytes).expect("sb3-contrib's state_dict loads");
    assert_eq!(
        (net.sizes(), net.arch().quantiles),
        (&[4, 64, 64, A][..], N)
    );
    net
}

/// `|got − want| ≤ rtol·|want| + atol` elementwise; returns the largest error.
fn compare(what: &str, got: &[f32], want: &[f32], rtol: f64, atol: f64) -> f64 {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let mut max = 0f64;
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let err = (g as f64 - w as f64).abs();
        assert!(
            err <= rtol * (w as f64).abs() + atol,
            "{what}[{i}]: got {g:e}, sb3-contrib {w:e} (error {err:e})"
        );
        max = max.max(err);
    }
    eprintln!("{what:>18}: max abs error {max:.3e}");
    max
}

fn config() -> DqnConfig {
    DqnConfig {
        algorithm: Algorithm::QrDqn,
        qrdqn: QrDqnSettings { n_quantiles: N },
        network: NetworkSettings {
            net_arch: vec![64, 64],
            ..NetworkSettings::default()
        },
        returns: ReturnSettings {
            gamma: 0.99,
            ..ReturnSettings::default()
        },
        optimizer: OptimizerSettings {
            learning_rate: 1e-3,
            // The recording's Adam has PyTorch's default ε (sb3-contrib's own is 0.01/batch).
            eps: Some(1e-8),
            max_grad_norm: 10.0,
            ..OptimizerSettings::default()
        },
        replay: ReplaySettings {
            batch_size: B,
            ..ReplaySettings::default()
        },
        ..DqnConfig::default()
    }
}

#[test]
fn qrdqn_update_matches_sb3_contrib() {
    let bytes = golden_bytes();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let online = network(&file, "params");
    let target = network(&file, "target_params");
    let (obs, next_obs) = (f32s(&file, "obs"), f32s(&file, "next_obs"));
    let actions = i64s(&file, "actions");
    let (rewards, dones) = (f32s(&file, "rewards"), f32s(&file, "dones"));

    // The network reads its last layer as [N, A], as QuantileNetwork's view(-1, N, A).
    let mut ws = Workspace::new(&online, B);
    let z = online.forward(&obs, B, &mut ws).to_vec();
    compare("quantiles", &z, &f32s(&file, "quantiles"), 1e-5, 1e-6);
    let mut target_ws = Workspace::new(&target, B);
    let z_next = target.forward(&next_obs, B, &mut target_ws).to_vec();
    compare(
        "next_quantiles",
        &z_next,
        &f32s(&file, "next_quantiles"),
        1e-5,
        1e-6,
    );
    let mut next_q = vec![0.0; B * A];
    mean_over_quantiles(&z_next, N, A, &mut next_q);
    let mut greedy = vec![0; B];
    argmax_per_row(&next_q, A, &mut greedy);
    assert_eq!(greedy, i64s(&file, "next_greedy_actions"));

    // The loss and its gradient through the network, from the recorded targets.
    let targets = f32s(&file, "target_quantiles");
    let current: Vec<f32> = (0..B * N)
        .map(|k| z[(k / N) * N * A + (k % N) * A + actions[k / N] as usize])
        .collect();
    compare(
        "current_quantiles",
        &current,
        &f32s(&file, "current_quantiles"),
        1e-5,
        1e-6,
    );
    let mut grad_current = vec![0.0; B * N];
    let loss = quantile_huber_loss(
        B,
        &current,
        &quantile_midpoints(N),
        &targets,
        None,
        &mut grad_current,
        None,
    );
    compare("loss", &[loss], &f32s(&file, "loss"), 1e-5, 0.0);
    let mut grad_out = vec![0.0; B * N * A];
    for k in 0..B * N {
        grad_out[(k / N) * N * A + (k % N) * A + actions[k / N] as usize] = grad_current[k];
    }
    let mut grads = vec![0.0; online.n_params()];
    online.backward(&mut ws, &grad_out, &mut grads);
    let mut as_net = online.clone();
    as_net.params_mut().copy_from_slice(&grads);
    let named = SafeTensors::deserialize(&to_safetensors(&as_net))
        .unwrap()
        .tensors()
        .into_iter()
        .map(|(n, _)| n)
        .collect::<Vec<_>>();
    let ours_bytes = to_safetensors(&as_net);
    let ours = SafeTensors::deserialize(&ours_bytes).unwrap();
    for name in &named {
        let want = f32s(&file, &format!("grads/{name}"));
        let scale = want.iter().fold(0f64, |m, &v| m.max(v.abs() as f64));
        compare(
            &format!("grads/{name}"),
            &f32s(&ours, name),
            &want,
            1e-4,
            1e-5 * scale,
        );
    }

    // The learner's own update, three times on the same batch with the target held fixed:
    // its loss, then sb3-contrib's parameters after three clipped Adam steps.
    let batch = Batch {
        obs,
        next_obs,
        actions,
        rewards,
        terminated: dones.iter().map(|&d| d > 0.5).collect(),
        truncated: vec![false; B],
        ..Batch::with_capacity(B, 4)
    };
    let mut agent = QrDqnAgent::from_networks(online, Some(target), &config());
    let first = agent.update(&batch);
    compare(
        "learner loss",
        &[first.loss as f32],
        &f32s(&file, "loss"),
        1e-5,
        0.0,
    );
    agent.update(&batch);
    agent.update(&batch);
    let after_bytes = to_safetensors(agent.network());
    let after = SafeTensors::deserialize(&after_bytes).unwrap();
    for name in &named {
        // Three Adam steps of lr 1e-3 move a parameter by up to 3e-3; where a gradient is
        // near zero, its float32 noise decides the step's size (Adam normalises it), so the
        // bound allows a fraction of a step there.
        let want = f32s(&file, &format!("after/adam/{name}"));
        let grad = f32s(&file, &format!("grads/{name}"));
        let got = f32s(&after, name);
        for (i, (&g, &w)) in got.iter().zip(&want).enumerate() {
            let noise = 3e-3 * (1e-8 / (grad[i].abs() as f64 + 1e-12)).min(1.0);
            let err = (g as f64 - w as f64).abs();
            assert!(
                err <= 1e-6 * (w as f64).abs() + 1e-7 + noise,
                "after/adam/{name}[{i}]: got {g:e}, sb3-contrib {w:e} (error {err:e})"
            );
        }
    }
}
