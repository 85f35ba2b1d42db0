import subprocess
import sys

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from holo_pipeline.datasets.patch_store import open_patch_store
from holo_pipeline.datasets.stores import open_field_store, open_hologram_store
from holo_pipeline.definitions import build_definitions
from holo_pipeline_tests.defs.conftest import FRAME, PATCH, corrupt, tree_bytes

SLIDE_ASSETS = [
    dg.AssetKey(k)
    for k in (
        "raw_scans",
        "super_resolved_holograms",
        "autofocused_heights",
        "mhpr_ground_truth",
        "patch_dataset",
    )
]
SPLITS = dg.AssetKey("dataset_splits")


def _run_slide(defs, instance, slide_id, *, raise_on_error=True):
    instance.add_dynamic_partitions("slides", [slide_id])
    job = defs.resolve_implicit_global_asset_job_def()
    return job.execute_in_process(
        instance=instance,
        partition_key=slide_id,
        asset_selection=SLIDE_ASSETS,
        raise_on_error=raise_on_error,
    )


def _data_versions(instance, slide_id):
    versions = {}
    for key in SLIDE_ASSETS:
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, asset_partitions=[slide_id]), limit=1
        ).records
        versions[key] = records[0].asset_materialization.tags["dagster/data_version"]
    return versions


def test_code_location_loads_without_tensorflow_and_has_the_graph():
    code = (
        "import sys; from holo_pipeline.definitions import defs; "
        "assert 'tensorflow' not in sys.modules, 'tensorflow imported'; "
        "print(sorted(k.to_user_string() for k in "
        "defs().get_repository_def().assets_defs_by_key))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "'dataset_splits'" in out.stdout and "'patch_dataset'" in out.stdout

    defs = build_definitions()
    repo = defs.get_repository_def()
    for key, asset in repo.assets_defs_by_key.items():
        assert asset.code_versions_by_key[key], f"{key} has no code version"
        if key in SLIDE_ASSETS:
            assert asset.partitions_def.name == "slides"
        if key not in (dg.AssetKey("raw_scans"),):
            assert asset.automation_conditions_by_key[key] is not None
    sensors = {s.name: s for s in repo.sensor_defs}
    assert set(sensors) == {"landing_sensor", "holo_automation"}
    assert all(s.default_status == dg.DefaultSensorStatus.RUNNING for s in sensors.values())
    # a run per slide partition, never a backfill (see holo_pipeline/defs/sensors.py)
    assert sensors["holo_automation"].emit_backfills is False
    blocking = {
        k.name
        for k, c in repo.asset_checks_defs_by_key.items()
        if c.get_spec_for_check_key(k).blocking
    }
    assert "dataset_splits_no_patient_leakage" in blocking
    assert len(blocking) == 5


def test_one_slide_materialises_with_documented_layout_and_reruns_identically(env, land, instance):
    land("s-one", patient_id="p1", seed=1)
    defs = build_definitions()
    result = _run_slide(defs, instance, "s-one")
    assert result.success
    checks = result.get_asset_check_evaluations()
    per_slide = [c for c in checks if not c.check_name.endswith("_simulator_truth")]
    assert len(per_slide) == 4 and all(c.passed for c in per_slide), [
        (c.check_name, c.metadata) for c in checks if not c.passed
    ]

    metadata = {
        e.asset_key.to_user_string(): e.materialization.metadata
        for e in result.get_asset_materialization_events()
    }
    assert metadata["mhpr_ground_truth"]["residual_curve"].value.startswith(
        "![residuals](data:image/png;base64,iVBOR"
    )
    assert "fov0_amplitude_phase" in metadata["mhpr_ground_truth"]
    truth = {c.check_name: c.metadata for c in checks}  # simulated slide: heights vs its truth
    assert truth["autofocused_heights_match_simulator_truth"]["height_error_max_um"].value >= 0
    assert metadata["patch_dataset"]["path"].value.endswith("patch_dataset/s-one.zarr")
    sr = open_hologram_store(env / "super_resolved_holograms/s-one.zarr")
    assert sr.holograms.shape == (1, 8, 3 * FRAME, 3 * FRAME)
    assert sr.holograms.dtype == np.float32
    heights = pd.read_parquet(env / "autofocused_heights/s-one.parquet")
    assert (
        len(heights) == 8 and truth["autofocused_heights_match_simulator_truth"]["simulated"].value
    )
    field = open_field_store(env / "mhpr_ground_truth/s-one.zarr")
    assert field.field.shape == (1, 3 * FRAME, 3 * FRAME) and field.field.dtype == np.complex64
    assert field.residuals.shape == (1, 10)
    patches = open_patch_store(env / "patch_dataset/s-one.zarr")
    n = (3 * FRAME // PATCH) ** 2
    assert patches.inputs.shape == (n, 8, PATCH, PATCH, 2)
    assert patches.target.shape == (n, PATCH, PATCH, 2)
    assert patches.inputs.dtype == patches.target.dtype == np.float32
    assert patches.attrs["patient_id"] == "p1" and patches.attrs["patch_size"] == PATCH

    splits_run = defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=instance, asset_selection=[SPLITS]
    )
    assert splits_run.success
    table = pd.read_parquet(env / "tables/dataset_splits.parquet")
    assert table[["slide_id", "patient_id", "tissue", "n_patches"]].values.tolist() == [
        ["s-one", "p1", "prostate", n]
    ]
    assert table["split"].iloc[0] in ("train", "val", "test")

    outputs = [
        env / "super_resolved_holograms/s-one.zarr",
        env / "autofocused_heights/s-one.parquet",
        env / "mhpr_ground_truth/s-one.zarr",
        env / "patch_dataset/s-one.zarr",
        env / "tables/dataset_splits.parquet",
    ]
    before = [tree_bytes(p) for p in outputs]
    versions = _data_versions(instance, "s-one")
    assert _run_slide(defs, instance, "s-one").success
    # same raw data, same code versions: same data versions, nothing downstream turns stale
    assert _data_versions(instance, "s-one") == versions
    defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=instance, asset_selection=[SPLITS]
    )
    assert [tree_bytes(p) for p in outputs] == before


