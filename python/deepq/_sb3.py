"""Stable-Baselines3 arguments in deepq's terms.

SB3's ``DQN`` hyperparameters have the same names in deepq's config (and the same defaults),
so they pass through unchanged, as does every other deepq config key (``double_q``,
``loss``, ``n_envs``, ...). This module handles the arguments that are not config keys:
``policy``, ``policy_kwargs``, ``device`` and SB3's infrastructure options, which deepq
either maps (``stats_window_size``) or accepts only at the value that matches what it does.
"""

from __future__ import annotations

from typing import Any, Optional

from deepq._envs import plain

#: ``optimizer_class.__name__`` (lower case) → deepq's ``optimizer`` key.
OPTIMIZERS = {"adam": "adam", "adamw": "adamw", "nadam": "nadam", "rmsprop": "rmsprop",
              "sgd": "sgd"}

#: ``optimizer_kwargs`` keys → deepq config keys.
OPTIMIZER_KWARGS = {"eps": "optimizer_eps", "betas": "optimizer_betas",
                    "weight_decay": "weight_decay", "momentum": "momentum",
                    "alpha": "rmsprop_alpha"}

POLICY_KWARGS = ("net_arch", "activation_fn", "optimizer_class", "optimizer_kwargs")


def check_policy(policy: Any) -> None:
    """deepq's Q-network is a fully connected MLP: only ``"MlpPolicy"`` is accepted."""
    if policy != "MlpPolicy":
        raise ValueError(
            f"deepq supports the policy 'MlpPolicy' only (a fully connected Q-network), not {policy!r}"
        )


def check_device(device: Any) -> None:
    """deepq trains on the CPU: ``"auto"`` and ``"cpu"`` are accepted."""
    if str(device) not in ("auto", "cpu"):
        raise ValueError(f"deepq trains on the CPU; device={str(device)!r} is not supported")


def policy_overrides(policy_kwargs: Optional[dict]) -> dict:
    """Config keys for SB3's ``policy_kwargs``."""
    out: dict = {}
    if not policy_kwargs:
        return out
    for key, value in policy_kwargs.items():
        if key == "net_arch":
            out["net_arch"] = plain(value)
        elif key == "activation_fn":
            name = getattr(value, "__name__", str(value))
            if name != "ReLU":
                raise ValueError(
                    f"deepq's networks use ReLU activations; activation_fn={name} is not supported"
                )
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
                f"unsupported policy_kwargs key {key!r}; deepq supports " + ", ".join(POLICY_KWARGS)
            )
    return out


def train_freq(value: Any) -> Any:
    """SB3's ``TrainFreq(frequency, unit)`` as deepq's ``[n, "step"|"episode"]``."""
    if hasattr(value, "frequency") and hasattr(value, "unit"):
        unit = getattr(value.unit, "value", value.unit)
        return [int(value.frequency), str(unit)]
    return plain(value)


def infrastructure(*, tensorboard_log, replay_buffer_class, replay_buffer_kwargs,
                   optimize_memory_usage, stats_window_size, init_setup_model) -> dict:
    """Checks SB3's infrastructure arguments; returns the config keys they map to."""
    if tensorboard_log is not None:
        raise ValueError(
            "tensorboard_log is not supported by the Python API; "
            "`deepq train --tensorboard` writes TensorBoard files"
        )
    if replay_buffer_class is not None or replay_buffer_kwargs:
        raise ValueError("deepq has its own replay buffer; replay_buffer_class and "
                         "replay_buffer_kwargs are not supported")
    if optimize_memory_usage:
        raise ValueError("optimize_memory_usage=True is not supported")
    if not init_setup_model:
        raise ValueError("_init_setup_model=False is not supported")
    out = {}
    if stats_window_size is not None:
        out["rolling_window"] = plain(stats_window_size)
    return out


def hyperparameters(values: dict) -> dict:
    """Config keys from keyword arguments: every deepq config key, SB3's forms converted."""
    out = {}
    for key, value in values.items():
        if callable(value):
            raise ValueError(
                f"invalid value for '{key}': schedules (callables) are not supported; pass a number"
            )
        out[key] = train_freq(value) if key in ("train_freq", "learning_starts") else plain(value)
    return out
