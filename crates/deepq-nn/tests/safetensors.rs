//! safetensors exchange: round trips, PyTorch's files, and rejection of bad input.

mod common;

use std::collections::HashMap;

use common::rng;
use deepq_nn::{
    Arch, LAYER_NORM_EPS_KEY, Mlp, NnError, Scalar, from_safetensors, safetensors_metadata,
    to_safetensors, to_safetensors_with_metadata,
};
use proptest::prelude::*;
use safetensors::SafeTensors;

fn round_trip<T: Scalar>() {
    let mlp = Mlp::<T>::new(&[4, 64, 32, 2], &mut rng(9));
    let bytes = to_safetensors(&mlp);
    let back = from_safetensors::<T>(&bytes).unwrap();
    assert_eq!(back.sizes(), mlp.sizes());
    let bits = |m: &Mlp<T>| {
        m.params()
            .iter()
            .map(|p| p.to_f64().to_bits())
            .collect::<Vec<_>>()
    };
    assert_eq!(bits(&back), bits(&mlp));
}

#[test]
fn round_trip_is_bit_exact_f32() {
    round_trip::<f32>();
}

#[test]
fn round_trip_is_bit_exact_f64() {
    round_trip::<f64>();
}

#[test]
fn tensors_are_named_and_shaped_like_nn_sequential() {
    let mlp = Mlp::<f64>::new(&[4, 8, 6, 2], &mut rng(1));
    let bytes = to_safetensors(&mlp);
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let mut names = file.names();
    names.sort();
    assert_eq!(
        names,
        [
            "0.bias", "0.weight", "2.bias", "2.weight", "4.bias", "4.weight"
        ]
    );
    let expect = [
        ("0.weight", vec![8, 4]),
        ("0.bias", vec![8]),
        ("2.weight", vec![6, 8]),
        ("2.bias", vec![6]),
        ("4.weight", vec![2, 6]),
        ("4.bias", vec![2]),
    ];
    for (name, shape) in expect {
        let t = file.tensor(name).unwrap();
        assert_eq!(t.shape(), shape.as_slice(), "{name}");
        assert_eq!(t.dtype(), safetensors::Dtype::F64);
    }
    // The weight of layer 0 is the first 32 parameters, row-major [out][in].
    let w0 = file.tensor("0.weight").unwrap();
    let first = f64::from_le_bytes(w0.data()[..8].try_into().unwrap());
    let second_row = f64::from_le_bytes(w0.data()[32..40].try_into().unwrap());
    assert_eq!(first, mlp.params()[0]);
    assert_eq!(second_row, mlp.params()[4]);
}

#[test]
fn metadata_round_trips() {
    let mlp = Mlp::<f32>::new(&[2, 3, 1], &mut rng(1));
    let meta = HashMap::from([("env".to_string(), "CartPole-v1".to_string())]);
    let bytes = to_safetensors_with_metadata(&mlp, Some(meta.clone()));
    assert_eq!(safetensors_metadata(&bytes).unwrap(), meta);
    assert!(from_safetensors::<f32>(&bytes).is_ok());
    assert!(
        safetensors_metadata(&to_safetensors(&mlp))
            .unwrap()
            .is_empty()
    );
}

/// PQN's network: `nn.Sequential(Linear, LayerNorm, ReLU, Linear, LayerNorm, ReLU, Linear)`.
fn layer_norm_mlp<T: Scalar>(eps: f64) -> Mlp<T> {
    let arch = Arch {
        layer_norm: true,
        layer_norm_eps: eps,
        ..Arch::default()
    };
    let mut mlp = Mlp::<T>::with_arch(&[4, 256, 256, 2], arch, 0.5, &mut rng(3));
    // LayerNorm parameters away from their constant initial values.
    for (i, p) in mlp.params_mut().iter_mut().enumerate() {
        *p = *p + T::from_f64((i % 7) as f64 * 0.01);
    }
    mlp
}

