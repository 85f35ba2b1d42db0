"""Zarr stores of the intermediate slide datasets and the atomic Parquet writer.

Layouts (documented for users in ``data_catalog.yaml``):

``super_resolved_holograms/<slide_id>.zarr``
    ``holograms`` float32 ``(fov, height, Y, X)``, chunk = one hologram; ``scan_shifts`` float32
    ``(fov, height, 36, 2)``; ``height_shifts`` float32 ``(fov, height, 2)``.
``mhpr_ground_truth/<slide_id>.zarr``
    ``field`` complex64 ``(fov, Y, X)``, chunk = one FOV; ``residuals`` float32
    ``(fov, iteration)``; ``z2`` float64 ``(fov, height)``, the heights the field was retrieved
    and focused with.

Every Zarr writer goes through :func:`write_group` (atomic, via :mod:`holo_pipeline.atomic`);
the same arrays and attributes give byte-identical stores.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import zarr

from holo_pipeline.atomic import atomic_path

HOLOGRAMS = "holograms"
SCAN_SHIFTS = "scan_shifts"
HEIGHT_SHIFTS = "height_shifts"
FIELD = "field"
RESIDUALS = "residuals"
HEIGHTS = "z2"


@dataclass(frozen=True)
class HologramStore:
    """A slide's super-resolved holograms opened read-only (``holograms`` is lazy)."""

    path: Path
    holograms: zarr.Array
    scan_shifts: np.ndarray
    height_shifts: np.ndarray
    attrs: dict[str, Any]


@dataclass(frozen=True)
class FieldStore:
    """A slide's MH-PR ground truth opened read-only (``field`` is lazy)."""

    path: Path
    field: zarr.Array
    residuals: np.ndarray
    z2: np.ndarray
    attrs: dict[str, Any]


def _write_array(group: zarr.Group, name: str, data: np.ndarray, chunks: tuple[int, ...]) -> None:
    chunks = tuple(max(1, c) for c in chunks)
    arr = group.create_array(name, shape=data.shape, chunks=chunks, dtype=data.dtype)
    arr[...] = data


def write_group(
    path: str | os.PathLike[str],
    arrays: dict[str, tuple[np.ndarray, tuple[int, ...]]],
    attrs: dict[str, Any],
) -> Path:
    """Write ``arrays`` (name → (data, chunks)) and ``attrs`` as one Zarr group, atomically."""
    with atomic_path(path) as tmp:
        group = zarr.open_group(tmp, mode="w")
        group.attrs.update(attrs)
        for name, (data, chunks) in arrays.items():
            _write_array(group, name, data, chunks)
    return Path(path)


def open_group(path: str | os.PathLike[str], what: str = "Zarr store") -> zarr.Group:
    """Open a group written by :func:`write_group` read-only; ``FileNotFoundError`` if absent."""
    p = Path(path)
    if not (p / "zarr.json").exists():
        raise FileNotFoundError(f"{p}: not a {what} (no zarr.json)")
    return zarr.open_group(p, mode="r")


def write_hologram_store(
    path: str | os.PathLike[str],
    holograms: np.ndarray,
    *,
    scan_shifts: np.ndarray,
    height_shifts: np.ndarray,
    attrs: dict[str, Any],
) -> Path:
    """Write super-resolved holograms ``(fov, height, Y, X)`` and their shifts atomically."""
    holograms = np.asarray(holograms, dtype=np.float32)
    scan_shifts = np.asarray(scan_shifts, dtype=np.float32)
    height_shifts = np.asarray(height_shifts, dtype=np.float32)
    if holograms.ndim != 4:
        raise ValueError(f"holograms must be (fov, height, Y, X), got {holograms.shape}")
    n_fov, n_h, ny, nx = holograms.shape
    if scan_shifts.ndim != 4 or scan_shifts.shape[:2] != (n_fov, n_h) or scan_shifts.shape[3] != 2:
        raise ValueError(
            f"scan_shifts must be ({n_fov}, {n_h}, frames, 2), got {scan_shifts.shape}"
        )
    if height_shifts.shape != (n_fov, n_h, 2):
        raise ValueError(f"height_shifts must be ({n_fov}, {n_h}, 2), got {height_shifts.shape}")
    arrays = {
        HOLOGRAMS: (holograms, (1, 1, ny, nx)),
        SCAN_SHIFTS: (scan_shifts, scan_shifts.shape),
        HEIGHT_SHIFTS: (height_shifts, height_shifts.shape),
    }
    return write_group(path, arrays, attrs)


def open_hologram_store(path: str | os.PathLike[str]) -> HologramStore:
    """Open a store written by :func:`write_hologram_store`."""
    group = open_group(path)
    return HologramStore(
        path=Path(path),
        holograms=group[HOLOGRAMS],
        scan_shifts=np.asarray(group[SCAN_SHIFTS][...]),
        height_shifts=np.asarray(group[HEIGHT_SHIFTS][...]),
        attrs=dict(group.attrs),
    )


def write_field_store(
    path: str | os.PathLike[str],
    field: np.ndarray,
    *,
    residuals: np.ndarray,
    z2: np.ndarray,
    attrs: dict[str, Any],
) -> Path:
    """Write MH-PR fields, complex64 ``(fov, Y, X)``, residuals and heights atomically."""
    field = np.asarray(field, dtype=np.complex64)
    residuals = np.asarray(residuals, dtype=np.float32)
    z2 = np.asarray(z2, dtype=np.float64)
    if field.ndim != 3:
        raise ValueError(f"field must be (fov, Y, X), got {field.shape}")
    if residuals.ndim != 2 or residuals.shape[0] != field.shape[0]:
        raise ValueError(f"residuals must be ({field.shape[0]}, iterations), got {residuals.shape}")
    if z2.ndim != 2 or z2.shape[0] != field.shape[0]:
        raise ValueError(f"z2 must be ({field.shape[0]}, heights), got {z2.shape}")
    arrays = {
        FIELD: (field, (1, *field.shape[1:])),
        RESIDUALS: (residuals, residuals.shape),
        HEIGHTS: (z2, z2.shape),
    }
    return write_group(path, arrays, attrs)


def open_field_store(path: str | os.PathLike[str]) -> FieldStore:
    """Open a store written by :func:`write_field_store`."""
    group = open_group(path)
    return FieldStore(
        path=Path(path),
        field=group[FIELD],
        residuals=np.asarray(group[RESIDUALS][...]),
        z2=np.asarray(group[HEIGHTS][...]),
        attrs=dict(group.attrs),
    )


def write_parquet(df: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write ``df`` to Parquet atomically (no index; equal frames give equal bytes)."""
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False, engine="pyarrow")
    return Path(path)
