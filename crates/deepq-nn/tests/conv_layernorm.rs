//! Convolutional networks with LayerNorm ([`Arch::layer_norm`]): every conv layer is
//! `Conv2d → LayerNorm over the channels of each pixel → ReLU`, as PQN's MinAtar network
//! (flax's `nn.LayerNorm()` on NHWC activations), and every hidden linear layer
//! `Linear → LayerNorm → ReLU` as before.
//!
//! The forward pass against a loop implementation of that definition in f64, both passes
//! in f32 against f64, finite-difference gradients of every parameter group, the batched
//! and single-observation passes bit for bit, initialisation, and the safetensors names and
//! round trip. (Conv networks without LayerNorm are covered, unchanged, by `conv.rs`.)

mod common;

use std::collections::HashMap;
use std::ops::Range;

use common::{assert_f32_matches_f64, check_gradients_of, rng, uniform};
use deepq_nn::{
    Arch, ConvLayer, ImageShape, Mlp, NnError, Scalar, Workspace, argmax, conv_output_shapes,
    from_safetensors, from_safetensors_with_conv, to_safetensors,
};
use rand::Rng;
use safetensors::SafeTensors;

const INPUT: ImageShape = ImageShape {
    height: 6,
    width: 6,
    channels: 3,
};

/// The two stacked conv layers of the brief: 6×6×3 → 4×4×4 → 3×3×5.
const CONV: [ConvLayer; 2] = [
    ConvLayer {
        filters: 4,
        kernel: 3,
        stride: 1,
        padding: 0,
    },
    ConvLayer {
        filters: 5,
        kernel: 2,
        stride: 1,
        padding: 0,
    },
];

/// Stride and padding (the im2col path in every precision): 6×6×3 → 3×3×4 → 4×4×5.
const PADDED: [ConvLayer; 2] = [
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
        padding: 1,
    },
];

fn layer_norm(eps: f64) -> Arch {
    Arch {
        layer_norm: true,
        layer_norm_eps: eps,
        ..Arch::default()
    }
}

/// A group of parameters (one tensor) by name, and where it sits in the flat buffer.
struct Group {
    name: String,
    range: Range<usize>,
    /// A LayerNorm's weight γ or bias β.
    norm: bool,
}

/// The parameter groups of a LayerNorm conv network, in the documented layout: per conv
/// layer weight, bias, γ, β; per linear layer weight, bias, (noisy: weight σ, bias σ,) and
/// for a hidden one γ, β.
fn groups<T: Scalar>(mlp: &Mlp<T>) -> Vec<Group> {
    let mut out = Vec::new();
    let mut at = 0;
    let mut push = |name: String, n: usize, norm: bool| {
        out.push(Group {
            name,
            range: at..at + n,
            norm,
        });
        at += n;
    };
    let mut channels = mlp.input_shape().unwrap().channels;
    for (k, c) in mlp.conv_layers().iter().enumerate() {
        let f = c.filters;
        push(
            format!("conv {k} weight"),
            f * channels * c.kernel * c.kernel,
            false,
        );
        push(format!("conv {k} bias"), f, false);
        push(format!("conv {k} γ"), f, true);
        push(format!("conv {k} β"), f, true);
        channels = f;
    }
    let sizes = mlp.sizes();
    let raw = mlp.arch().raw_width(mlp.n_outputs());
    for l in 0..sizes.len() - 1 {
        let (n_in, hidden) = (sizes[l], l + 2 < sizes.len());
        let n_out = if hidden { sizes[l + 1] } else { raw };
        push(format!("linear {l} weight"), n_out * n_in, false);
        push(format!("linear {l} bias"), n_out, false);
        if mlp.arch().noisy {
            push(format!("linear {l} weight σ"), n_out * n_in, false);
            push(format!("linear {l} bias σ"), n_out, false);
        }
        if hidden {
            push(format!("linear {l} γ"), n_out, true);
            push(format!("linear {l} β"), n_out, true);
        }
    }
    assert_eq!(
        at,
        mlp.n_params(),
        "the documented layout covers every parameter"
    );
    out
}

