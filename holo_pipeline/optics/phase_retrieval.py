"""Multi-height phase retrieval (MH-PR) of in-line holograms recorded at several distances.

Starting from the first hologram's amplitude with zero phase, the field is propagated from plane to
plane; at every plane its amplitude is replaced by the average of the current and the measured
amplitude while its phase is kept. One iteration sweeps forward through the planes and back. The
converged field is finally back-propagated to the sample plane.

:func:`multi_height_phase_retrieval` runs the named steps of this module in a loop, each a plain
function of explicit arrays: :func:`sweep` (forward-and-back amplitude replacement),
:func:`momentum_step` (low-frequency heavy-ball momentum), :func:`passive_sample_constraint`
(amplitude clip at the sample plane, :func:`clip_amplitude`) and :func:`refocus_offset` (the
heights' common offset). :class:`MHPRSettings` holds the pipeline's settings; its defaults are
the function's.

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

__all__ = [
    "MHPRSettings",
    "PhaseRetrievalResult",
    "iteration_propagator",
    "multi_height_phase_retrieval",
]

#: Added to |u| before dividing by it: keeps m/|u| finite, far below any amplitude that matters.
_TINY = np.float32(1e-20)
#: With ``max_amplitude``, the sample-plane constraint starts after this many sweeps (the first
#: ones still carry most of the twin image), and with ``refocus_range`` the plane it is imposed at
#: is refocused then and every this many sweeps after.
_CONSTRAIN_EVERY = 5


@dataclass(frozen=True)
class MHPRSettings:
    """How MH-PR runs: the pipeline's settings, and the defaults of
    :func:`multi_height_phase_retrieval`.

    The defaults are the shipped profiles' (``data_catalog.yaml``, ``profiles.*.processing``,
    ``mhpr_*``), so that calling the function with its defaults gives the field the pipeline gets.

    Attributes
    ----------
    iterations : int
        Forward-and-back sweeps.
    momentum : float
        Heavy-ball momentum in ``[0, 1)``; the plain iteration converges slowly on large-scale
        phase (0: the plain iteration).
    momentum_cutoff_per_um : float
        σ (cycles/µm) of the Gaussian band the momentum step is kept to (0: every frequency).
    refocus_range_um : float
        Half-range (µm) within which the heights' common offset is refocused on the retrieved
        field; autofocus on zero-phase holograms reads short on phase-rich tissue (0: off).
    max_amplitude : float
        Passive-sample constraint: sample-plane amplitudes above this (relative to clear glass)
        are clipped after every sweep from sweep 5; it removes what is left of the twin image and
        the bias it gives the refocus (0: off).
    """

    iterations: int = 40
    momentum: float = 0.95
    momentum_cutoff_per_um: float = 0.1
    refocus_range_um: float = 10.0
    max_amplitude: float = 1.0

    @property
    def momentum_cutoff_per_m(self) -> float:
        """``momentum_cutoff_per_um`` in cycles per metre (the function's ``momentum_cutoff``)."""
        return self.momentum_cutoff_per_um * 1e6

    @property
    def refocus_range_m(self) -> float:
        """``refocus_range_um`` in metres (the function's ``refocus_range``)."""
        return self.refocus_range_um * 1e-6


_DEFAULTS = MHPRSettings()


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


# ---------------------------------------------------------------------- step 0: the inputs
#: Margin (fraction of the window) and band-limit roll-off of the grid MH-PR iterates on.
_ITERATION_MARGIN_FRACTION = 0.5
_ITERATION_TAPER = 0.3


def iteration_propagator(
    shape: tuple[int, int], *, wavelength: float, pixel_size: float, n_medium: float = 1.0
) -> Propagator:
    """The propagator MH-PR iterates with by default: a half-size margin, 30 % roll-off.

    MH-PR keeps the whole field on the padded grid between planes, so light that leaves the
    window is carried in the margin, not lost, and the hops between heights (tens of µm) keep
    nearly the whole band on any margin; only the long hop to the sample plane is narrowed by
    it. The exact default of :class:`Propagator` (a 7/8 margin) would make every sweep ~1.6×
    dearer (1000² instead of 800² transforms at the demo's 528²); this grid is the one the
    pipeline's MH-PR, registration, autofocus and height refinement were validated on
    (``benchmarks/instrument.py --consistency``).
    """
    margin = tuple(math.ceil(_ITERATION_MARGIN_FRACTION * s) for s in shape)
    return Propagator(
        shape,
        wavelength=wavelength,
        pixel_size=pixel_size,
        n_medium=n_medium,
        margin=margin,
        taper=_ITERATION_TAPER,
    )


@dataclass(frozen=True)
class _Inputs:
    """Validated arguments of :func:`multi_height_phase_retrieval` (lengths in metres)."""

    stack: np.ndarray
    heights: np.ndarray
    iterations: int
    momentum: float
    momentum_cutoff: float
    refocus_range: float
    max_amplitude: float
    propagator: Propagator


def validate_inputs(
    holograms: np.ndarray,
    z2: np.ndarray,
    *,
    wavelength: float,
    pixel_size: float,
    iterations: int,
    n_medium: float,
    propagator: Propagator | None,
    refocus_range: float,
    momentum: float,
    momentum_cutoff: float,
    max_amplitude: float,
) -> _Inputs:
    """Check the arguments of :func:`multi_height_phase_retrieval` (``ValueError`` naming the one
    at fault) and return them typed, with a propagator of the holograms' shape."""
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
        propagator = iteration_propagator(
            shape, wavelength=wavelength, pixel_size=pixel_size, n_medium=n_medium
        )
    elif propagator.shape != shape:
        raise ValueError(f"propagator.shape {propagator.shape} must equal hologram shape {shape}")
    else:
        _checks.positive_length("wavelength", wavelength)
        _checks.positive_length("pixel_size", pixel_size)
    return _Inputs(
        stack=stack,
        heights=heights,
        iterations=int(iterations),
        momentum=momentum,
        momentum_cutoff=momentum_cutoff,
        refocus_range=refocus_range,
        max_amplitude=max_amplitude,
        propagator=propagator,
    )


# ---------------------------------------------------------------------- step 1: a sweep
@dataclass(frozen=True)
class HeightPlanes:
    """The measured amplitudes in ascending height order and the hops between their planes.

    Attributes
    ----------
    heights : ndarray, float64, shape (n,)
        Ascending sample-to-sensor distances, metres.
    measured : ndarray, float32, shape (n, H, W)
        ``√I`` at each height; ``half_measured`` is ``measured / 2``.
    norms : tuple of float
        ``‖√I_k‖`` (1 where that is 0), for the relative residual.
    forward, backward : tuple of ndarray
        Carrier-free transfer functions (complex64, padded shape) from plane ``k`` to ``k + 1``
        and back, computed once.
    """

    heights: np.ndarray
    measured: np.ndarray
    half_measured: np.ndarray
    norms: tuple[float, ...]
    forward: tuple[np.ndarray, ...]
    backward: tuple[np.ndarray, ...]

    @classmethod
    def from_holograms(
        cls, holograms: np.ndarray, z2: np.ndarray, propagator: Propagator
    ) -> HeightPlanes:
        """Sort ``holograms`` ``(n, H, W)`` (intensities >= 0) by ``z2`` (metres) and precompute."""
        order = np.argsort(z2)
        heights = np.asarray(z2, dtype=np.float64)[order]
        measured = np.sqrt(np.asarray(holograms)[order].astype(np.float32))
        steps = np.diff(heights)
        return cls(
            heights=heights,
            measured=measured,
            half_measured=0.5 * measured,
            norms=tuple(float(np.linalg.norm(m)) or 1.0 for m in measured),
            forward=tuple(propagator.transfer_function(dz, carrier=False) for dz in steps),
            backward=tuple(propagator.transfer_function(-dz, carrier=False) for dz in steps),
        )

    def initial_field(self, propagator: Propagator) -> np.ndarray:
        """The start of the iteration at the lowest plane: its measured amplitude, zero phase.

        The whole field ``u = 1 + s`` lives on the padded grid, background included (1 in the
        margin). A carrier-free transfer function is exactly 1 at zero frequency, so propagating
        the padded ``u`` gives the propagated ``s`` plus the propagated plane wave, 1 — the same as
        propagating ``s`` alone — without adding and subtracting the background at every plane.
        """
        h, w = propagator.shape
        field = np.ones(propagator.padded_shape, dtype=np.complex64)
        field[:h, :w] = self.measured[0]
        return field


def _hop(field: np.ndarray, transfer: np.ndarray, propagator: Propagator) -> np.ndarray:
    """Propagate a padded complex64 ``field`` by a precomputed transfer function, in place."""
    # scipy.fft transforms a C-contiguous complex64 array into itself.
    spectrum = _fft.fft2(field, overwrite_x=True)
    np.multiply(spectrum, transfer, out=spectrum)
    propagator.n_propagations += 1
    return _fft.ifft2(spectrum, overwrite_x=True)


def _replace_amplitude(
    window: np.ndarray,
    measured: np.ndarray,
    half_measured: np.ndarray,
    norm: float,
    scratch: tuple[np.ndarray, np.ndarray],
) -> float:
    """Set ``window``'s amplitude to the mean of its own and ``measured``, phase kept (in place);
    return the relative mismatch before the update."""
    amplitude, work = scratch
    np.abs(window, out=amplitude)
    np.add(amplitude, _TINY, out=amplitude)
    np.subtract(amplitude, measured, out=work)
    mismatch = math.sqrt(float(np.vdot(work, work))) / norm
    # New amplitude (|u| + m)/2 with the phase of u: scale u by 1/2 + (m/2)/|u|.
    np.divide(half_measured, amplitude, out=work)
    np.add(work, 0.5, out=work)
    np.multiply(window, work, out=window)
    return mismatch


def sweep(
    field: np.ndarray,
    planes: HeightPlanes,
    propagator: Propagator,
    scratch: tuple[np.ndarray, np.ndarray] | None = None,
    *,
    spectral: bool = False,
) -> tuple[np.ndarray, float]:
    """One MH-PR iteration: from the lowest plane up to the highest and back, replacing the
    amplitude inside the measured window at every plane visited.

    Parameters
    ----------
    field : ndarray, complex64, ``propagator.padded_shape``
        The whole field ``1 + s`` at the lowest plane, or its FFT if ``spectral``; overwritten.
    planes : HeightPlanes
    propagator : Propagator
        Of the holograms' shape; counts the propagations.
    scratch : (ndarray, ndarray), optional
        Two float32 ``propagator.shape`` buffers to reuse across sweeps.
    spectral : bool, optional
        ``field`` is already the field's spectrum: the first hop starts from it, one forward FFT
        fewer (:func:`multi_height_phase_retrieval` keeps the field in the frequency domain
        between sweeps).

    Returns
    -------
    field : ndarray
        The updated field at the lowest plane (padded, complex64).
    residual : float
        The relative amplitude mismatch averaged over the ``2 (n − 1)`` planes visited.
    """
    h, w = propagator.shape
    if scratch is None:
        scratch = (np.empty((h, w), np.float32), np.empty((h, w), np.float32))
    n_planes = len(planes.heights)
    visits = [(k, planes.forward[k - 1]) for k in range(1, n_planes)]
    visits += [(k, planes.backward[k]) for k in range(n_planes - 2, -1, -1)]
    total = 0.0
    for i, (k, transfer) in enumerate(visits):
        # Only the measured window is constrained; outside it the field propagates freely.
        if spectral and i == 0:
            np.multiply(field, transfer, out=field)
            propagator.n_propagations += 1
            field = _fft.ifft2(field, overwrite_x=True)
        else:
            field = _hop(field, transfer, propagator)
        total += _replace_amplitude(
            field[:h, :w], planes.measured[k], planes.half_measured[k], planes.norms[k], scratch
        )
    return field, total / len(visits)


# ---------------------------------------------------------------------- step 2: momentum
def gaussian_lowpass(propagator: Propagator, cutoff: float) -> np.ndarray:
    """``exp(-f² / 2 cutoff²)`` on the propagator's padded frequency grid (float32; cycles/m)."""
    ph, pw = propagator.padded_shape
    fy = np.fft.fftfreq(ph, propagator.pixel_size)
    fx = np.fft.fftfreq(pw, propagator.pixel_size)
    # Separable: the outer product of the two axes' Gaussians.
    gy = np.exp(-0.5 * (fy / cutoff) ** 2).astype(np.float32)
    gx = np.exp(-0.5 * (fx / cutoff) ** 2).astype(np.float32)
    return np.multiply.outer(gy, gx)


def momentum_step(
    field: np.ndarray,
    previous: np.ndarray,
    momentum: float,
    lowpass: np.ndarray | None = None,
    *,
    spectral: bool = False,
) -> np.ndarray:
    """Heavy-ball step: move ``field`` on by ``momentum`` times its change since ``previous``.

    Parameters
    ----------
    field : ndarray, complex64, padded shape
        The field after the current sweep; updated in place and returned.
    previous : ndarray, complex64, padded shape
        The field after the previous sweep; overwritten with ``field`` before the step.
    momentum : float
        In ``[0, 1)``.
    lowpass : ndarray, float32, padded shape, optional
        Spectral weight the step is filtered by (:func:`gaussian_lowpass`); None keeps every
        frequency.
    spectral : bool, optional
        ``field`` and ``previous`` are spectra (FFTs of the fields): the step is linear, so it is
        the same step, and the filter is a plain product (no transforms).
    """
    step = np.subtract(field, previous)
    previous[...] = field
    if lowpass is not None and spectral:
        np.multiply(step, lowpass, out=step)
    elif lowpass is not None:
        step = _fft.fft2(step, overwrite_x=True)
        np.multiply(step, lowpass, out=step)
        step = _fft.ifft2(step, overwrite_x=True)
    step *= np.complex64(momentum)
    field += step
    return field


# ---------------------------------------------------------------------- step 3: passive sample
def clip_amplitude(
    field: np.ndarray, max_amplitude: float, scratch: np.ndarray | None = None
) -> np.ndarray:
    """Scale every amplitude of ``field`` above ``max_amplitude`` down to it, phase kept (in place).

    Amplitudes at or below ``max_amplitude`` are multiplied by exactly 1, so they are unchanged.
    ``scratch`` is a float32 buffer of ``field``'s shape to reuse.
    """
    clipped = np.empty(field.shape, np.float32) if scratch is None else scratch
    np.abs(field, out=clipped)
    np.maximum(clipped, np.float32(max_amplitude), out=clipped)
    np.divide(np.float32(max_amplitude), clipped, out=clipped)
    np.multiply(field, clipped, out=field)
    return field


def passive_sample_constraint(
    field: np.ndarray,
    to_sample: np.ndarray,
    from_sample: np.ndarray,
    max_amplitude: float,
    propagator: Propagator,
    scratch: np.ndarray | None = None,
    *,
    spectral: bool = False,
) -> np.ndarray:
    """Hold the sample passive: take the padded ``field`` to the sample plane by ``to_sample``,
    clip its amplitude to ``max_amplitude`` (:func:`clip_amplitude`) and bring it back by
    ``from_sample`` (carrier-free transfer functions). Returns the field, overwritten.

    With ``spectral``, ``field`` is the field's spectrum and so is the result: two transforms
    instead of four.
    """
    if spectral:
        np.multiply(field, to_sample, out=field)
        propagator.n_propagations += 1
        field = _fft.ifft2(field, overwrite_x=True)
    else:
        field = _hop(field, to_sample, propagator)
    clip_amplitude(field, max_amplitude, scratch)
    if not spectral:
        return _hop(field, from_sample, propagator)
    field = _fft.fft2(field, overwrite_x=True)
    np.multiply(field, from_sample, out=field)
    propagator.n_propagations += 1
    return field


# ---------------------------------------------------------------------- step 4: refocus
def refocus_offset(
    field: np.ndarray,
    propagator: Propagator,
    z_lowest: float,
    refocus_range: float,
    *,
    spectral: bool = False,
) -> float:
    """The heights' common offset (m): the back-propagation distance within
    ``z_lowest ± refocus_range`` at which the retrieved field is sharpest, minus ``z_lowest``.

    ``field`` is the padded field ``1 + s`` at the lowest plane (the margin holds 1), or its FFT
    if ``spectral`` (left unchanged); the search is
    :func:`~holo_pipeline.optics.autofocus.edge_sparsity_focus` on its scattered part.
    """
    if spectral:
        # Subtracting the uniform 1 removes ``field.size`` from the zero frequency alone.
        spectrum = field.copy()
        spectrum[0, 0] -= np.complex64(field.size)
    else:
        spectrum = _fft.fft2(field - np.complex64(1.0))
    z_best = edge_sparsity_focus(
        spectrum,
        propagator,
        z_min=z_lowest - refocus_range,
        z_max=z_lowest + refocus_range,
    )
    return z_best - z_lowest


# ---------------------------------------------------------------------- the method
def multi_height_phase_retrieval(
    holograms: np.ndarray,
    z2: np.ndarray,
    *,
    wavelength: float,
    pixel_size: float,
    iterations: int = _DEFAULTS.iterations,
    n_medium: float = 1.0,
    propagator: Propagator | None = None,
    refocus_range: float = _DEFAULTS.refocus_range_m,
    momentum: float = _DEFAULTS.momentum,
    momentum_cutoff: float = _DEFAULTS.momentum_cutoff_per_m,
    max_amplitude: float = _DEFAULTS.max_amplitude,
) -> PhaseRetrievalResult:
    """Retrieve the complex sample field from holograms at several sample-to-sensor distances.

    The defaults are the pipeline's (:class:`MHPRSettings`): 40 sweeps with low-frequency
    momentum, the passive-sample constraint and the common-offset refocus. Pass ``momentum=0``,
    ``refocus_range=0`` and ``max_amplitude=0`` for the plain iteration of Greenbaum and Ozcan.

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
        Forward-and-back sweeps (the plain method converges in 10–30; default 40).
    n_medium : float, optional
        Refractive index between sample and sensor.
    propagator : Propagator, optional
        Of shape ``(H, W)``; default :func:`iteration_propagator`. Transfer functions are also
        shared between propagators of one shape (see :mod:`~holo_pipeline.optics.propagation`).
    refocus_range : float, optional
        If positive (metres; default 10e-6), refine the heights' common offset within
        ``±refocus_range`` by edge sparsity on the retrieved field (see Notes) and back-propagate
        with the refined heights, returned in ``PhaseRetrievalResult.z2``. 0 disables it.
    momentum : float, optional
        Heavy-ball momentum in ``[0, 1)`` (default 0.95; 0: the plain iteration). After each
        sweep the field at the lowest plane moves on by ``momentum`` times its change over that
        sweep (see Notes).
    momentum_cutoff : float, optional
        Restrict the momentum step to low spatial frequencies: it is filtered by a Gaussian
        ``exp(-f²/2σ²)`` with ``σ = momentum_cutoff`` (cycles/m; default 0.1e6). 0 keeps every
        frequency.
    max_amplitude : float, optional
        If positive (default 1.0), a passive-sample constraint: from sweep 5 on, after every
        sweep the field is taken to the sample plane, its amplitude clipped to ``max_amplitude``
        times the background's, and taken back (see Notes). 0 disables it.

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

    FFTs run with ``scipy.fft``'s workers of the calling thread (1 unless set with
    ``scipy.fft.set_workers``; see :mod:`holo_pipeline.optics`).

    Examples
    --------
    A phase square of 0.5 rad, recorded at four heights and retrieved with the pipeline's
    settings (the defaults):

    >>> import numpy as np
    >>> from holo_pipeline.optics import (
    ...     MHPRSettings, Propagator, multi_height_phase_retrieval, propagate
    ... )
    >>> optics = {"wavelength": 530e-9, "pixel_size": 0.5e-6}
    >>> sample = np.ones((128, 128), np.complex64)
    >>> sample[56:72, 56:72] = np.exp(0.5j)
    >>> z2 = np.array([200e-6, 220e-6, 240e-6, 260e-6])
    >>> holograms = np.stack(
    ...     [np.abs(propagate(sample, z, background=1.0, **optics)) ** 2 for z in z2]
    ... )
    >>> # The exact grid of Propagator's default: on a window this small the cheaper default
    >>> # iteration grid's narrower band biases the refocus by ~1 µm (0.13 µm here).
    >>> exact = Propagator(sample.shape, **optics)
    >>> result = multi_height_phase_retrieval(holograms, z2, **optics, propagator=exact)
    >>> len(result.residuals) == MHPRSettings().iterations
    True
    >>> square = result.field[60:68, 60:68] / result.field[4:12, 4:12].mean()
    >>> bool(abs(np.median(np.angle(square)) - 0.5) < 0.1)
    True
    >>> bool(np.all(np.abs(result.z2 - z2) < 1e-6))  # refocused heights, truth 0
    True
    """
    inputs = validate_inputs(
        holograms,
        z2,
        wavelength=wavelength,
        pixel_size=pixel_size,
        iterations=iterations,
        n_medium=n_medium,
        propagator=propagator,
        refocus_range=refocus_range,
        momentum=momentum,
        momentum_cutoff=momentum_cutoff,
        max_amplitude=max_amplitude,
    )
    propagator = inputs.propagator
    planes = HeightPlanes.from_holograms(inputs.stack, inputs.heights, propagator)
    z_lowest = float(planes.heights[0])
    field = planes.initial_field(propagator)
    scratch = (
        np.empty(propagator.shape, dtype=np.float32),
        np.empty(propagator.shape, dtype=np.float32),
    )
    clipped = np.empty(propagator.padded_shape, dtype=np.float32)
    # Between sweeps the field at the lowest plane is kept as its spectrum: the momentum step is
    # linear and the passive-sample constraint starts and ends with a product by a transfer
    # function, so both act on the spectrum, and the next sweep's first hop starts from it. Per
    # sweep that saves the momentum filter's two transforms and two of the constraint's four.
    spectrum = _fft.fft2(field)
    # Heavy-ball momentum on the field at the lowest plane: ``previous`` holds the spectrum after
    # the last sweep, ``lowpass`` the band the step is kept in.
    previous = spectrum.copy() if inputs.momentum > 0.0 else None
    lowpass = (
        gaussian_lowpass(propagator, inputs.momentum_cutoff)
        if previous is not None and inputs.momentum_cutoff > 0.0
        else None
    )
    refocus = inputs.refocus_range > 0.0
    # The sample plane's offset from z_lowest and the hops there and back.
    offset = 0.0
    sample_hops: tuple[np.ndarray, np.ndarray] | None = None

    residuals: list[float] = []
    for n_sweep in range(1, inputs.iterations + 1):
        field, residual = sweep(spectrum, planes, propagator, scratch, spectral=True)
        residuals.append(residual)
        spectrum = _fft.fft2(field, overwrite_x=True)
        if previous is not None:
            spectrum = momentum_step(spectrum, previous, inputs.momentum, lowpass, spectral=True)
        if inputs.max_amplitude == 0.0 or n_sweep < _CONSTRAIN_EVERY:
            continue
        if sample_hops is None or (refocus and n_sweep % _CONSTRAIN_EVERY == 0):
            if refocus:
                offset = refocus_offset(
                    spectrum, propagator, z_lowest, inputs.refocus_range, spectral=True
                )
            sample_hops = (
                propagator.transfer_function(-(z_lowest + offset), carrier=False),
                propagator.transfer_function(z_lowest + offset, carrier=False),
            )
        spectrum = passive_sample_constraint(
            spectrum, *sample_hops, inputs.max_amplitude, propagator, clipped, spectral=True
        )

    if refocus:
        offset = refocus_offset(spectrum, propagator, z_lowest, inputs.refocus_range, spectral=True)
    to_sample = propagator.transfer_function(-(z_lowest + offset), carrier=False)
    np.multiply(spectrum, to_sample, out=spectrum)
    propagator.n_propagations += 1
    field = propagator.crop(_fft.ifft2(spectrum, overwrite_x=True))
    return PhaseRetrievalResult(
        field=np.ascontiguousarray(field, dtype=np.complex64),
        residuals=residuals,
        z2=inputs.heights + offset,
    )
