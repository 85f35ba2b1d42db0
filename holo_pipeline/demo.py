"""``holo-pipeline demo``: simulate the demo cohort; bring the graph up to date as the daemon would.

1. Simulate the demo cohort into ``<root>/landing`` (slides that already exist are kept).
2. Evaluate the real ``landing_sensor``, as the sensor daemon does, and execute its run requests.
3. Evaluate the assets' real automation conditions, as the automation sensor does
   (:func:`dagster.evaluate_automation_conditions`), and execute what they request, tick after
   tick, until nothing more is requested. The per-slide physics and the splits follow at once.
   The models and evaluation tables carry a nightly condition (:mod:`holo_pipeline.defs.schedules`):
   once nothing else is requested, the demo moves its automation clock past the next nightly tick,
   so they are requested exactly when missing, or when their code or an input changed.
4. Check that the daemon, starting with no cursor, would request nothing, and print where the time
   went and the evaluation report (summary + the paper's comparisons).

Everything runs in process against the persistent instance in ``$DAGSTER_HOME`` (default
``<root>/dagster_home``), through public Dagster APIs only, so ``dagster dev`` afterwards shows the
same runs and finds nothing to do, and a second ``make demo`` with nothing changed launches no run.
The demo's automation cursor and clock are kept in ``$DAGSTER_HOME/holo_demo_automation.json``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from holo_pipeline.settings import data_root, landing_dir

DEMO_TAGS = {"holo/launched_by": "demo"}
AUTOMATION_STATE = "holo_demo_automation.json"
TRAINING_ASSETS = ("pretrained_backbone", "transferred_models")
# Where each asset's run time is reported in "Where the time went".
STAGE_OF = {
    "raw_scans": "landing sensor: raw_scans",
    "super_resolved_holograms": "per-slide physics (SR, autofocus, MH-PR, patches)",
    "autofocused_heights": "per-slide physics (SR, autofocus, MH-PR, patches)",
    "mhpr_ground_truth": "per-slide physics (SR, autofocus, MH-PR, patches)",
    "patch_dataset": "per-slide physics (SR, autofocus, MH-PR, patches)",
    "dataset_splits": "dataset_splits",
    "pretrained_backbone": "pretrained_backbone",
    "transferred_models": "transferred_models",
}
# One automation tick of the demo's clock; a "night" is long enough to pass at least one tick of
# any cron schedule ($HOLO_RETRAIN_CRON may be weekly or monthly).
TICK = datetime.timedelta(seconds=1)
NIGHT = datetime.timedelta(days=366)
MAX_TICKS = 500
# Default worker processes: one per core, at most this many (each holds TensorFlow's memory).
MAX_WORKERS = 4


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the ``demo`` options."""
    parser.add_argument(
        "--root", default=None, help="data root (default $HOLO_DATA_ROOT or ./data)"
    )
    parser.add_argument("--seed", type=int, default=0, help="cohort seed (default 0)")
    parser.add_argument("--profile", default=None, help="profile (default $HOLO_PROFILE or demo)")
    small = parser.add_argument_group("a smaller cohort (tests, a first look)")
    small.add_argument("--patients-per-tissue", type=int, default=None, metavar="N")
    small.add_argument("--fovs-per-slide", type=int, default=None, metavar="N")
    small.add_argument("--frame-size", type=int, default=None, metavar="PX", help="square frames")
    small.add_argument(
        "--epochs", type=int, default=0, help="training epochs (default: the profile's)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="runs (and simulated slides) at once, in N processes sharing the cores "
        "(default: the cores, at most 4; 1 runs everything in this process)",
    )


