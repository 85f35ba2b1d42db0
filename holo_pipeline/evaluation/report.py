"""``holo-pipeline report``: the evaluation summary and the paper's comparisons, as text or HTML.

Reads the stored tables through :func:`holo_pipeline.catalog.load_table` (so it shows whatever the
last materialisation wrote) and prints Markdown: the summary per tissue × Nt/N × Mt × variant, the
comparisons with their CIs and verdicts, then the per-variant views next to the paper's figures.
With ``--html OUT.html`` it writes one self-contained page instead (:func:`render_html`: inline PNG
plots — one per comparison, the training curves, the reconstruction panels the evaluation stored).
With ``--paper-size`` it also builds the paper-size RH-M (16 base channels, 5 levels) to count its
parameters frozen and unfrozen, which needs TensorFlow.
"""

from __future__ import annotations

import argparse
import base64
import html
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from holo_pipeline.evaluation import comparisons as cmp
from holo_pipeline.model.config import RHMConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the ``report`` options."""
    parser.add_argument(
        "--root", default=None, help="data root (default $HOLO_DATA_ROOT or ./data)"
    )
    parser.add_argument(
        "--paper-size",
        action="store_true",
        help="also count the parameters of the paper-size RH-M (builds it with TensorFlow)",
    )
    parser.add_argument(
        "--html",
        default=None,
        metavar="OUT.html",
        help="write a self-contained HTML report (tables, plots, reconstructions) to this file",
    )


def paper_size_params(model_config: RHMConfig | None = None) -> dict[str, int]:
    """Trainable and total parameters of a generator, unfrozen and frozen.

    ``model_config`` defaults to the paper's architecture (the defaults of :class:`RHMConfig`).
    """
    from holo_pipeline.model import (  # TensorFlow only when asked for
        build_generator,
        count_params,
        freeze_recurrent_blocks,
    )

    generator = build_generator(model_config or RHMConfig())
    trainable, total = count_params(generator)
    freeze_recurrent_blocks(generator)
    frozen_trainable, _ = count_params(generator)
    return {
        "total_params": int(total),
        "trainable_full_transfer_or_scratch": int(trainable),
        "trainable_frozen_rnn": int(frozen_trainable),
    }


SUMMARY_SHOWN = ["tissue", "nt_ratio", "n_holograms", "variant", "n_seeds", "n_fovs"]
COMPARISON_SHOWN = [
    "comparison", "tissue", "nt_ratio", "n_holograms", "variant", "reference", "metric",
    "difference", "ci_low", "ci_high", "resampled", "n_units", "paper", "verdict", "note",
]  # fmt: skip


def summary_view(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary as people read it: each metric as ``mean ± seed std [CI low, high]``."""
    if summary.empty:
        return pd.DataFrame()
    out = summary[[c for c in SUMMARY_SHOWN if c in summary.columns]].copy()
    for m in ("amplitude_rmse", "ecc", "ms_ssim"):

        def cell(row, m=m) -> str:
            mean = row[f"{m}_mean"]
            if pd.isna(mean):
                return "–"
            text = f"{mean:.4f}"
            if pd.notna(row.get(f"{m}_seed_std")):
                text += f" ± {row[f'{m}_seed_std']:.4f}"
            if pd.notna(row.get(f"{m}_ci_low")):
                text += f" [{row[f'{m}_ci_low']:.4f}, {row[f'{m}_ci_high']:.4f}]"
            return text

        out[m] = summary.apply(cell, axis=1)
    return out


