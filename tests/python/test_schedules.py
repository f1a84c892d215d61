"""SB3's learning-rate schedules: a callable of ``progress_remaining`` as ``learning_rate``,
called when SB3 calls it (once per training phase), the same bits as deepq's own schedules."""

import numpy as np
import pytest

import deepq


def model(**kwargs):
    params = dict(learning_starts=100, seed=2, train_freq=4, target_update_interval=250)
    params.update(kwargs)
    return deepq.DQN("MlpPolicy", "CartPole-v1", **params)


def weights(m):
    return m.get_parameters()["policy"]


def same(a, b):
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_the_schedule_is_called_once_per_training_phase_with_progress_remaining():
    calls = []

    def schedule(progress_remaining):
        calls.append(progress_remaining)
        return 5e-4

    m = model(learning_rate=schedule)
    assert calls == [1.0], "SB3 calls it once at set-up for the initial value"
    assert m.learning_rate is schedule and m.config["learning_rate"] == 5e-4
    m.learn(1000)
    # Training phases every 4 steps once past learning_starts = 100: steps 104, 108, …, 1000.
    assert calls[1:] == [1.0 - step / 1000 for step in range(104, 1001, 4)]


def test_a_constant_schedule_trains_the_bits_of_the_number():
    number = model(learning_rate=1e-3).learn(1500)
    schedule = model(learning_rate=lambda _: 1e-3).learn(1500)
    assert same(weights(number), weights(schedule))


def test_a_linear_schedule_trains_the_bits_of_deepqs_linear_schedule():
    config = model(learning_rate=1e-3, learning_rate_schedule="linear").learn(1500)
    schedule = model(learning_rate=lambda p: 1e-3 * p).learn(1500)
    assert same(weights(config), weights(schedule))
    assert not same(weights(schedule), weights(model(learning_rate=1e-3).learn(1500)))


def test_schedules_span_a_continued_budget_as_sb3():
    seen = []
    m = model(learning_rate=lambda p: seen.append(p) or 1e-3).learn(500)
    seen.clear()
    m.learn(500, reset_num_timesteps=False)
    assert seen[0] == pytest.approx(1.0 - 504 / 1000)
    assert seen[-1] == pytest.approx(0.0)


def test_the_schedule_set_as_an_attribute_takes_over_and_a_number_replaces_it():
    m = model()
    m.learning_rate = lambda p: 2e-3 * p
    assert m.config["learning_rate"] == 2e-3 and m.lr_schedule(0.5) == 1e-3
    m.learning_rate = 3e-4
    assert m.learning_rate == 3e-4 and m.lr_schedule(0.1) == 3e-4


def test_bad_schedules_are_one_line_errors():
    with pytest.raises(ValueError, match=r"returned 'fast' at progress_remaining 1.0"):
        model(learning_rate=lambda p: "fast")
    m = model(learning_rate=lambda p: 1e-3 if p > 0.5 else float("nan"))
    with pytest.raises(ValueError, match=r"returned nan at progress_remaining 0\.\d+: expected"):
        m.learn(1000)

    def broken(p):
        if p < 0.9:
            raise KeyError("from the schedule")
        return 1e-3

    with pytest.raises(KeyError, match="from the schedule"):
        model(learning_rate=broken).learn(1000)
    with pytest.raises(ValueError, match="learning_rate only"):
        model(gamma=lambda p: 0.9)
