"""Multi-height phase retrieval against a known complex sample."""

from __future__ import annotations

import dataclasses
import inspect
import itertools

import numpy as np
import pytest

from holo_pipeline.datasets.processing import PhaseRetrievalSettings
from holo_pipeline.optics import MHPRSettings, Propagator, multi_height_phase_retrieval, propagate
from holo_pipeline.optics.phase_retrieval import (
    HeightPlanes,
    clip_amplitude,
    gaussian_lowpass,
    momentum_step,
    passive_sample_constraint,
    refocus_offset,
    sweep,
    validate_inputs,
)
from holo_pipeline.profile import load_profile
from holo_validation.phantoms import blob_sample, hologram

WAVELENGTH = 530e-9
PIXEL = 0.3733e-6
N = 256
#: The plain iteration (the function's defaults before they became the pipeline's).
PLAIN = {"momentum": 0.0, "momentum_cutoff": 0.0, "refocus_range": 0.0, "max_amplitude": 0.0}


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
        holograms[order],
        z2[order],
        wavelength=WAVELENGTH,
        pixel_size=PIXEL,
        iterations=20,
        **PLAIN,
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
        **(PLAIN | extra),
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
    free = multi_height_phase_retrieval(holograms, z2, **kw, **PLAIN)
    passive = multi_height_phase_retrieval(holograms, z2, **kw, **(PLAIN | {"max_amplitude": 1.0}))
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


# ---------------------------------------------------------------------- settings and defaults
def test_defaults_are_the_shipped_profiles_settings() -> None:
    """One settings class for the library and the pipeline, its defaults the catalog's profiles',
    and the function's defaults the same values in metres."""
    for name in ("demo", "paper"):
        shipped = load_profile(name, environ={}).processing.phase_retrieval()
        assert shipped == MHPRSettings(), name
    assert PhaseRetrievalSettings is MHPRSettings
    defaults = {
        k: v.default
        for k, v in inspect.signature(multi_height_phase_retrieval).parameters.items()
        if v.default is not inspect.Parameter.empty
    }
    s = MHPRSettings()
    assert defaults["iterations"] == s.iterations
    assert defaults["momentum"] == s.momentum
    assert defaults["momentum_cutoff"] == s.momentum_cutoff_per_um * 1e6
    assert defaults["refocus_range"] == s.refocus_range_um * 1e-6
    assert defaults["max_amplitude"] == s.max_amplitude


# ---------------------------------------------------------------------- the steps, one by one
def test_validate_inputs_types_the_arguments_and_checks_the_propagator() -> None:
    stack = np.ones((3, 16, 16))
    kw = {
        "wavelength": WAVELENGTH,
        "pixel_size": PIXEL,
        "iterations": 3,
        "n_medium": 1.0,
        "propagator": None,
        **PLAIN,
    }
    inputs = validate_inputs(stack, [3e-4, 1e-4, 2e-4], **kw)
    assert inputs.heights.dtype == np.float64 and inputs.heights.tolist() == [3e-4, 1e-4, 2e-4]
    assert inputs.propagator.shape == (16, 16) and isinstance(inputs.iterations, int)
    wrong = Propagator((32, 32), wavelength=WAVELENGTH, pixel_size=PIXEL)
    with pytest.raises(ValueError, match=r"propagator\.shape"):
        validate_inputs(stack, [1e-4, 2e-4, 3e-4], **(kw | {"propagator": wrong}))
    with pytest.raises(ValueError, match="refocus_range"):
        validate_inputs(stack, [1e-4, 2e-4, 3e-4], **(kw | {"refocus_range": 1e-4}))


def _smooth_padded_field(prop: Propagator, rng: np.random.Generator) -> np.ndarray:
    """``1 + s`` on the padded grid, ``s`` random and band-limited well inside the band that
    the hops pass unattenuated (so a hop there and back is the identity)."""
    shape = prop.padded_shape
    noise = rng.normal(size=shape) + 1j * rng.normal(size=shape)
    s = np.fft.ifft2(np.fft.fft2(noise) * gaussian_lowpass(prop, 0.15e6))
    return (1.0 + 0.3 * s / np.abs(s).max()).astype(np.complex64)


