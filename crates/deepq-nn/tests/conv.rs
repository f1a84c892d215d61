//! Convolutional Q-networks.
//!
//! MinAtar's network against PyTorch: `torch_nets/minatar_cnn.safetensors` from the shared
//! golden directory (`$DEEPQ_GOLDEN_DIR`, else the first `shared/golden` above this crate;
//! its README, section "PyTorch reference tensors", and `gen_torch_nets.py` say how it was
//! made). `Conv2d(4, 16, 3) → ReLU → Flatten → Linear(1024, 128) → ReLU → Linear(128, 6)`,
//! float32, Huber loss on a batch of 8 channels-last observations: the Q-values, the loss,
//! every gradient, and the parameters after three centered-RMSprop and three Adam steps must
//! match PyTorch to float32 rounding. Run with `--nocapture` to see the largest errors.
//!
//! Then: finite-difference gradients in f64 (stride 2, padding 1, two conv layers, every
//! head), the safetensors round trip and names, the shrink-below-1×1 error, Nature DQN's
//! network, single-observation inference, and the MLP part's agreement with [`Mlp::with_arch`].

mod common;

use common::{batch, check_gradients, f32s, group, loss_and_grads};

use std::collections::HashMap;

use deepq_nn::{
    Arch, CONV_INPUT_SHAPE_KEY, CONV_PADDINGS_KEY, CONV_STRIDES_KEY, ConvLayer, ImageShape, Loss,
    Mlp, NnError, Optimizer, OptimizerConfig, Scalar, Workspace, conv_output_shapes,
    from_safetensors, from_safetensors_with_conv, q_loss, safetensors_metadata, to_safetensors,
};
use rand::Rng;
use safetensors::SafeTensors;

fn golden_bytes() -> Vec<u8> {
    common::torch_net("minatar_cnn.safetensors")
}

/// The network's tensors by PyTorch name, through this crate's safetensors writer.
fn named<T: Scalar>(mlp: &Mlp<T>) -> HashMap<String, (Vec<usize>, Vec<f64>)> {
    let bytes = to_safetensors(mlp);
    let file = SafeTensors::deserialize(&bytes).unwrap();
    file.names()
        .into_iter()
        .map(|n| {
            let view = file.tensor(n).unwrap();
            let values = if T::DTYPE == safetensors::Dtype::F32 {
                view.data()
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes(b.try_into().unwrap()) as f64)
                    .collect()
            } else {
                view.data()
                    .chunks_exact(8)
                    .map(|b| f64::from_le_bytes(b.try_into().unwrap()))
                    .collect()
            };
            (n.to_string(), (view.shape().to_vec(), values))
        })
        .collect()
}

const MINATAR_INPUT: ImageShape = ImageShape {
    height: 10,
    width: 10,
    channels: 4,
};
const MINATAR_CONV: [ConvLayer; 1] = [ConvLayer {
    filters: 16,
    kernel: 3,
    stride: 1,
    padding: 0,
}];

/// Relative tolerance: float32 rounding accumulated over sums of up to 1024 terms in
/// another order than PyTorch's kernels.
const RTOL: f64 = 1e-5;

/// Largest absolute and relative errors of one tensor group, for the report.
#[derive(Default, Debug)]
struct MaxErr {
    abs: f64,
    rel: f64,
}

/// Compares `got` with PyTorch's `want` elementwise: `|got − want| ≤ RTOL·|want| + atol(i)`.
fn compare(what: &str, got: &[f64], want: &[f32], atol: impl Fn(usize) -> f64, max: &mut MaxErr) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let w = w as f64;
        let err = (g - w).abs();
        assert!(
            err <= RTOL * w.abs() + atol(i),
            "{what}[{i}]: got {g:e}, PyTorch {w:e} (error {err:e})"
        );
        max.abs = max.abs.max(err);
        if w != 0.0 {
            max.rel = max.rel.max(err / w.abs());
        }
    }
}

