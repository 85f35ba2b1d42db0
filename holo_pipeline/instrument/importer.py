"""``holo-pipeline import``: holograms from another lab's instrument into one raw slide (format 2).

::

    holo-pipeline import SOURCE... --landing DIR --slide-id ID --patient-id P --tissue T \\
        --wavelength-nm W --pixel-pitch-um D [--sr-factor F] \\
        (--z2-um Z [Z ...] | --z2-range-um MIN MAX) \\
        [--background FILE] [--mat-key NAME] [--amplitude] [--fov-id NAME]

Sources
    Image files, one per height in the order given (TIFF, PNG, BMP, JPEG); a multi-page TIFF gives
    one height per page. Or one MATLAB ``.mat`` file (v5 through scipy, v7.3 through h5py) whose
    ``--mat-key`` array is ``(H, W, n)`` or ``(n, H, W)`` (the heights axis is the one shorter than
    both image axes; ``(H, W)`` is one height). A complex array, or a real one with a trailing
    axis of 2 (``(H, W, n, 2)`` / ``(n, H, W, 2)``: real and imaginary parts), is a field: its
    intensity ``|u|²`` is stored.
Values
    ``--amplitude`` squares real values (amplitudes → intensities). uint16 intensities are stored
    as they are. 8-bit intensities are stored × 257 and float ones × (60000 / their maximum), per
    height, and the factor is recorded in ``intensity_scale`` so that the reader brings them back
    to the source's units, in which the flat field and the background are expressed.
Frames
    Each height is one frame (``scan_grid: 1``, ``sr_factor: 1``): the pipeline does not
    super-resolve it. ``--sr-factor F`` says the frames were already super-resolved F× from a
    sensor of pitch D: the slide's pixel pitch is then D / F (D and F are recorded as provenance).
Heights
    ``--z2-um`` gives nominal heights (autofocus searches ± ``--z2-tolerance-um``, default 25 µm,
    around each); ``--z2-range-um MIN MAX`` says they are unknown within that range
    (``z2_nominal_um: null``; autofocus searches all of it).
Normalisation
    ``--background FILE`` (one frame, same shape, an exposure without the sample) is stored as the
    FOV's ``background.tif`` and divides the holograms. A constant background (every pixel equal,
    e.g. a saturated all-65535 placeholder) carries no illumination profile and is ignored, as is
    a missing one: ``flat_field_dn`` is then the median of the FOV's first hologram (the level of
    the unobstructed light where the sample is sparse), recorded in ``flat_field_source``. The
    black level is taken as 0 (frames already dark-corrected).
Atomicity
    The slide is written in a hidden temporary folder of the landing folder, ``slide.yaml`` last,
    and renamed into place. ``--fov-id`` adds a FOV to an existing (version-2) slide: the slide is
    rebuilt in a temporary folder (existing files hard-linked, not copied) and swapped in, so the
    landing folder holds the old complete slide or the new one, never a half-written one. Every
    problem with the input raises :class:`RawDataError` naming the file (or the option) and the
    rule, before anything is written.
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from holo_pipeline.atomic import atomic_path
from holo_pipeline.instrument.slide_format import (
    BACKGROUND_TIFF,
    FOV_ID_RE,
    PATIENT_ID_RE,
    PITCH_RANGE_UM,
    SLIDE_ID_RE,
    SLIDE_YAML,
    TISSUE_LABEL_RE,
    WAVELENGTH_RANGE_NM,
    Z2_RANGE_UM,
    RawDataError,
    check_slide_metadata,
    height_filename,
    read_slide,
    write_background_tiff,
    write_height_tiff,
    write_slide_yaml,
)

__all__ = ["ImportedStack", "add_arguments", "import_slide", "load_sources", "run"]

IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".bmp", ".jpg", ".jpeg")
MAT_SUFFIX = ".mat"
#: Stored DN of a float source's brightest pixel (headroom below 65535 for later exposures).
FLOAT_FULL_SCALE_DN = 60000.0
#: uint8 → uint16: 255 · 257 = 65535.
UINT8_SCALE = 257.0
DEFAULT_Z2_TOLERANCE_UM = 25.0
#: Recorded only: the pipeline treats the illumination as a plane wave.
DEFAULT_Z1_MM = 50.0
DEFAULT_FOV_ID = "fov_000"


def _fail(where: Path | str, rule: str) -> RawDataError:
    return RawDataError(f"{where}: {rule}")


@dataclass(frozen=True)
class ImportedStack:
    """One FOV's holograms ready to store.

    Attributes
    ----------
    frames
        uint16 ``(n_heights, H, W)``: source intensity × ``scale`` per height.
    scale
        float64 ``(n_heights,)``: stored DN per source unit (1 for uint16 sources).
    sources
        File name each height came from (``name[page]`` for pages, ``name:key`` for ``.mat``).
    """

    frames: np.ndarray
    scale: np.ndarray
    sources: tuple[str, ...]


# ----------------------------------------------------------------------------- reading sources
def _read_image(path: Path) -> np.ndarray:
    """An image file as ``(pages, H, W)`` in its own dtype (RGB with equal channels → grey)."""
    try:
        if path.suffix.lower() in (".tif", ".tiff"):
            with tifffile.TiffFile(path) as tif:
                data = np.stack([page.asarray() for page in tif.pages])
        else:
            from PIL import Image

            with Image.open(path) as im:
                data = np.asarray(im)[np.newaxis]
    except FileNotFoundError:
        raise _fail(path, "source file does not exist") from None
    except Exception as exc:  # the readers raise many types on corrupt input
        raise _fail(path, f"is not a readable image: {type(exc).__name__}: {exc}") from None
    if data.ndim == 4 and data.shape[-1] in (3, 4):
        rgb = data[..., :3]
        if not (
            np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2])
        ):
            raise _fail(path, "is a colour image; a hologram must be greyscale (one channel)")
        data = rgb[..., 0]
    if data.ndim != 3 or min(data.shape[1:]) < 1:
        raise _fail(path, f"must hold 2-D greyscale pages, got shape {data.shape}")
    return data


def _read_mat(path: Path, key: str | None) -> np.ndarray:
    """The ``key`` array of a MATLAB file (v5 via scipy, v7.3/HDF5 via h5py) in MATLAB order."""
    import h5py
    import scipy.io

    try:
        if h5py.is_hdf5(path):
            with h5py.File(path, "r") as f:
                names = [k for k in f if isinstance(f[k], h5py.Dataset) and not k.startswith("#")]
                key = _pick_key(path, key, names)
                raw = f[key][()]
            if raw.dtype.names and {"real", "imag"} <= set(raw.dtype.names):
                raw = raw["real"] + 1j * raw["imag"]
            data = np.asarray(raw).T  # HDF5 stores MATLAB's column-major array reversed
        else:
            contents = scipy.io.loadmat(path)
            names = [k for k in contents if not k.startswith("__")]
            key = _pick_key(path, key, names)
            data = np.asarray(contents[key])
    except RawDataError:
        raise
    except FileNotFoundError:
        raise _fail(path, "source file does not exist") from None
    except Exception as exc:
        raise _fail(path, f"is not a readable MATLAB file: {type(exc).__name__}: {exc}") from None
    if not (np.issubdtype(data.dtype, np.number) and data.size):
        raise _fail(path, f"array {key!r} must be numeric and non-empty, got {data.dtype}")
    return _heights_first(path, key, data)


def _pick_key(path: Path, key: str | None, names: list[str]) -> str:
    if key is None:
        if len(names) == 1:
            return names[0]
        raise _fail(path, f"holds {len(names)} arrays {sorted(names)}; choose one with --mat-key")
    if key not in names:
        raise _fail(path, f"has no array {key!r} (--mat-key); it holds {sorted(names)}")
    return key


def _heights_first(path: Path, key: str, data: np.ndarray) -> np.ndarray:
    """``(H, W)``, ``(H, W, n)`` or ``(n, H, W)`` (each optionally ``(…, 2)`` real/imag) →
    ``(n, H, W)``."""
    where = f"{path}:{key}"
    if data.ndim == 4 and data.shape[-1] == 2 and not np.iscomplexobj(data):
        data = data[..., 0] + 1j * data[..., 1]
    if data.ndim == 2:
        return data[np.newaxis]
    if data.ndim == 3:
        a, b, c = data.shape
        if c < min(a, b):
            return np.moveaxis(data, -1, 0)
        if a < min(b, c):
            return data
        raise _fail(
            where,
            f"cannot tell the heights axis of shape {data.shape}: expected (H, W, n) or (n, H, W) "
            "with n smaller than H and W",
        )
    raise _fail(where, f"must be (H, W), (H, W, n) or (n, H, W), got shape {data.shape}")


def _intensity(where: str, data: np.ndarray, *, amplitude: bool) -> tuple[np.ndarray, str]:
    """Intensity in the source's units and its kind (``uint16``, ``uint8`` or ``float``)."""
    if np.iscomplexobj(data):
        data = np.abs(data.astype(np.complex128)) ** 2
    elif amplitude:
        data = data.astype(np.float64) ** 2
    elif data.dtype == np.uint16:
        return data, "uint16"
    elif data.dtype == np.uint8:
        return data, "uint8"
    values = np.asarray(data, dtype=np.float64)
    if not np.isfinite(values).all():
        raise _fail(where, f"holds {int((~np.isfinite(values)).sum())} NaN or infinite values")
    if values.min() < 0:
        raise _fail(where, f"holds negative values (min {values.min():g}); an intensity cannot")
    if values.max() <= 0:
        raise _fail(where, "is zero everywhere")
    return values, "float"


