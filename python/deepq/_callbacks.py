"""Training callbacks and progress output for :meth:`deepq.DQN.learn`.

``callback`` is one callback or a list of them, of two kinds:

**Stable-Baselines3's callback objects** (``BaseCallback`` subclasses: ``EvalCallback``,
``CheckpointCallback``, ``StopTrainingOnRewardThreshold``, ``CallbackList``, your own, ...)
run unchanged, with SB3's protocol: ``init_callback(model)`` with the deepq model,
``on_training_start(locals_, globals_)``, ``on_rollout_start()``, then after every vector step
``update_locals(locals_)`` and ``on_step()`` (``False`` stops training), ``on_rollout_end()``
around each training phase (every ``train_freq``), and ``on_training_end()``. ``n_calls`` and
``num_timesteps`` count as in SB3. ``locals_`` holds SB3's names where deepq has the value:
``self``, ``total_timesteps``, ``callback``, ``log_interval``, ``tb_log_name``,
``reset_num_timesteps``, ``progress_bar``, ``learning_starts``, ``replay_buffer``, ``env``,
``new_obs`` (each copy's next observation, as the env gives it: the first of a new episode
where one ended), ``actions``, ``rewards``, ``dones`` (one flag per env copy, set where an
episode ended at this step), ``infos`` (one dict per copy; ``{"episode": {"r": return, "l":
length, "t": seconds}}`` where an episode ended, as SB3's ``Monitor`` gives),
``num_collected_steps`` and ``num_collected_episodes``. (PQN steps whole rollouts in Rust:
its callbacks have no ``new_obs``, ``actions`` or ``rewards``.)

**Functions**, called every ``callback_freq`` environment steps with a dict of the training
loop's state — SB3's function-callback convention ``callback(locals_, globals_)``, or
``callback(locals_)`` for a one-argument function. Returning ``False`` stops training (any
other value, ``None`` included, continues). Their ``locals_`` holds:

- ``self`` / ``model``: the :class:`deepq.DQN` being trained;
- ``num_timesteps``: environment steps taken so far; ``total_timesteps``: the budget;
- ``episodes``: finished episodes; ``episode_returns`` / ``episode_lengths``: the return and
  length of every episode finished in this ``learn()`` call, in order;
- ``exploration_rate``: the current ε.

Inside a callback the model is the one being trained: ``predict``, ``q_values``, ``save``,
``get_parameters``, ``save_replay_buffer`` and ``replay_buffer`` read the Rust run as it is at
that step (the network is copied out only after it has changed). Outside callbacks the run is
busy until ``learn()`` returns.
"""

from __future__ import annotations

import inspect
import sys
import time
from typing import Any, Callable

import numpy as np


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


def is_sb3_callback(callback: Any) -> bool:
    """Whether ``callback`` follows SB3's ``BaseCallback`` protocol."""
    return all(hasattr(callback, name) for name in ("init_callback", "on_step", "update_locals"))


