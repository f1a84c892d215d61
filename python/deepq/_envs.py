"""Environments for deepq's Python API.

An ``env`` argument is either an environment id or a Gymnasium ``Env``:

- an id of a deepq built-in environment (``"CartPole-v1"``, ``"FrozenLake-v1"``, ...) runs
  deepq's Rust implementation, at full speed;
- any other id registered with Gymnasium is made with ``gymnasium.make``;
- a Gymnasium ``Env`` (with a ``Discrete`` action space and a ``Box`` or ``Discrete``
  observation space) is stepped from Rust through Python, honouring ``terminated`` and
  ``truncated`` exactly as it reports them.

Images follow Stable-Baselines3's conventions. A three-dimensional ``Box`` of ``uint8`` or
``bool`` is an image (and so is any three-dimensional ``Box`` for a convolutional network).
It may be channels-last, (height, width, channels) as MinAtar and SB3's Atari wrappers give it,
or channels-first, (channels, height, width) as PyTorch code and ``FrameStackObservation``
give it: the first dimension is taken as channels when it is strictly the smallest, as SB3's
``is_image_space_channels_first`` decides. deepq's network reads (height, width, channels),
transposing channels-first observations, and sees ``uint8`` values divided by 255, as SB3's
``normalize_images`` does.
"""

from __future__ import annotations

import re
from typing import Any, Optional

import numpy as np

from deepq import _native


def _gymnasium():
    """The gymnasium module, or None when it is not installed."""
    try:
        import gymnasium
    except ImportError:
        return None
    return gymnasium


