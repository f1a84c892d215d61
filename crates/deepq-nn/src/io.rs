//! Exchange of networks with PyTorch through safetensors files.
//!
//! Tensors are named as in the `state_dict` of an `nn.Sequential` alternating `nn.Linear`
//! and `nn.ReLU`: `"0.weight"`, `"0.bias"`, `"2.weight"`, `"2.bias"`, … (Linear layers at
//! even indices), so `model.load_state_dict(safetensors.torch.load_file(path))` works on
//! such a model, and its `save_file(model.state_dict(), path)` output loads here.

use std::collections::{BTreeMap, HashMap};

use safetensors::SafeTensors;
use safetensors::tensor::TensorView;

use crate::error::NnError;
use crate::mlp::Mlp;
use crate::scalar::Scalar;

/// Encodes `mlp` as a safetensors file (dtype F32 or F64 by `T`).
pub fn to_safetensors<T: Scalar>(mlp: &Mlp<T>) -> Vec<u8> {
    to_safetensors_with_metadata(mlp, None)
}

/// As [`to_safetensors`], with a string map stored in the file's `__metadata__` header
/// (for example the training configuration); read it back with [`safetensors_metadata`].
pub fn to_safetensors_with_metadata<T: Scalar>(
    mlp: &Mlp<T>,
    metadata: Option<HashMap<String, String>>,
) -> Vec<u8> {
    let mut tensors = Vec::with_capacity(2 * mlp.layers().len());
    for (k, layer) in mlp.layers().iter().enumerate() {
        let params = mlp.params();
        tensors.push((
            format!("{}.weight", 2 * k),
            vec![layer.n_out, layer.n_in],
            &params[layer.weight_range()],
        ));
        tensors.push((
            format!("{}.bias", 2 * k),
            vec![layer.n_out],
            &params[layer.bias_range()],
        ));
    }
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, values)| {
            let mut out = Vec::new();
            T::extend_le_bytes(values, &mut out);
            out
        })
        .collect();
    let views = tensors
        .into_iter()
        .zip(&bytes)
        .map(|((name, shape, _), data)| {
            let view = TensorView::new(T::DTYPE, shape, data).expect("byte length matches shape");
            (name, view)
        });
    safetensors::serialize(views, metadata).expect("a network always forms a valid file")
}

/// Decodes a network written by [`to_safetensors`] or by PyTorch (see the module docs).
///
/// Checks that the file parses, that the tensors are exactly `0.weight`, `0.bias`, … for
/// consecutive even indices, that their dtype is `T`'s, and that the shapes chain
/// (`weight` `out × in`, `bias` `out`, each layer's `in` the previous `out`). Never panics:
/// any other input gives an error.
pub fn from_safetensors<T: Scalar>(bytes: &[u8]) -> Result<Mlp<T>, NnError> {
    let file = parse(bytes)?;
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
        let (n_out, n_in) = match *weight.shape() {
            [n_out, n_in] if n_out > 0 && n_in > 0 => (n_out, n_in),
            _ => {
                return Err(NnError::Shape {
                    name: name("weight"),
                    expected: "a non-empty matrix [out, in]".into(),
                    found: weight.shape().to_vec(),
                });
            }
        };
        match sizes.last() {
            None => sizes.push(n_in),
            Some(&prev) if prev != n_in => {
                return Err(NnError::Shape {
                    name: name("weight"),
                    expected: format!("[{n_out}, {prev}] (the previous layer has {prev} outputs)"),
                    found: weight.shape().to_vec(),
                });
            }
            Some(_) => {}
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
            params.extend(T::from_le_bytes(view.data()).ok_or_else(|| {
                NnError::Format("tensor data length is not a multiple of the dtype size".into())
            })?);
        }
    }
    Mlp::from_parts(sizes, params).map_err(NnError::Format)
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
    let (index, part) = name.split_once('.')?;
    let slot = match part {
        "weight" => 0,
        "bias" => 1,
        _ => return None,
    };
    let parsed: usize = index.parse().ok()?;
    (parsed.to_string() == index && parsed.is_multiple_of(2)).then_some((parsed / 2, slot))
}
