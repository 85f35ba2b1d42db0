"""Pixel super-resolution: shift estimation accuracy and SR beating a single upsampled frame."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from holo_pipeline.optics import estimate_shifts, shift_and_add, super_resolve
from holo_validation.phantoms import blob_sample, hologram, pixel_scan

FACTOR = 3
PIXEL = 1.12e-6 / FACTOR


def _scan(seed: int, n: int = 192, noise: float = 0.01):
    rng = np.random.default_rng(seed)
    sample = blob_sample((n, n), pixel_size=PIXEL, rng=rng)
    truth = hologram(sample, rng.uniform(400e-6, 600e-6), wavelength=530e-9, pixel_size=PIXEL)
    grid = np.arange(6) / 6
    shifts = np.array([(a, b) for a in grid for b in grid]) + rng.uniform(-0.04, 0.04, (36, 2))
    shifts -= shifts[0]
    return truth, shifts, pixel_scan(truth, shifts, FACTOR, rng=rng, noise=noise)


def _rmse(a: np.ndarray, b: np.ndarray, border: int = 12) -> float:
    c = slice(border, -border)
    return float(np.sqrt(np.mean((a[c, c] - b[c, c]) ** 2)))


@pytest.mark.parametrize("seed", [0, 1])
def test_estimated_shifts_are_within_0_05_pixel(seed: int) -> None:
    _, shifts, frames = _scan(seed)
    found = estimate_shifts(frames)
    assert found.shape == (36, 2)
    rms = float(np.sqrt(np.mean((found - shifts) ** 2)))
    assert rms <= 0.05


def test_super_resolved_hologram_beats_best_single_frame() -> None:
    truth, shifts, frames = _scan(2)
    sr, found = super_resolve(frames, FACTOR)
    assert sr.shape == truth.shape and sr.dtype == np.float32
    assert np.sqrt(np.mean((found - shifts) ** 2)) <= 0.05
    sr_rmse = _rmse(sr, truth)
    single = []
    for frame, (dy, dx) in zip(frames, shifts, strict=True):
        up = ndimage.zoom(frame.astype(float), FACTOR, order=3, grid_mode=True, mode="grid-mirror")
        up = ndimage.shift(up, (-dy * FACTOR, -dx * FACTOR), order=3, mode="nearest")
        single.append(_rmse(up, truth))
    print(f"SR RMSE {sr_rmse:.5f}, best single frame {min(single):.5f}")
    assert sr_rmse <= 0.6 * min(single)


def test_shift_and_add_fills_cells_no_frame_hit() -> None:
    frames = np.ones((2, 16, 16), np.float32)
    out = shift_and_add(frames, np.zeros((2, 2)), 4)  # all samples on one sub-position
    assert out.shape == (64, 64)
    assert np.all(np.isfinite(out)) and np.allclose(out, 1.0, atol=1e-5)


def test_superres_validation() -> None:
    frames = np.ones((4, 16, 16))
    with pytest.raises(ValueError, match=r"frames must be a \(n, H, W\)"):
        estimate_shifts(np.ones((16, 16)))
    with pytest.raises(ValueError, match="shifts must have shape"):
        shift_and_add(frames, np.zeros((3, 2)), 3)
    with pytest.raises(ValueError, match="factor"):
        shift_and_add(frames, np.zeros((4, 2)), 0)
    bad = frames.copy()
    bad[1, 2, 3] = np.inf
    with pytest.raises(ValueError, match="frames must contain only finite"):
        super_resolve(bad, 3)
