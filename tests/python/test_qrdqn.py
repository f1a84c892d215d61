"""``deepq.QRDQN``: sb3-contrib's ``QRDQN`` interface over deepq's QR-DQN learner: its defaults,
``n_quantiles`` through ``policy_kwargs``, training, greedy actions by the quantiles' mean,
saving and loading, and the class a preset belongs to."""

import json
import struct

import numpy as np
import pytest

import deepq


def tensor_shapes(path):
    """Name → shape of every tensor in a safetensors file, from its JSON header."""
    with open(path, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(length))
    return {name: tuple(t["shape"]) for name, t in header.items() if name != "__metadata__"}


def test_sb3_contribs_defaults_and_n_quantiles_in_policy_kwargs():
    model = deepq.QRDQN("MlpPolicy", "CartPole-v1", policy_kwargs=dict(n_quantiles=7), seed=0)
    config = model.config
    assert config["algorithm"] == "qrdqn"
    assert config["n_quantiles"] == 7
    assert config["learning_rate"] == 5e-5
    assert config["exploration_fraction"] == 0.005
    assert config["exploration_final_eps"] == 0.01
    assert config["max_grad_norm"] == float("inf")
    assert repr(model).startswith("QRDQN(")
    # sb3-contrib's max_grad_norm=None (no clipping) is accepted.
    again = deepq.QRDQN("MlpPolicy", "CartPole-v1", max_grad_norm=None, seed=0)
    assert again.config["max_grad_norm"] == float("inf")
    # SB3's DQN has no such None: deepq.DQN still refuses it.
    with pytest.raises(ValueError, match="max_grad_norm"):
        deepq.DQN("MlpPolicy", "CartPole-v1", max_grad_norm=None)
    # n_quantiles is QR-DQN's: DQN refuses it in policy_kwargs.
    with pytest.raises(ValueError, match="n_quantiles"):
        deepq.DQN("MlpPolicy", "CartPole-v1", policy_kwargs=dict(n_quantiles=7))


def test_trains_acts_by_the_quantile_mean_and_round_trips(tmp_path):
    model = deepq.QRDQN("MlpPolicy", "CartPole-v1", learning_starts=200, learning_rate=1e-3,
                        policy_kwargs=dict(net_arch=[32], n_quantiles=5), seed=3)
    model.learn(1500)
    summary = model.train_summary
    assert summary["updates"] > 0
    obs = np.array([[0.01, -0.02, 0.03, 0.04], [0.1, 0.5, -0.1, -0.4]], dtype=np.float32)
    q = model.q_values(obs)
    assert q.shape == (2, 2)
    actions, _ = model.predict(obs, deterministic=True)
    assert list(actions) == list(np.argmax(q, axis=1))

    model.save(f"{tmp_path / 'run'}/")  # a run directory
    # The output layer holds n_quantiles × n_actions units, as sb3-contrib's QuantileNetwork.
    shapes = tensor_shapes(tmp_path / "run" / "model.safetensors")
    assert shapes == {"0.weight": (32, 4), "0.bias": (32,), "2.weight": (5 * 2, 32),
                      "2.bias": (5 * 2,)}
    loaded = deepq.QRDQN.load(tmp_path / "run")
    assert np.array_equal(loaded.q_values(obs), q)
    assert loaded.config["n_quantiles"] == 5
    # Any class loads any network run to act with, as DQN.load loads PQN's.
    assert np.array_equal(deepq.DQN.load(tmp_path / "run").q_values(obs), q)


def test_presets_belong_to_their_class():
    model = deepq.QRDQN.from_preset("qrdqn-cartpole")
    assert model.config["algorithm"] == "qrdqn"
    with pytest.raises(ValueError, match="use deepq.QRDQN"):
        deepq.DQN.from_preset("qrdqn-cartpole")
    with pytest.raises(ValueError, match="use deepq.DQN"):
        deepq.QRDQN.from_preset("default")
