"""``model.policy`` and ``model.q_net`` as SB3's scripts use them: ``state_dict`` and
``load_state_dict``, greedy ``predict``, ``forward``, one-file ``save``/``load``; and
``policy_kwargs.features_extractor_kwargs``."""

import gymnasium as gym
import numpy as np
import pytest

import deepq
from deepq._sb3 import PolicyView, QNetworkView

OBS = np.array([[0.01, -0.02, 0.03, 0.04], [0.1, 0.5, -0.1, -0.4]], dtype=np.float32)


class Image(gym.Env):
    """40×40×2 uint8 frames (SB3's FakeImageEnv's shape), two actions."""
    observation_space = gym.spaces.Box(0, 255, (40, 40, 2), np.uint8)
    action_space = gym.spaces.Discrete(2)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self.observation_space.sample(), {}

    def step(self, action):
        self.t += 1
        return self.observation_space.sample(), float(action), self.t >= 20, False, {}


def model(**kwargs):
    return deepq.DQN("MlpPolicy", "CartPole-v1", seed=0, learning_starts=50,
                     policy_kwargs=dict(net_arch=[8]), **kwargs)


def test_state_dicts_name_the_networks_and_load_back():
    m = model().learn(200)
    policy, q_net = m.policy, m.q_net
    assert isinstance(policy.q_net, QNetworkView)
    names = ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert list(q_net.state_dict()) == names
    assert list(policy.state_dict()) == ["q_net." + n for n in names]
    state = {k: np.ones_like(np.asarray(v)) for k, v in policy.state_dict().items()}
    policy.load_state_dict(state)
    hidden = np.maximum(OBS.sum(axis=1) + 1, 0)  # every weight and bias 1
    np.testing.assert_allclose(m.q_values(OBS), np.repeat(8 * hidden[:, None] + 1, 2, axis=1),
                               rtol=1e-6)
    with pytest.raises(ValueError, match="unexpected parameter '0.weight'"):
        policy.load_state_dict({"0.weight": np.zeros((8, 4))})
    with pytest.raises(ValueError):
        q_net.load_state_dict({"0.weight": np.zeros((8, 4))})  # strict: the rest is missing
    q_net.load_state_dict({"0.weight": np.zeros((8, 4))}, strict=False)
    assert np.all(np.asarray(q_net.state_dict()["0.weight"]) == 0)


def test_predict_forward_and_one_file_save_and_load(tmp_path):
    torch = pytest.importorskip("torch")
    m = model().learn(300)
    q = m.q_values(OBS)
    out = m.q_net(torch.from_numpy(OBS))
    assert isinstance(out, torch.Tensor)
    np.testing.assert_allclose(out.numpy(), q, rtol=1e-6)
    actions, state = m.policy.predict(OBS, deterministic=False)  # greedy, as SB3's policy
    np.testing.assert_array_equal(actions, q.argmax(axis=1))
    assert state is None
    m.q_net.save(tmp_path / "q_net.pkl")
    assert (tmp_path / "q_net.pkl").is_file()
    loaded = QNetworkView.load(tmp_path / "q_net.pkl")
    np.testing.assert_array_equal(loaded.predict(OBS)[0], actions)
    m.policy.save(tmp_path / "policy.pkl")
    again = PolicyView.load(tmp_path / "policy.pkl")
    for key, value in m.policy.state_dict().items():
        assert torch.equal(again.state_dict()[key], value)
    # A QR-DQN model's file loads as a QR-DQN model.
    qr = deepq.QRDQN("MlpPolicy", "CartPole-v1", seed=0, policy_kwargs=dict(net_arch=[8]))
    qr.q_net.save(tmp_path / "qr.pkl")
    assert isinstance(QNetworkView.load(tmp_path / "qr.pkl")._model, deepq.QRDQN)


