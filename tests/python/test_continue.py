"""Training that goes on: split learn() calls, fine-tuning a loaded model, replay buffers
saved and loaded, and settings changed between calls, with SB3's semantics."""

import os

import gymnasium as gym
import numpy as np
import pytest

import deepq


def model(env="CartPole-v1", **kwargs):
    params = dict(learning_starts=100, seed=3, train_freq=1, target_update_interval=200)
    params.update(kwargs)
    return deepq.DQN("MlpPolicy", env, **params)


def weights(m):
    return {k: v.copy() for k, v in m.get_parameters()["policy"].items()}


def same(a, b):
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_split_calls_that_go_on_train_what_one_call_trains():
    # With a constant ε nothing depends on the budget: learn(600) + learn(900, False) is
    # learn(1500), bit for bit (the final evaluations use their own env and seed).
    constant = dict(exploration_initial_eps=0.2, exploration_final_eps=0.2)
    whole = model(**constant).learn(1500)
    split = model(**constant).learn(600)
    assert split.num_timesteps == 600
    split.learn(900, reset_num_timesteps=False)
    assert split.num_timesteps == 1500 == split.train_summary["env_steps"]
    assert split.train_summary["updates"] == whole.train_summary["updates"]
    assert same(weights(split), weights(whole))


def test_going_on_rescales_the_schedule_over_the_new_total_as_sb3():
    seen = {}

    def record(locals_):
        seen[locals_["num_timesteps"]] = (locals_["exploration_rate"], locals_["total_timesteps"])

    m = model(exploration_fraction=0.8, exploration_final_eps=0.1).learn(1000)
    assert m.exploration_rate == pytest.approx(0.1)
    m.learn(1000, reset_num_timesteps=False, callback=record, callback_freq=100)
    # SB3: progress_remaining = 1 − num_timesteps / (1000 + 1000).
    eps, total = seen[1200]
    assert total == 2000
    assert eps == pytest.approx(1.0 - 0.9 * 1200 / (0.8 * 2000))
    assert min(seen) == 1100 and m.num_timesteps == 2000


def test_a_second_learn_goes_on_from_the_trained_weights():
    m = model().learn(800)
    trained = weights(m)
    # learning_starts is capped at the budget: this call only acts, so nothing may move.
    m.learn(100, reset_num_timesteps=True)
    assert m.num_timesteps == 100 and m.train_summary["updates"] == 0
    assert same(weights(m), trained)
    assert m.exploration_rate == pytest.approx(0.05)
    m.learn(400)
    assert not same(weights(m), trained)


def test_same_seed_and_calls_give_the_same_weights():
    def run():
        m = model().learn(500)
        m.learn(300, reset_num_timesteps=False)
        m.learn(300)
        return weights(m)

    assert same(run(), run())


def test_a_loaded_model_fine_tunes_its_weights(tmp_path):
    m = model().learn(800)
    m.save(tmp_path / "run")
    loaded = deepq.DQN.load(tmp_path / "run", env="CartPole-v1")
    loaded.learn(100)  # acting only (learning_starts capped at the budget)
    assert same(weights(loaded), weights(m))
    loaded.learning_starts = 0
    loaded.learn(300)
    assert not same(weights(loaded), weights(m))
    fresh = model(learning_starts=0).learn(300)
    assert not same(weights(loaded), weights(fresh))


def test_set_parameters_sets_the_weights_training_starts_from():
    source = model(seed=11).learn(600)
    m = model()
    m.set_parameters(source.get_parameters())
    m.learn(100)  # acting only
    assert same(weights(m), weights(source))


def test_replay_buffer_round_trips(tmp_path):
    m = model().learn(700)
    m.save_replay_buffer(tmp_path / "buffer")
    assert (tmp_path / "buffer.pkl").is_file()
    other = model(total_timesteps=700)
    other.load_replay_buffer(tmp_path / "buffer")
    other.save_replay_buffer(tmp_path / "again.pkl")
    assert (tmp_path / "buffer.pkl").read_bytes() != b""
    assert (tmp_path / "again.pkl").read_bytes() == (tmp_path / "buffer.pkl").read_bytes()
    # Sampling starts right away from the loaded transitions.
    other.learning_starts = 0
    other.learn(50)
    assert other.train_summary["updates"] == 50


