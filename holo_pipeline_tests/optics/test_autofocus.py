"""Autofocus by edge sparsity on random tissue-like phantoms."""

from __future__ import annotations

import numpy as np
import pytest

from holo_pipeline.optics import Propagator, autofocus, tamura_of_gradient
from holo_validation.phantoms import blob_sample, hologram

WAVELENGTH = 530e-9
# Holograms at the sensor pitch: a 256 px window is then 287 µm wide, wide enough an aperture
# for a sharp focus criterion (see the report on window size).
PIXEL = 1.12e-6
N = 256


def test_autofocus_on_16_phantoms_within_1um_median_2um_max() -> None:
    errors, counts = [], []
    for seed in range(16):
        rng = np.random.default_rng(100 + seed)
        sample = blob_sample((N, N), pixel_size=PIXEL, rng=rng)
        z2 = rng.uniform(350e-6, 650e-6)
        intensity = hologram(sample, z2, wavelength=WAVELENGTH, pixel_size=PIXEL)
        intensity = np.clip(intensity + 0.01 * rng.normal(size=intensity.shape), 0, None)
        prop = Propagator((N, N), wavelength=WAVELENGTH, pixel_size=PIXEL, cache_size=40)
        found = autofocus(
            intensity,
            wavelength=WAVELENGTH,
            pixel_size=PIXEL,
            z_min=340e-6,
            z_max=660e-6,
            propagator=prop,
        )
        errors.append(abs(found - z2))
        counts.append(prop.n_propagations)
    errors_um = np.array(errors) * 1e6
    print(
        f"median {np.median(errors_um):.2f} µm, max {errors_um.max():.2f} µm, {max(counts)} props"
    )
    assert np.median(errors_um) <= 1.0
    assert errors_um.max() <= 2.0
    assert max(counts) <= 60


def test_tamura_prefers_focused_field() -> None:
    rng = np.random.default_rng(7)
    sample = blob_sample((128, 128), pixel_size=PIXEL, rng=rng)
    blurred = Propagator((128, 128), wavelength=WAVELENGTH, pixel_size=PIXEL).propagate(
        sample, 200e-6, background=1.0
    )
    assert tamura_of_gradient(sample) > tamura_of_gradient(blurred)
    assert tamura_of_gradient(np.ones((16, 16))) == 0.0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"z_min": 600e-6, "z_max": 400e-6}, "z_min < z_max"),
        ({"z_min": 500e-6, "z_max": 500e-6}, "z_min < z_max"),
        ({"z_min": -1e-6}, "z_min"),
        ({"wavelength": 0}, "wavelength"),
        ({"pixel_size": -1}, "pixel_size"),
    ],
)
def test_autofocus_validation(kwargs: dict, match: str) -> None:
    params = {
        "wavelength": WAVELENGTH,
        "pixel_size": PIXEL,
        "z_min": 400e-6,
        "z_max": 600e-6,
    } | kwargs
    with pytest.raises(ValueError, match=match):
        autofocus(np.ones((32, 32)), **params)


def test_autofocus_rejects_bad_holograms() -> None:
    kw = {"wavelength": WAVELENGTH, "pixel_size": PIXEL, "z_min": 4e-4, "z_max": 6e-4}
    with pytest.raises(ValueError, match=r"hologram must be a \(H, W\)"):
        autofocus(np.ones((2, 32, 32)), **kw)
    bad = np.ones((32, 32))
    bad[3, 3] = np.nan
    with pytest.raises(ValueError, match="hologram must contain only finite"):
        autofocus(bad, **kw)


# The super-resolved grid the pipeline autofocuses: a 528² FOV at 1.12 µm / 3 (197 µm).
SR_PIXEL = 0.3733e-6
SR_N = 528


@pytest.mark.slow
def test_autofocus_on_16_super_resolved_phantoms_within_1um_median_2um_max() -> None:
    errors, counts = [], []
    prop = Propagator((SR_N, SR_N), wavelength=WAVELENGTH, pixel_size=SR_PIXEL, cache_size=0)
    big = SR_N + 2 * 128
    for seed in range(16):
        rng = np.random.default_rng(500 + seed)
        # The sample extends beyond the FOV: objects outside it cast fringes into the window.
        sample = blob_sample((big, big), pixel_size=SR_PIXEL, rng=rng)
        z2 = rng.uniform(400e-6, 600e-6)
        intensity = hologram(sample, z2, wavelength=WAVELENGTH, pixel_size=SR_PIXEL)
        intensity = intensity[128:-128, 128:-128]
        intensity = np.clip(intensity + 0.01 * rng.normal(size=intensity.shape), 0, None)
        # The pipeline searches nominal ± 25 µm; the nominal stage height is off by up to 20 µm.
        nominal = z2 + rng.uniform(-20e-6, 20e-6)
        before = prop.n_propagations
        found = autofocus(
            intensity,
            wavelength=WAVELENGTH,
            pixel_size=SR_PIXEL,
            z_min=nominal - 25e-6,
            z_max=nominal + 25e-6,
            propagator=prop,
        )
        errors.append(abs(found - z2))
        counts.append(prop.n_propagations - before)
    errors_um = np.array(errors) * 1e6
    print(
        f"median {np.median(errors_um):.2f} µm, max {errors_um.max():.2f} µm, {max(counts)} props"
    )
    assert np.median(errors_um) <= 1.0
    assert errors_um.max() <= 2.0
    assert max(counts) <= 60
