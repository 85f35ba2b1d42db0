import pytest

from holo_pipeline.atomic import atomic_path


def test_suffix_ends_the_temporary_name_and_the_result_lands_at_the_final_name(tmp_path):
    final = tmp_path / "generator.keras"
    with atomic_path(final, suffix=".keras") as tmp:
        assert tmp.name.startswith(".generator.keras.tmp-") and tmp.suffix == ".keras"
        tmp.write_text("weights")
    assert final.read_text() == "weights"
    assert [p.name for p in tmp_path.iterdir()] == ["generator.keras"]


def test_a_failed_write_leaves_the_previous_file_and_no_temporary(tmp_path):
    final = tmp_path / "slide.yaml"
    final.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(final) as tmp:
        tmp.write_text("half")
        raise RuntimeError("writer killed")
    assert final.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["slide.yaml"]
