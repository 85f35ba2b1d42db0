"""``holo-pipeline import``: real DCOD holograms, .mat v5/v7.3, scaled inputs, adding FOVs, and a
corpus of bad inputs that are each rejected by name with the landing folder left unchanged."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import tifffile
import yaml
from PIL import Image

from holo_pipeline.cli import main
from holo_pipeline.instrument import RawDataError, is_slide_ready, read_slide, validate_slide
from holo_pipeline.instrument.importer import FLOAT_FULL_SCALE_DN, UINT8_SCALE, import_slide
from holo_pipeline_tests.instrument.import_sources import (
    PITCH_UM,
    WAVELENGTH_NM,
    holograms,
    write_mat_v5,
    write_mat_v73,
)
from holo_pipeline_tests.real_data import DCOD, DCOD_PITCH_UM, DCOD_WAVELENGTH_NM, DCOD_Z2_UM

SHAPE = (40, 44)
OPTICS = {"wavelength_nm": WAVELENGTH_NM, "pixel_pitch_um": PITCH_UM}
IDS = {"patient_id": "lab-a-01", "tissue": "cheek_cells"}


def _tree(path: Path) -> dict[str, bytes]:
    """Every entry under ``path`` (hidden ones included) with a file's bytes."""
    if not path.exists():
        return {}
    return {
        str(p.relative_to(path)): (p.read_bytes() if p.is_file() else b"<dir>")
        for p in sorted(path.rglob("*"))
    }


def _uint16_tiff(path: Path, intensity: np.ndarray, level: float = 20000.0) -> Path:
    tifffile.imwrite(path, np.clip(intensity * level, 0, 65535).astype(np.uint16))
    return path


# ----------------------------------------------------------------------------- real holograms
@pytest.mark.parametrize("sample", sorted(DCOD_Z2_UM))
def test_each_dcod_hologram_imports_with_its_background(tmp_path: Path, sample: str) -> None:
    landing = tmp_path / "landing"
    rc = main(
        [
            "import",
            str(DCOD / f"{sample}_hologram.tif"),
            "--background",
            str(DCOD / f"{sample}_background.tif"),
            "--landing",
            str(landing),
            "--slide-id",
            sample.replace("_", "-"),
            "--patient-id",
            "dcod",
            "--tissue",
            sample,
            "--wavelength-nm",
            str(DCOD_WAVELENGTH_NM),
            "--pixel-pitch-um",
            str(DCOD_PITCH_UM),
            "--z2-range-um",
            "100",
            "1500",
        ]
    )
    assert rc == 0
    slide = validate_slide(landing / sample.replace("_", "-"))
    assert slide.format_version == 2 and slide.n_heights == 1 and not slide.heights_known
    assert slide.frame_shape == (512, 512) and slide.scan_grid == slide.sr_factor == 1
    assert slide.z2_search_bounds_m(0) == pytest.approx((100e-6, 1500e-6))
    hologram = tifffile.imread(DCOD / f"{sample}_hologram.tif").astype(np.float32)
    background = tifffile.imread(DCOD / f"{sample}_background.tif").astype(np.float32)
    intensity = slide.intensities("fov_000", 0)[0]
    if background.min() == background.max():
        # the USAF background is a constant placeholder: normalised by the hologram's own level
        assert slide.background == "none" and "placeholder" in slide.meta["flat_field_source"]
        assert slide.flat_field_dn == pytest.approx(np.median(hologram))
        assert np.median(intensity) == pytest.approx(1.0)
    else:
        assert slide.background == "fov"
        np.testing.assert_allclose(intensity, hologram / background, rtol=1e-5)
    np.testing.assert_array_equal(slide.frames("fov_000", 0)[0], hologram.astype(np.uint16))


# ----------------------------------------------------------------------------- .mat layouts
MAT_LAYOUTS = {
    # name: (writer, how the heights are laid out, amplitude flag)
    "v5_hwn_amplitude": (write_mat_v5, "hwn", True),
    "v5_nhw_real_imag_pairs": (write_mat_v5, "nhw_pairs", False),
    "v73_hwn_amplitude": (write_mat_v73, "hwn", True),
    "v73_nhw_complex": (write_mat_v73, "nhw_complex", False),
}


