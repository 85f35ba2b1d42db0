"""Physics stages per slide and their checks: ``super_resolved_holograms``,
``autofocused_heights``, ``mhpr_ground_truth``.

Each asset reads its inputs by path, runs one core task per FOV on Dask
(:mod:`holo_pipeline.datasets.slides`), writes one store atomically and reports metadata. The checks
beside each asset are blocking: bad physics never reaches the patch datasets.

Imported (format 2) slides: ``scan_grid: 1`` frames are only normalised; unknown heights are
searched over the stage range; a slide with one height has no ground truth, so
``mhpr_ground_truth`` records an observation saying so and does not materialise, and the run stops
cleanly there (``patch_dataset`` is skipped).
"""

import dataclasses
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd

from holo_pipeline.catalog import conform_table
from holo_pipeline.datasets.compute import DaskSettings, map_tasks
from holo_pipeline.datasets.previews import field_thumbnail_png, markdown_image, residual_curve_png
from holo_pipeline.datasets.slides import (
    autofocus_task,
    phase_retrieval_task,
    super_resolve_task,
)
from holo_pipeline.datasets.stores import (
    open_field_store,
    open_hologram_store,
    write_field_store,
    write_hologram_store,
    write_parquet,
)
from holo_pipeline.defs.assets.ingest import SLIDES_GROUP, raw_scans
from holo_pipeline.defs.partitions import slides_partitions
from holo_pipeline.defs.resources import CatalogResource, DaskResource, ProcessingResource
from holo_pipeline.instrument import read_slide

EAGER = dg.AutomationCondition.eager()
# Per-slide physics steps retry a transient failure (a Dask worker lost, a filesystem hiccup) twice,
# after ~10 s and ~20 s. Rerunning is safe: each step rewrites its one store atomically.
# raw_scans has no retry: bad input fails once with its RawDataError.
TRANSIENT_RETRY = dg.RetryPolicy(
    max_retries=2, delay=10, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)
# What every per-slide physics step shares: one partition per slide, materialised as soon as its
# inputs are, at most `holo_cpu` of them at once, transient failures retried.
SLIDE_STEP: dict[str, Any] = {
    "partitions_def": slides_partitions,
    "group_name": SLIDES_GROUP,
    "automation_condition": EAGER,
    "pool": "holo_cpu",
    "retry_policy": TRANSIENT_RETRY,
}
# What every per-slide check shares: the step's partitions, and a failure stops what is downstream.
SLIDE_CHECK: dict[str, Any] = {"partitions_def": slides_partitions, "blocking": True}
# Pod resources when the k8s_job_executor runs each step in its own pod (deploy/README.md); ignored
# by the local executors. MH-PR holds a slide's 8 holograms and field per FOV in every worker.
MHPR_K8S = {
    "dagster-k8s/config": {
        "container_config": {
            "resources": {
                "requests": {"cpu": "2", "memory": "8Gi"},
                "limits": {"cpu": "4", "memory": "16Gi"},
            }
        }
    }
}
# Heights are compared in float64 metres; allow for rounding of the µm values in slide.yaml.
_HEIGHT_SLACK_M = 1e-9


def map_fovs(
    context: dg.AssetExecutionContext,
    fn: Callable[..., Any],
    args: Sequence[tuple[Any, ...]],
    settings: DaskSettings,
) -> list[Any]:
    """:func:`map_tasks` over a slide's FOVs, logging its start, each FOV i/n with an ETA, and
    the throughput to the run log."""
    name = context.asset_key.to_user_string()
    n = len(args)
    context.log.info(
        f"{name}: {n} FOVs as Dask tasks ({settings.scheduler}, {settings.n_workers} workers)"
    )
    start = time.perf_counter()

    def progress(i: int, total: int) -> None:
        elapsed = time.perf_counter() - start
        eta = elapsed / i * (total - i)
        context.log.info(f"{name}: FOV {i}/{total} done ({elapsed:.1f} s, ETA {eta:.0f} s)")

    results = map_tasks(fn, args, settings, on_done=progress)
    seconds = time.perf_counter() - start
    context.log.info(
        f"{name}: {n} FOVs in {seconds:.1f} s ({60 * n / max(seconds, 1e-9):.1f} FOVs per minute)"
    )
    return results