def test_features_dim_is_the_width_after_the_conv_layers():
    m = deepq.DQN("CnnPolicy", Image(), seed=0,
                  policy_kwargs=dict(features_extractor_kwargs=dict(features_dim=16)))
    assert m.config["cnn"] == [[32, 8, 4], [64, 4, 2], [64, 3, 1]]
    assert m.config["net_arch"] == [16]
    assert m.get_parameters()["policy"]["7.weight"].shape == (16, 64)
    with pytest.raises(ValueError, match="features_dim is CnnPolicy's"):
        deepq.DQN("MlpPolicy", "CartPole-v1",
                  policy_kwargs=dict(features_extractor_kwargs=dict(features_dim=16)))
    with pytest.raises(ValueError, match="or net_arch, not both"):
        deepq.DQN("CnnPolicy", Image(), policy_kwargs=dict(
            net_arch=[32], features_extractor_kwargs=dict(features_dim=16)))
    with pytest.raises(ValueError, match="unsupported features_extractor_kwargs key 'normalized_image'"):
        deepq.DQN("CnnPolicy", Image(),
                  policy_kwargs=dict(features_extractor_kwargs=dict(normalized_image=True)))


def test_qrdqn_calls_its_network_quantile_net_as_sb3_contrib_does():
    qr = deepq.QRDQN("MlpPolicy", "CartPole-v1", seed=0,
                     policy_kwargs=dict(net_arch=[8], n_quantiles=3))
    assert list(qr.policy.state_dict()) == ["quantile_net.0.weight", "quantile_net.0.bias",
                                            "quantile_net.2.weight", "quantile_net.2.bias"]
    assert isinstance(qr.policy.quantile_net, QNetworkView)
    assert qr.quantile_net.state_dict()["2.weight"].shape == (3 * 2, 8)
    policy = qr.policy
    assert policy.to("cpu") is policy
    with pytest.raises(ValueError, match="device='cuda' is not supported"):
        policy.to("cuda")
    with pytest.raises(AttributeError, match="has no attribute 'q_net'"):
        qr.policy.q_net
    with pytest.raises(AttributeError, match="'DQN' object has no attribute 'quantile_net'"):
        model().quantile_net


def test_the_target_view_shows_the_target_network_training_keeps():
    """With the target copied after every update it equals the network; with no copy within
    the run it keeps the initial weights; it cannot be written to."""
    def weights(view):
        return {name: np.asarray(value) for name, value in view.state_dict().items()}

    synced = model(target_update_interval=1).learn(200)
    assert synced.q_net_target.state_dict().keys() == synced.q_net.state_dict().keys()
    for name, value in weights(synced.q_net).items():
        np.testing.assert_array_equal(weights(synced.q_net_target)[name], value)

    frozen = model(target_update_interval=10**6)
    initial = weights(frozen.q_net)
    np.testing.assert_array_equal(weights(frozen.q_net_target)["0.weight"], initial["0.weight"])
    frozen.learn(200)
    assert not np.array_equal(weights(frozen.q_net)["0.weight"], initial["0.weight"])
    for name, value in initial.items():
        np.testing.assert_array_equal(weights(frozen.q_net_target)[name], value)
        np.testing.assert_array_equal(weights(frozen.policy.q_net_target)[name], value)
    target_q = frozen.q_net_target(OBS)
    assert target_q.shape == (2, 2)
    assert not np.allclose(target_q, frozen.q_net(OBS)), "the target's own Q-values"
    actions, _ = frozen.q_net_target.predict(OBS)
    np.testing.assert_array_equal(actions, np.argmax(target_q, axis=1))

    with pytest.raises(ValueError, match="target network is read-only"):
        frozen.q_net_target.load_state_dict(frozen.q_net.state_dict())
    # Weights set from outside are where the next learn() starts both networks.
    frozen.set_parameters(frozen.get_parameters())
    np.testing.assert_array_equal(weights(frozen.q_net_target)["0.weight"],
                                  weights(frozen.q_net)["0.weight"])


def test_qrdqn_names_its_target_quantile_net_target():
    qr = deepq.QRDQN("MlpPolicy", "CartPole-v1", seed=0, learning_starts=50, n_quantiles=5,
                     policy_kwargs=dict(net_arch=[8]))
    assert isinstance(qr.policy.quantile_net_target, QNetworkView)
    assert list(qr.quantile_net_target.state_dict()) == list(qr.quantile_net.state_dict())
    with pytest.raises(AttributeError):
        deepq.DQN("MlpPolicy", "CartPole-v1").quantile_net_target
