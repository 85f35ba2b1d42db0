"""Builders of the result tables (pandas, no Dagster, no TensorFlow).

``evaluation_metrics``
    one row per test patch per model (per seed): the reconstruction metrics.
``evaluation_summary``
    one row per tissue × Nt/N × Mt × variant: mean, spread across patches and across seeds, and a
    bootstrap 95 % CI over test FOVs of each metric.
``training_runs``
    one row per trained model: parameter counts, time per epoch, convergence.
``training_history``
    one row per model per epoch: losses, validation MAE, seconds.

Their schemas (columns, order, dtypes, which may be null) are the catalog's
(``data_catalog.yaml``, ``datasets.<table>.columns``) and nowhere else: every table is conformed
to it by :func:`conform` before it is written (with
:func:`holo_pipeline.datasets.stores.write_parquet`), so that analysts get the documented columns
from ``catalog.load_table``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from holo_pipeline.catalog import Catalog, DatasetEntry, conform_table, empty_table, load_catalog
from holo_pipeline.evaluation.uncertainty import bootstrap_ci
from holo_pipeline.model.config import VARIANTS

BACKBONE_DIRECT = "backbone_direct"
"""Evaluation-only variant: the pretrained backbone applied to a new tissue without transfer."""

METRICS = ("amplitude_rmse", "phase_rmse", "ecc", "mae", "ms_ssim")

TABLES = ("evaluation_metrics", "evaluation_summary", "training_runs", "training_history")
"""The result tables this module builds (each a dataset of the catalog)."""

DERIVED_TABLES = ("evaluation_comparisons", "step_timing")
"""Tables built elsewhere (:mod:`~holo_pipeline.evaluation.comparisons`, the controlled timing)
and conformed to the catalog here as well."""

FOV_KEYS = ("slide_id", "fov_id")
"""A test FOV: the unit every confidence interval resamples (its patches are not independent)."""


def _entry(name: str, catalog: Catalog | None) -> DatasetEntry:
    if name not in TABLES + DERIVED_TABLES:
        raise ValueError(f"name must be one of {sorted(TABLES + DERIVED_TABLES)}, got {name!r}")
    return (catalog or load_catalog()).entry(name)


def schema(name: str, catalog: Catalog | None = None) -> dict[str, str]:
    """Column → pandas dtype of result table ``name``, as the catalog lists them.

    ``catalog`` defaults to :func:`holo_pipeline.catalog.load_catalog` (``data_catalog.yaml``).
    """
    return _entry(name, catalog).dtypes()


def conform(frame: pd.DataFrame, name: str, catalog: Catalog | None = None) -> pd.DataFrame:
    """Return ``frame`` with exactly the columns of table ``name``, in order, cast to its dtypes.

    Raises
    ------
    ValueError
        If ``name`` is not a result table, a column is missing, or a column the catalog does not
        mark nullable holds nulls.
    """
    return conform_table(frame, _entry(name, catalog))


def empty(name: str, catalog: Catalog | None = None) -> pd.DataFrame:
    """An empty table ``name`` with its documented columns and dtypes."""
    return empty_table(_entry(name, catalog))


def evaluation_metrics_table(records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Build ``evaluation_metrics`` from one mapping per test patch per model."""
    rows = list(records)
    return (
        conform(pd.DataFrame(rows), "evaluation_metrics") if rows else empty("evaluation_metrics")
    )


def fov_values(metrics: pd.DataFrame, keys: list[str], value: str) -> pd.DataFrame:
    """Per ``keys`` × test FOV × seed: the mean of ``value`` over the FOV's patches."""
    return (
        metrics.groupby([*keys, *FOV_KEYS, "seed"], sort=True, observed=True)[value]
        .mean()
        .reset_index()
    )


def _summarise(group: pd.DataFrame) -> dict[str, Any]:
    out: dict[str, Any] = {
        "n_seeds": group["seed"].nunique(),
        "n_patients": group["patient_id"].nunique(),
        "n_fovs": len(group.drop_duplicates(list(FOV_KEYS))),
        "n_patches": len(group.drop_duplicates(["slide_id", "patch_index"])),
    }
    for m in METRICS:
        per_patch = group.groupby(["slide_id", "patch_index"])[m].mean()  # over seeds
        per_fov_seed = group.groupby([*FOV_KEYS, "seed"])[m].mean()
        per_fov = per_fov_seed.groupby(level=list(FOV_KEYS)).mean().dropna()
        per_seed = per_fov_seed.groupby(level="seed").mean().dropna()
        low, high = bootstrap_ci(per_fov.to_numpy())
        out |= {
            f"{m}_mean": per_fov.mean() if len(per_fov) else np.nan,
            f"{m}_std": per_patch.std(),
            f"{m}_seed_std": per_seed.std() if len(per_seed) > 1 else np.nan,
            f"{m}_ci_low": low,
            f"{m}_ci_high": high,
        }
    return out


def evaluation_summary_table(metrics: pd.DataFrame) -> pd.DataFrame:
    """Aggregate ``evaluation_metrics`` per tissue × Nt/N × Mt × variant.

    For each metric: ``_mean``, the mean over test FOVs of each FOV's value (its patches' mean,
    averaged over seeds); ``_std``, the sample standard deviation over test patches (seed-averaged);
    ``_seed_std``, the sample standard deviation across seeds of each seed's mean (null for one
    seed); ``_ci_low``/``_ci_high``, the bootstrap 95 % CI of the mean resampling test FOVs
    (:func:`~holo_pipeline.evaluation.uncertainty.bootstrap_ci`; null for fewer than two FOVs).
    """
    if metrics.empty:
        return empty("evaluation_summary")
    keys = ["tissue", "variant", "nt_ratio", "n_holograms"]
    rows = [
        {**dict(zip(keys, k, strict=True)), **_summarise(g)}
        for k, g in metrics.groupby(keys, sort=True, observed=True)
    ]
    out = pd.DataFrame(rows)
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
    or below the best validation MAE of the scratch baseline with the same tissue, Nt/N, Mt and
    seed — the paper's convergence comparison; null when never reached (censored, see
    :func:`~holo_pipeline.evaluation.uncertainty.epochs_to_target`). For the scratch model itself
    it is its best epoch.
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
            & (scratch["seed"] == row["seed"])
        ]
        if base.empty:
            continue
        target = float(base["best_val_mae"].iloc[0])
        h = history[history["model_key"] == row["model_key"]]
        epoch = _first_epoch_at_or_below(h["val_mae"], h["epoch"], target)
        if epoch is not None:
            frame.loc[i, "epochs_to_baseline_best"] = epoch
    return conform(frame, "training_runs")
