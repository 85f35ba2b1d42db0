"""The data catalog: where every dataset lives and what it holds, read from ``data_catalog.yaml``.

Analysts use two functions::

    from holo_pipeline.catalog import load_table, dataset_path
    splits = load_table("dataset_splits")                 # a pandas DataFrame
    heights = load_table("autofocused_heights")           # every slide's partition, concatenated
    dataset_path("patch_dataset", slide_id="s-001")      # '/…/data/patch_dataset/s-001.zarr'

Relative URIs resolve against the entry's storage root: ``root:`` names one of the catalog's
``roots:`` (each a path or fsspec URI, overridden by ``$HOLO_ROOT_<NAME>``), default ``data``, the
data root (``$HOLO_DATA_ROOT``, default ``./data``). Absolute paths and full fsspec URIs in ``uri``
are used as they are. Local locations (plain paths, ``file://…``, ``local://…``; fsspec decides,
see :mod:`holo_pipeline.storage`) come back as absolute local paths, other protocols (``s3://…``)
as URIs. The catalog file is ``$HOLO_CATALOG`` when set, else the ``data_catalog.yaml`` at the
project root.
"""

from __future__ import annotations

import os
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from holo_pipeline.settings import ConfigError, data_root_location
from holo_pipeline.storage import has_protocol, join_location, local_path, storage_location

DATA_ROOT = "data"
FORMATS = ("parquet", "zarr", "ome_zarr", "keras", "json", "directory")
_REQUIRED = ("uri", "format", "partitioning", "description")
_DTYPES = ("string", "int32", "int64", "float32", "float64", "bool", "complex64")
_KEY_VALUE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_ROOT_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def catalog_file() -> Path:
    """Return the catalog file: ``$HOLO_CATALOG`` if set, else ``<project>/data_catalog.yaml``."""
    env = os.environ.get("HOLO_CATALOG")
    if env:
        return Path(env).expanduser().absolute()
    return Path(__file__).resolve().parents[1] / "data_catalog.yaml"


def root_env(name: str) -> str:
    """The environment variable that overrides storage root ``name``."""
    return "HOLO_DATA_ROOT" if name == DATA_ROOT else f"HOLO_ROOT_{name.upper()}"


def root_location(
    name: str,
    configured: str | None = None,
    data_root: str | os.PathLike[str] | None = None,
) -> str:
    """Return where storage root ``name`` is: an absolute local path, or a URI that is not local.

    ``data`` is the data root: ``data_root`` if given, else ``$HOLO_DATA_ROOT``, else ``./data``.
    Any other root is ``$HOLO_ROOT_<NAME>`` when set, else ``configured`` (its value under
    ``roots:`` in the catalog).
    """
    if name == DATA_ROOT:
        if os.environ.get("HOLO_ROOT_DATA"):
            raise ConfigError("HOLO_ROOT_DATA is not read: the data root is set by HOLO_DATA_ROOT")
        return data_root_location(data_root)
    location = os.environ.get(root_env(name)) or configured
    if not location:
        raise ConfigError(f"storage root {name!r} is not configured; set {root_env(name)}")
    return storage_location(location)


