"""Simulated slides and cohorts: the virtual microscope writing the raw slide format.

:func:`simulate_slide` draws a sample of one tissue for one patient, acquires ``n_fov`` fields of
view with :func:`holo_pipeline.instrument.microscope.acquire_fov` and writes them in the raw slide
format (:mod:`holo_pipeline.instrument.slide_format`), plus the simulator's truth::

    <slide>/_truth/<fov_id>.npz
        field         complex64 (3h, 3w)   sample transmission on the SR grid, exactly the area the
                                           SR hologram of h×w frames covers (pixel = pitch / 3)
        z2_m          float64 (8,)         true sample-to-sensor distances (m)
        shifts        float64 (8, 36, 2)   absolute (dy, dx) frame positions in low-res pixels;
                                           shifts[0, 0] = 0, shifts[h, 0] = drift of height h
                                           (convention in holo_pipeline.instrument.microscope)
        pixel_size_m  float64 ()           SR pixel of ``field`` (m)

Randomness is derived from ``seed`` and the names only: patient parameters from
``(seed, tissue, patient_id)``, slide staining and stage heights from ``(seed, slide_id)``, each
FOV's sample, geometry and noise from ``(seed, slide_id, fov index)``. The same arguments give
byte-identical TIFFs and truth files; ``slide.yaml`` differs only in ``created`` unless it is
passed.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from holo_pipeline.atomic import atomic_path
from holo_pipeline.instrument.microscope import (
    MicroscopeConfig,
    acquire_fov,
    draw_geometry,
    nominal_heights_um,
)
from holo_pipeline.instrument.slide_format import (
    FORMAT_VERSION,
    PATIENT_ID_RE,
    SLIDE_ID_RE,
    SLIDE_YAML,
    TISSUES,
    TRUTH_DIR,
    height_filename,
    is_slide_ready,
    write_height_tiff,
    write_slide_yaml,
)
from holo_pipeline.instrument.tissues import patient_parameters, slide_parameters, tissue_phantom
from holo_pipeline.optics import Propagator

__all__ = [
    "CohortProfile",
    "SimulationTruth",
    "SlidePlan",
    "plan_cohort",
    "read_truth",
    "simulate_cohort",
    "simulate_slide",
]

INSTRUMENT = "holo_pipeline virtual lens-free microscope"


def _rng(seed: int, *keys: object) -> np.random.Generator:
    """Generator seeded from ``seed`` and names (stable across runs and platforms)."""
    words = [int(seed) & 0xFFFFFFFF]
    for key in keys:
        digest = hashlib.sha256(str(key).encode()).digest()
        words.append(int.from_bytes(digest[:4], "little"))
    return np.random.default_rng(np.random.SeedSequence(words))


def fov_id(index: int) -> str:
    """Folder name of FOV ``index`` (``fov_000``)."""
    return f"fov_{index:03d}"


@dataclass(frozen=True)
class SimulationTruth:
    """What the simulator knows about one FOV (never available for a real slide)."""

    field: np.ndarray
    z2_m: np.ndarray
    shifts: np.ndarray
    pixel_size_m: float


def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write an .npz with fixed zip timestamps (byte-reproducible), atomically."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, value in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.asarray(value), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, member.getvalue())
    with atomic_path(path) as tmp:
        tmp.write_bytes(buf.getvalue())


def has_truth(slide_dir: str | os.PathLike[str], fov: str) -> bool:
    """Whether ``fov`` of the slide has the simulator's truth (a real instrument writes none)."""
    return (Path(slide_dir) / TRUTH_DIR / f"{fov}.npz").is_file()


def read_truth(slide_dir: str | os.PathLike[str], fov: str) -> SimulationTruth:
    """Load the simulator's truth for one FOV of a simulated slide."""
    path = Path(slide_dir) / TRUTH_DIR / f"{fov}.npz"
    with np.load(path, allow_pickle=False) as data:
        return SimulationTruth(
            field=data["field"],
            z2_m=data["z2_m"],
            shifts=data["shifts"],
            pixel_size_m=float(data["pixel_size_m"]),
        )


