//! Identical training runs give bit-identical parameters.

mod common;

use common::{rng, uniform};
use deepq_nn::{
    Loss, Mlp, Optimizer, OptimizerConfig, Workspace, clip_grad_norm, max_per_row, polyak_update,
    q_loss,
};
use rand::Rng;

/// A small DQN-style training run; returns the online and target parameters.
fn train(seed: u64, steps: usize) -> (Vec<f32>, Vec<f32>) {
    let mut r = rng(seed);
    let sizes = [6, 64, 64, 3];
    let batch = 32;
    let mut online = Mlp::<f32>::new(&sizes, &mut r);
    let mut target = online.clone();
    let mut opt = Optimizer::new(OptimizerConfig::adam(1e-3), online.n_params());
    let mut ws = Workspace::new(&online, batch);
    let mut target_ws = Workspace::new(&target, batch);
    let mut grads = vec![0.0; online.n_params()];
    let mut grad_q = vec![0.0; batch * 3];
    let mut next_max = vec![0.0; batch];
    for step in 0..steps {
        let obs: Vec<f32> = uniform(&mut r, batch * 6, 1.0);
        let next_obs: Vec<f32> = uniform(&mut r, batch * 6, 1.0);
        let actions: Vec<u32> = (0..batch).map(|_| r.random_range(0..3)).collect();
        max_per_row(
            target.forward(&next_obs, batch, &mut target_ws),
            3,
            &mut next_max,
        );
        let targets: Vec<f32> = next_max.iter().map(|&m| 1.0 + 0.99 * m).collect();
        let q = online.forward(&obs, batch, &mut ws);
        q_loss(
            Loss::Huber,
            q,
            3,
            &actions,
            &targets,
            None,
            &mut grad_q,
            None,
        );
        online.backward(&mut ws, &grad_q, &mut grads);
        clip_grad_norm(&mut grads, 1.0);
        opt.step(online.params_mut(), &grads);
        if step % 10 == 0 {
            target.copy_params_from(&online);
        } else {
            polyak_update(target.params_mut(), online.params(), 0.01);
        }
        // Interleaved acting must not change training.
        online.argmax_action(&obs[..6], &mut ws);
    }
    (online.params().to_vec(), target.params().to_vec())
}

#[test]
fn identical_runs_are_bit_identical() {
    let a = train(42, 60);
    let b = train(42, 60);
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&a.0), bits(&b.0));
    assert_eq!(bits(&a.1), bits(&b.1));
    // And training did something.
    let c = train(43, 60);
    assert_ne!(bits(&a.0), bits(&c.0));
}
