"""Schemas and builders of the four result tables (pandas, no Dagster, no TensorFlow).

``evaluation_metrics``
    one row per test patch per model: the reconstruction metrics.
``evaluation_summary``
    one row per tissue × Nt/N × Mt × variant: mean and standard deviation of each metric.
``training_runs``
    one row per trained model: parameter counts, time per epoch, convergence.
``training_history``
    one row per model per epoch: losses, validation MAE, seconds.

Every table is conformed to its schema (column order and dtype) by :func:`conform` before it is
written (with :func:`holo_pipeline.datasets.stores.write_parquet`), so that analysts get the
documented columns from ``catalog.load_table``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

VARIANTS = ("frozen_rnn", "full_transfer", "scratch")
"""Transfer variants: recurrent blocks frozen, everything trainable, same network from scratch."""

BACKBONE_DIRECT = "backbone_direct"
"""Evaluation-only variant: the pretrained backbone applied to a new tissue without transfer."""

METRICS = ("amplitude_rmse", "phase_rmse", "ecc", "mae", "ms_ssim")

_KEYS: dict[str, str] = {
    "model_key": "string",
    "tissue": "string",
    "variant": "string",
    "nt_ratio": "float64",
    "n_holograms": "int64",
}

SCHEMAS: dict[str, dict[str, str]] = {
    "evaluation_metrics": {
        **_KEYS,
        "slide_id": "string",
        "patient_id": "string",
        "patch_index": "int64",
        **dict.fromkeys(METRICS, "float64"),
    },
    "evaluation_summary": {
        **{k: v for k, v in _KEYS.items() if k != "model_key"},
        "n_patches": "int64",
        **{f"{m}_{stat}": "float64" for m in METRICS for stat in ("mean", "std")},
    },
    "training_runs": {
        **_KEYS,
        "n_train_patches": "int64",
        "trainable_params": "int64",
        "total_params": "int64",
        "seconds_per_epoch": "float64",
        "epochs_run": "int64",
        "best_epoch": "int64",
        "epochs_to_baseline_best": "Int64",
        "best_val_mae": "float64",
        "model_path": "string",
    },
    "training_history": {
        **_KEYS,
        "epoch": "int64",
        "g_loss": "float64",
        "d_loss": "float64",
        "val_mae": "float64",
        "seconds": "float64",
    },
}
"""Table name → {column: pandas dtype}. ``nt_ratio`` is 0 for the backbone and
``backbone_direct`` (no data of the new tissue seen); ``epochs_to_baseline_best`` is missing (<NA>)
for the backbone and for a model that never reached its scratch baseline's best validation MAE."""


def conform(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    """Return ``frame`` with exactly the columns of table ``name``, in order, cast to its dtypes.

    Raises
    ------
    ValueError
        If ``name`` is not a known table or a column is missing.
    """
    if name not in SCHEMAS:
        raise ValueError(f"name must be one of {sorted(SCHEMAS)}, got {name!r}")
    schema = SCHEMAS[name]
    missing = [c for c in schema if c not in frame.columns]
    if missing:
        raise ValueError(f"{name}: frame lacks columns {missing}")
    out = frame.loc[:, list(schema)].copy()
    for column, dtype in schema.items():
        out[column] = out[column].astype(dtype)
    return out.reset_index(drop=True)


def empty(name: str) -> pd.DataFrame:
    """An empty table ``name`` with its documented columns and dtypes."""
    return conform(pd.DataFrame({c: pd.Series(dtype="object") for c in SCHEMAS[name]}), name)


def evaluation_metrics_table(records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Build ``evaluation_metrics`` from one mapping per test patch per model."""
    rows = list(records)
    return (
        conform(pd.DataFrame(rows), "evaluation_metrics") if rows else empty("evaluation_metrics")
    )


def evaluation_summary_table(metrics: pd.DataFrame) -> pd.DataFrame:
    """Aggregate ``evaluation_metrics`` per tissue × Nt/N × Mt × variant (mean, std, count)."""
    if metrics.empty:
        return empty("evaluation_summary")
    keys = ["tissue", "variant", "nt_ratio", "n_holograms"]
    grouped = metrics.groupby(keys, sort=True, observed=True)
    out = grouped[list(METRICS)].agg(["mean", "std"])
    out.columns = [f"{m}_{stat}" for m, stat in out.columns]
    out["n_patches"] = grouped.size()
    out = out.reset_index()
    order = {v: i for i, v in enumerate((*VARIANTS, BACKBONE_DIRECT))}
    out = out.sort_values(
        ["tissue", "nt_ratio", "n_holograms", "variant"],
        key=lambda s: s.map(order) if s.name == "variant" else s,
    )
    return conform(out, "evaluation_summary")


def _first_epoch_at_or_below(val_mae: pd.Series, epochs: pd.Series, target: float) -> int | None:
    hit = epochs[val_mae.to_numpy() <= target]
    return int(hit.min()) if len(hit) else None


def training_history_table(histories: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate per-model histories (each already carrying the key columns) into one table."""
    frames = [h for h in histories if len(h)]
    if not frames:
        return empty("training_history")
    return conform(pd.concat(frames, ignore_index=True), "training_history")


def training_runs_table(runs: Iterable[Mapping[str, Any]], history: pd.DataFrame) -> pd.DataFrame:
    """Build ``training_runs`` from one mapping per model and the ``training_history`` table.

    ``epochs_to_baseline_best`` is the first epoch (1-based) at which a model's validation MAE is at
    or below the best validation MAE of the scratch baseline with the same tissue, Nt/N and Mt — the
    paper's convergence comparison. For the scratch model itself it is its best epoch.
    """
    rows = [dict(r) for r in runs]
    if not rows:
        return empty("training_runs")
    frame = pd.DataFrame(rows)
    frame["epochs_to_baseline_best"] = pd.Series([pd.NA] * len(frame), dtype="Int64")
    scratch = frame[frame["variant"] == "scratch"]
    for i, row in frame.iterrows():
        if row["variant"] not in VARIANTS:
            continue
        base = scratch[
            (scratch["tissue"] == row["tissue"])
            & np.isclose(scratch["nt_ratio"], row["nt_ratio"])
            & (scratch["n_holograms"] == row["n_holograms"])
        ]
        if base.empty:
            continue
        target = float(base["best_val_mae"].iloc[0])
        h = history[history["model_key"] == row["model_key"]]
        epoch = _first_epoch_at_or_below(h["val_mae"], h["epoch"], target)
        if epoch is not None:
            frame.loc[i, "epochs_to_baseline_best"] = epoch
    return conform(frame, "training_runs")
