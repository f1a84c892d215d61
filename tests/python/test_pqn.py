"""``deepq.PQN``: PQN from Python with DQN's interface, the bits of ``deepq train``, training
that goes on, and the vector envs it can use."""

import json

import gymnasium as gym
import numpy as np
import pytest

import deepq
from conftest import run_cli

ROLLOUT = 32 * 64  # the default copies × rollout steps


def weights(model):
    return model.get_parameters()["policy"]


def same(a, b):
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_defaults_are_the_pqn_cartpole_preset_and_train_its_bits(tmp_path, deepq_bin):
    model = deepq.PQN("MlpPolicy", "CartPole-v1", seed=3)
    preset = deepq.PQN.from_preset("pqn-cartpole").config
    for key in ("n_envs", "rollout_steps", "n_epochs", "n_minibatches", "q_lambda",
                "reward_scale", "net_arch", "layer_norm", "optimizer", "learning_rate",
                "learning_rate_schedule", "exploration_final_eps", "exploration_fraction"):
        assert model.config[key] == preset[key], key
    model.learn(2 * ROLLOUT)
    model.save(tmp_path / "python")
    run_cli(deepq_bin, "train", "--preset", "pqn-cartpole", "--total-timesteps",
            str(2 * ROLLOUT), "--seed", "3", "--out", str(tmp_path / "cli"), "--quiet")
    cli = deepq.PQN.load(tmp_path / "cli")
    assert same(weights(model), weights(cli)), "the same run, bit for bit"
    summary = json.loads((tmp_path / "cli" / "summary.json").read_text())
    assert model.train_summary["updates"] == summary["updates"] == 2 * 4 * 16


def test_pqn_goes_on_and_restarts_as_dqn_does():
    model = deepq.PQN("MlpPolicy", "CartPole-v1", seed=0, net_arch=[32])
    model.learn(ROLLOUT)
    first = weights(model)
    model.learn(ROLLOUT, reset_num_timesteps=False)
    assert model.num_timesteps == 2 * ROLLOUT
    assert not same(first, weights(model))
    model.learn(ROLLOUT)
    assert model.num_timesteps == ROLLOUT
    assert model.replay_buffer is None
    with pytest.raises(ValueError, match="PQN has no replay buffer"):
        model.save_replay_buffer("nowhere")


def test_vector_envs_that_reset_in_the_same_step_and_the_ones_refused():
    same_step = gym.make_vec("CartPole-v1", num_envs=4, vectorization_mode="sync",
                             vector_kwargs=dict(autoreset_mode=gym.vector.AutoresetMode.SAME_STEP))
    model = deepq.PQN("MlpPolicy", same_step, seed=0, rollout_steps=16, n_minibatches=4)
    assert model.config["n_envs"] == 4
    model.learn(4 * 16 * 2)
    assert model.train_summary["updates"] == 2 * 4 * 4
    next_step = gym.make_vec("CartPole-v1", num_envs=4, vectorization_mode="sync")
    with pytest.raises(ValueError, match="resets on the next step: make it with autoreset_mode"):
        deepq.PQN("MlpPolicy", next_step)


def test_the_classes_keep_to_their_algorithm():
    with pytest.raises(ValueError, match="use deepq.PQN"):
        deepq.DQN.from_preset("pqn-cartpole")
    with pytest.raises(ValueError, match="use deepq.DQN"):
        deepq.PQN.from_preset("default")
    with pytest.raises(ValueError, match="buffer_size"):
        deepq.PQN("MlpPolicy", "CartPole-v1", buffer_size=1000)
