"""Training data: ``patch_dataset`` per slide and ``dataset_splits`` over all slides, with checks.

``dataset_splits`` reads its own previous table as the ledger that keeps old slides in their split
(:func:`holo_pipeline.datasets.splits.assign_splits`); its leakage check is blocking, so no model
trains on a split that puts a patient in two sets.
"""

import dagster as dg
import numpy as np
import pandas as pd

from holo_pipeline.catalog import conform_table, empty_table
from holo_pipeline.datasets.patch_store import open_patch_store, write_patch_store
from holo_pipeline.datasets.slides import patches_task
from holo_pipeline.datasets.splits import (
    SPLITS,
    assign_splits,
    patient_leakage,
    split_coverage,
)
from holo_pipeline.datasets.stores import open_field_store, open_hologram_store, write_parquet
from holo_pipeline.defs.assets.holograms import (
    SLIDE_CHECK,
    SLIDE_STEP,
    autofocused_heights,
    map_fovs,
    mhpr_ground_truth,
    super_resolved_holograms,
)
from holo_pipeline.defs.partitions import SLIDES
from holo_pipeline.defs.resources import CatalogResource, DaskResource, ProcessingResource
from holo_pipeline.instrument import read_slide

DATASETS_GROUP = "datasets"


@dg.asset(
    **SLIDE_STEP,
    deps=[super_resolved_holograms, autofocused_heights, mhpr_ground_truth],
    code_version="patch_dataset-2",
    kinds={"zarr", "dask"},
    description=(
        "Non-overlapping patches: back-propagated holograms (inputs) and MH-PR (target); a "
        "centred grid covers what fits in a FOV of any size, the remainder is reported."
    ),
)
def patch_dataset(
    context: dg.AssetExecutionContext,
    catalog: CatalogResource,
    dask: DaskResource,
    processing: ProcessingResource,
) -> dg.MaterializeResult:
    slide_id = context.partition_key
    slide = read_slide(catalog.slide_path(slide_id))
    sr_path = catalog.path("super_resolved_holograms", slide_id=slide_id)
    field_path = catalog.path("mhpr_ground_truth", slide_id=slide_id)
    attrs = open_hologram_store(sr_path).attrs
    fov_ids = list(attrs["fov_ids"])
    # The heights MH-PR focused its field with (autofocus plus the refocused common offset), so
    # that inputs and target are focused on the same plane.
    z2 = list(open_field_store(field_path).z2)
    p = processing.patch_size
    sets = map_fovs(
        context,
        patches_task,
        [
            (
                str(sr_path),
                str(field_path),
                i,
                z2[i],
                p,
                attrs["wavelength_m"],
                attrs["pixel_size_m"],
            )
            for i in range(len(fov_ids))
        ],
        dask.settings(),
    )
    n_per_fov = [len(s.origin) for s in sets]
    n_heights = len(z2[0]) if z2 else 0
    path = write_patch_store(
        catalog.path("patch_dataset", slide_id=slide_id),
        np.concatenate([s.inputs for s in sets]) if sets else np.zeros((0, n_heights, p, p, 2)),
        np.concatenate([s.target for s in sets]) if sets else np.zeros((0, p, p, 2)),
        fov_index=np.repeat(np.arange(len(fov_ids)), n_per_fov),
        origin=np.concatenate([s.origin for s in sets]) if sets else np.zeros((0, 2)),
        attrs={
            "slide_id": slide_id,
            "patient_id": slide.patient_id,
            "tissue": slide.tissue,
            "fov_ids": fov_ids,
            "heights_m": [[float(z) for z in zs] for zs in z2],
            "z2_mean_m": [float(np.mean(zs)) for zs in z2],
            "pixel_size_m": attrs["pixel_size_m"],
            "wavelength_m": attrs["wavelength_m"],
            "patch_size": p,
        },
    )
    store = open_patch_store(path)
    ny, nx = open_hologram_store(sr_path).holograms.shape[2:]
    return dg.MaterializeResult(
        metadata={
            "n_patches": store.n_patches,
            "n_fov": len(fov_ids),
            "patches_per_fov": dg.MetadataValue.json(dict(zip(fov_ids, n_per_fov, strict=True))),
            "inputs_shape": str(store.inputs.shape),
            "target_shape": str(store.target.shape),
            "patch_size": p,
            # the centred grid covers what fits; the rest of each FOV is no patch
            "fov_shape": f"{ny}×{nx}",
            "remainder_px": f"{ny % p}×{nx % p}",
            "fov_fraction_in_patches": round((ny // p) * (nx // p) * p * p / (ny * nx), 4),
            "tissue": slide.tissue,
            "patient_id": slide.patient_id,
            "path": dg.MetadataValue.path(str(path)),
        }
    )


@dg.asset_check(
    asset=patch_dataset,
    **SLIDE_CHECK,
    description="Patch count = FOVs × patches per FOV for the configured size; values finite.",
)
def patch_dataset_counts_match_fovs(
    context: dg.AssetCheckExecutionContext, catalog: CatalogResource
) -> dg.AssetCheckResult:
    slide_id = context.partition_key
    sr = open_hologram_store(catalog.path("super_resolved_holograms", slide_id=slide_id))
    store = open_patch_store(catalog.path("patch_dataset", slide_id=slide_id))
    n_fov, n_heights, ny, nx = sr.holograms.shape
    p = int(store.attrs["patch_size"])
    per_fov = (ny // p) * (nx // p)
    counts = np.bincount(store.fov_index, minlength=n_fov)
    finite = bool(np.isfinite(store.inputs[...]).all() and np.isfinite(store.target[...]).all())
    shape_ok = store.inputs.shape[1:] == (n_heights, p, p, 2) and store.target.shape[1:] == (
        p,
        p,
        2,
    )
    return dg.AssetCheckResult(
        passed=bool(
            store.n_patches == n_fov * per_fov and (counts == per_fov).all() and shape_ok and finite
        ),
        metadata={
            "n_patches": store.n_patches,
            "expected": n_fov * per_fov,
            "inputs_shape": str(store.inputs.shape),
            "finite": finite,
        },
    )


SPLITS_CONDITION = (
    dg.AutomationCondition.any_deps_updated().since_last_handled()
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress()
).with_label("after_any_slide_updated")


def _slides_with_patches(catalog: CatalogResource, slide_ids: list[str]) -> pd.DataFrame:
    rows = []
    for slide_id in sorted(slide_ids):
        path = catalog.path("patch_dataset", slide_id=slide_id)
        try:
            store = open_patch_store(path)
        except FileNotFoundError:
            continue  # not processed (yet, or a bad slide): it joins the splits when it has patches
        rows.append(
            {
                "slide_id": slide_id,
                "patient_id": str(store.attrs["patient_id"]),
                "tissue": str(store.attrs["tissue"]),
                "n_patches": store.n_patches,
                "n_fov": len(store.attrs["fov_ids"]),
                "patch_store": str(path),
            }
        )
    return pd.DataFrame(
        rows, columns=["slide_id", "patient_id", "tissue", "n_patches", "n_fov", "patch_store"]
    )


@dg.asset(
    deps=[patch_dataset],
    group_name=DATASETS_GROUP,
    code_version="dataset_splits-1",
    automation_condition=SPLITS_CONDITION,
    kinds={"parquet"},
    description="train/val/test per slide, by patient within each tissue; stable as slides arrive.",
)
def dataset_splits(
    context: dg.AssetExecutionContext, catalog: CatalogResource, processing: ProcessingResource
) -> dg.MaterializeResult:
    entry = catalog.entry("dataset_splits")
    path = catalog.path("dataset_splits")
    slides = _slides_with_patches(catalog, context.instance.get_dynamic_partitions(SLIDES))
    previous = pd.read_parquet(path) if path.exists() else None
    table = assign_splits(
        slides, previous, fractions=processing.split_fractions, salt=processing.split_salt
    )
    table = conform_table(table, entry) if len(table) else empty_table(entry)
    write_parquet(table, path)
    counts = split_coverage(table) if len(table) else pd.DataFrame()
    return dg.MaterializeResult(
        metadata={
            "n_slides": len(table),
            "n_patients": int(table[["tissue", "patient_id"]].drop_duplicates().shape[0]),
            "patches_per_split": dg.MetadataValue.json(
                {s: int(table.loc[table["split"] == s, "n_patches"].sum()) for s in SPLITS}
            ),
            "patients_per_tissue_and_split": dg.MetadataValue.json(
                {t: {k: int(v) for k, v in row.items()} for t, row in counts.iterrows()}
            ),
            "path": dg.MetadataValue.path(str(path)),
        }
    )


@dg.asset_check(
    asset=dataset_splits,
    blocking=True,
    description="No patient (within a tissue) has slides in two splits.",
)
def dataset_splits_no_patient_leakage(catalog: CatalogResource) -> dg.AssetCheckResult:
    table = pd.read_parquet(catalog.path("dataset_splits"))
    leaked = patient_leakage(table)
    return dg.AssetCheckResult(
        passed=leaked.empty,
        metadata={
            "leaking_patients": len(leaked),
            "details": dg.MetadataValue.json(leaked.to_dict(orient="records")),
        },
    )


@dg.asset_check(
    asset=dataset_splits,
    description="Every tissue with at least 3 patients has a patient in each of train, val, test.",
)
def dataset_splits_cover_each_tissue(catalog: CatalogResource) -> dg.AssetCheckResult:
    table = pd.read_parquet(catalog.path("dataset_splits"))
    counts = split_coverage(table) if len(table) else pd.DataFrame(columns=list(SPLITS))
    eligible = counts[counts.sum(axis=1) >= 3]
    lacking = sorted(eligible.index[(eligible == 0).any(axis=1)])
    return dg.AssetCheckResult(
        passed=not lacking,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"tissues_lacking_a_split": dg.MetadataValue.json(lacking)},
    )
