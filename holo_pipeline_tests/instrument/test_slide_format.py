"""Raw slide format: round trip, plain-TIFF readability, metadata, readiness, atomic writes."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import tifffile
import yaml
from PIL import Image

from holo_pipeline.instrument import (
    TISSUES,
    is_slide_ready,
    read_slide,
    read_truth,
    simulate_slide,
    validate_slide,
)
from holo_pipeline.instrument.slide_format import write_height_tiff


def test_round_trip_is_bit_exact_and_plain_readers_agree(small_slide: Path) -> None:
    slide = validate_slide(small_slide)
    assert slide.fov_ids == ("fov_000", "fov_001")
    for fov, h, path in slide.iter_tiffs():
        frames = slide.frames(fov, h)
        assert frames.dtype == np.uint16 and frames.shape == (36, 48, 48)
        # page by page with two independent readers
        with tifffile.TiffFile(path) as tif:
            assert len(tif.pages) == 36
            for k, page in enumerate(tif.pages):
                np.testing.assert_array_equal(page.asarray(), frames[k])
        with Image.open(path) as im:
            assert im.n_frames == 36
            for k in (0, 17, 35):
                im.seek(k)
                np.testing.assert_array_equal(np.asarray(im).astype(np.uint16), frames[k])
        assert frames.max() < 2**slide.bit_depth
        assert frames.std() > 0  # a hologram, not a constant


def test_writer_round_trip_random_frames(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 2**16, size=(36, 20, 30), dtype=np.uint16)
    path = write_height_tiff(tmp_path / "h0.tif", frames)
    np.testing.assert_array_equal(tifffile.imread(path, key=range(36)), frames)
    assert [p.name for p in tmp_path.iterdir()] == ["h0.tif"]  # no temporary left behind
    with pytest.raises(ValueError, match="uint16"):
        write_height_tiff(tmp_path / "h1.tif", frames.astype(np.float32))


def test_metadata_schema_and_physics_properties(small_slide: Path, created: str) -> None:
    slide = read_slide(small_slide)
    meta = slide.meta
    assert meta["slide_id"] == small_slide.name == "lung-p01-s1"
    assert meta["tissue"] in TISSUES and meta["created"] == created
    assert meta["wavelength_nm"] == 530 and meta["pixel_pitch_um"] == 1.12
    assert (meta["sr_factor"], meta["scan_grid"], meta["frame_shape"]) == (3, 6, [48, 48])
    z2 = slide.z2_nominal_m
    assert z2.shape == (8,) and np.all(np.diff(z2) > 0)
    assert 380e-6 < z2[0] and z2[-1] < 620e-6
    assert slide.wavelength_m == pytest.approx(530e-9)
    assert slide.pixel_size_m == pytest.approx(1.12e-6)
    assert slide.sr_pixel_size_m == pytest.approx(1.12e-6 / 3)
    lo, hi = slide.stage_range_m
    for h in range(8):
        zmin, zmax = slide.z2_search_bounds_m(h)
        assert lo <= zmin < z2[h] < zmax <= hi
    # normalised intensities: background ~1, mean ~ mean |t|² of the sample (energy conservation)
    truth = read_truth(small_slide, "fov_000")
    mean_i = np.mean([slide.intensities("fov_000", h).mean() for h in range(8)])
    assert mean_i == pytest.approx(np.mean(np.abs(truth.field) ** 2), rel=0.05)


def test_truth_matches_format_conventions(small_slide: Path) -> None:
    slide = read_slide(small_slide)
    truth = read_truth(small_slide, "fov_001")
    assert truth.field.dtype == np.complex64 and truth.field.shape == (144, 144)
    assert truth.pixel_size_m == pytest.approx(slide.sr_pixel_size_m)
    assert truth.shifts.shape == (8, 36, 2)
    np.testing.assert_array_equal(truth.shifts[0, 0], [0.0, 0.0])
    grid = np.stack([np.arange(36) // 6, np.arange(36) % 6], axis=1) / 6
    rel = truth.shifts - truth.shifts[:, :1]
    assert np.abs(rel - grid).max() < 0.15  # grid of 1/6 px plus small jitter
    err = np.abs(truth.z2_m - slide.z2_nominal_m)
    assert err.max() < slide.z2_tolerance_m
    amp = np.abs(truth.field)
    assert 0.3 - 1e-4 <= amp.min() and amp.max() <= 1.0 + 1e-4


def test_readiness(small_slide: Path, tmp_path: Path) -> None:
    assert is_slide_ready(small_slide)
    copy = Path(shutil.copytree(small_slide, tmp_path / small_slide.name))
    assert is_slide_ready(copy)
    (copy / "fov_001" / "h7.tif").unlink()
    assert not is_slide_ready(copy)
    (copy / "slide.yaml").write_text("fov_ids: [", encoding="utf-8")
    assert not is_slide_ready(copy)
    assert not is_slide_ready(tmp_path / "nothing-here")


def test_simulate_refuses_to_clobber_and_redoes_incomplete(tmp_path: Path, small_config) -> None:
    kwargs = dict(
        tissue="prostate", slide_id="pr-1", patient_id="p1", n_fov=1, seed=3, optics=small_config
    )
    path = simulate_slide(tmp_path, **kwargs)
    with pytest.raises(FileExistsError):
        simulate_slide(tmp_path, **kwargs)
    (path / "slide.yaml").unlink()  # as if the writer crashed before finishing
    (path / "fov_000" / "h3.tif").write_bytes(b"partial")
    assert simulate_slide(tmp_path, **kwargs) == path
    validate_slide(path)
    with pytest.raises(ValueError, match="slide_id"):
        simulate_slide(tmp_path, **{**kwargs, "slide_id": "../escape"})
    with pytest.raises(ValueError, match="tissue"):
        simulate_slide(tmp_path, **{**kwargs, "tissue": "liver"})


def _file_bytes(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_same_inputs_and_seed_give_identical_bytes(
    tmp_path: Path, small_config, created: str
) -> None:
    kwargs = dict(
        tissue="pap_smear",
        slide_id="pap-1",
        patient_id="p7",
        n_fov=1,
        optics=small_config,
        created=created,
    )
    a = simulate_slide(tmp_path / "a", seed=5, **kwargs)
    b = simulate_slide(tmp_path / "b", seed=5, **kwargs)
    c = simulate_slide(tmp_path / "c", seed=6, **kwargs)
    bytes_a, bytes_b, bytes_c = _file_bytes(a), _file_bytes(b), _file_bytes(c)
    assert bytes_a.keys() == bytes_b.keys()
    assert all(bytes_a[k] == bytes_b[k] for k in bytes_a)
    differing = [k for k in bytes_a if k != "slide.yaml" and bytes_a[k] != bytes_c[k]]
    assert len(differing) == len(bytes_a) - 1  # every TIFF and the truth change with the seed
    assert yaml.safe_load(bytes_a["slide.yaml"])["seed"] == 5