/// Moves every LayerNorm parameter off its initial 1 or 0, so that a γ or β used in the
/// wrong place changes the result.
fn perturb_norms<T: Scalar>(mlp: &mut Mlp<T>, rng: &mut rand_pcg::Pcg64) {
    for g in groups(mlp).into_iter().filter(|g| g.norm) {
        for p in &mut mlp.params_mut()[g.range] {
            *p = T::from_f64(p.to_f64() + rng.random_range(-0.5..0.5));
        }
    }
}

/// PyTorch's definition of a plain LayerNorm conv network, in f64 with plain loops, on
/// `batch` channels-last images: per conv layer `z = b + Σ w·x` over the zero-padded patch,
/// then per pixel `(z − mean)/√(var + ε)·γ + β` over its channels (biased variance), ReLU;
/// the flatten in `(channel, y, x)` order; per hidden linear layer `Wx + b`, LayerNorm, ReLU;
/// the output layer.
fn reference<T: Scalar>(mlp: &Mlp<T>, obs: &[T], batch: usize) -> Vec<f64> {
    assert!(mlp.arch().is_plain() && mlp.arch().layer_norm);
    let p: Vec<f64> = mlp.params().iter().map(|v| v.to_f64()).collect();
    let eps = mlp.arch().layer_norm_eps;
    let mut at = 0;
    let mut take = |n: usize| {
        at += n;
        &p[at - n..at]
    };
    // LayerNorm then ReLU of one vector.
    let norm = |z: &[f64], gamma: &[f64], beta: &[f64]| -> Vec<f64> {
        let n = z.len() as f64;
        let mean = z.iter().sum::<f64>() / n;
        let var = z.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
        z.iter()
            .zip(gamma.iter().zip(beta))
            .map(|(v, (g, b))| ((v - mean) / (var + eps).sqrt() * g + b).max(0.0))
            .collect()
    };
    let mut shape = mlp.input_shape().unwrap();
    let mut x: Vec<f64> = obs.iter().map(|v| v.to_f64()).collect();
    for c in mlp.conv_layers() {
        let out = conv_output_shapes(shape, std::slice::from_ref(c)).unwrap()[0];
        let (f, k, ch) = (c.filters, c.kernel, shape.channels);
        let w = take(f * ch * k * k);
        let b = take(f);
        let (gamma, beta) = (take(f), take(f));
        let mut y = vec![0.0; batch * out.size()];
        for n in 0..batch {
            for oy in 0..out.height {
                for ox in 0..out.width {
                    let mut z = b.to_vec();
                    for (o, z) in z.iter_mut().enumerate() {
                        for i in 0..ch {
                            for ky in 0..k {
                                for kx in 0..k {
                                    let iy = (oy * c.stride + ky) as i64 - c.padding as i64;
                                    let ix = (ox * c.stride + kx) as i64 - c.padding as i64;
                                    if iy < 0
                                        || ix < 0
                                        || iy >= shape.height as i64
                                        || ix >= shape.width as i64
                                    {
                                        continue;
                                    }
                                    let (iy, ix) = (iy as usize, ix as usize);
                                    *z += w[((o * ch + i) * k + ky) * k + kx]
                                        * x[n * shape.size() + (iy * shape.width + ix) * ch + i];
                                }
                            }
                        }
                    }
                    let pixel = n * out.size() + (oy * out.width + ox) * f;
                    y[pixel..pixel + f].copy_from_slice(&norm(&z, gamma, beta));
                }
            }
        }
        x = y;
        shape = out;
    }
    let features = shape.size();
    let mut h = vec![0.0; batch * features];
    for n in 0..batch {
        for pix in 0..shape.pixels() {
            for c in 0..shape.channels {
                h[n * features + c * shape.pixels() + pix] =
                    x[n * features + pix * shape.channels + c];
            }
        }
    }
    let sizes = mlp.sizes();
    for l in 0..sizes.len() - 1 {
        let (n_in, n_out, hidden) = (sizes[l], sizes[l + 1], l + 2 < sizes.len());
        let w = take(n_out * n_in);
        let b = take(n_out);
        let norms = hidden.then(|| (take(n_out), take(n_out)));
        let mut next = Vec::with_capacity(batch * n_out);
        for row in h.chunks_exact(n_in) {
            let z: Vec<f64> = (0..n_out)
                .map(|o| b[o] + (0..n_in).map(|i| w[o * n_in + i] * row[i]).sum::<f64>())
                .collect();
            next.extend(match norms {
                Some((gamma, beta)) => norm(&z, gamma, beta),
                None => z,
            });
        }
        h = next;
    }
    assert_eq!(at, p.len());
    h
}

