//! Backward pass and loss gradients against central finite differences (f64).

mod common;

use common::{naive_forward, rng, uniform};
use deepq_nn::{Loss, Mlp, Workspace, q_loss};
use rand::Rng;

/// Finite-difference step. The loss is O(1), so central differences carry a truncation
/// error of about h²·|L'''| ≈ 1e-12 and a rounding error of about ε·|L|/h ≈ 1e-10.
const H: f64 = 1e-6;
/// Accepted |analytic − numeric| / max(1, |analytic|, |numeric|). Both error sources above
/// are below 1e-9; a wrong index, transpose or missing term gives errors of order 1e-2 to 1,
/// so 1e-7 separates them with wide margins on both sides.
const TOL: f64 = 1e-7;
/// Pre-activations and Huber arguments must stay this far from a kink (0 for ReLU, ±1 for
/// Huber), so that a parameter perturbation of `H` (moving them by ≲ 1e-5) cannot cross it.
const KINK_MARGIN: f64 = 1e-3;

struct Problem {
    mlp: Mlp<f64>,
    input: Vec<f64>,
    batch: usize,
    actions: Vec<u32>,
    targets: Vec<f64>,
    weights: Option<Vec<f64>>,
    loss: Loss,
}

impl Problem {
    fn loss_value(&self, mlp: &Mlp<f64>) -> f64 {
        let n_act = mlp.n_outputs();
        let q = naive_forward(mlp, &self.input, self.batch).pop().unwrap();
        let mut grad_q = vec![0.0; q.len()];
        q_loss(
            self.loss,
            &q,
            n_act,
            &self.actions,
            &self.targets,
            self.weights.as_deref(),
            &mut grad_q,
            None,
        )
    }

    /// True if no ReLU pre-activation and no Huber argument is near its kink.
    fn away_from_kinks(&self) -> bool {
        let pre = naive_forward(&self.mlp, &self.input, self.batch);
        let hidden_ok = pre[..pre.len() - 1]
            .iter()
            .flatten()
            .all(|z| z.abs() > KINK_MARGIN);
        let q = pre.last().unwrap();
        let n_act = self.mlp.n_outputs();
        let huber_ok = self.actions.iter().enumerate().all(|(i, &a)| {
            let x = q[i * n_act + a as usize] - self.targets[i];
            (x.abs() - 1.0).abs() > KINK_MARGIN
        });
        hidden_ok && huber_ok
    }
}

/// Draws a random problem; redraws until it is away from every kink.
fn problem(sizes: &[usize], batch: usize, loss: Loss, weighted: bool, seed: u64) -> Problem {
    let mut r = rng(seed);
    loop {
        let mlp = Mlp::<f64>::new(sizes, &mut r);
        let n_act = mlp.n_outputs() as u32;
        let p = Problem {
            input: uniform(&mut r, batch * sizes[0], 2.0),
            actions: (0..batch).map(|_| r.random_range(0..n_act)).collect(),
            // Spread targets so Huber sees both its quadratic and its linear part.
            targets: uniform(&mut r, batch, 3.0),
            weights: weighted.then(|| (0..batch).map(|_| r.random_range(0.1..2.0)).collect()),
            mlp,
            batch,
            loss,
        };
        if p.away_from_kinks() {
            return p;
        }
    }
}

