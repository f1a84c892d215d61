//! Exchange of networks with PyTorch through safetensors files.
//!
//! Tensors are named as in the `state_dict` of an `nn.Sequential` alternating `nn.Linear`
//! and `nn.ReLU`: `"0.weight"`, `"0.bias"`, `"2.weight"`, `"2.bias"`, … (Linear layers at
//! even indices), so `model.load_state_dict(safetensors.torch.load_file(path))` works on
//! such a model, and its `save_file(model.state_dict(), path)` output loads here.
//!
//! A network with a dueling, noisy or distributional head ([`Arch`]) is named as the
//! `state_dict` of this PyTorch module (`docs/rainbow.md` has it in full):
//!
//! - `torso.0.*`, `torso.2.*`, …: the hidden layers, an `nn.Sequential` of Linear (or
//!   NoisyLinear) and ReLU;
//! - `head.*` (`[n_actions · atoms, hidden]`), or for a dueling head `value.*`
//!   (`[atoms, hidden]`) and `advantage.*` (`[n_actions · atoms, hidden]`), rows action-major;
//! - a Linear layer has `weight` and `bias`; a NoisyLinear layer `weight_mu`, `weight_sigma`,
//!   `bias_mu` and `bias_sigma` (its noise is not saved: register it with
//!   `persistent=False`);
//! - `support` (`[atoms]`, a persistent buffer) for C51: the atoms, `v_min` to `v_max`.
//!
//! With LayerNorm ([`Arch::layer_norm`]) every hidden Linear is followed by an
//! `nn.LayerNorm` before its ReLU, which shifts the indices: a plain network is the
//! `state_dict` of `nn.Sequential(Linear, LayerNorm, ReLU, Linear, LayerNorm, ReLU, Linear)`,
//! `"0.weight"` `[256, 4]`, `"0.bias"`, `"1.weight"` `[256]` (the LayerNorm's γ), `"1.bias"`
//! (β), `"3.weight"`, `"3.bias"`, `"4.weight"`, `"4.bias"`, `"6.weight"`, `"6.bias"` (Linear
//! layers at multiples of 3, LayerNorms right after them); the other heads' torsos likewise
//! (`torso.0.*`, `torso.1.*`, `torso.3.*`, …). A one-dimensional `"<index>.weight"` (or a
//! `"torso.1.weight"`) marks a LayerNorm file on loading. The LayerNorm's ε is not part of a
//! `state_dict`: it is written to the file's `__metadata__` as `layer_norm_eps` (a decimal
//! number), which also marks a LayerNorm network without hidden layers; a LayerNorm file
//! without it (as PyTorch's `save_file(model.state_dict())` writes) gets PyTorch's default,
//! 1e-5. Files without LayerNorm are written and read exactly as before it existed.
//!
//! A convolutional network ([`Mlp::with_conv`]) puts its conv layers first, each an
//! `nn.Conv2d` (`weight` `[filters, in_channels, k, k]`, `bias` `[filters]`) followed by an
//! `nn.ReLU`, then an `nn.Flatten`, then the layers above with every index shifted by
//! `2·n_conv + 1`. So a plain one is the `state_dict` of `nn.Sequential(Conv2d, ReLU, …,
//! Conv2d, ReLU, Flatten, Linear, ReLU, …, Linear)`: with one conv layer (MinAtar's network)
//! `"0.weight"` `[16, C, 3, 3]`, `"0.bias"`, `"3.weight"` `[128, 1024]`, `"3.bias"`,
//! `"5.weight"`, `"5.bias"`; with three (Nature DQN's) `"0.*"`, `"2.*"`, `"4.*"` conv,
//! `"7.*"` and `"9.*"` linear.
//!
//! With LayerNorm every conv layer has its LayerNorm over the channels between the Conv2d
//! and the ReLU, as every hidden Linear has its own, so each module triple (Conv2d or Linear,
//! LayerNorm, ReLU) takes 3 indices: the `state_dict` of `nn.Sequential(Conv2d,
//! ChannelLayerNorm, ReLU, …, Flatten, Linear, LayerNorm, ReLU, …, Linear)`, where
//! `ChannelLayerNorm(filters)` is an `nn.LayerNorm(filters)` whose `forward` returns
//! `super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)` (so its parameters are named
//! as a LayerNorm's). Conv layers sit at `3k` with their LayerNorms at `3k + 1` (`weight` γ
//! and `bias` β, both `[filters]`), the Flatten at `3·n_conv`, Linear layers at
//! `3·n_conv + 1 + 3k` with their LayerNorms right after. PQN's MinAtar network (one conv
//! layer): `"0.weight"` `[16, C, 3, 3]`, `"0.bias"`, `"1.weight"` `[16]`, `"1.bias"`,
//! `"4.weight"` `[128, 1024]`, `"4.bias"`, `"5.weight"` `[128]`, `"5.bias"`, `"7.weight"`,
//! `"7.bias"`.
//!
//! The other heads put the conv layers (and their LayerNorms) and the Flatten in the torso:
//! `torso.0.*`, `torso.<stride>.*`, … conv (`torso.1.*`, `torso.4.*`, … their LayerNorms),
//! `torso.<stride·n_conv + 1 + stride·k>.*` the hidden Linear layers (stride 2, or 3 with
//! LayerNorm), then `head.*` or `value.*`/`advantage.*` and `support` as above. A
//! four-dimensional `weight` at index 0 marks a conv file; a `1.weight` or `1.bias` (or
//! `torso.1.*`) in it, or the `layer_norm_eps` metadata, a LayerNorm one, which must then
//! have a LayerNorm after every conv layer: files from before conv layers had LayerNorms,
//! whose conv layers lack them, are refused.
//!
//! The input image shape and the conv strides and paddings are not in a `state_dict` (the
//! kernel sizes and channel counts are, in the weight shapes): they are written to the
//! `__metadata__` as [`CONV_INPUT_SHAPE_KEY`] (`"height,width,channels"`, e.g. `"10,10,4"`),
//! [`CONV_STRIDES_KEY`] and [`CONV_PADDINGS_KEY`] (one decimal number per conv layer,
//! comma-separated, e.g. `"4,2,1"` and `"0,0,0"`). [`from_safetensors`] needs them and
//! refuses a conv file without them; [`from_safetensors_with_conv`] takes the description
//! from the caller instead (for a file PyTorch wrote).

