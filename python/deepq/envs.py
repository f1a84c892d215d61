"""deepq's Rust environments for any Python RL library, behind Gymnasium's interfaces.

``make(id)`` returns a ``gymnasium.Env`` and ``make_vec(id, num_envs)`` a
``gymnasium.vector.VectorEnv`` that steps every copy in Rust in one call. Observations,
spaces and dtypes are those of Gymnasium's own environment of that id (of the ``minatar``
package's for MinAtar), and every step reproduces Gymnasium's from the same state.

Importing this module registers every built-in id with Gymnasium under the ``deepq``
namespace, so libraries that take an id work unchanged::

    import deepq.envs
    env = gymnasium.make("deepq/CartPole-v1")
    envs = gymnasium.make_vec("deepq/CartPole-v1", num_envs=8)   # the Rust vector env
    # without importing deepq first: gymnasium.make("deepq.envs:deepq/CartPole-v1")

MinAtar's ids lose their slash there: ``MinAtar/Breakout-v1`` is ``deepq/MinAtar-Breakout-v1``
(:func:`gymnasium_id`). The ids themselves are listed by ``deepq.env_ids()``.

Two things differ from Gymnasium: seeds drive deepq's own random generator, so
``reset(seed=0)`` gives another (equally distributed) start state than Gymnasium's; and
``reset(options={"state": ...})`` starts classic-control and toy-text envs from a given state
(CartPole's ``[x, x_dot, theta, theta_dot]``, a toy-text env's cell), which is how a run can
follow Gymnasium's own start states exactly.

This module needs Gymnasium (``pip install "deepq[gymnasium]"``); ``import deepq`` does not.
"""

from __future__ import annotations

import functools
import operator
from typing import Any, Optional, Sequence, Union

import numpy as np

try:
    import gymnasium as gym
    from gymnasium.vector import AutoresetMode, VectorEnv
    from gymnasium.vector.utils import batch_space
except ImportError as error:
    raise ImportError(
        "deepq.envs needs gymnasium>=1.0: pip install 'deepq[gymnasium]'"
    ) from error

from deepq import _native
from deepq._envs import plain, resolve_env

__all__ = [
    "make",
    "make_vec",
    "gymnasium_id",
    "DeepqEnv",
    "DeepqVectorEnv",
    "NAMESPACE",
]

NAMESPACE = "deepq"
"""The Gymnasium namespace of deepq's environments."""

_RENDER_MODES = ["rgb_array", "ansi"]

# Frames per second of Gymnasium's renderers, for video recorders that read
# ``metadata["render_fps"]``. The minatar package declares none; 20 is its display's pace
# (a frame every 50 ms).
_RENDER_FPS = {"CartPole": 50, "Acrobot": 15, "MountainCar": 30, "LunarLander": 50,
               "FrozenLake": 4, "FrozenLake8x8": 4, "Taxi": 4, "CliffWalking": 4,
               "CliffWalkingSlippery": 4, "MinAtar": 20}

# ``max_episode_steps`` that switches deepq's own time limit off, for ``gymnasium.make``,
# which adds its TimeLimit wrapper with the registered (or the caller's) limit.
_NO_LIMIT = 2**62

# Gymnasium's AutoresetMode to the native module's names.
_AUTORESET = {AutoresetMode.NEXT_STEP: "next_step", AutoresetMode.SAME_STEP: "same_step",
              AutoresetMode.DISABLED: "disabled"}


def gymnasium_id(env_id: str) -> str:
    """The id under which the built-in env ``env_id`` is registered with Gymnasium:
    ``"CartPole-v1"`` -> ``"deepq/CartPole-v1"``, ``"MinAtar/Breakout-v1"`` ->
    ``"deepq/MinAtar-Breakout-v1"`` (Gymnasium's ids have one slash at most)."""
    return f"{NAMESPACE}/{env_id.replace('/', '-')}"


