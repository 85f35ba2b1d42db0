"""Model assets: ``pretrained_backbone`` and ``transferred_models`` (one partition per model).

Both are built by :func:`build_model_assets` from the typed profile. ``transferred_models`` is
partitioned by a static key ``<tissue>-<variant>-r<Nt/N>-m<Mt>-s<seed>`` from the profile's
:class:`holo_pipeline.datasets.experiments.ExperimentPlan` (one partition per experiment and
seed of ``plan.seeds``), so each model is its own cached, versioned output that can be rerun alone,
and every seed's model is kept. Both assets run in the ``gpu``
concurrency pool (set its limit to the number of GPUs: ``dagster instance concurrency set gpu 1``)
and rerun nightly when their inputs changed (:mod:`holo_pipeline.defs.schedules`).

TensorFlow and :mod:`holo_pipeline.model` are imported inside the asset bodies, so loading the code
location never imports TensorFlow. Training resumes from the checkpoints of an interrupted run with
the same inputs (the work directory is named by a fingerprint of the training data and settings).
"""

import dataclasses
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd

from holo_pipeline.datasets.experiments import TransferExperiment, write_transfer_tiles
from holo_pipeline.datasets.patch_store import open_patch_store
from holo_pipeline.datasets.splits import patch_stores
from holo_pipeline.defs.resources import CatalogResource
from holo_pipeline.defs.schedules import nightly_retrain_condition
from holo_pipeline.evaluation.comparisons import format_frame
from holo_pipeline.model.config import TrainingConfig
from holo_pipeline.model.runs import store_signature, train_and_publish
from holo_pipeline.profile import Profile

MODELS_GROUP = "models"
# Pod resources when the k8s_job_executor runs each step in its own pod (deploy/README.md): one GPU
# per training step, matching the `gpu` pool's one slot per GPU; ignored by the local executors.
GPU_K8S = {
    "dagster-k8s/config": {
        "container_config": {
            "resources": {
                "requests": {"cpu": "4", "memory": "24Gi", "nvidia.com/gpu": "1"},
                "limits": {"memory": "32Gi", "nvidia.com/gpu": "1"},
            }
        },
        "pod_spec_config": {
            "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
        },
    }
}


class TransferRunConfig(dg.Config):
    """Run parameters of ``transferred_models`` (defaults: the profile's settings).

    Its seed is not a run parameter: it is part of the partition key."""

    epochs: int = 0
    """Epochs to train; 0 keeps the profile's ``TrainingConfig.epochs``."""


class TrainingRunConfig(TransferRunConfig):
    """Run parameters of ``pretrained_backbone`` (defaults: the profile's settings)."""

    seed: int = 0
    """Seeds weight initialisation and data sampling."""


def _training_config(stage: str, profile: Profile, run: TransferRunConfig) -> TrainingConfig:
    config = profile.training(stage)
    # Validate on whole patches: a 64-px centre crop of a few patches is too noisy a signal for
    # the convergence comparison (epochs to the baseline's best validation MAE).
    config = dataclasses.replace(config, val_crop_size=None)
    if run.epochs:
        config = dataclasses.replace(config, epochs=run.epochs)
    return config


def _metadata(run: dict[str, Any], history: pd.DataFrame, out_dir: Path) -> dict[str, Any]:
    shown = history[["epoch", "g_loss", "d_loss", "val_mae", "val_ms_ssim", "seconds"]]
    return {
        "trainable_params": run["trainable_params"],
        "total_params": run["total_params"],
        "seconds_per_epoch": dg.MetadataValue.float(run["seconds_per_epoch"]),
        "epochs_run": run["epochs_run"],
        "best_epoch": run["best_epoch"],
        "best_val_mae": dg.MetadataValue.float(run["best_val_mae"]),
        "n_holograms": run["n_holograms"],
        "history": dg.MetadataValue.md(format_frame(shown)),
        "path": dg.MetadataValue.path(str(out_dir)),
    }


def model_step(profile: Profile) -> dict[str, Any]:
    """What both training steps share: the models group, one GPU at a time (the `gpu` pool), GPU
    pods under k8s, and the nightly retrain when their inputs changed."""
    return {
        "group_name": MODELS_GROUP,
        "pool": "gpu",
        "op_tags": GPU_K8S,
        "kinds": {"tensorflow", "keras"},
        "automation_condition": nightly_retrain_condition(profile.automation),
    }


def transfer_partitions(profile: Profile) -> dg.StaticPartitionsDefinition:
    """One ``transferred_models`` partition per model of the profile's plan."""
    return dg.StaticPartitionsDefinition(profile.plan.partition_keys())


