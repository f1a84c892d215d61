"""``policy_kwargs=dict(activation_fn=...)``: the network computes what PyTorch's
``nn.Sequential`` with that activation computes from the same weights, and the settings
SB3 would not honour are refused or ignored as SB3 does."""

import numpy as np
import pytest

import deepq

OBS = np.array([[0.01, -0.02, 0.03, 0.04], [0.1, 0.5, -0.1, -0.4], [2.0, -1.5, 0.2, 1.0]],
               dtype=np.float32)


@pytest.mark.parametrize("name", ["ReLU", "Tanh", "ELU", "LeakyReLU", "SiLU", "GELU"])
def test_activation_fn_computes_what_torch_computes(name, tmp_path):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    act = getattr(torch.nn, name)
    model = deepq.DQN("MlpPolicy", "CartPole-v1", seed=0, learning_starts=100,
                      policy_kwargs=dict(net_arch=[16, 8], activation_fn=act))
    assert model.config["activation"] == deepq._sb3.ACTIVATIONS[name]
    model.learn(600)
    net = torch.nn.Sequential(torch.nn.Linear(4, 16), act(), torch.nn.Linear(16, 8), act(),
                              torch.nn.Linear(8, 2))
    net.load_state_dict({k: torch.from_numpy(v) for k, v in
                         model.get_parameters()["policy"].items()})
    with torch.no_grad():
        want = net(torch.from_numpy(OBS)).numpy()
    np.testing.assert_allclose(model.q_values(OBS), want, rtol=1e-5, atol=1e-6)
    # The activation is saved with the model and comes back with it.
    model.save(tmp_path / "model")
    loaded = deepq.DQN.load(tmp_path / "model")
    assert loaded.config["activation"] == model.config["activation"]
    np.testing.assert_array_equal(loaded.q_values(OBS), model.q_values(OBS))


def test_other_activations_are_refused_in_one_line():
    class Softplus:  # only the class name is read, as for torch.nn's modules
        pass

    with pytest.raises(ValueError, match="unsupported activation_fn Softplus; deepq has ReLU, Tanh"):
        deepq.DQN("MlpPolicy", "CartPole-v1", policy_kwargs=dict(activation_fn=Softplus))
    with pytest.raises(ValueError, match="'activation'.*LayerNorm network"):
        deepq.DQN("MlpPolicy", "CartPole-v1", layer_norm=True, activation="tanh")


def test_cnn_policy_uses_relu_as_sb3s_does():
    class Tanh:
        pass

    # SB3's CnnPolicy applies activation_fn to net_arch layers only; without them, nowhere.
    model = deepq.DQN("CnnPolicy", "MinAtar/Breakout-v1", policy_kwargs=dict(activation_fn=Tanh))
    assert model.config["activation"] == "relu"
    with pytest.raises(ValueError, match="'activation'.*conv layers"):
        deepq.DQN("CnnPolicy", "MinAtar/Breakout-v1",
                  policy_kwargs=dict(activation_fn=Tanh, net_arch=[64]))