#[test]
fn minatar_network_matches_pytorch() {
    let bytes = golden_bytes();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let b = batch(&file);
    // `params/*` as PyTorch's state_dict file would arrive: without the conv metadata, which
    // `from_safetensors` refuses and the caller supplies.
    let state_dict = safetensors::serialize(group(&file, "params"), None).unwrap();
    let err = from_safetensors::<f32>(&state_dict)
        .unwrap_err()
        .to_string();
    assert!(err.contains(CONV_INPUT_SHAPE_KEY), "{err}");
    let mlp: Mlp<f32> = from_safetensors_with_conv(&state_dict, MINATAR_INPUT, &MINATAR_CONV)
        .expect("the PyTorch state_dict loads");
    assert_eq!(mlp.sizes(), [1024, 128, 6]);
    assert_eq!(mlp.n_inputs(), 400);
    assert_eq!(mlp.input_shape(), Some(MINATAR_INPUT));
    assert_eq!(mlp.conv_layers(), MINATAR_CONV);
    assert!(mlp.arch().is_plain());

    // Parameters read back exactly, under PyTorch's names and shapes.
    let ours = named(&mlp);
    let params = group(&file, "params");
    assert_eq!(ours.len(), params.len());
    for (name, view) in &params {
        let (shape, values) = &ours[name];
        assert_eq!(shape, view.shape(), "{name}");
        let want: Vec<f64> = f32s(&file, &format!("params/{name}"))
            .iter()
            .map(|&v| v as f64)
            .collect();
        assert_eq!(values, &want, "{name}");
    }

    let mut ws = Workspace::new(&mlp, b.actions.len());
    let mut report = Vec::new();
    let (q, loss, grads) = loss_and_grads(Loss::Huber, &mlp, &b, &mut ws);
    let mut err = MaxErr::default();
    let q64: Vec<f64> = q.iter().map(|&v| v as f64).collect();
    compare("q", &q64, &f32s(&file, "q"), |_| 1e-6, &mut err);
    report.push(("q".to_string(), err));
    let mut err = MaxErr::default();
    compare(
        "loss",
        &[loss as f64],
        &f32s(&file, "loss"),
        |_| 0.0,
        &mut err,
    );
    report.push(("loss".to_string(), err));

    // Gradients by name: the gradient buffer written under parameter names. Summation-order
    // noise scales with the tensor's largest entries (entries that cancel to near zero keep
    // the rounding error of their large terms).
    let mut as_net = mlp.clone();
    as_net.params_mut().copy_from_slice(&grads);
    let ours = named(&as_net);
    let mut scales = HashMap::new();
    for (name, _) in group(&file, "grads") {
        let want = f32s(&file, &format!("grads/{name}"));
        let scale = want.iter().fold(0f64, |m, &v| m.max(v.abs() as f64));
        scales.insert(name.clone(), scale);
        let mut err = MaxErr::default();
        compare(
            &format!("grads/{name}"),
            &ours[&name].1,
            &want,
            |_| 1e-6 * scale,
            &mut err,
        );
        report.push((format!("grads/{name}"), err));
    }

    for (key, config, lr, eps) in [
        (
            "rmsprop_centered_lr2.5e-4_alpha0.95_eps0.01",
            OptimizerConfig::RmsProp {
                lr: 2.5e-4,
                alpha: 0.95,
                eps: 0.01,
                weight_decay: 0.0,
                momentum: 0.0,
                centered: true,
            },
            2.5e-4,
            0.01,
        ),
        ("adam_lr1e-3", OptimizerConfig::adam(1e-3), 1e-3, 1e-8),
    ] {
        let mut net = mlp.clone();
        let mut opt = Optimizer::new(config, net.n_params());
        for _ in 0..3 {
            let (_, _, grads) = loss_and_grads(Loss::Huber, &net, &b, &mut ws);
            opt.step(net.params_mut(), &grads);
        }
        let ours = named(&net);
        let mut err = MaxErr::default();
        for (name, _) in group(&file, &format!("after/{key}")) {
            let want = f32s(&file, &format!("after/{key}/{name}"));
            let grad = f32s(&file, &format!("grads/{name}"));
            // Float32 rounding of the parameter, plus the optimizer's amplification of
            // gradient noise: a gradient known to δ (≈ 1e-6 of its tensor's largest entry)
            // moves each of the 3 normalised steps by up to lr·δ/(|g| + ε), at most lr.
            let delta = 1e-6 * scales[&name];
            let atol = |i: usize| 1e-8 + 3.0 * lr * (delta / (grad[i].abs() as f64 + eps)).min(1.0);
            compare(
                &format!("after/{key}/{name}"),
                &ours[&name].1,
                &want,
                atol,
                &mut err,
            );
        }
        report.push((format!("after/{key}"), err));
    }
    for (what, err) in report {
        eprintln!(
            "{what:>52}: max abs error {:.3e}, max rel error {:.3e}",
            err.abs, err.rel
        );
    }
}

