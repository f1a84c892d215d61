"""The Stable-Baselines3-style API: construction, defaults, keywords, predict, learn,
callbacks and evaluate_policy, on short runs."""

import gymnasium as gym
import numpy as np
import pytest

import deepq
from conftest import given_env

#: SB3's DQN defaults, which deepq.DQN must apply when nothing is passed.
SB3_DEFAULTS = dict(
    learning_rate=1e-4, buffer_size=1_000_000, learning_starts=100, batch_size=32, tau=1.0,
    gamma=0.99, train_freq=4, gradient_steps=1, target_update_interval=10_000,
    exploration_fraction=0.1, exploration_initial_eps=1.0, exploration_final_eps=0.05,
    max_grad_norm=10.0, net_arch=[64, 64],
)


def quick_model(env="CartPole-v1", **kwargs):
    """A model that trains in well under a second."""
    params = dict(learning_starts=100, seed=0)
    params.update(kwargs)
    return deepq.DQN("MlpPolicy", env, **params)


def test_sb3_defaults_apply_when_nothing_is_passed():
    model = deepq.DQN("MlpPolicy", "CartPole-v1")
    for key, value in SB3_DEFAULTS.items():
        assert model.config[key] == value, key
        assert getattr(model, key) == value, key
    assert model.config["eval_freq"] == 0, "learn() evaluates only at the end, as SB3"


def test_every_sb3_argument_is_accepted_and_stored():
    args = dict(
        learning_rate=5e-4, buffer_size=20_000, learning_starts=500, batch_size=64, tau=0.5,
        gamma=0.98, train_freq=(1, "episode"), gradient_steps=2, target_update_interval=250,
        exploration_fraction=0.3, exploration_initial_eps=0.9, exploration_final_eps=0.01,
        max_grad_norm=5.0, seed=7, verbose=0,
    )
    model = deepq.DQN("MlpPolicy", "CartPole-v1", policy_kwargs=dict(net_arch=[32, 16]),
                      device="cpu", tensorboard_log=None, stats_window_size=50, **args)
    config = model.config
    for key, value in args.items():
        if key == "verbose":
            continue
        expected = list(value) if isinstance(value, tuple) else value
        assert config[key] == expected, key
    assert config["net_arch"] == [32, 16]
    assert config["rolling_window"] == 50
    assert model.seed == 7


def test_deepq_config_keys_are_keywords():
    model = quick_model(double_q=True, loss="mse", n_envs=2, optimizer="nadam",
                        train_freq=[2, "step"], episodes=None)
    config = model.config
    assert config["double_q"] is True and config["loss"] == "mse"
    assert config["n_envs"] == 2 and config["optimizer"] == "nadam"
    assert config["train_freq"] == 2
    assert config["episodes"] is None
    assert set(deepq.config_keys()) == set(config)


def test_numpy_values_are_accepted():
    model = quick_model(learning_rate=np.float32(1e-3), batch_size=np.int64(16),
                        policy_kwargs=dict(net_arch=np.array([8, 8])))
    assert model.config["batch_size"] == 16
    assert model.config["net_arch"] == [8, 8]
    assert model.config["learning_rate"] == pytest.approx(1e-3)


def test_policy_kwargs_optimizer_settings_map_to_config_keys():
    class Adam:  # stands in for torch.optim.Adam: only the name is read
        pass

    class ReLU:
        pass

    model = quick_model(policy_kwargs=dict(
        net_arch=[16], activation_fn=ReLU, optimizer_class=Adam,
        optimizer_kwargs=dict(eps=1e-5, betas=(0.8, 0.9), weight_decay=0.01)))
    config = model.config
    assert config["optimizer"] == "adam" and config["optimizer_eps"] == 1e-5
    assert config["optimizer_betas"] == [0.8, 0.9] and config["weight_decay"] == 0.01


def test_seed_none_draws_a_seed_and_seeds_reproduce_runs():
    assert deepq.DQN("MlpPolicy", "CartPole-v1").seed != deepq.DQN("MlpPolicy", "CartPole-v1").seed
    obs = np.array([[0.01, 0.2, -0.03, 0.1], [0.0, -0.5, 0.05, -0.2]], dtype=np.float32)
    a = quick_model(seed=3).learn(1000).q_values(obs)
    b = quick_model(seed=3).learn(1000).q_values(obs)
    np.testing.assert_array_equal(a, b)