def test_a_sweep_keeps_the_field_that_cast_the_holograms_a_fixed_point() -> None:
    """Holograms cast by a known field through the sweep's own hops: one sweep from that field
    leaves it unchanged with zero residual, and a sweep from a wrong phase does not."""
    n = 64
    rng = np.random.default_rng(1)
    prop = Propagator((n, n), wavelength=WAVELENGTH, pixel_size=PIXEL)
    z2 = np.array([100e-6, 110e-6, 125e-6])
    truth = _smooth_padded_field(prop, rng)
    u, intensities = truth.copy(), [np.abs(truth[:n, :n]) ** 2]
    for dz in np.diff(z2):
        u = np.fft.ifft2(np.fft.fft2(u) * prop.transfer_function(dz, carrier=False))
        intensities.append(np.abs(u[:n, :n]) ** 2)
    # Given in descending order: the planes sort them.
    planes = HeightPlanes.from_holograms(np.array(intensities)[::-1], z2[::-1], prop)
    before = prop.n_propagations
    field, residual = sweep(truth.copy(), planes, prop)
    assert prop.n_propagations - before == 2 * (len(z2) - 1)
    assert residual < 1e-5
    np.testing.assert_allclose(field, truth, atol=2e-5)
    wrong = truth * np.exp(0.5j * (np.abs(truth) - 1)).astype(np.complex64)
    moved, wrong_residual = sweep(wrong.copy(), planes, prop)
    assert wrong_residual > 1e-2
    assert np.abs(moved - wrong).max() > 1e-2


def test_low_frequency_momentum_leaves_the_high_frequencies_of_the_field_unchanged() -> None:
    n = 64
    rng = np.random.default_rng(2)
    prop = Propagator((n, n), wavelength=WAVELENGTH, pixel_size=PIXEL)
    shape = prop.padded_shape
    field = (rng.normal(size=shape) + 1j * rng.normal(size=shape)).astype(np.complex64)
    previous = (rng.normal(size=shape) + 1j * rng.normal(size=shape)).astype(np.complex64)
    before, change = field.copy(), np.fft.fft2(field - previous)
    lowpass = gaussian_lowpass(prop, 0.1e6)
    after = momentum_step(field, previous, 0.9, lowpass)
    np.testing.assert_array_equal(previous, before)  # ``previous`` now holds the pre-step field
    moved = np.fft.fft2(after - before)
    f = np.hypot(*np.meshgrid(*(np.fft.fftfreq(m, PIXEL) for m in shape), indexing="ij"))
    high = f > 0.5e6
    # Zero but for float32 round-off; without the band limit they would move by 0.9 × change.
    assert np.abs(moved[high]).max() < 1e-5 * np.abs(change[high]).max()
    np.testing.assert_allclose(moved[0, 0], 0.9 * change[0, 0], rtol=1e-4)
    # Without the band limit the step is the whole change.
    field, previous = before.copy(), before - np.complex64(1 + 1j)
    expected = before + 0.5 * (1 + 1j)
    np.testing.assert_allclose(momentum_step(field, previous, 0.5), expected, atol=1e-6)


def test_passive_constraint_bounds_the_amplitude_and_leaves_the_rest_untouched() -> None:
    rng = np.random.default_rng(4)
    shape = (48, 48)
    field = (rng.uniform(0, 2, shape) * np.exp(1j * rng.uniform(-3, 3, shape))).astype(np.complex64)
    below = np.abs(field) <= 0.8
    clipped = clip_amplitude(field.copy(), 0.8)
    np.testing.assert_array_equal(clipped[below], field[below])
    assert np.abs(clipped).max() <= 0.8 * (1 + 1e-6)
    np.testing.assert_allclose(np.abs(clipped[~below]), 0.8, rtol=1e-6)
    np.testing.assert_allclose(np.angle(clipped[~below]), np.angle(field[~below]), atol=1e-5)
    # The constraint = hop to the sample plane, clip, hop back: with identity hops, the clip.
    prop = Propagator((32, 32), wavelength=WAVELENGTH, pixel_size=PIXEL, margin=16)
    assert prop.padded_shape == shape
    identity = np.ones(shape, np.complex64)
    before = prop.n_propagations
    out = passive_sample_constraint(field.copy(), identity, identity, 0.8, prop)
    assert prop.n_propagations - before == 2
    np.testing.assert_allclose(out, clipped, atol=1e-5)


@pytest.mark.parametrize("offset_um", [4.0, -3.0])
def test_refocus_recovers_a_known_common_offset(offset_um: float) -> None:
    """The field retrieved at the lowest plane is sharpest back at the sample: with every height
    off by ``offset``, the refocus finds it."""
    n, pixel = 128, 1.12e-6  # a wide window, as autofocus needs
    rng = np.random.default_rng(6)
    prop = Propagator((n, n), wavelength=WAVELENGTH, pixel_size=pixel)
    sample = blob_sample((n, n), pixel_size=pixel, rng=rng, max_phase=1.0)
    z_true = 300e-6
    field = 1.0 + prop.propagate_padded(prop.pad(sample - 1.0), z_true, carrier=False)
    found = refocus_offset(field.astype(np.complex64), prop, z_true - offset_um * 1e-6, 10e-6)
    assert found == pytest.approx(offset_um * 1e-6, abs=0.5e-6)


