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
    return markdown_image(figure_png(fig, dpi=60), title)


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
