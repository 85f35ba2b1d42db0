"""Whole-FOV network reconstruction: one FOV's holograms in, the complex field at the sample out.

:func:`reconstruct_fov` is the one core function the ``reconstructions`` asset, the
``holo-pipeline reconstruct`` command and ``benchmarks/reconstruction.py`` call: build the network
input as in training (:mod:`holo_pipeline.reconstruction.inputs`), run the generator over the FOV
in blended tiles (:mod:`holo_pipeline.reconstruction.tiling`), return a complex64 field.
:func:`reconstruct_raw_slide` adds what a raw slide needs first (pixel super-resolution and
autofocus, as the pipeline's physics assets do) for people who do not run Dagster.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from holo_pipeline.evaluation.metrics import ecc, rmse
from holo_pipeline.reconstruction.inputs import network_inputs, select_heights
from holo_pipeline.reconstruction.tiling import predict_tiled

#: Tile side and least overlap (pixels) of the whole-FOV inference: the paper's 512-px training
#: patch, and an overlap wide enough that the blend hides each tile's zero-padded border.
TILE = 512
OVERLAP = 64
#: Non-blocking check of the ``reconstructions`` asset: every FOV's ECC against MH-PR at least this.
#: Our threshold, not the paper's: the demo profile's transferred models score 0.81–0.90 mean test
#: ECC on 512-px patches; a FOV below 0.8 departs visibly from its MH-PR ground truth.
ECC_THRESHOLD = 0.8


@dataclass(frozen=True)
class FOVReconstruction:
    """One FOV's network reconstruction.

    Attributes
    ----------
    fov_id
        The FOV folder name.
    field
        complex64 ``(H, W)`` at the sample plane (background 1).
    heights
        Height indices fed to the network (ascending z2).
    seconds
        Wall time of input construction plus tiled inference.
    """

    fov_id: str
    field: np.ndarray
    heights: np.ndarray
    seconds: float


def size_multiple(generator: Any) -> int:
    """Spatial sizes ``generator`` accepts are multiples of this (2 per max-pooling layer)."""
    import keras

    return 2 ** sum(isinstance(layer, keras.layers.MaxPooling2D) for layer in generator.layers)


def reconstruct_fov(
    generator: Any,
    holograms: np.ndarray,
    z2: np.ndarray,
    *,
    n_holograms: int,
    wavelength: float,
    pixel_size: float,
    fov_id: str = "fov",
    tile: int = TILE,
    overlap: int = OVERLAP,
    batch_size: int = 2,
) -> FOVReconstruction:
    """Reconstruct one whole FOV with an RH-M generator.

    Parameters
    ----------
    generator
        A Keras RH-M generator (:func:`holo_pipeline.model.load_generator`).
    holograms
        ``(n_heights, H, W)`` normalised, registered super-resolved intensities (any H, W).
    z2
        ``(n_heights,)`` heights (metres).
    n_holograms
        Mt, the number of holograms the model was trained with.
    wavelength, pixel_size
        Metres.
    tile, overlap
        Tile side and least overlap in pixels (:func:`predict_tiled`); the tile is rounded down
        to the generator's size multiple.
    batch_size
        Tiles per forward pass.

    Raises
    ------
    ValueError
        If the FOV has fewer heights than ``n_holograms``.
    """
    from holo_pipeline.model import predict

    start = time.perf_counter()
    multiple = size_multiple(generator)
    tile = max(multiple, tile - tile % multiple)
    heights = select_heights(z2, n_holograms)
    inputs = network_inputs(
        holograms, z2, n_holograms, wavelength=wavelength, pixel_size=pixel_size
    )
    out = predict_tiled(
        lambda t: predict(generator, t, batch_size=batch_size),
        inputs,
        tile=tile,
        overlap=min(overlap, tile // 2),
        multiple=multiple,
        batch_size=batch_size,
    )
    field = (out[..., 0] + 1j * out[..., 1]).astype(np.complex64)
    return FOVReconstruction(
        fov_id=fov_id, field=field, heights=heights, seconds=time.perf_counter() - start
    )


def compare_with_mhpr(field: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """ECC (complex field) and amplitude RMSE of a reconstruction against its MH-PR field."""
    field, truth = np.asarray(field), np.asarray(truth)
    if field.shape != truth.shape:
        raise ValueError(f"field {field.shape} and MH-PR {truth.shape} differ in shape")
    return {"ecc": ecc(field, truth), "amplitude_rmse": rmse(np.abs(field), np.abs(truth))}


def reconstruct_raw_slide(
    slide_path: str | os.PathLike[str],
    generator: Any,
    *,
    n_holograms: int,
    fov_ids: Sequence[str] | None = None,
    background: str = "flat_field",
    tile: int = TILE,
    overlap: int = OVERLAP,
) -> tuple[Any, list[FOVReconstruction]]:
    """Reconstruct FOVs of a raw slide: super-resolve, autofocus, then :func:`reconstruct_fov`.

    Parameters
    ----------
    slide_path
        A readable slide folder (:func:`holo_pipeline.instrument.read_slide`).
    fov_ids
        FOVs to reconstruct (default: all).
    background
        As the profile's ``background`` setting.

    Returns
    -------
    (slide, reconstructions)
        The :class:`~holo_pipeline.instrument.RawSlide` and one :class:`FOVReconstruction` per FOV.

    Raises
    ------
    RawDataError
        If the slide cannot be read.
    ValueError
        If a FOV id is unknown or the slide has fewer heights than ``n_holograms`` (before any
        work is done).
    """
    from holo_pipeline.datasets.slides import autofocus_slide_fov, super_resolve_task
    from holo_pipeline.instrument import read_slide

    slide = read_slide(slide_path)
    wanted = list(fov_ids) if fov_ids else list(slide.fov_ids)
    unknown = sorted(set(wanted) - set(slide.fov_ids))
    if unknown:
        raise ValueError(f"{slide.path}: no FOV {unknown}; FOVs: {list(slide.fov_ids)}")
    if slide.n_heights < n_holograms:
        raise ValueError(
            f"{Path(slide.path) / 'slide.yaml'}: {slide.n_heights} height(s) per FOV, but the "
            f"model takes {n_holograms} holograms"
        )
    results = []
    for fov_id in wanted:
        sr = super_resolve_task(str(slide.path), fov_id, background)
        z2, _ = autofocus_slide_fov(slide, sr.holograms)
        results.append(
            reconstruct_fov(
                generator,
                sr.holograms,
                z2,
                n_holograms=n_holograms,
                wavelength=slide.wavelength_m,
                pixel_size=slide.sr_pixel_size_m,
                fov_id=fov_id,
                tile=tile,
                overlap=overlap,
            )
        )
    return slide, results
