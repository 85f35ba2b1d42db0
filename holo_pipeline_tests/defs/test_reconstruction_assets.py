"""A simulated slide materialises through ``reconstructions`` on a real Dagster instance.

The physics assets run for real on a 1-FOV slide (96² super-resolved). The model and the
evaluation tables are what ``transferred_models`` / ``evaluation`` would leave (a real, untrained
narrow RH-M saved as .keras; tables written to the catalog's schema), so the test needs no training.
"""

import json
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest
from ome_zarr.io import parse_url
from ome_zarr.reader import Reader

from holo_pipeline.catalog import conform_table, load_catalog
from holo_pipeline.datasets.stores import open_field_store, open_hologram_store, write_parquet
from holo_pipeline.definitions import build_definitions
from holo_pipeline.reconstruction.ome import read_field_image
from holo_pipeline.reconstruction.reconstruct import reconstruct_fov
from holo_pipeline.reconstruction.tiling import tile_edges
from holo_pipeline_tests.reconstruction.conftest import SMALL, write_model_dir

SLIDE = "prostate-p01-s1"
KEY = "prostate-frozen_rnn-r0.121-m2-s0"
# Two tiles per axis of the 96² FOV (an axis up to tile + overlap would be one tile).
TILE, OVERLAP = 56, 32
SLIDE_ASSETS = [
    dg.AssetKey(k)
    for k in (
        "raw_scans",
        "super_resolved_holograms",
        "autofocused_heights",
        "mhpr_ground_truth",
        "reconstructions",
        "mhpr_ground_truth_view",
    )
]


def _publish_models(root, generator):
    """A transferred prostate model, the backbone, and the evaluation tables naming them."""
    catalog = load_catalog()
    runs, metrics = [], []
    for key, variant, mt in ((KEY, "frozen_rnn", 2), ("pretrained_backbone", "backbone", 3)):
        where = catalog.entry("transferred_models").location(root, model_key=key)
        if key == "pretrained_backbone":
            where = catalog.entry("pretrained_backbone").location(root)
        path = write_model_dir(Path(where), generator, n_holograms=mt, model_key=key)
        runs.append(
            {
                "model_key": key,
                "seed": 0,
                "tissue": "prostate" if variant != "backbone" else "blood_smear+pap_smear+lung",
                "variant": variant,
                "nt_ratio": 0.121 if variant != "backbone" else 0.0,
                "n_holograms": mt,
                "n_train_patches": 4,
                "trainable_params": 1000,
                "total_params": 2000,
                "seconds_per_epoch": 1.0,
                "epochs_run": 1,
                "best_epoch": 1,
                "epochs_to_baseline_best": None,
                "best_val_mae": 0.1,
                "model_path": str(path),
            }
        )
    for patch, ecc in enumerate((0.9, 0.8)):
        metrics.append(
            {
                **{k: runs[0][k] for k in ("model_key", "tissue", "variant", "nt_ratio")},
                "n_holograms": 2,
                "seed": 0,
                "slide_id": "prostate-p03-s1",
                "patient_id": "p3",
                "fov_id": "fov_000",
                "patch_index": patch,
                "amplitude_rmse": 0.1,
                "phase_rmse": 0.1,
                "ecc": ecc,
                "mae": 0.1,
                "ms_ssim": None,
            }
        )
    for name, rows in (("training_runs", runs), ("evaluation_metrics", metrics)):
        table = conform_table(pd.DataFrame(rows), catalog.entry(name))
        write_parquet(table, catalog.entry(name).location(root))


def _row_energy(image):
    return (np.abs(np.diff(image, axis=0)) ** 2).mean(axis=1)


