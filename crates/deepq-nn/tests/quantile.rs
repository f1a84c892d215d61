//! The quantile head (QR-DQN) and the quantile Huber loss: the loss's gradient against
//! finite differences, its per-sample values, the head's Q-values (the mean over quantiles,
//! read `[n_quantiles, n_actions]`), and its safetensors layout (sb3-contrib's
//! `QuantileNetwork`: plain `nn.Sequential` names, `n_quantiles` in the metadata).

mod common;

use deepq_nn::{
    Arch, Mlp, N_QUANTILES_KEY, Workspace, from_safetensors, mean_over_quantiles,
    quantile_huber_loss, quantile_midpoints, safetensors_metadata, to_safetensors,
};

/// The loss as a plain f64 function of the current quantiles, straight from the definition.
fn reference_loss(
    batch: usize,
    current: &[f64],
    taus: &[f64],
    targets: &[f64],
    weights: &[f64],
) -> f64 {
    let (n, m) = (current.len() / batch, targets.len() / batch);
    let mut total = 0.0;
    for b in 0..batch {
        let mut row = 0.0;
        for i in 0..n {
            let tau = if taus.len() == n {
                taus[i]
            } else {
                taus[b * n + i]
            };
            for j in 0..m {
                let d = targets[b * m + j] - current[b * n + i];
                let huber = if d.abs() > 1.0 {
                    d.abs() - 0.5
                } else {
                    0.5 * d * d
                };
                row += (tau - if d < 0.0 { 1.0 } else { 0.0 }).abs() * huber;
            }
        }
        total += weights[b] * row / m as f64;
    }
    total / batch as f64
}

#[test]
fn quantile_huber_loss_gradient_matches_finite_differences() {
    let mut rng = common::rng(7);
    let (batch, n, m) = (3, 5, 4);
    for per_row_taus in [false, true] {
        for weighted in [false, true] {
            // Spread values so that some |δ| exceed κ = 1 and some do not.
            let current: Vec<f64> = common::uniform(&mut rng, batch * n, 2.0);
            let targets: Vec<f64> = common::uniform(&mut rng, batch * m, 2.0);
            let taus: Vec<f64> = if per_row_taus {
                common::uniform::<f64>(&mut rng, batch * n, 0.5)
                    .iter()
                    .map(|t| t + 0.5)
                    .collect()
            } else {
                quantile_midpoints(n)
            };
            let weights: Vec<f64> = if weighted {
                vec![0.5, 1.0, 2.0]
            } else {
                vec![1.0; batch]
            };
            let mut grad = vec![0.0; batch * n];
            let mut per_sample = vec![0.0; batch];
            let loss = quantile_huber_loss(
                batch,
                &current,
                &taus,
                &targets,
                weighted.then_some(&weights[..]),
                &mut grad,
                Some(&mut per_sample),
            );
            let want = reference_loss(batch, &current, &taus, &targets, &weights);
            assert!((loss - want).abs() < 1e-12, "loss {loss} vs {want}");
            let unweighted = reference_loss(batch, &current, &taus, &targets, &[1.0; 3]);
            let mean_per_sample = per_sample.iter().sum::<f64>() / batch as f64;
            assert!((mean_per_sample - unweighted).abs() < 1e-12);
            let h = 1e-6;
            for k in 0..current.len() {
                let mut plus = current.clone();
                plus[k] += h;
                let mut minus = current.clone();
                minus[k] -= h;
                let fd = (reference_loss(batch, &plus, &taus, &targets, &weights)
                    - reference_loss(batch, &minus, &taus, &targets, &weights))
                    / (2.0 * h);
                assert!(
                    (fd - grad[k]).abs() < 1e-7,
                    "d loss / d current[{k}]: {} vs finite difference {fd}",
                    grad[k]
                );
            }
        }
    }
}

#[test]
fn midpoints_are_sb3_contribs() {
    assert_eq!(
        quantile_midpoints::<f64>(4),
        vec![0.125, 0.375, 0.625, 0.875]
    );
}

fn quantile_net() -> Mlp<f32> {
    let arch = Arch {
        quantiles: 5,
        ..Arch::default()
    };
    Mlp::with_arch(&[4, 16, 3], arch, 0.5, &mut common::rng(3))
}

