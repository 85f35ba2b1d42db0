"""Evaluation on test patients only, with real Zarr patch stores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from holo_pipeline.datasets.patch_store import write_patch_store
from holo_pipeline.evaluation.evaluate import (
    SplitLeakError,
    evaluate_model,
    evaluate_runs,
    patch_metrics,
    select_test_slides,
)
from holo_pipeline.evaluation.tables import evaluation_metrics_table

P = 24


def _store(root, slide_id: str, patient_id: str, marker: float, n: int = 3):
    rng = np.random.default_rng(int(marker * 10) + len(slide_id))
    target = np.stack([np.full((n, P, P), marker), rng.normal(0, 0.1, (n, P, P))], axis=-1).astype(
        np.float32
    )
    inputs = np.repeat(target[:, None], 4, axis=1)
    return write_patch_store(
        root / f"{slide_id}.zarr",
        inputs,
        target,
        fov_index=np.zeros(n, np.int32),
        origin=np.zeros((n, 2), np.int32),
        attrs={
            "slide_id": slide_id,
            "patient_id": patient_id,
            "tissue": "prostate",
            "fov_ids": ["fov_000"],
            "heights_m": [[5e-4, 4e-4, 6e-4, 4.5e-4]],
        },
    )


@pytest.fixture
def splits(tmp_path) -> pd.DataFrame:
    rows = []
    # marker values: train 1.0, val 2.0, test 3.0 (and another tissue's test 4.0)
    for slide, patient, split, marker, tissue in (
        ("pr-a", "pat-a", "train", 1.0, "prostate"),
        ("pr-b", "pat-b", "val", 2.0, "prostate"),
        ("pr-c", "pat-c", "test", 3.0, "prostate"),
        ("pr-d", "pat-c", "test", 3.0, "prostate"),
        ("sg-a", "pat-s", "test", 4.0, "salivary_gland"),
    ):
        path = _store(tmp_path, slide, patient, marker)
        rows.append(
            {
                "slide_id": slide,
                "patient_id": patient,
                "tissue": tissue,
                "split": split,
                "n_patches": 3,
                "patch_store": str(path),
            }
        )
    return pd.DataFrame(rows)


def test_evaluation_reads_only_test_patients(splits):
    seen: list[float] = []

    def reconstruct(x: np.ndarray) -> np.ndarray:
        seen.extend(np.unique(x[..., 0]).tolist())
        return x[:, 0] * np.float32(0.9)

    test = select_test_slides(splits, "prostate")
    records, kept = evaluate_model(
        reconstruct, test, n_holograms=2, labels={"variant": "scratch"}, batch_size=2, keep=2
    )
    assert set(seen) == {3.0}  # never a train (1.0), val (2.0) or other tissue's (4.0) patch
    assert len(records) == 6
    assert {r["patient_id"] for r in records} == {"pat-c"}
    assert {r["slide_id"] for r in records} == {"pr-c", "pr-d"}
    assert all(r["variant"] == "scratch" for r in records)
    assert len(kept) == 2
    assert records[0]["ecc"] == pytest.approx(1.0, abs=1e-6)  # scaling keeps the correlation
    assert records[0]["amplitude_rmse"] > 0


def test_every_run_and_the_backbone_directly_score_their_own_tissues_test_patients(splits):
    seen: dict[str, set[float]] = {}

    def load(path: str):
        def reconstruct(x: np.ndarray) -> np.ndarray:
            seen.setdefault(path, set()).update(np.unique(x[..., 0]).tolist())
            return x[:, 0]

        return reconstruct

    labels = {"variant": "frozen_rnn", "nt_ratio": 0.121, "n_holograms": 2, "seed": 0}
    runs = [
        {"model_key": "pr-frozen", "tissue": "prostate", "model_path": "pr.keras", **labels},
        {"model_key": "sg-frozen", "tissue": "salivary_gland", "model_path": "sg.keras", **labels},
    ]
    backbone = {"model_key": "pretrained_backbone", "model_path": "bb.keras"}
    records, kept, test_sets = evaluate_runs(load, runs, backbone, splits, backbone_holograms=3)
    assert seen == {"pr.keras": {3.0}, "sg.keras": {4.0}, "bb.keras": {3.0, 4.0}}
    table = pd.DataFrame(records)
    counts = table.groupby(["tissue", "variant"]).size().to_dict()
    assert counts == {
        ("prostate", "backbone_direct"): 6,
        ("prostate", "frozen_rnn"): 6,
        ("salivary_gland", "backbone_direct"): 3,
        ("salivary_gland", "frozen_rnn"): 3,
    }
    assert set(table.loc[table.variant == "backbone_direct", "n_holograms"]) == {3}
    assert set(kept) == {
        ("prostate", "pr-frozen"),
        ("prostate", "pretrained_backbone"),
        ("salivary_gland", "sg-frozen"),
        ("salivary_gland", "pretrained_backbone"),
    }
    assert set(test_sets) == {"prostate", "salivary_gland"}


def test_a_test_patient_in_train_is_refused(splits):
    leaky = splits.copy()
    leaky.loc[leaky["slide_id"] == "pr-a", "patient_id"] = "pat-c"
    with pytest.raises(SplitLeakError, match=r"\['pat-c'\]"):
        select_test_slides(leaky, "prostate")
    with pytest.raises(ValueError, match="no test slide"):
        select_test_slides(splits, "lung")


def test_patch_metrics_hand_computed():
    target = np.zeros((16, 16, 2), np.float32)
    target[..., 0] = 1.0
    pred = target.copy()
    pred[..., 0] = 0.0
    pred[..., 1] = 1.0  # same amplitude, phase +π/2
    m = patch_metrics(pred, target)
    assert m["amplitude_rmse"] == pytest.approx(0.0, abs=1e-7)
    assert m["phase_rmse"] == pytest.approx(np.pi / 2)
    assert m["ecc"] == pytest.approx(0.0, abs=1e-7)
    assert m["mae"] == pytest.approx(1.0)
    assert m["ms_ssim"] == pytest.approx(1.0)  # amplitudes identical; 16 px allows one scale


def test_evaluation_heights_spread_over_sorted_z2(splits):
    from holo_pipeline.datasets.patch_store import open_patch_store
    from holo_pipeline.evaluation.evaluate import evaluation_heights

    store = open_patch_store(splits["patch_store"].iloc[0])
    # z2 = 500, 400, 600, 450 µm -> ascending order of indices 1, 3, 0, 2
    assert evaluation_heights(store, 0, 2).tolist() == [1, 2]
    assert evaluation_heights(store, 0, 4).tolist() == [1, 3, 0, 2]
    with pytest.raises(ValueError, match="n_holograms"):
        evaluation_heights(store, 0, 5)


def test_each_record_names_the_fov_its_patch_came_from(tmp_path):
    fov_ids = ["fov_000", "fov_003", "fov_007"]
    fov_index = np.array([2, 0, 2, 1], np.int32)
    target = np.ones((4, P, P, 2), np.float32)
    path = write_patch_store(
        tmp_path / "pr-e.zarr",
        np.repeat(target[:, None], 4, axis=1),
        target,
        fov_index=fov_index,
        origin=np.zeros((4, 2), np.int32),
        attrs={"slide_id": "pr-e", "patient_id": "pat-e", "tissue": "prostate", "fov_ids": fov_ids},
    )
    test = pd.DataFrame(
        [
            {
                "slide_id": "pr-e",
                "patient_id": "pat-e",
                "tissue": "prostate",
                "patch_store": str(path),
            }
        ]
    )
    labels = {
        "model_key": "k",
        "tissue": "prostate",
        "variant": "scratch",
        "nt_ratio": 0.1,
        "n_holograms": 2,
        "seed": 0,
    }
    records, _ = evaluate_model(lambda x: x[:, 0], test, n_holograms=2, labels=labels, batch_size=3)
    table = evaluation_metrics_table(records)
    assert list(table["patch_index"]) == [0, 1, 2, 3]
    assert str(table["fov_id"].dtype) == "string"
    for row in table.itertuples():
        assert row.fov_id in fov_ids
        assert row.fov_id == fov_ids[fov_index[row.patch_index]]


def test_a_store_without_fov_ids_is_refused(tmp_path):
    bare = write_patch_store(
        tmp_path / "bare.zarr",
        np.zeros((1, 4, P, P, 2)),
        np.zeros((1, P, P, 2)),
        fov_index=np.zeros(1),
        origin=np.zeros((1, 2)),
        attrs={},
    )
    test = pd.DataFrame([{"slide_id": "x", "patient_id": "y", "patch_store": str(bare)}])
    with pytest.raises(ValueError, match="fov_ids"):
        evaluate_model(lambda x: x[:, 0], test, n_holograms=2, labels={})


def test_pooled_models_and_cached_patches_score_as_the_plain_per_patch_path(splits, tmp_path):
    """Real tiny TF generators on real patch stores: the evaluation's fast path (one Keras model
    per M with weights swapped in, test patches read once per tissue and M, several patches per
    call) gives the records and kept predictions of the plain path (a freshly loaded model per
    run, one patch per call, patches read again for every model)."""
    from functools import partial

    import keras

    from holo_pipeline.model import RHMConfig, build_generator, load_generator, predict
    from holo_pipeline.model.inference import GeneratorPool

    config = RHMConfig(n_ch=4, n_levels=2, disc_n_ch=4, disc_levels=2, disc_max_ch=8)
    paths = {}
    for seed, name in enumerate(("a", "b", "c", "bb")):
        keras.utils.set_random_seed(seed)
        paths[name] = str(tmp_path / f"{name}.keras")
        build_generator(config).save(paths[name])
    runs = [
        {"model_key": key, "tissue": tissue, "variant": "frozen_rnn", "nt_ratio": 0.121,
         "n_holograms": m, "seed": 0, "model_path": paths[name]}
        for key, tissue, m, name in (
            ("pr-a-m2", "prostate", 2, "a"), ("pr-b-m2", "prostate", 2, "b"),
            ("pr-c-m3", "prostate", 3, "c"), ("sg-a-m2", "salivary_gland", 2, "a"),
        )
    ]  # fmt: skip
    backbone = {"model_key": "pretrained_backbone", "model_path": paths["bb"]}

    pool = GeneratorPool()
    fast, fast_kept, _ = evaluate_runs(
        partial(pool.reconstructor, batch_size=2), runs, backbone, splits,
        backbone_holograms=4, batch_size=4,
    )  # fmt: skip
    plain, plain_kept, _ = evaluate_runs(
        lambda path: partial(predict, load_generator(path), batch_size=1), runs, backbone,
        splits, backbone_holograms=4, batch_size=1, cache_bytes=0,
    )  # fmt: skip

    assert pool.built == 3  # M = 2, 3 and the backbone's 4
    fast_table, plain_table = pd.DataFrame(fast), pd.DataFrame(plain)
    metrics = ["amplitude_rmse", "phase_rmse", "ecc", "mae", "ms_ssim"]
    pd.testing.assert_frame_equal(
        fast_table.drop(columns=metrics), plain_table.drop(columns=metrics)
    )
    np.testing.assert_allclose(fast_table[metrics], plain_table[metrics], rtol=1e-5, atol=1e-6)
    assert fast_table["amplitude_rmse"].nunique() > 3  # the models really differ
    assert fast_kept.keys() == plain_kept.keys()
    for key in plain_kept:
        np.testing.assert_allclose(fast_kept[key], plain_kept[key], rtol=1e-5, atol=1e-6)
