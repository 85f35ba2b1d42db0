"""Tissue phantoms: physical ranges, band limit, patient variation, and five distinct tissues."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from holo_pipeline.instrument import TISSUES
from holo_pipeline.instrument.tissues import patient_parameters, slide_parameters, tissue_phantom
from holo_validation.statistics import FIELD_STATISTICS, field_statistics

PIXEL = 1.12e-6 / 3
SHAPE = (384, 384)


def _phantom(tissue: str, patient: int, slide: int = 0) -> np.ndarray:
    p_rng = np.random.default_rng([patient, 1])
    s_rng = np.random.default_rng([patient, slide, 2])
    params = slide_parameters(patient_parameters(tissue, p_rng), s_rng)
    return tissue_phantom(tissue, SHAPE, pixel_size=PIXEL, params=params, rng=s_rng)


@pytest.fixture(scope="module")
def statistics() -> dict[str, np.ndarray]:
    """Per tissue, (3 patients, n_statistics)."""
    return {
        t: np.array(
            [
                [field_statistics(_phantom(t, p), pixel_size=PIXEL)[k] for k in FIELD_STATISTICS]
                for p in range(3)
            ]
        )
        for t in TISSUES
    }


@pytest.mark.parametrize("tissue", TISSUES)
def test_phantom_is_physical_and_band_limited(tissue: str) -> None:
    field = _phantom(tissue, 0)
    assert field.dtype == np.complex64 and field.shape == SHAPE
    amp = np.abs(field)
    assert 0.3 - 1e-5 <= amp.min() and amp.max() <= 1 + 1e-5
    assert amp.min() < 0.9  # something absorbs
    # phase: unwrapped phase is not available, but the field must show radians of phase
    assert np.abs(np.angle(field)).max() > 1.0
    # no single-pixel edges: negligible energy near the grid's Nyquist frequency
    spec = np.abs(np.fft.fft2(field - field.mean())) ** 2
    f = np.fft.fftfreq(SHAPE[0])
    fr = np.hypot(f[:, None], f[None, :])
    assert spec[fr > 0.4].sum() / spec.sum() < 3e-3
    # phase changes by well under π/2 per pixel (|Δt| = 2·sin(Δφ/2) for unit amplitude)
    for axis in (0, 1):
        assert np.abs(np.diff(field, axis=axis)).max() < 2 * np.sin(np.pi / 4)


@pytest.mark.parametrize("tissue", TISSUES)
def test_patients_and_slides_differ_and_seed_reproduces(tissue: str) -> None:
    a, b = _phantom(tissue, 0), _phantom(tissue, 1)
    assert not np.allclose(a, b)
    np.testing.assert_array_equal(a, _phantom(tissue, 0))
    pa = patient_parameters(tissue, np.random.default_rng(0))
    pb = patient_parameters(tissue, np.random.default_rng(1))
    assert pa.keys() == pb.keys() and all(pa[k] != pb[k] for k in pa)
    sa = slide_parameters(pa, np.random.default_rng(5))
    assert all(abs(sa[k] / pa[k] - 1) <= 0.12 + 1e-9 for k in pa if pa[k] != 0)


def test_each_tissue_differs_from_every_other(statistics: dict[str, np.ndarray]) -> None:
    """For every pair of tissues, some statistic separates all their patients (no overlap)."""
    for ta, tb in itertools.combinations(TISSUES, 2):
        a, b = statistics[ta], statistics[tb]
        separated = (a.max(0) < b.min(0)) | (b.max(0) < a.min(0))
        assert separated.any(), f"{ta} and {tb} overlap in every statistic"


def test_tissue_signatures(statistics: dict[str, np.ndarray]) -> None:
    """The structures described in the issue show up in the statistics."""
    k = {name: i for i, name in enumerate(FIELD_STATISTICS)}
    mean = {t: s.mean(0) for t, s in statistics.items()}
    # blood: dense monolayer of small cells -> high coverage, shortest correlation length
    assert mean["blood_smear"][k["coverage"]] > 0.6
    assert min(mean, key=lambda t: mean[t][k["correlation_um"]]) == "blood_smear"
    # Pap: sparse large flat cells -> low coverage, longest correlation length
    assert mean["pap_smear"][k["coverage"]] < 0.45
    assert max(mean, key=lambda t: mean[t][k["correlation_um"]]) == "pap_smear"
    # lung: thin septa around empty alveoli -> the lowest coverage
    assert min(mean, key=lambda t: mean[t][k["coverage"]]) == "lung"
    # prostate: stroma fills the section around glands -> the highest coverage
    assert max(mean, key=lambda t: mean[t][k["coverage"]]) == "prostate"


def test_bad_arguments() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="tissue"):
        patient_parameters("liver", rng)
    params = patient_parameters("lung", rng)
    with pytest.raises(ValueError, match="lack"):
        tissue_phantom("prostate", SHAPE, pixel_size=PIXEL, params=params, rng=rng)
    with pytest.raises(ValueError, match="metres"):
        tissue_phantom("lung", SHAPE, pixel_size=0.37, params=params, rng=rng)
