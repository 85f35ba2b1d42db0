"""``holo-pipeline demo``: simulate the demo cohort and materialise the whole graph, incrementally.

1. Simulate the demo cohort into ``<root>/landing`` (slides that already exist are kept).
2. Register every ready slide as a ``slides`` partition.
3. Materialise, stage by stage, only the asset partitions that are missing or stale (code version
   or an input's data version changed), against the persistent instance in ``$DAGSTER_HOME``
   (default ``<root>/dagster_home``), so that ``dagster dev`` shows the same runs afterwards and a
   second ``make demo`` with nothing changed launches no run at all.
4. Print where the time went and the evaluation report (summary + the paper's comparisons).

Staleness is Dagster's own (the UI's "stale"/"missing" badges), computed with
``CachingStaleStatusResolver`` — an internal Dagster API, pinned by ``dagster>=1.13,<1.14``.
"""

import argparse
import os
import time
from collections.abc import Sequence
from pathlib import Path

from holo_pipeline.settings import data_root, landing_dir

PER_SLIDE_ASSETS = (
    "raw_scans",
    "super_resolved_holograms",
    "autofocused_heights",
    "mhpr_ground_truth",
    "patch_dataset",
)
EVALUATION_ASSETS = (
    "evaluation_metrics",
    "evaluation_summary",
    "training_runs",
    "training_history",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the ``demo`` options."""
    parser.add_argument(
        "--root", default=None, help="data root (default $HOLO_DATA_ROOT or ./data)"
    )
    parser.add_argument("--seed", type=int, default=0, help="cohort seed (default 0)")


class _Stale:
    """Which asset partitions are missing or stale in ``instance`` for the graph of ``defs``."""

    def __init__(self, defs, instance) -> None:
        self.defs = defs
        self.instance = instance

    def needs_run(self, key: str, partition_key: str | None = None) -> bool:
        import dagster as dg
        from dagster._core.asset_graph_view.asset_graph_view import AssetGraphView, TemporalContext
        from dagster._core.definitions.data_version import CachingStaleStatusResolver, StaleStatus
        from dagster._time import get_current_datetime

        graph = self.defs.resolve_asset_graph()
        view = AssetGraphView(
            temporal_context=TemporalContext(
                effective_dt=get_current_datetime(), last_event_id=None
            ),
            instance=self.instance,
            asset_graph=graph,
        )
        resolver = CachingStaleStatusResolver(self.instance, graph, view)
        status = resolver.get_status(dg.AssetKey(key), partition_key)
        return status in (StaleStatus.STALE, StaleStatus.MISSING)


def _materialize(defs, instance, keys: Sequence[str], partition_key: str | None) -> float:
    """Run ``keys`` (one partition) in process against ``instance``; return seconds."""
    import dagster as dg

    start = time.perf_counter()
    result = dg.materialize(
        [*defs.assets, *defs.asset_checks],
        selection=list(keys),
        partition_key=partition_key,
        instance=instance,
        resources=defs.resources,
        tags={"holo/launched_by": "demo"},
        # the event log keeps every DEBUG event for the UI; the terminal only shows warnings
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        raise_on_error=False,
    )
    where = f"{list(keys)}" + (f" [{partition_key}]" if partition_key else "")
    if not result.success:
        raise RuntimeError(f"demo: run {result.run_id} failed for {where}; see the Dagster UI")
    print(f"  materialised {where} in {time.perf_counter() - start:.1f} s", flush=True)
    return time.perf_counter() - start


def run(args: argparse.Namespace) -> int:
    """Simulate, materialise what is missing or stale, print the timings and the report."""
    root = data_root(args.root)
    os.environ["HOLO_DATA_ROOT"] = str(root)
    os.environ.setdefault("DAGSTER_HOME", str(root / "dagster_home"))
    home = Path(os.environ["DAGSTER_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    from holo_pipeline.defs.instance import install_instance_config

    # the repository's template (run queue, monitoring, retries); SQLite under DAGSTER_HOME
    if install_instance_config(home) is None and not (home / "dagster.yaml").exists():
        (home / "dagster.yaml").write_text("# Dagster instance of the holo_pipeline demo\n{}\n")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    timings: dict[str, float] = {}
    t_all = time.perf_counter()

    from holo_pipeline.instrument import simulate_cohort

    start = time.perf_counter()
    landing = landing_dir(root)
    simulate_cohort(landing, profile="demo", seed=args.seed)
    timings["simulate cohort (virtual microscope)"] = time.perf_counter() - start
    print(f"cohort in {landing} ({timings['simulate cohort (virtual microscope)']:.1f} s)")

    import dagster as dg

    from holo_pipeline.datasets.slides import ready_slides
    from holo_pipeline.definitions import build_definitions
    from holo_pipeline.defs.partitions import SLIDES

    defs = build_definitions(root)
    from holo_pipeline.defs.instance import apply_pool_limits, release_slots_of_dead_runs

    instance = dg.DagsterInstance.get()
    apply_pool_limits(instance)
    # a demo killed mid-run leaves its run STARTED, holding pool slots that would block this one
    release_slots_of_dead_runs(instance, tags={"holo/launched_by": "demo"})
    slides = sorted(ready_slides(landing))
    known = set(instance.get_dynamic_partitions(SLIDES))
    new = [s for s in slides if s not in known]
    if new:
        instance.add_dynamic_partitions(SLIDES, new)
    stale = _Stale(defs, instance)

    def stage(
        name: str, keys: Sequence[str], partitions: Sequence[str | None], *, together=False
    ) -> None:
        spent = 0.0
        for pk in partitions:
            todo = [k for k in keys if stale.needs_run(k, pk)]
            if todo:
                # a stale asset makes everything after it in the stage stale as well; assets of
                # one multi-asset (``together``) can only run together
                start = 0 if together else keys.index(todo[0])
                spent += _materialize(defs, instance, keys[start:], pk)
        timings[name] = spent

    from holo_pipeline.defs.assets.training import transfer_partitions

    stage("per-slide physics (SR, autofocus, MH-PR, patches)", list(PER_SLIDE_ASSETS), slides)
    stage("dataset_splits", ["dataset_splits"], [None])
    stage("pretrained_backbone", ["pretrained_backbone"], [None])
    stage("transferred_models", ["transferred_models"], transfer_partitions.get_partition_keys())
    stage("evaluation tables", list(EVALUATION_ASSETS), [None], together=True)
    timings["total"] = time.perf_counter() - t_all

    import pandas as pd

    from holo_pipeline.catalog import load_table
    from holo_pipeline.evaluation.comparisons import format_frame
    from holo_pipeline.evaluation.report import render

    print()
    print(render(load_table("evaluation_summary"), load_table("training_runs")))
    print()
    print("## Where the time went (this run)")
    print()
    print(format_frame(pd.DataFrame({"stage": list(timings), "seconds": list(timings.values())})))
    print()
    print(
        f"Browse the runs: DAGSTER_HOME={os.environ['DAGSTER_HOME']} HOLO_DATA_ROOT={root} "
        ".venv/bin/dagster dev -m holo_pipeline.definitions"
    )
    return 0
