"""The raw slide format: what a lens-free microscope (real or virtual) writes, read and validated.

Layout of one slide in the landing folder::

    <landing>/<slide_id>/
      slide.yaml                # metadata (schema below); written last, via a temporary name
      fov_000/h0.tif … h7.tif   # one multi-page TIFF per height: ``scan_grid**2`` (36)
                                # uint16 pages, page k = grid position (k // 6, k % 6)
      fov_001/…
      _truth/<fov_id>.npz       # simulator only, never read by the pipeline

``slide.yaml`` keys (units in the names; see :data:`REQUIRED_KEYS` for the types)::

    format_version   1
    slide_id         str, [a-z0-9-]+, equal to the folder name
    patient_id       str, [A-Za-z0-9][A-Za-z0-9_-]*
    tissue           one of TISSUES
    wavelength_nm    illumination wavelength (530)
    pixel_pitch_um   sensor pixel pitch (1.12)
    sr_factor        pixel super-resolution factor (3: SR pixel = pitch / 3)
    scan_grid        sub-pixel scan is scan_grid × scan_grid frames per height (6)
    bit_depth        ADC bits (8..16); pages hold values < 2**bit_depth
    black_level_dn   dark offset added by the sensor (DN); subtract before using intensities
    flat_field_dn    mean unobstructed illumination above the black level (DN), from the
                     instrument's flat-field calibration: (frame − black) / flat ≈ 1 on background
    z1_mm            source-to-sample distance
    n_medium         refractive index between sample and sensor (1 for air)
    z2_nominal_um    8 stage heights (sample-to-sensor), strictly increasing
    z2_tolerance_um  how far a true height may lie from its nominal value (autofocus half-range)
    stage_range_um   [min, max] over which heights are searched; contains every nominal ± tolerance
    frame_shape      [h, w] of every page
    fov_ids          FOV folder names, unique, [a-z0-9_-]+
    created          ISO 8601 time of acquisition
    instrument       free text (e.g. "holo_pipeline virtual lens-free microscope")

Version 2 (``format_version: 2``, what ``holo-pipeline import`` writes for scans from other labs)
has the same layout and keys, with these differences::

    n_heights        number of heights per FOV, >= 1 (MH-PR ground truth needs >= 2)
    z2_nominal_um    n_heights strictly increasing heights, or null: heights unknown, searched
                     by autofocus over the whole stage_range_um
    stage_range_um   [min, max] within the plausible 100–3000 µm; contains every nominal height
                     (nominal ± tolerance is clipped to it, not required inside it)
    tissue           a free label, [a-z0-9_]+ (v1: one of TISSUES)
    scan_grid        1 means one frame per height: already super-resolved, or single-shot; it
                     requires sr_factor 1 (super-resolution is then normalisation only)
    background       optional: none (default) | slide | fov. "slide": <slide>/background.tif,
                     "fov": <fov>/background.tif in every FOV; one page of frame_shape (uint16 or
                     float32), an exposure without the sample, every value > black_level_dn. It
                     is used instead of flat_field_dn: (frame − black) / (background − black)
    intensity_scale  optional mapping fov_id -> n_heights positive numbers: the stored uint16 DN
                     of that height are the source values × scale (8-bit or float sources
                     converted by the importer); the reader divides it out, so black_level_dn,
                     flat_field_dn and background frames are in the source's units. Absent
                     FOVs (and v1) have scale 1.
    flat_field_dn    > black_level_dn (in source units; the bit-depth bound applies only when
                     no intensity_scale is recorded)

Other keys (``source_files``, ``sensor_pitch_um``, ...) are provenance and are not checked.

A slide is *ready* (:func:`is_slide_ready`) when ``slide.yaml`` exists and parses and every listed
FOV folder holds its height TIFFs (and background frames where the slide declares them).
:func:`read_slide` validates the metadata and the folder structure; :meth:`RawSlide.frames`
validates each TIFF it reads; :func:`validate_slide` reads every page. Every problem raises
:class:`RawDataError` naming the file and the rule broken.
"""

from __future__ import annotations

import itertools
import math
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import tifffile
import yaml

from holo_pipeline.atomic import atomic_path

__all__ = [
    "FORMAT_VERSION",
    "N_HEIGHTS",
    "SLIDE_YAML",
    "TISSUES",
    "RawDataError",
    "RawSlide",
    "check_slide_metadata",
    "height_filename",
    "is_slide_ready",
    "read_slide",
    "validate_slide",
    "write_background_tiff",
    "write_height_tiff",
    "write_slide_yaml",
]

