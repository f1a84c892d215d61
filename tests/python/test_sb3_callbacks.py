"""Stable-Baselines3's callback objects, unchanged, on deepq models: SB3's protocol (init,
training start, per-step locals and on_step, rollouts, training end), its counters, and its
own EvalCallback, CheckpointCallback, stop callbacks, EveryNTimesteps and CallbackList
reading the model as it trains."""

import os

import gymnasium as gym
import numpy as np
import pytest

sb3_callbacks = pytest.importorskip("stable_baselines3.common.callbacks")
from stable_baselines3.common.vec_env import DummyVecEnv  # noqa: E402

import deepq  # noqa: E402

BaseCallback = sb3_callbacks.BaseCallback


def model(env="CartPole-v1", **kwargs):
    params = dict(learning_starts=100, seed=1, train_freq=4)
    params.update(kwargs)
    return deepq.DQN("MlpPolicy", env, **params)


class Recorder(BaseCallback):
    """Records SB3's protocol as a custom callback sees it."""

    def __init__(self, stop_at=None):
        super().__init__()
        self.events = []
        self.steps = []
        self.dones = 0
        self.stop_at = stop_at

    def _init_callback(self):
        self.events.append(("init", self.model.num_timesteps))

    def _on_training_start(self):
        self.events.append(("start", self.locals["total_timesteps"]))

    def _on_rollout_start(self):
        self.events.append(("rollout_start", self.num_timesteps))

    def _on_rollout_end(self):
        self.events.append(("rollout_end", self.num_timesteps))

    def _on_step(self):
        self.steps.append((self.n_calls, self.num_timesteps))
        dones = self.locals["dones"]
        assert dones.shape == (1,) and len(self.locals["infos"]) == 1
        new_obs = self.locals["new_obs"]
        assert new_obs.shape == (1, 4) and new_obs.dtype == np.float32
        assert self.model.observation_space.contains(new_obs[0])
        assert self.locals["rewards"].tolist() == [1.0]  # CartPole's reward every step
        assert self.locals["actions"][0] in (0, 1)
        if dones[0]:
            self.dones += 1
            assert self.locals["infos"][0]["episode"]["l"] > 0
        return self.stop_at is None or self.num_timesteps < self.stop_at

    def _on_training_end(self):
        self.events.append(("end", self.num_timesteps))


def test_sb3s_protocol_runs_as_in_sb3():
    m = model()
    rec = Recorder()
    m.learn(400, callback=rec)
    assert rec.events[:3] == [("init", 0), ("start", 400), ("rollout_start", 0)]
    assert rec.events[-1] == ("end", 400)
    assert rec.steps == [(n, n) for n in range(1, 401)], "on_step after every step"
    # A rollout is train_freq = 4 steps, as SB3's collect_rollouts.
    ends = [t for kind, t in rec.events if kind == "rollout_end"]
    assert ends[:3] == [4, 8, 12] and len(ends) == 100
    assert rec.dones == m.train_summary["episodes"]


def test_returning_false_stops_training():
    m = model()
    m.learn(1000, callback=Recorder(stop_at=250))
    assert m.num_timesteps == 250 and m.train_summary["interrupted"]


def test_eval_and_checkpoint_callbacks_read_the_model_as_it_trains(tmp_path):
    m = deepq.DQN.from_preset("default", seed=0)
    evaluation = sb3_callbacks.EvalCallback(
        gym.make("CartPole-v1"), eval_freq=2500, n_eval_episodes=3, warn=False, verbose=0,
        best_model_save_path=str(tmp_path / "best"), log_path=str(tmp_path / "logs"))
    checkpoints = sb3_callbacks.CheckpointCallback(
        save_freq=5000, save_path=str(tmp_path / "checkpoints"), save_replay_buffer=True,
        verbose=0)
    m.learn(10_000, callback=sb3_callbacks.CallbackList([evaluation, checkpoints]))
    assert evaluation.evaluations_timesteps == [2500, 5000, 7500, 10_000]
    means = [np.mean(r) for r in evaluation.evaluations_results]
    assert len(set(means)) > 1, "each evaluation sees the network of its step"
    assert evaluation.best_mean_reward == max(means)
    assert os.path.isfile(tmp_path / "logs" / "evaluations.npz")
    names = sorted(os.listdir(tmp_path / "checkpoints"))
    assert names == ["rl_model_10000_steps.zip", "rl_model_5000_steps.zip",
                     "rl_model_replay_buffer_10000_steps.pkl",
                     "rl_model_replay_buffer_5000_steps.pkl"]
    # The checkpoint of step 5000 holds the network of step 5000, not the final one.
    mid = deepq.DQN.load(tmp_path / "checkpoints" / "rl_model_5000_steps.zip")
    end = deepq.DQN.load(tmp_path / "checkpoints" / "rl_model_10000_steps.zip")
    final = m.get_parameters()["policy"]
    assert all(np.array_equal(final[k], v) for k, v in end.get_parameters()["policy"].items())
    assert not all(np.array_equal(final[k], v) for k, v in mid.get_parameters()["policy"].items())
    again = deepq.DQN.from_preset("default", seed=0)
    again.load_replay_buffer(tmp_path / "checkpoints" / "rl_model_replay_buffer_5000_steps.pkl")
    assert again.replay_buffer.size() == 5000