/// Two conv layers, stride 2 and padding 1 both exercised, under every head.
#[test]
fn gradients_match_finite_differences() {
    let input = ImageShape {
        height: 7,
        width: 6,
        channels: 2,
    };
    let conv = [
        ConvLayer {
            filters: 3,
            kernel: 3,
            stride: 2,
            padding: 1,
        },
        ConvLayer {
            filters: 4,
            kernel: 2,
            stride: 1,
            padding: 1,
        },
    ];
    for arch in [
        Arch::default(),
        Arch {
            dueling: true,
            ..Arch::default()
        },
        Arch {
            layer_norm: true,
            ..Arch::default()
        },
        Arch {
            atoms: 3,
            dueling: true,
            ..Arch::default()
        },
    ] {
        check_gradients(input, &conv, &[5], arch);
    }
    // No hidden linear layer; a single conv layer (whose input gradient is skipped).
    check_gradients(input, &conv[..1], &[], Arch::default());
    // Without padding (the direct forward kernel), more than 16 filters (two blocks, the
    // second partial), and a direct layer after a padded one.
    let unpadded = [
        ConvLayer {
            filters: 18,
            kernel: 3,
            stride: 2,
            padding: 0,
        },
        ConvLayer {
            filters: 4,
            kernel: 2,
            stride: 1,
            padding: 0,
        },
    ];
    check_gradients(input, &unpadded, &[5], Arch::default());
    check_gradients(
        input,
        &[conv[0], unpadded[1]],
        &[],
        Arch {
            dueling: true,
            ..Arch::default()
        },
    );
}

/// The noisy head's gradients (noise is drawn with a fixed seed, so the finite differences see
/// the same effective weights).
#[test]
fn noisy_gradients_match_finite_differences() {
    let input = ImageShape {
        height: 5,
        width: 5,
        channels: 1,
    };
    let conv = [ConvLayer {
        filters: 2,
        kernel: 3,
        stride: 2,
        padding: 1,
    }];
    let arch = Arch {
        noisy: true,
        ..Arch::default()
    };
    check_gradients(input, &conv, &[4], arch);
}

#[test]
fn conv_forward_matches_a_direct_convolution() {
    // Padded (im2col path) and unpadded (in f32 with AVX-512, the direct kernel), one and
    // two filter blocks.
    for (padding, filters) in [(1, 4), (0, 4), (0, 18), (1, 18)] {
        conv_forward_case::<f64>(padding, filters, 1e-12);
        conv_forward_case::<f32>(padding, filters, 1e-5);
    }
}

/// A loop convolution in f64 on the NHWC input, with PyTorch's flatten order.
fn conv_forward_case<T: Scalar>(padding: usize, filters: usize, tol: f64) {
    let input = ImageShape {
        height: 6,
        width: 5,
        channels: 3,
    };
    let spec = ConvLayer {
        filters,
        kernel: 3,
        stride: 2,
        padding,
    };
    let mut rng = common::rng(5);
    let mlp = Mlp::<T>::with_conv(input, &[spec], &[], 2, Arch::default(), 0.5, &mut rng);
    let batch = 3;
    let obs_t: Vec<T> = common::uniform(&mut rng, batch * input.size(), 1.0);
    let obs: Vec<f64> = obs_t.iter().map(|v| v.to_f64()).collect();
    let mut ws = Workspace::new(&mlp, batch);
    let q: Vec<f64> = mlp
        .forward(&obs_t, batch, &mut ws)
        .iter()
        .map(|v| v.to_f64())
        .collect();
    let out = conv_output_shapes(input, &[spec]).unwrap()[0];
    let p: Vec<f64> = mlp.params().iter().map(|v| v.to_f64()).collect();
    let (w, rest) = p.split_at(filters * 3 * 9);
    let (b, lin) = rest.split_at(filters);
    let features = out.size();
    for n in 0..batch {
        let mut flat = vec![0.0; features];
        for f in 0..filters {
            for oy in 0..out.height {
                for ox in 0..out.width {
                    let mut s = b[f];
                    for c in 0..3 {
                        for ky in 0..3 {
                            for kx in 0..3 {
                                let iy = (oy * 2 + ky) as i64 - padding as i64;
                                let ix = (ox * 2 + kx) as i64 - padding as i64;
                                if iy < 0 || ix < 0 || iy >= 6 || ix >= 5 {
                                    continue;
                                }
                                let x =
                                    obs[n * input.size() + (iy as usize * 5 + ix as usize) * 3 + c];
                                s += w[((f * 3 + c) * 3 + ky) * 3 + kx] * x;
                            }
                        }
                    }
                    flat[(f * out.height + oy) * out.width + ox] = s.max(0.0);
                }
            }
        }
        for a in 0..2 {
            let mut s = lin[2 * features + a];
            for (j, x) in flat.iter().enumerate() {
                s += lin[a * features + j] * x;
            }
            assert!((q[n * 2 + a] - s).abs() < tol, "{} vs {s}", q[n * 2 + a]);
        }
    }
    // Single-observation inference agrees.
    let mut one = [T::ZERO; 2];
    mlp.predict_one(&obs_t[input.size()..2 * input.size()], &mut ws, &mut one);
    assert!((one[0].to_f64() - q[2]).abs() < tol && (one[1].to_f64() - q[3]).abs() < tol);
}

