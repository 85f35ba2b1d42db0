"""A second storage root is catalog configuration: with ``mhpr_ground_truth``, ``patch_dataset`` and
``dataset_splits`` moved to a root given as a ``file://`` URI, a slide runs through
``dataset_splits`` on a real Dagster instance, those outputs land under that root (and nothing else
does), and analysts read the table back through the catalog."""

import dagster as dg
import pandas as pd

from holo_pipeline.catalog import dataset_path, load_table
from holo_pipeline.datasets.patch_store import open_patch_store
from holo_pipeline.definitions import build_definitions
from holo_pipeline_tests.catalog_files import write_catalog
from holo_pipeline_tests.ops.outputs import materialize_slide

ON_ARCHIVE = ("mhpr_ground_truth", "patch_dataset", "dataset_splits")
LAYOUT = {
    "super_resolved_holograms": "super_resolved_holograms/s-arch.zarr",
    "autofocused_heights": "autofocused_heights/s-arch.parquet",
    "mhpr_ground_truth": "mhpr_ground_truth/s-arch.zarr",
    "patch_dataset": "patch_dataset/s-arch.zarr",
    "dataset_splits": "tables/dataset_splits.parquet",
}


def test_datasets_on_a_second_file_uri_root_are_written_and_read_there(
    env, land, instance, tmp_path, monkeypatch
):
    archive = tmp_path / "archive"  # the data root is tmp_path / "data"
    catalog = write_catalog(
        tmp_path / "catalog.yaml",
        roots={"archive": archive.as_uri()},
        root_of=dict.fromkeys(ON_ARCHIVE, "archive"),
    )
    monkeypatch.setenv("HOLO_CATALOG", str(catalog))
    land("s-arch", patient_id="p1", seed=3)

    defs = build_definitions()
    assert defs.resources["catalog"].roots == {"archive": str(archive)}
    result = materialize_slide(defs, instance, "s-arch")
    assert result.success
    splits_run = dg.materialize(
        [*defs.assets, *defs.asset_checks],
        selection=["dataset_splits"],
        instance=instance,
        resources=defs.resources,
    )
    assert splits_run.success

    for name, relative in LAYOUT.items():
        here, not_here = (archive, env) if name in ON_ARCHIVE else (env, archive)
        assert (here / relative).exists(), f"{name} not under {here}"
        assert not (not_here / relative).exists(), f"{name} also under {not_here}"
    assert not list(archive.rglob(".*.tmp-*")), "a temporary was left behind"
    metadata = {
        e.asset_key.to_user_string(): e.materialization.metadata
        for e in [
            *result.get_asset_materialization_events(),
            *splits_run.get_asset_materialization_events(),
        ]
    }
    assert metadata["patch_dataset"]["path"].value == str(archive / LAYOUT["patch_dataset"])
    assert metadata["dataset_splits"]["path"].value == str(archive / LAYOUT["dataset_splits"])

    # analysts: the catalog reads the table from the archive, the same rows as through its URI
    table = load_table("dataset_splits")
    direct = pd.read_parquet(f"{archive.as_uri()}/{LAYOUT['dataset_splits']}")
    pd.testing.assert_frame_equal(table, direct)
    assert table["slide_id"].tolist() == ["s-arch"]
    assert table["patch_store"].tolist() == [str(archive / LAYOUT["patch_dataset"])]
    store = open_patch_store(dataset_path("patch_dataset", slide_id="s-arch"))
    assert store.inputs.shape[0] == table["n_patches"].iloc[0] > 0
