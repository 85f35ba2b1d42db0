"""The data catalog: where every dataset lives and what it holds, read from ``data_catalog.yaml``.

Analysts use two functions::

    from holo_pipeline.catalog import load_table, dataset_path
    splits = load_table("dataset_splits")                 # a pandas DataFrame
    heights = load_table("autofocused_heights")           # every slide's partition, concatenated
    dataset_path("patch_dataset", slide_id="s-001")      # '/…/data/patch_dataset/s-001.zarr'

Relative URIs resolve against the data root (``$HOLO_DATA_ROOT``, default ``./data``); absolute
paths and fsspec URIs (``s3://…``) are used as they are. The catalog file is ``$HOLO_CATALOG``
when set, else the ``data_catalog.yaml`` at the project root.
"""

from __future__ import annotations

import os
import re
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from holo_pipeline.settings import ConfigError, data_root, profile_name

FORMATS = ("parquet", "zarr", "keras", "json", "directory")
_REQUIRED = ("uri", "format", "partitioning", "description")
_DTYPES = ("string", "int32", "int64", "float32", "float64", "bool", "complex64")
_KEY_VALUE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


def catalog_file() -> Path:
    """Return the catalog file: ``$HOLO_CATALOG`` if set, else ``<project>/data_catalog.yaml``."""
    env = os.environ.get("HOLO_CATALOG")
    if env:
        return Path(env).expanduser().absolute()
    return Path(__file__).resolve().parents[1] / "data_catalog.yaml"


def _is_uri(text: str) -> bool:
    return "://" in text


@dataclass(frozen=True)
class DatasetEntry:
    """One dataset of the catalog (one entry under ``datasets:``)."""

    name: str
    uri: str
    format: str
    partitioning: tuple[str, ...]
    description: str
    columns: dict[str, str] = field(default_factory=dict)
    arrays: dict[str, dict[str, Any]] = field(default_factory=dict)
    attrs: dict[str, str] = field(default_factory=dict)
    produced_by: str | None = None

    @classmethod
    def from_yaml(cls, name: str, raw: Any, source: Path) -> DatasetEntry:
        where = f"{source}: datasets.{name}"
        if not isinstance(raw, dict):
            raise ConfigError(f"{where} must be a mapping, got {type(raw).__name__}")
        missing = [k for k in _REQUIRED if k not in raw]
        if missing:
            raise ConfigError(f"{where} lacks required keys {missing}")
        if raw["format"] not in FORMATS:
            raise ConfigError(f"{where}.format must be one of {FORMATS}, got {raw['format']!r}")
        partitioning = tuple(raw["partitioning"] or ())
        fields = {f for _, f, _, _ in string.Formatter().parse(raw["uri"]) if f}
        if fields != set(partitioning):
            raise ConfigError(
                f"{where}.uri placeholders {sorted(fields)} must equal partitioning "
                f"{list(partitioning)}"
            )
        columns = {str(k): str(v) for k, v in (raw.get("columns") or {}).items()}
        for col, dtype in columns.items():
            if dtype.rstrip("?") not in _DTYPES:
                raise ConfigError(f"{where}.columns.{col}: dtype must be one of {_DTYPES}")
        return cls(
            name=name,
            uri=str(raw["uri"]),
            format=str(raw["format"]),
            partitioning=partitioning,
            description=" ".join(str(raw["description"]).split()),
            columns=columns,
            arrays=dict(raw.get("arrays") or {}),
            attrs=dict(raw.get("attrs") or {}),
            produced_by=raw.get("produced_by"),
        )

    def location(self, root: str | os.PathLike[str] | None = None, **keys: str) -> str:
        """Return the path or URI of one partition (all partition keys given).

        Raises
        ------
        ConfigError
            If a partition key is missing, unexpected, or not a plain name (``..`` or ``/``
            would escape the dataset's folder).
        """
        if set(keys) != set(self.partitioning):
            raise ConfigError(
                f"dataset {self.name!r} is partitioned by {list(self.partitioning)}, "
                f"got keys {sorted(keys)}"
            )
        for k, v in keys.items():
            if not _KEY_VALUE.match(str(v)) or ".." in str(v):
                raise ConfigError(f"dataset {self.name!r}: {k}={v!r} is not a plain name")
        return self._resolve(self.uri.format(**keys), root)

    def pattern(self, root: str | os.PathLike[str] | None = None) -> str:
        """Return a glob pattern matching every partition (``*`` for each key)."""
        return self._resolve(self.uri.format(**dict.fromkeys(self.partitioning, "*")), root)

    @staticmethod
    def _resolve(relative: str, root: str | os.PathLike[str] | None) -> str:
        if _is_uri(relative) or os.path.isabs(relative):
            return relative
        base = str(root) if root is not None and _is_uri(str(root)) else None
        if base is not None:
            return base.rstrip("/") + "/" + relative
        return str(data_root(root) / relative)


