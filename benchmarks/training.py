"""Training cost of RH-M: step times, XLA, and where one demo training run's wall time goes.

One run, prints ratios. What it measures (seconds per generator+discriminator step through
``RHMGan.train_on_batch``, the step ``fit`` runs; median of timed steps after warm-up, the first
traced call excluded):

1. ``frozen_rnn`` / ``full_transfer`` / ``scratch`` step time at the demo size (the paper saw about
   20 % less time per epoch with the recurrent blocks frozen);
2. the compiled step vs the same step run eagerly (``compile(run_eagerly=True)``);
3. samples per second at the demo size (demo architecture, 64-px crops) and at the paper size
   (16 channels, 5 levels, 512 px, M = 5, batch 1, few steps);
4. XLA (``compile(jit_compile=True)``) against the plain compiled step, at the demo size and at the
   paper size (paper architecture, 512 px, M = 2, the paper profile's batch): first call (trace and
   compile), steady step, and whether the two give the same losses and weights after the same
   steps from the same weights. Op determinism is off here: Keras turns ``jit_compile`` off when it
   is on (checked at the end), and XLA has no deterministic max-pool gradient;
5. the wall time of one demo backbone run and one demo transfer run (``train_and_publish``, as the
   assets call it, on stores of the demo's sizes and counts) by phase: TensorFlow import (a fresh
   process), datasets, model build and backbone load, first epoch (tracing) and the other epochs'
   training, validation, each callback (checkpoints, CSV, TensorBoard, ...), ``fit``'s own
   start-up, saving and publishing; and the data pipeline alone, lazy Zarr against in memory.

6. validation (``--sections validation``): seconds per validation pass at the demo's model and
   transfer settings against ``TrainingConfig.val_batch_size`` (1 = one sample per step, as before
   batching) on 36 centre crops, per sample; and two demo-size transfer runs (``train_model``, 6
   epochs, the demo's 2 validation patches, then 36) with ``val_batch_size`` 1 and the default:
   median seconds per validation pass against median training seconds per epoch, in the same run.

8. oneDNN (``--sections onednn``): TensorFlow's oneDNN kernels on and off (``TF_ENABLE_ONEDNN_OPTS``
   1 and 0, each in a fresh process, 1 thread as in a demo worker): the demo generator's forward
   pass on 2 × 512² at M = 2 (a validation batch of the model assets), ``ms_ssim`` of 2 × 512², and
   demo-size train steps; with the largest difference between the two forward passes. The package
   turns the kernels on where TensorFlow would leave them off (CPUs without AVX-512 VNNI/BF16/AMX).

7. the recurrent layer (``--sections gru``): ``ConvGRU2D`` (one input convolution per gate, the
   first step from h = 0 without recurrent convolutions) against the textbook form (one 3F-channel
   input convolution sliced per step, every step's recurrent convolutions), in the demo generator:
   a 512² forward pass at M = 2, 3, 4 and a demo-size train step at M = 2, 4, 1 thread, with the
   largest output difference; and ``ms_ssim`` of a 512² field (separable Gaussian window) against
   ``tf.image.ssim_multiscale`` (2-D window).

Sections 1-4 run before 5, which turns op determinism on for the rest of the process.

Usage: ``python benchmarks/training.py [--steps N] [--paper-steps N] [--skip-paper] [--paper-xla]
[--sections steps,xla,breakdown,validation,gru,onednn]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # as importing holo_pipeline does

import numpy as np
import tensorflow as tf

from holo_pipeline.datasets.patch_store import write_patch_store
from holo_pipeline.datasets.tf_data import load_into_memory, make_dataset
from holo_pipeline.model import RHMConfig, build_generator, networks
from holo_pipeline.model.convgru import ConvGRU2D
from holo_pipeline.model.losses import ms_ssim
from holo_pipeline.model.runs import train_and_publish
from holo_pipeline.model.training import TIMING_PHASES, build_gan, resolve_runtime, train_model
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


def _xla_run(model_config, config, batches, *, jit: bool, steps: int):
    gan = build_gan(
        "scratch", model_config=model_config, config=config, steps_per_epoch=100, seed=0
    )
    gan.compile(optimizer=None, jit_compile=jit)
    start = time.perf_counter()
    losses = [float(gan.train_on_batch(*batches[0], return_dict=True)["g_loss"])]
    first = time.perf_counter() - start
    times = []
    for i in range(steps):
        start = time.perf_counter()
        x, y = batches[(i + 1) % len(batches)]
        losses.append(float(gan.train_on_batch(x, y, return_dict=True)["g_loss"]))
        times.append(time.perf_counter() - start)
    weights = np.concatenate([w.numpy().ravel() for w in gan.generator.weights])
    return first, statistics.median(times), np.asarray(losses), weights


def xla_section(name, model_config, config, *, batch, m, size, steps) -> None:
    """Plain vs XLA train step from the same weights on the same batches (determinism off)."""
    config = dataclasses.replace(config, precision="float32", strategy="default")
    batches = [_batch(model_config, batch=batch, m=m, size=size, seed=s) for s in range(3)]
    runs = {
        label: _xla_run(model_config, config, batches, jit=jit, steps=steps)
        for label, jit in (("plain", False), ("plain again", False), ("xla", True))
    }
    print(f"\n[XLA, {name}] n_ch={model_config.n_ch}, levels={model_config.n_levels}, "
          f"batch={batch}, M={m}, {size}x{size} px, {steps + 1} steps, float32, CPU")  # fmt: skip
    plain_losses, plain_weights = runs["plain"][2], runs["plain"][3]
    for label, (first, step, losses, weights) in runs.items():
        rel = np.max(np.abs(losses - plain_losses) / np.abs(plain_losses))
        dw = np.max(np.abs(weights - plain_weights))
        print(f"  {label:12s} first call {first:7.2f} s   step {step * 1e3:9.1f} ms   "
              f"max loss rel. diff vs plain {rel:.2e}   max weight diff {dw:.2e}")  # fmt: skip
    ratio = runs["xla"][1] / runs["plain"][1]
    compile_ratio = runs["xla"][0] / runs["plain"][0]
    print(f"  xla / plain: step {ratio:.2f}x, first call {compile_ratio:.2f}x")


def _random_store(path: Path, n: int, size: int, rng) -> Path:
    target = np.tanh(rng.standard_normal((n, size, size, 2))).astype(np.float32)
    inputs = (target[:, None] + 0.2 * rng.standard_normal((n, 8, size, size, 2))).astype(np.float32)
    return write_patch_store(
        path, inputs, target, fov_index=np.zeros(n), origin=np.zeros((n, 2)), attrs={}
    )


def _tf_import_seconds() -> float:
    code = "import time; t = time.perf_counter(); import tensorflow; print(time.perf_counter() - t)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def _epoch_seconds(stores, config, *, m: int, val: bool) -> float:
    kw = dict(n_holograms=m, batch_size=1, seed=1, crop_size=None, random_crop=False,
              augment=False, shuffle=False)  # fmt: skip
    if not val:
        kw = dict(n_holograms=m, batch_size=config.batch_size, seed=0, crop_size=config.crop_size,
                  augment=config.augment, repeats=config.repeats, drop_remainder=True)  # fmt: skip
    start = time.perf_counter()
    for _ in make_dataset(stores, **kw):
        pass
    return time.perf_counter() - start


def _print_breakdown(title: str, wall: float, timings: dict[str, float]) -> None:
    print(f"\n[{title}] wall {wall:.1f} s in train_and_publish")
    rows = [k for k in TIMING_PHASES if k in timings and k != "total"]
    rows += [*sorted(k for k in timings if k.startswith("callback:")), "publish"]
    for key in rows:
        indent = "    " if key.startswith("callback:") else "  "
        value = timings[key]
        print(f"{indent}{key:28s} {value:7.2f} s  {100 * value / wall:5.1f} %")
    if "gc" in timings:  # parts of fit_other, and the collector's share of fit (overlapping)
        start, end = timings["fit_start"], timings["fit_end"]
        print(f"    of fit_other: start {start:.2f} s, end {end:.2f} s; garbage collector in fit"
              f" {timings['gc']:.2f} s ({timings['gc_full']:.0f} full passes)")  # fmt: skip


def breakdown_section() -> None:
    """Where one demo backbone run and one demo transfer run spend their wall time."""
    profile = load_profile("demo")
    plan = profile.plan
    pretrain = dataclasses.replace(profile.training("pretrain"), val_crop_size=None)
    transfer = dataclasses.replace(profile.training("transfer"), val_crop_size=None)
    rng = np.random.default_rng(0)
    print(f"\nTensorFlow import in a fresh process: {_tf_import_seconds():.1f} s "
          "(paid once per process; the demo trains in one process)")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        # The demo's counts: 3 pretraining tissues with one train and one val slide of 2 patches
        # (512 px) each; a transfer run on 16 tiles of 128 px, validated on 2 patches.
        n_tissues = len(plan.pretrain_tissues)
        train = [_random_store(root / f"train{i}.zarr", 2, 512, rng) for i in range(n_tissues)]
        val = [_random_store(root / f"val{i}.zarr", 2, 512, rng) for i in range(n_tissues)]
        tiles = _random_store(root / "tiles.zarr", 16, plan.tile_size or 128, rng)
        tissue_val = [_random_store(root / "tissue_val.zarr", 2, 512, rng)]

        for label, stores, cfg, m, is_val in (
            ("backbone train epoch", train, pretrain, plan.pretrain_holograms, False),
            ("backbone validation pass", val, pretrain, plan.pretrain_holograms, True),
            ("transfer train epoch", [tiles], transfer, 2, False),
        ):
            lazy = _epoch_seconds(stores, cfg, m=m, val=is_val)
            memory = load_into_memory(stores, max_bytes=1 << 40)
            loaded = _epoch_seconds(memory, cfg, m=m, val=is_val)
            print(f"  data only, {label:26s} lazy Zarr {lazy:6.2f} s   in memory {loaded:6.2f} s"
                  f"   ({lazy / max(loaded, 1e-9):.1f}x)")  # fmt: skip

        common = dict(model_config=profile.model, data_signature="benchmark", log=None)
        start = time.perf_counter()
        backbone = train_and_publish(
            "scratch", out_dir=root / "backbone", train_stores=train, val_stores=val,
            config=pretrain, n_holograms=plan.pretrain_holograms, seed=0, **common,
        )  # fmt: skip
        _print_breakdown(
            f"demo backbone: {pretrain.epochs} epochs, M={plan.pretrain_holograms}",
            time.perf_counter() - start, backbone["timings"],
        )  # fmt: skip
        start = time.perf_counter()
        run = train_and_publish(
            "full_transfer", out_dir=root / "transfer", train_stores=[tiles],
            val_stores=tissue_val, config=transfer, n_holograms=2, seed=0,
            backbone_path=backbone["model_path"], **common,
        )  # fmt: skip
        _print_breakdown(
            f"demo transfer (full_transfer): {transfer.epochs} epochs, 16 tiles x "
            f"{transfer.repeats} repeats, M=2", time.perf_counter() - start, run["timings"],
        )  # fmt: skip
    gan = build_gan(
        "scratch", model_config=profile.model, config=transfer, steps_per_epoch=1, seed=0
    )
    gan.compile(optimizer=None, jit_compile=True)
    print(f"\nUnder op determinism (the demo's deterministic: true), compile(jit_compile=True) "
          f"leaves jit_compile={gan.jit_compile} (Keras turns XLA off).")  # fmt: skip


class _TextbookConvGRU2D(ConvGRU2D):
    """The GRU equations as written: one 3F-channel input convolution whose channels are sliced
    per step, and every step's recurrent convolutions from h = 0 on (the reference for ``gru``)."""

    def call(self, inputs):
        f = self.filters
        shape = tf.shape(inputs)
        folded = tf.reshape(inputs, (-1, shape[2], shape[3], inputs.shape[-1]))
        x_all = tf.nn.conv2d(folded, self.kernel, 1, "SAME") + self.bias
        x_all = tf.reshape(x_all, (shape[0], shape[1], shape[2], shape[3], 3 * f))
        u_zr, u_h = self.recurrent_kernel[..., : 2 * f], self.recurrent_kernel[..., 2 * f :]
        h = tf.zeros_like(x_all[:, 0, ..., :f])
        states = []
        for t in range(inputs.shape[1]):
            x_t = x_all[:, t]
            zr = tf.sigmoid(x_t[..., : 2 * f] + tf.nn.conv2d(h, u_zr, 1, "SAME"))
            z, r = zr[..., :f], zr[..., f:]
            candidate = tf.tanh(x_t[..., 2 * f :] + tf.nn.conv2d(r * h, u_h, 1, "SAME"))
            h = z * h + (1.0 - z) * candidate
            states.append(h)
        return tf.stack(states, axis=1) if self.return_sequences else h


