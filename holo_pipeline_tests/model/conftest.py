import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import dataclasses

import numpy as np
import pytest

from holo_pipeline.datasets.patch_store import write_patch_store
from holo_pipeline.model.config import RHMConfig, TrainingConfig
from holo_pipeline.profile import load_profile

TINY = RHMConfig(n_ch=4, n_levels=2, bn_momentum=0.5, disc_n_ch=4, disc_levels=2, disc_max_ch=8)


@pytest.fixture
def tiny_config() -> RHMConfig:
    return TINY


@pytest.fixture
def tiny_training() -> TrainingConfig:
    return dataclasses.replace(
        load_profile("demo").training("transfer"),
        epochs=2, batch_size=2, crop_size=16, val_crop_size=32, repeats=1, lr_g=1e-3, lr_d=1e-4,
    )  # fmt: skip


def write_stores(root, *, n_train=3, n_val=1, size=32, seed=0):
    """Learnable toy stores: the target is a smooth field, inputs are noisy copies of it."""
    rng = np.random.default_rng(seed)
    paths = []
    for name, n in (("train", n_train), ("val", n_val)):
        yy, xx = np.mgrid[:size, :size] / size
        phase = rng.uniform(0, 2 * np.pi, (n, 1, 1))
        field = np.exp(1j * (np.sin(2 * np.pi * (yy + xx)[None] + phase)))
        target = np.stack([field.real, field.imag], -1).astype(np.float32) * 0.8
        inputs = target[:, None] + 0.2 * rng.standard_normal((n, 8, size, size, 2))
        paths.append(
            write_patch_store(
                root / f"{name}.zarr",
                inputs,
                target,
                fov_index=np.zeros(n),
                origin=np.zeros((n, 2)),
                attrs={},
            )
        )
    return paths


@pytest.fixture
def stores(tmp_path):
    return write_stores(tmp_path)


@pytest.fixture
def make_stores():
    return write_stores
