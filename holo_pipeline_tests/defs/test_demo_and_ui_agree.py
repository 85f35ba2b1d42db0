"""The demo and the UI agree: after ``holo-pipeline demo``, ``dagster dev`` finds nothing to do.

The demo runs on a fresh data root with a tiny cohort (5 tissues x 3 patients, one 48x48-frame
FOV per slide, 64-px patches, 1 training epoch), through the whole graph; a second demo launches no
run; then
``dagster dev`` (webserver + daemon, sensors every 15 s) runs for two minutes on the same
``DAGSTER_HOME``/``HOLO_DATA_ROOT`` and launches no run either.
"""

import re
import subprocess
import sys
import time

import dagster as dg
import pytest

from holo_pipeline_tests.dagster_dev import REPO, DagsterDev
from holo_pipeline_tests.defs.conftest import env_for_subprocess

DEMO_ARGS = ("--patients-per-tissue", "3", "--fovs-per-slide", "1", "--frame-size", "48")
DEV_WATCH_S = 120


def _demo(root, env) -> subprocess.CompletedProcess:
    args = [sys.executable, "-m", "holo_pipeline.cli", "demo", "--root", str(root), *DEMO_ARGS]
    done = subprocess.run(
        [*args, "--epochs", "1"], cwd=REPO, env=env, capture_output=True, text=True, timeout=1800
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-4000:]
    return done


def _runs(home, monkeypatch) -> list[str]:
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.get() as instance:
        return [r.run_id for r in instance.get_runs()]


@pytest.mark.slow
def test_after_the_demo_dagster_dev_launches_no_run(tmp_path, monkeypatch):
    root, home = tmp_path / "data", tmp_path / "dagster_home"
    env = env_for_subprocess(root, home)
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # the CLI quiets TensorFlow itself
    env["HOLO_PATCH_SIZE"] = "64"  # the demo profile trains on 64-px crops

    first = _demo(root, env)
    # a quiet console: no Dagster preview/beta warnings, no TensorFlow C++ error lines
    assert "PreviewWarning" not in first.stderr and "BetaWarning" not in first.stderr
    assert not re.search(r"^E0000 ", first.stderr, re.MULTILINE), first.stderr[-3000:]
    assert "a freshly started daemon would request 0." in first.stdout
    runs = _runs(home, monkeypatch)
    assert len(runs) > 15  # raw_scans per slide, the physics, the splits, training, evaluation
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.get() as instance:
        for key in ("patch_dataset", "transferred_models"):
            assert instance.get_materialized_partitions(dg.AssetKey(key))
        for key in ("dataset_splits", "pretrained_backbone", "evaluation_summary"):
            assert instance.get_latest_materialization_event(dg.AssetKey(key)) is not None

    second = _demo(root, env)
    assert "0 runs launched" in second.stdout
    assert _runs(home, monkeypatch) == runs

    with DagsterDev(env, tmp_path / "dagster_dev.log") as dev:
        deadline = time.monotonic() + DEV_WATCH_S
        while time.monotonic() < deadline:
            assert dev.alive(), dev.tail()
            new = set(_runs(home, monkeypatch)) - set(runs)
            assert not new, f"dagster dev launched {len(new)} runs:\n{dev.tail()}"
            time.sleep(5)
        text = dev.log.read_text()
        # both sensors did tick meanwhile
        assert "landing_sensor" in text and "holo_automation" in text, text[-4000:]
