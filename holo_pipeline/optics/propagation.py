"""Band-limited angular spectrum propagation of complex fields, with cached transfer functions.

The transfer function of free space over a distance ``dz`` in a medium of index ``n`` is

    H(fx, fy) = exp(i·2π·dz·sqrt((n/λ)² − fx² − fy²)),   zero for evanescent frequencies,

positive ``dz`` propagating away from the sample towards the sensor. Fields are zero-padded by a
margin so that the convolution is linear, not circular, and ``H`` is band-limited after Matsushima &
Shimobaba (2009): a spatial frequency is kept only if the ray it describes moves by no more than the
margin over ``dz``. That one condition both keeps ``H`` sampled above Nyquist on the padded grid
(the margin is never more than half the padded size) and guarantees that nothing propagated from
inside the field wraps around the padded grid back into it.

References
----------
J. W. Goodman, *Introduction to Fourier Optics*, 3rd ed., §3.10 (angular spectrum).
K. Matsushima and T. Shimobaba, "Band-limited angular spectrum method for numerical simulation of
free-space propagation in far and near fields", Opt. Express 17, 19662 (2009).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any

import numpy as np

from holo_pipeline.optics import _checks, _fft

__all__ = ["Propagator", "propagate"]


class Propagator:
    """Angular spectrum propagator for fields of one shape, caching transfer functions per ``dz``.

    Parameters
    ----------
    shape : tuple of int
        ``(H, W)`` of the fields to propagate (pixels).
    wavelength : float
        Vacuum wavelength λ in metres (e.g. ``530e-9``).
    pixel_size : float
        Sampling pitch of the field in metres (e.g. ``0.3733e-6`` on the super-resolved grid).
    n_medium : float, optional
        Refractive index of the medium between the planes (default 1, air).
    margin : int or (int, int), optional
        Zero rows/columns added to the field before the FFT (pixels, per axis). The padded size is
        then rounded up with ``scipy.fft.next_fast_len``. Default ``ceil(H/2), ceil(W/2)``: a point
        at the centre of the field keeps every ray that lands anywhere within the field, at ~1.5×
        the size instead of the customary 2×. The band limit follows the margin (see module
        docstring), so a larger margin keeps steeper rays near the field edges at a higher cost.
    cache_size : int, optional
        How many transfer functions to keep (least recently used are dropped). Each one is a
        complex64 array of the padded shape.
    taper : float, optional
        Fraction of the margin over which the band limit rolls off smoothly (see
        :meth:`band_limit`).

    Attributes
    ----------
    padded_shape : tuple of int
        Shape of the zero-padded grid the FFTs run on.
    n_propagations : int
        Number of propagations performed so far (each costs two FFTs of ``padded_shape``).

    Notes
    -----
    The field occupies the top-left ``(H, W)`` corner of the padded grid; the margin lies after it
    on both axes (the grid is periodic, so this is equivalent to centring it).
    """

    def __init__(
        self,
        shape: tuple[int, int],
        *,
        wavelength: float,
        pixel_size: float,
        n_medium: float = 1.0,
        margin: int | tuple[int, int] | None = None,
        cache_size: int = 32,
        taper: float = 0.3,
    ) -> None:
        self.shape = _checks.shape_2d("shape", shape)
        self.wavelength = _checks.positive_length("wavelength", wavelength)
        self.pixel_size = _checks.positive_length("pixel_size", pixel_size)
        self.n_medium = _checks.refractive_index(n_medium)
        if margin is None:
            margins = tuple((s + 1) // 2 for s in self.shape)
        else:
            margins = (margin, margin) if np.isscalar(margin) else tuple(margin)  # type: ignore[arg-type]
            if len(margins) != 2 or any(int(m) != m or m < 1 for m in margins):
                raise ValueError(f"margin must be a positive int or (int, int), got {margin!r}")
        self.padded_shape: tuple[int, int] = tuple(  # type: ignore[assignment]
            _fft.next_fast_len(s + int(m)) for s, m in zip(self.shape, margins, strict=True)
        )
        if int(cache_size) < 0:
            raise ValueError(f"cache_size must be >= 0, got {cache_size!r}")
        self.cache_size = int(cache_size)
        if not 0.0 < float(taper) <= 1.0:
            raise ValueError(f"taper must be in (0, 1], got {taper!r}")
        self.taper = float(taper)
        self.n_propagations = 0
        self._cache: OrderedDict[tuple[float, bool], np.ndarray] = OrderedDict()

        # Ray displacement allowed per axis (metres): the actual margin, never more than half the
        # padded size (above that H itself would be undersampled).
        self._reach = tuple(
            min(p - s, p // 2) * self.pixel_size
            for p, s in zip(self.padded_shape, self.shape, strict=True)
        )
        k = self.n_medium / self.wavelength
        fy = _fft.fftfreq(self.padded_shape[0], self.pixel_size)[:, None]
        fx = _fft.fftfreq(self.padded_shape[1], self.pixel_size)[None, :]
        kz2 = k * k - fy * fy - fx * fx
        self._propagating = kz2 > 0
        self._kz = np.sqrt(np.where(self._propagating, kz2, 1.0))  # cycles per metre
        # Ray slope per axis, d(x)/d(z) = f / kz: how far frequency f travels per metre of dz.
        self._slope_y = np.abs(fy) / self._kz
        self._slope_x = np.abs(fx) / self._kz
        self._kz_minus_carrier = self._kz - k

    # ------------------------------------------------------------------ transfer functions
    def band_limit(self, dz: float) -> np.ndarray:
        """Band-limit weight (float32, padded shape) applied to ``H`` for a distance ``dz`` metres.

        A spatial frequency travels laterally by ``|dz|·f/kz`` along each axis. It is kept with
        weight 1 while that displacement is below ``1 − taper`` times the margin, rolled off with a
        raised cosine up to the margin and dropped beyond. The roll-off keeps the impulse response
        compact: a hard cut in frequency leaves Fresnel ripples that would reach past the margin and
        wrap around (Matsushima & Shimobaba's rectangular limit is the hard-cut case).
        """
        dz = abs(_checks.finite_number("dz", dz))
        weight = self._propagating.astype(np.float32)
        for slope, reach in ((self._slope_y, self._reach[0]), (self._slope_x, self._reach[1])):
            if dz == 0.0:
                break
            d = slope * (dz / reach)  # displacement in units of the margin
            start = 1.0 - self.taper
            roll = np.clip((d - start) / self.taper, 0.0, 1.0)
            weight *= (0.5 + 0.5 * np.cos(np.pi * roll)).astype(np.float32)
            weight[d > 1.0] = 0.0
        return weight

    def transfer_function(self, dz: float, *, carrier: bool = True) -> np.ndarray:
        """Band-limited transfer function ``H`` (complex64, padded shape, unshifted FFT order).

        Parameters
        ----------
        dz : float
            Propagation distance in metres (positive: towards the sensor).
        carrier : bool, optional
            If False, the plane-wave phase ``exp(i·2π·n·dz/λ)`` is divided out so that ``H`` is 1
            at zero frequency: a uniform background then propagates unchanged.
        """
        dz = _checks.finite_number("dz", dz)
        key = (dz, bool(carrier))
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit
        kz = self._kz if carrier else self._kz_minus_carrier
        # Phase in float64: 2π·dz·kz reaches ~10⁴ rad at 600 µm, beyond float32's precision.
        phase = (2.0 * math.pi * dz) * kz
        h = np.empty(self.padded_shape, dtype=np.complex64)
        h.real = np.cos(phase)
        h.imag = np.sin(phase)
        h *= self.band_limit(dz)
        if self.cache_size:
            self._cache[key] = h
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return h

    # ------------------------------------------------------------------ padded-grid primitives
    def pad(self, field: np.ndarray) -> np.ndarray:
        """Return ``field`` (shape ``self.shape``) zero-padded to ``padded_shape`` as complex64."""
        out = np.zeros(self.padded_shape, dtype=np.complex64)
        out[: self.shape[0], : self.shape[1]] = field
        return out

    def crop(self, padded: np.ndarray) -> np.ndarray:
        """Return the ``self.shape`` window of a padded array (a view)."""
        return padded[: self.shape[0], : self.shape[1]]

    def propagate_padded(
        self, padded: np.ndarray, dz: float, *, carrier: bool = True, overwrite: bool = False
    ) -> np.ndarray:
        """Propagate a field already on the padded grid; returns the whole padded result.

        This is the inner loop of iterative methods (phase retrieval), which keep fields on the
        padded grid between planes instead of cropping and re-padding at every step. No validation
        beyond the shape: callers are internal.
        """
        if padded.shape != self.padded_shape:
            raise ValueError(f"padded must have shape {self.padded_shape}, got {padded.shape}")
        h = self.transfer_function(dz, carrier=carrier)
        spectrum = _fft.fft2(padded.astype(np.complex64, copy=not overwrite), overwrite_x=True)
        np.multiply(spectrum, h, out=spectrum)
        self.n_propagations += 1
        return _fft.ifft2(spectrum, overwrite_x=True)

    def spectrum(self, field: np.ndarray) -> np.ndarray:
        """FFT (complex64, padded shape) of ``field`` zero-padded: the start of many propagations.

        A field propagated to several distances needs one forward FFT; each distance then costs a
        multiply and an inverse FFT (:meth:`from_spectrum`).
        """
        return _fft.fft2(self.pad(field), overwrite_x=True)

    def from_spectrum(
        self, spectrum: np.ndarray, dz: float, *, carrier: bool = True, cache: bool = True
    ) -> np.ndarray:
        """Field (complex64, ``self.shape``) at distance ``dz`` from a :meth:`spectrum`.

        ``cache=False`` computes the transfer function without storing it, for distances that
        will not recur (an optimiser's trial points). Counts as one propagation.
        """
        if cache:
            h = self.transfer_function(dz, carrier=carrier)
        else:
            size, self.cache_size = self.cache_size, 0
            try:
                h = self.transfer_function(dz, carrier=carrier)
            finally:
                self.cache_size = size
        self.n_propagations += 1
        return self.crop(_fft.ifft2(spectrum * h, overwrite_x=True))

    # ------------------------------------------------------------------ public entry point
    def propagate(
        self, field: np.ndarray, dz: float, *, background: complex | None = None
    ) -> np.ndarray:
        """Propagate ``field`` by ``dz`` metres; returns a complex64 array of the same shape.

        Parameters
        ----------
        field : ndarray, shape ``self.shape``
            Complex (or real) field sampled at ``pixel_size``.
        dz : float
            Distance in metres; positive propagates away from the sample towards the sensor.
        background : complex, optional
            Uniform background (plane wave) that extends beyond the field, e.g. ``1`` for a
            transmission or a normalised hologram amplitude. If given, only ``field − background``
            is zero-padded and propagated and the propagated plane wave
            ``background·exp(i·2π·n·dz/λ)`` is added back, so the edge of the window does not act
            as an aperture. If None, ``field`` itself is zero-padded (an isolated field).

        Returns
        -------
        ndarray, complex64, shape ``self.shape``
        """
        field = _checks.finite_array("field", field, ndim=2)
        if field.shape != self.shape:
            raise ValueError(f"field must have shape {self.shape}, got {field.shape}")
        dz = _checks.finite_number("dz", dz)
        bg = None if background is None else complex(background)
        if bg is not None and not (math.isfinite(bg.real) and math.isfinite(bg.imag)):
            raise ValueError(f"background must be a finite complex number, got {background!r}")
        if dz == 0.0:
            return np.array(field, dtype=np.complex64)
        padded = self.pad(field if bg is None else field - np.complex64(bg))
        out = self.crop(self.propagate_padded(padded, dz, overwrite=True)).copy()
        if bg is not None:
            k = self.n_medium / self.wavelength
            out += np.complex64(
                bg * complex(math.cos(2 * math.pi * k * dz), math.sin(2 * math.pi * k * dz))
            )
        return out


def propagate(
    field: np.ndarray,
    dz: float,
    *,
    wavelength: float,
    pixel_size: float,
    n_medium: float = 1.0,
    background: complex | None = None,
    **propagator_options: Any,
) -> np.ndarray:
    """Propagate a complex field by ``dz`` metres with the band-limited angular spectrum method.

    A one-off convenience around :class:`Propagator` (which see for the padding, band limit and
    ``background``); code that propagates many fields of one shape should hold a ``Propagator`` so
    that transfer functions are computed once.

    Parameters
    ----------
    field : ndarray, shape (H, W)
        Complex field sampled at ``pixel_size``.
    dz : float
        Distance in metres; positive propagates away from the sample towards the sensor.
    wavelength, pixel_size : float
        Vacuum wavelength and sampling pitch, metres.
    n_medium : float, optional
        Refractive index between the planes (default 1).
    background : complex, optional
        Uniform background extending beyond the window (see :meth:`Propagator.propagate`).
    **propagator_options
        ``margin`` (see :class:`Propagator`).

    Returns
    -------
    ndarray, complex64, shape (H, W)

    References
    ----------
    Matsushima & Shimobaba, Opt. Express 17, 19662 (2009).
    """
    field = _checks.finite_array("field", field, ndim=2)
    propagator = Propagator(
        field.shape,
        wavelength=wavelength,
        pixel_size=pixel_size,
        n_medium=n_medium,
        cache_size=0,
        **propagator_options,
    )
    return propagator.propagate(field, dz, background=background)
