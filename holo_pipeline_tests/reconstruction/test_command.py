"""``holo-pipeline reconstruct`` on a simulated slide: a valid OME-Zarr, and clear refusals.

TODO(import): the same on a slide written by ``holo-pipeline import`` (raw format v2) once the
importer is merged.
"""

import json

import numpy as np
import pandas as pd
import pytest
from ome_zarr.io import parse_url
from ome_zarr.reader import Reader

from holo_pipeline.catalog import conform_table, load_catalog
from holo_pipeline.cli import main
from holo_pipeline.datasets.stores import write_parquet
from holo_pipeline.instrument import read_slide
from holo_pipeline.reconstruction.ome import read_field_image, store_attrs
from holo_pipeline_tests.defs.conftest import corrupt, small_slide
from holo_pipeline_tests.reconstruction.conftest import write_model_dir


@pytest.fixture(scope="module")
def slide(tmp_path_factory):
    return small_slide(tmp_path_factory.mktemp("landing"), "prostate-p01-s1")


@pytest.fixture(scope="module")
def model(tmp_path_factory, generator):
    return write_model_dir(
        tmp_path_factory.mktemp("models") / "m", generator, n_holograms=2, model_key="prostate-m"
    )


def _production_table(root, model_path, *, n_holograms=2):
    entry = load_catalog().entry("production_models")
    row = {c: None for c in entry.columns}
    row.update(
        tissue="prostate", model_key="prostate-m", variant="frozen_rnn", nt_ratio=0.121,
        n_holograms=n_holograms, choice="pinned", backbone_fallback=False,
        model_path=str(model_path), height_selection="spread", input_convention="zero phase",
        model_sha256="0" * 16,
    )  # fmt: skip
    write_parquet(conform_table(pd.DataFrame([row]), entry), entry.location(root))


def test_a_model_file_reconstructs_a_simulated_slide_into_ome_zarr(slide, model, tmp_path):
    out = tmp_path / "out.zarr"
    assert main(["reconstruct", str(slide), "--model", str(model), "--out", str(out)]) == 0
    node = next(iter(Reader(parse_url(str(out / "fov_000")))()))
    assert node.metadata["channel_names"] == ["amplitude", "phase"]
    um = read_slide(slide).sr_pixel_size_m * 1e6
    scale = node.metadata["coordinateTransformations"][0][0]["scale"]
    assert scale == pytest.approx([1.0, um, um]) and len(node.data) >= 2
    field = read_field_image(out, "fov_000")
    assert field.shape == (96, 96) and np.isfinite(field).all()
    assert store_attrs(out)["model_key"] == "prostate-m"


def test_a_tissue_resolves_through_production_models(slide, model, tmp_path):
    _production_table(tmp_path / "data", model)
    out = tmp_path / "t.zarr"
    argv = ["reconstruct", str(slide), "--model", "prostate", "--out", str(out)]
    assert main([*argv, "--data-root", str(tmp_path / "data"), "--fov", "fov_000"]) == 0
    assert json.loads((out / ".zattrs").read_text())["holo_pipeline"]["fov_ids"] == ["fov_000"]


@pytest.mark.parametrize(
    "case, message",
    [
        ("unknown_tissue", "no production model for tissue 'kidney'"),
        ("too_few_heights", "8 height(s) per FOV, but model prostate-m takes 9"),
        ("no_slide", "slide.yaml"),
        ("truncated_tiff", "h3.tif"),
        ("unknown_fov", "no FOV ['fov_009']"),
    ],
)
def test_bad_input_is_refused_clearly_and_writes_nothing(
    case, message, slide, model, generator, tmp_path, capsys
):
    import shutil

    _production_table(tmp_path / "data", model)
    slide_dir, spec, extra = slide, str(model), []
    if case == "unknown_tissue":
        spec = "kidney"
    elif case == "too_few_heights":
        spec = str(
            write_model_dir(tmp_path / "m9", generator, n_holograms=9, model_key="prostate-m")
        )
    elif case == "no_slide":
        slide_dir = tmp_path / "empty"
        slide_dir.mkdir()
    elif case == "truncated_tiff":
        slide_dir = tmp_path / "bad" / slide.name
        shutil.copytree(slide, slide_dir)
        corrupt(slide_dir)
    elif case == "unknown_fov":
        extra = ["--fov", "fov_009"]
    out = tmp_path / "out.zarr"
    argv = ["reconstruct", str(slide_dir), "--model", spec, "--out", str(out)]
    assert main([*argv, "--data-root", str(tmp_path / "data"), *extra]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.glob(".out.zarr*"))
