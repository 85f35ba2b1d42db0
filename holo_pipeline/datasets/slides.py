"""Slide-level helpers: finding ready slides, fingerprints, and the per-FOV tasks run by Dask.

The ``*_task`` functions are what a Dask worker runs for one FOV: they read that FOV's inputs from
disk (so only paths travel to the worker), call one function of
:mod:`holo_pipeline.datasets.processing`, and return arrays.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from holo_pipeline.datasets import processing
from holo_pipeline.datasets.stores import open_field_store, open_hologram_store
from holo_pipeline.instrument import RawSlide, is_slide_ready, read_slide
from holo_pipeline.instrument.slide_format import SLIDE_ID_RE


def ready_slides(landing: str | os.PathLike[str]) -> dict[str, Path]:
    """Ready slides in the landing folder, by slide id (sorted).

    A folder counts when its name is a valid slide id and
    :func:`holo_pipeline.instrument.is_slide_ready` says so (``slide.yaml`` present and every listed
    FOV complete). Hidden and temporary folders are ignored.
    """
    root = Path(landing)
    if not root.is_dir():
        return {}
    found = {}
    for entry in sorted(root.iterdir()):
        if entry.is_dir() and SLIDE_ID_RE.fullmatch(entry.name) and is_slide_ready(entry):
            found[entry.name] = entry
    return found


def slide_fingerprint(path: str | os.PathLike[str]) -> str:
    """SHA-256 (hex, 16 digits) of ``slide.yaml`` and every FOV file of a slide, in name order.

    Simulator truth (``_truth/``) and hidden files are not part of the data.
    """
    root = Path(path)
    digest = hashlib.sha256()
    files = sorted(
        p
        for p in root.rglob("*")
        if p.is_file()
        and not any(part.startswith((".", "_")) for part in p.relative_to(root).parts)
    )
    for p in files:
        digest.update(str(p.relative_to(root)).encode())
        with open(p, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


def super_resolve_task(
    slide_path: str, fov_id: str, background: str = "flat_field"
) -> processing.SuperResolvedFOV:
    """Super-resolve every height of one FOV of a raw slide (flat-field or background-frame
    corrected frames; ``scan_grid: 1`` frames are only normalised).

    Heights are registered at their nominal values; when they are unknown, at the middle of the
    stage range and without MH-PR refinement (which needs the heights to predict holograms).
    """
    slide = read_slide(slide_path)
    frames = np.stack([slide.intensities(fov_id, h) for h in range(slide.n_heights)])
    return processing.super_resolve_fov(
        frames,
        slide.sr_factor,
        z2_nominal=slide.z2_reference_m,
        wavelength=slide.wavelength_m,
        pixel_size=slide.sr_pixel_size_m,
        background=background,
        registration_refinements=1 if slide.heights_known else 0,
    )


def autofocus_task(slide_path: str, holograms_path: str, fov: int) -> tuple[np.ndarray, np.ndarray]:
    """Autofocus every height of FOV number ``fov`` (see :func:`autofocus_slide_fov`)."""
    slide = read_slide(slide_path)
    return autofocus_slide_fov(slide, open_hologram_store(holograms_path).holograms[fov])


def autofocus_slide_fov(slide: RawSlide, holograms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`processing.autofocus_fov` of one FOV's holograms with the slide's optics, each
    height's stage search range and its nominal height (outliers searched again); heights that
    are unknown are searched over the whole stage range, with no outlier test."""
    bounds = np.array([slide.z2_search_bounds_m(h) for h in range(slide.n_heights)])
    return processing.autofocus_fov(
        holograms,
        wavelength=slide.wavelength_m,
        pixel_size=slide.sr_pixel_size_m,
        z_min=bounds[:, 0],
        z_max=bounds[:, 1],
        z2_nominal=slide.z2_nominal_m if slide.heights_known else None,
    )


def phase_retrieval_task(
    holograms_path: str,
    fov: int,
    z2: np.ndarray,
    wavelength: float,
    pixel_size: float,
    settings: processing.PhaseRetrievalSettings,
) -> processing.RetrievedFOV:
    """MH-PR of FOV number ``fov`` with its autofocused heights."""
    holograms = open_hologram_store(holograms_path).holograms[fov]
    return processing.phase_retrieve_fov(
        holograms, z2, wavelength=wavelength, pixel_size=pixel_size, settings=settings
    )


def patches_task(
    holograms_path: str,
    field_path: str,
    fov: int,
    z2: np.ndarray,
    patch_size: int,
    wavelength: float,
    pixel_size: float,
) -> processing.PatchSet:
    """Training patches of FOV number ``fov``."""
    holograms = open_hologram_store(holograms_path).holograms[fov]
    field = open_field_store(field_path).field[fov]
    return processing.extract_patches(
        holograms, z2, field, patch_size=patch_size, wavelength=wavelength, pixel_size=pixel_size
    )
