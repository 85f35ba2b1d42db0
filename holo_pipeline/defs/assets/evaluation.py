"""Evaluation assets: the four result tables, written by one multi-asset ``evaluation``.

``evaluation_metrics`` (per test patch per model), ``evaluation_summary`` (per tissue × Nt/N × Mt
× variant), ``training_runs`` (per model) and ``training_history`` (per model per epoch). Every
model is scored on its tissue's *test* patients only (:func:`select_test_slides` refuses a split
that leaks a test patient into train/val), and the pretrained backbone is also applied directly to
each new tissue (``backbone_direct``, the paper's failure case). The UI shows the summary as a
Markdown table, reconstruction panels and bar charts.
"""

import json
from functools import partial
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd

from holo_pipeline.datasets.experiments import ExperimentPlan, TransferExperiment
from holo_pipeline.datasets.stores import write_parquet
from holo_pipeline.defs.resources import CatalogResource
from holo_pipeline.defs.schedules import nightly_retrain_condition
from holo_pipeline.evaluation import comparisons as cmp
from holo_pipeline.evaluation import figures
from holo_pipeline.evaluation.evaluate import LABEL_KEYS, evaluate_runs, iter_test_patches
from holo_pipeline.evaluation.tables import (
    BACKBONE_DIRECT,
    TABLES,
    evaluation_metrics_table,
    evaluation_summary_table,
    training_history_table,
    training_runs_table,
)
from holo_pipeline.profile import Profile

EVALUATION_GROUP = "evaluation"
_MODEL_DEPS = ["dataset_splits", "pretrained_backbone", "transferred_models"]


class EvaluationConfig(dg.Config):
    """Run parameters of the evaluation."""

    max_patches_per_slide: int = 0
    """Cap on test patches per slide (0: all of them)."""
    batch_size: int = 2
    """Patches per forward pass."""
    patches_per_call: int = 16
    """Patches read and handed to ``predict`` at once (bounds memory; fewer calls, fewer traces)."""


def _spec(name: str, description: str, profile: Profile) -> dg.AssetSpec:
    return dg.AssetSpec(
        name,
        deps=_MODEL_DEPS,
        group_name=EVALUATION_GROUP,
        description=description,
        kinds={"parquet"},
        automation_condition=nightly_retrain_condition(profile.automation),
    )


def _trained_models(catalog: CatalogResource, plan: ExperimentPlan) -> list[dict[str, Any]]:
    """run.json of the backbone and of every transferred model of the plan that exists."""
    runs = []
    paths = [catalog.path("pretrained_backbone")] + [
        catalog.path("transferred_models", model_key=key) for key in plan.partition_keys()
    ]
    for path in paths:
        if (path / "run.json").exists():
            runs.append({**json.loads((path / "run.json").read_text()), "dir": str(path)})
    return runs


def _history(run: dict[str, Any]) -> pd.DataFrame:
    history = pd.read_parquet(Path(run["dir"]) / "history.parquet")
    for key in LABEL_KEYS:
        history[key] = run[key]
    if run["model_key"] == "pretrained_backbone":
        history["variant"] = "backbone"
    return history


def _run_row(run: dict[str, Any]) -> dict[str, Any]:
    row = dict(run)
    if run["model_key"] == "pretrained_backbone":
        row["variant"] = "backbone"
    return row


