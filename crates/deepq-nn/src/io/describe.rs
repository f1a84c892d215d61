//! Reading a file's structure: which naming rules it follows (one `nn.Sequential` or named
//! modules; LayerNorm; noisy layers; conv layers in front), and from the tensors' shapes the
//! network it holds. The values are read afterwards, through the network's
//! [`schema`](fn@super::schema), which also checks every shape this module did not need.

use std::collections::{BTreeMap, HashMap};

use safetensors::SafeTensors;

use super::schema::{first_linear_index, module_stride};
use super::{LAYER_NORM_EPS_KEY, conv_metadata, decode};
use crate::conv::{self, ConvLayer, ConvTorso, ImageShape};
use crate::error::NnError;
use crate::mlp::Arch;
use crate::scalar::Scalar;

/// The network a file holds, without its values.
pub(crate) struct Description {
    /// The linear widths `[n_inputs, hidden..., n_actions]`.
    pub(crate) sizes: Vec<usize>,
    pub(crate) arch: Arch,
    pub(crate) conv: Option<ConvTorso>,
}

/// A convolutional network's input shape and conv layers, as a caller describes them for a
/// file without the conv metadata.
pub(crate) type GivenConv<'a> = (ImageShape, &'a [ConvLayer]);

/// Tensor names (sorted, so that a file with several problems always gets the same error)
/// and their shapes.
type Shapes = BTreeMap<String, Vec<usize>>;

/// The network `file` holds. `given` describes its conv layers when the metadata does not
/// (their strides and paddings; filters and kernels are checked against the file), and a
/// file without conv layers is then refused.
pub(crate) fn describe<T: Scalar>(
    file: &SafeTensors<'_>,
    metadata: &HashMap<String, String>,
    given: Option<GivenConv<'_>>,
) -> Result<Description, NnError> {
    let shapes: Shapes = file
        .tensors()
        .into_iter()
        .map(|(name, view)| (name, view.shape().to_vec()))
        .collect();
    let eps = layer_norm_eps(metadata)?;
    // A four-dimensional weight at module 0 makes a conv network.
    let conv_prefix = ["", "torso."].into_iter().find(|p| {
        shapes
            .get(&format!("{p}0.weight"))
            .is_some_and(|s| s.len() == 4)
    });
    let structured = match conv_prefix {
        Some(prefix) => !prefix.is_empty(),
        None => shapes.keys().any(|n| {
            ["torso.", "head.", "value.", "advantage."]
                .iter()
                .any(|p| n.starts_with(p))
                || n == "support"
        }),
    };
    let prefix = if structured { "torso." } else { "" };
    let has = |name: &str| shapes.contains_key(name);
    let layer_norm = eps.is_some()
        || match (conv_prefix, structured) {
            (Some(_), _) => has(&format!("{prefix}1.weight")) || has(&format!("{prefix}1.bias")),
            (None, true) => has("torso.1.weight"),
            // A one-dimensional weight is a LayerNorm's.
            (None, false) => shapes.iter().any(|(n, s)| {
                s.len() == 1 && split_index(n, "").is_some_and(|(_, p)| p == "weight")
            }),
        };
    let stride = module_stride(layer_norm);
    if !structured {
        // Every tensor of one `nn.Sequential` is `<index>.weight` or `<index>.bias`.
        if let Some(name) = shapes
            .keys()
            .find(|n| split_index(n, "").is_none_or(|(_, p)| p != "weight" && p != "bias"))
        {
            return Err(NnError::UnexpectedTensor(name.clone()));
        }
    }
    let conv = match conv_prefix {
        None if given.is_some() => {
            return Err(NnError::MissingTensor(
                "0.weight (a conv weight [filters, in, k, k])".into(),
            ));
        }
        None => None,
        Some(_) => Some(match given {
            Some((input, layers)) => conv_layers(&shapes, prefix, stride, input, layers, true)?,
            None => {
                let (input, layers) = conv_metadata(metadata)?;
                conv_layers(&shapes, prefix, stride, input, &layers, false)?
            }
        }),
    };
    let n_conv = conv.as_ref().map_or(0, |c| c.layers.len());
    let off = first_linear_index(n_conv, layer_norm);
    if conv.is_some() && !layer_norm {
        // Linear layers with LayerNorms behind conv layers without (files written before
        // conv layers had them): no network of this crate computes that.
        let linear_norm = shapes.iter().any(|(n, s)| {
            s.len() == 1 && split_index(n, prefix).is_some_and(|(i, p)| i >= off && p == "weight")
        });
        if linear_norm {
            return Err(NnError::MissingTensor(format!(
                "{prefix}1.weight (the LayerNorm after conv layer 1: the linear layers have \
                 LayerNorm, so every conv layer needs one)"
            )));
        }
    }
    let eps = eps.unwrap_or(Arch::default().layer_norm_eps);
    let (sizes, arch) = if structured {
        structured_layers::<T>(file, &shapes, off, stride, layer_norm, eps)?
    } else {
        let sizes = sequential_layers(&shapes, off, stride, layer_norm)?;
        let arch = Arch {
            layer_norm,
            layer_norm_eps: eps,
            ..Arch::default()
        };
        (sizes, arch)
    };
    if let Some(torso) = &conv {
        let features = conv::conv_output_shapes(torso.input, &torso.layers)
            .map_err(NnError::Format)?
            .last()
            .expect("conv layers")
            .size();
        if sizes[0] != features {
            let weight = if arch.noisy { "weight_mu" } else { "weight" };
            let name = format!("{prefix}{off}.{weight}");
            return Err(NnError::Shape {
                expected: format!("[out, {features}] (the conv layers give {features} features)"),
                found: shapes.get(&name).cloned().unwrap_or_default(),
                name,
            });
        }
    }
    Ok(Description { sizes, arch, conv })
}

