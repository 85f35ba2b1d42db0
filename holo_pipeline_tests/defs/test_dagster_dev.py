"""End to end: the real ``dagster dev`` (webserver + daemon) processes slides dropped in the landing
folder with no manual action."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import dagster as dg
import pytest

from holo_pipeline_tests.defs.conftest import corrupt, env_for_subprocess, small_slide

REPO = Path(__file__).resolve().parents[2]
TIMEOUT_S = 480


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(predicate, what, proc, log):
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"dagster dev exited ({proc.returncode}):\n{log.read_text()[-4000:]}")
        if predicate():
            return
        time.sleep(3)
    pytest.fail(f"timed out waiting for {what}:\n{log.read_text()[-4000:]}")


def _up(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


@pytest.mark.slow
def test_dagster_dev_materialises_a_dropped_slide_and_fails_only_the_bad_one(tmp_path, monkeypatch):
    root, home = tmp_path / "data", tmp_path / "dagster_home"
    (root / "landing").mkdir(parents=True)
    home.mkdir()
    env = env_for_subprocess(root, home)
    port = _free_port()
    log = tmp_path / "dagster_dev.log"
    dagster = Path(sys.executable).with_name("dagster")
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [str(dagster), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait(lambda: _up(port), "the webserver", proc, log)
        # Simulate elsewhere and move in, as an instrument's final rename would.
        staging = tmp_path / "staging"
        good = small_slide(staging, "s-new", patient_id="p7", seed=5)
        bad = small_slide(staging, "s-bad", patient_id="p8", seed=6)
        tif = corrupt(bad)
        good.rename(root / "landing" / "s-new")
        bad.rename(root / "landing" / "s-bad")

        monkeypatch.setenv("DAGSTER_HOME", str(home))
        with dg.DagsterInstance.get() as instance:

            def done():
                got = instance.get_materialized_partitions(dg.AssetKey("patch_dataset"))
                splits = instance.get_latest_materialization_event(dg.AssetKey("dataset_splits"))
                return "s-new" in got and splits is not None

            _wait(done, "patch_dataset[s-new] and dataset_splits", proc, log)
            for key in ("raw_scans", "super_resolved_holograms", "mhpr_ground_truth"):
                assert instance.get_materialized_partitions(dg.AssetKey(key)) == {"s-new"}
            bad_runs = instance.get_runs(dg.RunsFilter(tags={"holo/slide_id": "s-bad"}))
            assert len(bad_runs) == 1 and bad_runs[0].status == dg.DagsterRunStatus.FAILURE
            logs = " ".join(
                str(e.dagster_event.event_specific_data.error)
                if e.dagster_event and e.dagster_event.is_step_failure
                else str(e.message)
                for e in instance.all_logs(bad_runs[0].run_id)
            )
            assert "RawDataError" in logs and str(tif.name) in logs
            good_runs = instance.get_runs(dg.RunsFilter(tags={"holo/slide_id": "s-new"}))
            assert len(good_runs) == 1  # the sensor requested the slide once
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