TISSUES: tuple[str, ...] = ("blood_smear", "pap_smear", "lung", "prostate", "salivary_gland")
FORMAT_VERSION = 1
"""The version the simulator writes (6×6 scans at 8 heights)."""
FORMAT_VERSIONS = (1, 2)
"""Versions :func:`read_slide` accepts; 2 is the general one (see the module docstring)."""
N_HEIGHTS = 8
"""Heights per FOV in version 1."""
BACKGROUND_TIFF = "background.tif"
BACKGROUND_MODES = ("none", "slide", "fov")
SLIDE_YAML = "slide.yaml"
TRUTH_DIR = "_truth"

SLIDE_ID_RE = re.compile(r"[a-z0-9-]+")
"""A slide id: lower-case letters, digits and hyphens (also a landing folder name)."""
PATIENT_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
FOV_ID_RE = re.compile(r"[a-z0-9_-]+")
TISSUE_LABEL_RE = re.compile(r"[a-z0-9_]+")
"""A version-2 tissue label (free; only the experiment plan's tissues must be known ones)."""

# Plausible ranges; anything outside is a corrupt or foreign file, not a different instrument.
Z2_RANGE_UM = (100.0, 3000.0)
WAVELENGTH_RANGE_NM = (200.0, 2000.0)
PITCH_RANGE_UM = (0.1, 50.0)

# key -> (accepted python types, description used in messages)
REQUIRED_KEYS: dict[str, tuple[tuple[type, ...], str]] = {
    "format_version": ((int,), "an integer"),
    "slide_id": ((str,), "a string"),
    "patient_id": ((str,), "a string"),
    "tissue": ((str,), "a string"),
    "wavelength_nm": ((int, float), "a number"),
    "pixel_pitch_um": ((int, float), "a number"),
    "sr_factor": ((int,), "an integer"),
    "scan_grid": ((int,), "an integer"),
    "bit_depth": ((int,), "an integer"),
    "black_level_dn": ((int, float), "a number"),
    "flat_field_dn": ((int, float), "a number"),
    "z1_mm": ((int, float), "a number"),
    "n_medium": ((int, float), "a number"),
    "z2_nominal_um": ((list,), "a list of numbers"),
    "z2_tolerance_um": ((int, float), "a number"),
    "stage_range_um": ((list,), "a list [min, max]"),
    "frame_shape": ((list,), "a list [h, w]"),
    "fov_ids": ((list,), "a list of FOV folder names"),
    "created": ((str, datetime), "an ISO 8601 time"),
}
V2_REQUIRED_KEYS: dict[str, tuple[tuple[type, ...], str]] = {
    "n_heights": ((int,), "an integer"),
}


class RawDataError(ValueError):
    """A raw slide (metadata or TIFF) breaks the format; the message names the file and the rule."""


def _fail(path: Path | str, rule: str) -> RawDataError:
    return RawDataError(f"{path}: {rule}")


def height_filename(height: int) -> str:
    """File name of the TIFF for stage height index ``height`` (``h0.tif`` … ``h7.tif``)."""
    return f"h{int(height)}.tif"


# ----------------------------------------------------------------------------- metadata checks
def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _find_non_finite(value: Any, where: str = "") -> str | None:
    """Return the key path of the first NaN/inf anywhere in a parsed YAML value, else None."""
    if isinstance(value, float) and not math.isfinite(value):
        return where or "<root>"
    if isinstance(value, Mapping):
        for k, v in value.items():
            hit = _find_non_finite(v, f"{where}.{k}" if where else str(k))
            if hit:
                return hit
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            hit = _find_non_finite(v, f"{where}[{i}]")
            if hit:
                return hit
    return None


def _check_range(yaml_path: Path, meta: dict, key: str, lo: float, hi: float) -> None:
    value = meta[key]
    if not lo <= value <= hi:
        raise _fail(yaml_path, f"{key} must be in [{lo}, {hi}], got {value!r}")


def _check_number_list(yaml_path: Path, key: str, values: list, length: int) -> list[float]:
    if len(values) != length:
        raise _fail(yaml_path, f"{key} must have {length} entries, got {len(values)}")
    if not all(_is_number(v) for v in values):
        raise _fail(yaml_path, f"{key} must hold only numbers, got {values!r}")
    return [float(v) for v in values]


