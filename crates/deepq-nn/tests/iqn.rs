//! IQN's network: every parameter gradient against finite differences (MLP and conv torsos),
//! the greedy action as the mean over fractions, and the safetensors round trip.

mod common;

use deepq_nn::{
    Arch, ConvLayer, ImageShape, ImplicitQuantileNet, IqnWorkspace, Mlp, Scalar,
    iqn_from_safetensors, iqn_to_safetensors, is_iqn_file, mean_over_quantiles,
};

fn mlp_net<T: Scalar>(rng: &mut rand_pcg::Pcg64) -> ImplicitQuantileNet<T> {
    let torso = Mlp::new(&[3, 5], rng);
    ImplicitQuantileNet::new(torso, 4, &[6, 2], rng)
}

fn conv_net<T: Scalar>(rng: &mut rand_pcg::Pcg64) -> ImplicitQuantileNet<T> {
    let input = ImageShape {
        height: 4,
        width: 4,
        channels: 2,
    };
    let conv = [ConvLayer {
        filters: 3,
        kernel: 2,
        stride: 1,
        padding: 0,
    }];
    let torso = Mlp::with_conv(input, &conv, &[], 5, Arch::default(), 0.5, rng);
    ImplicitQuantileNet::new(torso, 4, &[3], rng)
}

/// Σ c·Z over a forward pass, the scalar whose gradient is checked.
fn objective(
    net: &ImplicitQuantileNet<f64>,
    obs: &[f64],
    states: usize,
    taus: &[f64],
    c: &[f64],
) -> f64 {
    let mut ws = IqnWorkspace::new(net, states, taus.len() / states);
    let z = net.forward(obs, states, taus, &mut ws);
    z.iter().zip(c).map(|(z, c)| z * c).sum()
}

fn check_gradients(mut net: ImplicitQuantileNet<f64>, rng: &mut rand_pcg::Pcg64) {
    let (states, n_tau) = (3, 4);
    let obs: Vec<f64> = common::uniform(rng, states * net.n_inputs(), 1.0)
        .iter()
        .map(|x: &f64| x.abs())
        .collect();
    let taus: Vec<f64> = common::uniform::<f64>(rng, states * n_tau, 0.5)
        .iter()
        .map(|t| t + 0.5)
        .collect();
    let c: Vec<f64> = common::uniform(rng, states * n_tau * net.n_actions(), 1.0);
    let mut ws = IqnWorkspace::new(&net, states, n_tau);
    net.forward(&obs, states, &taus, &mut ws);
    let mut grads = vec![0.0; net.n_params()];
    net.backward(&mut ws, &c, &mut grads);
    let h = 1e-6;
    let mut offset = 0;
    for part in 0..3 {
        let n = net.parts()[part].n_params();
        for k in 0..n {
            let original = net.params_mut()[part][k];
            net.params_mut()[part][k] = original + h;
            let plus = objective(&net, &obs, states, &taus, &c);
            net.params_mut()[part][k] = original - h;
            let minus = objective(&net, &obs, states, &taus, &c);
            net.params_mut()[part][k] = original;
            let fd = (plus - minus) / (2.0 * h);
            let got = grads[offset + k];
            assert!(
                (fd - got).abs() <= 1e-6 * (1.0 + fd.abs()),
                "part {part} parameter {k}: backward {got}, finite difference {fd}"
            );
        }
        offset += n;
    }
}

#[test]
fn iqn_gradients_match_finite_differences() {
    let mut rng = common::rng(11);
    let net = mlp_net(&mut rng);
    check_gradients(net, &mut rng);
    let net = conv_net(&mut rng);
    check_gradients(net, &mut rng);
}

