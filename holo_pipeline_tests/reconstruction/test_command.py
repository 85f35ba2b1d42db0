"""``holo-pipeline reconstruct`` on a simulated slide and on one written by ``holo-pipeline import``
(raw format v2): a valid OME-Zarr, and clear refusals."""

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
from holo_pipeline_tests.instrument.import_sources import (
    PITCH_UM,
    WAVELENGTH_NM,
    holograms,
    write_mat_v5,
)
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


def test_an_imported_mat_slide_reconstructs_into_ome_zarr(model, tmp_path):
    """The lab's route: ``import`` a 2-height .mat of amplitudes, then ``reconstruct`` it."""
    z2_um = [300.0, 340.0]
    amplitudes = np.sqrt(holograms((104, 96), z2_um)).transpose(1, 2, 0)  # (H, W, n)
    mat = write_mat_v5(tmp_path / "scan.mat", "amp", amplitudes)
    landing = tmp_path / "landing"
    imported = [
        *["import", str(mat), "--landing", str(landing), "--slide-id", "prostate-lab-s1"],
        *["--patient-id", "lab01", "--tissue", "prostate", "--mat-key", "amp", "--amplitude"],
        *["--wavelength-nm", str(WAVELENGTH_NM), "--pixel-pitch-um", str(PITCH_UM)],
        *["--z2-um", *map(str, z2_um)],
    ]
    assert main(imported) == 0
    slide = landing / "prostate-lab-s1"
    out = tmp_path / "imported.zarr"
    assert main(["reconstruct", str(slide), "--model", str(model), "--out", str(out)]) == 0
    fov = read_slide(slide).fov_ids[0]
    node = next(iter(Reader(parse_url(str(out / fov)))()))
    assert node.metadata["channel_names"] == ["amplitude", "phase"]
    scale = node.metadata["coordinateTransformations"][0][0]["scale"]
    assert scale == pytest.approx([1.0, PITCH_UM, PITCH_UM])
    field = read_field_image(out, fov)
    assert field.shape == (104, 96) and np.isfinite(field).all()


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
