"""Pixel super-resolution of a sub-pixel-shifted scan: shift estimation and shift-and-add.

Geometry (all functions here): frame ``k`` of a scan satisfies
``frames[k](y, x) ≈ frames[0](y − dy_k, x − dx_k)`` with ``(dy_k, dx_k)`` in low-res pixels. On the
super-resolved grid, ``factor`` times finer, low-res pixel ``(i, j)`` of frame 0 covers fine pixels
``factor·i … factor·i + factor − 1`` (same for columns); its centre is at fine coordinate
``factor·i + (factor − 1)/2``. Each low-res sample is the fine-grid intensity averaged over such a
``factor × factor`` box.

References
----------
W. Bishara, T.-W. Su, A. F. Coskun and A. Ozcan, "Lensfree on-chip microscopy over a wide
field-of-view using pixel super-resolution", Opt. Express 18, 11181 (2010).
M. Guizar-Sicairos, S. T. Thurman and J. R. Fienup, "Efficient subpixel image registration
algorithms", Opt. Lett. 33, 156 (2008).
H. Knutsson and C.-F. Westin, "Normalized and differential convolution", CVPR 1993.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from holo_pipeline.optics import _checks, _fft

__all__ = ["estimate_shifts", "shift_and_add", "super_resolve"]


def _frames(frames: object) -> np.ndarray:
    arr = _checks.finite_array("frames", frames, ndim=3, complex_ok=False, min_size=8)
    if arr.shape[0] < 2:
        raise ValueError(f"frames must hold at least 2 frames (n, H, W), got shape {arr.shape}")
    return arr


def _factor(factor: object) -> int:
    if isinstance(factor, bool) or int(factor) != factor or int(factor) < 1:  # type: ignore[call-overload]
        raise ValueError(f"factor must be a positive integer, got {factor!r}")
    return int(factor)  # type: ignore[call-overload]


def estimate_shifts(frames: np.ndarray, *, upsample: int = 100) -> np.ndarray:
    """Sub-pixel shift of every frame relative to the first, by upsampled phase correlation.

    Parameters
    ----------
    frames : ndarray, shape (n, H, W)
        Low-resolution intensities of one scan (any real dtype).
    upsample : int, optional
        Upsampling of the cross-correlation peak; the shift resolution is ``1/upsample`` pixel.

    Returns
    -------
    ndarray, float64, shape (n, 2)
        ``(dy, dx)`` in low-res pixels with ``frames[k](y, x) ≈ frames[0](y − dy, x − dx)``;
        row 0 is ``(0, 0)``.

    Notes
    -----
    Each frame is made zero-mean and tapered at its border (Tukey window) before the correlation,
    so the periodic boundary of the DFT does not pull the peak towards zero shift. The integer
    peak of the cross-correlation is refined by matrix-multiply DFTs evaluated only on a small
    grid around it (Guizar-Sicairos et al. 2008), coarse to fine in decades down to
    ``1/upsample`` pixel, for all frames at once: two FFTs per frame plus a few small matrix
    products, instead of one dense ``1.5·upsample``-point upsampled DFT per frame.
    """
    arr = _frames(frames)
    if isinstance(upsample, bool) or int(upsample) != upsample or int(upsample) < 1:
        raise ValueError(f"upsample must be a positive integer, got {upsample!r}")
    n, h, w = arr.shape
    window = _tukey(h)[:, None] * _tukey(w)[None, :]
    prepared = (arr - arr.mean(axis=(1, 2), keepdims=True)) * window
    spectra = _fft.fft2(prepared)
    # Cross-power spectrum whose inverse DFT peaks at the shift d of frames[k] = frames[0](· − d).
    # complex64 for the matrix-multiply refinement: its products run ~8× faster than complex128's
    # and the peak it locates moves by far less than the 1/upsample grid.
    cross = (spectra[1:] * np.conj(spectra[:1])).astype(np.complex64)
    coarse = _fft.ifft2(cross).real.reshape(n - 1, -1).argmax(axis=1)
    peak = np.stack(np.unravel_index(coarse, (h, w)), axis=1).astype(np.float64)
    peak -= np.array([h, w]) * (peak > np.array([h, w]) // 2)  # wrap to (−N/2, N/2]
    step, half_width = 1.0, 1.5
    while step > 1.0 / int(upsample) + 1e-12:
        step = max(step / 10.0, 1.0 / int(upsample))
        peak = _refine_peak(cross, peak, step, half_width)
        half_width = step  # the next, finer grid spans one step of this one either side
    shifts = np.zeros((n, 2))
    shifts[1:] = peak
    return shifts


def _refine_peak(
    cross: np.ndarray, centre: np.ndarray, step: float, half_width: float
) -> np.ndarray:
    """Maximise the cross-correlation on a grid of spacing ``step`` within ``±half_width`` px."""
    n, h, w = cross.shape
    offsets = np.arange(-round(half_width / step), round(half_width / step) + 1) * step
    sy = centre[:, 0, None] + offsets  # (n, size)
    sx = centre[:, 1, None] + offsets
    rows = np.exp(2j * np.pi * sy[:, :, None] * np.fft.fftfreq(h)[None, None, :])
    cols = np.exp(2j * np.pi * np.fft.fftfreq(w)[None, :, None] * sx[:, None, :])
    rows, cols = rows.astype(cross.dtype), cols.astype(cross.dtype)
    corr = (rows @ cross @ cols).real  # (n, size, size)
    iy, ix = np.unravel_index(corr.reshape(n, -1).argmax(axis=1), corr.shape[1:])
    return np.stack([sy[np.arange(n), iy], sx[np.arange(n), ix]], axis=1)


def _tukey(n: int, alpha: float = 0.25) -> np.ndarray:
    """Tukey (tapered cosine) window of length ``n``, flat over a fraction ``1 − alpha``."""
    x = np.linspace(0.0, 1.0, n)
    w = np.ones(n)
    edge = alpha / 2
    lo, hi = x < edge, x > 1 - edge
    w[lo] = 0.5 * (1 - np.cos(np.pi * x[lo] / edge))
    w[hi] = 0.5 * (1 - np.cos(np.pi * (1 - x[hi]) / edge))
    return w


def shift_and_add(
    frames: np.ndarray,
    shifts: np.ndarray,
    factor: int,
    *,
    deconvolve: float = 0.3,
) -> np.ndarray:
    """Merge shifted low-res frames into one image ``factor`` times finer (float32).

    Every low-res sample is splatted at its true sub-pixel position on the fine grid with bilinear
    weights; fine cells are the weighted mean of the samples they received. Cells that no sample
    reached are filled by normalised convolution (Gaussian-weighted mean of the samples around,
    widened until every cell is covered). Finally the blur of the sensor-pixel box (``factor ×
    factor`` fine pixels) and of the bilinear splat is mildly undone with a Wiener filter.

    Parameters
    ----------
    frames : ndarray, shape (n, H, W)
        Low-res intensities.
    shifts : ndarray, shape (n, 2)
        ``(dy, dx)`` per frame in low-res pixels (see module docstring for the convention).
    factor : int
        Super-resolution factor (3 for a 1.12 µm sensor → 0.373 µm).
    deconvolve : float, optional
        Wiener regularisation relative to the box's peak response (0 disables deconvolution;
        larger is milder).

    Returns
    -------
    ndarray, float32, shape (H·factor, W·factor)
    """
    arr = _frames(frames)
    shifts = _checks.finite_array("shifts", shifts, ndim=2, complex_ok=False, min_size=1)
    if shifts.shape != (arr.shape[0], 2):
        raise ValueError(f"shifts must have shape ({arr.shape[0]}, 2), got {shifts.shape}")
    factor = _factor(factor)
    if not np.isfinite(deconvolve) or deconvolve < 0:
        raise ValueError(f"deconvolve must be >= 0, got {deconvolve!r}")
    _, h, w = arr.shape
    fh, fw = h * factor, w * factor
    centre = (factor - 1) / 2
    # Every frame's samples at once, (n, H, W) raveled: one splat per bilinear corner.
    n = arr.shape[0]
    iy = np.arange(h, dtype=np.float64)[None, :, None]
    ix = np.arange(w, dtype=np.float64)[None, None, :]
    ys = np.broadcast_to(factor * (iy - shifts[:, 0, None, None]) + centre, (n, h, w)).ravel()
    xs = np.broadcast_to(factor * (ix - shifts[:, 1, None, None]) + centre, (n, h, w)).ravel()
    values = arr.astype(np.float64).ravel()
    y0, x0 = np.floor(ys), np.floor(xs)
    ty, tx = ys - y0, xs - x0
    y0, x0 = y0.astype(np.intp), x0.astype(np.intp)
    # Splat onto a grid with a border wide enough for every corner, then crop: no sample needs a
    # bounds test (those outside the image land on the border, which is dropped), and each cell
    # sums the same samples in the same order as it would on the image itself.
    (py0, py1), (px0, px1) = (
        (max(0, -int(lo.min())), max(0, int(lo.max()) + 2 - n_fine))
        for lo, n_fine in ((y0, fh), (x0, fw))
    )
    gh, gw = fh + py0 + py1, fw + px0 + px1
    base = (y0 + py0) * gw + (x0 + px0)
    total = np.zeros(gh * gw)
    weight = np.zeros(gh * gw)
    for oy, wy in ((0, 1 - ty), (1, ty)):
        for ox, wx in ((0, 1 - tx), (1, tx)):
            idx = base + (oy * gw + ox)
            wgt = wy * wx
            total += np.bincount(idx, weights=wgt * values, minlength=gh * gw)
            weight += np.bincount(idx, weights=wgt, minlength=gh * gw)
    total = total.reshape(gh, gw)[py0 : py0 + fh, px0 : px0 + fw]
    weight = weight.reshape(gh, gw)[py0 : py0 + fh, px0 : px0 + fw]
    image = _normalised_fill(total, weight)
    if deconvolve > 0:
        image = _wiener_box(image, factor, deconvolve)
    return image.astype(np.float32)


def _normalised_fill(total: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Weighted mean where samples landed; normalised convolution where too few did."""
    image = np.zeros_like(total)
    covered = weight > 1e-3
    image[covered] = total[covered] / weight[covered]
    todo = ~covered
    sigma = 1.0
    while todo.any():
        num = ndimage.gaussian_filter(total, sigma, mode="nearest")
        den = ndimage.gaussian_filter(weight, sigma, mode="nearest")
        ok = todo & (den > 1e-3)
        image[ok] = num[ok] / den[ok]
        todo &= ~ok
        sigma *= 2
        if sigma > max(total.shape):
            image[todo] = total.sum() / max(weight.sum(), 1e-12)
            break
    return image


