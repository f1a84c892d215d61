//! bf16 networks (`Arch::precision`) against `f64` references computed from the same
//! bf16-rounded operands: a conv layer (odd image, stride 2, padding 1) then a linear output
//! layer, forward, input gradient and weight gradients; a plain MLP's forward and input
//! gradient; and the precision surviving safetensors.
//!
//! The inputs are small integers and the weights multiples of 2⁻¹² that bf16 must round, so
//! the conv layer's sums and the output layer's input gradient are exact in `f32` whatever
//! the order: the kernels must reproduce them bit for bit, and the later products, which
//! round those exact values again, are held to the `(k + 1)·2⁻²⁴·Σ|aᵢbᵢ|` bound of `k`
//! `f32` additions of exact products.

use deepq_nn::{
    Arch, ConvLayer, ImageShape, Mlp, Precision, Workspace, from_safetensors_with_conv,
    round_to_bf16, to_safetensors,
};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

fn r(x: f32) -> f64 {
    f64::from(round_to_bf16(x))
}

/// A bf16 `Arch` with `f32` defaults otherwise.
fn bf16() -> Arch {
    Arch {
        precision: Precision::Bf16,
        ..Arch::default()
    }
}

/// Multiples of 2⁻¹² in (−1, 1), most of which bf16 rounds.
fn dyadic_weights(n: usize, rng: &mut Pcg64) -> Vec<f32> {
    (0..n)
        .map(|_| rng.random_range(-4095..4096) as f32 / 4096.0)
        .collect()
}

/// `|got − want| ≤ (k + 1)·2⁻²⁴·magnitude`.
fn within(got: f32, want: f64, magnitude: f64, k: usize, what: &str) {
    let bound = (k + 1) as f64 * 2f64.powi(-24) * magnitude;
    assert!(
        (f64::from(got) - want).abs() <= bound,
        "{what}: {got} vs {want} (bound {bound:e})"
    );
}

/// With 3 channels the patch (27 values) is odd and the layer's im2col matrix stays `f32`;
/// with 4 (36 values) the layer keeps it as bf16 pairs.
#[test]
fn conv_then_linear_matches_an_f64_reference() {
    for channels in [3, 4] {
        conv_then_linear_case(channels);
    }
}

