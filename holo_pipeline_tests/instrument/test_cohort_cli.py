"""Cohort planning, resumable cohort simulation, and the ``holo-pipeline simulate`` command."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from holo_pipeline.cli import main
from holo_pipeline.instrument import (
    TISSUES,
    is_slide_ready,
    plan_cohort,
    read_slide,
    simulate_cohort,
    validate_slide,
)
from holo_pipeline.profile import load_profile


@pytest.mark.parametrize("profile", ["demo", "paper"])
def test_cohort_plan_covers_every_tissue_with_separate_patients(profile: str) -> None:
    plans = plan_cohort(load_profile(profile).cohort)
    assert {p.tissue for p in plans} == set(TISSUES)
    assert len({p.slide_id for p in plans}) == len(plans)
    for tissue in TISSUES:
        patients = {p.patient_id for p in plans if p.tissue == tissue}
        assert len(patients) >= 3
    # a patient belongs to one tissue only, slide ids are safe folder names
    owner: dict[str, str] = {}
    for p in plans:
        assert owner.setdefault(p.patient_id, p.tissue) == p.tissue
        assert re.fullmatch(r"[a-z0-9-]+", p.slide_id)
    assert load_profile("demo").cohort.frame_shape == (176, 176)  # 528² SR: one 512² patch per FOV
    assert load_profile("paper").cohort.frame_shape[0] * 3 >= 3 * 512


def test_cohort_is_resumable(tmp_path: Path, small_config) -> None:
    seen: list[str] = []
    slides = simulate_cohort(
        tmp_path,
        tissues=["pap_smear"],
        patients_per_tissue=2,
        fovs_per_slide=1,
        optics=small_config,
        seed=1,
        on_fov=seen.append,
    )
    assert [s.name for s in slides] == ["pap-smear-p01-s1", "pap-smear-p02-s1"]
    assert seen == ["pap-smear-p01-s1/fov_000", "pap-smear-p02-s1/fov_000"]
    assert read_slide(slides[0]).patient_id != read_slide(slides[1]).patient_id
    kept = (slides[0] / "fov_000" / "h0.tif").stat().st_mtime_ns
    (slides[1] / "slide.yaml").unlink()  # as if interrupted while writing the second slide
    assert not is_slide_ready(slides[1])
    simulate_cohort(
        tmp_path,
        tissues=["pap_smear"],
        patients_per_tissue=2,
        fovs_per_slide=1,
        optics=small_config,
        seed=1,
    )
    assert (slides[0] / "fov_000" / "h0.tif").stat().st_mtime_ns == kept  # not redone
    validate_slide(slides[1])


def test_cli_simulate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["simulate", "--out", str(tmp_path), "--tissue", "lung", "--tissue", "prostate"]
    args += ["--slides", "1", "--fovs", "1", "--frame-size", "40", "--seed", "9"]
    assert main(args) == 0
    slides = sorted(p.name for p in tmp_path.iterdir())
    assert slides == ["lung-p01-s1", "prostate-p01-s1"]
    for name in slides:
        slide = validate_slide(tmp_path / name)
        assert slide.frame_shape == (40, 40) and slide.meta["seed"] == 9
    assert "2 slides, 2 FOVs" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["simulate", "--out", str(tmp_path), "--tissue", "liver"])
    with pytest.raises(SystemExit):
        main(["simulate", "--out", str(tmp_path), "--fovs", "0"])


def test_cohort_in_worker_processes_writes_the_same_files(tmp_path: Path, small_config) -> None:
    kwargs = dict(tissues=["lung"], patients_per_tissue=2, fovs_per_slide=1, optics=small_config)
    serial = simulate_cohort(tmp_path / "serial", seed=3, **kwargs)
    seen: list[str] = []
    parallel = simulate_cohort(
        tmp_path / "parallel", seed=3, workers=2, on_fov=seen.append, **kwargs
    )
    assert [s.name for s in parallel] == [s.name for s in serial]
    assert seen == ["lung-p01-s1/fov_000", "lung-p02-s1/fov_000"]
    for a, b in zip(serial, parallel, strict=True):
        validate_slide(b)
        frames = sorted(p.relative_to(a) for p in a.rglob("*") if p.suffix in {".tif", ".npz"})
        assert frames, a
        for rel in frames:  # every page and every truth array, byte for byte
            assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
