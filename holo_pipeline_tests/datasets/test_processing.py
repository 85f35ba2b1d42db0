import numpy as np
import pytest
from scipy import ndimage

from holo_pipeline import optics
from holo_pipeline.datasets.processing import (
    consistent_heights,
    extract_patches,
    normalize_background,
    patch_origins,
    register_heights,
)

WAVELENGTH, PIXEL = 530e-9, 0.3733e-6


def test_normalize_background_brings_a_tilted_background_to_one():
    _, x = np.mgrid[:64, :64]
    illumination = 800.0 * (1 + 0.3 * x / 64)
    out = normalize_background(illumination)
    assert out.dtype == np.float32
    assert np.abs(out[16:48, 16:48] - 1).max() < 0.05


def test_patch_origins_tile_without_overlap_and_centre_the_grid():
    origins = patch_origins((100, 70), 32)
    assert origins.tolist() == [[2, 3], [2, 35], [34, 3], [34, 35], [66, 3], [66, 35]]
    assert patch_origins((20, 20), 32).shape == (0, 2)
    with pytest.raises(ValueError):
        patch_origins((20, 20), 0)


def test_register_heights_removes_a_known_lateral_shift():
    # a few absorbing, phase-shifting cells on clear glass, recorded at two heights
    y, x = np.mgrid[:128, :128]
    sample = np.ones((128, 128), np.complex64)
    for cy, cx in ((40, 50), (80, 90), (70, 30), (100, 60)):
        cell = np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / 20.0)
        sample *= np.exp(-0.5 * cell + 1j * cell).astype(np.complex64)
    z2 = np.array([100e-6, 120e-6])
    holograms = np.stack(
        [
            np.abs(optics.propagate(sample, z, wavelength=WAVELENGTH, pixel_size=PIXEL)) ** 2
            for z in z2
        ]
    )
    shifted = holograms.copy()
    shifted[1] = np.real(np.fft.ifft2(ndimage.fourier_shift(np.fft.fft2(holograms[1]), (3, -2))))
    registered, shifts = register_heights(shifted, z2, wavelength=WAVELENGTH, pixel_size=PIXEL)
    np.testing.assert_allclose(shifts[1], [3, -2], atol=0.25)
    np.testing.assert_allclose(registered[1], holograms[1], atol=0.05 * holograms.max())


def test_extract_patches_shapes_and_target_is_the_field():
    holograms = np.ones((8, 64, 64), np.float32)
    field = (np.arange(64 * 64).reshape(64, 64) * (1 + 1j)).astype(np.complex64)
    z2 = np.linspace(400e-6, 540e-6, 8)
    patches = extract_patches(
        holograms, z2, field, patch_size=32, wavelength=WAVELENGTH, pixel_size=PIXEL
    )
    assert patches.inputs.shape == (4, 8, 32, 32, 2) and patches.inputs.dtype == np.float32
    assert patches.target.shape == (4, 32, 32, 2)
    y, x = patches.origin[3]
    np.testing.assert_array_equal(patches.target[3, ..., 0], field.real[y : y + 32, x : x + 32])
    # a uniform hologram back-propagates to a uniform unit amplitude
    amplitude = np.hypot(patches.inputs[..., 0], patches.inputs[..., 1])
    np.testing.assert_allclose(amplitude, 1.0, atol=1e-3)


def test_consistent_heights_flags_the_height_that_left_the_others():
    nominal = np.linspace(400e-6, 540e-6, 8)
    offset = 3e-6 + np.array([0.5, -1.0, 0.8, -21.0, 0.2, -0.4, 1.1, 0.0]) * 1e-6
    z2, outlier = consistent_heights(nominal + offset, nominal)
    assert outlier.tolist() == [False, False, False, True, False, False, False, False]
    median = np.median(offset)
    assert z2[3] == pytest.approx(nominal[3] + median)
    np.testing.assert_array_equal(np.delete(z2, 3), np.delete(nominal + offset, 3))
    assert not consistent_heights(nominal + 3e-6, nominal)[1].any()
