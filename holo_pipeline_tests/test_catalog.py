import pandas as pd
import pytest

from holo_pipeline.catalog import (
    conform_table,
    dataset_path,
    load_catalog,
    load_table,
)
from holo_pipeline.datasets.stores import write_parquet
from holo_pipeline.settings import ConfigError

PIPELINE_DATASETS = (
    "raw_slides",
    "super_resolved_holograms",
    "autofocused_heights",
    "mhpr_ground_truth",
    "patch_dataset",
    "dataset_splits",
)


def test_catalog_lists_every_pipeline_dataset_with_required_fields():
    catalog = load_catalog()
    for name in PIPELINE_DATASETS:
        entry = catalog.entry(name)
        assert entry.description
        assert entry.format in ("parquet", "zarr", "directory")
        if entry.format == "parquet":
            assert entry.columns
        if entry.format == "zarr":
            assert all({"dtype", "dims"} <= set(a) for a in entry.arrays.values())
    splits = catalog.entry("dataset_splits").columns
    assert {"slide_id", "patient_id", "tissue", "split", "n_patches", "patch_store"} <= set(splits)
    assert catalog.entry("mhpr_ground_truth").arrays["field"]["dtype"] == "complex64"


def test_dataset_path_resolves_relative_to_the_data_root(tmp_path, monkeypatch):
    monkeypatch.setenv("HOLO_DATA_ROOT", str(tmp_path))
    assert dataset_path("patch_dataset", slide_id="s-1") == str(tmp_path / "patch_dataset/s-1.zarr")
    assert dataset_path("dataset_splits") == str(tmp_path / "tables/dataset_splits.parquet")


@pytest.mark.parametrize("keys", [{}, {"slide_id": "../etc"}, {"slide_id": "a", "fov": "b"}])
def test_dataset_path_rejects_missing_or_escaping_keys(keys):
    with pytest.raises(ConfigError):
        dataset_path("patch_dataset", **keys)


def test_unknown_dataset_names_the_known_ones():
    with pytest.raises(ConfigError, match="dataset_splits"):
        dataset_path("no_such_table")


def test_load_table_concatenates_partitions_and_casts(tmp_path, monkeypatch):
    monkeypatch.setenv("HOLO_DATA_ROOT", str(tmp_path))
    entry = load_catalog().entry("autofocused_heights")
    for slide in ("a", "b"):
        df = pd.DataFrame(
            {
                "slide_id": [slide] * 2,
                "fov_id": ["fov_000"] * 2,
                "height_index": [0, 1],
                "z2_nominal_m": [4e-4, 4.2e-4],
                "z2_m": [4.01e-4, 4.19e-4],
                "z2_true_m": [None, None],
            }
        )
        write_parquet(conform_table(df, entry), dataset_path("autofocused_heights", slide_id=slide))
    table = load_table("autofocused_heights")
    assert list(table["slide_id"]) == ["a", "a", "b", "b"]
    assert str(table["height_index"].dtype) == "int32"
    assert load_table("autofocused_heights", slide_id="b")["z2_m"].iloc[1] == pytest.approx(4.19e-4)


def test_load_table_of_a_partitioned_table_with_no_partitions_is_empty_with_columns(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("HOLO_DATA_ROOT", str(tmp_path))
    table = load_table("autofocused_heights")
    assert table.empty and "z2_m" in table.columns


def test_an_appended_entry_is_all_it_takes(tmp_path, monkeypatch):
    text = (load_catalog().source.read_text()).replace(
        "\nprofiles:",
        "\n  evaluation_metrics:\n"
        "    uri: tables/evaluation_metrics.parquet\n"
        "    format: parquet\n"
        "    partitioning: []\n"
        "    description: per test FOV per model\n"
        "    columns: {model: string, rmse: float64}\n"
        "\nprofiles:",
    )
    custom = tmp_path / "catalog.yaml"
    custom.write_text(text)
    monkeypatch.setenv("HOLO_CATALOG", str(custom))
    monkeypatch.setenv("HOLO_DATA_ROOT", str(tmp_path))
    write_parquet(pd.DataFrame({"model": ["m"], "rmse": [0.1]}), dataset_path("evaluation_metrics"))
    assert load_table("evaluation_metrics")["rmse"].tolist() == [0.1]


def test_placeholders_must_match_partitioning(tmp_path):
    bad = tmp_path / "c.yaml"
    bad.write_text(
        "datasets:\n  t:\n    uri: t/{slide_id}.parquet\n    format: parquet\n"
        "    partitioning: []\n    description: x\n"
    )
    with pytest.raises(ConfigError, match="placeholders"):
        load_catalog(bad)
