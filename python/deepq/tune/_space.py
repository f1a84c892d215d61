"""Search spaces: a TOML file with one deepq config key per hyperparameter and its
distribution, checked against deepq's keys and value ranges before anything starts::

    learning_rate = { log_uniform = [1e-4, 1e-2] }
    gamma = { uniform = [0.95, 0.999] }
    learning_starts = { int_uniform = [500, 2000] }
    batch_size = { choice = [32, 64, 128] }
    net_arch = { choice = [[64, 64], [128, 128]] }

This module needs neither Ray nor Optuna: :meth:`Space.to_ray` imports Ray only when a sweep
starts.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the tune extra installs tomli on older Pythons
    import tomli as tomllib

from deepq import _native

#: The distributions, with the form of their arguments.
DISTRIBUTIONS = {
    "uniform": "[low, high]",
    "log_uniform": "[low, high] with 0 < low",
    "int_uniform": "[low, high] of integers, both included",
    "choice": "[option, option, ...]",
}

#: Keys a sweep sets itself.
RESERVED = {"seed": "the seeds are --seeds"}


class SpaceError(ValueError):
    """A search space that cannot be searched; the message is one line naming the key."""


@dataclass(frozen=True)
class Param:
    """One searched hyperparameter: a config key, its distribution and the arguments."""

    key: str
    kind: str
    args: tuple

    def options(self) -> List[str]:
        """A choice's options as the strings Optuna picks among (JSON text, which is also
        TOML for numbers, strings, booleans and arrays of them)."""
        return [json.dumps(option) for option in self.args]

    def value(self, sampled: Any) -> Any:
        """The config value of what the searcher sampled."""
        if self.kind == "choice":
            return json.loads(sampled)
        if self.kind == "int_uniform":
            return int(sampled)
        return float(sampled)

    def to_ray(self):
        """The Ray Tune domain of this parameter."""
        from ray import tune

        low, high = (self.args + (None, None))[:2]
        if self.kind == "uniform":
            return tune.uniform(low, high)
        if self.kind == "log_uniform":
            return tune.loguniform(low, high)
        if self.kind == "int_uniform":
            return tune.randint(low, high + 1)
        return tune.choice(self.options())


@dataclass(frozen=True)
class Space:
    """A validated search space."""

    params: tuple

    @property
    def keys(self) -> List[str]:
        """The searched config keys, in file order."""
        return [p.key for p in self.params]

    def to_ray(self) -> Dict[str, Any]:
        """The space as Ray Tune's ``param_space``."""
        return {p.key: p.to_ray() for p in self.params}

    def values(self, sampled: Dict[str, Any]) -> Dict[str, Any]:
        """Config values of a trial's sampled parameters."""
        return {p.key: p.value(sampled[p.key]) for p in self.params}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_value(base: "_native.Config", key: str, value: Any, what: str) -> None:
    """Refuses a value deepq would refuse for `key` in the base config."""
    cfg = base.copy()
    try:
        cfg.update({key: value})
        cfg.validate()
    except ValueError as e:
        raise SpaceError(f"search space: {what} of '{key}' is not valid: {e}") from None


def _param(key: str, spec: Any, base: "_native.Config") -> Param:
    example = f"e.g. {key} = {{ uniform = [0.9, 0.99] }}"
    kinds = ", ".join(DISTRIBUTIONS)
    if not isinstance(spec, dict) or len(spec) != 1:
        raise SpaceError(
            f"search space: '{key}' must be a table with one distribution ({kinds}), {example}")
    (kind, args), = spec.items()
    if kind not in DISTRIBUTIONS:
        raise SpaceError(
            f"search space: unknown distribution '{kind}' for '{key}'; expected one of {kinds}")
    form = DISTRIBUTIONS[kind]
    if not isinstance(args, list) or not args:
        raise SpaceError(f"search space: '{key}' {kind} takes {form}, not {args!r}")
    if kind == "choice":
        for option in args:
            _check_value(base, key, option, f"choice {json.dumps(option)}")
        return Param(key, kind, tuple(args))
    integer = kind == "int_uniform"
    well_typed = all(isinstance(v, int) and not isinstance(v, bool) if integer else _is_number(v)
                     for v in args)
    if len(args) != 2 or not well_typed:
        raise SpaceError(f"search space: '{key}' {kind} takes {form}, not {args!r}")
    low, high = args
    if not low < high:
        raise SpaceError(
            f"search space: '{key}' {kind} needs low < high, not [{low}, {high}]")
    if kind == "log_uniform" and low <= 0:
        raise SpaceError(
            f"search space: '{key}' log_uniform needs 0 < low, not [{low}, {high}]")
    for bound in (low, high):
        _check_value(base, key, bound, f"{kind} bound {bound}")
    return Param(key, kind, (low, high))


def parse_table(table: Dict[str, Any], base: "_native.Config",
                source: str = "search space") -> Space:
    """Checks a search space given as a table (the parsed TOML) against deepq's config keys
    and the value ranges deepq accepts over the `base` config; raises :class:`SpaceError` (a
    ValueError) with a one-line message otherwise."""
    if not table:
        raise SpaceError(f"{source} names no hyperparameters; add lines such as "
                         "learning_rate = { log_uniform = [1e-4, 1e-2] }")
    known = set(_native.Config.keys())
    params = []
    for key, spec in table.items():
        if key in RESERVED:
            raise SpaceError(f"search space: '{key}' cannot be searched: {RESERVED[key]}")
        if key not in known:
            try:
                base.copy().update({key: 0})
            except ValueError as e:
                raise SpaceError(f"search space: {e}") from None
        params.append(_param(key, spec, base))
    return Space(tuple(params))


def parse_space(text: str, base: "_native.Config", source: str = "search space") -> Space:
    """Parses a search space's TOML text and checks it (see :func:`parse_table`)."""
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise SpaceError(f"{source} is not valid TOML: {e}") from None
    return parse_table(table, base, source)


def read_space(path: Path, base: "_native.Config") -> Space:
    """Reads and checks the search space file at `path` (see :func:`parse_space`)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        reason = getattr(e, "strerror", None) or e
        raise SpaceError(f"cannot read search space '{path}': {reason}") from None
    return parse_space(text, base, source=f"search space '{path}'")
