//! The naming rules of the module docs as data: every tensor of a network's `state_dict`,
//! with its PyTorch name, its shape and where its values sit. Writing a file walks this list,
//! and so does reading one, once the file's structure is known ([`super::describe`]), so the
//! two cannot disagree.

use std::ops::Range;

use crate::mlp::{Layer, Mlp};
use crate::scalar::Scalar;

/// One tensor of a network's `state_dict`.
pub(crate) struct Entry {
    /// The PyTorch name, e.g. `"torso.0.weight"`.
    pub(crate) name: String,
    /// The PyTorch shape, e.g. `[out, in]`.
    pub(crate) shape: Vec<usize>,
    pub(crate) values: Values,
    /// What a reader adds to the name when the tensor is missing (empty: nothing).
    pub(crate) role: String,
}

/// Where an [`Entry`]'s values are.
pub(crate) enum Values {
    /// A contiguous range of the flat parameters, in PyTorch's element order.
    Params(Range<usize>),
    /// C51's atoms, a persistent buffer computed from `v_min` and `v_max`.
    Support,
}

/// Modules per conv or hidden linear layer in the `nn.Sequential`: Conv2d or Linear,
/// (LayerNorm,) ReLU.
pub(crate) fn module_stride(layer_norm: bool) -> usize {
    if layer_norm { 3 } else { 2 }
}

/// The index of the first linear module: after the conv modules and the Flatten, if any.
pub(crate) fn first_linear_index(n_conv: usize, layer_norm: bool) -> usize {
    if n_conv == 0 {
        0
    } else {
        module_stride(layer_norm) * n_conv + 1
    }
}

/// Every tensor of `mlp`, in the order of the parameters (C51's support last).
pub(crate) fn schema<T: Scalar>(mlp: &Mlp<T>) -> Vec<Entry> {
    let arch = mlp.arch();
    let stride = module_stride(arch.layer_norm);
    let convs = mlp.conv_geoms();
    let off = first_linear_index(convs.len(), arch.layer_norm);
    // A plain network is one `nn.Sequential`; the other heads put it under `torso.`.
    let prefix = if arch.is_plain() { "" } else { "torso." };
    let mut out = Vec::new();
    let mut push = |name: String, shape: Vec<usize>, range: Range<usize>, role: String| {
        out.push(Entry {
            name,
            shape,
            values: Values::Params(range),
            role,
        });
    };
    for (k, g) in convs.iter().enumerate() {
        let s = g.spec;
        let index = stride * k;
        let shape = vec![s.filters, g.input.channels, s.kernel, s.kernel];
        push(
            format!("{prefix}{index}.weight"),
            shape,
            g.weight_range(),
            String::new(),
        );
        push(
            format!("{prefix}{index}.bias"),
            vec![s.filters],
            g.bias_range(),
            String::new(),
        );
        if let Some((gamma, beta)) = g.ln_ranges() {
            let role = format!(
                " (the LayerNorm after conv layer {}: a LayerNorm network has one after every \
                 conv layer)",
                k + 1
            );
            let ln = index + 1;
            push(
                format!("{prefix}{ln}.weight"),
                vec![s.filters],
                gamma,
                role.clone(),
            );
            push(format!("{prefix}{ln}.bias"), vec![s.filters], beta, role);
        }
    }
    let layers = mlp.layers();
    let (output, hidden) = layers.split_last().expect("a network has layers");
    for (k, layer) in hidden.iter().enumerate() {
        let index = off + stride * k;
        linear(
            &mut push,
            &format!("{prefix}{index}"),
            layer,
            0..layer.n_out,
        );
        if let Some((gamma, beta)) = layer.ln_ranges() {
            let ln = index + 1;
            push(
                format!("{prefix}{ln}.weight"),
                vec![layer.n_out],
                gamma,
                String::new(),
            );
            push(
                format!("{prefix}{ln}.bias"),
                vec![layer.n_out],
                beta,
                String::new(),
            );
        }
    }
    let atoms = arch.atoms;
    if arch.is_plain() {
        let index = off + stride * hidden.len();
        linear(&mut push, &index.to_string(), output, 0..output.n_out);
    } else if arch.dueling {
        linear(&mut push, "value", output, 0..atoms);
        linear(&mut push, "advantage", output, atoms..output.n_out);
    } else {
        linear(&mut push, "head", output, 0..output.n_out);
    }
    if atoms > 1 {
        out.push(Entry {
            name: "support".into(),
            shape: vec![atoms],
            values: Values::Support,
            role: String::new(),
        });
    }
    out
}

