"""``deepq.DQN``: a drop-in for common uses of ``stable_baselines3.DQN``, trained by deepq."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import struct
import warnings
from collections import deque
from typing import Any, Optional

import numpy as np
import safetensors.numpy

from deepq import _native, _sb3
from deepq._callbacks import CallbackAdapter, ProgressReporter
from deepq._envs import EnvHandle, ObservationEncoding, gymnasium_spaces, plain, resolve_env

#: Where deepq's Python API departs from the library defaults, to match what SB3's
#: ``learn()`` does: no periodic evaluation during training, and a short final evaluation
#: (reported in ``train_summary``) instead of 100 episodes.
PYTHON_DEFAULTS = {"eval_freq": 0, "final_eval_episodes": 10}

#: ε reported after loading: the schedule's value at the end of training.
_AFTER_TRAINING_EPISODES = 2**62


def _as_count(value: Any, name: str) -> int:
    """An integer argument; integral floats such as ``1e5`` are accepted, as SB3 does."""
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"invalid value {value!r} for '{name}': expected an integer")
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return int(value)
    raise ValueError(f"invalid value {value!r} for '{name}': expected an integer")


def _comments(text: str) -> dict:
    """The ``# key: value`` lines at the top of a run's ``config.toml``."""
    found = {}
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        key, sep, value = line[1:].partition(":")
        if sep:
            found[key.strip()] = value.strip()
    return found



def _run_path(path: Any) -> str:
    """``path``, or ``path.zip`` when only that exists (SB3's ``load("name")``)."""
    path = os.fspath(path)
    if not os.path.exists(path) and not path.endswith(".zip") and os.path.isfile(path + ".zip"):
        return path + ".zip"
    return path


def _read_run(path: Any):
    """``(config, network, config text)`` of a run directory, or of a model archive
    :meth:`DQN.save` wrote (``path.zip`` when only that exists). SB3's own zips (PyTorch
    pickles) and other archives are ``ValueError``; a damaged archive is a ``RuntimeError``,
    as a damaged model file is."""
    return _native.load_run(os.fspath(path))


#: The comment line of ``config.toml`` that holds ``verbose`` (saved as SB3 saves it).
_VERBOSE = "verbose"


def load_model(path: Any) -> "DQN":
    """The model saved at ``path``, as an instance of the class of its algorithm."""
    config, _, _ = _read_run(path)
    algorithm = config.get("algorithm")
    cls = {c._ALGORITHM: c for c in (DQN, *DQN.__subclasses__())}.get(algorithm, DQN)
    return cls.load(path)


