"""Typed Dagster resources: where data lives (catalog), how per-FOV work runs (Dask), and the
processing settings of the active profile.

Values come from the typed profile (:mod:`holo_pipeline.profile`) and the catalog's storage roots
(``roots:``, ``HOLO_DATA_ROOT``, ``HOLO_ROOT_<NAME>``); :func:`build_resources` resolves them once
when the code location loads, and refuses a catalog that puts a dataset on a filesystem that is not
local.
"""

import os
from pathlib import Path

import dagster as dg
from pydantic import Field

from holo_pipeline.catalog import DATA_ROOT, Catalog, DatasetEntry, load_catalog, root_env
from holo_pipeline.datasets.compute import DaskSettings
from holo_pipeline.datasets.processing import PhaseRetrievalSettings
from holo_pipeline.profile import ProcessingSettings, Profile
from holo_pipeline.settings import ConfigError
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
    """Processing settings of the active profile; their meaning and defaults are defined once, in
    :class:`holo_pipeline.profile.ProcessingSettings`."""

    patch_size: int
    background: str
    mhpr_iterations: int
    mhpr_momentum: float
    mhpr_momentum_cutoff_per_um: float
    mhpr_refocus_range_um: float
    mhpr_max_amplitude: float
    split_fractions: list[float]
    split_salt: str

    @classmethod
    def from_profile(cls, profile: Profile) -> "ProcessingResource":
        return cls(**profile.processing.model_dump(include=set(cls.model_fields)))

    def settings(self) -> ProcessingSettings:
        """These values as the typed profile section (validated again)."""
        return ProcessingSettings(**self.model_dump())

    def phase_retrieval(self) -> PhaseRetrievalSettings:
        """The MH-PR settings (``mhpr_*``)."""
        return self.settings().phase_retrieval()


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
    profile: Profile, root: str | os.PathLike[str] | None = None
) -> dict[str, dg.ConfigurableResource]:
    """Resources keyed as the assets request them: ``catalog``, ``dask``, ``processing``.

    Parameters
    ----------
    profile
        The run's settings (:func:`holo_pipeline.profile.load_profile`).
    root
        The data root (default ``$HOLO_DATA_ROOT`` or ``./data``).

    Raises
    ------
    ConfigError
        If a dataset of the catalog is not on the local filesystem (``s3://…``).
    """
    catalog = load_catalog(profile.source or None)
    locations = catalog.root_locations(root)
    require_local(catalog, locations)
    p = profile.processing
    return {
        "catalog": CatalogResource(
            data_root=locations.pop(DATA_ROOT),
            catalog_file=str(catalog.source),
            roots=locations,
        ),
        "dask": DaskResource(
            scheduler=p.dask_scheduler,
            n_workers=p.dask_workers,
            fft_workers=p.fft_workers,
            scheduler_address=p.dask_scheduler_address,
        ),
        "processing": ProcessingResource.from_profile(profile),
    }