#[test]
fn shrinking_below_one_pixel_is_refused() {
    let input = ImageShape {
        height: 7,
        width: 7,
        channels: 1,
    };
    let conv = [
        ConvLayer {
            filters: 4,
            kernel: 3,
            stride: 2,
            padding: 0,
        },
        ConvLayer {
            filters: 4,
            kernel: 5,
            stride: 1,
            padding: 0,
        },
    ];
    let err = conv_output_shapes(input, &conv).unwrap_err();
    assert_eq!(
        err,
        "conv layer 2 (kernel 5, stride 1, padding 0) would shrink 3×3 to below 1×1"
    );
    let mut rng = common::rng(0);
    let made = Mlp::<f32>::try_with_conv(input, &conv, &[8], 2, Arch::default(), 0.5, &mut rng);
    assert_eq!(made.unwrap_err(), err);
    // Exactly 1×1 is fine.
    let ok = [
        conv[0],
        ConvLayer {
            kernel: 3,
            ..conv[1]
        },
    ];
    let shapes = conv_output_shapes(input, &ok).unwrap();
    assert_eq!((shapes[1].height, shapes[1].width), (1, 1));
    assert!(conv_output_shapes(input, &[]).unwrap().is_empty());
    let zero = [ConvLayer {
        stride: 0,
        ..conv[0]
    }];
    assert!(
        conv_output_shapes(input, &zero)
            .unwrap_err()
            .starts_with("conv layer 1")
    );
    assert!(
        Mlp::<f32>::try_with_conv(input, &[], &[8], 2, Arch::default(), 0.5, &mut rng).is_err()
    );
}

#[test]
#[should_panic(expected = "conv layer 1 (kernel 11, stride 1, padding 0) would shrink 10×10")]
fn with_conv_panics_with_the_message() {
    let conv = [ConvLayer {
        filters: 1,
        kernel: 11,
        stride: 1,
        padding: 0,
    }];
    Mlp::<f32>::with_conv(
        MINATAR_INPUT,
        &conv,
        &[],
        2,
        Arch::default(),
        0.5,
        &mut common::rng(0),
    );
}

/// Nature DQN's network (Mnih et al. 2015) builds and runs forward and backward.
#[test]
fn nature_dqn_network_runs() {
    let input = ImageShape {
        height: 84,
        width: 84,
        channels: 4,
    };
    let conv = [
        ConvLayer {
            filters: 32,
            kernel: 8,
            stride: 4,
            padding: 0,
        },
        ConvLayer {
            filters: 64,
            kernel: 4,
            stride: 2,
            padding: 0,
        },
        ConvLayer {
            filters: 64,
            kernel: 3,
            stride: 1,
            padding: 0,
        },
    ];
    let mut rng = common::rng(3);
    let mlp = Mlp::<f32>::with_conv(input, &conv, &[512], 18, Arch::default(), 0.5, &mut rng);
    assert_eq!(mlp.sizes(), [3136, 512, 18]);
    let n_conv = 32 * 4 * 64 + 32 + 64 * 32 * 16 + 64 + 64 * 64 * 9 + 64;
    assert_eq!(mlp.n_params(), n_conv + 3136 * 512 + 512 + 512 * 18 + 18);
    let names = named(&mlp);
    for (name, shape) in [
        ("0.weight", vec![32, 4, 8, 8]),
        ("2.weight", vec![64, 32, 4, 4]),
        ("4.weight", vec![64, 64, 3, 3]),
        ("7.weight", vec![512, 3136]),
        ("9.weight", vec![18, 512]),
    ] {
        assert_eq!(names[name].0, shape, "{name}");
    }
    let batch = 2;
    let obs: Vec<f32> = (0..batch * input.size())
        .map(|_| rng.random_range(0.0..1.0))
        .collect();
    let mut ws = Workspace::new(&mlp, batch);
    let q = mlp.forward(&obs, batch, &mut ws).to_vec();
    assert_eq!(q.len(), batch * 18);
    assert!(q.iter().all(|v| v.is_finite()));
    let mut grad_q = vec![0.0; q.len()];
    q_loss(
        Loss::Huber,
        &q,
        18,
        &[3, 17],
        &[1.0, -1.0],
        None,
        &mut grad_q,
        None,
    );
    let mut grads = vec![0.0; mlp.n_params()];
    mlp.backward(&mut ws, &grad_q, &mut grads);
    assert!(grads.iter().all(|g| g.is_finite()));
    // Every conv layer gets a gradient.
    let mut at = 0;
    for (c, in_ch) in conv.iter().zip([4, 32, 64]) {
        let n = c.filters * in_ch * c.kernel * c.kernel + c.filters;
        assert!(grads[at..at + n].iter().any(|&g| g != 0.0));
        at += n;
    }
    let action = mlp.argmax_action(&obs[..input.size()], &mut ws);
    let best = (0..18).fold(0, |b, a| if q[a] > q[b] { a } else { b });
    assert_eq!(action, best);
}

