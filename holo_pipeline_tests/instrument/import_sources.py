"""Test helper: small in-line holograms and the files a lab hands to ``holo-pipeline import``."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import scipy.io

from holo_pipeline import optics

WAVELENGTH_NM = 530.0
PITCH_UM = 0.5


def sample_field(shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    """A thin sample: a few absorbing, phase-shifting discs on clear glass (complex64)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    absorption = np.zeros(shape)
    phase = np.zeros(shape)
    for _ in range(12):
        cy, cx = rng.uniform(0.15, 0.85, 2) * shape
        r = rng.uniform(2.0, 6.0)
        disc = ((yy - cy) ** 2 + (xx - cx) ** 2) < r**2
        absorption += 0.3 * disc
        phase += rng.uniform(0.5, 1.5) * disc
    return (np.exp(-absorption) * np.exp(1j * phase)).astype(np.complex64)


def holograms(
    shape: tuple[int, int], z2_um: list[float], *, seed: int = 0, pitch_um: float = PITCH_UM
) -> np.ndarray:
    """Intensities ``(n, H, W)`` (background 1) of :func:`sample_field` at the heights ``z2_um``."""
    field = sample_field(shape, seed)
    prop = optics.Propagator(shape, wavelength=WAVELENGTH_NM * 1e-9, pixel_size=pitch_um * 1e-6)
    return np.stack(
        [np.abs(prop.propagate(field, z * 1e-6, background=1.0)) ** 2 for z in z2_um]
    ).astype(np.float64)


def write_mat_v5(path: Path, key: str, array: np.ndarray) -> Path:
    scipy.io.savemat(path, {key: array, "notes": np.array([1.0])})
    return path


def write_mat_v73(path: Path, key: str, array: np.ndarray) -> Path:
    """An HDF5 file laid out as MATLAB v7.3 writes one: arrays stored transposed (column-major),
    complex as a compound of ``real`` and ``imag``."""
    with h5py.File(path, "w") as f:
        data = np.ascontiguousarray(np.asarray(array).T)
        if np.iscomplexobj(data):
            compound = np.empty(data.shape, dtype=[("real", "<f8"), ("imag", "<f8")])
            compound["real"], compound["imag"] = data.real, data.imag
            data = compound
        f.create_dataset(key, data=data)
        f.create_dataset("other", data=np.zeros((2, 2)))
    return path
