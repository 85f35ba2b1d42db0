"""Load on the real daemon: many slides dropped in the landing folder at once while ``dagster dev``
(webserver + daemon) runs, against one slide alone.

On a temporary ``DAGSTER_HOME`` (the repository's ``dagster.yaml`` and the project's pool limits,
as ``holo-pipeline demo`` sets them) and a temporary data root, with tiny simulated slides (one FOV
of 32×32 frames; 48-px patches, 10 MH-PR iterations, as the Dagster tests use):

1. one slide is moved into ``landing/``; the time until its five per-slide assets are materialised
   is the *alone* figure (it includes the sensors' tick intervals, 15 s each);
2. once the instance is idle, ``--slides`` more are moved in at once and timed the same way.

Then, from the instance's event log (public APIs only), it checks that every per-slide asset is
materialised exactly once per slide partition, that none is lost and no run failed, that each
slide's physics chain ran in one run (no backfill submitted), and that the steps of the
``holo_cpu`` pool never overlap more than the pool's limit. Exits 1 if any fails.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/daemon_load.py              # 12 slides at once
    PYTHONPATH=$PWD .venv/bin/python benchmarks/daemon_load.py --slides 4 --no-alone

The machine may be shared: the load average is printed alongside the times.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from holo_pipeline.defs.instance import apply_pool_limits, install_instance_config
from holo_pipeline.defs.sensors import AUTOMATION_INTERVAL_S, LANDING_INTERVAL_S
from holo_pipeline_tests.dagster_dev import DagsterDev
from holo_pipeline_tests.defs.conftest import env_for_subprocess, small_slide
from holo_pipeline_tests.ops.outputs import SLIDE_ASSETS

POOL = "holo_cpu"
IN_PROGRESS = (
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
)
# Idle = no run queued or in progress for longer than two ticks of either sensor: anything a
# sensor would still request (a re-materialisation, dataset_splits) has been requested by then.
QUIET_S = 2 * max(LANDING_INTERVAL_S, AUTOMATION_INTERVAL_S) + 10
STEP_STARTS = {dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_RESTARTED}
STEP_ENDS = {
    dg.DagsterEventType.STEP_SUCCESS,
    dg.DagsterEventType.STEP_FAILURE,
    dg.DagsterEventType.STEP_UP_FOR_RETRY,
}


@dataclass(frozen=True)
class Phase:
    """Slides dropped at once, seconds from the drop until all their per-slide assets were
    materialised, and the runs launched until the instance was idle again."""

    n_slides: int
    seconds: float
    runs: int
    load_average: float

    @property
    def seconds_per_slide(self) -> float:
        return self.seconds / self.n_slides


@dataclass(frozen=True)
class LoadReport:
    """What one load run measured; :meth:`violations` lists the invariants that failed."""

    alone: Phase | None
    at_once: Phase
    materialisations: dict[str, tuple[int, int]]
    """Per asset: (min, max) materialisations over the slide partitions dropped."""
    lost: list[tuple[str, str]]
    """(slide, asset) pairs never materialised."""
    failed_runs: list[str]
    pool_limit: int
    max_pool_concurrency: int
    chain_runs: tuple[int, int] = (1, 1)
    """(min, max) runs per dropped slide that targeted its physics chain (SR .. patches)."""
    backfills: int = 0
    """Backfills the automation sensor submitted (it is meant to launch plain runs only)."""

    def violations(self) -> list[str]:
        found = []
        for asset, (low, high) in self.materialisations.items():
            if (low, high) != (1, 1):
                found.append(f"{asset}: {low}..{high} materialisations per slide, not exactly 1")
        if self.lost:
            found.append(f"{len(self.lost)} (slide, asset) never materialised: {self.lost[:5]}")
        if self.failed_runs:
            found.append(f"{len(self.failed_runs)} runs failed: {self.failed_runs[:5]}")
        if self.chain_runs != (1, 1):
            low, high = self.chain_runs
            found.append(f"{low}..{high} runs per slide targeted its physics chain, not exactly 1")
        if self.backfills:
            found.append(f"{self.backfills} backfills submitted; the sensors launch runs only")
        if self.max_pool_concurrency > self.pool_limit:
            found.append(
                f"{self.max_pool_concurrency} {POOL} steps at once > its limit {self.pool_limit}"
            )
        return found

    def lines(self) -> list[str]:
        out = []
        phases = [p for p in (self.alone, self.at_once) if p is not None]
        for p in phases:
            out.append(
                f"{p.n_slides:>3} slide(s) at once: {p.seconds:7.1f} s, "
                f"{p.seconds_per_slide:6.1f} s/slide, {p.runs} runs launched "
                f"(load average {p.load_average:.1f})"
            )
        if self.alone is not None:
            ratio = self.at_once.seconds_per_slide / self.alone.seconds_per_slide
            out.append(f"per-slide time, {self.at_once.n_slides} at once / alone: {ratio:.2f}")
        for asset, (low, high) in self.materialisations.items():
            out.append(f"materialisations per partition  {asset:<26} min {low}  max {high}")
        out.append(f"lost (slide, asset): {len(self.lost)}; failed runs: {len(self.failed_runs)}")
        low, high = self.chain_runs
        out.append(f"runs per slide for its physics chain: min {low}  max {high}")
        out.append(f"backfills submitted: {self.backfills}")
        out.append(
            f"max {POOL} steps at once: {self.max_pool_concurrency} (limit {self.pool_limit})"
        )
        return out


def materialisation_counts(instance: dg.DagsterInstance, asset: str) -> Counter[str]:
    """Materialisation events of ``asset`` per partition key, from the event log."""
    counts: Counter[str] = Counter()
    cursor = None
    while True:
        page = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset)), limit=500, cursor=cursor
        )
        counts.update(r.partition_key for r in page.records)
        if not page.has_more:
            return counts
        cursor = page.cursor


def max_concurrent_steps(instance: dg.DagsterInstance, step_keys: set[str]) -> int:
    """Most steps named in ``step_keys`` running at once over all runs, from their start and end
    events (a retried step ends at STEP_UP_FOR_RETRY and starts again at STEP_RESTARTED)."""
    edges = []
    for run in instance.get_runs():
        for entry in instance.all_logs(run.run_id, of_type=STEP_STARTS | STEP_ENDS):
            event = entry.dagster_event
            if event is None or event.step_key not in step_keys:
                continue
            edges.append((entry.timestamp, 1 if event.event_type in STEP_STARTS else -1))
    running = highest = 0
    for _, delta in sorted(edges):  # at equal times an end (-1) sorts before a start
        running += delta
        highest = max(highest, running)
    return highest


def chain_runs_per_slide(instance: dg.DagsterInstance, slide_ids: list[str]) -> tuple[int, int]:
    """(min, max) over ``slide_ids`` of the runs whose selection held a per-slide asset other
    than raw_scans (the chain the automation sensor requests after ingestion)."""
    chain = {dg.AssetKey(a) for a in SLIDE_ASSETS} - {dg.AssetKey("raw_scans")}
    counts: Counter[str] = Counter()
    for run in instance.get_runs():
        if chain & set(run.asset_selection or ()):
            counts[run.tags.get("dagster/partition", "")] += 1
    per_slide = [counts.get(s, 0) for s in slide_ids]
    return min(per_slide), max(per_slide)


def _pool_step_keys() -> set[str]:
    from holo_pipeline.definitions import build_definitions

    assets = build_definitions("demo", "unused").assets
    return {a.op.name for a in assets if isinstance(a, dg.AssetsDefinition) and a.op.pool == POOL}


def _in_progress(instance: dg.DagsterInstance) -> int:
    return len(instance.get_runs(dg.RunsFilter(statuses=list(IN_PROGRESS))))


class _Daemon(DagsterDev):
    """``dagster dev`` with the test environment, able to wait until the instance is idle."""

    def __init__(self, root: Path, home: Path, log: Path, timeout_s: float):
        super().__init__(env_for_subprocess(root, home), log, timeout_s=timeout_s)
        self.__enter__()

    def wait_idle(self, instance: dg.DagsterInstance) -> None:
        quiet_since = [time.monotonic()]

        def idle() -> bool:
            if _in_progress(instance):
                quiet_since[0] = time.monotonic()
            return time.monotonic() - quiet_since[0] >= QUIET_S

        self.wait(idle, "the instance to be idle")


def _drop(
    daemon: _Daemon, instance: dg.DagsterInstance, slides: dict[str, Path], landing: Path
) -> Phase:
    """Move ``slides`` into ``landing`` at once; time until their per-slide assets exist."""
    before = {r.run_id for r in instance.get_runs()}
    start = time.monotonic()
    for slide_id, path in slides.items():
        path.rename(landing / slide_id)

    def done() -> bool:
        return all(
            set(slides) <= instance.get_materialized_partitions(dg.AssetKey(asset))
            for asset in SLIDE_ASSETS
        )

    try:
        daemon.wait(done, f"the per-slide assets of {len(slides)} slide(s)")
    except TimeoutError:
        pass  # what is missing is reported as lost
    seconds = time.monotonic() - start
    load_average = os.getloadavg()[0]
    daemon.wait_idle(instance)
    runs = len({r.run_id for r in instance.get_runs()} - before)
    return Phase(len(slides), seconds, runs, load_average)


def run_load(
    n_slides: int, workdir: Path, *, alone: bool = True, timeout_s: float = 900
) -> LoadReport:
    """Drop one slide (``alone``), then ``n_slides`` at once, into a real ``dagster dev``.

    ``workdir`` receives the data root, ``DAGSTER_HOME``, the simulated slides and the
    ``dagster dev`` log; ``timeout_s`` bounds each wait.
    """
    root, home, staging = workdir / "data", workdir / "dagster_home", workdir / "staging"
    landing = root / "landing"
    landing.mkdir(parents=True)
    install_instance_config(home)
    ids = [f"load-{i:03d}" for i in range(n_slides)]
    slides = {
        s: small_slide(staging, s, patient_id=f"p{i}", seed=100 + i) for i, s in enumerate(ids)
    }
    first = {"alone-000": small_slide(staging, "alone-000", patient_id="pa", seed=99)}
    with dg.DagsterInstance.from_config(str(home)) as instance:
        apply_pool_limits(home)
        pool_limit = instance.event_log_storage.get_concurrency_info(POOL).slot_count
        daemon = _Daemon(root, home, workdir / "dagster_dev.log", timeout_s)
        try:
            alone_phase = _drop(daemon, instance, first, landing) if alone else None
            at_once = _drop(daemon, instance, slides, landing)
        finally:
            daemon.stop()
        dropped = [*first, *ids] if alone else ids
        materialisations, lost = {}, []
        for asset in SLIDE_ASSETS:
            counts = materialisation_counts(instance, asset)
            per_slide = [counts.get(s, 0) for s in dropped]
            materialisations[asset] = (min(per_slide), max(per_slide))
            lost += [(s, asset) for s in dropped if not counts.get(s)]
        failed = instance.get_runs(
            dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED])
        )
        return LoadReport(
            alone=alone_phase,
            at_once=at_once,
            materialisations=materialisations,
            lost=lost,
            failed_runs=[r.run_id for r in failed],
            pool_limit=pool_limit,
            max_pool_concurrency=max_concurrent_steps(instance, _pool_step_keys()),
            chain_runs=chain_runs_per_slide(instance, dropped),
            backfills=len(instance.get_backfills()),
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--slides", type=int, default=12, help="slides dropped at once")
    parser.add_argument("--no-alone", action="store_true", help="skip the one-slide baseline")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per wait")
    parser.add_argument("--keep", type=Path, help="work here (kept) instead of a temporary dir")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with tempfile.TemporaryDirectory(prefix="daemon_load-") as tmp:
        workdir = args.keep or Path(tmp)
        report = run_load(args.slides, workdir, alone=not args.no_alone, timeout_s=args.timeout)
        print(f"daemon load on {os.cpu_count()} cores, work dir {workdir}")
        print("\n".join(report.lines()))
        violations = report.violations()
        for v in violations:
            print(f"FAILED: {v}")
        if violations:
            print(f"dagster dev log: {workdir / 'dagster_dev.log'} (kept only with --keep)")
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