/// `forward` and `predict_one` against [`reference`] to `tol · (1 + |want|)`.
fn check_forward<T: Scalar>(mlp: &Mlp<T>, seed: u64, tol: f64) {
    let batch = 4;
    let obs: Vec<T> = uniform(&mut rng(seed), batch * mlp.n_inputs(), 1.0);
    let want = reference(mlp, &obs, batch);
    let mut ws = Workspace::new(mlp, batch);
    let got = mlp.forward(&obs, batch, &mut ws).to_vec();
    assert_eq!(got.len(), want.len());
    let close = |g: T, w: f64| (g.to_f64() - w).abs() <= tol * (1.0 + w.abs());
    for (i, (&g, &w)) in got.iter().zip(&want).enumerate() {
        assert!(close(g, w), "output {i}: {g} vs {w}");
    }
    let n = mlp.n_outputs();
    let mut one = vec![T::ZERO; n];
    for (r, o) in obs.chunks_exact(mlp.n_inputs()).enumerate() {
        mlp.predict_one(o, &mut ws, &mut one);
        for (a, (&g, &w)) in one.iter().zip(&want[r * n..(r + 1) * n]).enumerate() {
            assert!(close(g, w), "row {r} action {a}: {g} vs {w}");
        }
        assert_eq!(mlp.argmax_action(o, &mut ws), argmax(&one));
    }
    // Not a network whose LayerNorms clip everything to zero.
    assert!(want.iter().filter(|v| v.abs() > 1e-3).count() > want.len() / 2);
}

/// A LayerNorm conv network with its LayerNorms perturbed.
fn network<T: Scalar>(conv: &[ConvLayer], hidden: &[usize], arch: Arch, seed: u64) -> Mlp<T> {
    let mut r = rng(seed);
    let mut mlp = Mlp::<T>::with_conv(INPUT, conv, hidden, 3, arch, 0.5, &mut r);
    perturb_norms(&mut mlp, &mut r);
    mlp
}

#[test]
fn forward_matches_reference_f64() {
    for conv in [&CONV[..], &PADDED[..], &CONV[..1]] {
        for hidden in [&[7][..], &[]] {
            for eps in [1e-5, 1e-6] {
                let mlp = network::<f64>(conv, hidden, layer_norm(eps), 1);
                check_forward(&mlp, 2, 1e-12);
            }
        }
    }
}

/// In `f32` the unpadded layers take the direct (AVX-512) kernel where the CPU has one,
/// here without its ReLU; the padded ones im2col. Float32 rounding, amplified by the
/// LayerNorms' `1/σ`.
#[test]
fn forward_matches_reference_f32() {
    for conv in [&CONV[..], &PADDED[..]] {
        let mlp = network::<f32>(conv, &[7], layer_norm(1e-5), 3);
        check_forward(&mlp, 4, 1e-4);
    }
    // More than 16 filters: two blocks of the direct kernel, the second partial.
    let wide = [
        ConvLayer {
            filters: 18,
            ..CONV[0]
        },
        CONV[1],
    ];
    check_forward(&network::<f32>(&wide, &[7], layer_norm(1e-6), 5), 6, 1e-4);
}

