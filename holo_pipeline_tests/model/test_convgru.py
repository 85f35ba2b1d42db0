import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest
import tensorflow as tf

from holo_pipeline.model.convgru import ConvGRU2D


def _conv_same(x, kernel):
    """Reference 'same' cross-correlation: x (H, W, C), kernel (k, k, C, F) -> (H, W, F)."""
    k = kernel.shape[0]
    pad = k // 2
    xp = np.pad(x, ((pad, pad), (pad, pad), (0, 0)))
    h, w = x.shape[:2]
    out = np.zeros((h, w, kernel.shape[-1]))
    for dy in range(k):
        for dx in range(k):
            out += xp[dy : dy + h, dx : dx + w] @ kernel[dy, dx]
    return out


def _sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def _reference_gru(seq, kernel, recurrent, bias, f):
    """The GRU equations of the ConvGRU2D docstring, step by step in NumPy (one sample)."""
    h = np.zeros((*seq.shape[1:3], f))
    states = []
    for x_t in seq:
        gx = _conv_same(x_t, kernel) + bias
        gh = _conv_same(h, recurrent[..., : 2 * f])
        z = _sigmoid(gx[..., :f] + gh[..., :f])
        r = _sigmoid(gx[..., f : 2 * f] + gh[..., f:])
        candidate = np.tanh(gx[..., 2 * f :] + _conv_same(r * h, recurrent[..., 2 * f :]))
        h = z * h + (1 - z) * candidate
        states.append(h)
    return np.stack(states)


def test_matches_the_gru_equations_step_by_step():
    rng = np.random.default_rng(0)
    layer = ConvGRU2D(3, 3, return_sequences=True, bias_initializer="random_normal")
    seq = rng.standard_normal((2, 4, 6, 5, 2)).astype(np.float32)
    out = layer(seq).numpy()
    kernel, recurrent, bias = (v.numpy().astype(np.float64) for v in layer.weights)
    assert kernel.shape == (3, 3, 2, 9) and recurrent.shape == (3, 3, 3, 9)  # three gate slices
    for b in range(2):
        expected = _reference_gru(seq[b].astype(np.float64), kernel, recurrent, bias, 3)
        np.testing.assert_allclose(out[b], expected, atol=1e-5)


def test_last_state_any_length_and_size_with_the_same_weights():
    layer = ConvGRU2D(4, 3)
    rng = np.random.default_rng(1)
    for m, h, w in [(1, 8, 8), (3, 8, 8), (5, 16, 12)]:
        seq = rng.standard_normal((2, m, h, w, 3)).astype(np.float32)
        last = layer(seq).numpy()
        assert last.shape == (2, h, w, 4)
        full = ConvGRU2D.from_config({**layer.get_config(), "return_sequences": True})
        full.build(seq.shape)
        full.set_weights(layer.get_weights())
        np.testing.assert_allclose(full(seq).numpy()[:, -1], last, atol=1e-6)


def test_symbolic_loop_for_unknown_length_equals_unrolled_loop():
    layer = ConvGRU2D(2, 3, return_sequences=True)
    seq = np.random.default_rng(2).standard_normal((1, 4, 8, 8, 2)).astype(np.float32)
    unrolled = layer(seq).numpy()
    dynamic = tf.function(layer, input_signature=[tf.TensorSpec((None, None, None, None, 2))])
    np.testing.assert_allclose(dynamic(seq).numpy(), unrolled, atol=1e-6)


def test_config_round_trip_and_validation():
    layer = ConvGRU2D(5, 1, return_sequences=True, name="g")
    clone = ConvGRU2D.from_config(layer.get_config())
    assert (clone.filters, clone.kernel_size, clone.return_sequences) == (5, 1, True)
    with pytest.raises(ValueError, match="kernel_size"):
        ConvGRU2D(4, 2)


@pytest.mark.parametrize("m", [1, 2, 4])
def test_first_step_runs_no_recurrent_convolution(m):
    # Three input convolutions (one per gate, all M steps at once), then three recurrent ones
    # per step after the first: from h = 0 they are exactly zero and skipped.
    layer = ConvGRU2D(4, 3, return_sequences=True)
    graph = tf.function(layer).get_concrete_function(tf.TensorSpec((1, m, 8, 8, 2))).graph
    convolutions = [op for op in graph.get_operations() if op.type == "Conv2D"]
    assert len(convolutions) == 3 + 3 * (m - 1)


def test_gradients_match_the_gru_equations():
    # The split gate convolutions and the skipped first step change how gradients are summed,
    # not what they are: compare with the same equations written as one 3F-channel convolution.
    # In float64: in float32 the two summation orders differ by float32 rounding of the largest
    # terms (gradients up to ~8), 3e-6 on an element of 0.06 on one CPU, which no tolerance on
    # the element itself tells apart from an error.
    rng = np.random.default_rng(3)
    layer = ConvGRU2D(
        3, 3, return_sequences=True, bias_initializer="random_normal", dtype="float64"
    )
    seq = tf.constant(rng.standard_normal((2, 3, 6, 5, 2)))
    layer(seq)
    f = 3

    def textbook(x):
        folded = tf.reshape(x, (-1, 6, 5, 2))
        gx = tf.reshape(tf.nn.conv2d(folded, layer.kernel, 1, "SAME") + layer.bias, (2, 3, 6, 5, 9))
        h = tf.zeros((2, 6, 5, f), tf.float64)
        states = []
        for t in range(3):
            gh = tf.nn.conv2d(h, layer.recurrent_kernel[..., : 2 * f], 1, "SAME")
            z = tf.sigmoid(gx[:, t, ..., :f] + gh[..., :f])
            r = tf.sigmoid(gx[:, t, ..., f : 2 * f] + gh[..., f:])
            u_h = layer.recurrent_kernel[..., 2 * f :]
            candidate = tf.tanh(gx[:, t, ..., 2 * f :] + tf.nn.conv2d(r * h, u_h, 1, "SAME"))
            h = z * h + (1 - z) * candidate
            states.append(h)
        return tf.stack(states, axis=1)

    weights = [layer.kernel, layer.recurrent_kernel, layer.bias]
    grads = []
    for fn in (layer, textbook):
        with tf.GradientTape() as tape:
            tape.watch(seq)
            loss = tf.reduce_sum(tf.sin(fn(seq)))
        grads.append(tape.gradient(loss, [seq, *weights]))
    for ours, reference in zip(*grads, strict=True):
        assert ours.dtype == tf.float64
        np.testing.assert_allclose(ours.numpy(), reference.numpy(), rtol=1e-12, atol=1e-12)