class CallbackAdapter:
    """The native training hook for the user's callback(s); see the module docs.

    ``freq`` is how often (in environment steps) the native loop calls it: every vector step
    when an SB3 callback object is given, else the functions' ``callback_freq``."""

    def __init__(self, model: Any, callback: Any, total_timesteps: int, callback_freq: int,
                 learn_locals: dict):
        callbacks = list(callback) if isinstance(callback, (list, tuple)) else [callback]
        objects = [c for c in callbacks if is_sb3_callback(c)]
        functions = [c for c in callbacks if not is_sb3_callback(c)]
        for fn in functions:
            if not callable(fn):
                raise TypeError(f"callback must be callable or an SB3 BaseCallback, not "
                                f"{type(fn).__name__!r}")
        self._fns = [(fn, _takes_two_arguments(fn)) for fn in functions]
        self._fn_freq = callback_freq
        self._next_fn_call = callback_freq
        self._model = model
        self._total = total_timesteps
        self._n_envs = model.config["n_envs"]
        self._sb3 = _one_callback(objects)
        self.freq = self._n_envs if self._sb3 is not None else callback_freq
        self._learn_locals = learn_locals
        self._rollout = _Rollout(model.config["train_freq"])
        self._rollout_open = False
        self.episode_returns: list = []
        self.episode_lengths: list = []

    def start(self) -> None:
        """SB3's start of training, before the first step."""
        if self._sb3 is None:
            return
        self._sb3.init_callback(self._model)
        # SB3's view of the env needs SB3, which a function callback does not import.
        locals_ = {"self": self._model, "total_timesteps": self._total, **self._learn_locals,
                   "env": self._model.get_env(), "replay_buffer": self._model.replay_buffer}
        self._sb3.on_training_start(locals_, {})
        self._sb3.on_rollout_start()
        self._rollout_open = True

    def end(self) -> None:
        """SB3's end of training."""
        if self._sb3 is None:
            return
        if self._rollout_open:
            self._sb3.on_rollout_end()
        self._sb3.on_training_end()

    def __call__(self, info: dict) -> bool:
        self.episode_returns.extend(info["new_episode_returns"])
        self.episode_lengths.extend(info["new_episode_lengths"])
        model = self._model
        model.num_timesteps = info["num_timesteps"]
        model.exploration_rate = info["exploration_rate"]
        keep_going = True
        if self._sb3 is not None:
            keep_going = self._sb3_step(info)
        if self._fns and info["num_timesteps"] >= self._next_fn_call:
            while self._next_fn_call <= info["num_timesteps"]:
                self._next_fn_call += self._fn_freq
            keep_going = self._call_functions(info) and keep_going
        return keep_going

    def _sb3_step(self, info: dict) -> bool:
        if not self._rollout_open:
            self._sb3.on_rollout_start()
            self._rollout_open = True
        dones = np.zeros(self._n_envs, dtype=bool)
        infos: list = [{} for _ in range(self._n_envs)]
        for env, ret, length in zip(info["new_episode_envs"], info["new_episode_returns"],
                                    info["new_episode_lengths"]):
            dones[env] = True
            infos[env]["episode"] = {"r": ret, "l": length, "t": time.monotonic()}
        steps, episodes = self._rollout.step(int(dones.sum()))
        step_locals = {"dones": dones, "infos": infos, "num_collected_steps": steps,
                       "num_collected_episodes": episodes}
        last = self._model._trainer.last_step()
        if last is not None:
            new_obs, actions, rewards = last
            step_locals["new_obs"] = self._model._encoding.decode(new_obs)
            step_locals["actions"] = (np.asarray(actions, dtype=np.int64)
                                      + self._model._action_start)
            step_locals["rewards"] = np.asarray(rewards, dtype=np.float32)
        self._sb3.update_locals(step_locals)
        keep_going = bool(self._sb3.on_step())
        if keep_going and self._rollout.ended():
            self._sb3.on_rollout_end()
            self._rollout_open = False
        return keep_going

    def _call_functions(self, info: dict) -> bool:
        model = self._model
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


def _one_callback(objects: list) -> Any:
    """SB3's callback objects as one (a ``CallbackList`` when there are several)."""
    if not objects:
        return None
    if len(objects) == 1:
        return objects[0]
    from stable_baselines3.common.callbacks import CallbackList
    return CallbackList(objects)


class _Rollout:
    """SB3's rollouts: ``train_freq`` vector steps (or episodes) between training phases."""

    def __init__(self, train_freq: Any):
        if isinstance(train_freq, (list, tuple)):
            self._every, unit = int(train_freq[0]), train_freq[1]
        else:
            self._every, unit = int(train_freq), "step"
        self._in_episodes = unit == "episode"
        self._steps = 0
        self._episodes = 0

    def step(self, ended_episodes: int) -> tuple:
        """Counts one vector step; returns the rollout's vector steps and episodes so far
        (SB3's ``num_collected_steps`` and ``num_collected_episodes``)."""
        if self.ended():
            self._steps = self._episodes = 0
        self._steps += 1
        self._episodes += ended_episodes
        return self._steps, self._episodes

    def ended(self) -> bool:
        return (self._episodes if self._in_episodes else self._steps) >= self._every


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