#[test]
fn a_quantile_head_acts_on_the_mean_of_its_quantiles() {
    let net = quantile_net();
    assert_eq!((net.n_outputs(), net.output_width()), (3, 15));
    let obs: Vec<f32> = common::uniform(&mut common::rng(4), 8 * 4, 1.0);
    let mut ws = Workspace::new(&net, 8);
    let rows = net.forward(&obs, 8, &mut ws).to_vec();
    let mut q = vec![0.0; 8 * 3];
    mean_over_quantiles(&rows, 5, 3, &mut q);
    let mut one = Workspace::new(&net, 1);
    for r in 0..8 {
        // Quantile i of action a is unit i·n_actions + a.
        let by_hand: Vec<f32> = (0..3)
            .map(|a| (0..5).map(|i| rows[r * 15 + i * 3 + a]).sum::<f32>() / 5.0)
            .collect();
        assert_eq!(&q[r * 3..r * 3 + 3], &by_hand[..]);
        // One observation runs other kernels than a batch: the same values to rounding.
        let mut single = vec![0.0; 3];
        net.predict_one(&obs[r * 4..r * 4 + 4], &mut one, &mut single);
        for (s, h) in single.iter().zip(&by_hand) {
            assert!((s - h).abs() < 1e-6, "{single:?} vs {by_hand:?}");
        }
        let best = (0..3).fold(0, |b, a| if single[a] > single[b] { a } else { b });
        assert_eq!(net.argmax_action(&obs[r * 4..r * 4 + 4], &mut one), best);
    }
}

#[test]
fn a_quantile_head_saves_as_a_sequential_with_its_quantile_count() {
    let net = quantile_net();
    let bytes = to_safetensors(&net);
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut names = file.names();
    names.sort();
    assert_eq!(names, ["0.bias", "0.weight", "2.bias", "2.weight"]);
    assert_eq!(file.tensor("2.weight").unwrap().shape(), [15, 16]);
    assert_eq!(
        safetensors_metadata(&bytes).unwrap()[N_QUANTILES_KEY],
        "5".to_string()
    );
    let back: Mlp<f32> = from_safetensors(&bytes).unwrap();
    assert_eq!(back.arch(), net.arch());
    assert_eq!(back.sizes(), net.sizes());
    assert_eq!(back.params(), net.params());

    // Without the metadata (PyTorch's own `save_file(state_dict)`), the file is a plain
    // network of 15 outputs; a count that does not divide them is refused.
    let tensors = file.tensors();
    let plain = safetensors::serialize(tensors.clone(), None).unwrap();
    assert_eq!(
        from_safetensors::<f32>(&plain).unwrap().sizes(),
        [4, 16, 15]
    );
    let metadata = std::collections::HashMap::from([(N_QUANTILES_KEY.to_string(), "4".into())]);
    let wrong = safetensors::serialize(tensors, Some(metadata)).unwrap();
    let err = from_safetensors::<f32>(&wrong).unwrap_err().to_string();
    assert!(err.contains("4 quantiles"), "{err}");
}

#[test]
fn the_loss_sums_its_pairs_in_order_across_blocks_of_targets() {
    // 150 targets per row (more than one block of the loss's branch-free terms, and not a
    // multiple of it), δ both inside and outside the Huber threshold: the f32 loss, gradient
    // and per-sample values are the bits of the pairs summed one after the other.
    let (batch, n, m) = (2, 5, 150);
    let current: Vec<f32> = (0..batch * n)
        .map(|k| (k as f32 * 0.7).sin() * 2.0)
        .collect();
    let targets: Vec<f32> = (0..batch * m)
        .map(|k| (k as f32 * 0.13).cos() * 3.0)
        .collect();
    let taus: Vec<f32> = quantile_midpoints(n);
    let mut grad = vec![0.0f32; batch * n];
    let mut per_sample = vec![0.0f32; batch];
    let loss = quantile_huber_loss(
        batch,
        &current,
        &taus,
        &targets,
        None,
        &mut grad,
        Some(&mut per_sample),
    );
    let mut total = 0.0f32;
    for b in 0..batch {
        let mut row_loss = 0.0f32;
        for i in 0..n {
            let (z, tau) = (current[b * n + i], taus[i]);
            let mut slope_sum = 0.0f32;
            for &target in &targets[b * m..(b + 1) * m] {
                let delta = target - z;
                let asymmetry = (tau - if delta < 0.0 { 1.0 } else { 0.0 }).abs();
                let (huber, slope) = if delta.abs() > 1.0 {
                    (delta.abs() - 0.5, delta.signum())
                } else {
                    (0.5 * delta * delta, delta)
                };
                row_loss += asymmetry * huber;
                slope_sum += asymmetry * slope;
            }
            let scale = 1.0f32 * (1.0 / batch as f64) as f32 * (1.0 / m as f64) as f32;
            assert_eq!(grad[b * n + i], -slope_sum * scale, "gradient ({b}, {i})");
        }
        let row_loss = row_loss * (1.0 / m as f64) as f32;
        assert_eq!(per_sample[b], row_loss, "row {b}");
        total += row_loss;
    }
    assert_eq!(loss, total * (1.0 / batch as f64) as f32);
}
