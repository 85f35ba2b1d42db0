"""The virtual lens-free in-line holographic microscope: from a sample field to raw uint16 frames.

Acquisition of one FOV (Bishara et al. 2010; Greenbaum et al. 2013 for the multi-height scheme):

1. The sample transmission is given on the super-resolved (SR) grid, pixel = sensor pitch /
   ``sr_factor``, over the FOV plus a margin so that the sample continues beyond the sensor's field
   (holograms near the FOV edge receive light scattered by the sample outside it). Beyond the
   margin the sample fades smoothly to clear glass, and the propagation treats the world outside
   the grid as a uniform plane wave (no dark border).
2. For each of the 8 heights the field is propagated to the sensor plane by the true ``z2`` with
   the band-limited angular spectrum method (:class:`holo_pipeline.optics.Propagator`) and its
   intensity formed.
3. For each of the ``scan_grid²`` (36) sensor positions the intensity is shifted by the frame's
   sub-pixel position (Fourier shift), integrated over the sensor pixel (a box of ``sr_factor²`` SR
   pixels) and sampled at the sensor pitch. The last two steps are done in the Fourier domain: box
   transfer function, then decimation by folding the spectrum.
4. Photons (shot noise, Poisson), read noise (Gaussian, electrons), black level, gain and
   quantisation to ``bit_depth`` bits with saturation give uint16 frames.

Geometry conventions (the same as :mod:`holo_pipeline.optics.superres`):

* Low-res pixel ``(i, j)`` of an unshifted frame integrates SR pixels ``3i … 3i+2`` × ``3j … 3j+2``
  of the FOV (``sr_factor = 3``); the truth field ``(3h, 3w)`` is exactly the area those pixels
  cover for ``h × w`` frames.
* ``shifts[h, k] = (dy, dx)`` in low-res pixels is the absolute position of frame ``k`` at height
  ``h``: ``frame_{h,k}(y, x) = I_h(y − dy, x − dx)`` where ``I_h`` is the pixel-integrated
  intensity of the unshifted sensor. Hence within one height
  ``frames[k](y, x) ≈ frames[0](y − Δy, x − Δx)`` with ``Δ = shifts[h, k] − shifts[h, 0]`` (what
  ``optics.estimate_shifts`` returns), and ``shifts[h, 0]`` is the lateral drift of height ``h``
  relative to height 0 (``shifts[0, 0] = (0, 0)``). Grid position ``k`` is nominally
  ``(k // scan_grid, k % scan_grid) / scan_grid`` plus jitter.
* The SR hologram of height ``h`` is therefore displaced by ``shifts[h, 0]`` (in low-res pixels,
  ``sr_factor`` times that in SR pixels) with respect to height 0 and to the truth field.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import scipy.fft

from holo_pipeline.optics import Propagator

__all__ = ["Acquisition", "MicroscopeConfig", "acquire_fov", "draw_geometry", "nominal_heights_um"]


@dataclass(frozen=True)
class MicroscopeConfig:
    """Settings of the virtual microscope (lengths in the units their names say).

    Parameters
    ----------
    frame_shape : (int, int)
        Sensor frame size in low-res pixels (the FOV is ``frame_shape × pixel_pitch``).
    wavelength_nm, pixel_pitch_um, sr_factor, scan_grid, n_heights, n_medium, z1_mm
        Illumination, sensor and scan geometry (530 nm, 1.12 µm, 3, 6, 8, air, 75 mm).
    z2_first_um : (float, float)
        Range from which a slide's lowest nominal height is drawn.
    z2_step_um : (float, float)
        Range from which a slide's nominal height step is drawn.
    z2_offset_um : float
        Per-FOV offset of every true height from nominal, uniform in ±this (sample and coverslip
        height, tilt).
    stage_error_um : float
        Standard deviation of the per-height axial stage error.
    z2_tolerance_um : float
        Written to ``slide.yaml``: the largest expected |true − nominal| (autofocus half-range).
    scan_jitter_px : float
        Standard deviation of each frame's lateral position error (low-res pixels).
    drift_px : float
        Lateral drift of each height relative to height 0, uniform in ±this per axis (low-res px).
    margin_um : float
        Sample simulated around the FOV on each side; its outer ``taper_um`` fade to clear glass.
    bit_depth, full_well_e, read_noise_e, black_level_dn, flat_fraction
        Sensor: ADC bits, full-well capacity and read noise (electrons), dark offset (DN), and the
        unobstructed illumination level as a fraction of full well.
    """

    frame_shape: tuple[int, int] = (176, 176)
    wavelength_nm: float = 530.0
    pixel_pitch_um: float = 1.12
    sr_factor: int = 3
    scan_grid: int = 6
    n_heights: int = 8
    n_medium: float = 1.0
    z1_mm: float = 75.0
    z2_first_um: tuple[float, float] = (400.0, 440.0)
    z2_step_um: tuple[float, float] = (16.0, 22.0)
    z2_offset_um: float = 8.0
    stage_error_um: float = 1.5
    z2_tolerance_um: float = 25.0
    scan_jitter_px: float = 0.02
    drift_px: float = 3.0
    margin_um: float = 60.0
    taper_um: float = 15.0
    bit_depth: int = 12
    full_well_e: float = 10000.0
    read_noise_e: float = 3.0
    black_level_dn: int = 64
    flat_fraction: float = 0.35

    def __post_init__(self) -> None:
        h, w = self.frame_shape
        if int(h) != h or int(w) != w or h < 8 or w < 8:
            raise ValueError(f"frame_shape must be two integers >= 8, got {self.frame_shape!r}")
        object.__setattr__(self, "frame_shape", (int(h), int(w)))
        if self.n_heights < 2 or self.scan_grid < 1 or self.sr_factor < 1:
            raise ValueError("n_heights must be >= 2, scan_grid and sr_factor >= 1")
        if not 8 <= self.bit_depth <= 16:
            raise ValueError(f"bit_depth must be in 8..16, got {self.bit_depth}")
        if not 0 < self.flat_fraction < 1:
            raise ValueError(f"flat_fraction must be in (0, 1), got {self.flat_fraction}")
        if self.taper_um >= self.margin_um:
            raise ValueError("taper_um must be smaller than margin_um")

    def with_frame_shape(self, frame_shape: tuple[int, int]) -> MicroscopeConfig:
        """A copy with another sensor frame size."""
        return replace(self, frame_shape=tuple(frame_shape))

    @property
    def wavelength_m(self) -> float:
        return self.wavelength_nm * 1e-9

    @property
    def sr_pixel_size_m(self) -> float:
        """Pixel of the super-resolved grid, pitch / sr_factor (m)."""
        return self.pixel_pitch_um * 1e-6 / self.sr_factor

    @property
    def margin_px(self) -> int:
        """Margin around the FOV on the SR grid (px), a multiple of ``sr_factor``."""
        f = self.sr_factor
        return f * math.ceil(self.margin_um / (self.pixel_pitch_um / f) / f)

    @property
    def sample_shape(self) -> tuple[int, int]:
        """Shape of the simulated sample on the SR grid: FOV plus margin on each side."""
        h, w = self.frame_shape
        m = self.margin_px
        return h * self.sr_factor + 2 * m, w * self.sr_factor + 2 * m

    @property
    def fov_slice(self) -> tuple[slice, slice]:
        """Where the FOV (the truth field) lies in the simulated sample grid."""
        h, w = self.frame_shape
        m, f = self.margin_px, self.sr_factor
        return slice(m, m + h * f), slice(m, m + w * f)

    @property
    def full_scale_dn(self) -> int:
        return 2**self.bit_depth - 1

    @property
    def gain_dn_per_e(self) -> float:
        return (self.full_scale_dn - self.black_level_dn) / self.full_well_e

    @property
    def flat_field_dn(self) -> float:
        """Mean DN above black of unobstructed illumination."""
        return self.flat_fraction * self.full_well_e * self.gain_dn_per_e


@dataclass(frozen=True)
class Acquisition:
    """Raw data and ground truth of one simulated FOV.

    Attributes
    ----------
    frames : ndarray, uint16, shape (n_heights, scan_grid², h, w)
    z2_m : ndarray, float64, shape (n_heights,)
        True sample-to-sensor distances (m).
    shifts : ndarray, float64, shape (n_heights, scan_grid², 2)
        Absolute frame positions (dy, dx) in low-res pixels (module docstring).
    saturated_fraction : float
        Fraction of pixels clipped at full scale.
    """

    frames: np.ndarray
    z2_m: np.ndarray
    shifts: np.ndarray
    saturated_fraction: float


def nominal_heights_um(config: MicroscopeConfig, rng: np.random.Generator) -> np.ndarray:
    """Draw a slide's nominal stage heights (µm, increasing): first + step·arange(n_heights)."""
    first = rng.uniform(*config.z2_first_um)
    step = rng.uniform(*config.z2_step_um)
    return np.round(first + step * np.arange(config.n_heights), 1)