class DQN:
    """Deep Q-Network, trained by deepq (Rust), with Stable-Baselines3's ``DQN`` interface.

    ``env`` is an environment id (deepq's built-in environments run in Rust at full speed;
    other Gymnasium ids are made with ``gymnasium.make``) or a Gymnasium ``Env`` with a
    ``Discrete`` action space and a ``Box`` or ``Discrete`` observation space.

    Hyperparameters are keyword arguments with SB3's names and defaults (``learning_rate``
    1e-4, ``buffer_size`` 1_000_000, ``learning_starts`` 100, ``batch_size`` 32, ``tau`` 1.0,
    ``gamma`` 0.99, ``train_freq`` 4 or ``(n, "episode")``, ``gradient_steps`` 1,
    ``target_update_interval`` 10000, ``exploration_fraction`` 0.1,
    ``exploration_initial_eps`` 1.0, ``exploration_final_eps`` 0.05, ``max_grad_norm`` 10,
    ``policy_kwargs=dict(net_arch=[64, 64])``).

    ``policy`` is ``"MlpPolicy"`` or ``"CnnPolicy"``: a convolutional Q-network for image
    observations (MinAtar's built-in games, or a Gymnasium env with an image ``Box``,
    channels-first or channels-last, ``uint8`` values divided by 255 as SB3 does). Unless
    ``cnn`` and ``net_arch`` are given, ``"CnnPolicy"`` is the Nature DQN network (SB3's
    ``NatureCNN``: ``cnn=[[32, 8, 4], [64, 4, 2], [64, 3, 1]]``, ``net_arch=[512]``) on images
    at least 36 pixels on a side and Young & Tian's MinAtar network (``cnn=[[16, 3, 1]]``,
    ``net_arch=[128]``) on smaller ones. Every other key of deepq's config is accepted
    too (``double_q=True``, ``loss="mse"``, ``n_envs=4``, ``eval_freq=1000``, ...); unknown
    keys raise ValueError with a suggestion. Unlike SB3's ``learn()``, each ``learn()`` ends
    with a 10-episode greedy evaluation (``final_eval_episodes``), reported in
    :attr:`train_summary`.

    ``seed=None`` draws a random seed (stored in the config, so the run can be repeated).
    ``tensorboard_log`` writes SB3's TensorBoard runs (``{tensorboard_log}/{tb_log_name}_N``)
    through SB3's ``Logger`` and deepq's event writer; ``replay_buffer_kwargs`` takes
    ``handle_timeout_termination``.
    """

    #: The config's ``algorithm`` this class trains.
    _ALGORITHM = "dqn"
    #: Where this class's defaults depart from deepq's config defaults (SB3's DQN's are
    #: deepq's).
    _DEFAULTS: dict = {}
    #: ``policy_kwargs`` keys this class takes beyond :data:`deepq._sb3.POLICY_KWARGS`.
    _POLICY_KEYS: tuple = ()
    #: The name SB3's class gives its online network (``model.q_net``; sb3-contrib's QR-DQN:
    #: ``model.quantile_net``), and the prefix of its policy's ``state_dict``.
    _NETWORK = "q_net"

    @classmethod
    def _check_algorithm(cls, config) -> None:
        algorithm = config.get("algorithm")
        if algorithm == cls._ALGORITHM:
            return
        other = {c._ALGORITHM: c.__name__ for c in (DQN, *DQN.__subclasses__())}.get(algorithm)
        hint = (f"use deepq.{other}" if other is not None
                else "other algorithms run with `deepq train`")
        raise ValueError(f"deepq.{cls.__name__} trains algorithm {cls._ALGORITHM!r}, not "
                         f"{algorithm!r}; {hint}")

    def __init__(self, policy: str, env: Any, *, verbose: int = 0, seed: Optional[int] = None,
                 device: Any = "auto", policy_kwargs: Optional[dict] = None,
                 tensorboard_log: Optional[str] = None, replay_buffer_class: Any = None,
                 replay_buffer_kwargs: Optional[dict] = None, optimize_memory_usage: bool = False,
                 stats_window_size: Optional[int] = None, _init_setup_model: bool = True,
                 **hyperparameters: Any):
        _sb3.check_policy(policy)
        _sb3.check_device(device)
        hyperparameters, schedule = _sb3.split_schedule(hyperparameters)
        overrides = _sb3.infrastructure(
            replay_buffer_class=replay_buffer_class, replay_buffer_kwargs=replay_buffer_kwargs,
            optimize_memory_usage=optimize_memory_usage, stats_window_size=stats_window_size,
            init_setup_model=_init_setup_model)
        overrides.update(self._hyperparameters(hyperparameters, policy_kwargs))
        if seed is None:
            seed = secrets.randbits(31)
        config = _native.Config()
        config.update({**PYTHON_DEFAULTS, **self._DEFAULTS})
        self._setup(config, env, overrides, seed, verbose, preset=None, policy=policy,
                    schedule=schedule)
        self.tensorboard_log = None if tensorboard_log is None else os.fspath(tensorboard_log)

    @classmethod
    def from_preset(cls, name: str, env: Any = None, *, verbose: int = 0,
                    seed: Optional[int] = None, policy_kwargs: Optional[dict] = None,
                    **hyperparameters: Any) -> "DQN":
        """A model with the hyperparameters of one of deepq's presets (``deepq.presets()``),
        e.g. ``"default"``, the tuned fast CartPole set-up. ``env`` defaults to the preset's
        environment; keyword arguments override the preset's values. As with
        ``deepq train --preset``, the preset's seed (0) is used unless ``seed`` is given."""
        model = cls.__new__(cls)
        hyperparameters, schedule = _sb3.split_schedule(hyperparameters)
        overrides = model._hyperparameters(hyperparameters, policy_kwargs)
        config = _native.Config(name)
        model._setup(config, config.get("env") if env is None else env, overrides, seed,
                     verbose, preset=name, schedule=schedule)
        return model

    def _check_env(self, handle: EnvHandle) -> None:
        """Refuses an env this class cannot train on (every env suits DQN's loop)."""

    @classmethod
    def _hyperparameters(cls, values: dict, policy_kwargs: Optional[dict]) -> dict:
        out = _sb3.hyperparameters(values)
        from_policy = _sb3.policy_overrides(policy_kwargs, cls._POLICY_KEYS)
        clash = sorted(set(out) & set(from_policy))
        if clash:
            raise ValueError(f"{clash[0]} is given both directly and through policy_kwargs")
        out.update(from_policy)
        return out

    def _setup(self, config, env: Any, overrides: dict, seed: Optional[int], verbose: int,
               preset: Optional[str], policy: Optional[str] = None,
               schedule: Any = None) -> None:
        env_kwargs = overrides.pop("env_kwargs", None)
        if isinstance(env, str) and env_kwargs is None and env == config.get("env"):
            env_kwargs = config.get("env_kwargs")
        cnn = policy == "CnnPolicy" or bool(overrides.get("cnn", config.get("cnn")))
        handle = resolve_env(env, env_kwargs, cnn)
        if handle.num_envs is not None:
            # The vector env's copies, unless n_envs was given (a default gives way).
            n_envs = overrides.get("n_envs", handle.num_envs)
            if n_envs != handle.num_envs:
                raise ValueError(f"n_envs = {n_envs} but the vector env has {handle.num_envs} "
                                 f"copies; leave n_envs unset or set it to {handle.num_envs}")
            overrides["n_envs"] = handle.num_envs
        if policy is not None:
            overrides.update(_sb3.policy_network(policy, handle.id, handle.observation, overrides))
        elif _sb3.FEATURES_DIM in overrides:
            raise ValueError("features_extractor_kwargs configures CnnPolicy's network; give "
                             "net_arch instead")
        config.update({"env": handle.id, "env_kwargs": handle.env_kwargs})
        if seed is not None:
            overrides["seed"] = _as_count(seed, "seed")
        config.update(overrides)
        self._check_algorithm(config)
        _warn_target_interval(config)
        self._config = config
        self._preset = preset
        self.verbose = int(verbose)
        self._bind(handle)
        # SB3 seeds the env's action space with the model's seed (envs such as its identity
        # envs draw from it); deepq's own draws come from the config's seed.
        space = getattr(handle.source, "action_space", None)
        if hasattr(space, "seed"):
            space.seed(config.get("seed"))
        self._run_config(config.get("total_timesteps"))
        self._start(_native.Network.init(config, self._encoding.dim, self._n_actions,
                                         self._encoding.image_shape), trained=False,
                    schedule=schedule)
        self.exploration_rate = 0.0

    def _start(self, network, trained: bool, schedule: Any = None) -> None:
        """A model of ``network`` (trained elsewhere, or freshly initialised) that has not
        trained here yet: no training run, no step taken."""
        self._net = network
        self._trained = trained
        self._trainer = None
        self._replay_outside = None
        # A trained network came from a file: the run that learn() makes takes its weights.
        self._weights_outside = trained
        self._lr_schedule = schedule
        self._learning = False
        self._n_updates = 0
        self._logger = None
        self._last_learn = None
        self.tensorboard_log: Optional[str] = None
        self._rng = np.random.default_rng(self._config.get("seed"))
        self.num_timesteps = 0
        self.train_summary: Optional[dict] = None
        self._new_episode_buffers(self._config.get("rolling_window"))

    def _new_episode_buffers(self, window: int) -> None:
        """SB3's ``ep_info_buffer`` (the last ``stats_window_size`` episodes' ``{"r":
        return, "l": length, "t": seconds}``) and ``ep_success_buffer`` (which deepq's envs
        never fill: they report no ``is_success``), emptied as SB3 empties them when the
        step count restarts."""
        self.ep_info_buffer: deque = deque(maxlen=window)
        self.ep_success_buffer: deque = deque(maxlen=window)

    def _bind(self, handle: Optional[EnvHandle], encoding: Optional[ObservationEncoding] = None,
              n_actions: Optional[int] = None, action_start: int = 0) -> None:
        """Sets the env (or, without one, the observation encoding and action space)."""
        if handle is not None:
            self._check_env(handle)
        self._handle = handle
        if handle is not None:
            encoding, n_actions, action_start = (handle.observation, handle.n_actions,
                                                 handle.action_start)
        self._encoding = encoding
        self._n_actions = n_actions
        self._action_start = action_start

    def _run_config(self, total_timesteps: int, config=None):
        """The validated config (the model's, or ``config``) of a run of ``total_timesteps``
        steps. A ``learning_starts`` beyond the budget is capped at it (the run then acts
        randomly throughout and never trains, as SB3 does) instead of being refused."""
        cfg = (self._config if config is None else config).copy()
        updates = {"total_timesteps": total_timesteps}
        starts = cfg.get("learning_starts")
        if isinstance(starts, int) and starts > total_timesteps:
            updates["learning_starts"] = total_timesteps
        cfg.update(updates)
        cfg.validate()
        return cfg

    # --- training ------------------------------------------------------------------------

    def learn(self, total_timesteps: Optional[int] = None, callback: Any = None,
              log_interval: int = 4, tb_log_name: str = "DQN", reset_num_timesteps: bool = True,
              progress_bar: bool = False, callback_freq: int = 1) -> "DQN":
        """Trains for ``total_timesteps`` environment steps (default: the config's
        ``total_timesteps``) and returns ``self``.

        As SB3's ``learn()``, every call goes on from the model's weights, optimizer state,
        replay buffer and environments (a loaded model, or one given weights by
        :meth:`set_parameters`, fine-tunes them). With ``reset_num_timesteps=True`` (the
        default) the step count starts again at 0, and with it the exploration and
        learning-rate schedules, the warm-up of ``learning_starts`` and the episodes (each
        env copy is reset); with ``False`` the count goes on and the schedules span the
        steps taken so far plus ``total_timesteps``, as SB3's do. Same seed, same calls:
        same weights.

        ``callback``: SB3's callback objects (``EvalCallback``, ``CheckpointCallback``, ...,
        a list of them or a ``CallbackList``), or callables called every ``callback_freq``
        steps, as described in ``deepq._callbacks``; ``False`` from either stops training
        early (the network trained so far is kept). ``verbose >= 1`` or ``progress_bar=True`` print
        progress (``log_interval``: at least this many episodes between progress lines).
        """
        total = (self._config.get("total_timesteps") if total_timesteps is None
                 else _as_count(total_timesteps, "total_timesteps"))
        if total < 1:
            # Checked here: the run's config would blame learning_starts, capped at it.
            raise ValueError(f"invalid value {total} for 'total_timesteps': must be at least 1")
        freq = _as_count(callback_freq, "callback_freq")
        if freq < 1:
            raise ValueError(f"invalid value {freq} for 'callback_freq': must be at least 1")
        continuing = not reset_num_timesteps and self._trainer is not None
        budget = total + (self._trainer.num_timesteps if continuing else 0)
        updates_before = self.train_summary["updates"] if self.train_summary else 0
        cfg = self._run_config(budget)
        trainer = self._live_trainer(cfg)
        adapter = None
        if callback is not None:
            adapter = CallbackAdapter(self, callback, budget, freq, {
                "callback": callback, "log_interval": log_interval, "tb_log_name": tb_log_name,
                "reset_num_timesteps": reset_num_timesteps, "progress_bar": progress_bar,
                "learning_starts": cfg.get("learning_starts")})
            adapter.start()
        reporter = (ProgressReporter(self.verbose, progress_bar, log_interval)
                    if self.verbose >= 1 or progress_bar else None)
        if self.tensorboard_log is not None:
            # SB3 sets up its logger at every learn(): a new run directory unless going on.
            self._logger = _sb3.tensorboard_logger(self.tensorboard_log, tb_log_name,
                                                   reset_num_timesteps)
            reporter = _sb3.Sb3Logging(
                self._logger, log_interval, cfg.get("rolling_window"), self._n_updates,
                updates_before if continuing else 0,
                self._trainer.num_timesteps if continuing else 0, reporter)
        schedule = (None if self._lr_schedule is None
                    else _sb3.TrackedSchedule(self._lr_schedule, cfg.get("learning_rate")))
        self._learning, self._net_updates = True, None
        try:
            logging = self.tensorboard_log is not None
            network, summary, _stopped, recent = trainer.learn(
                cfg, reset_num_timesteps, adapter, adapter.freq if adapter else freq, reporter,
                self.verbose >= 2 or logging, schedule, logging)
        except BaseException:
            # The run trained until it stopped: the model acts and saves with those weights.
            with contextlib.suppress(RuntimeError):
                self._net = trainer.network()[0]
            raise
        finally:
            self._learning = False
        summary = json.loads(summary)
        if reset_num_timesteps or self.ep_info_buffer.maxlen != cfg.get("rolling_window"):
            self._new_episode_buffers(cfg.get("rolling_window"))
        self.ep_info_buffer.extend({"r": r, "l": l, "t": t} for r, l, t in recent)
        self._config = cfg
        self._net = network
        self._trained = True
        self._n_updates += summary["updates"] - (updates_before if continuing else 0)
        self.train_summary = summary
        self.num_timesteps = summary["env_steps"]
        self.exploration_rate = cfg.epsilon(summary["env_steps"], summary["episodes"])
        rate = schedule.last if schedule is not None else cfg.get("learning_rate")
        self._last_learn = (summary, self._n_updates, rate, self.exploration_rate)
        if self._logger is not None:
            _sb3.record_learn(self._logger, *self._last_learn)
        if reporter is not None:
            reporter.finish(summary)
        if adapter is not None:
            adapter.end()
        return self

    def _network(self):
        """The network; from a callback during ``learn()``, the one being trained (read
        again only after gradient steps)."""
        if self._learning:
            updates = self._trainer.updates()
            if updates != self._net_updates:
                self._net, self._net_updates = self._trainer.network()
        return self._net

    def _target_network(self):
        """The target network: the run's once training has made one; before that, after
        weights came from elsewhere (a file, :meth:`set_parameters`) and in a run that keeps
        no target network apart, the network itself, which the target starts from."""
        if self._trainer is not None and not self._weights_outside:
            target = self._trainer.target_network()
            if target is not None:
                return target
        return self._network()

    def _live_trainer(self, cfg):
        """The training run that ``learn()`` goes on with, made on first use from ``cfg``;
        it takes the model's weights when they came from elsewhere (a file,
        :meth:`set_parameters`)."""
        if self._trainer is None:
            if self._handle is None:
                raise ValueError("this model has no environment; pass env to DQN.load or call "
                                 "set_env before learn")
            self._trainer = _native.Trainer(cfg, self._handle.gym)
        if self._replay_outside is not None:
            self._trainer.load_replay(self._replay_outside)
            self._replay_outside = None
        if self._weights_outside:
            self._trainer.load_network(self._net)
            self._weights_outside = False
        return self._trainer

    # --- acting --------------------------------------------------------------------------

    def predict(self, observation: Any, state: Any = None, episode_start: Any = None,
                deterministic: bool = False) -> tuple:
        """The action for an observation, or actions for a batch of them, and ``state``
        (always None: the policy has no memory), as SB3's ``predict``.

        With ``deterministic=False`` (SB3's default) the whole batch acts uniformly at random
        with probability ``exploration_rate`` (ε after training, 0 before), as SB3 does.
        """
        return self._act(self._network(), observation, explore=not deterministic), state

    def q_values(self, observation: Any) -> np.ndarray:
        """Q-values of an observation (shape ``(n_actions,)``) or a batch (``(n, n_actions)``)."""
        return self._q_values_of(self._network(), observation)

    def _act(self, network, observation: Any, explore: bool) -> np.ndarray:
        """``network``'s greedy actions (ε-greedy with ``explore``) for an observation or a
        batch."""
        rows, single = self._encoding.encode(observation)
        if explore and self._rng.random() < self.exploration_rate:
            actions = self._rng.integers(0, self._n_actions, size=len(rows))
        else:
            actions = np.asarray(network.predict(rows), dtype=np.int64)
        actions = actions.astype(np.int64) + self._action_start
        return np.array(actions[0]) if single else actions

    def _q_values_of(self, network, observation: Any) -> np.ndarray:
        rows, single = self._encoding.encode(observation)
        q = np.asarray(network.q_values(rows), dtype=np.float64)
        return q[0] if single else q

    # --- files ---------------------------------------------------------------------------

    def save(self, path: Any, exclude: Optional[Any] = None,
             include: Optional[Any] = None) -> None:
        """Saves the model as SB3 names its files: ``path``, with ``.zip`` appended when it
        has no suffix, one zip archive holding deepq's run-directory files (``config.toml``
        and ``model.safetensors``; not SB3's PyTorch pickles), written atomically, which
        :meth:`load` and ``deepq eval|play --run`` read. A ``path`` that is an existing
        directory, or ends with a path separator, gets those two files as a run directory
        instead, each written atomically.

        The config is saved whole, with ``verbose`` and, for a model trained on a Gymnasium
        env, its spaces in comment lines. ``exclude`` names attributes not to save and
        ``include`` ones to save even so, as in SB3: of what deepq saves, ``verbose`` can be
        left out; the config keys cannot (a ``ValueError``); other names (``env``, the env
        object, ``replay_buffer``, ...) are never saved."""
        dropped = set(exclude or ()) - set(include or ())
        # SB3's "env" is the env object, which deepq never saves (the id is in the config).
        fixed = sorted(key for key in dropped - {"env"} if key in self._config.to_dict())
        if fixed:
            raise ValueError(f"cannot exclude {fixed[0]!r}: deepq saves the whole config, "
                             "which a saved model needs to train and act")
        text = self._config_text(with_verbose=_VERBOSE not in dropped)
        path = os.fspath(path)
        if os.path.isdir(path) or path.endswith((os.sep, "/")):
            _native.save_run(path, text, self._network())
            return
        if not os.path.splitext(path)[1]:
            path += ".zip"
        _native.save_archive(path, text, self._network())

    def _config_text(self, with_verbose: bool = True) -> str:
        """The saved ``config.toml``: the config, after comment lines naming the preset,
        ``verbose`` and, for a Gymnasium env, the spaces."""
        lines = []
        if self._preset is not None:
            lines.append(f"# preset: {self._preset}")
        if with_verbose:
            lines.append(f"# {_VERBOSE}: {int(self.verbose)}")
        if self._handle is None or not self._handle.is_builtin:
            lines.append(f"# observation_space: {self._encoding.describe()}")
            lines.append(f"# action_space: Discrete({self._n_actions}, start={self._action_start})")
        return "".join(line + "\n" for line in lines) + self._config.to_toml()

    def _write_archive(self, path: str) -> None:
        """The saved model as one archive at exactly ``path`` (whatever its suffix)."""
        _native.save_archive(path, self._config_text(), self._network())

    def save_replay_buffer(self, path: Any) -> None:
        """Saves the replay buffer to ``path`` (``.pkl`` appended when it has no suffix, as
        SB3 does), written atomically. The file is deepq's format (``DEEPQRB1``: the
        transitions, n-step queues and priorities, with the run's config), not a pickle;
        :meth:`load_replay_buffer` reads it."""
        path = os.fspath(path)
        if not os.path.splitext(path)[1]:
            path += ".pkl"
        trainer = self._live_trainer(self._run_config(self._config.get("total_timesteps")))
        data = trainer.replay_bytes()
        if data is None:
            raise ValueError(f"deepq.{type(self).__name__} has no replay buffer")
        partial = f"{path}.{secrets.token_hex(4)}.tmp"
        try:
            with open(partial, "wb") as out:
                out.write(data)
            os.replace(partial, path)
        finally:
            if os.path.exists(partial):
                os.remove(partial)

    def load_replay_buffer(self, path: Any, truncate_last_traj: bool = True) -> None:
        """Replaces the replay buffer with one :meth:`save_replay_buffer` wrote (``path``,
        or ``path.pkl``), for the same environment and replay settings; the next
        ``learn()`` samples from it. A file of another environment or replay settings, a
        damaged file or another kind of file is a ``ValueError`` naming it; the buffer is
        unchanged then. (``truncate_last_traj`` is SB3's, for its memory-optimized buffer;
        deepq's transitions keep their own next observations, so it changes nothing.)"""
        path = os.fspath(path)
        if not os.path.exists(path) and os.path.exists(path + ".pkl"):
            path += ".pkl"
        with open(path, "rb") as f:
            data = f.read()
        trainer = self._live_trainer(self._run_config(self._config.get("total_timesteps")))
        try:
            trainer.load_replay(data)
        except ValueError as err:
            raise ValueError(f"cannot load the replay buffer '{path}': {err}") from None

    def get_parameters(self) -> dict:
        """The network's parameters as SB3's ``get_parameters`` returns them:
        ``{"policy": {name: array}}``, named as the model file names them (PyTorch's
        ``state_dict`` names: ``"0.weight"``, ``"0.bias"``, …, in its order), numpy copies in
        the network's dtype. The optimizer's state stays inside the training run (there is no
        ``"policy.optimizer"`` entry)."""
        return {"policy": _parameters(self._network())}

    def set_parameters(self, load_path_or_dict: Any, exact_match: bool = True,
                       device: Any = "auto") -> None:
        """Replaces the network's parameters, as SB3's ``set_parameters`` does:
        ``{"policy": {name: array}}`` as :meth:`get_parameters` returns it (numpy arrays or
        CPU tensors), or the path of a run directory whose ``model.safetensors`` has this
        network's tensors. With ``exact_match`` every tensor must be given; without, the ones
        left out keep their values. An unknown name, a missing one, a wrong shape or a
        non-finite value is a ``ValueError`` naming it; the network is unchanged then."""
        _sb3.check_device(device)
        if self._learning:
            raise RuntimeError("set_parameters cannot run during learn(); call it before or "
                               "after")
        if isinstance(load_path_or_dict, (str, os.PathLike)):
            _, network, _ = _read_run(load_path_or_dict)
            load_path_or_dict = {"policy": safetensors.numpy.load(network.to_safetensors())}
        if not isinstance(load_path_or_dict, dict) or not isinstance(
                load_path_or_dict.get("policy"), dict):
            raise ValueError("set_parameters takes {'policy': {name: array}}, as "
                             "get_parameters() returns, or a run directory's path")
        given = load_path_or_dict["policy"]
        data = self._net.to_safetensors()
        tensors = safetensors.numpy.load(data)
        unknown = sorted(set(given) - set(tensors))
        if unknown:
            raise ValueError(f"unknown parameter(s) {', '.join(map(repr, unknown))}; this "
                             f"network has {', '.join(map(repr, sorted(tensors)))}")
        missing = sorted(set(tensors) - set(given))
        if exact_match and missing:
            raise ValueError(f"missing parameter(s) {', '.join(map(repr, missing))} "
                             "(exact_match=True needs every one)")
        for name, value in given.items():
            if hasattr(value, "detach"):  # a PyTorch tensor
                value = value.detach().cpu().numpy()
            array = np.asarray(value)
            if array.shape != tensors[name].shape:
                raise ValueError(f"parameter {name!r} has shape {array.shape}, this network's "
                                 f"is {tensors[name].shape}")
            if not np.all(np.isfinite(array)):
                raise ValueError(f"parameter {name!r} has non-finite values")
            tensors[name] = np.ascontiguousarray(array, dtype=tensors[name].dtype)
        # The file's metadata (conv shapes, LayerNorm ε, quantiles, precision) goes along.
        (length,) = struct.unpack("<Q", data[:8])
        metadata = json.loads(data[8:8 + length]).get("__metadata__")
        self._net = _native.Network.from_safetensors(
            safetensors.numpy.save(tensors, metadata=metadata))
        self._weights_outside = True

    @classmethod
    def load(cls, path: Any, env: Any = None, device: Any = "auto",
             custom_objects: Optional[dict] = None, print_system_info: bool = False,
             force_reset: bool = True, *, verbose: Optional[int] = None,
             **hyperparameters: Any) -> "DQN":
        """Loads an archive :meth:`save` wrote (``load("name")`` finds ``name.zip``, as
        SB3's does) or a run directory written by :meth:`save` or by ``deepq train``.

        ``env`` (an id or a Gymnasium env) replaces the saved environment; without it the
        saved id is used when it is a built-in environment. Keyword arguments override saved
        config keys (e.g. for a later ``learn()``), and so does ``custom_objects`` (SB3's:
        its config keys and ``verbose`` replace the saved values; names deepq does not save
        are ignored). ``print_system_info`` prints deepq's, Python's and numpy's versions
        and the platform. (``force_reset`` is SB3's: a loaded model starts new episodes.)"""
        _sb3.check_device(device)
        config, network, text = _read_run(path)
        path = _run_path(path)
        comments = _comments(text)
        if print_system_info:
            print(_sb3.system_info())
        custom = {key: value for key, value in (custom_objects or {}).items()
                  if key in config.to_dict()}
        if verbose is None:
            verbose = (custom_objects or {}).get(_VERBOSE, comments.get(_VERBOSE, 0))
        hyperparameters, schedule = _sb3.split_schedule({**custom, **hyperparameters})
        config.update(cls._hyperparameters(hyperparameters, None))
        model = cls.__new__(cls)
        model._config = config
        model._preset = comments.get("preset")
        model.verbose = int(verbose)
        model._start(network, trained=True, schedule=schedule)
        model.exploration_rate = config.epsilon(config.get("total_timesteps"),
                                                _AFTER_TRAINING_EPISODES)
        model_file = os.path.join(path, "model.safetensors")
        saved_id = config.get("env")
        if env is not None:
            model._attach(env, f"model '{model_file}'", ValueError)
        elif _native.is_builtin(saved_id):
            model._attach(saved_id, f"model '{model_file}'", RuntimeError,
                          config.get("env_kwargs"))
        else:
            encoding = ObservationEncoding.parse(comments.get("observation_space", ""))
            if encoding is None and network.input_shape is not None:
                encoding = ObservationEncoding("image", shape=network.input_shape)
            elif encoding is None:
                encoding = ObservationEncoding("box", shape=(network.n_inputs,))
            actions = ObservationEncoding.parse(comments.get("action_space", ""))
            start = actions.start if actions is not None else 0
            model._bind(None, encoding, network.n_outputs, start)
            if not _fits(network, encoding):
                raise RuntimeError(f"model '{model_file}' {_reads(network)}, but its "
                                   f"observation space {encoding.describe()} needs "
                                   f"{_needs(encoding)}")
        return model

    def _attach(self, env: Any, what: str, error: type, env_kwargs: Optional[dict] = None) -> None:
        """Binds ``env`` after checking that the network fits it (``error`` otherwise)."""
        handle = resolve_env(env, env_kwargs, bool(self._config.get("cnn")))
        if not _fits(self._net, handle.observation) or self._net.n_outputs != handle.n_actions:
            raise error(f"{what} {_reads(self._net)}, but "
                        f"{handle.id} needs {_needs(handle.observation)} and "
                        f"{handle.n_actions} outputs")
        self._config.update({"env": handle.id, "env_kwargs": handle.env_kwargs})
        self._bind(handle)
        if self._trainer is not None:
            # A run keeps its environments: the next learn() starts a new run on this env,
            # from the current weights and replay buffer.
            self._replay_outside = self._trainer.replay_bytes()
            self._trainer = None
            self._weights_outside = True

    # --- SB3-style accessors ---------------------------------------------------------------

    def get_env(self) -> Any:
        """The training env as SB3's ``get_env()`` gives it: a ``VecEnv`` (the env given
        when it is a vector env, else a ``DummyVecEnv`` around it, or around a Gymnasium env
        of the id) when stable-baselines3 is installed, else the env as given (an id or a
        Gymnasium env); None without an env. Given back to deepq (``set_env``,
        ``DQN.load(env=...)``, ``evaluate_policy``) it means the env it wraps, so a built-in
        env keeps running in Rust."""
        return None if self._handle is None else _sb3.vec_env_view(self._handle)

    @property
    def replay_buffer(self) -> "_sb3.ReplayBufferView":
        """How full the replay buffer is, read as SB3's ``model.replay_buffer``
        (``size()``, ``pos``, ``full``, ``buffer_size``); see :meth:`save_replay_buffer`."""
        return _sb3.ReplayBufferView(self)

    @property
    def logger(self) -> Any:
        """SB3's ``Logger`` (stable-baselines3 needed), which SB3's callbacks record to; with
        ``verbose >= 1`` a dump prints the recorded values. Each ``learn()`` records SB3's
        keys (``time/fps``, ``train/n_updates``, ``rollout/exploration_rate``, ...); it is
        made on first use, so a script that never reads it never imports SB3."""
        if self._logger is None:
            try:
                self._logger = _sb3.new_logger(self.verbose)
            except ImportError:
                raise ImportError("model.logger is SB3's Logger: pip install "
                                  "stable-baselines3") from None
            if self._last_learn is not None:
                _sb3.record_learn(self._logger, *self._last_learn)
        return self._logger

    def dump_logs(self) -> None:
        """Writes what the logger recorded (SB3's ``dump_logs``)."""
        self.logger.dump(self.num_timesteps)

    @property
    def policy(self) -> "_sb3.PolicyView":
        """SB3's ``model.policy``: its ``q_net``, ``state_dict``/``load_state_dict``,
        ``device``, ``set_training_mode``, a greedy ``predict``, ``save``/``load``."""
        return _sb3.PolicyView(self)

    @property
    def q_net(self) -> "_sb3.QNetworkView":
        """SB3's ``model.q_net``: the online Q-network (``state_dict``, ``predict``, ...)."""
        return _sb3.QNetworkView(self)

    @property
    def q_net_target(self) -> "_sb3.TargetNetworkView":
        """SB3's ``model.q_net_target``: the target network, read-only (training sets it)."""
        return _sb3.TargetNetworkView(self)

    @property
    def quantile_net(self) -> "_sb3.QNetworkView":
        """sb3-contrib's ``QRDQN.quantile_net``: the online network, as :attr:`q_net`."""
        if self._NETWORK != "quantile_net":
            raise AttributeError("quantile_net")  # __getattr__ says it is not there
        return _sb3.QNetworkView(self)

    @property
    def quantile_net_target(self) -> "_sb3.TargetNetworkView":
        """sb3-contrib's ``QRDQN.quantile_net_target``: the target network, as
        :attr:`q_net_target`."""
        if self._NETWORK != "quantile_net":
            raise AttributeError("quantile_net_target")  # __getattr__ says it is not there
        return _sb3.TargetNetworkView(self)

    @property
    def device(self) -> Any:
        """The device deepq computes on: the CPU."""
        return _sb3.cpu_device()

    @property
    def env(self) -> Any:
        """SB3's ``model.env``: what :meth:`get_env` returns."""
        return self.get_env()

    def get_vec_normalize_env(self) -> None:
        """SB3's ``VecNormalize`` wrapper of the training env: deepq has none."""
        return None

    def set_env(self, env: Any) -> None:
        """Uses ``env`` from now on; its spaces must fit the network."""
        self._attach(env, "the model", ValueError)

    @property
    def observation_space(self):
        """The observation space as a Gymnasium space (None without Gymnasium)."""
        if self._handle is not None:
            return self._handle.spaces()[0]
        return gymnasium_spaces(self._encoding, self._n_actions, self._action_start, None)[0]

    @property
    def action_space(self):
        """The action space as a Gymnasium ``Discrete`` (None without Gymnasium)."""
        if self._handle is not None:
            return self._handle.spaces()[1]
        return gymnasium_spaces(self._encoding, self._n_actions, self._action_start, None)[1]

    @property
    def config(self) -> dict:
        """Every config key with its value (a copy: change settings through the
        constructor, ``from_preset`` or ``load`` keywords)."""
        return self._config.to_dict()

    @property
    def lr_schedule(self):
        """SB3's ``lr_schedule``: the learning rate as a function of ``progress_remaining``
        (the callable given as ``learning_rate``, or a constant)."""
        if self._lr_schedule is not None:
            return self._lr_schedule
        rate = self._config.get("learning_rate")
        return lambda _progress_remaining: rate

    @property
    def preset(self) -> Optional[str]:
        """The preset the model was made from, if any."""
        return self._preset

    def __getattr__(self, name: str) -> Any:
        """Config keys read as attributes, as SB3's hyperparameters do (``model.gamma``);
        ``learning_rate`` is the schedule when one was given."""
        if name == "learning_rate" and self.__dict__.get("_lr_schedule") is not None:
            return self._lr_schedule
        if not name.startswith("_") and "_config" in self.__dict__ and name in _CONFIG_KEYS:
            return plain(self._config.get(name))
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        """Config keys set as attributes (``model.learning_rate = 3e-4``,
        ``model.exploration_final_eps = 0.01``) are validated and take effect at the next
        ``learn()``. One that changes the network (``net_arch``, ``dueling``, ...) replaces
        an untrained model's network and raises AttributeError on a trained one. Once
        ``learn()`` has run, only keys read at every step may change (the budget,
        exploration, learning rate, ``learning_starts``, ``train_freq``,
        ``gradient_steps``, the target's ``tau`` and interval, evaluation); another raises
        AttributeError, as it would need a new run."""
        if name.startswith("_") or "_config" not in self.__dict__ or name not in _CONFIG_KEYS:
            super().__setattr__(name, value)
            return
        if name in ("env", "env_kwargs"):
            raise AttributeError(f"set {name} through set_env(env)")
        values, schedule = _sb3.split_schedule({name: value})
        config = self._config.copy()
        config.update(self._hyperparameters(values, None))
        self._check_algorithm(config)
        checked = self._run_config(config.get("total_timesteps"), config)
        fits = self._net.fits(config)
        if not fits and self._trained:
            raise AttributeError(
                f"{name} = {value!r} changes the network of a trained model; create a new "
                f"{type(self).__name__} with it")
        if self._trainer is not None:
            try:
                self._trainer.check_config(checked)
            except ValueError as err:
                raise AttributeError(f"{err}: create a new {type(self).__name__} with it, or "
                                     "load a saved one with it as a keyword") from None
        if not fits:
            self._net = _native.Network.init(config, self._encoding.dim, self._n_actions,
                                             self._encoding.image_shape)
        self._config = config
        if name == "learning_rate":
            self._lr_schedule = schedule

    def __repr__(self) -> str:
        env = None if self._handle is None else self._handle.id
        state = "trained" if self._trained else "untrained"
        return (f"{type(self).__name__}(env={env!r}, net_arch={self._config.get('net_arch')}, "
                f"{state})")


