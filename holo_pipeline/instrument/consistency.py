"""Check a simulated FOV against the optics core: reconstruct it as the pipeline would, compare.

The pipeline's physics steps run on the raw frames exactly as they would on a real slide
(normalised intensities → ``super_resolve`` per height → ``autofocus`` → registration of the
heights to height 0 → ``multi_height_phase_retrieval``) and every estimate is compared with the
simulator's truth (``_truth/<fov>.npz``). Used by the instrument tests and benchmark; it is the
evidence that the virtual microscope and the optics core agree on geometry, units and signs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from holo_pipeline.instrument.simulate import read_truth
from holo_pipeline.instrument.slide_format import read_slide
from holo_pipeline.optics import (
    Propagator,
    autofocus,
    estimate_shifts,
    multi_height_phase_retrieval,
    super_resolve,
)

__all__ = ["ConsistencyReport", "check_fov", "ecc"]


def ecc(x: np.ndarray, y: np.ndarray) -> float:
    """Envelope correlation coefficient ``|Σ x*·y| / sqrt(Σ|x|²·Σ|y|²)`` (global phase removed)."""
    x = np.asarray(x, np.complex128).ravel()
    y = np.asarray(y, np.complex128).ravel()
    return float(abs(np.vdot(x, y)) / np.sqrt(np.vdot(x, x).real * np.vdot(y, y).real))


def _centre(stack: np.ndarray) -> np.ndarray:
    """Central part of a stack: near the window's edge fringes are cut off, which would pull a
    registration towards zero shift."""
    ty, tx = (max(n // 6, 1) for n in stack.shape[1:])
    return stack[:, ty:-ty, tx:-tx]


@dataclass(frozen=True)
class ConsistencyReport:
    """Estimates of one FOV against truth.

    Attributes
    ----------
    z2_error_um : ndarray (n_heights,)
        Final height estimate minus true height (µm): the autofocused heights after MH-PR's
        refocusing of their common offset (``refocus_range``), else as autofocused.
    z2_autofocus_error_um : ndarray (n_heights,)
        Per-hologram autofocus (zero-phase, edge sparsity) minus true height (µm).
    shift_rms_px : ndarray (n_heights,)
        RMS over the frames of the estimated minus true within-height shift (low-res px).
    drift_error_px : ndarray (n_heights,)
        Error of the estimated lateral drift of each height relative to height 0 (low-res px).
    ecc : float
        ECC of the MH-PR field with the true field over the whole FOV.
    ecc_centre : float
        Same over the central region (an eighth of the FOV trimmed on each side).
    residual : float
        Last MH-PR amplitude residual.
    ecc_backpropagated : float
        ECC of hologram 0 back-propagated with zero phase (what MH-PR must improve on).
    best_offset_px : (int, int)
        Offset of the truth (SR px, within ±2) that maximises the ECC; (0, 0) when the simulator
        and the optics core agree on the grid geometry.
    """

    z2_error_um: np.ndarray
    z2_autofocus_error_um: np.ndarray
    shift_rms_px: np.ndarray
    drift_error_px: np.ndarray
    ecc: float
    ecc_centre: float
    residual: float
    ecc_backpropagated: float
    best_offset_px: tuple[int, int]


def check_fov(
    slide_path: str | os.PathLike[str],
    fov: str,
    *,
    iterations: int = 20,
    autofocus_heights: bool = True,
    refinements: int = 1,
    refocus_range: float = 10e-6,
) -> ConsistencyReport:
    """Reconstruct one simulated FOV with the optics core and compare with the truth.

    Parameters
    ----------
    slide_path : path-like
        A slide written by :func:`holo_pipeline.instrument.simulate_slide`.
    fov : str
        FOV id.
    iterations : int
        MH-PR iterations.
    autofocus_heights : bool
        Autofocus every height and give MH-PR the autofocused heights (the pipeline's path). If
        False, skip autofocus (``z2_error_um`` is NaN) and give MH-PR the true heights, which
        isolates the other steps and is much cheaper.
    refinements : int
        Rounds of re-registering the heights against the holograms predicted by MH-PR.
    refocus_range : float
        Half-range (m) of MH-PR's refocusing of the heights' common offset (only with
        ``autofocus_heights``; 0 disables it).
    """
    slide = read_slide(slide_path)
    truth = read_truth(Path(slide_path), fov)
    f = slide.sr_factor
    optics = {"wavelength": slide.wavelength_m, "pixel_size": slide.sr_pixel_size_m}
    holograms, shift_rms, z_found = [], [], []
    propagator = None
    for h in range(slide.n_heights):
        hologram, shifts = super_resolve(slide.intensities(fov, h), f)
        hologram = np.clip(hologram, 0.0, None)  # deconvolution ringing can dip below zero
        true_rel = truth.shifts[h] - truth.shifts[h, 0]
        shift_rms.append(float(np.sqrt(np.mean(np.sum((shifts - true_rel) ** 2, axis=1)))))
        if propagator is None:
            propagator = Propagator(hologram.shape, **optics, cache_size=48)
        if autofocus_heights:
            lo, hi = slide.z2_search_bounds_m(h)
            z_found.append(autofocus(hologram, **optics, z_min=lo, z_max=hi, propagator=propagator))
        else:
            z_found.append(np.nan)
        holograms.append(hologram)
    z_found = np.asarray(z_found)
    z_used = z_found if autofocus_heights else truth.z2_m

    # Register the heights to height 0. First guess: each hologram against its neighbour's
    # amplitude propagated to its height (fringes expand with z, so holograms of different heights
    # are not translates of each other). Then refine against the holograms predicted by a first
    # MH-PR field, which differ from the measured ones by the drift alone.
    holograms = np.stack(holograms)
    drift_sr = np.zeros((slide.n_heights, 2))
    for h in range(1, slide.n_heights):
        u = propagator.propagate(
            np.sqrt(holograms[h - 1]), z_used[h] - z_used[h - 1], background=1.0
        )
        step = estimate_shifts(_centre(np.stack([np.abs(u) ** 2, holograms[h]])))[1]
        drift_sr[h] = drift_sr[h - 1] + step
    for _ in range(refinements + 1):
        registered = np.stack(
            [
                np.clip(ndimage.shift(holo, -d, order=3, mode="nearest"), 0.0, None)
                for holo, d in zip(holograms, drift_sr, strict=True)
            ]
        )
        result = multi_height_phase_retrieval(
            registered,
            z_used,
            **optics,
            iterations=iterations,
            propagator=propagator,
            refocus_range=refocus_range if autofocus_heights else 0.0,
        )
        z_used = result.z2
        if _ == refinements:
            break
        for h in range(1, slide.n_heights):
            u = propagator.propagate(result.field, z_used[h], background=1.0)
            pair = np.stack([np.abs(u) ** 2, holograms[h]])
            drift_sr[h] = estimate_shifts(_centre(pair))[1]
    drift_error = np.sqrt(np.sum((drift_sr / f - truth.shifts[:, 0]) ** 2, axis=1))
    h, w = result.field.shape
    cy, cx = h // 8, w // 8
    inner = (slice(cy, -cy), slice(cx, -cx))
    offsets = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)]
    scores = [
        ecc(result.field[inner], np.roll(truth.field, o, axis=(0, 1))[inner]) for o in offsets
    ]
    backprop = propagator.propagate(np.sqrt(holograms[0]), -z_used[0], background=1.0)
    return ConsistencyReport(
        z2_error_um=((z_used if autofocus_heights else z_found) - truth.z2_m) * 1e6,
        z2_autofocus_error_um=(z_found - truth.z2_m) * 1e6,
        shift_rms_px=np.asarray(shift_rms),
        drift_error_px=drift_error,
        ecc=ecc(result.field, truth.field),
        ecc_centre=ecc(result.field[inner], truth.field[inner]),
        residual=float(result.residuals[-1]),
        ecc_backpropagated=ecc(backprop, truth.field),
        best_offset_px=offsets[int(np.argmax(scores))],
    )
