"""``holo-pipeline reconstruct``: a trained network reconstructs a raw slide into an OME-Zarr store.

For people who do not run Dagster; it calls the same core as the ``reconstructions`` asset::

    holo-pipeline reconstruct SLIDE_DIR --model (TISSUE|PATH.keras) --out OUT.zarr \
        [--fov ID ...] [--data-root DIR] [--holograms MT]

A ``TISSUE`` resolves through the ``production_models`` table under the data root; a ``.keras``
path takes its Mt from the ``run.json`` beside it, or from ``--holograms``. Bad input (an unknown
tissue, too few heights for the model, an unreadable slide, an unknown FOV) is reported on stderr
with exit status 2 before anything is written; the store appears only when complete.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from holo_pipeline.instrument import RawDataError
from holo_pipeline.settings import ConfigError

#: Exit status for bad input.
BAD_INPUT = 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("slide", type=Path, help="raw slide folder (slide.yaml + fov_*/)")
    parser.add_argument(
        "--model", required=True, help="a tissue (its production model) or a generator .keras file"
    )
    parser.add_argument("--out", required=True, type=Path, help="OME-Zarr store to write")
    parser.add_argument(
        "--fov", action="append", default=None, help="FOV id to reconstruct (repeatable; all)"
    )
    parser.add_argument(
        "--data-root", default=None, help="data root with production_models ($HOLO_DATA_ROOT)"
    )
    parser.add_argument(
        "--holograms", type=int, default=None, help="Mt of a .keras model without run.json"
    )


def resolve_model(spec: str, data_root: str | None, holograms: int | None) -> dict[str, Any]:
    """``model_path``, ``n_holograms``, ``model_key`` and flags of ``--model`` (see module doc).

    Raises
    ------
    ValueError
        Unknown tissue, no ``production_models`` table, or a model file without a known Mt.
    """
    path = Path(spec)
    if spec.endswith(".keras") or path.exists():
        if not path.is_file():
            raise ValueError(f"{path}: no such model file")
        run_json = path.parent / "run.json"
        run = json.loads(run_json.read_text()) if run_json.exists() else {}
        mt = holograms or run.get("n_holograms")
        if not mt:
            raise ValueError(f"{path}: no run.json beside it; give its Mt with --holograms")
        return {
            "model_path": str(path.resolve()),
            "n_holograms": int(mt),
            "model_key": str(run.get("model_key", path.stem)),
            "backbone_fallback": False,
        }
    import pandas as pd

    from holo_pipeline.catalog import load_catalog
    from holo_pipeline.reconstruction.production import production_row
    from holo_pipeline.settings import data_root as local_root

    table_path = Path(load_catalog().entry("production_models").location(local_root(data_root)))
    if not table_path.exists():
        raise ValueError(
            f"{table_path}: no production_models table; materialise production_models, or give "
            "--model a .keras file"
        )
    row = production_row(pd.read_parquet(table_path), spec, source=str(table_path))
    if holograms and holograms != int(row["n_holograms"]):
        raise ValueError(f"--holograms {holograms}: the {spec} model takes {row['n_holograms']}")
    return {
        "model_path": str(row["model_path"]),
        "n_holograms": int(row["n_holograms"]),
        "model_key": str(row["model_key"]),
        "backbone_fallback": bool(row["backbone_fallback"]),
    }


def _check_out(out: Path) -> None:
    from holo_pipeline.reconstruction.ome import store_attrs

    if out.exists():
        try:
            store_attrs(out)
        except FileNotFoundError:
            raise ValueError(
                f"{out} exists and is not a reconstruction store; not replacing it"
            ) from None


def run(args: argparse.Namespace) -> int:
    """Reconstruct the slide and write the store; return the exit status."""
    from holo_pipeline.instrument import read_slide

    try:
        model = resolve_model(args.model, args.data_root, args.holograms)
        slide = read_slide(args.slide)
        wanted = args.fov or list(slide.fov_ids)
        unknown = sorted(set(wanted) - set(slide.fov_ids))
        if unknown:
            raise ValueError(f"{slide.path}: no FOV {unknown}; FOVs: {list(slide.fov_ids)}")
        if slide.n_heights < model["n_holograms"]:
            raise ValueError(
                f"{slide.path / 'slide.yaml'}: {slide.n_heights} height(s) per FOV, but model "
                f"{model['model_key']} takes {model['n_holograms']} holograms"
            )
        _check_out(args.out)
    except (ValueError, RawDataError, ConfigError) as exc:
        print(f"holo-pipeline reconstruct: {exc}", file=sys.stderr)
        return BAD_INPUT
    if model["backbone_fallback"]:
        print(
            f"note: {args.model} has no transferred model; using the pretrained backbone",
            file=sys.stderr,
        )
    from holo_pipeline.model import load_generator
    from holo_pipeline.reconstruction.ome import write_field_images
    from holo_pipeline.reconstruction.reconstruct import reconstruct_raw_slide

    generator = load_generator(model["model_path"])
    try:  # a frame that fails to read only shows when it is read
        _, results = reconstruct_raw_slide(
            args.slide, generator, n_holograms=model["n_holograms"], fov_ids=wanted
        )
    except (ValueError, RawDataError) as exc:
        print(f"holo-pipeline reconstruct: {exc}", file=sys.stderr)
        return BAD_INPUT
    write_field_images(
        args.out,
        {r.fov_id: r.field for r in results},
        pixel_size_m=slide.sr_pixel_size_m,
        attrs={
            "source": "network",
            "slide_id": slide.slide_id,
            "tissue": slide.tissue,
            "model_key": model["model_key"],
            "model_path": model["model_path"],
            "n_holograms": model["n_holograms"],
        },
        fov_attrs={
            r.fov_id: {"seconds": r.seconds, "heights": [int(h) for h in r.heights]}
            for r in results
        },
    )
    for r in results:
        print(f"{r.fov_id}: {r.field.shape[0]}×{r.field.shape[1]} px in {r.seconds:.2f} s")
    print(f"wrote {args.out}; view a FOV: napari --plugin napari-ome-zarr {args.out}/{wanted[0]}")
    return 0