@pytest.mark.slow
def test_a_slide_materialises_through_reconstructions(env, land, instance):
    import keras

    from holo_pipeline.model import build_generator

    keras.utils.set_random_seed(0)
    generator = build_generator(SMALL)
    _publish_models(env, generator)
    land(SLIDE)
    defs = build_definitions("demo", env)
    job = defs.resolve_implicit_global_asset_job_def()
    job.execute_in_process(instance=instance, asset_selection=[dg.AssetKey("production_models")])
    table = pd.read_parquet(env / "tables" / "production_models.parquet")
    prostate = table.set_index("tissue").loc["prostate"]
    assert prostate["model_key"] == KEY and prostate["choice"] == "best_test_ecc"
    assert prostate["test_ecc_mean"] == pytest.approx(0.85)
    assert pd.isna(prostate["data_version"])  # the models were not materialised by Dagster here
    assert len(prostate["model_sha256"]) == 16
    lung = table.set_index("tissue").loc["lung"]
    assert lung["model_key"] == "pretrained_backbone" and not lung["backbone_fallback"]

    instance.add_dynamic_partitions("slides", [SLIDE])
    result = job.execute_in_process(
        instance=instance,
        partition_key=SLIDE,
        asset_selection=SLIDE_ASSETS,
        run_config={"ops": {"reconstructions": {"config": {"tile": TILE, "overlap": OVERLAP}}}},
    )
    assert result.success
    store = env / "reconstructions" / f"{SLIDE}.ome.zarr"
    sr = open_hologram_store(env / "super_resolved_holograms" / f"{SLIDE}.zarr")
    truth = open_field_store(env / "mhpr_ground_truth" / f"{SLIDE}.zarr")
    pixel_um = float(sr.attrs["pixel_size_m"]) * 1e6

    # the store opens with ome_zarr's reader (napari-ome-zarr's): µm, two channels, a pyramid
    for path in (store, env / "mhpr_ground_truth" / f"{SLIDE}.ome.zarr"):
        node = next(iter(Reader(parse_url(str(path / "fov_000")))()))
        assert node.metadata["channel_names"] == ["amplitude", "phase"]
        assert [a.get("unit") for a in node.metadata["axes"]] == [None, "micrometer", "micrometer"]
        scales = [t[0]["scale"] for t in node.metadata["coordinateTransformations"]]
        assert scales[0] == pytest.approx([1.0, pixel_um, pixel_um])
        assert len(node.data) >= 2 and node.data[1].shape[1] == node.data[0].shape[1] // 2
        assert node.data[0].shape[0] == 2 and node.data[0].dtype == np.float32

    # tiled equals untiled away from the border (FOV 96², tile 56, overlap 32; see test_tiling)
    tiled = read_field_image(store, "fov_000")
    untiled = reconstruct_fov(
        generator,
        np.asarray(sr.holograms[0]),
        truth.z2[0],
        n_holograms=2,
        wavelength=float(sr.attrs["wavelength_m"]),
        pixel_size=float(sr.attrs["pixel_size_m"]),
        tile=96,
    ).field
    inner = (slice(8, -8), slice(8, -8))
    rel = np.sqrt(np.mean(np.abs(tiled - untiled)[inner] ** 2) / np.mean(np.abs(untiled) ** 2))
    assert rel < 0.02

    # no seams: gradient energy on the tile borders is no higher than elsewhere. The slide's
    # content makes the energy vary 100-fold from row to row, so each row's energy is taken
    # relative to the untiled reconstruction's (which has no tiles, hence no seams).
    edges = tile_edges(tiled.shape[0], TILE, OVERLAP, 8)
    for a, b in ((tiled, untiled), (tiled.T, untiled.T)):
        excess = _row_energy(a) / _row_energy(b)
        assert max(excess[e - 1] for e in edges) < 1.25 * np.median(excess)

    # metadata: seconds and ECC/RMSE against MH-PR per FOV; the non-blocking check ran
    fov_attrs = json.loads((store / "fov_000" / ".zattrs").read_text())["holo_pipeline"]
    assert fov_attrs["seconds"] > 0 and -1 <= fov_attrs["ecc"] <= 1
    assert fov_attrs["amplitude_rmse"] >= 0 and fov_attrs["heights"] == sorted(
        fov_attrs["heights"], key=lambda h: truth.z2[0][h]
    )
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    check = checks["reconstructions_close_to_mhpr"]
    assert check.passed == (fov_attrs["ecc"] >= 0.8)
    assert check.severity == dg.AssetCheckSeverity.WARN  # non-blocking: never stops a run
    materialization = result.asset_materializations_for_node("reconstructions")[0]
    assert "amplitude_phase" in materialization.metadata
    assert materialization.metadata["model_key"].value == KEY
