"""Image observations in the Python API: ``deepq.DQN("CnnPolicy", env)`` on the built-in
MinAtar games and on Gymnasium envs with an image ``Box``, channels-first or channels-last,
with SB3's conventions (uint8 values divided by 255)."""

import gymnasium as gym
import numpy as np
import pytest

import deepq
from deepq import evaluate_policy

#: A short CnnPolicy run: enough updates to learn the one-step tasks below.
QUICK = dict(learning_starts=200, train_freq=1, target_update_interval=200,
             learning_rate=1e-3, exploration_fraction=0.3, exploration_final_eps=0.05,
             buffer_size=5000)


class LitChannel(gym.Env):
    """One-step episodes: one of ``channels`` channels of a ``height × width`` image is lit
    (255 at random pixels, the rest dark); the action naming that channel earns 1. The
    image is ``uint8``, channels-first or channels-last."""

    def __init__(self, channels=3, height=8, width=8, first=True, dtype=np.uint8):
        self.first = first
        self.dtype = np.dtype(dtype)
        self.shape = (channels, height, width) if first else (height, width, channels)
        high = 255 if self.dtype == np.uint8 else 1.0
        self.observation_space = gym.spaces.Box(0, high, self.shape, dtype=self.dtype)
        self.action_space = gym.spaces.Discrete(channels)
        self.lit = 0

    def draw(self, rng, lit):
        """The image with channel ``lit`` on at random pixels (channels-last values)."""
        channels = self.action_space.n
        height, width = self.shape[1:] if self.first else self.shape[:2]
        hwc = np.zeros((height, width, channels), dtype=self.dtype)
        on = rng.random((height, width)) < 0.5
        hwc[..., lit] = np.where(on, 255 if self.dtype == np.uint8 else 1, 0)
        return hwc.transpose(2, 0, 1) if self.first else hwc

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.lit = int(self.np_random.integers(self.action_space.n))
        return self.draw(self.np_random, self.lit), {}

    def step(self, action):
        reward = 1.0 if int(action) == self.lit else 0.0
        return self.draw(self.np_random, self.lit), reward, True, False, {}


def test_cnn_policy_on_builtin_minatar_uses_young_and_tians_network(tmp_path):
    model = deepq.DQN("CnnPolicy", "MinAtar/Breakout-v1", seed=3, **QUICK)
    assert model.config["cnn"] == [[16, 3, 1]] and model.config["net_arch"] == [128]
    space = model.observation_space
    assert space.shape == (10, 10, 4) and space.dtype == np.bool_
    model.learn(600)
    obs = np.zeros((10, 10, 4), dtype=bool)
    obs[9, 4, 0] = obs[8, 5, 1] = True
    action, _ = model.predict(obs, deterministic=True)
    assert 0 <= int(action) < 3
    actions, _ = model.predict(np.stack([obs, obs]), deterministic=True)
    assert actions.shape == (2,)
    model.save(tmp_path / "breakout")
    loaded = deepq.DQN.load(tmp_path / "breakout")
    np.testing.assert_array_equal(loaded.q_values(obs), model.q_values(obs))
    returns, _ = evaluate_policy(loaded, "MinAtar/Breakout-v1", n_eval_episodes=2,
                                 return_episode_rewards=True)
    assert len(returns) == 2


def test_cnn_policy_on_large_images_is_the_nature_dqn():
    env = LitChannel(channels=4, height=84, width=84, first=True)
    model = deepq.DQN("CnnPolicy", env, seed=0)
    assert model.config["cnn"] == [[32, 8, 4], [64, 4, 2], [64, 3, 1]]
    assert model.config["net_arch"] == [512]
    custom = deepq.DQN("CnnPolicy", env, seed=0, cnn=[[8, 4, 4]],
                       policy_kwargs=dict(net_arch=[32]))
    assert custom.config["cnn"] == [[8, 4, 4]] and custom.config["net_arch"] == [32]


@pytest.mark.parametrize("first", [True, False], ids=["channels-first", "channels-last"])
def test_cnn_policy_learns_from_a_gymnasium_image_env(first):
    env = LitChannel(first=first)
    model = deepq.DQN("CnnPolicy", env, seed=1, **QUICK).learn(2500)
    rng = np.random.default_rng(7)
    lit = rng.integers(3, size=200)
    images = np.stack([env.draw(rng, k) for k in lit])
    actions, _ = model.predict(images, deterministic=True)
    assert np.mean(actions == lit) > 0.9
    mean, _ = evaluate_policy(model, model.get_env(), n_eval_episodes=50)
    assert mean > 0.9


