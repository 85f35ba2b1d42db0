"""Train / validation / test splits by patient, per tissue, stable as slides arrive.

Rules
-----
1. The unit is the patient within a tissue: every slide of a patient (in one tissue) is in the same
   split, so a test patient is never in train or validation.
2. Stability: the previous split table is the ledger. A slide already in it keeps its split; a new
   slide of a known patient joins that patient's split. Only patients never seen before are
   assigned, so adding slides never moves an old slide.
3. New patients of a tissue are taken in the order of a salted SHA-256 of ``tissue/patient_id``
   (deterministic, independent of arrival order within one call). Each gets the split its hash
   falls in (``fractions``), except that while the tissue still lacks a split, the patient fills a
   missing one (its hashed split if that is missing, else the first missing of test, val, train).
   Hence a tissue with ≥ 3 patients has at least one in each split, and because old patients never
   move, the guarantee, once reached, stays.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import pandas as pd

SPLITS = ("train", "val", "test")
_FILL_ORDER = ("test", "val", "train")
SLIDE_COLUMNS = ("slide_id", "patient_id", "tissue")


def patient_hash(tissue: str, patient_id: str, salt: str) -> float:
    """A uniform number in [0, 1) from the salted SHA-256 of ``tissue/patient_id``."""
    digest = hashlib.sha256(f"{salt}/{tissue}/{patient_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def _hashed_split(u: float, fractions: Sequence[float]) -> str:
    edge = 0.0
    for name, frac in zip(SPLITS, fractions, strict=True):
        edge += frac
        if u < edge:
            return name
    return SPLITS[-1]


def _check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    fr = tuple(float(f) for f in fractions)
    if len(fr) != 3 or min(fr) < 0 or abs(sum(fr) - 1.0) > 1e-6:
        raise ValueError(f"fractions must be three non-negative numbers summing to 1, got {fr}")
    return fr  # type: ignore[return-value]


def assign_splits(
    slides: pd.DataFrame,
    previous: pd.DataFrame | None = None,
    *,
    fractions: Sequence[float] = (0.6, 0.2, 0.2),
    salt: str = "holo-splits-v1",
) -> pd.DataFrame:
    """Assign every slide to ``train``, ``val`` or ``test`` by patient within its tissue.

    Parameters
    ----------
    slides
        One row per slide with columns ``slide_id``, ``patient_id``, ``tissue`` (others are kept).
    previous
        The previous split table (columns ``slide_id``, ``patient_id``, ``tissue``, ``split``) or
        ``None``; its assignments are kept (module docstring).
    fractions
        Target fractions of patients in (train, val, test).
    salt
        Mixed into the patient hash; changing it reshuffles only patients not in ``previous``.

    Returns
    -------
    DataFrame
        ``slides`` with a ``split`` column, rows sorted by ``slide_id``.
    """
    fractions = _check_fractions(fractions)
    missing = [c for c in SLIDE_COLUMNS if c not in slides.columns]
    if missing:
        raise ValueError(f"slides lacks columns {missing}")
    if slides["slide_id"].duplicated().any():
        dup = sorted(slides.loc[slides["slide_id"].duplicated(), "slide_id"])
        raise ValueError(f"slide ids must be unique, repeated: {dup}")

    by_slide: dict[str, str] = {}
    by_patient: dict[tuple[str, str], str] = {}
    if previous is not None and len(previous):
        for row in previous.itertuples(index=False):
            by_slide[str(row.slide_id)] = str(row.split)
            by_patient.setdefault((str(row.tissue), str(row.patient_id)), str(row.split))

    present: dict[str, set[str]] = {}
    for (tissue, _), split in by_patient.items():
        present.setdefault(tissue, set()).add(split)

    new_patients = {
        (str(r.tissue), str(r.patient_id))
        for r in slides.itertuples(index=False)
        if str(r.slide_id) not in by_slide and (str(r.tissue), str(r.patient_id)) not in by_patient
    }
    for tissue, patient in sorted(new_patients, key=lambda k: (k[0], patient_hash(*k, salt), k[1])):
        have = present.setdefault(tissue, set())
        split = _hashed_split(patient_hash(tissue, patient, salt), fractions)
        if len(have) < len(SPLITS) and split in have:
            split = next(s for s in _FILL_ORDER if s not in have)
        by_patient[(tissue, patient)] = split
        have.add(split)

    out = slides.copy()
    out["split"] = [
        by_slide.get(str(r.slide_id), by_patient[(str(r.tissue), str(r.patient_id))])
        for r in slides.itertuples(index=False)
    ]
    return out.sort_values("slide_id", kind="stable").reset_index(drop=True)


def patient_leakage(splits: pd.DataFrame) -> pd.DataFrame:
    """Patients (per tissue) whose slides are in more than one split.

    Returns
    -------
    DataFrame
        Columns ``tissue``, ``patient_id``, ``splits`` (sorted, comma-joined); empty if none leak.
    """
    groups = splits.groupby(["tissue", "patient_id"], sort=True)["split"].agg(
        lambda s: ",".join(sorted(set(s)))
    )
    leaked = groups[groups.str.contains(",")]
    return leaked.rename("splits").reset_index()


def split_coverage(splits: pd.DataFrame) -> pd.DataFrame:
    """Number of patients per tissue and split (columns train, val, test)."""
    counts = (
        splits.drop_duplicates(["tissue", "patient_id", "split"])
        .groupby(["tissue", "split"])
        .size()
        .unstack(fill_value=0)
    )
    return counts.reindex(columns=list(SPLITS), fill_value=0)


def patch_stores(splits: pd.DataFrame, tissues: Sequence[str], split: str) -> list[str]:
    """Patch-store paths of the ``tissues``' slides in ``split`` that hold patches, by slide id."""
    rows = splits[splits["tissue"].isin(list(tissues)) & (splits["split"] == split)]
    rows = rows[rows["n_patches"] > 0].sort_values("slide_id")
    return [str(p) for p in rows["patch_store"]]
