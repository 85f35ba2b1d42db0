"""Which model reconstructs each tissue: the ``production_models`` table (pandas, no Dagster).

**Default choice.** Among a tissue's trained models (variants ``frozen_rnn``, ``full_transfer``,
``scratch``), the *configuration* — tissue × variant × Nt/N × Mt — with the best mean test ECC over
every ``evaluation_metrics`` row of that configuration; a tie goes to the configuration with fewer
trainable parameters (then the smaller Mt, then the name). Rows of several training seeds of one
configuration (model keys that differ only in a seed) are pooled into that configuration's mean;
the table then names one concrete model of it, the one with the best mean test ECC (ties: the
first key in sort order). Nothing here reads a seed column, so tables with or without one work.

**Pins.** ``production_models:`` at the top level of ``data_catalog.yaml`` maps a tissue to a model
key (``prostate: prostate-frozen_rnn-r0.121-m2-s0``); a pinned tissue uses that model whatever the
scores say. A pin that names no trained model is a :class:`~holo_pipeline.settings.ConfigError`.

**Fallback.** A tissue with no trained model of its own gets the pretrained backbone, flagged
``backbone_fallback`` (the paper shows the backbone applied directly to a new tissue does poorly);
the pretraining tissues get the backbone as their own model (not flagged).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from holo_pipeline.datasets.experiments import VARIANTS
from holo_pipeline.settings import ConfigError

BACKBONE_KEY = "pretrained_backbone"
CONFIGURATION = ("tissue", "variant", "nt_ratio", "n_holograms")
"""The columns that name a model configuration (a seed, if the tables carry one, is not one)."""

CHOICES = ("best_test_ecc", "pinned", "backbone", "backbone_fallback")
"""How a row's model was chosen: best mean test ECC; pinned in the catalog; the backbone for a
pretraining tissue; the backbone for a tissue with no model of its own (flagged)."""

HEIGHT_SELECTION = (
    "Mt of the FOV's heights evenly spread in z2 (lowest and highest included for Mt >= 2), "
    "in ascending z2"
)
INPUT_CONVENTION = (
    "(Mt, H, W, 2) float32 real/imag: each chosen hologram's amplitude back-propagated with zero "
    "phase by the mean z2 of all the FOV's heights (background 1, carrier phase removed)"
)


def _mean_ecc(rows: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    return rows.groupby(by, dropna=False)["ecc"].agg(ecc_mean="mean", n="size").reset_index()


def choose_production_models(
    metrics: pd.DataFrame,
    runs: pd.DataFrame,
    *,
    tissues: Iterable[str],
    pretrain_tissues: Iterable[str] = (),
    pins: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """One row per tissue: the model that reconstructs it and why (see the module docstring).

    Parameters
    ----------
    metrics
        ``evaluation_metrics`` rows (model_key, tissue, variant, nt_ratio, n_holograms, ecc).
        ``backbone_direct`` rows never compete.
    runs
        ``training_runs`` rows (model_key, tissue, variant, nt_ratio, n_holograms,
        trainable_params, model_path): the models that exist.
    tissues
        The tissues to name a model for (tissues with test metrics or a pin are added).
    pretrain_tissues
        Tissues the backbone was trained on.
    pins
        Tissue → model key from the catalog's ``production_models:``.

    Returns
    -------
    DataFrame
        tissue, model_key, variant, nt_ratio, n_holograms, choice, backbone_fallback,
        test_ecc_mean, n_test_patches, trainable_params, model_path; sorted by tissue.

    Raises
    ------
    ConfigError
        If a pin names a model that was not trained.
    ValueError
        If a tissue needs the backbone and it was not trained.
    """
    pins = dict(pins or {})
    runs = runs.set_index("model_key", drop=False)
    scored = metrics[metrics["variant"].isin(VARIANTS) & metrics["model_key"].isin(runs.index)]
    per_key = _mean_ecc(scored, ["model_key", *CONFIGURATION])
    wanted = sorted({*tissues, *scored["tissue"], *pins})
    pretrain = set(pretrain_tissues)
    rows = []
    for tissue in wanted:
        if tissue in pins:
            key = pins[tissue]
            if key not in runs.index:
                raise ConfigError(
                    f"data_catalog.yaml production_models.{tissue}: no trained model {key!r}; "
                    f"trained: {sorted(runs.index)}"
                )
            choice = "pinned"
        else:
            candidates = per_key[per_key["tissue"] == tissue]
            if candidates.empty:
                key = BACKBONE_KEY
                choice = "backbone" if tissue in pretrain else "backbone_fallback"
                if key not in runs.index:
                    raise ValueError(
                        f"tissue {tissue!r} has no model of its own and pretrained_backbone "
                        "has not been trained"
                    )
            else:
                key = _best_key(candidates, scored, runs)
                choice = "best_test_ecc"
        run = runs.loc[key]
        own = per_key[per_key["model_key"] == key]
        rows.append(
            {
                "tissue": tissue,
                "model_key": key,
                "variant": "backbone" if key == BACKBONE_KEY else str(run["variant"]),
                "nt_ratio": float(run["nt_ratio"]),
                "n_holograms": int(run["n_holograms"]),
                "choice": choice,
                "backbone_fallback": choice == "backbone_fallback",
                "test_ecc_mean": float(own["ecc_mean"].iloc[0]) if len(own) else math.nan,
                "n_test_patches": int(own["n"].iloc[0]) if len(own) else pd.NA,
                "trainable_params": run.get("trainable_params", pd.NA),
                "model_path": str(run["model_path"]),
            }
        )
    return pd.DataFrame(rows)


def _best_key(candidates: pd.DataFrame, scored: pd.DataFrame, runs: pd.DataFrame) -> str:
    """The model key of the best configuration among one tissue's ``candidates`` (per key)."""
    tissue_rows = scored[scored["model_key"].isin(candidates["model_key"])]
    configs = _mean_ecc(tissue_rows, list(CONFIGURATION))
    params = (
        candidates.assign(p=candidates["model_key"].map(runs["trainable_params"]).astype(float))
        .groupby(list(CONFIGURATION), dropna=False)["p"]
        .min()
        .fillna(np.inf)
        .rename("params")
        .reset_index()
    )
    configs = configs.merge(params, on=list(CONFIGURATION))
    configs = configs.assign(neg_ecc=-configs["ecc_mean"]).sort_values(
        ["neg_ecc", "params", "n_holograms", "variant", "nt_ratio"], kind="stable"
    )
    best = configs.iloc[0]
    keys = candidates
    for col in CONFIGURATION:
        keys = keys[keys[col] == best[col]]
    keys = keys.assign(neg_ecc=-keys["ecc_mean"]).sort_values(["neg_ecc", "model_key"])
    return str(keys["model_key"].iloc[0])


