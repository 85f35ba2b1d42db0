"""Imported (format 2) slides through the real graph: the import command is the only manual step.

A 2-height ``.mat`` slide materialises up to ``patch_dataset``; a 1-height TIFF slide stops cleanly
after ``autofocused_heights`` (no ground truth); a real DCOD hologram reaches
``autofocused_heights`` searching 100–1500 µm.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest
import tifffile

from holo_pipeline.cli import main
from holo_pipeline.datasets.patch_store import open_patch_store
from holo_pipeline.datasets.stores import open_hologram_store
from holo_pipeline.definitions import PHYSICS_MODULES
from holo_pipeline.defs.resources import build_resources
from holo_pipeline.profile import load_profile
from holo_pipeline_tests.defs.conftest import PATCH
from holo_pipeline_tests.instrument.import_sources import (
    PITCH_UM,
    WAVELENGTH_NM,
    holograms,
    write_mat_v5,
)
from holo_pipeline_tests.real_data import DCOD, DCOD_PITCH_UM, DCOD_WAVELENGTH_NM

SLIDE_ASSETS = (
    "raw_scans",
    "super_resolved_holograms",
    "autofocused_heights",
    "mhpr_ground_truth",
    "patch_dataset",
)
SHAPE = (100, 104)  # not a multiple of the 48-px patch: a remainder to report


def _import(root: Path, sources: list[Path], *options: str) -> int:
    return main(
        [
            "import",
            *map(str, sources),
            *["--landing", str(root / "landing"), "--patient-id", "lab-a-01"],
            *options,
        ]
    )


def _materialise(root: Path, instance: dg.DagsterInstance, slide_id: str, upto: str):
    """Materialise one slide's partition with the real physics assets, checks and resources."""
    physics = dg.load_assets_from_modules(list(PHYSICS_MODULES))
    checks = dg.load_asset_checks_from_modules(list(PHYSICS_MODULES))
    keys = SLIDE_ASSETS[: SLIDE_ASSETS.index(upto) + 1]
    instance.add_dynamic_partitions("slides", [slide_id])
    return dg.materialize(
        [*physics, *checks],
        instance=instance,
        partition_key=slide_id,
        resources=build_resources(load_profile("demo"), root),
        selection=dg.AssetSelection.assets(*keys),
    )


def _materialised(instance: dg.DagsterInstance, key: str, slide_id: str) -> bool:
    return bool(
        instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(key), asset_partitions=[slide_id]), limit=1
        ).records
    )


@pytest.mark.slow
def test_imported_two_height_mat_slide_materialises_to_patches(env, instance, tmp_path):
    z2 = [300.0, 340.0]
    amplitude = np.moveaxis(np.sqrt(holograms(SHAPE, z2, seed=3)), 0, -1)  # (H, W, 2)
    mat = write_mat_v5(tmp_path / "scan.mat", "amp", amplitude)
    rc = _import(
        env,
        [mat],
        *["--slide-id", "mat-two", "--tissue", "cheek_cells", "--mat-key", "amp", "--amplitude"],
        *["--wavelength-nm", str(WAVELENGTH_NM), "--pixel-pitch-um", str(PITCH_UM)],
        *["--z2-um", *map(str, z2)],
    )
    assert rc == 0
    result = _materialise(env, instance, "mat-two", "patch_dataset")
    assert result.success
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    for name in (
        "super_resolved_holograms_valid",
        "autofocused_heights_in_stage_range",
        "mhpr_ground_truth_converged",
        "patch_dataset_counts_match_fovs",
    ):
        assert checks[name].passed, (name, checks[name].metadata)
    metadata = {
        e.asset_key.to_user_string(): e.materialization.metadata
        for e in result.get_asset_materialization_events()
    }
    assert metadata["super_resolved_holograms"]["super_resolution"].value.startswith("none")
    sr = open_hologram_store(env / "super_resolved_holograms/mat-two.zarr")
    assert sr.holograms.shape == (1, 2, *SHAPE)
    heights = pd.read_parquet(env / "autofocused_heights/mat-two.parquet")
    assert np.all(np.abs(heights["z2_m"].to_numpy() * 1e6 - z2) <= 25.0)
    patches = open_patch_store(env / "patch_dataset/mat-two.zarr")
    assert patches.inputs.shape == (4, 2, PATCH, PATCH, 2)
    assert metadata["patch_dataset"]["remainder_px"].value == f"{100 % PATCH}×{104 % PATCH}"


@pytest.mark.slow
def test_imported_one_height_tiff_slide_stops_cleanly_at_the_heights(env, instance, tmp_path):
    tif = tmp_path / "single.tif"
    tifffile.imwrite(tif, (holograms(SHAPE, [420.0], seed=5)[0] * 20000).astype(np.uint16))
    rc = _import(
        env,
        [tif],
        *["--slide-id", "tif-one", "--tissue", "rbc_smear"],
        *["--wavelength-nm", str(WAVELENGTH_NM), "--pixel-pitch-um", str(PITCH_UM)],
        *["--z2-range-um", "300", "600"],
    )
    assert rc == 0
    result = _materialise(env, instance, "tif-one", "patch_dataset")
    assert result.success
    for key in ("raw_scans", "super_resolved_holograms", "autofocused_heights"):
        assert _materialised(instance, key, "tif-one"), key
    assert not _materialised(instance, "mhpr_ground_truth", "tif-one")
    assert not _materialised(instance, "patch_dataset", "tif-one")
    observed = instance.fetch_observations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("mhpr_ground_truth")), limit=1
    ).records
    note = observed[0].event_log_entry.asset_observation.metadata["ground_truth"].value
    assert note.startswith("no ground truth")
    z = pd.read_parquet(env / "autofocused_heights/tif-one.parquet")["z2_m"].to_numpy()
    assert z.shape == (1,) and 300e-6 <= z[0] <= 600e-6


@pytest.mark.slow
def test_a_dcod_hologram_materialises_through_autofocused_heights(env, instance):
    rc = _import(
        env,
        [DCOD / "cheek_cells_hologram.tif"],
        *["--background", str(DCOD / "cheek_cells_background.tif")],
        *["--slide-id", "dcod-cheek", "--tissue", "cheek_cells"],
        *["--wavelength-nm", str(DCOD_WAVELENGTH_NM), "--pixel-pitch-um", str(DCOD_PITCH_UM)],
        *["--z2-range-um", "100", "1500"],
    )
    assert rc == 0
    result = _materialise(env, instance, "dcod-cheek", "autofocused_heights")
    assert result.success
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert checks["autofocused_heights_in_stage_range"].passed
    z = pd.read_parquet(env / "autofocused_heights/dcod-cheek.parquet")["z2_m"].to_numpy()
    # in range (1 nm slack for µm→m rounding); accuracy is the autofocus tests' job
    assert z.shape == (1,) and 100e-6 - 1e-9 <= z[0] <= 1500e-6 + 1e-9
