"""The virtual microscope agrees with the pipeline's physics: shifts, heights and MH-PR recover the
simulator's truth.

Fast test: a 128×128-frame FOV per tissue with the true heights (autofocus is the expensive part).
Slow test: the issue's acceptance on 256×256-frame FOVs, exactly the assets' per-FOV functions with
the demo profile's MH-PR settings.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from holo_pipeline.datasets.processing import refine_heights
from holo_pipeline.datasets.slides import super_resolve_task
from holo_pipeline.instrument import TISSUES, MicroscopeConfig, read_slide, simulate_slide
from holo_pipeline.instrument.simulate import read_truth
from holo_pipeline.profile import load_profile
from holo_validation.consistency import aligned_ecc, check_fov


def _simulate(root: Path, tissue: str, frame: int, seed: int = 2024) -> Path:
    return simulate_slide(
        root,
        tissue=tissue,
        slide_id=tissue.replace("_", "-"),
        patient_id="p1",
        n_fov=1,
        seed=seed,
        optics=MicroscopeConfig(frame_shape=(frame, frame)),
    )


@pytest.fixture(scope="module")
def mhpr():
    return load_profile("demo").processing.phase_retrieval()


@pytest.mark.parametrize("tissue", TISSUES)
def test_geometry_agrees_with_the_pipeline_on_a_small_fov(tmp_path: Path, tissue: str, mhpr):
    """128×128 frames (143 µm): too small a window for a faithful MH-PR at z2 ≈ 500 µm (light
    leaves it; registering the heights needs more, see the slow test), but enough to show that
    scan shifts and signs agree with the pipeline."""
    slide = _simulate(tmp_path, tissue, 128)
    report = check_fov(
        slide, "fov_000", dataclasses.replace(mhpr, iterations=10), true_heights=True
    )
    assert report.shift_rms_px.max() <= 0.05, report.shift_rms_px
    assert report.ecc > report.ecc_backpropagated, report  # MH-PR removes the twin image


def test_low_frequency_momentum_is_what_lifts_dense_tissue(tmp_path: Path, mhpr):
    """Prostate (stroma full of large-scale phase): with the profile's low-frequency momentum,
    15 sweeps must beat 30 plain ones."""
    slide = _simulate(tmp_path, "prostate", 160)
    fast = dataclasses.replace(mhpr, iterations=15)
    plain = dataclasses.replace(mhpr, iterations=30, momentum=0.0)
    with_momentum = check_fov(slide, "fov_000", fast, true_heights=True)
    without = check_fov(slide, "fov_000", plain, true_heights=True)
    assert with_momentum.ecc > without.ecc, (with_momentum.ecc, without.ecc)


def test_heights_refined_against_one_another(tmp_path: Path):
    """Lung, 160×160 frames, the true heights spoiled by ±1 µm alternately: refining every height
    against what the others predict restores their differences to within 0.6 µm."""
    path = _simulate(tmp_path, "lung", 160)
    slide, truth = read_slide(path), read_truth(path, "fov_000")
    holograms = super_resolve_task(str(path), "fov_000").holograms
    spoiled = truth.z2_m + np.array([1.0, -1.0] * 4) * 1e-6
    optics = {"wavelength": slide.wavelength_m, "pixel_size": slide.sr_pixel_size_m}
    error = refine_heights(holograms, spoiled, **optics) - truth.z2_m
    relative = error - error.mean()
    print("relative height errors after refinement (µm):", np.round(relative * 1e6, 2))
    assert np.abs(relative).max() <= 0.6e-6, relative
    with pytest.raises(ValueError, match="n >= 4"):
        refine_heights(holograms[:3], spoiled[:3], **optics)


# Measured on this Pap slide (sparse, large, flat cells): heights within 1.8 µm and ECC 0.969, but
# the registration between heights leaves 0.16-0.26 low-res px of drift (0.02-0.08 px on the
# benchmark's slides), so the field sits 1 SR px (0.37 µm) from the truth.
_PAP_DRIFT = "height registration leaves 0.16-0.26 low-res px of drift; field 1 SR px off"


@pytest.mark.slow
@pytest.mark.parametrize("tissue", TISSUES)
def test_full_reconstruction_with_autofocus(tmp_path: Path, tissue: str, mhpr):
    """The issue's acceptance: heights within 2 µm, shifts within 0.05 px RMS, ECC ≥ 0.95.

    benchmarks/instrument.py --consistency measures the same on more slides and seeds."""
    slide = _simulate(tmp_path, tissue, 256)
    report = check_fov(slide, "fov_000", mhpr)
    assert report.shift_rms_px.max() <= 0.05, report.shift_rms_px
    assert np.abs(report.z2_error_um).max() <= 2.0, report.z2_error_um
    assert report.ecc >= 0.95, report
    if tissue == "pap_smear" and report.best_offset_px != (0, 0):
        pytest.xfail(_PAP_DRIFT)
    assert report.best_offset_px == (0, 0), report


def test_aligned_ecc_ignores_only_a_constant_phase():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 8)) + 1j * rng.normal(size=(8, 8))
    assert aligned_ecc(x * np.exp(1.3j) * 2.0, x) == pytest.approx(1.0)
    assert aligned_ecc(np.conj(x), x) < 0.5
    ramp = np.exp(1j * np.linspace(0, 3, 64)).reshape(8, 8)
    assert aligned_ecc(x * ramp, x) < 0.9