@pytest.mark.parametrize("layout", sorted(MAT_LAYOUTS))
def test_mat_arrays_import_in_every_layout(tmp_path: Path, layout: str) -> None:
    writer, order, amplitude = MAT_LAYOUTS[layout]
    z2 = [300.0, 330.0, 360.0]
    intensity = holograms(SHAPE, z2)
    field = np.sqrt(intensity) * np.exp(1j * 0.3)  # any phase: the intensity is |u|²
    array = {
        "hwn": np.moveaxis(np.sqrt(intensity), 0, -1),
        "nhw_pairs": np.stack([field.real, field.imag], axis=-1),
        "nhw_complex": field,
    }[order]
    mat = writer(tmp_path / "stack.mat", "holo", array)
    path = import_slide(
        [mat],
        landing=tmp_path / "landing",
        slide_id="mat-slide",
        z2_um=z2,
        mat_key="holo",
        amplitude=amplitude,
        **IDS,
        **OPTICS,
    )
    slide = validate_slide(path)
    assert slide.n_heights == 3 and slide.frame_shape == SHAPE
    assert slide.z2_nominal_m * 1e6 == pytest.approx(z2)
    scale = slide.intensity_scale("fov_000")
    assert scale == pytest.approx(FLOAT_FULL_SCALE_DN / intensity.max(axis=(1, 2)))
    for h in range(3):
        # intensities in source units / the flat field (the first hologram's median)
        expected = intensity[h] / np.median(intensity[0])
        np.testing.assert_allclose(slide.intensities("fov_000", h)[0], expected, atol=2e-4)


# ----------------------------------------------------------------------------- other inputs
def test_8bit_png_and_multipage_float_tiff_become_uint16_with_recorded_scale(
    tmp_path: Path,
) -> None:
    intensity = holograms(SHAPE, [400.0, 420.0, 440.0])
    pngs = []
    for h in range(2):
        pngs.append(tmp_path / f"h{h}.png")
        Image.fromarray(np.clip(intensity[h] * 120, 0, 255).astype(np.uint8)).save(pngs[-1])
    slide = read_slide(
        import_slide(
            pngs,
            landing=tmp_path / "a",
            slide_id="png",
            z2_um=[400, 420],
            **IDS,
            **OPTICS,
        )
    )
    assert slide.intensity_scale("fov_000") == pytest.approx([UINT8_SCALE] * 2)
    source = np.asarray(Image.open(pngs[1]), dtype=np.float32)
    np.testing.assert_allclose(
        slide.intensities("fov_000", 1)[0], source / slide.flat_field_dn, rtol=1e-6
    )

    stack = tmp_path / "stack.tif"
    tifffile.imwrite(stack, intensity.astype(np.float32), photometric="minisblack")  # 3 pages
    slide = read_slide(
        import_slide(
            [stack],
            landing=tmp_path / "b",
            slide_id="float",
            z2_range_um=[350, 500],
            **IDS,
            **OPTICS,
        )
    )
    assert slide.n_heights == 3 and slide.meta["source_files"]["fov_000"][2] == "stack.tif[2]"
    assert slide.frames("fov_000", 0).max() == pytest.approx(FLOAT_FULL_SCALE_DN, abs=1)
    np.testing.assert_allclose(
        slide.intensities("fov_000", 2)[0], intensity[2] / np.median(intensity[0]), atol=2e-4
    )


def test_sr_factor_sets_the_pixel_size_of_already_super_resolved_frames(tmp_path: Path) -> None:
    tif = _uint16_tiff(tmp_path / "sr.tif", holograms(SHAPE, [500.0]))
    slide = read_slide(
        import_slide(
            [tif],
            landing=tmp_path,
            slide_id="sr",
            z2_um=[500],
            sr_factor=3,
            **IDS,
            wavelength_nm=WAVELENGTH_NM,
            pixel_pitch_um=1.5,
        )
    )
    assert slide.sr_factor == slide.scan_grid == 1
    assert slide.sr_pixel_size_m == pytest.approx(0.5e-6)
    assert slide.meta["sensor_pitch_um"] == 1.5 and slide.meta["source_sr_factor"] == 3