use std::collections::{BTreeMap, HashMap};

use safetensors::SafeTensors;
use safetensors::tensor::TensorView;

use crate::conv::{self, ConvLayer, ConvTorso, ImageShape};
use crate::error::NnError;
use crate::mlp::{Arch, Layer, Mlp};
use crate::scalar::Scalar;

/// The `__metadata__` key holding the LayerNorm ε of a LayerNorm network (see the module docs).
pub const LAYER_NORM_EPS_KEY: &str = "layer_norm_eps";

/// The `__metadata__` key holding a quantile head's quantile count (QR-DQN, see
/// [`Arch::quantiles`]): the output layer's `n_quantiles · n_actions` units are read as
/// `[n_quantiles, n_actions]`. A `state_dict` does not say how to split them, so a file
/// without this key is read as a network of `n_quantiles · n_actions` scalar outputs.
pub const N_QUANTILES_KEY: &str = "n_quantiles";

/// The `__metadata__` key holding a convolutional network's input image shape,
/// `"height,width,channels"` (see the module docs).
pub const CONV_INPUT_SHAPE_KEY: &str = "conv_input_shape";

/// The `__metadata__` key holding a convolutional network's strides, one per conv layer,
/// comma-separated (see the module docs).
pub const CONV_STRIDES_KEY: &str = "conv_strides";

/// The `__metadata__` key holding a convolutional network's zero paddings, one per conv
/// layer, comma-separated (see the module docs).
pub const CONV_PADDINGS_KEY: &str = "conv_paddings";

/// Encodes `mlp` as a safetensors file (dtype F32 or F64 by `T`).
pub fn to_safetensors<T: Scalar>(mlp: &Mlp<T>) -> Vec<u8> {
    to_safetensors_with_metadata(mlp, None)
}

/// As [`to_safetensors`], with a string map stored in the file's `__metadata__` header
/// (for example the training configuration); read it back with [`safetensors_metadata`].
/// A LayerNorm network adds (or overwrites) the key [`LAYER_NORM_EPS_KEY`] in that map, a
/// convolutional one [`CONV_INPUT_SHAPE_KEY`], [`CONV_STRIDES_KEY`] and [`CONV_PADDINGS_KEY`].
pub fn to_safetensors_with_metadata<T: Scalar>(
    mlp: &Mlp<T>,
    mut metadata: Option<HashMap<String, String>>,
) -> Vec<u8> {
    if mlp.arch().layer_norm {
        // `{:e}` prints the shortest digits that read back to the same f64, in a form
        // Python's `float()` also parses.
        metadata.get_or_insert_with(HashMap::new).insert(
            LAYER_NORM_EPS_KEY.into(),
            format!("{:e}", mlp.arch().layer_norm_eps),
        );
    }
    if mlp.arch().quantiles > 1 {
        metadata
            .get_or_insert_with(HashMap::new)
            .insert(N_QUANTILES_KEY.into(), mlp.arch().quantiles.to_string());
    }
    if let Some(input) = mlp.input_shape() {
        let list = |f: fn(&ConvLayer) -> usize| {
            let v: Vec<String> = mlp.conv_layers().iter().map(|c| f(c).to_string()).collect();
            v.join(",")
        };
        let metadata = metadata.get_or_insert_with(HashMap::new);
        metadata.insert(
            CONV_INPUT_SHAPE_KEY.into(),
            format!("{},{},{}", input.height, input.width, input.channels),
        );
        metadata.insert(CONV_STRIDES_KEY.into(), list(|c| c.stride));
        metadata.insert(CONV_PADDINGS_KEY.into(), list(|c| c.padding));
    }
    let tensors = named_tensors(mlp);
    let views = tensors.iter().map(|(name, shape, data)| {
        let view =
            TensorView::new(T::DTYPE, shape.clone(), data).expect("byte length matches shape");
        (name.clone(), view)
    });
    let file = safetensors::serialize(views, None).expect("a network always forms a valid file");
    match metadata {
        Some(metadata) => with_metadata(file, &metadata.into_iter().collect()),
        None => file,
    }
}

