"""Saved models are SB3-named archives of the `deepq` command's run-directory files, or run
directories: Python reads what `deepq train` writes, and `deepq eval --run` reads what Python
saves, either way."""

import json
import zipfile

import gymnasium as gym
import numpy as np
import pytest

import deepq
from conftest import given_env, run_cli

OBS = np.array([[0.01, 0.2, -0.03, 0.1], [0.0, -0.5, 0.05, -0.2], [0.1, 0.3, 0.02, -0.4]],
               dtype=np.float32)


@pytest.fixture(scope="module")
def solved_builtin():
    """A model trained on the built-in CartPole to a solve."""
    return deepq.DQN.from_preset("default", seed=0).learn()


def test_save_writes_a_run_directory_and_load_restores_the_model(tmp_path, solved_builtin):
    path = tmp_path / "run"
    solved_builtin.save(f"{path}/")  # a path ending with a separator is a run directory
    assert sorted(p.name for p in path.iterdir()) == ["config.toml", "model.safetensors"]
    text = (path / "config.toml").read_text()
    assert text.startswith("# preset: default\n# verbose: 0\n")
    loaded = deepq.DQN.load(path)
    assert loaded.config == solved_builtin.config
    assert loaded.preset == "default"
    np.testing.assert_array_equal(loaded.q_values(OBS), solved_builtin.q_values(OBS))
    assert loaded.exploration_rate == pytest.approx(0.02)
    solved_builtin.save(str(path))  # saving over a run directory replaces its files
    assert sorted(p.name for p in path.iterdir()) == ["config.toml", "model.safetensors"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_save_names_files_as_sb3_does(tmp_path, solved_builtin):
    solved_builtin.save(tmp_path / "dqn_cartpole")  # SB3 appends .zip
    solved_builtin.save(tmp_path / "q_net.pkl")  # and keeps another suffix
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dqn_cartpole.zip", "q_net.pkl"]
    for path in (tmp_path / "dqn_cartpole", tmp_path / "dqn_cartpole.zip", tmp_path / "q_net.pkl"):
        loaded = deepq.DQN.load(path)
        np.testing.assert_array_equal(loaded.q_values(OBS), solved_builtin.q_values(OBS))
    first = (tmp_path / "dqn_cartpole.zip").read_bytes()
    solved_builtin.save(tmp_path / "dqn_cartpole")
    assert (tmp_path / "dqn_cartpole.zip").read_bytes() == first, "same model, same bytes"


def test_save_exclude_include_and_load_custom_objects(tmp_path, capsys):
    model = deepq.DQN("MlpPolicy", "CartPole-v1", seed=1, verbose=2, policy_kwargs=dict(net_arch=[8]))
    model.save(tmp_path / "m", exclude=["verbose", "env", "replay_buffer"])
    assert deepq.DQN.load(tmp_path / "m").verbose == 0
    model.save(tmp_path / "m", exclude=["verbose"], include=["verbose"])
    loaded = deepq.DQN.load(tmp_path / "m", custom_objects=dict(learning_rate=2e-5, dummy=1.0),
                            print_system_info=True)
    assert loaded.verbose == 2 and loaded.learning_rate == 2e-5
    assert not hasattr(loaded, "dummy")
    assert "deepq: " in capsys.readouterr().out
    with pytest.raises(ValueError, match="cannot exclude 'gamma': deepq saves the whole config"):
        model.save(tmp_path / "m", exclude=["gamma"])


def test_untrained_models_save_and_load(tmp_path):
    model = deepq.DQN("MlpPolicy", "Acrobot-v1", seed=4, policy_kwargs=dict(net_arch=[8]))
    model.save(tmp_path / "m")
    loaded = deepq.DQN.load(tmp_path / "m")
    obs = np.ones(6, dtype=np.float32)
    np.testing.assert_array_equal(loaded.q_values(obs), model.q_values(obs))
    assert loaded.config["net_arch"] == [8]


def test_load_reads_a_run_written_by_deepq_train(tmp_path, deepq_bin):
    run = tmp_path / "cli-run"
    run_cli(deepq_bin, "train", "--preset", "default", "--seed", "0", "--out", str(run), "--quiet")
    model = deepq.DQN.load(run)
    assert model.preset == "default"
    assert model.config["env"] == "CartPole-v1"
    mean, _ = deepq.evaluate_policy(model, "CartPole-v1", n_eval_episodes=20)
    assert mean >= 475
    cli = json.loads(run_cli(deepq_bin, "eval", "--run", str(run), "--episodes", "20", "--json").stdout)
    ours, _ = deepq.evaluate_policy(model, "CartPole-v1", n_eval_episodes=20, seed=0)
    assert ours == pytest.approx(cli["mean"]), "same network, env and seed: same returns"


def test_deepq_eval_reads_a_python_saved_model(tmp_path, deepq_bin, solved_builtin):
    path = tmp_path / "py-run"
    solved_builtin.save(path)
    out = json.loads(run_cli(deepq_bin, "eval", "--run", str(path), "--episodes", "20", "--json").stdout)
    assert out["env"] == "CartPole-v1" and out["mean"] >= 475
    ours, _ = deepq.evaluate_policy(solved_builtin, "CartPole-v1", n_eval_episodes=20, seed=0)
    assert ours == pytest.approx(out["mean"])


def test_a_model_trained_on_gymnasium_is_evaluated_by_the_cli(tmp_path, deepq_bin):
    env = gym.make("CartPole-v1", max_episode_steps=200)
    model = deepq.DQN.from_preset("default", env, seed=0, total_timesteps=3000)
    model.learn()
    path = tmp_path / "gym-run"
    model.save(path)  # gym-run.zip, which the CLI finds as SB3's load does
    with zipfile.ZipFile(tmp_path / "gym-run.zip") as archive:
        text = archive.read("config.toml").decode()
    assert "# observation_space: Box(4,)" in text
    assert model.config["env_kwargs"] == {"max_episode_steps": 200}
    out = json.loads(run_cli(deepq_bin, "eval", "--run", str(path), "--episodes", "3", "--json").stdout)
    assert out["env"] == "CartPole-v1" and max(out["returns"]) <= 200, "the step limit is kept"
    loaded = deepq.DQN.load(path, env=env)
    assert given_env(loaded) is env
    np.testing.assert_array_equal(loaded.q_values(OBS), model.q_values(OBS))


def test_a_model_of_an_unregistered_env_loads_with_its_spaces(tmp_path):
    class Grid(gym.Env):
        observation_space = gym.spaces.Discrete(6, start=2)
        action_space = gym.spaces.Discrete(3, start=1)

        def reset(self, seed=None, options=None):
            return 2, {}

        def step(self, action):
            return 3, 0.0, True, False, {}

    model = deepq.DQN("MlpPolicy", Grid(), seed=0)
    model.save(tmp_path / "grid")
    loaded = deepq.DQN.load(tmp_path / "grid")
    assert loaded.config["env"] == "Grid" and loaded.get_env() is None
    action, _ = loaded.predict(7, deterministic=True)
    assert int(action) in (1, 2, 3)
    np.testing.assert_array_equal(loaded.q_values(4), model.q_values(4))
    with pytest.raises(ValueError, match="no environment"):
        loaded.learn(100)


def test_load_with_a_mismatched_env_is_refused(tmp_path, solved_builtin):
    solved_builtin.save(tmp_path / "m")
    with pytest.raises(ValueError, match=r"has layer sizes \[4, 32, 32, 2\], but Acrobot-v1 needs 6"):
        deepq.DQN.load(tmp_path / "m", env="Acrobot-v1")


def test_load_errors_name_the_problem(tmp_path, solved_builtin):
    with pytest.raises(FileNotFoundError, match="run directory '.*missing' does not exist"):
        deepq.DQN.load(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"is not a deepq run directory \(no config.toml\)"):
        deepq.DQN.load(tmp_path / "empty")
    path = tmp_path / "run"
    solved_builtin.save(f"{path}/")
    (path / "model.safetensors").write_bytes(b"not a model")
    with pytest.raises(RuntimeError, match="cannot load model '.*model.safetensors': "):
        deepq.DQN.load(path)
    (path / "config.toml").write_text("gama = 0.9\n")
    with pytest.raises(RuntimeError, match="is not a valid run config: .*did you mean 'gamma'"):
        deepq.DQN.load(path)
    (path / "model.safetensors").unlink()
    (path / "config.toml").write_text("gamma = 0.9\n")
    with pytest.raises(FileNotFoundError, match="cannot read '.*model.safetensors'"):
        deepq.DQN.load(path)


def test_save_errors_are_os_errors(tmp_path, solved_builtin):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OSError, match="cannot create '.*file'"):
        solved_builtin.save(blocker / "run")
    with pytest.raises(OSError, match="cannot create run directory"):
        solved_builtin.save(f"{blocker}/run/")


