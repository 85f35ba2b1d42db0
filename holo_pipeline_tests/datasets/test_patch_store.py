import numpy as np
import pytest

from holo_pipeline.datasets.patch_store import open_patch_store, write_patch_store


def _arrays(n=3, m=8, p=16, seed=0):
    rng = np.random.default_rng(seed)
    inputs = rng.standard_normal((n, m, p, p, 2)).astype(np.float32)
    target = rng.standard_normal((n, p, p, 2)).astype(np.float32)
    return inputs, target, np.arange(n), np.zeros((n, 2))


def test_round_trip_and_layout(tmp_path):
    inputs, target, fov, origin = _arrays()
    path = write_patch_store(
        tmp_path / "s1.zarr", inputs, target, fov_index=fov, origin=origin, attrs={"slide_id": "s1"}
    )
    store = open_patch_store(path)
    assert store.inputs.chunks == (1, 8, 16, 16, 2)
    assert store.target.chunks == (1, 16, 16, 2)
    np.testing.assert_array_equal(store.inputs[...], inputs)
    np.testing.assert_array_equal(store.target[...], target)
    assert store.attrs["slide_id"] == "s1"
    assert (store.n_patches, store.n_heights, store.patch_size) == (3, 8, 16)


def test_rewrite_replaces_whole_store_and_leaves_no_temporaries(tmp_path):
    inputs, target, fov, origin = _arrays(n=3)
    write_patch_store(tmp_path / "s.zarr", inputs, target, fov_index=fov, origin=origin, attrs={})
    inputs2, target2, fov2, origin2 = _arrays(n=2, seed=1)
    write_patch_store(
        tmp_path / "s.zarr", inputs2, target2, fov_index=fov2, origin=origin2, attrs={}
    )
    store = open_patch_store(tmp_path / "s.zarr")
    assert store.n_patches == 2
    np.testing.assert_array_equal(store.target[...], target2)
    assert [p.name for p in tmp_path.iterdir()] == ["s.zarr"]


def test_mismatched_shapes_are_rejected_before_anything_is_written(tmp_path):
    inputs, target, fov, origin = _arrays()
    with pytest.raises(ValueError, match="target must be"):
        write_patch_store(
            tmp_path / "s.zarr", inputs, target[:2], fov_index=fov, origin=origin, attrs={}
        )
    assert not any(tmp_path.iterdir())


def test_height_order_sorts_by_each_fovs_z2(tmp_path):
    inputs, target, _, origin = _arrays(n=3, m=3)
    heights_m = [[5e-4, 4e-4, 6e-4], [4e-4, 6e-4, float("nan")]]  # FOV 1 lacks a height
    path = write_patch_store(
        tmp_path / "s.zarr",
        inputs,
        target,
        fov_index=np.array([0, 1, 2]),  # FOV 2 has no z2 at all
        origin=origin,
        attrs={"heights_m": heights_m},
    )
    store = open_patch_store(path)
    assert store.height_order(0).tolist() == [1, 0, 2]
    assert store.height_order(1).tolist() == [0, 1, 2]
    assert store.height_order(2).tolist() == [0, 1, 2]
