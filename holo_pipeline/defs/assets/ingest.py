"""Ingest: ``raw_scans``, one partition per slide in the landing folder (validated, described).

The slide stays where it landed; this asset validates every page and records a content fingerprint
as its data version, so downstream partitions are stale only when the raw data really changed.
"""

import dagster as dg

from holo_pipeline.datasets.slides import slide_fingerprint
from holo_pipeline.defs.partitions import slides_partitions
from holo_pipeline.defs.resources import CatalogResource
from holo_pipeline.instrument import RawDataError, validate_slide

SLIDES_GROUP = "slides"


@dg.asset(
    partitions_def=slides_partitions,
    group_name=SLIDES_GROUP,
    code_version="raw_scans-1",
    kinds={"tiff"},
    description=(
        "A raw slide in the landing folder: 6×6 sub-pixel scans at 8 heights per FOV (format 1), "
        "or imported frames at any number of heights (format 2)."
    ),
)
def raw_scans(context: dg.AssetExecutionContext, catalog: CatalogResource) -> dg.MaterializeResult:
    """Validate a landed slide (every page of every TIFF) and describe it."""
    path = catalog.slide_path(context.partition_key)
    try:
        slide = validate_slide(path)
    except RawDataError as exc:
        context.log.error(f"RawDataError: {exc}")
        raise
    frame_h, frame_w = slide.frame_shape
    return dg.MaterializeResult(
        data_version=dg.DataVersion(slide_fingerprint(path)),
        metadata={
            "slide_id": slide.slide_id,
            "patient_id": slide.patient_id,
            "tissue": slide.tissue,
            "n_fov": len(slide.fov_ids),
            "n_heights": slide.n_heights,
            "frames_per_height": slide.n_frames,
            "frame_shape": f"{frame_h}×{frame_w}",
            "sr_factor": slide.sr_factor,
            "format_version": slide.format_version,
            "z2_nominal_um": dg.MetadataValue.json(
                [round(z * 1e6, 2) for z in slide.z2_nominal_m] if slide.heights_known else None
            ),
            "z2_search_range_um": dg.MetadataValue.json(
                [round(z * 1e6, 2) for z in slide.stage_range_m]
            ),
            "normalisation": (
                f"background frames ({slide.background})"
                if slide.background != "none"
                else f"flat_field_dn {slide.flat_field_dn:g}"
            ),
            "ground_truth": (
                "MH-PR" if slide.n_heights >= 2 else "none: 1 height (MH-PR needs >= 2)"
            ),
            "path": dg.MetadataValue.path(str(path)),
        },
    )