def load_sources(
    sources: Sequence[str | os.PathLike[str]],
    *,
    mat_key: str | None = None,
    amplitude: bool = False,
) -> ImportedStack:
    """Read the holograms of one FOV, one height per image/page/array slice, as uint16.

    Raises
    ------
    RawDataError
        Naming the file and the rule: unreadable, unsupported type, shapes that differ, NaN,
        negative values, a missing ``.mat`` key.
    """
    paths = [Path(s) for s in sources]
    if not paths:
        raise _fail("SOURCE", "give at least one image file or one .mat file")
    mats = [p for p in paths if p.suffix.lower() == MAT_SUFFIX]
    for p in paths:
        if p.suffix.lower() not in (*IMAGE_SUFFIXES, MAT_SUFFIX):
            raise _fail(p, f"unsupported file type; use {', '.join(IMAGE_SUFFIXES)} or .mat")
    heights: list[tuple[str, np.ndarray]] = []
    if mats:
        if len(paths) != 1:
            raise _fail(mats[0], "a .mat source must be the only SOURCE (it holds every height)")
        data = _read_mat(paths[0], mat_key)
        heights = [(f"{paths[0].name}:{mat_key or ''}[{i}]", d) for i, d in enumerate(data)]
        origin = [paths[0]] * len(heights)
    else:
        if mat_key is not None:
            raise _fail("--mat-key", "applies to a .mat SOURCE only")
        origin = []
        for p in paths:
            pages = _read_image(p)
            suffix = len(pages) > 1
            for i, page in enumerate(pages):
                heights.append((f"{p.name}[{i}]" if suffix else p.name, page))
                origin.append(p)
    shape = heights[0][1].shape
    frames, scale = [], []
    for (name, data), path in zip(heights, origin, strict=True):
        if data.shape != shape:
            raise _fail(
                path,
                f"height {name} has shape {data.shape}, the first height {shape}: shapes differ",
            )
        values, kind = _intensity(str(path), data, amplitude=amplitude)
        if kind == "uint16":
            frames.append(values)
            scale.append(1.0)
        elif kind == "uint8":
            frames.append(values.astype(np.uint16) * np.uint16(UINT8_SCALE))
            scale.append(UINT8_SCALE)
        else:
            s = FLOAT_FULL_SCALE_DN / float(values.max())
            frames.append(np.clip(np.rint(values * s), 0, 65535).astype(np.uint16))
            scale.append(s)
    return ImportedStack(
        frames=np.stack(frames),
        scale=np.asarray(scale, dtype=np.float64),
        sources=tuple(name for name, _ in heights),
    )


