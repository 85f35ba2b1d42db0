"""Helpers of the operations tests: a slide's outputs as arrays, and materialising its assets."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd

from holo_pipeline.catalog import load_catalog
from holo_pipeline.datasets.patch_store import open_patch_store
from holo_pipeline.datasets.stores import open_field_store, open_hologram_store

SLIDE_ASSETS = (
    "raw_scans",
    "super_resolved_holograms",
    "autofocused_heights",
    "mhpr_ground_truth",
    "patch_dataset",
)


TEST_TAGS = {"holo/launched_by": "ops-test"}


def slide_outputs(root: Path, slide_id: str) -> dict[str, np.ndarray]:
    """Every array a slide's per-slide assets wrote, read the way downstream readers read them."""
    catalog = load_catalog()

    def path(name: str) -> str:
        return catalog.entry(name).location(str(root), slide_id=slide_id)

    sr = open_hologram_store(path("super_resolved_holograms"))
    gt = open_field_store(path("mhpr_ground_truth"))
    patches = open_patch_store(path("patch_dataset"))
    heights = pd.read_parquet(path("autofocused_heights"))
    return {
        "holograms": sr.holograms[...],
        "scan_shifts": np.asarray(sr.scan_shifts),
        "height_shifts": np.asarray(sr.height_shifts),
        "z2_m": heights.sort_values(["fov_id", "height_index"])["z2_m"].to_numpy(),
        "field": gt.field[...],
        "residuals": np.asarray(gt.residuals),
        "patch_inputs": patches.inputs[...],
        "patch_target": patches.target[...],
    }


def assert_identical(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    """Same arrays, same dtypes, same bytes."""
    assert a.keys() == b.keys()
    for name in a:
        assert a[name].dtype == b[name].dtype, name
        assert a[name].shape == b[name].shape, name
        assert a[name].tobytes() == b[name].tobytes(), f"{name} differs"


def materialize_slide(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    slide_id: str,
    keys=SLIDE_ASSETS,
    resources: dict | None = None,
    tags: dict[str, str] | None = None,
) -> dg.ExecuteInProcessResult:
    """Materialise ``keys`` of one slide in process (checks included) against ``instance``."""
    if slide_id not in instance.get_dynamic_partitions("slides"):
        instance.add_dynamic_partitions("slides", [slide_id])
    return dg.materialize(
        [*defs.assets, *defs.asset_checks],
        selection=list(keys),
        partition_key=slide_id,
        instance=instance,
        resources={**defs.resources, **(resources or {})},
        tags=tags,
    )


def main(argv: list[str]) -> int:
    """``python outputs.py SLIDE_ID [ASSET …]``: materialise against ``$DAGSTER_HOME``'s instance.

    What the fault-tolerance tests run in a subprocess (and kill).
    """
    from holo_pipeline.definitions import build_definitions
    from holo_pipeline.defs.instance import apply_pool_limits, release_slots_of_dead_runs

    slide_id, *keys = argv
    with dg.DagsterInstance.get() as instance:
        apply_pool_limits(os.environ["DAGSTER_HOME"])
        # as `holo-pipeline demo` does: runs of an earlier, killed process hold no slots
        release_slots_of_dead_runs(instance, tags=TEST_TAGS)
        result = materialize_slide(
            build_definitions(), instance, slide_id, keys or SLIDE_ASSETS, tags=TEST_TAGS
        )
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
