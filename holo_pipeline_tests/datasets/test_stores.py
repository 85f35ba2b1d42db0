import numpy as np
import pandas as pd
import pytest

from holo_pipeline.atomic import atomic_path
from holo_pipeline.datasets.stores import (
    open_field_store,
    open_hologram_store,
    write_field_store,
    write_hologram_store,
    write_parquet,
)


def _tree_bytes(root):
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_hologram_store_round_trip_is_byte_identical_on_rewrite(tmp_path):
    rng = np.random.default_rng(0)
    holograms = rng.random((2, 8, 12, 10), dtype=np.float32)
    kwargs = dict(
        scan_shifts=rng.random((2, 8, 36, 2)),
        height_shifts=rng.random((2, 8, 2)),
        attrs={"slide_id": "s", "fov_ids": ["a", "b"]},
    )
    path = write_hologram_store(tmp_path / "s.zarr", holograms, **kwargs)
    first = _tree_bytes(path)
    write_hologram_store(tmp_path / "s.zarr", holograms, **kwargs)
    assert _tree_bytes(path) == first
    store = open_hologram_store(path)
    assert store.holograms.shape == (2, 8, 12, 10) and store.holograms.dtype == np.float32
    assert store.holograms.chunks == (1, 1, 12, 10)
    np.testing.assert_array_equal(store.holograms[...], holograms)
    assert [p.name for p in tmp_path.iterdir()] == ["s.zarr"]


def test_field_store_keeps_complex64(tmp_path):
    field = (np.ones((1, 6, 6)) * (1 + 2j)).astype(np.complex64)
    z2 = np.array([[450.25e-6, 475.5e-6, 500.125e-6]])
    path = write_field_store(tmp_path / "f.zarr", field, residuals=np.ones((1, 5)), z2=z2, attrs={})
    store = open_field_store(path)
    assert store.field.dtype == np.complex64
    np.testing.assert_array_equal(store.field[...], field)
    assert store.residuals.shape == (1, 5)
    np.testing.assert_array_equal(store.z2, z2)  # float64: heights survive exactly
    with pytest.raises(ValueError, match="z2 must be"):
        write_field_store(tmp_path / "g.zarr", field, residuals=np.ones((1, 5)), z2=z2[0], attrs={})


def test_a_failed_write_leaves_the_previous_output(tmp_path):
    final = tmp_path / "t.parquet"
    write_parquet(pd.DataFrame({"a": [1]}), final)
    with pytest.raises(RuntimeError), atomic_path(final) as tmp:
        tmp.write_bytes(b"partial")
        raise RuntimeError("killed")
    assert pd.read_parquet(final)["a"].tolist() == [1]
    assert [p.name for p in tmp_path.iterdir()] == ["t.parquet"]


def test_stale_temporaries_of_a_killed_writer_are_cleared_on_next_write(tmp_path):
    (tmp_path / ".t.parquet.tmp-deadbeef").write_bytes(b"junk")
    write_parquet(pd.DataFrame({"a": [1]}), tmp_path / "t.parquet")
    assert [p.name for p in tmp_path.iterdir()] == ["t.parquet"]


def test_shapes_are_validated_before_writing(tmp_path):
    with pytest.raises(ValueError, match="height_shifts"):
        write_hologram_store(
            tmp_path / "s.zarr",
            np.zeros((1, 8, 4, 4)),
            scan_shifts=np.zeros((1, 8, 36, 2)),
            height_shifts=np.zeros((1, 7, 2)),
            attrs={},
        )
    assert not any(tmp_path.iterdir())