def _validate_metadata(yaml_path: Path, meta: Any, folder_name: str) -> dict[str, Any]:
    """Check a parsed ``slide.yaml`` against the schema; return it as a dict."""
    if not isinstance(meta, dict):
        raise _fail(yaml_path, f"must hold a mapping of keys, got {type(meta).__name__}")
    bad = _find_non_finite(meta)
    if bad is not None:
        raise _fail(yaml_path, f"metadata must not hold NaN or infinity (at {bad})")
    version = meta.get("format_version")
    required = dict(REQUIRED_KEYS) if version != 2 else {**REQUIRED_KEYS, **V2_REQUIRED_KEYS}
    for key, (types, what) in required.items():
        if key not in meta:
            raise _fail(yaml_path, f"required key {key!r} is missing")
        value = meta[key]
        if version == 2 and key == "z2_nominal_um" and value is None:
            continue  # v2: heights unknown, searched over stage_range_um
        if isinstance(value, bool) or not isinstance(value, types):
            raise _fail(yaml_path, f"{key} must be {what}, got {value!r}")
    if meta["format_version"] not in FORMAT_VERSIONS:
        raise _fail(
            yaml_path,
            f"format_version must be one of {list(FORMAT_VERSIONS)}, "
            f"got {meta['format_version']!r}",
        )

    slide_id = meta["slide_id"]
    if not SLIDE_ID_RE.fullmatch(slide_id):
        raise _fail(yaml_path, f"slide_id must match [a-z0-9-]+, got {slide_id!r}")
    if slide_id != folder_name:
        raise _fail(
            yaml_path,
            f"slide_id {slide_id!r} does not match the slide folder name {folder_name!r} "
            "(a copied or duplicated slide?)",
        )
    if not PATIENT_ID_RE.fullmatch(meta["patient_id"]):
        raise _fail(
            yaml_path,
            f"patient_id must match [A-Za-z0-9][A-Za-z0-9_-]*, got {meta['patient_id']!r}",
        )
    if version == 1 and meta["tissue"] not in TISSUES:
        raise _fail(yaml_path, f"tissue must be one of {TISSUES}, got {meta['tissue']!r}")
    if version == 2 and not TISSUE_LABEL_RE.fullmatch(meta["tissue"]):
        raise _fail(
            yaml_path, f"tissue must be a label matching [a-z0-9_]+, got {meta['tissue']!r}"
        )

    _check_range(yaml_path, meta, "wavelength_nm", *WAVELENGTH_RANGE_NM)
    _check_range(yaml_path, meta, "pixel_pitch_um", *PITCH_RANGE_UM)
    _check_range(yaml_path, meta, "sr_factor", 1, 16)
    _check_range(yaml_path, meta, "scan_grid", 1, 16)
    _check_range(yaml_path, meta, "bit_depth", 8, 16)
    full_scale = 2 ** meta["bit_depth"] - 1
    _check_range(yaml_path, meta, "black_level_dn", 0, full_scale - 1)
    if version == 1 or "intensity_scale" not in meta:
        _check_range(yaml_path, meta, "flat_field_dn", 1, full_scale)
    _check_range(yaml_path, meta, "z1_mm", 1.0, 10000.0)
    _check_range(yaml_path, meta, "n_medium", 1.0, 3.0)
    _check_range(yaml_path, meta, "z2_tolerance_um", 0.0, 500.0)
    if version == 1:
        _check_heights_v1(yaml_path, meta)
    else:
        _check_v2(yaml_path, meta)

    shape = meta["frame_shape"]
    if (
        len(shape) != 2
        or not all(isinstance(s, int) and not isinstance(s, bool) for s in shape)
        or not all(1 <= s <= 65536 for s in shape)
    ):
        raise _fail(yaml_path, f"frame_shape must be [h, w] of positive integers, got {shape!r}")

    fov_ids = meta["fov_ids"]
    if not fov_ids:
        raise _fail(yaml_path, "fov_ids must list at least one FOV")
    for fov in fov_ids:
        if not isinstance(fov, str) or not FOV_ID_RE.fullmatch(fov):
            raise _fail(yaml_path, f"fov_ids entries must match [a-z0-9_-]+, got {fov!r}")
        if fov == TRUTH_DIR:
            raise _fail(yaml_path, f"fov_ids must not name the {TRUTH_DIR} folder")
    if len(set(fov_ids)) != len(fov_ids):
        dup = sorted({f for f in fov_ids if fov_ids.count(f) > 1})
        raise _fail(yaml_path, f"fov_ids must be unique, duplicated: {dup}")

    created = meta["created"]
    if isinstance(created, str):
        try:
            datetime.fromisoformat(created)
        except ValueError:
            raise _fail(yaml_path, f"created must be an ISO 8601 time, got {created!r}") from None
    return dict(meta)