@dg.asset(
    **SLIDE_STEP,
    deps=[raw_scans],
    code_version="super_resolved_holograms-2",
    kinds={"zarr", "dask"},
    description="Pixel super-resolved, flat-field normalised holograms registered to height 0.",
)
def super_resolved_holograms(
    context: dg.AssetExecutionContext,
    catalog: CatalogResource,
    dask: DaskResource,
    processing: ProcessingResource,
) -> dg.MaterializeResult:
    slide_id = context.partition_key
    slide = read_slide(catalog.slide_path(slide_id))
    results = map_fovs(
        context,
        super_resolve_task,
        [(str(slide.path), fov, processing.background) for fov in slide.fov_ids],
        dask.settings(),
    )
    holograms = np.stack([r.holograms for r in results])
    height_shifts = np.stack([r.height_shifts for r in results])
    super_resolution = (
        "none: scan_grid 1 (frames already super-resolved or single-shot), normalisation only"
        if slide.scan_grid == 1 and slide.sr_factor == 1
        else f"shift-and-add of the {slide.scan_grid}×{slide.scan_grid} scan, ×{slide.sr_factor}"
    )
    normalisation = (
        f"background frames ({slide.background})"
        if slide.background != "none"
        else f"flat_field_dn ({processing.background})"
    )
    path = write_hologram_store(
        catalog.path("super_resolved_holograms", slide_id=slide_id),
        holograms,
        scan_shifts=np.stack([r.scan_shifts for r in results]),
        height_shifts=height_shifts,
        attrs={
            "slide_id": slide_id,
            "fov_ids": list(slide.fov_ids),
            "sr_factor": slide.sr_factor,
            "pixel_size_m": slide.sr_pixel_size_m,
            "wavelength_m": slide.wavelength_m,
            "z2_nominal_m": _nominal_or_none(slide.z2_nominal_m),
            "background": processing.background,
            "super_resolution": super_resolution,
            "normalisation": normalisation,
        },
    )
    return dg.MaterializeResult(
        metadata={
            "n_fov": holograms.shape[0],
            "shape": str(holograms.shape),
            "dtype": str(holograms.dtype),
            "background_median": float(np.median(holograms)),
            "max_height_shift_px": float(np.abs(height_shifts).max()),
            "super_resolution": super_resolution,
            "normalisation": normalisation,
            "path": dg.MetadataValue.path(str(path)),
        }
    )


@dg.asset_check(
    asset=super_resolved_holograms,
    **SLIDE_CHECK,
    description="One hologram per FOV and height of the SR size; every value finite and > 0 mean.",
)
def super_resolved_holograms_valid(
    context: dg.AssetCheckExecutionContext, catalog: CatalogResource
) -> dg.AssetCheckResult:
    slide_id = context.partition_key
    slide = read_slide(catalog.slide_path(slide_id))
    store = open_hologram_store(catalog.path("super_resolved_holograms", slide_id=slide_id))
    h, w = slide.frame_shape
    expected = (len(slide.fov_ids), slide.n_heights, h * slide.sr_factor, w * slide.sr_factor)
    data = store.holograms[...]
    n_bad = int(np.size(data) - np.count_nonzero(np.isfinite(data)))
    return dg.AssetCheckResult(
        passed=data.shape == expected and n_bad == 0 and bool(np.mean(data) > 0),
        metadata={"shape": str(data.shape), "expected": str(expected), "non_finite": n_bad},
    )


