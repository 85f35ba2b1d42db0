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
    assert "salivary_gland-frozen_rnn-r0.248-m4" in paper.partition_keys()
    assert "prostate-scratch-r0.121-m2" in paper.partition_keys()


def test_bad_keys_are_refused():
    with pytest.raises(ConfigError, match="not a transferred_models partition key"):
        TransferExperiment.from_key("prostate-frozen_rnn-0.1-m2")
    with pytest.raises(ConfigError, match="variant must be one of"):
        TransferExperiment.from_key("prostate-frozen-r0.100-m2")


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