/// The conv layers `<prefix><stride·k>.weight` (four-dimensional), checked to chain from
/// `input`'s channels (with LayerNorm, each followed by its LayerNorm); strides and paddings
/// from `given`, and with `check` its filters and kernels checked against the file's.
fn conv_layers(
    shapes: &Shapes,
    prefix: &str,
    stride: usize,
    input: ImageShape,
    given: &[ConvLayer],
    check: bool,
) -> Result<ConvTorso, NnError> {
    let mut layers = Vec::new();
    let mut channels = input.channels;
    loop {
        let k = layers.len();
        let name = format!("{prefix}{}.weight", stride * k);
        let Some(shape) = shapes.get(&name).filter(|s| s.len() == 4) else {
            break;
        };
        let Some(spec) = given.get(k) else {
            return Err(NnError::Format(format!(
                "the file has more conv layers than the {} described",
                given.len()
            )));
        };
        let (filters, kernel) = match shape[..] {
            [f, c, kh, kw] if f > 0 && kh > 0 && kh == kw && c == channels => (f, kh),
            _ => {
                return Err(NnError::Shape {
                    name,
                    expected: format!(
                        "[filters, {channels}, k, k] (a square kernel over {channels} channels)"
                    ),
                    found: shape.clone(),
                });
            }
        };
        if check && (spec.filters != filters || spec.kernel != kernel) {
            return Err(NnError::Shape {
                name,
                expected: format!(
                    "[{}, {channels}, {}, {}] (conv layer {} as described)",
                    spec.filters,
                    spec.kernel,
                    spec.kernel,
                    k + 1
                ),
                found: shape.clone(),
            });
        }
        let norm = format!("{prefix}{}.weight", stride * k + 1);
        if stride == module_stride(true) && !shapes.contains_key(&norm) {
            return Err(NnError::MissingTensor(format!(
                "{norm} (the LayerNorm after conv layer {}: a LayerNorm network has one after \
                 every conv layer)",
                k + 1
            )));
        }
        layers.push(ConvLayer {
            filters,
            kernel,
            stride: spec.stride,
            padding: spec.padding,
        });
        channels = filters;
    }
    if layers.len() != given.len() {
        return Err(NnError::Format(format!(
            "the file has {} conv layers, {} were described",
            layers.len(),
            given.len()
        )));
    }
    Ok(ConvTorso { input, layers })
}

/// The linear widths of one `nn.Sequential` whose Linear modules sit at `off + stride·k`
/// (LayerNorms right after them with `layer_norm`): up to the last such index in the file.
fn sequential_layers(
    shapes: &Shapes,
    off: usize,
    stride: usize,
    layer_norm: bool,
) -> Result<Vec<usize>, NnError> {
    let mut last = None;
    for name in shapes.keys() {
        let (index, _) = split_index(name, "").expect("names checked");
        if index < off {
            continue; // conv modules, read by the schema
        }
        match (index - off) % stride {
            0 => last = last.max(Some(index)),
            1 if layer_norm => {}
            _ => return Err(NnError::UnexpectedTensor(name.clone())),
        }
    }
    let last = last.ok_or_else(|| NnError::MissingTensor(format!("{off}.weight")))?;
    let mut sizes = Vec::new();
    for index in (off..=last).step_by(stride) {
        let name = format!("{index}.weight");
        let shape = shapes
            .get(&name)
            .ok_or_else(|| NnError::MissingTensor(name.clone()))?;
        let (n_out, n_in) = linear_dims(&name, shape, sizes.last().copied())?;
        if sizes.is_empty() {
            sizes.push(n_in);
        }
        sizes.push(n_out);
    }
    Ok(sizes)
}

