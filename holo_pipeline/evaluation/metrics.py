"""Image-quality metrics for reconstructed holographic fields (NumPy only).

Definitions follow Huang et al., APL Photonics 7, 070801 (2022): amplitude RMSE, the envelope
correlation coefficient (ECC) on the complex field, MAE, and MS-SSIM (Wang, Simoncelli & Bovik,
"Multiscale structural similarity for image quality assessment", 2003) with the standard 11-tap,
σ = 1.5 Gaussian window and five scales. ``ms_ssim`` reproduces ``tf.image.ssim_multiscale``
(valid filtering, 2×2 average pooling with symmetric padding of odd sizes, ReLU of each term) so
that the numbers match the training loss.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from holo_pipeline.model.ssim_constants import (
    MS_SSIM_WEIGHTS,
    SSIM_FILTER_SIGMA,
    SSIM_FILTER_SIZE,
    SSIM_K1,
    SSIM_K2,
)


def _pair(x: ArrayLike, y: ArrayLike, *, allow_complex: bool = True) -> tuple[np.ndarray, ...]:
    """Validate two arrays of equal shape with finite values and return them as float/complex."""
    arrays = []
    for name, value in (("x", x), ("y", y)):
        a = np.asarray(value)
        if a.size == 0:
            raise ValueError(f"{name} must not be empty, got shape {a.shape}")
        if np.iscomplexobj(a):
            if not allow_complex:
                raise ValueError(f"{name} must be real, got dtype {a.dtype}")
            a = a.astype(np.complex128, copy=False)
        elif np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_:
            a = a.astype(np.float64, copy=False)
        else:
            raise ValueError(f"{name} must be numeric, got dtype {a.dtype}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name} contains NaN or infinite values")
        arrays.append(a)
    if arrays[0].shape != arrays[1].shape:
        raise ValueError(
            f"x and y must have the same shape, got {arrays[0].shape} and {arrays[1].shape}"
        )
    return tuple(arrays)


def rmse(x: ArrayLike, y: ArrayLike) -> float:
    """Root-mean-square error ``sqrt(mean(|x − y|²))``.

    Parameters
    ----------
    x, y : array_like
        Real or complex arrays of equal shape (for complex input the modulus of the difference is
        used). The paper reports it on the amplitude ``|field|``.

    Returns
    -------
    float
    """
    a, b = _pair(x, y)
    return float(np.sqrt(np.mean(np.abs(a - b) ** 2)))


def mae(x: ArrayLike, y: ArrayLike) -> float:
    """Mean absolute error ``mean(|x − y|)`` of two real or complex arrays of equal shape."""
    a, b = _pair(x, y)
    return float(np.mean(np.abs(a - b)))


def ecc(x: ArrayLike, y: ArrayLike) -> float:
    """Envelope correlation coefficient of two complex fields.

    ``ECC = Re{Σ x*·y} / sqrt(Σ|x|² · Σ|y|²)``; 1 for identical fields, −1 for ``y = −x``, and
    sensitive to both amplitude and phase.

    Parameters
    ----------
    x, y : array_like
        Complex (or real) fields of equal shape.

    Returns
    -------
    float
        In [−1, 1].

    Raises
    ------
    ValueError
        If the shapes differ, a value is not finite, or a field is identically zero.
    """
    a, b = _pair(x, y)
    ex = float(np.sum(np.abs(a) ** 2))
    ey = float(np.sum(np.abs(b) ** 2))
    if ex == 0.0:
        raise ValueError("x is identically zero; ECC is undefined")
    if ey == 0.0:
        raise ValueError("y is identically zero; ECC is undefined")
    return float(np.real(np.vdot(a, b)) / np.sqrt(ex * ey))


def phase_rmse(x: ArrayLike, y: ArrayLike) -> float:
    """Wrap-aware RMSE of the phases of two complex fields, in radians.

    The phase difference is taken as ``angle(x · conj(y))`` so that it lies in (−π, π]: phases of
    ``π − ε`` and ``−π + ε`` differ by ``2ε``, not ``2π − 2ε``.
    """
    a, b = _pair(x, y)
    return float(np.sqrt(np.mean(np.angle(a * np.conj(b)) ** 2)))


def _gaussian_window(size: int, sigma: float) -> np.ndarray:
    coords = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-0.5 * coords**2 / sigma**2)
    return g / g.sum()


def _filter_valid(image: np.ndarray, window: np.ndarray) -> np.ndarray:
    """Separable 'valid' filtering of the last two axes with the 1-D ``window``."""
    n = window.size
    rows = np.lib.stride_tricks.sliding_window_view(image, n, axis=-2) @ window
    return np.lib.stride_tricks.sliding_window_view(rows, n, axis=-1) @ window


def _ssim_terms(
    x: np.ndarray, y: np.ndarray, window: np.ndarray, c1: float, c2: float
) -> tuple[float, float]:
    """Return (mean SSIM, mean contrast-structure) of two images at one scale."""
    mu_x = _filter_valid(x, window)
    mu_y = _filter_valid(y, window)
    num0 = 2.0 * mu_x * mu_y
    den0 = mu_x**2 + mu_y**2
    luminance = (num0 + c1) / (den0 + c1)
    num1 = 2.0 * _filter_valid(x * y, window)
    den1 = _filter_valid(x * x + y * y, window)
    cs = (num1 - num0 + c2) / (den1 - den0 + c2)
    return float(np.mean(luminance * cs)), float(np.mean(cs))


def _downsample(image: np.ndarray) -> np.ndarray:
    """2×2 average pooling; an odd size is first padded by repeating the last row/column."""
    h, w = image.shape
    image = np.pad(image, ((0, h % 2), (0, w % 2)), mode="symmetric")
    h, w = image.shape
    return image.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))


def min_size_for_scales(scales: int) -> int:
    """Smallest image side for which :func:`ms_ssim` with ``scales`` scales is defined."""
    return SSIM_FILTER_SIZE * 2 ** (scales - 1) - (2 ** (scales - 1) - 1)


def max_scales(shape: tuple[int, ...], limit: int = len(MS_SSIM_WEIGHTS)) -> int:
    """Largest number of MS-SSIM scales (≤ ``limit``) an image of ``shape`` supports (0 if none)."""
    side = min(shape[-2:])
    return max((s for s in range(1, limit + 1) if side >= min_size_for_scales(s)), default=0)


def ms_ssim(x: ArrayLike, y: ArrayLike, *, max_val: float, scales: int = 5) -> float:
    """Multi-scale structural similarity of two real images.

    Standard definition (Wang et al. 2003): at scales 1 … M−1 the contrast-structure term, at
    scale M the full SSIM, combined as a weighted geometric mean with weights 0.0448, 0.2856,
    0.3001, 0.2363, 0.1333 (renormalised to sum to 1 when ``scales < 5``); Gaussian window of
    11 taps and σ = 1.5, ``C1 = (0.01·L)²``, ``C2 = (0.03·L)²``; each term clipped at 0 as in
    ``tf.image.ssim_multiscale``.

    Parameters
    ----------
    x, y : array_like
        Real 2-D images ``(H, W)`` of equal shape.
    max_val : float
        Dynamic range ``L`` of the images (e.g. 1.0 for amplitudes in [0, 1]).
    scales : int
        Number of scales M, 1 … 5. Each side must be at least 11 pixels at the coarsest scale
        (161 pixels for M = 5).

    Returns
    -------
    float
        In [0, 1]; 1 for identical images.
    """
    a, b = _pair(x, y, allow_complex=False)
    if a.ndim != 2:
        raise ValueError(f"x and y must be 2-D images (H, W), got shape {a.shape}")
    if not np.isfinite(max_val) or max_val <= 0:
        raise ValueError(f"max_val must be a positive finite number, got {max_val!r}")
    if not 1 <= int(scales) <= len(MS_SSIM_WEIGHTS) or int(scales) != scales:
        raise ValueError(f"scales must be an integer in 1..{len(MS_SSIM_WEIGHTS)}, got {scales!r}")
    scales = int(scales)
    need = min_size_for_scales(scales)
    if min(a.shape) < need:
        raise ValueError(
            f"x and y must be at least {need}×{need} pixels for scales={scales}, got {a.shape}"
        )
    weights = np.asarray(MS_SSIM_WEIGHTS[:scales])
    if scales < len(MS_SSIM_WEIGHTS):
        weights = weights / weights.sum()
    window = _gaussian_window(SSIM_FILTER_SIZE, SSIM_FILTER_SIGMA)
    c1 = (SSIM_K1 * max_val) ** 2
    c2 = (SSIM_K2 * max_val) ** 2
    terms = []
    for k in range(scales):
        if k > 0:
            a, b = _downsample(a), _downsample(b)
        ssim_k, cs_k = _ssim_terms(a, b, window, c1, c2)
        terms.append(max(ssim_k if k == scales - 1 else cs_k, 0.0))
    return float(np.prod(np.power(np.asarray(terms), weights)))