def _warn_target_interval(config) -> None:
    """SB3's warning when several env copies step past the target network's interval."""
    n_envs, interval = config.get("n_envs"), config.get("target_update_interval")
    if n_envs > 1 and n_envs > interval:
        warnings.warn("The number of environments used is greater than the target network "
                      f"update interval ({n_envs} > {interval}), therefore the target network "
                      "will be updated after each call to env.step() which corresponds to "
                      f"{n_envs} steps.", UserWarning, stacklevel=4)


def _parameters(network) -> dict:
    """``network``'s parameters by PyTorch ``state_dict`` name, in its order, as numpy
    copies."""
    tensors = safetensors.numpy.load(network.to_safetensors())
    return {name: tensors[name] for name in network.state_dict_names()}


def _fits(network, encoding: ObservationEncoding) -> bool:
    """Whether ``network`` reads the observations ``encoding`` produces."""
    return (network.n_inputs == encoding.dim
            and network.input_shape == encoding.image_shape)


def _reads(network) -> str:
    """What ``network`` reads, for errors: ``has layer sizes [4, 64, 2]`` or ``reads images
    of (height, width, channels) (10, 10, 4) into 6 outputs``."""
    if network.input_shape is None:
        return f"has layer sizes {network.sizes}"
    return (f"reads images of (height, width, channels) {tuple(network.input_shape)} into "
            f"{network.n_outputs} outputs")


