//! Exact small cases for the TD loss, Q-value helpers, gradient clipping and Polyak updates.

use deepq_nn::{Loss, argmax_per_row, clip_grad_norm, gather, max_per_row, polyak_update, q_loss};

// Two samples, three actions; all values exactly representable so results are exact.
const Q: [f64; 6] = [1.0, 2.0, 3.0, -1.0, 0.5, 0.25];
const ACTIONS: [u32; 2] = [2, 1];

#[test]
fn mse_value_gradient_and_td_errors() {
    let targets = [1.0, 1.0]; // x = Q(s,a) − target = [2, −0.5]
    let mut grad = [9.0; 6];
    let mut td = [0.0; 2];
    let loss = q_loss(
        Loss::Mse,
        &Q,
        3,
        &ACTIONS,
        &targets,
        None,
        &mut grad,
        Some(&mut td),
    );
    assert_eq!(loss, (4.0 + 0.25) / 2.0);
    // d/dx mean(x²) = 2x / batch.
    assert_eq!(grad, [0.0, 0.0, 2.0, 0.0, -0.5, 0.0]);
    assert_eq!(td, [-2.0, 0.5]);
}

#[test]
fn huber_value_and_gradient_in_both_regimes() {
    let targets = [1.0, 1.0]; // x = [2 (linear part), −0.5 (quadratic part)]
    let mut grad = [0.0; 6];
    let loss = q_loss(
        Loss::Huber,
        &Q,
        3,
        &ACTIONS,
        &targets,
        None,
        &mut grad,
        None,
    );
    assert_eq!(loss, ((2.0 - 0.5) + 0.5 * 0.25) / 2.0);
    assert_eq!(grad, [0.0, 0.0, 0.5, 0.0, -0.25, 0.0]);
}

#[test]
fn weights_scale_each_sample() {
    let targets = [1.0, 1.0];
    let weights = [0.5, 4.0];
    let mut grad = [0.0; 6];
    let loss = q_loss(
        Loss::Huber,
        &Q,
        3,
        &ACTIONS,
        &targets,
        Some(&weights),
        &mut grad,
        None,
    );
    assert_eq!(loss, (0.5 * 1.5 + 4.0 * 0.125) / 2.0);
    assert_eq!(grad, [0.0, 0.0, 0.25, 0.0, -1.0, 0.0]);
}

#[test]
fn f32_losses_match_f64() {
    let q: Vec<f32> = Q.iter().map(|&v| v as f32).collect();
    let mut grad = [0.0f32; 6];
    let loss = q_loss(
        Loss::Mse,
        &q,
        3,
        &ACTIONS,
        &[0.0, 0.0],
        None,
        &mut grad,
        None,
    );
    assert_eq!(loss, (9.0 + 0.25) / 2.0);
    assert_eq!(grad, [0.0, 0.0, 3.0, 0.0, 0.5, 0.0]);
}

#[test]
#[should_panic(expected = "out of range")]
fn invalid_action_panics() {
    let mut grad = [0.0; 6];
    q_loss(
        Loss::Mse,
        &Q,
        3,
        &[0, 3],
        &[0.0, 0.0],
        None,
        &mut grad,
        None,
    );
}

#[test]
fn row_helpers() {
    let mut max = [0.0; 2];
    max_per_row(&Q, 3, &mut max);
    assert_eq!(max, [3.0, 0.5]);
    let mut arg = [9; 2];
    argmax_per_row(&Q, 3, &mut arg);
    assert_eq!(arg, [2, 1]);
    let mut taken = [0.0; 2];
    gather(&Q, 3, &[0, 2], &mut taken);
    assert_eq!(taken, [1.0, 0.25]);
}

#[test]
fn clip_grad_norm_leaves_small_gradients_alone() {
    let mut g = [3.0f64, 4.0];
    assert_eq!(clip_grad_norm(&mut g, 10.0), 5.0);
    assert_eq!(g, [3.0, 4.0]);
}

#[test]
fn clip_grad_norm_scales_large_gradients() {
    let mut g = [3.0f64, -4.0, 0.0];
    let total = clip_grad_norm(&mut g, 1.0);
    assert_eq!(total, 5.0);
    let coef = 1.0 / (5.0 + 1e-6);
    assert_eq!(g, [3.0 * coef, -4.0 * coef, 0.0]);
}

#[test]
fn clip_grad_norm_over_many_elements() {
    // 100 elements of 0.5: norm 5, exactly, whatever the summation order.
    let mut g = vec![0.5f32; 100];
    assert_eq!(clip_grad_norm(&mut g, 2.5), 5.0);
    let coef = 2.5f32 / (5.0 + 1e-6);
    assert!(g.iter().all(|&v| v == 0.5 * coef));
}

#[test]
fn polyak_update_blends() {
    let mut target = [1.0f64, 2.0, -4.0];
    polyak_update(&mut target, &[3.0, 4.0, 4.0], 0.25);
    assert_eq!(target, [1.5, 2.5, -2.0]);
    polyak_update(&mut target, &[0.0, 0.0, 0.0], 1.0);
    assert_eq!(target, [0.0, 0.0, 0.0]);
    let mut t32 = vec![2.0f32; 37];
    polyak_update(&mut t32, &[4.0; 37], 0.5);
    assert!(t32.iter().all(|&v| v == 3.0));
}
