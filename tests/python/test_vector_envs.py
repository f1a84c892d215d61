"""Training on vector envs from Python: a Gymnasium ``VectorEnv`` (either autoreset mode) or
an SB3 ``VecEnv`` is stepped with one call per vector step, and trains exactly what deepq's
own copies of the single env train."""

import gymnasium as gym
import numpy as np
import pytest

import deepq

#: A short run that trains: updates start after 200 steps.
TRAIN = dict(learning_starts=200, train_freq=1, target_update_interval=100, batch_size=32,
             buffer_size=5_000, policy_kwargs=dict(net_arch=[32, 32]))


def same_step(n: int):
    return gym.make_vec("CartPole-v1", n, vectorization_mode="sync",
                        vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP})


def weights(model) -> dict:
    return model.get_parameters()["policy"]


def assert_same_weights(a, b):
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for name in wa:
        np.testing.assert_array_equal(wa[name], wb[name], err_msg=name)


def test_a_same_step_vector_env_trains_what_copies_of_the_env_train():
    single = deepq.DQN("MlpPolicy", gym.make("CartPole-v1"), n_envs=4, seed=3, **TRAIN)
    single.learn(2_000)
    vector = deepq.DQN("MlpPolicy", same_step(4), seed=3, **TRAIN)
    vector.learn(2_000)
    assert vector.train_summary["updates"] > 0
    assert vector.train_summary["episodes"] == single.train_summary["episodes"]
    assert_same_weights(single, vector)


def test_an_sb3_vec_env_trains_what_copies_of_the_env_train():
    pytest.importorskip("stable_baselines3")
    from stable_baselines3.common.env_util import make_vec_env

    vec_env = make_vec_env("CartPole-v1", n_envs=3)
    sb3 = deepq.DQN("MlpPolicy", vec_env, seed=5, **TRAIN)
    sb3.learn(1_500)
    gymnasium = deepq.DQN("MlpPolicy", same_step(3), seed=5, **TRAIN)
    gymnasium.learn(1_500)
    assert sb3.train_summary["updates"] > 0
    assert_same_weights(sb3, gymnasium)


class FiveSteps(gym.Env):
    """Episodes of exactly five steps with reward 1 each; observations count the steps."""

    observation_space = gym.spaces.Box(0.0, 10.0, shape=(1,), dtype=np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(1, dtype=np.float32), {}

    def step(self, action):
        self.t += 1
        return np.array([self.t], dtype=np.float32), 1.0, self.t == 5, False, {}


@pytest.mark.parametrize("mode,episodes", [("NextStep", 4 * 25), ("SameStep", 4 * 30)])
def test_next_step_resets_give_no_transition(mode, episodes):
    # 150 vector steps: a copy ends an episode every 5 steps, and with next-step resets
    # spends a sixth starting the next one, which is neither a step of an episode nor a
    # transition.
    envs = gym.vector.SyncVectorEnv([FiveSteps] * 4, autoreset_mode=gym.vector.AutoresetMode(mode))
    model = deepq.DQN("MlpPolicy", envs, seed=0, learning_starts=50, final_eval_episodes=3)
    model.learn(600)
    summary = model.train_summary
    assert summary["episodes"] == episodes
    assert summary["env_steps"] == 600
    # The final evaluation runs on copy 0: whole five-step episodes.
    assert summary["eval"]["lengths"] == [5, 5, 5]
    assert summary["eval"]["returns"] == [5.0, 5.0, 5.0]


def test_a_vector_env_refuses_what_it_cannot_run():
    with pytest.raises(ValueError, match="n_envs = 2 but the vector env has 4 copies"):
        deepq.DQN("MlpPolicy", same_step(4), n_envs=2)
    model = deepq.DQN("MlpPolicy", same_step(2), eval_freq=100)
    with pytest.raises(ValueError, match="eval_freq = 100 needs a separate evaluation env"):
        model.learn(300)
    disabled = gym.vector.SyncVectorEnv([FiveSteps] * 2,
                                        autoreset_mode=gym.vector.AutoresetMode.DISABLED)
    with pytest.raises(ValueError, match="autoreset mode 'Disabled'"):
        deepq.DQN("MlpPolicy", disabled)


def test_a_vector_env_names_the_copy_that_gave_a_non_finite_observation():
    class Broken(FiveSteps):
        def step(self, action):
            obs, *rest = super().step(action)
            return (np.array([np.nan], dtype=np.float32) if self.t == 3 else obs), *rest

    envs = gym.vector.SyncVectorEnv([FiveSteps, Broken])
    model = deepq.DQN("MlpPolicy", envs, seed=0, learning_starts=50)
    with pytest.raises(ValueError, match=r"env.step\(\) \(copy 1\) returned an observation "
                                         r"with a non-finite value on step 3"):
        model.learn(100)