@dg.asset(
    **SLIDE_STEP,
    deps=[super_resolved_holograms],
    code_version="autofocused_heights-4",
    kinds={"parquet", "dask"},
    description="z2 of every FOV and height by edge-sparsity autofocus within the stage range.",
)
def autofocused_heights(
    context: dg.AssetExecutionContext, catalog: CatalogResource, dask: DaskResource
) -> dg.MaterializeResult:
    slide_id = context.partition_key
    slide = read_slide(catalog.slide_path(slide_id))
    sr_path = str(catalog.path("super_resolved_holograms", slide_id=slide_id))
    found = map_fovs(
        context,
        autofocus_task,
        [(str(slide.path), sr_path, i) for i in range(len(slide.fov_ids))],
        dask.settings(),
    )
    rows = []
    for fov_id, (heights, outliers) in zip(slide.fov_ids, found, strict=True):
        for h, (z, outlier) in enumerate(zip(heights, outliers, strict=True)):
            rows.append(
                {
                    "slide_id": slide_id,
                    "fov_id": fov_id,
                    "height_index": h,
                    "z2_nominal_m": float(slide.z2_nominal_m[h]),
                    "z2_m": float(z),
                    "outlier": bool(outlier),
                }
            )
    entry = catalog.entry("autofocused_heights")
    table = conform_table(pd.DataFrame(rows), entry)
    path = write_parquet(table, catalog.path("autofocused_heights", slide_id=slide_id))
    lo, hi = (z * 1e6 for z in slide.stage_range_m)
    metadata: dict[str, Any] = {
        "n_rows": len(table),
        "n_outliers_replaced": int(table["outlier"].sum()),
        "heights": (
            f"nominal ± {slide.z2_tolerance_m * 1e6:g} µm"
            if slide.heights_known
            else f"unknown: searched over {lo:g}–{hi:g} µm"
        ),
        "z2_um": dg.MetadataValue.json([round(float(z) * 1e6, 2) for z in table["z2_m"]]),
        "ground_truth": ground_truth_note(slide.n_heights),
        "path": dg.MetadataValue.path(str(path)),
    }
    if slide.heights_known:
        metadata["mean_abs_offset_from_nominal_um"] = float(
            (table["z2_m"] - table["z2_nominal_m"]).abs().mean() * 1e6
        )
    return dg.MaterializeResult(metadata=metadata)


#: MH-PR needs at least this many heights; a slide with fewer has no ground truth.
MIN_HEIGHTS_FOR_GROUND_TRUTH = 2


def ground_truth_note(n_heights: int) -> str:
    """What the graph makes of a slide's heights: MH-PR ground truth, or none."""
    if n_heights >= MIN_HEIGHTS_FOR_GROUND_TRUTH:
        return f"MH-PR with {n_heights} heights"
    return (
        f"no ground truth: {n_heights} height (MH-PR needs >= {MIN_HEIGHTS_FOR_GROUND_TRUTH}); "
        "the graph stops at autofocused_heights"
    )


def _nominal_or_none(z2: np.ndarray) -> list[float | None]:
    """Heights as plain floats, None where unknown (NaN is not JSON)."""
    return [float(z) if np.isfinite(z) else None for z in z2]


@dg.asset_check(
    asset=autofocused_heights,
    **SLIDE_CHECK,
    description="Every height found, finite, in the stage range and within tolerance of nominal.",
)
def autofocused_heights_in_stage_range(
    context: dg.AssetCheckExecutionContext, catalog: CatalogResource
) -> dg.AssetCheckResult:
    slide_id = context.partition_key
    slide = read_slide(catalog.slide_path(slide_id))
    table = pd.read_parquet(catalog.path("autofocused_heights", slide_id=slide_id))
    lo, hi = slide.stage_range_m
    z = table["z2_m"].to_numpy()
    # unknown heights (NaN nominal) have no tolerance: the stage range is their only bound
    offset = np.nan_to_num(np.abs(z - table["z2_nominal_m"].to_numpy()), nan=0.0)
    inside = np.isfinite(z) & (z >= lo - _HEIGHT_SLACK_M) & (z <= hi + _HEIGHT_SLACK_M)
    near = offset <= slide.z2_tolerance_m + _HEIGHT_SLACK_M
    expected_rows = len(slide.fov_ids) * slide.n_heights
    return dg.AssetCheckResult(
        passed=bool(len(table) == expected_rows and inside.all() and near.all()),
        metadata={
            "rows": len(table),
            "expected_rows": expected_rows,
            "outside_stage_range": int((~inside).sum()),
            "beyond_tolerance": int((~near).sum()),
            "max_offset_um": float(offset.max() * 1e6) if len(offset) else 0.0,
            "tolerance_um": slide.z2_tolerance_m * 1e6,
        },
    )