def load_background(
    path: str | os.PathLike[str], frame_shape: tuple[int, int], *, amplitude: bool = False
) -> np.ndarray | None:
    """A background exposure in the source's units (float32 ``(H, W)``), or None for a constant
    placeholder (see the module docstring).

    Raises
    ------
    RawDataError
        Unreadable, not one frame, another shape, NaN, or zero/negative anywhere.
    """
    path = Path(path)
    if path.suffix.lower() == MAT_SUFFIX:
        data = _read_mat(path, None)
    elif path.suffix.lower() in IMAGE_SUFFIXES:
        data = _read_image(path)
    else:
        raise _fail(path, f"unsupported background file type; use {', '.join(IMAGE_SUFFIXES)}")
    if data.shape[0] != 1:
        raise _fail(path, f"a background must be one frame, got {data.shape[0]}")
    frame = data[0]
    if frame.shape != tuple(frame_shape):
        raise _fail(path, f"background has shape {frame.shape}, the holograms {tuple(frame_shape)}")
    values = (
        np.abs(frame.astype(np.complex128)) ** 2
        if np.iscomplexobj(frame)
        else frame.astype(np.float64) ** (2 if amplitude else 1)
    )
    if not np.isfinite(values).all():
        raise _fail(path, "background holds NaN or infinite values")
    if values.min() <= 0:
        raise _fail(
            path,
            f"background must be positive everywhere (min {values.min():g}): a zero or negative "
            "background cannot normalise",
        )
    if values.min() == values.max():
        return None
    return values.astype(np.float32)