def test_load_reads_a_pqn_run_with_layer_norm(tmp_path, deepq_bin):
    """A PQN model (LayerNorm after each hidden layer) trained by `deepq train` loads and acts
    as the command's own evaluation does."""
    run = tmp_path / "pqn-run"
    run_cli(deepq_bin, "train", "--preset", "pqn-cartpole", "--total-timesteps", "8192",
            "--set", "net_arch=[32, 32]", "--seed", "1", "--out", str(run), "--quiet")
    model = deepq.DQN.load(run)
    assert model.config["algorithm"] == "pqn"
    assert model.config["layer_norm"] is True
    cli = json.loads(run_cli(deepq_bin, "eval", "--run", str(run), "--episodes", "5", "--json").stdout)
    ours, _ = deepq.evaluate_policy(model, "CartPole-v1", n_eval_episodes=5, seed=0)
    assert ours == pytest.approx(cli["mean"]), "same network, env and seed: same returns"


def test_zip_paths_save_one_archive_that_load_and_set_parameters_read(tmp_path):
    model = deepq.DQN("MlpPolicy", "CartPole-v1", seed=3, policy_kwargs=dict(net_arch=[8]))
    model.save(tmp_path / "dqn_cartpole.zip")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dqn_cartpole.zip"]  # no leftovers
    with zipfile.ZipFile(tmp_path / "dqn_cartpole.zip") as archive:
        assert sorted(archive.namelist()) == ["config.toml", "model.safetensors"]
    for path in (tmp_path / "dqn_cartpole.zip", str(tmp_path / "dqn_cartpole")):  # SB3's naming
        loaded = deepq.DQN.load(path)
        np.testing.assert_array_equal(loaded.q_values(OBS), model.q_values(OBS))
        assert loaded.config == model.config
    other = deepq.DQN("MlpPolicy", "CartPole-v1", seed=4, policy_kwargs=dict(net_arch=[8]))
    other.set_parameters(tmp_path / "dqn_cartpole.zip")
    np.testing.assert_array_equal(other.q_values(OBS), model.q_values(OBS))


