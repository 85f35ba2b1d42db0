"""Acquisition physics of the virtual microscope, checked without phase retrieval."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage
from skimage.registration import phase_cross_correlation

from holo_pipeline.instrument.microscope import MicroscopeConfig, acquire_fov, draw_geometry
from holo_pipeline.instrument.tissues import patient_parameters, slide_parameters, tissue_phantom
from holo_pipeline.optics import estimate_shifts, super_resolve

CONFIG = MicroscopeConfig(frame_shape=(64, 64), margin_um=40.0, drift_px=2.0)


def _sample(tissue: str, rng: np.random.Generator, *, amplitude_only: bool = False) -> np.ndarray:
    params = slide_parameters(patient_parameters(tissue, rng), rng)
    field = tissue_phantom(
        tissue, CONFIG.sample_shape, pixel_size=CONFIG.sr_pixel_size_m, params=params, rng=rng
    )
    return np.abs(field).astype(np.complex64) if amplitude_only else field


def _normalised(frames: np.ndarray, config: MicroscopeConfig = CONFIG) -> np.ndarray:
    return (frames.astype(np.float32) - config.black_level_dn) / config.flat_field_dn


def test_contact_hologram_lands_on_the_truth_grid() -> None:
    """At z2 → 0 the SR hologram is |t|² on exactly the truth's grid (no offset, right scale)."""
    rng = np.random.default_rng(1)
    sample = _sample("salivary_gland", rng, amplitude_only=True)
    _, shifts = draw_geometry(CONFIG, np.arange(8) + 1.0, rng)
    acq = acquire_fov(sample, config=CONFIG, z2_m=np.arange(1, 9) * 1e-7, shifts=shifts, rng=rng)
    truth = np.abs(sample[CONFIG.fov_slice]) ** 2
    inner = (slice(24, -24), slice(24, -24))
    for h in (0, 5):  # height 5 is displaced by its drift, in SR pixels 3× the low-res drift
        hologram, _ = super_resolve(_normalised(acq.frames[h]), CONFIG.sr_factor)
        expected = CONFIG.sr_factor * (shifts[h, 0] - shifts[0, 0])
        moved = ndimage.shift(truth, expected, order=3, mode="nearest")
        found, _, _ = phase_cross_correlation(
            moved[inner], hologram[inner], upsample_factor=20, normalization=None
        )
        np.testing.assert_allclose(found, 0.0, atol=0.15)  # no residual offset
        assert np.corrcoef(moved[inner].ravel(), hologram[inner].ravel())[0, 1] > 0.97
    assert abs(float(np.mean(hologram)) - float(truth.mean())) < 0.03


@pytest.mark.parametrize("tissue", ["blood_smear", "pap_smear"])
def test_frames_follow_the_shift_convention(tissue: str) -> None:
    rng = np.random.default_rng(2)
    sample = _sample(tissue, rng)
    z2_m, shifts = draw_geometry(CONFIG, 450.0 + 20.0 * np.arange(8), rng)
    acq = acquire_fov(sample, config=CONFIG, z2_m=z2_m, shifts=shifts, rng=rng)
    assert acq.frames.shape == (8, 36, 64, 64) and acq.frames.dtype == np.uint16
    assert acq.saturated_fraction < 1e-3
    np.testing.assert_array_equal(acq.shifts[0, 0], [0.0, 0.0])
    for h in (0, 7):
        found = estimate_shifts(_normalised(acq.frames[h]))
        true = shifts[h] - shifts[h, 0]
        assert np.sqrt(np.mean(np.sum((found - true) ** 2, axis=1))) < 0.05


def test_noise_and_quantisation() -> None:
    """Clear glass: mean at the flat field, shot + read noise as configured, values in range."""
    config = MicroscopeConfig(frame_shape=(48, 48), margin_um=40.0, bit_depth=10)
    rng = np.random.default_rng(3)
    glass = np.ones(config.sample_shape, np.complex64)
    z2_m, shifts = draw_geometry(config, 450.0 + 20.0 * np.arange(8), rng)
    acq = acquire_fov(glass, config=config, z2_m=z2_m, shifts=shifts, rng=rng)
    assert acq.frames.max() < 2**10
    dn = acq.frames.astype(np.float64) - config.black_level_dn
    assert dn.mean() == pytest.approx(config.flat_field_dn, rel=0.01)
    electrons = config.flat_fraction * config.full_well_e
    expected_std = np.sqrt(electrons + config.read_noise_e**2) * config.gain_dn_per_e
    # quantisation adds 1/12 DN²
    assert dn.std() == pytest.approx(np.sqrt(expected_std**2 + 1 / 12), rel=0.05)


def test_rejects_mismatched_inputs() -> None:
    rng = np.random.default_rng(0)
    z2_m, shifts = draw_geometry(CONFIG, 450.0 + 20.0 * np.arange(8), rng)
    with pytest.raises(ValueError, match="sample must have shape"):
        acquire_fov(np.ones((10, 10)), config=CONFIG, z2_m=z2_m, shifts=shifts, rng=rng)
    with pytest.raises(ValueError, match="frame_shape"):
        MicroscopeConfig(frame_shape=(4, 4))
