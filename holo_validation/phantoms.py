"""Synthetic samples and holograms for tests and benchmarks of the optics core.

Random blobs of absorption and phase delay on a clear background, loosely like a stained tissue
section, and the in-line holograms they cast. Deliberately simple: the virtual microscope in
``holo_pipeline.instrument`` owns the realistic, tissue-specific simulation.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from holo_pipeline.optics import _checks
from holo_pipeline.optics.propagation import Propagator

__all__ = ["blob_sample", "hologram", "pixel_scan"]


def blob_sample(
    shape: tuple[int, int],
    *,
    pixel_size: float,
    rng: np.random.Generator,
    n_blobs: int | None = None,
    max_absorption: float = 0.4,
    max_phase: float = 1.5,
    radius_m: tuple[float, float] = (1.0e-6, 6.0e-6),
) -> np.ndarray:
    """Complex transmission (complex64) of random smooth blobs of absorption and phase.

    Parameters
    ----------
    shape : (int, int)
        Field shape in pixels.
    pixel_size : float
        Pitch in metres (sets the blob sizes in pixels).
    rng : numpy.random.Generator
        Source of randomness (seed it for reproducibility).
    n_blobs : int, optional
        Number of blobs; default one per ~(15 µm)² of field.
    max_absorption, max_phase : float
        Largest amplitude attenuation (``exp(−a)``, a ≤ this) and phase delay (rad) of a blob.
    radius_m : (float, float)
        Range of blob radii in metres.

    Returns
    -------
    ndarray, complex64, shape ``shape``
        ``exp(−a(x, y) + i·φ(x, y))``, 1 on the background.
    """
    h, w = _checks.shape_2d("shape", shape)
    pixel_size = _checks.positive_length("pixel_size", pixel_size)
    if n_blobs is None:
        n_blobs = max(4, int(h * w * pixel_size**2 / (15e-6) ** 2))
    absorption = np.zeros((h, w))
    phase = np.zeros((h, w))
    for layer, peak in ((absorption, max_absorption), (phase, max_phase)):
        for _ in range(n_blobs):
            cy, cx = rng.uniform(0, h), rng.uniform(0, w)
            r = rng.uniform(*radius_m) / pixel_size
            y0, y1 = int(max(cy - 3 * r, 0)), int(min(cy + 3 * r + 1, h))
            x0, x1 = int(max(cx - 3 * r, 0)), int(min(cx + 3 * r + 1, w))
            yy, xx = np.mgrid[y0:y1, x0:x1]
            d2 = ((yy - cy) ** 2 + (xx - cx) ** 2) / r**2
            # Super-Gaussian blobs: flat-topped with soft but distinct edges, like cells.
            layer[y0:y1, x0:x1] += rng.uniform(0.3, 1.0) * np.exp(-(d2**4))
        layer *= peak / max(layer.max(), 1e-12)
    # A faint fine texture so that a sharp focus has more edges than a blurred one.
    texture = ndimage.gaussian_filter(rng.normal(size=(h, w)), 1.0)
    phase += 0.1 * max_phase * texture / texture.std()
    return np.exp(-absorption + 1j * phase).astype(np.complex64)


def hologram(
    sample: np.ndarray, z2: float, *, wavelength: float, pixel_size: float, **options
) -> np.ndarray:
    """In-line hologram intensity (float32) of a transmission at distance ``z2`` metres.

    Plane-wave illumination of unit intensity, so the background is ~1.
    """
    prop = Propagator(
        sample.shape, wavelength=wavelength, pixel_size=pixel_size, cache_size=0, **options
    )
    return (np.abs(prop.propagate(sample, z2, background=1.0)) ** 2).astype(np.float32)


def pixel_scan(
    high_res: np.ndarray,
    shifts: np.ndarray,
    factor: int,
    *,
    rng: np.random.Generator,
    noise: float = 0.01,
) -> np.ndarray:
    """Low-resolution frames (float32 ``(n, H/factor, W/factor)``) of a sub-pixel scan.

    Frame ``k`` is ``high_res`` shifted by ``shifts[k]`` low-res pixels (Fourier shift, so
    ``frames[k](y, x) ≈ frames[0](y − dy, x − dx)``), integrated over each sensor pixel (the mean
    over a ``factor × factor`` block; block ``(i, j)`` covers high-res rows ``factor·i …
    factor·i + factor − 1``) plus Gaussian noise of standard deviation ``noise``.
    """
    h, w = high_res.shape
    if h % factor or w % factor:
        raise ValueError(f"high_res shape {high_res.shape} must be divisible by factor {factor}")
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.fftfreq(w)[None, :]
    spectrum = np.fft.fft2(high_res)
    frames = []
    for dy, dx in np.asarray(shifts, dtype=float) * factor:
        shifted = np.fft.ifft2(spectrum * np.exp(-2j * np.pi * (fy * dy + fx * dx))).real
        binned = shifted.reshape(h // factor, factor, w // factor, factor).mean(axis=(1, 3))
        frames.append(binned + noise * rng.normal(size=binned.shape))
    return np.asarray(frames, dtype=np.float32)