def _wiener_box(image: np.ndarray, factor: int, regularisation: float) -> np.ndarray:
    """Partially undo the ``factor``-pixel box (sensor pixel) blur with a Wiener filter."""
    mean = image.mean()
    # Reflect-pad so the periodic FFT sees no jump at the border.
    pad = 4 * factor
    padded = np.pad(image - mean, pad, mode="reflect")
    fy = np.fft.fftfreq(padded.shape[0])[:, None]
    fx = np.fft.fftfreq(padded.shape[1])[None, :]
    # Box of `factor` fine pixels (sensor pixel), times the triangle of the bilinear splat.
    box = (np.sinc(factor * fy) / np.sinc(fy)) * (np.sinc(factor * fx) / np.sinc(fx))
    tent = np.sinc(fy) ** 2 * np.sinc(fx) ** 2
    blur = box * tent
    gain = blur / (blur**2 + regularisation)
    gain *= 1 + regularisation  # unit response at zero frequency
    out = np.fft.ifft2(np.fft.fft2(padded) * gain).real
    return out[pad:-pad, pad:-pad] + mean


def super_resolve(frames: np.ndarray, factor: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel super-resolution of one scan: estimate the shifts, then shift-and-add.

    Parameters
    ----------
    frames : ndarray, shape (n, H, W)
        Low-res frames of a sub-pixel scan (36 for the 6×6 scan).
    factor : int
        Super-resolution factor.

    Returns
    -------
    hologram : ndarray, float32, shape (H·factor, W·factor)
    shifts : ndarray, float64, shape (n, 2)
        Estimated ``(dy, dx)`` per frame in low-res pixels.
    """
    shifts = estimate_shifts(frames)
    return shift_and_add(frames, shifts, factor), shifts
