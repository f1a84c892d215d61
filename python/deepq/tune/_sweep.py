"""The sweep driver: settles the base config and the search space, joins or starts Ray, runs
Ray Tune with Optuna's TPE (and ASHA early stopping on the periodic evaluations), resumes an
interrupted sweep, and writes the sweep's outputs (see :mod:`deepq.tune._outputs`)."""

from __future__ import annotations

import importlib
import json
import logging
import os
import socket
from pathlib import Path
from typing import Any, Dict, Iterable, Optional, Union

from deepq import _native
from deepq.tune import _outputs
from deepq.tune._space import Space, parse_table, read_space, tomllib
from deepq.tune._trial import Setup, train_trial, write_atomic

#: Ray Tune's experiment folder inside the sweep's directory.
RAY_DIR = "ray"
#: The settings a sweep started with, to refuse resuming it with others.
SETTINGS_FILE = "sweep.json"


class SweepError(ValueError):
    """Settings a sweep cannot run with; the message is one line."""


def _count(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SweepError(f"invalid value {value!r} for '{name}': must be an integer of at least 1")
    return value


def _seconds(value: Any, name: str) -> Optional[float]:
    """A positive number of seconds, or None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
        raise SweepError(f"invalid value {value!r} for '{name}': must be a number of seconds > 0")
    return float(value)


def base_config(preset: Optional[str] = None, config: Optional[Union[str, Path]] = None,
                sets: Iterable[str] = ()) -> "_native.Config":
    """The base config as ``deepq train`` resolves it: the preset (``default`` unless
    named), then the keys of the ``config`` TOML file, then ``KEY=VALUE`` overrides."""
    cfg = _native.Config(preset or "default")
    if config is not None:
        try:
            table = tomllib.loads(Path(config).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as e:
            reason = getattr(e, "strerror", None) or e
            raise SweepError(f"cannot read config '{config}': {reason}") from None
        except tomllib.TOMLDecodeError as e:
            raise SweepError(f"config '{config}' is not valid TOML: {e}") from None
        cfg.update(table)
    for pair in sets:
        key, sep, text = pair.partition("=")
        if not sep:
            raise SweepError(f"invalid override '{pair}': expected KEY=VALUE")
        try:
            value = tomllib.loads(f"v = {text}")["v"]
        except tomllib.TOMLDecodeError:
            value = text  # a bare word such as mse is a string
        cfg.update({key.strip(): value})
    cfg.validate()
    return cfg


def check_address(address: str, timeout: float = 5.0) -> None:
    """Fails fast, in one line, when a ``HOST:PORT`` Ray address does not answer."""
    if address == "auto" or "://" in address:
        return
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise SweepError(f"invalid Ray address '{address}': expected HOST:PORT or auto")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as e:
        raise ConnectionError(f"cannot reach the Ray cluster at '{address}': "
                              f"{e.strerror or e}") from None


def _import_ray():
    """Ray, imported only now; a missing Ray or Optuna is one line naming the extra."""
    try:
        importlib.import_module("optuna")
        return importlib.import_module("ray")
    except ImportError as e:
        raise ImportError(f"deepq.tune needs Ray Tune and Optuna ({e}); install them with "
                          "pip install 'deepq[tune]'") from None


def _settings(base: "_native.Config", preset: str, space: Space, trials: int, seeds: int,
              prune: bool, search_seed: int) -> Dict[str, Any]:
    return {"base": base.to_toml(), "preset": preset,
            "space": [[p.key, p.kind, list(p.args)] for p in space.params],
            "trials": trials, "seeds": seeds, "prune": prune, "search_seed": search_seed}


def _check_resumable(out: Path, settings: Dict[str, Any]) -> None:
    path = out / SETTINGS_FILE
    if not path.is_file():
        return
    saved = json.loads(path.read_text(encoding="utf-8"))
    differing = [k for k in settings if saved.get(k) != settings[k]]
    if differing:
        raise SweepError(f"'{out}' holds a sweep with other settings (its {differing[0]} "
                         "differs); rerun it with its own settings or use another --out")


def _scheduler(prune: bool, base: "_native.Config"):
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    freq = base.get("eval_freq")
    steps = freq if isinstance(freq, int) else 0
    if not prune:
        return FIFOScheduler()
    if steps <= 0:
        raise SweepError("cannot prune trials without periodic evaluations: the config has "
                         "eval_freq = 0; set eval_freq (in steps) or pass --no-prune")
    # A round of evaluations is ASHA's time unit. Early returns say little about how an RL
    # run ends, so trials are first compared half-way through their budget: those below the
    # top third of the trials that got there stop.
    rounds = max(1, base.get("total_timesteps") // steps)
    return ASHAScheduler(metric="eval_mean", mode="max", time_attr="training_iteration",
                         max_t=rounds + 1, grace_period=max(1, rounds // 2),
                         reduction_factor=3)


def _searcher(trials: int, search_seed: int):
    import optuna

    from deepq.tune._ray import FinalObjectiveSearch

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=search_seed,
                                         n_startup_trials=min(10, max(2, trials // 4)))
    return FinalObjectiveSearch(metric="iqm", mode="max", sampler=sampler)


def _cpus_per_trial(ray, seeds: int, requested: Optional[int]) -> int:
    if requested is not None:
        return _count(requested, "cpus_per_trial")
    largest = max((n["Resources"].get("CPU", 0) for n in ray.nodes() if n["Alive"]), default=1)
    return max(1, min(seeds, int(largest)))


def run(space: Union[str, Path, Dict[str, Any]], *, preset: Optional[str] = None,
        config: Optional[Union[str, Path]] = None, sets: Iterable[str] = (), trials: int = 20,
        seeds: int = 3, out: Union[str, Path] = "sweep", address: Optional[str] = None,
        prune: bool = True, cpus_per_trial: Optional[int] = None,
        num_cpus: Optional[int] = None, search_seed: int = 0,
        progress: bool = True, trial_timeout: Optional[float] = None) -> _outputs.SweepResult:
    """Runs (or resumes) a hyperparameter sweep and returns its results.

    ``space`` is a search-space TOML file or the same as a dict (see :mod:`deepq.tune`).
    Each of ``trials`` trials trains its config on seeds ``0..seeds-1``, in threads on
    ``cpus_per_trial`` CPUs (default: ``seeds``, at most the largest node's CPUs); its
    objective is the IQM of their final greedy evaluations. ``address`` joins a Ray cluster
    (``HOST:PORT`` or ``auto``); without it a local Ray instance is started (with
    ``num_cpus`` CPUs, default all). ``out`` must be on a filesystem every node sees. A sweep
    whose ``out`` already holds an interrupted sweep with the same settings is resumed:
    finished trials are not trained again. A trial still running ``trial_timeout`` seconds
    after it started (default: no limit) is stopped and recorded as failed with that reason;
    the sweep goes on.
    """
    trials = _count(trials, "trials")
    seeds = _count(seeds, "seeds")
    trial_timeout = _seconds(trial_timeout, "trial_timeout")
    preset_name = preset or "default"
    base = base_config(preset, config, sets)
    if isinstance(space, dict):
        parsed = parse_table(space, base)
    else:
        parsed = read_space(Path(space), base)
    scheduler = _scheduler(prune, base)
    out = Path(out).resolve()
    settings = _settings(base, preset_name, parsed, trials, seeds, prune, search_seed)
    _check_resumable(out, settings)
    if address is not None:
        check_address(address)
    ray = _import_ray()
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "error")
    # Save the experiment's state every second (Ray's default is 10 s or more), so a lost
    # driver loses little; trials that finished meanwhile are not retrained either way.
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "1")
    # Periodic reports carry ASHA's metric, only the last one the objective.
    os.environ["TUNE_DISABLE_STRICT_METRIC_CHECKING"] = "1"
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, num_cpus=num_cpus if address is None else None,
                 logging_level=logging.ERROR, log_to_driver=False, include_dashboard=False)
    try:
        return _sweep(ray, out, base, parsed, settings, scheduler, cpus_per_trial, progress,
                      trial_timeout)
    finally:
        if started:
            ray.shutdown()


def _sweep(ray, out: Path, base: "_native.Config", parsed: Space, settings: Dict[str, Any],
           scheduler, cpus_per_trial: Optional[int], progress: bool,
           trial_timeout: Optional[float]) -> _outputs.SweepResult:
    """Runs or resumes the sweep on the Ray instance the driver is connected to."""
    from ray import tune

    from deepq.tune._ray import ProgressLine

    trials, seeds = settings["trials"], settings["seeds"]
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / SETTINGS_FILE, json.dumps(settings, indent=2) + "\n")
    setup = Setup(base_toml=base.to_toml(), preset=settings["preset"],
                  seeds=tuple(range(seeds)), trials_dir=str(out / _outputs.TRIALS_DIR),
                  space=parsed, trial_timeout=trial_timeout)
    trainable = tune.with_resources(tune.with_parameters(train_trial, setup=setup),
                                    {"cpu": _cpus_per_trial(ray, seeds, cpus_per_trial)})
    experiment = out / RAY_DIR
    reporter = ProgressLine(trials, enabled=progress)
    if tune.Tuner.can_restore(str(experiment)):
        tuner = tune.Tuner.restore(str(experiment), trainable=trainable, resume_unfinished=True,
                                   resume_errored=False, restart_errored=False)
    else:
        tuner = tune.Tuner(
            trainable, param_space=parsed.to_ray(),
            tune_config=tune.TuneConfig(search_alg=_searcher(trials, settings["search_seed"]),
                                        scheduler=scheduler, num_samples=trials),
            run_config=tune.RunConfig(name=RAY_DIR, storage_path=str(out), verbose=0,
                                      callbacks=[reporter],
                                      failure_config=tune.FailureConfig(max_failures=0)))
    tuner.fit()
    trials_of = tune.ExperimentAnalysis(str(experiment)).trials
    return _outputs.write(out, trials_of, parsed, base, settings)
