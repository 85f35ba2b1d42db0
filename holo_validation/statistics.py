"""Summary statistics of a complex sample field, to tell tissue types apart.

Used to show that the five phantoms differ (tests, benchmark); also handy for checking a real
dataset's ground truth against the simulator's.
"""

from __future__ import annotations

import numpy as np

__all__ = ["FIELD_STATISTICS", "field_statistics"]

#: Names of the values returned by :func:`field_statistics`, in order.
FIELD_STATISTICS = (
    "phase_mean",
    "phase_std",
    "coverage",
    "absorbance_mean",
    "spectral_slope",
    "correlation_um",
)


def field_statistics(field: np.ndarray, *, pixel_size: float) -> dict[str, float]:
    """Phase, amplitude and texture statistics of a complex transmission.

    Parameters
    ----------
    field : ndarray, complex, shape (H, W)
        Transmission, clear glass = 1.
    pixel_size : float
        Grid pitch (m).

    Returns
    -------
    dict
        ``phase_mean``, ``phase_std`` (rad, of the phase relative to the background);
        ``coverage`` (fraction of pixels with |t − 1| > 0.1); ``absorbance_mean`` (mean of
        −ln |t|); ``spectral_slope`` (log-log slope of the radially averaged power spectrum of
        ``t − mean`` between 0.02 and 0.5 cycles/µm); ``correlation_um`` (distance at which the
        autocorrelation of ``t − mean`` falls to 1/e).
    """
    t = np.asarray(field, np.complex128)
    phase = np.angle(t)
    amp = np.abs(t)
    u = t - t.mean()
    power = np.abs(np.fft.fft2(u)) ** 2
    h, w = t.shape
    fy = np.fft.fftfreq(h, pixel_size * 1e6)[:, None]
    fx = np.fft.fftfreq(w, pixel_size * 1e6)[None, :]
    fr = np.sqrt(fy**2 + fx**2)
    edges = np.geomspace(0.02, 0.5, 13)
    idx = np.digitize(fr.ravel(), edges)
    centres, levels = [], []
    for b in range(1, len(edges)):
        sel = idx == b
        if sel.any():
            centres.append(np.sqrt(edges[b - 1] * edges[b]))
            levels.append(power.ravel()[sel].mean())
    slope = float(np.polyfit(np.log(centres), np.log(np.asarray(levels) + 1e-30), 1)[0])
    acf = np.fft.ifft2(power).real
    acf /= acf[0, 0]
    radial = np.minimum(acf[0, : w // 2], acf[: h // 2, 0])
    below = np.flatnonzero(radial < np.exp(-1))
    corr = float(below[0] if below.size else w // 2) * pixel_size * 1e6
    return {
        "phase_mean": float(phase.mean()),
        "phase_std": float(phase.std()),
        "coverage": float(np.mean(np.abs(t - 1) > 0.1)),
        "absorbance_mean": float(np.mean(-np.log(np.clip(amp, 1e-6, None)))),
        "spectral_slope": slope,
        "correlation_um": corr,
    }
