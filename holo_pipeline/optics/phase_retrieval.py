"""Multi-height phase retrieval (MH-PR) of in-line holograms recorded at several distances.

Starting from the first hologram's amplitude with zero phase, the field is propagated from plane to
plane; at every plane its amplitude is replaced by the average of the current and the measured
amplitude while its phase is kept. One iteration sweeps forward through the planes and back. The
converged field is finally back-propagated to the sample plane.

References
----------
A. Greenbaum and A. Ozcan, "Maskless imaging of dense samples using pixel super-resolution based
multi-height lensfree on-chip microscopy", Opt. Express 20, 3129 (2012).
L. Huang et al., "Few-shot transfer learning for holographic image reconstruction using a
recurrent neural network", APL Photonics 7, 070801 (2022).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from holo_pipeline.optics import _checks, _fft
from holo_pipeline.optics.autofocus import edge_sparsity_focus
from holo_pipeline.optics.propagation import Propagator

__all__ = ["PhaseRetrievalResult", "multi_height_phase_retrieval"]

#: Added to |u| before dividing by it: keeps m/|u| finite, far below any amplitude that matters.
_TINY = np.float32(1e-20)
#: With ``max_amplitude``, the sample-plane constraint starts after this many sweeps (the first
#: ones still carry most of the twin image), and with ``refocus_range`` the plane it is imposed at
#: is refocused then and every this many sweeps after.
_CONSTRAIN_EVERY = 5


@dataclass(frozen=True)
class PhaseRetrievalResult:
    """Outcome of :func:`multi_height_phase_retrieval`.

    Attributes
    ----------
    field : ndarray, complex64, shape (H, W)
        Retrieved complex transmission at the sample plane (background ~1, real positive).
    residuals : list of float
        Per iteration, the relative amplitude mismatch ``‖|u_k| − √I_k‖ / ‖√I_k‖`` averaged over
        the planes visited, measured before each amplitude update.
    z2 : ndarray, float64, shape (n,) or None
        The heights (m, in the order given) the field was back-propagated with: the input ``z2``,
        shifted by the common offset found when ``refocus_range > 0``.
    """

    field: np.ndarray
    residuals: list[float]
    z2: np.ndarray | None = None


def _gaussian_lowpass(propagator: Propagator, cutoff: float) -> np.ndarray:
    """``exp(-f² / 2 cutoff²)`` on the propagator's padded frequency grid (float32)."""
    ph, pw = propagator.padded_shape
    fy = np.fft.fftfreq(ph, propagator.pixel_size)[:, None]
    fx = np.fft.fftfreq(pw, propagator.pixel_size)[None, :]
    return np.exp(-0.5 * (fy**2 + fx**2) / cutoff**2).astype(np.float32)