def test_channels_first_images_are_transposed_and_uint8_scaled(tmp_path):
    chw = LitChannel(first=True)
    model = deepq.DQN("CnnPolicy", chw, seed=2)
    assert model.observation_space.shape == (3, 8, 8)
    model.save(tmp_path / "chw")
    hwc = deepq.DQN.load(tmp_path / "chw", env=LitChannel(first=False))
    floats = deepq.DQN.load(tmp_path / "chw", env=LitChannel(first=False, dtype=np.float32))
    rng = np.random.default_rng(0)
    image = chw.draw(rng, 1)
    expected = model.q_values(image)
    np.testing.assert_array_equal(hwc.q_values(image.transpose(1, 2, 0)), expected)
    np.testing.assert_array_equal(
        floats.q_values(image.transpose(1, 2, 0).astype(np.float32) / np.float32(255)), expected)
    # Without an env, the saved space (channels-first uint8) is read back from the run.
    alone = deepq.DQN.load(tmp_path / "chw")
    assert alone.observation_space.shape == (3, 8, 8)
    assert alone.observation_space.dtype == np.uint8
    np.testing.assert_array_equal(alone.q_values(image), expected)


def test_image_policies_and_spaces_must_match():
    with pytest.raises(ValueError, match=r"MinAtar/Breakout-v1 has image observations "
                                         r"Box\(10, 10, 4, dtype=bool\); use 'CnnPolicy'"):
        deepq.DQN("MlpPolicy", "MinAtar/Breakout-v1")
    with pytest.raises(ValueError, match="has image observations"):
        deepq.DQN("MlpPolicy", LitChannel())
    with pytest.raises(ValueError, match="shrinks|below"):
        deepq.DQN("CnnPolicy", LitChannel(), cnn=[[16, 9, 1]])
    model = deepq.DQN("CnnPolicy", LitChannel(channels=3))
    with pytest.raises(ValueError, match=r"reads images of \(height, width, channels\) "
                                         r"\(8, 8, 3\) into 3 outputs, but LitChannel needs "
                                         r"images of \(height, width, channels\) \(8, 8, 2\)"):
        model.set_env(LitChannel(channels=2))
    with pytest.raises(ValueError, match=r"Unexpected observation shape \(8, 8, 3\)"):
        model.predict(np.zeros((8, 8, 3), dtype=np.uint8))


def test_the_minatar_package_env_trains_exactly_as_the_builtin_game():
    """The minatar package's Gymnasium env, stepped through Python, gives the same run as
    deepq's built-in game: same observations, rewards and random streams from the seed."""
    pytest.importorskip("minatar")
    from minatar.gym import register_envs

    if "MinAtar/Breakout-v1" not in gym.registry:
        register_envs()
    settings = dict(seed=5, **QUICK)
    builtin = deepq.DQN("CnnPolicy", "MinAtar/Breakout-v1", **settings).learn(800)
    package = deepq.DQN("CnnPolicy", gym.make("MinAtar/Breakout-v1"), **settings).learn(800)
    assert package.train_summary["episodes"] == builtin.train_summary["episodes"]
    assert package.train_summary["eval"]["returns"] == builtin.train_summary["eval"]["returns"]
    obs = np.zeros((10, 10, 4), dtype=bool)
    obs[3, 2, 2] = obs[9, 5, 0] = True
    np.testing.assert_array_equal(package.q_values(obs), builtin.q_values(obs))



class FloatLitChannel(LitChannel):
    """:class:`LitChannel` declaring its ``uint8`` space but giving its images as float32
    arrays of the same values, with a NaN in the image of its ``nan_at``-th draw (if set)."""

    def __init__(self, nan_at=None, **kwargs):
        super().__init__(**kwargs)
        self.nan_at, self.draws = nan_at, 0

    def draw(self, rng, lit):
        image = super().draw(rng, lit).astype(np.float32)
        self.draws += 1
        if self.draws == self.nan_at:
            image[0, 1, 2] = np.nan
        return image


class AsFloats(gym.vector.VectorObservationWrapper):
    """A vector env's observations as float32 arrays of the same values (its space kept)."""

    def observations(self, observations):
        return observations.astype(np.float32)


@pytest.mark.parametrize("first", [True, False])
def test_uint8_images_read_as_bytes_train_what_their_float_values_train(first):
    """uint8 images are read as bytes, other arrays as numbers: the same values give the
    same weights either way, from one env and from a vector env, and a NaN among numbers is
    still caught."""
    quick = dict(QUICK, learning_starts=50)
    weights = lambda m: m.get_parameters()["policy"]  # noqa: E731

    def same(a, b):
        return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)

    one = [deepq.DQN("CnnPolicy", env(first=first), seed=3, **quick).learn(300)
           for env in (LitChannel, FloatLitChannel)]
    assert same(weights(one[0]), weights(one[1]))

    def vector(floats):
        envs = gym.vector.SyncVectorEnv([lambda: LitChannel(first=first)] * 2)
        return AsFloats(envs) if floats else envs

    two = [deepq.DQN("CnnPolicy", vector(floats), seed=3, **quick).learn(300)
           for floats in (False, True)]
    assert same(weights(two[0]), weights(two[1]))

    broken = deepq.DQN("CnnPolicy", FloatLitChannel(first=first, nan_at=40), seed=3, **quick)
    with pytest.raises(ValueError, match=r"env.(step|reset)\(\) returned an observation "
                                         r"with a non-finite value"):
        broken.learn(300)
