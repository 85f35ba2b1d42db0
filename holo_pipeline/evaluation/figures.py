"""Figures of the evaluation for the Dagster UI, as Markdown images (PNG data URIs).

Rendering and embedding are :mod:`holo_pipeline.datasets.previews`'s (:func:`figure_png`,
:func:`markdown_image`), the one way figures reach the UI.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from holo_pipeline.datasets.previews import figure_png, markdown_image, pyplot


def reconstruction_panels(
    input_field: np.ndarray, target: np.ndarray, predictions: Mapping[str, np.ndarray], title: str
) -> str:
    """Amplitude (top) and phase (bottom) of the input, ground truth and each model's output.

    Every array is a network tensor ``(P, P, 2)`` (real, imag). Returns Markdown.
    """
    return markdown_image(reconstruction_panels_png(input_field, target, predictions, title), title)


def reconstruction_panels_png(
    input_field: np.ndarray, target: np.ndarray, predictions: Mapping[str, np.ndarray], title: str
) -> bytes:
    """PNG of :func:`reconstruction_panels`."""
    plt = pyplot()
    panels = {"input (back-propagated)": input_field, "ground truth (MH-PR)": target, **predictions}
    fig, axes = plt.subplots(2, len(panels), figsize=(2.2 * len(panels), 4.6), squeeze=False)
    amp_max = float(np.abs(target[..., 0] + 1j * target[..., 1]).max()) or 1.0
    for col, (name, tensor) in enumerate(panels.items()):
        field = tensor[..., 0] + 1j * tensor[..., 1]
        axes[0, col].imshow(np.abs(field), cmap="gray", vmin=0, vmax=amp_max)
        axes[1, col].imshow(np.angle(field), cmap="twilight", vmin=-np.pi, vmax=np.pi)
        axes[0, col].set_title(name, fontsize=8)
        for row in range(2):
            axes[row, col].set_axis_off()
    for row, label in enumerate(("amplitude", "phase")):
        ax = axes[row, 0]
        ax.text(
            -0.1,
            0.5,
            label,
            transform=ax.transAxes,
            rotation=90,
            va="center",
            ha="right",
            fontsize=8,
        )
    fig.suptitle(title, fontsize=9)
    # noisy images compress badly; a lower dpi keeps the metadata small
    return figure_png(fig, dpi=60)


def bar_chart(frame: pd.DataFrame, *, value: str, label_columns: list[str], title: str) -> str:
    """Horizontal bars of ``value`` per row, labelled by ``label_columns``. Returns Markdown."""
    plt = pyplot()
    labels = frame[label_columns].astype(str).agg(" ".join, axis=1).tolist()
    fig, ax = plt.subplots(figsize=(6, 0.3 * len(labels) + 1.2))
    ax.barh(range(len(labels)), frame[value].astype(float).to_numpy())
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel(value)
    ax.set_title(title, fontsize=9)
    return markdown_image(figure_png(fig), title)


VERDICT_COLOURS = {"reproduced": "tab:green", "not reproduced": "tab:red", "inconclusive": "0.4"}


def comparison_png(rows: pd.DataFrame, title: str) -> bytes:
    """Forest plot of one comparison: each contrast's difference with its 95 % CI and verdict.

    ``rows`` are rows of the ``evaluation_comparisons`` table. A dashed line marks 0 (no
    difference); each label gives the sign of the difference the paper found.
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 0.45 * max(len(rows), 1) + 1.3))
    labels = []
    for i, row in enumerate(rows.itertuples(index=False)):
        colour = VERDICT_COLOURS.get(row.verdict, "k")
        d, lo, hi = (
            float(v) if pd.notna(v) else np.nan for v in (row.difference, row.ci_low, row.ci_high)
        )
        if np.isfinite(lo) and np.isfinite(hi):
            ax.plot([lo, hi], [i, i], color=colour, lw=2)
        ax.plot([d], [i], "o", color=colour)
        where = row.tissue if row.tissue != "all" else ""
        side = ">" if int(row.paper_direction) > 0 else "<"
        label = f"{row.variant} vs {row.reference} {where} [{row.metric}] (paper {side} 0)"
        labels.append(label.replace("  ", " "))
        ax.annotate(
            row.verdict, (1.01, i), xycoords=("axes fraction", "data"), va="center",
            fontsize=7, color=colour,
        )  # fmt: skip
    ax.axvline(0.0, color="k", ls="--", lw=0.8)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.set_ylim(-0.7, max(len(labels), 1) - 0.3)
    ax.invert_yaxis()
    scale = rows["scale"].iloc[0] if len(rows) else "absolute"
    ax.set_xlabel(
        "relative difference (variant / reference − 1)" if scale == "relative" else "difference",
        fontsize=8,
    )
    ax.set_title(title, fontsize=9)
    return figure_png(fig)


def training_curves_png(history: pd.DataFrame) -> bytes:
    """Validation MAE per epoch: one panel per tissue × Nt/N × Mt, one colour per variant, one line
    per seed (the backbone in its own panel)."""
    plt = pyplot()
    cells = list(history.groupby(["tissue", "nt_ratio", "n_holograms"], sort=True))
    n = max(len(cells), 1)
    cols = min(n, 3)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.3 * cols, 2.5 * rows), squeeze=False)
    colours = {"frozen_rnn": "tab:blue", "full_transfer": "tab:orange", "scratch": "tab:gray"}
    for ax, ((tissue, ratio, mt), cell) in zip(axes.flat, cells, strict=False):
        for (variant, seed), run in cell.groupby(["variant", "seed"], sort=True):
            run = run.sort_values("epoch")
            ax.plot(
                run["epoch"], run["val_mae"], color=colours.get(variant, "tab:purple"),
                lw=1.2, alpha=0.9 if seed == cell["seed"].min() else 0.55,
                label=variant if seed == cell["seed"].min() else None,
            )  # fmt: skip
        title = tissue if ratio == 0 else f"{tissue} Nt/N {ratio:g} Mt {mt}"
        ax.set_title(title, fontsize=8)
        ax.set_xlabel("epoch", fontsize=7)
        ax.set_ylabel("validation MAE", fontsize=7)
        ax.tick_params(labelsize=6)
        ax.legend(fontsize=6)
    for ax in list(axes.flat)[len(cells) :]:
        ax.set_axis_off()
    fig.tight_layout()
    return figure_png(fig)
