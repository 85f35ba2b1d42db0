"""The one place where optics FFTs are done: the backend, ``scipy.fft``.

Threads per transform are ``scipy.fft``'s own setting, not an argument of the optics functions:
every transform here uses the calling thread's ``scipy.fft.get_workers()`` (1 unless set). Set it
around the work with ``with scipy.fft.set_workers(n):`` (``-1``: all cores). The setting is
thread-local, so a pool of threads sets it inside each task:
:func:`holo_pipeline.datasets.compute.map_tasks` does, from the profile's ``fft_workers``.
"""

from __future__ import annotations

import numpy as np
import scipy.fft


def fft2(x: np.ndarray, *, overwrite_x: bool = False) -> np.ndarray:
    """Forward 2-D FFT over the last two axes (dtype preserved: complex64 stays complex64)."""
    return scipy.fft.fft2(x, overwrite_x=overwrite_x)


def ifft2(x: np.ndarray, *, overwrite_x: bool = False) -> np.ndarray:
    """Inverse 2-D FFT over the last two axes (dtype preserved)."""
    return scipy.fft.ifft2(x, overwrite_x=overwrite_x)


def next_fast_len(n: int) -> int:
    """Smallest length >= ``n`` that ``scipy.fft`` transforms quickly (complex input)."""
    return int(scipy.fft.next_fast_len(int(n), real=False))


def fftfreq(n: int, d: float) -> np.ndarray:
    """Sample frequencies (cycles per metre) of an ``n``-point FFT with spacing ``d`` metres."""
    return np.fft.fftfreq(n, d=d)