def _check_heights_v1(yaml_path: Path, meta: dict[str, Any]) -> None:
    z2 = _check_number_list(yaml_path, "z2_nominal_um", meta["z2_nominal_um"], N_HEIGHTS)
    if any(b <= a for a, b in itertools.pairwise(z2)):
        raise _fail(yaml_path, f"z2_nominal_um must be strictly increasing, got {z2}")
    if not (Z2_RANGE_UM[0] <= z2[0] and z2[-1] <= Z2_RANGE_UM[1]):
        raise _fail(yaml_path, f"z2_nominal_um must lie in {list(Z2_RANGE_UM)} µm, got {z2}")
    stage = _check_number_list(yaml_path, "stage_range_um", meta["stage_range_um"], 2)
    tol = float(meta["z2_tolerance_um"])
    if not (stage[0] < stage[1] and stage[0] <= z2[0] - tol and z2[-1] + tol <= stage[1]):
        raise _fail(
            yaml_path,
            f"stage_range_um {stage} must be increasing and contain every nominal height ± "
            f"z2_tolerance_um ({z2[0] - tol:g} … {z2[-1] + tol:g})",
        )


def _check_v2(yaml_path: Path, meta: dict[str, Any]) -> None:
    """The version-2 rules (module docstring): heights, scan, background, intensity scale."""
    n = meta["n_heights"]
    if not 1 <= n <= 64:
        raise _fail(yaml_path, f"n_heights must be in [1, 64], got {n!r}")
    stage = _check_number_list(yaml_path, "stage_range_um", meta["stage_range_um"], 2)
    if not (Z2_RANGE_UM[0] <= stage[0] < stage[1] <= Z2_RANGE_UM[1]):
        raise _fail(
            yaml_path,
            f"stage_range_um must be increasing and lie in {list(Z2_RANGE_UM)} µm, got {stage}",
        )
    if meta["z2_nominal_um"] is not None:
        z2 = _check_number_list(yaml_path, "z2_nominal_um", meta["z2_nominal_um"], n)
        if any(b <= a for a, b in itertools.pairwise(z2)):
            raise _fail(yaml_path, f"z2_nominal_um must be strictly increasing, got {z2}")
        if not (stage[0] <= z2[0] and z2[-1] <= stage[1]):
            raise _fail(
                yaml_path, f"z2_nominal_um {z2} must lie inside stage_range_um {stage} (µm)"
            )
    if meta["scan_grid"] == 1 and meta["sr_factor"] != 1:
        raise _fail(
            yaml_path,
            f"scan_grid 1 (one frame per height) requires sr_factor 1, got {meta['sr_factor']!r}",
        )
    if not meta["flat_field_dn"] > meta["black_level_dn"]:
        raise _fail(
            yaml_path,
            f"flat_field_dn ({meta['flat_field_dn']!r}) must exceed black_level_dn "
            f"({meta['black_level_dn']!r})",
        )
    background = meta.get("background", "none")
    if background not in BACKGROUND_MODES:
        raise _fail(yaml_path, f"background must be one of {BACKGROUND_MODES}, got {background!r}")
    scales = meta.get("intensity_scale", {})
    if not isinstance(scales, dict):
        raise _fail(yaml_path, f"intensity_scale must map FOV ids to lists, got {scales!r}")
    for fov, values in scales.items():
        if fov not in meta["fov_ids"]:
            raise _fail(yaml_path, f"intensity_scale names FOV {fov!r}, which is not in fov_ids")
        if not isinstance(values, list):
            raise _fail(yaml_path, f"intensity_scale[{fov!r}] must be a list, got {values!r}")
        got = _check_number_list(yaml_path, f"intensity_scale[{fov!r}]", values, n)
        if min(got) <= 0:
            raise _fail(yaml_path, f"intensity_scale[{fov!r}] must be positive, got {got}")


