"""Fault (c): a slide deleted or corrupted after it was materialised.

The landing sensor keeps working (other slides are still picked up), the ``audit_landing`` job
reports the two lost slides (a warning each and an observation of ``raw_scans``), the outputs
already materialised from them stay readable, and nothing else fails.
"""

import shutil

import dagster as dg
import numpy as np
import pytest

from holo_pipeline.datasets.stores import open_hologram_store
from holo_pipeline.definitions import build_definitions
from holo_pipeline.defs.resources import build_resources
from holo_pipeline.defs.sensors import landing_sensor
from holo_pipeline.profile import load_profile
from holo_pipeline_tests.defs.conftest import corrupt
from holo_pipeline_tests.ops.outputs import materialize_slide

FIRST = ("raw_scans", "super_resolved_holograms")


def _tick(instance, cursor):
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources=build_resources(load_profile())
    )
    result = landing_sensor(context)
    if isinstance(result, dg.SkipReason):
        return [], cursor
    for request in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    return [r.partition_key for r in result.run_requests], result.cursor


@pytest.mark.slow
def test_lost_slides_are_reported_and_nothing_else_fails(env, land, instance, monkeypatch):
    monkeypatch.setenv("HOLO_DASK_SCHEDULER", "threads")
    for slide_id, seed in (("s-del", 1), ("s-bad", 2), ("s-ok", 3)):
        land(slide_id, seed=seed)
    requested, cursor = _tick(instance, None)
    assert requested == ["s-bad", "s-del", "s-ok"]
    defs = build_definitions()
    for slide_id in requested:
        assert materialize_slide(defs, instance, slide_id, FIRST).success
    before = {
        s: open_hologram_store(env / "super_resolved_holograms" / f"{s}.zarr").holograms[...]
        for s in requested
    }

    shutil.rmtree(env / "landing" / "s-del")
    corrupt(env / "landing" / "s-bad")

    # the sensor: no crash, nothing re-requested, a new slide still picked up and processed
    assert _tick(instance, cursor)[0] == []
    land("s-new", seed=4)
    requested, cursor = _tick(instance, cursor)
    assert requested == ["s-new"]
    assert materialize_slide(defs, instance, "s-new", FIRST).success

    audit = defs.resolve_job_def("audit_landing").execute_in_process(instance=instance)
    assert audit.success
    found = audit.output_for_node("audit_landing_slides")
    assert found == {"missing": ["s-del"], "invalid": ["s-bad"], "intact": ["s-new", "s-ok"]}
    observed = {}
    for slide_id in ("s-del", "s-bad", "s-ok"):
        records = instance.fetch_observations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey("raw_scans"), asset_partitions=[slide_id]),
            limit=1,
        ).records
        if records:
            meta = records[0].asset_observation.metadata
            observed[slide_id] = meta["landing_status"].value
            assert meta["detail"].value
    assert observed == {"s-del": "missing", "s-bad": "invalid"}
    logs = [e.user_message for e in instance.all_logs(audit.run_id)]
    assert any("slide s-del is missing" in m for m in logs)
    assert any("slide s-bad is invalid" in m and "h3.tif" in m for m in logs)

    # the outputs already materialised from the lost slides are still there, whole
    for slide_id, holograms in before.items():
        store = open_hologram_store(env / "super_resolved_holograms" / f"{slide_id}.zarr")
        assert np.array_equal(store.holograms[...], holograms)