def simulate_slide(
    root: str | os.PathLike[str],
    *,
    tissue: str,
    slide_id: str,
    patient_id: str,
    n_fov: int,
    seed: int,
    optics: MicroscopeConfig | None = None,
    created: datetime | str | None = None,
    overwrite: bool = False,
    on_fov: Callable[[str], None] | None = None,
) -> Path:
    """Simulate one slide with the virtual lens-free microscope and write it under ``root``.

    Parameters
    ----------
    root : path-like
        Landing folder; the slide is written to ``root/slide_id``.
    tissue : str
        One of :data:`TISSUES`.
    slide_id : str
        ``[a-z0-9-]+``.
    patient_id : str
        ``[A-Za-z0-9][A-Za-z0-9_-]*``; slides of one patient share the patient's biology.
    n_fov : int
        Number of fields of view.
    seed : int
        Root seed (see module docstring).
    optics : MicroscopeConfig, optional
        The microscope; default ``MicroscopeConfig()`` (demo: 176×176 frames).
    created : datetime or str, optional
        Acquisition time written to ``slide.yaml``; default now (UTC).
    overwrite : bool
        Replace a complete slide of the same id (otherwise ``FileExistsError``). An incomplete
        slide (no ``slide.yaml``, e.g. left by a crash) is always redone.
    on_fov : callable, optional
        Called with each FOV id once it is written (progress reporting).

    Returns
    -------
    Path
        The slide folder, complete (``slide.yaml`` written last, atomically).
    """
    if tissue not in TISSUES:
        raise ValueError(f"tissue must be one of {TISSUES}, got {tissue!r}")
    if not isinstance(slide_id, str) or not SLIDE_ID_RE.fullmatch(slide_id):
        raise ValueError(f"slide_id must match [a-z0-9-]+, got {slide_id!r}")
    if not isinstance(patient_id, str) or not PATIENT_ID_RE.fullmatch(patient_id):
        raise ValueError(f"patient_id must match [A-Za-z0-9][A-Za-z0-9_-]*, got {patient_id!r}")
    if isinstance(n_fov, bool) or int(n_fov) != n_fov or n_fov < 1:
        raise ValueError(f"n_fov must be a positive integer, got {n_fov!r}")
    config = optics if optics is not None else MicroscopeConfig()
    if created is None:
        created = datetime.now(UTC).replace(microsecond=0)
    created_text = created.isoformat() if isinstance(created, datetime) else str(created)

    slide_dir = Path(root) / slide_id
    if (slide_dir / SLIDE_YAML).exists():
        if not overwrite:
            raise FileExistsError(f"{slide_dir}: slide already exists (pass overwrite=True)")
        (slide_dir / SLIDE_YAML).unlink()  # the slide stops being ready before it changes
    if slide_dir.exists():
        shutil.rmtree(slide_dir)
    slide_dir.mkdir(parents=True)
    (slide_dir / TRUTH_DIR).mkdir()

    patient = patient_parameters(tissue, _rng(seed, "patient", tissue, patient_id))
    slide_rng = _rng(seed, "slide", slide_id)
    params = slide_parameters(patient, slide_rng)
    z2_nominal_um = nominal_heights_um(config, slide_rng)
    propagator = Propagator(
        config.sample_shape,
        wavelength=config.wavelength_m,
        pixel_size=config.sr_pixel_size_m,
        n_medium=config.n_medium,
        cache_size=0,
    )
    fov_ids = [fov_id(i) for i in range(int(n_fov))]
    for i, fov in enumerate(fov_ids):
        rng = _rng(seed, "fov", slide_id, i)
        sample = tissue_phantom(
            tissue, config.sample_shape, pixel_size=config.sr_pixel_size_m, params=params, rng=rng
        )
        z2_m, shifts = draw_geometry(config, z2_nominal_um, rng)
        acq = acquire_fov(
            sample, config=config, z2_m=z2_m, shifts=shifts, rng=rng, propagator=propagator
        )
        fov_dir = slide_dir / fov
        fov_dir.mkdir()
        for h in range(config.n_heights):
            write_height_tiff(fov_dir / height_filename(h), acq.frames[h])
        _write_npz(
            slide_dir / TRUTH_DIR / f"{fov}.npz",
            {
                "field": sample[config.fov_slice].astype(np.complex64),
                "z2_m": acq.z2_m,
                "shifts": acq.shifts,
                "pixel_size_m": np.float64(config.sr_pixel_size_m),
            },
        )
        if on_fov is not None:
            on_fov(fov)

    tol = config.z2_tolerance_um
    meta = {
        "format_version": FORMAT_VERSION,
        "slide_id": slide_id,
        "patient_id": patient_id,
        "tissue": tissue,
        "wavelength_nm": float(config.wavelength_nm),
        "pixel_pitch_um": float(config.pixel_pitch_um),
        "sr_factor": int(config.sr_factor),
        "scan_grid": int(config.scan_grid),
        "bit_depth": int(config.bit_depth),
        "black_level_dn": int(config.black_level_dn),
        "flat_field_dn": round(float(config.flat_field_dn), 3),
        "z1_mm": float(config.z1_mm),
        "n_medium": float(config.n_medium),
        "z2_nominal_um": [float(z) for z in z2_nominal_um],
        "z2_tolerance_um": float(tol),
        "stage_range_um": [
            float(np.floor(z2_nominal_um[0] - tol - 25.0)),
            float(np.ceil(z2_nominal_um[-1] + tol + 25.0)),
        ],
        "frame_shape": [int(s) for s in config.frame_shape],
        "fov_ids": fov_ids,
        "created": created_text,
        "instrument": INSTRUMENT,
        "simulated": True,
        "seed": int(seed),
    }
    write_slide_yaml(slide_dir, meta)
    return slide_dir


