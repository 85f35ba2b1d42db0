"""The RH-M generator and its discriminator as Keras 3 functional models.

RH-M (Huang et al., ACS Photonics 8, 1763, 2021; APL Photonics 7, 070801, 2022): every one of the
M input holograms goes through the same per-hologram convolutions and down path; on each skip
connection (and at the bottleneck) a :class:`RecurrentBlock` merges the M feature maps into one;
the up path and the output convolutions run once per sample.

Freezing for transfer learning is one rule: every :class:`RecurrentBlock` layer
(:func:`freeze_recurrent_blocks`).
"""

from __future__ import annotations

import math

import keras
from keras import layers, ops

from holo_pipeline.model.config import RHMConfig
from holo_pipeline.model.convgru import ConvGRU2D

SERIALIZATION_PACKAGE = "holo_pipeline"


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class FoldHolograms(layers.Layer):
    """Fold the hologram axis into the batch: ``(B, M, H, W, C) -> (B·M, H, W, C)``.

    The per-hologram convolutions then share their weights across the M holograms.
    """

    def call(self, inputs):
        shape = ops.shape(inputs)
        return ops.reshape(inputs, (-1, shape[2], shape[3], inputs.shape[-1]))

    def compute_output_shape(self, input_shape):
        return (None, *input_shape[2:])


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class UnfoldHolograms(layers.Layer):
    """Undo :class:`FoldHolograms`: ``(B·M, h, w, C), reference (B, M, …) -> (B, M, h, w, C)``."""

    def call(self, folded, reference):
        ref = ops.shape(reference)
        shape = ops.shape(folded)
        # A static M (known inside a traced step) lets ConvGRU2D unroll its loop.
        steps = reference.shape[1] if reference.shape[1] is not None else ref[1]
        return ops.reshape(folded, (ref[0], steps, shape[1], shape[2], folded.shape[-1]))

    def compute_output_shape(self, folded_shape, reference_shape):
        return (reference_shape[0], reference_shape[1], *folded_shape[1:])


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class RecurrentBlock(layers.Layer):
    """RH-M recurrent block: merges M feature maps ``(B, M, h, w, C)`` into one ``(B, h, w, F)``.

    Two :class:`ConvGRU2D` layers (the first returns its sequence, the second its last step),
    then a 1×1 convolution with LeakyReLU added back to the second GRU's output (residual).

    Parameters
    ----------
    filters
        Output channels ``F`` (hidden width of the second GRU).
    hidden_filters
        Hidden width of the first GRU; defaults to ``filters``. The bottleneck block uses the width
        of its input (``F/2``), so that its second GRU is what doubles the channels.
    kernel_size
        Kernel size of both GRUs.
    leaky_slope
        Negative slope of the LeakyReLU after the 1×1 convolution.
    """

    def __init__(
        self,
        filters: int,
        *,
        hidden_filters: int | None = None,
        kernel_size: int = 3,
        leaky_slope: float = 0.1,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.hidden_filters = int(hidden_filters or filters)
        self.kernel_size = int(kernel_size)
        self.leaky_slope = float(leaky_slope)
        self.gru_sequence = ConvGRU2D(
            self.hidden_filters, kernel_size, return_sequences=True, name="gru_sequence"
        )
        self.gru_merge = ConvGRU2D(self.filters, kernel_size, name="gru_merge")
        self.project = layers.Conv2D(self.filters, 1, name="project")
        self.activation = layers.LeakyReLU(negative_slope=self.leaky_slope)

    def build(self, input_shape) -> None:
        self.gru_sequence.build(input_shape)
        self.gru_merge.build((*input_shape[:4], self.hidden_filters))
        self.project.build((input_shape[0], *input_shape[2:4], self.filters))

    def call(self, inputs):
        merged = self.gru_merge(self.gru_sequence(inputs))
        return merged + self.activation(self.project(merged))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *input_shape[2:4], self.filters)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            filters=self.filters,
            hidden_filters=self.hidden_filters,
            kernel_size=self.kernel_size,
            leaky_slope=self.leaky_slope,
        )
        return config


def _conv(x, filters: int, config: RHMConfig, name: str, *, batch_norm: bool):
    x = layers.Conv2D(
        filters, config.kernel_size, padding="same", use_bias=not batch_norm, name=f"{name}_conv"
    )(x)
    if batch_norm:
        x = layers.BatchNormalization(momentum=config.bn_momentum, name=f"{name}_bn")(x)
    return layers.LeakyReLU(negative_slope=config.leaky_slope, name=f"{name}_act")(x)


