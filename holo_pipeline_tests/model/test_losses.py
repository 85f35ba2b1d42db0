import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest
import tensorflow as tf

from holo_pipeline.model.losses import (
    MS_SSIM_WEIGHTS,
    discriminator_loss,
    generator_loss,
    ms_ssim,
    ms_ssim_scales,
)


def _fields(shape, seed):
    rng = np.random.default_rng(seed)
    return tf.constant(np.tanh(rng.standard_normal(shape)).astype(np.float32))


def test_scales_follow_the_patch_size():
    assert ms_ssim_scales(161) == 5 and ms_ssim_scales(160) == 4
    assert ms_ssim_scales(64) == 3 and ms_ssim_scales(512) == len(MS_SSIM_WEIGHTS)
    with pytest.raises(ValueError, match="at least 11"):
        ms_ssim_scales(10)


def test_identical_fields_score_one_and_noise_lowers_it():
    y = _fields((2, 64, 64, 2), 0)
    np.testing.assert_allclose(ms_ssim(y, y).numpy(), 1.0, atol=1e-6)
    noise = _fields((2, 64, 64, 2), 1)
    scores = [ms_ssim(y, y + level * noise).numpy() for level in (0.1, 0.3, 1.0)]
    assert np.all(scores[0] < 0.999) and np.all(np.diff(scores, axis=0) < 0)


def test_agrees_with_tensorflow_ms_ssim_on_one_channel_images_in_range():
    # With a range of [0, L] (our offset), 5 scales on 256 px: the standard MS-SSIM.
    rng = np.random.default_rng(3)
    base = rng.uniform(0, 1, (2, 256, 256, 1)).astype(np.float32)
    blurred = tf.nn.avg_pool2d(base, 5, 1, "SAME")
    other = blurred + 0.05 * rng.standard_normal(base.shape).astype(np.float32)
    ours = ms_ssim(blurred - 0.5, other - 0.5, max_val=1.0).numpy()
    weights = np.asarray(MS_SSIM_WEIGHTS) / np.sum(MS_SSIM_WEIGHTS)
    theirs = tf.image.ssim_multiscale(blurred, other, 1.0, power_factors=weights).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-4)


def test_anticorrelated_fields_give_finite_values_and_gradients():
    y = _fields((2, 32, 32, 2), 4)
    y_pred = tf.Variable(-y)  # negative contrast-structure at every scale
    with tf.GradientTape() as tape:
        value = tf.reduce_mean(ms_ssim(y, y_pred))
    grad = tape.gradient(value, y_pred)
    assert np.isfinite(value.numpy()) and 0.0 <= value.numpy() < 0.05
    assert np.all(np.isfinite(grad.numpy()))
    flat = tf.Variable(tf.zeros_like(y))  # zero variance prediction
    with tf.GradientTape() as tape:
        parts = generator_loss(y, flat, tf.zeros((2, 1)))
    assert np.all(np.isfinite(tape.gradient(parts["loss"], flat).numpy()))


def test_loss_weights_and_lsgan_targets():
    y = _fields((2, 32, 32, 2), 5)
    y_hat = _fields((2, 32, 32, 2), 6)
    d_fake = tf.constant([[0.2], [0.6]])
    parts = generator_loss(y, y_hat, d_fake)
    mae = np.mean(np.abs(y.numpy() - y_hat.numpy()))
    adversarial = np.mean((d_fake.numpy() - 1) ** 2)
    expected = 3 * mae + (1 - parts["ms_ssim"].numpy()) + 0.3 * adversarial
    np.testing.assert_allclose(parts["loss"].numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(parts["mae"].numpy(), mae, rtol=1e-6)
    assert discriminator_loss(tf.ones((2, 1)), tf.zeros((2, 1))).numpy() == 0.0
    np.testing.assert_allclose(
        discriminator_loss(tf.constant([[0.0]]), tf.constant([[1.0]])).numpy(), 1.0
    )
