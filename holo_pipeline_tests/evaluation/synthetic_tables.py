"""Synthetic result tables with known differences, for the comparisons and report tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from holo_pipeline.evaluation.tables import (
    METRICS,
    conform,
    evaluation_metrics_table,
    training_history_table,
    training_runs_table,
)

CELLS = (("prostate", 0.121, 2), ("salivary_gland", 0.248, 2), ("salivary_gland", 0.248, 3))
CELLS += (("salivary_gland", 0.248, 4),)
SEEDS = (0, 1)
FOVS = [(f"p{p}-s1", f"fov_00{f}", f"pat-{p}") for p in range(4) for f in range(2)]  # 8 FOVs


def _ecc(variant: str, mt: int, fov: int, seed: int) -> float:
    base = 0.7 + 0.01 * np.sin(fov)  # FOV effect shared by every model: pairing removes it
    noise = 0.002 * np.cos(3 * fov + seed)
    if variant == "scratch":
        return base + noise
    if variant == "backbone_direct":
        return base - 0.3
    return base + 0.03 + 0.02 * (mt - 2) + noise  # transferred: better, improving with Mt


def metrics() -> pd.DataFrame:
    rows = []
    for tissue, ratio, mt in CELLS:
        for variant in ("frozen_rnn", "full_transfer", "scratch"):
            for seed in SEEDS:
                key = f"{tissue}-{variant}-r{ratio:.3f}-m{mt}-s{seed}"
                for i, (slide, fov, patient) in enumerate(FOVS):
                    ecc = _ecc(variant, mt, i, seed)
                    rows.append(
                        _record(key, tissue, variant, ratio, mt, seed, slide, fov, patient, ecc)
                    )
    for tissue in ("prostate", "salivary_gland"):
        for i, (slide, fov, patient) in enumerate(FOVS):
            ecc = _ecc("backbone_direct", 4, i, 0)
            rows.append(
                _record(
                    "pretrained_backbone",
                    tissue,
                    "backbone_direct",
                    0.0,
                    4,
                    0,
                    slide,
                    fov,
                    patient,
                    ecc,
                )
            )
    return evaluation_metrics_table(rows)


def _record(key, tissue, variant, ratio, mt, seed, slide, fov, patient, ecc) -> dict:
    return {
        "model_key": key, "tissue": tissue, "variant": variant, "nt_ratio": ratio,
        "n_holograms": mt, "seed": seed, "slide_id": slide, "patient_id": patient,
        "fov_id": fov, "patch_index": int(fov[-1]),
        **dict.fromkeys(METRICS, 0.1), "ecc": ecc, "amplitude_rmse": 1.0 - ecc,
    }  # fmt: skip


VAL_MAE = {
    "scratch": ([0.9, 0.5, 0.4, 0.3, 0.35], [0.9, 0.5, 0.4, 0.3, 0.35]),  # best 0.3 at epoch 4
    "frozen_rnn": ([0.5, 0.29, 0.2, 0.2, 0.2], [0.3, 0.2, 0.2, 0.2, 0.2]),  # epochs 2 and 1
    "full_transfer": ([0.6, 0.5, 0.45, 0.4, 0.4], [0.6, 0.5, 0.45, 0.4, 0.4]),  # never: censored
}


def history_and_runs() -> tuple[pd.DataFrame, pd.DataFrame]:
    histories, runs = [], []
    for tissue, ratio, mt in CELLS:
        for variant, curves in VAL_MAE.items():
            for seed, curve in zip(SEEDS, curves, strict=True):
                labels = {
                    "model_key": f"{tissue}-{variant}-r{ratio:.3f}-m{mt}-s{seed}",
                    "tissue": tissue, "variant": variant, "nt_ratio": ratio,
                    "n_holograms": mt, "seed": seed,
                }  # fmt: skip
                n = len(curve)
                histories.append(
                    pd.DataFrame(
                        {
                            **labels,
                            "epoch": np.arange(1, n + 1),
                            "g_loss": 1.0,
                            "d_loss": 1.0,
                            "val_mae": curve,
                            "seconds": 2.0,
                        }
                    )
                )
                runs.append(
                    {
                        **labels,
                        "n_train_patches": 4,
                        "trainable_params": 10 if variant == "frozen_rnn" else 100,
                        "total_params": 100,
                        "seconds_per_epoch": 2.0,
                        "epochs_run": n,
                        "best_epoch": int(np.argmin(curve)) + 1,
                        "best_val_mae": float(min(curve)),
                        "model_path": "m.keras",
                    }
                )
    history = training_history_table(histories)
    return history, training_runs_table(runs, history)


def timing() -> pd.DataFrame:
    rows = []
    for r in range(6):
        for p, (variant, seconds) in enumerate(
            (("frozen_rnn", 0.8), ("full_transfer", 1.0), ("scratch", 1.0))
        ):
            rows.append(
                {"round": r, "variant": variant, "position": p, "n_holograms": 2,
                 "batch_size": 2, "crop_size": 64, "seconds": seconds * (1 + 0.01 * ((r + p) % 3))}
            )  # fmt: skip
    return conform(pd.DataFrame(rows), "step_timing")
