"""Process-wide settings read from the environment: profile and data root.

``HOLO_PROFILE`` selects ``demo`` (default, a 2-core laptop in minutes) or ``paper`` (the paper's
sizes, meant for GPU machines). ``HOLO_DATA_ROOT`` is where everything is stored (default
``./data``; a path or a ``file://`` URI); raw slides land in ``<root>/landing``. Further storage
roots are named in ``data_catalog.yaml`` (see :mod:`holo_pipeline.catalog`).
"""

from __future__ import annotations

import os
from pathlib import Path

from holo_pipeline.storage import local_path, storage_location

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


def data_root_location(value: str | os.PathLike[str] | None = None) -> str:
    """Return the data root as an absolute local path or, if not local, an fsspec URI.

    The root is ``value`` if given, else ``$HOLO_DATA_ROOT``, else ``./data``. A remote root is
    returned as it is: analysts may read tables from one (the pipeline needs a local root).
    """
    raw = value if value is not None else os.environ.get("HOLO_DATA_ROOT", "data")
    return storage_location(raw)


def data_root(value: str | os.PathLike[str] | None = None) -> Path:
    """Return the local data root: ``value`` if given, else ``$HOLO_DATA_ROOT``, else ``./data``.

    Raises
    ------
    ConfigError
        If the root is an fsspec URI of a filesystem that is not local (``s3://…``).
    """
    location = data_root_location(value)
    local = local_path(location)
    if local is None:
        raise ConfigError(
            f"the data root {location} is not on the local filesystem; mount it (e.g. s3fs, "
            "gcsfuse) and set HOLO_DATA_ROOT to the mount's path or file:// URI"
        )
    return Path(local)


def landing_dir(root: str | os.PathLike[str] | None = None) -> Path:
    """Return the landing folder ``<root>/landing`` where raw slides arrive."""
    return data_root(root) / "landing"
