"""A sweep's outputs, written when Ray Tune returns: ``trials.csv`` (one row per trial),
``best.toml`` (the best trial's complete config) and ``plots/objective.png``."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

from deepq import _native
from deepq.tune._space import Space
from deepq.tune._trial import FAILURE_FILE, RESULT_FILE, write_atomic

#: Where the trials' run directories live: ``trials/<trial id>/seed-<n>/``.
TRIALS_DIR = "trials"
#: The columns of ``trials.csv`` after the searched keys.
METRIC_COLUMNS = ["iqm", "mean", "solve_rate", "last_eval", "wall_s", "node_ip", "node_id",
                  "status", "error"]


@dataclass
class SweepResult:
    """What a sweep found: every trial's row (as in ``trials.csv``), the best finished trial
    and its complete config (``None`` when no trial finished), and whether every trial has
    ended (``False`` after an interrupted run: run it again to resume)."""

    out: Path
    complete: bool = False
    trials: List[Dict[str, Any]] = field(default_factory=list)
    best: Optional[Dict[str, Any]] = None
    best_config: Optional["_native.Config"] = None


def _row(number: int, trial, space: Space, trials_dir: Path) -> Dict[str, Any]:
    """One trial's row: its sampled values, metrics, node and status."""
    row: Dict[str, Any] = {"trial": number, "trial_id": trial.trial_id}
    sampled = space.values(trial.config) if all(k in trial.config for k in space.keys) else {}
    for key in space.keys:
        row[key] = json.dumps(sampled[key]) if key in sampled else ""
    result_file = trials_dir / trial.trial_id / RESULT_FILE
    failure_file = trials_dir / trial.trial_id / FAILURE_FILE
    last = dict(trial.last_result or {})
    if result_file.is_file():
        last.update(json.loads(result_file.read_text(encoding="utf-8")))
        status = "finished"
    elif trial.status == "ERROR" or failure_file.is_file():
        status = "failed"
        if failure_file.is_file():
            last.update(json.loads(failure_file.read_text(encoding="utf-8")))
        else:
            last["error"] = f"the trial failed before training; see {trial.path}"
    elif trial.status == "TERMINATED":
        status = "pruned"
    else:
        status = "unfinished"
    row.update({
        "iqm": last.get("iqm"), "mean": last.get("mean"), "solve_rate": last.get("solve_rate"),
        "last_eval": last.get("eval_mean"),
        "wall_s": last.get("wall_s", last.get("time_total_s")),
        "node_ip": last.get("node_ip"), "node_id": last.get("node_id"),
        "status": status, "error": last.get("error"),
    })
    return row


def _number(trial, position: int) -> int:
    """The trial's number in the sweep: Ray's experiment tag starts with it (``3_lr=...``)."""
    head = str(getattr(trial, "experiment_tag", "")).split("_", 1)[0]
    return int(head) if head.isdigit() else position + 1


def _csv(rows: List[Dict[str, Any]], columns: List[str]) -> str:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if row[k] is None else row[k] for k in columns})
    return text.getvalue()


def best_config(base: "_native.Config", space: Space, row: Dict[str, Any]) -> "_native.Config":
    """The complete config of a trial: the base config with the trial's sampled values."""
    cfg = base.copy()
    cfg.update({key: json.loads(row[key]) for key in space.keys})
    cfg.update({"seed": 0})
    return cfg


def _best_toml(cfg: "_native.Config", row: Dict[str, Any], settings: Dict[str, Any],
               finished: int) -> str:
    seeds = settings["seeds"]
    return (
        f"# deepq.tune: the best of {finished} finished trials of this sweep: "
        f"trial {row['trial_id']}, IQM {row['iqm']} of the final evaluations over seeds "
        f"0..{seeds} (mean {row['mean']}, solve rate {row['solve_rate']})\n"
        f"# base: preset {settings['preset']}; searched: {', '.join(k for k, _, _ in settings['space'])}\n"
        f"# reproduce: deepq train --preset {settings['preset']} --config best.toml "
        f"--seeds 0..{seeds}\n"
        f"{cfg.to_toml()}")


def write(out: Path, analysis_trials, space: Space, base: "_native.Config",
          settings: Dict[str, Any]) -> SweepResult:
    """Writes ``trials.csv``, ``best.toml`` and ``plots/objective.png`` of the sweep in
    `out` from Ray Tune's trials, and returns the :class:`SweepResult`."""
    trials_dir = out / TRIALS_DIR
    rows = sorted((_row(_number(t, i), t, space, trials_dir)
                   for i, t in enumerate(analysis_trials)), key=lambda r: r["trial"])
    columns = ["trial", "trial_id", *space.keys, *METRIC_COLUMNS]
    write_atomic(out / "trials.csv", _csv(rows, columns))
    ended = [r for r in rows if r["status"] != "unfinished"]
    result = SweepResult(out=out, trials=rows, complete=len(ended) == settings["trials"])
    scored = [r for r in rows if r["status"] == "finished" and r["iqm"] is not None]
    if not scored:
        return result
    best = max(scored, key=lambda r: (r["iqm"], -r["trial"]))
    cfg = best_config(base, space, best)
    write_atomic(out / "best.toml", _best_toml(cfg, best, settings, len(scored)))
    _native.plot_sweep(str(out / "plots" / "objective.png"), "IQM of final evaluations",
                       [(float(r["trial"]), float(r["iqm"])) for r in scored])
    result.best, result.best_config = best, cfg
    return result