@dataclass(frozen=True)
class Catalog:
    """The parsed catalog: datasets by name and processing settings per profile."""

    source: Path
    datasets: dict[str, DatasetEntry]
    profiles: dict[str, dict[str, Any]]

    def entry(self, name: str) -> DatasetEntry:
        """Return the entry called ``name``; ``ConfigError`` naming the known ones otherwise."""
        try:
            return self.datasets[name]
        except KeyError:
            raise ConfigError(
                f"{self.source}: no dataset {name!r}; known: {sorted(self.datasets)}"
            ) from None

    def processing(self, profile: str | None = None) -> dict[str, Any]:
        """Return the processing settings of ``profile`` (default: ``$HOLO_PROFILE``)."""
        name = profile_name(profile)
        try:
            return dict(self.profiles[name]["processing"])
        except KeyError:
            raise ConfigError(f"{self.source}: profiles.{name}.processing is missing") from None


def load_catalog(path: str | os.PathLike[str] | None = None) -> Catalog:
    """Parse and validate a catalog file (default :func:`catalog_file`)."""
    source = Path(path) if path is not None else catalog_file()
    try:
        raw = yaml.safe_load(source.read_text())
    except FileNotFoundError:
        raise ConfigError(f"data catalog {source} does not exist") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("datasets"), dict):
        raise ConfigError(f"{source}: top level must be a mapping with a `datasets:` mapping")
    datasets = {
        name: DatasetEntry.from_yaml(name, entry, source) for name, entry in raw["datasets"].items()
    }
    return Catalog(source=source, datasets=datasets, profiles=dict(raw.get("profiles") or {}))


def dataset_path(name: str, root: str | os.PathLike[str] | None = None, **keys: str) -> str:
    """Return the path (or URI) of dataset ``name``, partition ``keys`` filled in.

    Parameters
    ----------
    name
        A dataset of ``data_catalog.yaml`` (``"patch_dataset"``, ``"dataset_splits"``, …).
    root
        Data root; default ``$HOLO_DATA_ROOT`` or ``./data``.
    **keys
        One value per partition key of the dataset (``slide_id="s-001"``).
    """
    return load_catalog().entry(name).location(root, **keys)


def _glob(pattern: str) -> list[str]:
    if _is_uri(pattern):
        import fsspec

        fs, _, paths = fsspec.get_fs_token_paths(pattern)
        return sorted(fs.unstrip_protocol(p) for p in paths)
    import glob

    return sorted(glob.glob(pattern))


def load_table(name: str, root: str | os.PathLike[str] | None = None, **keys: str) -> pd.DataFrame:
    """Read a Parquet dataset of the catalog into a DataFrame.

    A partitioned table is read whole (every partition, concatenated in path order) unless its
    partition ``keys`` are given. Columns listed in the catalog are present even when there are no
    rows.

    Raises
    ------
    ConfigError
        If ``name`` is not a Parquet dataset.
    FileNotFoundError
        If an unpartitioned table (or the requested partition) has not been written yet.
    """
    entry = load_catalog().entry(name)
    if entry.format != "parquet":
        raise ConfigError(f"dataset {name!r} is {entry.format}, not a table; use dataset_path()")
    if entry.partitioning and not keys:
        paths = _glob(entry.pattern(root))
        frames = [pd.read_parquet(p) for p in paths]
        if not frames:
            return empty_table(entry)
        return pd.concat(frames, ignore_index=True)
    path = entry.location(root, **keys)
    return pd.read_parquet(path)


def empty_table(entry: DatasetEntry) -> pd.DataFrame:
    """An empty DataFrame with the catalog's columns and dtypes."""
    return conform_table(pd.DataFrame({c: [] for c in entry.columns}), entry)


def conform_table(df: pd.DataFrame, entry: DatasetEntry) -> pd.DataFrame:
    """Return ``df`` with exactly the catalog's columns, in catalog order, cast to their dtypes.

    Raises
    ------
    ConfigError
        If a column the catalog lists is missing, or a non-nullable column holds nulls.
    """
    missing = [c for c in entry.columns if c not in df.columns]
    if missing:
        raise ConfigError(f"table {entry.name!r} lacks catalog columns {missing}")
    out = {}
    for col, dtype in entry.columns.items():
        nullable = dtype.endswith("?")
        base = dtype.rstrip("?")
        series = df[col]
        if not nullable and len(series) and series.isna().any():
            raise ConfigError(f"table {entry.name!r}: column {col!r} ({base}) holds nulls")
        if base == "string":
            out[col] = series.astype("string")
        elif nullable and base.startswith("float"):
            out[col] = series.astype(base)
        elif nullable and base.startswith("int"):
            out[col] = series.astype(base.capitalize())
        else:
            out[col] = series.astype(base)
    return pd.DataFrame(out, index=range(len(df)))