def _limits(info: dict):
    """``(max_episode_steps, reward_threshold)`` for Gymnasium from the native env info: None
    where deepq has none (MinAtar's "limit" is the largest integer there is, its threshold
    infinite)."""
    limit, threshold = info["max_episode_steps"], info["reward_threshold"]
    return (limit if limit < _NO_LIMIT else None,
            threshold if np.isfinite(threshold) else None)


def _describe(env_id: str, kwargs: dict):
    """Spaces, spec and metadata of the built-in env ``env_id`` made with ``kwargs``; an
    unknown id or a bad kwarg raises the registry's ValueError."""
    if not isinstance(env_id, str):
        raise TypeError(f"env id must be a string, not {type(env_id).__name__!r}")
    info = _native.builtin_env(env_id, kwargs)  # raises for unknown ids and bad kwargs
    observation_space, action_space = resolve_env(env_id, kwargs).spaces()
    limit, threshold = _limits(info)
    spec = gym.envs.registration.EnvSpec(
        id=gymnasium_id(env_id),
        entry_point=functools.partial(_entry_point, env_id),
        vector_entry_point=functools.partial(_vector_entry_point, env_id),
        reward_threshold=threshold,
        max_episode_steps=limit,
        kwargs=dict(kwargs),
    )
    metadata = {"render_modes": list(_RENDER_MODES)}
    family = env_id.split("/")[0].split("-v")[0]
    if family in _RENDER_FPS:
        metadata["render_fps"] = _RENDER_FPS[family]
    return observation_space, action_space, spec, metadata


def _check_render_mode(render_mode: Optional[str]) -> None:
    if render_mode is not None and render_mode not in _RENDER_MODES:
        raise ValueError(
            f"invalid render_mode {render_mode!r}; expected one of {_RENDER_MODES} or None"
        )


def _seed(seed: Any) -> Optional[int]:
    """A reset seed: None or a non-negative integer."""
    if seed is None:
        return None
    try:
        value = operator.index(seed)
    except TypeError:
        raise TypeError(f"seed must be an integer or None, not {seed!r}") from None
    if value < 0:
        raise ValueError(f"invalid seed {value}; expected a non-negative integer")
    return value


def _render(native, render_mode: Optional[str], index: int):
    if render_mode == "rgb_array":
        return native.render_rgb(index)
    if render_mode == "ansi":
        return native.render_text(index)
    gym.logger.warn(
        "render() called without a render_mode; make the env with render_mode='rgb_array' "
        "or 'ansi'"
    )
    return None


class DeepqEnv(gym.Env):
    """A deepq built-in environment as a ``gymnasium.Env`` (see the module docs).

    ``render_mode`` is ``"rgb_array"`` (a ``(height, width, 3)`` uint8 frame), ``"ansi"``
    (a text picture) or None; ``kwargs`` are the env's keyword arguments, as for
    ``gymnasium.make`` (``max_episode_steps`` included).
    """

    def __init__(self, id: str, render_mode: Optional[str] = None, **kwargs: Any):
        _check_render_mode(render_mode)
        kwargs = plain(kwargs)
        self._native = _native.NativeEnvs(id, 1, kwargs, "disabled")
        self.observation_space, self.action_space, self.spec, self.metadata = \
            _describe(id, kwargs)
        self.render_mode = render_mode
        self._id = id
        self._n_actions = int(self.action_space.n)
        self._discrete = isinstance(self.observation_space, gym.spaces.Discrete)
        self._needs_reset = True

    def _observation(self, batch: np.ndarray):
        return int(batch[0]) if self._discrete else batch[0]

    def reset(self, *, seed: Optional[int] = None, options: Optional[dict] = None):
        """Starts an episode: ``seed`` reseeds deepq's generator for this env; ``options``
        may hold ``"state"``, a state to start from (see the module docs)."""
        seed = _seed(seed)
        super().reset(seed=seed)
        state = (options or {}).get("state")
        if state is not None:
            obs = self._native.reset_to_state(0, plain(np.asarray(state, dtype=np.float64)))
        else:
            obs = self._native.reset([seed])
        self._needs_reset = False
        return self._observation(obs), {}

    def step(self, action: Any):
        """One step with an integer action of the ``Discrete`` action space."""
        if self._needs_reset:
            raise gym.error.ResetNeeded("call reset() before step()")
        if isinstance(action, np.ndarray) and action.shape != ():
            raise ValueError(
                f"{self._id}: an action is one integer, got an array of shape {action.shape}"
            )
        try:
            a = operator.index(action)
        except TypeError:
            kind = getattr(action, "dtype", type(action).__name__)
            raise TypeError(
                f"{self._id}: an action is an integer of {self.action_space}, got {action!r} "
                f"({kind})"
            ) from None
        if not 0 <= a < self._n_actions:
            raise ValueError(
                f"{self._id}: invalid action {a}; valid actions are 0..{self._n_actions}"
            )
        obs, rewards, terminated, truncated, _ = self._native.step((a,))
        return (self._observation(obs), float(rewards[0]), bool(terminated[0]),
                bool(truncated[0]), {})

    def render(self):
        """The current frame in the env's ``render_mode``."""
        return _render(self._native, self.render_mode, 0)

    def state(self) -> np.ndarray:
        """The internal state (what ``reset(options={"state": ...})`` takes)."""
        return np.asarray(self._native.state(0))


