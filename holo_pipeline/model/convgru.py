"""A convolutional GRU layer for Keras 3 (Keras ships ConvLSTM only)."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="holo_pipeline")
class ConvGRU2D(keras.layers.Layer):
    """Convolutional gated recurrent unit over a sequence of feature maps.

    For every step ``t`` of an input ``(batch, M, H, W, C)`` and hidden state ``h`` (zeros at
    ``t = 0``)::

        z = σ(W_z ∗ x_t + U_z ∗ h + b_z)          update gate
        r = σ(W_r ∗ x_t + U_r ∗ h + b_r)          reset gate
        ĥ = tanh(W_h ∗ x_t + U_h ∗ (r ⊙ h) + b_h) candidate; reset applied to the recurrent conv
        h = z ⊙ h + (1 − z) ⊙ ĥ

    where ``∗`` is a 'same'-padded 2-D convolution (Cho et al., 2014; Ballas et al., 2016). The
    three gates' input kernels form one ``(k, k, C, 3F)`` tensor and their recurrent kernels one
    ``(k, k, F, 3F)`` tensor — exactly three gate slices, no unused fourth. The input convolution of
    all M steps is done at once; only the recurrent convolutions run in the loop, so M and H, W may
    vary from call to call.

    Parameters
    ----------
    filters
        Channels ``F`` of the hidden state (and output).
    kernel_size
        Odd kernel size of the input and recurrent convolutions.
    return_sequences
        Return all hidden states ``(batch, M, H, W, F)`` instead of the last ``(batch, H, W, F)``.
    """

    def __init__(
        self,
        filters: int,
        kernel_size: int = 3,
        *,
        return_sequences: bool = False,
        kernel_initializer: str = "glorot_uniform",
        recurrent_initializer: str = "orthogonal",
        bias_initializer: str = "zeros",
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if filters < 1 or kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(
                f"filters must be >= 1 and kernel_size odd, got {filters}, {kernel_size}"
            )
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.return_sequences = bool(return_sequences)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.recurrent_initializer = keras.initializers.get(recurrent_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.input_spec = keras.layers.InputSpec(ndim=5)

    def build(self, input_shape) -> None:
        channels = input_shape[-1]
        if channels is None:
            raise ValueError("ConvGRU2D needs a known channel count (last axis)")
        k, f = self.kernel_size, self.filters
        self.kernel = self.add_weight(
            name="kernel", shape=(k, k, channels, 3 * f), initializer=self.kernel_initializer
        )
        self.recurrent_kernel = self.add_weight(
            name="recurrent_kernel", shape=(k, k, f, 3 * f), initializer=self.recurrent_initializer
        )
        self.bias = self.add_weight(name="bias", shape=(3 * f,), initializer=self.bias_initializer)
        self.input_spec = keras.layers.InputSpec(ndim=5, axes={-1: channels})

    def call(self, inputs):
        f = self.filters
        shape = ops.shape(inputs)
        batch, steps, height, width = shape[0], shape[1], shape[2], shape[3]
        folded = ops.reshape(inputs, (-1, height, width, inputs.shape[-1]))
        x_all = ops.conv(folded, self.kernel, padding="same") + self.bias
        x_all = ops.reshape(x_all, (batch, steps, height, width, 3 * f))
        x_all = ops.moveaxis(x_all, 1, 0)  # (M, batch, H, W, 3F): scan runs over the first axis
        u_zr = self.recurrent_kernel[..., : 2 * f]
        u_h = self.recurrent_kernel[..., 2 * f :]

        def step(h, x_t):
            zr = ops.sigmoid(x_t[..., : 2 * f] + ops.conv(h, u_zr, padding="same"))
            z, r = zr[..., :f], zr[..., f:]
            candidate = ops.tanh(x_t[..., 2 * f :] + ops.conv(r * h, u_h, padding="same"))
            h_new = z * h + (1.0 - z) * candidate
            return h_new, h_new

        h = ops.zeros_like(x_all[0, ..., :f])
        n_steps = inputs.shape[1]
        if n_steps is None:  # unknown M: a symbolic loop
            h, h_all = ops.scan(step, h, x_all)
        else:  # known M (the usual case inside a traced train step): unrolled, faster to compile
            states = []
            for t in range(n_steps):
                h, _ = step(h, x_all[t])
                states.append(h)
            h_all = ops.stack(states, axis=0) if self.return_sequences else None
        if self.return_sequences:
            return ops.moveaxis(h_all, 0, 1)
        return h

    def compute_output_shape(self, input_shape):
        if self.return_sequences:
            return (*input_shape[:4], self.filters)
        return (input_shape[0], *input_shape[2:4], self.filters)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            filters=self.filters,
            kernel_size=self.kernel_size,
            return_sequences=self.return_sequences,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
            recurrent_initializer=keras.initializers.serialize(self.recurrent_initializer),
            bias_initializer=keras.initializers.serialize(self.bias_initializer),
        )
        return config
