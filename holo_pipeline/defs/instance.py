"""The Dagster instance side of operations: the ``dagster.yaml`` template and the pool limits.

``dagster.yaml`` (repository root) configures the run queue, run monitoring and run retries. Pool
limits are instance *state* (set with the ``dagster instance concurrency set`` CLI), not YAML:
:data:`POOL_LIMITS` names them and :func:`apply_pool_limits` sets, through that CLI, those that an
operator has not set already. ``holo-pipeline demo`` calls :func:`install_instance_config` and
:func:`apply_pool_limits`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
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


def _concurrency_cli(home: str | os.PathLike[str], *args: str) -> str:
    """Run ``dagster instance concurrency ARGS`` on the instance in ``home``; return its output."""
    env = {**os.environ, "DAGSTER_HOME": str(Path(home).resolve())}
    done = subprocess.run(
        [sys.executable, "-m", "dagster", "instance", "concurrency", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise RuntimeError(f"dagster instance concurrency {' '.join(args)}: {done.stderr[-2000:]}")
    return done.stdout


def apply_pool_limits(
    home: str | os.PathLike[str], limits: dict[str, int] | None = None
) -> dict[str, int]:
    """Set the slot count of every pool in ``limits`` that has none yet; return the pools set.

    ``home`` is the instance's ``DAGSTER_HOME``. Dagster has no public Python API for pool limits,
    so this runs its documented CLI, ``dagster instance concurrency get --all`` and ``... set POOL
    SLOTS``. A limit already present (an operator ran ``dagster instance concurrency set gpu 4`` on
    a 4-GPU node) is kept.
    """
    limits = POOL_LIMITS if limits is None else limits
    listed = _concurrency_cli(home, "get", "--all")
    configured = {
        line.split('"')[1] for line in listed.splitlines() if line.strip().startswith('"')
    }
    applied = {}
    for pool, slots in limits.items():
        if pool not in configured:
            _concurrency_cli(home, "set", pool, str(slots))
            applied[pool] = slots
    return applied


def release_slots_of_dead_runs(
    instance: dg.DagsterInstance, tags: dict[str, str] | None = None
) -> list[str]:
    """Fail the runs carrying ``tags`` that still look alive; free their slots; return their ids.

    Use it only for runs that one process launches in process and that cannot be alive when it
    starts (``holo-pipeline demo``): a run killed with SIGKILL stays ``STARTED`` and holds its
    slots. Slots of runs that *finished* are freed by run monitoring in the daemon
    (``free_slots_after_run_end_seconds`` in ``dagster.yaml``).

    Dagster has no public API to free a run's slots (its UI does it through GraphQL); this is the
    one place that uses the instance's event-log storage for it.
    """
    if not tags:
        return []
    records = instance.get_run_records(filters=dg.RunsFilter(statuses=list(_ALIVE), tags=tags))
    freed = []
    for record in records:
        run = record.dagster_run
        instance.report_run_failed(run, "its process ended without finishing the run")
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        freed.append(run.run_id)
    return sorted(freed)
