"""Virtual microscope benchmark: simulation time per FOV and per demo cohort, bytes per FOV.

Also, with ``--consistency``, reconstructs one FOV per tissue with the optics core and prints the
errors against the simulator's truth (autofocus, shifts, drift, MH-PR ECC)
(heights: "|dz| max" is the largest error of the heights MH-PR used, "mean" their common error
and "spread" half their range of errors, the part no common offset removes), and with
``--statistics`` the per-tissue field statistics over several patients.

    .venv/bin/python benchmarks/instrument.py                 # timing and size
    .venv/bin/python benchmarks/instrument.py --cohort        # + a full demo cohort
    .venv/bin/python benchmarks/instrument.py --consistency --frame-size 256 --seeds 2024 7 11
    .venv/bin/python benchmarks/instrument.py --statistics
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
            slide = simulate_slide(
                root,
                tissue=tissue,
                slide_id=f"cons-{tissue.replace('_', '-')}-{seed}",
                patient_id="p1",
                n_fov=1,
                seed=seed,
                optics=config,
            )
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
    parser.add_argument("--tissue", action="append", choices=TISSUES, help="for --consistency")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=None, help="for --consistency (default: --seed)"
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