def test_foreign_and_damaged_zips_are_one_line_errors(tmp_path):
    sb3 = tmp_path / "sb3.zip"
    with zipfile.ZipFile(sb3, "w") as archive:
        archive.writestr("data", "{}")
        archive.writestr("policy.pth", b"\x80")
    with pytest.raises(ValueError, match="is a Stable-Baselines3 model"):
        deepq.DQN.load(sb3)
    other = tmp_path / "other.zip"
    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("config.toml", "")
    with pytest.raises(ValueError, match="lacks model.safetensors"):
        deepq.DQN.load(other)
    damaged = tmp_path / "damaged.zip"
    damaged.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(RuntimeError, match="cannot read"):
        deepq.DQN.load(damaged)


def test_python_m_deepq_play_writes_a_gif_of_a_greedy_episode(tmp_path):
    import subprocess
    import sys

    model = deepq.DQN("MlpPolicy", "CartPole-v1", seed=0, learning_starts=50)
    model.learn(300)
    model.save(tmp_path / "run")

    def play(*args):
        return subprocess.run([sys.executable, "-m", "deepq", "play", "--run",
                               str(tmp_path / "run"), *args], capture_output=True, text=True)

    done = play("--out", str(tmp_path / "cartpole.gif"), "--seed", "3")
    assert done.returncode == 0, done.stderr
    steps = int(done.stdout.split("episode ended after ")[1].split(" steps")[0])
    assert f"({steps + 1} frames)" in done.stdout
    assert (tmp_path / "cartpole.gif").read_bytes()[:6] == b"GIF89a"
    _, lengths = deepq.evaluate_policy(model, "CartPole-v1", n_eval_episodes=1, seed=3,
                                       return_episode_rewards=True)
    assert lengths == [steps], "the greedy episode evaluate_policy plays from the same seed"
    bad = play("--out", str(tmp_path / "x.gif"), "--fps", "0")
    assert bad.returncode == 2
    assert bad.stderr.strip() == "error: invalid value 0 for 'fps': must be at least 1"
    assert not (tmp_path / "x.gif").exists()
