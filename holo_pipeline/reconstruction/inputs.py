"""The network's input for a whole FOV, built exactly as its training inputs were.

Training inputs (:func:`holo_pipeline.datasets.processing.extract_patches`) are every height's
amplitude back-propagated with zero phase by the FOV's mean height z̄2 (background 1, carrier phase
removed), real/imag on the last axis; training draws Mt of a FOV's heights at random and feeds
them in ascending z2 (:func:`holo_pipeline.datasets.tf_data.plan_epoch`). A reconstruction must
be deterministic, so it takes the Mt heights spread evenly over the z2-sorted stack, the lowest and
highest always included for Mt ≥ 2, in ascending z2 — the rule the evaluation tables are scored
with (:func:`holo_pipeline.evaluation.evaluate.evaluation_heights`), so a production model's test
ECC is the figure for exactly this input. z̄2 is the mean of *all* the FOV's heights, as in
training; for a slide that recorded only Mt heights it is their mean.
"""

from __future__ import annotations

import numpy as np

from holo_pipeline import optics
from holo_pipeline.datasets.processing import back_propagate


def select_heights(z2: np.ndarray, n_holograms: int) -> np.ndarray:
    """Indices of the ``n_holograms`` heights fed to the network: evenly spread in z2, ascending.

    Parameters
    ----------
    z2
        ``(n_heights,)`` heights of one FOV (metres), in height-index order.
    n_holograms
        Mt, the number of holograms the model takes.

    Raises
    ------
    ValueError
        If the FOV has fewer than ``n_holograms`` heights.

    Examples
    --------
    >>> select_heights(np.array([5.0, 4.0, 6.0, 4.5]), 2)
    array([1, 2])
    """
    z = np.asarray(z2, dtype=np.float64)
    if z.ndim != 1:
        raise ValueError(f"z2 must be (n_heights,), got {z.shape}")
    n = z.size
    if not 1 <= n_holograms <= n:
        raise ValueError(f"the model takes {n_holograms} holograms but the FOV has {n} height(s)")
    order = np.argsort(z, kind="stable")
    return order[np.round(np.linspace(0, n - 1, n_holograms)).astype(int)]


def network_inputs(
    holograms: np.ndarray,
    z2: np.ndarray,
    n_holograms: int,
    *,
    wavelength: float,
    pixel_size: float,
) -> np.ndarray:
    """Network input ``(Mt, H, W, 2)`` float32 of one FOV (see the module docstring).

    Parameters
    ----------
    holograms
        ``(n_heights, H, W)`` normalised, registered super-resolved intensities.
    z2
        ``(n_heights,)`` their heights (metres): the MH-PR store's where it exists, else autofocus.
    n_holograms
        Mt.
    wavelength, pixel_size
        Metres; ``pixel_size`` of the super-resolved grid.
    """
    stack = np.asarray(holograms, dtype=np.float32)
    z = np.asarray(z2, dtype=np.float64)
    if stack.ndim != 3 or z.shape != (stack.shape[0],):
        raise ValueError(
            f"holograms must be (n_heights, H, W) with one z2 per height, got {stack.shape} and "
            f"{z.shape}"
        )
    if not np.all(np.isfinite(z)) or not np.all(np.isfinite(stack)):
        raise ValueError("holograms and z2 must be finite")
    chosen = select_heights(z, n_holograms)
    z_mean = float(np.mean(z))
    propagator = optics.Propagator(stack.shape[1:], wavelength=wavelength, pixel_size=pixel_size)
    back = np.stack([back_propagate(propagator, stack[h], z_mean) for h in chosen])
    return np.stack([back.real, back.imag], axis=-1).astype(np.float32)