def _with_gru(layer_class, build):
    """Call ``build()`` with the generator built from ``layer_class`` recurrent layers."""
    saved = networks.ConvGRU2D
    networks.ConvGRU2D = layer_class
    try:
        return build()
    finally:
        networks.ConvGRU2D = saved


def _best_of(fn, repeats: int) -> float:
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def gru_section(args) -> None:
    """ConvGRU2D against the textbook GRU in the demo generator (same weights, 1 thread)."""
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    profile = load_profile("demo")
    model_config, config = profile.model, profile.training("transfer")
    print(f"\n[ConvGRU2D vs textbook GRU] demo architecture (n_ch={model_config.n_ch}, "
          f"levels={model_config.n_levels}), float32, 1 thread")  # fmt: skip
    ours = build_generator(model_config)
    textbook = _with_gru(_TextbookConvGRU2D, lambda: build_generator(model_config))
    textbook.set_weights(ours.get_weights())
    forward = {
        name: tf.function(lambda x, g=g: g(x, training=False))
        for name, g in (("ours", ours), ("textbook", textbook))
    }
    for m in (2, 3, 4):
        x, _ = _batch(model_config, batch=1, m=m, size=512, seed=m)
        s = {k: _best_of(lambda f=f, x=x: f(x).numpy(), 3) for k, f in forward.items()}
        diff = float(np.max(np.abs(forward["ours"](x).numpy() - forward["textbook"](x).numpy())))
        print(f"  forward 512², M={m}: {s['ours'] * 1e3:6.0f} ms vs textbook "
              f"{s['textbook'] * 1e3:6.0f} ms   ratio {s['ours'] / s['textbook']:.2f}   "
              f"max |difference| {diff:.1e}")  # fmt: skip
    y, y_hat = (tf.constant(np.tanh(_batch(model_config, batch=1, m=1, size=512, seed=s)[1]))
                for s in (5, 6))  # fmt: skip
    ours = tf.function(lambda a, b: ms_ssim(a, b, max_val=2.0))
    plain = tf.function(lambda a, b: tf.image.ssim_multiscale(a + 1.0, b + 1.0, max_val=2.0))
    s_ours = _best_of(lambda: ours(y, y_hat).numpy(), 5)
    s_plain = _best_of(lambda: plain(y, y_hat).numpy(), 5)
    print(f"  MS-SSIM of a 512² validation field (separable window): {s_ours * 1e3:.0f} ms vs "
          f"tf.image.ssim_multiscale (2-D window) {s_plain * 1e3:.0f} ms   "
          f"ratio {s_ours / s_plain:.2f}")  # fmt: skip
    size = config.crop_size or 64
    for m in (2, 4):
        x, y = _batch(model_config, batch=config.batch_size, m=m, size=size, seed=m)
        step = {}
        for name, cls in (("ours", ConvGRU2D), ("textbook", _TextbookConvGRU2D)):
            gan = _with_gru(cls, lambda: _gan("scratch", model_config, config, None))
            step[name] = _time_steps(gan, x, y, steps=args.steps)
        print(f"  train step {config.batch_size}×{size}², M={m}: {step['ours'] * 1e3:6.0f} ms vs "
              f"textbook {step['textbook'] * 1e3:6.0f} ms   "
              f"ratio {step['ours'] / step['textbook']:.2f}")  # fmt: skip