/// The tensors of the output rows `rows` of a linear (or NoisyLinear) layer, module `module`.
fn linear(
    push: &mut impl FnMut(String, Vec<usize>, Range<usize>, String),
    module: &str,
    layer: &Layer,
    rows: Range<usize>,
) {
    let n_in = layer.n_in;
    let (n, start) = (rows.len(), rows.start);
    let weight = |offset: usize| offset + start * n_in..offset + rows.end * n_in;
    let bias = |offset: usize| offset + start..offset + rows.end;
    match layer.noisy {
        None => {
            push(
                format!("{module}.weight"),
                vec![n, n_in],
                weight(layer.weight),
                String::new(),
            );
            push(
                format!("{module}.bias"),
                vec![n],
                bias(layer.bias),
                String::new(),
            );
        }
        Some(noisy) => {
            push(
                format!("{module}.weight_mu"),
                vec![n, n_in],
                weight(layer.weight),
                String::new(),
            );
            push(
                format!("{module}.bias_mu"),
                vec![n],
                bias(layer.bias),
                String::new(),
            );
            push(
                format!("{module}.weight_sigma"),
                vec![n, n_in],
                weight(noisy.weight_sigma),
                String::new(),
            );
            push(
                format!("{module}.bias_sigma"),
                vec![n],
                bias(noisy.bias_sigma),
                String::new(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;
    use crate::{Arch, ConvLayer, ImageShape};

    /// Every head, with and without LayerNorm and conv layers in front.
    fn networks() -> Vec<Mlp<f32>> {
        let heads = [
            Arch::default(),
            Arch {
                dueling: true,
                ..Arch::default()
            },
            Arch {
                noisy: true,
                atoms: 5,
                ..Arch::default()
            },
            Arch {
                dueling: true,
                noisy: true,
                atoms: 3,
                ..Arch::default()
            },
            Arch {
                quantiles: 4,
                ..Arch::default()
            },
        ];
        let conv = [ConvLayer {
            filters: 3,
            kernel: 3,
            stride: 1,
            padding: 1,
        }];
        let input = ImageShape {
            height: 4,
            width: 5,
            channels: 2,
        };
        let mut rng = rand_pcg::Pcg64::seed_from_u64(1);
        let mut out = Vec::new();
        for head in heads {
            for layer_norm in [false, true] {
                let arch = Arch { layer_norm, ..head };
                out.push(Mlp::with_arch(&[3, 6, 5, 2], arch, 0.5, &mut rng));
                out.push(Mlp::with_conv(input, &conv, &[6], 2, arch, 0.5, &mut rng));
            }
        }
        out
    }

    #[test]
    fn the_tensors_cover_every_parameter_once_with_distinct_names() {
        for mlp in networks() {
            let entries = schema(&mlp);
            let mut covered = vec![0u8; mlp.n_params()];
            let mut names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
            for entry in &entries {
                let len: usize = entry.shape.iter().product();
                match &entry.values {
                    Values::Params(range) => {
                        assert_eq!(range.len(), len, "{}", entry.name);
                        for c in &mut covered[range.clone()] {
                            *c += 1;
                        }
                    }
                    Values::Support => assert_eq!(len, mlp.arch().atoms),
                }
            }
            assert!(covered.iter().all(|&c| c == 1), "{:?}", mlp.arch());
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), entries.len(), "{:?}", mlp.arch());
        }
    }
}
