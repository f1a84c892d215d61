"""Hyperparameter sweeps and multi-seed trials on Ray Tune, searched by Optuna's TPE.

From the shell (``pip install 'deepq[tune]'`` first)::

    python -m deepq.tune --preset default --space space.toml --trials 40 --seeds 4 --out sweep

or from Python::

    import deepq.tune
    result = deepq.tune.run("space.toml", preset="default", trials=40, seeds=4, out="sweep")
    print(result.best["iqm"], result.best_config.to_toml())

The search space is a TOML file with one deepq config key per hyperparameter::

    learning_rate = { log_uniform = [1e-4, 1e-2] }
    gamma = { uniform = [0.95, 0.999] }
    learning_starts = { int_uniform = [500, 2000] }
    batch_size = { choice = [32, 64, 128] }
    net_arch = { choice = [[64, 64], [128, 128]] }

Each trial trains its config on seeds ``0..K-1`` (in parallel threads on the CPUs Ray gives
it); its objective is the interquartile mean (IQM) of the seeds' final greedy evaluations,
with their mean and solve rate beside it. ASHA stops poor trials early on the periodic
evaluations (``eval_freq``) unless ``prune=False``. The sweep directory holds ``trials.csv``,
``best.toml`` (``deepq train --preset BASE --config best.toml --seeds 0..K`` reproduces the
best trial),
``plots/objective.png``, every trial's run directories under ``trials/<trial id>/`` and Ray's
state under ``ray/``; running the same sweep again resumes it without retraining finished
trials. Ray and Optuna are imported only when a sweep starts, so ``import deepq`` needs
neither.
"""

from deepq.tune._outputs import SweepResult
from deepq.tune._space import Space, SpaceError, parse_space, parse_table, read_space
from deepq.tune._sweep import SweepError, base_config, run

__all__ = ["run", "SweepResult", "SweepError", "Space", "SpaceError", "parse_space",
           "parse_table", "read_space", "base_config"]
