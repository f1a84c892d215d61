"""`deepq train --tensorboard` writes event files that TensorBoard itself reads: the
``tensorboard`` package's loader (which checks both CRCs of every record) finds the scalars of
the run's CSV logs, under the documented tags, at the same steps, with the same values."""

import csv
import time

import numpy as np
import pytest

from conftest import run_cli

pytest.importorskip("tensorboard")
# Imported only once the package is known to be there, so that a broken install fails
# rather than skips.
from tensorboard.backend.event_processing import event_accumulator

# What `deepq train` logs to TensorBoard: each tag's CSV file and column.
FROM_CSV = {
    "episode/return": ("episodes.csv", "return"),
    "episode/length": ("episodes.csv", "length"),
    "episode/epsilon": ("episodes.csv", "epsilon"),
    "train/loss": ("train.csv", "loss"),
    "train/mean_q": ("train.csv", "mean_q"),
    "eval/mean": ("eval.csv", "mean"),
}
STEPS_PER_S = "time/steps_per_s"
TOTAL_STEPS = 3000


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def tensorboard_run(tmp_path_factory, deepq_bin):
    """A short CartPole run with ``--tensorboard``: its directory, the scalars TensorBoard
    loads from it, and the wall-clock interval it ran in."""
    run = tmp_path_factory.mktemp("tb") / "run"
    started = time.time()
    run_cli(deepq_bin, "train", "--preset", "default", "--seed", "0", "--total-timesteps",
            str(TOTAL_STEPS), "--set", "stop_on_solve=false", "--set", "log_interval=50",
            "--out", str(run), "--quiet", "--tensorboard")
    finished = time.time()
    # Size guidance 0 keeps every event rather than a reservoir sample of each tag.
    acc = event_accumulator.EventAccumulator(
        str(run / "tensorboard"), size_guidance={event_accumulator.SCALARS: 0})
    acc.Reload()
    return run, acc, (started, finished)


def test_tensorboard_finds_the_documented_scalar_tags(tensorboard_run):
    _, acc, _ = tensorboard_run
    assert sorted(acc.Tags()["scalars"]) == sorted([*FROM_CSV, STEPS_PER_S])


@pytest.mark.parametrize("tag", sorted(FROM_CSV))
def test_scalars_match_the_csv_logs_step_for_step(tensorboard_run, tag):
    run, acc, _ = tensorboard_run
    file, column = FROM_CSV[tag]
    rows = read_csv(run / file)
    events = acc.Scalars(tag)
    assert len(rows) > 1, f"{file} should have several rows"
    assert [e.step for e in events] == [int(r["step"]) for r in rows]
    # TensorBoard keeps float32 scalars: the CSV's values, rounded to float32, exactly.
    np.testing.assert_array_equal(
        np.array([e.value for e in events], dtype=np.float32),
        np.array([float(r[column]) for r in rows], dtype=np.float32),
        err_msg=tag)


def test_speed_is_logged_every_500_steps_once_per_step(tensorboard_run):
    _, acc, _ = tensorboard_run
    events = acc.Scalars(STEPS_PER_S)
    assert [e.step for e in events] == list(range(500, TOTAL_STEPS + 1, 500))
    assert all(e.value > 0 for e in events)


def test_wall_times_are_seconds_since_the_epoch_during_the_run(tensorboard_run):
    _, acc, (started, finished) = tensorboard_run
    for tag in acc.Tags()["scalars"]:
        times = [e.wall_time for e in acc.Scalars(tag)]
        assert times == sorted(times), tag
        assert started - 1 <= times[0] and times[-1] <= finished + 1, tag