def test_a_bad_slide_fails_only_its_own_partition_with_the_raw_data_error(env, land, instance):
    land("s-good", seed=2)
    bad = land("s-bad", patient_id="p2", seed=3)
    tif = corrupt(bad)
    defs = build_definitions()
    failed = _run_slide(defs, instance, "s-bad", raise_on_error=False)
    assert not failed.success
    messages = " ".join(
        str(e.message) for e in instance.all_logs(failed.run_id) if e.message
    ) + " ".join(
        str(e.dagster_event.event_specific_data.error)
        for e in instance.all_logs(failed.run_id)
        if e.dagster_event and e.dagster_event.is_step_failure
    )
    assert "RawDataError" in messages and str(tif) in messages
    assert not (env / "super_resolved_holograms/s-bad.zarr").exists()

    assert _run_slide(defs, instance, "s-good").success
    splits = defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=instance, asset_selection=[SPLITS]
    )
    assert splits.success
    assert pd.read_parquet(env / "tables/dataset_splits.parquet")["slide_id"].tolist() == ["s-good"]


@pytest.fixture
def leaky_splits(env):
    """Patch stores of two slides of one patient and a ledger that put them in different splits."""
    from holo_pipeline.datasets.patch_store import write_patch_store
    from holo_pipeline.datasets.stores import write_parquet

    rows = []
    for slide_id, split in (("s-a", "train"), ("s-b", "test")):
        path = env / f"patch_dataset/{slide_id}.zarr"
        write_patch_store(
            path,
            np.zeros((1, 8, 4, 4, 2)),
            np.zeros((1, 4, 4, 2)),
            fov_index=np.zeros(1),
            origin=np.zeros((1, 2)),
            attrs={"patient_id": "p1", "tissue": "lung", "fov_ids": ["fov_000"]},
        )
        rows.append(
            {
                "slide_id": slide_id,
                "patient_id": "p1",
                "tissue": "lung",
                "split": split,
                "n_patches": 1,
                "n_fov": 1,
                "patch_store": str(path),
            }
        )
    write_parquet(pd.DataFrame(rows), env / "tables/dataset_splits.parquet")
    return ["s-a", "s-b"]


def test_the_leakage_check_fails_and_blocks_what_follows(leaky_splits, instance):
    @dg.asset(deps=[SPLITS])
    def model_training_stand_in() -> None:
        """A consumer of the splits, as the training assets will be."""

    instance.add_dynamic_partitions("slides", leaky_splits)
    defs = dg.Definitions.merge(
        build_definitions(), dg.Definitions(assets=[model_training_stand_in])
    )
    result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=instance,
        asset_selection=[SPLITS, model_training_stand_in.key],
        raise_on_error=False,
    )
    assert not result.success
    leakage = {c.check_name: c for c in result.get_asset_check_evaluations()}[
        "dataset_splits_no_patient_leakage"
    ]
    assert not leakage.passed
    assert leakage.metadata["leaking_patients"].value == 1
    materialised = {m.asset_key for m in result.get_asset_materialization_events()}
    assert model_training_stand_in.key not in materialised
