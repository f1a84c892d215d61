//! The hidden-layer activations (ReLU, Tanh, ELU, LeakyReLU, SiLU, GELU) against PyTorch and
//! against finite differences.
//!
//! `tests/data/torch_activations.safetensors` was recorded by
//! `tests/reference/torch_activations.py`: per activation a float32 5-16-12-3 network, a batch
//! of 7 inputs, its outputs, and the gradients of `Σ output ⊙ grad_output` w.r.t. every
//! parameter and the input. Each network is loaded through `from_safetensors` with the
//! activation named in the metadata, as a PyTorch `state_dict` arrives.

mod common;

use std::collections::HashMap;

use common::{check_gradients_of, f32s, group, rng, uniform};
use deepq_nn::{
    ACTIVATION_KEY, Activation, Arch, ConvLayer, ImageShape, Mlp, Workspace, from_safetensors,
    safetensors_metadata, to_safetensors, to_safetensors_with_metadata,
};
use safetensors::SafeTensors;

const RECORDED: &[u8] = include_bytes!("data/torch_activations.safetensors");

/// `got` against PyTorch's `want`: `|got − want| ≤ 1e-5·|want| + 1e-6·max|want|` (float32
/// rounding of sums taken in another order, and ulp differences of the transcendental
/// functions). Returns the largest error relative to the tensor's largest entry.
fn compare(what: &str, got: &[f32], want: &[f32]) -> f64 {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let scale = want.iter().fold(0f64, |m, &v| m.max(v.abs() as f64));
    let mut worst = 0f64;
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let err = (g as f64 - w as f64).abs();
        assert!(
            err <= 1e-5 * (w as f64).abs() + 1e-6 * scale,
            "{what}[{i}]: got {g:e}, PyTorch {w:e}"
        );
        worst = worst.max(err / scale);
    }
    worst
}

/// The recorded network of `act`, read as PyTorch's `state_dict` with the activation
/// named in the metadata.
fn recorded_network(file: &SafeTensors<'_>, act: Activation) -> Mlp<f32> {
    let params = group(file, &format!("{}/params", act.name()));
    let metadata = (!act.is_relu())
        .then(|| HashMap::from([(ACTIVATION_KEY.to_string(), act.name().to_string())]));
    let bytes = safetensors::serialize(params, metadata).unwrap();
    let mlp: Mlp<f32> = from_safetensors(&bytes).expect("the PyTorch state_dict loads");
    assert_eq!(mlp.sizes(), [5, 16, 12, 3]);
    assert_eq!(mlp.arch().activation, act);
    mlp
}

#[test]
fn every_activation_matches_pytorch_forward_and_gradients() {
    let file = SafeTensors::deserialize(RECORDED).unwrap();
    for act in Activation::ALL {
        let name = act.name();
        let mlp = recorded_network(&file, act);
        let input = f32s(&file, &format!("{name}/input"));
        let batch = 7;
        let mut ws = Workspace::new(&mlp, batch);
        let out = mlp.forward(&input, batch, &mut ws).to_vec();
        let mut worst = compare(
            &format!("{name}/output"),
            &out,
            &f32s(&file, &format!("{name}/output")),
        );

        // Single-observation inference gives the same Q-values.
        let mut q = vec![0.0; 3];
        for (row, want) in input.chunks_exact(5).zip(out.chunks_exact(3)) {
            mlp.predict_one(row, &mut ws, &mut q);
            for (a, b) in q.iter().zip(want) {
                assert!(
                    (a - b).abs() <= 1e-6 * (1.0 + b.abs()),
                    "{name}: predict_one {a} vs {b}"
                );
            }
        }

        let grad_output = f32s(&file, &format!("{name}/grad_output"));
        let mut grads = vec![0.0; mlp.n_params()];
        let mut grad_input = vec![0.0; input.len()];
        mlp.forward(&input, batch, &mut ws);
        mlp.backward_to_input(&mut ws, &grad_output, &mut grads, Some(&mut grad_input));
        worst = worst.max(compare(
            &format!("{name}/grad_input"),
            &grad_input,
            &f32s(&file, &format!("{name}/grad_input")),
        ));
        // The gradient buffer written under the parameters' PyTorch names.
        let mut as_net = mlp.clone();
        as_net.params_mut().copy_from_slice(&grads);
        let bytes = to_safetensors(&as_net);
        let ours = SafeTensors::deserialize(&bytes).unwrap();
        let recorded = group(&file, &format!("{name}/grads"));
        assert_eq!(recorded.len(), 6);
        for (p, _) in recorded {
            worst = worst.max(compare(
                &format!("{name}/grads/{p}"),
                &f32s(&ours, &p),
                &f32s(&file, &format!("{name}/grads/{p}")),
            ));
        }
        eprintln!("{name}: largest error relative to its tensor's largest entry {worst:.2e}");
    }
}

