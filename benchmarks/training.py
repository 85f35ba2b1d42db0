"""Training cost of RH-M: frozen-RNN vs full transfer vs scratch, compiled vs eager, throughput.

One run, prints ratios. What it measures (seconds per generator+discriminator step through
``RHMGan.train_on_batch``, the step ``fit`` runs; median of timed steps after warm-up, the first
traced call excluded):

1. ``frozen_rnn`` / ``full_transfer`` / ``scratch`` step time at the demo size (the paper saw about
   20 % less time per epoch with the recurrent blocks frozen);
2. the compiled step vs the same step run eagerly (``compile(run_eagerly=True)``);
3. samples per second at the demo size (demo architecture, 64-px crops) and at the paper size
   (16 channels, 5 levels, 512 px, M = 5, batch 1, few steps).

Usage: ``python benchmarks/training.py [--steps N] [--paper-steps N] [--skip-paper]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

from holo_pipeline.model import RHMConfig, build_generator
from holo_pipeline.model.training import build_gan, resolve_runtime
from holo_pipeline.profile import load_profile


def _batch(config: RHMConfig, *, batch: int, m: int, size: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, m, size, size, 2)).astype(np.float32)
    y = np.tanh(rng.standard_normal((batch, size, size, 2))).astype(np.float32)
    return tf.constant(x), tf.constant(y)


def _time_steps(gan, x, y, *, steps: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        gan.train_on_batch(x, y)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        gan.train_on_batch(x, y)  # returns the losses as numbers: waits for the step to finish
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _gan(variant, model_config, config, backbone):
    return build_gan(
        variant,
        model_config=model_config,
        config=config,
        steps_per_epoch=100,
        seed=0,
        backbone_path=None if variant == "scratch" else backbone,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="timed steps per demo measurement")
    parser.add_argument("--paper-steps", type=int, default=3, help="timed steps at paper size")
    parser.add_argument("--skip-paper", action="store_true")
    args = parser.parse_args()

    demo_model = load_profile("demo").model
    demo = load_profile("demo").training("transfer")
    runtime = resolve_runtime(demo)
    print(f"TensorFlow {tf.__version__}; precision {runtime.precision}; CPU threads: "
          f"intra {tf.config.threading.get_intra_op_parallelism_threads()}, "
          f"{os.cpu_count()} cores visible")  # fmt: skip
    m, size = 2, demo.crop_size or 64
    x, y = _batch(demo_model, batch=demo.batch_size, m=m, size=size)
    with tempfile.TemporaryDirectory() as tmp:
        backbone = Path(tmp) / "backbone.keras"
        build_generator(demo_model).save(backbone)
        per_step = {}
        for variant in ("frozen_rnn", "full_transfer", "scratch"):
            gan = _gan(variant, demo_model, demo, backbone)
            per_step[variant] = _time_steps(gan, x, y, steps=args.steps)
            if variant == "full_transfer":
                gan.compile(optimizer=None, run_eagerly=True)
                eager = _time_steps(gan, x, y, steps=max(args.steps // 4, 3))
    print(f"\n[demo size] n_ch={demo_model.n_ch}, levels={demo_model.n_levels}, "
          f"batch={demo.batch_size}, M={m}, {size}x{size} px")  # fmt: skip
    for variant, seconds in per_step.items():
        rate = demo.batch_size / seconds
        print(f"  {variant:14s} {seconds * 1e3:8.1f} ms/step  {rate:7.1f} samples/s")
    frozen_ratio = per_step["frozen_rnn"] / per_step["full_transfer"]
    print(f"  frozen_rnn / full_transfer step time: {frozen_ratio:.3f} "
          f"({(1 - frozen_ratio) * 100:+.1f} % saved; paper: ~19-20 % per epoch)")  # fmt: skip
    print(f"  scratch / full_transfer step time:    "
          f"{per_step['scratch'] / per_step['full_transfer']:.3f}")  # fmt: skip
    print(f"  eager / compiled (full_transfer):      {eager / per_step['full_transfer']:.2f}x "
          f"({eager * 1e3:.1f} vs {per_step['full_transfer'] * 1e3:.1f} ms/step)")  # fmt: skip

    if args.skip_paper:
        return
    paper_model = load_profile("paper").model
    paper = load_profile("paper").training("transfer")
    xp, yp = _batch(paper_model, batch=1, m=5, size=512)
    with tempfile.TemporaryDirectory() as tmp:
        backbone = Path(tmp) / "backbone.keras"
        build_generator(paper_model).save(backbone)
        results = {}
        for variant in ("frozen_rnn", "full_transfer"):
            gan = _gan(variant, paper_model, paper, backbone)
            results[variant] = _time_steps(gan, xp, yp, steps=args.paper_steps, warmup=1)
    print(f"\n[paper size] n_ch=16, levels=5, batch=1, M=5, 512x512 px, "
          f"precision {resolve_runtime(paper).precision}")  # fmt: skip
    for variant, seconds in results.items():
        print(f"  {variant:14s} {seconds:8.2f} s/step   {1 / seconds:7.3f} samples/s")
    ratio = results["frozen_rnn"] / results["full_transfer"]
    print(f"  frozen_rnn / full_transfer step time: {ratio:.3f} ({(1 - ratio) * 100:+.1f} % saved)")


if __name__ == "__main__":
    main()