def plain(value: Any) -> Any:
    """``value`` with NumPy scalars and arrays, tuples and nested containers turned into
    plain Python values (what the native module accepts)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def channels_first(shape: tuple) -> bool:
    """Whether an image of ``shape`` is (channels, height, width): its first dimension is
    strictly the smallest. Ties (MinAtar's 10×10×10 Seaquest) read as channels-last."""
    return len(shape) == 3 and shape[0] < min(shape[1], shape[2])


class ObservationEncoding:
    """How observations of one space reach the network: a ``Box`` as flat float32 rows,
    an image (``kind="image"``) as flat rows in (height, width, channels) order with ``uint8``
    values divided by 255, a ``Discrete(n, start)`` as one-hot rows of width ``n``.

    An image's ``shape`` is the env's own, channels-first or channels-last (see the module
    docs); ``dtype`` is ``"bool"``, ``"uint8"`` or ``"float32"``."""

    def __init__(self, kind: str, shape: tuple = (), n: int = 0, start: int = 0,
                 dtype: str = "float32"):
        self.kind = kind
        self.shape = tuple(int(d) for d in shape)
        self.n = int(n)
        self.start = int(start)
        self.dtype = dtype

    @property
    def dim(self) -> int:
        """Width of the flat observation (the network's input)."""
        return self.n if self.kind == "discrete" else int(np.prod(self.shape, dtype=np.int64))

    @property
    def channels_first(self) -> bool:
        """Whether the env gives images as (channels, height, width)."""
        return self.kind == "image" and channels_first(self.shape)

    @property
    def image_shape(self) -> Optional[tuple]:
        """(height, width, channels) of an image; None for other spaces."""
        if self.kind != "image":
            return None
        if self.channels_first:
            c, h, w = self.shape
            return (h, w, c)
        return self.shape

    def describe(self) -> str:
        """``Box(4,)``, ``Box(84, 84, 4, dtype=uint8)`` (an image) or
        ``Discrete(16, start=0)``, the form :meth:`parse` reads."""
        if self.kind == "discrete":
            return f"Discrete({self.n}, start={self.start})"
        if self.kind == "image":
            return "Box({}, dtype={})".format(", ".join(str(d) for d in self.shape), self.dtype)
        return f"Box{self.shape}"

    @classmethod
    def parse(cls, text: str) -> Optional["ObservationEncoding"]:
        """Reads what :meth:`describe` wrote; None when ``text`` is not such a description."""
        text = text.strip()
        m = re.fullmatch(r"Discrete\((\d+), start=(-?\d+)\)", text)
        if m:
            return cls("discrete", n=int(m.group(1)), start=int(m.group(2)))
        m = re.fullmatch(r"Box\(([\d, ]*?)(?:,? ?dtype=(bool|uint8|float32))?\)", text)
        if m:
            dims = tuple(int(d) for d in m.group(1).replace(" ", "").split(",") if d)
            if m.group(2):
                return cls("image", shape=dims, dtype=m.group(2))
            return cls("box", shape=dims)
        return None

    def _batch(self, observation: Any) -> tuple[np.ndarray, bool]:
        """A ``Box`` observation or batch as an array of shape ``(n, *shape)``, and whether
        it was a single observation; shapes are checked as Stable-Baselines3 checks them."""
        arr = np.asarray(observation)
        if arr.shape == self.shape:
            return arr.reshape(1, *self.shape), True
        if arr.ndim == len(self.shape) + 1 and arr.shape[1:] == self.shape and len(arr) > 0:
            return arr, False
        dims = ", ".join(str(d) for d in self.shape)
        raise ValueError(
            f"Error: Unexpected observation shape {arr.shape} for Box environment, "
            f"please use {self.shape} or (n_env, {dims}) for the observation shape."
        )

    def decode(self, rows: np.ndarray) -> np.ndarray:
        """Observations as the env gives them, from rows of their flat encoding (one row per
        observation): the inverse of :meth:`encode`."""
        rows = np.asarray(rows, dtype=np.float32).reshape(-1, self.dim)
        if self.kind == "box":
            return rows.reshape(len(rows), *self.shape)
        if self.kind == "image":
            values = rows.reshape(len(rows), *self.image_shape)
            if self.channels_first:
                values = values.transpose(0, 3, 1, 2)
            if self.dtype == "uint8":
                return np.rint(values * np.float32(255)).astype(np.uint8)
            if self.dtype == "bool":
                return values > 0.5
            return np.ascontiguousarray(values)
        return rows.argmax(axis=1).astype(np.int64) + self.start

    def encode(self, observation: Any) -> tuple[np.ndarray, bool]:
        """Rows of the flat encoding of one observation or a batch of them, and whether it
        was a single observation. Shapes are checked as Stable-Baselines3 checks them."""
        if self.kind == "box":
            arr, single = self._batch(observation)
            rows = arr.astype(np.float32, copy=False).reshape(len(arr), self.dim)
            return np.ascontiguousarray(rows), single
        if self.kind == "image":
            arr, single = self._batch(observation)
            values = arr.astype(np.float32)
            if self.channels_first:
                values = values.transpose(0, 2, 3, 1)
            if self.dtype == "uint8":
                values = values / np.float32(255)
            return np.ascontiguousarray(values.reshape(len(arr), self.dim)), single
        arr = np.asarray(observation)
        if arr.ndim == 0:
            single, values = True, arr.reshape(1)
        elif arr.ndim == 1 and len(arr) > 0:
            single, values = False, arr
        elif arr.ndim == 2 and arr.shape[1] == 1 and len(arr) > 0:
            single, values = False, arr[:, 0]
        else:
            raise ValueError(
                f"Error: Unexpected observation shape {arr.shape} for Discrete environment, "
                "please use () or (n_env,) for the observation shape."
            )
        if not np.issubdtype(values.dtype, np.integer):
            if not (np.issubdtype(values.dtype, np.number) and np.all(values == np.round(values))):
                raise ValueError(
                    f"observation {observation!r} is not an integer of the observation space "
                    f"Discrete({self.n}, start={self.start})"
                )
        index = values.astype(np.int64) - self.start
        if np.any((index < 0) | (index >= self.n)):
            raise ValueError(
                f"observation {observation!r} is outside the observation space "
                f"Discrete({self.n}, start={self.start})"
            )
        rows = np.zeros((len(index), self.n), dtype=np.float32)
        rows[np.arange(len(index)), index] = 1.0
        return rows, single


class EnvHandle:
    """A resolved ``env`` argument.

    Attributes:
        source: what the user passed (an id or the Gymnasium env).
        id: the environment id stored in the config (``env`` key).
        env_kwargs: the ``env_kwargs`` stored in the config.
        gym: the native ``GymEnv`` for a Python env; None for a built-in one.
        observation: the :class:`ObservationEncoding`.
        n_actions, action_start: the discrete action space.
        reward_threshold: the env's threshold, None when it has none.
    """

    def __init__(self, source, id, env_kwargs, gym, observation, n_actions, action_start,
                 reward_threshold):
        self.source = source
        self.id = id
        self.env_kwargs = env_kwargs
        self.gym = gym
        self.observation = observation
        self.n_actions = n_actions
        self.action_start = action_start
        self.reward_threshold = reward_threshold
        #: Copies of a vector env (Gymnasium or SB3), None for a single env.
        self.num_envs: Optional[int] = None
        #: A vector env's autoreset mode (``"NextStep"``, ``"SameStep"``, ``"sb3"``).
        self.autoreset: Optional[str] = None

    @property
    def is_builtin(self) -> bool:
        """Whether the env runs in Rust."""
        return self.gym is None

    def spaces(self):
        """``(observation_space, action_space)`` as Gymnasium spaces, or ``(None, None)``
        when Gymnasium is not installed and the env is a built-in one."""
        if not self.is_builtin:
            return self.source.observation_space, self.source.action_space
        return gymnasium_spaces(self.observation, self.n_actions, self.action_start, self.id)


def gymnasium_spaces(observation: ObservationEncoding, n_actions: int, action_start: int,
                     env_id: Optional[str]):
    """Gymnasium spaces for an encoding (with the built-in env's bounds when it is one)."""
    gym = _gymnasium()
    if gym is None:
        return None, None
    actions = gym.spaces.Discrete(n_actions, start=action_start)
    if observation.kind == "discrete":
        return gym.spaces.Discrete(observation.n, start=observation.start), actions
    if observation.kind == "image":
        dtype = np.dtype(observation.dtype)
        high = {"bool": 1, "uint8": 255}.get(observation.dtype, np.inf)
        low = 0 if observation.dtype in ("bool", "uint8") else -np.inf
        return gym.spaces.Box(low, high, shape=observation.shape, dtype=dtype), actions
    low, high = -np.inf, np.inf
    if env_id is not None and _native.is_builtin(env_id):
        kind, shape, low_list, high_list = _native.builtin_env(env_id)["observation"]
        if kind == "box" and tuple(shape) == observation.shape:
            low = np.asarray(low_list, dtype=np.float32).reshape(observation.shape)
            high = np.asarray(high_list, dtype=np.float32).reshape(observation.shape)
    return gym.spaces.Box(low, high, shape=observation.shape, dtype=np.float32), actions


def resolve_env(env: Any, env_kwargs: Optional[dict] = None, cnn: bool = False) -> EnvHandle:
    """Resolves an ``env`` argument (see the module docs); ``env_kwargs`` apply to ids.
    ``cnn``: the network is convolutional, so any three-dimensional ``Box`` is an image.
    The ``VecEnv`` that ``DQN.get_env()`` gives stands for the env it wraps."""
    env = getattr(env, "deepq_source", env)
    if isinstance(env, str):
        return _from_id(env, env_kwargs or {}, cnn)
    if env_kwargs:
        raise ValueError(
            "env_kwargs apply to environment ids; make the Gymnasium env with its arguments instead"
        )
    return _from_gymnasium(env, env, cnn)


def _from_id(env_id: str, env_kwargs: dict, cnn: bool) -> EnvHandle:
    if _native.is_builtin(env_id):
        kwargs = plain(env_kwargs)
        info = _native.builtin_env(env_id, kwargs)
        obs = info["observation"]
        if obs[0] == "box":
            encoding = ObservationEncoding("box", shape=tuple(obs[1]))
        elif obs[0] == "image":
            encoding = ObservationEncoding("image", shape=tuple(obs[1]), dtype=obs[2])
        else:
            encoding = ObservationEncoding("discrete", n=obs[1])
        return EnvHandle(env_id, env_id, kwargs, None, encoding, info["n_actions"], 0,
                         info["reward_threshold"])
    if _is_atari(env_id):
        from deepq import atari

        return _from_gymnasium(atari.make_vec(env_id, 1, **env_kwargs), env_id, cnn)
    gym = _gymnasium()
    if gym is not None and env_id in gym.registry:
        return _from_gymnasium(gym.make(env_id, **env_kwargs), env_id, cnn)
    _native.builtin_env(env_id)  # raises the registry's "unknown environment id" ValueError
    raise AssertionError("unreachable: an unknown id raises")


def _is_atari(env_id: str) -> bool:
    """Whether ``env_id`` names an Atari game (``ALE/Pong-v5``, ``PongNoFrameskip-v4``):
    those are built with :func:`deepq.atari.make_vec`'s standard preprocessing."""
    return env_id.startswith("ALE/") or env_id.endswith(("NoFrameskip-v4", "Deterministic-v4"))


def _kind(space) -> Optional[str]:
    """``"discrete"``, ``"box"`` or None for any other space."""
    gym = _gymnasium()
    if gym is not None:
        if isinstance(space, gym.spaces.Discrete):
            return "discrete"
        if isinstance(space, gym.spaces.Box):
            return "box"
        return None
    name = type(space).__name__
    return {"Discrete": "discrete", "Box": "box"}.get(name)


def _image_dtype(space, cnn: bool) -> Optional[str]:
    """The element type of an image ``Box`` (see the module docs), None for a flat one."""
    if len(space.shape) != 3:
        return None
    dtype = np.dtype(space.dtype)
    if dtype == np.bool_:
        return "bool"
    if dtype == np.uint8:
        return "uint8"
    return "float32" if cnn else None


def vector_kind(env: Any) -> Optional[tuple]:
    """``(num_envs, autoreset)`` for a vector env, None for a single one: a Gymnasium
    ``VectorEnv`` (``autoreset`` its ``AutoresetMode`` value, ``"NextStep"`` unless its
    metadata says otherwise) or a Stable-Baselines3 ``VecEnv`` (``"sb3"``)."""
    if hasattr(env, "single_observation_space") and hasattr(env, "num_envs"):
        mode = (getattr(env, "metadata", None) or {}).get("autoreset_mode", "NextStep")
        return int(env.num_envs), str(getattr(mode, "value", mode))
    if hasattr(env, "step_async") and hasattr(env, "num_envs") and hasattr(env, "get_attr"):
        return int(env.num_envs), "sb3"
    return None


def _vector_spec(env: Any, autoreset: str):
    """The spec of a vector env's copies, if it has one."""
    if autoreset != "sb3":
        return getattr(env, "spec", None)
    try:
        return env.get_attr("spec", indices=[0])[0]
    except Exception:  # an SB3 VecEnv whose copies have no spec
        return None


def _from_gymnasium(env: Any, source: Any, cnn: bool = False) -> EnvHandle:
    for attr in ("reset", "step", "observation_space", "action_space"):
        if not hasattr(env, attr):
            raise TypeError(
                f"env must be an environment id, a Gymnasium Env or VectorEnv, or an SB3 "
                f"VecEnv, not {type(env).__name__!r}"
            )
    vector = vector_kind(env)
    if vector is not None and vector[1] not in ("NextStep", "SameStep", "sb3"):
        raise ValueError(f"deepq cannot train on a vector env with autoreset mode "
                         f"'{vector[1]}': make it with NextStep or SameStep")
    spec = (getattr(env, "spec", None) if vector is None
            else _vector_spec(env, vector[1]))
    env_id = (spec.id if spec is not None
              else getattr(env, "deepq_id", None)
              or type(getattr(env, "unwrapped", env)).__name__)
    single = vector is not None and vector[1] != "sb3"
    actions = env.single_action_space if single else env.action_space
    if _kind(actions) != "discrete":
        raise ValueError(f"deepq needs a Discrete action space; {env_id} has {actions}")
    space = env.single_observation_space if single else env.observation_space
    kind = _kind(space)
    if kind == "discrete":
        encoding = ObservationEncoding("discrete", n=int(space.n), start=int(space.start))
        obs_args = dict(obs_n=encoding.n, obs_start=encoding.start)
    elif kind == "box" and _image_dtype(space, cnn) is not None:
        encoding = ObservationEncoding("image", shape=tuple(space.shape),
                                       dtype=_image_dtype(space, cnn))
        obs_args = dict(obs_shape=list(encoding.shape), image_dtype=encoding.dtype,
                        channels_first=encoding.channels_first)
    elif kind == "box":
        encoding = ObservationEncoding("box", shape=tuple(space.shape))
        bounds = [np.broadcast_to(np.asarray(b, dtype=np.float32), encoding.shape).ravel().tolist()
                  for b in (space.low, space.high)]
        obs_args = dict(obs_shape=list(encoding.shape), obs_low=bounds[0], obs_high=bounds[1])
    else:
        raise ValueError(
            f"deepq needs a Box or Discrete observation space; {env_id} has {space}"
        )
    threshold = getattr(spec, "reward_threshold", None)
    max_steps = getattr(spec, "max_episode_steps", None) or 0
    if vector is not None:
        obs_args.update(num_envs=vector[0], autoreset=vector[1])
    native = _native.GymEnv(
        env,
        n_actions=int(actions.n),
        action_start=int(getattr(actions, "start", 0)),
        id=env_id,
        max_episode_steps=int(max_steps),
        reward_threshold=None if threshold is None else float(threshold),
        **obs_args,
    )
    handle = EnvHandle(source, env_id, _stored_kwargs(spec, env_id), native, encoding,
                       int(actions.n), int(getattr(actions, "start", 0)),
                       None if threshold is None else float(threshold))
    handle.num_envs = None if vector is None else vector[0]
    handle.autoreset = None if vector is None else vector[1]
    return handle


def _stored_kwargs(spec, env_id: str) -> dict:
    """The ``env_kwargs`` to store for a Gymnasium env whose id is also a built-in one, so
    that ``deepq eval`` rebuilds the same environment: its spec's kwargs and step limit, when
    the built-in env accepts them."""
    if spec is None or not _native.is_builtin(env_id):
        return {}
    kwargs = {k: plain(v) for k, v in (getattr(spec, "kwargs", None) or {}).items()
              if k != "render_mode"}
    registered = _native.builtin_env(env_id)["max_episode_steps"]
    if spec.max_episode_steps and spec.max_episode_steps != registered:
        kwargs["max_episode_steps"] = int(spec.max_episode_steps)
    try:
        _native.builtin_env(env_id, kwargs)
    except (ValueError, TypeError):
        return {}
    return kwargs
