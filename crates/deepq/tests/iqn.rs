//! IQN against a PyTorch re-implementation of Dopamine's implicit quantile agent:
//! `tests/data/iqn_update.safetensors`, recorded by `tests/data/gen_iqn_update.py` (its
//! docstring gives the network and the update). At the recorded fractions, the learner's
//! greedy next actions, target quantiles, online quantiles, loss, every gradient and the
//! parameters after three clipped Adam steps must match PyTorch to float32 rounding.

use std::collections::HashMap;

use deepq::DqnConfig;
use deepq::algorithms::iqn::IqnAgent;
use deepq::config::Algorithm;
use deepq::nn::{
    IQN_EMBEDDING_DIM_KEY, ImplicitQuantileNet, IqnWorkspace, iqn_from_safetensors,
    iqn_to_safetensors, quantile_huber_loss,
};
use deepq::replay::Batch;
use safetensors::SafeTensors;

const B: usize = 8;
const N: usize = 8;
const N_PRIME: usize = 6;
const K: usize = 4;
const A: usize = 2;

fn recording() -> Vec<u8> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/iqn_update.safetensors"
    );
    std::fs::read(path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
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
    view.data()
        .chunks_exact(8)
        .map(|b| i64::from_le_bytes(b.try_into().unwrap()) as u32)
        .collect()
}

/// The tensors under `prefix/` as the `state_dict` of PyTorch's module, read by deepq.
fn network(file: &SafeTensors<'_>, prefix: &str) -> ImplicitQuantileNet<f32> {
    let tensors: Vec<_> = file
        .tensors()
        .into_iter()
        .filter_map(|(name, view)| {
            name.strip_prefix(&format!("{prefix}/"))
                .map(|n| (n.to_string(), view))
        })
        .collect();
    let metadata = HashMap::from([(IQN_EMBEDDING_DIM_KEY.to_string(), "64".to_string())]);
    let bytes = safetensors::serialize(tensors, Some(metadata)).unwrap();
    iqn_from_safetensors(&bytes).expect("PyTorch's state_dict loads")
}

fn compare(what: &str, got: &[f32], want: &[f32], rtol: f64, atol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let mut max = 0f64;
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let err = (g as f64 - w as f64).abs();
        assert!(
            err <= rtol * (w as f64).abs() + atol,
            "{what}[{i}]: got {g:e}, PyTorch {w:e} (error {err:e})"
        );
        max = max.max(err);
    }
    eprintln!("{what:>20}: max abs error {max:.3e}");
}

/// Every parameter (or gradient) of `net` by its PyTorch name.
fn named(net: &ImplicitQuantileNet<f32>) -> HashMap<String, Vec<f32>> {
    let bytes = iqn_to_safetensors(net);
    let file = SafeTensors::deserialize(&bytes).unwrap();
    file.names()
        .into_iter()
        .map(|n| (n.to_string(), f32s(&file, n)))
        .collect()
}

#[test]
fn iqn_update_matches_pytorch() {
    let bytes = recording();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let online = network(&file, "params");
    let target = network(&file, "target_params");
    let (taus_choice, taus_prime, taus) = (
        f32s(&file, "taus_choice"),
        f32s(&file, "taus_prime"),
        f32s(&file, "taus"),
    );
    let actions = i64s(&file, "actions");
    let dones = f32s(&file, "dones");
    let batch = Batch {
        obs: f32s(&file, "obs"),
        next_obs: f32s(&file, "next_obs"),
        actions: actions.clone(),
        rewards: f32s(&file, "rewards"),
        terminated: dones.iter().map(|&d| d > 0.5).collect(),
        truncated: vec![false; B],
        ..Batch::with_capacity(B, 4)
    };

    // The online quantiles, the loss at the recorded targets, and every gradient.
    let mut ws = IqnWorkspace::new(&online, B, N);
    let z = online.forward(&batch.obs, B, &taus, &mut ws).to_vec();
    let current: Vec<f32> = (0..B * N)
        .map(|r| z[r * A + actions[r / N] as usize])
        .collect();
    compare(
        "current_quantiles",
        &current,
        &f32s(&file, "current_quantiles"),
        1e-5,
        1e-6,
    );
    let targets = f32s(&file, "target_quantiles");
    let mut grad_current = vec![0.0; B * N];
    let loss = quantile_huber_loss(B, &current, &taus, &targets, None, &mut grad_current, None);
    compare("loss", &[loss], &f32s(&file, "loss"), 1e-5, 0.0);
    let mut grad_out = vec![0.0; B * N * A];
    for r in 0..B * N {
        grad_out[r * A + actions[r / N] as usize] = grad_current[r];
    }
    let mut grads = vec![0.0; online.n_params()];
    online.backward(&mut ws, &grad_out, &mut grads);
    let mut as_net = online.clone();
    let mut rest = &grads[..];
    for part in as_net.params_mut() {
        let (g, tail) = rest.split_at(part.len());
        part.copy_from_slice(g);
        rest = tail;
    }
    for (name, got) in named(&as_net) {
        let want = f32s(&file, &format!("grads/{name}"));
        let scale = want.iter().fold(0f64, |m, &v| m.max(v.abs() as f64));
        compare(&format!("grads/{name}"), &got, &want, 1e-4, 1e-5 * scale);
    }

    // The learner's update at the recorded fractions, three times with the target fixed.
    let cfg = DqnConfig {
        algorithm: Algorithm::Iqn,
        net_arch: vec![32, 32],
        batch_size: B,
        gamma: 0.99,
        learning_rate: 1e-3,
        max_grad_norm: 10.0,
        num_tau_samples: N,
        num_tau_prime_samples: N_PRIME,
        num_quantile_samples: K,
        ..DqnConfig::default()
    };
    let mut agent = IqnAgent::from_networks(online, Some(target), &cfg);
    let first = agent.update_at(&batch, &taus_choice, &taus_prime, &taus);
    compare(
        "learner loss",
        &[first.loss as f32],
        &f32s(&file, "loss"),
        1e-5,
        0.0,
    );
    for _ in 0..2 {
        agent.update_at(&batch, &taus_choice, &taus_prime, &taus);
    }
    for (name, got) in named(agent.network()) {
        let want = f32s(&file, &format!("after/adam/{name}"));
        let grad = f32s(&file, &format!("grads/{name}"));
        for (i, (&g, &w)) in got.iter().zip(&want).enumerate() {
            // Adam normalises each step, so where a gradient is near zero its float32 noise
            // decides the step's size: allow a fraction of a step there.
            let noise = 3e-3 * (1e-8 / (grad[i].abs() as f64 + 1e-12)).min(1.0);
            let err = (g as f64 - w as f64).abs();
            assert!(
                err <= 1e-6 * (w as f64).abs() + 1e-7 + noise,
                "after/adam/{name}[{i}]: got {g:e}, PyTorch {w:e} (error {err:e})"
            );
        }
    }
}