# ----------------------------------------------------------------------------- the slide
def _check_arguments(
    *,
    slide_id: str,
    patient_id: str,
    tissue: str,
    fov_id: str,
    wavelength_nm: float,
    pitch_um: float,
    sr_factor: int,
    z2_um: Sequence[float] | None,
    z2_range_um: Sequence[float] | None,
    z2_tolerance_um: float,
) -> None:
    rules = [
        (SLIDE_ID_RE.fullmatch(slide_id), "--slide-id", f"must match [a-z0-9-]+, got {slide_id!r}"),
        (
            PATIENT_ID_RE.fullmatch(patient_id),
            "--patient-id",
            f"must match [A-Za-z0-9][A-Za-z0-9_-]*, got {patient_id!r}",
        ),
        (TISSUE_LABEL_RE.fullmatch(tissue), "--tissue", f"must match [a-z0-9_]+, got {tissue!r}"),
        (
            FOV_ID_RE.fullmatch(fov_id) and not fov_id.startswith("_"),
            "--fov-id",
            f"must match [a-z0-9_-]+ and not start with _, got {fov_id!r}",
        ),
        (
            WAVELENGTH_RANGE_NM[0] <= wavelength_nm <= WAVELENGTH_RANGE_NM[1],
            "--wavelength-nm",
            f"must be in {list(WAVELENGTH_RANGE_NM)}, got {wavelength_nm!r}",
        ),
        (1 <= sr_factor <= 16, "--sr-factor", f"must be in [1, 16], got {sr_factor!r}"),
        (
            PITCH_RANGE_UM[0] <= pitch_um / max(sr_factor, 1) <= PITCH_RANGE_UM[1],
            "--pixel-pitch-um",
            f"pitch / sr-factor must be in {list(PITCH_RANGE_UM)} µm, got {pitch_um!r}",
        ),
        ((z2_um is None) != (z2_range_um is None), "--z2-um", "give --z2-um or --z2-range-um"),
        (0 < z2_tolerance_um <= 500, "--z2-tolerance-um", "must be in (0, 500] µm"),
    ]
    for ok, where, rule in rules:
        if not ok:
            raise _fail(where, rule)
    lo, hi = Z2_RANGE_UM
    if z2_um is not None:
        z = [float(v) for v in z2_um]
        if not all(np.isfinite(z)) or min(z) < lo or max(z) > hi:
            raise _fail("--z2-um", f"heights must lie in [{lo:g}, {hi:g}] µm, got {z}")
        if any(b <= a for a, b in itertools.pairwise(z)):
            raise _fail("--z2-um", f"heights must be strictly increasing, got {z}")
    if z2_range_um is not None:
        r = [float(v) for v in z2_range_um]
        if len(r) != 2 or not all(np.isfinite(r)) or not lo <= r[0] < r[1] <= hi:
            raise _fail(
                "--z2-range-um", f"MIN < MAX must lie in [{lo:g}, {hi:g}] µm, got {z2_range_um}"
            )


