"""An environment that never ends an episode: ``learn()``'s evaluations and
``evaluate_policy`` (native and Python loops) stop at ``eval_max_episode_steps`` and say so."""

import gymnasium as gym
import numpy as np
import pytest

import deepq


class Treadmill(gym.Env):
    """One observation, two actions, reward 1 a step, no terminal state, no time limit."""

    metadata = {"render_modes": []}

    def __init__(self):
        self.observation_space = gym.spaces.Box(0.0, 1.0, (1,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(2)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(1, dtype=np.float32), {}

    def step(self, action):
        return np.zeros(1, dtype=np.float32), 1.0, False, False, {}


def test_learn_caps_periodic_and_final_evaluations_and_flags_the_endless_episode(capsys):
    model = deepq.DQN("MlpPolicy", Treadmill(), seed=0, learning_starts=100, eval_freq=300,
                      eval_episodes=2, final_eval_episodes=3, eval_max_episode_steps=40,
                      verbose=1)
    model.learn(1000)
    ev = model.train_summary["eval"]
    assert ev["episodes"] == 3 and ev["capped"] == 3
    assert ev["lengths"] == [40, 40, 40] and ev["returns"] == [40.0, 40.0, 40.0]
    assert model.train_summary["long_episode_steps"] == 1000
    out = capsys.readouterr().out
    assert out.count("(2 reached the step cap)") == 3, out
    assert "3 of them cut at eval_max_episode_steps" in out
    assert "a training episode was still running after 1,000 steps" in out


@pytest.mark.parametrize("python_loop", [False, True])
def test_evaluate_policy_caps_every_episode(python_loop):
    model = deepq.DQN("MlpPolicy", Treadmill(), seed=0, eval_max_episode_steps=25)
    steps = []
    callback = (lambda l, g: steps.append(1)) if python_loop else None
    rewards, lengths = deepq.evaluate_policy(model, Treadmill(), n_eval_episodes=3,
                                             return_episode_rewards=True, callback=callback)
    assert lengths == [25, 25, 25] and rewards == [25.0, 25.0, 25.0]
    assert len(steps) == (75 if python_loop else 0)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_issue_27_run_returns(seed):
    """Issue 27's command from Python: MinAtar Seaquest has no time limit and the untrained
    greedy policy stays at the surface, so without the cap its final evaluation never ends."""
    if "MinAtar/Seaquest-v0" not in deepq.env_ids():
        pytest.skip("built without MinAtar")
    model = deepq.DQN.from_preset("minatar-seaquest", seed=seed, learning_starts=1000,
                                  eval_freq=0, final_eval_episodes=1)
    model.learn(1000)
    ev = model.train_summary["eval"]
    assert ev["capped"] == 1 and ev["lengths"] == [27_000]
    _, lengths = deepq.evaluate_policy(model, "MinAtar/Seaquest-v0", n_eval_episodes=2,
                                       return_episode_rewards=True, seed=seed)
    assert lengths == [27_000, 27_000]