#[test]
fn layer_norm_network_is_named_like_pytorch_sequential() {
    let mlp = layer_norm_mlp::<f32>(1e-6);
    let bytes = to_safetensors(&mlp);
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let mut names = file.names();
    names.sort();
    let expect = [
        ("0.weight", vec![256, 4]),
        ("0.bias", vec![256]),
        ("1.weight", vec![256]),
        ("1.bias", vec![256]),
        ("3.weight", vec![256, 256]),
        ("3.bias", vec![256]),
        ("4.weight", vec![256]),
        ("4.bias", vec![256]),
        ("6.weight", vec![2, 256]),
        ("6.bias", vec![2]),
    ];
    let mut want: Vec<&str> = expect.iter().map(|(n, _)| *n).collect();
    want.sort();
    assert_eq!(names, want);
    // In the flat buffer each LayerNorm follows its Linear layer, in state_dict order.
    let mut offset = 0;
    for (name, shape) in expect {
        let t = file.tensor(name).unwrap();
        assert_eq!(t.shape(), shape.as_slice(), "{name}");
        let n = shape.iter().product::<usize>();
        let values: Vec<f32> = t
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        assert_eq!(values, mlp.params()[offset..offset + n], "{name}");
        offset += n;
    }
    assert_eq!(offset, mlp.n_params());
    assert_eq!(
        safetensors_metadata(&bytes).unwrap()["layer_norm_eps"],
        "1e-6"
    );
}

#[test]
fn layer_norm_round_trip_is_bit_exact_and_keeps_eps() {
    for eps in [1e-6, 1e-5, 0.1 + 0.2] {
        let mlp = layer_norm_mlp::<f64>(eps);
        let back = from_safetensors::<f64>(&to_safetensors(&mlp)).unwrap();
        assert_eq!(back.arch(), mlp.arch());
        assert_eq!(back.arch().layer_norm_eps.to_bits(), eps.to_bits());
        assert_eq!(back.params(), mlp.params());
    }
    let mlp = layer_norm_mlp::<f32>(1e-6);
    let back = from_safetensors::<f32>(&to_safetensors(&mlp)).unwrap();
    assert_eq!(back.arch(), mlp.arch());
    assert_eq!(back.params(), mlp.params());
    // The caller's metadata is kept beside the ε.
    let meta = HashMap::from([("env".to_string(), "CartPole-v1".to_string())]);
    let bytes = to_safetensors_with_metadata(&mlp, Some(meta));
    let read = safetensors_metadata(&bytes).unwrap();
    assert_eq!(read["env"], "CartPole-v1");
    assert_eq!(read[LAYER_NORM_EPS_KEY], "1e-6");
}

#[test]
fn pytorch_layer_norm_state_dict_without_metadata_gets_pytorch_eps() {
    // What `save_file(model.state_dict(), path)` writes: no ε anywhere.
    let bytes = file_with(&[
        ("0.weight", vec![5, 3]),
        ("0.bias", vec![5]),
        ("1.weight", vec![5]),
        ("1.bias", vec![5]),
        ("3.weight", vec![2, 5]),
        ("3.bias", vec![2]),
    ]);
    let mlp = from_safetensors::<f32>(&bytes).unwrap();
    assert_eq!(mlp.sizes(), [3, 5, 2]);
    assert!(mlp.arch().layer_norm);
    assert_eq!(mlp.arch().layer_norm_eps, 1e-5);
}

/// `(name, shape)` pairs for [`file_with`].
type Tensors<'a> = Vec<(&'a str, Vec<usize>)>;

