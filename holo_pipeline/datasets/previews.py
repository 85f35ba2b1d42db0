"""Small PNG figures for people looking at a dataset (MH-PR convergence, amplitude and phase),
and the one way figures reach the Dagster UI: PNG bytes inlined into Markdown.

Rendered with Matplotlib's Agg backend into bytes; no display, no files. :func:`pyplot`,
:func:`figure_png` and :func:`markdown_image` also serve :mod:`holo_pipeline.evaluation.figures`.
"""

from __future__ import annotations

import base64
import io

import numpy as np


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend (imported on first use; no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def figure_png(fig, *, dpi: int = 80) -> bytes:
    """Render a Matplotlib figure to PNG bytes and close it.

    The PNG carries no software tag, so the same figure renders to the same bytes.
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    pyplot().close(fig)
    return buf.getvalue()


def markdown_image(png: bytes, alt: str) -> str:
    """A Markdown image with the PNG inlined as a data URI."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"


def residual_curve_png(residuals: np.ndarray, labels: list[str] | None = None) -> bytes:
    """Line plot of MH-PR residual against iteration, one line per FOV (log y axis)."""
    plt = pyplot()
    residuals = np.atleast_2d(np.asarray(residuals, dtype=np.float64))
    fig, ax = plt.subplots(figsize=(4, 2.6))
    for i, curve in enumerate(residuals):
        ax.plot(np.arange(1, curve.size + 1), curve, label=labels[i] if labels else None)
    ax.set_xlabel("iteration")
    ax.set_ylabel("amplitude residual")
    if np.all(residuals > 0):
        ax.set_yscale("log")
    if labels and len(labels) <= 8:
        ax.legend(fontsize=6)
    return figure_png(fig)


def field_thumbnail_png(field: np.ndarray, *, size: int = 128) -> bytes:
    """Amplitude and phase of a complex field side by side, subsampled to about ``size`` pixels."""
    plt = pyplot()
    field = np.asarray(field)
    step = max(1, max(field.shape) // size)
    small = field[::step, ::step]
    fig, axes = plt.subplots(1, 2, figsize=(5, 2.6))
    for ax, image, title, cmap in (
        (axes[0], np.abs(small), "amplitude", "gray"),
        (axes[1], np.angle(small), "phase (rad)", "twilight"),
    ):
        shown = ax.imshow(image, cmap=cmap)
        ax.set_title(title, fontsize=8)
        ax.axis("off")
        fig.colorbar(shown, ax=ax, fraction=0.046)
    return figure_png(fig)
