//! IQN against a PyTorch re-implementation of Dopamine's implicit quantile agent:
//! `tests/data/iqn_update.safetensors`, recorded by `tests/data/gen_iqn_update.py` (its
//! docstring gives the network and the update). At the recorded fractions, the learner's
//! greedy next actions, target quantiles, online quantiles, loss, every gradient and the
//! parameters after three clipped Adam steps must match PyTorch to float32 rounding.

use std::collections::HashMap;

use deepq::DqnConfig;
use deepq::algorithms::iqn::IqnAgent;
use deepq::config::Algorithm;
use deepq::config::{
    IqnSettings, MunchausenSettings, NetworkSettings, OptimizerSettings, ReplaySettings,
    ReturnSettings,
};
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

/// The recorded fractions: for the next action (K per sample), the targets (N′), the online
/// quantiles (N).
fn recorded_fractions(file: &SafeTensors<'_>) -> [Vec<f32>; 3] {
    ["taus_choice", "taus_prime", "taus"].map(|name| f32s(file, name))
}

/// The recorded batch of transitions (one-step returns).
fn recorded_batch(file: &SafeTensors<'_>) -> Batch<f32> {
    Batch {
        obs: f32s(file, "obs"),
        next_obs: f32s(file, "next_obs"),
        actions: i64s(file, "actions"),
        rewards: f32s(file, "rewards"),
        terminated: f32s(file, "dones").iter().map(|&d| d > 0.5).collect(),
        truncated: vec![false; B],
        ..Batch::with_capacity(B, 4)
    }
}

#[test]
fn iqn_update_matches_pytorch() {
    let bytes = recording();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let (online, target) = (network(&file, "params"), network(&file, "target_params"));
    let [taus_choice, taus_prime, taus] = recorded_fractions(&file);
    let batch = recorded_batch(&file);
    let actions = batch.actions.clone();

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
    let cfg = recorded_config(0.99);
    let mut agent = IqnAgent::from_networks(online, Some(target), &cfg);
    let first = agent.update_at(&batch, &taus_choice, &taus_prime, &taus, &[]);
    compare(
        "learner loss",
        &[first.loss as f32],
        &f32s(&file, "loss"),
        1e-5,
        0.0,
    );
    for _ in 0..2 {
        agent.update_at(&batch, &taus_choice, &taus_prime, &taus, &[]);
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

/// M-IQN's targets, computed by hand in f64 from the recorded target network: with
/// `q(s, ·)` the mean over fractions and `π = softmax(q/τ)`, each target sample is
/// `r + α·clip(τ·ln π(a|s), l₀, 0) + γ·(1 − done)·Σ_a' π(a'|s′)·(Z_τ′(s′, a') − τ·ln π(a'|s′))`,
/// the policy at s′ from the choice fractions and at s from fractions of its own. The
/// learner's loss must be the quantile Huber loss against those targets.
#[test]
fn munchausen_iqn_targets_match_the_formula() {
    let bytes = recording();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let (online, target) = (network(&file, "params"), network(&file, "target_params"));
    let [taus_choice, taus_prime, taus] = recorded_fractions(&file);
    let taus_here: Vec<f32> = (0..B * K)
        .map(|i| ((i * 7 % 13) as f32 + 0.5) / 13.0)
        .collect();
    let batch = recorded_batch(&file);
    // A clip close to zero, so that some sample's bonus is clipped with these small Q-values.
    let (alpha, tau, clip, gamma) = (0.9, 0.03, -0.01, 0.99);

    let mean_q = |obs: &[f32], fractions: &[f32]| -> Vec<f64> {
        let mut ws = IqnWorkspace::new(&target, B, K);
        let z = target.forward(obs, B, fractions, &mut ws);
        (0..B * A)
            .map(|r| {
                (0..K)
                    .map(|j| z[((r / A) * K + j) * A + r % A] as f64)
                    .sum::<f64>()
                    / K as f64
            })
            .collect()
    };
    let q_next = mean_q(&batch.next_obs, &taus_choice);
    let q_here = mean_q(&batch.obs, &taus_here);
    let mut ws = IqnWorkspace::new(&target, B, N_PRIME);
    let z_next = target
        .forward(&batch.next_obs, B, &taus_prime, &mut ws)
        .to_vec();
    let ln_pi = |row: &[f64]| -> Vec<f64> {
        let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = row.iter().map(|q| ((q - max) / tau).exp()).sum();
        row.iter().map(|q| (q - max) / tau - sum.ln()).collect()
    };
    let mut targets = Vec::new();
    let mut clipped_somewhere = false;
    for i in 0..B {
        let next = ln_pi(&q_next[i * A..(i + 1) * A]);
        let tau_ln_pi = tau * ln_pi(&q_here[i * A..(i + 1) * A])[batch.actions[i] as usize];
        clipped_somewhere |= tau_ln_pi < clip;
        let bonus = alpha * tau_ln_pi.clamp(clip, 0.0);
        let discount = if batch.terminated[i] { 0.0 } else { gamma };
        for j in 0..N_PRIME {
            let soft: f64 = (0..A)
                .map(|a| next[a].exp() * (z_next[(i * N_PRIME + j) * A + a] as f64 - tau * next[a]))
                .sum();
            targets.push((batch.rewards[i] as f64 + bonus + discount * soft) as f32);
        }
    }
    assert!(clipped_somewhere, "no sample's bonus reached the clip");

    let mut ws = IqnWorkspace::new(&online, B, N);
    let z = online.forward(&batch.obs, B, &taus, &mut ws).to_vec();
    let current: Vec<f32> = (0..B * N)
        .map(|r| z[r * A + batch.actions[r / N] as usize])
        .collect();
    let mut grad = vec![0.0; B * N];
    let want = quantile_huber_loss(B, &current, &taus, &targets, None, &mut grad, None);

    let mut cfg = recorded_config(gamma);
    cfg.munchausen = MunchausenSettings {
        enabled: true,
        alpha,
        tau,
        clip,
    };
    let mut agent = IqnAgent::from_networks(online, Some(target), &cfg);
    let got = agent.update_at(&batch, &taus_choice, &taus_prime, &taus, &taus_here);
    compare("M-IQN loss", &[got.loss as f32], &[want], 1e-5, 0.0);
    let plain = f32s(&file, "loss")[0] as f64;
    assert!(
        (got.loss - plain).abs() > 1e-3 * plain.abs(),
        "the Munchausen loss equals plain IQN's ({plain})"
    );
}

/// The learner settings of the recorded update (`tests/reference`'s IQN script): a 32-32
/// network, batch `B`, Adam at 1e-3 with the norm clipped at 10, and `N`, `N′`, `K` fractions.
fn recorded_config(gamma: f64) -> DqnConfig {
    DqnConfig {
        algorithm: Algorithm::Iqn,
        network: NetworkSettings {
            net_arch: vec![32, 32],
            ..NetworkSettings::default()
        },
        replay: ReplaySettings {
            batch_size: B,
            ..ReplaySettings::default()
        },
        returns: ReturnSettings {
            gamma,
            ..ReturnSettings::default()
        },
        optimizer: OptimizerSettings {
            learning_rate: 1e-3,
            max_grad_norm: 10.0,
            ..OptimizerSettings::default()
        },
        iqn: IqnSettings {
            num_tau_samples: N,
            num_tau_prime_samples: N_PRIME,
            num_quantile_samples: K,
            ..IqnSettings::default()
        },
        ..DqnConfig::default()
    }
}
