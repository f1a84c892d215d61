"""deepq: fast Deep Q-Learning in Rust, with Stable-Baselines3's DQN interface.

Example::

    import deepq

    model = deepq.DQN("MlpPolicy", "CartPole-v1", learning_rate=1e-3, seed=0)
    model.learn(20_000)
    action, _ = model.predict(observation, deterministic=True)
    mean, std = deepq.evaluate_policy(model, "CartPole-v1", n_eval_episodes=10)

Environment ids of deepq's built-in environments (``deepq.env_ids()``) train entirely in Rust;
any Gymnasium ``Env`` with a ``Discrete`` action space and a ``Box`` or ``Discrete``
observation space works too, stepped from Rust through Python. Models are saved as the
``deepq`` command's run directories, so ``deepq eval --run DIR`` reads them and
``deepq.DQN.load`` reads what ``deepq train`` writes.

``deepq.envs`` (needs Gymnasium) offers the built-in environments to other libraries: a
``gymnasium.Env`` (``deepq.envs.make``), a vector env stepped in Rust (``deepq.envs.make_vec``),
and every id registered with Gymnasium as ``deepq/<id>``.
"""

from deepq._native import __version__
from deepq import _native
from deepq._dqn import DQN, IQN, PQN, QRDQN
from deepq._evaluation import evaluate_policy


def env_ids() -> list:
    """The ids of deepq's built-in environments (these run in Rust)."""
    return list(_native.env_ids())


def presets() -> dict:
    """deepq's presets, name → one-line description (for :meth:`DQN.from_preset`)."""
    return dict(_native.presets())


def config_keys() -> list:
    """Every configuration key :class:`DQN` accepts as a keyword argument."""
    return list(_native.Config.keys())


def __getattr__(name):
    # ``deepq.envs`` needs Gymnasium, so it is imported on first use rather than here.
    if name == "envs":
        import importlib

        return importlib.import_module("deepq.envs")
    raise AttributeError(f"module 'deepq' has no attribute {name!r}")


__all__ = ["DQN", "IQN", "PQN", "QRDQN", "evaluate_policy", "env_ids", "presets", "config_keys", "__version__"]