def test_each_step_on_the_spectrum_equals_the_step_on_the_field() -> None:
    """MH-PR keeps the field as its spectrum between sweeps: sweep, momentum, the passive-sample
    constraint and the refocus given the spectrum give what they give on the field itself."""
    n = 64
    rng = np.random.default_rng(8)
    prop = Propagator((n, n), wavelength=WAVELENGTH, pixel_size=PIXEL)
    field = _smooth_padded_field(prop, rng)
    other = _smooth_padded_field(prop, rng)
    scale = np.abs(field).max()

    def spectrum(x: np.ndarray) -> np.ndarray:
        return np.fft.fft2(x).astype(np.complex64)

    z2 = np.array([100e-6, 110e-6, 125e-6])
    stack = np.stack([np.abs(propagate(field[:n, :n], z, background=1.0, wavelength=WAVELENGTH,
                                       pixel_size=PIXEL)) ** 2 for z in z2])  # fmt: skip
    planes = HeightPlanes.from_holograms(stack, z2, prop)
    on_field, residual = sweep(other.copy(), planes, prop)
    before = prop.n_propagations
    on_spectrum, residual_s = sweep(spectrum(other), planes, prop, spectral=True)
    assert prop.n_propagations - before == 2 * (len(z2) - 1)
    np.testing.assert_allclose(on_spectrum, on_field, atol=2e-5 * scale)
    assert residual_s == pytest.approx(residual, rel=1e-5)

    lowpass = gaussian_lowpass(prop, 0.1e6)
    stepped = momentum_step(field.copy(), other.copy(), 0.9, lowpass)
    previous = spectrum(other)
    stepped_s = momentum_step(spectrum(field), previous, 0.9, lowpass, spectral=True)
    np.testing.assert_allclose(previous, spectrum(field), rtol=1e-6)
    np.testing.assert_allclose(np.fft.ifft2(stepped_s), stepped, atol=2e-5 * scale)

    to_sample = prop.transfer_function(-100e-6, carrier=False)
    from_sample = prop.transfer_function(100e-6, carrier=False)
    held = passive_sample_constraint(field.copy(), to_sample, from_sample, 1.0, prop)
    before = prop.n_propagations
    held_s = passive_sample_constraint(
        spectrum(field), to_sample, from_sample, 1.0, prop, spectral=True
    )
    assert prop.n_propagations - before == 2
    assert not np.allclose(held, field, atol=1e-3)  # the clip did something
    np.testing.assert_allclose(np.fft.ifft2(held_s), held, atol=2e-5 * scale)

    given = spectrum(field)
    kept = given.copy()
    found = refocus_offset(given, prop, 105e-6, 5e-6, spectral=True)
    np.testing.assert_array_equal(given, kept)  # the spectrum is left as it was
    assert found == pytest.approx(refocus_offset(field, prop, 105e-6, 5e-6), abs=0.02e-6)


def test_mhpr_keeps_the_field_a_spectrum_between_sweeps(monkeypatch) -> None:
    """Two transforms per hop, but between sweeps the field stays a spectrum: the momentum filter
    costs none, the passive-sample constraint two (from sweep 5), the final hop one."""
    from holo_pipeline.optics import _fft

    calls = []
    for name in ("fft2", "ifft2"):
        real = getattr(_fft, name)
        monkeypatch.setattr(
            _fft, name, lambda x, *, _real=real, **kw: calls.append(x.shape) or _real(x, **kw)
        )
    n = 64
    rng = np.random.default_rng(9)
    prop = Propagator((n, n), wavelength=WAVELENGTH, pixel_size=PIXEL)
    sample = _smooth_padded_field(prop, rng)[:n, :n]
    z2 = np.array([100e-6, 110e-6, 125e-6, 140e-6])
    stack = np.stack([np.abs(propagate(sample, z, background=1.0, wavelength=WAVELENGTH,
                                       pixel_size=PIXEL)) ** 2 for z in z2])  # fmt: skip
    calls.clear()
    iterations = 12
    multi_height_phase_retrieval(
        stack, z2, wavelength=WAVELENGTH, pixel_size=PIXEL, iterations=iterations,
        propagator=prop, refocus_range=0.0,
    )  # fmt: skip
    hops, constrained = 2 * (len(z2) - 1), iterations - 4
    # The first FFT, each hop's two, the constraint's two, the final inverse FFT.
    assert len(calls) == 1 + iterations * 2 * hops + 2 * constrained + 1
    assert prop.n_propagations == iterations * hops + 2 * constrained + 1
