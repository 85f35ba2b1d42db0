"""The transfer experiment plan, Nt/N → tiles, and tile selection."""

import numpy as np
import pytest

from holo_pipeline.datasets.experiments import (
    TransferExperiment,
    n_transfer_tiles,
    select_tiles,
    tiles_per_patch,
)
from holo_pipeline.datasets.patch_store import open_patch_store, write_patch_store
from holo_pipeline.profile import load_profile
from holo_pipeline.settings import ConfigError


def test_partition_keys_round_trip_and_cover_both_tissues_and_variants():
    for profile in ("demo", "paper"):
        plan = load_profile(profile).plan
        keys = plan.partition_keys()
        assert len(keys) == len(set(keys))
        experiments = [TransferExperiment.from_key(k) for k in keys]
        assert [e.key for e in experiments] == keys
        assert {e.tissue for e in experiments} == {"prostate", "salivary_gland"}
        assert {e.variant for e in experiments} == {"frozen_rnn", "full_transfer", "scratch"}
    paper = load_profile("paper").plan
    assert paper.pretrain_holograms == 5
    assert "salivary_gland-frozen_rnn-r0.248-m4-s0" in paper.partition_keys()
    assert "prostate-scratch-r0.121-m2-s0" in paper.partition_keys()


def test_bad_keys_are_refused():
    with pytest.raises(ConfigError, match="not a transferred_models partition key"):
        TransferExperiment.from_key("prostate-frozen_rnn-0.1-m2-s0")
    with pytest.raises(ConfigError, match="variant must be one of"):
        TransferExperiment.from_key("prostate-frozen-r0.100-m2-s0")


def test_nt_from_ratio():
    assert n_transfer_tiles(0.121, 32, 32) == 4
    assert n_transfer_tiles(0.5, 32, 32) == 16
    assert n_transfer_tiles(0.01, 32, 32) == 1  # never empty
    assert n_transfer_tiles(1.0, 32, 10) == 10  # capped by what exists
    with pytest.raises(ValueError, match="no training tile"):
        n_transfer_tiles(0.5, 32, 0)
    assert tiles_per_patch(512, 128) == 16
    assert tiles_per_patch(512, None) == 1
    assert tiles_per_patch(64, 128) == 1


def test_select_tiles_cuts_unique_squares(tmp_path):
    n, p = 2, 32
    target = np.arange(n * p * p * 2, dtype=np.float32).reshape(n, p, p, 2)
    inputs = np.repeat(target[:, None], 3, axis=1)
    path = write_patch_store(
        tmp_path / "s.zarr",
        inputs,
        target,
        fov_index=np.array([0, 1]),
        origin=np.array([[0, 0], [0, 100]]),
        attrs={"heights_m": [[1.0, 2.0, 3.0], [1.0, 3.0, 2.0]]},
    )
    store = open_patch_store(path)
    tiles = select_tiles([store], 5, 16, seed=0)
    assert tiles["inputs"].shape == (5, 3, 16, 16, 2)
    assert tiles["target"].shape == (5, 16, 16, 2)
    firsts = {float(t[0, 0, 0]) for t in tiles["target"]}
    assert len(firsts) == 5  # five different squares
    for t, fov, origin in zip(tiles["target"], tiles["fov_index"], tiles["origin"], strict=True):
        i = int(fov)
        y, x = origin - store.origin[i]
        np.testing.assert_array_equal(t, target[i, y : y + 16, x : x + 16])
    assert tiles["heights_m"] == [[1.0, 2.0, 3.0], [1.0, 3.0, 2.0]]
    again = select_tiles([store], 5, 16, seed=0)
    np.testing.assert_array_equal(again["origin"], tiles["origin"])
    with pytest.raises(ValueError, match=r"n_tiles must be in 1\.\.8"):
        select_tiles([store], 9, 16, seed=0)


def test_transfer_tiles_are_nt_over_n_of_the_new_tissues_train_tiles(tmp_path):
    import dataclasses

    import pandas as pd

    from holo_pipeline.datasets.experiments import write_transfer_tiles
    from holo_pipeline.datasets.splits import patch_stores

    def store(name, n, tissue):
        target = np.ones((n, 32, 32, 2), np.float32)
        return write_patch_store(
            tmp_path / f"{name}.zarr",
            np.repeat(target[:, None], 2, axis=1),
            target,
            fov_index=np.zeros(n, np.int32),
            origin=np.zeros((n, 2), np.int32),
            attrs={"tissue": tissue, "slide_id": name, "heights_m": [[1.0, 2.0]]},
        )

    rows = [  # three pretraining tissues with 2 train patches each; the new one has 4
        *[("p-" + t, t, "train", 2) for t in ("blood_smear", "pap_smear", "lung")],
        ("new-a", "prostate", "train", 3),
        ("new-b", "prostate", "train", 1),
        ("new-v", "prostate", "val", 2),
        ("empty", "prostate", "train", 0),
    ]
    splits = pd.DataFrame(
        [
            {"slide_id": s, "tissue": t, "split": sp, "n_patches": n, "patch_store": str(p)}
            for s, t, sp, n in rows
            for p in [store(s, max(n, 1), t)]
        ]
    )
    plan = dataclasses.replace(load_profile("demo").plan, tile_size=16)  # 4 tiles per patch
    assert patch_stores(splits, ["prostate"], "train") == [
        str(tmp_path / "new-a.zarr"),
        str(tmp_path / "new-b.zarr"),
    ]  # by slide id; the store without patches is left out
    experiment = TransferExperiment("prostate", "frozen_rnn", 0.5, 2)
    path, nt, n = write_transfer_tiles(
        experiment,
        plan,
        pretrain_stores=patch_stores(splits, plan.pretrain_tissues, "train"),
        tissue_stores=patch_stores(splits, ["prostate"], "train"),
        path=tmp_path / "tiles.zarr",
        seed=0,
    )
    assert n == 8  # 2 patches × 4 tiles per pretraining tissue
    assert nt == 4  # round(0.5 × 8)
    tiles = open_patch_store(path)
    assert tiles.n_patches == 4 and tiles.patch_size == 16
    assert tiles.attrs["slide_ids"] == ["new-a", "new-b"]
    with pytest.raises(ValueError, match="no train slide with patches for prostate"):
        write_transfer_tiles(
            experiment, plan, pretrain_stores=[], tissue_stores=[], path=tmp_path / "x", seed=0
        )