def _heights_meta(
    n: int,
    z2_um: Sequence[float] | None,
    z2_range_um: Sequence[float] | None,
    tolerance_um: float,
    where: str,
) -> dict[str, Any]:
    lo, hi = Z2_RANGE_UM
    if z2_um is None:
        assert z2_range_um is not None
        return {
            "z2_nominal_um": None,
            "z2_tolerance_um": 0.0,
            "stage_range_um": [float(z2_range_um[0]), float(z2_range_um[1])],
        }
    z = [float(v) for v in z2_um]
    if len(z) != n:
        raise _fail(where, f"holds {n} heights but --z2-um gives {len(z)}")
    return {
        "z2_nominal_um": z,
        "z2_tolerance_um": float(tolerance_um),
        "stage_range_um": [max(lo, z[0] - tolerance_um), min(hi, z[-1] + tolerance_um)],
    }


def _write_fov(fov_dir: Path, stack: ImportedStack, background: np.ndarray | None) -> None:
    fov_dir.mkdir(parents=True)
    for h, frame in enumerate(stack.frames):
        write_height_tiff(fov_dir / height_filename(h), frame[np.newaxis])
    if background is not None:
        write_background_tiff(fov_dir / BACKGROUND_TIFF, background)


def import_slide(
    sources: Sequence[str | os.PathLike[str]],
    *,
    landing: str | os.PathLike[str],
    slide_id: str,
    patient_id: str,
    tissue: str,
    wavelength_nm: float,
    pixel_pitch_um: float,
    sr_factor: int = 1,
    z2_um: Sequence[float] | None = None,
    z2_range_um: Sequence[float] | None = None,
    z2_tolerance_um: float = DEFAULT_Z2_TOLERANCE_UM,
    background: str | os.PathLike[str] | None = None,
    mat_key: str | None = None,
    amplitude: bool = False,
    fov_id: str | None = None,
    created: str | None = None,
) -> Path:
    """Write one FOV of holograms into ``<landing>/<slide_id>`` as a version-2 slide, atomically.

    Without ``fov_id`` the slide must not exist yet and its FOV is ``fov_000``; with ``fov_id`` a
    new slide is created, or the FOV is added to the existing slide (which must agree on optics,
    frame shape, heights and background use). See the module docstring for the conversions.

    Returns
    -------
    Path
        The slide folder.

    Raises
    ------
    RawDataError
        Naming the file (or option) and the rule; the landing folder is then unchanged.
    """
    adding = fov_id is not None
    fov_id = fov_id or DEFAULT_FOV_ID
    _check_arguments(
        slide_id=slide_id,
        patient_id=patient_id,
        tissue=tissue,
        fov_id=fov_id,
        wavelength_nm=float(wavelength_nm),
        pitch_um=float(pixel_pitch_um),
        sr_factor=int(sr_factor),
        z2_um=z2_um,
        z2_range_um=z2_range_um,
        z2_tolerance_um=float(z2_tolerance_um),
    )
    landing = Path(landing)
    final = landing / slide_id
    existing = read_slide(final) if final.exists() else None
    if existing is not None and not adding:
        raise _fail(final, "slide exists already; add a FOV to it with --fov-id NAME")

    stack = load_sources(sources, mat_key=mat_key, amplitude=amplitude)
    n, h, w = stack.frames.shape
    first_source = Path(sources[0])
    bg = None if background is None else load_background(background, (h, w), amplitude=amplitude)
    meta = _slide_meta(
        stack,
        bg,
        first_source,
        slide_id=slide_id,
        patient_id=patient_id,
        tissue=tissue,
        wavelength_nm=float(wavelength_nm),
        pixel_pitch_um=float(pixel_pitch_um),
        sr_factor=int(sr_factor),
        heights=_heights_meta(n, z2_um, z2_range_um, float(z2_tolerance_um), str(first_source)),
        fov_id=fov_id,
        created=created or datetime.now(UTC).isoformat(timespec="seconds"),
        background_file=None if background is None else Path(background),
    )
    if existing is not None:
        meta = _merged_meta(existing, meta, fov_id, first_source)
    check_slide_metadata(final, meta)  # every rule checked before anything is written

    if not landing.is_dir():
        landing.mkdir(parents=True)
    with atomic_path(final) as tmp:
        if existing is not None:
            # Hard links: files are only ever replaced by rename, never rewritten in place.
            shutil.copytree(existing.path, tmp, copy_function=_link_or_copy)
            (tmp / SLIDE_YAML).unlink()  # the new one, written last, lists the new FOV
        else:
            tmp.mkdir()
        _write_fov(tmp / fov_id, stack, bg)
        write_slide_yaml(tmp, meta, folder_name=slide_id)
    return final


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _slide_meta(
    stack: ImportedStack,
    background: np.ndarray | None,
    first_source: Path,
    *,
    slide_id: str,
    patient_id: str,
    tissue: str,
    wavelength_nm: float,
    pixel_pitch_um: float,
    sr_factor: int,
    heights: dict[str, Any],
    fov_id: str,
    created: str,
    background_file: Path | None,
) -> dict[str, Any]:
    n, h, w = stack.frames.shape
    if background is None:
        level = float(np.median(stack.frames[0] / stack.scale[0]))
        if level <= 0:
            raise _fail(first_source, "median is 0: no illumination level to normalise by")
        flat, flat_source = level, "median of the first hologram"
        if background_file is not None:
            flat_source += f" ({background_file.name} is constant: a placeholder, ignored)"
    else:
        flat, flat_source = float(np.median(background)), f"background frames ({background_file})"
    meta: dict[str, Any] = {
        "format_version": 2,
        "slide_id": slide_id,
        "patient_id": patient_id,
        "tissue": tissue,
        "wavelength_nm": wavelength_nm,
        "pixel_pitch_um": pixel_pitch_um / sr_factor,
        "sr_factor": 1,
        "scan_grid": 1,
        "bit_depth": 16,
        "black_level_dn": 0.0,
        "flat_field_dn": round(flat, 6),
        "flat_field_source": flat_source,
        "z1_mm": DEFAULT_Z1_MM,
        "n_medium": 1.0,
        "n_heights": n,
        **heights,
        "frame_shape": [h, w],
        "fov_ids": [fov_id],
        "background": "none" if background is None else "fov",
        "created": created,
        "instrument": "imported by holo-pipeline import",
        "source_files": {fov_id: list(stack.sources)},
    }
    if sr_factor != 1:
        meta["sensor_pitch_um"] = pixel_pitch_um
        meta["source_sr_factor"] = sr_factor
    if np.any(stack.scale != 1.0):
        meta["intensity_scale"] = {fov_id: [float(s) for s in stack.scale]}
    return meta


