"""Atari games for deepq, through ale-py.

The Arcade Learning Environment is GPL-2.0-only, which cannot share a binary with the
GPL-3.0 MinAtar port that deepq includes, so deepq never links or ships it: ale-py (0.11 or
later, its ROMs inside the wheel) is installed beside deepq with ``pip install
"deepq[atari]"`` and loaded by your Python at run time.

:func:`make_vec` builds the standard stack as ale-py's C++ ``AtariVectorEnv`` runs it (84×84
grayscale frames, 4 frames per action with the last two max-pooled, 4 stacked frames, up to
30 no-op starts, FIRE on reset where the game needs it, the 108,000-frame cap as a
truncation, sticky actions as the env id defines them), with rewards left unclipped and
lives left to the game: deepq clips rewards and ends the TD target at a lost life for
learning only (the ``clip_reward`` and ``terminal_on_life_loss`` keys of the ``atari-dqn``
preset), so returns are whole games' unclipped scores::

    import deepq, deepq.atari

    envs = deepq.atari.make_vec("Pong", num_envs=8)
    model = deepq.DQN.from_preset("atari-dqn", env=envs)
    model.learn(10_000_000)

``docs/atari.md`` sets this stack beside SB3's ``AtariWrapper`` and CleanRL's wrappers.
"""

from typing import Any, Optional

INSTALL = 'pip install "deepq[atari]"'


def _ale():
    try:
        import ale_py
        import gymnasium
    except ImportError as e:
        raise ImportError(f"Atari games need ale-py and Gymnasium ({e.name} is missing): "
                          f"{INSTALL}") from None
    gymnasium.register_envs(ale_py)
    return ale_py, gymnasium


def resolve_id(game: str) -> str:
    """The Gymnasium id of ``game``: an ALE id as it is (``"ALE/Pong-v5"``,
    ``"PongNoFrameskip-v4"``), a bare name as its v5 id (``"Pong"`` → ``"ALE/Pong-v5"``)."""
    _, gymnasium = _ale()
    candidates = [game] if ("/" in game or "-v" in game) else [f"ALE/{game}-v5"]
    for env_id in candidates:
        if env_id in gymnasium.registry:
            return env_id
    known = sorted(i[len("ALE/"):-len("-v5")] for i in gymnasium.registry
                   if i.startswith("ALE/") and i.endswith("-v5"))
    raise ValueError(f"unknown Atari game {game!r}: expected one of ale-py's {len(known)} "
                     f"games, such as {', '.join(known[:4])} (or its id, e.g. 'ALE/Pong-v5')")


def make_vec(game: str, num_envs: int = 8, *, num_threads: int = 1,
             repeat_action_probability: Optional[float] = None, noop_max: int = 30,
             **kwargs: Any):
    """``num_envs`` copies of ``game`` (a name such as ``"Pong"`` or an ALE id) with the
    standard preprocessing, as one ale-py ``AtariVectorEnv`` stepped by ``num_threads`` C++
    threads. Sticky actions follow the id (v5: 0.25; ``NoFrameskip-v4``: none) unless
    ``repeat_action_probability`` is given; other keyword arguments go to
    ``AtariVectorEnv``. The env resets copies on the next step, Gymnasium's default."""
    ale_py, gymnasium = _ale()
    if not isinstance(num_envs, int) or num_envs < 1:
        raise ValueError(f"invalid value {num_envs!r} for 'num_envs': must be at least 1")
    env_id = resolve_id(game)
    spec = gymnasium.spec(env_id).kwargs
    if repeat_action_probability is None:
        repeat_action_probability = spec.get("repeat_action_probability", 0.25)
    options = dict(
        num_threads=num_threads,
        repeat_action_probability=repeat_action_probability,
        full_action_space=spec.get("full_action_space", False),
        max_num_frames_per_episode=spec.get("max_num_frames_per_episode", 108_000),
        noop_max=noop_max,
        frameskip=4,
        stack_num=4,
        img_height=84,
        img_width=84,
        grayscale=True,
        maxpool=True,
        use_fire_reset=True,
        episodic_life=False,
        reward_clipping=False,
    )
    options.update(kwargs)
    from ale_py.vector_env import AtariVectorEnv

    envs = AtariVectorEnv(spec["game"], num_envs, **options)
    # The id deepq records for the run (the vector env has no spec of its own).
    envs.deepq_id = env_id
    return envs
