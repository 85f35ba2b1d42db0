import json

import dagster as dg

from holo_pipeline.defs.resources import build_resources
from holo_pipeline.defs.sensors import landing_sensor
from holo_pipeline.profile import load_profile


def _tick(instance, cursor):
    """Evaluate the landing sensor once and apply its partition requests, as the daemon does."""
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources=build_resources(load_profile())
    )
    result = landing_sensor(context)
    if isinstance(result, dg.SkipReason):
        return [], cursor, []
    added = []
    for request in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
        added += list(request.partition_keys)
    return result.run_requests, result.cursor, added


def test_sensor_adds_each_ready_slide_once_and_ignores_incomplete_ones(env, land, instance):
    land("s-1", seed=1)
    half = land("s-2", seed=2)
    (half / "slide.yaml").rename(half / "slide.yaml.part")  # the writer has not finished
    (env / "landing" / ".s-3.tmp").mkdir()  # a temporary folder of some writer
    (env / "landing" / "notes.txt").write_text("not a slide")

    runs, cursor, added = _tick(instance, None)
    assert added == ["s-1"]
    assert [(r.partition_key, r.run_key) for r in runs] == [("s-1", "raw_scans:s-1")]
    assert runs[0].asset_selection == [dg.AssetKey("raw_scans")]
    assert instance.get_dynamic_partitions("slides") == ["s-1"]

    runs, cursor, added = _tick(instance, cursor)
    assert runs == [] and added == []

    (half / "slide.yaml.part").rename(half / "slide.yaml")
    land("s-0", seed=3)
    runs, cursor, added = _tick(instance, cursor)
    assert sorted(added) == ["s-0", "s-2"]
    assert sorted(r.partition_key for r in runs) == ["s-0", "s-2"]
    assert json.loads(cursor) == ["s-0", "s-1", "s-2"]

    runs, cursor, added = _tick(instance, cursor)
    assert runs == [] and added == []
    assert sorted(instance.get_dynamic_partitions("slides")) == ["s-0", "s-1", "s-2"]


def test_a_lost_cursor_does_not_add_known_partitions_again(env, land, instance):
    land("s-1", seed=1)
    _tick(instance, None)
    runs, _, added = _tick(instance, None)
    # the partition exists: no second add; the request carries the same run key, which the
    # daemon de-duplicates
    assert added == []
    assert [r.run_key for r in runs] == ["raw_scans:s-1"]
