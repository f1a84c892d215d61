"""Errors reach Python as exceptions with the library's one-line messages: ValueError for
configuration and usage, RuntimeError for failures while running, OSError for files, and
exceptions raised by Python code (envs, callbacks) unchanged."""

import _thread
import copy
import signal
import threading
import time

import gymnasium as gym
import numpy as np
import pytest

import deepq
from conftest import Corridor


def one_line(excinfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message, message
    return message


def test_unknown_keys_suggest_the_closest():
    with pytest.raises(ValueError) as e:
        deepq.DQN("MlpPolicy", "CartPole-v1", lerning_rate=1e-3)
    assert one_line(e) == "unknown config key 'lerning_rate'; did you mean 'learning_rate'?"
    with pytest.raises(ValueError) as e:
        deepq.DQN("MlpPolicy", "CartPole-v1", zzzzzzzzzz=1)
    assert one_line(e).startswith("unknown config key 'zzzzzzzzzz'; allowed keys: ")


def test_bad_values_name_the_key():
    with pytest.raises(ValueError) as e:
        deepq.DQN("MlpPolicy", "CartPole-v1", batch_size="big")
    assert one_line(e).startswith("invalid value \"big\" for 'batch_size'")
    with pytest.raises(ValueError) as e:
        deepq.DQN("MlpPolicy", "CartPole-v1", gamma=1.5)
    assert one_line(e) == "invalid value 1.5 for 'gamma': must be in [0, 1]"
    with pytest.raises(ValueError, match="'train_freq'"):
        deepq.DQN("MlpPolicy", "CartPole-v1", train_freq=(1, "year"))
    with pytest.raises(ValueError, match="invalid value None for 'gamma': a value is required"):
        deepq.DQN("MlpPolicy", "CartPole-v1", gamma=None)
    with pytest.raises(ValueError, match="schedules \\(callables\\) are supported for learning_rate only"):
        deepq.DQN("MlpPolicy", "CartPole-v1", gamma=lambda progress: 0.9)
    with pytest.raises(ValueError, match="returned -1.0 at progress_remaining 1.0"):
        deepq.DQN("MlpPolicy", "CartPole-v1", learning_rate=lambda progress: -1.0)
    with pytest.raises(ValueError, match="'total_timesteps'"):
        deepq.DQN("MlpPolicy", "CartPole-v1").learn("many")
    with pytest.raises(ValueError) as e:
        deepq.DQN("MlpPolicy", "CartPole-v1").learn(-5)
    assert one_line(e) == "invalid value -5 for 'total_timesteps': must be at least 1"


def test_unknown_environments_and_presets():
    with pytest.raises(ValueError) as e:
        deepq.DQN("MlpPolicy", "Nope-v0")
    assert one_line(e).startswith("unknown environment id 'Nope-v0'; available: CartPole-v0")
    with pytest.raises(ValueError) as e:
        deepq.DQN.from_preset("nope")
    assert one_line(e).startswith("unknown preset 'nope'; available: default")
    with pytest.raises(ValueError, match="has no kwarg 'colour'"):
        deepq.DQN("MlpPolicy", "CartPole-v1", env_kwargs=dict(colour="red"))


def test_unsupported_sb3_options_are_refused_clearly():
    with pytest.raises(ValueError, match="unsupported policy 'MultiInputPolicy'; deepq has"):
        deepq.DQN("MultiInputPolicy", "CartPole-v1")
    with pytest.raises(ValueError, match=r"'CnnPolicy' needs image observations .*; "
                                         r"CartPole-v1 has Box\(4,\)"):
        deepq.DQN("CnnPolicy", "CartPole-v1")
    with pytest.raises(ValueError, match="CPU"):
        deepq.DQN("MlpPolicy", "CartPole-v1", device="cuda")
    with pytest.raises(ValueError, match="unsupported replay_buffer_kwargs key 'n_steps'"):
        deepq.DQN("MlpPolicy", "CartPole-v1", replay_buffer_kwargs=dict(n_steps=3))
    with pytest.raises(ValueError, match="replay_buffer_class is not supported"):
        deepq.DQN("MlpPolicy", "CartPole-v1", replay_buffer_class=object)
    with pytest.raises(ValueError, match="unsupported policy_kwargs key 'features_extractor_class'"):
        deepq.DQN("MlpPolicy", "CartPole-v1", policy_kwargs=dict(features_extractor_class=object))
    with pytest.raises(ValueError, match="given both directly and through policy_kwargs"):
        deepq.DQN("MlpPolicy", "CartPole-v1", net_arch=[8], policy_kwargs=dict(net_arch=[8]))


def test_divergence_is_a_runtime_error():
    model = deepq.DQN("MlpPolicy", "CartPole-v1", learning_rate=1e30,
                      max_grad_norm=float("inf"), learning_starts=10, seed=0)
    with pytest.raises(RuntimeError) as e:
        model.learn(3000)
    assert one_line(e).startswith("training diverged at step ")


def test_unsupported_spaces_are_refused():
    with pytest.raises(ValueError, match="deepq needs a Discrete action space"):
        deepq.DQN("MlpPolicy", gym.make("MountainCarContinuous-v0"))

    class Multi(Corridor):
        def __init__(self):
            super().__init__()
            self.observation_space = gym.spaces.MultiBinary(3)

    with pytest.raises(ValueError, match="deepq needs a Box or Discrete observation space"):
        deepq.DQN("MlpPolicy", Multi())
    with pytest.raises(TypeError, match="Gymnasium Env"):
        deepq.DQN("MlpPolicy", object())


def test_env_exceptions_propagate_from_training_and_evaluation():
    with pytest.raises(ZeroDivisionError, match="on purpose"):
        deepq.DQN("MlpPolicy", Corridor(fail_at=300), seed=0).learn(1000)
    with pytest.raises(ZeroDivisionError, match="on purpose"):  # in a deep copy of the env
        deepq.DQN("MlpPolicy", Corridor(fail_at=300), seed=0, n_envs=2).learn(1000)
    model = deepq.DQN("MlpPolicy", Corridor(), seed=0)
    with pytest.raises(KeyError):
        deepq.evaluate_policy(model, Corridor(fail_at=2, error=KeyError))


def test_observations_that_do_not_fit_the_space_are_value_errors():
    with pytest.raises(ValueError) as e:
        deepq.DQN("MlpPolicy", Corridor(obs_width=5), seed=0).learn(100)
    assert one_line(e) == ("env.reset() returned an observation with 5 values, but the "
                           "observation space has shape (1,) (1 values)")


def test_old_gym_step_api_is_a_type_error():
    class OldApi(Corridor):
        def step(self, action):
            obs, reward, terminated, _truncated, info = super().step(action)
            return obs, reward, terminated, info

    with pytest.raises(TypeError, match="tuple of 4 values"):
        deepq.DQN("MlpPolicy", OldApi(), seed=0).learn(100)


def test_non_finite_observations_and_rewards_are_the_envs_error():
    class NanAtThree(Corridor):
        def __init__(self, bad_reward=False):
            super().__init__()
            self.bad_reward = bad_reward

        def step(self, action):
            obs, reward, terminated, truncated, info = super().step(action)
            if self.t == 3:
                if self.bad_reward:
                    reward = float("inf")
                else:
                    obs = np.array([np.nan], dtype=np.float32)
            return obs, reward, terminated, truncated, info

    with pytest.raises(ValueError) as e:
        deepq.DQN("MlpPolicy", NanAtThree(), seed=0).learn(100)
    assert one_line(e) == ("env.step() returned an observation with a non-finite value on "
                           "step 3 of the episode: NaN at flat index 0")
    with pytest.raises(ValueError) as e:
        deepq.DQN("MlpPolicy", NanAtThree(bad_reward=True), seed=0).learn(100)
    assert one_line(e) == "env.step() returned a non-finite reward inf on step 3 of the episode"


def test_envs_that_cannot_be_copied_train_only_without_copies():
    class Locked(Corridor):
        def __init__(self):
            super().__init__()
            self.lock = threading.Lock()

    with pytest.raises(TypeError):
        copy.deepcopy(Locked())
    with pytest.raises(ValueError) as e:
        deepq.DQN("MlpPolicy", Locked(), eval_freq=100, seed=0).learn(200)
    assert "cannot be copied with copy.deepcopy" in one_line(e)
    deepq.DQN("MlpPolicy", Locked(), seed=0).learn(200)


def test_evaluation_usage_errors():
    model = deepq.DQN("MlpPolicy", "CartPole-v1", seed=0)
    with pytest.raises(ValueError, match="'n_eval_episodes': must be at least 1"):
        deepq.evaluate_policy(model, "CartPole-v1", n_eval_episodes=0)
    with pytest.raises(ValueError, match="but Acrobot-v1 needs 6 inputs and 3 outputs"):
        deepq.evaluate_policy(model, "Acrobot-v1")
    with pytest.raises(ValueError, match="Gymnasium env object"):
        deepq.evaluate_policy(model, "CartPole-v1", render=True)
    with pytest.raises(ValueError, match="Unexpected observation shape"):
        model.predict(np.zeros((2, 3)))


def test_ctrl_c_interrupts_training_in_rust():
    # Python's own SIGINT handler, which interrupt_main needs: a process started in the
    # background by a non-interactive shell inherits SIGINT ignored, and Python then leaves it
    # so (interrupt_main would do nothing and training would run on).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    model = deepq.DQN("MlpPolicy", "CartPole-v1", seed=0, learning_starts=1000)
    timer = threading.Timer(0.3, _thread.interrupt_main)
    timer.start()
    started = time.perf_counter()
    try:
        with pytest.raises(KeyboardInterrupt):
            model.learn(10**8)
    finally:
        timer.join()
        signal.signal(signal.SIGINT, previous)
    assert time.perf_counter() - started < 30
    assert "untrained" in repr(model), "an interrupted learn() keeps the previous weights"