def model_provenance(model_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """What a published model was trained from, read from its directory.

    Returns ``seed`` and ``best_epoch`` (run.json), ``run_fingerprint`` (the work directory's
    name: a hash of the variant, training data, settings, architecture, Mt, seed and backbone
    bytes; see :mod:`holo_pipeline.model.runs`), ``model_sha256`` (of generator.keras), and from
    the training tiles (transferred models only) ``train_slides`` (JSON list), ``z2_min_um`` /
    ``z2_max_um`` (the heights the training inputs were recorded at) and ``pixel_size_m``.

    Raises
    ------
    FileNotFoundError
        If the directory has no run.json or generator.keras.
    """
    from holo_pipeline.datasets.patch_store import open_patch_store
    from holo_pipeline.model.runs import file_digest

    d = Path(model_dir)
    for name in ("run.json", "generator.keras"):
        if not (d / name).exists():
            raise FileNotFoundError(f"{d}: no {name}; is the model trained?")
    run = json.loads((d / "run.json").read_text())
    work = sorted(p.name for p in d.glob("work-*"))
    out: dict[str, Any] = {
        "seed": run.get("seed"),
        "best_epoch": run.get("best_epoch"),
        "run_fingerprint": work[-1].removeprefix("work-") if work else None,
        "model_sha256": file_digest(d / "generator.keras"),
        "train_slides": None,
        "z2_min_um": math.nan,
        "z2_max_um": math.nan,
        "pixel_size_m": math.nan,
    }
    tiles = d / "train_tiles.zarr"
    if tiles.exists():
        attrs = open_patch_store(tiles).attrs
        heights = np.asarray([z for row in attrs.get("heights_m") or [] for z in row], float)
        out["train_slides"] = json.dumps(list(attrs.get("slide_ids") or []))
        if heights.size:
            out["z2_min_um"] = float(heights.min() * 1e6)
            out["z2_max_um"] = float(heights.max() * 1e6)
        out["pixel_size_m"] = float(attrs.get("pixel_size_m") or math.nan)
    return out


def production_row(table: pd.DataFrame, tissue: str, *, source: str = "production_models") -> dict:
    """The ``production_models`` row of ``tissue``.

    Raises
    ------
    ValueError
        If the table has no row for ``tissue`` (naming the tissues it has).
    """
    rows = table[table["tissue"] == tissue]
    if rows.empty:
        raise ValueError(
            f"{source}: no production model for tissue {tissue!r}; known tissues: "
            f"{sorted(table['tissue'])}"
        )
    return rows.iloc[0].to_dict()