# keys a FOV added to an existing slide must agree on
_SAME = (
    "patient_id",
    "tissue",
    "wavelength_nm",
    "pixel_pitch_um",
    "n_heights",
    "z2_nominal_um",
    "stage_range_um",
    "frame_shape",
    "background",
)


def _merged_meta(existing, new: dict[str, Any], fov_id: str, source: Path) -> dict[str, Any]:
    old = existing.meta
    where = existing.path / SLIDE_YAML
    if old.get("format_version") != 2:
        raise _fail(where, "FOVs can be added to version-2 (imported) slides only")
    if fov_id in existing.fov_ids:
        raise _fail(where, f"FOV {fov_id!r} exists already; choose another --fov-id")
    for key in _SAME:
        if old.get(key, "none") != new.get(key, "none"):
            raise _fail(
                source,
                f"{key} {new.get(key)!r} differs from the slide's {old.get(key)!r} "
                f"({where}); a FOV added with --fov-id must match its slide",
            )
    meta = dict(old)
    meta["fov_ids"] = [*old["fov_ids"], fov_id]
    meta["source_files"] = {**old.get("source_files", {}), **new["source_files"]}
    scales = {**old.get("intensity_scale", {}), **new.get("intensity_scale", {})}
    if scales:
        meta["intensity_scale"] = scales
    return meta


