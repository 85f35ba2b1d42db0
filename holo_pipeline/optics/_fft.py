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
    """Smallest length >= ``n`` whose only prime factors are 2, 3 and 5.

    ``scipy.fft.next_fast_len`` also allows 7 and 11, which pocketfft handles but more slowly:
    2-D complex64 transforms of 990² (2·3²·5·11) took ~1.2× those of 1000² (2³·5³) here
    (``benchmarks/optics.py --fft-backends``).
    """
    n = max(int(n), 1)
    best = 1 << (n - 1).bit_length()  # the next power of two bounds the search
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            # Smallest power of two taking p35 to >= n.
            m = p35
            while m < n:
                m *= 2
            best = min(best, m)
            p35 *= 3
        p5 *= 5
    return best


def fftfreq(n: int, d: float) -> np.ndarray:
    """Sample frequencies (cycles per metre) of an ``n``-point FFT with spacing ``d`` metres."""
    return np.fft.fftfreq(n, d=d)


def backend_name() -> str:
    """Name of the FFT implementation ``scipy.fft`` dispatches to here (for benchmarks and logs).

    The optics call ``scipy.fft``'s own functions, so its default backend, pocketfft, serves them
    unless a caller installs another with ``scipy.fft.set_backend``. pyFFTW's and mkl_fft's
    ``scipy.fft`` backends were measured against it on the padded sizes the pipeline uses
    (``benchmarks/optics.py --fft-backends``, complex64, 1 worker, CPU time): on the demo's
    800² and 1000² grids pocketfft was fastest (pyFFTW within 10 %, mkl_fft ~2× slower); on the
    paper's 2304²/2880² mkl_fft was 1.5–1.8× faster, but its ``scipy.fft`` interface needs the
    ``mkl`` runtime package besides ``mkl_fft``. pocketfft stays: no dependency, fastest where
    the demo runs.
    """
    return "scipy.fft (pocketfft)"
