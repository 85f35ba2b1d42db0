"""Per-FOV physics orchestration on arrays: the steps from raw frames to training patches.

Each function takes one FOV's arrays and plain parameters and calls the named algorithms of
:mod:`holo_pipeline.optics`; none does I/O. The order is

1. :func:`super_resolve_fov` — pixel super-resolution of each height (6×6 scan → one hologram)
   of the flat-field corrected frames and lateral registration of every height to height 0
   (:func:`register_heights`);
2. :func:`autofocus_fov` — z2 of each height by edge sparsity inside the stage range;
3. :func:`phase_retrieve_fov` — multi-height phase retrieval with the autofocused heights, whose
   common offset it refines;
4. :func:`extract_patches` — non-overlapping patches: inputs are each height's amplitude
   back-propagated with zero phase by the FOV's mean (refined) height z̄2, the target is the
   MH-PR field.

Reference: Huang et al., "Few-shot transfer learning for holographic image reconstruction using a
recurrent neural network", APL Photonics 7, 070801 (2022), Methods.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.optimize import minimize_scalar

from holo_pipeline import optics

#: How :func:`super_resolve_fov` brings the unobstructed illumination to 1.
BACKGROUNDS = ("flat_field", "blurred")


@dataclass(frozen=True)
class SuperResolvedFOV:
    """Super-resolved holograms of one FOV.

    Attributes
    ----------
    holograms
        float32 ``(n_heights, H, W)``, background-normalised intensities registered to height 0,
        clipped at 0.
    scan_shifts
        float32 ``(n_heights, n_frames, 2)``: sub-pixel scan shifts in low-res pixels.
    height_shifts
        float32 ``(n_heights, 2)``: lateral (dy, dx) of each height relative to height 0 in
        super-resolved pixels, removed by registration.
    """

    holograms: np.ndarray
    scan_shifts: np.ndarray
    height_shifts: np.ndarray


#: How :func:`phase_retrieve_fov` runs MH-PR (the profile's ``mhpr_*`` settings): the optics
#: settings class itself, whose defaults are the shipped profiles'.
PhaseRetrievalSettings = optics.MHPRSettings


@dataclass(frozen=True)
class RetrievedFOV:
    """MH-PR result of one FOV.

    Attributes
    ----------
    field
        complex64 ``(H, W)`` at the sample plane (background 1).
    residuals
        float32 ``(iterations,)`` amplitude mismatch per iteration.
    z2
        float64 ``(n_heights,)``: the heights (metres, height-index order) the field was retrieved
        and focused with, the autofocused ones shifted by the refocused common offset.
    """

    field: np.ndarray
    residuals: np.ndarray
    z2: np.ndarray


@dataclass(frozen=True)
class PatchSet:
    """Training patches of one FOV (layout of :mod:`holo_pipeline.datasets.patch_store`)."""

    inputs: np.ndarray  # float32 (n, n_heights, P, P, 2)
    target: np.ndarray  # float32 (n, P, P, 2)
    origin: np.ndarray  # int32 (n, 2)


def normalize_background(intensity: np.ndarray, *, sigma_fraction: float = 0.25) -> np.ndarray:
    """Divide an intensity by its background so that the unscattered light is ≈ 1.

    The background is a heavily blurred copy (Gaussian, σ = ``sigma_fraction`` × the larger side,
    reflected at the borders), which also removes slow illumination gradients; the blur is scaled
    to the image median so that a sample covering part of the FOV does not bias the level.

    Parameters
    ----------
    intensity
        Real ``(H, W)`` intensity, positive.
    sigma_fraction
        Blur width as a fraction of the image side.

    Returns
    -------
    ndarray
        float32 ``(H, W)``.
    """
    img = np.asarray(intensity, dtype=np.float64)
    if img.ndim != 2:
        raise ValueError(f"intensity must be (H, W), got {img.shape}")
    sigma = max(1.0, sigma_fraction * max(img.shape))
    # A blur this wide needs no full-resolution convolution: blur block means, then interpolate.
    step = max(1, min(int(sigma // 8), img.shape[0] // 4, img.shape[1] // 4))
    ny, nx = img.shape[0] // step, img.shape[1] // step
    blocks = img[: ny * step, : nx * step].reshape(ny, step, nx, step).mean(axis=(1, 3))
    coarse = ndimage.gaussian_filter(blocks, sigma=sigma / step, mode="reflect")
    background = ndimage.zoom(
        coarse, (img.shape[0] / ny, img.shape[1] / nx), order=1, mode="nearest", grid_mode=True
    )
    floor = max(float(np.median(background)) * 1e-3, np.finfo(np.float32).tiny)
    return (img / np.maximum(background, floor)).astype(np.float32)


#: Fewest heights for which :func:`register_heights` refines against MH-PR predictions.
_MIN_HEIGHTS_TO_REFINE = 4


def register_heights(
    holograms: np.ndarray,
    z2: np.ndarray,
    *,
    wavelength: float,
    pixel_size: float,
    upsample: int = 20,
    refinements: int = 1,
    refine_iterations: int = 10,
) -> tuple[np.ndarray, np.ndarray]:
    """Register every height's hologram laterally to height 0.

    Holograms recorded at different heights are different diffraction patterns, so they are not
    correlated directly. A first estimate correlates the zero-phase images refocused by each
    nominal height ``z2`` (subpixel cross-correlation,
    :func:`holo_pipeline.optics.estimate_shifts`); their twin images differ from height to height
    and bias it by tenths of a pixel, more on small windows. Each refinement then runs a short
    MH-PR on the registered stack and correlates every measured hologram with the one that field
    predicts at its height, which differs from it by the remaining drift alone (on the central
    two thirds, away from the window's edge where the prediction lacks light from outside). The
    shifts are removed with a Fourier shift (a lateral shift commutes with free-space
    propagation; borders wrap).

    Parameters
    ----------
    holograms
        ``(n, H, W)`` normalised intensities, in height order.
    z2
        ``(n,)`` approximate (nominal) heights in metres.
    refinements, refine_iterations
        Rounds of MH-PR refinement and the MH-PR sweeps of each (0 rounds: the first estimate;
        stacks of fewer than 4 heights are not refined).

    Returns
    -------
    registered, shifts
        float32 ``(n, H, W)`` and float32 ``(n, 2)`` (dy, dx) in pixels of ``holograms``, with
        ``holograms[k](y, x) ≈ holograms[0](y - dy, x - dx)``.
    """
    stack = np.asarray(holograms, dtype=np.float32)
    if stack.ndim != 3 or len(z2) != stack.shape[0]:
        raise ValueError(
            f"holograms must be (n, H, W) with one z2 per hologram, got {stack.shape} and "
            f"{len(z2)} heights"
        )
    propagator = optics.iteration_propagator(
        stack.shape[1:], wavelength=wavelength, pixel_size=pixel_size
    )
    focused = np.stack(
        [
            np.abs(propagator.propagate(_amplitude(h), -float(z), background=1.0))
            for h, z in zip(stack, z2, strict=True)
        ]
    )
    shifts = np.asarray(optics.estimate_shifts(focused, upsample=upsample), dtype=np.float64)
    ty, tx = (max(n // 6, 1) for n in stack.shape[1:])
    centre = (slice(None), slice(ty, -ty), slice(tx, -tx))
    registered = _shift_all(stack, shifts)
    # With few heights MH-PR fits a misregistered stack as well as a registered one, and its
    # predictions would carry the drift along: refine only when the heights over-determine it.
    for _ in range(refinements if stack.shape[0] >= _MIN_HEIGHTS_TO_REFINE else 0):
        # Re-estimate every height against the hologram a short MH-PR of the current
        # registration predicts there, which differs from the measured one by the remaining drift.
        field = optics.multi_height_phase_retrieval(
            np.maximum(registered, 0),
            np.asarray(z2, dtype=np.float64),
            wavelength=wavelength,
            pixel_size=pixel_size,
            iterations=refine_iterations,
            # The plain iteration: these short retrievals only predict the holograms.
            momentum=0.0,
            refocus_range=0.0,
            max_amplitude=0.0,
            propagator=propagator,
        ).field
        for k in range(1, stack.shape[0]):
            predicted = np.abs(propagator.propagate(field, float(z2[k]), background=1.0)) ** 2
            pair = np.stack([predicted, stack[k]])[centre]
            shifts[k] = np.asarray(optics.estimate_shifts(pair, upsample=upsample))[1]
        registered = _shift_all(stack, shifts)
    return registered, shifts.astype(np.float32)


#: Sweeps of each MH-PR in :func:`refine_heights`, its rounds, its low-frequency momentum (as the
#: profile's MH-PR) and how far (µm) a height may move from its estimate in one round.
REFINE_SWEEPS = 10
REFINE_ROUNDS = 2
_REFINE_MOMENTUM = 0.95
_REFINE_MOMENTUM_CUTOFF = 0.1e6
_REFINE_SPAN_UM = 3.0


def refine_heights(
    holograms: np.ndarray,
    z2: np.ndarray,
    *,
    wavelength: float,
    pixel_size: float,
    sweeps: int = REFINE_SWEEPS,
    rounds: int = REFINE_ROUNDS,
    propagator: optics.Propagator | None = None,
) -> np.ndarray:
    """Refine every height against the hologram the other heights predict there.

    Autofocus reads each height on its own zero-phase hologram, whose twin image biases it
    differently at every height (by up to ~1.3 µm between heights of one FOV on the simulator's
    tissues). The heights are split in two interleaved halves (in height order: every other
    height). A short MH-PR of the first half predicts the amplitude at every height ``z2[k] + δ``
    of the second half, and ``δ`` within ±3 µm minimises its mismatch with the measured amplitude
    on the central two thirds of the window (bounded Brent search). Then the second half, at its
    refined heights, predicts the first half in the same way. A height's own error therefore never
    shapes the field it is fitted to, and the halves end in one common frame: had both been
    fitted to the other's old heights, an offset between the halves would only change sign (it
    does, by the full ±1 µm, for heights spoiled by alternately ±1 µm). A second round repeats
    this from the refined heights, which also lets a height move up to 6 µm in all. Height
    differences are what the data determine; the common offset moves little, and MH-PR refocuses
    it (:func:`holo_pipeline.optics.multi_height_phase_retrieval`, ``refocus_range``).

    Four MH-PRs of half the heights (10 sweeps) replace one MH-PR of all heights but one for
    every height (8 of 7 heights, 5 sweeps, for 8 heights): half the propagations, 0.6× the time.
    On 20 simulated demo-size FOVs (5 tissues, 4 seeds) the heights' error less its mean was
    0.28 µm RMS on average (worst height 1.76 µm) against 0.46 µm (2.21 µm) with leave-one-out,
    smaller on all 20 (``benchmarks/instrument.py --refine``). One round instead of two was as
    good except where autofocus erred most (up to 4.9 µm: 0.87 against 0.25 µm RMS).

    Parameters
    ----------
    holograms
        ``(n, H, W)`` registered normalised intensities, ``n >= 4``.
    z2
        ``(n,)`` autofocused heights (metres).
    sweeps
        MH-PR sweeps of each half's retrieval.
    rounds
        Times the two halves are fitted (each round starts from the last one's heights).
    propagator
        Reused if given (shape ``(H, W)``; default
        :func:`holo_pipeline.optics.iteration_propagator`): the retrievals share its cached
        plane-to-plane transfer functions; the trial distances around each height share that
        height's band limit (:meth:`~holo_pipeline.optics.Propagator.fine_scan`).

    Returns
    -------
    ndarray
        float64 ``(n,)`` refined heights (metres).
    """
    stack = np.asarray(holograms, dtype=np.float32)
    heights = np.asarray(z2, dtype=np.float64)
    n = stack.shape[0]
    if stack.ndim != 3 or heights.shape != (n,) or n < _MIN_HEIGHTS_TO_REFINE:
        raise ValueError(
            f"holograms must be (n, H, W) with n >= {_MIN_HEIGHTS_TO_REFINE} and one z2 per "
            f"hologram, got {stack.shape} and {heights.shape}"
        )
    if propagator is None:
        propagator = optics.iteration_propagator(
            stack.shape[1:], wavelength=wavelength, pixel_size=pixel_size
        )
    ty, tx = (max(s // 6, 1) for s in stack.shape[1:])
    centre = (slice(ty, -ty), slice(tx, -tx))
    measured = np.sqrt(stack)[:, ty:-ty, tx:-tx]
    span = _REFINE_SPAN_UM * 1e-6

    def mismatch(dz: float, scattered_at, target: np.ndarray) -> float:
        return float(np.linalg.norm(np.abs(1.0 + scattered_at(dz)[centre]) - target))

    order = np.argsort(heights, kind="stable")
    halves = (order[0::2], order[1::2])
    heights = heights.copy()
    for _ in range(rounds):
        for fit, predict in (halves, halves[::-1]):
            field = optics.multi_height_phase_retrieval(
                stack[fit],
                heights[fit],
                wavelength=wavelength,
                pixel_size=pixel_size,
                iterations=sweeps,
                momentum=_REFINE_MOMENTUM,
                momentum_cutoff=_REFINE_MOMENTUM_CUTOFF,
                refocus_range=0.0,
                max_amplitude=0.0,
                propagator=propagator,
            ).field
            # The scattered part's spectrum once; each trial distance around a height is one
            # phase factor and one inverse transform.
            spectrum = propagator.spectrum(field - np.complex64(1.0))
            for k in predict:
                best = minimize_scalar(
                    mismatch,
                    bounds=(-span, span),
                    args=(propagator.fine_scan(spectrum, heights[k], carrier=False), measured[k]),
                    method="bounded",
                    options={"xatol": 0.02e-6},
                )
                heights[k] += float(best.x)
    return heights


def _shift_all(stack: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """Each hologram moved by minus its shift (Fourier shift; borders wrap)."""
    registered = np.empty_like(stack)
    registered[0] = stack[0]
    for k in range(1, stack.shape[0]):
        spectrum = ndimage.fourier_shift(np.fft.fft2(stack[k]), shift=-shifts[k])
        registered[k] = np.fft.ifft2(spectrum).real
    return registered


def _amplitude(intensity: np.ndarray) -> np.ndarray:
    """Zero-phase field of an intensity (negative noise clipped)."""
    return np.sqrt(np.maximum(intensity, 0)).astype(np.complex64)


def back_propagate(propagator: optics.Propagator, intensity: np.ndarray, z2: float) -> np.ndarray:
    """Zero-phase amplitude of a normalised hologram back-propagated by ``z2`` to the sample.

    The background (1) is treated as a plane wave extending beyond the window, so the window edge
    does not act as an aperture, and the plane wave's carrier phase is removed: the background
    stays 1, as in the MH-PR field (:func:`phase_retrieve_fov`) that is the training target.
    """
    field = propagator.propagate(_amplitude(intensity), -z2, background=1.0)
    carrier = np.exp(-2j * np.pi * propagator.n_medium * z2 / propagator.wavelength)
    return (field * np.complex64(np.conj(carrier))).astype(np.complex64)


def super_resolve_fov(
    frames: np.ndarray,
    factor: int,
    *,
    z2_nominal: np.ndarray,
    wavelength: float,
    pixel_size: float,
    background: str = "flat_field",
    registration_refinements: int = 1,
) -> SuperResolvedFOV:
    """Super-resolve, normalise and register all heights of one FOV.

    A height with a single frame and ``factor`` 1 (``scan_grid: 1``: already super-resolved, or
    single-shot) is not super-resolved: it is only normalised (its scan shift is 0). A single
    height is not registered (its height shift is 0).

    Parameters
    ----------
    frames
        ``(n_heights, n_frames, h, w)`` intensities, the 6×6 scan per height, already divided by
        the instrument's flat field (:meth:`RawSlide.intensities`).
    factor
        Super-resolution factor (output is ``(h·factor, w·factor)``).
    z2_nominal
        ``(n_heights,)`` stage heights (metres), to refocus for registration.
    wavelength, pixel_size
        Metres; ``pixel_size`` of the super-resolved grid.
    background
        ``"flat_field"`` (default): the flat-field division already brought the unobstructed
        illumination to 1, and nothing more is done. ``"blurred"``: each hologram is also divided
        by its own heavy blur (:func:`normalize_background`), for scans whose flat field is not
        calibrated. The blur cannot tell the illumination from the sample's mean transmission:
        on dense tissue (no clear glass in the FOV) it rescales the hologram by up to 1.4× and
        bends its low frequencies, which MH-PR then turns into low-frequency phase errors.
    registration_refinements
        MH-PR refinement rounds of :func:`register_heights` (0 when the heights are not known
        well enough to predict one hologram from the others).
    """
    frames = np.asarray(frames)
    if frames.ndim != 4:
        raise ValueError(f"frames must be (n_heights, n_frames, h, w), got {frames.shape}")
    if background not in BACKGROUNDS:
        raise ValueError(f"background must be one of {BACKGROUNDS}, got {background!r}")
    sr, scan = [], []
    for height in frames:
        if height.shape[0] == 1 and factor == 1:
            hologram, shifts = height[0].astype(np.float32), np.zeros((1, 2))
        else:
            hologram, shifts = optics.super_resolve(height.astype(np.float32), factor)
        sr.append(normalize_background(hologram) if background == "blurred" else hologram)
        scan.append(np.asarray(shifts, dtype=np.float32))
    if len(sr) == 1:
        registered, height_shifts = np.stack(sr), np.zeros((1, 2), np.float32)
    else:
        registered, height_shifts = register_heights(
            np.stack(sr),
            z2_nominal,
            wavelength=wavelength,
            pixel_size=pixel_size,
            refinements=registration_refinements,
        )
    # Noise and the Fourier shift's ringing can dip below 0; an intensity cannot.
    return SuperResolvedFOV(
        holograms=np.maximum(registered, 0), scan_shifts=np.stack(scan), height_shifts=height_shifts
    )


#: A height whose autofocus offset from nominal differs from the FOV's median offset by more than
#: this (µm) is an autofocus failure, not the stage: its steps err by ~1.5 µm (σ), while a dense
#: monolayer's self-images can give the sharpness a second peak ~20 µm away.
HEIGHT_OUTLIER_UM = 6.0


def autofocus_fov(
    holograms: np.ndarray,
    *,
    wavelength: float,
    pixel_size: float,
    z_min: float | np.ndarray,
    z_max: float | np.ndarray,
    z2_nominal: np.ndarray | None = None,
    refine_sweeps: int = REFINE_SWEEPS,
) -> tuple[np.ndarray, np.ndarray]:
    """Autofocus each height's hologram (edge sparsity) inside ``[z_min, z_max]`` metres, then
    refine the heights against one another (:func:`refine_heights`).

    Parameters
    ----------
    holograms
        ``(n_heights, H, W)`` normalised intensities.
    z_min, z_max
        Search bounds (metres): one pair for every height, or ``(n_heights,)`` arrays.
    z2_nominal
        ``(n_heights,)`` stage heights (metres). If given, a height that disagrees with the
        others (:func:`consistent_heights`) is searched again, only within
        ±``HEIGHT_OUTLIER_UM`` of where the others place it (and inside its bounds).
    refine_sweeps
        Sweeps of :func:`refine_heights`' MH-PRs (0, or fewer than 4 heights: no refinement).
        Refined heights stay inside their bounds.

    Returns
    -------
    z2, outlier
        float64 ``(n_heights,)`` sample-to-sensor distances and bool ``(n_heights,)``, True
        where the first search disagreed with the other heights.
    """
    stack = np.asarray(holograms, dtype=np.float32)
    n = stack.shape[0]
    lows, highs = (np.broadcast_to(np.asarray(b, dtype=np.float64), (n,)) for b in (z_min, z_max))
    propagator = optics.iteration_propagator(
        stack.shape[1:], wavelength=wavelength, pixel_size=pixel_size
    )

    def focus(h: int, lo: float, hi: float) -> float:
        return optics.autofocus(
            stack[h],
            wavelength=wavelength,
            pixel_size=pixel_size,
            z_min=lo,
            z_max=hi,
            propagator=propagator,
        )

    z2 = np.array([focus(h, lows[h], highs[h]) for h in range(n)], dtype=np.float64)
    outlier = np.zeros(n, dtype=bool)
    if z2_nominal is not None:
        expected, outlier = consistent_heights(z2, z2_nominal)
        gate = HEIGHT_OUTLIER_UM * 1e-6
        for h in np.flatnonzero(outlier):
            lo, hi = max(lows[h], expected[h] - gate), min(highs[h], expected[h] + gate)
            z2[h] = focus(int(h), lo, hi) if hi > lo else expected[h]
    if refine_sweeps > 0 and n >= _MIN_HEIGHTS_TO_REFINE:
        refined = refine_heights(
            stack,
            z2,
            wavelength=wavelength,
            pixel_size=pixel_size,
            sweeps=refine_sweeps,
            propagator=propagator,
        )
        z2 = np.clip(refined, lows, highs)
    return z2, outlier


def consistent_heights(
    z2: np.ndarray, z2_nominal: np.ndarray, *, max_deviation_um: float = HEIGHT_OUTLIER_UM
) -> tuple[np.ndarray, np.ndarray]:
    """Find autofocus outliers among one FOV's heights and where the others place them.

    Every height of a FOV shares the sample's offset from the nominal stage heights; only the
    stage's small per-height error differs. A height whose offset ``z2 − z2_nominal`` is more
    than ``max_deviation_um`` from the median offset is an outlier; the others place it at
    ``z2_nominal`` plus that median.

    Returns
    -------
    z2, outlier
        float64 ``(n,)`` heights (metres), outliers replaced by nominal + median offset, and bool
        ``(n,)``, True for the outliers.
    """
    z2 = np.asarray(z2, dtype=np.float64)
    nominal = np.asarray(z2_nominal, dtype=np.float64)
    offset = z2 - nominal
    median = float(np.median(offset))
    outlier = np.abs(offset - median) > max_deviation_um * 1e-6
    return np.where(outlier, nominal + median, z2), outlier


def phase_retrieve_fov(
    holograms: np.ndarray,
    z2: np.ndarray,
    *,
    wavelength: float,
    pixel_size: float,
    settings: PhaseRetrievalSettings,
) -> RetrievedFOV:
    """Multi-height phase retrieval of one FOV.

    Parameters
    ----------
    holograms, z2
        ``(n_heights, H, W)`` registered intensities and their autofocused heights (metres).
    wavelength, pixel_size
        Metres.
    settings
        Iterations, low-frequency momentum, refocus range and passive-sample constraint.
    """
    result = optics.multi_height_phase_retrieval(
        np.asarray(holograms, dtype=np.float32),
        np.asarray(z2, dtype=np.float64),
        wavelength=wavelength,
        pixel_size=pixel_size,
        iterations=settings.iterations,
        momentum=settings.momentum,
        momentum_cutoff=settings.momentum_cutoff_per_um * 1e6,
        refocus_range=settings.refocus_range_um * 1e-6,
        max_amplitude=settings.max_amplitude,
    )
    return RetrievedFOV(
        field=np.asarray(result.field, dtype=np.complex64),
        residuals=np.asarray(result.residuals, dtype=np.float32),
        z2=np.asarray(result.z2, dtype=np.float64),
    )


def patch_origins(shape: tuple[int, int], patch_size: int) -> np.ndarray:
    """Top-left corners of the non-overlapping ``patch_size`` grid, centred on an ``(H, W)`` image.

    Returns
    -------
    ndarray
        int32 ``(n, 2)`` in row-major order; ``n = (H // P) · (W // P)``, 0 if the image is smaller.
    """
    if patch_size < 1:
        raise ValueError(f"patch_size must be >= 1, got {patch_size}")
    ny, nx = shape[0] // patch_size, shape[1] // patch_size
    oy = (shape[0] - ny * patch_size) // 2
    ox = (shape[1] - nx * patch_size) // 2
    grid = [(oy + i * patch_size, ox + j * patch_size) for i in range(ny) for j in range(nx)]
    return np.array(grid, dtype=np.int32).reshape(-1, 2)


def _real_imag(field: np.ndarray) -> np.ndarray:
    return np.stack([field.real, field.imag], axis=-1).astype(np.float32)


def extract_patches(
    holograms: np.ndarray,
    z2: np.ndarray,
    field: np.ndarray,
    *,
    patch_size: int,
    wavelength: float,
    pixel_size: float,
) -> PatchSet:
    """Cut one FOV into network inputs and MH-PR targets.

    Parameters
    ----------
    holograms
        ``(n_heights, H, W)`` normalised, registered intensities.
    z2
        ``(n_heights,)`` autofocused heights (metres); their mean z̄2 is the back-propagation
        distance of every height (as the network expects).
    field
        complex ``(H, W)`` MH-PR field at the sample plane.
    patch_size
        Side P of the square, non-overlapping patches.

    Returns
    -------
    PatchSet
        ``inputs (n, n_heights, P, P, 2)``, ``target (n, P, P, 2)``, ``origin (n, 2)``.
    """
    holograms = np.asarray(holograms, dtype=np.float32)
    if holograms.ndim != 3 or holograms.shape[1:] != np.shape(field):
        raise ValueError(
            f"holograms (n, H, W) and field (H, W) must agree, got {holograms.shape} and "
            f"{np.shape(field)}"
        )
    z_mean = float(np.mean(z2))
    propagator = optics.Propagator(
        holograms.shape[1:], wavelength=wavelength, pixel_size=pixel_size
    )
    back = np.stack([back_propagate(propagator, h, z_mean) for h in holograms])
    origins = patch_origins(holograms.shape[1:], patch_size)
    p = patch_size
    inputs = np.zeros((len(origins), holograms.shape[0], p, p, 2), np.float32)
    target = np.zeros((len(origins), p, p, 2), np.float32)
    for i, (y, x) in enumerate(origins):
        inputs[i] = _real_imag(back[:, y : y + p, x : x + p])
        target[i] = _real_imag(np.asarray(field)[y : y + p, x : x + p])
    return PatchSet(inputs=inputs, target=target, origin=origins)
