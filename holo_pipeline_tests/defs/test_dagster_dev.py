"""End to end: the real ``dagster dev`` (webserver + daemon) processes slides dropped in the landing
folder with no manual action."""

import dagster as dg
import pytest

from holo_pipeline_tests.dagster_dev import DagsterDev
from holo_pipeline_tests.defs.conftest import corrupt, env_for_subprocess, small_slide


@pytest.mark.slow
def test_dagster_dev_materialises_a_dropped_slide_and_fails_only_the_bad_one(tmp_path, monkeypatch):
    root, home = tmp_path / "data", tmp_path / "dagster_home"
    (root / "landing").mkdir(parents=True)
    home.mkdir()
    env = env_for_subprocess(root, home)
    with DagsterDev(env, tmp_path / "dagster_dev.log") as dev:
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

            dev.wait(done, "patch_dataset[s-new] and dataset_splits", poll_s=3)
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
