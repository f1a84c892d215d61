"""SB3's ``get_parameters``/``set_parameters``: the network's tensors by PyTorch's names as
numpy arrays, set back exactly or in part, from a dict or a run directory, with one-line
errors that leave the network as it was."""

import numpy as np
import pytest

import deepq

OBS = np.array([[0.01, -0.02, 0.03, 0.04], [0.1, 0.5, -0.1, -0.4]], dtype=np.float32)


def small(seed=0, **kwargs):
    return deepq.DQN("MlpPolicy", "CartPole-v1", seed=seed,
                     policy_kwargs=dict(net_arch=[8, 6]), **kwargs)


def test_names_shapes_and_copies():
    model = small()
    params = model.get_parameters()
    assert list(params) == ["policy"]
    shapes = {name: a.shape for name, a in params["policy"].items()}
    assert shapes == {"0.weight": (8, 4), "0.bias": (8,), "2.weight": (6, 8), "2.bias": (6,),
                      "4.weight": (2, 6), "4.bias": (2,)}
    assert all(a.dtype == np.float32 for a in params["policy"].values())
    q = model.q_values(OBS)
    params["policy"]["4.bias"][:] = 100.0
    np.testing.assert_array_equal(model.q_values(OBS), q)  # a copy, not a view


def test_set_exactly_in_part_and_from_a_run_directory(tmp_path):
    model, other = small(0), small(1)
    assert not np.array_equal(model.q_values(OBS), other.q_values(OBS))
    model.set_parameters(other.get_parameters())
    np.testing.assert_array_equal(model.q_values(OBS), other.q_values(OBS))

    params = model.get_parameters()["policy"]
    model.set_parameters({"policy": {"4.weight": np.zeros((2, 6)), "4.bias": [1.5, -2.0]}},
                         exact_match=False)
    np.testing.assert_array_equal(model.q_values(OBS), [[1.5, -2.0], [1.5, -2.0]])
    kept = model.get_parameters()["policy"]
    np.testing.assert_array_equal(kept["0.weight"], params["0.weight"])

    other.save(tmp_path / "other")
    model.set_parameters(tmp_path / "other")
    np.testing.assert_array_equal(model.q_values(OBS), other.q_values(OBS))


def test_bf16_networks_keep_their_precision():
    model, f32 = small(0, precision="bf16"), small(0)
    model.set_parameters(f32.get_parameters())
    # Same weights, bf16 products: close to f32's Q-values, not equal.
    q16, q32 = model.q_values(OBS), f32.q_values(OBS)
    assert not np.array_equal(q16, q32)
    np.testing.assert_allclose(q16, q32, atol=0.02)


@pytest.mark.parametrize("params, exact, message", [
    ({"policy": {"9.weight": np.zeros(3)}}, False, "unknown parameter(s) '9.weight'"),
    ({"policy": {"0.bias": np.zeros(8)}}, True, "missing parameter(s) '0.weight'"),
    ({"policy": {"0.bias": np.zeros(7)}}, False, "'0.bias' has shape (7,), this network's is (8,)"),
    ({"policy": {"0.bias": np.full(8, np.nan)}}, False, "'0.bias' has non-finite values"),
    ({"0.bias": np.zeros(8)}, False, "set_parameters takes {'policy'"),
])
def test_bad_parameters_are_one_line_value_errors(params, exact, message):
    model = small()
    q = model.q_values(OBS)
    with pytest.raises(ValueError) as err:
        model.set_parameters(params, exact_match=exact)
    assert message in str(err.value) and "\n" not in str(err.value)
    np.testing.assert_array_equal(model.q_values(OBS), q)
