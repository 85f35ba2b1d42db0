"""Shared fixtures for the Dagster tests: a temporary data root with small simulated slides."""

import os
import shutil
from pathlib import Path

import dagster as dg
import pytest

from holo_pipeline.instrument import MicroscopeConfig, simulate_slide

# 32×32 frames → 96×96 super-resolved FOVs; 48-px patches → 4 per FOV.
FRAME = 32
PATCH = 48


def pytest_configure(config):
    config.addinivalue_line(
        "filterwarnings", "ignore:Specifying a partitions_def on an AssetCheckSpec"
    )


def small_slide(landing: Path, slide_id: str, *, patient_id="p1", tissue="prostate", seed=0):
    """Simulate a 1-FOV slide of FRAME×FRAME frames into ``landing``."""
    return simulate_slide(
        landing,
        tissue=tissue,
        slide_id=slide_id,
        patient_id=patient_id,
        n_fov=1,
        seed=seed,
        optics=MicroscopeConfig(frame_shape=(FRAME, FRAME)),
        created="2026-01-01T00:00:00+00:00",
    )


def corrupt(slide: Path) -> Path:
    """Truncate one height TIFF: the slide still looks ready but fails validation."""
    tif = slide / "fov_000" / "h3.tif"
    data = tif.read_bytes()
    tif.write_bytes(data[: len(data) // 2])
    return tif


@pytest.fixture
def env(tmp_path, monkeypatch):
    """A temporary data root (with landing folder) configured for small slides."""
    root = tmp_path / "data"
    (root / "landing").mkdir(parents=True)
    monkeypatch.setenv("HOLO_DATA_ROOT", str(root))
    monkeypatch.setenv("HOLO_PROFILE", "demo")
    monkeypatch.setenv("HOLO_PATCH_SIZE", str(PATCH))
    monkeypatch.setenv("HOLO_MHPR_ITERATIONS", "10")
    monkeypatch.delenv("HOLO_CATALOG", raising=False)
    return root


@pytest.fixture(scope="session")
def slide_cache(tmp_path_factory):
    """Simulated slides, made once per session and copied into each test's landing folder."""
    cache = tmp_path_factory.mktemp("slides")
    made = {}

    def get(slide_id, **kwargs):
        key = (slide_id, tuple(sorted(kwargs.items())))
        if key not in made:
            made[key] = small_slide(cache / str(len(made)), slide_id, **kwargs)
        return made[key]

    return get


@pytest.fixture
def land(env, slide_cache):
    """``land(slide_id, **simulate_kwargs)`` puts a simulated slide in the landing folder."""

    def _land(slide_id, **kwargs):
        dst = env / "landing" / slide_id
        shutil.copytree(slide_cache(slide_id, **kwargs), dst)
        return dst

    return _land


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


def tree_bytes(path: Path) -> dict[str, bytes]:
    """Every file under ``path`` (or the file itself) with its bytes."""
    path = Path(path)
    if path.is_file():
        return {path.name: path.read_bytes()}
    return {
        str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()
    }


def env_for_subprocess(root: Path, home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        HOLO_DATA_ROOT=str(root),
        DAGSTER_HOME=str(home),
        HOLO_PROFILE="demo",
        HOLO_PATCH_SIZE=str(PATCH),
        HOLO_MHPR_ITERATIONS="10",
    )
    return env
