"""Scale-out is configuration: the same slide on a real ``dask.distributed`` cluster of two worker
processes (the Dask resource given only its scheduler address) gives byte-identical outputs."""

import shutil

import dagster as dg
import pytest
from distributed import Client, LocalCluster

from holo_pipeline.definitions import build_definitions
from holo_pipeline.defs.assets.holograms import TRANSIENT_RETRY
from holo_pipeline.defs.resources import DaskResource
from holo_pipeline_tests.ops.outputs import (
    SLIDE_ASSETS,
    assert_identical,
    materialize_slide,
    slide_outputs,
)

SINGLE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@pytest.mark.slow
def test_a_slide_on_a_two_worker_cluster_equals_the_in_process_run(
    env, slide_cache, tmp_path, instance
):
    slide = slide_cache("s-dist", seed=5)
    in_process_root, cluster_root = tmp_path / "threads", tmp_path / "cluster"
    for root in (in_process_root, cluster_root):
        shutil.copytree(slide, root / "landing" / "s-dist")

    defs = build_definitions(root=in_process_root)
    threads = DaskResource(scheduler="threads", n_workers=1)
    assert materialize_slide(defs, instance, "s-dist", resources={"dask": threads}).success

    with (
        dg.instance_for_test() as cluster_instance,
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            env=SINGLE_THREAD,
        ) as cluster,
    ):
        dask = DaskResource(scheduler_address=cluster.scheduler_address)
        assert dask.settings().scheduler == "distributed"
        result = materialize_slide(
            build_definitions(root=cluster_root),
            cluster_instance,
            "s-dist",
            resources={"dask": dask},
        )
        assert result.success
        logs = [e.user_message for e in cluster_instance.all_logs(result.run_id)]
        for name in SLIDE_ASSETS[1:]:
            assert any(m.startswith(f"{name}: 1 FOVs as Dask tasks (distributed") for m in logs)
            assert any(m.startswith(f"{name}: FOV 1/1 done (") for m in logs)  # per-FOV progress
        # the work really ran as tasks on both of the cluster's worker processes
        with Client(cluster) as client:
            prefixes = client.run_on_scheduler(
                lambda dask_scheduler: set(dask_scheduler.task_prefixes)
            )
            executed = client.run(lambda dask_worker: dask_worker.state.executed_count)
        assert {"super_resolve_task", "autofocus_task", "phase_retrieval_task"} <= prefixes
        assert len(executed) == 2 and sum(executed.values()) >= 4

    assert_identical(
        slide_outputs(in_process_root, "s-dist"), slide_outputs(cluster_root, "s-dist")
    )


def test_per_slide_physics_assets_retry_transient_failures_with_backoff():
    defs = build_definitions()
    policies = {
        key.to_user_string(): a.op.retry_policy
        for a in defs.assets
        if isinstance(a, dg.AssetsDefinition)
        for key in a.keys
    }
    for name in SLIDE_ASSETS[1:]:
        assert policies[name] == TRANSIENT_RETRY
    assert TRANSIENT_RETRY.max_retries == 2 and TRANSIENT_RETRY.backoff == dg.Backoff.EXPONENTIAL
    assert policies["raw_scans"] is None  # bad input fails once
