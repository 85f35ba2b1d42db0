import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

from holo_pipeline.datasets.patch_store import open_patch_store, write_patch_store
from holo_pipeline.datasets.tf_data import (
    dihedral_transform,
    load_into_memory,
    make_dataset,
    plan_epoch,
)

P = 32


def _store(path, n=2, *, seed=0, heights_m=None):
    """Patches whose height-h input is target + 10·h: every input/target pair stays tied."""
    rng = np.random.default_rng(seed)
    target = rng.standard_normal((n, P, P, 2)).astype(np.float32)
    inputs = target[:, None] + 10.0 * np.arange(8, dtype=np.float32)[None, :, None, None, None]
    attrs = {} if heights_m is None else {"heights_m": heights_m, "fov_ids": ["fov_000"]}
    return write_patch_store(
        path, inputs, target, fov_index=np.zeros(n), origin=np.zeros((n, 2)), attrs=attrs
    )


def _batches(ds):
    return [(x.numpy(), y.numpy()) for x, y in ds]


def test_batches_have_the_planned_shapes_and_m_of_8_heights_in_order(tmp_path):
    stores = [_store(tmp_path / "a.zarr", 2, seed=0), _store(tmp_path / "b.zarr", 1, seed=1)]
    ds = make_dataset(stores, n_holograms=3, batch_size=2, seed=0, crop_size=16, augment=True)
    batches = _batches(ds)
    assert [x.shape for x, _ in batches] == [(2, 3, 16, 16, 2), (1, 3, 16, 16, 2)]
    assert [y.shape for _, y in batches] == [(2, 16, 16, 2), (1, 16, 16, 2)]
    for x, y in batches:
        heights = np.rint((x - y[:, None]) / 10.0)  # exact: inputs are target + 10·height
        assert np.all(heights == heights[..., :1, :1, :1])
        drawn = heights[:, :, 0, 0, 0].astype(int)
        assert np.all(np.diff(drawn, axis=1) > 0)  # distinct, ascending
        assert drawn.min() >= 0 and drawn.max() <= 7


def test_heights_follow_the_autofocused_z2_order(tmp_path):
    descending = [[600e-6 - 20e-6 * h for h in range(8)]]  # index 7 is the lowest z2
    store = _store(tmp_path / "a.zarr", 2, heights_m=descending)
    plan = plan_epoch([store], n_holograms=4, seed=3)
    assert np.all(np.diff(plan.heights, axis=1) < 0)


def test_augmentation_transforms_input_and_target_alike(tmp_path):
    store = open_patch_store(_store(tmp_path / "a.zarr", 2))
    plan = plan_epoch([store], n_holograms=2, seed=5, crop_size=24, augment=True, repeats=8)
    # repeats=8: every patch appears in each of the 8 orientations exactly once
    for p in range(2):
        assert sorted(plan.transform[plan.patch == p]) == list(range(8))
    ds = make_dataset(
        [store], n_holograms=2, batch_size=4, seed=5, crop_size=24, augment=True, repeats=8
    )
    x = np.concatenate([b[0] for b in _batches(ds)])
    y = np.concatenate([b[1] for b in _batches(ds)])
    for i in range(len(plan)):
        (oy, ox), k = plan.origin[i], int(plan.transform[i])
        window = (slice(oy, oy + 24), slice(ox, ox + 24))
        raw_target = store.target[int(plan.patch[i])][window]
        raw_inputs = store.inputs[int(plan.patch[i])][plan.heights[i]][:, *window]
        np.testing.assert_array_equal(y[i], dihedral_transform(raw_target, k))
        np.testing.assert_array_equal(x[i], dihedral_transform(raw_inputs, k))
        # and each input is still its target plus its height's offset: the same transform
        heights = np.rint((x[i] - y[i][None]) / 10.0)
        np.testing.assert_array_equal(heights, np.broadcast_to(
            plan.heights[i][:, None, None, None], heights.shape
        ))  # fmt: skip
    assert len({tuple(y[i].ravel()[:8]) for i in range(len(plan))}) > 2  # orientations differ


def test_dihedral_transforms_are_the_eight_distinct_symmetries():
    image = np.arange(16.0).reshape(4, 4, 1)
    outs = {dihedral_transform(image, k).tobytes() for k in range(8)}
    assert len(outs) == 8
    with pytest.raises(ValueError, match=r"0\.\.7"):
        dihedral_transform(image, 8)


def test_same_seed_and_epoch_give_identical_batches_other_epochs_differ(tmp_path):
    stores = [_store(tmp_path / "a.zarr", 2)]
    kw = dict(n_holograms=2, batch_size=2, crop_size=16, augment=True)
    first = _batches(make_dataset(stores, seed=1, epoch=0, **kw))
    again = _batches(make_dataset(stores, seed=1, epoch=0, **kw))
    other_epoch = _batches(make_dataset(stores, seed=1, epoch=1, **kw))
    other_seed = _batches(make_dataset(stores, seed=2, epoch=0, **kw))
    for (x0, y0), (x1, y1) in zip(first, again, strict=True):
        np.testing.assert_array_equal(x0, x1)
        np.testing.assert_array_equal(y0, y1)
    assert not np.array_equal(first[0][1], other_epoch[0][1])
    assert not np.array_equal(first[0][1], other_seed[0][1])