class DeepqVectorEnv(VectorEnv):
    """``num_envs`` copies of a deepq built-in environment stepped together in Rust, as a
    ``gymnasium.vector.VectorEnv`` with Gymnasium 1.x's autoreset semantics.

    ``autoreset_mode`` (an ``AutoresetMode`` or its value):

    - ``NEXT_STEP`` (Gymnasium's default): the step after an episode ends resets that copy,
      ignoring its action, and returns the first observation with reward 0 and both flags
      false.
    - ``SAME_STEP`` (what Stable-Baselines3's ``VecEnv`` does): the step that ends the episode
      resets the copy and returns the new episode's first observation; the last observation
      is in ``infos["final_obs"]`` (an object array, None for copies that did not finish),
      with ``infos["_final_obs"]`` marking the finished copies, and ``infos["final_info"]`` /
      ``infos["_final_info"]`` likewise.
    - ``DISABLED``: no automatic reset; reset finished copies with
      ``reset(options={"reset_mask": mask})``.

    ``reset(seed=s)`` seeds copy ``i`` with ``s + i``; a list gives one seed (or None) per
    copy. Actions are an integer array of shape ``(num_envs,)``.
    """

    def __init__(self, id: str, num_envs: int,
                 autoreset_mode: Union[AutoresetMode, str] = AutoresetMode.NEXT_STEP,
                 render_mode: Optional[str] = None, **kwargs: Any):
        _check_render_mode(render_mode)
        try:
            mode = AutoresetMode(autoreset_mode)
        except ValueError:
            allowed = ", ".join(m.value for m in AutoresetMode)
            raise ValueError(
                f"invalid autoreset_mode {autoreset_mode!r}; expected an AutoresetMode or one "
                f"of {allowed}"
            ) from None
        if not isinstance(num_envs, (int, np.integer)) or isinstance(num_envs, bool):
            raise TypeError(f"num_envs must be an integer, not {num_envs!r}")
        if num_envs < 1:
            raise ValueError(f"invalid num_envs {num_envs}; expected at least 1")
        kwargs = plain(kwargs)
        self._native = _native.NativeEnvs(id, int(num_envs), kwargs, _AUTORESET[mode])
        single_obs, single_action, spec, metadata = _describe(id, kwargs)
        self.num_envs = int(num_envs)
        self.single_observation_space = single_obs
        self.single_action_space = single_action
        self.observation_space = batch_space(single_obs, self.num_envs)
        self.action_space = batch_space(single_action, self.num_envs)
        self.autoreset_mode = mode
        self.metadata = dict(metadata, autoreset_mode=mode)
        self.render_mode = render_mode
        self.spec = spec
        self.spec.kwargs = dict(kwargs, num_envs=self.num_envs)
        self._same_step = mode == AutoresetMode.SAME_STEP

    def reset(self, *, seed: Union[int, Sequence[Optional[int]], None] = None,
              options: Optional[dict] = None):
        """Resets the copies (all, or those of ``options["reset_mask"]``)."""
        if seed is None:
            seeds = None
        elif isinstance(seed, (int, np.integer)):
            first = _seed(seed)
            seeds = [first + i for i in range(self.num_envs)]
        else:
            seeds = [_seed(s) for s in seed]
            if len(seeds) != self.num_envs:
                raise ValueError(
                    f"got {len(seeds)} seeds for num_envs={self.num_envs}; pass one per copy"
                )
        if seed is not None:
            self._np_random, self._np_random_seed = gym.utils.seeding.np_random(seeds[0])
        mask = (options or {}).get("reset_mask")
        if mask is not None:
            mask = np.asarray(mask)
            if mask.dtype != np.bool_ or mask.shape != (self.num_envs,):
                raise ValueError(
                    f"options['reset_mask'] must be a bool array of shape ({self.num_envs},), "
                    f"got {mask.dtype} of shape {mask.shape}"
                )
            mask = mask.tolist()
        return self._native.reset(seeds, mask), {}

    def step(self, actions: Any):
        """Steps every copy with its action; see the class docs for the autoreset."""
        obs, rewards, terminated, truncated, final_obs = self._native.step(actions)
        if final_obs is None:
            return obs, rewards, terminated, truncated, {}
        done = terminated | truncated
        finals = np.full(self.num_envs, None, dtype=object)
        for i in np.flatnonzero(done):
            finals[i] = final_obs[i]
        infos = {"final_obs": finals, "_final_obs": done, "final_info": {},
                 "_final_info": done.copy()}
        return obs, rewards, terminated, truncated, infos

    def render(self):
        """One frame per copy (a tuple), in the env's ``render_mode``."""
        if self.render_mode is None:
            return _render(self._native, None, 0)
        return tuple(_render(self._native, self.render_mode, i) for i in range(self.num_envs))


