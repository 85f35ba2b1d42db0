"""The ``audit_landing`` job: are the raw slides behind the ``slides`` partitions still there and
unchanged?

The landing sensor only looks for *new* ready slides; a slide deleted or altered after it was
materialised goes unnoticed by it (its downstream outputs stay valid and readable). This job
compares each materialised slide with the content fingerprint recorded as ``raw_scans``' data
version, logs a warning per slide that is missing, changed or no longer valid, and records an
observation of ``raw_scans`` for that partition (visible in the asset's UI). It succeeds whatever
it finds: a lost slide is a report, not a failure of anything else. Run it on request or on a
schedule; it reads every raw file (as ``raw_scans`` does).
"""

from collections.abc import Iterator

import dagster as dg

from holo_pipeline.datasets.slides import slide_fingerprint
from holo_pipeline.defs.assets.ingest import raw_scans
from holo_pipeline.defs.partitions import SLIDES
from holo_pipeline.defs.resources import CatalogResource
from holo_pipeline.instrument import RawDataError, validate_slide


def _recorded_version(instance: dg.DagsterInstance, slide_id: str) -> str | None:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=raw_scans.key, asset_partitions=[slide_id]), limit=1
    ).records
    if not records:
        return None
    return records[0].asset_materialization.tags.get("dagster/data_version")


def slide_status(catalog: CatalogResource, slide_id: str, recorded: str) -> tuple[str, str]:
    """``(status, detail)``: ``intact``, ``missing``, ``changed``, ``invalid`` or ``unreadable``."""
    path = catalog.slide_path(slide_id)
    if not path.is_dir():
        return "missing", f"{path} no longer exists"
    try:
        current = slide_fingerprint(path)
    except OSError as exc:
        return "unreadable", str(exc)
    if current == recorded:
        return "intact", ""
    try:
        validate_slide(path)
    except RawDataError as exc:
        return "invalid", str(exc)
    return "changed", f"fingerprint {current} != materialised {recorded}"


@dg.op(
    out=dg.Out(dict, description="Slide ids by status."),
    description="Compare materialised slides with the landing folder; report the lost ones.",
)
def audit_landing_slides(
    context: dg.OpExecutionContext, catalog: CatalogResource
) -> Iterator[dg.AssetObservation | dg.Output]:
    found: dict[str, list[str]] = {}
    for slide_id in sorted(context.instance.get_dynamic_partitions(SLIDES)):
        recorded = _recorded_version(context.instance, slide_id)
        if recorded is None:
            status, detail = "not_materialised", ""
        else:
            status, detail = slide_status(catalog, slide_id, recorded)
        found.setdefault(status, []).append(slide_id)
        if status not in ("intact", "not_materialised"):
            context.log.warning(
                f"slide {slide_id} is {status}: {detail}; its materialised outputs are kept"
            )
            yield dg.AssetObservation(
                asset_key=raw_scans.key,
                partition=slide_id,
                metadata={"landing_status": status, "detail": detail},
            )
    context.log.info(f"landing audit: { {k: len(v) for k, v in sorted(found.items())} }")
    yield dg.Output(found)


@dg.job(name="audit_landing", description=__doc__.split("\n\n")[1].replace("\n", " "))
def audit_landing() -> None:
    audit_landing_slides()