/// Every parameter against central finite differences, with every group (conv weight and
/// bias, conv γ and β, the linear layers and their γ and β) getting gradient.
#[test]
fn gradients_match_finite_differences() {
    let dueling = Arch {
        dueling: true,
        ..layer_norm(1e-5)
    };
    let c51 = Arch {
        atoms: 3,
        ..layer_norm(1e-6)
    };
    let cases: [(&[ConvLayer], &[usize], Arch); 5] = [
        (&CONV, &[5], layer_norm(1e-5)),
        (&PADDED, &[5], layer_norm(1e-5)),
        (&CONV, &[], layer_norm(1e-5)),
        (&PADDED, &[4], dueling),
        (&CONV[..1], &[4], c51),
    ];
    for (conv, hidden, arch) in cases {
        let mut r = rng(11);
        let mut mlp = Mlp::<f64>::with_conv(INPUT, conv, hidden, 3, arch, 0.5, &mut r);
        perturb_norms(&mut mlp, &mut r);
        let groups = groups(&mlp);
        let grads = check_gradients_of(mlp, &mut r);
        for g in groups {
            assert!(
                grads[g.range].iter().any(|&v| v != 0.0),
                "{} has no gradient ({conv:?}, {arch:?})",
                g.name
            );
        }
    }
}

/// `f32` (the direct kernels where the CPU has them, forward and weight gradient) agrees
/// with the same network in `f64` to `f32` rounding, forward and backward.
#[test]
fn f32_matches_f64() {
    let wide = [
        ConvLayer {
            filters: 18,
            ..CONV[0]
        },
        CONV[1],
    ];
    for conv in [&CONV[..], &wide[..], &PADDED[..]] {
        let arch = Arch {
            dueling: true,
            ..layer_norm(1e-5)
        };
        let wide = network::<f64>(conv, &[7], arch, 21);
        assert_f32_matches_f64(&wide, arch, 1e-4, &format!("{conv:?}"));
    }
}

/// The batched and single-observation passes normalise with the same arithmetic, so the
/// same conv outputs give the same bits. Their conv and linear layers sum in different
/// orders, so here every sum is exact: inputs and first-layer weights are small multiples of
/// 1/4 and 1/16, the second layer (1×1, padded, so the LayerNorm also sees constant
/// pixels) copies one input channel per filter, and the output layer is the identity, so
/// the Q-values are the last LayerNorm's outputs themselves.
#[test]
fn batched_and_single_forwards_agree_bitwise() {
    fn case<T: Scalar>() {
        let conv = [
            CONV[0],
            ConvLayer {
                filters: 5,
                kernel: 1,
                stride: 1,
                padding: 1,
            },
        ];
        let features = 5 * 6 * 6;
        let mut r = rng(31);
        let mut mlp =
            Mlp::<T>::try_zeros_with_conv(INPUT, &conv, &[], features, layer_norm(1e-5)).unwrap();
        let groups = groups(&mlp);
        let params = mlp.params_mut();
        let multiple = |r: &mut rand_pcg::Pcg64, of: f64, n: i32| {
            T::from_f64(r.random_range(-n..=n) as f64 * of)
        };
        for g in &groups {
            for (i, p) in params[g.range.clone()].iter_mut().enumerate() {
                *p = match g.name.as_str() {
                    "conv 0 weight" | "conv 0 bias" => multiple(&mut r, 1.0 / 16.0, 16),
                    // [5, 4, 1, 1]: filter f reads channel f mod 4.
                    "conv 1 weight" => T::from_f64(f64::from(u8::from(i % 4 == (i / 4) % 4))),
                    "linear 0 weight" => T::from_f64(f64::from(u8::from(i % (features + 1) == 0))),
                    // Mostly positive outputs, so that few are clipped to zero.
                    _ if g.name.ends_with('γ') => T::from_f64(r.random_range(0.5..1.5)),
                    _ if g.name.ends_with('β') => T::from_f64(r.random_range(0.5..1.0)),
                    _ => T::ZERO,
                };
            }
        }
        let batch = 3;
        let obs: Vec<T> = (0..batch * INPUT.size())
            .map(|_| multiple(&mut r, 0.25, 8))
            .collect();
        let mut ws = Workspace::new(&mlp, batch);
        let q = mlp.forward(&obs, batch, &mut ws).to_vec();
        let bits = |v: &[T]| v.iter().map(|x| x.to_f64().to_bits()).collect::<Vec<_>>();
        let mut one = vec![T::ZERO; features];
        for (n, o) in obs.chunks_exact(INPUT.size()).enumerate() {
            mlp.predict_one(o, &mut ws, &mut one);
            assert_eq!(
                bits(&one),
                bits(&q[n * features..(n + 1) * features]),
                "image {n}"
            );
        }
        // The LayerNorms did something: many distinct values (a border pixel, zero in, is
        // ReLU(β) out: 20 of the 36 in each image).
        let mut distinct = bits(&q);
        distinct.sort_unstable();
        distinct.dedup();
        assert!(
            distinct.len() > q.len() / 4,
            "{} distinct values",
            distinct.len()
        );
    }
    case::<f32>();
    case::<f64>();
}

