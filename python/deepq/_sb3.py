"""Stable-Baselines3 arguments in deepq's terms.

SB3's ``DQN`` hyperparameters have the same names in deepq's config (and the same defaults),
so they pass through unchanged, as does every other deepq config key (``double_q``,
``loss``, ``n_envs``, ...). This module handles the arguments that are not config keys:
``policy``, ``policy_kwargs``, ``device`` and SB3's infrastructure options, which deepq
either maps (``stats_window_size``) or accepts only at the value that matches what it does.
"""

from __future__ import annotations

import math
import os
import sys
import time
from typing import Any, Optional

import numpy as np

from deepq._envs import plain

#: ``optimizer_class.__name__`` (lower case) → deepq's ``optimizer`` key.
OPTIMIZERS = {"adam": "adam", "adamw": "adamw", "nadam": "nadam", "rmsprop": "rmsprop",
              "sgd": "sgd"}

#: ``optimizer_kwargs`` keys → deepq config keys.
OPTIMIZER_KWARGS = {"eps": "optimizer_eps", "betas": "optimizer_betas",
                    "weight_decay": "weight_decay", "momentum": "momentum",
                    "alpha": "rmsprop_alpha"}

POLICY_KWARGS = ("net_arch", "activation_fn", "optimizer_class", "optimizer_kwargs",
                 "features_extractor_kwargs")

#: ``activation_fn`` (a ``torch.nn`` module class, by name) → deepq's ``activation`` key.
ACTIVATIONS = {"ReLU": "relu", "Tanh": "tanh", "ELU": "elu", "LeakyReLU": "leaky_relu",
               "SiLU": "silu", "GELU": "gelu"}

#: Where :func:`policy_overrides` leaves ``features_extractor_kwargs["features_dim"]`` for
#: :func:`policy_network` (not a config key: it sets ``net_arch`` under ``"CnnPolicy"``).
FEATURES_DIM = "features_extractor_kwargs.features_dim"

#: ``"CnnPolicy"``'s torso on images at least 36 pixels on a side: the Nature DQN (Mnih et
#: al. 2015) as SB3's ``NatureCNN`` has it, with its 512-unit layer as ``net_arch``.
NATURE_CNN = {"cnn": [[32, 8, 4], [64, 4, 2], [64, 3, 1]], "net_arch": [512]}

#: ``"CnnPolicy"``'s network on smaller images: Young & Tian's MinAtar DQN.
MINATAR_CNN = {"cnn": [[16, 3, 1]], "net_arch": [128]}

#: The smallest side the Nature DQN torso fits (36 → 8 → 3 → 1).
NATURE_CNN_MIN_SIDE = 36


def check_policy(policy: Any) -> None:
    """``"MlpPolicy"`` (a fully connected Q-network) or ``"CnnPolicy"`` (convolutional)."""
    if policy not in ("MlpPolicy", "CnnPolicy"):
        raise ValueError(
            f"unsupported policy {policy!r}; deepq has 'MlpPolicy' (a fully connected "
            "Q-network) and 'CnnPolicy' (a convolutional one, for image observations)"
        )