def test_predict_shapes_follow_sb3():
    model = quick_model()
    action, state = model.predict(np.zeros(4, dtype=np.float32), deterministic=True)
    assert isinstance(action, np.ndarray) and action.shape == () and state is None
    assert int(action) in (0, 1)
    actions, _ = model.predict(np.zeros((5, 4)), deterministic=True)
    assert actions.shape == (5,) and actions.dtype == np.int64
    assert model.q_values(np.zeros(4)).shape == (2,)
    assert model.q_values(np.zeros((3, 4))).shape == (3, 2)
    with pytest.raises(ValueError, match=r"Unexpected observation shape \(3,\)"):
        model.predict(np.zeros(3))


def test_predict_matches_the_greedy_q_value():
    model = quick_model().learn(2000)
    obs = np.random.default_rng(0).normal(size=(20, 4)).astype(np.float32)
    actions, _ = model.predict(obs, deterministic=True)
    np.testing.assert_array_equal(actions, model.q_values(obs).argmax(axis=1))


def test_non_deterministic_predict_explores_with_the_exploration_rate():
    model = quick_model(exploration_final_eps=1.0, exploration_initial_eps=1.0).learn(500)
    assert model.exploration_rate == 1.0
    actions = {int(model.predict(np.zeros(4))[0]) for _ in range(200)}
    assert actions == {0, 1}


def test_noisy_nets_report_and_act_with_no_epsilon():
    # Noisy nets explore through their noise: training uses no ε, and neither do the
    # callback's exploration_rate, the model's, or predict(deterministic=False).
    seen = []
    model = quick_model(noisy=True, exploration_initial_eps=1.0, exploration_final_eps=1.0)
    model.learn(600, callback=lambda info: seen.append(info["exploration_rate"]),
                callback_freq=100)
    assert seen and set(seen) == {0.0}
    assert model.exploration_rate == 0.0
    obs = np.random.default_rng(1).normal(size=(30, 4)).astype(np.float32)
    actions, _ = model.predict(obs)
    np.testing.assert_array_equal(actions, model.q_values(obs).argmax(axis=1))


def test_discrete_observations_are_one_hot():
    model = deepq.DQN("MlpPolicy", "FrozenLake-v1", seed=0)
    assert model.q_values(3).shape == (4,)
    action, _ = model.predict(3, deterministic=True)
    assert action.shape == ()
    actions, _ = model.predict(np.array([0, 5, 15]), deterministic=True)
    assert actions.shape == (3,)
    with pytest.raises(ValueError, match="outside the observation space Discrete"):
        model.predict(16)


def test_learn_returns_the_model_with_a_summary():
    model = quick_model()
    assert model.learn(1500) is model
    summary = model.train_summary
    assert summary["env_steps"] == 1500 == model.num_timesteps
    assert summary["eval"]["episodes"] == 10
    assert model.exploration_rate == pytest.approx(0.05)


def test_learning_starts_beyond_the_budget_acts_randomly_without_error():
    model = deepq.DQN("MlpPolicy", "CartPole-v1", seed=0)
    model.learn(50)
    assert model.train_summary["updates"] == 0


def test_callback_gets_the_locals_every_n_steps_and_can_stop_training():
    calls = []

    def callback(locals_, globals_):
        calls.append((locals_["num_timesteps"], len(locals_["episode_returns"])))
        assert locals_["self"] is model and locals_["total_timesteps"] == 5000
        assert len(locals_["episode_returns"]) == len(locals_["episode_lengths"])
        assert 0.0 <= locals_["exploration_rate"] <= 1.0
        return locals_["num_timesteps"] < 1000

    model = quick_model()
    model.learn(5000, callback=callback, callback_freq=100)
    assert [step for step, _ in calls] == list(range(100, 1001, 100))
    episode_counts = [n for _, n in calls]
    assert episode_counts == sorted(episode_counts) and episode_counts[-1] > 0
    assert model.train_summary["interrupted"] and model.num_timesteps == 1000


def test_one_argument_callbacks_lists_of_callbacks_and_none_results():
    seen = []
    model = quick_model()
    model.learn(400, callback=[lambda l: seen.append(l["num_timesteps"]), lambda l, g: None],
                callback_freq=200)
    assert seen == [200, 400], "every 200 steps, the last step included"
    assert not model.train_summary["interrupted"]


