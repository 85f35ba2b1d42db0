"""When the model and evaluation assets rerun: nightly if their inputs changed, or on demand.

Per-slide assets follow new slides at once (eager automation, see ``sensors.py``). Training is
expensive, so ``pretrained_backbone``, ``transferred_models`` and the evaluation tables carry
:func:`nightly_retrain_condition` instead: at each tick of ``$HOLO_RETRAIN_CRON`` (default
``0 2 * * *``, 02:00 in ``$HOLO_RETRAIN_TIMEZONE``, default UTC) an asset (partition) is requested
only if

* it is missing, or its code version changed, or the data version of one of its inputs changed
  since it was last requested or materialised, and
* every blocking asset check of its inputs passed (e.g. no patient in two splits), and
* none of its inputs is being materialised right now.

Declarative automation, not a plain schedule, because a schedule would retrain every night whether
or not anything changed. The conditions are evaluated by the automation-condition sensor (enable
it in the UI under Automation). On demand: select the ``models`` / ``evaluation`` groups (or one
``transferred_models`` partition) in the UI and press Materialize.
"""

from __future__ import annotations

import os

import dagster as dg

DEFAULT_RETRAIN_CRON = "0 2 * * *"

MODEL_AND_EVALUATION_ASSETS = (
    "pretrained_backbone",
    "transferred_models",
    "evaluation_metrics",
    "evaluation_summary",
    "training_runs",
    "training_history",
)


def retrain_cron() -> tuple[str, str]:
    """The nightly cron schedule and timezone (``$HOLO_RETRAIN_CRON``, ``$HOLO_RETRAIN_TIMEZONE``).

    Raises
    ------
    holo_pipeline.settings.ConfigError
        If the cron string is not a valid five-field cron expression.
    """
    from holo_pipeline.settings import ConfigError

    cron = os.environ.get("HOLO_RETRAIN_CRON", DEFAULT_RETRAIN_CRON).strip()
    timezone = os.environ.get("HOLO_RETRAIN_TIMEZONE", "UTC").strip()
    if not _valid_cron(cron):
        raise ConfigError(f"HOLO_RETRAIN_CRON must be a five-field cron string, got {cron!r}")
    return cron, timezone


def _valid_cron(cron: str) -> bool:
    """Five fields, and Dagster accepts it as a schedule's cron string (its public validation)."""
    if len(cron.split()) != 5:
        return False
    try:
        dg.ScheduleDefinition(name="cron_check", cron_schedule=cron, job_name="cron_check")
    except dg.DagsterInvalidDefinitionError:
        return False
    return True


def nightly_retrain_condition() -> dg.AutomationCondition:
    """Request at the nightly tick only what changed and only when blocking checks passed."""
    cron, timezone = retrain_cron()
    ac = dg.AutomationCondition
    tick = ac.cron_tick_passed(cron, timezone).since_last_handled()
    inputs_changed = (
        ac.any_deps_match(ac.data_version_changed()) | ac.code_version_changed()
    ).since_last_handled() | ac.missing()
    return (
        tick
        & inputs_changed
        & ac.all_deps_blocking_checks_passed()
        & ~ac.any_deps_in_progress()
        & ~ac.in_progress()
    ).with_label(f"nightly retrain ({cron} {timezone}) if inputs changed")