def policy_network(policy: str, env_id: str, observation, overrides: dict) -> dict:
    """Config keys for ``policy`` on an env whose observations are ``observation`` (an
    ``ObservationEncoding``): ``"CnnPolicy"`` needs an image and, unless ``cnn`` and
    ``net_arch`` are given, takes the Nature DQN torso for images at least 36 pixels on a
    side and MinAtar's for smaller ones; ``"MlpPolicy"`` takes flat observations only."""
    features_dim = overrides.pop(FEATURES_DIM, None)
    if policy == "MlpPolicy":
        if features_dim is not None:
            raise ValueError("MlpPolicy's features extractor (SB3's FlattenExtractor) takes no "
                             "features_extractor_kwargs; features_dim is CnnPolicy's")
        if observation.kind == "image":
            raise ValueError(
                f"{env_id} has image observations {observation.describe()}; use "
                f"'CnnPolicy' for a convolutional Q-network"
            )
        if overrides.get("cnn"):
            raise ValueError("cnn configures a convolutional network; use 'CnnPolicy' with it")
        return {}
    if observation.kind != "image":
        raise ValueError(
            f"'CnnPolicy' needs image observations (a Box of shape (height, width, channels) "
            f"or (channels, height, width)); {env_id} has {observation.describe()}"
        )
    height, width, _ = observation.image_shape
    defaults = NATURE_CNN if min(height, width) >= NATURE_CNN_MIN_SIDE else MINATAR_CNN
    network = {key: value for key, value in defaults.items() if key not in overrides}
    if features_dim is not None:
        # SB3's features_dim is the width of the Linear layer after the CNN, which deepq's
        # net_arch holds under CnnPolicy.
        if "net_arch" in overrides:
            raise ValueError("give features_extractor_kwargs=dict(features_dim=...) or net_arch, "
                             "not both: under CnnPolicy deepq's net_arch replaces the layer "
                             "after the conv layers")
        network["net_arch"] = [features_dim]
    if "net_arch" not in overrides:
        # SB3's CnnPolicy applies activation_fn to its net_arch layers only, and without
        # net_arch it has none: its CNN (and its 512-unit layer) use ReLU whatever is given.
        network["activation"] = "relu"
    return network


def system_info() -> str:
    """What SB3's ``print_system_info`` reports, for deepq: its version, Python's, numpy's
    and the platform."""
    import platform

    from deepq import _native
    return "\n".join([
        "== CURRENT SYSTEM INFO ==",
        f"- deepq: {_native.__version__}",
        f"- Python: {platform.python_version()}",
        f"- Numpy: {np.__version__}",
        f"- OS: {platform.platform()}",
        f"- CPU: {platform.processor() or platform.machine()}",
    ])


def check_device(device: Any) -> None:
    """deepq trains on the CPU: ``"auto"`` and ``"cpu"`` are accepted."""
    if str(device) not in ("auto", "cpu"):
        raise ValueError(f"deepq trains on the CPU; device={str(device)!r} is not supported")


def policy_overrides(policy_kwargs: Optional[dict], extra: tuple = ()) -> dict:
    """Config keys for SB3's ``policy_kwargs``; ``extra`` names the config keys a class also
    takes there (sb3-contrib's ``QRDQN``: ``n_quantiles``)."""
    out: dict = {}
    if not policy_kwargs:
        return out
    for key, value in policy_kwargs.items():
        if key in extra:
            out[key] = plain(value)
        elif key == "net_arch":
            out["net_arch"] = plain(value)
        elif key == "activation_fn":
            name = getattr(value, "__name__", str(value))
            if name not in ACTIVATIONS:
                raise ValueError(
                    f"unsupported activation_fn {name}; deepq has "
                    + ", ".join(ACTIVATIONS) + " (torch.nn's, with their default arguments)"
                )
            out["activation"] = ACTIVATIONS[name]
        elif key == "features_extractor_kwargs":
            for fe_key, fe_value in (value or {}).items():
                if fe_key != "features_dim":
                    raise ValueError(
                        f"unsupported features_extractor_kwargs key {fe_key!r}; deepq supports "
                        "features_dim (the width of CnnPolicy's layer after its conv layers)")
                out[FEATURES_DIM] = plain(fe_value)
        elif key == "optimizer_class":
            name = getattr(value, "__name__", str(value)).lower()
            if name not in OPTIMIZERS:
                raise ValueError(
                    f"unsupported optimizer_class {getattr(value, '__name__', value)}; deepq has "
                    "Adam, AdamW, NAdam, RMSprop and SGD"
                )
            out["optimizer"] = OPTIMIZERS[name]
        elif key == "optimizer_kwargs":
            for opt_key, opt_value in (value or {}).items():
                if opt_key not in OPTIMIZER_KWARGS:
                    raise ValueError(
                        f"unsupported optimizer_kwargs key {opt_key!r}; deepq supports "
                        + ", ".join(OPTIMIZER_KWARGS)
                    )
                out[OPTIMIZER_KWARGS[opt_key]] = plain(opt_value)
        else:
            raise ValueError(
                f"unsupported policy_kwargs key {key!r}; deepq supports "
                + ", ".join(POLICY_KWARGS + tuple(extra))
            )
    return out