def test_callback_exceptions_propagate():
    def callback(locals_, globals_):
        raise KeyError("from the callback")

    with pytest.raises(KeyError, match="from the callback"):
        quick_model().learn(1000, callback=callback)


def test_verbose_prints_progress_and_a_summary(capsys):
    quick_model(verbose=1, eval_freq=500).learn(1000)
    out = capsys.readouterr().out
    assert "step 500/1,000" in out
    assert "eval at step 500" in out
    assert "trained 1,000 steps" in out


def test_evaluate_policy_follows_sb3():
    model = quick_model().learn(1000)
    mean, std = deepq.evaluate_policy(model, "CartPole-v1", n_eval_episodes=4)
    rewards, lengths = deepq.evaluate_policy(model, "CartPole-v1", n_eval_episodes=4,
                                             return_episode_rewards=True)
    assert isinstance(mean, float) and isinstance(std, float)
    assert len(rewards) == len(lengths) == 4
    assert mean == pytest.approx(np.mean(rewards)) and std == pytest.approx(np.std(rewards))
    assert rewards == lengths, "CartPole pays 1 per step"
    with pytest.raises(AssertionError, match="Mean reward below threshold"):
        deepq.evaluate_policy(model, "CartPole-v1", n_eval_episodes=2, reward_threshold=1e9)


def test_evaluate_policy_on_a_gymnasium_env_with_render_and_callback_runs_in_python():
    model = quick_model().learn(1000)
    env = gym.make("CartPole-v1")
    steps = []
    rewards, lengths = deepq.evaluate_policy(
        model, env, n_eval_episodes=3, return_episode_rewards=True, seed=5,
        callback=lambda l, g: steps.append(l["length"]))
    assert len(steps) == sum(lengths)
    again, _ = deepq.evaluate_policy(model, env, n_eval_episodes=3, return_episode_rewards=True,
                                     seed=5)
    assert again == rewards, "the Rust and Python loops agree from the same seed"


def test_model_accessors():
    env = gym.make("CartPole-v1")
    model = deepq.DQN("MlpPolicy", env, seed=0)
    assert given_env(model) is env
    assert model.observation_space is env.observation_space
    assert model.action_space.n == 2
    builtin = deepq.DQN("MlpPolicy", "CartPole-v1", seed=0)
    assert given_env(builtin) == "CartPole-v1"
    assert builtin.observation_space.shape == (4,) and builtin.action_space.n == 2
    builtin.set_env(env)
    assert given_env(builtin) is env
    assert "untrained" in repr(builtin)
    assert deepq.presets()["default"]
    assert "CartPole-v1" in deepq.env_ids()


def test_config_attributes_take_effect_or_raise():
    model = quick_model()
    model.learning_rate = 3e-4
    model.exploration_final_eps = 0.01
    assert model.config["learning_rate"] == 3e-4 and model.learning_rate == 3e-4
    model.learn(300)
    assert model.exploration_rate == pytest.approx(0.01)
    # Invalid values are refused and leave the config as it was.
    with pytest.raises(ValueError, match="'gamma'"):
        model.gamma = 1.5
    assert model.gamma == 0.99
    with pytest.raises(ValueError, match="learning_rate only"):
        model.gamma = lambda progress: 0.9
    # A key that changes the network replaces an untrained model's network ...
    fresh = quick_model()
    fresh.net_arch = [8]
    assert fresh.config["net_arch"] == [8] and fresh._net.sizes == [4, 8, 2]
    assert fresh.q_values(np.zeros(4, dtype=np.float32)).shape == (2,)
    # ... and is refused on a trained one, which keeps its network.
    with pytest.raises(AttributeError, match="net_arch = \\[8\\] changes the network"):
        model.net_arch = [8]
    assert model.net_arch == [64, 64]
    with pytest.raises(AttributeError, match="set_env"):
        model.env = "Acrobot-v1"


def test_the_seed_seeds_the_env_action_space_as_sb3_does():
    env = gym.make("CartPole-v1")
    deepq.DQN("MlpPolicy", env, seed=5)
    want = gym.spaces.Discrete(2, seed=5)
    assert [int(env.action_space.sample()) for _ in range(20)] == [
        int(want.sample()) for _ in range(20)]
