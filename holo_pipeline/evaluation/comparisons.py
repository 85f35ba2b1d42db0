"""The paper's four comparisons computed from the result tables (pandas only).

Huang et al., APL Photonics 7, 070801 (2022) report, for transfer to a new tissue:

1. trainable parameters: frozen recurrent blocks ~4.33 M vs > 36 M for full transfer and scratch;
2. time per epoch: frozen recurrent blocks up to ~19 % faster;
3. convergence: transferred models reach the scratch baseline's best validation MAE ~2.5× sooner;
4. quality: at small Nt/N the transferred models match or beat the baseline on amplitude RMSE and
   ECC, and the backbone applied directly to a new tissue fails.

Each function returns a small DataFrame; :func:`format_frame` prints one as a Markdown table.
"""

from __future__ import annotations

import pandas as pd

from holo_pipeline.evaluation.tables import BACKBONE_DIRECT
from holo_pipeline.model.config import VARIANTS

PAPER = {
    "trainable_params": "frozen_rnn ~4.33 M vs > 36 M (full_transfer, scratch)",
    "seconds_per_epoch": "frozen_rnn up to ~19-20 % less time per epoch",
    "epochs_to_baseline_best": "transferred ~2.5x fewer epochs than scratch (Nt/N = 12.1 %)",
    "quality": "transferred match or beat scratch on amplitude RMSE and ECC; backbone_direct fails",
}

_GROUP = ["tissue", "nt_ratio", "n_holograms"]


def _pivot(runs: pd.DataFrame, value: str) -> pd.DataFrame:
    transfer = runs[runs["variant"].isin(VARIANTS)]
    out = transfer.pivot_table(index=_GROUP, columns="variant", values=value, aggfunc="first")
    return out.reindex(columns=[v for v in VARIANTS if v in out.columns]).reset_index()


def trainable_params(runs: pd.DataFrame) -> pd.DataFrame:
    """Trainable parameters per variant and the frozen model's share of the full transfer's."""
    out = _pivot(runs, "trainable_params")
    if {"frozen_rnn", "full_transfer"} <= set(out.columns):
        out["frozen_vs_full"] = out["frozen_rnn"] / out["full_transfer"]
    return out


def seconds_per_epoch(runs: pd.DataFrame) -> pd.DataFrame:
    """Seconds per epoch per variant and the frozen model's change relative to full transfer."""
    out = _pivot(runs, "seconds_per_epoch")
    if {"frozen_rnn", "full_transfer"} <= set(out.columns):
        out["frozen_change_vs_full_pct"] = 100.0 * (out["frozen_rnn"] / out["full_transfer"] - 1)
    if {"frozen_rnn", "scratch"} <= set(out.columns):
        out["frozen_change_vs_scratch_pct"] = 100.0 * (out["frozen_rnn"] / out["scratch"] - 1)
    return out


def epochs_to_baseline_best(runs: pd.DataFrame) -> pd.DataFrame:
    """Epochs each variant needs to reach the scratch baseline's best validation MAE.

    ``speedup_<variant>`` is the scratch model's epochs divided by the variant's (the paper's
    ~2.5×); missing where the variant never got there within its epochs.
    """
    out = _pivot(runs, "epochs_to_baseline_best")
    if "scratch" in out.columns:
        for v in ("frozen_rnn", "full_transfer"):
            if v in out.columns:
                num = out["scratch"].astype("Float64")
                out[f"speedup_{v}"] = num / out[v].astype("Float64")
    return out


def quality_at_smallest_ratio(summary: pd.DataFrame) -> pd.DataFrame:
    """Mean amplitude RMSE and ECC per variant at each tissue's smallest Nt/N (plus the backbone).

    ``backbone_direct`` rows (Nt/N = 0) are attached to every Mt of their tissue for comparison.
    """
    if summary.empty:
        return pd.DataFrame()
    transfer = summary[summary["variant"].isin(VARIANTS)]
    smallest = transfer.groupby("tissue")["nt_ratio"].transform("min")
    rows = transfer[transfer["nt_ratio"] == smallest]
    direct = summary[summary["variant"] == BACKBONE_DIRECT]
    cols = ["tissue", "nt_ratio", "n_holograms", "variant", "n_patches"]
    cols += ["amplitude_rmse_mean", "ecc_mean", "phase_rmse_mean", "ms_ssim_mean"]
    return pd.concat([rows[cols], direct[cols]], ignore_index=True)


def format_frame(frame: pd.DataFrame, floatfmt: str = ".4g") -> str:
    """Render a DataFrame as a Markdown table (no optional dependencies)."""
    if frame.empty:
        return "(no rows)"

    def cell(v) -> str:
        if v is None or v is pd.NA or (isinstance(v, float) and v != v):
            return "–"
        if isinstance(v, float):
            return format(v, floatfmt)
        return str(v)

    header = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(cell(v) for v in row) + " |")
    return "\n".join(lines)
