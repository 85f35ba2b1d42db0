"""Multi-height phase retrieval against a known complex sample."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest

from holo_pipeline.optics import multi_height_phase_retrieval, propagate
from holo_validation.phantoms import blob_sample, hologram

WAVELENGTH = 530e-9
PIXEL = 0.3733e-6
N = 256


def _aligned(field: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """``field`` with the global phase that best matches ``truth`` removed."""
    g = np.vdot(field, truth)
    return field * (g / abs(g))


def _ecc(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.vdot(x, y).real / np.sqrt(np.vdot(x, x).real * np.vdot(y, y).real))


def _phase_rmse(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.angle(x * np.conj(y)) ** 2)))


def test_mhpr_recovers_a_known_sample_better_than_back_propagation() -> None:
    rng = np.random.default_rng(3)
    truth = blob_sample((N, N), pixel_size=PIXEL, rng=rng, max_phase=1.0)
    z2 = np.linspace(400e-6, 600e-6, 8)
    holograms = np.array([hologram(truth, z, wavelength=WAVELENGTH, pixel_size=PIXEL) for z in z2])
    holograms = np.clip(holograms + 0.01 * rng.normal(size=holograms.shape), 0, None)
    # Shuffled heights: the function sorts them itself.
    order = rng.permutation(8)
    result = multi_height_phase_retrieval(
        holograms[order], z2[order], wavelength=WAVELENGTH, pixel_size=PIXEL, iterations=20
    )
    assert result.field.shape == (N, N) and result.field.dtype == np.complex64
    single = 1 + propagate(
        np.sqrt(holograms[0]) - 1, -z2[0], wavelength=WAVELENGTH, pixel_size=PIXEL
    )
    inner = (slice(32, -32), slice(32, -32))  # fringes of objects at the border are cut off
    mhpr = _aligned(result.field, truth)[inner]
    back = _aligned(single, truth)[inner]
    ecc_mhpr, ecc_back = _ecc(mhpr, truth[inner]), _ecc(back, truth[inner])
    rmse_mhpr, rmse_back = _phase_rmse(mhpr, truth[inner]), _phase_rmse(back, truth[inner])
    print(
        f"ECC {ecc_mhpr:.4f} (single {ecc_back:.4f}); phase RMSE {rmse_mhpr:.3f} ({rmse_back:.3f})"
    )
    assert ecc_mhpr >= 0.99
    assert rmse_mhpr <= 0.8 * rmse_back
    res = result.residuals
    assert len(res) == 20
    assert res[9] < 0.7 * res[0]
    assert all(b <= a * 1.001 for a, b in itertools.pairwise(res[:10]))
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.residuals = []  # type: ignore[misc]


def test_mhpr_validation() -> None:
    stack = np.ones((3, 16, 16))
    kw = {"wavelength": WAVELENGTH, "pixel_size": PIXEL}
    with pytest.raises(ValueError, match=r"z2 must have shape \(3,\)"):
        multi_height_phase_retrieval(stack, [1e-4, 2e-4], **kw)
    with pytest.raises(ValueError, match="distinct"):
        multi_height_phase_retrieval(stack, [1e-4, 1e-4, 2e-4], **kw)
    with pytest.raises(ValueError, match=r"z2\[1\]"):
        multi_height_phase_retrieval(stack, [1e-4, -2e-4, 3e-4], **kw)
    with pytest.raises(ValueError, match="iterations"):
        multi_height_phase_retrieval(stack, [1e-4, 2e-4, 3e-4], iterations=0, **kw)
    with pytest.raises(ValueError, match="at least 2 heights"):
        multi_height_phase_retrieval(stack[:1], [1e-4], **kw)
    with pytest.raises(ValueError, match="intensities"):
        multi_height_phase_retrieval(-stack, [1e-4, 2e-4, 3e-4], **kw)
    z2 = [1e-4, 2e-4, 3e-4]
    with pytest.raises(ValueError, match="momentum must be in"):
        multi_height_phase_retrieval(stack, z2, momentum=1.0, **kw)
    with pytest.raises(ValueError, match="momentum_cutoff"):
        multi_height_phase_retrieval(stack, z2, momentum=0.5, momentum_cutoff=-1.0, **kw)


@pytest.mark.parametrize(
    "extra",
    [
        {"momentum": 0.95, "momentum_cutoff": 0.1e6},
        {"refocus_range": 5e-6, "max_amplitude": 1.0},
    ],
    ids=["momentum", "passive"],
)
def test_options_on_a_blank_field_change_nothing(extra: dict) -> None:
    """Clear glass: every sweep leaves the field at 1, so neither the momentum step nor the
    passive-sample clip has anything to act on."""
    stack = np.ones((3, 32, 32), np.float32)
    result = multi_height_phase_retrieval(
        stack,
        [1e-4, 1.2e-4, 1.4e-4],
        wavelength=WAVELENGTH,
        pixel_size=PIXEL,
        iterations=8,
        **extra,
    )
    np.testing.assert_allclose(result.field, 1.0, atol=1e-5)


def test_passive_sample_constraint_bounds_the_amplitude_and_helps_a_passive_sample() -> None:
    """An absorbing, phase-shifting sample (amplitude <= 1 everywhere): the constraint removes
    most of the retrieved amplitude above 1 and brings the retrieval closer to the truth. (Not
    all: the band-limited hops to and from the sample plane ring slightly.)"""
    rng = np.random.default_rng(5)
    truth = blob_sample((N, N), pixel_size=PIXEL, rng=rng, max_phase=3.0)
    z2 = np.linspace(400e-6, 600e-6, 8)
    holograms = np.array([hologram(truth, z, wavelength=WAVELENGTH, pixel_size=PIXEL) for z in z2])
    holograms = np.clip(holograms + 0.01 * rng.normal(size=holograms.shape), 0, None)
    kw = {"wavelength": WAVELENGTH, "pixel_size": PIXEL, "iterations": 20}
    free = multi_height_phase_retrieval(holograms, z2, **kw)
    passive = multi_height_phase_retrieval(holograms, z2, max_amplitude=1.0, **kw)
    inner = (slice(32, -32), slice(32, -32))
    ecc_free = _ecc(_aligned(free.field, truth)[inner], truth[inner])
    ecc_passive = _ecc(_aligned(passive.field, truth)[inner], truth[inner])
    print(f"ECC {ecc_passive:.4f} with the constraint, {ecc_free:.4f} without")
    excess_free, excess_passive = (
        float(np.maximum(np.abs(r.field[inner]) - 1.0, 0.0).mean()) for r in (free, passive)
    )
    print(f"mean amplitude above 1: {excess_passive:.2e} with, {excess_free:.2e} without")
    assert excess_passive < 0.3 * excess_free
    assert ecc_passive > ecc_free + 0.002
    with pytest.raises(ValueError, match="max_amplitude"):
        multi_height_phase_retrieval(holograms, z2, max_amplitude=-1.0, **kw)
