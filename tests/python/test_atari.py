"""Atari through ale-py: the standard vector env, the atari-dqn preset, and the learning-only
Atari semantics (clipped rewards, a lost life as the end of the TD target)."""

import json

import gymnasium as gym
import numpy as np
import pytest

import deepq


def test_make_vec_builds_the_standard_stack():
    pytest.importorskip("ale_py")
    import deepq.atari

    envs = deepq.atari.make_vec("Pong", 2)
    obs, info = envs.reset(seed=0)
    assert obs.shape == (2, 4, 84, 84) and obs.dtype == np.uint8
    assert envs.deepq_id == "ALE/Pong-v5" and "lives" in info
    assert deepq.atari.resolve_id("PongNoFrameskip-v4") == "PongNoFrameskip-v4"
    with pytest.raises(ValueError, match="unknown Atari game 'Pongg'"):
        deepq.atari.make_vec("Pongg", 2)
    with pytest.raises(ValueError, match="invalid value 0 for 'num_envs'"):
        deepq.atari.make_vec("Pong", 0)


def test_the_atari_dqn_preset_trains_on_whole_unclipped_games():
    pytest.importorskip("ale_py")
    import deepq.atari

    model = deepq.DQN.from_preset(
        "atari-dqn", env=deepq.atari.make_vec("Pong", 2), learning_starts=200,
        buffer_size=2_000, final_eval_episodes=1, precision="bf16")
    model.learn(600)
    summary = model.train_summary
    assert summary["env"] == "ALE/Pong-v5"
    assert summary["updates"] > 0
    # A whole game of Pong: 21 points to one side, scored unclipped.
    (score,) = summary["eval"]["returns"]
    assert score == int(score) and -21 <= score <= 21 and abs(score) >= 0
    assert max(abs(score), 21) == 21