/// `file` with `metadata` as its header's `__metadata__`, keys sorted. The safetensors
/// crate writes a `HashMap` in its iteration order, which differs from run to run; sorted
/// keys keep a model's file the same bytes whenever its weights are the same.
pub(crate) fn with_metadata(file: Vec<u8>, metadata: &BTreeMap<String, String>) -> Vec<u8> {
    let header_len = u64::from_le_bytes(file[..8].try_into().expect("8 bytes")) as usize;
    let header = std::str::from_utf8(&file[8..8 + header_len]).expect("the header is JSON text");
    let body = header
        .trim_end()
        .strip_prefix('{')
        .expect("the header is a JSON object");
    let metadata = serde_json::to_string(metadata).expect("strings serialize");
    let separator = if body.trim_start().starts_with('}') {
        ""
    } else {
        ","
    };
    let mut header = format!("{{\"__metadata__\":{metadata}{separator}{body}");
    // The data that follows the header stays aligned to 8 bytes, as the format asks.
    while header.len() % 8 != 0 {
        header.push(' ');
    }
    let mut out = Vec::with_capacity(8 + header.len() + file.len() - 8 - header_len);
    out.extend_from_slice(&(header.len() as u64).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(&file[8 + header_len..]);
    out
}

/// Every tensor of `mlp` with its PyTorch name, shape and little-endian bytes.
fn named_tensors<T: Scalar>(mlp: &Mlp<T>) -> Vec<(String, Vec<usize>, Vec<u8>)> {
    let params = mlp.params();
    let bytes = |values: &[T]| {
        let mut out = Vec::new();
        T::extend_le_bytes(values, &mut out);
        out
    };
    let mut tensors = Vec::new();
    let layers = mlp.layers();
    // Modules per conv or hidden linear layer in the `nn.Sequential`: Conv2d or Linear,
    // (LayerNorm,) ReLU.
    let stride = if mlp.arch().layer_norm { 3 } else { 2 };
    // Conv layers first, then the Flatten, shift the linear modules.
    let convs = mlp.conv_geoms();
    let off = if convs.is_empty() {
        0
    } else {
        stride * convs.len() + 1
    };
    let conv_prefix = if mlp.arch().is_plain() { "" } else { "torso." };
    for (k, g) in convs.iter().enumerate() {
        let s = g.spec;
        tensors.push((
            format!("{conv_prefix}{}.weight", stride * k),
            vec![s.filters, g.input.channels, s.kernel, s.kernel],
            bytes(&params[g.weight_range()]),
        ));
        tensors.push((
            format!("{conv_prefix}{}.bias", stride * k),
            vec![s.filters],
            bytes(&params[g.bias_range()]),
        ));
        if let Some((gamma, beta)) = g.ln_ranges() {
            for (part, range) in [("weight", gamma), ("bias", beta)] {
                tensors.push((
                    format!("{conv_prefix}{}.{part}", stride * k + 1),
                    vec![s.filters],
                    bytes(&params[range]),
                ));
            }
        }
    }
    // A hidden layer's LayerNorm, module `index`, under `prefix`.
    let layer_norm = |tensors: &mut Vec<_>, prefix: &str, index: usize, layer: &Layer| {
        if let Some((gamma, beta)) = layer.ln_ranges() {
            for (part, range) in [("weight", gamma), ("bias", beta)] {
                tensors.push((
                    format!("{prefix}{index}.{part}"),
                    vec![layer.n_out],
                    bytes(&params[range]),
                ));
            }
        }
    };
    if mlp.arch().is_plain() {
        for (k, layer) in layers.iter().enumerate() {
            tensors.push((
                format!("{}.weight", off + stride * k),
                vec![layer.n_out, layer.n_in],
                bytes(&params[layer.weight_range()]),
            ));
            tensors.push((
                format!("{}.bias", off + stride * k),
                vec![layer.n_out],
                bytes(&params[layer.bias_range()]),
            ));
            layer_norm(&mut tensors, "", off + stride * k + 1, layer);
        }
        return tensors;
    }
    // One linear (or noisy) layer, or the rows `rows` of one.
    let mut push = |prefix: &str, layer: &Layer, rows: std::ops::Range<usize>| {
        let n_in = layer.n_in;
        let n = rows.len();
        let w = |start: usize| bytes(&params[start + rows.start * n_in..start + rows.end * n_in]);
        let b = |start: usize| bytes(&params[start + rows.start..start + rows.end]);
        match layer.noisy {
            None => {
                tensors.push((format!("{prefix}.weight"), vec![n, n_in], w(layer.weight)));
                tensors.push((format!("{prefix}.bias"), vec![n], b(layer.bias)));
            }
            Some(noisy) => {
                tensors.push((
                    format!("{prefix}.weight_mu"),
                    vec![n, n_in],
                    w(layer.weight),
                ));
                tensors.push((format!("{prefix}.bias_mu"), vec![n], b(layer.bias)));
                tensors.push((
                    format!("{prefix}.weight_sigma"),
                    vec![n, n_in],
                    w(noisy.weight_sigma),
                ));
                tensors.push((format!("{prefix}.bias_sigma"), vec![n], b(noisy.bias_sigma)));
            }
        }
    };
    let (head, torso) = layers.split_last().expect("a network has layers");
    for (k, layer) in torso.iter().enumerate() {
        push(
            &format!("torso.{}", off + stride * k),
            layer,
            0..layer.n_out,
        );
    }
    let atoms = mlp.arch().atoms;
    if mlp.arch().dueling {
        push("value", head, 0..atoms);
        push("advantage", head, atoms..head.n_out);
    } else {
        push("head", head, 0..head.n_out);
    }
    for (k, layer) in torso.iter().enumerate() {
        layer_norm(&mut tensors, "torso.", off + stride * k + 1, layer);
    }
    if atoms > 1 {
        tensors.push(("support".into(), vec![atoms], bytes(mlp.support())));
    }
    tensors
}

/// Decodes a network written by [`to_safetensors`] or by PyTorch (see the module docs).
///
/// Checks that the file parses, that the tensors are exactly `0.weight`, `0.bias`, … for
/// consecutive even indices (with LayerNorm: Linear layers at multiples of 3, each hidden
/// one followed by its LayerNorm's `weight` and `bias`), that their dtype is `T`'s, and that
/// the shapes chain (`weight` `out × in`, `bias` `out`, each layer's `in` the previous
/// `out`, a LayerNorm's `weight` and `bias`
/// `out`). Never panics: any other input gives an
/// error.
///
/// A convolutional network's file (a four-dimensional `0.weight` or `torso.0.weight`) must
/// carry its input shape, strides and paddings in the metadata, as [`to_safetensors`]
/// writes them; without them this is an error, and [`from_safetensors_with_conv`] loads it.
pub fn from_safetensors<T: Scalar>(bytes: &[u8]) -> Result<Mlp<T>, NnError> {
    with_quantile_head(bytes, read_network(bytes)?)
}

/// The network of a file, read by the naming rules it follows (see the module docs), its
/// outputs not yet split into quantiles.
fn read_network<T: Scalar>(bytes: &[u8]) -> Result<Mlp<T>, NnError> {
    let file = parse(bytes)?;
    if let Some(prefix) = conv_prefix(&file) {
        let metadata = safetensors_metadata(bytes)?;
        let (input, conv) = conv_metadata(&metadata)?;
        return from_conv(&file, &metadata, prefix, input, &conv, false);
    }
    let eps = layer_norm_eps(bytes)?;
    let structured = file.names().iter().any(|n| {
        n.starts_with("torso.")
            || n.starts_with("head.")
            || n.starts_with("value.")
            || n.starts_with("advantage.")
            || *n == "support"
    });
    if structured {
        return from_structured(&file, eps);
    }
    let layer_norm = eps.is_some()
        || file.tensors().iter().any(|(name, view)| {
            view.shape().len() == 1 && parse_index(name).is_some_and(|(_, slot)| slot == 0)
        });
    if layer_norm {
        return from_sequential_layer_norm(&file, eps.unwrap_or(Arch::default().layer_norm_eps));
    }
    let mut tensors = file.tensors();
    // Sorted, so that the error reported for a file with several problems is always the same.
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    let mut layers: BTreeMap<usize, [Option<TensorView<'_>>; 2]> = BTreeMap::new();
    for (name, view) in tensors {
        let (index, slot) =
            parse_name(&name).ok_or_else(|| NnError::UnexpectedTensor(name.clone()))?;
        if view.dtype() != T::DTYPE {
            return Err(NnError::Dtype {
                name,
                expected: T::DTYPE.to_string(),
                found: view.dtype().to_string(),
            });
        }
        layers.entry(index).or_default()[slot] = Some(view);
    }
    if layers.is_empty() {
        return Err(NnError::MissingTensor("0.weight".into()));
    }
    let mut sizes = Vec::with_capacity(layers.len() + 1);
    let mut params = Vec::new();
    for (k, (&index, [weight, bias])) in layers.iter().enumerate() {
        if index != k {
            return Err(NnError::MissingTensor(format!("{}.weight", 2 * k)));
        }
        let name = |part: &str| format!("{}.{part}", 2 * k);
        let weight = weight
            .as_ref()
            .ok_or_else(|| NnError::MissingTensor(name("weight")))?;
        let bias = bias
            .as_ref()
            .ok_or_else(|| NnError::MissingTensor(name("bias")))?;
        let (n_out, n_in) = linear_dims(&name("weight"), weight, sizes.last().copied())?;
        if sizes.is_empty() {
            sizes.push(n_in);
        }
        sizes.push(n_out);
        if bias.shape() != [n_out] {
            return Err(NnError::Shape {
                name: name("bias"),
                expected: format!("[{n_out}]"),
                found: bias.shape().to_vec(),
            });
        }
        for view in [weight, bias] {
            params.extend(decode::<T>(view)?);
        }
    }
    Mlp::from_parts(sizes, Arch::default(), params).map_err(NnError::Format)
}

/// Decodes a convolutional network whose file lacks the conv metadata (as PyTorch's
/// `save_file(model.state_dict())` writes it): `input` is the image shape and `conv` the
/// conv layers, whose filter counts and kernel sizes must match the file's weights (their
/// strides and paddings are taken from `conv`). Conv metadata in the file is ignored (a
/// LayerNorm ε there is used). Otherwise as [`from_safetensors`].
pub fn from_safetensors_with_conv<T: Scalar>(
    bytes: &[u8],
    input: ImageShape,
    conv: &[ConvLayer],
) -> Result<Mlp<T>, NnError> {
    let file = parse(bytes)?;
    let metadata = safetensors_metadata(bytes)?;
    let Some(prefix) = conv_prefix(&file) else {
        return Err(NnError::MissingTensor(
            "0.weight (a conv weight [filters, in, k, k])".into(),
        ));
    };
    with_quantile_head(
        bytes,
        from_conv(&file, &metadata, prefix, input, conv, true)?,
    )
}

/// `mlp` with its outputs read as quantiles when the file's metadata has
/// [`N_QUANTILES_KEY`].
fn with_quantile_head<T: Scalar>(bytes: &[u8], mlp: Mlp<T>) -> Result<Mlp<T>, NnError> {
    let Some(value) = safetensors_metadata(bytes)?.remove(N_QUANTILES_KEY) else {
        return Ok(mlp);
    };
    let n_quantiles = value.parse::<usize>().map_err(|_| {
        NnError::Format(format!(
            "metadata {N_QUANTILES_KEY} = {value:?} is not a whole number"
        ))
    })?;
    mlp.with_quantiles(n_quantiles).map_err(NnError::Format)
}

/// `""` or `"torso."` if the file holds a conv network (a four-dimensional weight at index
/// 0), named as a plain `nn.Sequential` or with a torso.
fn conv_prefix(file: &SafeTensors<'_>) -> Option<&'static str> {
    ["", "torso."].into_iter().find(|prefix| {
        file.tensor(&format!("{prefix}0.weight"))
            .is_ok_and(|v| v.shape().len() == 4)
    })
}

/// The input shape and the conv layers' strides and paddings from the metadata (filters
/// and kernels zero: the weights give them).
fn conv_metadata(
    metadata: &HashMap<String, String>,
) -> Result<(ImageShape, Vec<ConvLayer>), NnError> {
    let get = |key: &str| {
        metadata.get(key).ok_or_else(|| {
            NnError::Format(format!(
                "a convolutional network's file needs the metadata {CONV_INPUT_SHAPE_KEY}, \
                 {CONV_STRIDES_KEY} and {CONV_PADDINGS_KEY} (a PyTorch state_dict does not hold \
                 them), but {key} is missing; load it with from_safetensors_with_conv"
            ))
        })
    };
    let numbers = |key: &str| -> Result<Vec<usize>, NnError> {
        let value = get(key)?;
        value
            .split(',')
            .map(|v| v.trim().parse::<usize>())
            .collect::<Result<_, _>>()
            .map_err(|_| {
                NnError::Format(format!(
                    "metadata {key} = {value:?} is not a comma-separated list of integers"
                ))
            })
    };
    let shape = numbers(CONV_INPUT_SHAPE_KEY)?;
    let [height, width, channels] = shape[..] else {
        return Err(NnError::Format(format!(
            "metadata {CONV_INPUT_SHAPE_KEY} = {:?} is not \"height,width,channels\"",
            get(CONV_INPUT_SHAPE_KEY)?
        )));
    };
    let (strides, paddings) = (numbers(CONV_STRIDES_KEY)?, numbers(CONV_PADDINGS_KEY)?);
    if strides.len() != paddings.len() {
        return Err(NnError::Format(format!(
            "metadata {CONV_STRIDES_KEY} has {} entries, {CONV_PADDINGS_KEY} {}",
            strides.len(),
            paddings.len()
        )));
    }
    let conv = strides
        .into_iter()
        .zip(paddings)
        .map(|(stride, padding)| ConvLayer {
            filters: 0,
            kernel: 0,
            stride,
            padding,
        })
        .collect();
    let input = ImageShape {
        height,
        width,
        channels,
    };
    Ok((input, conv))
}

/// `"<prefix><i>.<part>"` → `(i, part)` for a canonical decimal `i`.
fn split_index<'a>(name: &'a str, prefix: &str) -> Option<(usize, &'a str)> {
    let (index, part) = name.strip_prefix(prefix)?.split_once('.')?;
    let parsed: usize = index.parse().ok()?;
    (parsed.to_string() == index).then_some((parsed, part))
}

/// Decodes a conv network: the conv layers `<prefix><2k>.*` (with LayerNorm `<prefix><3k>.*`
/// and their LayerNorms `<prefix><3k + 1>.*`) here (stride and padding from `given`; with
/// `check`, filters and kernel checked against it), the rest by renaming its modules down
/// by `2·n_conv + 1` (`3·n_conv + 1`) and decoding that as a network of its own, which keeps
/// one decoder for the linear layers and heads.
fn from_conv<T: Scalar>(
    file: &SafeTensors<'_>,
    metadata: &HashMap<String, String>,
    prefix: &str,
    input: ImageShape,
    given: &[ConvLayer],
    check: bool,
) -> Result<Mlp<T>, NnError> {
    let mut remaining: BTreeMap<String, TensorView<'_>> = file.tensors().into_iter().collect();
    for (name, view) in &remaining {
        if view.dtype() != T::DTYPE {
            return Err(NnError::Dtype {
                name: name.clone(),
                expected: T::DTYPE.to_string(),
                found: view.dtype().to_string(),
            });
        }
    }
    // A LayerNorm network normalises after every conv layer: the first conv layer's
    // LayerNorm, or the ε only LayerNorm networks write, says this is one.
    let layer_norm = metadata.contains_key(LAYER_NORM_EPS_KEY)
        || ["weight", "bias"]
            .iter()
            .any(|part| remaining.contains_key(&format!("{prefix}1.{part}")));
    let stride = if layer_norm { 3 } else { 2 };
    let mut layers = Vec::new();
    let mut params = Vec::new();
    let mut channels = input.channels;
    loop {
        let k = layers.len();
        let w_name = format!("{prefix}{}.weight", stride * k);
        if remaining.get(&w_name).is_none_or(|v| v.shape().len() != 4) {
            break;
        }
        let weight = remaining.remove(&w_name).expect("present");
        let Some(spec) = given.get(k) else {
            return Err(NnError::Format(format!(
                "the file has more conv layers than the {} described",
                given.len()
            )));
        };
        let (filters, kernel) = match *weight.shape() {
            [f, c, kh, kw] if f > 0 && kh > 0 && kh == kw && c == channels => (f, kh),
            _ => {
                return Err(NnError::Shape {
                    name: w_name,
                    expected: format!(
                        "[filters, {channels}, k, k] (a square kernel over {channels} channels)"
                    ),
                    found: weight.shape().to_vec(),
                });
            }
        };
        if check && (spec.filters != filters || spec.kernel != kernel) {
            return Err(NnError::Shape {
                name: w_name,
                expected: format!(
                    "[{}, {channels}, {}, {}] (conv layer {} as described)",
                    spec.filters,
                    spec.kernel,
                    spec.kernel,
                    k + 1
                ),
                found: weight.shape().to_vec(),
            });
        }
        let b_name = format!("{prefix}{}.bias", stride * k);
        let bias = remaining
            .remove(&b_name)
            .ok_or_else(|| NnError::MissingTensor(b_name.clone()))?;
        let mut views = vec![(b_name, bias)];
        if layer_norm {
            for part in ["weight", "bias"] {
                let name = format!("{prefix}{}.{part}", stride * k + 1);
                let view = remaining.remove(&name).ok_or_else(|| {
                    NnError::MissingTensor(format!(
                        "{name} (the LayerNorm after conv layer {}: a LayerNorm network has \
                         one after every conv layer)",
                        k + 1
                    ))
                })?;
                views.push((name, view));
            }
        }
        for (name, view) in &views {
            if view.shape() != [filters] {
                return Err(NnError::Shape {
                    name: name.clone(),
                    expected: format!("[{filters}]"),
                    found: view.shape().to_vec(),
                });
            }
        }
        params.extend(decode::<T>(&weight)?);
        for (_, view) in &views {
            params.extend(decode::<T>(view)?);
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
    let features = conv::conv_output_shapes(input, &layers)
        .map_err(NnError::Format)?
        .last()
        .expect("conv layers")
        .size();
    // The linear part, renamed as a network of its own.
    let off = stride * layers.len() + 1;
    let mut renamed = Vec::with_capacity(remaining.len());
    for (name, view) in remaining {
        let new = match split_index(&name, prefix) {
            Some((i, part)) if i >= off => format!("{prefix}{}.{part}", i - off),
            Some(_) => return Err(NnError::UnexpectedTensor(name)),
            None if prefix.is_empty() => return Err(NnError::UnexpectedTensor(name)),
            None => name,
        };
        renamed.push((new, view));
    }
    let mut rest_metadata: HashMap<String, String> = metadata
        .iter()
        .filter(|(k, _)| k.as_str() == LAYER_NORM_EPS_KEY)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if layer_norm {
        // A LayerNorm file PyTorch wrote has no ε: PyTorch's default, as for an MLP (and
        // the mark of LayerNorm for linear layers without hidden ones).
        rest_metadata
            .entry(LAYER_NORM_EPS_KEY.into())
            .or_insert_with(|| format!("{:e}", Arch::default().layer_norm_eps));
    }
    let bytes = safetensors::serialize(renamed, Some(rest_metadata))
        .map_err(|e| NnError::Format(e.to_string()))?;
    // Errors name the tensors as the caller's file does.
    let shift_back = |name: String| match split_index(&name, prefix) {
        Some((i, part)) => format!("{prefix}{}.{part}", i + off),
        None => name,
    };
    let mlp = from_safetensors::<T>(&bytes).map_err(|e| match e {
        NnError::MissingTensor(n) => NnError::MissingTensor(shift_back(n)),
        NnError::UnexpectedTensor(n) => NnError::UnexpectedTensor(shift_back(n)),
        NnError::Dtype {
            name,
            expected,
            found,
        } => NnError::Dtype {
            name: shift_back(name),
            expected,
            found,
        },
        NnError::Shape {
            name,
            expected,
            found,
        } => NnError::Shape {
            name: shift_back(name),
            expected,
            found,
        },
        other => other,
    })?;
    if mlp.input_shape().is_some() || mlp.sizes()[0] != features {
        let first = &mlp.layers()[0];
        return Err(NnError::Shape {
            name: format!("the first linear layer after {prefix}{}", off - 1),
            expected: format!("{features} inputs (the conv layers' output)"),
            found: vec![first.n_out, first.n_in],
        });
    }
    if mlp.arch().layer_norm && !layer_norm {
        // The linear layers have LayerNorms the conv layers lack (files written before
        // conv layers had them): no network of this crate computes that.
        return Err(NnError::MissingTensor(format!(
            "{prefix}1.weight (the LayerNorm after conv layer 1: the linear layers have \
             LayerNorm, so every conv layer needs one)"
        )));
    }
    params.extend_from_slice(mlp.params());
    let torso = ConvTorso { input, layers };
    Mlp::from_parts_conv(mlp.sizes().to_vec(), *mlp.arch(), Some(torso), params)
        .map_err(NnError::Format)
}

/// The `__metadata__` string map of a safetensors file (empty if it has none).
pub fn safetensors_metadata(bytes: &[u8]) -> Result<HashMap<String, String>, NnError> {
    let (_, metadata) =
        SafeTensors::read_metadata(bytes).map_err(|e| NnError::Format(e.to_string()))?;
    Ok(metadata.metadata().clone().unwrap_or_default())
}

fn parse(bytes: &[u8]) -> Result<SafeTensors<'_>, NnError> {
    SafeTensors::deserialize(bytes).map_err(|e| NnError::Format(e.to_string()))
}

/// `"2k.weight"` → `(k, 0)`, `"2k.bias"` → `(k, 1)`; only canonical decimal indices.
fn parse_name(name: &str) -> Option<(usize, usize)> {
    let (parsed, slot) = parse_index(name)?;
    parsed.is_multiple_of(2).then_some((parsed / 2, slot))
}

/// `"i.weight"` → `(i, 0)`, `"i.bias"` → `(i, 1)`, for any canonical decimal index `i`.
fn parse_index(name: &str) -> Option<(usize, usize)> {
    let (index, part) = name.split_once('.')?;
    let slot = match part {
        "weight" => 0,
        "bias" => 1,
        _ => return None,
    };
    let parsed: usize = index.parse().ok()?;
    (parsed.to_string() == index).then_some((parsed, slot))
}

/// The LayerNorm ε stored in the file's metadata, if any.
fn layer_norm_eps(bytes: &[u8]) -> Result<Option<f64>, NnError> {
    let metadata = safetensors_metadata(bytes)?;
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
    weight: &TensorView<'_>,
    prev: Option<usize>,
) -> Result<(usize, usize), NnError> {
    let shape_error = |expected: String| NnError::Shape {
        name: name.to_string(),
        expected,
        found: weight.shape().to_vec(),
    };
    let (n_out, n_in) = match *weight.shape() {
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

/// Decodes the values of a tensor of `T`'s dtype.
fn decode<T: Scalar>(view: &TensorView<'_>) -> Result<Vec<T>, NnError> {
    T::from_le_bytes(view.data()).ok_or_else(|| {
        NnError::Format("tensor data length is not a multiple of the dtype size".into())
    })
}

/// Decodes a plain LayerNorm network: the `state_dict` of `nn.Sequential(Linear, LayerNorm,
/// ReLU, …, Linear)` (Linear layers at indices `3k`, LayerNorms at `3k + 1`).
fn from_sequential_layer_norm<T: Scalar>(
    file: &SafeTensors<'_>,
    eps: f64,
) -> Result<Mlp<T>, NnError> {
    let mut tensors = file.tensors();
    // Sorted, so that the error reported for a file with several problems is always the same.
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    let mut modules: BTreeMap<usize, [Option<TensorView<'_>>; 2]> = BTreeMap::new();
    for (name, view) in tensors {
        let (index, slot) = parse_index(&name)
            .filter(|(i, _)| i % 3 != 2)
            .ok_or_else(|| NnError::UnexpectedTensor(name.clone()))?;
        if view.dtype() != T::DTYPE {
            return Err(NnError::Dtype {
                name,
                expected: T::DTYPE.to_string(),
                found: view.dtype().to_string(),
            });
        }
        modules.entry(index).or_default()[slot] = Some(view);
    }
    // The output layer is the last Linear; a LayerNorm after it is left over, and refused
    // below.
    let last = *modules
        .keys()
        .rev()
        .find(|&&i| i % 3 == 0)
        .ok_or_else(|| NnError::MissingTensor("0.weight".into()))?;
    let n_layers = last / 3 + 1;
    let mut take = |index: usize, part: usize| {
        let name = format!("{index}.{}", ["weight", "bias"][part]);
        modules
            .get_mut(&index)
            .and_then(|m| m[part].take())
            .map(|v| (name.clone(), v))
            .ok_or(NnError::MissingTensor(name))
    };
    let mut sizes = Vec::with_capacity(n_layers + 1);
    let mut params = Vec::new();
    for k in 0..n_layers {
        let (w_name, weight) = take(3 * k, 0)?;
        let (b_name, bias) = take(3 * k, 1)?;
        let (n_out, n_in) = linear_dims(&w_name, &weight, sizes.last().copied())?;
        if sizes.is_empty() {
            sizes.push(n_in);
        }
        sizes.push(n_out);
        let mut views = vec![(b_name, bias)];
        if k + 1 < n_layers {
            views.push(take(3 * k + 1, 0)?);
            views.push(take(3 * k + 1, 1)?);
        }
        for (name, view) in &views {
            if view.shape() != [n_out] {
                return Err(NnError::Shape {
                    name: name.clone(),
                    expected: format!("[{n_out}]"),
                    found: view.shape().to_vec(),
                });
            }
        }
        params.extend(decode::<T>(&weight)?);
        for (_, view) in &views {
            params.extend(decode::<T>(view)?);
        }
    }
    // Only a LayerNorm after the output layer can be left over here.
    if let Some((index, m)) = modules.iter().find(|(_, m)| m.iter().any(Option::is_some)) {
        let part = if m[0].is_some() { "weight" } else { "bias" };
        return Err(NnError::UnexpectedTensor(format!("{index}.{part}")));
    }
    let arch = Arch {
        layer_norm: true,
        layer_norm_eps: eps,
        ..Arch::default()
    };
    Mlp::from_parts(sizes, arch, params).map_err(NnError::Format)
}

/// One decoded layer: `(n_out, n_in, [values of each part])`.
type TakenLayer<T> = (usize, usize, Vec<Vec<T>>);

/// Decodes a network with named modules (see the module docs): `torso.<2k>.*`, then `head.*`
/// or `value.*` and `advantage.*`, noisy layers as `*_mu`/`*_sigma`, and `support`.
fn from_structured<T: Scalar>(file: &SafeTensors<'_>, eps: Option<f64>) -> Result<Mlp<T>, NnError> {
    let mut remaining: BTreeMap<String, TensorView<'_>> = file.tensors().into_iter().collect();
    for (name, view) in &remaining {
        if view.dtype() != T::DTYPE {
            return Err(NnError::Dtype {
                name: name.clone(),
                expected: T::DTYPE.to_string(),
                found: view.dtype().to_string(),
            });
        }
    }
    let noisy = remaining.keys().any(|n| n.ends_with(".weight_mu"));
    let layer_norm = eps.is_some() || remaining.contains_key("torso.1.weight");
    let stride = if layer_norm { 3 } else { 2 };
    let parts: &[&str] = if noisy {
        &["weight_mu", "bias_mu", "weight_sigma", "bias_sigma"]
    } else {
        &["weight", "bias"]
    };
    // Takes one layer `prefix.*`: returns (n_out, n_in, [values per part]).
    let mut take = |prefix: &str, n_in: Option<usize>| -> Result<Option<TakenLayer<T>>, NnError> {
        let first = format!("{prefix}.{}", parts[0]);
        let Some(weight) = remaining.remove(&first) else {
            return Ok(None);
        };
        let (n_out, w_in) = linear_dims(&first, &weight, n_in)?;
        let mut values = vec![decode::<T>(&weight)?];
        for part in &parts[1..] {
            let name = format!("{prefix}.{part}");
            let view = remaining
                .remove(&name)
                .ok_or_else(|| NnError::MissingTensor(name.clone()))?;
            let expected: Vec<usize> = if part.starts_with("weight") {
                vec![n_out, w_in]
            } else {
                vec![n_out]
            };
            if view.shape() != expected.as_slice() {
                return Err(NnError::Shape {
                    name,
                    expected: format!("{expected:?}"),
                    found: view.shape().to_vec(),
                });
            }
            values.push(decode::<T>(&view)?);
        }
        Ok(Some((n_out, w_in, values)))
    };
    let mut torso = Vec::new();
    let mut n_in = None;
    while let Some(layer) = take(&format!("torso.{}", stride * torso.len()), n_in)? {
        n_in = Some(layer.0);
        torso.push(layer);
    }
    let (head, value) = match take("head", n_in)? {
        Some(head) => (head, None),
        None => {
            let value = take("value", n_in)?
                .ok_or_else(|| NnError::MissingTensor(format!("head.{}", parts[0])))?;
            let advantage = take("advantage", n_in)?
                .ok_or_else(|| NnError::MissingTensor(format!("advantage.{}", parts[0])))?;
            (advantage, Some(value))
        }
    };
    let support = match remaining.remove("support") {
        None => None,
        Some(view) => {
            if view.shape().len() != 1 || view.shape()[0] < 2 {
                return Err(NnError::Shape {
                    name: "support".into(),
                    expected: "[atoms] with atoms >= 2".into(),
                    found: view.shape().to_vec(),
                });
            }
            Some(decode::<T>(&view)?)
        }
    };
    // Each hidden layer's LayerNorm: `[weight, bias]` values.
    let mut norms = Vec::new();
    if layer_norm {
        for (k, layer) in torso.iter().enumerate() {
            let mut values = Vec::with_capacity(2);
            for part in ["weight", "bias"] {
                let name = format!("torso.{}.{part}", 3 * k + 1);
                let view = remaining
                    .remove(&name)
                    .ok_or_else(|| NnError::MissingTensor(name.clone()))?;
                if view.shape() != [layer.0] {
                    return Err(NnError::Shape {
                        name,
                        expected: format!("[{}]", layer.0),
                        found: view.shape().to_vec(),
                    });
                }
                values.push(decode::<T>(&view)?);
            }
            norms.push(values);
        }
    }
    if let Some(name) = remaining.keys().next() {
        return Err(NnError::UnexpectedTensor(name.clone()));
    }
    let atoms = support.as_ref().map_or(1, Vec::len);
    let n_inputs = torso.first().map_or(head.1, |l| l.1);
    if let Some(v) = &value
        && (v.0 != atoms || v.1 != head.1)
    {
        return Err(NnError::Shape {
            name: format!("value.{}", parts[0]),
            expected: format!("[{atoms}, {}]", head.1),
            found: vec![v.0, v.1],
        });
    }
    if !head.0.is_multiple_of(atoms) {
        return Err(NnError::Shape {
            name: format!(
                "{}.{}",
                if value.is_some() { "advantage" } else { "head" },
                parts[0]
            ),
            expected: format!("[n_actions · {atoms}, {}]", head.1),
            found: vec![head.0, head.1],
        });
    }
    let arch = Arch {
        layer_norm,
        layer_norm_eps: eps.unwrap_or(Arch::default().layer_norm_eps),
        dueling: value.is_some(),
        noisy,
        atoms,
        v_min: support.as_ref().map_or(-10.0, |s| s[0].to_f64()),
        v_max: support.as_ref().map_or(10.0, |s| s[s.len() - 1].to_f64()),
        quantiles: 1,
    };
    let mut sizes = vec![n_inputs];
    sizes.extend(torso.iter().map(|l| l.0));
    sizes.push(head.0 / atoms);
    let mut params = Vec::new();
    for (k, (_, _, values)) in torso.iter().enumerate() {
        for v in values.iter().chain(norms.get(k).into_iter().flatten()) {
            params.extend_from_slice(v);
        }
    }
    match &value {
        None => {
            for v in &head.2 {
                params.extend_from_slice(v);
            }
        }
        Some(value) => {
            for (v, a) in value.2.iter().zip(&head.2) {
                params.extend_from_slice(v);
                params.extend_from_slice(a);
            }
        }
    }
    Mlp::from_parts(sizes, arch, params).map_err(NnError::Format)
}