def _load_yaml(yaml_path: Path) -> Any:
    try:
        text = yaml_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _fail(yaml_path, "slide.yaml is missing (slide not ready or not a slide)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(yaml_path, f"cannot be read as UTF-8 text: {exc}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise _fail(yaml_path, f"is not valid YAML: {exc}") from None


# ----------------------------------------------------------------------------- TIFF checks
def _check_tiff(tif_path: Path, n_pages: int, frame_shape: tuple[int, int], *, read: bool):
    """Validate one height TIFF; return its pages as (n_pages, h, w) uint16 if ``read``."""
    try:
        size = tif_path.stat().st_size
        with tifffile.TiffFile(tif_path) as tif:
            pages = list(tif.pages)
            if len(pages) != n_pages:
                raise _fail(tif_path, f"must hold {n_pages} pages, got {len(pages)}")
            for i, page in enumerate(pages):
                if page.dtype != np.uint16:
                    raise _fail(tif_path, f"page {i} must be uint16, got {page.dtype}")
                if tuple(page.shape) != tuple(frame_shape):
                    raise _fail(
                        tif_path,
                        f"page {i} must have shape {tuple(frame_shape)} (frame_shape), "
                        f"got {tuple(page.shape)}",
                    )
                end = max(
                    (o + c for o, c in zip(page.dataoffsets, page.databytecounts, strict=False)),
                    default=0,
                )
                if end > size or not page.dataoffsets:
                    raise _fail(
                        tif_path, f"is truncated: page {i} data ends at byte {end}, file has {size}"
                    )
            if not read:
                return None
            data = np.stack([page.asarray() for page in pages])
    except RawDataError:
        raise
    except FileNotFoundError:
        raise _fail(tif_path, "height TIFF is missing") from None
    except Exception as exc:  # tifffile raises many types on corrupt input
        raise _fail(tif_path, f"is not a readable TIFF: {type(exc).__name__}: {exc}") from None
    if data.shape != (n_pages, *frame_shape) or data.dtype != np.uint16:
        raise _fail(tif_path, f"decoded to {data.dtype} {data.shape}, expected uint16")
    return data


# ----------------------------------------------------------------------------- the slide
@dataclass(frozen=True)
class RawSlide:
    """A raw slide whose metadata and folder structure have been validated.

    Attributes
    ----------
    path : Path
        The slide folder.
    meta : dict
        ``slide.yaml`` as parsed (keys in the module docstring).
    fov_ids : tuple of str
        FOV folder names in acquisition order.
    """

    path: Path
    meta: dict[str, Any] = field(repr=False)
    fov_ids: tuple[str, ...]

    # -- identity
    @property
    def slide_id(self) -> str:
        return str(self.meta["slide_id"])

    @property
    def patient_id(self) -> str:
        return str(self.meta["patient_id"])

    @property
    def tissue(self) -> str:
        return str(self.meta["tissue"])

    # -- physics, SI units
    @property
    def wavelength_m(self) -> float:
        """Illumination wavelength (m)."""
        return float(self.meta["wavelength_nm"]) * 1e-9

    @property
    def pixel_size_m(self) -> float:
        """Sensor pixel pitch (m)."""
        return float(self.meta["pixel_pitch_um"]) * 1e-6

    @property
    def sr_factor(self) -> int:
        return int(self.meta["sr_factor"])

    @property
    def sr_pixel_size_m(self) -> float:
        """Pixel size of the super-resolved grid, pitch / sr_factor (m)."""
        return self.pixel_size_m / self.sr_factor

    @property
    def scan_grid(self) -> int:
        return int(self.meta["scan_grid"])

    @property
    def n_frames(self) -> int:
        """Frames per height, ``scan_grid**2``."""
        return self.scan_grid**2

    @property
    def format_version(self) -> int:
        return int(self.meta["format_version"])

    @property
    def n_heights(self) -> int:
        return _n_heights(self.meta)

    @property
    def heights_known(self) -> bool:
        """False for a version-2 slide whose heights are unknown (``z2_nominal_um: null``)."""
        return self.meta["z2_nominal_um"] is not None

    @property
    def n_medium(self) -> float:
        return float(self.meta["n_medium"])

    @property
    def z1_m(self) -> float:
        """Source-to-sample distance (m)."""
        return float(self.meta["z1_mm"]) * 1e-3

    @property
    def z2_nominal_m(self) -> np.ndarray:
        """Nominal sample-to-sensor heights (m), shape (n_heights,), increasing; NaN if unknown."""
        if not self.heights_known:
            return np.full(self.n_heights, np.nan)
        return np.asarray(self.meta["z2_nominal_um"], dtype=np.float64) * 1e-6

    @property
    def z2_reference_m(self) -> np.ndarray:
        """Heights to refocus at before anything is autofocused (m): the nominal ones, or the
        middle of the stage range for every height when they are unknown."""
        if self.heights_known:
            return self.z2_nominal_m
        return np.full(self.n_heights, float(np.mean(self.stage_range_m)))

    @property
    def z2_tolerance_m(self) -> float:
        """Largest expected |true − nominal| height error (m)."""
        return float(self.meta["z2_tolerance_um"]) * 1e-6

    @property
    def stage_range_m(self) -> tuple[float, float]:
        """(min, max) sample-to-sensor distance the stage can reach (m)."""
        lo, hi = self.meta["stage_range_um"]
        return float(lo) * 1e-6, float(hi) * 1e-6

    def z2_search_bounds_m(self, height: int) -> tuple[float, float]:
        """Autofocus search interval (m) for one height: nominal ± tolerance, within the stage
        (the whole stage range when the heights are unknown)."""
        z = float(self.z2_nominal_m[self._height_index(height)])
        lo, hi = self.stage_range_m
        if not self.heights_known:
            return lo, hi
        return max(lo, z - self.z2_tolerance_m), min(hi, z + self.z2_tolerance_m)

    @property
    def frame_shape(self) -> tuple[int, int]:
        h, w = self.meta["frame_shape"]
        return int(h), int(w)

    @property
    def bit_depth(self) -> int:
        return int(self.meta["bit_depth"])

    @property
    def black_level_dn(self) -> float:
        return float(self.meta["black_level_dn"])

    @property
    def flat_field_dn(self) -> float:
        return float(self.meta["flat_field_dn"])

    @property
    def background(self) -> str:
        """Where background frames are: ``"none"`` (``flat_field_dn``), ``"slide"``, ``"fov"``."""
        return str(self.meta.get("background", "none"))

    def intensity_scale(self, fov: str) -> np.ndarray:
        """Per height, stored DN / source value for FOV ``fov`` (1 unless recorded), float64."""
        values = self.meta.get("intensity_scale", {}).get(fov)
        return np.ones(self.n_heights) if values is None else np.asarray(values, np.float64)

    def background_path(self, fov: str) -> Path | None:
        """The background frame used for FOV ``fov``, or None when the slide has none."""
        if self.background == "slide":
            return self.path / BACKGROUND_TIFF
        if self.background == "fov":
            return self.tiff_path(fov, 0).parent / BACKGROUND_TIFF
        return None

    def background_frame(self, fov: str) -> np.ndarray | None:
        """The validated background exposure of FOV ``fov`` (float32 ``(h, w)``, source units),
        or None when the slide normalises by ``flat_field_dn``."""
        path = self.background_path(fov)
        return (
            None if path is None else _read_background(path, self.frame_shape, self.black_level_dn)
        )

    # -- data
    def _height_index(self, height: int) -> int:
        if isinstance(height, bool) or int(height) != height or not 0 <= height < self.n_heights:
            raise ValueError(f"height must be an index in [0, {self.n_heights}), got {height!r}")
        return int(height)

    def tiff_path(self, fov: str, height: int) -> Path:
        """Path of the TIFF of FOV ``fov`` at height index ``height``."""
        if fov not in self.fov_ids:
            raise ValueError(f"{self.path}: no FOV {fov!r}; fov_ids are {list(self.fov_ids)}")
        return self.path / fov / height_filename(self._height_index(height))

    def frames(self, fov: str, height: int) -> np.ndarray:
        """The sub-pixel scan of one FOV at one height, validated.

        Returns
        -------
        ndarray, uint16, shape (scan_grid**2, h, w)
            Page ``k`` is grid position ``(k // scan_grid, k % scan_grid)``, raw DN including the
            black level.

        Raises
        ------
        RawDataError
            If the TIFF is missing, truncated, or has the wrong page count, dtype or shape.
        """
        return _check_tiff(self.tiff_path(fov, height), self.n_frames, self.frame_shape, read=True)

    def intensities(self, fov: str, height: int) -> np.ndarray:
        """Frames as float32 intensities normalised so that unobstructed background ≈ 1.

        ``(frames / scale − black_level_dn) / flat_field_dn``, or, where the slide has background
        frames, ``(frames / scale − black) / (background − black)``; ``scale`` is the height's
        intensity scale (1 unless recorded). Shape (scan_grid**2, h, w).
        """
        raw = self.frames(fov, height).astype(np.float32)
        scale = float(self.intensity_scale(fov)[self._height_index(height)])
        if scale != 1.0:
            raw /= np.float32(scale)
        black = np.float32(self.black_level_dn)
        background = self.background_frame(fov)
        if background is None:
            return (raw - black) / np.float32(self.flat_field_dn)
        return (raw - black) / (background - black)

    def iter_tiffs(self) -> Iterator[tuple[str, int, Path]]:
        """Yield ``(fov, height, path)`` for every TIFF of the slide."""
        for fov in self.fov_ids:
            for h in range(self.n_heights):
                yield fov, h, self.path / fov / height_filename(h)


def _open(path: str | os.PathLike[str]) -> tuple[Path, dict[str, Any]]:
    path = Path(path)
    if not path.is_dir():
        raise _fail(path, "slide folder does not exist or is not a folder")
    yaml_path = path / SLIDE_YAML
    meta = _validate_metadata(yaml_path, _load_yaml(yaml_path), path.name)
    return path, meta


def _n_heights(meta: Mapping[str, Any]) -> int:
    """Heights per FOV: ``n_heights`` (version 2) or the length of ``z2_nominal_um`` (1)."""
    if meta.get("format_version") == 2:
        return int(meta["n_heights"])
    return len(meta["z2_nominal_um"])


def _read_background(path: Path, frame_shape: tuple[int, int], black: float) -> np.ndarray:
    """One background exposure: a single uint16 or float32 page of ``frame_shape``, finite and
    above the black level everywhere; returned as float32."""
    try:
        with tifffile.TiffFile(path) as tif:
            if len(tif.pages) != 1:
                raise _fail(path, f"background must hold 1 page, got {len(tif.pages)}")
            data = tif.pages[0].asarray()
    except RawDataError:
        raise
    except FileNotFoundError:
        raise _fail(path, "background frame is missing") from None
    except Exception as exc:
        raise _fail(path, f"is not a readable TIFF: {type(exc).__name__}: {exc}") from None
    if data.dtype not in (np.uint16, np.float32) or data.shape != tuple(frame_shape):
        raise _fail(
            path,
            f"background must be uint16 or float32 of shape {tuple(frame_shape)} (frame_shape), "
            f"got {data.dtype} {data.shape}",
        )
    data = data.astype(np.float32)
    if not np.isfinite(data).all():
        raise _fail(path, "background must be finite (holds NaN or infinity)")
    if float(data.min()) <= black:
        raise _fail(
            path,
            f"background must exceed black_level_dn ({black:g}) everywhere, min is "
            f"{float(data.min()):g} (a zero or negative background cannot normalise)",
        )
    return data


def _check_structure(path: Path, meta: dict[str, Any]) -> None:
    background = meta.get("background", "none")
    if background == "slide" and not (path / BACKGROUND_TIFF).is_file():
        raise _fail(
            path / BACKGROUND_TIFF, "background frame declared (background: slide) is missing"
        )
    for fov in meta["fov_ids"]:
        fov_dir = path / fov
        # resolve() guards against a FOV folder that is a symlink leading out of the slide
        if not fov_dir.is_dir() or fov_dir.resolve().parent != path.resolve():
            raise _fail(fov_dir, "FOV folder listed in slide.yaml is missing")
        if not any(fov_dir.iterdir()):
            raise _fail(fov_dir, "FOV folder is empty")
        n = _n_heights(meta)
        for h in range(n):
            tif = fov_dir / height_filename(h)
            if not tif.is_file():
                raise _fail(tif, f"height TIFF {h} of {n} is missing")
            if tif.stat().st_size == 0:
                raise _fail(tif, "height TIFF is empty (0 bytes)")
        if background == "fov" and not (fov_dir / BACKGROUND_TIFF).is_file():
            raise _fail(
                fov_dir / BACKGROUND_TIFF, "background frame declared (background: fov) is missing"
            )


def read_slide(path: str | os.PathLike[str]) -> RawSlide:
    """Open a raw slide: validate ``slide.yaml`` and that every FOV has its height TIFFs.

    TIFF contents are checked when read (:meth:`RawSlide.frames`); use :func:`validate_slide` to
    check every page up front.

    Parameters
    ----------
    path : path-like
        The slide folder ``<landing>/<slide_id>``.

    Raises
    ------
    RawDataError
        Naming the file and the rule broken.
    """
    path, meta = _open(path)
    _check_structure(path, meta)
    return RawSlide(path=path, meta=meta, fov_ids=tuple(meta["fov_ids"]))


def validate_slide(path: str | os.PathLike[str]) -> RawSlide:
    """Fully validate a raw slide, reading every page of every TIFF.

    Checks the metadata (keys, types, ranges, NaN, tissue, heights, ids), the folder structure and
    each TIFF (readable, not truncated, ``scan_grid**2`` pages, uint16, ``frame_shape``, values
    below ``2**bit_depth``).

    Returns
    -------
    RawSlide

    Raises
    ------
    RawDataError
        Naming the file and the rule broken.
    """
    slide = read_slide(path)
    limit = 2**slide.bit_depth
    for _, _, tif in slide.iter_tiffs():
        data = _check_tiff(tif, slide.n_frames, slide.frame_shape, read=True)
        top = int(data.max())
        if top >= limit:
            raise _fail(tif, f"holds value {top}, above the {slide.bit_depth}-bit range")
    for fov in slide.fov_ids:
        slide.background_frame(fov)
    return slide


def is_slide_ready(path: str | os.PathLike[str]) -> bool:
    """Cheap readiness test for a landing-folder sensor.

    True when ``slide.yaml`` is present and parses as a mapping with a non-empty ``fov_ids`` list
    and every listed FOV folder holds all its height TIFFs. Never raises; contents are not checked
    (that is :func:`read_slide`'s job, which reports the problem).
    """
    try:
        path = Path(path)
        meta = yaml.safe_load((path / SLIDE_YAML).read_text(encoding="utf-8"))
        fov_ids = meta["fov_ids"]
        n_heights = _n_heights(meta)
        if not isinstance(fov_ids, list) or not fov_ids or n_heights < 1:
            return False
        names = [height_filename(h) for h in range(n_heights)]
        background = meta.get("background", "none")
        if background == "fov":
            names.append(BACKGROUND_TIFF)
        if background == "slide" and not (path / BACKGROUND_TIFF).is_file():
            return False
        return all(
            isinstance(fov, str)
            and FOV_ID_RE.fullmatch(fov) is not None
            and (path / fov / name).is_file()
            for fov in fov_ids
            for name in names
        )
    except Exception:
        return False


# ----------------------------------------------------------------------------- writing
def write_height_tiff(path: str | os.PathLike[str], frames: np.ndarray) -> Path:
    """Write one height's frames as a multi-page uint16 TIFF, atomically (temporary name + rename).

    Parameters
    ----------
    path : path-like
        Destination, e.g. ``<slide>/fov_000/h3.tif``.
    frames : ndarray, uint16, shape (n_frames, h, w)
        One page per frame, uncompressed, no timestamps (same frames give identical bytes).
    """
    frames = np.asarray(frames)
    if frames.ndim != 3 or frames.dtype != np.uint16:
        raise ValueError(f"frames must be uint16 (n, h, w), got {frames.dtype} {frames.shape}")
    path = Path(path)
    with atomic_path(path) as tmp, tifffile.TiffWriter(tmp) as tif:
        for page in frames:
            tif.write(page, photometric="minisblack", metadata=None, software=False)
    return path


def write_background_tiff(path: str | os.PathLike[str], frame: np.ndarray) -> Path:
    """Write one background exposure (uint16 or float32 ``(h, w)``) atomically as a 1-page TIFF."""
    frame = np.asarray(frame)
    if frame.ndim != 2 or frame.dtype not in (np.uint16, np.float32):
        raise ValueError(f"frame must be uint16 or float32 (h, w), got {frame.dtype} {frame.shape}")
    path = Path(path)
    with atomic_path(path) as tmp:
        tifffile.imwrite(tmp, frame, photometric="minisblack", metadata=None, software=False)
    return path


def check_slide_metadata(slide_dir: str | os.PathLike[str], meta: Mapping[str, Any]) -> None:
    """Validate ``meta`` as the ``slide.yaml`` of ``slide_dir`` would be, without writing it.

    Raises
    ------
    RawDataError
        Naming ``<slide_dir>/slide.yaml`` and the rule broken.
    """
    slide_dir = Path(slide_dir)
    _validate_metadata(slide_dir / SLIDE_YAML, _plain(dict(meta)), slide_dir.name)


def write_slide_yaml(
    slide_dir: str | os.PathLike[str], meta: Mapping[str, Any], *, folder_name: str | None = None
) -> Path:
    """Write ``slide.yaml`` last and atomically, marking the slide complete.

    The metadata is validated first (a writer never produces a slide the reader rejects).
    ``folder_name`` is the name the slide folder will have, when ``slide_dir`` is a temporary
    folder renamed into place afterwards (default: ``slide_dir``'s own name).
    """
    slide_dir = Path(slide_dir)
    target = slide_dir / SLIDE_YAML
    plain = _plain(dict(meta))
    _validate_metadata(target, plain, folder_name or slide_dir.name)
    text = yaml.safe_dump(plain, sort_keys=False, default_flow_style=None, width=100)
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return target


def _plain(value: Any) -> Any:
    """Convert numpy scalars/arrays and tuples to plain YAML-safe Python values."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value
