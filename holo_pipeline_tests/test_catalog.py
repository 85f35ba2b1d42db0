import pandas as pd
import pytest

from holo_pipeline.catalog import (
    conform_table,
    dataset_path,
    load_catalog,
    load_table,
)
from holo_pipeline.datasets.stores import write_parquet
from holo_pipeline.defs.resources import build_resources
from holo_pipeline.profile import load_profile
from holo_pipeline.settings import ConfigError, data_root
from holo_pipeline_tests.catalog_files import write_catalog

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
                "outlier": [False, True],
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


def test_the_catalog_is_parsed_once_per_content(tmp_path):
    """Assets resolve dozens of paths a run: an unchanged file is not parsed again, an edited one
    (even to the same size) is."""
    custom = tmp_path / "catalog.yaml"
    text = load_catalog().source.read_text()
    custom.write_text(text)
    first = load_catalog(custom)
    assert load_catalog(custom) is first
    edited = text.replace(
        "uri: tables/dataset_splits.parquet", "uri: tables/dataset_spl1ts.parquet"
    )
    assert len(edited) == len(text) and edited != text
    custom.write_text(edited)
    again = load_catalog(custom)
    assert again is not first
    assert again.entry("dataset_splits").uri == "tables/dataset_spl1ts.parquet"
    custom.unlink()
    with pytest.raises(ConfigError, match="does not exist"):
        load_catalog(custom)


def test_placeholders_must_match_partitioning(tmp_path):
    bad = tmp_path / "c.yaml"
    bad.write_text(
        "datasets:\n  t:\n    uri: t/{slide_id}.parquet\n    format: parquet\n"
        "    partitioning: []\n    description: x\n"
    )
    with pytest.raises(ConfigError, match="placeholders"):
        load_catalog(bad)


ARCHIVED = {"patch_dataset": "archive", "dataset_splits": "archive"}


def test_a_dataset_on_a_named_root_resolves_under_it_as_a_local_path(tmp_path, monkeypatch):
    archive = tmp_path / "archive"
    catalog = write_catalog(
        tmp_path / "c.yaml", roots={"archive": archive.as_uri()}, root_of=ARCHIVED
    )
    monkeypatch.setenv("HOLO_CATALOG", str(catalog))
    monkeypatch.setenv("HOLO_DATA_ROOT", str(tmp_path / "data"))
    assert dataset_path("patch_dataset", slide_id="s-1") == str(archive / "patch_dataset/s-1.zarr")
    assert dataset_path("dataset_splits") == str(archive / "tables/dataset_splits.parquet")
    # the data root argument moves only the datasets on `data`
    assert dataset_path("patch_dataset", root=tmp_path / "x", slide_id="s-1").startswith(
        str(archive)
    )
    assert dataset_path("autofocused_heights", slide_id="s-1") == str(
        tmp_path / "data/autofocused_heights/s-1.parquet"
    )
    assert load_catalog().root_locations() == {
        "data": str(tmp_path / "data"),
        "archive": str(archive),
    }


def test_holo_root_env_overrides_a_root_and_local_uris_become_paths(tmp_path, monkeypatch):
    catalog = write_catalog(tmp_path / "c.yaml", roots={"archive": "/nowhere"}, root_of=ARCHIVED)
    monkeypatch.setenv("HOLO_CATALOG", str(catalog))
    monkeypatch.setenv("HOLO_ROOT_ARCHIVE", f"local://{tmp_path}/moved")
    assert dataset_path("dataset_splits") == str(tmp_path / "moved/tables/dataset_splits.parquet")
    monkeypatch.setenv("HOLO_DATA_ROOT", (tmp_path / "d").as_uri())  # a file:// data root
    assert dataset_path("raw_slides", slide_id="s") == str(tmp_path / "d/landing/s")
    assert data_root() == tmp_path / "d"
    resource = build_resources(load_profile())[
        "catalog"
    ]  # resolved once, when the resources are built
    monkeypatch.setenv("HOLO_ROOT_ARCHIVE", "/elsewhere")
    assert resource.path("patch_dataset", slide_id="s") == tmp_path / "moved/patch_dataset/s.zarr"
    assert resource.landing() == tmp_path / "d/landing"


