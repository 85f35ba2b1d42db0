"""``holo-pipeline simulate``: write simulated raw slides into a landing folder.

Example::

    holo-pipeline simulate --out data/landing --profile demo --seed 0
    holo-pipeline simulate --out /tmp/landing --tissue lung --tissue prostate --slides 2 --fovs 1
"""

from __future__ import annotations

import argparse
import time

from tqdm import tqdm

from holo_pipeline.instrument import TISSUES, MicroscopeConfig, plan_cohort, simulate_cohort
from holo_pipeline.profile import load_profile
from holo_pipeline.settings import landing_dir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``simulate`` options to ``parser``."""
    parser.add_argument(
        "--out",
        default=None,
        help="landing folder to write slides into (default $HOLO_DATA_ROOT/landing)",
    )
    parser.add_argument(
        "--profile",
        default=None,
        help="cohort size: demo (176² frames, 3 patients per tissue) or paper (512² frames); "
        "default $HOLO_PROFILE or demo",
    )
    parser.add_argument(
        "--tissue",
        action="append",
        choices=TISSUES,
        help="tissue to simulate (repeat for several; default all five)",
    )
    parser.add_argument(
        "--slides", type=int, default=None, help="slides per tissue, each from its own patient"
    )
    parser.add_argument("--fovs", type=int, default=None, help="fields of view per slide")
    parser.add_argument("--seed", type=int, default=0, help="root seed (default 0)")
    parser.add_argument(
        "--frame-size",
        type=int,
        default=None,
        help="sensor frame size in pixels (square); default from the profile",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="re-simulate slides that are already complete"
    )


def run(args: argparse.Namespace) -> int:
    """Simulate the requested cohort with a progress bar; return the exit status."""
    cohort = load_profile(args.profile).cohort
    out = landing_dir() if args.out is None else args.out
    for name in ("slides", "fovs", "frame_size"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise SystemExit(f"--{name.replace('_', '-')} must be >= 1, got {value}")
    frame = cohort.frame_shape
    if args.frame_size is not None:
        frame = (args.frame_size, args.frame_size)
    optics = MicroscopeConfig(frame_shape=frame)
    plans = plan_cohort(
        cohort,
        tissues=args.tissue,
        patients_per_tissue=args.slides,
        fovs_per_slide=args.fovs,
    )
    total = sum(p.n_fov for p in plans)
    start = time.perf_counter()
    with tqdm(total=total, unit="fov", desc="simulate") as bar:

        def on_fov(name: str) -> None:
            bar.set_postfix_str(name, refresh=False)
            bar.update(1)

        slides = simulate_cohort(
            out,
            cohort,
            seed=args.seed,
            tissues=args.tissue,
            patients_per_tissue=args.slides,
            fovs_per_slide=args.fovs,
            optics=optics,
            overwrite=args.overwrite,
            on_fov=on_fov,
        )
    elapsed = time.perf_counter() - start
    print(
        f"{len(slides)} slides, {total} FOVs ({frame[0]}×{frame[1]} frames) in {out} "
        f"[{elapsed:.1f} s]"
    )
    return 0