def train_freq(value: Any) -> Any:
    """SB3's ``TrainFreq(frequency, unit)`` as deepq's ``[n, "step"|"episode"]``."""
    if hasattr(value, "frequency") and hasattr(value, "unit"):
        unit = getattr(value.unit, "value", value.unit)
        return [int(value.frequency), str(unit)]
    return plain(value)


def infrastructure(*, replay_buffer_class, replay_buffer_kwargs, optimize_memory_usage,
                   stats_window_size, init_setup_model) -> dict:
    """Checks SB3's infrastructure arguments; returns the config keys they map to.

    ``optimize_memory_usage`` is what deepq's replay always does (each stored frame once,
    whatever its value); ``replay_buffer_kwargs`` takes SB3's ``handle_timeout_termination``
    (deepq's ``bootstrap_on_truncation``)."""
    if replay_buffer_class is not None:
        raise ValueError("deepq has its own replay buffer; replay_buffer_class is not "
                         "supported (replay_buffer_kwargs takes handle_timeout_termination)")
    buffer_kwargs = dict(replay_buffer_kwargs or {})
    timeouts = buffer_kwargs.pop("handle_timeout_termination", None)
    if buffer_kwargs:
        raise ValueError(f"unsupported replay_buffer_kwargs key {sorted(buffer_kwargs)[0]!r}; "
                         "deepq takes handle_timeout_termination")
    if not isinstance(optimize_memory_usage, (bool, np.bool_)):
        raise ValueError(f"invalid value {optimize_memory_usage!r} for "
                         "'optimize_memory_usage': expected True or False")
    if not init_setup_model:
        raise ValueError("_init_setup_model=False is not supported")
    out = {}
    if stats_window_size is not None:
        out["rolling_window"] = plain(stats_window_size)
    if timeouts is not None:
        out["bootstrap_on_truncation"] = plain(timeouts)
    return out


def split_schedule(values: dict) -> tuple:
    """``(values, schedule)``: a callable ``learning_rate`` (SB3's schedule of
    ``progress_remaining``) taken out, its value at the start (1.0) left as the config's
    ``learning_rate``; ``schedule`` is None when the learning rate is a number."""
    schedule = values.get("learning_rate")
    if not callable(schedule):
        return values, None
    start = schedule(1.0)
    if (isinstance(start, bool) or not isinstance(start, (int, float, np.floating, np.integer))
            or not math.isfinite(start) or start < 0):
        raise ValueError(f"invalid learning_rate schedule: it returned {start!r} at "
                         "progress_remaining 1.0; expected a finite number >= 0")
    return {**values, "learning_rate": float(start)}, schedule


def hyperparameters(values: dict) -> dict:
    """Config keys from keyword arguments: every deepq config key, SB3's forms converted."""
    out = {}
    for key, value in values.items():
        if callable(value):
            raise ValueError(
                f"invalid value for '{key}': schedules (callables) are supported for "
                "learning_rate only; pass a number"
            )
        out[key] = train_freq(value) if key in ("train_freq", "learning_starts") else plain(value)
    return out


def vec_env_view(handle: Any) -> Any:
    """What SB3's ``get_env()`` returns for the env of ``handle``: a ``VecEnv``. That is the
    env itself when it is a vector env, else a ``DummyVecEnv`` around it (around a Gymnasium
    env of the id, for an id), made once per handle and tagged ``deepq_source`` so that
    deepq takes it back as the env it wraps. Without stable-baselines3, the env as given."""
    source = handle.source
    if handle.num_envs is not None:
        return source
    view = getattr(handle, "sb3_view", None)
    if view is not None:
        return view
    try:
        from stable_baselines3.common.vec_env import DummyVecEnv
    except ImportError:
        return source
    if isinstance(source, str):
        import gymnasium

        from deepq import envs

        make = envs.make if handle.is_builtin else gymnasium.make
        env = make(source, **(handle.env_kwargs or {}))
    else:
        env = source
    view = DummyVecEnv([lambda: env])
    view.deepq_source = source
    handle.sb3_view = view
    return view



