"""Benchmark the slide pipeline: seconds per FOV per asset, Dagster's overhead, Dask speed-up.

Usage::

    .venv/bin/python benchmarks/pipeline.py                 # demo profile: 176×176 frames → 528 SR
    .venv/bin/python benchmarks/pipeline.py --frame 64 --patch 96 --n-fov 2   # quick

Prints three figures:

1. seconds per FOV of each per-slide asset's core work (plain Python calls of the same task
   functions and writers the assets use, Dask ``--scheduler`` with ``--workers`` workers);
2. Dagster's own overhead per partition: the wall time of an in-process Dagster run of the
   per-slide assets and their checks minus the time inside the asset bodies and checks (both from
   Dagster's event log), as a fraction of the asset bodies (a run launched by the daemon adds a
   process start and the code location's import on top);
3. the speed-up of 2 Dask workers over 1 on the per-FOV work of a ``--n-fov`` slide, for the
   ``threads`` and ``processes`` (LocalCluster) schedulers, with 1 FFT thread per worker.

``--per-fov`` prints instead the per-FOV physics of one lung FOV, stage by stage, at each
``--sizes`` frame side (176: the demo's 528² SR grid; 512: the paper's 1536²), in one process
and one thread, with the FFT backend in use and each time also in units of a fixed FFT workload
timed in the same run (200 complex64 768² FFTs, 1 worker), which makes figures from a shared
machine comparable; ``--profile`` adds the top functions by cumulative time (cProfile).

    .venv/bin/python benchmarks/pipeline.py --per-fov --sizes 176 512
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from holo_pipeline.profile import load_profile


def _simulate(landing: Path, n_fov: int, frame: int) -> Path:
    from holo_pipeline.instrument import MicroscopeConfig, simulate_slide

    slide = landing / "bench-slide"
    if (slide / "slide.yaml").exists():
        return slide
    return simulate_slide(
        landing,
        tissue="prostate",
        slide_id="bench-slide",
        patient_id="bench",
        n_fov=n_fov,
        seed=11,
        optics=MicroscopeConfig(frame_shape=(frame, frame)),
        created="2026-01-01T00:00:00+00:00",
    )


def core_pipeline(slide_path: Path, out: Path, settings, patch: int, mhpr) -> dict:
    """The per-slide work of the assets without Dagster; returns seconds per stage."""
    from holo_pipeline.datasets import slides as tasks
    from holo_pipeline.datasets.compute import map_tasks
    from holo_pipeline.datasets.patch_store import write_patch_store
    from holo_pipeline.datasets.stores import write_field_store, write_hologram_store, write_parquet
    from holo_pipeline.instrument import read_slide, validate_slide

    seconds = {}
    t = time.perf_counter()
    slide = validate_slide(slide_path)
    tasks.slide_fingerprint(slide_path)
    seconds["raw_scans"] = time.perf_counter() - t
    n = len(slide.fov_ids)

    t = time.perf_counter()
    sr = map_tasks(
        tasks.super_resolve_task, [(str(slide_path), f) for f in slide.fov_ids], settings
    )
    sr_path = write_hologram_store(
        out / "sr.zarr",
        np.stack([r.holograms for r in sr]),
        scan_shifts=np.stack([r.scan_shifts for r in sr]),
        height_shifts=np.stack([r.height_shifts for r in sr]),
        attrs={"fov_ids": list(slide.fov_ids)},
    )
    seconds["super_resolved_holograms"] = time.perf_counter() - t

    t = time.perf_counter()
    z2 = [
        z
        for z, _ in map_tasks(
            tasks.autofocus_task, [(str(slide_path), str(sr_path), i) for i in range(n)], settings
        )
    ]
    write_parquet(pd.DataFrame({"z2_m": np.concatenate(z2)}), out / "heights.parquet")
    seconds["autofocused_heights"] = time.perf_counter() - t

    slide = read_slide(slide_path)
    wl, px = slide.wavelength_m, slide.sr_pixel_size_m
    t = time.perf_counter()
    pr = map_tasks(
        tasks.phase_retrieval_task,
        [(str(sr_path), i, z2[i], wl, px, mhpr) for i in range(n)],
        settings,
    )
    field_path = write_field_store(
        out / "field.zarr",
        np.stack([r.field for r in pr]),
        residuals=np.stack([r.residuals for r in pr]),
        z2=np.stack([r.z2 for r in pr]),
        attrs={},
    )
    z2 = [r.z2 for r in pr]
    seconds["mhpr_ground_truth"] = time.perf_counter() - t

    t = time.perf_counter()
    sets = map_tasks(
        tasks.patches_task,
        [(str(sr_path), str(field_path), i, z2[i], patch, wl, px) for i in range(n)],
        settings,
    )
    write_patch_store(
        out / "patches.zarr",
        np.concatenate([s.inputs for s in sets]),
        np.concatenate([s.target for s in sets]),
        fov_index=np.repeat(np.arange(n), [len(s.origin) for s in sets]),
        origin=np.concatenate([s.origin for s in sets]),
        attrs={},
    )
    seconds["patch_dataset"] = time.perf_counter() - t
    return seconds


def fft_unit(repeats: int = 3) -> tuple[float, float]:
    """Wall and CPU seconds of the fixed FFT workload: 200 complex64 768² FFTs on 1 worker, each
    the best of ``repeats``.

    The unit the per-FOV figures are expressed in: on a shared machine, absolute seconds move with
    the load and ratios to a workload timed in the same run move much less.
    """
    import scipy.fft

    from holo_pipeline.optics import _fft

    rng = np.random.default_rng(0)
    x = (rng.normal(size=(768, 768)) + 1j * rng.normal(size=(768, 768))).astype(np.complex64)
    wall, cpu = float("inf"), float("inf")
    with scipy.fft.set_workers(1):
        _fft.fft2(x)
        for _ in range(repeats):
            t, c = time.perf_counter(), time.process_time()
            for _ in range(100):
                y = _fft.fft2(x)
                _fft.ifft2(y, overwrite_x=True)
            wall = min(wall, time.perf_counter() - t)
            cpu = min(cpu, time.process_time() - c)
    return wall, cpu


def _blas_threads_of_a_worker():
    """The BLAS limit a Dask worker of the demo profile runs with (none before it existed)."""
    import contextlib

    from holo_pipeline.datasets import compute

    limit = getattr(compute, "blas_threads", None)
    return limit(1) if limit is not None else contextlib.nullcontext()


def per_fov_physics(workdir: Path, frame: int, mhpr, *, profile: bool = False) -> dict:
    """Wall and CPU seconds of each physics stage of one simulated lung FOV (``frame``² frames),
    as a Dask worker of the demo profile runs them (one thread, 1 FFT and 1 BLAS thread)."""
    from holo_pipeline.datasets import processing
    from holo_pipeline.datasets.slides import autofocus_slide_fov
    from holo_pipeline.instrument import MicroscopeConfig, read_slide, simulate_slide

    slide_dir = workdir / f"lung-{frame}"
    if not (slide_dir / "slide.yaml").exists():
        simulate_slide(
            workdir,
            tissue="lung",
            slide_id=f"lung-{frame}",
            patient_id="bench",
            n_fov=1,
            seed=2024,
            optics=MicroscopeConfig(frame_shape=(frame, frame)),
            created="2026-01-01T00:00:00+00:00",
        )
    slide = read_slide(slide_dir)
    fov = slide.fov_ids[0]
    frames = np.stack([slide.intensities(fov, h) for h in range(slide.n_heights)])
    wl, px = slide.wavelength_m, slide.sr_pixel_size_m
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    seconds: dict[str, tuple[float, float]] = {}
    # The FFT unit is timed around every stage and each stage divided by the mean of the units
    # before and after it: on a shared machine the load moves within minutes.
    units: dict[str, tuple[float, float]] = {}
    unit_before = fft_unit(repeats=1)

    def timed(name, run):
        nonlocal unit_before
        t, c = time.perf_counter(), time.process_time()
        out = run()
        seconds[name] = (time.perf_counter() - t, time.process_time() - c)
        unit_after = fft_unit(repeats=1)
        units[name] = tuple((a + b) / 2 for a, b in zip(unit_before, unit_after, strict=True))
        unit_before = unit_after
        return out

    with _blas_threads_of_a_worker():
        sr = timed(
            "super-resolution",
            lambda: processing.super_resolve_fov(
                frames,
                slide.sr_factor,
                z2_nominal=slide.z2_nominal_m,
                wavelength=wl,
                pixel_size=px,
            ),
        )
        z2, _ = timed("autofocus+refine", lambda: autofocus_slide_fov(slide, sr.holograms))
        pr = timed(
            "MH-PR",
            lambda: processing.phase_retrieve_fov(
                sr.holograms, z2, wavelength=wl, pixel_size=px, settings=mhpr
            ),
        )
        timed(
            "patches",
            lambda: processing.extract_patches(
                sr.holograms,
                pr.z2,
                pr.field,
                patch_size=min(512, 3 * frame),
                wavelength=wl,
                pixel_size=px,
            ),
        )
    seconds["total"] = tuple(sum(v[i] for v in seconds.values()) for i in (0, 1))
    # In units: each stage in its own units, summed.
    in_units = {
        k: tuple(v[i] / units[k][i] for i in (0, 1)) for k, v in seconds.items() if k in units
    }
    in_units["total"] = tuple(sum(v[i] for v in in_units.values()) for i in (0, 1))
    if profiler is not None:
        import pstats

        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(20)
    mean_unit = tuple(float(np.mean([u[i] for u in units.values()])) for i in (0, 1))
    return seconds, in_units, mean_unit


def _per_fov(args, work: Path) -> None:
    from holo_pipeline.optics import _fft

    name = getattr(_fft, "backend_name", lambda: "scipy.fft (pocketfft)")()
    print(f"FFT backend: {name}")
    for frame in args.sizes:
        seconds, units, unit = per_fov_physics(work, frame, args.mhpr, profile=args.profile)
        print(
            f"\nlung FOV {frame}² frames → {3 * frame}² SR, MH-PR {args.mhpr.iterations} it; "
            f"FFT unit (200 complex64 768² FFTs, 1 worker, timed around every stage): mean "
            f"{unit[0]:.2f} s wall, {unit[1]:.2f} s CPU"
        )
        print(f"   {'stage':18s} {'wall s':>8s} {'units':>7s} {'CPU s':>8s} {'CPU units':>9s}")
        for stage, (wall, cpu) in seconds.items():
            u_wall, u_cpu = units[stage]
            print(f"   {stage:18s} {wall:8.2f} {u_wall:7.2f} {cpu:8.2f} {u_cpu:9.2f}")
        wall, cpu = seconds["total"]
        print(f"   CPU during the FOV's physics (process CPU s / wall s): {cpu / wall:.0%}")


def dagster_partition(root: Path) -> dict[str, float]:
    """One in-process Dagster run of the per-slide assets and their checks.

    Returns the run's wall seconds, the seconds inside asset bodies and inside checks (each step
    from STEP_START to its output, from Dagster's own event log), and per asset its body seconds.
    """
    import dagster as dg

    from holo_pipeline.definitions import build_definitions

    defs = build_definitions(root=root)
    keys = [
        dg.AssetKey(k)
        for k in (
            "raw_scans",
            "super_resolved_holograms",
            "autofocused_heights",
            "mhpr_ground_truth",
            "patch_dataset",
        )
    ]
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("slides", ["bench-slide"])
        job = defs.resolve_implicit_global_asset_job_def()
        t = time.perf_counter()
        result = job.execute_in_process(
            instance=instance, partition_key="bench-slide", asset_selection=keys
        )
        wall = time.perf_counter() - t
        assert result.success
        started, bodies = {}, {}
        for record in instance.all_logs(result.run_id):
            event = record.dagster_event
            if event is None or event.step_key is None:
                continue
            if event.event_type_value == "STEP_START":
                started[event.step_key] = record.timestamp
            elif event.event_type_value == "STEP_OUTPUT" and event.step_key in started:
                bodies[event.step_key] = record.timestamp - started[event.step_key]
    names = {k.to_user_string() for k in keys}
    assets = {k: v for k, v in bodies.items() if k in names}
    checks = sum(v for k, v in bodies.items() if k not in names)
    return {"wall": wall, "assets": sum(assets.values()), "checks": checks, **assets}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frame", type=int, default=176, help="frame side (demo: 176 → 528 SR)")
    parser.add_argument("--patch", type=int, default=512)
    parser.add_argument("--n-fov", type=int, default=4)
    parser.add_argument(
        "--iterations",
        type=int,
        default=None,
        help="MH-PR iterations (default: the demo profile's)",
    )
    parser.add_argument("--workers", type=int, default=2, help="Dask workers for figures 1–2")
    parser.add_argument(
        "--scheduler", default="processes", help="Dask scheduler for figures 1–2 (the default)"
    )
    parser.add_argument("--workdir", type=Path, default=None, help="keep the simulated slide here")
    parser.add_argument(
        "--schedulers", nargs="+", default=["threads", "processes"], help="for the speed-up"
    )
    parser.add_argument("--only-speedup", action="store_true", help="skip figures 1 and 2")
    parser.add_argument("--per-fov", action="store_true", help="per-FOV physics stages only")
    parser.add_argument("--sizes", type=int, nargs="+", default=[176], help="frame sides")
    parser.add_argument("--profile", action="store_true", help="with --per-fov: cProfile")
    args = parser.parse_args(argv)
    args.mhpr = _mhpr_settings(args.iterations)
    args.iterations = args.mhpr.iterations

    work = args.workdir or Path(tempfile.mkdtemp(prefix="holo-bench-"))
    if args.per_fov:
        print(f"cores: {os.cpu_count()}; load average at start: {os.getloadavg()[0]:.1f}")
        _per_fov(args, work)
        print(f"load average at end: {os.getloadavg()[0]:.1f}")
        return 0
    root = work / "data"
    t = time.perf_counter()
    slide = _simulate(root / "landing", args.n_fov, args.frame)
    print(
        f"slide: {args.n_fov} FOV of {args.frame}² frames → {3 * args.frame}² SR, "
        f"patch {args.patch}, MH-PR {args.iterations} it (simulated in "
        f"{time.perf_counter() - t:.1f} s); cores: {os.cpu_count()}"
    )

    print(f"load average at start: {os.getloadavg()[0]:.1f}")
    if not args.only_speedup:
        _per_asset_and_overhead(args, slide, work, root)
    _speedup(args, slide, work)
    print(f"load average at end: {os.getloadavg()[0]:.1f}")
    return 0


def _mhpr_settings(iterations: int | None):
    """The demo profile's MH-PR settings, iterations replaced when given."""
    import dataclasses

    mhpr = load_profile("demo").processing.phase_retrieval()
    return mhpr if iterations is None else dataclasses.replace(mhpr, iterations=iterations)


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _per_asset_and_overhead(args, slide: Path, work: Path, root: Path) -> None:
    from holo_pipeline.datasets.compute import DaskSettings

    # 1. seconds per FOV per asset
    settings = DaskSettings(args.scheduler, n_workers=args.workers, fft_workers=1)
    out = work / "core"
    out.mkdir(parents=True, exist_ok=True)
    core = core_pipeline(slide, out, settings, args.patch, args.mhpr)
    print(
        f"\n1. core seconds per FOV ({args.scheduler}: {args.workers} Dask workers, "
        "1 FFT thread each)"
    )
    for name, s in core.items():
        print(f"   {name:26s} {s / args.n_fov:7.2f} s/FOV")
    total = sum(core.values())
    print(f"   {'all five':26s} {total / args.n_fov:7.2f} s/FOV  ({total:.1f} s per partition)")

    # 2. Dagster overhead per partition
    os.environ.update(
        HOLO_PATCH_SIZE=str(args.patch),
        HOLO_MHPR_ITERATIONS=str(args.iterations),
        HOLO_DASK_SCHEDULER=args.scheduler,
        HOLO_DASK_WORKERS=str(args.workers),
        HOLO_FFT_WORKERS="1",
    )
    run = dagster_partition(root)
    overhead = run["wall"] - run["assets"] - run["checks"]
    print("\n2. Dagster in-process run of the partition (5 assets + 4 blocking checks)")
    print(
        f"   wall {run['wall']:.1f} s = asset bodies {run['assets']:.1f} s + checks "
        f"{run['checks']:.1f} s + Dagster {overhead:.1f} s"
    )
    print(
        f"   Dagster overhead per partition: {overhead / run['assets']:.1%} of compute "
        f"({(overhead + run['checks']) / run['assets']:.1%} counting the checks)"
    )