#[test]
fn safetensors_round_trip() {
    let input = ImageShape {
        height: 9,
        width: 8,
        channels: 3,
    };
    let conv = [
        ConvLayer {
            filters: 5,
            kernel: 3,
            stride: 2,
            padding: 1,
        },
        ConvLayer {
            filters: 6,
            kernel: 2,
            stride: 1,
            padding: 0,
        },
    ];
    let archs = [
        Arch::default(),
        Arch {
            layer_norm: true,
            layer_norm_eps: 1e-6,
            ..Arch::default()
        },
        Arch {
            dueling: true,
            noisy: true,
            atoms: 5,
            v_min: -3.0,
            v_max: 4.0,
            ..Arch::default()
        },
        Arch {
            dueling: true,
            layer_norm: true,
            ..Arch::default()
        },
    ];
    for arch in archs {
        for hidden in [&[7, 4][..], &[]] {
            let mut rng = common::rng(8);
            let mlp = Mlp::<f64>::with_conv(input, &conv, hidden, 3, arch, 0.5, &mut rng);
            let bytes = to_safetensors(&mlp);
            let back: Mlp<f64> = from_safetensors(&bytes).unwrap();
            assert_eq!(back.params(), mlp.params());
            assert_eq!(back.sizes(), mlp.sizes());
            assert_eq!(back.arch(), mlp.arch());
            assert_eq!(back.input_shape(), Some(input));
            assert_eq!(back.conv_layers(), conv);
            let meta = safetensors_metadata(&bytes).unwrap();
            assert_eq!(meta[CONV_INPUT_SHAPE_KEY], "9,8,3");
            assert_eq!(meta[CONV_STRIDES_KEY], "2,1");
            assert_eq!(meta[CONV_PADDINGS_KEY], "1,0");
            // The serde form round-trips too.
            let json = serde_json::to_string(&mlp).unwrap();
            let back: Mlp<f64> = serde_json::from_str(&json).unwrap();
            assert_eq!(back.params(), mlp.params());
            assert_eq!(back.conv_layers(), conv);
            // Names: conv at 0 and 2, Flatten at 4, linear layers from 5; with LayerNorm
            // conv at 0 and 3 (their LayerNorms at 1 and 4), Flatten at 6, linear from 7.
            let names = named(&mlp);
            let prefix = if arch.is_plain() { "" } else { "torso." };
            let stride = if arch.layer_norm { 3 } else { 2 };
            let first = 2 * stride + 1;
            assert_eq!(names[&format!("{prefix}0.weight")].0, [5, 3, 3, 3]);
            assert_eq!(names[&format!("{prefix}{stride}.weight")].0, [6, 5, 2, 2]);
            if arch.layer_norm {
                for (index, filters) in [(1, 5), (4, 6)] {
                    for part in ["weight", "bias"] {
                        assert_eq!(names[&format!("{prefix}{index}.{part}")].0, [filters]);
                    }
                }
            }
            if !hidden.is_empty() {
                let w = if arch.noisy { "weight_mu" } else { "weight" };
                assert_eq!(names[&format!("{prefix}{first}.{w}")].0, [7, 6 * 4 * 3]);
                assert_eq!(names[&format!("{prefix}{}.{w}", first + stride)].0, [4, 7]);
                if arch.layer_norm {
                    assert_eq!(names[&format!("{prefix}{}.weight", first + 1)].0, [7]);
                }
            }
        }
    }
    // One conv layer, plain: PyTorch's nn.Sequential indices.
    let mlp = Mlp::<f32>::with_conv(
        MINATAR_INPUT,
        &MINATAR_CONV,
        &[128],
        6,
        Arch::default(),
        0.5,
        &mut common::rng(1),
    );
    let mut names: Vec<_> = named(&mlp).into_iter().map(|(n, (s, _))| (n, s)).collect();
    names.sort();
    let expected: Vec<(String, Vec<usize>)> = [
        ("0.bias", vec![16]),
        ("0.weight", vec![16, 4, 3, 3]),
        ("3.bias", vec![128]),
        ("3.weight", vec![128, 1024]),
        ("5.bias", vec![6]),
        ("5.weight", vec![6, 128]),
    ]
    .into_iter()
    .map(|(n, s)| (n.to_string(), s))
    .collect();
    assert_eq!(names, expected);
    // Described by the caller, a mismatched kernel is refused with the tensor's name.
    let mut bytes_no_meta = Vec::new();
    {
        let bytes = to_safetensors(&mlp);
        let file = SafeTensors::deserialize(&bytes).unwrap();
        let tensors: Vec<_> = file.tensors();
        bytes_no_meta.extend(safetensors::serialize(tensors, None).unwrap());
    }
    let wrong = [ConvLayer {
        kernel: 5,
        ..MINATAR_CONV[0]
    }];
    match from_safetensors_with_conv::<f32>(&bytes_no_meta, MINATAR_INPUT, &wrong) {
        Err(NnError::Shape { name, .. }) => assert_eq!(name, "0.weight"),
        other => panic!("{other:?}"),
    }
    let back: Mlp<f32> =
        from_safetensors_with_conv(&bytes_no_meta, MINATAR_INPUT, &MINATAR_CONV).unwrap();
    assert_eq!(back.params(), mlp.params());
}

