"""deepq.tune: search spaces, bad input, and a real sweep on a two-node Ray cluster started
on this machine, with its driver killed mid-sweep and resumed."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import deepq
from deepq import _native
from deepq.tune import SpaceError, parse_space, parse_table

from conftest import free_port, run_cli

#: A short CartPole budget: 4 evaluation rounds per trial.
SHORT = ["--set", "total_timesteps=4000", "--set", "learning_starts=500",
         "--set", "eval_freq=1000", "--set", "eval_episodes=5",
         "--set", "final_eval_episodes=10"]

SPACE = """\
learning_rate = { log_uniform = [3e-4, 3e-3] }
gamma = { uniform = [0.95, 0.995] }
learning_starts = { int_uniform = [300, 800] }
net_arch = { choice = [[32, 32], [64, 64]] }
"""


def tune_cmd(*args):
    return [sys.executable, "-m", "deepq.tune", *args]


# --- search spaces --------------------------------------------------------------------------

def test_spaces_parse_every_distribution_to_config_values():
    space = parse_space(SPACE + 'loss = { choice = ["mse", "huber"] }\n', _native.Config("default"))
    assert space.keys == ["learning_rate", "gamma", "learning_starts", "net_arch", "loss"]
    kinds = {p.key: p.kind for p in space.params}
    assert kinds["learning_starts"] == "int_uniform" and kinds["net_arch"] == "choice"
    sampled = {"learning_rate": 1e-3, "gamma": 0.97, "learning_starts": 512.0,
               "net_arch": "[64, 64]", "loss": '"huber"'}
    values = space.values(sampled)
    assert values == {"learning_rate": 1e-3, "gamma": 0.97, "learning_starts": 512,
                      "net_arch": [64, 64], "loss": "huber"}
    cfg = _native.Config("default")
    cfg.update(values)
    cfg.validate()
    assert cfg.get("net_arch") == [64, 64] and cfg.get("loss") == "huber"


def test_spaces_given_as_dicts_take_table_options():
    space = parse_table({"env_kwargs": {"choice": [{}, {"max_episode_steps": 200}]},
                         "tau": {"log_uniform": [0.001, 0.1]}}, _native.Config("default"))
    option = space.params[0].options()[1]
    assert space.values({"env_kwargs": option, "tau": 0.01}) == {
        "env_kwargs": {"max_episode_steps": 200}, "tau": 0.01}
    with pytest.raises(SpaceError, match="env_kwargs"):
        parse_table({"env_kwargs": {"choice": [3]}}, _native.Config("default"))


@pytest.mark.parametrize("text, needles", [
    ("lerning_rate = { uniform = [0.1, 0.2] }", ["lerning_rate", "did you mean 'learning_rate'"]),
    ("gamma = { uniform = [0.99, 0.9] }", ["'gamma'", "low < high", "[0.99, 0.9]"]),
    ("gamma = { uniform = [0.9, 1.5] }", ["'gamma'", "1.5"]),
    ("learning_rate = { log_uniform = [0, 0.1] }", ["'learning_rate'", "0 < low"]),
    ("batch_size = { int_uniform = [16.5, 64] }", ["'batch_size'", "integers"]),
    ("batch_size = { choice = [32, 0] }", ["'batch_size'", "choice 0"]),
    ("gamma = { normal = [0.9, 0.1] }", ["unknown distribution 'normal'", "log_uniform"]),
    ("gamma = 0.9", ["'gamma' must be a table"]),
    ("gamma = { uniform = [0.9, 0.99], choice = [0.9] }", ["'gamma' must be a table"]),
    ("seed = { int_uniform = [0, 9] }", ["'seed' cannot be searched"]),
    ("", ["names no hyperparameters"]),
    ("gamma = {", ["not valid TOML"]),
])
def test_bad_spaces_are_one_line_errors(text, needles):
    with pytest.raises(SpaceError) as e:
        parse_space(text, _native.Config("default"))
    message = str(e.value)
    assert "\n" not in message
    for needle in needles:
        assert needle in message, message


def test_native_runs_are_the_commands_run_directories(tmp_path, deepq_bin):
    """The package trains into the run directories `deepq train` writes (the library's code),
    and aggregates them as `deepq aggregate` does, byte for byte."""
    cfg = deepq.tune.base_config("default", sets=[s for s in SHORT if s != "--set"])
    evals = []
    dirs = []
    for seed in (0, 1):
        cfg.update({"seed": seed})
        dirs.append(tmp_path / f"seed-{seed}")
        summary = json.loads(_native.train_run(
            cfg, str(dirs[-1]), "default",
            lambda kind, info: evals.append(info["step"]) if kind == "eval" else None))
        assert summary["seed"] == seed and summary["preset"] == "default"
    assert evals == [1000, 2000, 3000, 4000] * 2
    for name in ("config.toml", "episodes.csv", "train.csv", "eval.csv", "summary.json",
                 "model.safetensors", "checkpoint/trainer.ckpt", "plots/returns.png",
                 "plots/eval.png"):
        assert (dirs[0] / name).is_file(), name
    assert (dirs[0] / "config.toml").read_text().startswith("# preset: default\n")
    run_cli(deepq_bin, "train", "--preset", "default", *SHORT, "--seed", "0", "--quiet",
            "--out", str(tmp_path / "cli"))
    assert ((tmp_path / "cli" / "eval.csv").read_text()
            == (dirs[0] / "eval.csv").read_text())
    _native.aggregate([str(d) for d in reversed(dirs)], str(tmp_path / "py"))
    run_cli(deepq_bin, "aggregate", *map(str, dirs), "--out", str(tmp_path / "agg"))
    assert ((tmp_path / "py" / "summary.json").read_bytes()
            == (tmp_path / "agg" / "summary.json").read_bytes())
    with pytest.raises(ValueError, match="both were trained with seed 0"):
        _native.aggregate([str(dirs[0]), str(dirs[0])], str(tmp_path / "twice"))


def test_importing_deepq_and_deepq_tune_needs_no_ray():
    code = ("import sys, deepq, deepq.tune; "
            "assert 'ray' not in sys.modules and 'optuna' not in sys.modules, sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True)


# --- bad input on the command line -----------------------------------------------------------

@pytest.mark.parametrize("args, needles", [
    (["--seeds", "0"], ["'seeds'", "at least 1"]),
    (["--trials", "0"], ["'trials'", "at least 1"]),
    (["--space", "NOSPACE"], ["cannot read search space", "missing.toml", "No such file"]),
    (["--config", "NOCONFIG"], ["cannot read config", "missing.toml"]),
    (["--space", "BADKEY"], ["unknown config key 'not_a_key'"]),
    (["--preset", "nope"], ["nope", "default"]),
    (["--address", "127.0.0.1:PORT"], ["cannot reach the Ray cluster", "127.0.0.1:"]),
    (["--set", "gamma=2"], ["gamma", "[0, 1]"]),
    (["--seeds", "two"], ["argument --seeds", "'two'"]),
    (["--trial-timeout", "0"], ["'trial_timeout'", "seconds > 0"]),
    (["--set", "eval_freq=0", "--set", "stop_on_solve=false"],
     ["cannot prune", "eval_freq = 0", "--no-prune"]),
])
def test_bad_input_is_one_line_and_a_nonzero_exit(tmp_path, args, needles):
    space = tmp_path / "space.toml"
    space.write_text(SPACE)
    (tmp_path / "bad.toml").write_text("not_a_key = { uniform = [0, 1] }\n")
    subst = {"NOSPACE": str(tmp_path / "missing.toml"), "NOCONFIG": str(tmp_path / "missing.toml"),
             "BADKEY": str(tmp_path / "bad.toml")}
    args = [subst.get(a, a).replace("PORT", str(free_port())) for a in args]
    if "--space" not in args:
        args = ["--space", str(space), *args]
    start = time.monotonic()
    done = subprocess.run(tune_cmd(*args, "--out", str(tmp_path / "sweep")),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert time.monotonic() - start < 30, "bad input is refused before Ray starts"
    assert not (tmp_path / "sweep").exists()


def test_a_sweep_directory_is_resumed_only_with_its_own_settings(tmp_path):
    space = tmp_path / "space.toml"
    space.write_text(SPACE)
    out = tmp_path / "sweep"
    out.mkdir()
    (out / "sweep.json").write_text(json.dumps({"base": "", "trials": 99}))
    with pytest.raises(deepq.tune.SweepError, match="holds a sweep with other settings"):
        deepq.tune.run(space, trials=2, seeds=1, out=out)


# --- a sweep on a real two-node cluster ------------------------------------------------------

def _finished_results(out: Path):
    return {p.parent.name: p.stat().st_mtime_ns for p in out.glob("trials/*/result.json")}


def test_sweep_on_two_nodes_resumes_after_a_lost_driver_and_reproduces(
        ray_cluster, tmp_path, deepq_bin):
    address, env = ray_cluster
    space = tmp_path / "space.toml"
    space.write_text(SPACE)
    out = tmp_path / "sweep"
    cmd = tune_cmd("--preset", "default", *SHORT, "--space", str(space), "--trials", "8",
                   "--seeds", "2", "--cpus-per-trial", "1", "--address", address,
                   "--out", str(out))

    # Kill the driver once some trials have finished.
    driver = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 240
    while len(_finished_results(out)) < 2 and driver.poll() is None:
        assert time.monotonic() < deadline, "no trial finished in time"
        time.sleep(0.1)
    assert driver.poll() is None, f"the sweep ended before it was killed: {driver.stderr.read()}"
    os.killpg(driver.pid, signal.SIGKILL)
    driver.wait()
    before = _finished_results(out)
    assert not (out / "trials.csv").exists()

    # The same command resumes the sweep and finishes it.
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "trials done" in done.stderr and "best IQM" in done.stderr
    after = _finished_results(out)
    for trial, mtime in before.items():
        assert after.get(trial) == mtime, f"trial {trial} was trained again"

    rows = list(csv.DictReader((out / "trials.csv").open()))
    assert len(rows) == 8
    assert [int(r["trial"]) for r in rows] == list(range(1, 9))
    assert set(rows[0]) >= {"trial_id", "learning_rate", "gamma", "learning_starts", "net_arch",
                            "iqm", "mean", "solve_rate", "wall_s", "node_id", "status", "error"}
    assert {r["status"] for r in rows} <= {"finished", "pruned"}, rows
    assert set(before) <= {r["trial_id"] for r in rows if r["status"] == "finished"}
    assert len({r["node_id"] for r in rows}) == 2, "trials ran on both nodes"
    finished = [r for r in rows if r["status"] == "finished"]
    for r in finished:
        assert r["iqm"] and r["mean"] and r["solve_rate"] and float(r["wall_s"]) > 0
        assert 0.0003 <= float(r["learning_rate"]) <= 0.003
        assert 300 <= int(r["learning_starts"]) <= 800
        assert json.loads(r["net_arch"]) in ([32, 32], [64, 64])
        trial_dir = out / "trials" / r["trial_id"]
        summary = json.loads((trial_dir / "summary.json").read_text())
        assert summary["eval_mean"]["iqm"] == float(r["iqm"])
        for seed in (0, 1):
            run = trial_dir / f"seed-{seed}"
            for name in ("config.toml", "episodes.csv", "train.csv", "eval.csv",
                         "summary.json", "model.safetensors", "plots/returns.png"):
                assert (run / name).is_file(), run / name
    # A trial's run directories are the usual ones: `deepq eval` and `deepq plot` read them.
    run = out / "trials" / finished[0]["trial_id"] / "seed-0"
    evaluated = json.loads(run_cli(deepq_bin, "eval", "--run", str(run), "--episodes", "2",
                                   "--json").stdout)
    assert evaluated["episodes"] == 2
    run_cli(deepq_bin, "plot", "--run", str(run))
    assert (out / "plots" / "objective.png").read_bytes().startswith(b"\x89PNG")

    # best.toml is a complete config that reproduces the best trial bit for bit.
    best = max(finished, key=lambda r: (float(r["iqm"]), -int(r["trial"])))
    text = (out / "best.toml").read_text()
    assert best["trial_id"] in text.splitlines()[0]
    cfg = _native.Config.from_toml(text)
    assert cfg.get("learning_rate") == float(best["learning_rate"])
    assert cfg.get("net_arch") == json.loads(best["net_arch"])
    run_cli(deepq_bin, "train", "--config", str(out / "best.toml"), "--seeds", "0..2",
            "--quiet", "--out", str(tmp_path / "again"))
    again = json.loads((tmp_path / "again" / "summary.json").read_text())
    assert again["eval_mean"]["iqm"] == float(best["iqm"])
    assert again["solve_rate"] == float(best["solve_rate"])


def test_a_failed_trial_is_recorded_and_the_sweep_goes_on(tmp_path):
    """A learning rate of 1e30 passes the space's checks but diverges in training: those
    trials fail with the one-line reason, the others finish. Runs on a local Ray instance;
    TPE with a fixed seed on one CPU (one trial at a time) samples both values."""
    space = tmp_path / "space.toml"
    space.write_text("learning_rate = { choice = [1e-3, 1e30] }\n")
    result = deepq.tune.run(space, preset="default", sets=[s for s in SHORT if s != "--set"],
                            trials=4, seeds=1, out=tmp_path / "sweep", num_cpus=1,
                            prune=False, progress=False)
    statuses = {(r["learning_rate"], r["status"]) for r in result.trials}
    assert statuses == {("0.001", "finished"), ("1e+30", "failed")}, result.trials
    failed = next(r for r in result.trials if r["status"] == "failed")
    assert failed["error"].startswith("RuntimeError: training diverged at step ")
    assert "\n" not in failed["error"] and failed["node_id"]
    assert result.complete and result.best["learning_rate"] == "0.001"
    assert result.best_config.get("learning_rate") == 1e-3
    rows = list(csv.DictReader((tmp_path / "sweep" / "trials.csv").open()))
    assert [r["status"] for r in rows] == [r["status"] for r in result.trials]


def test_a_trial_past_its_timeout_is_stopped_and_recorded_and_the_sweep_goes_on(tmp_path):
    """A 100M-step trial would run for many minutes: with trial_timeout it is stopped, recorded
    as failed with the reason, and the short trials finish."""
    space = tmp_path / "space.toml"
    space.write_text("total_timesteps = { choice = [4000, 100000000] }\n")
    start = time.monotonic()
    # stop_on_solve off: the default preset would otherwise solve and stop well inside 15 s.
    sets = [s for s in SHORT if s != "--set"] + ["stop_on_solve=false"]
    result = deepq.tune.run(space, preset="default", sets=sets,
                            trials=4, seeds=1, out=tmp_path / "sweep", num_cpus=1,
                            prune=False, progress=False, trial_timeout=15)
    statuses = {(r["total_timesteps"], r["status"]) for r in result.trials}
    assert statuses == {("4000", "finished"), ("100000000", "failed")}, result.trials
    failed = next(r for r in result.trials if r["status"] == "failed")
    assert failed["error"] == ("TrialTimeout: the trial was still running after "
                               "--trial-timeout 15 s, and was stopped")
    assert result.complete and result.best["total_timesteps"] == "4000"
    timed_out = sum(r["status"] == "failed" for r in result.trials)
    assert time.monotonic() - start < 60 + 20 * timed_out