fn check_gradients(p: &Problem) {
    let n_act = p.mlp.n_outputs();
    let mut ws = Workspace::new(&p.mlp, p.batch);
    let q = p.mlp.forward(&p.input, p.batch, &mut ws).to_vec();
    let mut grad_q = vec![0.0; q.len()];
    let loss = q_loss(
        p.loss,
        &q,
        n_act,
        &p.actions,
        &p.targets,
        p.weights.as_deref(),
        &mut grad_q,
        None,
    );
    assert!((loss - p.loss_value(&p.mlp)).abs() < 1e-12 * loss.abs().max(1.0));
    let mut grads = vec![f64::NAN; p.mlp.n_params()];
    p.mlp.backward(&mut ws, &grad_q, &mut grads);

    let mut perturbed = p.mlp.clone();
    for (i, &analytic) in grads.iter().enumerate() {
        let original = perturbed.params()[i];
        perturbed.params_mut()[i] = original + H;
        let up = p.loss_value(&perturbed);
        perturbed.params_mut()[i] = original - H;
        let down = p.loss_value(&perturbed);
        perturbed.params_mut()[i] = original;
        let numeric = (up - down) / (2.0 * H);
        let err = (analytic - numeric).abs() / analytic.abs().max(numeric.abs()).max(1.0);
        assert!(
            err < TOL,
            "sizes {:?} batch {} {:?} weighted {}: param {i}: analytic {analytic:e}, numeric {numeric:e}",
            p.mlp.sizes(),
            p.batch,
            p.loss,
            p.weights.is_some()
        );
    }
}

const ARCHITECTURES: [&[usize]; 5] = [
    &[3, 2],
    &[4, 8, 2],
    &[5, 7, 6, 3],
    &[4, 9, 5, 7, 3],
    &[6, 33, 17, 4],
];

#[test]
fn all_layers_all_losses_match_finite_differences() {
    let mut seed = 0;
    for sizes in ARCHITECTURES {
        for batch in [1, 7] {
            for loss in [Loss::Mse, Loss::Huber] {
                for weighted in [false, true] {
                    seed += 1;
                    check_gradients(&problem(sizes, batch, loss, weighted, seed));
                }
            }
        }
    }
}

/// Batches and widths of 16 and more send the products through `matrixmultiply` rather
/// than the row-by-row kernel used for small ones.
#[test]
fn large_products_match_finite_differences() {
    for (seed, loss) in [(100, Loss::Huber), (101, Loss::Mse)] {
        check_gradients(&problem(&[5, 33, 20, 3], 24, loss, true, seed));
    }
    // Hidden widths of 64 and more take the blocked bias-gradient sums (a 64-column block plus
    // a remainder here).
    check_gradients(&problem(&[3, 70, 66, 2], 5, Loss::Mse, true, 102));
}

#[test]
fn backward_overwrites_previous_gradients() {
    let p = problem(&[4, 8, 8, 2], 5, Loss::Mse, false, 99);
    let mut ws = Workspace::new(&p.mlp, p.batch);
    let q = p.mlp.forward(&p.input, p.batch, &mut ws).to_vec();
    let mut grad_q = vec![0.0; q.len()];
    q_loss(
        p.loss,
        &q,
        2,
        &p.actions,
        &p.targets,
        None,
        &mut grad_q,
        None,
    );
    let mut fresh = vec![0.0; p.mlp.n_params()];
    p.mlp.backward(&mut ws, &grad_q, &mut fresh);
    let mut dirty = vec![123.0; p.mlp.n_params()];
    p.mlp.backward(&mut ws, &grad_q, &mut dirty);
    assert_eq!(fresh, dirty);
}

#[test]
fn single_observation_inference_does_not_disturb_backward() {
    let p = problem(&[4, 16, 16, 3], 6, Loss::Huber, false, 7);
    let mut ws = Workspace::new(&p.mlp, p.batch);
    let q = p.mlp.forward(&p.input, p.batch, &mut ws).to_vec();
    let mut grad_q = vec![0.0; q.len()];
    q_loss(
        p.loss,
        &q,
        3,
        &p.actions,
        &p.targets,
        None,
        &mut grad_q,
        None,
    );
    let mut expected = vec![0.0; p.mlp.n_params()];
    let mut ws_copy = ws.clone();
    p.mlp.backward(&mut ws_copy, &grad_q, &mut expected);

    let mut out = [0.0; 3];
    p.mlp.predict_one(&[1.0, -1.0, 0.5, 2.0], &mut ws, &mut out);
    p.mlp.argmax_action(&[0.0, 3.0, -1.0, 1.0], &mut ws);
    let mut grads = vec![0.0; p.mlp.n_params()];
    p.mlp.backward(&mut ws, &grad_q, &mut grads);
    assert_eq!(grads, expected);
}