class _AutomationState:
    """The demo's automation cursor and clock, kept under ``DAGSTER_HOME`` between demos."""

    def __init__(self, path: Path) -> None:
        import dagster as dg

        self.path = path
        self.cursor: Any = None
        self.clock = datetime.datetime.now(datetime.UTC)
        if path.is_file():
            try:
                saved = json.loads(path.read_text())
                self.cursor = dg.deserialize_value(saved["cursor"])
                self.clock = max(self.clock, datetime.datetime.fromisoformat(saved["clock"]))
            except (ValueError, KeyError, TypeError, dg.DagsterError):
                self.cursor = None  # an old or damaged file: start as a fresh daemon would

    def save(self) -> None:
        import dagster as dg

        text = json.dumps(
            {"clock": self.clock.isoformat(), "cursor": dg.serialize_value(self.cursor)}
        )
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(self.path)


class _Runner:
    """Executes run requests in this process against the persistent instance."""

    def __init__(self, defs, instance, epochs: int) -> None:
        self.defs = defs
        self.instance = instance
        self.epochs = epochs
        self._members = {
            key: set(a.keys)
            for a in defs.assets
            if hasattr(a, "keys") and not a.can_subset
            for key in a.keys
        }

    def run(
        self, keys: Sequence[str], partition_key: str | None, tags: Mapping[str, str]
    ) -> tuple[str, float, float]:
        """Materialise ``keys`` (one run); return its stage in "Where the time went", its wall
        seconds and the CPU seconds this process (all its threads) spent meanwhile."""
        import dagster as dg

        # a multi-asset that cannot be subset runs whole (the evaluation tables)
        selection = set(keys)
        for key in keys:
            selection |= {k.to_user_string() for k in self._members.get(dg.AssetKey(key), ())}
        selection = sorted(selection)
        ops: dict[str, Any] = {}
        if self.epochs:
            ops = {
                k: {"config": {"epochs": self.epochs}} for k in TRAINING_ASSETS if k in selection
            }
        start, cpu = time.perf_counter(), time.process_time()
        result = dg.materialize(
            [*self.defs.assets, *self.defs.asset_checks],
            selection=selection,
            partition_key=partition_key,
            instance=self.instance,
            resources=self.defs.resources,
            tags={**tags, **DEMO_TAGS},
            # the event log keeps every DEBUG event for the UI; the terminal only shows warnings
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}, "ops": ops},
            raise_on_error=False,
        )
        spent, cpu = time.perf_counter() - start, time.process_time() - cpu
        where = f"{selection}" + (f" [{partition_key}]" if partition_key else "")
        if not result.success:
            raise RuntimeError(f"demo: run {result.run_id} failed for {where}; see the Dagster UI")
        print(f"  materialised {where} in {spent:.1f} s", flush=True)
        return STAGE_OF.get(selection[0], "evaluation tables"), spent, cpu


# The worker process's runner (see _Dispatcher): its own Definitions and instance handle.
_WORKER: _Runner | None = None


def _start_worker(profile: str | None, root: str, epochs: int, threads: int) -> None:
    """Initialise a worker process: ``threads`` threads for its Dask physics, TensorFlow and BLAS.

    The demo's workers share the cores: each runs one run at a time with its share of them (two
    TensorFlow processes that each keep a pool over all cores spend the cores switching between
    their threads: transfer runs took twice as long side by side).
    """
    global _WORKER
    os.environ.setdefault("HOLO_DASK_WORKERS", str(threads))
    from holo_pipeline.cli import quiet_console

    quiet_console("demo")  # as in the demo's own process (it imports TensorFlow quietly)
    import tensorflow as tf
    from threadpoolctl import threadpool_limits

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    threadpool_limits(threads)
    import dagster as dg

    from holo_pipeline.definitions import build_definitions
    from holo_pipeline.profile import load_profile

    defs = build_definitions(load_profile(profile), Path(root))
    _WORKER = _Runner(defs, dg.DagsterInstance.get(), epochs)


def _run_in_worker(
    keys: Sequence[str], partition_key: str | None, tags: Mapping[str, str]
) -> tuple[str, float, float]:
    assert _WORKER is not None, "worker not initialised"
    return _WORKER.run(keys, partition_key, tags)


