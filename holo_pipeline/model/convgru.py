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
    ``(k, k, F, 3F)`` tensor — exactly three gate slices, no unused fourth. Each gate's input
    convolution of all M steps is done at once; only the recurrent convolutions run in the loop, so
    M and H, W may vary from call to call. The first step, from ``h = 0``, skips the recurrent
    convolutions (exactly zero there). With a known M the loop is unrolled.

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

        def inputs_conv(lo, hi):
            # One gate's input convolution for all M steps at once, as its own contiguous tensor
            # (M, batch, H, W, F): slicing the channels of one 3F-channel result costs a strided
            # copy per step and gate (a quarter of a 512² forward pass on a CPU).
            out = ops.conv(folded, self.kernel[..., lo:hi], padding="same") + self.bias[lo:hi]
            out = ops.reshape(out, (batch, steps, height, width, hi - lo))
            return ops.moveaxis(out, 1, 0)

        x_z, x_r, x_h = inputs_conv(0, f), inputs_conv(f, 2 * f), inputs_conv(2 * f, 3 * f)
        u_z = self.recurrent_kernel[..., :f]
        u_r = self.recurrent_kernel[..., f : 2 * f]
        u_h = self.recurrent_kernel[..., 2 * f :]

        def step(h, x_t):
            xz, xr, xh = x_t
            z = ops.sigmoid(xz + ops.conv(h, u_z, padding="same"))
            r = ops.sigmoid(xr + ops.conv(h, u_r, padding="same"))
            candidate = ops.tanh(xh + ops.conv(r * h, u_h, padding="same"))
            h_new = z * h + (1.0 - z) * candidate
            return h_new, h_new

        def first_step(x_t):
            xz, _, xh = x_t
            z = ops.sigmoid(xz)
            return (1.0 - z) * ops.tanh(xh)

        n_steps = inputs.shape[1]
        if n_steps is None:  # unknown M: a symbolic loop
            h = ops.zeros_like(x_z[0])
            gates = ops.concatenate([x_z, x_r, x_h], axis=-1)  # scan takes one sequence here

            def sliced_step(h, x_t):
                return step(h, (x_t[..., :f], x_t[..., f : 2 * f], x_t[..., 2 * f :]))

            h, h_all = ops.scan(sliced_step, h, gates)
        else:  # known M (the usual case inside a traced train step): unrolled, faster to compile
            h = first_step((x_z[0], x_r[0], x_h[0]))
            states = [h]
            for t in range(1, n_steps):
                h, _ = step(h, (x_z[t], x_r[t], x_h[t]))
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
