"""Training runs: a fingerprinted work directory per run and the published model it leaves.

:func:`train_and_publish` is what the model assets call. It trains one variant with
:func:`~holo_pipeline.model.training.train_model` in ``OUT_DIR/work-<fingerprint>``, where the
fingerprint covers everything the result depends on (variant, training data, settings,
architecture, M, seed, backbone file), so an interrupted run on the same inputs resumes from its
checkpoints and a run on changed inputs starts afresh (older work directories are removed). It then
publishes, each atomically and ``run.json`` last::

    generator.keras     the best-validation generator
    history.parquet     one row per epoch (HISTORY_COLUMNS)
    run.json            the run record: labels, parameter counts, seconds per epoch, best epoch, ...

``run.json`` is the one record of a published run; the work directory's own ``identity.json``
only guards a resume against different settings (see :mod:`holo_pipeline.model.training`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from holo_pipeline.atomic import atomic_path
from holo_pipeline.datasets.stores import write_parquet
from holo_pipeline.model.config import RHMConfig, TrainingConfig

logger = logging.getLogger(__name__)


def fingerprint(*parts: Any) -> str:
    """A 12-hex-digit hash of ``parts`` (JSON; anything else by ``str``)."""
    blob = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def file_digest(path: str | os.PathLike[str]) -> str:
    """A 16-hex-digit SHA-256 of a file's bytes (e.g. the backbone a transfer starts from)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def store_signature(paths: Sequence[str | os.PathLike[str]]) -> list[tuple[str, int]]:
    """Path and modification time (ns) of each store, sorted, for a work-dir fingerprint.

    Stores are replaced by a rename when rewritten, so a rewritten store has a new time and the
    model trains afresh; an interrupted run on unchanged stores resumes from its checkpoints.
    """
    return [(str(p), Path(p).stat().st_mtime_ns) for p in sorted(map(str, paths))]


class EpochProgress:
    """Logs ``<variant>: epoch i/n`` with the losses and an ETA after every epoch.

    Pass it as ``train_model(..., on_epoch=EpochProgress(variant, epochs, log))``; ``log`` is any
    :class:`logging.Logger` (a Dagster run's ``context.log`` is one).
    """

    def __init__(self, variant: str, epochs: int, log: logging.Logger) -> None:
        self.variant, self.epochs, self.log = variant, epochs, log
        self.seconds: list[float] = []

    def __call__(self, row: Mapping[str, float]) -> None:
        # ETA from the epochs this process ran (a resumed run's earlier epochs are not timed here)
        self.seconds.append(float(row["seconds"]) + float(row["val_seconds"]))
        epoch = int(row["epoch"])
        eta = (self.epochs - epoch) * sum(self.seconds) / len(self.seconds)
        self.log.info(
            f"{self.variant}: epoch {epoch}/{self.epochs} g_loss={row['g_loss']:.4f} "
            f"d_loss={row['d_loss']:.4f} val_mae={row['val_mae']:.4f} "
            f"({row['seconds']:.1f} s, ETA {eta:.0f} s)"
        )


def train_and_publish(
    variant: str,
    *,
    out_dir: str | os.PathLike[str],
    train_stores: Sequence[str | os.PathLike[str]],
    val_stores: Sequence[str | os.PathLike[str]],
    config: TrainingConfig,
    model_config: RHMConfig,
    n_holograms: int,
    seed: int,
    data_signature: Any,
    backbone_path: str | os.PathLike[str] | None = None,
    labels: Mapping[str, Any] | None = None,
    log: logging.Logger | None = None,
) -> dict[str, Any]:
    """Train one RH-M variant in a fingerprinted work dir and publish it to ``out_dir``.

    Parameters
    ----------
    variant
        ``scratch``, ``frozen_rnn`` or ``full_transfer``.
    out_dir
        Where ``generator.keras``, ``history.parquet``, ``run.json`` and the work dir go.
    train_stores, val_stores
        Patch store paths.
    config, model_config
        Training settings and architecture.
    n_holograms
        M, holograms per sample.
    seed
        Seeds weights and data sampling.
    data_signature
        JSON-able identity of the training data (e.g. :func:`store_signature` of the stores that
        the training data came from); part of the work dir's fingerprint.
    backbone_path
        The pretrained generator for the transfer variants (its bytes enter the fingerprint).
    labels
        Extra fields for ``run.json`` (e.g. ``model_key``, ``tissue``, ``n_train_patches``).
    log
        Where progress goes (default: this module's logger).

    Returns
    -------
    The run record written to ``run.json``: ``labels`` plus ``variant``, ``n_holograms``,
    ``trainable_params``, ``total_params``, ``seconds_per_epoch``, ``epochs_run``,
    ``best_epoch``, ``best_val_mae``, ``resumed_from_epoch``, ``model_path``, ``seed`` and
    ``timings`` (wall seconds by phase, :data:`~holo_pipeline.model.training.TIMING_PHASES`, plus
    ``publish``: copying the generator and writing the history and this record).
    """
    from holo_pipeline.model.training import train_model  # TensorFlow only when training

    log = log or logger
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    key = fingerprint(
        variant,
        data_signature,
        dataclasses.asdict(config),
        dataclasses.asdict(model_config),
        n_holograms,
        seed,
        file_digest(backbone_path) if backbone_path else None,
    )
    workdir = out_dir / f"work-{key}"
    for stale in out_dir.glob("work-*"):
        if stale != workdir:
            shutil.rmtree(stale, ignore_errors=True)
    log.info(f"training {variant} in {workdir} ({len(train_stores)} train stores)")
    result = train_model(
        variant,
        train_stores=[str(p) for p in train_stores],
        val_stores=[str(p) for p in val_stores],
        config=config,
        workdir=workdir,
        n_holograms=n_holograms,
        seed=seed,
        backbone_path=backbone_path,
        model_config=model_config,
        on_epoch=EpochProgress(variant, config.epochs, log),
    )
    publish_start = time.perf_counter()
    generator_path = out_dir / "generator.keras"
    with atomic_path(generator_path) as tmp:
        shutil.copyfile(result.generator_path, tmp)
    write_parquet(result.history, out_dir / "history.parquet")
    run = {
        **(labels or {}),
        "variant": variant,
        "n_holograms": int(n_holograms),
        "trainable_params": int(result.trainable_params),
        "total_params": int(result.total_params),
        "seconds_per_epoch": float(result.seconds_per_epoch),
        "epochs_run": len(result.history),
        "best_epoch": int(result.best_epoch),
        "best_val_mae": float(result.best_val_mae),
        "resumed_from_epoch": int(result.resumed_from_epoch),
        "model_path": str(generator_path),
        "seed": int(seed),
        "timings": {**result.timings, "publish": time.perf_counter() - publish_start},
    }
    with atomic_path(out_dir / "run.json") as tmp:
        tmp.write_text(json.dumps(run, indent=2))
    return run