/// LayerNorm draws nothing: with it on, every conv and linear parameter is the one the same
/// seed gives without it, γ is 1 and β is 0; the zero network has the same layout.
#[test]
fn initialisation_draws_as_without_layer_norm() {
    for (conv, hidden) in [(&CONV[..], &[7][..]), (&PADDED[..], &[])] {
        let with =
            Mlp::<f64>::with_conv(INPUT, conv, hidden, 3, layer_norm(1e-6), 0.5, &mut rng(9));
        let without =
            Mlp::<f64>::with_conv(INPUT, conv, hidden, 3, Arch::default(), 0.5, &mut rng(9));
        let mut rest = Vec::new();
        for g in groups(&with) {
            let values = &with.params()[g.range.clone()];
            if g.name.ends_with('γ') {
                assert!(values.iter().all(|&v| v == 1.0), "{}", g.name);
            } else if g.name.ends_with('β') {
                assert!(values.iter().all(|&v| v == 0.0), "{}", g.name);
            } else {
                rest.extend_from_slice(values);
            }
        }
        assert_eq!(rest, without.params());
        let norms: usize = conv.iter().map(|c| 2 * c.filters).sum::<usize>()
            + hidden.iter().map(|h| 2 * h).sum::<usize>();
        assert_eq!(with.n_params(), without.n_params() + norms);
        let zeros =
            Mlp::<f64>::try_zeros_with_conv(INPUT, conv, hidden, 3, layer_norm(1e-6)).unwrap();
        assert_eq!(zeros.n_params(), with.n_params());
        assert!(zeros.params().iter().all(|&v| v == 0.0));
        assert_eq!(zeros.arch(), with.arch());
    }
}

/// Tensor names and shapes of a network's safetensors file.
fn names<T: Scalar>(mlp: &Mlp<T>) -> HashMap<String, Vec<usize>> {
    let bytes = to_safetensors(mlp);
    let file = SafeTensors::deserialize(&bytes).unwrap();
    file.tensors()
        .into_iter()
        .map(|(n, v)| (n, v.shape().to_vec()))
        .collect()
}

/// `bytes` with its tensors renamed by `rename` (`None` drops one) and without metadata, as
/// PyTorch's `save_file(model.state_dict())` writes a file.
fn rewritten(bytes: &[u8], rename: impl Fn(&str) -> Option<String>) -> Vec<u8> {
    let file = SafeTensors::deserialize(bytes).unwrap();
    let tensors: Vec<_> = file
        .tensors()
        .into_iter()
        .filter_map(|(n, v)| rename(&n).map(|n| (n, v)))
        .collect();
    safetensors::serialize(tensors, None).unwrap()
}

