"""Process-wide settings read from the environment: profile and data root.

``HOLO_PROFILE`` selects ``demo`` (default, a 2-core laptop in minutes) or ``paper`` (the paper's
sizes, meant for GPU machines). ``HOLO_DATA_ROOT`` is where everything is stored (default
``./data``); raw slides land in ``<root>/landing``.
"""

from __future__ import annotations

import os
from pathlib import Path

PROFILES = ("demo", "paper")


class ConfigError(ValueError):
    """A configuration value (environment, YAML, run config) is missing or invalid."""


def profile_name(value: str | None = None) -> str:
    """Return the active profile: ``value`` if given, else ``$HOLO_PROFILE``, else ``demo``."""
    name = value if value is not None else os.environ.get("HOLO_PROFILE", "demo")
    name = name.strip().lower()
    if name not in PROFILES:
        raise ConfigError(f"HOLO_PROFILE must be one of {PROFILES}, got {name!r}")
    return name


def data_root(value: str | os.PathLike[str] | None = None) -> Path:
    """Return the data root: ``value`` if given, else ``$HOLO_DATA_ROOT``, else ``./data``."""
    raw = value if value is not None else os.environ.get("HOLO_DATA_ROOT", "data")
    return Path(raw).expanduser().absolute()


def landing_dir(root: str | os.PathLike[str] | None = None) -> Path:
    """Return the landing folder ``<root>/landing`` where raw slides arrive."""
    return data_root(root) / "landing"