def build_model_assets(profile: Profile) -> list[dg.AssetsDefinition]:
    """``pretrained_backbone`` and ``transferred_models`` for ``profile`` (its plan partitions the
    transferred models; its architecture, training settings and plan version both)."""
    plan = profile.plan

    @dg.asset(
        deps=["dataset_splits"],
        **model_step(profile),
        code_version=profile.code_version("pretrain"),
        description=(
            "RH-M backbone (GAN) trained on the train/val slides of the pretraining tissues "
            f"({', '.join(plan.pretrain_tissues)}) with M = {plan.pretrain_holograms} holograms."
        ),
    )
    def pretrained_backbone(
        context: dg.AssetExecutionContext,
        config: TrainingRunConfig,
        catalog: CatalogResource,
    ) -> dg.MaterializeResult:
        """Pretrain the backbone from scratch on the pretraining tissues."""
        splits = pd.read_parquet(catalog.path("dataset_splits"))
        train = patch_stores(splits, plan.pretrain_tissues, "train")
        val = patch_stores(splits, plan.pretrain_tissues, "val")
        if not train or not val:
            raise ValueError(
                f"dataset_splits has no train or val slide with patches for {plan.pretrain_tissues}"
            )
        out_dir = catalog.path("pretrained_backbone")
        out_dir.mkdir(parents=True, exist_ok=True)
        n_patches = sum(open_patch_store(p).n_patches for p in train)
        run = train_and_publish(
            "scratch",
            out_dir=out_dir,
            train_stores=train,
            val_stores=val,
            config=_training_config("pretrain", profile, config),
            model_config=profile.model,
            n_holograms=plan.pretrain_holograms,
            seed=config.seed,
            backbone_path=None,
            data_signature=store_signature(train + val),
            labels={
                "model_key": "pretrained_backbone",
                "tissue": "+".join(plan.pretrain_tissues),
                "nt_ratio": 0.0,
                "n_train_patches": n_patches,
            },
            log=context.log,
        )
        history = pd.read_parquet(out_dir / "history.parquet")
        return dg.MaterializeResult(
            metadata={**_metadata(run, history, out_dir), "n_train_patches": n_patches}
        )

    @dg.asset(
        deps=["dataset_splits", pretrained_backbone],
        partitions_def=transfer_partitions(profile),
        **model_step(profile),
        code_version=profile.code_version("transfer"),
        description=(
            "One transferred RH-M per partition <tissue>-<variant>-r<Nt/N>-m<Mt>-s<seed>: "
            "frozen_rnn (backbone, recurrent blocks frozen), full_transfer (backbone, all "
            "trainable), scratch; each experiment once per seed."
        ),
    )
    def transferred_models(
        context: dg.AssetExecutionContext,
        config: TransferRunConfig,
        catalog: CatalogResource,
    ) -> dg.MaterializeResult:
        """Train one transferred model on Nt tiles of its tissue (see ``experiments`` for Nt/N)."""
        experiment = TransferExperiment.from_key(context.partition_key)
        splits = pd.read_parquet(catalog.path("dataset_splits"))
        val = patch_stores(splits, [experiment.tissue], "val")
        if not val:
            raise ValueError(
                f"dataset_splits has no val slide with patches for {experiment.tissue}"
            )
        out_dir = catalog.path("transferred_models", model_key=experiment.key)
        out_dir.mkdir(parents=True, exist_ok=True)
        tiles_path, nt, n_pretrain = write_transfer_tiles(
            experiment,
            plan,
            pretrain_stores=patch_stores(splits, plan.pretrain_tissues, "train"),
            tissue_stores=patch_stores(splits, [experiment.tissue], "train"),
            path=out_dir / "train_tiles.zarr",
            seed=experiment.seed,
        )
        backbone = catalog.path("pretrained_backbone") / "generator.keras"
        run = train_and_publish(
            experiment.variant,
            out_dir=out_dir,
            train_stores=[str(tiles_path)],
            val_stores=val,
            config=_training_config("transfer", profile, config),
            model_config=profile.model,
            n_holograms=experiment.n_holograms,
            seed=experiment.seed,
            backbone_path=None if experiment.variant == "scratch" else backbone,
            data_signature=[
                store_signature(patch_stores(splits, [experiment.tissue], "train") + val),
                nt,
                plan.tile_size,
            ],
            labels={**experiment.labels(), "n_train_patches": nt},
            log=context.log,
        )
        history = pd.read_parquet(out_dir / "history.parquet")
        return dg.MaterializeResult(
            metadata={
                **_metadata(run, history, out_dir),
                "n_train_tiles (Nt)": nt,
                "pretrain_tiles_per_tissue (N)": dg.MetadataValue.float(float(n_pretrain)),
                "effective_nt_ratio": dg.MetadataValue.float(float(nt / max(n_pretrain, 1e-9))),
                "tile_size": int(np.asarray(open_patch_store(tiles_path).patch_size)),
            }
        )

    return [pretrained_backbone, transferred_models]
