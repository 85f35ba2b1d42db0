"""The virtual microscope against the pipeline's physics: reconstruct a simulated FOV, compare.

One FOV of a simulated slide goes through exactly the per-FOV functions the Dagster assets run
(:func:`~holo_pipeline.datasets.slides.super_resolve_task`: flat-field frames → super-resolution →
registration of the heights; :func:`~holo_pipeline.datasets.slides.autofocus_slide_fov`;
:func:`~holo_pipeline.datasets.processing.phase_retrieve_fov` with the profile's MH-PR settings)
and every estimate is compared with the simulator's truth (``_truth/<fov>.npz``). It is the
evidence that the virtual microscope and the optics agree on geometry, units and signs, and the
measure of how well the pipeline's ground truth matches the real one.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from holo_pipeline.datasets.processing import (
    PhaseRetrievalSettings,
    back_propagate,
    phase_retrieve_fov,
)
from holo_pipeline.datasets.slides import autofocus_slide_fov, super_resolve_task
from holo_pipeline.evaluation.metrics import ecc
from holo_pipeline.instrument import read_slide, read_truth
from holo_pipeline.optics import Propagator

__all__ = ["ConsistencyReport", "aligned_ecc", "check_fov"]


def aligned_ecc(field: np.ndarray, truth: np.ndarray) -> float:
    """ECC of ``field`` with ``truth`` after removing their global phase difference.

    Intensities carry no constant phase, so phase retrieval recovers a field up to one: MH-PR
    anchors it to the plane wave outside the window, while the simulated sample extends beyond
    the window and adds its mean phase there (0.3 rad on dense lung). The comparison with the
    truth therefore aligns that constant first; it is then ``|Σ x*·y| / sqrt(Σ|x|²·Σ|y|²)``.
    """
    overlap = np.vdot(np.asarray(field, np.complex128), np.asarray(truth, np.complex128))
    return ecc(np.asarray(field) * np.exp(1j * np.angle(overlap)), truth)


@dataclass(frozen=True)
class ConsistencyReport:
    """Estimates of one FOV against the simulator's truth.

    Attributes
    ----------
    z2_error_um : ndarray (n_heights,)
        Heights MH-PR focused the field with (autofocus, common offset refocused) minus the true
        heights, µm. NaN when the check was given the true heights.
    z2_autofocus_error_um : ndarray (n_heights,)
        Autofocused height minus true height, µm (NaN with the true heights).
    shift_rms_px : ndarray (n_heights,)
        Per height, RMS over the 36 frames of estimated minus true sub-pixel scan shift (low-res
        px).
    drift_error_px : ndarray (n_heights,)
        Error of each height's estimated lateral registration to height 0 (low-res px).
    ecc : float
        ECC of the MH-PR field with the true field over the whole FOV, global phase aligned
        (:func:`aligned_ecc`).
    ecc_centre : float
        The same over the centre (an eighth of the FOV trimmed on each side).
    ecc_backpropagated : float
        ECC of height 0 back-propagated with zero phase: what MH-PR must improve on.
    residual : float
        Last MH-PR amplitude residual.
    best_offset_px : (int, int)
        Lateral offset of the truth (SR px, within ±2) that maximises the centre ECC; (0, 0) when
        simulator and pipeline agree on the grid geometry.
    """

    z2_error_um: np.ndarray
    z2_autofocus_error_um: np.ndarray
    shift_rms_px: np.ndarray
    drift_error_px: np.ndarray
    ecc: float
    ecc_centre: float
    ecc_backpropagated: float
    residual: float
    best_offset_px: tuple[int, int]


def check_fov(
    slide_path: str | os.PathLike[str],
    fov: str,
    settings: PhaseRetrievalSettings,
    *,
    true_heights: bool = False,
) -> ConsistencyReport:
    """Reconstruct one simulated FOV as the pipeline does and compare it with the truth.

    Parameters
    ----------
    slide_path
        A slide written by :func:`holo_pipeline.instrument.simulate_slide` (with ``_truth``).
    fov
        FOV id, e.g. ``"fov_000"``.
    settings
        MH-PR settings, normally the profile's
        (``build_resources()["processing"].phase_retrieval()``).
    true_heights
        Skip autofocus and give MH-PR the true heights, without refocusing: isolates
        super-resolution, registration and MH-PR, and is much cheaper.
    """
    slide = read_slide(slide_path)
    truth = read_truth(Path(slide_path), fov)
    f = slide.sr_factor
    sr = super_resolve_task(str(slide_path), fov)
    if true_heights:
        z_found = np.full(slide.n_heights, np.nan)
        z_start = np.asarray(truth.z2_m, dtype=np.float64)
        settings = dataclasses.replace(settings, refocus_range_um=0.0)
    else:
        z_found, _ = autofocus_slide_fov(slide, sr.holograms)
        z_start = z_found
    optics = {"wavelength": slide.wavelength_m, "pixel_size": slide.sr_pixel_size_m}
    result = phase_retrieve_fov(sr.holograms, z_start, **optics, settings=settings)

    true_scan = truth.shifts - truth.shifts[:, :1]
    shift_rms = np.sqrt(np.mean(np.sum((sr.scan_shifts - true_scan) ** 2, axis=2), axis=1))
    drift_error = np.hypot(*(sr.height_shifts / f - truth.shifts[:, 0]).T)
    h, w = result.field.shape
    inner = (slice(h // 8, h - h // 8), slice(w // 8, w - w // 8))
    offsets = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)]
    scores = [
        aligned_ecc(result.field[inner], np.roll(truth.field, o, axis=(0, 1))[inner])
        for o in offsets
    ]
    backprop = back_propagate(
        Propagator(result.field.shape, **optics), sr.holograms[0], float(result.z2[0])
    )
    return ConsistencyReport(
        z2_error_um=np.full(slide.n_heights, np.nan)
        if true_heights
        else (result.z2 - truth.z2_m) * 1e6,
        z2_autofocus_error_um=(z_found - truth.z2_m) * 1e6,
        shift_rms_px=np.asarray(shift_rms, dtype=np.float64),
        drift_error_px=np.asarray(drift_error, dtype=np.float64),
        ecc=aligned_ecc(result.field, truth.field),
        ecc_centre=aligned_ecc(result.field[inner], truth.field[inner]),
        ecc_backpropagated=aligned_ecc(backprop, truth.field),
        residual=float(result.residuals[-1]),
        best_offset_px=offsets[int(np.argmax(scores))],
    )
