"""End to end: backbone, transferred models and evaluation tables on tiny synthetic patch stores.

Real Dagster (temporary instance), real Zarr stores, real TensorFlow training (1–2 epochs of a
narrow RH-M on 64×64 patches). The physics assets are not run here: the test writes the patch
stores and the ``dataset_splits`` table those assets would produce.
"""

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from holo_pipeline.catalog import load_catalog, load_table
from holo_pipeline.datasets.patch_store import write_patch_store
from holo_pipeline.datasets.stores import write_parquet
from holo_pipeline.evaluation import tables

P = 64
TISSUES = ("blood_smear", "pap_smear", "lung", "prostate", "salivary_gland")


def _write_cohort(root) -> pd.DataFrame:
    """Three patients per tissue, one slide each (train, val, test), 2 patches per slide."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:P, :P] / P
    rows = []
    for t, tissue in enumerate(TISSUES):
        for k, split in enumerate(("train", "val", "test")):
            slide_id = f"{tissue.replace('_', '-')}-p0{k + 1}-s1"
            phase = np.stack(
                [np.sin(2 * np.pi * (3 + t) * (xx + rng.uniform()) * (1 + yy)) for _ in range(2)]
            )
            field = (0.6 + 0.3 * np.cos(phase)) * np.exp(1j * 0.8 * phase)
            target = np.stack([field.real, field.imag], axis=-1)
            inputs = target[:, None] + rng.normal(0, 0.1, (2, 8, P, P, 2))
            path = write_patch_store(
                root / "patch_dataset" / f"{slide_id}.zarr",
                inputs,
                target,
                fov_index=np.arange(2),
                origin=np.zeros((2, 2)),
                attrs={
                    "slide_id": slide_id,
                    "patient_id": f"{tissue}-patient-{k}",
                    "tissue": tissue,
                    "fov_ids": ["fov_000", "fov_001"],
                    "heights_m": [list(np.linspace(4e-4, 6e-4, 8))] * 2,
                    "patch_size": P,
                },
            )
            rows.append(
                {
                    "slide_id": slide_id,
                    "patient_id": f"{tissue}-patient-{k}",
                    "tissue": tissue,
                    "split": split,
                    "n_patches": 2,
                    "n_fov": 2,
                    "patch_store": str(path),
                }
            )
    splits = pd.DataFrame(rows)
    write_parquet(splits, root / "tables" / "dataset_splits.parquet")
    return splits


@pytest.mark.slow
def test_backbone_transfer_and_evaluation_tables(tmp_path, monkeypatch):
    monkeypatch.setenv("HOLO_DATA_ROOT", str(tmp_path))
    monkeypatch.setenv("HOLO_PROFILE", "demo")
    from holo_pipeline.definitions import build_definitions

    splits = _write_cohort(tmp_path)
    defs = build_definitions("demo", tmp_path)
    instance = dg.DagsterInstance.ephemeral()
    assets = [*defs.assets, *defs.asset_checks]
    train_cfg = {"config": {"epochs": 2}}

    result = dg.materialize(
        assets,
        selection=["pretrained_backbone"],
        instance=instance,
        resources=defs.resources,
        run_config={"ops": {"pretrained_backbone": train_cfg}},
    )
    assert result.success
    keys = [f"prostate-{v}-r0.121-m2-s0" for v in ("frozen_rnn", "full_transfer", "scratch")]
    for key in keys:
        result = dg.materialize(
            assets,
            selection=["transferred_models"],
            partition_key=key,
            instance=instance,
            resources=defs.resources,
            run_config={"ops": {"transferred_models": train_cfg}},
        )
        assert result.success
    result = dg.materialize(
        assets,
        selection=[*tables.TABLES, *tables.DERIVED_TABLES],
        instance=instance,
        resources=defs.resources,
    )
    assert result.success

    # every table has its documented columns and dtypes, in the catalog as in the code
    catalog = load_catalog()
    for name in tables.TABLES:
        schema = tables.schema(name)
        table = load_table(name)
        assert list(table.columns) == list(schema), name
        assert {c: str(t) for c, t in table.dtypes.items()} == schema, name
        documented = {
            c: ("Int64" if d == "int64?" else d.rstrip("?"))
            for c, d in catalog.entry(name).columns.items()
        }
        assert documented == schema, name

    metrics = load_table("evaluation_metrics")
    assert set(metrics["variant"]) == {"frozen_rnn", "full_transfer", "scratch", "backbone_direct"}
    assert set(metrics["tissue"]) == {"prostate"}
    # only test patients, never a train or validation patient
    test_patients = set(splits.loc[splits["split"] == "test", "patient_id"])
    assert set(metrics["patient_id"]) == {"prostate-patient-2"} <= test_patients
    assert len(metrics) == 4 * 2  # 4 models × 2 test patches
    assert metrics["ecc"].between(-1, 1).all()

    runs = load_table("training_runs").set_index("variant")
    assert set(runs.index) == {"backbone", "frozen_rnn", "full_transfer", "scratch"}
    assert (
        runs.loc["frozen_rnn", "trainable_params"] < runs.loc["full_transfer", "trainable_params"]
    )
    assert runs.loc["frozen_rnn", "total_params"] == runs.loc["full_transfer", "total_params"]
    assert runs.loc["scratch", "epochs_to_baseline_best"] == runs.loc["scratch", "best_epoch"]
    assert (runs["epochs_run"] == 2).all()
    history = load_table("training_history")
    assert len(history) == 4 * 2

    summary = load_table("evaluation_summary")
    assert (summary["n_patches"] == 2).all()
    assert len(summary) == 4

    # the frozen model's recurrent blocks are still the backbone's, the full transfer's are not
    from holo_pipeline.model import load_generator, recurrent_blocks

    def rnn_weights(path):
        return [w for b in recurrent_blocks(load_generator(path)) for w in b.get_weights()]

    backbone = rnn_weights(runs.loc["backbone", "model_path"])
    frozen = rnn_weights(runs.loc["frozen_rnn", "model_path"])
    full = rnn_weights(runs.loc["full_transfer", "model_path"])
    assert all(np.array_equal(a, b) for a, b in zip(backbone, frozen, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(backbone, full, strict=True))
