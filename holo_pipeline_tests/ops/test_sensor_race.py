"""Fault (d): two landing-sensor ticks racing on the same new slide launch its run once.

Evaluated by Dagster's own sensor daemon code (``execute_sensor_iteration``) against the code
location loaded as ``dagster dev`` loads it, on an instance configured by the repository's
``dagster.yaml`` (runs are queued, not executed: the run-queue daemon is not started). The race —
a second tick that read the cursor before the first tick stored it — is produced by putting the
old cursor back between the ticks.
"""

import logging
from datetime import timedelta

import dagster as dg
import pytest
from dagster._core.scheduler.instigation import InstigatorType, TickStatus
from dagster._core.storage.tags import RUN_KEY_TAG
from dagster._core.test_utils import create_test_daemon_workspace_context, freeze_time
from dagster._core.workspace.load_target import ModuleTarget
from dagster._daemon.sensor import execute_sensor_iteration
from dagster._time import get_current_datetime

from holo_pipeline.defs.instance import install_instance_config


def _tick(context):
    list(execute_sensor_iteration(context, logging.getLogger("test"), None, None))


@pytest.mark.slow
def test_racing_ticks_launch_a_new_slide_once(env, land, tmp_path, monkeypatch):
    home = tmp_path / "home"
    install_instance_config(home)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    land("s-race", seed=1)
    target = ModuleTarget(
        module_name="holo_pipeline.definitions",
        attribute="defs",
        working_directory=None,
        location_name="holo_pipeline",
    )
    with (
        dg.DagsterInstance.get() as instance,
        create_test_daemon_workspace_context(target, instance) as context,
    ):
        now = get_current_datetime()
        with freeze_time(now):
            _tick(context)
        [state] = [
            s
            for s in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
            if s.name == "landing_sensor"
        ]
        assert state.instigator_data.cursor == '["s-race"]'
        # the racing tick: it read the state before the first tick stored its cursor
        instance.update_instigator_state(
            state.with_data(state.instigator_data._replace(cursor=None))
        )
        with freeze_time(now + timedelta(seconds=60)):
            _tick(context)

        ticks = instance.get_ticks(state.instigator_origin_id, state.selector_id)
        assert len(ticks) == 2
        runs = instance.get_runs(filters=dg.RunsFilter(tags={RUN_KEY_TAG: "raw_scans:s-race"}))
        assert len(runs) == 1
        assert runs[0].status == dg.DagsterRunStatus.QUEUED
        assert runs[0].tags["dagster/partition"] == "s-race"
        assert len(instance.get_runs()) == 1
        # the second tick evaluated the same request and skipped it for its run key
        latest = ticks[0]
        assert latest.status in (TickStatus.SKIPPED, TickStatus.SUCCESS)
        assert latest.run_ids == []
        assert latest.tick_data.run_keys == ["raw_scans:s-race"]
        assert instance.get_dynamic_partitions("slides") == ["s-race"]
