//! Exchange of networks with PyTorch through safetensors files.
//!
//! Tensors are named as in the `state_dict` of an `nn.Sequential` alternating `nn.Linear`
//! and `nn.ReLU`: `"0.weight"`, `"0.bias"`, `"2.weight"`, `"2.bias"`, … (Linear layers at
//! even indices), so `model.load_state_dict(safetensors.torch.load_file(path))` works on
//! such a model, and its `save_file(model.state_dict(), path)` output loads here.
//!
//! Another activation than ReLU ([`Arch::activation`](crate::Arch::activation)) takes ReLU's
//! place at the same odd indices (it has no parameters, so the names do not change), and the
//! file's `__metadata__` names it ([`ACTIVATION_KEY`]).
//!
//! A network with a dueling, noisy or distributional head ([`Arch`](crate::Arch)) is named as the
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
//! With LayerNorm ([`Arch::layer_norm`](crate::Arch::layer_norm)) every hidden Linear is followed by an
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
//!
//! These rules are written once, as data: [`schema()`] lists a network's tensors with their
//! names, shapes and places in the flat parameters. Writing walks that list; reading first
//! works out from the file's names and shapes which network it holds ([`describe`]), then
//! walks the same list for that network, checking each tensor's shape and refusing any
//! tensor the list does not name.

use std::collections::{BTreeMap, HashMap};

use safetensors::SafeTensors;
use safetensors::tensor::TensorView;

mod describe;
mod schema;

use crate::activation::Activation;
use crate::bf16::Precision;
use crate::conv::{ConvLayer, ImageShape};
use crate::error::NnError;
use crate::mlp::Mlp;
use crate::scalar::Scalar;
use describe::{Description, GivenConv};
use schema::{Values, schema};

/// The `__metadata__` key holding the LayerNorm ε of a LayerNorm network (see the module docs).
pub const LAYER_NORM_EPS_KEY: &str = "layer_norm_eps";

/// The `__metadata__` key holding a quantile head's quantile count (QR-DQN, see
/// [`Arch::quantiles`](crate::Arch::quantiles)): the output layer's `n_quantiles · n_actions` units are read as
/// `[n_quantiles, n_actions]`. A `state_dict` does not say how to split them, so a file
/// without this key is read as a network of `n_quantiles · n_actions` scalar outputs.
pub const N_QUANTILES_KEY: &str = "n_quantiles";

/// The `__metadata__` key holding a network's [`Precision`] when it is not `f32` (see
/// [`Arch::precision`](crate::Arch::precision)); a file without it is an `f32` network.
pub const PRECISION_KEY: &str = "precision";

/// The `__metadata__` key holding a network's hidden-layer [`Activation`] when it is not
/// ReLU (its [`Activation::name`], e.g. `"tanh"`); a file without it is a ReLU network. A
/// `state_dict` has no entry for a parameterless module, so this key is how a file says which
/// one sits between its Linear layers.
pub const ACTIVATION_KEY: &str = "activation";

/// The `__metadata__` key holding a convolutional network's input image shape,
/// `"height,width,channels"` (see the module docs).
pub const CONV_INPUT_SHAPE_KEY: &str = "conv_input_shape";

/// The `__metadata__` key holding a convolutional network's strides, one per conv layer,
/// comma-separated (see the module docs).
pub const CONV_STRIDES_KEY: &str = "conv_strides";

/// The `__metadata__` key holding a convolutional network's zero paddings, one per conv
/// layer, comma-separated (see the module docs).
pub const CONV_PADDINGS_KEY: &str = "conv_paddings";

/// The names of `mlp`'s tensors in the order of its parameters, which is the order of the
/// PyTorch module's `state_dict` (a safetensors file keeps its tensors sorted by name).
pub fn state_dict_names<T: Scalar>(mlp: &Mlp<T>) -> Vec<String> {
    schema(mlp).into_iter().map(|entry| entry.name).collect()
}

/// Encodes `mlp` as a safetensors file (dtype F32 or F64 by `T`).
pub fn to_safetensors<T: Scalar>(mlp: &Mlp<T>) -> Vec<u8> {
    to_safetensors_with_metadata(mlp, None)
}

/// As [`to_safetensors`], with a string map stored in the file's `__metadata__` header
/// (for example the training configuration); read it back with [`safetensors_metadata`].
/// A LayerNorm network adds (or overwrites) the key [`LAYER_NORM_EPS_KEY`] in that map, a
/// convolutional one [`CONV_INPUT_SHAPE_KEY`], [`CONV_STRIDES_KEY`] and [`CONV_PADDINGS_KEY`],
/// one with another activation than ReLU [`ACTIVATION_KEY`].
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
    if !mlp.arch().precision.is_f32() {
        metadata
            .get_or_insert_with(HashMap::new)
            .insert(PRECISION_KEY.into(), mlp.arch().precision.name().into());
    }
    if !mlp.arch().activation.is_relu() {
        metadata
            .get_or_insert_with(HashMap::new)
            .insert(ACTIVATION_KEY.into(), mlp.arch().activation.name().into());
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
    let tensors: Vec<(String, Vec<usize>, Vec<u8>)> = schema(mlp)
        .into_iter()
        .map(|entry| {
            let values = match entry.values {
                Values::Params(range) => &mlp.params()[range],
                Values::Support => mlp.support(),
            };
            let mut bytes = Vec::with_capacity(std::mem::size_of_val(values));
            T::extend_le_bytes(values, &mut bytes);
            (entry.name, entry.shape, bytes)
        })
        .collect();
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
    read_network(bytes, None)
}

