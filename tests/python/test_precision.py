"""``precision="bf16"``: bf16 matrix products with f32 sums, from the Python package. A model
learns with it, says which kernel ran, keeps its precision through save and load (the same
Q-values, bit for bit), and bad values are ValueErrors naming the allowed ones."""

import numpy as np
import pytest

import deepq

OBS = np.array([[0.01, -0.02, 0.03, 0.04], [0.1, 0.5, -0.1, -0.4]], dtype=np.float32)


def test_bf16_learns_saves_and_loads(tmp_path):
    model = deepq.DQN("MlpPolicy", "CartPole-v1", precision="bf16", seed=0,
                      learning_starts=500, learning_rate=2.3e-3, batch_size=64,
                      target_update_interval=10, train_freq=256, gradient_steps=128,
                      exploration_fraction=0.16, exploration_final_eps=0.04,
                      policy_kwargs=dict(net_arch=[256, 256]))
    assert model.precision == "bf16"
    model.learn(20_000)
    assert model.train_summary["matmul_path"] in ("bf16-amx", "bf16-avx512", "bf16-portable")
    mean, _ = deepq.evaluate_policy(model, "CartPole-v1", n_eval_episodes=5)
    assert mean > 100, mean  # an untrained policy scores about 10
    model.save(tmp_path / "bf16")
    loaded = deepq.DQN.load(tmp_path / "bf16")
    assert loaded.precision == "bf16"
    np.testing.assert_array_equal(loaded.q_values(OBS), model.q_values(OBS))


def test_bf16_differs_from_f32_on_the_same_weights(tmp_path):
    f32 = deepq.DQN("MlpPolicy", "CartPole-v1", seed=1)
    f32.save(tmp_path / "f32")
    bf16 = deepq.DQN("MlpPolicy", "CartPole-v1", seed=1, precision="bf16")
    assert bf16.precision == "bf16"
    q32, q16 = f32.q_values(OBS), bf16.q_values(OBS)
    assert not np.array_equal(q32, q16)
    np.testing.assert_allclose(q16, q32, atol=0.02)


@pytest.mark.parametrize("kwargs, message", [
    (dict(precision="fp16"), "expected `f32` or `bf16`"),
    (dict(precision="bf16", dtype="f64"), "bf16 products need dtype = \"f32\""),
])
def test_bad_precision_is_a_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        deepq.DQN("MlpPolicy", "CartPole-v1", **kwargs)


def test_a_kernel_the_cpu_does_not_run_is_a_value_error(monkeypatch):
    monkeypatch.setenv("DEEPQ_BF16_KERNEL", "bf16-tpu")
    with pytest.raises(ValueError, match="DEEPQ_BF16_KERNEL: this CPU runs the bf16 kernels"):
        deepq.DQN("MlpPolicy", "CartPole-v1", precision="bf16")
    # f32 runs never read it.
    deepq.DQN("MlpPolicy", "CartPole-v1")
