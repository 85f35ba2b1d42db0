"""Band-limited angular spectrum propagation of complex fields, with cached transfer functions.

The transfer function of free space over a distance ``dz`` in a medium of index ``n`` is

    H(fx, fy) = exp(i·2π·dz·sqrt((n/λ)² − fx² − fy²)),   zero for evanescent frequencies,

positive ``dz`` propagating away from the sample towards the sensor. Fields are zero-padded by a
margin so that the convolution is linear, not circular, and ``H`` is band-limited after Matsushima &
Shimobaba (2009): a spatial frequency is kept only if the ray it describes moves by no more than the
margin over ``dz``. That one condition both keeps ``H`` sampled above Nyquist on the padded grid
(the margin is never more than half the padded size) and guarantees that nothing propagated from
inside the field wraps around the padded grid back into it.

The default margin, 7/8 of the field, is what makes a single propagation exact: with the band
limit's roll-off over its last 10 %, every ray that reaches the central half of the window from
anywhere inside it is kept with full weight (0.9 × 7/8 > 3/4). On tissue-like fields the central
half is then within ~0.1 % (relative L2) of a 6×-padded exact propagation at 300–600 µm, where a
half-size margin with a 30 % roll-off was 2–8 % off
(``holo_pipeline_tests/optics/test_propagation.py``). Iterative methods that keep the field on the
padded grid between planes (phase retrieval) need far less and choose their own margin.

Transfer functions and band limits are pure functions of the padded grid, the optics and ``dz``:
besides each :class:`Propagator`'s own cache, they are kept in one process-wide cache bounded in
bytes, so that propagators of the same shape (one per FOV and per stage) share them, and so do
the threads of one process. They are computed in float32 trigonometry from a float64 phase.

References
----------
J. W. Goodman, *Introduction to Fourier Optics*, 3rd ed., §3.10 (angular spectrum).
K. Matsushima and T. Shimobaba, "Band-limited angular spectrum method for numerical simulation of
free-space propagation in far and near fields", Opt. Express 17, 19662 (2009).
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np

from holo_pipeline.optics import _checks, _fft

__all__ = ["DEFAULT_MARGIN_FRACTION", "DEFAULT_TAPER", "Propagator", "propagate"]

#: Default margin as a fraction of the field's side, and the default roll-off of the band limit
#: (fraction of the margin); see the module docstring.
DEFAULT_MARGIN_FRACTION = 7 / 8
DEFAULT_TAPER = 0.1
#: Bytes of transfer functions and band limits kept in the process-wide cache (least recently
#: used dropped first): 64 of 1000² complex64, 3 at the paper's 2880².
_SHARED_CACHE_BYTES = 512 << 20


class _SharedCache:
    """A thread-safe LRU of read-only arrays, bounded by their total bytes."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: tuple) -> np.ndarray | None:
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
            return hit

    def put(self, key: tuple, value: np.ndarray) -> None:
        value.flags.writeable = False
        with self._lock:
            if key in self._items or value.nbytes > self.max_bytes:
                return
            self._items[key] = value
            self._bytes += value.nbytes
            while self._bytes > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= dropped.nbytes


_SHARED = _SharedCache(_SHARED_CACHE_BYTES)


class _Grid(NamedTuple):
    """Frequency-grid arrays of one padded shape, pitch and medium (shared, read-only)."""

    propagating: np.ndarray  # bool: kz² > 0
    kz_minus_carrier: np.ndarray  # float64, cycles/m: kz − n/λ (≤ 0), 0 where evanescent
    inv_kz: np.ndarray  # float32, m: 1/kz, 0 where evanescent
    abs_fy: np.ndarray  # float32 (P0, 1), cycles/m
    abs_fx: np.ndarray  # float32 (1, P1), cycles/m


