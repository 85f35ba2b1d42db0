"""Shared fixtures: one small simulated slide (48×48 frames) written once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from holo_pipeline.instrument import MicroscopeConfig, simulate_slide

SMALL = MicroscopeConfig(frame_shape=(48, 48), margin_um=40.0)
CREATED = "2024-01-02T03:04:05+00:00"


@pytest.fixture(scope="session")
def small_config() -> MicroscopeConfig:
    """48×48 frames (144×144 SR), a 40 µm margin: a FOV simulates in well under a second."""
    return SMALL


@pytest.fixture(scope="session")
def created() -> str:
    return CREATED


@pytest.fixture(scope="session")
def small_slide(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A complete 2-FOV lung slide with 48×48 frames; treat as read-only (copy to mutate)."""
    root = tmp_path_factory.mktemp("landing")
    return simulate_slide(
        root,
        tissue="lung",
        slide_id="lung-p01-s1",
        patient_id="lung-p01",
        n_fov=2,
        seed=11,
        optics=SMALL,
        created=CREATED,
    )