def make(id: str, render_mode: Optional[str] = None, **kwargs: Any) -> DeepqEnv:
    """The built-in environment ``id`` (e.g. ``"CartPole-v1"``, ``"MinAtar/Breakout-v1"``)
    as a ``gymnasium.Env``; ``kwargs`` are its keyword arguments (``max_episode_steps``,
    ``is_slippery``, ...)."""
    return DeepqEnv(id, render_mode=render_mode, **kwargs)


def make_vec(id: str, num_envs: int,
             autoreset_mode: Union[AutoresetMode, str] = AutoresetMode.NEXT_STEP,
             render_mode: Optional[str] = None, **kwargs: Any) -> DeepqVectorEnv:
    """``num_envs`` copies of the built-in environment ``id`` stepped together in Rust, as a
    ``gymnasium.vector.VectorEnv`` (see :class:`DeepqVectorEnv`)."""
    return DeepqVectorEnv(id, num_envs, autoreset_mode=autoreset_mode,
                          render_mode=render_mode, **kwargs)


def _entry_point(env_id: str, **kwargs: Any) -> DeepqEnv:
    """``gymnasium.make``'s constructor: Gymnasium adds the TimeLimit wrapper itself (with
    the registered limit or the caller's ``max_episode_steps``), so deepq's is switched off."""
    return DeepqEnv(env_id, **dict(kwargs, max_episode_steps=_NO_LIMIT))


def _vector_entry_point(env_id: str, num_envs: int, **kwargs: Any) -> DeepqVectorEnv:
    """``gymnasium.make_vec``'s constructor (it passes the registered ``max_episode_steps``)."""
    return DeepqVectorEnv(env_id, num_envs, **kwargs)


def _register() -> None:
    """Registers every built-in id with Gymnasium under :data:`NAMESPACE` (once)."""
    for env_id in _native.env_ids():
        name = gymnasium_id(env_id)
        if name in gym.registry:
            continue
        limit, threshold = _limits(_native.builtin_env(env_id))
        gym.register(
            id=name,
            entry_point=functools.partial(_entry_point, env_id),
            vector_entry_point=functools.partial(_vector_entry_point, env_id),
            max_episode_steps=limit,
            reward_threshold=threshold,
        )


_register()