def test_stop_callbacks_stop_where_sb3s_do():
    m = deepq.DQN.from_preset("default", seed=0)
    stop = sb3_callbacks.StopTrainingOnRewardThreshold(reward_threshold=150, verbose=0)
    evaluation = sb3_callbacks.EvalCallback(gym.make("CartPole-v1"), eval_freq=1000,
                                            n_eval_episodes=2, callback_on_new_best=stop,
                                            warn=False, verbose=0)
    m.learn(50_000, callback=evaluation)
    assert evaluation.best_mean_reward >= 150
    assert m.num_timesteps % 1000 == 0 and m.num_timesteps < 50_000
    assert m.num_timesteps == evaluation.n_calls

    episodes = sb3_callbacks.StopTrainingOnMaxEpisodes(max_episodes=7)
    vec = model(DummyVecEnv([lambda: gym.make("CartPole-v1")]))
    vec.learn(5000, callback=episodes)
    assert episodes.n_episodes == 7 and vec.train_summary["interrupted"]

    stall = sb3_callbacks.StopTrainingOnNoModelImprovement(max_no_improvement_evals=1,
                                                           min_evals=1)
    evaluation = sb3_callbacks.EvalCallback(gym.make("CartPole-v1"), eval_freq=300,
                                            n_eval_episodes=1, callback_after_eval=stall,
                                            warn=False, verbose=0)
    stalled = model()
    stalled.learn(20_000, callback=evaluation)
    assert stalled.num_timesteps < 20_000 and stalled.train_summary["interrupted"]
    assert stall.no_improvement_evals > stall.max_no_improvement_evals


def test_every_n_timesteps_and_the_model_attributes_callbacks_use():
    seen = []

    class Probe(BaseCallback):
        def _on_step(self):
            seen.append((self.num_timesteps, self.model.replay_buffer.size(),
                         self.training_env.num_envs))
            self.logger.record("probe/steps", self.num_timesteps)
            return True

    m = model()
    m.learn(1000, callback=sb3_callbacks.EveryNTimesteps(n_steps=250, callback=Probe()))
    assert seen == [(250, 250, 1), (500, 500, 1), (750, 750, 1), (1000, 1000, 1)]
    assert m.logger.name_to_value["probe/steps"] == 1000
    assert m.get_vec_normalize_env() is None


def test_functions_and_objects_together():
    calls = []
    rec = Recorder()
    model().learn(300, callback=[rec, lambda l, g: calls.append(l["num_timesteps"])],
                  callback_freq=100)
    assert calls == [100, 200, 300] and len(rec.steps) == 300


def test_a_vec_env_from_get_env_trains_in_rust_again():
    m = model()
    vec = m.get_env()
    assert isinstance(vec, DummyVecEnv) and vec.num_envs == 1
    m.set_env(vec)
    assert m.config["env"] == "CartPole-v1" and m._handle.is_builtin
    mean, _ = deepq.evaluate_policy(m, vec, n_eval_episodes=2)
    assert mean > 0


def test_sb3s_progress_bar_callback_counts_the_steps():
    pytest.importorskip("tqdm")
    pytest.importorskip("rich")
    bar = sb3_callbacks.ProgressBarCallback()
    model().learn(300, callback=bar)
    assert bar.pbar.n == 300


