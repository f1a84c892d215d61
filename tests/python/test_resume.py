"""Run directories that resume: a run that stopped goes on from its last checkpoint, bit for
bit on a built-in env, and on fresh episodes of a fresh instance of a Python env, which no
checkpoint can hold."""

import json
import shutil

import gymnasium as gym
import pytest

from deepq import _native
from deepq._envs import resolve_env


def config(**keys):
    cfg = _native.Config("default")
    cfg.update({**dict(total_timesteps=3000, learning_starts=200, checkpoint_freq=1000,
                       eval_freq=1000, eval_episodes=2, final_eval_episodes=2, seed=5), **keys})
    return cfg


def stop_at(step):
    """A progress hook that raises once training passes `step`, as Ctrl-C would."""
    def progress(kind, info):
        if kind == "progress" and info["step"] >= step:
            raise RuntimeError("stopped here")
    return progress


class CrashAt(gym.Wrapper):
    """Raises on the `at`-th step, as an environment that fails mid-run does."""

    def __init__(self, env, at):
        super().__init__(env)
        self.at, self.steps = at, 0

    def step(self, action):
        self.steps += 1
        if self.steps == self.at:
            raise RuntimeError("the env crashed")
        return self.env.step(action)


def episodes_without_wall_time(run):
    return [line.rsplit(",", 1)[0] for line in (run / "episodes.csv").read_text().splitlines()]


def steps_of(run, name):
    lines = (run / name).read_text().splitlines()[1:]
    column = 1 if name == "episodes.csv" else 0
    return [int(line.split(",")[column]) for line in lines]


def test_a_stopped_run_on_a_built_in_env_resumes_bit_for_bit(tmp_path):
    whole = tmp_path / "whole"
    _native.train_run(config(), str(whole), "default")
    stopped = tmp_path / "stopped"
    with pytest.raises(RuntimeError, match="stopped here"):
        _native.train_run(config(), str(stopped), "default", stop_at(1500))
    assert not (stopped / "summary.json").exists()
    assert max(steps_of(stopped, "train.csv")) > 1000
    summary = json.loads(_native.resume_run(config(), str(stopped), "default"))
    assert summary["env_steps"] == 3000 and summary["preset"] == "default"
    for name in ("model.safetensors", "train.csv", "eval.csv"):
        assert (stopped / name).read_bytes() == (whole / name).read_bytes(), name
    assert episodes_without_wall_time(stopped) == episodes_without_wall_time(whole)


def test_a_run_on_a_python_env_resumes_on_fresh_episodes(tmp_path):
    cfg = config(n_envs=2)
    crashed = tmp_path / "crashed"
    env = resolve_env(CrashAt(gym.make("CartPole-v1"), at=750))
    with pytest.raises(RuntimeError, match="the env crashed"):
        _native.train_run(cfg, str(crashed), "default", env=env.gym)
    assert not (crashed / "summary.json").exists()
    before = episodes_without_wall_time(crashed)
    kept = [line for line, step in zip(before[1:], steps_of(crashed, "episodes.csv"))
            if step <= 1000]
    assert len(kept) < len(before) - 1, "episodes past the checkpoint, to be dropped"

    # A key that shapes the run cannot change; the directory stays as it was.
    train_csv = (crashed / "train.csv").read_bytes()
    with pytest.raises(ValueError, match="batch_size"):
        _native.resume_run(config(n_envs=2, batch_size=32), str(crashed), "default",
                           env=resolve_env(gym.make("CartPole-v1")).gym)
    assert (crashed / "train.csv").read_bytes() == train_csv

    twice = tmp_path / "twice"
    shutil.copytree(crashed, twice)
    for run in (crashed, twice):
        summary = json.loads(_native.resume_run(cfg, str(run), "default",
                                                env=resolve_env(gym.make("CartPole-v1")).gym))
        assert summary["env_steps"] == 3000
    assert (crashed / "model.safetensors").read_bytes() == (twice / "model.safetensors").read_bytes()
    after = episodes_without_wall_time(crashed)
    assert after[1:len(kept) + 1] == kept, "the logs up to the checkpoint are kept"
    numbers = [int(line.split(",")[0]) for line in after[1:]]
    assert numbers == list(range(1, len(numbers) + 1)), "episodes numbered on from there"
    for name in ("episodes.csv", "train.csv", "eval.csv"):
        steps = steps_of(crashed, name)
        assert steps == sorted(steps) and steps[-1] <= 3000, name

    # `total_timesteps`, read at every step, may change when a run resumes.
    longer = tmp_path / "longer"
    with pytest.raises(RuntimeError, match="the env crashed"):
        _native.train_run(cfg, str(longer), "default",
                          env=resolve_env(CrashAt(gym.make("CartPole-v1"), at=750)).gym)
    summary = json.loads(_native.resume_run(config(n_envs=2, total_timesteps=2000),
                                            str(longer), "default",
                                            env=resolve_env(gym.make("CartPole-v1")).gym))
    assert summary["env_steps"] == 2000 and summary["total_timesteps"] == 2000
    assert "total_timesteps = 2000" in (longer / "config.toml").read_text()