fn conv_then_linear_case(c: usize) {
    let (h, w) = (9, 7);
    let layer = ConvLayer {
        filters: 5,
        kernel: 3,
        stride: 2,
        padding: 1,
    };
    let (oh, ow) = ((h + 2 - 3) / 2 + 1, (w + 2 - 3) / 2 + 1);
    let (filters, n_actions, batch) = (layer.filters, 3, 4);
    let features = filters * oh * ow;
    let mut rng = Pcg64::seed_from_u64(3);
    let input = ImageShape {
        height: h,
        width: w,
        channels: c,
    };
    let mut net = Mlp::<f32>::with_conv(input, &[layer], &[], n_actions, bf16(), 0.5, &mut rng);
    let n_params = net.n_params();
    let params = dyadic_weights(n_params, &mut rng);
    net.params_mut().copy_from_slice(&params);
    // Parameters: conv weight [filters, c, 3, 3], conv bias, linear weight
    // [n_actions, features] ((channel, y, x) order), linear bias.
    let conv_n = filters * c * 9;
    let lin = conv_n + filters;
    let conv_w = &params[..conv_n];
    let conv_b = &params[conv_n..lin];
    let lin_w = &params[lin..][..n_actions * features];
    let lin_b = &params[lin + n_actions * features..];
    let x: Vec<f32> = (0..batch * h * w * c)
        .map(|_| rng.random_range(0..4) as f32)
        .collect();

    // The conv layer in f64, from rounded operands: exact, and so are the f32 sums.
    let pixel = |n: usize, y: isize, xx: isize, ch: usize| -> f64 {
        if y < 0 || xx < 0 || y >= h as isize || xx >= w as isize {
            0.0
        } else {
            r(x[((n * h + y as usize) * w + xx as usize) * c + ch])
        }
    };
    let mut z1 = vec![0.0f64; batch * features];
    for n in 0..batch {
        for f in 0..filters {
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut sum = f64::from(conv_b[f]);
                    for ch in 0..c {
                        for ky in 0..3 {
                            for kx in 0..3 {
                                let y = (oy * 2 + ky) as isize - 1;
                                let xx = (ox * 2 + kx) as isize - 1;
                                sum += r(conv_w[((f * c + ch) * 3 + ky) * 3 + kx])
                                    * pixel(n, y, xx, ch);
                            }
                        }
                    }
                    z1[n * features + (f * oh + oy) * ow + ox] = sum.max(0.0);
                }
            }
        }
    }
    assert!(z1.iter().all(|v| (*v as f32) as f64 == *v), "exact in f32");

    let mut ws = Workspace::new(&net, batch);
    let q = net.forward(&x, batch, &mut ws).to_vec();
    for n in 0..batch {
        for a in 0..n_actions {
            let (mut want, mut magnitude) = (f64::from(lin_b[a]), f64::from(lin_b[a]).abs());
            for j in 0..features {
                let p = r(lin_w[a * features + j]) * r(z1[n * features + j] as f32);
                want += p;
                magnitude += p.abs();
            }
            within(
                q[n * n_actions + a],
                want,
                magnitude,
                features + 1,
                "forward",
            );
        }
    }

    // Backward from a dyadic output gradient.
    let g: Vec<f32> = (0..batch * n_actions)
        .map(|_| rng.random_range(-63..64) as f32 / 16.0)
        .collect();
    let mut grads = vec![0.0f32; n_params];
    net.backward(&mut ws, &g, &mut grads);
    let lin_grad = &grads[lin..][..n_actions * features];
    for a in 0..n_actions {
        for j in 0..features {
            let (mut want, mut magnitude) = (0.0, 0.0);
            for n in 0..batch {
                let p = r(g[n * n_actions + a]) * r(z1[n * features + j] as f32);
                want += p;
                magnitude += p.abs();
            }
            within(
                lin_grad[a * features + j],
                want,
                magnitude,
                batch,
                "linear weight gradient",
            );
        }
    }
    // The gradient w.r.t. the conv output (3 products each: exact), through the ReLU.
    let mut dz1 = vec![0.0f64; batch * features];
    for n in 0..batch {
        for j in 0..features {
            if z1[n * features + j] > 0.0 {
                dz1[n * features + j] = (0..n_actions)
                    .map(|a| r(g[n * n_actions + a]) * r(lin_w[a * features + j]))
                    .sum();
            }
        }
    }
    let conv_b_grad = &grads[conv_n..lin];
    for (f, &got) in conv_b_grad.iter().enumerate() {
        // Column sums in f32 of exact values of few bits: exact too.
        let want: f64 = (0..batch)
            .flat_map(|n| (0..oh * ow).map(move |p| n * features + f * oh * ow + p))
            .map(|i| dz1[i])
            .sum();
        assert_eq!(f64::from(got), want, "conv bias gradient {f}");
    }
    let conv_w_grad = &grads[..conv_n];
    for f in 0..filters {
        for ch in 0..c {
            for ky in 0..3 {
                for kx in 0..3 {
                    let (mut want, mut magnitude) = (0.0, 0.0);
                    for n in 0..batch {
                        for oy in 0..oh {
                            for ox in 0..ow {
                                let y = (oy * 2 + ky) as isize - 1;
                                let xx = (ox * 2 + kx) as isize - 1;
                                let d = dz1[n * features + (f * oh + oy) * ow + ox];
                                let p = r(d as f32) * pixel(n, y, xx, ch);
                                want += p;
                                magnitude += p.abs();
                            }
                        }
                    }
                    let got = conv_w_grad[((f * c + ch) * 3 + ky) * 3 + kx];
                    within(
                        got,
                        want,
                        magnitude,
                        batch * oh * ow,
                        "conv weight gradient",
                    );
                }
            }
        }
    }

    // Acting computes the same products on one observation.
    let mut single = vec![0.0f32; n_actions];
    net.predict_one(&x[..h * w * c], &mut ws, &mut single);
    for a in 0..n_actions {
        let (mut want, mut magnitude) = (f64::from(lin_b[a]), f64::from(lin_b[a]).abs());
        for j in 0..features {
            let p = r(lin_w[a * features + j]) * r(z1[j] as f32);
            want += p;
            magnitude += p.abs();
        }
        within(
            single[a],
            want,
            magnitude,
            features + 1,
            "single-observation forward",
        );
    }
}

