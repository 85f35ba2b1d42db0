"""``holo-pipeline report``: print the evaluation summary and the paper's comparisons.

Reads the stored tables through :func:`holo_pipeline.catalog.load_table` (so it shows whatever the
last materialisation wrote) and prints Markdown: the summary per tissue × Nt/N × Mt × variant, then
the four comparisons of Huang et al. (2022) next to the paper's figures. With ``--paper-size`` it
also builds the paper-size RH-M (16 base channels, 5 levels) to count its parameters frozen and
unfrozen, which needs TensorFlow.
"""

from __future__ import annotations

import argparse

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


def render(
    summary: pd.DataFrame, runs: pd.DataFrame, paper_params: dict[str, int] | None = None
) -> str:
    """Return the report as Markdown text."""
    parts = ["## Evaluation summary (test patients only)", ""]
    shown = ["tissue", "nt_ratio", "n_holograms", "variant", "n_patches"]
    shown += [f"{m}_mean" for m in ("amplitude_rmse", "phase_rmse", "ecc", "mae", "ms_ssim")]
    parts.append(cmp.format_frame(summary[shown]) if not summary.empty else "(no rows)")
    sections = [
        ("1. Trainable parameters", cmp.trainable_params(runs), "trainable_params"),
        ("2. Seconds per epoch", cmp.seconds_per_epoch(runs), "seconds_per_epoch"),
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


def run(args: argparse.Namespace) -> int:
    """Print the report; return 1 if the tables have not been materialised yet."""
    from holo_pipeline.catalog import load_table

    try:
        summary = load_table("evaluation_summary", root=getattr(args, "root", None))
        runs = load_table("training_runs", root=getattr(args, "root", None))
    except FileNotFoundError as err:
        print(f"no evaluation tables yet ({err}); run `holo-pipeline demo` first")
        return 1
    paper_params = paper_size_params() if getattr(args, "paper_size", False) else None
    print(render(summary, runs, paper_params))
    return 0