def draw_geometry(
    config: MicroscopeConfig, z2_nominal_um: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Draw the true heights (m) and absolute frame positions (low-res px) of one FOV.

    Returns
    -------
    z2_m : ndarray (n_heights,)
        ``nominal + common offset + per-height stage error``.
    shifts : ndarray (n_heights, scan_grid², 2)
        ``drift[h] + grid[k] + jitter[h, k]`` with ``drift[0] = 0`` and ``jitter[:, 0] = 0``.
    """
    n, g = config.n_heights, config.scan_grid
    offset = rng.uniform(-config.z2_offset_um, config.z2_offset_um)
    z2_um = np.asarray(z2_nominal_um, float) + offset + rng.normal(0, config.stage_error_um, n)
    k = np.arange(g * g)
    grid = np.stack([k // g, k % g], axis=1) / g
    jitter = rng.normal(0, config.scan_jitter_px, (n, g * g, 2))
    jitter[:, 0] = 0.0
    drift = rng.uniform(-config.drift_px, config.drift_px, (n, 1, 2))
    drift[0] = 0.0
    return z2_um * 1e-6, drift + grid[None] + jitter


def _taper(shape: tuple[int, int], width: float) -> np.ndarray:
    """Window that is 1 inside and falls to 0 over ``width`` px at the border (raised cosine)."""
    out = np.ones(shape, np.float32)
    for axis, n in enumerate(shape):
        d = np.minimum(np.arange(n), np.arange(n)[::-1]).astype(np.float32)
        ramp = np.where(d < width, 0.5 - 0.5 * np.cos(np.pi * d / max(width, 1.0)), 1.0)
        out *= ramp[:, None] if axis == 0 else ramp[None, :]
    return out


def acquire_fov(
    sample: np.ndarray,
    *,
    config: MicroscopeConfig,
    z2_m: np.ndarray,
    shifts: np.ndarray,
    rng: np.random.Generator,
    propagator: Propagator | None = None,
) -> Acquisition:
    """Record the raw multi-height sub-pixel scans of one FOV.

    Parameters
    ----------
    sample : ndarray, complex, shape ``config.sample_shape``
        Sample transmission on the SR grid, FOV at ``config.fov_slice``.
    config : MicroscopeConfig
    z2_m : ndarray (n_heights,)
        True sample-to-sensor distances (m).
    shifts : ndarray (n_heights, scan_grid², 2)
        Absolute frame positions in low-res pixels (see :func:`draw_geometry`).
    rng : numpy.random.Generator
        Noise source.
    propagator : Propagator, optional
        Reused between FOVs of one shape (caches nothing across heights otherwise).

    Returns
    -------
    Acquisition
    """
    sample = np.asarray(sample)
    if sample.shape != config.sample_shape:
        raise ValueError(f"sample must have shape {config.sample_shape}, got {sample.shape}")
    n, g2 = config.n_heights, config.scan_grid**2
    z2_m = np.asarray(z2_m, float)
    shifts = np.asarray(shifts, float)
    if z2_m.shape != (n,) or shifts.shape != (n, g2, 2):
        raise ValueError(f"z2_m must be ({n},) and shifts ({n}, {g2}, 2)")
    f = config.sr_factor
    h, w = config.frame_shape
    m = config.margin_px
    # Fade the sample to clear glass over the outer part of the margin.
    taper = _taper(sample.shape, config.taper_um / (config.sr_pixel_size_m * 1e6))
    field_in = (1.0 + (sample - 1.0) * taper).astype(np.complex64)
    if propagator is None or propagator.shape != sample.shape:
        propagator = Propagator(
            sample.shape,
            wavelength=config.wavelength_m,
            pixel_size=config.sr_pixel_size_m,
            n_medium=config.n_medium,
            cache_size=0,
        )

    # Window for the sub-pixel shifts: FOV plus a buffer c (multiple of f) for the largest shift,
    # its outer part tapered to the mean so the periodic Fourier shift sees no edge.
    max_shift = float(np.abs(shifts).max()) + 1.0
    c = f * math.ceil((f * max_shift + 12) / f)
    if c > m:
        raise ValueError(
            f"margin_um too small for shifts of {max_shift:.1f} px: need {c} SR px, have {m}"
        )
    win = (slice(m - c, m + h * f + c), slice(m - c, m + w * f + c))
    wh, ww = h * f + 2 * c, w * f + 2 * c
    blend = _taper((wh, ww), c - f * max_shift - 2)
    fy = np.fft.fftfreq(wh).astype(np.float32)
    fx = np.fft.fftfreq(ww).astype(np.float32)
    # Sensor pixel = box of f SR pixels: its DFT, centred on the box (taps −(f−1)/2 … (f−1)/2).
    box_y = np.sinc(f * fy) / np.sinc(fy)
    box_x = np.sinc(f * fx) / np.sinc(fx)
    j0 = c // f  # first low-res sample of the FOV in the decimated window

    gain = config.gain_dn_per_e
    flat_e = config.flat_fraction * config.full_well_e
    frames = np.empty((n, g2, h, w), np.uint16)
    saturated = 0
    for hi in range(n):
        u = propagator.propagate(field_in, float(z2_m[hi]), background=1.0)
        intensity = (u.real**2 + u.imag**2)[win]
        mean = float(intensity.mean())
        intensity = mean + (intensity - mean) * blend
        spec = scipy.fft.fft2(intensity.astype(np.float32)) * (box_y[:, None] * box_x[None, :])
        for k in range(g2):
            dy, dx = shifts[hi, k]
            # low-res pixel j samples the box-integrated intensity centred at SR coordinate
            # f·(j − dy) + (f − 1)/2: shift by s = f·dy − (f − 1)/2, then take every f-th sample.
            sy, sx = f * dy - (f - 1) / 2, f * dx - (f - 1) / 2
            ramp_y = np.exp(-2j * np.pi * fy * sy).astype(np.complex64)
            ramp_x = np.exp(-2j * np.pi * fx * sx).astype(np.complex64)
            shifted = spec * ramp_y[:, None] * ramp_x[None, :]
            folded = shifted.reshape(f, wh // f, f, ww // f).sum(axis=(0, 2)) / (f * f)
            low = scipy.fft.ifft2(folded).real[j0 : j0 + h, j0 : j0 + w]
            electrons = rng.poisson(np.clip(low, 0.0, None) * flat_e).astype(np.float32)
            electrons += rng.normal(0.0, config.read_noise_e, electrons.shape).astype(np.float32)
            dn = np.rint(config.black_level_dn + electrons * gain)
            saturated += int(np.count_nonzero(dn >= config.full_scale_dn))
            frames[hi, k] = np.clip(dn, 0, config.full_scale_dn).astype(np.uint16)
    return Acquisition(
        frames=frames,
        z2_m=z2_m.copy(),
        shifts=shifts.copy(),
        saturated_fraction=saturated / frames.size,
    )