#[test]
fn mlp_forward_and_input_gradient_match_an_f64_reference() {
    let (n_in, n_out, batch) = (37, 5, 3);
    let mut rng = Pcg64::seed_from_u64(4);
    let mut net = Mlp::<f32>::with_arch(&[n_in, n_out], bf16(), 0.5, &mut rng);
    let params = dyadic_weights(net.n_params(), &mut rng);
    net.params_mut().copy_from_slice(&params);
    let (wt, bias) = params.split_at(n_in * n_out);
    let x: Vec<f32> = (0..batch * n_in)
        .map(|_| rng.random_range(-2.0..2.0))
        .collect();
    let mut ws = Workspace::new(&net, batch);
    let q = net.forward(&x, batch, &mut ws).to_vec();
    for n in 0..batch {
        for o in 0..n_out {
            let (mut want, mut magnitude) = (f64::from(bias[o]), f64::from(bias[o]).abs());
            for i in 0..n_in {
                let p = r(wt[o * n_in + i]) * r(x[n * n_in + i]);
                want += p;
                magnitude += p.abs();
            }
            within(q[n * n_out + o], want, magnitude, n_in + 1, "forward");
        }
    }
    let g: Vec<f32> = (0..batch * n_out)
        .map(|_| rng.random_range(-1.0..1.0))
        .collect();
    let mut grads = vec![0.0; net.n_params()];
    let mut dx = vec![0.0; batch * n_in];
    net.backward_to_input(&mut ws, &g, &mut grads, Some(&mut dx));
    for n in 0..batch {
        for i in 0..n_in {
            let (mut want, mut magnitude) = (0.0, 0.0);
            for o in 0..n_out {
                let p = r(g[n * n_out + o]) * r(wt[o * n_in + i]);
                want += p;
                magnitude += p.abs();
            }
            within(dx[n * n_in + i], want, magnitude, n_out, "input gradient");
        }
    }
}

#[test]
fn bf16_differs_from_f32_and_survives_safetensors() {
    let mut rng = Pcg64::seed_from_u64(5);
    let input = ImageShape {
        height: 10,
        width: 10,
        channels: 4,
    };
    let conv = [ConvLayer {
        filters: 16,
        kernel: 3,
        stride: 1,
        padding: 0,
    }];
    let net = Mlp::<f32>::with_conv(input, &conv, &[128], 6, bf16(), 0.5, &mut rng);
    let mut f32_net =
        Mlp::<f32>::with_conv(input, &conv, &[128], 6, Arch::default(), 0.5, &mut rng);
    f32_net.params_mut().copy_from_slice(net.params());
    let x: Vec<f32> = (0..2 * 400).map(|_| rng.random_range(-1.0..1.0)).collect();
    let q = net.forward(&x, 2, &mut Workspace::new(&net, 2)).to_vec();
    let q32 = f32_net
        .forward(&x, 2, &mut Workspace::new(&f32_net, 2))
        .to_vec();
    assert_ne!(q, q32, "bf16 rounds");
    for (a, b) in q.iter().zip(&q32) {
        assert!((a - b).abs() < 0.05, "{a} vs {b}");
    }
    let bytes = to_safetensors(&net);
    let back = from_safetensors_with_conv::<f32>(&bytes, input, &conv).unwrap();
    assert_eq!(back.arch().precision, Precision::Bf16);
    assert_eq!(back.forward(&x, 2, &mut Workspace::new(&back, 2)), &q[..]);
    let f32_bytes = to_safetensors(&f32_net);
    assert!(!String::from_utf8_lossy(&f32_bytes[..200]).contains("precision"));
}

#[test]
fn an_f64_network_refuses_bf16() {
    let err = Mlp::<f64>::try_zeros_with_conv(
        ImageShape {
            height: 4,
            width: 4,
            channels: 1,
        },
        &[ConvLayer {
            filters: 2,
            kernel: 3,
            stride: 1,
            padding: 0,
        }],
        &[],
        2,
        bf16(),
    )
    .unwrap_err();
    assert_eq!(err, "precision bf16 needs an f32 network (dtype f32)");
}
