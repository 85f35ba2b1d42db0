"""Typed Dagster resources: where data lives (catalog), how per-FOV work runs (Dask), and the
processing settings of the active profile.

Values come from ``data_catalog.yaml`` (``profiles.<profile>.processing``) and the environment
(``HOLO_DATA_ROOT``, ``HOLO_PROFILE``, and ``HOLO_<SETTING>`` overrides such as
``HOLO_PATCH_SIZE``); :func:`build_resources` resolves them once when the code location loads.
"""

import os
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from holo_pipeline.catalog import Catalog, DatasetEntry, load_catalog
from holo_pipeline.datasets.compute import DaskSettings
from holo_pipeline.settings import ConfigError, data_root, profile_name


class CatalogResource(dg.ConfigurableResource):
    """Resolves dataset locations from ``data_catalog.yaml`` relative to the data root."""

    data_root: str
    catalog_file: str

    def catalog(self) -> Catalog:
        return load_catalog(self.catalog_file)

    def entry(self, name: str) -> DatasetEntry:
        return self.catalog().entry(name)

    def path(self, name: str, **keys: str) -> Path:
        """Local path of dataset ``name`` (partition ``keys`` filled in)."""
        location = self.entry(name).location(self.data_root, **keys)
        if "://" in location:
            raise ConfigError(
                f"dataset {name!r} is at {location}; the pipeline writes local paths only "
                "(mount the bucket or point HOLO_DATA_ROOT at a local folder)"
            )
        return Path(location)

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
    mhpr_iterations: int = 20
    split_fractions: list[float] = Field(default_factory=lambda: [0.6, 0.2, 0.2])
    split_salt: str = "holo-splits-v1"


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


def build_resources(
    root: str | os.PathLike[str] | None = None, profile: str | None = None
) -> dict[str, dg.ConfigurableResource]:
    """Resources keyed as the assets request them: ``catalog``, ``dask``, ``processing``."""
    catalog = load_catalog()
    name = profile_name(profile)
    settings = processing_settings(catalog, name)
    dask_kwargs = {_DASK_KEYS[k]: settings.pop(k) for k in list(settings) if k in _DASK_KEYS}
    known = set(ProcessingResource.model_fields) - {"profile"}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise ConfigError(
            f"{catalog.source}: profiles.{name}.processing has unknown keys {unknown}"
        )
    return {
        "catalog": CatalogResource(
            data_root=str(data_root(root)), catalog_file=str(catalog.source)
        ),
        "dask": DaskResource(**dask_kwargs),
        "processing": ProcessingResource(profile=name, **settings),
    }
