"""Sensors: the landing-folder sensor that turns new slides into ``slides`` partitions and runs,
and the automation sensor that evaluates the assets' declarative automation conditions.

Both are RUNNING by default, so ``dagster dev`` processes a dropped slide with no manual action.
"""

import json

import dagster as dg

from holo_pipeline.datasets.slides import ready_slides
from holo_pipeline.defs.assets.ingest import raw_scans
from holo_pipeline.defs.partitions import SLIDES, slides_partitions
from holo_pipeline.defs.resources import CatalogResource

LANDING_INTERVAL_S = 15
AUTOMATION_INTERVAL_S = 15


def _requested(cursor: str | None) -> set[str]:
    if not cursor:
        return set()
    try:
        return set(json.loads(cursor))
    except (ValueError, TypeError):
        raise ValueError(
            f"landing_sensor cursor is not a JSON list of slide ids: {cursor!r}"
        ) from None


def _raw_scans_materialised(instance: dg.DagsterInstance, slide_ids: list[str]) -> set[str]:
    """The slides among ``slide_ids`` (known ``slides`` partitions) whose raw_scans exist."""
    if not slide_ids:
        return set()
    status = instance.get_status_by_partition(raw_scans.key, slide_ids, slides_partitions) or {}
    return {s for s, st in status.items() if st == dg.AssetPartitionStatus.MATERIALIZED}


@dg.sensor(
    name="landing_sensor",
    target=[raw_scans],
    minimum_interval_seconds=LANDING_INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Adds a `slides` partition per new ready slide in <root>/landing; runs raw_scans.",
)
def landing_sensor(
    context: dg.SensorEvaluationContext, catalog: CatalogResource
) -> dg.SensorResult | dg.SkipReason:
    """Request each ready slide whose ``raw_scans`` partition is not materialised, once.

    A slide is *ready* when its ``slide.yaml`` (written last by the instrument) is present and every
    listed FOV is complete; a half-written slide is simply not seen yet. Whether a ready slide is
    *new* is decided by the instance, which every route shares (this sensor under the daemon,
    ``holo-pipeline demo``, a Materialize click): its ``raw_scans`` partition is not materialised.
    The cursor (the sorted JSON list of slide ids requested so far) only keeps a slide whose run is
    queued, running or failed from being requested again on every tick; the run key
    ``raw_scans:<slide_id>`` makes two racing ticks, or a tick with a lost cursor, launch it once.
    """
    requested = _requested(context.cursor)
    candidates = [s for s in ready_slides(catalog.landing()) if s not in requested]
    known = set(context.instance.get_dynamic_partitions(SLIDES))
    done = _raw_scans_materialised(context.instance, [s for s in candidates if s in known])
    new = [s for s in candidates if s not in done]
    if not new:
        return dg.SkipReason(f"no new ready slides in {catalog.landing()}")
    to_add = [s for s in new if s not in known]
    context.log.info(f"new ready slides: {new}")
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=f"raw_scans:{slide_id}",
                partition_key=slide_id,
                asset_selection=[raw_scans.key],
                tags={"holo/slide_id": slide_id},
            )
            for slide_id in new
        ],
        dynamic_partitions_requests=(
            [slides_partitions.build_add_request(to_add)] if to_add else []
        ),
        cursor=json.dumps(sorted(requested | set(new))),
    )


# One run per slide partition, never a backfill. By default a tick that requests several
# partitions of one asset (slides dropped together) is submitted as a backfill, and the backfill
# daemon then decides a second time, on its own bookkeeping, what to launch; under load (CI, stop
# 21) one slide's mhpr_ground_truth and patch_dataset were materialised twice on that route. A run
# per partition is the route a lone slide always took: its chain SR -> patches in one run, tagged
# with its partition, in progress exactly while that run is.
automation_sensor = dg.AutomationConditionSensorDefinition(
    "holo_automation",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=AUTOMATION_INTERVAL_S,
    emit_backfills=False,
    description="Evaluates every asset's automation condition (per-slide assets follow eagerly).",
)
