"""Training to a solve: on the built-in CartPole (Rust) and on Gymnasium's own CartPole-v1
(stepped through Python), with deepq's tuned `default` preset; and how Gymnasium envs are
stepped (terminated/truncated, action offsets, discrete observations)."""

import gymnasium as gym
import numpy as np
import pytest

import deepq
from conftest import Corridor

#: The `default` preset's hyperparameters, passed the Stable-Baselines3 way.
DEFAULT_PRESET = dict(
    learning_rate=4e-3, buffer_size=50_000, learning_starts=1000, batch_size=64, tau=0.02,
    gamma=0.99, train_freq=1, gradient_steps=1, target_update_interval=1,
    exploration_fraction=0.2, exploration_final_eps=0.02, policy_kwargs=dict(net_arch=[32, 32]),
    double_q=True, loss="mse", eval_freq=1000, eval_episodes=20, stop_on_solve=True,
    stop_reward_threshold=490.0, final_eval_episodes=100,
)


def assert_solves(model, env, threshold=475.0):
    summary = model.train_summary
    assert summary["solved"], summary
    mean, _ = deepq.evaluate_policy(model, env, n_eval_episodes=20)
    assert mean >= threshold


def test_builtin_cartpole_solves_with_the_default_preset():
    model = deepq.DQN.from_preset("default", "CartPole-v1", seed=0)
    assert model.preset == "default"
    model.learn()
    assert model.train_summary["solved_at_step"] is not None
    assert_solves(model, "CartPole-v1")


@pytest.fixture(scope="module")
def gymnasium_cartpole():
    """Gymnasium's CartPole-v1 and a model trained on it with the `default` preset."""
    env = gym.make("CartPole-v1")
    return env, deepq.DQN.from_preset("default", env, seed=0).learn()


def test_gymnasium_cartpole_solves_with_the_default_preset(gymnasium_cartpole):
    env, model = gymnasium_cartpole
    assert model.config["env"] == "CartPole-v1"
    assert_solves(model, env)


def test_sb3_style_arguments_train_exactly_like_the_preset(gymnasium_cartpole):
    env, preset_model = gymnasium_cartpole
    model = deepq.DQN("MlpPolicy", gym.make("CartPole-v1"), seed=0, **DEFAULT_PRESET)
    model.learn(50_000)
    obs = np.random.default_rng(1).normal(size=(10, 4)).astype(np.float32)
    np.testing.assert_array_equal(model.q_values(obs), preset_model.q_values(obs))
    assert_solves(model, env)


def test_gymnasium_discrete_observations_solve_frozenlake():
    env = gym.make("FrozenLake-v1", is_slippery=False)
    model = deepq.DQN("MlpPolicy", env, learning_rate=1e-3, learning_starts=200, train_freq=1,
                      target_update_interval=200, exploration_fraction=0.5, gamma=0.95,
                      seed=0).learn(6000)
    assert model.config["env_kwargs"] == {"is_slippery": False, "map_name": "4x4"}
    mean, _ = deepq.evaluate_policy(model, env, n_eval_episodes=5)
    assert mean == 1.0
    # The stored env_kwargs make deepq's built-in FrozenLake the same (non-slippery) lake.
    builtin, _ = deepq.evaluate_policy(model, "FrozenLake-v1", n_eval_episodes=5)
    assert builtin == 1.0


def test_truncation_and_termination_are_taken_from_the_env():
    lengths = []

    def record(locals_):
        lengths[:] = locals_["episode_lengths"]

    never_ends = gym.wrappers.TimeLimit(Corridor(length=10**9), max_episode_steps=7)
    deepq.DQN("MlpPolicy", never_ends, seed=0).learn(700, callback=record, callback_freq=700)
    assert lengths and set(lengths) == {7}, "TimeLimit truncates every episode at 7 steps"

    class Countdown(Corridor):
        """Terminates after exactly 3 steps, whatever the actions."""

        def step(self, action):
            obs, _, _, _, info = super().step(1)
            return obs, 1.0, self.pos >= 3, False, info

    deepq.DQN("MlpPolicy", Countdown(), seed=0).learn(600, callback=record, callback_freq=600)
    assert lengths and set(lengths) == {3}, "termination ends every episode at 3 steps"


def test_action_and_observation_offsets_are_respected():
    class Shifted(gym.Env):
        """Actions {5, 6}, observations {10, 11, 12}: anything else is an error."""

        observation_space = gym.spaces.Discrete(3, start=10)
        action_space = gym.spaces.Discrete(2, start=5)

        def reset(self, seed=None, options=None):
            super().reset(seed=seed)
            self.t = 0
            return 10, {}

        def step(self, action):
            assert action in (5, 6), action
            self.t += 1
            return 10 + self.t % 3, float(action == 6), False, self.t >= 5, {}

    env = Shifted()
    model = deepq.DQN("MlpPolicy", env, seed=0, learning_starts=50, learning_rate=1e-3,
                      train_freq=1).learn(2000)
    action, _ = model.predict(10, deterministic=True)
    assert int(action) in (5, 6)
    rewards, lengths = deepq.evaluate_policy(model, env, n_eval_episodes=3,
                                             return_episode_rewards=True)
    assert lengths == [5, 5, 5]
    assert rewards == [5.0, 5.0, 5.0], "action 6 pays 1 per step"


def test_vectorized_training_on_a_gymnasium_env_uses_copies():
    env = gym.make("CartPole-v1")
    model = deepq.DQN("MlpPolicy", env, n_envs=4, learning_starts=200, seed=0).learn(2000)
    assert model.train_summary["env_steps"] == 2000
    env.reset(seed=0)
    env.step(0)  # the user's env still works: training stepped deep copies


@pytest.mark.parametrize("env_id", ["Acrobot-v1", "FrozenLake-v1"])
def test_builtin_envs_train_and_evaluate(env_id):
    model = deepq.DQN("MlpPolicy", env_id, seed=0, learning_starts=100).learn(1000)
    rewards, lengths = deepq.evaluate_policy(model, env_id, n_eval_episodes=2,
                                             return_episode_rewards=True)
    assert len(rewards) == 2 and all(n >= 1 for n in lengths)
    observation = 0 if env_id.startswith("FrozenLake") else np.zeros(6)
    assert np.all(np.isfinite(model.q_values(observation)))