def validation_section() -> None:
    """Seconds per validation pass against the validation batch size (demo model and settings)."""
    profile = load_profile("demo")
    transfer = profile.training("transfer")
    crop = transfer.val_crop_size or 64
    rng = np.random.default_rng(0)
    print(f"\n[validation] demo model, {crop}-px centre crops, M=2; default val_batch_size="
          f"{transfer.val_batch_size}")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        big_val = load_into_memory(
            [_random_store(root / "val36.zarr", 36, 512, rng)], max_bytes=1 << 40
        )
        gan = build_gan(
            "scratch", model_config=profile.model, config=transfer, steps_per_epoch=1, seed=0
        )
        print("  val_batch_size   s/pass (36 crops)   ms/sample   val_mae")
        for b in (1, 2, 4, 8, 16, 36):
            ds = make_dataset(
                big_val, n_holograms=2, batch_size=b, seed=1, crop_size=crop, random_crop=False,
                augment=False, shuffle=False, pad_last_batch=True,
            ).cache()  # fmt: skip
            times = []
            for _ in range(5):
                start = time.perf_counter()
                logs = gan.evaluate(ds, verbose=0, return_dict=True)
                times.append(time.perf_counter() - start)
            t = statistics.median(times[1:])  # the first pass traces and fills the cache
            print(f"  {b:14d}   {t:17.3f}   {1e3 * t / 36:9.1f}   {logs['mae']:.6f}")

        tiles = _random_store(root / "tiles.zarr", 16, profile.plan.tile_size or 128, rng)
        demo_val = _random_store(root / "val2.zarr", 2, 512, rng)
        for label, val in (
            ("demo: 2 validation patches", demo_val),
            ("36 validation patches", root / "val36.zarr"),
        ):
            print(f"\n  transfer run, 6 epochs, {label}:")
            print("  val_batch_size   train s/epoch   val s/pass   val/train   best val_mae")
            for b in (1, transfer.val_batch_size):
                config = dataclasses.replace(transfer, epochs=6, val_batch_size=b)
                result = train_model(
                    "scratch", train_stores=[tiles], val_stores=[val], config=config,
                    workdir=root / f"run-{label[:2]}-{b}", n_holograms=2, seed=0,
                    model_config=profile.model,
                )  # fmt: skip
                h = result.history.iloc[1:]  # the first epoch traces
                train_s, val_s = float(h["seconds"].median()), float(h["val_seconds"].median())
                print(f"  {b:14d}   {train_s:13.3f}   {val_s:10.3f}   {val_s / train_s:9.2f}"
                      f"   {result.best_val_mae:.6f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="timed steps per demo measurement")
    parser.add_argument("--paper-steps", type=int, default=3, help="timed steps at paper size")
    parser.add_argument("--skip-paper", action="store_true")
    parser.add_argument(
        "--paper-xla", action="store_true",
        help="also XLA at the paper size (on 2 shared cores its compile ran past 20 min)",
    )  # fmt: skip
    parser.add_argument(
        "--sections",
        default="steps,xla,breakdown,validation,gru,onednn",
        help="comma-separated: steps, xla, breakdown, validation, gru, onednn",
    )
    parser.add_argument("--onednn-probe", metavar="OUT.npy", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.onednn_probe:
        _onednn_probe(args.onednn_probe, steps=args.steps)
        return
    sections = set(args.sections.split(","))
    if "steps" in sections:
        steps_section(args)
    if "xla" in sections:
        demo_model = load_profile("demo").model
        demo = load_profile("demo").training("transfer")
        xla_section("demo size", demo_model, demo, batch=demo.batch_size, m=2,
                    size=demo.crop_size or 64, steps=args.steps)  # fmt: skip
        if args.paper_xla:
            paper = load_profile("paper").training("transfer")
            xla_section("paper size", load_profile("paper").model, paper, batch=paper.batch_size,
                        m=2, size=512, steps=args.paper_steps)  # fmt: skip
    if "validation" in sections:
        validation_section()
    if "gru" in sections:
        gru_section(args)
    if "breakdown" in sections:
        breakdown_section()
    if "onednn" in sections:
        onednn_section(args)


def _onednn_probe(out: str, *, steps: int) -> None:
    """The ``onednn`` section's child process: its timings as JSON, the forward pass to ``out``."""
    from tensorflow.python.util import _pywrap_util_port

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    profile = load_profile("demo")
    model_config, config = profile.model, profile.training("transfer")
    tf.keras.utils.set_random_seed(0)
    generator = build_generator(model_config)
    x, y = _batch(model_config, batch=2, m=2, size=512, seed=1)
    forward = tf.function(lambda a: generator(a, training=False))
    np.save(out, forward(x).numpy())
    ssim = tf.function(lambda a, b: ms_ssim(a, b, max_val=2.0))
    y_hat = tf.tanh(x[:, 0])
    result = {
        "onednn": bool(_pywrap_util_port.IsMklEnabled()),
        "forward": _best_of(lambda: forward(x).numpy(), 3),
        "ms_ssim": _best_of(lambda: ssim(y, y_hat).numpy(), 3),
    }
    xs, ys = _batch(model_config, batch=config.batch_size, m=2, size=config.crop_size or 64)
    with tempfile.TemporaryDirectory() as tmp:
        backbone = Path(tmp) / "backbone.keras"
        generator.save(backbone)
        for variant in ("frozen_rnn", "scratch"):
            gan = _gan(variant, model_config, config, backbone)
            result[f"step {variant}"] = _time_steps(gan, xs, ys, steps=steps)
    print(json.dumps(result))


def onednn_section(args) -> None:
    """The demo model with TensorFlow's oneDNN kernels on and off, each in a fresh process."""
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for setting in ("0", "1"):
            out = Path(tmp) / f"forward{setting}.npy"
            env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": setting, "TF_CPP_MIN_LOG_LEVEL": "3"}
            proc = subprocess.run(
                [sys.executable, __file__, "--onednn-probe", str(out), "--steps", str(args.steps)],
                capture_output=True, text=True, env=env, check=True,
            )  # fmt: skip
            runs[setting] = json.loads(proc.stdout.strip().splitlines()[-1])
            runs[setting]["output"] = np.load(out)
    off, on = runs["0"], runs["1"]
    diff = float(np.max(np.abs(on["output"] - off["output"])))
    print(f"\n[oneDNN] demo model, 1 thread; TF_ENABLE_ONEDNN_OPTS=0: oneDNN {off['onednn']}, "
          f"=1: oneDNN {on['onednn']}")  # fmt: skip
    print("  measurement                       off (s)    on (s)   off / on")
    for key in ("forward", "ms_ssim", "step frozen_rnn", "step scratch"):
        label = {"forward": "generator forward 2x512², M=2", "ms_ssim": "ms_ssim 2x512²"}.get(
            key, f"train {key[5:]} 2x64², M=2"
        )
        print(f"  {label:32s} {off[key]:8.3f}  {on[key]:8.3f}   {off[key] / on[key]:8.2f}")
    print(f"  largest |forward on - forward off|: {diff:.1e} (outputs in [-1, 1])")


def steps_section(args) -> None:
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
