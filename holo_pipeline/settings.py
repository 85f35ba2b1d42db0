"""Where data lives, and the configuration error every layer raises.

``HOLO_DATA_ROOT`` is where everything is stored (default ``./data``; a path or a ``file://`` URI);
raw slides land in ``<root>/landing``. Further storage roots are named in ``data_catalog.yaml``
(see :mod:`holo_pipeline.catalog`). The run's other settings are a typed profile
(:mod:`holo_pipeline.profile`). The environment is read when a function is called, never at import.
"""

from __future__ import annotations

import os
from pathlib import Path

from holo_pipeline.storage import local_path, storage_location


class ConfigError(ValueError):
    """A configuration value (environment, YAML, run config) is missing or invalid."""


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