def test_the_logger_holds_sb3s_keys_and_counts_updates_across_calls():
    m = model()
    m.learn(500)
    values = m.logger.name_to_value
    assert values["time/total_timesteps"] == 500
    first = m.train_summary["updates"]
    assert values["train/n_updates"] == first > 0
    assert values["rollout/exploration_rate"] == pytest.approx(m.exploration_rate)
    m.learn(300, reset_num_timesteps=False)
    assert m.logger.name_to_value["train/n_updates"] == m.train_summary["updates"]
    second = m.train_summary["updates"]
    m.learn(300)  # the step count restarts; SB3's update count does not
    assert m.logger.name_to_value["train/n_updates"] == second + m.train_summary["updates"]


def test_policy_device_and_the_multi_env_warning():
    from stable_baselines3.common.env_util import make_vec_env

    m = model()
    assert m.policy.device.type == "cpu" and m.device.type == "cpu"
    obs = np.zeros(4, dtype=np.float32)
    m.exploration_rate = 1.0
    assert m.policy.predict(obs)[0] == m.predict(obs, deterministic=True)[0]
    m.policy.set_training_mode(False)
    with pytest.warns(UserWarning, match="The number of environments used is greater"):
        deepq.DQN("MlpPolicy", make_vec_env("CartPole-v1", n_envs=2), target_update_interval=1)


def test_tensorboard_log_writes_sb3s_keys_through_deepqs_writer(tmp_path):
    accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")

    def scalars(run):
        events = accumulator.EventAccumulator(str(tmp_path / run))
        events.Reload()
        return {tag: [(e.step, e.value) for e in events.Scalars(tag)]
                for tag in events.Tags()["scalars"]}

    m = model(tensorboard_log=str(tmp_path), learning_starts=50)
    m.learn(2000, log_interval=4)
    first_episodes = m.train_summary["episodes"]
    m.learn(1000, log_interval=4, reset_num_timesteps=False)
    second_episodes = m.train_summary["episodes"] - first_episodes
    m.learn(500, tb_log_name="again")
    first = scalars("DQN_1")
    assert {"rollout/ep_rew_mean", "rollout/ep_len_mean", "rollout/exploration_rate",
            "train/loss", "train/learning_rate", "time/fps"} <= set(first)
    steps = [step for step, _ in first["rollout/ep_rew_mean"]]
    assert steps == sorted(steps) and steps[-1] > 2000, "going on writes into the same run"
    assert len(steps) == first_episodes // 4 + second_episodes // 4
    assert set(os.listdir(tmp_path)) == {"DQN_1", "again_1"}
    assert "train/n_updates" not in first, "SB3 keeps it out of TensorBoard"
    assert scalars("again_1")["rollout/exploration_rate"][0][1] <= 1.0


def test_new_obs_actions_and_rewards_are_the_steps_the_env_took():
    seen = []

    class Steps(BaseCallback):
        def _on_step(self):
            seen.append((self.locals["actions"][0], self.locals["new_obs"][0].copy(),
                         self.locals["rewards"][0], self.locals["dones"][0]))
            return True

    m = deepq.DQN("MlpPolicy", gym.make("CartPole-v1"), learning_starts=1000, seed=4)
    m.learn(60, callback=Steps())
    # The same actions from the same reset give the same observations and rewards.
    replay = gym.make("CartPole-v1")
    replay.reset(seed=4)
    for action, new_obs, reward, done in seen:
        obs, expected, terminated, truncated, _ = replay.step(int(action))
        if done:
            assert terminated or truncated
            break
        np.testing.assert_array_equal(new_obs, obs)
        assert reward == expected
    assert len(seen) == 60


def test_decode_inverts_encode_for_every_kind_of_space():
    from deepq._envs import ObservationEncoding

    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(3, 4, 10, 12), dtype=np.uint8)  # channels-first
    encoding = ObservationEncoding("image", shape=(4, 10, 12), dtype="uint8")
    rows, _ = encoding.encode(image)
    assert np.array_equal(encoding.decode(rows), image)
    box = rng.normal(size=(5, 2, 3)).astype(np.float32)
    encoding = ObservationEncoding("box", shape=(2, 3))
    assert np.array_equal(encoding.decode(encoding.encode(box)[0]), box)
    encoding = ObservationEncoding("discrete", n=6, start=-2)
    values = np.array([-2, 0, 3])
    assert np.array_equal(encoding.decode(encoding.encode(values)[0]), values)