def multi_height_phase_retrieval(
    holograms: np.ndarray,
    z2: np.ndarray,
    *,
    wavelength: float,
    pixel_size: float,
    iterations: int = 20,
    n_medium: float = 1.0,
    propagator: Propagator | None = None,
    refocus_range: float = 0.0,
    momentum: float = 0.0,
    momentum_cutoff: float = 0.0,
    max_amplitude: float = 0.0,
) -> PhaseRetrievalResult:
    """Retrieve the complex sample field from holograms at several sample-to-sensor distances.

    Parameters
    ----------
    holograms : ndarray, shape (n, H, W)
        Intensities, ``n >= 2``, registered to one another and normalised so that the background
        (no sample) is ~1.
    z2 : array_like, shape (n,)
        Sample-to-sensor distance of each hologram in metres (distinct, > 0; any order).
    wavelength, pixel_size : float
        Vacuum wavelength and hologram pitch, metres.
    iterations : int, optional
        Forward-and-back sweeps (the method converges in 10–30).
    n_medium : float, optional
        Refractive index between sample and sensor.
    propagator : Propagator, optional
        Reuse one (shape ``(H, W)``) across fields of view so that transfer functions are cached.

    refocus_range : float, optional
        If positive (metres, e.g. 10e-6), refine the heights' common offset within
        ``±refocus_range`` by edge sparsity on the retrieved field (see Notes) and back-propagate
        with the refined heights, returned in ``PhaseRetrievalResult.z2``.
    momentum : float, optional
        Heavy-ball momentum in ``[0, 1)`` (0: the plain iteration). After each sweep the field at
        the lowest plane moves on by ``momentum`` times its change over that sweep (see Notes).
    momentum_cutoff : float, optional
        Restrict the momentum step to low spatial frequencies: it is filtered by a Gaussian
        ``exp(-f²/2σ²)`` with ``σ = momentum_cutoff`` (cycles/m, e.g. 0.1e6). 0 keeps every
        frequency.
    max_amplitude : float, optional
        If positive (e.g. 1.0), a passive-sample constraint: from sweep 5 on, after every sweep the
        field is taken to the sample plane, its amplitude clipped to ``max_amplitude`` times the
        background's, and taken back (see Notes). 0 disables it.

    Returns
    -------
    PhaseRetrievalResult

    Notes
    -----
    The field is ``1 + s``: a unit plane wave, which extends beyond the window, plus the scattered
    part ``s``, which is zero-padded. Zero-padding the whole field instead would make the window's
    edge an aperture whose diffraction fringes corrupt the retrieval. Propagation uses transfer
    functions without the plane-wave carrier phase, which are exactly 1 at zero frequency; so the
    padded grid can hold ``1 + s`` itself (1 in the margin) and the plane wave propagates unchanged,
    with no background added and removed at every plane. The result's global phase is that of the
    background. Between planes the field stays on the padded grid (what propagates out of the
    window is kept, not cropped), is updated in place in preallocated float32/complex64 buffers,
    and the plane-to-plane transfer functions are computed once.

    The iteration uses only the differences between heights, so the field retrieved at the lowest
    hologram plane does not depend on an error common to all heights (the per-FOV sample height;
    stage steps are accurate to ~1.5 µm); only the final back-propagation does. Autofocusing each
    zero-phase hologram (:func:`~holo_pipeline.optics.autofocus`) is biased on phase-rich samples:
    the twin image and the non-linear (|s|²) term of the in-line hologram, strong when the phase
    reaches radians, blur the edge-sparsity peak, towards shorter distances here. With
    ``refocus_range`` the same Tamura-of-gradient criterion is maximised on the retrieved complex
    field, which has neither, over ``z2_min ± refocus_range``; every height is shifted by the
    offset found. The search costs ~25 propagations of the cropped band, a small part of one
    iteration (Zhang et al., Opt. Lett. 42, 3824 (2017) for the criterion on complex fields).

    The plain iteration is slow at low spatial frequencies: a weak phase φ at frequency f shows in
    a hologram at distance z only through ``sin(πλz f²)``, about 0.08 at 0.01 cycles/µm and
    z = 500 µm, and tissue whose phase varies over tens of micrometres (stroma, acini) needs
    hundreds of sweeps to converge there. ``momentum`` extrapolates the field along its last change
    (the momentum of mPIE: Maiden, Johnson and Li, Optica 4, 736 (2017)); ``momentum_cutoff``
    keeps that extrapolation to the slow low-frequency band, since at higher frequencies, which
    converge in a few sweeps, it only amplifies noise and registration errors.
    """
    stack = _checks.finite_array("holograms", holograms, ndim=3, complex_ok=False, min_size=8)
    n_planes = stack.shape[0]
    if n_planes < 2:
        raise ValueError(f"holograms must hold at least 2 heights (n, H, W), got {stack.shape}")
    if np.any(stack < 0):
        raise ValueError("holograms must be intensities (>= 0 everywhere)")
    heights = np.asarray(z2, dtype=np.float64)
    if heights.shape != (n_planes,):
        raise ValueError(
            f"z2 must have shape ({n_planes},) (one per hologram), got {heights.shape}"
        )
    for i, z in enumerate(heights):
        _checks.positive_length(f"z2[{i}]", z)
    if len(np.unique(heights)) != n_planes:
        raise ValueError(f"z2 must hold distinct distances, got {heights.tolist()}")
    if isinstance(iterations, bool) or int(iterations) != iterations or iterations < 1:
        raise ValueError(f"iterations must be a positive integer, got {iterations!r}")
    momentum, momentum_cutoff = float(momentum), float(momentum_cutoff)
    if not (np.isfinite(momentum) and 0.0 <= momentum < 1.0):
        raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
    if not (np.isfinite(momentum_cutoff) and momentum_cutoff >= 0.0):
        raise ValueError(f"momentum_cutoff must be >= 0 (cycles/m), got {momentum_cutoff!r}")
    max_amplitude = float(max_amplitude)
    if not (np.isfinite(max_amplitude) and max_amplitude >= 0.0):
        raise ValueError(f"max_amplitude must be >= 0 (0 = off), got {max_amplitude!r}")
    refocus_range = float(refocus_range)
    if not (np.isfinite(refocus_range) and 0.0 <= refocus_range < heights.min()):
        raise ValueError(
            f"refocus_range must be >= 0 and below the smallest z2 (m), got {refocus_range!r}"
        )
    shape = stack.shape[1:]
    if propagator is None:
        propagator = Propagator(
            shape, wavelength=wavelength, pixel_size=pixel_size, n_medium=n_medium
        )
    elif propagator.shape != shape:
        raise ValueError(f"propagator.shape {propagator.shape} must equal hologram shape {shape}")
    else:
        _checks.positive_length("wavelength", wavelength)
        _checks.positive_length("pixel_size", pixel_size)

    order = np.argsort(heights)
    heights = heights[order]
    measured = np.sqrt(stack[order].astype(np.float32))
    # ‖√I_k‖² for the residual, and √I_k / 2 for the amplitude update (see ``impose``).
    norms = [float(np.linalg.norm(m)) or 1.0 for m in measured]
    half_measured = 0.5 * measured
    h, w = shape

    # Plane-to-plane transfer functions, computed once (carrier removed: background stays 1).
    steps = np.diff(heights)
    forward = [propagator.transfer_function(dz, carrier=False) for dz in steps]
    backward = [propagator.transfer_function(-dz, carrier=False) for dz in steps]

    # The whole field u = 1 + s lives on the padded grid, background included (1 in the margin).
    # A carrier-free transfer function is exactly 1 at zero frequency, so propagating the padded
    # u gives the propagated s plus the propagated plane wave, 1 — the same as propagating s alone
    # — without adding and subtracting the background at every plane.
    field = np.ones(propagator.padded_shape, dtype=np.complex64)
    field[:h, :w] = measured[0]
    amplitude = np.empty(shape, dtype=np.float32)
    work = np.empty(shape, dtype=np.float32)

    def hop(u: np.ndarray, transfer: np.ndarray) -> np.ndarray:
        # In place: scipy.fft transforms a C-contiguous complex64 array into itself.
        spectrum = _fft.fft2(u, overwrite_x=True)
        np.multiply(spectrum, transfer, out=spectrum)
        propagator.n_propagations += 1
        return _fft.ifft2(spectrum, overwrite_x=True)

    def impose(window: np.ndarray, plane: int) -> float:
        # Only the measured window is constrained; outside it the field propagates freely.
        np.abs(window, out=amplitude)
        np.add(amplitude, _TINY, out=amplitude)
        np.subtract(amplitude, measured[plane], out=work)
        mismatch = math.sqrt(float(np.vdot(work, work))) / norms[plane]
        # New amplitude (|u| + m)/2 with the phase of u: scale u by 1/2 + (m/2)/|u|.
        np.divide(half_measured[plane], amplitude, out=work)
        np.add(work, 0.5, out=work)
        np.multiply(window, work, out=window)
        return mismatch

    residuals: list[float] = []
    # Heavy-ball momentum on the field at the lowest plane, restricted to low spatial frequencies:
    # ``previous`` holds the field after the last sweep, ``lowpass`` the band the step is kept in.
    previous = field.copy() if momentum > 0.0 else None
    lowpass = (
        _gaussian_lowpass(propagator, momentum_cutoff)
        if previous is not None and momentum_cutoff > 0.0
        else None
    )

    def refocus() -> float:
        # The field is at the lowest plane; its scattered part is field − 1 (the margin holds 1).
        spectrum = _fft.fft2(field - np.complex64(1.0))
        z_best = edge_sparsity_focus(
            spectrum,
            propagator,
            z_min=heights[0] - refocus_range,
            z_max=heights[0] + refocus_range,
        )
        return z_best - heights[0]

    # Sample-plane constraint: the plane's offset from heights[0] and the hops there and back.
    offset = 0.0
    sample_hops: tuple[np.ndarray, np.ndarray] | None = None
    clipped = np.empty(propagator.padded_shape, dtype=np.float32)
    for sweep in range(1, int(iterations) + 1):
        total = 0.0
        for k in range(1, n_planes):
            field = hop(field, forward[k - 1])
            total += impose(field[:h, :w], k)
        for k in range(n_planes - 2, -1, -1):
            field = hop(field, backward[k])
            total += impose(field[:h, :w], k)
        residuals.append(total / (2 * (n_planes - 1)))
        if previous is not None:
            step = np.subtract(field, previous)
            previous[...] = field
            if lowpass is not None:
                step = _fft.fft2(step, overwrite_x=True)
                np.multiply(step, lowpass, out=step)
                step = _fft.ifft2(step, overwrite_x=True)
            step *= np.complex64(momentum)
            field += step
        if max_amplitude == 0.0 or sweep < _CONSTRAIN_EVERY:
            continue
        if sample_hops is None or (refocus_range > 0.0 and sweep % _CONSTRAIN_EVERY == 0):
            offset = refocus() if refocus_range > 0.0 else 0.0
            z_sample = heights[0] + offset
            sample_hops = (
                propagator.transfer_function(-z_sample, carrier=False),
                propagator.transfer_function(z_sample, carrier=False),
            )
        # Passive sample: scale every amplitude above max_amplitude down to it, phase kept.
        field = hop(field, sample_hops[0])
        np.abs(field, out=clipped)
        np.maximum(clipped, np.float32(max_amplitude), out=clipped)
        np.divide(np.float32(max_amplitude), clipped, out=clipped)
        np.multiply(field, clipped, out=field)
        field = hop(field, sample_hops[1])

    if refocus_range > 0.0:
        offset = refocus()
    to_sample = propagator.transfer_function(-(heights[0] + offset), carrier=False)
    field = propagator.crop(hop(field, to_sample))
    return PhaseRetrievalResult(
        field=np.ascontiguousarray(field, dtype=np.complex64),
        residuals=residuals,
        z2=np.asarray(z2, dtype=np.float64) + offset,
    )