#[test]
fn damaged_layer_norm_files_are_rejected() {
    let good = [
        ("0.weight", vec![5, 3]),
        ("0.bias", vec![5]),
        ("1.weight", vec![5]),
        ("1.bias", vec![5]),
        ("3.weight", vec![2, 5]),
        ("3.bias", vec![2]),
    ];
    let without =
        |name: &str| -> Tensors { good.iter().filter(|(n, _)| *n != name).cloned().collect() };
    let with = |extra: (&'static str, Vec<usize>)| -> Tensors {
        let mut v = good.to_vec();
        v.push(extra);
        v
    };
    let reshaped = |name: &str, shape: Vec<usize>| -> Tensors {
        good.iter()
            .map(|(n, s)| (*n, if *n == name { shape.clone() } else { s.clone() }))
            .collect()
    };
    let cases: Vec<(Tensors, &str)> = vec![
        (without("1.bias"), "missing tensor \"1.bias\""),
        (without("3.bias"), "missing tensor \"3.bias\""),
        (reshaped("1.weight", vec![4]), "\"1.weight\" has shape [4]"),
        (
            reshaped("1.bias", vec![5, 1]),
            "\"1.bias\" has shape [5, 1]",
        ),
        (
            with(("2.weight", vec![5])),
            "unexpected tensor \"2.weight\"",
        ),
        (
            with(("4.weight", vec![2])),
            "unexpected tensor \"4.weight\"",
        ),
        (
            with(("1.running_mean", vec![5])),
            "unexpected tensor \"1.running_mean\"",
        ),
    ];
    for (tensors, want) in cases {
        let msg = load_err(&file_with(&tensors));
        assert!(msg.contains(want), "{want}: {msg}");
    }
    // A LayerNorm before the first Linear layer.
    let msg = load_err(&file_with(&[("1.weight", vec![5]), ("1.bias", vec![5])]));
    assert!(msg.contains("0.weight"), "{msg}");
    // An ε that is not a positive number.
    let mlp = layer_norm_mlp::<f32>(1e-6);
    for bad in ["abc", "0", "-1e-5", "NaN"] {
        let bytes = to_safetensors_with_metadata(&mlp, None);
        let file = SafeTensors::deserialize(&bytes).unwrap();
        let meta = HashMap::from([(LAYER_NORM_EPS_KEY.to_string(), bad.to_string())]);
        let bytes = safetensors::serialize(file.tensors(), Some(meta)).unwrap();
        let msg = load_err(&bytes);
        assert!(msg.contains("layer_norm_eps"), "{bad}: {msg}");
    }
}

/// Input and output of the PyTorch model saved in `tests/data/torch_3_4_2_f32.safetensors`
/// by `tests/reference/torch_safetensors.py` (`nn.Sequential(Linear(3, 4), ReLU(),
/// Linear(4, 2))`, seed 0, PyTorch 2.15.0).
const TORCH_INPUT: [f32; 6] = [0.5, -1.0, 2.0, 1.5, 0.25, -0.75];
const TORCH_OUTPUT: [f64; 4] = [
    -9.045117348e-02,
    6.984988600e-02,
    -1.441785991e-01,
    1.621766239e-01,
];

#[test]
fn loads_a_pytorch_state_dict() {
    let bytes = include_bytes!("data/torch_3_4_2_f32.safetensors");
    let mlp = from_safetensors::<f32>(bytes).unwrap();
    assert_eq!(mlp.sizes(), &[3, 4, 2]);
    let mut ws = deepq_nn::Workspace::new(&mlp, 2);
    let out = mlp.forward(&TORCH_INPUT, 2, &mut ws);
    for (got, want) in out.iter().zip(TORCH_OUTPUT) {
        assert!((f64::from(*got) - want).abs() < 1e-6, "{got} vs {want}");
    }
    // Writing it back reproduces the same tensors.
    let again = from_safetensors::<f32>(&to_safetensors(&mlp)).unwrap();
    assert_eq!(again.params(), mlp.params());
    assert!(matches!(
        from_safetensors::<f64>(bytes),
        Err(NnError::Dtype { .. })
    ));
}

/// Builds a safetensors file from `(name, shape)` pairs of f32 zeros.
fn file_with(tensors: &[(&str, Vec<usize>)]) -> Vec<u8> {
    let data: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, s)| vec![0u8; 4 * s.iter().product::<usize>()])
        .collect();
    let views = tensors.iter().zip(&data).map(|((name, shape), d)| {
        let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), d)
            .unwrap();
        (name.to_string(), view)
    });
    safetensors::serialize(views, None).unwrap()
}

fn load_err(bytes: &[u8]) -> String {
    let err = from_safetensors::<f32>(bytes).unwrap_err();
    let msg = err.to_string();
    assert!(!msg.contains('\n'), "one line: {msg}");
    msg
}

