"""GeneratorPool: saved generators of one architecture share a Keras model and its trace."""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest

from holo_pipeline.model import build_generator, load_generator, predict
from holo_pipeline.model.inference import GeneratorPool, architecture_key


def _save(config, path, seed: int):
    keras.utils.set_random_seed(seed)
    build_generator(config).save(path)
    return path


def test_pooled_models_predict_as_freshly_loaded_ones(tiny_config, tmp_path):
    paths = [_save(tiny_config, tmp_path / f"g{i}.keras", seed=i) for i in range(3)]
    rng = np.random.default_rng(0)
    inputs = {m: rng.normal(size=(3, m, 16, 16, 2)).astype(np.float32) for m in (2, 3)}
    pool = GeneratorPool()
    # interleave models and M as the evaluation does (a model per run, M per tissue/run)
    order = [(0, 2), (1, 2), (2, 3), (0, 3), (1, 2), (2, 2), (0, 2)]
    for i, m in order:
        got = pool.reconstructor(paths[i], batch_size=2)(inputs[m])
        want = predict(load_generator(paths[i]), inputs[m], batch_size=2)
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    # one Keras model per M; the others only had their weights loaded, and (1, 2) the second
    # time found its weights still in the M = 2 model
    assert pool.built == 2
    assert pool.weight_loads == 4
    outputs = [pool.reconstructor(p)(inputs[2]) for p in paths]
    assert not np.allclose(outputs[0], outputs[1])  # the weights really were swapped


def test_architecture_key_ignores_weights_not_layout(tiny_config, tmp_path):
    a = architecture_key(_save(tiny_config, tmp_path / "a.keras", seed=0))
    b = architecture_key(_save(tiny_config, tmp_path / "b.keras", seed=1))
    wider = dataclasses.replace(tiny_config, n_ch=8)
    c = architecture_key(_save(wider, tmp_path / "c.keras", seed=0))
    assert a == b
    assert a != c
    broken = tmp_path / "broken.keras"
    broken.write_text("not a zip")
    with pytest.raises(ValueError, match=r"broken\.keras"):
        architecture_key(broken)