def test_adding_fovs_keeps_the_slide_complete_and_its_files(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    intensity = holograms(SHAPE, [400.0, 425.0], seed=1)
    tifs = [_uint16_tiff(tmp_path / f"a{h}.tif", intensity[h]) for h in range(2)]
    background = _uint16_tiff(tmp_path / "bg.tif", np.full(SHAPE, 1.0) + 0.01 * np.eye(*SHAPE))
    common = {"landing": landing, "slide_id": "two-fov", "z2_um": [400, 425], **IDS, **OPTICS}
    path = import_slide(tifs, background=background, fov_id="fov_a", **common)
    first = (path / "fov_a" / "h0.tif").read_bytes()
    import_slide(tifs[::-1], background=background, fov_id="fov_b", **common)
    slide = validate_slide(path)
    assert slide.fov_ids == ("fov_a", "fov_b") and is_slide_ready(path)
    assert (path / "fov_a" / "h0.tif").read_bytes() == first
    np.testing.assert_array_equal(slide.frames("fov_b", 0), slide.frames("fov_a", 1))
    assert sorted(p.name for p in landing.iterdir()) == ["two-fov"]  # no temporaries left


# ----------------------------------------------------------------------------- bad inputs
def _existing_slide(tmp: Path, landing: Path) -> None:
    tif = _uint16_tiff(tmp / "existing.tif", holograms(SHAPE, [400.0])[0])
    import_slide(
        [tif], landing=landing, slide_id="bad", z2_um=[400], fov_id="fov_000", **IDS, **OPTICS
    )


def _good_tif(tmp: Path, name: str = "h0.tif", shape=SHAPE) -> Path:
    return _uint16_tiff(tmp / name, holograms(shape, [400.0])[0])


def _float_tif(tmp: Path, name: str, value: float) -> Path:
    data = holograms(SHAPE, [400.0])[0].astype(np.float32)
    data[3, 4] = value
    tifffile.imwrite(tmp / name, data)
    return tmp / name


def _garbage(tmp: Path, name: str) -> Path:
    (tmp / name).write_bytes(b"\x00garbage, not an image\xff" * 10)
    return tmp / name


# kind -> (make(tmp, landing) -> import_slide keyword changes, words the error must contain)
BAD_INPUTS: dict[str, tuple[Callable[[Path, Path], dict], str]] = {
    "unreadable_image": (lambda t, _: {"sources": [_garbage(t, "broken.tif")]}, "broken.tif"),
    "missing_file": (lambda t, _: {"sources": [t / "nowhere.png"]}, "nowhere.png"),
    "unsupported_type": (lambda t, _: {"sources": [_garbage(t, "scan.gif")]}, "scan.gif"),
    "shapes_differ": (
        lambda t, _: {
            "sources": [_good_tif(t), _good_tif(t, "small.tif", (40, 40))],
            "z2_um": [400, 420],
        },
        "small.tif.*shapes differ",
    ),
    "nan_values": (lambda t, _: {"sources": [_float_tif(t, "nan.tif", np.nan)]}, "nan.tif.*NaN"),
    "negative_values": (
        lambda t, _: {"sources": [_float_tif(t, "neg.tif", -1.0)]},
        "neg.tif.*negative",
    ),
    "colour_image": (
        lambda t, _: {
            "sources": [
                Image.fromarray(
                    np.random.default_rng(0).integers(0, 255, (*SHAPE, 3), np.uint8)
                ).save(t / "rgb.png")
                or t / "rgb.png"
            ]
        },
        "rgb.png.*greyscale",
    ),
    "missing_mat_key": (
        lambda t, _: {
            "sources": [write_mat_v5(t / "a.mat", "holo", np.ones((*SHAPE, 2)))],
            "mat_key": "hologram",
            "z2_um": [400, 420],
        },
        "a.mat.*no array 'hologram'",
    ),
    "missing_mat_key_v73": (
        lambda t, _: {
            "sources": [write_mat_v73(t / "b.mat", "holo", np.ones((*SHAPE, 2)))],
            "mat_key": "amp",
            "z2_um": [400, 420],
        },
        "b.mat.*no array 'amp'",
    ),
    "unreadable_mat": (lambda t, _: {"sources": [_garbage(t, "c.mat")]}, "c.mat.*MATLAB"),
    "mat_with_images": (
        lambda t, _: {"sources": [_good_tif(t), write_mat_v5(t / "d.mat", "x", np.ones(SHAPE))]},
        "d.mat.*only SOURCE",
    ),
    "zero_background": (
        lambda t, _: {
            "background": _uint16_tiff(t / "bg0.tif", np.pad(np.ones((39, 44)), ((1, 0), (0, 0))))
        },
        "bg0.tif.*zero or negative",
    ),
    "negative_background": (
        lambda t, _: {"background": _float_tif(t, "bgneg.tif", -5.0)},
        "bgneg.tif.*zero or negative",
    ),
    "nan_background": (
        lambda t, _: {"background": _float_tif(t, "bgnan.tif", np.nan)},
        "bgnan.tif.*NaN",
    ),
    "background_shape_differs": (
        lambda t, _: {"background": _good_tif(t, "bgsmall.tif", (40, 40))},
        "bgsmall.tif.*shape",
    ),
    "height_below_range": (lambda t, _: {"z2_um": [50.0]}, "--z2-um.*lie in"),
    "height_above_range": (lambda t, _: {"z2_um": [3500.0]}, "--z2-um.*lie in"),
    "heights_not_increasing": (
        lambda t, _: {"sources": [_good_tif(t), _good_tif(t, "h1.tif")], "z2_um": [420, 400]},
        "--z2-um.*increasing",
    ),
    "height_count_differs": (
        lambda t, _: {"sources": [_good_tif(t), _good_tif(t, "h1.tif")], "z2_um": [400]},
        "h0.tif.*2 heights but --z2-um gives 1",
    ),
    "z2_range_out_of_range": (
        lambda t, _: {"z2_um": None, "z2_range_um": [50, 4000]},
        "--z2-range-um",
    ),
    "bad_tissue_label": (lambda t, _: {"tissue": "Cheek Cells"}, "--tissue"),
    "slide_exists_without_fov_id": (
        lambda t, landing: _existing_slide(t, landing) or {},
        "exists already.*--fov-id",
    ),
    "added_fov_shape_differs": (
        lambda t, landing: (
            _existing_slide(t, landing)
            or {"sources": [_good_tif(t, "other.tif", (40, 40))], "fov_id": "fov_001"}
        ),
        "other.tif.*frame_shape",
    ),
    "added_fov_id_taken": (
        lambda t, landing: _existing_slide(t, landing) or {"fov_id": "fov_000"},
        "slide.yaml.*'fov_000' exists already",
    ),
}


@pytest.mark.parametrize("kind", sorted(BAD_INPUTS))
def test_bad_input_is_rejected_by_name_and_leaves_the_landing_folder_unchanged(
    tmp_path: Path, kind: str
) -> None:
    make, words = BAD_INPUTS[kind]
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "other-slide").mkdir()  # someone else's data stays as it is
    sources = tmp_path / "sources"
    sources.mkdir()
    arguments = {
        "sources": [_good_tif(sources)],
        "landing": landing,
        "slide_id": "bad",
        "z2_um": [400.0],
        **IDS,
        **OPTICS,
    }
    arguments.update(make(sources, landing))
    before = _tree(landing)
    with pytest.raises(RawDataError, match=words):
        import_slide(arguments.pop("sources"), **arguments)
    assert _tree(landing) == before