def build_evaluation_assets(profile: Profile) -> list[dg.AssetsDefinition]:
    """The ``evaluation`` multi-asset: it scores the models of the profile's plan."""
    plan = profile.plan

    @dg.multi_asset(
        specs=[
            _spec(
                "evaluation_metrics",
                "Per test patch per model: RMSE, phase RMSE, ECC, MAE, MS-SSIM.",
                profile,
            ),
            _spec(
                "evaluation_summary",
                "Per tissue × Nt/N × Mt × variant: mean/std of each metric.",
                profile,
            ),
            _spec(
                "training_runs",
                "Per model: parameters, seconds/epoch, epochs to baseline's best.",
                profile,
            ),
            _spec(
                "training_history", "Per model per epoch: losses, validation MAE, seconds.", profile
            ),
        ],
        name="evaluation",
        code_version="evaluation-1",
    )
    def evaluation(
        context: dg.AssetExecutionContext,
        config: EvaluationConfig,
        catalog: CatalogResource,
    ):
        """Score every trained model on its tissue's test patients and write the four tables."""
        from holo_pipeline.model import load_generator, predict

        splits = pd.read_parquet(catalog.path("dataset_splits"))
        runs = _trained_models(catalog, plan)
        backbone = next((r for r in runs if r["model_key"] == "pretrained_backbone"), None)
        if backbone is None:
            raise ValueError("pretrained_backbone has not been trained yet (no run.json)")
        transfer_runs = [r for r in runs if r["model_key"] != "pretrained_backbone"]
        missing = sorted(set(plan.partition_keys()) - {r["model_key"] for r in transfer_runs})
        if missing:
            context.log.warning(f"transferred_models not trained yet, left out: {missing}")
        records, kept, test_sets = evaluate_runs(
            lambda path: partial(predict, load_generator(path), batch_size=config.batch_size),
            transfer_runs,
            backbone,
            splits,
            backbone_holograms=plan.pretrain_holograms,
            batch_size=config.patches_per_call,
            max_patches=config.max_patches_per_slide or None,
        )
        scored = pd.DataFrame(records, columns=["model_key", "tissue"]).value_counts(sort=False)
        for (model_key, tissue), n in scored.items():
            context.log.info(f"evaluated {model_key} on {tissue}: {n} test patches")

        metrics = evaluation_metrics_table(records)
        summary = evaluation_summary_table(metrics)
        history = training_history_table(_history(r) for r in runs)
        training = training_runs_table([_run_row(r) for r in runs], history)
        tables = dict(zip(TABLES, (metrics, summary, training, history), strict=True))
        paths = {name: write_parquet(frame, catalog.path(name)) for name, frame in tables.items()}

        described = {
            "evaluation_metrics": {
                "test_patients": dg.MetadataValue.json(sorted(set(metrics["patient_id"]))),
                "reconstructions": dg.MetadataValue.md(
                    _panels(test_sets, kept, transfer_runs, plan)
                ),
            },
            "evaluation_summary": {"summary": dg.MetadataValue.md(_summary_markdown(summary))},
            "training_runs": {"runs": dg.MetadataValue.md(_runs_markdown(training))},
            "training_history": {},
        }
        for name, frame in tables.items():
            yield dg.MaterializeResult(
                asset_key=name,
                metadata={
                    "rows": len(frame),
                    **described[name],
                    "path": dg.MetadataValue.path(str(paths[name])),
                },
            )

    return [evaluation]


def _summary_markdown(summary: pd.DataFrame) -> str:
    if summary.empty:
        return "(no rows)"
    shown = ["tissue", "nt_ratio", "n_holograms", "variant", "n_patches"]
    shown += ["amplitude_rmse_mean", "phase_rmse_mean", "ecc_mean", "mae_mean", "ms_ssim_mean"]
    label = ["tissue", "variant", "nt_ratio", "n_holograms"]
    return "\n\n".join(
        [
            cmp.format_frame(summary[shown]),
            figures.bar_chart(
                summary,
                value="amplitude_rmse_mean",
                label_columns=label,
                title="amplitude RMSE (lower is better)",
            ),
            figures.bar_chart(
                summary, value="ecc_mean", label_columns=label, title="ECC (higher is better)"
            ),
        ]
    )


def _runs_markdown(training: pd.DataFrame) -> str:
    if training.empty:
        return "(no rows)"
    shown = ["model_key", "trainable_params", "total_params", "seconds_per_epoch"]
    shown += ["epochs_run", "best_epoch", "epochs_to_baseline_best", "best_val_mae"]
    return "\n\n".join(
        [
            cmp.format_frame(training[shown]),
            figures.bar_chart(
                training,
                value="seconds_per_epoch",
                label_columns=["model_key"],
                title="seconds per training epoch",
            ),
        ]
    )


def _panels(
    test_sets: dict[str, pd.DataFrame],
    kept: dict[tuple[str, str], np.ndarray],
    transfer_runs: list[dict[str, Any]],
    plan: ExperimentPlan,
) -> str:
    """Per tissue: the first test patch, ground truth and each variant at the smallest Nt/N, Mt."""
    parts = []
    for tissue, test in sorted(test_sets.items()):
        runs = [r for r in transfer_runs if r["tissue"] == tissue]
        if not runs:
            continue
        smallest = min((r["nt_ratio"], r["n_holograms"]) for r in runs)
        chosen = sorted(
            (TransferExperiment.from_key(r["model_key"]) for r in runs
             if (r["nt_ratio"], r["n_holograms"]) == smallest),
            key=lambda e: plan.variants.index(e.variant),
        )  # fmt: skip
        first = next(iter_test_patches(test, smallest[1], max_patches=1))
        predictions = {e.variant: kept[(tissue, e.key)] for e in chosen if (tissue, e.key) in kept}
        if (tissue, "pretrained_backbone") in kept:
            predictions[BACKBONE_DIRECT] = kept[(tissue, "pretrained_backbone")]
        parts.append(
            figures.reconstruction_panels(
                first.inputs[0],
                first.target,
                predictions,
                title=f"{tissue} {first.slide_id} patch 0 — Nt/N {smallest[0]:g}, Mt {smallest[1]}",
            )
        )
    return "\n\n".join(parts) or "(no models)"
