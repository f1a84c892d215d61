"""``deepq.evaluate_policy``: Stable-Baselines3's ``evaluate_policy`` for deepq models."""

from __future__ import annotations

from typing import Any, Callable, Optional

import numpy as np

from deepq import _native
from deepq._envs import resolve_env


def evaluate_policy(model: Any, env: Any, n_eval_episodes: int = 10, deterministic: bool = True,
                    render: bool = False, callback: Optional[Callable] = None,
                    reward_threshold: Optional[float] = None,
                    return_episode_rewards: bool = False, warn: bool = True,
                    seed: Optional[int] = None):
    """Runs ``n_eval_episodes`` whole episodes of ``model``'s policy on ``env`` and returns
    ``(mean_reward, std_reward)``, or with ``return_episode_rewards=True`` the lists
    ``(episode_rewards, episode_lengths)``, as SB3's ``evaluate_policy``.

    ``env`` is an environment id (built-in ones run in Rust) or a Gymnasium env (stepped
    from Rust through Python). ``deterministic=False`` acts ε-greedily with the model's
    ``exploration_rate``. ``render=True`` calls ``env.render()`` after each step and
    ``callback(locals_, globals_)`` is called after each step, as in SB3; both need a
    Gymnasium env object and run the episodes in Python. Every episode ends after at most
    the model's ``eval_max_episode_steps`` steps (27,000 by default), so an env without a
    time limit cannot make the evaluation run forever; a cut episode counts as truncated. ``reward_threshold`` raises
    AssertionError when the mean is not above it. ``seed`` seeds the first reset (by default
    the env continues its own random stream, as in SB3). ``warn`` exists for SB3
    compatibility: deepq counts returns itself, so there is no Monitor wrapper to warn about.
    """
    episodes = int(n_eval_episodes)
    if episodes < 1:
        raise ValueError(f"invalid value {n_eval_episodes} for 'n_eval_episodes': must be at least 1")
    max_steps = int(model._config.get("eval_max_episode_steps"))
    env = getattr(env, "deepq_source", env)  # DQN.get_env()'s VecEnv stands for its env
    if render or callback is not None:
        if isinstance(env, str):
            raise ValueError("render and callback need a Gymnasium env object, not an id")
        returns, lengths = _python_loop(model, env, episodes, deterministic, render, callback,
                                        seed, max_steps)
    else:
        returns, lengths = _native_loop(model, env, episodes, deterministic, seed, max_steps)
    mean, std = float(np.mean(returns)), float(np.std(returns))
    if reward_threshold is not None:
        assert mean > reward_threshold, (
            f"Mean reward below threshold: {mean:.2f} < {reward_threshold:.2f}")
    if return_episode_rewards:
        return returns, lengths
    return mean, std


def _native_loop(model, env, episodes, deterministic, seed, max_steps):
    """The episodes run in Rust (calling into Python only to step a Gymnasium env)."""
    if isinstance(env, str):
        same = env == model._config.get("env")
        handle = resolve_env(env, model._config.get("env_kwargs") if same else None)
    else:
        handle = resolve_env(env)
    target = handle.id if handle.is_builtin else handle.gym
    epsilon = 0.0 if deterministic else float(model.exploration_rate)
    rng_seed = int(model._rng.integers(0, 2**63 - 1))
    returns, lengths, _capped = _native.evaluate(
        model._net, target, episodes, max_steps, seed=seed, epsilon=epsilon, rng_seed=rng_seed,
        env_kwargs=handle.env_kwargs if handle.is_builtin else None)
    return [float(r) for r in returns], [int(n) for n in lengths]


def _python_loop(model, env, episodes, deterministic, render, callback, seed, max_steps):
    """The episodes run in Python, for ``render`` and ``callback``, each cut at ``max_steps``
    steps as the native loop cuts them."""
    returns, lengths = [], []
    for i in range(episodes):
        observation, _info = env.reset(seed=seed if i == 0 else None)
        episode_return, length, done = 0.0, 0, False
        while not done:
            action, _state = model.predict(observation, deterministic=deterministic)
            observation, reward, terminated, truncated, info = env.step(action)
            episode_return += float(reward)
            length += 1
            done = bool(terminated or truncated) or length >= max_steps
            if callback is not None:
                callback(locals(), globals())
            if render:
                env.render()
        returns.append(episode_return)
        lengths.append(length)
    return returns, lengths