#[test]
fn every_activation_has_the_gradient_of_its_forward_pass() {
    for act in Activation::ALL {
        let arch = Arch {
            activation: act,
            ..Arch::default()
        };
        // Inputs in [-1, 1] and default initialisation put pre-activations on both sides of 0.
        let mlp = Mlp::<f64>::with_arch(&[4, 9, 7, 3], arch, 0.5, &mut rng(5));
        check_gradients_of(mlp, &mut rng(6));
        // The heads read the hidden layers the same way: a noisy dueling C51 one.
        let rainbow = Arch {
            dueling: true,
            noisy: true,
            atoms: 5,
            ..arch
        };
        let mlp = Mlp::<f64>::with_arch(&[4, 9, 7, 3], rainbow, 0.5, &mut rng(5));
        check_gradients_of(mlp, &mut rng(6));
    }
}

#[test]
fn elementwise_formulas_match_their_definitions() {
    let f64_ref = |act: Activation, x: f64| -> f64 {
        match act {
            Activation::Relu => x.max(0.0),
            Activation::Tanh => x.tanh(),
            Activation::Elu => {
                if x > 0.0 {
                    x
                } else {
                    x.exp_m1()
                }
            }
            Activation::LeakyRelu => {
                if x > 0.0 {
                    x
                } else {
                    0.01 * x
                }
            }
            Activation::Silu => x / (1.0 + (-x).exp()),
            Activation::Gelu => 0.5 * x * (1.0 + libm::erf(x / std::f64::consts::SQRT_2)),
        }
    };
    for act in Activation::ALL {
        for i in -400..=400 {
            let x = i as f64 * 0.025;
            let want = f64_ref(act, x);
            let got = act.apply(x as f32) as f64;
            assert!(
                (got - want).abs() <= 4e-7 * (1.0 + want.abs()),
                "{act}({x}) = {got}, want {want}"
            );
            if x.abs() > 1e-3 {
                let h = 1e-6;
                let numeric = (f64_ref(act, x + h) - f64_ref(act, x - h)) / (2.0 * h);
                let y = act.apply(x);
                let analytic = act.backward(1.0, x, y);
                assert!(
                    (analytic - numeric).abs() < 1e-7,
                    "{act}'({x}) = {analytic}, want {numeric}"
                );
            }
        }
        assert!(act.apply(f32::NAN).is_nan(), "{act} passes NaN through");
    }
}

#[test]
fn the_activation_travels_with_the_file() {
    for act in Activation::ALL {
        let arch = Arch {
            activation: act,
            ..Arch::default()
        };
        let mlp = Mlp::<f32>::with_arch(&[4, 8, 2], arch, 0.5, &mut rng(1));
        let bytes = to_safetensors(&mlp);
        let metadata = safetensors_metadata(&bytes).unwrap();
        // A ReLU file is written as before activations could be chosen.
        assert_eq!(
            metadata.get(ACTIVATION_KEY).map(String::as_str),
            (!act.is_relu()).then_some(act.name())
        );
        let back: Mlp<f32> = from_safetensors(&bytes).unwrap();
        assert_eq!(back.arch().activation, act);
        assert_eq!(back.params(), mlp.params());
    }
    let mlp = Mlp::<f32>::new(&[4, 8, 2], &mut rng(1));
    let metadata = HashMap::from([(ACTIVATION_KEY.to_string(), "softplus".to_string())]);
    let bytes = to_safetensors_with_metadata(&mlp, Some(metadata));
    let err = from_safetensors::<f32>(&bytes).unwrap_err().to_string();
    assert!(
        err.contains("unknown activation \"softplus\"") && err.contains("\"gelu\""),
        "{err}"
    );
}

#[test]
fn other_activations_are_refused_where_the_network_uses_relu() {
    let tanh = Arch {
        activation: Activation::Tanh,
        ..Arch::default()
    };
    let conv = [ConvLayer {
        filters: 4,
        kernel: 3,
        stride: 1,
        padding: 0,
    }];
    let image = ImageShape {
        height: 5,
        width: 5,
        channels: 2,
    };
    let err = Mlp::<f32>::try_zeros_with_conv(image, &conv, &[8], 2, tanh).unwrap_err();
    assert!(
        err.contains("activation tanh needs a network without conv layers"),
        "{err}"
    );
    let err = Arch {
        layer_norm: true,
        ..tanh
    }
    .validate()
    .unwrap_err();
    assert!(
        err.contains("activation tanh needs a network without LayerNorm"),
        "{err}"
    );
    assert_eq!(
        "leaky_relu".parse::<Activation>(),
        Ok(Activation::LeakyRelu)
    );
    let err = "swish".parse::<Activation>().unwrap_err();
    assert!(
        err.contains(
            "expected one of \"relu\", \"tanh\", \"elu\", \"leaky_relu\", \"silu\", \"gelu\""
        ),
        "{err}"
    );
}

#[test]
fn batched_and_single_passes_agree_for_f32_and_f64() {
    for act in Activation::ALL {
        let arch = Arch {
            activation: act,
            ..Arch::default()
        };
        let mlp = Mlp::<f64>::with_arch(&[6, 70, 20, 4], arch, 0.5, &mut rng(3));
        let x: Vec<f64> = uniform(&mut rng(4), 6, 1.0);
        let mut ws = Workspace::new(&mlp, 1);
        let batched = mlp.forward(&x, 1, &mut ws).to_vec();
        let mut single = vec![0.0; 4];
        mlp.predict_one(&x, &mut ws, &mut single);
        for (a, b) in batched.iter().zip(&single) {
            assert!((a - b).abs() < 1e-12, "{act}: {a} vs {b}");
        }
    }
}