/// The linear layers of a conv network draw after the conv layers and are otherwise those of
/// [`Mlp::with_arch`]: the same generator state gives the same linear parameters.
#[test]
fn initialisation_order_and_bounds() {
    let conv = [ConvLayer {
        filters: 16,
        kernel: 3,
        stride: 1,
        padding: 0,
    }];
    let mut rng = common::rng(4);
    let mlp = Mlp::<f64>::with_conv(
        MINATAR_INPUT,
        &conv,
        &[128],
        6,
        Arch::default(),
        0.5,
        &mut rng,
    );
    let n_conv = 16 * 36 + 16;
    let bound = 1.0 / 36f64.sqrt();
    assert!(mlp.params()[..n_conv].iter().all(|p| p.abs() < bound));
    let spread = mlp.params()[..n_conv]
        .iter()
        .fold(0f64, |m, p| m.max(p.abs()));
    assert!(spread > 0.9 * bound);
    let mut rng2 = common::rng(4);
    for _ in 0..n_conv {
        let _: f64 = rng2.random_range(-bound..bound);
    }
    let linear = Mlp::<f64>::with_arch(&[1024, 128, 6], Arch::default(), 0.5, &mut rng2);
    assert_eq!(&mlp.params()[n_conv..], linear.params());
}

/// `f32` networks without padding take the direct (AVX-512) kernels where the CPU has them,
/// forward and weight gradient; they agree with the same network in `f64` (im2col and matrix
/// products, checked against finite differences above) to `f32` rounding. Stride 2, two conv
/// layers, 18 filters (a partial second block of 16), a batch that is not a multiple of 8.
#[test]
fn f32_matches_f64_without_padding() {
    let input = ImageShape {
        height: 9,
        width: 8,
        channels: 3,
    };
    let conv = [
        ConvLayer {
            filters: 18,
            kernel: 3,
            stride: 2,
            padding: 0,
        },
        ConvLayer {
            filters: 5,
            kernel: 2,
            stride: 1,
            padding: 0,
        },
    ];
    let arch = Arch {
        dueling: true,
        ..Arch::default()
    };
    let wide = Mlp::<f64>::with_conv(input, &conv, &[7], 3, arch, 0.5, &mut common::rng(21));
    common::assert_f32_matches_f64(&wide, arch, 1e-5, "no padding");
}
