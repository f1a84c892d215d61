"""``deepq.IQN``: Dopamine's implicit quantile agent behind ``deepq.DQN``'s interface:
its keys, training, greedy actions by the mean over the greedy fractions, saving and loading
(``torso``/``embedding``/``head`` tensors), and the class a preset belongs to."""

import json
import struct

import numpy as np
import pytest

import deepq

OBS = np.array([[0.01, -0.02, 0.03, 0.04], [0.1, 0.5, -0.1, -0.4]], dtype=np.float32)


def tensor_shapes(path):
    """Name → shape of every tensor in a safetensors file, from its JSON header."""
    with open(path, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(length))
    return {name: tuple(t["shape"]) for name, t in header.items() if name != "__metadata__"}


def small_iqn(seed):
    return deepq.IQN("MlpPolicy", "CartPole-v1", learning_starts=200, learning_rate=1e-3,
                     policy_kwargs=dict(net_arch=[32, 16]), quantile_embedding_dim=8,
                     num_tau_samples=8, num_tau_prime_samples=8, num_quantile_samples=4,
                     seed=seed)


def test_keys_and_defaults():
    model = small_iqn(0)
    config = model.config
    assert config["algorithm"] == "iqn"
    assert (config["num_tau_samples"], config["num_tau_prime_samples"],
            config["num_quantile_samples"], config["quantile_embedding_dim"]) == (8, 8, 4, 8)
    # Everything else is DQN's (SB3's) default.
    assert config["learning_starts"] == 200 and config["target_update_interval"] == 10000
    assert repr(model).startswith("IQN(")
    # Dopamine's fractions when not given.
    plain = deepq.IQN("MlpPolicy", "CartPole-v1", seed=0).config
    assert (plain["num_tau_samples"], plain["num_tau_prime_samples"],
            plain["num_quantile_samples"], plain["quantile_embedding_dim"]) == (64, 64, 32, 64)
    # IQN's keys are refused on DQN, naming the key.
    with pytest.raises(ValueError, match="num_tau_samples"):
        deepq.DQN("MlpPolicy", "CartPole-v1", num_tau_samples=8)


def test_untrained_network_acts_by_its_quantile_means():
    model = small_iqn(1)
    q = model.q_values(OBS)
    assert q.shape == (2, 2) and np.all(np.isfinite(q))
    actions, _ = model.predict(OBS, deterministic=True)
    assert list(actions) == list(np.argmax(q, axis=1))


def test_trains_reproducibly_and_round_trips(tmp_path):
    model = small_iqn(3)
    model.learn(1500)
    assert model.train_summary["updates"] > 0
    q = model.q_values(OBS)
    assert q.shape == (2, 2)
    actions, _ = model.predict(OBS, deterministic=True)
    assert list(actions) == list(np.argmax(q, axis=1))
    # Training moved the network, and the same seed trains the same bits.
    assert not np.array_equal(small_iqn(3).q_values(OBS), q)
    assert np.array_equal(small_iqn(3).learn(1500).q_values(OBS), q)

    model.save(f"{tmp_path / 'run'}/")  # a run directory
    assert tensor_shapes(tmp_path / "run" / "model.safetensors") == {
        "torso.0.weight": (32, 4), "torso.0.bias": (32,),
        "embedding.weight": (32, 8), "embedding.bias": (32,),
        "head.0.weight": (16, 32), "head.0.bias": (16,),
        "head.2.weight": (2, 16), "head.2.bias": (2,),
    }
    loaded = deepq.IQN.load(tmp_path / "run")
    assert np.array_equal(loaded.q_values(OBS), q)
    assert loaded.config["num_quantile_samples"] == 4
    # Any class loads any network run to act with.
    assert np.array_equal(deepq.DQN.load(tmp_path / "run").q_values(OBS), q)
    mean, _ = deepq.evaluate_policy(loaded, "CartPole-v1", n_eval_episodes=2)
    assert mean > 0


def test_presets_belong_to_their_class():
    model = deepq.IQN.from_preset("iqn-minatar-breakout")
    assert model.config["algorithm"] == "iqn"
    assert model.q_values(np.zeros((10, 10, 4), dtype=bool)).shape == (6,)
    with pytest.raises(ValueError, match="use deepq.IQN"):
        deepq.DQN.from_preset("iqn-minatar-breakout")
    with pytest.raises(ValueError, match="use deepq.DQN"):
        deepq.IQN.from_preset("default")


def test_cnn_policy_trains_a_conv_torso(tmp_path):
    model = deepq.IQN("CnnPolicy", "MinAtar/Breakout-v1", learning_starts=100, batch_size=8,
                      num_tau_samples=4, num_tau_prime_samples=4, num_quantile_samples=4,
                      quantile_embedding_dim=8, seed=2)
    assert model.config["cnn"] == [[16, 3, 1]] and model.config["net_arch"] == [128]
    model.learn(300)
    obs = np.zeros((10, 10, 4), dtype=bool)
    obs[9, 4, 0] = obs[8, 5, 1] = True
    model.save(f"{tmp_path / 'breakout'}/")  # a run directory
    assert tensor_shapes(tmp_path / "breakout" / "model.safetensors")["torso.0.weight"] == (
        16, 4, 3, 3)
    loaded = deepq.IQN.load(tmp_path / "breakout")
    np.testing.assert_array_equal(loaded.q_values(obs), model.q_values(obs))
    action, _ = loaded.predict(obs, deterministic=True)
    assert int(action) == int(np.argmax(model.q_values(obs)))
