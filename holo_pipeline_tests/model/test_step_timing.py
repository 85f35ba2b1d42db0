"""Controlled step timing, and what a training seed changes (real Keras models, tiny RH-M)."""

import numpy as np

from holo_pipeline.datasets.tf_data import make_dataset
from holo_pipeline.model import build_gan, build_generator
from holo_pipeline.model.step_timing import time_train_steps


def _batches(store, seed: int = 0, n: int = 2):
    data = make_dataset(
        [store], n_holograms=2, batch_size=2, seed=seed, crop_size=16, drop_remainder=True
    )
    return [(x.numpy(), y.numpy()) for x, y in data.take(n)]


def test_variants_are_timed_round_robin_after_a_warmup(
    tiny_config, tiny_training, stores, tmp_path
):
    backbone = tmp_path / "backbone.keras"
    build_generator(tiny_config).save(backbone)
    timing = time_train_steps(
        backbone, _batches(stores[0]), model_config=tiny_config, config=tiny_training,
        rounds=3, warmup=1,
    )  # fmt: skip
    assert len(timing) == 3 * 3
    assert (timing["seconds"] > 0).all()
    # each round times every variant once, and the order rotates between rounds
    assert (timing.groupby("round")["variant"].nunique() == 3).all()
    first = timing[timing["position"] == 0]["variant"].tolist()
    assert len(set(first)) == 3


def test_seeds_draw_different_weights_and_crops(tiny_config, tiny_training, stores):
    def weights(seed):
        gan = build_gan(
            "scratch", model_config=tiny_config, config=tiny_training, steps_per_epoch=1, seed=seed
        )
        return [w.numpy() for w in gan.generator.weights + gan.discriminator.weights]

    a, b, again = weights(0), weights(1), weights(0)
    assert all(np.array_equal(x, y) for x, y in zip(a, again, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    crops0, crops1 = _batches(stores[0], seed=0), _batches(stores[0], seed=1)
    assert not np.array_equal(crops0[0][1], crops1[0][1])
    assert np.array_equal(crops0[0][1], _batches(stores[0], seed=0)[0][1])
