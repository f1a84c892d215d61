"""One trial of a sweep, run by Ray Tune on some node of the cluster: the trial's config
trained on every seed, the seeds in threads (training releases the GIL, so they run in
parallel on the cores Ray gave the trial), each into a run directory in the usual layout.
Periodic evaluations, averaged over the seeds, are reported to Ray for early stopping; the
last report carries the objective, the IQM of the seeds' final greedy evaluations.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

from deepq import _native

#: A finished trial's metrics, in its directory: a trial restarted after the driver was lost
#: reports them again instead of training again.
RESULT_FILE = "result.json"
#: A failed trial's error (one line), node and wall time, in its directory.
FAILURE_FILE = "failure.json"


@dataclass(frozen=True)
class Setup:
    """What every trial of a sweep shares."""

    base_toml: str
    preset: str
    seeds: tuple
    trials_dir: str
    space: Any
    #: Seconds a trial may run before it is stopped and recorded as failed; None: no limit.
    trial_timeout: Optional[float] = None


def write_atomic(path: Path, text: str) -> None:
    """Writes `text` to `path` through a temporary file in the same folder and a rename."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, 0o644)  # as deepq's own files; mkstemp makes them private
    os.replace(tmp, path)


def one_line(error: BaseException) -> str:
    """An exception as one line: its type and the first line of its message."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}".rstrip(": ")


class _Stopped(Exception):
    """Raised in a seed's progress report to end its training when the trial stops."""


class TrialTimeout(Exception):
    """A trial ran past the sweep's ``trial_timeout``."""


class _Seeds:
    """Trains the seeds in threads and turns their periodic evaluations into rounds: round r
    is complete when every seed has reported its r-th evaluation or finished (a finished
    seed counts with its last evaluation)."""

    def __init__(self, configs: Dict[int, Any], trial_dir: Path, preset: str,
                 timeout: Optional[float]):
        self.events: "queue.Queue" = queue.Queue()
        self.evals: Dict[int, List[float]] = {seed: [] for seed in configs}
        self.running = set(configs)
        self.errors: List[BaseException] = []
        self.dirs = [trial_dir / f"seed-{seed}" for seed in configs]
        self.threads = [
            threading.Thread(target=self._train, args=(seed, cfg, trial_dir, preset),
                             name=f"deepq-seed-{seed}", daemon=True)
            for seed, cfg in configs.items()
        ]
        self.reported = 0
        self.stopping = False
        self.timeout = timeout
        self.deadline = None if timeout is None else time.monotonic() + timeout

    def _train(self, seed: int, cfg: Any, trial_dir: Path, preset: str) -> None:
        def progress(kind: str, info: Dict[str, Any]) -> None:
            if self.stopping:
                raise _Stopped("the trial was stopped")
            if kind == "eval":
                self.events.put(("eval", seed, info["mean"]))

        try:
            _native.train_run(cfg, str(trial_dir / f"seed-{seed}"), preset, progress)
            self.events.put(("done", seed, None))
        except Exception as e:  # handed to the trial's thread
            self.events.put(("done", seed, e))

    def rounds(self):
        """Yields the mean evaluation of each complete round until every seed is done."""
        for t in self.threads:
            t.start()
        try:
            yield from self._collect()
        finally:
            # Early stopping ends the trial between two rounds, and a timeout at any time:
            # stop the seeds' training (at their next progress report, which deepq sends
            # during evaluations too).
            self.stopping = True
        for t in self.threads:
            t.join()
        if self.errors:
            raise self.errors[0]

    def _collect(self):
        while self.running:
            kind, seed, payload = self._next_event()
            if kind == "eval":
                self.evals[seed].append(payload)
            else:
                self.running.discard(seed)
                if payload is not None:
                    self.errors.append(payload)
            if self.errors:
                continue
            while self._complete(self.reported):
                yield self._round_mean(self.reported)
                self.reported += 1

    def _next_event(self):
        """The next event from the seeds; TrialTimeout once the deadline has passed."""
        if self.deadline is None:
            return self.events.get()
        try:
            return self.events.get(timeout=max(0.0, self.deadline - time.monotonic()))
        except queue.Empty:
            raise TrialTimeout(f"the trial was still running after --trial-timeout "
                               f"{self.timeout:g} s, and was stopped") from None

    def _complete(self, r: int) -> bool:
        started = any(len(v) > r for v in self.evals.values())
        return started and all(len(self.evals[s]) > r or s not in self.running
                               for s in self.evals)

    def _round_mean(self, r: int) -> float:
        values = [v[min(r, len(v) - 1)] for v in self.evals.values() if v]
        return sum(values) / len(values)


def _node() -> Dict[str, str]:
    import ray

    return {"node_ip": ray.util.get_node_ip_address(),
            "node_id": ray.get_runtime_context().get_node_id()}


def train_trial(params: Dict[str, Any], setup: Setup) -> None:
    """Ray Tune's function trainable: trains the trial's config on every seed into
    ``<trials_dir>/<trial id>/seed-<n>/`` and reports to Ray."""
    from ray import tune

    trial_id = tune.get_context().get_trial_id()
    trial_dir = Path(setup.trials_dir) / trial_id
    done = trial_dir / RESULT_FILE
    if done.is_file():
        # Finished before the driver was lost: the same trial id means the same config.
        tune.report(json.loads(done.read_text(encoding="utf-8")))
        return
    if trial_dir.exists():
        shutil.rmtree(trial_dir)  # a trial cut short with the driver: start it afresh
    trial_dir.mkdir(parents=True)
    node = _node()
    start = time.monotonic()
    try:
        metrics = _run(params, setup, trial_dir, node, tune.report)
    except Exception as e:  # a trial stopped by ASHA exits with SystemExit: not a failure
        failure = {"error": one_line(e), "wall_s": time.monotonic() - start, **node}
        write_atomic(trial_dir / FAILURE_FILE, json.dumps(failure, indent=2) + "\n")
        raise
    metrics["wall_s"] = time.monotonic() - start
    write_atomic(done, json.dumps(metrics, indent=2) + "\n")
    tune.report(metrics)


def _run(params: Dict[str, Any], setup: Setup, trial_dir: Path, node: Dict[str, str],
         report) -> Dict[str, Any]:
    values = setup.space.values(params)
    cfg = _native.Config.from_toml(setup.base_toml)
    cfg.update(values)
    cfg.validate()
    configs = {}
    for seed in setup.seeds:
        seeded = cfg.copy()
        seeded.update({"seed": seed})
        configs[seed] = seeded
    seeds = _Seeds(configs, trial_dir, setup.preset, setup.trial_timeout)
    last: Optional[float] = None
    for mean in seeds.rounds():
        last = mean
        report({"eval_mean": mean, **node})
    summary = json.loads(_native.aggregate([str(d) for d in seeds.dirs], str(trial_dir)))
    evals = summary["eval_mean"]
    return {
        "iqm": evals["iqm"] if evals else None,
        "mean": evals["mean"] if evals else None,
        "solve_rate": summary["solve_rate"],
        "eval_mean": evals["mean"] if evals else last,
        **node,
    }
