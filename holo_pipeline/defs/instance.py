"""The Dagster instance side of operations: the ``dagster.yaml`` template and the pool limits.

``dagster.yaml`` (repository root) configures the run queue, run monitoring and run retries. Pool
limits are instance *state* (stored with the event log, set with ``dagster instance concurrency
set``), not YAML: :data:`POOL_LIMITS` names them and :func:`apply_pool_limits` sets those that an
operator has not set already. ``holo-pipeline demo`` calls :func:`install_instance_config` and
:func:`apply_pool_limits`.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import dagster as dg

INSTANCE_TEMPLATE = Path(__file__).resolve().parents[2] / "dagster.yaml"
"""The instance configuration template at the repository root."""

POOL_LIMITS = {"gpu": 1, "holo_cpu": 2}
"""Slots per pool: one training step per GPU; one physics step per core of a 2-core machine."""

_ALIVE = (
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
)


def install_instance_config(home: str | os.PathLike[str]) -> Path | None:
    """Copy the ``dagster.yaml`` template into ``home`` unless ``home`` already has one.

    Returns the path written, or ``None`` when ``home`` had a configuration already (an operator's
    file is never replaced) or the template is not available (an install without the repository).
    """
    target = Path(home) / "dagster.yaml"
    if target.exists() or not INSTANCE_TEMPLATE.is_file():
        return None
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(INSTANCE_TEMPLATE, target)
    return target


def apply_pool_limits(
    instance: dg.DagsterInstance, limits: dict[str, int] | None = None
) -> dict[str, int]:
    """Set the slot count of every pool in ``limits`` that has none yet; return the pools set.

    A limit already present (an operator ran ``dagster instance concurrency set gpu 4`` on a
    4-GPU node) is kept.
    """
    limits = POOL_LIMITS if limits is None else limits
    storage = instance.event_log_storage
    configured = {limit.name for limit in storage.get_pool_limits() if not limit.from_default}
    applied = {}
    for pool, slots in limits.items():
        if pool not in configured:
            storage.set_concurrency_slots(pool, slots)
            applied[pool] = slots
    return applied


def release_slots_of_dead_runs(
    instance: dg.DagsterInstance, tags: dict[str, str] | None = None
) -> list[str]:
    """Free the pool slots held by runs that can no longer release them; return their run ids.

    A finished run's slots are freed. With ``tags``, runs carrying them that still look alive
    are taken as dead too and reported failed: use it only for runs that one process launches in
    process and that cannot be alive when it starts (``holo-pipeline demo``); a run killed with
    SIGKILL stays ``STARTED`` and holds its slots until this or run monitoring frees them.
    """
    storage = instance.event_log_storage
    freed = []
    for run_id in sorted(storage.get_concurrency_run_ids()):
        run = instance.get_run_by_id(run_id)
        dead = run is None or run.status not in _ALIVE
        if not dead and tags and all(run.tags.get(k) == v for k, v in tags.items()):
            instance.report_run_failed(run, "its process ended without finishing the run")
            dead = True
        if dead:
            storage.free_concurrency_slots_for_run(run_id)
            freed.append(run_id)
    return freed