/// The linear widths and head of a network with named modules: `torso.<off + stride·k>`,
/// then `head` or `value` and `advantage`, noisy layers as `*_mu`/`*_sigma`, and `support`.
fn structured_layers<T: Scalar>(
    file: &SafeTensors<'_>,
    shapes: &Shapes,
    off: usize,
    stride: usize,
    layer_norm: bool,
    layer_norm_eps: f64,
) -> Result<(Vec<usize>, Arch), NnError> {
    let noisy = shapes.keys().any(|n| n.ends_with(".weight_mu"));
    let weight = if noisy { "weight_mu" } else { "weight" };
    // The (out, in) widths of module `module`, if the file has it.
    let dims = |module: &str, prev: Option<usize>| {
        let name = format!("{module}.{weight}");
        shapes
            .get(&name)
            .map(|shape| linear_dims(&name, shape, prev))
            .transpose()
    };
    let mut sizes: Vec<usize> = Vec::new();
    let mut prev = None;
    for index in (off..).step_by(stride) {
        let Some((n_out, n_in)) = dims(&format!("torso.{index}"), prev)? else {
            break;
        };
        if prev.is_none() {
            sizes.push(n_in);
        }
        sizes.push(n_out);
        prev = Some(n_out);
    }
    let (head, value) = match dims("head", prev)? {
        Some(head) => (head, None),
        None => {
            let value = dims("value", prev)?
                .ok_or_else(|| NnError::MissingTensor(format!("head.{weight}")))?;
            let advantage = dims("advantage", prev)?
                .ok_or_else(|| NnError::MissingTensor(format!("advantage.{weight}")))?;
            (advantage, Some(value))
        }
    };
    let (mut v_min, mut v_max) = (Arch::default().v_min, Arch::default().v_max);
    let atoms = match shapes.get("support") {
        None => 1,
        Some(shape) => {
            let atoms = match shape[..] {
                [atoms] if atoms >= 2 => atoms,
                _ => {
                    return Err(NnError::Shape {
                        name: "support".into(),
                        expected: "[atoms] with atoms >= 2".into(),
                        found: shape.clone(),
                    });
                }
            };
            let view = file
                .tensor("support")
                .map_err(|e| NnError::Format(e.to_string()))?;
            let support = decode::<T>(&view)?;
            v_min = support[0].to_f64();
            v_max = support[atoms - 1].to_f64();
            atoms
        }
    };
    if let Some(value) = value
        && (value.0 != atoms || value.1 != head.1)
    {
        return Err(NnError::Shape {
            name: format!("value.{weight}"),
            expected: format!("[{atoms}, {}]", head.1),
            found: vec![value.0, value.1],
        });
    }
    if !head.0.is_multiple_of(atoms) {
        let module = if value.is_some() { "advantage" } else { "head" };
        return Err(NnError::Shape {
            name: format!("{module}.{weight}"),
            expected: format!("[n_actions · {atoms}, {}]", head.1),
            found: vec![head.0, head.1],
        });
    }
    if sizes.is_empty() {
        sizes.push(head.1);
    }
    sizes.push(head.0 / atoms);
    let arch = Arch {
        layer_norm,
        layer_norm_eps,
        dueling: value.is_some(),
        noisy,
        atoms,
        v_min,
        v_max,
        ..Arch::default()
    };
    Ok((sizes, arch))
}

/// `"<prefix><i>.<part>"` → `(i, part)` for a canonical decimal `i`.
pub(crate) fn split_index<'a>(name: &'a str, prefix: &str) -> Option<(usize, &'a str)> {
    let (index, part) = name.strip_prefix(prefix)?.split_once('.')?;
    let parsed: usize = index.parse().ok()?;
    (parsed.to_string() == index).then_some((parsed, part))
}

/// The LayerNorm ε stored in the metadata, if any.
fn layer_norm_eps(metadata: &HashMap<String, String>) -> Result<Option<f64>, NnError> {
    metadata
        .get(LAYER_NORM_EPS_KEY)
        .map(|v| {
            v.trim().parse::<f64>().map_err(|_| {
                NnError::Format(format!(
                    "metadata {LAYER_NORM_EPS_KEY} = {v:?} is not a number"
                ))
            })
        })
        .transpose()
}

/// The (out, in) widths of the Linear weight `name`: a non-empty matrix whose input width is
/// the previous layer's output width `prev`, if there is one.
fn linear_dims(
    name: &str,
    shape: &[usize],
    prev: Option<usize>,
) -> Result<(usize, usize), NnError> {
    let shape_error = |expected: String| NnError::Shape {
        name: name.to_string(),
        expected,
        found: shape.to_vec(),
    };
    let (n_out, n_in) = match *shape {
        [n_out, n_in] if n_out > 0 && n_in > 0 => (n_out, n_in),
        _ => return Err(shape_error("a non-empty matrix [out, in]".into())),
    };
    match prev {
        Some(prev) if prev != n_in => Err(shape_error(format!(
            "[{n_out}, {prev}] (the previous layer has {prev} outputs)"
        ))),
        _ => Ok((n_out, n_in)),
    }
}