#[test]
fn safetensors_round_trip_and_names() {
    // PQN's MinAtar network: Conv2d(C, 16, 3) → LayerNorm → ReLU → Flatten →
    // Linear(1024, 128) → LayerNorm → ReLU → Linear(128, 6).
    let minatar = ImageShape {
        height: 10,
        width: 10,
        channels: 4,
    };
    let pqn = [ConvLayer {
        filters: 16,
        kernel: 3,
        stride: 1,
        padding: 0,
    }];
    let mut mlp =
        Mlp::<f32>::with_conv(minatar, &pqn, &[128], 6, layer_norm(1e-6), 0.5, &mut rng(1));
    perturb_norms(&mut mlp, &mut rng(2));
    let mut got: Vec<_> = names(&mlp).into_iter().collect();
    got.sort();
    let want: Vec<(String, Vec<usize>)> = [
        ("0.bias", vec![16]),
        ("0.weight", vec![16, 4, 3, 3]),
        ("1.bias", vec![16]),
        ("1.weight", vec![16]),
        ("4.bias", vec![128]),
        ("4.weight", vec![128, 1024]),
        ("5.bias", vec![128]),
        ("5.weight", vec![128]),
        ("7.bias", vec![6]),
        ("7.weight", vec![6, 128]),
    ]
    .into_iter()
    .map(|(n, s)| (n.to_string(), s))
    .collect();
    assert_eq!(got, want);
    let bytes = to_safetensors(&mlp);
    let back: Mlp<f32> = from_safetensors(&bytes).unwrap();
    assert_eq!(back.params(), mlp.params());
    assert_eq!(back.arch(), mlp.arch());
    assert_eq!(back.conv_layers(), pqn);
    // Values under their names: the conv LayerNorm's γ and β follow the conv bias.
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let groups = groups(&mlp);
    for (name, group) in [
        ("1.weight", "conv 0 γ"),
        ("1.bias", "conv 0 β"),
        ("5.weight", "linear 0 γ"),
    ] {
        let values = common::f32s(&file, name);
        let range = groups
            .iter()
            .find(|g| g.name == group)
            .unwrap()
            .range
            .clone();
        assert_eq!(values, mlp.params()[range], "{name}");
    }

    // Two conv layers under every head, with and without hidden layers, f32 and f64.
    let heads = [
        layer_norm(1e-5),
        Arch {
            dueling: true,
            noisy: true,
            atoms: 5,
            v_min: -3.0,
            v_max: 4.0,
            ..layer_norm(1e-6)
        },
        Arch {
            dueling: true,
            ..layer_norm(1e-5)
        },
    ];
    for arch in heads {
        for hidden in [&[7, 4][..], &[]] {
            let mlp = network::<f64>(&PADDED, hidden, arch, 8);
            let back: Mlp<f64> = from_safetensors(&to_safetensors(&mlp)).unwrap();
            let bits = |m: &Mlp<f64>| m.params().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&back), bits(&mlp));
            assert_eq!(back.arch(), mlp.arch());
            assert_eq!(back.conv_layers(), PADDED);
            let names = names(&mlp);
            // Conv at 0 and 3, their LayerNorms at 1 and 4, Flatten at 6, linear from 7.
            let prefix = if arch.is_plain() { "" } else { "torso." };
            assert_eq!(names[&format!("{prefix}0.weight")], [4, 3, 3, 3]);
            assert_eq!(names[&format!("{prefix}3.weight")], [5, 4, 2, 2]);
            for (index, filters) in [(1, 4), (4, 5)] {
                for part in ["weight", "bias"] {
                    assert_eq!(names[&format!("{prefix}{index}.{part}")], [filters]);
                }
            }
            if !hidden.is_empty() {
                let w = if arch.noisy { "weight_mu" } else { "weight" };
                assert_eq!(names[&format!("{prefix}7.{w}")], [7, 5 * 4 * 4]);
                assert_eq!(names[&format!("{prefix}8.weight")], [7]);
                assert_eq!(names[&format!("{prefix}10.{w}")], [4, 7]);
            }
            let json = serde_json::to_string(&mlp).unwrap();
            let back: Mlp<f64> = serde_json::from_str(&json).unwrap();
            assert_eq!(bits(&back), bits(&mlp));
        }
    }
    let mlp32 = network::<f32>(&CONV, &[7], layer_norm(1e-6), 8);
    let back: Mlp<f32> = from_safetensors(&to_safetensors(&mlp32)).unwrap();
    assert_eq!(back.params(), mlp32.params());
}