#[test]
fn inconsistent_files_are_rejected_with_a_clear_message() {
    let ok = file_with(&[
        ("0.weight", vec![3, 2]),
        ("0.bias", vec![3]),
        ("2.weight", vec![1, 3]),
        ("2.bias", vec![1]),
    ]);
    assert_eq!(from_safetensors::<f32>(&ok).unwrap().sizes(), &[2, 3, 1]);

    let chain = file_with(&[
        ("0.weight", vec![3, 2]),
        ("0.bias", vec![3]),
        ("2.weight", vec![1, 4]),
        ("2.bias", vec![1]),
    ]);
    assert!(load_err(&chain).contains("2.weight"));
    let bias = file_with(&[("0.weight", vec![3, 2]), ("0.bias", vec![2])]);
    assert!(load_err(&bias).contains("0.bias"));
    let missing = file_with(&[("0.weight", vec![3, 2])]);
    assert!(load_err(&missing).contains("missing tensor \"0.bias\""));
    let gap = file_with(&[
        ("0.weight", vec![3, 2]),
        ("0.bias", vec![3]),
        ("4.weight", vec![1, 3]),
        ("4.bias", vec![1]),
    ]);
    assert!(load_err(&gap).contains("2.weight"));
    let odd = file_with(&[("1.weight", vec![3, 2]), ("1.bias", vec![3])]);
    assert!(load_err(&odd).contains("unexpected tensor \"1.bias\""));
    let padded = file_with(&[("00.weight", vec![3, 2]), ("0.bias", vec![3])]);
    assert!(load_err(&padded).contains("00.weight"));
    let extra = file_with(&[
        ("0.weight", vec![3, 2]),
        ("0.bias", vec![3]),
        ("0.running_mean", vec![3]),
    ]);
    assert!(load_err(&extra).contains("running_mean"));
    let vector_weight = file_with(&[("0.weight", vec![6]), ("0.bias", vec![3])]);
    assert!(load_err(&vector_weight).contains("0.weight"));
    let empty_layer = file_with(&[("0.weight", vec![0, 2]), ("0.bias", vec![0])]);
    assert!(load_err(&empty_layer).contains("0.weight"));
    assert!(load_err(&file_with(&[])).contains("0.weight"));
}

#[test]
fn truncated_and_corrupt_files_are_rejected() {
    let bytes = to_safetensors(&Mlp::<f32>::new(&[4, 8, 2], &mut rng(4)));
    for len in 0..bytes.len() {
        assert!(
            from_safetensors::<f32>(&bytes[..len]).is_err(),
            "truncated to {len}"
        );
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(from_safetensors::<f32>(&longer).is_err());
    assert!(load_err(b"not a safetensors file").starts_with("invalid safetensors data"));
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = from_safetensors::<f32>(&bytes);
        let _ = from_safetensors::<f64>(&bytes);
        let _ = safetensors_metadata(&bytes);
    }

    /// Mutations of a valid file (so the header usually still parses and the checks
    /// behind it are exercised) are loaded or rejected, never panic.
    #[test]
    fn mutated_files_never_panic(
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
        cut in any::<usize>(),
    ) {
        let mut bytes = to_safetensors(&Mlp::<f32>::new(&[3, 5, 2], &mut rng(1)));
        for (pos, value) in edits {
            let n = bytes.len();
            bytes[pos % n] = value;
        }
        let keep = bytes.len() - cut % 4;
        bytes.truncate(keep);
        let _ = from_safetensors::<f32>(&bytes);
    }

    /// Headers with arbitrary names, shapes and offsets.
    #[test]
    fn arbitrary_headers_never_panic(
        entries in proptest::collection::vec(
            ("[0-9]{1,3}\\.(weight|bias)", proptest::collection::vec(0usize..1 << 40, 0..4),
             0usize..64, 0usize..64),
            0..5),
        dtype in prop_oneof![Just("F32"), Just("F64"), Just("I8")],
        data_len in 0usize..256,
    ) {
        let fields: Vec<String> = entries
            .iter()
            .map(|(name, shape, start, len)| {
                format!(
                    "\"{name}\":{{\"dtype\":\"{dtype}\",\"shape\":{shape:?},\"data_offsets\":[{start},{}]}}",
                    start + len
                )
            })
            .collect();
        let header = format!("{{{}}}", fields.join(","));
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend(std::iter::repeat_n(0u8, data_len));
        let _ = from_safetensors::<f32>(&bytes);
        let _ = from_safetensors::<f64>(&bytes);
    }
}
