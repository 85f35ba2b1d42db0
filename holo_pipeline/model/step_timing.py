"""Controlled timing of the three transfer variants' train steps, interleaved in one process.

The seconds per epoch of separate training runs on a shared machine mix the variants' cost with
whatever else ran at the time (the demo measured −6 %, −29 % and +24 % for the same comparison).
:func:`time_train_steps` removes that: it builds the three GANs from one backbone, warms each up
(tracing), then times single train steps round-robin — in every round each variant once, in a
rotated order, on the same batch — so that slow phases of the machine hit every variant alike.
Each variant's epoch takes the same number of steps on the same data, so the ratio of step times is
the ratio of epoch times.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

import numpy as np
import pandas as pd

from holo_pipeline.model.config import VARIANTS, RHMConfig, TrainingConfig


def time_train_steps(
    backbone_path: str | os.PathLike[str],
    batches: Sequence[tuple[np.ndarray, np.ndarray]],
    *,
    model_config: RHMConfig,
    config: TrainingConfig,
    rounds: int = 8,
    warmup: int = 2,
    seed: int = 0,
    variants: Sequence[str] = VARIANTS,
) -> pd.DataFrame:
    """Seconds per GAN train step of each variant, measured interleaved after a warm-up.

    Parameters
    ----------
    backbone_path
        The pretrained generator (``.keras``) the transfer variants start from.
    batches
        ``(inputs (B, M, H, W, 2), target (B, H, W, 2))`` pairs; every variant trains on the same
        batch in a round (``batches[round % len(batches)]``).
    model_config, config
        Architecture and training settings (as the transfer runs use them).
    rounds
        Timed rounds; each times one step of every variant.
    warmup
        Untimed steps per variant first (tracing, allocator warm-up).
    seed
        Seeds the fresh weights.

    Returns
    -------
    DataFrame
        One row per round and variant: ``round``, ``variant``, ``position`` (its place in the
        round's order), ``seconds`` (one train step, including the transfer of its losses to the
        host, which waits for the step to finish).
    """
    from holo_pipeline.model.training import build_gan, resolve_runtime

    if not batches:
        raise ValueError("batches must hold at least one (inputs, target) pair")
    if rounds < 1 or warmup < 0:
        raise ValueError(f"rounds must be >= 1 and warmup >= 0, got {rounds}, {warmup}")
    runtime = resolve_runtime(config)
    gans = {
        v: build_gan(
            v,
            model_config=model_config,
            config=config,
            steps_per_epoch=max(len(batches), 1),
            seed=seed,
            backbone_path=None if v == "scratch" else backbone_path,
            runtime=runtime,
        )
        for v in variants
    }
    x0, y0 = batches[0]
    for gan in gans.values():
        for _ in range(warmup):
            gan.train_on_batch(x0, y0, return_dict=True)
    rows = []
    names = list(variants)
    for r in range(rounds):
        x, y = batches[r % len(batches)]
        order = names[r % len(names) :] + names[: r % len(names)]  # rotate: no fixed position
        for position, variant in enumerate(order):
            start = time.perf_counter()
            gans[variant].train_on_batch(x, y, return_dict=True)
            rows.append(
                {
                    "round": r,
                    "variant": variant,
                    "position": position,
                    "seconds": time.perf_counter() - start,
                }
            )
    return pd.DataFrame(rows)
