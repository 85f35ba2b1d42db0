"""Reconstruction assets: ``production_models``, ``reconstructions`` per slide, and
``mhpr_ground_truth_view`` (the MH-PR field as OME-Zarr beside it), with their check.

Thin glue around :mod:`holo_pipeline.reconstruction`. ``production_models`` follows the
evaluation tables and the catalog's pins (a pin change changes its code version);
``reconstructions`` follows new slides and every change of ``production_models`` (eager: an
updated unpartitioned parent requests every slide). The network runs in the ``gpu`` pool, like
training. TensorFlow is imported inside the asset body only.
"""

import json
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd

from holo_pipeline.catalog import conform_table, load_catalog
from holo_pipeline.datasets.previews import field_thumbnail_png, markdown_image
from holo_pipeline.datasets.stores import open_field_store, open_hologram_store, write_parquet
from holo_pipeline.defs.assets.holograms import EAGER, mhpr_ground_truth, super_resolved_holograms
from holo_pipeline.defs.partitions import slides_partitions
from holo_pipeline.defs.resources import CatalogResource
from holo_pipeline.evaluation.comparisons import format_frame
from holo_pipeline.instrument import read_slide
from holo_pipeline.model.runs import fingerprint
from holo_pipeline.profile import Profile
from holo_pipeline.reconstruction.ome import store_attrs, write_field_images
from holo_pipeline.reconstruction.production import (
    BACKBONE_KEY,
    HEIGHT_SELECTION,
    INPUT_CONVENTION,
    choose_production_models,
    model_provenance,
    production_row,
)
from holo_pipeline.reconstruction.reconstruct import (
    ECC_THRESHOLD,
    OVERLAP,
    TILE,
    compare_with_mhpr,
    reconstruct_fov,
)

RECONSTRUCTIONS_GROUP = "reconstructions"
#: Thumbnails in the run metadata: the first few FOVs.
THUMBNAILS = 2


class ReconstructionConfig(dg.Config):
    """Run parameters of ``reconstructions`` (defaults: the core's)."""

    tile: int = TILE
    """Tile side in pixels (rounded down to the network's size multiple)."""
    overlap: int = OVERLAP
    """Least overlap of neighbouring tiles in pixels (the blend's width)."""
    batch_size: int = 2
    """Tiles per forward pass."""


def _versions(instance: dg.DagsterInstance, model_key: str) -> dict[str, str | None]:
    """Dagster code and data version of the model's latest materialisation (None if unknown)."""
    if model_key == BACKBONE_KEY:
        records_filter = dg.AssetRecordsFilter(asset_key=dg.AssetKey(BACKBONE_KEY))
    else:
        records_filter = dg.AssetRecordsFilter(
            asset_key=dg.AssetKey("transferred_models"), asset_partitions=[model_key]
        )
    records = instance.fetch_materializations(records_filter, limit=1).records
    tags = (records[0].asset_materialization.tags or {}) if records else {}
    return {
        "code_version": tags.get("dagster/code_version"),
        "data_version": tags.get("dagster/data_version"),
    }