def test_cli_reports_bad_input_on_stderr_and_fails(tmp_path: Path, capsys) -> None:
    landing = tmp_path / "landing"
    bad = _garbage(tmp_path, "broken.png")
    rc = main(
        [
            *["import", str(bad), "--landing", str(landing), "--slide-id", "x"],
            *["--patient-id", "p", "--tissue", "t", "--wavelength-nm", "530"],
            *["--pixel-pitch-um", "1.12", "--z2-um", "400"],
        ]
    )
    assert rc == 2 and "broken.png" in capsys.readouterr().err
    assert not landing.exists()


def test_version_2_rules_raise_naming_slide_yaml(tmp_path: Path) -> None:
    path = import_slide(
        [_good_tif(tmp_path)], landing=tmp_path / "l", slide_id="v2", z2_um=[400], **IDS, **OPTICS
    )
    meta = yaml.safe_load((path / "slide.yaml").read_text())
    for change, rule in [
        ({"scan_grid": 1, "sr_factor": 3}, "scan_grid 1"),
        ({"tissue": "Lung!"}, "tissue"),
        ({"n_heights": 0}, "n_heights"),
        ({"z2_nominal_um": [400.0, 410.0]}, "z2_nominal_um"),
        ({"stage_range_um": [20.0, 500.0]}, "stage_range_um"),
        ({"background": "sometimes"}, "background"),
        ({"background": "slide"}, "background.tif"),
        ({"intensity_scale": {"fov_000": [0.0]}}, "intensity_scale"),
        ({"intensity_scale": {"fov_009": [1.0]}}, "intensity_scale"),
        ({"flat_field_dn": 0.0, "intensity_scale": {"fov_000": [2.0]}}, "flat_field_dn"),
    ]:
        broken = tmp_path / "copy" / "v2"
        shutil.rmtree(broken.parent, ignore_errors=True)
        shutil.copytree(path, broken)
        (broken / "slide.yaml").write_text(yaml.safe_dump({**meta, **change}))
        with pytest.raises(RawDataError, match=rule) as info:
            read_slide(broken)
        assert str(broken) in str(info.value)
