import pytest

from holo_pipeline.storage import has_protocol, join_location, local_path, storage_location


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("file:///mnt/archive/holo", "/mnt/archive/holo"),
        ("local:///mnt/archive", "/mnt/archive"),
        ("/mnt/archive/", "/mnt/archive"),
        ("s3://bucket/holo", None),  # s3fs or not: never a local path
        ("gs://bucket/holo", None),
        ("memory://holo", None),
        ("simplecache::file:///mnt/x", None),  # a caching layer is not a plain local path
        ("nosuchprotocol://x", None),
    ],
)
def test_fsspec_decides_which_locations_are_local(location, expected):
    assert local_path(location) == expected


def test_relative_paths_are_made_absolute_against_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert local_path("data") == str(tmp_path / "data")
    assert storage_location(tmp_path / "x") == str(tmp_path / "x")
    assert not has_protocol("data/landing") and has_protocol("file:///data")


def test_join_gives_a_local_path_under_a_local_root_and_a_uri_under_a_remote_one():
    assert join_location("file:///mnt/a/", "tables/t.parquet") == "/mnt/a/tables/t.parquet"
    assert join_location("s3://b/holo/", "tables/t.parquet") == "s3://b/holo/tables/t.parquet"
    assert storage_location("memory://holo") == "memory://holo"