def test_validation_plan_uses_centre_crops_in_store_order(tmp_path):
    store = open_patch_store(_store(tmp_path / "a.zarr", 2))
    ds = make_dataset(
        [store], n_holograms=8, batch_size=2, seed=0, crop_size=16, random_crop=False,
        shuffle=False,
    )  # fmt: skip
    ((x, y),) = _batches(ds)
    np.testing.assert_array_equal(y, store.target[:, 8:24, 8:24])
    np.testing.assert_array_equal(x, store.inputs[:, :, 8:24, 8:24])


def test_bad_requests_are_rejected(tmp_path):
    store = _store(tmp_path / "a.zarr", 1)
    with pytest.raises(ValueError, match="n_holograms"):
        plan_epoch([store], n_holograms=9, seed=0)
    with pytest.raises(ValueError, match="crop_size"):
        plan_epoch([store], n_holograms=2, seed=0, crop_size=P + 1)
    other = write_patch_store(
        tmp_path / "b.zarr", np.zeros((1, 8, 16, 16, 2)), np.zeros((1, 16, 16, 2)),
        fov_index=np.zeros(1), origin=np.zeros((1, 2)), attrs={},
    )  # fmt: skip
    with pytest.raises(ValueError, match="patch size"):
        plan_epoch([store, other], n_holograms=2, seed=0)


def test_several_epochs_in_one_pipeline_are_the_epochs_datasets_in_turn(tmp_path):
    # 3 patches x 1 repeat, batch 2: each epoch drops its own last sample
    stores = [_store(tmp_path / "a.zarr", 3, seed=0)]
    kw = dict(n_holograms=2, batch_size=2, seed=4, crop_size=16, augment=True, drop_remainder=True)
    apart = [b for e in (2, 3, 4) for b in _batches(make_dataset(stores, epoch=e, **kw))]
    together = _batches(make_dataset(stores, epoch=2, n_epochs=3, **kw))
    assert len(together) == len(apart) == 3
    for (x1, y1), (x2, y2) in zip(apart, together, strict=True):
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(y1, y2)
    with pytest.raises(ValueError, match="drop_remainder"):
        make_dataset(stores, epoch=0, n_epochs=2, **{**kw, "drop_remainder": False})


def test_pipelines_run_without_autotuning_even_when_cached(tmp_path):
    """tf.data's autotuning thread made each dropped iterator wait (seconds per run in the demo)."""
    stores = [_store(tmp_path / "a.zarr", 3)]
    ds = make_dataset(stores, n_holograms=2, batch_size=2, seed=0, crop_size=16)
    assert ds.options().autotune.enabled is False
    assert ds.cache().options().autotune.enabled is False  # train_model caches validation sets
    assert ds.options().deterministic is True


def test_stores_read_into_memory_give_the_same_batches(tmp_path):
    stores = [_store(tmp_path / "a.zarr", 2, seed=0), _store(tmp_path / "b.zarr", 1, seed=1)]
    loaded = load_into_memory(stores, max_bytes=1 << 30)
    assert all(isinstance(s.inputs, np.ndarray) for s in loaded)
    lazy = load_into_memory(stores, max_bytes=1000)  # too large: left as Zarr arrays
    assert not any(isinstance(s.inputs, np.ndarray) for s in lazy)
    kw = dict(n_holograms=3, batch_size=2, seed=2, crop_size=16, augment=True, repeats=2)
    for (x1, y1), (x2, y2) in zip(
        _batches(make_dataset(stores, **kw)), _batches(make_dataset(loaded, **kw)), strict=True
    ):
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(y1, y2)


def test_a_padded_last_batch_repeats_the_first_sample_with_zero_weight(tmp_path):
    stores = [_store(tmp_path / "a.zarr", 3, seed=0), _store(tmp_path / "b.zarr", 2, seed=1)]
    kw = dict(n_holograms=3, seed=4, crop_size=16, random_crop=False, shuffle=False)
    single = _batches(make_dataset(stores, batch_size=1, **kw))
    ds = make_dataset(stores, batch_size=2, pad_last_batch=True, **kw)
    padded = [[t.numpy() for t in batch] for batch in ds]
    assert [x.shape[0] for x, _, _ in padded] == [2, 2, 2]  # 5 samples, one copy
    weights = np.concatenate([w for _, _, w in padded])
    np.testing.assert_array_equal(weights, [1, 1, 1, 1, 1, 0])
    xs = np.concatenate([x for x, _, _ in padded])
    ys = np.concatenate([y for _, y, _ in padded])
    np.testing.assert_array_equal(xs[:5], np.concatenate([x for x, _ in single]))
    np.testing.assert_array_equal(ys[:5], np.concatenate([y for _, y in single]))
    np.testing.assert_array_equal(xs[5], xs[0])
    np.testing.assert_array_equal(ys[5], ys[0])
    with pytest.raises(ValueError, match="exclude each other"):
        make_dataset(stores, batch_size=2, pad_last_batch=True, drop_remainder=True, **kw)