class _Dispatcher:
    """Executes the runs of one sensor tick, in this process or spread over worker processes.

    The runs of one tick never depend on each other (:func:`requested_runs`), so ``workers``
    processes (each with its own Definitions and handle on the same instance, as the daemon's run
    workers have) execute them side by side. A tick with one run (the backbone, the evaluation)
    runs in this process, with every core. Each stage's time is wall-clock time: a tick's wall
    time is shared between its runs' stages in proportion to their run times.
    """

    def __init__(self, runner: _Runner, workers: int, profile: str | None, root: Path) -> None:
        self.runner = runner
        self.timings: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)
        self.run_seconds = 0.0
        self.runs = 0
        self.pool = None
        if workers > 1:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            threads = max(1, available_cores() // workers)
            self.pool = ProcessPoolExecutor(
                workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_worker,
                initargs=(profile, str(root), runner.epochs, threads),
            )

    def run_all(self, requests: Sequence[tuple[Sequence[str], str | None, Mapping[str, str]]]):
        if not requests:
            return
        start = time.perf_counter()
        if self.pool is None or len(requests) == 1:
            done = [self.runner.run(*request) for request in requests]
        else:
            # Longest first, so that the tick does not end on one long run with the other
            # workers idle.
            ordered = sorted(requests, key=_expected_cost, reverse=True)
            futures = [self.pool.submit(_run_in_worker, *request) for request in ordered]
            # let every run of the tick finish before reporting the first failure
            errors = [f.exception() for f in futures]
            if failed := next((e for e in errors if e is not None), None):
                raise failed
            done = [f.result() for f in futures]
        wall = time.perf_counter() - start
        busy = sum(spent for _, spent, _ in done) or 1.0
        for stage, spent, cpu in done:
            self.timings[stage] += wall * spent / busy
            self.cpu[stage] += cpu
        self.run_seconds += busy
        self.runs += len(done)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()


def _expected_cost(request: tuple[Sequence[str], str | None, Mapping[str, str]]) -> tuple:
    """A sort key that orders a tick's runs by their expected length.

    Only transfer runs differ much: an epoch's time grows with M (the holograms per sample) and
    with Nt/N (the training tiles); in the demo they took 30 s (prostate, M = 2) to 90 s
    (salivary gland, M = 4). Every other tick's runs are alike (slides of one size).
    """
    keys, partition_key, _ = request
    if "transferred_models" not in keys or partition_key is None:
        return (0, 0.0)
    from holo_pipeline.datasets.experiments import TransferExperiment

    experiment = TransferExperiment.from_key(partition_key)
    return (experiment.n_holograms, experiment.nt_ratio)


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS reports it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def run_landing_sensor(defs, instance, runner: _Dispatcher) -> int:
    """Evaluate the landing sensor with no cursor, as a fresh daemon would; execute its requests."""
    import dagster as dg

    from holo_pipeline.defs.sensors import landing_sensor

    context = dg.build_sensor_context(instance=instance, definitions=defs, resources=defs.resources)
    result = landing_sensor(context)
    if isinstance(result, dg.SkipReason):
        return 0
    for request in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    requests = result.run_requests
    keys = [[k.to_user_string() for k in r.asset_selection] for r in requests]
    runner.run_all([(k, r.partition_key, r.tags) for k, r in zip(keys, requests, strict=True)])
    return len(requests)


def _parents(defs) -> dict[str, set[str]]:
    specs = defs.resolve_all_asset_specs()
    return {s.key.to_user_string(): {d.asset_key.to_user_string() for d in s.deps} for s in specs}


def _ancestors(parents: Mapping[str, set[str]], key: str) -> set[str]:
    seen: set[str] = set()
    todo = list(parents.get(key, ()))
    while todo:
        k = todo.pop()
        if k not in seen:
            seen.add(k)
            todo.extend(parents.get(k, ()))
    return seen


def requested_runs(defs, result) -> dict[str | None, list[str]]:
    """The runs of one automation tick: requested assets by partition key, in dependency order.

    A request whose upstream asset was requested in another run of the same tick waits for the
    next tick (its condition then holds again: an input changed, or it is still missing), so that
    a table is never computed from the models being retrained beside it.
    """
    parents = _parents(defs)
    requested: dict[str | None, set[str]] = defaultdict(set)
    for key in defs.resolve_all_asset_keys():
        for pk in result.get_requested_partitions(key):
            requested[pk].add(key.to_user_string())
    runs: dict[str | None, list[str]] = {}
    for pk, keys in requested.items():
        elsewhere = {k for other, ks in requested.items() if other != pk for k in ks}
        ready = [k for k in keys if not (_ancestors(parents, k) & elsewhere)]
        if ready:
            order = {k: len(_ancestors(parents, k)) for k in ready}
            runs[pk] = sorted(ready, key=lambda k: (order[k], k))
    return runs


def _evaluate(defs, instance, state: _AutomationState) -> dict[str | None, list[str]]:
    import dagster as dg

    state.clock += TICK
    result = dg.evaluate_automation_conditions(
        defs=defs, instance=instance, evaluation_time=state.clock, cursor=state.cursor
    )
    state.cursor = result.cursor
    state.save()
    return requested_runs(defs, result)


def automation_tick(defs, instance, runner: _Dispatcher, state: _AutomationState) -> int:
    """One tick of the automation sensor at the demo's clock; execute its runs, return their count.

    As under the daemon, the sensor ticks again while the requested runs are still queued (that
    tick sees them requested, not yet written) before a later tick sees what they wrote; without
    it a condition would take the request and the update for one event and miss the update.
    """
    runs = _evaluate(defs, instance, state)
    if not runs:
        return 0
    while more := _evaluate(defs, instance, state):
        for pk, keys in more.items():
            runs[pk] = [*runs.get(pk, []), *(k for k in keys if k not in runs.get(pk, []))]
    runner.run_all([(keys, pk, {}) for pk, keys in runs.items()])
    return len(runs)


def run_automation(defs, instance, runner: _Dispatcher, state: _AutomationState) -> int:
    """Tick until nothing is requested, even after a nightly tick; return the ticks evaluated."""
    night_passed = False
    for tick in range(1, MAX_TICKS + 1):
        if automation_tick(defs, instance, runner, state):
            night_passed = False
        elif night_passed:
            return tick
        else:
            # nothing more follows at once: let the nightly condition of the models see its tick
            state.clock += NIGHT
            night_passed = True
    raise RuntimeError(f"demo: automation still requesting runs after {MAX_TICKS} ticks")


def daemon_would_request(defs, instance) -> int:
    """What a freshly started daemon would request: the landing sensor with no cursor, and the
    automation sensor's first two ticks with no cursor."""
    import dagster as dg

    from holo_pipeline.defs.sensors import landing_sensor

    context = dg.build_sensor_context(instance=instance, definitions=defs, resources=defs.resources)
    landing = landing_sensor(context)
    n = 0 if isinstance(landing, dg.SkipReason) else len(landing.run_requests)
    first = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    second = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
    return n + first.total_requested + second.total_requested


def run(args: argparse.Namespace) -> int:
    """Simulate, bring the graph up to date as the daemon would, print timings and the report."""
    root = data_root(args.root)
    os.environ["HOLO_DATA_ROOT"] = str(root)
    os.environ.setdefault("DAGSTER_HOME", str(root / "dagster_home"))
    home = Path(os.environ["DAGSTER_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    from holo_pipeline.defs.instance import install_instance_config

    # the repository's template (run queue, monitoring, retries); SQLite under DAGSTER_HOME
    if install_instance_config(home) is None and not (home / "dagster.yaml").exists():
        (home / "dagster.yaml").write_text("# Dagster instance of the holo_pipeline demo\n{}\n")
    t_all = time.perf_counter()

    from holo_pipeline.instrument import MicroscopeConfig, simulate_cohort
    from holo_pipeline.profile import load_profile

    profile = load_profile(args.profile)
    workers = args.workers or min(available_cores(), MAX_WORKERS)
    if workers < 1:
        raise SystemExit(f"demo: --workers must be >= 1, got {workers}")
    start = time.perf_counter()
    landing = landing_dir(root)
    optics = None
    if args.frame_size:
        optics = MicroscopeConfig(frame_shape=(args.frame_size, args.frame_size))
    simulate_cohort(
        landing,
        profile.cohort,
        seed=args.seed,
        patients_per_tissue=args.patients_per_tissue,
        fovs_per_slide=args.fovs_per_slide,
        optics=optics,
        workers=workers,
    )
    simulated = time.perf_counter() - start
    print(f"cohort in {landing} ({simulated:.1f} s)")

    import dagster as dg

    from holo_pipeline.definitions import build_definitions
    from holo_pipeline.defs.instance import (
        POOL_LIMITS,
        apply_pool_limits,
        release_slots_of_dead_runs,
    )

    defs = build_definitions(profile, root)
    # the demo's own instance: as many training steps at once as it has workers (the models are
    # small, each worker has its share of the cores); an operator's limits are kept
    apply_pool_limits(home, {**POOL_LIMITS, "gpu": max(POOL_LIMITS["gpu"], workers)})
    instance = dg.DagsterInstance.get()
    # a demo killed mid-run leaves its run STARTED, holding pool slots that would block this one
    release_slots_of_dead_runs(instance, tags=DEMO_TAGS)
    runner = _Dispatcher(_Runner(defs, instance, args.epochs), workers, args.profile, root)
    state = _AutomationState(home / AUTOMATION_STATE)

    try:
        # the automation sensor is running before slides land (on a new instance this first tick
        # is its initial evaluation: eager conditions request what goes missing *after* it)
        automation_tick(defs, instance, runner, state)
        landed = run_landing_sensor(defs, instance, runner)
        ticks = 1 + run_automation(defs, instance, runner, state)
    finally:
        runner.close()
    leftover = daemon_would_request(defs, instance)
    timings = {"simulate cohort (virtual microscope)": simulated, **runner.timings}
    timings["total"] = time.perf_counter() - t_all

    import pandas as pd

    from holo_pipeline.catalog import load_table
    from holo_pipeline.evaluation.comparisons import format_frame
    from holo_pipeline.evaluation.report import render

    print()
    print(
        f"{runner.runs} runs launched ({landed} by the landing sensor, the rest by automation over "
        f"{ticks} ticks); a freshly started daemon would request {leftover}."
    )
    print(
        f"{workers} worker process(es): the runs took {runner.run_seconds:.0f} s between them, "
        f"{timings['total'] - simulated:.0f} s of wall time with the sensors' evaluations."
    )
    print()
    summary, runs = load_table("evaluation_summary"), load_table("training_runs")
    print(render(summary, runs, comparisons=load_table("evaluation_comparisons")))
    print()
    print("## Where the time went (this run)")
    print()
    # CPU: the runs' processes' CPU seconds over the stage's wall seconds (200 % = 2 cores busy)
    cpu = [
        f"{100 * runner.cpu[stage] / seconds:.0f}" if stage in runner.cpu and seconds else ""
        for stage, seconds in timings.items()
    ]
    table = {"stage": list(timings), "seconds": list(timings.values()), "cpu_percent": cpu}
    print(format_frame(pd.DataFrame(table)))
    print()
    print(
        f"Browse the runs: DAGSTER_HOME={os.environ['DAGSTER_HOME']} HOLO_DATA_ROOT={root} "
        ".venv/bin/dagster dev -m holo_pipeline.definitions"
    )
    return 0