@lru_cache(maxsize=4)
def _grid(padded_shape: tuple[int, int], pixel_size: float, k: float) -> _Grid:
    """The frequency grid for ``k = n/λ`` (cycles per metre), computed once per shape and optics."""
    fy = _fft.fftfreq(padded_shape[0], pixel_size)[:, None]
    fx = _fft.fftfreq(padded_shape[1], pixel_size)[None, :]
    f2 = fy * fy + fx * fx
    kz2 = k * k - f2
    propagating = kz2 > 0
    kz = np.sqrt(np.maximum(kz2, 0.0))
    # kz − k written without cancellation: −f² / (k + kz).
    kz_minus_carrier = np.where(propagating, -f2 / (k + kz), 0.0)
    inv_kz = np.divide(1.0, kz, out=np.zeros_like(kz), where=propagating).astype(np.float32)
    grid = _Grid(
        propagating,
        kz_minus_carrier,
        inv_kz,
        np.abs(fy).astype(np.float32),
        np.abs(fx).astype(np.float32),
    )
    for array in grid:
        array.flags.writeable = False
    return grid


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
        then rounded up to a fast FFT length (:func:`holo_pipeline.optics._fft.next_fast_len`).
        Default ``ceil(7/8 · H), ceil(7/8 · W)``: with the default ``taper`` a propagation is
        exact on the central half of the window (see the module docstring). The band limit
        follows the margin, so a smaller margin is cheaper and drops the steeper rays.
    cache_size : int, optional
        How many transfer functions this propagator keeps (least recently used are dropped); 0
        keeps none here nor in the process-wide cache. Each one is a complex64 array of the
        padded shape.
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

    Examples
    --------
    >>> import numpy as np
    >>> from holo_pipeline.optics import Propagator
    >>> prop = Propagator((128, 128), wavelength=530e-9, pixel_size=0.5e-6)
    >>> prop.padded_shape
    (240, 240)
    >>> field = np.ones((128, 128), np.complex64)
    >>> out = prop.propagate(field, 300e-6, background=1.0)  # a plane wave stays one
    >>> bool(np.allclose(np.abs(out), 1.0, atol=1e-5))
    True
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
        taper: float = DEFAULT_TAPER,
    ) -> None:
        self.shape = _checks.shape_2d("shape", shape)
        self.wavelength = _checks.positive_length("wavelength", wavelength)
        self.pixel_size = _checks.positive_length("pixel_size", pixel_size)
        self.n_medium = _checks.refractive_index(n_medium)
        if margin is None:
            margins = tuple(math.ceil(DEFAULT_MARGIN_FRACTION * s) for s in self.shape)
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
        self._k = self.n_medium / self.wavelength
        self._grid = _grid(self.padded_shape, self.pixel_size, self._k)
        # What the shared cache's entries depend on besides dz.
        self._key = (self.padded_shape, self.pixel_size, self._k, self._reach, self.taper)

    # ------------------------------------------------------------------ transfer functions
    def band_limit(self, dz: float) -> np.ndarray:
        """Band-limit weight (float32, padded shape, read-only) applied to ``H`` for ``dz`` metres.

        A spatial frequency travels laterally by ``|dz|·f/kz`` along each axis. It is kept with
        weight 1 while that displacement is below ``1 − taper`` times the margin, rolled off with a
        raised cosine up to the margin and dropped beyond. The roll-off keeps the impulse response
        compact: a hard cut in frequency leaves Fresnel ripples that would reach past the margin and
        wrap around (Matsushima & Shimobaba's rectangular limit is the hard-cut case).
        """
        dz = abs(_checks.finite_number("dz", dz))
        key = (*self._key, "band", dz)
        hit = _SHARED.get(key)
        if hit is not None:
            return hit
        g = self._grid
        weight = g.propagating.astype(np.float32)
        if dz > 0.0:
            start = np.float32(1.0 - self.taper)
            for f, reach in ((g.abs_fy, self._reach[0]), (g.abs_fx, self._reach[1])):
                # Displacement in units of the margin, then the raised-cosine roll-off.
                d = g.inv_kz * np.float32(dz / reach)
                d *= f
                beyond = d > 1.0
                np.subtract(d, start, out=d)
                np.multiply(d, np.float32(math.pi / self.taper), out=d)
                np.clip(d, np.float32(0.0), np.float32(math.pi), out=d)
                np.cos(d, out=d)
                np.multiply(d, np.float32(0.5), out=d)
                np.add(d, np.float32(0.5), out=d)
                d[beyond] = 0.0
                weight *= d
        if self.cache_size:
            _SHARED.put(key, weight)
        return weight

    def transfer_function(self, dz: float, *, carrier: bool = True) -> np.ndarray:
        """Band-limited transfer function ``H`` (complex64, padded shape, unshifted FFT order).

        The array is shared (read-only): the propagator and the process-wide cache keep it.

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
        shared_key = (*self._key, "H", *key)
        h = _SHARED.get(shared_key) if self.cache_size else None
        if h is None:
            # H(−dz) is the conjugate of H(dz) (the band depends on |dz| only): a hop back reuses
            # the hop forth (MH-PR's sweeps go up and down the same steps).
            reverse = None
            if self.cache_size:
                reverse = self._cache.get((-dz, bool(carrier)))
                if reverse is None:
                    reverse = _SHARED.get((*self._key, "H", -dz, bool(carrier)))
            if reverse is not None:
                h = np.conj(reverse)
            else:
                h = self._compute_transfer_function(dz, carrier)
            if self.cache_size:
                _SHARED.put(shared_key, h)
        if self.cache_size:
            self._cache[key] = h
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return h

    def _compute_transfer_function(self, dz: float, carrier: bool) -> np.ndarray:
        # The phase 2π·dz·(kz − k) in float64 (it reaches a few thousand radians), plus the
        # carrier's 2π·k·dz reduced modulo 2π as one number; then float32 trigonometry, whose
        # rounding of the argument (< 1e-3 rad where the band limit keeps anything) is far
        # below what matters, at a twentieth of float64's cost.
        offset = math.fmod(2.0 * math.pi * self._k * dz, 2.0 * math.pi) if carrier else 0.0
        phase = (2.0 * math.pi * dz) * self._grid.kz_minus_carrier
        if offset:
            phase += offset
        phase32 = phase.astype(np.float32)
        h = np.empty(self.padded_shape, dtype=np.complex64)
        np.cos(phase32, out=h.real)
        np.sin(phase32, out=h.imag)
        h *= self.band_limit(dz)
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
            h = self._compute_transfer_function(_checks.finite_number("dz", dz), carrier)
        self.n_propagations += 1
        return self.crop(_fft.ifft2(spectrum * h, overwrite_x=True))

    def fine_scan(
        self, spectrum: np.ndarray, dz: float, *, carrier: bool = True
    ) -> Callable[[float], np.ndarray]:
        """Fields at distances ``dz + δ`` close to ``dz`` from one :meth:`spectrum`, for a search.

        Returns ``field_at(δ)``, the field (complex64, ``self.shape``) at ``dz + δ``. Every trial
        keeps the band limit of ``dz`` (as :func:`~holo_pipeline.optics.autofocus` keeps one band
        over its scan) and adds the phase of ``δ`` alone, in float32: a product of the cached
        transfer function at ``dz`` with one phase factor and one inverse FFT per trial, instead
        of a transfer function built anew. Meant for ``|δ|`` of a few micrometres (there the band
        differs by a part in a hundred of its roll-off and the phase stays within tens of
        radians). Each trial counts as one propagation.
        """
        dz = _checks.finite_number("dz", dz)
        base = spectrum * self.transfer_function(dz, carrier=carrier)
        kz = self._grid.kz_minus_carrier.astype(np.float32)
        phase = np.empty(self.padded_shape, dtype=np.float32)
        trial = np.empty(self.padded_shape, dtype=np.complex64)
        k = self._k

        def field_at(delta: float) -> np.ndarray:
            delta = _checks.finite_number("delta", delta)
            # exp(i·2π·δ·(kz − k)), times the carrier's exp(i·2π·k·δ) when it is wanted.
            np.multiply(kz, np.float32(2.0 * math.pi * delta), out=phase)
            np.cos(phase, out=trial.real)
            np.sin(phase, out=trial.imag)
            np.multiply(trial, base, out=trial)
            if carrier:
                np.multiply(
                    trial, np.complex64(np.exp(2j * math.pi * math.fmod(k * delta, 1.0))), out=trial
                )
            self.n_propagations += 1
            return self.crop(_fft.ifft2(trial, overwrite_x=True)).copy()

        return field_at

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
            k = self._k
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
        ``margin`` and ``taper`` (see :class:`Propagator`).

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
