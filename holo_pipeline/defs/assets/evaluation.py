"""Evaluation assets: the result tables, written by one multi-asset ``evaluation``.

``evaluation_metrics`` (per test patch per model and seed), ``evaluation_summary`` (per tissue ×
Nt/N × Mt × variant, with CIs over test FOVs and the spread across seeds), ``training_runs`` (per
model), ``training_history`` (per model per epoch), ``step_timing`` (the variants' train steps
timed interleaved in this process) and ``evaluation_comparisons`` (the paper's five comparisons
with CIs and verdicts; it also writes the ``evaluation_figures``). Every model is scored on its
tissue's *test* patients only (:func:`select_test_slides` refuses a split that leaks a test
patient into train/val), and the pretrained backbone is also applied directly to each new tissue
(``backbone_direct``, the paper's failure case). The UI shows the tables as Markdown, a plot per
comparison, the training curves and the reconstruction panels.
"""

import json
from functools import partial
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd

from holo_pipeline.atomic import atomic_path
from holo_pipeline.datasets.experiments import ExperimentPlan, TransferExperiment
from holo_pipeline.datasets.previews import markdown_image as markdown_png
from holo_pipeline.datasets.splits import patch_stores
from holo_pipeline.datasets.stores import write_parquet
from holo_pipeline.defs.resources import CatalogResource
from holo_pipeline.defs.schedules import nightly_retrain_condition
from holo_pipeline.evaluation import comparisons as cmp
from holo_pipeline.evaluation import figures
from holo_pipeline.evaluation.evaluate import LABEL_KEYS, evaluate_runs, iter_test_patches
from holo_pipeline.evaluation.tables import (
    BACKBONE_DIRECT,
    TABLES,
    conform,
    empty,
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
    timing_rounds: int = 8
    """Rounds of the controlled step timing (each times one train step per variant); 0: skip."""
    timing_warmup: int = 2
    """Untimed train steps per variant before the timed rounds."""


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
        history[key] = run.get(key, 0) if key == "seed" else run[key]
    if run["model_key"] == "pretrained_backbone":
        history["variant"] = "backbone"
    return history


def _run_row(run: dict[str, Any]) -> dict[str, Any]:
    row = {"seed": 0, **run}
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
            _spec(
                "step_timing",
                "Train steps of frozen_rnn, full_transfer and scratch timed interleaved.",
                profile,
            ),
            _spec(
                "evaluation_comparisons",
                "The paper's five comparisons: paired differences, 95 % CIs, verdicts.",
                profile,
            ),
        ],
        name="evaluation",
        code_version="evaluation-2",
    )
    def evaluation(
        context: dg.AssetExecutionContext,
        config: EvaluationConfig,
        catalog: CatalogResource,
    ):
        """Score every trained model on its tissue's test patients and write the four tables."""
        from holo_pipeline.model.inference import GeneratorPool

        splits = pd.read_parquet(catalog.path("dataset_splits"))
        runs = _trained_models(catalog, plan)
        backbone = next((r for r in runs if r["model_key"] == "pretrained_backbone"), None)
        if backbone is None:
            raise ValueError("pretrained_backbone has not been trained yet (no run.json)")
        transfer_runs = [r for r in runs if r["model_key"] != "pretrained_backbone"]
        missing = sorted(set(plan.partition_keys()) - {r["model_key"] for r in transfer_runs})
        if missing:
            context.log.warning(f"transferred_models not trained yet, left out: {missing}")
        # the models share one architecture: one Keras model per M, weights swapped, traced once
        pool = GeneratorPool()
        records, kept, test_sets = evaluate_runs(
            partial(pool.reconstructor, batch_size=config.batch_size),
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
        timing = _step_timing(config, catalog, profile, splits, backbone, transfer_runs)
        comparisons = cmp.comparisons_table(metrics, training, history, timing)
        tables = dict(zip(TABLES, (metrics, summary, training, history), strict=True))
        tables |= {"step_timing": timing, "evaluation_comparisons": comparisons}
        paths = {name: write_parquet(frame, catalog.path(name)) for name, frame in tables.items()}
        panels = _panels(test_sets, kept, transfer_runs, plan)
        figures_dir = _write_figures(catalog.path("evaluation_figures"), panels)

        curves = figures.training_curves_png(history) if len(history) else None
        described = {
            "evaluation_metrics": {
                "test_patients": dg.MetadataValue.json(sorted(set(metrics["patient_id"]))),
                "test_fovs_per_tissue": dg.MetadataValue.json(
                    {
                        t: len(g.drop_duplicates(["slide_id", "fov_id"]))
                        for t, g in metrics.groupby("tissue")
                    }
                ),
                "reconstructions": dg.MetadataValue.md(
                    "\n\n".join(markdown_png(png, name) for name, png in panels.items())
                    or "(no models)"
                ),
            },
            "evaluation_summary": {"summary": dg.MetadataValue.md(_summary_markdown(summary))},
            "training_runs": {"runs": dg.MetadataValue.md(_runs_markdown(training))},
            "training_history": {
                "validation_mae": dg.MetadataValue.md(
                    markdown_png(curves, "validation MAE per epoch") if curves else "(no rows)"
                )
            },
            "step_timing": {
                "median_seconds_per_step": dg.MetadataValue.json(
                    {v: float(s) for v, s in timing.groupby("variant")["seconds"].median().items()}
                )
            },
            "evaluation_comparisons": {
                "verdicts": dg.MetadataValue.md(_comparisons_markdown(comparisons)),
                "figures": dg.MetadataValue.path(str(figures_dir)),
            },
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


def _step_timing(
    config: EvaluationConfig,
    catalog: CatalogResource,
    profile: Profile,
    splits: pd.DataFrame,
    backbone: dict[str, Any],
    transfer_runs: list[dict[str, Any]],
) -> pd.DataFrame:
    """Time the variants' train steps interleaved (``model.step_timing``) on a transfer tissue's
    validation patches, with the transfer settings and the plan's smallest Mt."""
    if config.timing_rounds < 1 or not transfer_runs:
        return empty("step_timing")
    from holo_pipeline.datasets.tf_data import make_dataset
    from holo_pipeline.model.step_timing import time_train_steps

    settings = profile.training("transfer")
    tissue = sorted({r["tissue"] for r in transfer_runs})[0]
    mt = min(r["n_holograms"] for r in transfer_runs)
    stores = patch_stores(splits, [tissue], "val")
    data = make_dataset(
        stores, n_holograms=mt, batch_size=settings.batch_size, seed=0,
        crop_size=settings.crop_size, random_crop=True, augment=settings.augment,
        repeats=settings.repeats, drop_remainder=True,
    )  # fmt: skip
    batches = [(x.numpy(), y.numpy()) for x, y in data.take(4)]
    if not batches:
        return empty("step_timing")
    timing = time_train_steps(
        Path(backbone["model_path"]), batches, model_config=profile.model, config=settings,
        rounds=config.timing_rounds, warmup=config.timing_warmup,
    )  # fmt: skip
    x = batches[0][0]
    timing["n_holograms"] = mt
    timing["batch_size"] = int(x.shape[0])
    timing["crop_size"] = int(x.shape[2])
    return conform(timing, "step_timing")


def _write_figures(folder: Path, panels: dict[str, bytes]) -> Path:
    """Write each figure as ``<name>.png`` (atomically) and remove figures of an older run."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, png in panels.items():
        with atomic_path(folder / f"{name}.png") as tmp:
            tmp.write_bytes(png)
    for old in folder.glob("*.png"):
        if old.stem not in panels:
            old.unlink()
    return folder


def _comparisons_markdown(comparisons: pd.DataFrame) -> str:
    if comparisons.empty:
        return "(no rows)"
    from holo_pipeline.evaluation.report import COMPARISON_SHOWN

    parts = [cmp.format_frame(comparisons[COMPARISON_SHOWN])]
    for name in cmp.COMPARISONS:
        rows = comparisons[comparisons["comparison"] == name]
        if len(rows):
            parts.append(markdown_png(figures.comparison_png(rows, name), name))
    return "\n\n".join(parts)


def _summary_markdown(summary: pd.DataFrame) -> str:
    if summary.empty:
        return "(no rows)"
    from holo_pipeline.evaluation.report import summary_view

    label = ["tissue", "variant", "nt_ratio", "n_holograms"]
    return "\n\n".join(
        [
            cmp.format_frame(summary_view(summary)),
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
) -> dict[str, bytes]:
    """Per tissue: the first test patch, ground truth and each variant at the smallest Nt/N, Mt
    (the first seed), as PNGs named ``reconstructions-<tissue>``."""
    parts = {}
    for tissue, test in sorted(test_sets.items()):
        runs = [r for r in transfer_runs if r["tissue"] == tissue]
        if not runs:
            continue
        smallest = min((r["nt_ratio"], r["n_holograms"], r.get("seed", 0)) for r in runs)
        chosen = sorted(
            (TransferExperiment.from_key(r["model_key"]) for r in runs
             if (r["nt_ratio"], r["n_holograms"], r.get("seed", 0)) == smallest),
            key=lambda e: plan.variants.index(e.variant),
        )  # fmt: skip
        first = next(iter_test_patches(test, smallest[1], max_patches=1))
        predictions = {e.variant: kept[(tissue, e.key)] for e in chosen if (tissue, e.key) in kept}
        if (tissue, "pretrained_backbone") in kept:
            predictions[BACKBONE_DIRECT] = kept[(tissue, "pretrained_backbone")]
        parts[f"reconstructions-{tissue}"] = figures.reconstruction_panels_png(
            first.inputs[0],
            first.target,
            predictions,
            title=f"{tissue} {first.slide_id} patch 0 — Nt/N {smallest[0]:g}, Mt {smallest[1]}, "
            f"seed {smallest[2]}",
        )
    return parts