#[test]
fn iqn_acts_on_the_mean_over_fractions_and_round_trips_through_safetensors() {
    let mut rng = common::rng(5);
    for net in [mlp_net::<f32>(&mut rng), conv_net(&mut rng)] {
        let bytes = iqn_to_safetensors(&net);
        assert!(is_iqn_file(&bytes));
        let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let names = file.names();
        assert!(names.contains(&"embedding.weight"), "{names:?}");
        assert!(names.contains(&"torso.0.weight"), "{names:?}");
        assert!(names.iter().any(|n| n.starts_with("head.")), "{names:?}");
        let back: ImplicitQuantileNet<f32> = iqn_from_safetensors(&bytes).unwrap();
        // The same weights give the same bytes (the metadata's keys are sorted).
        assert_eq!(iqn_to_safetensors(&back), bytes);
        for (a, b) in back.parts().iter().zip(net.parts()) {
            assert_eq!(a.params(), b.params());
            assert_eq!(a.sizes(), b.sizes());
            assert_eq!(a.conv_layers(), b.conv_layers());
        }
        assert!(!is_iqn_file(&deepq_nn::to_safetensors(net.parts()[2])));

        let obs: Vec<f32> = common::uniform(&mut rng, net.n_inputs(), 1.0);
        let taus = [0.1f32, 0.3, 0.5, 0.7, 0.9];
        let mut ws = IqnWorkspace::new(&net, 1, taus.len());
        let z = net.forward(&obs, 1, &taus, &mut ws).to_vec();
        let mut q = vec![0.0; net.n_actions()];
        mean_over_quantiles(&z, taus.len(), net.n_actions(), &mut q);
        let best = (0..q.len()).fold(0, |b, a| if q[a] > q[b] { a } else { b });
        assert_eq!(net.greedy_action(&obs, &taus, &mut ws), best);
    }
}

#[test]
fn the_embedding_reads_cosines_of_pi_i_tau() {
    // A 1-wide torso and an identity-like embedding expose the cosines through the head:
    // with weight e_i on cosine i, the embedding's unit gives cos(π·i·τ) (ReLU'd).
    let mut rng = common::rng(2);
    let torso = Mlp::<f64>::new(&[1, 1], &mut rng);
    let mut net = ImplicitQuantileNet::new(torso, 64, &[1], &mut rng);
    for i in [1usize, 7, 64] {
        let [t, e, h] = net.params_mut();
        t.copy_from_slice(&[0.0, 1.0]); // φ(s) = ReLU(0·s + 1) = 1
        e.fill(0.0);
        e[i - 1] = 1.0; // weight row of the one output unit, then its bias (0)
        h.copy_from_slice(&[1.0, 0.0]);
        for tau in [0.013, 0.25, 0.71] {
            let mut ws = IqnWorkspace::new(&net, 1, 1);
            let z = net.forward(&[0.5], 1, &[tau], &mut ws)[0];
            let want = (std::f64::consts::PI * i as f64 * tau).cos().max(0.0);
            assert!((z - want).abs() < 1e-12, "i {i}, τ {tau}: {z} vs {want}");
        }
    }
}

#[test]
fn each_row_of_a_batch_is_the_row_computed_alone() {
    // The cosines are computed several rows at a time, and the products per state: 3 states
    // × 7 fractions (21 rows, not a multiple of the 8 rows taken at once) must give each
    // row's bits as a forward pass of that one state at that one fraction.
    let mut rng = common::rng(5);
    let net = ImplicitQuantileNet::<f32>::new(Mlp::new(&[3, 16], &mut rng), 64, &[8, 2], &mut rng);
    let obs = [0.3f32, -1.2, 0.8, 0.1, 0.4, -0.5, -0.9, 2.0, 0.05];
    let taus: Vec<f32> = (0..21).map(|i| (i as f32 * 0.37 + 0.02) % 1.0).collect();
    let mut ws = IqnWorkspace::new(&net, 3, 7);
    let batch = net.forward(&obs, 3, &taus, &mut ws).to_vec();
    let mut alone_ws = IqnWorkspace::new(&net, 1, 1);
    for (row, tau) in taus.iter().enumerate() {
        let state = &obs[row / 7 * 3..row / 7 * 3 + 3];
        let alone = net.forward(state, 1, &[*tau], &mut alone_ws);
        assert_eq!(alone, &batch[row * 2..row * 2 + 2], "row {row}");
    }
}
