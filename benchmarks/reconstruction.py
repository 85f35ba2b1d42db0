"""Network reconstruction (Mt = 2) against 8-height MH-PR on the same FOV, at demo and paper sizes.

For each size, one simulated prostate FOV (demo: 176² frames → 528² super-resolved; paper: 512²
→ 1536²) is super-resolved and autofocused once, as the pipeline does (not timed: both methods
need it; the network needs only Mt of the 8 exposures). Then, timed on the same holograms:

- MH-PR with all 8 heights and the profile's settings (``processing.phase_retrieval()``);
- the network: :func:`holo_pipeline.reconstruction.reconstruct_fov` (input construction and
  tiled, blended inference; 512-px tiles, 64-px overlap) with Mt = 2.

ECC of each against the simulator's true field, global phase aligned, on the centre (an eighth
trimmed per side). The network is the trained demo model when ``--model`` exists (the demo's
``prostate-frozen_rnn-r0.121-m2``: trained on 64-px crops for 12 epochs); otherwise, and also for
the paper-size timing of the paper architecture, an untrained RH-M (timing only, its ECC is
meaningless). The machine may be shared: the load average is printed; compare the ratio.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/reconstruction.py
    PYTHONPATH=$PWD .venv/bin/python benchmarks/reconstruction.py --sizes demo --mhpr-iterations 10
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

from holo_pipeline.datasets.processing import phase_retrieve_fov
from holo_pipeline.datasets.slides import autofocus_slide_fov, super_resolve_task
from holo_pipeline.instrument import MicroscopeConfig, read_slide, read_truth, simulate_slide
from holo_pipeline.profile import load_profile
from holo_pipeline.reconstruction.reconstruct import reconstruct_fov
from holo_validation.consistency import aligned_ecc

DEMO_MODEL = "data/models/transferred_models/prostate-frozen_rnn-r0.121-m2/generator.keras"


def _centre_ecc(field: np.ndarray, truth: np.ndarray) -> float:
    t = field.shape[0] // 8
    inner = (slice(t, -t), slice(t, -t))
    return aligned_ecc(field[inner], truth[inner])


def _networks(size: str, model_path: Path) -> list[tuple[str, object, bool]]:
    """(label, generator, trained) to time at this size."""
    from holo_pipeline.model import build_generator, load_generator

    nets = []
    if model_path.exists():
        nets.append((f"demo model {model_path.parent.name}", load_generator(model_path), True))
    else:
        nets.append(
            ("demo architecture, untrained", build_generator(load_profile("demo").model), False)
        )
    if size == "paper":
        nets.append(
            ("paper architecture, untrained", build_generator(load_profile("paper").model), False)
        )
    return nets


def run(size: str, model_path: Path, iterations: int | None, work: Path) -> None:
    profile = load_profile(size)
    frame = tuple(profile.cohort.frame_shape)
    slide_dir = simulate_slide(
        work / size, tissue="prostate", slide_id=f"bench-{size}", patient_id="p1", n_fov=1,
        seed=3, optics=MicroscopeConfig(frame_shape=frame), created="2026-01-01T00:00:00+00:00",
    )  # fmt: skip
    slide = read_slide(slide_dir)
    fov = slide.fov_ids[0]
    sr = super_resolve_task(str(slide_dir), fov, profile.processing.background)
    z2, _ = autofocus_slide_fov(slide, sr.holograms)
    truth = read_truth(slide_dir, fov).field
    settings = profile.processing.phase_retrieval()
    if iterations:
        import dataclasses

        settings = dataclasses.replace(settings, iterations=iterations)
    optics = {"wavelength": slide.wavelength_m, "pixel_size": slide.sr_pixel_size_m}
    start = time.perf_counter()
    mhpr = phase_retrieve_fov(sr.holograms, z2, settings=settings, **optics)
    t_mhpr = time.perf_counter() - start
    shape = "×".join(map(str, sr.holograms.shape[1:]))
    print(f"\n{size}: FOV {shape} px, load {os.getloadavg()[0]:.1f}")
    print(f"  MH-PR, 8 heights, {settings.iterations} iterations: {t_mhpr:7.2f} s/FOV, "
          f"ECC vs truth {_centre_ecc(mhpr.field, truth):.3f}")  # fmt: skip
    for label, generator, trained in _networks(size, model_path):
        reconstruct_fov(generator, sr.holograms, mhpr.z2, n_holograms=2, **optics)  # warm-up
        result = reconstruct_fov(generator, sr.holograms, mhpr.z2, n_holograms=2, **optics)
        e = f"{_centre_ecc(result.field, truth):.3f}" if trained else "n/a (untrained)"
        print(f"  network Mt=2, {label}: {result.seconds:7.2f} s/FOV "
              f"(MH-PR/network = {t_mhpr / result.seconds:.1f}×), ECC vs truth {e}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["demo", "paper"], choices=["demo", "paper"])
    parser.add_argument("--model", type=Path, default=Path(DEMO_MODEL))
    parser.add_argument("--mhpr-iterations", type=int, default=None, help="default: profile's")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            run(size, args.model, args.mhpr_iterations, Path(tmp))


if __name__ == "__main__":
    main()
