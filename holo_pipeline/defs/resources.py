"""Typed Dagster resources: where data lives (catalog), how per-FOV work runs (Dask), and the
processing settings of the active profile.

Values come from ``data_catalog.yaml`` (``roots:``, ``profiles.<profile>.processing``) and the
environment (``HOLO_DATA_ROOT``, ``HOLO_ROOT_<NAME>``, ``HOLO_PROFILE``, and ``HOLO_<SETTING>``
overrides such as ``HOLO_PATCH_SIZE``); :func:`build_resources` resolves them once when the code
location loads, and refuses a catalog that puts a dataset on a filesystem that is not local.
"""

import os
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from holo_pipeline.catalog import DATA_ROOT, Catalog, DatasetEntry, load_catalog, root_env
from holo_pipeline.datasets.compute import DaskSettings
from holo_pipeline.datasets.processing import BACKGROUNDS, PhaseRetrievalSettings
from holo_pipeline.settings import ConfigError, profile_name
from holo_pipeline.storage import has_protocol, local_path


class CatalogResource(dg.ConfigurableResource):
    """Resolves dataset locations from ``data_catalog.yaml`` relative to their storage roots."""

    data_root: str
    catalog_file: str
    roots: dict[str, str] = Field(default_factory=dict)  # other storage roots: name -> local path

    def catalog(self) -> Catalog:
        return load_catalog(self.catalog_file)

    def entry(self, name: str) -> DatasetEntry:
        return self.catalog().entry(name)

    def path(self, name: str, **keys: str) -> Path:
        """Local path of dataset ``name`` (partition ``keys`` filled in)."""
        entry = self.entry(name)
        location = entry.location(self.data_root, roots=self.roots, **keys)
        local = local_path(location)
        if local is None:
            raise ConfigError(_not_local(self.catalog_file, [(entry, location)]))
        return Path(local)

    def landing(self) -> Path:
        """The folder the sensor watches: the parent of the ``raw_slides`` entry's path.

        Pointing the pipeline at real scans is changing that one ``uri`` in the catalog.
        """
        return self.slide_path("any-slide").parent

    def slide_path(self, slide_id: str) -> Path:
        return self.path("raw_slides", slide_id=slide_id)


class DaskResource(dg.ConfigurableResource):
    """How per-FOV tasks run: ``threads``, ``processes`` (LocalCluster) or ``distributed``."""

    scheduler: str = "processes"
    n_workers: int = 2
    fft_workers: int = 1
    scheduler_address: str = ""

    def settings(self) -> DaskSettings:
        scheduler = "distributed" if self.scheduler_address else self.scheduler
        return DaskSettings(
            scheduler=scheduler,
            n_workers=self.n_workers,
            fft_workers=self.fft_workers,
            scheduler_address=self.scheduler_address,
        )


class ProcessingResource(dg.ConfigurableResource):
    """Processing settings of the active profile."""

    profile: str = "demo"
    patch_size: int = 512
    background: str = "flat_field"
    mhpr_iterations: int = 20
    mhpr_momentum: float = 0.0
    mhpr_momentum_cutoff_per_um: float = 0.0
    mhpr_refocus_range_um: float = 0.0
    mhpr_max_amplitude: float = 0.0
    split_fractions: list[float] = Field(default_factory=lambda: [0.6, 0.2, 0.2])
    split_salt: str = "holo-splits-v1"

    def phase_retrieval(self) -> PhaseRetrievalSettings:
        """The MH-PR settings (``mhpr_*``)."""
        return PhaseRetrievalSettings(
            iterations=self.mhpr_iterations,
            momentum=self.mhpr_momentum,
            momentum_cutoff_per_um=self.mhpr_momentum_cutoff_per_um,
            refocus_range_um=self.mhpr_refocus_range_um,
            max_amplitude=self.mhpr_max_amplitude,
        )


_DASK_KEYS = {
    "dask_scheduler": "scheduler",
    "dask_workers": "n_workers",
    "fft_workers": "fft_workers",
    "dask_scheduler_address": "scheduler_address",
}


def _override(key: str, value: Any) -> Any:
    env = os.environ.get(f"HOLO_{key.upper()}")
    if env is None or env == "":
        return value
    try:
        if isinstance(value, bool):
            return env.strip().lower() in ("1", "true", "yes")
        if isinstance(value, int):
            return int(env)
        if isinstance(value, float):
            return float(env)
        if isinstance(value, list):
            return [float(v) for v in env.split(",")]
    except ValueError:
        raise ConfigError(f"HOLO_{key.upper()}={env!r} is not a valid {key}") from None
    return env


def processing_settings(catalog: Catalog, profile: str | None = None) -> dict[str, Any]:
    """The profile's processing settings from the catalog with ``HOLO_<SETTING>`` overrides."""
    settings = catalog.processing(profile)
    return {key: _override(key, value) for key, value in settings.items()}


def _not_local(source: str | os.PathLike[str], where: list[tuple[DatasetEntry, str]]) -> str:
    def setting(entry: DatasetEntry) -> str:
        if has_protocol(entry.uri):
            return f"datasets.{entry.name}.uri"
        if entry.root == DATA_ROOT:
            return "HOLO_DATA_ROOT"
        return f"roots.{entry.root} (or {root_env(entry.root)})"

    listed = "; ".join(f"dataset {e.name!r} ({e.format}) at {loc}" for e, loc in where)
    settings = ", ".join(sorted({setting(e) for e, _ in where}))
    return (
        f"{source}: the pipeline writes and reads datasets through local paths (atomic rename, "
        f"Zarr, TIFF, Keras), and these are not on the local filesystem: {listed}. Mount that "
        "storage (e.g. s3fs or gcsfuse for a bucket) and give the mount's path or file:// URI "
        f"in {settings}"
    )


def require_local(catalog: Catalog, locations: dict[str, str]) -> None:
    """Raise ``ConfigError`` naming every dataset whose location is not on the local filesystem.

    ``locations`` are the storage roots as :meth:`Catalog.root_locations` resolves them.
    """
    where = []
    for entry in catalog.datasets.values():
        location = entry.pattern(locations[DATA_ROOT], roots=locations)
        if local_path(location) is None:
            where.append((entry, location))
    if where:
        raise ConfigError(_not_local(catalog.source, where))


def build_resources(
    root: str | os.PathLike[str] | None = None, profile: str | None = None
) -> dict[str, dg.ConfigurableResource]:
    """Resources keyed as the assets request them: ``catalog``, ``dask``, ``processing``.

    Raises
    ------
    ConfigError
        If a dataset of the catalog is not on the local filesystem (``s3://…``), or a setting is
        invalid.
    """
    catalog = load_catalog()
    locations = catalog.root_locations(root)
    require_local(catalog, locations)
    name = profile_name(profile)
    settings = processing_settings(catalog, name)
    dask_kwargs = {_DASK_KEYS[k]: settings.pop(k) for k in list(settings) if k in _DASK_KEYS}
    known = set(ProcessingResource.model_fields) - {"profile"}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise ConfigError(
            f"{catalog.source}: profiles.{name}.processing has unknown keys {unknown}"
        )
    background = settings.get("background", "flat_field")
    if background not in BACKGROUNDS:
        raise ConfigError(
            f"{catalog.source}: profiles.{name}.processing.background must be one of "
            f"{BACKGROUNDS}, got {background!r}"
        )
    return {
        "catalog": CatalogResource(
            data_root=locations.pop(DATA_ROOT),
            catalog_file=str(catalog.source),
            roots=locations,
        ),
        "dask": DaskResource(**dask_kwargs),
        "processing": ProcessingResource(profile=name, **settings),
    }
