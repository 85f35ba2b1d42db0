"""A corpus of broken slides: each raises RawDataError naming the broken file, nothing else."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import tifffile
import yaml

from holo_pipeline.instrument import RawDataError, read_slide, validate_slide


def _edit_yaml(slide: Path, change: Callable[[dict], None]) -> str:
    meta = yaml.safe_load((slide / "slide.yaml").read_text(encoding="utf-8"))
    change(meta)
    (slide / "slide.yaml").write_text(yaml.safe_dump(meta, sort_keys=False), encoding="utf-8")
    return "slide.yaml"


def _truncate(slide: Path) -> str:
    tif = slide / "fov_000" / "h2.tif"
    data = tif.read_bytes()
    tif.write_bytes(data[: len(data) * 2 // 3])
    return "h2.tif"


def _rewrite_tiff(slide: Path, pages: np.ndarray, name: str = "h4.tif") -> str:
    tif = slide / "fov_001" / name
    tif.unlink()
    with tifffile.TiffWriter(tif) as w:
        for page in pages:
            w.write(page, photometric="minisblack", metadata=None)
    return name


def _frames(slide: Path) -> np.ndarray:
    return tifffile.imread(slide / "fov_001" / "h4.tif", key=range(36))


def _unsafe_id(slide: Path) -> str:
    return _edit_yaml(slide, lambda m: m.update(slide_id="../x"))


# name -> mutation returning the file name the error must mention
MUTATIONS: dict[str, Callable[[Path], str]] = {
    "truncated_tiff": _truncate,
    "35_pages": lambda s: _rewrite_tiff(s, _frames(s)[:35]),
    "37_pages": lambda s: _rewrite_tiff(s, np.concatenate([_frames(s), _frames(s)[:1]])),
    "float_pages": lambda s: _rewrite_tiff(s, _frames(s).astype(np.float32)),
    "uint8_pages": lambda s: _rewrite_tiff(s, (_frames(s) // 16).astype(np.uint8)),
    "wrong_page_shape": lambda s: _rewrite_tiff(s, _frames(s)[:, :40, :]),
    "values_above_bit_depth": lambda s: _rewrite_tiff(s, _frames(s) | np.uint16(0x8000)),
    "not_a_tiff": lambda s: (s / "fov_000" / "h5.tif").write_bytes(b"GIF89a garbage") and "h5.tif",
    "empty_tiff": lambda s: (s / "fov_000" / "h6.tif").write_bytes(b"") or "h6.tif",
    "missing_height": lambda s: (s / "fov_001" / "h7.tif").unlink() or "h7.tif",
    "empty_fov_folder": lambda s: [p.unlink() for p in (s / "fov_001").iterdir()] and "fov_001",
    "missing_fov_folder": lambda s: shutil.rmtree(s / "fov_000") or "fov_000",
    "missing_slide_yaml": lambda s: (s / "slide.yaml").unlink() or "slide.yaml",
    "yaml_syntax_error": lambda s: (s / "slide.yaml").write_text("a: [1, 2") and "slide.yaml",
    "yaml_not_a_mapping": lambda s: (s / "slide.yaml").write_text("- 1\n- 2\n") and "slide.yaml",
    "missing_key_wavelength": lambda s: _edit_yaml(s, lambda m: m.pop("wavelength_nm")),
    "missing_key_fov_ids": lambda s: _edit_yaml(s, lambda m: m.pop("fov_ids")),
    "unknown_tissue": lambda s: _edit_yaml(s, lambda m: m.update(tissue="liver")),
    "non_monotonic_heights": lambda s: _edit_yaml(
        s, lambda m: m["z2_nominal_um"].__setitem__(3, m["z2_nominal_um"][2] - 1)
    ),
    "seven_heights": lambda s: _edit_yaml(s, lambda m: m["z2_nominal_um"].pop()),
    "heights_out_of_range": lambda s: _edit_yaml(
        s, lambda m: m.update(z2_nominal_um=[z * 1000 for z in m["z2_nominal_um"]])
    ),
    "heights_outside_stage_range": lambda s: _edit_yaml(
        s, lambda m: m.update(stage_range_um=[500.0, 520.0])
    ),
    "nan_wavelength": lambda s: _edit_yaml(s, lambda m: m.update(wavelength_nm=float("nan"))),
    "nan_in_heights": lambda s: _edit_yaml(
        s, lambda m: m["z2_nominal_um"].__setitem__(0, float("nan"))
    ),
    "inf_in_extra_key": lambda s: _edit_yaml(s, lambda m: m.update(notes={"gain": float("inf")})),
    "string_pitch": lambda s: _edit_yaml(s, lambda m: m.update(pixel_pitch_um="1.12")),
    "bool_bit_depth": lambda s: _edit_yaml(s, lambda m: m.update(bit_depth=True)),
    "bit_depth_too_large": lambda s: _edit_yaml(s, lambda m: m.update(bit_depth=32)),
    "unsafe_slide_id": _unsafe_id,
    "uppercase_slide_id": lambda s: _edit_yaml(s, lambda m: m.update(slide_id="LUNG-P01-S1")),
    "slide_id_of_another_folder": lambda s: _edit_yaml(s, lambda m: m.update(slide_id="lung-x")),
    "duplicate_fov_ids": lambda s: _edit_yaml(s, lambda m: m.update(fov_ids=["fov_000"] * 2)),
    "unsafe_fov_id": lambda s: _edit_yaml(s, lambda m: m.update(fov_ids=["../fov_000"])),
    "empty_fov_list": lambda s: _edit_yaml(s, lambda m: m.update(fov_ids=[])),
    "bad_frame_shape": lambda s: _edit_yaml(s, lambda m: m.update(frame_shape=[48, -48])),
    "frame_shape_mismatch": lambda s: (
        _edit_yaml(s, lambda m: m.update(frame_shape=[48, 50])) and "h0.tif"
    ),
    "bad_created": lambda s: _edit_yaml(s, lambda m: m.update(created="yesterday")),
    "wrong_format_version": lambda s: _edit_yaml(s, lambda m: m.update(format_version=99)),
}


@pytest.fixture
def broken(request: pytest.FixtureRequest, small_slide: Path, tmp_path: Path):
    slide = Path(shutil.copytree(small_slide, tmp_path / small_slide.name))
    names_file = MUTATIONS[request.param](slide)
    return slide, names_file


@pytest.mark.parametrize("broken", sorted(MUTATIONS), indirect=True)
def test_bad_slide_raises_raw_data_error_naming_the_file(broken: tuple[Path, str]) -> None:
    slide, names_file = broken
    with pytest.raises(RawDataError) as info:
        validate_slide(slide)
    message = str(info.value)
    assert names_file in message, message
    assert str(slide) in message  # the full path, so an operator can find it
    # reading frame by frame through read_slide fails the same way, never with another type
    with pytest.raises(RawDataError):
        opened = read_slide(slide)
        for fov, h, _ in opened.iter_tiffs():
            opened.frames(fov, h)
        if names_file.endswith(".tif"):  # value range is a validate_slide rule
            validate_slide(slide)


def test_corpus_is_large_and_the_pristine_slide_passes(small_slide: Path) -> None:
    assert len(MUTATIONS) >= 10
    validate_slide(small_slide)


def test_frames_rejects_unknown_fov_and_height(small_slide: Path) -> None:
    slide = read_slide(small_slide)
    with pytest.raises(ValueError, match="fov_009"):
        slide.frames("fov_009", 0)
    with pytest.raises(ValueError, match="height"):
        slide.frames("fov_000", 8)