/// Files as PyTorch writes them (no metadata) load with the conv description given; a
/// LayerNorm network's file from before conv layers had LayerNorms (its linear layers have
/// them, its conv layers not) is refused, naming the missing tensor.
#[test]
fn pytorch_files_and_files_without_conv_layer_norms() {
    for hidden in [&[7][..], &[]] {
        let mlp = network::<f64>(&CONV, hidden, layer_norm(1e-6), 12);
        let bytes = rewritten(&to_safetensors(&mlp), |n| Some(n.to_string()));
        // Without conv metadata only the caller's description loads it.
        assert!(from_safetensors::<f64>(&bytes).is_err());
        let back: Mlp<f64> = from_safetensors_with_conv(&bytes, INPUT, &CONV).unwrap();
        assert_eq!(back.params(), mlp.params());
        assert!(
            back.arch().layer_norm,
            "the conv LayerNorms mark a LayerNorm network"
        );
        // The ε is not in a state_dict: PyTorch's default.
        assert_eq!(back.arch().layer_norm_eps, 1e-5);
    }
    // A LayerNorm's parameters of the wrong length.
    let mlp = network::<f64>(&CONV, &[7], layer_norm(1e-5), 13);
    let bytes = to_safetensors(&mlp);
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let mut tensors: Vec<_> = file
        .tensors()
        .into_iter()
        .filter(|(n, _)| n != "4.bias")
        .collect();
    let short = vec![0u8; 8 * 4];
    tensors.push((
        "4.bias".into(),
        safetensors::tensor::TensorView::new(safetensors::Dtype::F64, vec![4], &short).unwrap(),
    ));
    let bad = safetensors::serialize(tensors, None).unwrap();
    match from_safetensors_with_conv::<f64>(&bad, INPUT, &CONV) {
        Err(NnError::Shape { name, .. }) => assert_eq!(name, "4.bias"),
        other => panic!("{other:?}"),
    }
    // The old layout: conv at 0 and 2, Flatten at 4, Linear 5, its LayerNorm 6, output 8.
    let old_name = |n: &str| {
        let (index, part) = n.split_once('.').unwrap();
        let index = match index.parse::<usize>().unwrap() {
            0 => 0,
            3 => 2,
            i @ 7.. => i - 2,
            _ => return None,
        };
        Some(format!("{index}.{part}"))
    };
    let old = rewritten(&bytes, old_name);
    let names: Vec<String> = SafeTensors::deserialize(&old)
        .unwrap()
        .names()
        .into_iter()
        .map(|n| n.to_string())
        .collect();
    assert!(names.contains(&"6.weight".to_string()) && names.contains(&"8.bias".to_string()));
    for err in [
        from_safetensors_with_conv::<f64>(&old, INPUT, &CONV).unwrap_err(),
        // As this crate wrote it, with the ε in the metadata.
        from_safetensors_with_conv::<f64>(
            &safetensors::serialize(
                SafeTensors::deserialize(&old).unwrap().tensors(),
                Some(HashMap::from([(
                    "layer_norm_eps".to_string(),
                    "1e-5".to_string(),
                )])),
            )
            .unwrap(),
            INPUT,
            &CONV,
        )
        .unwrap_err(),
    ] {
        match err {
            NnError::MissingTensor(name) => {
                assert!(name.starts_with("1.weight"), "{name}");
                assert!(name.contains("conv layer 1"), "{name}");
            }
            other => panic!("{other:?}"),
        }
    }
}