def _parse_roots(raw: Any, source: Path) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: roots must map root names to paths or fsspec URIs")
    roots = {}
    for name, location in raw.items():
        where = f"{source}: roots.{name}"
        if not isinstance(name, str) or not _ROOT_NAME.match(name):
            raise ConfigError(
                f"{where}: a root name is lower-case letters, digits and _, starting with a "
                "letter (it is overridden by HOLO_ROOT_<NAME>)"
            )
        if name == DATA_ROOT:
            raise ConfigError(
                f"{where}: `data` is the data root, set by HOLO_DATA_ROOT (default ./data); "
                "give this root another name"
            )
        if not isinstance(location, str) or not location.strip():
            raise ConfigError(f"{where} must be a path or an fsspec URI, got {location!r}")
        roots[name] = location.strip()
    return roots


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
    root: str = DATA_ROOT
    root_uri: str | None = None  # the root's location under `roots:` (None for the data root)

    @classmethod
    def from_yaml(
        cls, name: str, raw: Any, source: Path, roots: Mapping[str, str] | None = None
    ) -> DatasetEntry:
        """Validate one entry; ``roots`` are the catalog's ``roots:`` (name → location)."""
        roots = roots or {}
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
        if {"root", "roots"} & set(partitioning):
            raise ConfigError(f"{where}.partitioning: `root` and `roots` are not partition keys")
        root = raw.get("root", DATA_ROOT)
        if root != DATA_ROOT and root not in roots:
            raise ConfigError(
                f"{where}.root: no storage root {root!r}; known roots: "
                f"{sorted({DATA_ROOT, *roots})} (name it under `roots:`)"
            )
        if "root" in raw and (has_protocol(raw["uri"]) or os.path.isabs(raw["uri"])):
            raise ConfigError(
                f"{where}: uri {raw['uri']!r} is absolute, so `root:` would be ignored; make the "
                "uri relative to the root or drop `root:`"
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
            root=root,
            root_uri=roots.get(root),
        )

    def dtypes(self) -> dict[str, str]:
        """Column → pandas dtype of a table (:func:`pandas_dtype` of each catalog dtype)."""
        return {col: pandas_dtype(dtype) for col, dtype in self.columns.items()}

    def base(
        self,
        root: str | os.PathLike[str] | None = None,
        *,
        roots: Mapping[str, str] | None = None,
    ) -> str:
        """Return the location of the entry's storage root.

        Parameters
        ----------
        root
            The data root, for entries on ``data`` (default ``$HOLO_DATA_ROOT`` or ``./data``).
        roots
            Locations of the other roots by name (as :meth:`Catalog.root_locations` gives them);
            a root not in it is ``$HOLO_ROOT_<NAME>`` or its value under ``roots:``.
        """
        if self.root == DATA_ROOT:
            return root_location(DATA_ROOT, data_root=root)
        if roots is not None and self.root in roots:
            return storage_location(roots[self.root])
        return root_location(self.root, self.root_uri)

    def location(
        self,
        root: str | os.PathLike[str] | None = None,
        *,
        roots: Mapping[str, str] | None = None,
        **keys: str,
    ) -> str:
        """Return the path or URI of one partition (all partition keys given).

        A local location is an absolute local path; ``root`` and ``roots`` are as in :meth:`base`.

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
        return self._resolve(self.uri.format(**keys), root, roots)

    def pattern(
        self,
        root: str | os.PathLike[str] | None = None,
        *,
        roots: Mapping[str, str] | None = None,
    ) -> str:
        """Return a glob pattern matching every partition (``*`` for each key)."""
        relative = self.uri.format(**dict.fromkeys(self.partitioning, "*"))
        return self._resolve(relative, root, roots)

    def _resolve(
        self,
        uri: str,
        root: str | os.PathLike[str] | None,
        roots: Mapping[str, str] | None,
    ) -> str:
        if has_protocol(uri) or os.path.isabs(uri):
            return storage_location(uri)
        return join_location(self.base(root, roots=roots), uri)


@dataclass(frozen=True)
class Catalog:
    """The parsed catalog: storage roots, datasets by name and processing settings per profile."""

    source: Path
    datasets: dict[str, DatasetEntry]
    profiles: dict[str, dict[str, Any]]  # raw; validated by holo_pipeline.profile
    roots: dict[str, str] = field(default_factory=dict)  # as written under `roots:`
    production_pins: dict[str, str] = field(default_factory=dict)  # `production_models:`

    def root_locations(self, data_root: str | os.PathLike[str] | None = None) -> dict[str, str]:
        """Return every storage root (``data`` included) → its location, overrides applied."""
        locations = {DATA_ROOT: root_location(DATA_ROOT, data_root=data_root)}
        for name, configured in self.roots.items():
            locations[name] = root_location(name, configured)
        return locations

    def entry(self, name: str) -> DatasetEntry:
        """Return the entry called ``name``; ``ConfigError`` naming the known ones otherwise."""
        try:
            return self.datasets[name]
        except KeyError:
            raise ConfigError(
                f"{self.source}: no dataset {name!r}; known: {sorted(self.datasets)}"
            ) from None


def load_catalog(path: str | os.PathLike[str] | None = None) -> Catalog:
    """Parse and validate a catalog file (default :func:`catalog_file`).

    The file is read every time, but parsed once per content: assets resolve dozens of paths per
    run, and parsing the YAML is what costs (an edited catalog is parsed anew).
    """
    source = Path(path) if path is not None else catalog_file()
    try:
        text = source.read_text()
    except FileNotFoundError:
        raise ConfigError(f"data catalog {source} does not exist") from None
    return _parse_catalog(source, text)


@lru_cache(maxsize=16)
def _parse_catalog(source: Path, text: str) -> Catalog:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("datasets"), dict):
        raise ConfigError(f"{source}: top level must be a mapping with a `datasets:` mapping")
    roots = _parse_roots(raw.get("roots"), source)
    datasets = {
        name: DatasetEntry.from_yaml(name, entry, source, roots)
        for name, entry in raw["datasets"].items()
    }
    return Catalog(
        source=source,
        datasets=datasets,
        profiles=dict(raw.get("profiles") or {}),
        roots=roots,
        production_pins=_parse_pins(raw.get("production_models"), source),
    )


def _parse_pins(raw: Any, source: Path) -> dict[str, str]:
    """``production_models:`` — tissue → pinned model key (see holo_pipeline.reconstruction)."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: production_models must map tissue names to model keys")
    pins = {}
    for tissue, key in raw.items():
        if not isinstance(key, str) or not _KEY_VALUE.match(key):
            raise ConfigError(
                f"{source}: production_models.{tissue} must be a model key "
                f"(e.g. prostate-frozen_rnn-r0.121-m2-s0 or pretrained_backbone), got {key!r}"
            )
        pins[str(tissue)] = key
    return pins


