//! Forward pass and single-observation inference against a naive reference.

mod common;

use common::{naive_forward, rng, uniform};
use deepq_nn::{
    Activation, Arch, ConvLayer, ImageShape, Mlp, Precision, Scalar, Workspace, argmax,
};
use rand::Rng;

const ARCHITECTURES: [&[usize]; 6] = [
    &[1, 1],
    &[4, 2],
    &[4, 64, 64, 2],
    &[8, 33, 17, 5],
    &[3, 40, 20, 10, 4],
    &[17, 128, 3],
];

/// Compares `forward` with the f64 reference on random networks and batch sizes, to
/// `rtol` relative to the magnitude of the products summed (so cancellation cannot make
/// a correct result look wrong).
fn check_forward<T: Scalar>(rtol: f64) {
    let mut r = rng(11);
    for sizes in ARCHITECTURES {
        let mlp = Mlp::<T>::new(sizes, &mut r);
        let mut ws = Workspace::new(&mlp, 70);
        for batch in [0, 1, 3, 64, 70] {
            let input: Vec<T> = uniform(&mut r, batch * sizes[0], 1.5);
            let got = mlp.forward(&input, batch, &mut ws).to_vec();
            let want = naive_forward(&mlp, &input, batch).pop().unwrap();
            assert_eq!(got.len(), want.len());
            for (g, w) in got.iter().zip(&want) {
                assert!(
                    (g.to_f64() - w).abs() <= rtol * (1.0 + w.abs()),
                    "{sizes:?} batch {batch}: {g} vs {w}"
                );
            }
        }
    }
}

/// f64: only summation order differs from the reference (a few ε per layer).
#[test]
fn forward_matches_reference_f64() {
    check_forward::<f64>(1e-12);
}

/// f32: rounding of inputs, weights and every partial sum (~1e-7 each, sums of ≤ 128
/// terms of size ≤ 1).
#[test]
fn forward_matches_reference_f32() {
    check_forward::<f32>(2e-5);
}

fn check_single<T: Scalar>(rtol: f64) {
    let mut r = rng(12);
    for sizes in ARCHITECTURES {
        let mlp = Mlp::<T>::new(sizes, &mut r);
        let mut ws = Workspace::new(&mlp, 1);
        let mut out = vec![T::ZERO; mlp.n_outputs()];
        for _ in 0..20 {
            let obs: Vec<T> = uniform(&mut r, sizes[0], 2.0);
            let batched = mlp.forward(&obs, 1, &mut ws).to_vec();
            mlp.predict_one(&obs, &mut ws, &mut out);
            for (a, b) in out.iter().zip(&batched) {
                assert!((a.to_f64() - b.to_f64()).abs() <= rtol * (1.0 + b.to_f64().abs()));
            }
            let action = mlp.argmax_action(&obs, &mut ws);
            assert_eq!(action, argmax(&out));
            // The batched pass sums in another order, so only a near-tie may pick differently.
            let best = batched[argmax(&batched)].to_f64();
            assert!(best - batched[action].to_f64() <= rtol * (1.0 + best.abs()));
        }
    }
}

#[test]
fn predict_one_and_argmax_agree_with_forward_f64() {
    check_single::<f64>(1e-12);
}

#[test]
fn predict_one_and_argmax_agree_with_forward_f32() {
    check_single::<f32>(2e-5);
}

#[test]
fn argmax_takes_first_of_ties() {
    assert_eq!(argmax(&[1.0f32, 3.0, 3.0, 2.0]), 1);
    assert_eq!(argmax(&[5.0f64, 5.0]), 0);
    assert_eq!(argmax(&[-1.0f32]), 0);
}

#[test]
fn argmax_action_on_a_hand_built_network() {
    // One linear layer: Q = [x0 - x1, x1 - x0 + 0.5].
    let mut mlp = Mlp::<f32>::zeros(&[2, 2]);
    mlp.params_mut()
        .copy_from_slice(&[1.0, -1.0, -1.0, 1.0, 0.0, 0.5]);
    let mut ws = Workspace::new(&mlp, 1);
    assert_eq!(mlp.argmax_action(&[1.0, 0.0], &mut ws), 0);
    assert_eq!(mlp.argmax_action(&[0.0, 0.0], &mut ws), 1);
    assert_eq!(mlp.argmax_action(&[0.25, 0.0], &mut ws), 0); // tie: 0.25 vs 0.25
}