# ----------------------------------------------------------------------------- command line
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sources", nargs="+", metavar="SOURCE", help="image files or one .mat")
    parser.add_argument("--landing", required=True, help="the landing folder")
    parser.add_argument("--slide-id", required=True)
    parser.add_argument("--patient-id", required=True)
    parser.add_argument("--tissue", required=True, help="a label, [a-z0-9_]+")
    parser.add_argument("--wavelength-nm", type=float, required=True)
    parser.add_argument("--pixel-pitch-um", type=float, required=True, help="sensor pixel pitch")
    parser.add_argument(
        "--sr-factor", type=int, default=1, help="the frames are already super-resolved F×"
    )
    heights = parser.add_mutually_exclusive_group(required=True)
    heights.add_argument("--z2-um", type=float, nargs="+", help="nominal height per SOURCE height")
    heights.add_argument(
        "--z2-range-um", type=float, nargs=2, metavar=("MIN", "MAX"), help="heights unknown within"
    )
    parser.add_argument(
        "--z2-tolerance-um",
        type=float,
        default=DEFAULT_Z2_TOLERANCE_UM,
        help="autofocus half-range around nominal heights",
    )
    parser.add_argument("--background", help="an exposure without the sample")
    parser.add_argument("--mat-key", help="the array of a .mat SOURCE")
    parser.add_argument("--amplitude", action="store_true", help="values are amplitudes: square")
    parser.add_argument("--fov-id", help="the FOV's name; adds it to an existing slide")


def run(args: argparse.Namespace) -> int:
    try:
        path = import_slide(
            args.sources,
            landing=args.landing,
            slide_id=args.slide_id,
            patient_id=args.patient_id,
            tissue=args.tissue,
            wavelength_nm=args.wavelength_nm,
            pixel_pitch_um=args.pixel_pitch_um,
            sr_factor=args.sr_factor,
            z2_um=args.z2_um,
            z2_range_um=args.z2_range_um,
            z2_tolerance_um=args.z2_tolerance_um,
            background=args.background,
            mat_key=args.mat_key,
            amplitude=args.amplitude,
            fov_id=args.fov_id,
        )
    except RawDataError as exc:
        print(f"holo-pipeline import: {exc}", file=sys.stderr)
        return 2
    slide = read_slide(path)
    print(
        f"imported {path} ({len(slide.fov_ids)} FOV, {slide.n_heights} heights, "
        f"{slide.frame_shape[0]}×{slide.frame_shape[1]})"
    )
    return 0