def render(
    summary: pd.DataFrame,
    runs: pd.DataFrame,
    paper_params: dict[str, int] | None = None,
    comparisons: pd.DataFrame | None = None,
) -> str:
    """Return the report as Markdown text."""
    parts = ["## Evaluation summary (test patients only)", ""]
    parts.append(
        "mean ± std across seeds [bootstrap 95 % CI over test FOVs]" if not summary.empty else ""
    )
    parts.append(cmp.format_frame(summary_view(summary)) if not summary.empty else "(no rows)")
    if comparisons is not None:
        parts += ["", "## The paper's comparisons: paired differences, 95 % CIs, verdicts", ""]
        shown = [c for c in COMPARISON_SHOWN if c in comparisons.columns]
        parts.append(cmp.format_frame(comparisons[shown]))
    sections = [
        ("1. Trainable parameters", cmp.trainable_params(runs), "trainable_params"),
        (
            "2. Seconds per epoch (each run's own wall time; the controlled timing is above)",
            cmp.seconds_per_epoch(runs),
            "seconds_per_epoch",
        ),
        (
            "3. Epochs to the scratch baseline's best validation MAE",
            cmp.epochs_to_baseline_best(runs),
            "epochs_to_baseline_best",
        ),
        ("4. Quality at the smallest Nt/N", cmp.quality_at_smallest_ratio(summary), "quality"),
    ]
    for title, frame, paper_key in sections:
        parts += ["", f"## {title}", "", f"Paper: {cmp.PAPER[paper_key]}.", ""]
        parts.append(cmp.format_frame(frame))
        if paper_key == "trainable_params" and paper_params:
            parts += [
                "",
                "Paper-size RH-M built here: "
                + ", ".join(f"{k} = {v:,}" for k, v in paper_params.items()),
            ]
    return "\n".join(parts)


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; font-size: 12px; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 3px 6px; text-align: right; }
th { background: #f3f3f3; }
td:first-child, th:first-child { text-align: left; }
.reproduced { color: #1a7f37; font-weight: bold; }
.not-reproduced { color: #c62828; font-weight: bold; }
.inconclusive { color: #666; font-weight: bold; }
img { max-width: 100%; display: block; margin: 0.5em 0; }
"""


def render_html(
    summary: pd.DataFrame,
    comparisons: pd.DataFrame,
    history: pd.DataFrame,
    panels: Mapping[str, bytes] | None = None,
) -> str:
    """One self-contained HTML page: summary, a plot per comparison with its verdicts, training
    curves (validation MAE per epoch, per variant) and the stored reconstruction panels."""
    from holo_pipeline.evaluation import figures

    def table(frame: pd.DataFrame) -> str:
        if frame.empty:
            return "<p>(no rows)</p>"
        return frame.to_html(index=False, border=0, na_rep="–", float_format=lambda v: f"{v:.4g}")

    body = ["<h1>holo_pipeline — evaluation report</h1>"]
    body += [
        "<h2>Evaluation summary (test patients only)</h2>",
        "<p>Each metric: mean over test FOVs ± standard deviation across seeds "
        "[bootstrap 95 % CI resampling test FOVs].</p>",
        table(summary_view(summary)),
        "<h2>The paper's comparisons</h2>",
        "<p>Paired differences (variant − reference; relative: variant / reference − 1) on the "
        "same test FOVs and seeds, with 95 % CIs. <b>reproduced</b>: the CI excludes 0 on the "
        "paper's side; <b>not reproduced</b>: on the other side; <b>inconclusive</b>: otherwise, "
        "or when censoring leaves it open.</p>",
    ]
    for name in cmp.COMPARISONS:
        rows = comparisons[comparisons["comparison"] == name] if len(comparisons) else comparisons
        body.append(f"<h3>{html.escape(name)}</h3>")
        if rows.empty:
            body.append("<p>(not measured in this run)</p>")
            continue
        verdicts = ", ".join(
            f'<span class="{v.replace(" ", "-")}">{html.escape(v)}</span>' for v in rows["verdict"]
        )
        body.append(
            f"<p>Paper: {html.escape(str(rows['paper'].iloc[0]))}. Verdicts: {verdicts}</p>"
        )
        body.append(_img(figures.comparison_png(rows, name), name))
        shown = [c for c in COMPARISON_SHOWN if c in rows.columns and c != "comparison"]
        body.append(table(rows[shown]))
    body.append("<h2>Training curves</h2>")
    if history.empty:
        body.append("<p>(no training history)</p>")
    else:
        body.append(_img(figures.training_curves_png(history), "validation MAE per epoch"))
    body.append("<h2>Reconstructions</h2>")
    for name, png in sorted((panels or {}).items()):
        body.append(_img(png, name))
    if not panels:
        body.append("<p>(no reconstruction panels stored)</p>")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>holo_pipeline evaluation</title><style>{_STYLE}</style></head>"
        f"<body>{''.join(body)}</body></html>\n"
    )


def stored_panels(root: str | None = None) -> dict[str, bytes]:
    """The reconstruction panels the evaluation stored (``evaluation_figures``), by file stem."""
    from holo_pipeline.catalog import dataset_path

    folder = Path(dataset_path("evaluation_figures", root=root))
    return {p.stem: p.read_bytes() for p in sorted(folder.glob("*.png"))} if folder.is_dir() else {}


def _optional(name: str, root: str | None) -> pd.DataFrame:
    from holo_pipeline.catalog import load_table
    from holo_pipeline.evaluation.tables import empty

    try:
        return load_table(name, root=root)
    except FileNotFoundError:
        return empty(name)


def run(args: argparse.Namespace) -> int:
    """Print (or write as HTML) the report; return 1 if the tables have not been materialised."""
    from holo_pipeline.atomic import atomic_path
    from holo_pipeline.catalog import load_table

    root = getattr(args, "root", None)
    try:
        summary = load_table("evaluation_summary", root=root)
        runs = load_table("training_runs", root=root)
    except FileNotFoundError as err:
        print(f"no evaluation tables yet ({err}); run `holo-pipeline demo` first")
        return 1
    comparisons = _optional("evaluation_comparisons", root)
    out = getattr(args, "html", None)
    if out:
        history = _optional("training_history", root)
        page = render_html(summary, comparisons, history, stored_panels(root))
        path = Path(out)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            tmp.write_text(page, encoding="utf-8")
        print(f"wrote {path}")
        return 0
    paper_params = paper_size_params() if getattr(args, "paper_size", False) else None
    print(render(summary, runs, paper_params, comparisons))
    return 0
