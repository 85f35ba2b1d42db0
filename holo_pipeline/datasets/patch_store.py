"""The Zarr layout of a slide's patch dataset, written atomically and read lazily.

One Zarr group per slide (``<root>/patch_dataset/<slide_id>.zarr``)::

    inputs     float32 (n, n_heights, P, P, 2)  chunks (1, n_heights, P, P, 2)
               every height's hologram amplitude back-propagated with zero phase by the mean
               height z̄2 to the sample plane (background 1, carrier phase removed, as in the
               target); last axis (real, imag)
    target     float32 (n, P, P, 2)            chunks (1, P, P, 2)
               MH-PR complex field at the sample plane; last axis (real, imag)
    fov_index  int32 (n,)       index of the FOV a patch comes from (into ``attrs["fov_ids"]``)
    origin     int32 (n, 2)     (y, x) of the patch's top-left corner on the super-resolved grid

Group attributes: ``slide_id``, ``patient_id``, ``tissue``, ``fov_ids``, ``heights_m`` (per FOV the
z2 of each height that MH-PR focused the target with), ``z2_mean_m``, ``pixel_size_m``,
``wavelength_m``, ``patch_size``.
One chunk holds one patch so that a reader touches exactly the patches it draws.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from holo_pipeline.datasets.stores import open_group, write_group

INPUTS = "inputs"
TARGET = "target"
FOV_INDEX = "fov_index"
ORIGIN = "origin"


@dataclass(frozen=True)
class PatchStore:
    """A slide's patch dataset opened read-only; arrays are lazy Zarr arrays."""

    path: Path
    inputs: zarr.Array
    target: zarr.Array
    fov_index: np.ndarray
    origin: np.ndarray
    attrs: dict[str, Any]

    @property
    def n_patches(self) -> int:
        return int(self.inputs.shape[0])

    @property
    def n_heights(self) -> int:
        return int(self.inputs.shape[1])

    @property
    def patch_size(self) -> int:
        return int(self.inputs.shape[2])

    def height_order(self, patch: int) -> np.ndarray:
        """Height indices of ``patch`` sorted by its FOV's autofocused z2 (``attrs["heights_m"]``).

        Index order when the store holds no finite z2 of every height for that FOV.
        """
        n = self.n_heights
        heights_m = self.attrs.get("heights_m")
        fov = int(self.fov_index[patch])
        if heights_m is not None and fov < len(heights_m):
            row = np.asarray(heights_m[fov], dtype=np.float64)
            if row.shape == (n,) and np.all(np.isfinite(row)):
                return np.argsort(row, kind="stable")
        return np.arange(n)


def _check_arrays(
    inputs: np.ndarray, target: np.ndarray, fov_index: np.ndarray, origin: np.ndarray
):
    if inputs.ndim != 5 or inputs.shape[-1] != 2 or inputs.shape[2] != inputs.shape[3]:
        raise ValueError(f"inputs must be (n, n_heights, P, P, 2), got {inputs.shape}")
    n, _, p = inputs.shape[:3]
    if target.shape != (n, p, p, 2):
        raise ValueError(f"target must be {(n, p, p, 2)} to match inputs, got {target.shape}")
    if fov_index.shape != (n,):
        raise ValueError(f"fov_index must be ({n},), got {fov_index.shape}")
    if origin.shape != (n, 2):
        raise ValueError(f"origin must be ({n}, 2), got {origin.shape}")


def write_patch_store(
    path: str | os.PathLike[str],
    inputs: np.ndarray,
    target: np.ndarray,
    *,
    fov_index: np.ndarray,
    origin: np.ndarray,
    attrs: dict[str, Any],
) -> Path:
    """Write a patch dataset to ``path`` atomically.

    The group is written under a temporary sibling name and renamed into place, so a reader sees
    either the previous complete store or the new complete one, never a partial store.

    Returns the final path.
    """
    inputs = np.asarray(inputs, dtype=np.float32)
    target = np.asarray(target, dtype=np.float32)
    fov_index = np.asarray(fov_index, dtype=np.int32)
    origin = np.asarray(origin, dtype=np.int32)
    _check_arrays(inputs, target, fov_index, origin)

    n, m, p = inputs.shape[:3]
    arrays = {
        INPUTS: (inputs, (1, m, p, p, 2)),
        TARGET: (target, (1, p, p, 2)),
        FOV_INDEX: (fov_index, (n,)),
        ORIGIN: (origin, (n, 2)),
    }
    return write_group(path, arrays, attrs)


def open_patch_store(path: str | os.PathLike[str]) -> PatchStore:
    """Open a patch dataset written by :func:`write_patch_store` (read-only, lazy)."""
    group = open_group(path, "patch store")
    return PatchStore(
        path=Path(path),
        inputs=group[INPUTS],
        target=group[TARGET],
        fov_index=np.asarray(group[FOV_INDEX][...]),
        origin=np.asarray(group[ORIGIN][...]),
        attrs=dict(group.attrs),
    )