def build_reconstruction_assets(profile: Profile) -> tuple[list[Any], list[Any]]:
    """The reconstruction assets and checks for ``profile`` (its tissues; its catalog's pins)."""
    plan = profile.plan
    tissues = [*plan.pretrain_tissues, *(t for t, _, _ in plan.transfer)]
    pins = load_catalog(profile.source or None).production_pins

    @dg.asset(
        deps=["evaluation_metrics", "training_runs"],
        group_name=RECONSTRUCTIONS_GROUP,
        automation_condition=EAGER,
        code_version=f"production_models-1-pins-{fingerprint(sorted(pins.items()))[:8]}",
        kinds={"parquet"},
        description="Per tissue, the model reconstructions use: best test ECC, or pinned.",
    )
    def production_models(
        context: dg.AssetExecutionContext, catalog: CatalogResource
    ) -> dg.MaterializeResult:
        metrics = pd.read_parquet(catalog.path("evaluation_metrics"))
        runs = pd.read_parquet(catalog.path("training_runs"))
        pins_now = catalog.catalog().production_pins
        chosen = choose_production_models(
            metrics, runs, tissues=tissues, pretrain_tissues=plan.pretrain_tissues, pins=pins_now
        )
        rows = []
        for row in chosen.to_dict(orient="records"):
            rows.append(
                {
                    **row,
                    "height_selection": HEIGHT_SELECTION,
                    "input_convention": INPUT_CONVENTION,
                    **model_provenance(Path(row["model_path"]).parent),
                    **_versions(context.instance, row["model_key"]),
                }
            )
        entry = catalog.entry("production_models")
        table = conform_table(pd.DataFrame(rows), entry)
        path = write_parquet(table, catalog.path("production_models"))
        fallback = sorted(table.loc[table["backbone_fallback"], "tissue"])
        if fallback:
            context.log.warning(f"no model of their own, the backbone reconstructs: {fallback}")
        shown = ["tissue", "model_key", "choice", "n_holograms", "test_ecc_mean"]
        return dg.MaterializeResult(
            metadata={
                "rows": len(table),
                "models": dg.MetadataValue.md(format_frame(table[shown])),
                "backbone_fallback": dg.MetadataValue.json(fallback),
                "pins": dg.MetadataValue.json(pins_now),
                "path": dg.MetadataValue.path(str(path)),
            }
        )

    @dg.asset(
        partitions_def=slides_partitions,
        deps=[super_resolved_holograms, mhpr_ground_truth, production_models],
        group_name=RECONSTRUCTIONS_GROUP,
        automation_condition=EAGER,
        pool="gpu",
        code_version="reconstructions-1",
        kinds={"tensorflow", "zarr"},
        description=(
            "The tissue's production model on every whole FOV (blended tiles), as OME-Zarr "
            "(amplitude, phase; µm; pyramid), scored against MH-PR."
        ),
    )
    def reconstructions(
        context: dg.AssetExecutionContext,
        config: ReconstructionConfig,
        catalog: CatalogResource,
    ) -> dg.MaterializeResult:
        from holo_pipeline.model import load_generator

        slide_id = context.partition_key
        tissue = read_slide(catalog.slide_path(slide_id)).tissue
        model = production_row(
            pd.read_parquet(catalog.path("production_models")), tissue, source="production_models"
        )
        sr = open_hologram_store(catalog.path("super_resolved_holograms", slide_id=slide_id))
        truth = open_field_store(catalog.path("mhpr_ground_truth", slide_id=slide_id))
        fov_ids = list(sr.attrs["fov_ids"])
        generator = load_generator(model["model_path"])
        results, scores = [], {}
        for i, fov_id in enumerate(fov_ids):
            # the heights MH-PR focused with, as the patch dataset's inputs were built
            result = reconstruct_fov(
                generator,
                np.asarray(sr.holograms[i]),
                truth.z2[i],
                n_holograms=int(model["n_holograms"]),
                wavelength=float(sr.attrs["wavelength_m"]),
                pixel_size=float(sr.attrs["pixel_size_m"]),
                fov_id=fov_id,
                tile=config.tile,
                overlap=config.overlap,
                batch_size=config.batch_size,
            )
            scores[fov_id] = compare_with_mhpr(result.field, np.asarray(truth.field[i]))
            results.append(result)
            context.log.info(
                f"{fov_id}: {result.seconds:.2f} s, ECC {scores[fov_id]['ecc']:.3f} vs MH-PR"
            )
        path = write_field_images(
            catalog.path("reconstructions", slide_id=slide_id),
            {r.fov_id: r.field for r in results},
            pixel_size_m=float(sr.attrs["pixel_size_m"]),
            attrs={
                "source": "network",
                "slide_id": slide_id,
                "tissue": tissue,
                "model_key": str(model["model_key"]),
                "n_holograms": int(model["n_holograms"]),
                "backbone_fallback": bool(model["backbone_fallback"]),
                "tile": config.tile,
                "overlap": config.overlap,
            },
            fov_attrs={
                r.fov_id: {
                    "seconds": r.seconds,
                    "heights": [int(h) for h in r.heights],
                    **scores[r.fov_id],
                }
                for r in results
            },
        )
        per_fov = pd.DataFrame(
            [{"fov_id": r.fov_id, "seconds": r.seconds, **scores[r.fov_id]} for r in results]
        )
        thumbnails = []
        for i, r in enumerate(results[:THUMBNAILS]):
            thumbnails.append(f"**{r.fov_id}** network ({model['model_key']})")
            thumbnails.append(markdown_image(field_thumbnail_png(r.field), "network"))
            thumbnails.append(f"**{r.fov_id}** MH-PR")
            thumbnails.append(markdown_image(field_thumbnail_png(truth.field[i]), "MH-PR"))
        return dg.MaterializeResult(
            metadata={
                "model_key": str(model["model_key"]),
                "n_holograms": int(model["n_holograms"]),
                "backbone_fallback": bool(model["backbone_fallback"]),
                "n_fov": len(results),
                "seconds_per_fov": dg.MetadataValue.float(float(per_fov["seconds"].mean())),
                "ecc_min": dg.MetadataValue.float(float(per_fov["ecc"].min())),
                "ecc_mean": dg.MetadataValue.float(float(per_fov["ecc"].mean())),
                "amplitude_rmse_mean": dg.MetadataValue.float(
                    float(per_fov["amplitude_rmse"].mean())
                ),
                "per_fov": dg.MetadataValue.md(format_frame(per_fov)),
                "amplitude_phase": dg.MetadataValue.md("\n\n".join(thumbnails)),
                "path": dg.MetadataValue.path(str(path)),
            }
        )

    @dg.asset_check(
        asset=reconstructions,
        partitions_def=slides_partitions,
        blocking=False,
        description=f"Every FOV's ECC against its MH-PR ground truth is at least {ECC_THRESHOLD}.",
    )
    def reconstructions_close_to_mhpr(
        context: dg.AssetCheckExecutionContext, catalog: CatalogResource
    ) -> dg.AssetCheckResult:
        import zarr

        path = catalog.path("reconstructions", slide_id=context.partition_key)
        fov_ids = store_attrs(path)["fov_ids"]
        ecc = {
            f: float(zarr.open_group(path / f, mode="r").attrs["holo_pipeline"]["ecc"])
            for f in fov_ids
        }
        below = sorted(f for f, v in ecc.items() if not v >= ECC_THRESHOLD)
        return dg.AssetCheckResult(
            passed=not below,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "threshold": ECC_THRESHOLD,
                "ecc_min": dg.MetadataValue.float(min(ecc.values())),
                "fovs_below": dg.MetadataValue.json(below),
                "ecc_per_fov": dg.MetadataValue.json(json.loads(json.dumps(ecc))),
            },
        )

    @dg.asset(
        partitions_def=slides_partitions,
        deps=[mhpr_ground_truth],
        group_name=RECONSTRUCTIONS_GROUP,
        automation_condition=EAGER,
        pool="holo_cpu",
        code_version="mhpr_ground_truth_view-1",
        kinds={"zarr"},
        description="The MH-PR ground truth as OME-Zarr, to view beside the reconstructions.",
    )
    def mhpr_ground_truth_view(
        context: dg.AssetExecutionContext, catalog: CatalogResource
    ) -> dg.MaterializeResult:
        slide_id = context.partition_key
        truth = open_field_store(catalog.path("mhpr_ground_truth", slide_id=slide_id))
        fov_ids = list(truth.attrs["fov_ids"])
        path = write_field_images(
            catalog.path("mhpr_ground_truth_view", slide_id=slide_id),
            {f: np.asarray(truth.field[i]) for i, f in enumerate(fov_ids)},
            pixel_size_m=float(truth.attrs["pixel_size_m"]),
            attrs={"source": "mhpr", "slide_id": slide_id},
            fov_attrs={
                f: {"z2_um": [float(z) * 1e6 for z in truth.z2[i]]} for i, f in enumerate(fov_ids)
            },
        )
        return dg.MaterializeResult(
            metadata={"n_fov": len(fov_ids), "path": dg.MetadataValue.path(str(path))}
        )

    return [production_models, reconstructions, mhpr_ground_truth_view], [
        reconstructions_close_to_mhpr
    ]