class Lives(gym.Env):
    """Ten-step episodes paying 5 per step, with a life lost every fourth step (as an Atari
    game's ``lives`` info reports it)."""

    observation_space = gym.spaces.Box(0.0, 10.0, shape=(1,), dtype=np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(1, dtype=np.float32), {"lives": 3}

    def step(self, action):
        self.t += 1
        obs = np.array([self.t + action], dtype=np.float32)
        return obs, 5.0, self.t == 10, False, {"lives": 3 - self.t // 4}


def lives_run(**keys):
    envs = gym.vector.SyncVectorEnv([Lives] * 2,
                                    autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    model = deepq.DQN("MlpPolicy", envs, seed=1, learning_starts=50, train_freq=1,
                      final_eval_episodes=2, **keys)
    model.learn(400)
    return model


def test_clipped_rewards_and_lost_lives_change_learning_only():
    plain = lives_run()
    clipped = lives_run(clip_reward=True)
    lives = lives_run(terminal_on_life_loss=True)
    for model in (plain, clipped, lives):
        # Episodes are whole: ten steps of 5, unclipped.
        assert model.train_summary["episodes"] == 2 * 20
        assert model.train_summary["eval"]["returns"] == [50.0, 50.0]
    params = [m.get_parameters()["policy"] for m in (plain, clipped, lives)]
    for other in params[1:]:
        assert any(not np.array_equal(params[0][k], other[k]) for k in params[0])


def test_other_algorithms_refuse_the_atari_keys():
    config = deepq._native.Config("pqn-cartpole")
    config.update({"terminal_on_life_loss": True})
    with pytest.raises(ValueError, match="'terminal_on_life_loss': it applies to algorithm"):
        config.validate()


def run_module(*args, check=True):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "deepq", *args], capture_output=True,
                          text=True, check=check)


def test_python_m_deepq_trains_atari_runs_that_the_deepq_command_reads(tmp_path, deepq_bin):
    pytest.importorskip("ale_py")
    import subprocess

    out = tmp_path / "pong"
    common = ["train", "--preset", "atari-dqn", "--env", "ALE/Pong-v5", "--num-envs", "2",
              "--total-timesteps", "300", "--set", "learning_starts=100",
              "--set", "buffer_size=1000", "--set", "final_eval_episodes=1",
              "--set", 'precision="bf16"', "--seeds", "0..2", "--out", str(out), "--quiet"]
    run_module(*common)
    for seed in (0, 1):
        run = out / f"seed-{seed}"
        for name in ("config.toml", "episodes.csv", "train.csv", "model.safetensors",
                     "summary.json"):
            assert (run / name).is_file(), f"{run}/{name}"
        assert not (run / "checkpoint").exists() or not any((run / "checkpoint").iterdir()), \
            "a finished run on a Python env keeps no checkpoint"
        summary = json.loads((run / "summary.json").read_text())
        assert summary["env"] == "ALE/Pong-v5" and summary["env_steps"] == 300
    assert (out / "summary.json").is_file(), "the seeds' aggregate"
    # Rerunning skips what is finished.
    again = run_module(*common)
    assert again.stdout.count("finished already") == 2
    # The Rust command reads the runs it cannot train.
    subprocess.run([str(deepq_bin), "plot", "--run", str(out / "seed-0")], check=True,
                   capture_output=True)
    evaluated = run_module("eval", "--run", str(out / "seed-0"), "--episodes", "1")
    assert "1 episodes, mean return" in evaluated.stdout
    played = run_module("play", "--run", str(out / "seed-0"), "--out", str(tmp_path / "pong.gif"),
                        "--max-steps", "40")
    assert "ALE/Pong-v5: episode ended after 40 steps" in played.stdout
    assert "(41 frames)" in played.stdout
    assert (tmp_path / "pong.gif").read_bytes()[:6] == b"GIF89a"
    bad = run_module("train", "--env", "ALE/Pongg-v5", "--out", str(tmp_path / "x"),
                     check=False)
    assert bad.returncode == 2 and "unknown Atari game" in bad.stderr
    assert not (tmp_path / "x").exists()


def test_python_m_deepq_resumes_a_killed_atari_run_from_its_last_checkpoint(tmp_path):
    """A run killed mid-way goes on from its last checkpoint when the command is rerun, on
    fresh games (no checkpoint holds ale-py's env); resuming the same checkpoint twice gives
    the same run."""
    pytest.importorskip("ale_py")
    import shutil
    import signal
    import subprocess
    import sys
    import time

    common = ["train", "--preset", "atari100k-drq", "--env", "ALE/Pong-v5", "--num-envs", "2",
              "--set", "learning_starts=100", "--set", "batch_size=4",
              "--set", "checkpoint_freq=200", "--set", "final_eval_episodes=1",
              "--set", "eval_max_episode_steps=200", "--quiet"]
    run = tmp_path / "pong"
    # A budget it never reaches: the run is killed once its first checkpoint is written.
    training = subprocess.Popen([sys.executable, "-m", "deepq", *common, "--out", str(run),
                                 "--total-timesteps", "100000"])
    checkpoint = run / "checkpoint" / "trainer.ckpt"
    deadline = time.monotonic() + 300
    while not checkpoint.exists() and training.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    training.send_signal(signal.SIGKILL)
    training.wait()
    assert checkpoint.is_file() and not (run / "summary.json").exists()

    twice = tmp_path / "twice"
    shutil.copytree(run, twice)
    # Resumed on other copies or another game, it is refused in one line.
    for other, needle in ((["--num-envs", "1"], "it trained on 2 copies of its env"),
                          (["--env", "ALE/Boxing-v5"], "is of a run on ALE/Pong-v5")):
        flags = [*common, "--out", str(twice), "--total-timesteps", "400"]
        flags[flags.index(other[0]) + 1] = other[1]
        refused = run_module(*flags, check=False)
        assert refused.returncode != 0 and needle in refused.stderr, refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    for out in (run, twice):
        resumed = run_module(*common, "--out", str(out), "--total-timesteps", "400")
        assert "resuming from its last checkpoint" in resumed.stdout
        summary = json.loads((out / "summary.json").read_text())
        assert summary["env_steps"] == 400 and summary["updates"] > 0
    for name in ("model.safetensors", "train.csv"):
        assert (run / name).read_bytes() == (twice / name).read_bytes(), name
    assert not checkpoint.exists(), "removed once the run has finished"
    steps = [int(line.split(",")[0]) for line in (run / "train.csv").read_text().splitlines()[1:]]
    assert steps == sorted(set(steps)), "no rows logged twice"

    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    (unfinished / "config.toml").write_text("")
    refused = run_module(*common, "--out", str(unfinished), check=False)
    assert refused.returncode == 1 and "stopped before its first checkpoint" in refused.stderr


def test_the_atari_qrdqn_preset_trains_on_its_own_env():
    pytest.importorskip("ale_py")
    model = deepq.QRDQN.from_preset("atari-qrdqn", learning_starts=100, buffer_size=1_000,
                                    n_quantiles=8, final_eval_episodes=1, precision="bf16")
    model.learn(300)
    summary = model.train_summary
    assert summary["env"] == "PongNoFrameskip-v4" and summary["updates"] > 0


def test_python_m_deepq_atari100k_trains_games_by_seeds_and_scores_them(tmp_path):
    pytest.importorskip("ale_py")
    pytest.importorskip("rliable")
    import subprocess
    import sys

    def atari100k(*args):
        return subprocess.run([sys.executable, "-m", "deepq.atari100k", *args],
                              capture_output=True, text=True)

    out = tmp_path / "a100k"
    common = ["--games", "Pong,Boxing", "--seeds", "0..2", "--jobs", "2", "--out", str(out),
              "--set", "total_timesteps=200", "--set", "learning_starts=150",
              "--set", "final_eval_episodes=1", "--set", "eval_max_episode_steps=300",
              "--reps", "500"]
    done = atari100k(*common)
    assert done.returncode == 0, done.stderr
    scores = json.loads((out / "scores.json").read_text())
    assert scores["seeds_on_every_game"] == [0, 1]
    pong = scores["per_game"]["Pong"]
    for seed in ("0", "1"):
        summary = json.loads((out / "Pong" / f"seed-{seed}" / "summary.json").read_text())
        assert summary["env"] == "ALE/Pong-v5" and summary["env_steps"] == 200
        assert pong["scores"][seed] == summary["eval_mean"]
        assert pong["training_wall_s"][seed] == summary["wall_s"]
    assert pong["published"] == -9.1 and scores["published_source"].startswith("DrQ(ε)")
    mean = (pong["scores"]["0"] + pong["scores"]["1"]) / 2
    assert pong["human_normalized"] == pytest.approx((mean + 20.7) / (14.6 + 20.7))
    aggregates = scores["aggregates"]
    for name in ("mean", "median", "iqm", "optimality_gap"):
        low, high = aggregates[name]["ci95"]
        assert low <= aggregates[name]["point"] <= high, name
    matrix = [[(scores["per_game"][g]["scores"][s] - scores["per_game"][g]["random"])
               / (scores["per_game"][g]["human"] - scores["per_game"][g]["random"])
               for g in ("Pong", "Boxing")] for s in ("0", "1")]
    assert aggregates["mean"]["point"] == pytest.approx(sum(map(sum, matrix)) / 4)
    assert (out / "performance_profile.png").read_bytes()[:4] == b"\x89PNG"
    again = atari100k(*common)
    assert again.stdout.count("finished already") == 4
    assert json.loads((out / "scores.json").read_text()) == scores, "a seeded bootstrap"
    bad = atari100k("--games", "Pong,Pacman", "--out", str(tmp_path / "bad"))
    assert bad.returncode == 2 and bad.stderr.startswith("error: invalid game 'Pacman'")
    assert len(bad.stderr.strip().splitlines()) == 1 and not (tmp_path / "bad").exists()


def test_python_m_deepq_atari100k_runs_games_on_a_ray_cluster(ray_cluster, tmp_path):
    """Two games on the two-node cluster of conftest, one run per node: the same runs as on
    this machine, bit for bit; a rerun sends nothing; an unreachable address is one line."""
    pytest.importorskip("ale_py")
    import subprocess
    import sys

    from conftest import free_port

    address, env = ray_cluster

    def atari100k(*args):
        return subprocess.run([sys.executable, "-m", "deepq.atari100k", *args], env=env,
                              capture_output=True, text=True, timeout=600)

    budget = ["--games", "Pong,Boxing", "--seeds", "0", "--set", "total_timesteps=200",
              "--set", "learning_starts=150", "--set", "final_eval_episodes=1",
              "--set", "eval_max_episode_steps=300", "--reps", "200"]
    out = tmp_path / "cluster"
    done = atari100k(*budget, "--address", address, "--out", str(out))
    assert done.returncode == 0, done.stderr
    ran = [line for line in done.stdout.splitlines() if ": finished on node " in line]
    assert len(ran) == 2, done.stdout
    assert len({line.rsplit("(", 1)[1] for line in ran}) == 2, "one run on each node"
    scores = json.loads((out / "scores.json").read_text())
    assert scores["seeds_on_every_game"] == [0]

    here = atari100k(*budget, "--jobs", "2", "--out", str(tmp_path / "here"))
    assert here.returncode == 0, here.stderr
    for game in ("Pong", "Boxing"):
        for name in ("model.safetensors", "episodes.csv"):
            cluster_file = out / game / "seed-0" / name
            assert cluster_file.read_bytes() == (tmp_path / "here" / game / "seed-0" /
                                                 name).read_bytes(), cluster_file

    again = atari100k(*budget, "--address", address, "--out", str(out))
    assert again.returncode == 0 and again.stdout.count("finished already") == 2
    assert "on node" not in again.stdout

    port = free_port()
    bad = atari100k(*budget, "--address", f"127.0.0.1:{port}", "--out", str(tmp_path / "bad"))
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert bad.stderr.startswith(f"error: cannot reach the Ray cluster at '127.0.0.1:{port}'")
    assert not (tmp_path / "bad").exists()