def test_load_table_reads_a_table_on_another_root(tmp_path, monkeypatch):
    archive = tmp_path / "archive"
    catalog = write_catalog(
        tmp_path / "c.yaml", roots={"archive": archive.as_uri()}, root_of=ARCHIVED
    )
    monkeypatch.setenv("HOLO_CATALOG", str(catalog))
    entry = load_catalog().entry("dataset_splits")
    rows = pd.DataFrame(
        {
            "slide_id": ["s-1"],
            "patient_id": ["p1"],
            "tissue": ["lung"],
            "split": ["test"],
            "n_patches": [4],
            "n_fov": [1],
            "patch_store": ["x"],
        }
    )
    write_parquet(conform_table(rows, entry), archive / "tables/dataset_splits.parquet")
    pd.testing.assert_frame_equal(load_table("dataset_splits"), conform_table(rows, entry))


def test_load_table_reads_tables_under_a_remote_fsspec_root(tmp_path, monkeypatch):
    """Analysts read tables from any fsspec filesystem: here fsspec's real in-memory one."""
    import fsspec

    catalog = write_catalog(
        tmp_path / "c.yaml",
        roots={"shared": "memory://holo-test-roots"},
        root_of={"autofocused_heights": "shared"},
    )
    monkeypatch.setenv("HOLO_CATALOG", str(catalog))
    fs = fsspec.filesystem("memory")
    try:
        for slide in ("a", "b"):
            frame = pd.DataFrame({"slide_id": [slide], "z2_m": [4e-4]})
            location = dataset_path("autofocused_heights", slide_id=slide)
            assert location == f"memory://holo-test-roots/autofocused_heights/{slide}.parquet"
            frame.to_parquet(location, index=False)
        assert load_table("autofocused_heights")["slide_id"].tolist() == ["a", "b"]
    finally:
        fs.rm("/holo-test-roots", recursive=True)


def test_an_unknown_root_names_the_catalog_file_and_the_dataset(tmp_path):
    catalog = write_catalog(
        tmp_path / "c.yaml", roots={"archive": "/a"}, root_of={"patch_dataset": "archiv"}
    )
    with pytest.raises(ConfigError, match=r"c\.yaml: datasets\.patch_dataset\.root.*'archiv'"):
        load_catalog(catalog)


@pytest.mark.parametrize(
    ("roots", "root_of", "uri_of", "message"),
    [
        ({"data": "/d"}, {}, {}, "HOLO_DATA_ROOT"),
        ({"Archive": "/a"}, {}, {}, "lower-case"),
        ({"archive": ""}, {}, {}, "path or an fsspec URI"),
        (
            {"archive": "/a"},
            {"raw_slides": "archive"},
            {"raw_slides": "/scans/{slide_id}"},
            "is absolute",
        ),
    ],
)
def test_bad_roots_are_config_errors(tmp_path, roots, root_of, uri_of, message):
    catalog = write_catalog(tmp_path / "c.yaml", roots=roots, root_of=root_of, uri_of=uri_of)
    with pytest.raises(ConfigError, match=message):
        load_catalog(catalog)


def test_holo_root_data_is_refused_rather_than_ignored(monkeypatch):
    monkeypatch.setenv("HOLO_ROOT_DATA", "/elsewhere")
    with pytest.raises(ConfigError, match="HOLO_DATA_ROOT"):
        dataset_path("dataset_splits")


@pytest.mark.parametrize(
    ("roots", "root_of", "uri_of", "dataset", "location", "setting"),
    [
        (
            {"shared": "s3://lab-bucket/holo"},
            {"patch_dataset": "shared"},
            {},
            "patch_dataset",
            "s3://lab-bucket/holo/patch_dataset/*.zarr",
            "roots.shared (or HOLO_ROOT_SHARED)",
        ),
        (
            {"scratch": "memory://holo"},
            {"dataset_splits": "scratch"},
            {},
            "dataset_splits",
            "memory://holo/tables/dataset_splits.parquet",
            "roots.scratch (or HOLO_ROOT_SCRATCH)",
        ),
        (
            {},
            {},
            {"mhpr_ground_truth": "gs://lab/mhpr/{slide_id}.zarr"},
            "mhpr_ground_truth",
            "gs://lab/mhpr/*.zarr",
            "datasets.mhpr_ground_truth.uri",
        ),
    ],
)
def test_a_dataset_off_the_local_filesystem_fails_when_resources_are_built(
    tmp_path, monkeypatch, roots, root_of, uri_of, dataset, location, setting
):
    catalog = write_catalog(tmp_path / "c.yaml", roots=roots, root_of=root_of, uri_of=uri_of)
    monkeypatch.setenv("HOLO_CATALOG", str(catalog))
    with pytest.raises(ConfigError) as raised:
        build_resources(load_profile())
    message = str(raised.value)
    for part in (str(catalog), repr(dataset), location, "s3fs or gcsfuse", "file://", setting):
        assert part in message, (part, message)