def build_generator(config: RHMConfig, *, name: str = "rhm_generator") -> keras.Model:
    """Build the RH-M generator for ``config``.

    Input ``(batch, M, H, W, 2)``: M zero-phase back-propagated holograms (real, imag), any M ≥ 1
    and any H, W divisible by ``config.size_multiple``. Output ``(batch, H, W, 2)``: the complex
    field (real, imag) at the sample plane.

    Layout: per-hologram convs (n_ch/2, n_ch); ``n_levels`` down blocks of two 3×3 conv + BN +
    LeakyReLU at ``n_ch·2^i`` channels with 2× max pooling, shared across holograms; a
    :class:`RecurrentBlock` on every skip (``n_ch·2^i``) and at the bottleneck (``n_ch·2^n_levels``,
    fed the pooled ``n_ch·2^(n_levels−1)`` maps); up blocks of nearest 2× upsampling,
    concatenation with the merged skip and two conv + BN + LeakyReLU; output convs to 2 channels.
    The output layer is float32 under a mixed-precision policy.
    """
    c = config.n_ch
    holograms = keras.Input((None, None, None, 2), name="holograms")
    x = FoldHolograms(name="fold_holograms")(holograms)
    x = _conv(x, c // 2, config, "input_0", batch_norm=False)
    x = _conv(x, c, config, "input_1", batch_norm=False)
    skips = []
    for level in range(config.n_levels):
        width = c * 2**level
        x = _conv(x, width, config, f"down_{level}_0", batch_norm=True)
        x = _conv(x, width, config, f"down_{level}_1", batch_norm=True)
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"down_{level}_pool")(x)

    def merge(features, width: int, hidden: int, block_name: str):
        sequence = UnfoldHolograms(name=f"{block_name}_unfold")(features, holograms)
        return RecurrentBlock(
            width,
            hidden_filters=hidden,
            kernel_size=config.gru_kernel_size,
            leaky_slope=config.leaky_slope,
            name=block_name,
        )(sequence)

    bottom = c * 2 ** (config.n_levels - 1)
    x = merge(x, 2 * bottom, bottom, "recurrent_bottleneck")
    for level in reversed(range(config.n_levels)):
        width = c * 2**level
        skip = merge(skips[level], width, width, f"recurrent_skip_{level}")
        x = layers.UpSampling2D(2, interpolation="nearest", name=f"up_{level}_upsample")(x)
        x = layers.Concatenate(name=f"up_{level}_concat")([x, skip])
        x = _conv(x, width, config, f"up_{level}_0", batch_norm=True)
        x = _conv(x, width, config, f"up_{level}_1", batch_norm=True)
    x = _conv(x, c // 2, config, "output_0", batch_norm=False)
    field = layers.Conv2D(2, 1, dtype="float32", name="output_field")(x)
    return keras.Model(holograms, field, name=name)


def build_discriminator(config: RHMConfig, *, name: str = "rhm_discriminator") -> keras.Model:
    """Build the LSGAN discriminator: one unbounded score per ``(H, W, 2)`` field.

    ``disc_levels`` stages of a 3×3 conv and a stride-2 3×3 conv (LeakyReLU), global average
    pooling, a dense layer and a linear one-unit output (float32 under mixed precision). Without
    batch normalisation, so real and generated batches never interact through batch statistics.
    """
    field = keras.Input((None, None, 2), name="field")
    x = field
    for level in range(config.disc_levels):
        width = min(config.disc_n_ch * 2**level, config.disc_max_ch)
        for j, stride in enumerate((1, 2)):
            x = layers.Conv2D(
                width, 3, strides=stride, padding="same", name=f"disc_{level}_{j}_conv"
            )(x)
            x = layers.LeakyReLU(negative_slope=0.2, name=f"disc_{level}_{j}_act")(x)
    x = layers.GlobalAveragePooling2D(name="disc_pool")(x)
    x = layers.Dense(min(config.disc_n_ch * 2**config.disc_levels, config.disc_max_ch))(x)
    x = layers.LeakyReLU(negative_slope=0.2)(x)
    score = layers.Dense(1, dtype="float32", name="disc_score")(x)
    return keras.Model(field, score, name=name)


def recurrent_blocks(generator: keras.Model) -> list[RecurrentBlock]:
    """Return the generator's recurrent blocks (skip connections and bottleneck)."""
    return [layer for layer in generator.layers if isinstance(layer, RecurrentBlock)]


def freeze_recurrent_blocks(generator: keras.Model) -> keras.Model:
    """Freeze every :class:`RecurrentBlock` of ``generator`` in place and return it.

    This is the transfer-learning variant "frozen RNN" (model 1 of Huang et al., 2022). Build the
    optimizers *after* calling it, so that they only track the remaining trainable weights.
    """
    blocks = recurrent_blocks(generator)
    if not blocks:
        raise ValueError(f"{generator.name}: no RecurrentBlock layers to freeze")
    for block in blocks:
        block.trainable = False
    return generator


def count_params(model: keras.Model) -> tuple[int, int]:
    """Return ``(trainable, total)`` parameter counts (BN moving statistics count in ``total``)."""
    trainable = sum(math.prod(v.shape) for v in model.trainable_weights)
    total = sum(math.prod(v.shape) for v in model.weights)
    return trainable, total
