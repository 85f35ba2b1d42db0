"""RH-M GAN losses: MAE + (1 − MS-SSIM) + least-squares adversarial terms.

Generator ``L_G = 3·MAE + 1·(1 − MS-SSIM) + 0.3·(D(ŷ) − 1)²`` and discriminator
``L_D = ½·D(ŷ)² + ½·(D(y) − 1)²`` (Huang et al., APL Photonics 7, 070801, 2022; LSGAN, Mao et al.,
2017). All losses are computed in float32 whatever the compute policy.

MS-SSIM on complex fields
-------------------------
The fields are 2-channel (real, imag) images. MS-SSIM (Wang, Simoncelli & Bovik, 2003) is computed
on each channel separately and averaged over the two channels, with one fixed dynamic range
``L`` for both (default 2: a passive transmission field lies in the unit disk, so real and imag
are in [−1, 1]). Each channel is offset by ``L/2`` first, so that [−L/2, L/2] maps to the [0, L]
range the SSIM constants ``C1 = (0.01·L)²``, ``C2 = (0.03·L)²`` assume (only the luminance term,
used at the coarsest scale, depends on the offset). A fixed ``L`` — not a per-image range — keeps
the loss comparable across batches.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from holo_pipeline.model.ssim_constants import (
    MS_SSIM_WEIGHTS,
    SSIM_FILTER_SIGMA,
    SSIM_FILTER_SIZE,
    SSIM_K1,
    SSIM_K2,
)

_EPS = 1e-6


def ms_ssim_scales(size: int, *, filter_size: int = SSIM_FILTER_SIZE) -> int:
    """Number of MS-SSIM scales (≤ 5) an image of side ``size`` allows.

    Scale ``s`` (0-based) sees the image 2× average-pooled ``s`` times (ceil), and needs at least
    ``filter_size`` pixels; with an 11-tap window 5 scales need more than 160 px.
    """
    if size < filter_size:
        raise ValueError(f"MS-SSIM needs images of at least {filter_size} px, got {size}")
    scales = 1
    while scales < len(MS_SSIM_WEIGHTS) and -(-size // 2**scales) >= filter_size:
        scales += 1
    return scales


def _gaussian_window(channels: int) -> tuple[tf.Tensor, tf.Tensor]:
    """The SSIM Gaussian window as its two 1-D factors, a column and a row per channel."""
    r = np.arange(SSIM_FILTER_SIZE, dtype=np.float64) - (SSIM_FILTER_SIZE - 1) / 2
    g = np.exp(-(r**2) / (2 * SSIM_FILTER_SIGMA**2))
    g = (g / g.sum()).astype(np.float32)
    column = np.tile(g[:, None, None, None], (1, 1, channels, 1))
    return tf.constant(column), tf.constant(column.transpose(1, 0, 2, 3))


def _ssim_terms(x: tf.Tensor, y: tf.Tensor, window, max_val: float):
    """Per-image, per-channel mean luminance·contrast-structure and contrast-structure terms."""
    c1 = (SSIM_K1 * max_val) ** 2
    c2 = (SSIM_K2 * max_val) ** 2
    column, row = window

    def blur(t):
        # The 2-D Gaussian is the outer product of its 1-D factor: two 11-tap passes, not one of
        # 121 taps (a 512² validation image: 52 -> 18 ms; equal within float32 rounding).
        t = tf.nn.depthwise_conv2d(t, column, strides=(1, 1, 1, 1), padding="VALID")
        return tf.nn.depthwise_conv2d(t, row, strides=(1, 1, 1, 1), padding="VALID")

    mu_x, mu_y = blur(x), blur(y)
    sigma_xx = blur(x * x) - mu_x * mu_x
    sigma_yy = blur(y * y) - mu_y * mu_y
    sigma_xy = blur(x * y) - mu_x * mu_y
    luminance = (2.0 * mu_x * mu_y + c1) / (mu_x * mu_x + mu_y * mu_y + c1)
    cs = (2.0 * sigma_xy + c2) / (sigma_xx + sigma_yy + c2)
    return tf.reduce_mean(luminance * cs, axis=(1, 2)), tf.reduce_mean(cs, axis=(1, 2))


def ms_ssim(y_true: tf.Tensor, y_pred: tf.Tensor, *, max_val: float = 2.0) -> tf.Tensor:
    """Multi-scale SSIM per image of real/imag field batches ``(B, H, W, C)``.

    Uses as many scales as the (static) image size allows (:func:`ms_ssim_scales`), the standard
    weights renormalised to sum to 1, and averages over channels. Negative contrast-structure and
    SSIM values are clipped to a small positive ε before the fractional powers, so that neither the
    value nor its gradient can become NaN.

    Parameters
    ----------
    y_true, y_pred
        Float tensors ``(B, H, W, C)``, values nominally in ``[-max_val/2, max_val/2]``.
    max_val
        Dynamic range ``L`` of every channel.

    Returns
    -------
    Tensor ``(B,)`` in [0, 1].
    """
    y_true = tf.cast(y_true, tf.float32) + max_val / 2
    y_pred = tf.cast(y_pred, tf.float32) + max_val / 2
    size = min(y_true.shape[1], y_true.shape[2])
    if size is None:
        raise ValueError("ms_ssim needs static image sizes (H, W)")
    n_scales = ms_ssim_scales(size)
    weights = np.asarray(MS_SSIM_WEIGHTS[:n_scales], dtype=np.float64)
    weights = (weights / weights.sum()).astype(np.float32)
    window = _gaussian_window(y_true.shape[-1])
    log_terms = []
    for scale in range(n_scales):
        ssim, cs = _ssim_terms(y_true, y_pred, window, max_val)
        term = ssim if scale == n_scales - 1 else cs
        log_terms.append(weights[scale] * tf.math.log(tf.maximum(term, _EPS)))
        if scale < n_scales - 1:
            y_true = tf.nn.avg_pool2d(y_true, 2, 2, padding="SAME")
            y_pred = tf.nn.avg_pool2d(y_pred, 2, 2, padding="SAME")
    per_channel = tf.exp(tf.add_n(log_terms))  # (B, C)
    return tf.reduce_mean(per_channel, axis=-1)


def generator_loss(
    y_true: tf.Tensor,
    y_pred: tf.Tensor,
    d_fake: tf.Tensor,
    *,
    mae_weight: float = 3.0,
    ms_ssim_weight: float = 1.0,
    adversarial_weight: float = 0.3,
    max_val: float = 2.0,
) -> dict[str, tf.Tensor]:
    """RH-M generator loss and its parts (batch means, float32).

    Returns a dict with ``loss`` (the weighted sum), ``mae``, ``ms_ssim`` and ``adversarial``
    (``mean((D(ŷ) − 1)²)``).
    """
    y_true = tf.cast(y_true, tf.float32)
    y_pred = tf.cast(y_pred, tf.float32)
    d_fake = tf.cast(d_fake, tf.float32)
    mae = tf.reduce_mean(tf.abs(y_pred - y_true))
    similarity = tf.reduce_mean(ms_ssim(y_true, y_pred, max_val=max_val))
    adversarial = tf.reduce_mean(tf.square(d_fake - 1.0))
    loss = mae_weight * mae + ms_ssim_weight * (1.0 - similarity) + adversarial_weight * adversarial
    return {"loss": loss, "mae": mae, "ms_ssim": similarity, "adversarial": adversarial}


def discriminator_loss(d_real: tf.Tensor, d_fake: tf.Tensor) -> tf.Tensor:
    """LSGAN discriminator loss ``½·mean(D(ŷ)²) + ½·mean((D(y) − 1)²)`` (float32)."""
    d_real = tf.cast(d_real, tf.float32)
    d_fake = tf.cast(d_fake, tf.float32)
    return 0.5 * tf.reduce_mean(tf.square(d_fake)) + 0.5 * tf.reduce_mean(tf.square(d_real - 1.0))
