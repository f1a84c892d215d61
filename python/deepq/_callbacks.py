"""Training callbacks and progress output for :meth:`deepq.DQN.learn`.

A callback is a Python callable (or a list of them) called every ``callback_freq``
environment steps with a dict of the training loop's state — SB3's function-callback
convention ``callback(locals_, globals_)``, or ``callback(locals_)`` for a one-argument
function. Returning ``False`` stops training (any other value, ``None`` included, continues).

``locals_`` holds:

- ``self`` / ``model``: the :class:`deepq.DQN` being trained;
- ``num_timesteps``: environment steps taken so far; ``total_timesteps``: the budget;
- ``episodes``: finished episodes; ``episode_returns`` / ``episode_lengths``: the return and
  length of every finished episode, in order;
- ``exploration_rate``: the current ε.

The model's weights are those of before ``learn()`` until it returns; deepq trains in Rust and
hands the network back at the end.
"""

from __future__ import annotations

import inspect
import sys
import time
from typing import Any, Callable


def _takes_two_arguments(fn: Callable) -> bool:
    """Whether ``fn`` can be called with ``(locals_, globals_)``."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return True
    positional = 0
    for p in params:
        if p.kind is inspect.Parameter.VAR_POSITIONAL:
            return True
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD):
            positional += 1
    return positional >= 2


class CallbackAdapter:
    """The native training hook for the user's callback(s); see the module docs."""

    def __init__(self, model: Any, callback: Any, total_timesteps: int):
        callbacks = list(callback) if isinstance(callback, (list, tuple)) else [callback]
        for fn in callbacks:
            if hasattr(fn, "init_callback") and hasattr(fn, "on_step"):
                raise TypeError(
                    "Stable-Baselines3 BaseCallback objects are not supported; pass a function "
                    "callback(locals_, globals_) that returns False to stop training"
                )
            if not callable(fn):
                raise TypeError(f"callback must be callable, not {type(fn).__name__!r}")
        self._fns = [(fn, _takes_two_arguments(fn)) for fn in callbacks]
        self._model = model
        self._total = total_timesteps
        self.episode_returns: list = []
        self.episode_lengths: list = []

    def __call__(self, info: dict) -> bool:
        self.episode_returns.extend(info["new_episode_returns"])
        self.episode_lengths.extend(info["new_episode_lengths"])
        model = self._model
        model.num_timesteps = info["num_timesteps"]
        model.exploration_rate = info["exploration_rate"]
        locals_ = {
            "self": model,
            "model": model,
            "num_timesteps": info["num_timesteps"],
            "total_timesteps": self._total,
            "episodes": info["episodes"],
            "episode_returns": self.episode_returns,
            "episode_lengths": self.episode_lengths,
            "exploration_rate": info["exploration_rate"],
        }
        keep_going = True
        for fn, two_arguments in self._fns:
            result = fn(locals_, {}) if two_arguments else fn(locals_)
            if result is False:
                keep_going = False
        return keep_going


class ProgressReporter:
    """Prints training progress: with ``verbose >= 1`` a line at most every second and every
    ``log_interval`` episodes, evaluation results and a closing summary; with ``verbose >= 2``
    every episode; with ``progress_bar`` a one-line counter on stderr."""

    def __init__(self, verbose: int, progress_bar: bool, log_interval: int):
        self.verbose = verbose
        self.progress_bar = progress_bar
        self.log_interval = max(1, int(log_interval))
        self._last_time = 0.0
        self._last_eval_time = 0.0
        self._last_episodes = -self.log_interval

    def __call__(self, kind: str, info: dict) -> None:
        if kind == "progress":
            self._progress(info)
        elif kind == "eval_progress":
            self._eval_progress(info)
        elif kind == "eval" and self.verbose >= 1:
            capped = (f" ({info['capped']} reached the step cap)" if info["capped"] else "")
            print(f"eval at step {info['step']:,}: mean return {info['mean']:.2f} "
                  f"± {info['std']:.2f} over {info['episodes']} episodes{capped}", flush=True)
        elif kind == "episode" and self.verbose >= 2:
            print(f"episode {info['episode']:,} (step {info['step']:,}): return "
                  f"{info['return']:.2f}, length {info['length']}, "
                  f"ε {info['exploration_rate']:.3f}", flush=True)

    def _progress(self, info: dict) -> None:
        mean = info["mean_return_100"]
        mean_text = "-" if mean is None else f"{mean:.2f}"
        line = (f"step {info['step']:,}/{info['total_timesteps']:,}  episodes "
                f"{info['episodes']:,}  mean return (100) {mean_text}  "
                f"ε {info['exploration_rate']:.3f}  {info['wall_s']:.1f}s")
        long = info.get("long_episode_steps")
        if long is not None:
            line += f"  an episode has run {long:,} steps without ending"
        if self.progress_bar:
            sys.stderr.write("\r" + line)
            sys.stderr.flush()
        now = time.monotonic()
        if (self.verbose >= 1 and now - self._last_time >= 1.0
                and info["episodes"] - self._last_episodes >= self.log_interval):
            self._last_time = now
            self._last_episodes = info["episodes"]
            print(line, flush=True)

    def _eval_progress(self, info: dict) -> None:
        """A long evaluation's progress: on the progress line, and with ``verbose >= 1`` at
        most once a second."""
        capped = f" ({info['capped']} hit the step cap)" if info["capped"] else ""
        line = (f"evaluating: {info['episodes_done']}/{info['episodes']} episodes, "
                f"{info['steps']:,} steps{capped}  {info['wall_s']:.1f}s")
        if self.progress_bar:
            sys.stderr.write("\r" + line)
            sys.stderr.flush()
        # A clock of its own, so that an evaluation's lines never hold back training's.
        now = time.monotonic()
        if self.verbose >= 1 and now - self._last_eval_time >= 1.0:
            self._last_eval_time = now
            print(line, flush=True)

    def finish(self, summary: dict) -> None:
        """Ends the progress line and prints the run's summary."""
        if self.progress_bar:
            sys.stderr.write("\n")
            sys.stderr.flush()
        if self.verbose >= 1:
            text = (f"trained {summary['env_steps']:,} steps, {summary['episodes']:,} episodes "
                    f"in {summary['wall_s']:.2f}s ({summary['steps_per_s']:,.0f} steps/s)")
            ev = summary.get("eval")
            if ev:
                text += (f"; greedy evaluation {ev['mean']:.2f} ± {ev['std']:.2f} over "
                         f"{ev['episodes']} episodes")
                if ev.get("capped"):
                    text += (f", {ev['capped']} of them cut at eval_max_episode_steps without "
                             "ending")
            if summary.get("long_episode_steps") is not None:
                text += (f"; a training episode was still running after "
                         f"{summary['long_episode_steps']:,} steps")
            print(text, flush=True)