def _needs(encoding: ObservationEncoding) -> str:
    """What a network needs for ``encoding``'s observations, for errors."""
    if encoding.kind == "image":
        return f"images of (height, width, channels) {encoding.image_shape}"
    return f"{encoding.dim} inputs"


_CONFIG_KEYS = frozenset(_native.Config.keys())


class QRDQN(DQN):
    """Quantile Regression DQN (Dabney et al. 2018), trained by deepq (Rust), with
    sb3-contrib's ``QRDQN`` interface.

    As :class:`DQN`, with sb3-contrib's defaults where they differ from DQN's:
    ``learning_rate`` 5e-5, ``exploration_fraction`` 0.005, ``exploration_final_eps`` 0.01,
    no gradient clipping (``max_grad_norm=None``), and Adam's ε 0.01/``batch_size`` unless
    ``optimizer_kwargs`` sets it. ``policy_kwargs=dict(n_quantiles=200)`` sets the number of
    quantiles of each action's return (``net_arch`` and the rest as for DQN). The loss is the
    quantile Huber loss (κ = 1); greedy actions and :meth:`q_values` take the mean over the
    quantiles. A saved model's ``model.safetensors`` loads into sb3-contrib's
    ``QuantileNetwork`` (its last Linear layer's outputs read as ``[n_quantiles, n_actions]``).
    """

    _ALGORITHM = "qrdqn"
    _NETWORK = "quantile_net"
    _DEFAULTS = {"algorithm": "qrdqn", "learning_rate": 5e-5, "exploration_fraction": 0.005,
                 "exploration_final_eps": 0.01, "max_grad_norm": float("inf")}
    _POLICY_KEYS = ("n_quantiles",)

    @classmethod
    def _hyperparameters(cls, values: dict, policy_kwargs: Optional[dict]) -> dict:
        if "max_grad_norm" in values and values["max_grad_norm"] is None:
            # sb3-contrib's QRDQN: None means no clipping.
            values = {**values, "max_grad_norm": float("inf")}
        return super()._hyperparameters(values, policy_kwargs)


