"""Metrics against hand-computed values and against TensorFlow's MS-SSIM."""

from __future__ import annotations

import numpy as np
import pytest

from holo_pipeline.evaluation.metrics import (
    ecc,
    mae,
    max_scales,
    min_size_for_scales,
    ms_ssim,
    phase_rmse,
    rmse,
)


def _field(seed: int = 0, shape=(32, 24)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.uniform(0.2, 1.0, shape) * np.exp(1j * rng.uniform(-np.pi, np.pi, shape))).astype(
        np.complex64
    )


def test_rmse_and_mae_hand_computed():
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    y = np.array([[1.0, 0.0], [3.0, 7.0]])
    # differences 0, 2, 0, -3 -> squares 0, 4, 0, 9 -> mean 13/4
    assert rmse(x, y) == pytest.approx(np.sqrt(13 / 4))
    assert mae(x, y) == pytest.approx(5 / 4)
    assert rmse(x, x) == 0.0


def test_complex_differences_use_the_modulus():
    x = np.array([0 + 0j, 1 + 1j])
    y = np.array([3 + 4j, 1 + 1j])
    assert mae(x, y) == pytest.approx(5 / 2)
    assert rmse(x, y) == pytest.approx(np.sqrt(25 / 2))


def test_ecc_of_a_field_with_itself_and_its_negative():
    f = _field()
    assert ecc(f, f) == pytest.approx(1.0, abs=1e-6)
    assert ecc(f, -f) == pytest.approx(-1.0, abs=1e-6)
    # a global phase of π/2 makes the real part of the inner product vanish
    assert ecc(f, 1j * f) == pytest.approx(0.0, abs=1e-6)
    # amplitude scaling does not change the normalised correlation
    assert ecc(f, 3.0 * f) == pytest.approx(1.0, abs=1e-6)


def test_ecc_hand_computed():
    x = np.array([1 + 0j, 1j])
    y = np.array([1 + 0j, 1 + 0j])
    # Re{conj(1)*1 + conj(i)*1} = Re{1 - i} = 1 ; |x|² = 2, |y|² = 2
    assert ecc(x, y) == pytest.approx(0.5)


def test_phase_rmse_is_wrap_aware():
    x = np.exp(1j * np.array([np.pi - 0.1, -np.pi + 0.1]))
    y = np.exp(1j * np.array([-np.pi + 0.1, np.pi - 0.1]))
    assert phase_rmse(x, y) == pytest.approx(0.2, abs=1e-9)
    assert phase_rmse(x, x) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("fn", [rmse, mae, ecc, phase_rmse])
def test_shape_mismatch_and_nan_raise(fn):
    a = np.ones((4, 4))
    with pytest.raises(ValueError, match="same shape"):
        fn(a, np.ones((4, 5)))
    bad = a.copy()
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match=r"^y contains NaN"):
        fn(a, bad)
    with pytest.raises(ValueError, match=r"^x contains NaN"):
        fn(bad, a)


def test_ecc_of_zero_field_raises():
    with pytest.raises(ValueError, match="x is identically zero"):
        ecc(np.zeros(3), np.ones(3))


def test_ms_ssim_validates_its_inputs():
    img = np.ones((200, 200))
    with pytest.raises(ValueError, match="at least 161"):
        ms_ssim(np.ones((160, 200)), np.ones((160, 200)), max_val=1.0)
    with pytest.raises(ValueError, match="max_val"):
        ms_ssim(img, img, max_val=0.0)
    with pytest.raises(ValueError, match="scales"):
        ms_ssim(img, img, max_val=1.0, scales=6)
    with pytest.raises(ValueError, match="x must be real"):
        ms_ssim(img + 0j, img, max_val=1.0)
    with pytest.raises(ValueError, match="2-D"):
        ms_ssim(np.ones((2, 200, 200)), np.ones((2, 200, 200)), max_val=1.0)


def test_scale_sizes():
    assert min_size_for_scales(5) == 161
    assert min_size_for_scales(1) == 11
    assert max_scales((64, 64)) == 3
    assert max_scales((512, 512)) == 5
    assert max_scales((8, 8)) == 0


def test_ms_ssim_identity_and_degradation():
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 1, (64, 64))
    assert ms_ssim(x, x, max_val=1.0, scales=3) == pytest.approx(1.0)
    noisy = np.clip(x + rng.normal(0, 0.2, x.shape), 0, 1)
    assert ms_ssim(x, noisy, max_val=1.0, scales=3) < 0.9


@pytest.mark.parametrize("shape", [(192, 192), (256, 233)])
def test_ms_ssim_matches_tensorflow(shape):
    tf = pytest.importorskip("tensorflow")
    rng = np.random.default_rng(2)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    x = 0.5 + 0.4 * np.sin(xx / 7.0) * np.cos(yy / 11.0)
    y = np.clip(x + rng.normal(0, 0.05, shape) + 0.05, 0, 1)
    expected = float(
        tf.image.ssim_multiscale(
            tf.constant(x[None, ..., None], tf.float64),
            tf.constant(y[None, ..., None], tf.float64),
            max_val=1.0,
        )[0]
    )
    got = ms_ssim(x, y, max_val=1.0)
    assert 0.3 < got < 0.999
    # float64 on both sides; the only differences are summation order
    assert got == pytest.approx(expected, abs=1e-6)