/// The network of a file: its structure from the tensors' names and shapes (`given`
/// describes the conv layers when the metadata does not), then every tensor its schema
/// names, checked and copied; a tensor the schema does not name is refused.
fn read_network<T: Scalar>(bytes: &[u8], given: Option<GivenConv<'_>>) -> Result<Mlp<T>, NnError> {
    let file = parse(bytes)?;
    let metadata = safetensors_metadata(bytes)?;
    let mut tensors: BTreeMap<String, TensorView<'_>> = file.tensors().into_iter().collect();
    for (name, view) in &tensors {
        if view.dtype() != T::DTYPE {
            return Err(NnError::Dtype {
                name: name.clone(),
                expected: T::DTYPE.to_string(),
                found: view.dtype().to_string(),
            });
        }
    }
    let Description {
        sizes,
        mut arch,
        conv,
    } = describe::describe::<T>(&file, &metadata, given)?;
    arch.precision = precision_metadata(&metadata)?;
    arch.activation = activation_metadata(&metadata)?;
    let mut mlp = Mlp::<T>::try_zeros(sizes, arch, conv).map_err(NnError::Format)?;
    for entry in schema(&mlp) {
        let view = tensors
            .remove(&entry.name)
            .ok_or_else(|| NnError::MissingTensor(format!("{}{}", entry.name, entry.role)))?;
        if view.shape() != entry.shape.as_slice() {
            return Err(NnError::Shape {
                name: entry.name,
                expected: format!("{:?}", entry.shape),
                found: view.shape().to_vec(),
            });
        }
        if let Values::Params(range) = entry.values {
            mlp.params_mut()[range].copy_from_slice(&decode::<T>(&view)?);
        }
    }
    if let Some(name) = tensors.into_keys().next() {
        return Err(NnError::UnexpectedTensor(name));
    }
    with_quantile_head(&metadata, mlp)
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
    read_network(bytes, Some((input, conv)))
}

/// `mlp` with its outputs read as quantiles when the file's metadata has
/// [`N_QUANTILES_KEY`].
fn with_quantile_head<T: Scalar>(
    metadata: &HashMap<String, String>,
    mlp: Mlp<T>,
) -> Result<Mlp<T>, NnError> {
    let Some(value) = metadata.get(N_QUANTILES_KEY) else {
        return Ok(mlp);
    };
    let n_quantiles = value.parse::<usize>().map_err(|_| {
        NnError::Format(format!(
            "metadata {N_QUANTILES_KEY} = {value:?} is not a whole number"
        ))
    })?;
    mlp.with_quantiles(n_quantiles).map_err(NnError::Format)
}

/// The precision named by the metadata's [`PRECISION_KEY`] (`f32` without it).
pub(crate) fn precision_metadata(metadata: &HashMap<String, String>) -> Result<Precision, NnError> {
    metadata
        .get(PRECISION_KEY)
        .map_or(Ok(Precision::F32), |value| {
            value
                .parse()
                .map_err(|e| NnError::Format(format!("metadata {PRECISION_KEY}: {e}")))
        })
}

/// The activation named by the metadata's [`ACTIVATION_KEY`] (ReLU without it).
fn activation_metadata(metadata: &HashMap<String, String>) -> Result<Activation, NnError> {
    metadata
        .get(ACTIVATION_KEY)
        .map_or(Ok(Activation::Relu), |value| {
            value
                .parse()
                .map_err(|e| NnError::Format(format!("metadata {ACTIVATION_KEY}: {e}")))
        })
}

/// The input shape and the conv layers' strides and paddings from the metadata (filters
/// and kernels zero: the weights give them).
pub(crate) fn conv_metadata(
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

/// The `__metadata__` string map of a safetensors file (empty if it has none).
pub fn safetensors_metadata(bytes: &[u8]) -> Result<HashMap<String, String>, NnError> {
    let (_, metadata) =
        SafeTensors::read_metadata(bytes).map_err(|e| NnError::Format(e.to_string()))?;
    Ok(metadata.metadata().clone().unwrap_or_default())
}

fn parse(bytes: &[u8]) -> Result<SafeTensors<'_>, NnError> {
    SafeTensors::deserialize(bytes).map_err(|e| NnError::Format(e.to_string()))
}

/// Decodes the values of a tensor of `T`'s dtype.
pub(crate) fn decode<T: Scalar>(view: &TensorView<'_>) -> Result<Vec<T>, NnError> {
    T::from_le_bytes(view.data()).ok_or_else(|| {
        NnError::Format("tensor data length is not a multiple of the dtype size".into())
    })
}