class IQN(DQN):
    """Implicit Quantile Networks (Dabney et al. 2018b) as Dopamine's implicit quantile agent,
    trained by deepq (Rust), with :class:`DQN`'s interface and defaults (sb3-contrib has no
    IQN to follow).

    Dopamine's fractions are config keys given like any other: ``num_tau_samples`` (N, 64)
    and ``num_tau_prime_samples`` (N′, 64) fractions τ ~ U(0, 1) per sample for the online
    and target quantiles, ``num_quantile_samples`` (K, 32) for acting, and
    ``quantile_embedding_dim`` (64) cosines in the τ-embedding. The loss is the quantile
    Huber loss (κ = 1). Greedy actions and :meth:`q_values` take each action's mean quantile
    over K evenly spaced fractions (k + 0.5)/K, so they are deterministic. ``net_arch[0]`` is
    the width of the torso's output, which the embedding multiplies; the rest of
    ``net_arch`` and the output layer are the head (docs/dqn-family.md). A saved model's
    ``model.safetensors`` holds ``torso.*``, ``embedding.*`` and ``head.*``.
    """

    _ALGORITHM = "iqn"
    _DEFAULTS = {"algorithm": "iqn"}


class PQN(DQN):
    """PQN (Gallici et al., ICLR 2025): many env copies stepped ε-greedily for
    ``rollout_steps`` steps, Q(λ) targets from the online network, then ``n_epochs`` passes
    of ``n_minibatches`` minibatches, with no replay buffer and no target network; trained
    by deepq (Rust), with :class:`DQN`'s interface (``learn``, ``predict``, ``save``,
    callbacks, training that goes on, ...).

    Defaults are purejaxql's CartPole-v1 configuration (deepq's ``pqn-cartpole`` preset):
    ``n_envs`` 32 (a vector env's own count when one is given), ``rollout_steps`` 64,
    ``n_epochs`` 4, ``n_minibatches`` 16, ``q_lambda`` 0.95, ``reward_scale`` 0.1, ``gamma``
    0.99, ``net_arch`` [256, 256] with ``layer_norm``, RAdam (``learning_rate`` 1e-4,
    decaying linearly: ``learning_rate_schedule="linear"``), ``max_grad_norm`` 10, ε 1 → 0.2
    over the first 20% of the budget. A single Gymnasium env is copied with
    ``copy.deepcopy`` for the other copies. A Gymnasium vector env must reset in the same
    step (``autoreset_mode=SAME_STEP``; SB3's ``VecEnv`` do), as PQN's rollouts have a step
    of every copy at every time.
    """

    _ALGORITHM = "pqn"
    _DEFAULTS = {"algorithm": "pqn", "n_envs": 32, "rollout_steps": 64, "n_epochs": 4,
                 "n_minibatches": 16, "q_lambda": 0.95, "reward_scale": 0.1, "gamma": 0.99,
                 "net_arch": [256, 256], "layer_norm": True, "optimizer": "radam",
                 "learning_rate": 1e-4, "learning_rate_schedule": "linear",
                 "max_grad_norm": 10.0, "exploration_initial_eps": 1.0,
                 "exploration_final_eps": 0.2, "exploration_fraction": 0.2}

    @property
    def replay_buffer(self) -> None:
        """None: PQN learns from its rollouts, without a replay buffer."""
        return None

    def _check_env(self, handle: EnvHandle) -> None:
        if handle.autoreset == "NextStep":
            raise ValueError(
                f"deepq.PQN needs a vector env that resets in the step an episode ends, and "
                f"{handle.id}'s resets on the next step: make it with autoreset_mode="
                "gymnasium.vector.AutoresetMode.SAME_STEP, or use an SB3 VecEnv")
