"""When the model and evaluation assets rerun: nightly if their inputs changed, or on demand.

Per-slide assets follow new slides at once (eager automation, see ``sensors.py``). Training is
expensive, so ``pretrained_backbone``, ``transferred_models`` and the evaluation tables carry
:func:`nightly_retrain_condition` instead: at each tick of the profile's ``retrain_cron`` (default
``0 2 * * *``, 02:00 in ``retrain_timezone``, default UTC; overridden by ``$HOLO_RETRAIN_CRON`` and
``$HOLO_RETRAIN_TIMEZONE``) an asset (partition) is requested
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

import dagster as dg

from holo_pipeline.profile import AutomationSettings

MODEL_AND_EVALUATION_ASSETS = (
    "pretrained_backbone",
    "transferred_models",
    "evaluation_metrics",
    "evaluation_summary",
    "training_runs",
    "training_history",
)


def nightly_retrain_condition(automation: AutomationSettings) -> dg.AutomationCondition:
    """Request at the nightly tick only what changed and only when blocking checks passed.

    ``automation`` is the profile's section (:class:`holo_pipeline.profile.AutomationSettings`):
    the cron string and its timezone, validated when the profile was loaded.
    """
    cron, timezone = automation.retrain_cron, automation.retrain_timezone
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