def test_replay_buffer_errors_are_one_line_and_leave_the_buffer(tmp_path):
    m = model().learn(300)
    m.save_replay_buffer(tmp_path / "cartpole.pkl")
    data = (tmp_path / "cartpole.pkl").read_bytes()
    keep = tmp_path / "keep.pkl"
    m.save_replay_buffer(keep)
    mountain_car = model("MountainCar-v0")
    with pytest.raises(ValueError, match=r"cannot load the replay buffer .*CartPole-v1") as e:
        mountain_car.load_replay_buffer(tmp_path / "cartpole.pkl")
    assert "\n" not in str(e.value)
    (tmp_path / "cut.pkl").write_bytes(data[:-10])
    with pytest.raises(ValueError, match="corrupt or truncated"):
        m.load_replay_buffer(tmp_path / "cut.pkl")
    (tmp_path / "other.pkl").write_bytes(b"hello, world")
    with pytest.raises(ValueError, match="not a deepq replay buffer"):
        m.load_replay_buffer(tmp_path / "other.pkl")
    smaller = model(buffer_size=500)
    with pytest.raises(ValueError, match="buffer_size 500"):
        smaller.load_replay_buffer(tmp_path / "cartpole.pkl")
    m.save_replay_buffer(tmp_path / "after.pkl")
    assert (tmp_path / "after.pkl").read_bytes() == keep.read_bytes()


def test_settings_read_at_every_step_change_between_calls_and_others_raise():
    m = model().learn(300)
    m.exploration_final_eps = 0.3
    m.learning_rate = 3e-4
    m.learn(300, reset_num_timesteps=False)
    assert m.exploration_rate == pytest.approx(0.3)
    assert m.config["learning_rate"] == 3e-4
    with pytest.raises(AttributeError, match="'gamma' cannot change once training has started"):
        m.gamma = 0.9
    assert m.gamma == 0.99


@pytest.mark.filterwarnings("error")
def test_a_gymnasium_env_shared_with_evaluation_starts_new_episodes():
    # Without copies (n_envs=1, eval_freq=0), the final evaluation plays the training env's
    # object to the end of an episode; training must not step it on from there.
    env = gym.make("CartPole-v1")
    m = deepq.DQN("MlpPolicy", env, learning_starts=50, seed=0).learn(300)
    m.learn(200, reset_num_timesteps=False)
    assert m.num_timesteps == 500


def test_a_run_stopped_by_an_error_keeps_what_it_trained():
    from conftest import Corridor

    m = deepq.DQN("MlpPolicy", Corridor(fail_at=300), learning_starts=50, train_freq=1,
                  seed=0, policy_kwargs=dict(net_arch=[8]))
    before = weights(m)
    with pytest.raises(ZeroDivisionError):
        m.learn(1000)
    assert not same(weights(m), before), "the weights of the steps before the error"


def test_ep_info_buffer_holds_the_last_episodes_as_sb3():
    m = model(stats_window_size=5).learn(600)
    assert m.ep_info_buffer.maxlen == 5 == m.ep_success_buffer.maxlen
    assert len(m.ep_info_buffer) == 5 and not m.ep_success_buffer
    last = list(m.ep_info_buffer)
    assert all(set(e) == {"r", "l", "t"} and e["r"] == e["l"] for e in last)  # CartPole
    m.learn(300, reset_num_timesteps=False)
    assert list(m.ep_info_buffer)[:1] != last[:1], "going on, newer episodes push out older"
    fresh = model(stats_window_size=5)
    assert fresh.ep_info_buffer.maxlen == 5 and not fresh.ep_info_buffer