class TrackedSchedule:
    """A learning-rate schedule that remembers the last rate it gave (for the logger's
    ``train/learning_rate``), starting from ``first``."""

    def __init__(self, schedule: Any, first: float):
        self._schedule = schedule
        self.last = first

    def __call__(self, progress_remaining: float) -> Any:
        self.last = self._schedule(progress_remaining)
        return self.last


class ReplayBufferView:
    """``model.replay_buffer`` as SB3's tests and callbacks read it: ``size()``, ``pos``,
    ``full``, ``buffer_size`` and ``n_envs``, counted as SB3 counts them (in vector steps:
    transitions divided by ``n_envs``). The transitions themselves stay in the Rust run;
    ``save_replay_buffer`` writes them."""

    def __init__(self, model: Any):
        self._model = model

    def _fill(self) -> tuple:
        trainer = self._model._trainer
        fill = trainer.replay_fill() if trainer is not None else None
        return fill or (0, int(self._model.config["buffer_size"]), 0)

    @property
    def n_envs(self) -> int:
        return int(self._model.config["n_envs"])

    @property
    def buffer_size(self) -> int:
        return max(self._fill()[1] // self.n_envs, 1)

    @property
    def pos(self) -> int:
        return (self._fill()[2] // self.n_envs) % self.buffer_size

    @property
    def full(self) -> bool:
        held, capacity, _ = self._fill()
        return held >= capacity

    def size(self) -> int:
        return self.buffer_size if self.full else self._fill()[0] // self.n_envs

    def __repr__(self) -> str:
        return f"ReplayBufferView(size={self.size()}, buffer_size={self.buffer_size})"


def new_logger(verbose: int) -> Any:
    """SB3's ``Logger``, as ``model.logger``: what callbacks record (``eval/mean_reward``,
    ...) is kept and, with ``verbose >= 1``, printed when dumped."""
    from stable_baselines3.common.logger import HumanOutputFormat, Logger

    formats = [HumanOutputFormat(sys.stdout)] if verbose >= 1 else []
    return Logger(folder=None, output_formats=formats)


def cpu_device() -> Any:
    """The device deepq computes on, as SB3 names it: ``torch.device("cpu")`` where PyTorch
    is installed, else ``"cpu"``."""
    try:
        import torch
    except ImportError:
        return "cpu"
    return torch.device("cpu")


class QNetworkView:
    """SB3's ``QNetwork`` (``model.q_net``, ``model.policy.q_net``) where scripts reach for
    it: the online Q-network's ``state_dict`` (PyTorch tensors where PyTorch is installed,
    else numpy arrays; the names of deepq's model file) and ``load_state_dict``, a greedy
    ``predict``, ``forward`` (Q-values), ``device``, ``set_training_mode`` (deepq's networks
    behave the same in both modes: no dropout or batch norm), and ``save``/``load`` of one
    file (deepq's zip archive of the whole model, whatever the suffix: not a PyTorch pickle)."""

    #: The prefix of the ``state_dict`` names.
    _PREFIX = ""

    def __init__(self, model: Any):
        self._model = model
        self.training = True

    @property
    def device(self) -> Any:
        return cpu_device()

    def set_training_mode(self, mode: bool) -> None:
        self.training = bool(mode)

    def to(self, device: Any) -> "QNetworkView":
        """Itself: deepq computes on the CPU (any other device is a ``ValueError``)."""
        check_device(device)
        return self

    def _network(self) -> Any:
        """The deepq network this view shows."""
        return self._model._network()

    def state_dict(self) -> dict:
        """The parameters by name, copies (changing them changes nothing)."""
        from deepq._dqn import _parameters
        params = _parameters(self._network())
        try:
            import torch
        except ImportError:
            convert = lambda array: array  # noqa: E731
        else:
            convert = torch.from_numpy
        return {self._PREFIX + name: convert(array) for name, array in params.items()}

    def load_state_dict(self, state_dict: dict, strict: bool = True) -> None:
        """Sets the parameters from ``state_dict`` (all of them with ``strict``), as
        ``model.set_parameters`` does; a name without this view's prefix is refused."""
        params = {}
        for name, value in state_dict.items():
            if not name.startswith(self._PREFIX):
                raise ValueError(f"unexpected parameter {name!r}: this network's names start "
                                 f"with {self._PREFIX!r}")
            params[name[len(self._PREFIX):]] = value
        self._model.set_parameters({"policy": params}, exact_match=strict)

    def predict(self, observation: Any, state: Any = None, episode_start: Any = None,
                deterministic: bool = False) -> tuple:
        """Greedy actions, as SB3's ``DQNPolicy.predict`` (ε-greedy exploration lives in
        ``model.predict``)."""
        return self._model._act(self._network(), observation, explore=False), state

    def forward(self, observation: Any) -> Any:
        """The Q-values of a batch of observations (a tensor for a tensor)."""
        as_tensor = type(observation).__module__.startswith("torch")
        rows = observation.detach().cpu().numpy() if as_tensor else observation
        q = np.asarray(self._model._q_values_of(self._network(), rows), dtype=np.float32)
        if as_tensor:
            import torch
            return torch.from_numpy(q)
        return q

    __call__ = forward

    def save(self, path: Any) -> None:
        """Writes the model to the file ``path`` (deepq's zip archive), atomically."""
        self._model._write_archive(os.fspath(path))

    @classmethod
    def load(cls, path: Any, device: Any = "auto") -> "QNetworkView":
        """The network of a file :meth:`save` wrote."""
        from deepq._dqn import load_model
        check_device(device)
        return cls(load_model(path))


class TargetNetworkView(QNetworkView):
    """SB3's ``q_net_target`` (sb3-contrib's ``quantile_net_target``): the target network
    as training left it (the network itself before training, after :meth:`set_parameters`
    or a load, and in a run without a separate target network), read-only: training sets
    it from the online network (``target_update_interval``, ``tau``), and
    ``model.set_parameters`` sets both."""

    def _network(self) -> Any:
        return self._model._target_network()

    def load_state_dict(self, state_dict: dict, strict: bool = True) -> None:
        raise ValueError("the target network is read-only: training copies the online network "
                         "into it (target_update_interval, tau); model.set_parameters(...) or "
                         "model.q_net.load_state_dict(...) sets both")

    def save(self, path: Any) -> None:
        raise ValueError("only the model is saved (model.save or model.q_net.save); its target "
                         "network starts as a copy of the saved network")


class PolicyView(QNetworkView):
    """``model.policy``, SB3's ``DQNPolicy`` (sb3-contrib's ``QRDQNPolicy``): as its network
    (``policy.q_net`` and ``policy.q_net_target``, or ``policy.quantile_net`` and
    ``policy.quantile_net_target`` for QR-DQN), with ``state_dict`` names
    prefixed by that name, as SB3's policies prefix them."""

    @property
    def _PREFIX(self) -> str:  # noqa: N802 (the class attribute of QNetworkView)
        return self._model._NETWORK + "."

    def __getattr__(self, name: str) -> Any:
        if not name.startswith("_") and name == self._model._NETWORK:
            return QNetworkView(self._model)
        if not name.startswith("_") and name == self._model._NETWORK + "_target":
            return TargetNetworkView(self._model)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")


def record_learn(logger: Any, summary: dict, n_updates: int, learning_rate: float,
                 exploration_rate: float) -> None:
    """Records a ``learn()`` call's figures under SB3's keys (its ``_dump_logs`` and
    ``train()``), for ``model.logger.name_to_value`` and the logger's outputs."""
    wall = max(summary["wall_s"], 1e-9)
    logger.record("time/episodes", summary["episodes"], exclude="tensorboard")
    logger.record("time/fps", int(summary["env_steps"] / wall))
    logger.record("time/time_elapsed", int(wall), exclude="tensorboard")
    logger.record("time/total_timesteps", summary["env_steps"], exclude="tensorboard")
    logger.record("rollout/exploration_rate", exploration_rate)
    logger.record("train/learning_rate", learning_rate)
    logger.record("train/n_updates", n_updates, exclude="tensorboard")


def tensorboard_logger(tensorboard_log: str, tb_log_name: str, reset_num_timesteps: bool) -> Any:
    """SB3's ``Logger`` writing TensorBoard files through deepq's writer into
    ``tensorboard_log/{tb_log_name}_{n}``: the next run number, or the last one when
    training goes on (``reset_num_timesteps=False``), as SB3's ``configure_logger`` picks."""
    try:
        from stable_baselines3.common.logger import KVWriter, Logger
        from stable_baselines3.common.utils import get_latest_run_id
    except ImportError:
        raise ImportError("tensorboard_log writes through SB3's Logger: pip install "
                          "stable-baselines3 (or use `deepq train --tensorboard`)") from None
    from deepq import _native

    class TensorBoardFormat(KVWriter):
        """SB3's ``tensorboard`` output format, written by deepq's event writer."""

        def __init__(self, folder: str):
            self.writer = _native.EventWriter(folder)

        def write(self, key_values: dict, key_excluded: dict, step: int = 0) -> None:
            for key, value in key_values.items():
                excluded = key_excluded.get(key) or ()
                number = isinstance(value, (int, float, np.integer, np.floating))
                if "tensorboard" not in excluded and number and not isinstance(value, bool):
                    self.writer.scalar(key, int(step), float(value))
            self.writer.flush()

        def close(self) -> None:
            self.writer.flush()

    run = get_latest_run_id(tensorboard_log, tb_log_name) + (1 if reset_num_timesteps else 0)
    folder = os.path.join(tensorboard_log, f"{tb_log_name}_{max(run, 1)}")
    return Logger(folder=folder, output_formats=[TensorBoardFormat(folder)])


class Sb3Logging:
    """What SB3's ``learn()`` logs, as a progress hook: every ``log_interval`` episodes
    SB3's ``time/``, ``rollout/`` and ``train/`` keys go to ``logger`` and are dumped at the
    step (``rollout/ep_rew_mean`` over the last ``window`` episodes). Reports go on to
    ``inner``, the progress printer, if any."""

    def __init__(self, logger: Any, log_interval: int, window: int, n_updates_before: int,
                 run_updates_before: int, start_step: int, inner: Any):
        from collections import deque

        self._logger = logger
        self._log_interval = max(1, int(log_interval))
        self._returns: Any = deque(maxlen=window)
        self._lengths: Any = deque(maxlen=window)
        self._episodes = 0
        self._n_updates = n_updates_before
        self._updates_before = run_updates_before
        self._start_step = start_step
        self._start = time.perf_counter()
        self._train: dict = {}
        self._inner = inner

    def __call__(self, kind: str, info: dict) -> None:
        if self._inner is not None:
            self._inner(kind, info)
        if kind == "update":
            self._train = {"train/loss": info["loss"],
                           "train/learning_rate": info["learning_rate"],
                           "train/n_updates": self._n_updates + info["updates"]
                           - self._updates_before}
        elif kind == "episode":
            self._returns.append(info["return"])
            self._lengths.append(info["length"])
            self._episodes += 1
            if self._episodes % self._log_interval == 0:
                self._dump(info)

    def _dump(self, info: dict) -> None:
        step, log = info["step"], self._logger
        elapsed = max(time.perf_counter() - self._start, 1e-9)
        log.record("time/episodes", self._episodes, exclude="tensorboard")
        log.record("time/fps", int((step - self._start_step) / elapsed))
        log.record("time/time_elapsed", int(elapsed), exclude="tensorboard")
        log.record("time/total_timesteps", step, exclude="tensorboard")
        log.record("rollout/ep_rew_mean", float(np.mean(self._returns)))
        log.record("rollout/ep_len_mean", float(np.mean(self._lengths)))
        log.record("rollout/exploration_rate", info["exploration_rate"])
        for key, value in self._train.items():
            log.record(key, value, exclude="tensorboard" if key == "train/n_updates" else None)
        log.dump(step)

    def finish(self, summary: dict) -> None:
        if self._inner is not None:
            self._inner.finish(summary)