def dataset_path(name: str, root: str | os.PathLike[str] | None = None, **keys: str) -> str:
    """Return the path (or URI) of dataset ``name``, partition ``keys`` filled in.

    Parameters
    ----------
    name
        A dataset of ``data_catalog.yaml`` (``"patch_dataset"``, ``"dataset_splits"``, …).
    root
        Data root; default ``$HOLO_DATA_ROOT`` or ``./data``. A dataset on another storage root
        (``root:`` in the catalog) is under that root's location instead.
    **keys
        One value per partition key of the dataset (``slide_id="s-001"``).
    """
    return load_catalog().entry(name).location(root, **keys)


def _glob(pattern: str) -> list[str]:
    if local_path(pattern) is None:
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


def pandas_dtype(dtype: str) -> str:
    """The pandas dtype of a catalog column dtype: a nullable integer (``int64?``) is ``Int64``,
    a nullable ``bool?`` is ``boolean``; any other is its name without the ``?``."""
    base = dtype.rstrip("?")
    if dtype.endswith("?") and base.startswith("int"):
        return base.capitalize()
    if dtype.endswith("?") and base == "bool":
        return "boolean"
    return base


def empty_table(entry: DatasetEntry) -> pd.DataFrame:
    """An empty DataFrame with the catalog's columns and dtypes."""
    return conform_table(pd.DataFrame({c: [] for c in entry.columns}), entry)


def conform_table(df: pd.DataFrame, entry: DatasetEntry) -> pd.DataFrame:
    """Return ``df`` with exactly the catalog's columns, in catalog order, cast to their dtypes
    (:meth:`DatasetEntry.dtypes`), on a fresh ``0 … n−1`` index.

    Raises
    ------
    ConfigError
        If a column the catalog lists is missing, or a non-nullable column holds nulls.
    """
    missing = [c for c in entry.columns if c not in df.columns]
    if missing:
        raise ConfigError(f"table {entry.name!r} lacks columns {missing} listed in the catalog")
    df = df.reset_index(drop=True)
    for col, dtype in entry.columns.items():
        if not dtype.endswith("?") and df[col].isna().any():
            raise ConfigError(f"table {entry.name!r}: column {col!r} ({dtype}) holds nulls")
    return pd.DataFrame({col: df[col].astype(dtype) for col, dtype in entry.dtypes().items()})