# ----------------------------------------------------------------------------- cohorts
@dataclass(frozen=True)
class CohortProfile:
    """Size of a simulated cohort: per tissue, patients × slides per patient × FOVs per slide.

    The defaults are the ``paper`` profile's (512×512 frames -> 1536×1536 super-resolved, 9
    patches per FOV); each profile of ``data_catalog.yaml`` sets its own
    (``profiles.<name>.cohort``, read by :func:`holo_pipeline.profile.load_profile`).
    ``patients_by_tissue`` and ``fovs_by_tissue`` (tissue → number) override the two numbers for
    single tissues, e.g. to give the transfer tissues the test patients their evaluation needs
    without simulating more of the pretraining tissues.
    """

    frame_shape: tuple[int, int] = (512, 512)
    patients_per_tissue: int = 5
    slides_per_patient: int = 1
    fovs_per_slide: int = 8
    patients_by_tissue: tuple[tuple[str, int], ...] = ()
    fovs_by_tissue: tuple[tuple[str, int], ...] = ()

    def __post_init__(self) -> None:
        if len(self.frame_shape) != 2 or min(self.frame_shape) < 16:
            raise ValueError(f"frame_shape must be two sizes >= 16 px, got {self.frame_shape}")
        if min(self.patients_per_tissue, self.slides_per_patient, self.fovs_per_slide) < 1:
            raise ValueError("patients_per_tissue, slides_per_patient, fovs_per_slide must be >= 1")
        for name in ("patients_by_tissue", "fovs_by_tissue"):
            value = getattr(self, name)
            pairs = tuple(sorted((dict(value) if value else {}).items()))
            if any(t not in TISSUES or int(n) < 1 for t, n in pairs):
                raise ValueError(
                    f"{name} must map tissues of {TISSUES} to numbers >= 1, got {value}"
                )
            object.__setattr__(self, name, tuple((t, int(n)) for t, n in pairs))

    def patients(self, tissue: str) -> int:
        """Patients of ``tissue`` (``patients_by_tissue`` or ``patients_per_tissue``)."""
        return dict(self.patients_by_tissue).get(tissue, self.patients_per_tissue)

    def fovs(self, tissue: str) -> int:
        """FOVs per slide of ``tissue`` (``fovs_by_tissue`` or ``fovs_per_slide``)."""
        return dict(self.fovs_by_tissue).get(tissue, self.fovs_per_slide)


@dataclass(frozen=True)
class SlidePlan:
    """One slide of a cohort to simulate."""

    slide_id: str
    patient_id: str
    tissue: str
    n_fov: int