def _speedup(args, slide: Path, work: Path) -> None:
    """3. speed-up of 2 workers over 1 on the per-FOV stages.

    Also prints CPU seconds per wall second (this process and its workers): on a machine shared
    with other work the speed-up is capped by the CPU share, but CPU/wall still doubles with two
    workers when nothing (GIL, locks) serialises them.
    """
    from holo_pipeline.datasets.compute import DaskSettings

    out = work / "core"
    out.mkdir(parents=True, exist_ok=True)
    print(f"\n3. speed-up of 2 Dask workers over 1 on the {args.n_fov}-FOV slide")
    per_fov = (
        "super_resolved_holograms",
        "autofocused_heights",
        "mhpr_ground_truth",
        "patch_dataset",
    )
    for scheduler in args.schedulers:
        times = {}
        for n_workers in (1, 2):
            cpu0, wall0 = _cpu_seconds(), time.perf_counter()
            s = core_pipeline(
                slide,
                out,
                DaskSettings(scheduler, n_workers, fft_workers=1),
                args.patch,
                args.mhpr,
            )
            share = (_cpu_seconds() - cpu0) / (time.perf_counter() - wall0)
            times[n_workers] = sum(s[k] for k in per_fov)
            detail = ", ".join(f"{k.split('_')[0]} {s[k]:.1f}" for k in per_fov)
            print(
                f"   {scheduler:9s} {n_workers} worker(s): {times[n_workers]:6.1f} s  "
                f"CPU/wall {share:.2f}  ({detail})"
            )
        print(f"   {scheduler:9s} speed-up 2 over 1: {times[1] / times[2]:.2f}×")


if __name__ == "__main__":
    raise SystemExit(main())
