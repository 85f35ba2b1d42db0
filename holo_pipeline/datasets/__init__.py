"""Training data: per-FOV processing, patch extraction, patient splits, Zarr/Parquet stores.

No Dagster here: :mod:`processing` orchestrates the optics per FOV on arrays, :mod:`slides` wraps it
as Dask tasks reading from disk, :mod:`compute` runs those tasks, :mod:`splits` assigns patients to
train/val/test, :mod:`stores` and :mod:`patch_store` write atomically (through
:mod:`holo_pipeline.atomic`), and :mod:`previews` draws small PNGs for metadata.
"""