#[test]
fn accessors_describe_the_layout() {
    let mlp = Mlp::<f32>::new(&[4, 64, 64, 2], &mut rng(0));
    assert_eq!(mlp.sizes(), &[4, 64, 64, 2]);
    assert_eq!(mlp.n_inputs(), 4);
    assert_eq!(mlp.n_outputs(), 2);
    assert_eq!(mlp.n_params(), 4 * 64 + 64 + 64 * 64 + 64 + 64 * 2 + 2);
    assert_eq!(mlp.params().len(), mlp.n_params());
}

#[test]
fn copy_params_from_makes_identical_networks() {
    let mut r = rng(5);
    let a = Mlp::<f64>::new(&[3, 5, 2], &mut r);
    let mut b = Mlp::<f64>::new(&[3, 5, 2], &mut r);
    assert_ne!(a.params(), b.params());
    b.copy_params_from(&a);
    assert_eq!(a.params(), b.params());
}

#[test]
fn serde_round_trip_and_validation() {
    let mlp = Mlp::<f32>::new(&[3, 4, 2], &mut rng(1));
    let json = serde_json::to_string(&mlp).unwrap();
    let back: Mlp<f32> = serde_json::from_str(&json).unwrap();
    assert_eq!(back.sizes(), mlp.sizes());
    assert_eq!(back.params(), mlp.params());
    let bad = r#"{"sizes":[3,4,2],"params":[1.0,2.0]}"#;
    assert!(serde_json::from_str::<Mlp<f32>>(bad).is_err());
    let bad = r#"{"sizes":[3],"params":[]}"#;
    assert!(serde_json::from_str::<Mlp<f32>>(bad).is_err());
}

#[test]
fn serde_of_layer_norm_networks_and_of_older_checkpoints() {
    let arch = deepq_nn::Arch {
        layer_norm: true,
        layer_norm_eps: 1e-6,
        ..deepq_nn::Arch::default()
    };
    let mlp = Mlp::<f32>::with_arch(&[3, 4, 2], arch, 0.5, &mut rng(1));
    let json = serde_json::to_string(&mlp).unwrap();
    let back: Mlp<f32> = serde_json::from_str(&json).unwrap();
    assert_eq!(back.arch(), mlp.arch());
    assert_eq!(back.params(), mlp.params());
    // 3·4 + 4 + 4 + 4 (LayerNorm) + 4·2 + 2.
    assert_eq!(mlp.n_params(), 34);
    // An `arch` written before LayerNorm existed reads as LayerNorm off.
    let old = r#"{"sizes":[3,4,2],"arch":{"dueling":false,"noisy":false,"atoms":1,"v_min":-10.0,"v_max":10.0},"params":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]}"#;
    let back: Mlp<f32> = serde_json::from_str(old).unwrap();
    assert_eq!(*back.arch(), deepq_nn::Arch::default());
    // A LayerNorm network's parameter count is checked too.
    let short = json.replacen("\"params\":[", "\"params\":[1.0,", 1);
    assert!(serde_json::from_str::<Mlp<f32>>(&short).is_err());
}

#[test]
#[should_panic(expected = "max_batch")]
fn forward_rejects_oversized_batch() {
    let mlp = Mlp::<f32>::new(&[2, 3, 1], &mut rng(0));
    let mut ws = Workspace::new(&mlp, 2);
    mlp.forward(&[0.0; 6], 3, &mut ws);
}

#[test]
#[should_panic(expected = "different sizes")]
fn workspace_of_another_shape_is_rejected() {
    let mut r = rng(0);
    let a = Mlp::<f32>::new(&[2, 3, 1], &mut r);
    let b = Mlp::<f32>::new(&[2, 4, 1], &mut r);
    let mut ws = Workspace::new(&a, 1);
    b.argmax_action(&[0.0, 0.0], &mut ws);
}

