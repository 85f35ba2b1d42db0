"""Score a reconstruction model on a tissue's held-out test patients (no TensorFlow here).

The model is passed in as a plain callable ``reconstruct(inputs) -> prediction`` on network tensors
(``(n, M, P, P, 2)`` → ``(n, P, P, 2)``, real/imag last), so this module can be tested without
Keras and the Dagster asset stays a thin wrapper around :func:`evaluate_model`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from holo_pipeline.datasets.patch_store import PatchStore, open_patch_store
from holo_pipeline.datasets.splits import patient_leakage
from holo_pipeline.evaluation.metrics import (
    ecc,
    mae,
    max_scales,
    ms_ssim,
    phase_rmse,
    rmse,
)
from holo_pipeline.evaluation.tables import BACKBONE_DIRECT

Reconstruct = Callable[[np.ndarray], np.ndarray]


class SplitLeakError(ValueError):
    """A patient appears in a test split and in a train or validation split."""


@dataclass(frozen=True)
class EvalPatch:
    """One test patch: where it comes from and its arrays (inputs ``(M, P, P, 2)``)."""

    slide_id: str
    patient_id: str
    fov_id: str
    patch_index: int
    inputs: np.ndarray
    target: np.ndarray


def select_test_slides(splits: pd.DataFrame, tissue: str) -> pd.DataFrame:
    """Rows of ``dataset_splits`` for ``tissue``'s test slides, after checking for patient leaks.

    Raises
    ------
    SplitLeakError
        If a test patient of ``tissue`` also has a slide in the train or validation split.
    ValueError
        If ``tissue`` has no test slide.
    """
    rows = splits[splits["tissue"] == tissue]
    test = rows[rows["split"] == "test"]
    leaked = sorted(set(patient_leakage(rows)["patient_id"]) & set(test["patient_id"]))
    if leaked:
        raise SplitLeakError(f"dataset_splits: {tissue} test patients {leaked} also in train/val")
    if test.empty:
        raise ValueError(f"dataset_splits has no test slide for tissue {tissue!r}")
    return test.sort_values("slide_id").reset_index(drop=True)


def evaluation_heights(store: PatchStore, patch: int, n_holograms: int) -> np.ndarray:
    """Indices of the M heights fed to a model for one test patch: evenly spread in z2.

    Training draws M of the stored heights at random (ascending z2); evaluation must be
    deterministic, so it takes M heights spread evenly over the z2-sorted stack (the lowest and
    highest always included for M ≥ 2), in ascending z2 order.
    """
    n = store.n_heights
    if not 1 <= n_holograms <= n:
        raise ValueError(f"n_holograms must be in 1..{n}, got {n_holograms}")
    return store.height_order(patch)[np.round(np.linspace(0, n - 1, n_holograms)).astype(int)]


def iter_test_patches(
    test: pd.DataFrame, n_holograms: int, *, max_patches: int | None = None
) -> Iterator[EvalPatch]:
    """Yield the patches of the ``test`` slides with ``n_holograms`` heights each.

    ``max_patches`` caps the number of patches per slide (``None``: all of them).

    Raises
    ------
    ValueError
        If a patch store lacks the ``fov_ids`` its ``fov_index`` points into.
    """
    for row in test.itertuples(index=False):
        store = open_patch_store(row.patch_store)
        fov_ids = store.attrs.get("fov_ids")
        if fov_ids is None or (len(store.fov_index) and store.fov_index.max() >= len(fov_ids)):
            raise ValueError(
                f"patch store {store.path} needs attrs['fov_ids'] covering its fov_index, "
                f"got {fov_ids!r}"
            )
        n = store.n_patches if max_patches is None else min(store.n_patches, max_patches)
        for i in range(n):
            yield EvalPatch(
                slide_id=str(row.slide_id),
                patient_id=str(row.patient_id),
                fov_id=str(fov_ids[int(store.fov_index[i])]),
                patch_index=i,
                inputs=np.asarray(store.inputs[i])[evaluation_heights(store, i, n_holograms)],
                target=np.asarray(store.target[i]),
            )


def _complex(tensor: np.ndarray) -> np.ndarray:
    return tensor[..., 0].astype(np.float64) + 1j * tensor[..., 1].astype(np.float64)


def patch_metrics(prediction: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """Metrics of one reconstruction ``(P, P, 2)`` against its ground truth ``(P, P, 2)``.

    Amplitude RMSE on ``|field|``; wrap-aware phase RMSE in radians; ECC on the complex field; MAE
    over the real and imaginary channels (the training loss's MAE); MS-SSIM on the amplitude with
    dynamic range L = the ground truth's peak amplitude and as many of the 5 scales as the patch
    size allows (5 from 161 px; weights renormalised below that).
    """
    if prediction.shape != target.shape or prediction.shape[-1] != 2:
        raise ValueError(
            f"prediction must be (P, P, 2) like target, got {prediction.shape} vs {target.shape}"
        )
    p, t = _complex(prediction), _complex(target)
    amp_p, amp_t = np.abs(p), np.abs(t)
    scales = max_scales(amp_t.shape)
    return {
        "amplitude_rmse": rmse(amp_p, amp_t),
        "phase_rmse": phase_rmse(p, t),
        "ecc": ecc(p, t),
        "mae": mae(prediction, target),
        "ms_ssim": (
            ms_ssim(amp_p, amp_t, max_val=max(float(amp_t.max()), 1e-6), scales=scales)
            if scales
            else float("nan")
        ),
    }


def evaluate_model(
    reconstruct: Reconstruct,
    test: pd.DataFrame,
    *,
    n_holograms: int,
    labels: dict[str, Any],
    batch_size: int = 4,
    max_patches: int | None = None,
    keep: int = 0,
    patches: Iterable[EvalPatch] | None = None,
) -> tuple[list[dict[str, Any]], list[np.ndarray]]:
    """Reconstruct every test patch and score it.

    Parameters
    ----------
    reconstruct
        ``(n, M, P, P, 2) float32 → (n, P, P, 2)``.
    test
        Test-slide rows of ``dataset_splits`` (see :func:`select_test_slides`).
    n_holograms
        M, the number of heights fed to the model (see :func:`evaluation_heights`).
    labels
        Columns copied onto every record (model_key, tissue, variant, nt_ratio, n_holograms,
        seed).
    batch_size, max_patches
        Patches per call of ``reconstruct``; cap per slide.
    keep
        Number of the first predictions to return, for figures.
    patches
        The patches ``iter_test_patches(test, n_holograms, max_patches=max_patches)`` yields,
        when the caller has them already (:func:`evaluate_runs` reads them once for all models
        with the same tissue and M); ``None`` reads them.

    Returns
    -------
    records, kept
        One dict per patch (``labels`` + slide_id, patient_id, fov_id, patch_index + metrics) and
        the first ``keep`` predictions.
    """
    records: list[dict[str, Any]] = []
    kept: list[np.ndarray] = []
    batch: list[EvalPatch] = []

    def flush() -> None:
        x = np.stack([b.inputs for b in batch]).astype(np.float32)
        y = np.asarray(reconstruct(x))
        for patch, pred in zip(batch, y, strict=True):
            records.append(
                {
                    **labels,
                    "slide_id": patch.slide_id,
                    "patient_id": patch.patient_id,
                    "fov_id": patch.fov_id,
                    "patch_index": patch.patch_index,
                    **patch_metrics(pred, patch.target),
                }
            )
            if len(kept) < keep:
                kept.append(pred)
        batch.clear()

    if patches is None:
        patches = iter_test_patches(test, n_holograms, max_patches=max_patches)
    for patch in patches:
        batch.append(patch)
        if len(batch) == batch_size:
            flush()
    if batch:
        flush()
    return records, kept


LABEL_KEYS = ("model_key", "tissue", "variant", "nt_ratio", "n_holograms", "seed")

PATCH_CACHE_BYTES = 1 << 30
"""Test patches kept in memory across models (per tissue and M) up to this many bytes in all;
beyond it the patches of further (tissue, M) pairs are read again for every model."""


def _test_patch_bytes(test: pd.DataFrame, n_holograms: int, max_patches: int | None) -> int:
    """Bytes of the arrays :func:`iter_test_patches` yields for ``test`` with M heights."""
    total = 0
    for path in test["patch_store"]:
        store = open_patch_store(path)
        n = store.n_patches if max_patches is None else min(store.n_patches, max_patches)
        field = int(np.prod(store.target.shape[1:]))
        total += (
            n * field * (n_holograms * store.inputs.dtype.itemsize + store.target.dtype.itemsize)
        )
    return total


def evaluate_runs(
    load_reconstruct: Callable[[str], Reconstruct],
    transfer_runs: list[dict[str, Any]],
    backbone: dict[str, Any],
    splits: pd.DataFrame,
    *,
    backbone_holograms: int,
    batch_size: int = 4,
    max_patches: int | None = None,
    cache_bytes: int = PATCH_CACHE_BYTES,
) -> tuple[list[dict[str, Any]], dict[tuple[str, str], np.ndarray], dict[str, pd.DataFrame]]:
    """Score every transferred model, and the backbone applied directly, on test patients only.

    Parameters
    ----------
    load_reconstruct
        ``model_path → reconstruct`` (see :func:`evaluate_model`); called once per model, and
        each ``reconstruct`` is done with before the next model is loaded (so a loader may reuse
        one Keras model for all of them, see :class:`holo_pipeline.model.inference.GeneratorPool`).
    transfer_runs
        One dict per transferred model with ``model_path`` and the :data:`LABEL_KEYS`.
    backbone
        The pretrained backbone's run dict (``model_path``); it is also scored on every transfer
        tissue as ``backbone_direct`` with ``backbone_holograms`` inputs (the paper's failure case).
    splits
        ``dataset_splits``; each tissue's test slides come from :func:`select_test_slides`, which
        refuses a split that puts a test patient in train or validation.
    batch_size, max_patches
        As in :func:`evaluate_model`.
    cache_bytes
        Memory for test patches read once and reused by every model of the same tissue and M
        (see :data:`PATCH_CACHE_BYTES`); 0 reads them again for every model.

    Returns
    -------
    records, kept, test_sets
        Per-patch metric records; the first prediction per (tissue, model_key), for figures; the
        test rows of ``splits`` per tissue.
    """
    test_sets = {t: select_test_slides(splits, t) for t in {r["tissue"] for r in transfer_runs}}
    jobs = [(run, {k: run[k] for k in LABEL_KEYS}) for run in transfer_runs]
    for tissue in sorted(test_sets):
        labels = {
            "model_key": backbone["model_key"],
            "tissue": tissue,
            "variant": BACKBONE_DIRECT,
            "nt_ratio": 0.0,
            "n_holograms": backbone_holograms,
            "seed": int(backbone.get("seed", 0)),
        }
        jobs.append((backbone, labels))
    records: list[dict[str, Any]] = []
    kept: dict[tuple[str, str], np.ndarray] = {}
    cache: dict[tuple[str, int], list[EvalPatch] | None] = {}  # None: too big, read per model
    cached_bytes = 0
    for run, labels in jobs:
        test, m = test_sets[labels["tissue"]], labels["n_holograms"]
        if (labels["tissue"], m) not in cache:
            size = _test_patch_bytes(test, m, max_patches)
            fits = cached_bytes + size <= cache_bytes
            cache[(labels["tissue"], m)] = (
                list(iter_test_patches(test, m, max_patches=max_patches)) if fits else None
            )
            cached_bytes += size if fits else 0
        patches = cache[(labels["tissue"], m)]
        recs, preds = evaluate_model(
            load_reconstruct(run["model_path"]),
            test,
            n_holograms=m,
            labels=labels,
            batch_size=batch_size,
            max_patches=max_patches,
            keep=1,
            patches=patches,
        )
        records += recs
        if preds:
            kept[(labels["tissue"], labels["model_key"])] = preds[0]
    return records, kept, test_sets
