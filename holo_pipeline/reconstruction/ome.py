"""OME-Zarr (OME-NGFF 0.4) stores of complex fields, as napari, Fiji/BigDataViewer, vizarr open.

One store per slide holds one multiscale image per FOV::

    <store>.zarr/                 root group; attrs["holo_pipeline"]: slide_id, fov_ids, source, …
      <fov_id>/                   an NGFF image: multiscales (axes c, y, x; y/x in micrometer),
        s0/ s1/ s2/ …             omero channels "amplitude" and "phase"; attrs["holo_pipeline"]
                                  per FOV (fov_id, seconds, metrics)
        level k: float32 (2, H/2^k, W/2^k), channel 0 = amplitude, 1 = phase (radians)

Level k is the complex field averaged over 2^k × 2^k blocks, then split into amplitude and phase
(averaging the field, not the phase, keeps the phase from wrapping artefacts). Its
coordinateTransformations scale is the pixel size in µm times 2^k. NGFF 0.4 (Zarr v2) rather than
0.5 because more viewers read it today (Fiji's n5-zarr, older napari-ome-zarr); ``ome_zarr``'s
reader opens both. Open a FOV in napari with ``napari --plugin napari-ome-zarr <store>/<fov_id>``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from holo_pipeline.atomic import atomic_path

#: Attribute key under which the pipeline keeps its own metadata in the NGFF groups.
ATTRS_KEY = "holo_pipeline"
CHANNELS = ("amplitude", "phase")
#: The coarsest pyramid level is the last whose shorter side is at least this many pixels.
MIN_LEVEL_SIDE = 32
_AXES = [
    {"name": "c", "type": "channel"},
    {"name": "y", "type": "space", "unit": "micrometer"},
    {"name": "x", "type": "space", "unit": "micrometer"},
]


def field_pyramid(field: np.ndarray, *, min_side: int = MIN_LEVEL_SIDE) -> list[np.ndarray]:
    """Multiscale levels ``(2, h, w)`` float32 (amplitude, phase) of a complex ``(H, W)`` field.

    Each level halves the previous one by 2×2 block means of the complex field (an odd last row or
    column is dropped); levels stop before the shorter side would fall below ``min_side``.
    """
    level = np.asarray(field, dtype=np.complex64)
    if level.ndim != 2:
        raise ValueError(f"field must be (H, W), got {level.shape}")
    levels = []
    while True:
        levels.append(np.stack([np.abs(level), np.angle(level)]).astype(np.float32))
        h, w = level.shape[0] // 2, level.shape[1] // 2
        if min(h, w) < min_side:
            return levels
        level = level[: 2 * h, : 2 * w].reshape(h, 2, w, 2).mean(axis=(1, 3))


def _omero(levels: list[np.ndarray]) -> dict[str, Any]:
    amplitude = levels[0][0]
    amp_hi = float(np.percentile(amplitude, 99.5)) if amplitude.size else 1.0
    return {
        "channels": [
            {
                "label": "amplitude",
                "color": "FFFFFF",
                "active": True,
                "window": {"min": 0.0, "max": max(amp_hi, 1e-6), "start": 0.0, "end": amp_hi},
            },
            {
                "label": "phase",
                "color": "FFFFFF",
                "active": False,
                "window": {"min": -np.pi, "max": np.pi, "start": -np.pi, "end": np.pi},
            },
        ],
        "rdefs": {"model": "greyscale"},
    }


def write_field_images(
    path: str | os.PathLike[str],
    fields: Mapping[str, np.ndarray],
    *,
    pixel_size_m: float,
    attrs: Mapping[str, Any],
    fov_attrs: Mapping[str, Mapping[str, Any]] | None = None,
) -> Path:
    """Write complex fields as one OME-Zarr image per FOV, atomically (see the module docstring).

    Parameters
    ----------
    path
        The store (``….zarr``); replaced as a whole, never visible half-written.
    fields
        FOV id → complex ``(H, W)`` field at the sample plane.
    pixel_size_m
        Pixel size of the fields (metres); written in µm.
    attrs
        Pipeline metadata of the store (slide id, source, model, …); ``fov_ids`` is added.
    fov_attrs
        FOV id → pipeline metadata of that image (seconds, metrics, …).
    """
    from ome_zarr.format import FormatV04
    from ome_zarr.writer import write_multiscale

    if not fields:
        raise ValueError(f"{path}: no FOV to write")
    if not pixel_size_m > 0:
        raise ValueError(f"pixel_size_m must be > 0, got {pixel_size_m}")
    um = float(pixel_size_m) * 1e6
    with atomic_path(path) as tmp:
        root = zarr.open_group(tmp, mode="w", zarr_format=2)
        root.attrs[ATTRS_KEY] = {**dict(attrs), "fov_ids": list(fields)}
        for fov_id, field in fields.items():
            levels = field_pyramid(field)
            group = root.create_group(fov_id)
            write_multiscale(
                levels,
                group,
                fmt=FormatV04(),
                axes=_AXES,
                coordinate_transformations=[
                    [{"type": "scale", "scale": [1.0, um * 2**k, um * 2**k]}]
                    for k in range(len(levels))
                ],
                storage_options={"chunks": (1, 512, 512)},
                name=fov_id,
            )
            group.attrs["omero"] = _omero(levels)
            group.attrs[ATTRS_KEY] = {"fov_id": fov_id, **dict((fov_attrs or {}).get(fov_id, {}))}
    return Path(path)


def read_field_image(path: str | os.PathLike[str], fov_id: str, *, level: int = 0) -> np.ndarray:
    """The complex field ``(H, W)`` of one FOV image (``amplitude · exp(i·phase)``) at ``level``.

    Raises
    ------
    FileNotFoundError
        If the store or the FOV image does not exist.
    """
    p = Path(path)
    if not (p / fov_id / ".zattrs").exists():
        raise FileNotFoundError(f"{p}: no OME-Zarr image {fov_id!r}")
    group = zarr.open_group(p / fov_id, mode="r")
    datasets = group.attrs["multiscales"][0]["datasets"]
    data = np.asarray(group[datasets[level]["path"]][...])
    return (data[0] * np.exp(1j * data[1])).astype(np.complex64)


def store_attrs(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The pipeline metadata of a store written by :func:`write_field_images`."""
    p = Path(path)
    if not (p / ".zattrs").exists():
        raise FileNotFoundError(f"{p}: not an OME-Zarr store of holo_pipeline")
    return dict(zarr.open_group(p, mode="r").attrs.get(ATTRS_KEY, {}))
