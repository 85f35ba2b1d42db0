import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from holo_pipeline.model.convgru import ConvGRU2D
from holo_pipeline.model.networks import (
    RecurrentBlock,
    build_discriminator,
    build_generator,
    count_params,
    freeze_recurrent_blocks,
    recurrent_blocks,
)
from holo_pipeline.model.training import build_gan, load_generator, predict
from holo_pipeline.profile import load_profile

# Keras' own saving code converts variables with np.array(copy=False) (a NumPy 2 deprecation).
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def _holograms(m, size=32, batch=1, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((batch, m, size, size, 2)).astype(np.float32)


def test_paper_configuration_parameter_counts():
    generator = build_generator(load_profile("paper").model)
    trainable_before, total = count_params(generator)
    freeze_recurrent_blocks(generator)
    trainable_after, total_after = count_params(generator)
    assert total_after == total
    assert 28.0e6 < total < 28.6e6  # three-gate ConvGRU
    assert trainable_before == total - sum(
        math.prod(v.shape) for v in generator.non_trainable_weights if "moving" in v.path
    )
    assert 4.2e6 <= trainable_after <= 4.5e6  # paper: 4.33 M
    assert 1 - trainable_after / total >= 0.84
    # The paper's count includes an unused fourth gate slice in every GRU kernel and bias.
    gru_params = sum(
        math.prod(v.shape)
        for layer in recurrent_blocks(generator)
        for v in layer.weights
        if "gru" in v.path
    )
    assert total + gru_params / 3 > 36e6
    assert {layer.name for layer in recurrent_blocks(generator)} == {
        "recurrent_bottleneck",
        *(f"recurrent_skip_{i}" for i in range(5)),
    }


def test_same_weights_run_with_any_number_of_holograms(tiny_config):
    generator = build_generator(tiny_config)
    outputs = {}
    for m in (2, 3, 4, 5, 8):
        out = generator(_holograms(m), training=False).numpy()
        assert out.shape == (1, 32, 32, 2) and np.all(np.isfinite(out))
        outputs[m] = out
    assert not np.allclose(outputs[2], outputs[5])  # extra holograms change the result


def test_fully_convolutional_on_other_sizes(tiny_config):
    generator = build_generator(tiny_config)
    x = np.zeros((2, 3, 32, 64, 2), np.float32)
    assert generator(x).shape == (2, 32, 64, 2)
    with pytest.raises(ValueError, match="multiples of 4"):
        predict(generator, np.zeros((3, 30, 32, 2), np.float32))


def test_keras_round_trip_gives_identical_outputs(tiny_config, tmp_path):
    generator = build_generator(tiny_config)
    # move the BN statistics away from their initial values so that they are checked too
    generator(_holograms(3, batch=2), training=True)
    path = tmp_path / "g.keras"
    generator.save(path)
    loaded = load_generator(path)
    x = _holograms(3, size=64, seed=1)
    np.testing.assert_array_equal(predict(loaded, x), predict(generator, x))
    assert sum(isinstance(layer, RecurrentBlock) for layer in loaded.layers) == 3


def test_freezing_keeps_recurrent_weights_bit_identical_while_others_train(
    tiny_config, tiny_training, tmp_path
):
    backbone = tmp_path / "backbone.keras"
    build_generator(tiny_config).save(backbone)
    trainer = build_gan(
        "frozen_rnn", model_config=tiny_config, config=tiny_training, steps_per_epoch=1,
        seed=0, backbone_path=backbone,
    )  # fmt: skip
    generator = trainer.generator
    frozen = {v.path: v.numpy().copy() for b in recurrent_blocks(generator) for v in b.weights}
    others = {v.path: v.numpy().copy() for v in generator.trainable_weights}
    assert frozen and not set(frozen) & set(others)
    assert len(trainer.opt_g.variables) < 2 * len(generator.weights)  # only trainable tracked
    x = tf.constant(_holograms(2, size=16, batch=2))
    y = tf.constant(np.random.default_rng(1).standard_normal((2, 16, 16, 2)).astype(np.float32))
    trainer.train_on_batch(x, y)
    for b in recurrent_blocks(generator):
        for v in b.weights:
            np.testing.assert_array_equal(v.numpy(), frozen[v.path])
    moved = [not np.array_equal(v.numpy(), others[v.path]) for v in generator.trainable_weights]
    assert all(moved)


def test_freeze_needs_recurrent_blocks_and_discriminator_scores_each_image(tiny_config):
    discriminator = build_discriminator(tiny_config)
    assert discriminator(np.zeros((3, 32, 48, 2), np.float32)).shape == (3, 1)
    with pytest.raises(ValueError, match="no RecurrentBlock"):
        freeze_recurrent_blocks(discriminator)
    plain = keras.Sequential([keras.Input((None, None, None, 2)), ConvGRU2D(2)])
    assert count_params(plain)[0] == count_params(plain)[1] > 0
