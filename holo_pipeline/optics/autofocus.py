"""Autofocus of in-line holograms by edge sparsity (Tamura coefficient of the gradient).

The hologram amplitude, with zero phase, is back-propagated over a range of candidate distances;
at the true sample-to-sensor distance the reconstructed sample has its sharpest, sparsest edges,
which maximises the Tamura coefficient ``sqrt(std/mean)`` of the gradient magnitude.

Two criteria, one search (:func:`edge_sparsity_focus`):

- the Tamura coefficient of the gradient of the *complex* field (Zhang et al.): the most precise
  on the simulator's tissue at super-resolved pitch (±1–2 µm; the amplitude's is biased by
  +6 to +28 µm there), and the only one a range up to 390 µm wide (the pipeline's nominal
  ±25 µm, MH-PR's ±10 µm refocus) uses, exactly as before;
- the Tamura coefficient of the gradient of the *amplitude*, which first locates the focus in a
  wider range (its best interior local maximum on a 10 µm scan), after which the complex criterion
  is searched within ±100 µm of it (the amplitude's refined maximum where the complex criterion has
  no peak there).

Why wide ranges on real holograms needed this (the DCOD holograms, 512² at 1.12 µm, 532 nm,
searched over 100–1500 µm; measured with this module's earlier single-criterion search):

- cheek cells (238 µm; found at 100 µm, the range's edge). Not the normalisation (background,
  median or heavy-blur division give the same), nor pixel defects (despiking changes nothing), nor
  sampling (low- or high-passing the spectrum does not help). The large (50–100 µm), smooth, weak
  phase cells are in the near field (Fresnel number ``a²/λz`` ≫ 1): their intensity is
  ``1 − (λz/2π)·∇²φ`` (transport of intensity), an edge map that is itself sharpest at the sensor,
  while their in-focus gradient (of a smooth phase) is denser. The complex criterion therefore
  falls monotonically from z = 0 over the whole range: on 128² tiles, tiles holding only the small
  particles peak at 232–244 µm, tiles holding the big cells at the lower end. The amplitude
  criterion keeps a local maximum at 238–240 µm, under a trend rising towards z = 0; its best
  *interior* maximum skips the range-edge maximum.
- red blood cells (315 µm; found at 252 µm). The band limit: one band for every candidate, that
  at ``z_max`` (1500 µm keeps a numerical aperture of 0.19 of the 0.24 the pitch holds), strips the
  cells' fine edges; searched over 100–450 µm the same criterion finds 310 µm. Even on the full
  band the complex criterion is bimodal per tile (≈260 or ≈310 µm: the twin image and the
  non-linear term of these strongly absorbing and phase-shifting cells), the amplitude criterion is
  not (304–316 µm on every tile). The window the complex criterion is refined in therefore has
  its own band and is centred on the amplitude criterion's location.
- USAF target (1065 µm): found at 1057 µm by either criterion.

Found now (tests in ``holo_pipeline_tests/optics/test_autofocus_real.py``): 237 µm (−0.4 %),
310 µm (−1.6 %) and 1057 µm (−0.8 %). On the simulator's tissue at 1.12 µm (256² windows,
100–1500 µm) five of six phantoms are within 5 µm (the earlier search: two); at super-resolved
pitch a 528² window (197 µm) is too narrow an aperture for ranges of hundreds of µm with either
search (three of six phantoms found, as before): search super-resolved FOVs around their
nominal heights.

References
----------
Y. Zhang, H. Wang, Y. Wu, M. Tamamitsu and A. Ozcan, "Edge sparsity criterion for robust
holographic autofocusing", Opt. Lett. 42, 3824 (2017).
P. Memmolo et al., "Automatic focusing in digital holography and its application to stretched
holograms", Opt. Lett. 36, 1945 (2011) (Tamura coefficient as a focus measure).
P. Langehanenberg, B. Kemper, D. Dirksen and G. von Bally, "Autofocusing in digital holographic
phase contrast microscopy on pure phase objects for live cell imaging", Appl. Opt. 47, D176
(2008) (gradient-, variance- and spectrum-based measures compared).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar

from holo_pipeline.optics import _checks, _fft
from holo_pipeline.optics.propagation import Propagator

__all__ = ["autofocus", "edge_sparsity_focus", "tamura_of_gradient"]

#: Coarse scan spacing (metres) and the refinement's tolerance; with a 300 µm range this is
#: 31 coarse propagations plus at most ``_MAX_REFINE`` refinement steps, under 60 in all.
_COARSE_STEP = 10e-6
_MAX_COARSE = 40
#: A range the coarse scan covers at _COARSE_STEP (390 µm) is searched by the complex criterion
#: alone; a wider one is first located by the amplitude criterion, on a scan of up to
#: _MAX_COARSE_WIDE points (10 µm apart up to 2 mm), and then searched within ±_LOCATE_HALF_WIDTH.
_DIRECT_RANGE = (_MAX_COARSE - 1) * _COARSE_STEP
_LOCATE_HALF_WIDTH = 100e-6
_MAX_COARSE_WIDE = 201

_MAX_REFINE = 18
_TOLERANCE = 0.05e-6
#: Cropped band width over the band limit's extent: central differences then see its top
#: frequency at a quarter of the sampling rate (response sin(π/2)/(π/2) ≈ 0.64 instead of 0).
_OVERSAMPLE = 2.0


def tamura_of_gradient(field: np.ndarray) -> float:
    """Tamura coefficient ``sqrt(std(g) / mean(g))`` of the gradient magnitude ``g`` of a field.

    Parameters
    ----------
    field : ndarray, shape (H, W)
        Complex (or real) field. ``g = sqrt(|∂u/∂y|² + |∂u/∂x|²)`` by central differences.

    Returns
    -------
    float
        Larger for sparser edges (a focused object); 0 for a uniform field.

    References
    ----------
    Zhang et al., Opt. Lett. 42, 3824 (2017).
    """
    u = _checks.finite_array("field", field, ndim=2, min_size=3)
    return _tamura(u)


def _tamura(u: np.ndarray) -> float:
    gy = u[2:, 1:-1] - u[:-2, 1:-1]
    gx = u[1:-1, 2:] - u[1:-1, :-2]
    g = np.sqrt(np.abs(gy) ** 2 + np.abs(gx) ** 2)
    mean = float(g.mean())
    if mean <= 0.0:
        return 0.0
    return float(np.sqrt(g.std() / mean))


def autofocus(
    hologram: np.ndarray,
    *,
    wavelength: float,
    pixel_size: float,
    z_min: float,
    z_max: float,
    n_medium: float = 1.0,
    propagator: Propagator | None = None,
) -> float:
    """Sample-to-sensor distance ``z2`` (metres) of an in-line hologram by edge sparsity.

    Parameters
    ----------
    hologram : ndarray, shape (H, W)
        Intensity, normalised so that the background (no sample) is ~1.
    wavelength, pixel_size : float
        Vacuum wavelength and hologram pitch, metres.
    z_min, z_max : float
        Search range for ``z2`` in metres, ``0 < z_min < z_max``.
    n_medium : float, optional
        Refractive index between sample and sensor.
    propagator : Propagator, optional
        Reuse one (same shape and optics) across holograms; its ``n_propagations`` counts the
        propagations this search made.

    Returns
    -------
    float
        The ``z2`` in ``[z_min, z_max]`` where the hologram is in focus by edge sparsity: the
        maximum of the Tamura coefficient of the gradient (:func:`edge_sparsity_focus`; ranges
        wider than 390 µm are first located by the amplitude's, see the module docstring).

    Notes
    -----
    The amplitude ``sqrt(I)`` minus its mean (the scattered part; the uniform background has no
    gradient) is zero-padded and Fourier transformed once, and weighted once by the propagator's
    band limit at ``z_max`` (the narrowest over the range, so every candidate sees the same band).
    That band is a small part of the grid's at super-resolved pitch (about a quarter per axis at
    0.37 µm, 528² and 600 µm), so each candidate distance costs a pure phase factor and one
    inverse FFT of the band alone, cropped with a 2× guard: the field comes out on a coarser grid
    that still resolves it. A coarse scan every 10 µm finds the peak's neighbourhood and a bounded
    Brent search refines it to ~0.05 µm: at most 58 propagations for a range of up to ~400 µm.

    The achievable precision is set by the angular content the window holds: at ``z2`` the
    criterion sees spatial frequencies up to a numerical aperture of about
    ``margin / z2`` (the propagator's margin, half the window by default). A 528² window at
    0.3733 µm (197 µm) gives ~0.16 at 600 µm and meets 1 µm median / 2 µm max on blob phantoms; a
    256² window at that pitch (96 µm, ~0.08) does not (errors of 10–40 µm): autofocus whole
    super-resolved FOVs, not patches.
    """
    intensity = _checks.finite_array("hologram", hologram, ndim=2, complex_ok=False, min_size=8)
    if np.any(intensity < 0):
        raise ValueError("hologram must be an intensity (>= 0 everywhere)")
    z_min = _checks.positive_length("z_min", z_min)
    z_max = _checks.positive_length("z_max", z_max)
    if not z_max > z_min:
        raise ValueError(f"z range must satisfy z_min < z_max, got z_min={z_min}, z_max={z_max}")
    if propagator is None:
        propagator = Propagator(
            intensity.shape,
            wavelength=wavelength,
            pixel_size=pixel_size,
            n_medium=n_medium,
            cache_size=0,
        )
    elif propagator.shape != intensity.shape:
        raise ValueError(
            f"propagator.shape {propagator.shape} must equal hologram.shape {intensity.shape}"
        )
    else:
        _checks.positive_length("wavelength", wavelength)
        _checks.positive_length("pixel_size", pixel_size)

    amplitude = np.sqrt(intensity.astype(np.float32))
    # The scattered part: the uniform background has no gradient.
    background = float(amplitude.mean())
    spectrum = propagator.spectrum(amplitude - background)
    return edge_sparsity_focus(
        spectrum, propagator, z_min=z_min, z_max=z_max, background=background
    )


def edge_sparsity_focus(
    spectrum: np.ndarray,
    propagator: Propagator,
    *,
    z_min: float,
    z_max: float,
    background: float = 1.0,
) -> float:
    """Back-propagation distance in ``[z_min, z_max]`` at which a field, given by its zero-padded
    spectrum, is in focus by edge sparsity.

    The search behind :func:`autofocus`, shared with the refocusing of a phase-retrieved field
    (:func:`holo_pipeline.optics.multi_height_phase_retrieval`).

    Parameters
    ----------
    spectrum : ndarray, complex, shape ``propagator.padded_shape``
        FFT of the scattered field (background removed), zero-padded as
        :meth:`Propagator.spectrum` does.
    propagator : Propagator
    z_min, z_max : float
        Search range (m), ``0 < z_min < z_max``.
    background : float, optional
        The uniform field the spectrum's scattered part is relative to (1 for a field ``1 + s``;
        the mean amplitude for a hologram). Only the amplitude criterion of a wide search uses it.

    Notes
    -----
    A range up to 390 µm wide is searched directly for the maximum of
    the Tamura coefficient of the complex field's gradient. A wider range is first scanned with
    the Tamura coefficient of the *amplitude's* gradient for its best interior local maximum
    (see the module docstring for why), and the complex criterion then searched within
    ±100 µm of it, with that window's own, wider band. Where the complex criterion has no peak in
    the window (it ends on the window's edge: smooth phase objects), the amplitude criterion's
    refined maximum is returned.
    """
    if z_max - z_min <= _DIRECT_RANGE:
        return _search(
            _Scorer(spectrum, propagator, z_max, background), z_min, z_max, criterion="complex"
        )
    coarse = _Scorer(spectrum, propagator, z_max, background)
    grid = _coarse_grid(z_min, z_max, _MAX_COARSE_WIDE)
    scores = np.array([coarse(z, criterion="amplitude") for z in grid])
    z_located = float(grid[_best_interior_peak(scores)])
    lo = max(z_min, z_located - _LOCATE_HALF_WIDTH)
    hi = min(z_max, z_located + _LOCATE_HALF_WIDTH)
    # The window's band is that of its own far end: wider than the whole range's at z_max, which
    # loses the fine edges small objects (red blood cells) focus by.
    fine = _Scorer(spectrum, propagator, hi, background)
    z_best = _search(fine, lo, hi, criterion="complex")
    guard = (hi - lo) / (len(_coarse_grid(lo, hi, _MAX_COARSE)) - 1)
    on_edge = z_best - lo < guard or hi - z_best < guard
    if not on_edge:
        return z_best
    step = float(grid[1] - grid[0])
    return _refine(
        fine,
        max(z_min, z_located - step),
        min(z_max, z_located + step),
        z_located,
        criterion="amplitude",
    )


def _coarse_grid(z_min: float, z_max: float, max_points: int) -> np.ndarray:
    n = int(np.clip(np.ceil((z_max - z_min) / _COARSE_STEP) + 1, 5, max_points))
    return np.linspace(z_min, z_max, n)


def _search(score: _Scorer, z_min: float, z_max: float, *, criterion: str) -> float:
    """Maximum of one criterion over ``[z_min, z_max]``: a coarse scan, then bounded Brent."""
    grid = _coarse_grid(z_min, z_max, _MAX_COARSE)
    scores = np.array([score(z, criterion=criterion) for z in grid])
    best = int(np.argmax(scores))
    lo = grid[max(best - 1, 0)]
    hi = grid[min(best + 1, len(grid) - 1)]
    return _refine(score, lo, hi, float(grid[best]), criterion=criterion, start_score=scores[best])


def _refine(
    score: _Scorer,
    lo: float,
    hi: float,
    z_start: float,
    *,
    criterion: str,
    start_score: float | None = None,
) -> float:
    """Bounded Brent refinement of a maximum bracketed by ``[lo, hi]``; never worse than
    ``z_start``."""
    if start_score is None:
        start_score = score(z_start, criterion=criterion)
    result = minimize_scalar(
        lambda z: -score(z, criterion=criterion),
        bounds=(lo, hi),
        method="bounded",
        options={"xatol": _TOLERANCE, "maxiter": _MAX_REFINE},
    )
    z_best, best = float(result.x), -float(result.fun)
    return z_best if best >= start_score else z_start


def _best_interior_peak(scores: np.ndarray) -> int:
    """Index of the highest interior local maximum of a scan (the global one if it has none).

    A criterion that only rises towards one end of the range (the in-line hologram of a smooth
    phase object is sharpest at the sensor) has its maximum on the range's edge, not at a focus.
    """
    inner = np.flatnonzero((scores[1:-1] >= scores[:-2]) & (scores[1:-1] >= scores[2:])) + 1
    if inner.size == 0:
        return int(np.argmax(scores))
    return int(inner[np.argmax(scores[inner])])


class _Scorer:
    """Tamura coefficients of a field's gradient after back-propagation by ``z``, on one band.

    One band limit, the narrowest over the distances scored (that at ``z_far``), is applied once
    to the spectrum; each candidate then gets a pure phase factor. Multiplying by each
    candidate's own band-limited transfer function instead would make the passband's roll-off
    change with z and bias the sharpness (towards short distances, where more of the band
    survives).
    """

    def __init__(
        self, spectrum: np.ndarray, propagator: Propagator, z_far: float, background: float
    ) -> None:
        self.propagator = propagator
        weight = propagator.band_limit(z_far)
        # Nothing survives outside that band, so the field is oversampled on the hologram grid
        # (by 4× or more per axis at 0.37 µm and 500 µm). The inverse FFTs run on the band alone,
        # cropped with a guard of _OVERSAMPLE, so that central differences still resolve the
        # band's highest frequencies; every candidate then costs a transform several times smaller.
        rows, cols = (_band_indices(weight, axis) for axis in (1, 0))
        self.spectrum = spectrum[np.ix_(rows, cols)] * weight[np.ix_(rows, cols)]
        self.kz_offset = _kz_minus_carrier(propagator, rows, cols)
        scale = [len(idx) / p for idx, p in zip((rows, cols), propagator.padded_shape, strict=True)]
        # Score the central part only: near the border the fringes of objects are cut off by the
        # window and their reconstruction is unreliable.
        (self.y0, self.y1), (self.x0, self.x1) = (
            (round(max(s // 8, 1) * f), round((s - max(s // 8, 1)) * f))
            for s, f in zip(propagator.shape, scale, strict=True)
        )
        self.background = background * np.prod(propagator.padded_shape) / self.spectrum.size
        self.trial = np.empty_like(self.spectrum)
        self.phase = np.empty(self.spectrum.shape, dtype=np.float32)

    def __call__(self, z: float, *, criterion: str = "complex") -> float:
        # exp(−i·2π·z·(kz − k)): back-propagation by z without the carrier; float32 is enough,
        # the phase stays within a few hundred radians on the cropped band.
        np.multiply(self.kz_offset, np.float32(-2.0 * np.pi * z), out=self.phase)
        np.cos(self.phase, out=self.trial.real)
        np.sin(self.phase, out=self.trial.imag)
        np.multiply(self.trial, self.spectrum, out=self.trial)
        self.propagator.n_propagations += 1
        field = _fft.ifft2(self.trial, overwrite_x=True)[self.y0 : self.y1, self.x0 : self.x1]
        if criterion == "complex":
            return _tamura(field)
        # "amplitude": |b + s|, the scattered field plus the background; the band's inverse FFT
        # scales the field by the padded grid's size over the band's.
        return _tamura(np.abs(field + np.complex64(self.background)))


def _band_indices(weight: np.ndarray, axis: int) -> np.ndarray:
    """FFT-order indices along one axis of ``weight`` (the other is ``axis``) that hold the band.

    The band's extent is doubled (``_OVERSAMPLE``) and rounded up to a fast FFT length, never past
    the full axis.
    """
    n = weight.shape[1 - axis]
    used = np.flatnonzero(np.any(weight > 0, axis=axis))
    freq = np.abs(np.fft.fftfreq(n) * n)[used]  # |index| in FFT order
    half = int(freq.max()) if used.size else 1
    m = _fft.next_fast_len(int(np.ceil(_OVERSAMPLE * (2 * half + 1))))
    if m >= n:
        return np.arange(n)
    return np.r_[0 : (m + 1) // 2, n - m // 2 : n]


def _kz_minus_carrier(propagator: Propagator, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``kz − n/λ`` (cycles per metre, float32) at the given FFT-order frequency indices."""
    k = propagator.n_medium / propagator.wavelength
    fy = _fft.fftfreq(propagator.padded_shape[0], propagator.pixel_size)[rows][:, None]
    fx = _fft.fftfreq(propagator.padded_shape[1], propagator.pixel_size)[cols][None, :]
    kz2 = np.maximum(k * k - fy * fy - fx * fx, 0.0)
    # k − kz written without cancellation: (fx² + fy²) / (k + kz).
    return (-(fx * fx + fy * fy) / (k + np.sqrt(kz2))).astype(np.float32)
