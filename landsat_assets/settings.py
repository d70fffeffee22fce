"""Environment settings of a deployment, read once when the code location loads.

Strings that may be secrets are handed to Dagster as `EnvVar`, so the UI shows the
variable's name, never its value. Numbers are parsed here, with an error that names
the variable, since Dagster's EnvVar has no float form.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from dagster import EnvVar


class SettingError(ValueError):
    pass


def env_string(name: str, default: str | None = None, env: Mapping[str, str] = os.environ):
    """`EnvVar(name)` when the variable is set (and not empty), else `default`."""
    return EnvVar(name) if env.get(name) else default


def env_float(
    name: str, default: float | None, env: Mapping[str, str] = os.environ
) -> float | None:
    text = env.get(name)
    if not text:
        return default
    try:
        return float(text)
    except ValueError as error:
        raise SettingError(f"{name}={text!r} is not a number") from error


def env_int(name: str, default: int, env: Mapping[str, str] = os.environ) -> int:
    text = env.get(name)
    if not text:
        return default
    try:
        return int(text)
    except ValueError as error:
        raise SettingError(f"{name}={text!r} is not a whole number") from error