#[test]
#[should_panic(expected = "forward pass")]
fn backward_before_forward_panics() {
    let mlp = Mlp::<f32>::new(&[2, 3, 1], &mut rng(0));
    let mut ws = Workspace::new(&mlp, 1);
    let mut grads = vec![0.0; mlp.n_params()];
    mlp.backward(&mut ws, &[1.0], &mut grads);
}

#[test]
fn random_observation_batches_reuse_one_workspace() {
    let mut r = rng(3);
    let mlp = Mlp::<f32>::new(&[4, 32, 2], &mut r);
    let mut ws = Workspace::new(&mlp, 16);
    for _ in 0..50 {
        let batch = r.random_range(1..=16);
        let input: Vec<f32> = uniform(&mut r, batch * 4, 1.0);
        assert_eq!(mlp.forward(&input, batch, &mut ws).len(), batch * 2);
    }
}

/// Acting on several observations at once gives each row the bits of acting on it alone,
/// for every head, torso, activation and precision, and reuses its scratch for fewer rows.
#[test]
fn acting_on_rows_gives_each_row_the_bits_of_acting_alone() {
    let mut r = rng(13);
    let heads = [
        Arch::default(),
        Arch {
            dueling: true,
            ..Arch::default()
        },
        Arch {
            atoms: 5,
            dueling: true,
            ..Arch::default()
        },
        Arch {
            quantiles: 3,
            ..Arch::default()
        },
        Arch {
            layer_norm: true,
            ..Arch::default()
        },
        Arch {
            noisy: true,
            ..Arch::default()
        },
        Arch {
            precision: Precision::Bf16,
            ..Arch::default()
        },
    ];
    let mut nets = Vec::new();
    for arch in heads {
        let mut mlp = Mlp::<f32>::with_arch(&[8, 33, 17, 5], arch, 0.5, &mut r);
        mlp.sample_noise(&mut r);
        nets.push(mlp);
    }
    let tanh = Arch {
        activation: Activation::Tanh,
        ..Arch::default()
    };
    nets.push(Mlp::with_arch(&[8, 20, 5], tanh, 0.5, &mut r));
    let image = ImageShape {
        height: 7,
        width: 6,
        channels: 3,
    };
    let conv = [
        ConvLayer {
            filters: 4,
            kernel: 3,
            stride: 2,
            padding: 1,
        },
        ConvLayer {
            filters: 5,
            kernel: 2,
            stride: 1,
            padding: 0,
        },
    ];
    for arch in [
        Arch::default(),
        Arch {
            layer_norm: true,
            ..Arch::default()
        },
        Arch {
            precision: Precision::Bf16,
            ..Arch::default()
        },
    ] {
        nets.push(Mlp::with_conv(image, &conv, &[16], 5, arch, 0.5, &mut r));
    }
    for mlp in &nets {
        let (d, n) = (mlp.n_inputs(), mlp.n_outputs());
        let mut ws = Workspace::new(mlp, 1);
        for rows in [3, 1, 8, 2] {
            let obs: Vec<f32> = uniform(&mut r, rows * d, 1.0);
            let mut q = vec![0.0; rows * n];
            mlp.predict_rows(&obs, &mut ws, &mut q);
            let mut actions = vec![usize::MAX; rows];
            mlp.argmax_actions(&obs, &mut ws, &mut actions);
            let mut alone = Workspace::new(mlp, 1);
            for (i, x) in obs.chunks_exact(d).enumerate() {
                let mut want = vec![0.0; n];
                mlp.predict_one(x, &mut alone, &mut want);
                let got = &q[i * n..(i + 1) * n];
                assert!(
                    got.iter()
                        .zip(&want)
                        .all(|(a, b)| a.to_bits() == b.to_bits()),
                    "{:?} row {i} of {rows}: {got:?} vs {want:?}",
                    mlp.arch()
                );
                assert_eq!(actions[i], mlp.argmax_action(x, &mut alone));
            }
        }
    }
}
