"""The repository's ``dagster.yaml``: loaded by a real instance, its settings are in effect."""

import dagster as dg
import pytest
import yaml
from dagster._core.run_coordinator import QueuedRunCoordinator

from holo_pipeline.defs.instance import (
    INSTANCE_TEMPLATE,
    POOL_LIMITS,
    apply_pool_limits,
    install_instance_config,
    release_slots_of_dead_runs,
)


@pytest.fixture
def home(tmp_path, monkeypatch):
    home = tmp_path / "dagster_home"
    assert install_instance_config(home) == home / "dagster.yaml"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


def test_template_installs_once_and_never_replaces_an_operators_file(tmp_path):
    home = tmp_path / "home"
    assert install_instance_config(home) == home / "dagster.yaml"
    assert (home / "dagster.yaml").read_text() == INSTANCE_TEMPLATE.read_text()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    assert install_instance_config(home) is None
    assert (home / "dagster.yaml").read_text() == "telemetry:\n  enabled: false\n"


def test_instance_from_template_queues_runs_and_monitors_them(home):
    with dg.DagsterInstance.get() as instance:
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
        concurrency = instance.get_concurrency_config()
        assert concurrency.run_queue_config.max_concurrent_runs == 2
        assert concurrency.pool_config.default_pool_limit == 2
        assert concurrency.pool_config.pool_granularity.value == "op"
        assert instance.run_monitoring_enabled
        assert instance.run_monitoring_max_runtime_seconds == 43200
        assert instance.cancellation_thread_poll_interval_seconds == 10
        assert instance.run_retries_enabled and instance.run_retries_max_retries == 2
        assert not instance.run_retries_retry_on_asset_or_op_failure


def test_pool_limits_are_applied_once_and_an_operators_limit_is_kept(home):
    with dg.DagsterInstance.get() as instance:
        instance.event_log_storage.set_concurrency_slots("gpu", 4)  # a 4-GPU node
        assert apply_pool_limits(home) == {"holo_cpu": POOL_LIMITS["holo_cpu"]}
        limits = {p.name: p.limit for p in instance.event_log_storage.get_pool_limits()}
        assert limits["gpu"] == 4 and limits["holo_cpu"] == 2
        assert apply_pool_limits(home) == {}


def test_pools_of_the_definitions_have_limits_after_apply(home):
    from holo_pipeline.definitions import build_definitions

    pools = {a.op.pool for a in build_definitions().assets if isinstance(a, dg.AssetsDefinition)}
    pools -= {None}
    assert pools == set(POOL_LIMITS)
    with dg.DagsterInstance.get() as instance:
        apply_pool_limits(home)
        for pool in pools:
            info = instance.event_log_storage.get_concurrency_info(pool)
            assert info.slot_count == POOL_LIMITS[pool]


def test_slots_of_a_dead_in_process_run_are_released(home):
    with dg.DagsterInstance.get() as instance:
        apply_pool_limits(home)
        storage = instance.event_log_storage
        run = instance.create_run_for_job(
            dg.Definitions(jobs=[_noop_job]).resolve_job_def("noop"),
            tags={"holo/launched_by": "demo"},
        )
        instance.handle_run_event(
            run.run_id,
            dg.DagsterEvent(event_type_value="PIPELINE_START", job_name="noop", message="started"),
        )
        claim = storage.claim_concurrency_slot("gpu", run.run_id, "train")
        assert claim.is_claimed
        assert storage.get_concurrency_info("gpu").pending_step_count == 0
        assert storage.get_concurrency_info("gpu").claimed_slots
        # another owner's live run keeps its slot; the dead demo run's slot is freed
        assert release_slots_of_dead_runs(instance, tags={"other": "x"}) == []
        assert release_slots_of_dead_runs(instance, tags={"holo/launched_by": "demo"}) == [
            run.run_id
        ]
        assert not storage.get_concurrency_info("gpu").claimed_slots
        assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE


@dg.op
def _noop_op() -> None:
    return None


@dg.job(name="noop")
def _noop_job() -> None:
    _noop_op()


def test_template_keys_are_those_dagster_knows():
    # a misspelt key would be rejected by the instance; also keep the file free of storage paths
    config = yaml.safe_load(INSTANCE_TEMPLATE.read_text())
    assert "storage" not in config and "run_storage" not in config
    assert config["run_retries"] == {
        "enabled": True,
        "max_retries": 2,
        "retry_on_asset_or_op_failure": False,
    }
