"""Virtual microscope benchmark: simulation time per FOV and per demo cohort, bytes per FOV.

Also, with ``--consistency``, reconstructs one FOV per tissue with the optics core and prints the
errors against the simulator's truth (autofocus, shifts, drift, MH-PR ECC)
(heights: "|dz| max" is the largest error of the heights MH-PR used, "mean" their common error
and "spread" half their range of errors, the part no common offset removes), and with
``--statistics`` the per-tissue field statistics over several patients. With ``--refine`` it
compares the pipeline's height refinement (``refine_heights``: two rounds of two interleaved halves)
with the leave-one-out scheme it replaced (one MH-PR of all heights but one, for every height), on
the same autofocused heights of one FOV per tissue and seed: the heights' errors against the truth
once their common offset is removed (MH-PR refocuses that), and the seconds each took.

    .venv/bin/python benchmarks/instrument.py                 # timing and size
    .venv/bin/python benchmarks/instrument.py --cohort        # + a full demo cohort
    .venv/bin/python benchmarks/instrument.py --consistency --frame-size 256 --seeds 2024 7 11
    .venv/bin/python benchmarks/instrument.py --statistics
    .venv/bin/python benchmarks/instrument.py --refine --seeds 2024 7 11 3
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import numpy as np

from holo_pipeline.instrument import (
    TISSUES,
    MicroscopeConfig,
    plan_cohort,
    simulate_cohort,
    simulate_slide,
)
from holo_pipeline.profile import load_profile


def _dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def time_fov(root: Path, frame: int, repeats: int) -> None:
    config = MicroscopeConfig(frame_shape=(frame, frame))
    times = []
    for i, tissue in enumerate(TISSUES[:repeats] if repeats <= 5 else TISSUES):
        start = time.perf_counter()
        slide = simulate_slide(
            root,
            tissue=tissue,
            slide_id=f"bench-{i}",
            patient_id="p1",
            n_fov=1,
            seed=i,
            optics=config,
        )
        times.append(time.perf_counter() - start)
    raw = sum(p.stat().st_size for p in (slide / "fov_000").iterdir())
    truth = (slide / "_truth" / "fov_000.npz").stat().st_size
    print(
        f"FOV {frame}x{frame} frames ({config.sample_shape[0]}² SR sample grid incl. margin): "
        f"{np.median(times):.2f} s median over {len(times)} tissues "
        f"(min {min(times):.2f}, max {max(times):.2f}); "
        f"raw {raw / 1e6:.2f} MB/FOV (8 TIFFs), truth {truth / 1e6:.2f} MB/FOV"
    )


def time_cohort(root: Path, profile: str, seed: int) -> None:
    cohort = load_profile(profile).cohort
    plans = plan_cohort(cohort)
    start = time.perf_counter()
    slides = simulate_cohort(root / "cohort", cohort, seed=seed)
    elapsed = time.perf_counter() - start
    n_fov = sum(p.n_fov for p in plans)
    size = sum(_dir_bytes(s) for s in slides)
    print(
        f"{profile} cohort: {len(slides)} slides, {n_fov} FOVs, {elapsed:.1f} s "
        f"({elapsed / n_fov:.2f} s/FOV), {size / 1e6:.1f} MB on disk incl. truth"
    )


def _one_fov_slide(root: Path, prefix: str, tissue: str, seed: int, config: MicroscopeConfig):
    """Simulate a one-FOV slide of ``tissue`` (patient p1) and return its directory."""
    return simulate_slide(
        root,
        tissue=tissue,
        slide_id=f"{prefix}-{tissue.replace('_', '-')}-{seed}",
        patient_id="p1",
        n_fov=1,
        seed=seed,
        optics=config,
    )


def consistency(
    root: Path, frame: int, seeds: list[int], tissues: list[str], plain_sweeps: list[int]
) -> None:
    from holo_validation.consistency import check_fov

    mhpr = load_profile("demo").processing.phase_retrieval()
    config = MicroscopeConfig(frame_shape=(frame, frame))
    print(f"consistency with the pipeline's physics, {frame}x{frame} frames, MH-PR {mhpr}")
    plain = [dataclasses.replace(mhpr, iterations=n, momentum=0.0) for n in plain_sweeps]
    print(
        "seed  tissue          |dz| max (µm)  mean  spread  autofocus |dz| max  "
        "shift RMS max (px)  drift err max (px)  ECC     ECC (true z)  ECC backprop  offset"
        + "".join(f"  true z, plain {n}" for n in plain_sweeps)
    )
    for seed in seeds:
        for tissue in tissues:
            slide = _one_fov_slide(root, "cons", tissue, seed, config)
            r = check_fov(slide, "fov_000", mhpr)
            rt = check_fov(slide, "fov_000", mhpr, true_heights=True)
            without = [check_fov(slide, "fov_000", p, true_heights=True).ecc for p in plain]
            print(
                f"{seed:<5d} {tissue:15s} {np.abs(r.z2_error_um).max():12.2f}  "
                f"{r.z2_error_um.mean():+5.2f}  {np.ptp(r.z2_error_um) / 2:6.2f}  "
                f"{np.abs(r.z2_autofocus_error_um).max():17.2f}  {r.shift_rms_px.max():18.4f}  "
                f"{r.drift_error_px.max():18.3f}  {r.ecc:.4f}  {rt.ecc:.4f}        "
                f"{r.ecc_backpropagated:.4f}        {r.best_offset_px}"
                + "".join(f"  {e:16.4f}" for e in without),
                flush=True,
            )


def _leave_one_out(holograms: np.ndarray, z2: np.ndarray, *, wavelength, pixel_size) -> np.ndarray:
    """The refinement ``refine_heights`` replaced: for every height, a 5-sweep MH-PR of all the
    others predicts it, and the same ±3 µm bounded search fits it (the reference of --refine)."""
    from scipy.optimize import minimize_scalar

    from holo_pipeline import optics
    from holo_pipeline.datasets import processing

    stack = np.asarray(holograms, dtype=np.float32)
    prop = optics.iteration_propagator(
        stack.shape[1:], wavelength=wavelength, pixel_size=pixel_size
    )
    ty, tx = (max(s // 6, 1) for s in stack.shape[1:])
    centre = (slice(ty, -ty), slice(tx, -tx))
    refined = np.array(z2, dtype=np.float64)
    for k in range(len(z2)):
        others = np.arange(len(z2)) != k
        field = optics.multi_height_phase_retrieval(
            stack[others],
            np.asarray(z2)[others],
            wavelength=wavelength,
            pixel_size=pixel_size,
            iterations=5,
            momentum=processing._REFINE_MOMENTUM,
            momentum_cutoff=processing._REFINE_MOMENTUM_CUTOFF,
            refocus_range=0.0,
            max_amplitude=0.0,
            propagator=prop,
        ).field
        at = prop.fine_scan(prop.spectrum(field - np.complex64(1.0)), z2[k], carrier=False)
        target = np.sqrt(stack[k])[centre]
        best = minimize_scalar(
            lambda d, at=at, target=target: float(
                np.linalg.norm(np.abs(1.0 + at(d)[centre]) - target)
            ),
            bounds=(-3e-6, 3e-6),
            method="bounded",
            options={"xatol": 0.02e-6},
        )
        refined[k] = z2[k] + best.x
    return refined


def refine(root: Path, frame: int, seeds: list[int], tissues: list[str]) -> None:
    from holo_pipeline.datasets import processing
    from holo_pipeline.datasets.slides import super_resolve_task
    from holo_pipeline.instrument import read_slide
    from holo_pipeline.instrument.simulate import read_truth

    print(
        f"height refinement, {frame}x{frame} frames: errors (µm) of the heights against the truth "
        "less their mean (RMS, max), and seconds; autofocus = before refinement"
    )
    print(
        "seed  tissue          autofocus rms  max | leave-one-out rms  max      s | "
        "refine_heights rms  max      s"
    )
    totals: dict[str, list[float]] = {"loo": [], "new": [], "loo_s": [], "new_s": []}
    for seed in seeds:
        for tissue in tissues:
            path = _one_fov_slide(
                root, "refine", tissue, seed, MicroscopeConfig(frame_shape=(frame, frame))
            )
            slide, truth = read_slide(path), read_truth(path, "fov_000")
            optics = {"wavelength": slide.wavelength_m, "pixel_size": slide.sr_pixel_size_m}
            holograms = super_resolve_task(str(path), "fov_000").holograms
            bounds = np.array([slide.z2_search_bounds_m(h) for h in range(slide.n_heights)])
            z_af, _ = processing.autofocus_fov(
                holograms,
                **optics,
                z_min=bounds[:, 0],
                z_max=bounds[:, 1],
                z2_nominal=slide.z2_nominal_m,
                refine_sweeps=0,
            )

            def errors(z: np.ndarray, true_z2: np.ndarray = truth.z2_m) -> tuple[float, float]:
                e = (np.asarray(z) - true_z2) * 1e6
                e -= e.mean()
                return float(np.sqrt(np.mean(e**2))), float(np.abs(e).max())

            start = time.perf_counter()
            loo = _leave_one_out(holograms, z_af, **optics)
            loo_s = time.perf_counter() - start
            start = time.perf_counter()
            new = processing.refine_heights(holograms, z_af, **optics)
            new_s = time.perf_counter() - start
            (a_rms, a_max), (l_rms, l_max), (n_rms, n_max) = map(errors, (z_af, loo, new))
            totals["loo"].append(l_rms)
            totals["new"].append(n_rms)
            totals["loo_s"].append(loo_s)
            totals["new_s"].append(new_s)
            print(
                f"{seed:<5d} {tissue:15s} {a_rms:13.2f} {a_max:4.2f} | {l_rms:17.2f} {l_max:4.2f} "
                f"{loo_s:6.2f} | {n_rms:18.2f} {n_max:4.2f} {new_s:6.2f}",
                flush=True,
            )
    loo_rms, new_rms = np.array(totals["loo"]), np.array(totals["new"])
    print(
        f"mean RMS over {len(loo_rms)} FOVs: leave-one-out {loo_rms.mean():.3f} µm, "
        f"refine_heights {new_rms.mean():.3f} µm (better on {int((new_rms < loo_rms).sum())}); "
        f"time refine_heights / leave-one-out "
        f"{np.sum(totals['new_s']) / np.sum(totals['loo_s']):.2f}"
    )


def statistics(patients: int) -> None:
    from holo_pipeline.instrument.tissues import (
        patient_parameters,
        slide_parameters,
        tissue_phantom,
    )
    from holo_validation.statistics import FIELD_STATISTICS, field_statistics

    pixel = 1.12e-6 / 3
    print(f"field statistics over {patients} patients (512² SR px, min–max)")
    print("tissue          " + "  ".join(f"{k:>16s}" for k in FIELD_STATISTICS))
    for tissue in TISSUES:
        rows = []
        for p in range(patients):
            rng = np.random.default_rng([p, 1])
            params = slide_parameters(patient_parameters(tissue, rng), rng)
            field = tissue_phantom(tissue, (512, 512), pixel_size=pixel, params=params, rng=rng)
            stats = field_statistics(field, pixel_size=pixel)
            rows.append([stats[k] for k in FIELD_STATISTICS])
        r = np.asarray(rows)
        print(
            f"{tissue:15s} "
            + "  ".join(f"{lo:7.3f}–{hi:<8.3f}" for lo, hi in zip(r.min(0), r.max(0), strict=True))
        )


def figures(out: Path, seed: int) -> None:
    """Phantom gallery (amplitude, phase per tissue) and one FOV's raw frame and SR hologram."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from holo_pipeline.instrument import read_slide, read_truth
    from holo_pipeline.optics import super_resolve

    out.mkdir(parents=True, exist_ok=True)
    config = MicroscopeConfig()
    fig, axes = plt.subplots(3, len(TISSUES), figsize=(4 * len(TISSUES), 12))
    with tempfile.TemporaryDirectory() as tmp:
        for i, tissue in enumerate(TISSUES):
            slide_dir = simulate_slide(
                tmp,
                tissue=tissue,
                slide_id=f"fig-{i}",
                patient_id="p1",
                n_fov=1,
                seed=seed,
                optics=config,
            )
            field = read_truth(slide_dir, "fov_000").field
            holo, _ = super_resolve(read_slide(slide_dir).intensities("fov_000", 0), 3)
            axes[0, i].imshow(np.abs(field), cmap="gray", vmin=0.3, vmax=1)
            axes[0, i].set_title(f"{tissue}: amplitude")
            axes[1, i].imshow(np.angle(field), cmap="twilight", vmin=-np.pi, vmax=np.pi)
            axes[1, i].set_title("phase (rad, wrapped)")
            axes[2, i].imshow(holo, cmap="gray")
            axes[2, i].set_title(
                f"SR hologram, z2 = {read_truth(slide_dir, 'fov_000').z2_m[0] * 1e6:.0f} µm"
            )
            for ax in axes[:, i]:
                ax.set_axis_off()
    fig.tight_layout()
    fig.savefig(out / "instrument_tissues.png", dpi=60)
    print(f"wrote {out / 'instrument_tissues.png'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    demo_frame = load_profile("demo").cohort.frame_shape[0]
    parser.add_argument("--frame-size", type=int, default=demo_frame)
    parser.add_argument("--repeats", type=int, default=3, help="FOVs timed (one per tissue)")
    parser.add_argument("--cohort", action="store_true", help="also time a whole demo cohort")
    parser.add_argument("--consistency", action="store_true")
    parser.add_argument("--statistics", action="store_true")
    parser.add_argument(
        "--refine",
        action="store_true",
        help="height refinement against its leave-one-out reference (also takes --seeds, --tissue)",
    )
    parser.add_argument("--tissue", action="append", choices=TISSUES, help="for --consistency")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=None,
        help="for --consistency, --refine (default: --seed)",
    )
    parser.add_argument(
        "--plain-sweeps",
        type=int,
        nargs="*",
        default=[],
        help="for --consistency: also the ECC (true heights) of plain MH-PR with these sweeps",
    )
    parser.add_argument("--figures", type=Path, default=None, help="write figures to this folder")
    args = parser.parse_args()
    if args.figures is not None:
        figures(args.figures, args.seed)
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if args.statistics:
            statistics(patients=5)
        if args.refine:
            refine(root, args.frame_size, args.seeds or [args.seed], args.tissue or list(TISSUES))
            return
        if args.consistency:
            consistency(
                root,
                args.frame_size,
                args.seeds or [args.seed],
                args.tissue or list(TISSUES),
                args.plain_sweeps,
            )
            return
        time_fov(root, args.frame_size, args.repeats)
        if args.cohort:
            time_cohort(root, "demo", args.seed)


if __name__ == "__main__":
    main()
