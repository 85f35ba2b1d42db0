"""The one place where optics FFTs are configured: the backend (``scipy.fft``) and its workers.

``HOLO_FFT_WORKERS`` sets the number of threads per transform (default ``-1``: all cores, as
``scipy.fft`` understands it). Set it to ``1`` when several Dask workers share a machine so that the
transforms do not oversubscribe the cores.
"""

from __future__ import annotations

import os

import numpy as np
import scipy.fft

FFT_WORKERS_ENV = "HOLO_FFT_WORKERS"


def fft_workers() -> int:
    """Return the ``workers`` argument passed to every ``scipy.fft`` call in this package."""
    raw = os.environ.get(FFT_WORKERS_ENV, "-1").strip()
    try:
        workers = int(raw)
    except ValueError:
        raise ValueError(f"{FFT_WORKERS_ENV} must be an integer, got {raw!r}") from None
    if workers == 0:
        raise ValueError(f"{FFT_WORKERS_ENV} must be non-zero (-1 for all cores), got 0")
    return workers


def fft2(x: np.ndarray, *, overwrite_x: bool = False) -> np.ndarray:
    """Forward 2-D FFT over the last two axes (dtype preserved: complex64 stays complex64)."""
    return scipy.fft.fft2(x, overwrite_x=overwrite_x, workers=fft_workers())


def ifft2(x: np.ndarray, *, overwrite_x: bool = False) -> np.ndarray:
    """Inverse 2-D FFT over the last two axes (dtype preserved)."""
    return scipy.fft.ifft2(x, overwrite_x=overwrite_x, workers=fft_workers())


def next_fast_len(n: int) -> int:
    """Smallest length >= ``n`` that ``scipy.fft`` transforms quickly (complex input)."""
    return int(scipy.fft.next_fast_len(int(n), real=False))


def fftfreq(n: int, d: float) -> np.ndarray:
    """Sample frequencies (cycles per metre) of an ``n``-point FFT with spacing ``d`` metres."""
    return np.fft.fftfreq(n, d=d)