@dg.asset(
    **SLIDE_STEP,
    deps=[super_resolved_holograms, autofocused_heights],
    code_version="mhpr_ground_truth-3",
    kinds={"zarr", "dask"},
    op_tags=MHPR_K8S,
    output_required=False,
    description=(
        "Multi-height phase retrieval of every FOV: complex field at the sample plane and the "
        "heights it was focused with (autofocused, common offset refocused). A slide with one "
        "height has no ground truth: an observation records it and nothing materialises."
    ),
)
def mhpr_ground_truth(
    context: dg.AssetExecutionContext,
    catalog: CatalogResource,
    dask: DaskResource,
    processing: ProcessingResource,
) -> Iterator[dg.MaterializeResult]:
    slide_id = context.partition_key
    sr_path = catalog.path("super_resolved_holograms", slide_id=slide_id)
    sr = open_hologram_store(sr_path)
    attrs = sr.attrs
    n_heights = int(sr.holograms.shape[1])
    if n_heights < MIN_HEIGHTS_FOR_GROUND_TRUTH:
        note = ground_truth_note(n_heights)
        context.log.info(f"mhpr_ground_truth: slide {slide_id}: {note}")
        context.log_event(
            dg.AssetObservation(
                asset_key=context.asset_key,
                partition=slide_id,
                metadata={"skipped": True, "ground_truth": note, "n_heights": n_heights},
            )
        )
        return
    table = pd.read_parquet(catalog.path("autofocused_heights", slide_id=slide_id))
    z2 = heights_by_fov(table, attrs["fov_ids"])
    settings = processing.phase_retrieval()
    results = map_fovs(
        context,
        phase_retrieval_task,
        [
            (str(sr_path), i, z2[i], attrs["wavelength_m"], attrs["pixel_size_m"], settings)
            for i in range(len(attrs["fov_ids"]))
        ],
        dask.settings(),
    )
    field = np.stack([r.field for r in results])
    residuals = np.stack([r.residuals for r in results])
    refined = np.stack([r.z2 for r in results])
    path = write_field_store(
        catalog.path("mhpr_ground_truth", slide_id=slide_id),
        field,
        residuals=residuals,
        z2=refined,
        attrs={
            "slide_id": slide_id,
            "fov_ids": attrs["fov_ids"],
            "pixel_size_m": attrs["pixel_size_m"],
            "wavelength_m": attrs["wavelength_m"],
            **dataclasses.asdict(settings),  # iterations, momentum, cutoff, refocus, amplitude cap
        },
    )
    metadata: dict[str, Any] = {
        "n_fov": field.shape[0],
        "shape": str(field.shape),
        "dtype": str(field.dtype),
        "residual_first": float(residuals[:, 0].mean()),
        "residual_last": float(residuals[:, -1].mean()),
        "refocus_offset_mean_um": float((refined - np.stack(z2)).mean() * 1e6),
        "residual_curve": dg.MetadataValue.md(
            markdown_image(residual_curve_png(residuals, list(attrs["fov_ids"])), "residuals")
        ),
        "fov0_amplitude_phase": dg.MetadataValue.md(
            markdown_image(field_thumbnail_png(field[0]), "amplitude and phase")
        ),
        "path": dg.MetadataValue.path(str(path)),
    }
    yield dg.MaterializeResult(metadata=metadata)


def heights_by_fov(
    table: pd.DataFrame, fov_ids: list[str], column: str = "z2_m"
) -> list[np.ndarray]:
    """Per FOV in ``fov_ids`` order, ``column`` of the heights table (metres) in height order."""
    ordered = table.sort_values(["fov_id", "height_index"])
    groups = {fov: g[column].to_numpy(np.float64) for fov, g in ordered.groupby("fov_id")}
    return [groups[fov] for fov in fov_ids]


@dg.asset_check(
    asset=mhpr_ground_truth,
    **SLIDE_CHECK,
    description="Field finite with the SR shape; the MH-PR residual fell in every FOV.",
)
def mhpr_ground_truth_converged(
    context: dg.AssetCheckExecutionContext, catalog: CatalogResource
) -> dg.AssetCheckResult:
    slide_id = context.partition_key
    sr = open_hologram_store(catalog.path("super_resolved_holograms", slide_id=slide_id))
    store = open_field_store(catalog.path("mhpr_ground_truth", slide_id=slide_id))
    field = store.field[...]
    expected = (sr.holograms.shape[0], *sr.holograms.shape[2:])
    fell = store.residuals[:, -1] < store.residuals[:, 0]
    finite = bool(np.isfinite(field).all() and np.isfinite(store.residuals).all())
    return dg.AssetCheckResult(
        passed=bool(field.shape == expected and finite and fell.all()),
        metadata={
            "shape": str(field.shape),
            "expected": str(expected),
            "finite": finite,
            "fovs_where_residual_fell": int(fell.sum()),
            "residual_ratio_last_over_first": float(
                np.max(store.residuals[:, -1] / np.maximum(store.residuals[:, 0], 1e-30))
            ),
        },
    )