def plan_cohort(
    cohort: CohortProfile | None = None,
    *,
    tissues: Sequence[str] | None = None,
    patients_per_tissue: int | None = None,
    fovs_per_slide: int | None = None,
) -> list[SlidePlan]:
    """List the slides of a cohort: every tissue, each patient its own slide(s).

    Slide ids are ``<tissue>-p<NN>-s<M>`` with ``_`` replaced by ``-``; patient ids
    ``<tissue>-p<NN>``.
    """
    spec = CohortProfile() if cohort is None else cohort
    tissues = list(TISSUES if tissues is None else tissues)
    for t in tissues:
        if t not in TISSUES:
            raise ValueError(f"tissue must be one of {TISSUES}, got {t!r}")
    if any(n is not None and int(n) < 1 for n in (patients_per_tissue, fovs_per_slide)):
        raise ValueError("patients_per_tissue and fovs_per_slide must be >= 1")
    plans = []
    for t in tissues:
        n_pat = spec.patients(t) if patients_per_tissue is None else int(patients_per_tissue)
        n_fov = spec.fovs(t) if fovs_per_slide is None else int(fovs_per_slide)
        short = t.replace("_", "-")
        for p in range(1, n_pat + 1):
            for s in range(1, spec.slides_per_patient + 1):
                plans.append(SlidePlan(f"{short}-p{p:02d}-s{s}", f"{short}-p{p:02d}", t, n_fov))
    return plans


def simulate_cohort(
    root: str | os.PathLike[str],
    cohort: CohortProfile | None = None,
    *,
    seed: int = 0,
    tissues: Iterable[str] | None = None,
    patients_per_tissue: int | None = None,
    fovs_per_slide: int | None = None,
    optics: MicroscopeConfig | None = None,
    overwrite: bool = False,
    on_fov: Callable[[str], None] | None = None,
    workers: int = 1,
) -> list[Path]:
    """Simulate a cohort of slides into the landing folder ``root``.

    Slides that are already complete are kept (a rerun after a crash continues) unless
    ``overwrite``.

    Parameters
    ----------
    root : path-like
        Landing folder.
    cohort : CohortProfile, optional
        Sizes (default :class:`CohortProfile`, the paper's); a profile's is
        ``load_profile(name).cohort``.
    seed : int
        Root seed.
    tissues : iterable of str, optional
        Subset of :data:`TISSUES` (default all).
    patients_per_tissue, fovs_per_slide : int, optional
        Override the cohort's numbers.
    optics : MicroscopeConfig, optional
        Default: ``MicroscopeConfig(frame_shape=cohort.frame_shape)``.
    overwrite : bool
        Re-simulate complete slides too.
    on_fov : callable, optional
        Called with ``"<slide_id>/<fov_id>"`` after each FOV (skipped slides report theirs too;
        with ``workers > 1``, for all FOVs of a slide once the slide is written).
    workers : int
        Slides simulated at once, each in its own process. Every slide draws from its own seeds
        (:func:`_rng` of the slide and FOV ids), so the files are the same for any ``workers``.

    Returns
    -------
    list of Path
        Every slide folder of the cohort, in plan order.
    """
    cohort = CohortProfile() if cohort is None else cohort
    plans = plan_cohort(
        cohort,
        tissues=None if tissues is None else list(tissues),
        patients_per_tissue=patients_per_tissue,
        fovs_per_slide=fovs_per_slide,
    )
    config = optics if optics is not None else MicroscopeConfig(cohort.frame_shape)
    Path(root).mkdir(parents=True, exist_ok=True)
    todo = [p for p in plans if overwrite or not is_slide_ready(Path(root) / p.slide_id)]

    def report(plan: SlidePlan) -> None:
        if on_fov is not None:
            for i in range(plan.n_fov):
                on_fov(f"{plan.slide_id}/{fov_id(i)}")

    for plan in plans:
        if plan not in todo:
            report(plan)
    common = {"seed": seed, "optics": config, "overwrite": True}
    jobs = [
        {"tissue": p.tissue, "slide_id": p.slide_id, "patient_id": p.patient_id, "n_fov": p.n_fov}
        | common
        for p in todo
    ]
    if workers > 1 and len(todo) > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # spawn: the caller may hold threads (Dask, TensorFlow) that fork would copy mid-state
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(min(workers, len(todo)), mp_context=context) as pool:
            futures = [pool.submit(simulate_slide, root, **job) for job in jobs]
            for plan, future in zip(todo, futures, strict=True):
                future.result()
                report(plan)
    else:
        for plan, job in zip(todo, jobs, strict=True):
            simulate_slide(
                root,
                **job,
                on_fov=None if on_fov is None else (lambda f, s=plan.slide_id: on_fov(f"{s}/{f}")),
            )
    return [Path(root) / plan.slide_id for plan in plans]
