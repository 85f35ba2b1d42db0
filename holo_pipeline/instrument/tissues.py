"""Tissue phantoms: complex transmission of five sample types on the super-resolved grid.

Each phantom is built as two real maps, the optical phase delay ``φ`` (radians, from optical
thickness: φ = 2π·Δn·t/λ) and the stain absorbance ``a`` (dimensionless), and returned as the
complex transmission ``t = A·exp(iφ)`` with amplitude ``A = 0.3 + 0.7·exp(−a)`` in (0.3, 1].
Clear glass is ``t = 1``. Edges are soft (tanh profiles a few tenths of a micrometre wide, then a
Gaussian blur), so phantoms are band-limited on a 0.37 µm grid.

The five sample types differ in structure and statistics:

``blood_smear``
    Dense monolayer of biconcave red cells (~7.5 µm, Evans–Fung thickness profile), sparse larger
    white cells with dark lobed nuclei, platelets.
``pap_smear``
    Sparse, large, flat polygonal squamous cells (35–60 µm) with small dark nuclei, folds, and
    clusters of overlapping cells; a few inflammatory cells.
``lung``
    Alveolar network: thin septa (a few µm) on a Voronoi tessellation of 50–110 µm alveoli, broken
    by ducts, with nuclei along the septa and a few alveolar macrophages.
``prostate``
    Fibrous stroma filling the section, with glands: lumens lined by an epithelial band whose
    nuclei sit near the basement membrane.
``salivary_gland``
    Lobules of densely packed acini (serous dark, mucous pale, nuclei at the periphery) separated
    by connective septa, with ducts (epithelial rings around a lumen) and a few fat vacuoles.

Randomness comes only from the generators passed in: :func:`patient_parameters` draws a patient's
biology and staining, :func:`slide_parameters` perturbs it per slide (staining and section
thickness), and :func:`tissue_phantom` draws the structures of one field.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np
from scipy import ndimage, spatial

from holo_pipeline.instrument.slide_format import TISSUES

__all__ = [
    "TISSUES",
    "patient_parameters",
    "slide_parameters",
    "tissue_phantom",
]

# Patient-level parameter ranges per tissue, drawn uniformly. Lengths in µm, phases in radians,
# absorbances dimensionless, densities per mm². "stain" and "thickness" scale every absorbance and
# phase of a section; they are drawn per patient and perturbed per slide.
_PATIENT_RANGES: dict[str, dict[str, tuple[float, float]]] = {
    "blood_smear": {
        "rbc_diameter_um": (7.0, 8.0),
        "rbc_spacing": (0.95, 1.08),  # lattice spacing / diameter
        "rbc_fill": (0.8, 0.97),  # fraction of lattice sites holding a cell
        "rbc_phase": (0.9, 1.5),
        "rbc_absorbance": (0.15, 0.35),
        "pallor": (0.5, 1.0),  # 0: dome-shaped cells, 1: full biconcave profile
        "wbc_per_mm2": (40.0, 120.0),
        "platelet_per_mm2": (300.0, 900.0),
        "stain": (0.8, 1.2),
        "thickness": (0.85, 1.15),
    },
    "pap_smear": {
        "cell_diameter_um": (38.0, 55.0),
        "coverage": (0.25, 0.5),
        "cluster_fraction": (0.3, 0.7),
        "cyto_phase": (0.35, 0.8),
        "cyto_absorbance": (0.05, 0.2),
        "nucleus_diameter_um": (5.0, 8.0),
        "nucleus_absorbance": (0.7, 1.1),
        "fold_probability": (0.3, 0.7),
        "inflammatory_per_mm2": (50.0, 300.0),
        "stain": (0.7, 1.3),
        "thickness": (0.8, 1.2),
    },
    "lung": {
        "alveolus_um": (50.0, 100.0),
        "septum_um": (3.0, 7.0),
        "septum_phase": (1.2, 2.2),
        "septum_absorbance": (0.3, 0.7),
        "gap_fraction": (0.08, 0.25),
        "nuclei_per_mm2": (1500.0, 4000.0),
        "macrophage_per_mm2": (10.0, 60.0),
        "stain": (0.8, 1.2),
        "thickness": (0.85, 1.15),
    },
    "prostate": {
        "gland_diameter_um": (60.0, 140.0),
        "gland_fill": (0.3, 0.5),
        "epithelium_um": (9.0, 16.0),
        "epithelium_phase": (1.6, 2.4),
        "epithelium_absorbance": (0.45, 0.8),
        "stroma_phase": (0.8, 1.4),
        "stroma_absorbance": (0.15, 0.35),
        "fibre_um": (5.0, 12.0),
        "stain": (0.8, 1.2),
        "thickness": (0.85, 1.15),
    },
    "salivary_gland": {
        "lobule_um": (120.0, 220.0),
        "septum_um": (8.0, 16.0),
        "acinus_um": (22.0, 34.0),
        "acinus_phase": (1.4, 2.2),
        "serous_absorbance": (0.5, 0.9),
        "mucous_fraction": (0.1, 0.5),
        "duct_per_mm2": (15.0, 45.0),
        "fat_per_mm2": (0.0, 30.0),
        "stain": (0.8, 1.2),
        "thickness": (0.85, 1.15),
    },
}

# Fine texture of all stained material: correlation length (µm) and relative strength.
_GRAIN_UM = 0.4
_GRAIN_PHASE = 0.15
_GRAIN_ABSORB = 0.2

# Per-slide variation: staining and section thickness vary most between slides of one patient.
_SLIDE_JITTER = {"stain": 0.12, "thickness": 0.08}
_DEFAULT_SLIDE_JITTER = 0.04


def _check_tissue(tissue: str) -> None:
    if tissue not in TISSUES:
        raise ValueError(f"tissue must be one of {TISSUES}, got {tissue!r}")


def patient_parameters(tissue: str, rng: np.random.Generator) -> dict[str, float]:
    """Draw one patient's phantom parameters (biology and staining) for ``tissue``.

    Parameters
    ----------
    tissue : str
        One of :data:`TISSUES`.
    rng : numpy.random.Generator
        Seeded from the patient (same patient, same parameters).

    Returns
    -------
    dict of str to float
        Lengths in µm, phases in rad, absorbances, densities per mm².
    """
    _check_tissue(tissue)
    return {k: float(rng.uniform(lo, hi)) for k, (lo, hi) in _PATIENT_RANGES[tissue].items()}


def slide_parameters(patient: Mapping[str, float], rng: np.random.Generator) -> dict[str, float]:
    """Perturb a patient's parameters for one slide (±12 % stain, ±8 % thickness, ±4 % others)."""
    out = {}
    for key, value in patient.items():
        spread = _SLIDE_JITTER.get(key, _DEFAULT_SLIDE_JITTER)
        out[key] = float(value * rng.uniform(1.0 - spread, 1.0 + spread))
    return out


# ----------------------------------------------------------------------------- drawing helpers
class _Canvas:
    """Phase and absorbance maps with local stamping (objects are drawn in their bounding box)."""

    def __init__(self, shape: tuple[int, int], pixel_um: float) -> None:
        self.shape = shape
        self.px = pixel_um
        self.phase = np.zeros(shape, np.float32)
        self.absorb = np.zeros(shape, np.float32)

    def box(self, cy: float, cx: float, half: float):
        """Slices and local coordinates (px, from the centre) of a box, or None if outside."""
        h, w = self.shape
        half = math.ceil(half) + 2
        y0, y1 = max(int(cy) - half, 0), min(int(cy) + half + 1, h)
        x0, x1 = max(int(cx) - half, 0), min(int(cx) + half + 1, w)
        if y0 >= y1 or x0 >= x1:
            return None
        yy = (np.arange(y0, y1, dtype=np.float32) - np.float32(cy))[:, None]
        xx = (np.arange(x0, x1, dtype=np.float32) - np.float32(cx))[None, :]
        return (slice(y0, y1), slice(x0, x1)), yy, xx

    def add(self, sl, phase=None, absorb=None) -> None:
        if phase is not None:
            self.phase[sl] += phase
        if absorb is not None:
            self.absorb[sl] += absorb

    def clear(self, sl, mask) -> None:
        """Remove what lies under ``mask`` (an object displacing the material beneath it)."""
        keep = 1.0 - mask
        self.phase[sl] *= keep
        self.absorb[sl] *= keep


def _soft(depth: np.ndarray, width: float) -> np.ndarray:
    """Soft inside-indicator: 1 well inside (depth > 0 large), 0 outside, tanh edge (px)."""
    return (0.5 + 0.5 * np.tanh(depth / np.float32(max(width, 1e-3)))).astype(np.float32)


def _ellipse_rho(yy, xx, radius: float, ellipticity: float, angle: float) -> np.ndarray:
    """Normalised elliptical radius ρ (1 on the boundary), mean radius ``radius`` px."""
    c, s = math.cos(angle), math.sin(angle)
    u = xx * c + yy * s
    v = -xx * s + yy * c
    a = radius * math.sqrt(ellipticity)
    b = radius / math.sqrt(ellipticity)
    return np.sqrt((u / a) ** 2 + (v / b) ** 2)


def _irregular_radius(
    theta: np.ndarray, radius: float, harmonics: np.ndarray, phases
) -> np.ndarray:
    """Boundary radius R(θ) = R·(1 + Σ_k a_k cos(kθ + φ_k)), harmonics k = 2, 3, …"""
    out = np.ones_like(theta)
    for k, (amp, ph) in enumerate(zip(harmonics, phases, strict=True), start=2):
        out += amp * np.cos(k * theta + ph)
    return radius * out


def _smooth_noise(rng: np.random.Generator, shape, sigma_px: float, aniso=None) -> np.ndarray:
    """Zero-mean, unit-std Gaussian random field with correlation length ``sigma_px`` (px).

    ``aniso = (ratio, angle)`` stretches the correlation by ``ratio`` along direction ``angle``
    (fibres).
    """
    noise = rng.standard_normal(shape).astype(np.float32)
    fy = np.fft.fftfreq(shape[0]).astype(np.float32)[:, None]
    fx = np.fft.rfftfreq(shape[1]).astype(np.float32)[None, :]
    if aniso is None:
        f2 = (fy**2 + fx**2) * sigma_px**2
    else:
        ratio, angle = aniso
        c, s = math.cos(angle), math.sin(angle)
        fu = fx * c + fy * s
        fv = -fx * s + fy * c
        f2 = (fu * ratio * sigma_px) ** 2 + (fv * sigma_px) ** 2
    spec = np.fft.rfft2(noise) * np.exp(-2.0 * math.pi**2 * f2)
    field = np.fft.irfft2(spec, s=shape).astype(np.float32)
    field -= field.mean()
    std = float(field.std())
    return field / std if std > 0 else field


def _poisson_count(rng: np.random.Generator, per_mm2: float, shape, px_um: float) -> int:
    area_mm2 = shape[0] * shape[1] * (px_um * 1e-3) ** 2
    return int(rng.poisson(max(per_mm2, 0.0) * area_mm2))


def _uniform_points(rng, n: int, shape) -> np.ndarray:
    return rng.uniform((0, 0), shape, size=(n, 2))


def _jittered_hex(rng, shape, spacing: float, jitter: float, angle: float = 0.0) -> np.ndarray:
    """Points on a hexagonal lattice of ``spacing`` px, rotated by ``angle`` (rad), with uniform
    jitter (fraction of spacing); covering ``shape`` with a margin of one spacing."""
    h, w = shape
    half = math.hypot(h, w) / 2 + 2 * spacing
    dy = spacing * math.sqrt(3) / 2
    rows = np.arange(-half / dy, half / dy + 1)
    cols = np.arange(-half / spacing, half / spacing + 1)
    r, c = np.meshgrid(rows, cols, indexing="ij")
    y = r * dy
    x = c * spacing + (r % 2) * spacing / 2
    ca, sa = math.cos(angle), math.sin(angle)
    pts = np.stack([y * ca - x * sa + h / 2, y * sa + x * ca + w / 2], axis=-1).reshape(-1, 2)
    keep = (
        (pts[:, 0] > -spacing)
        & (pts[:, 0] < h + spacing)
        & (pts[:, 1] > -spacing)
        & (pts[:, 1] < w + spacing)
    )
    pts = pts[keep]
    pts += rng.uniform(-jitter, jitter, size=pts.shape) * spacing
    return pts


def _voronoi_distance(rng, shape, cell_px: float, coarse: int = 2) -> np.ndarray:
    """Half the gap between the nearest and second-nearest seed: distance to the cell walls (px).

    Seeds lie on a jittered square lattice of spacing ``cell_px``. Computed on a grid ``coarse``
    times coarser and interpolated (the map is piecewise linear, so little is lost).
    """
    pts = []
    for y in np.arange(-cell_px, shape[0] + 2 * cell_px, cell_px):
        for x in np.arange(-cell_px, shape[1] + 2 * cell_px, cell_px):
            pts.append((y, x))
    seeds = np.asarray(pts) + rng.uniform(-0.4, 0.4, size=(len(pts), 2)) * cell_px
    tree = spatial.cKDTree(seeds)
    hc, wc = -(-shape[0] // coarse), -(-shape[1] // coarse)
    gy, gx = np.meshgrid(
        np.arange(hc) * coarse + (coarse - 1) / 2,
        np.arange(wc) * coarse + (coarse - 1) / 2,
        indexing="ij",
    )
    d, _ = tree.query(np.stack([gy.ravel(), gx.ravel()], axis=1), k=2)
    wall = ((d[:, 1] - d[:, 0]) / 2).reshape(hc, wc).astype(np.float32)
    if coarse > 1:
        wall = ndimage.zoom(wall, coarse, order=1, mode="nearest", grid_mode=True)
    return wall[: shape[0], : shape[1]] * 1.0


def _draw_nucleus(cv: _Canvas, rng, cy, cx, diameter_px, absorb, phase, lobes: int = 1) -> None:
    """Dark, slightly raised nucleus; ``lobes`` > 1 gives a segmented (neutrophil-like) nucleus."""
    r = diameter_px / 2
    if lobes == 1:
        centres = [(cy, cx, r)]
    else:
        centres = []
        for _ in range(lobes):
            a = rng.uniform(0, 2 * math.pi)
            d = rng.uniform(0.4, 0.8) * r
            centres.append((cy + d * math.sin(a), cx + d * math.cos(a), r * rng.uniform(0.4, 0.55)))
    edge = 0.35 / cv.px
    for y, x, rr in centres:
        got = cv.box(y, x, rr * 1.3 + 3)
        if got is None:
            continue
        sl, yy, xx = got
        rho = _ellipse_rho(yy, xx, rr, rng.uniform(1.0, 1.3), rng.uniform(0, math.pi))
        m = _soft((1.0 - rho) * rr, edge)
        if lobes > 1:  # overlapping lobes must not stack up
            cv.absorb[sl] = np.maximum(cv.absorb[sl], absorb * m)
            cv.phase[sl] += 0.5 * phase * m
        else:
            cv.add(sl, phase * m, absorb * m)


def _draw_round_cell(
    cv: _Canvas, rng, cy, cx, diameter_px, phase, absorb, nucleus_absorb, lobes, clear=True
) -> None:
    """A rounded cell (white cell, macrophage) with a dome profile and a dark nucleus."""
    r = diameter_px / 2
    got = cv.box(cy, cx, r * 1.2)
    if got is None:
        return
    sl, yy, xx = got
    rho = _ellipse_rho(yy, xx, r, rng.uniform(1.0, 1.15), rng.uniform(0, math.pi))
    m = _soft((1.0 - rho) * r, 0.4 / cv.px)
    dome = np.sqrt(np.clip(1.0 - rho**2, 0.0, 1.0)) * 0.6 + 0.4
    if clear:
        cv.clear(sl, m)
    cv.add(sl, phase * m * dome, absorb * m)
    _draw_nucleus(
        cv,
        rng,
        cy,
        cx,
        diameter_px * rng.uniform(0.5, 0.65),
        nucleus_absorb,
        0.5 * phase,
        lobes=lobes,
    )


# ----------------------------------------------------------------------------- the five tissues
_RHO = np.linspace(0.0, 1.0, 1001)
_EVANS_FUNG_MAX = float(np.max(np.sqrt(1 - _RHO**2) * (0.81 + 7.83 * _RHO**2 - 4.39 * _RHO**4)))


def _blood_smear(cv: _Canvas, p: Mapping[str, float], rng) -> None:
    px = cv.px
    d = p["rbc_diameter_um"] / px
    # a smear packs cells at random, not on a lattice: strong jitter, random orientation
    pts = _jittered_hex(rng, cv.shape, d * p["rbc_spacing"], 0.3, rng.uniform(0, math.pi))
    pts = pts[rng.random(len(pts)) < p["rbc_fill"]]
    for cy, cx in pts:
        r = d / 2 * rng.normal(1.0, 0.05)
        got = cv.box(cy, cx, r * 1.25)
        if got is None:
            continue
        sl, yy, xx = got
        rho = _ellipse_rho(yy, xx, r, rng.uniform(1.0, 1.12), rng.uniform(0, math.pi))
        rc = np.clip(rho, 0.0, 1.0)
        biconcave = np.sqrt(1 - rc**2) * (0.81 + 7.83 * rc**2 - 4.39 * rc**4) / _EVANS_FUNG_MAX
        dome = np.sqrt(1 - rc**2)
        pallor = p["pallor"] * rng.uniform(0.85, 1.15)
        t = (pallor * biconcave + (1 - pallor) * dome) * _soft((1.0 - rho) * r, 0.3 / px)
        s = rng.normal(1.0, 0.08)
        cv.add(sl, p["rbc_phase"] * s * t, p["rbc_absorbance"] * s * t)
    for cy, cx in _uniform_points(
        rng, _poisson_count(rng, p["platelet_per_mm2"], cv.shape, px), cv.shape
    ):
        _draw_nucleus(cv, rng, cy, cx, rng.uniform(1.8, 3.0) / px, 0.35, 0.4)
    for cy, cx in _uniform_points(
        rng, _poisson_count(rng, p["wbc_per_mm2"], cv.shape, px), cv.shape
    ):
        lobes = int(rng.choice([1, 3, 4], p=[0.35, 0.4, 0.25]))
        _draw_round_cell(
            cv,
            rng,
            cy,
            cx,
            rng.uniform(10.0, 15.0) / px,
            rng.uniform(1.3, 1.9),
            0.12,
            rng.uniform(0.9, 1.4),
            lobes,
        )


def _pap_smear(cv: _Canvas, p: Mapping[str, float], rng) -> None:
    px = cv.px
    h, w = cv.shape
    r0 = p["cell_diameter_um"] / 2 / px
    n_cells = int(rng.poisson(p["coverage"] * h * w / (math.pi * r0**2)))
    n_cluster = round(n_cells * p["cluster_fraction"])
    n_clusters = max(1, n_cluster // 4)
    centres = _uniform_points(rng, n_clusters, cv.shape)
    clustered = centres[rng.integers(0, n_clusters, n_cluster)] + rng.normal(
        0, 1.1 * r0, (n_cluster, 2)
    )
    pts = np.concatenate([clustered, _uniform_points(rng, n_cells - n_cluster, cv.shape)])
    texture = _smooth_noise(rng, cv.shape, 2.5 / px)
    for cy, cx in pts:
        r = r0 * rng.uniform(0.8, 1.2)
        got = cv.box(cy, cx, r * 1.45)
        if got is None:
            continue
        sl, yy, xx = got
        theta = np.arctan2(yy, xx)
        harm = rng.uniform(0, 0.14, 4) / np.sqrt(np.arange(1, 5))
        radius = _irregular_radius(theta, r, harm, rng.uniform(0, 2 * math.pi, 4))
        depth = radius - np.sqrt(yy**2 + xx**2)
        inside = _soft(depth, 0.5 / px)
        ph = p["cyto_phase"] * rng.uniform(0.8, 1.2) * (1 + 0.15 * texture[sl])
        thick = inside * ph
        if rng.random() < p["fold_probability"]:
            a = rng.uniform(0, math.pi)
            off = rng.uniform(-0.5, 0.5) * r
            dist = xx * math.cos(a) + yy * math.sin(a) - off
            width = rng.uniform(0.8, 1.6) / px
            # folded-over strip: doubled thickness on one side, with a ridge at the crease
            strip = _soft(dist, 0.4 / px) * _soft(rng.uniform(2, 6) / px - dist, 0.4 / px)
            thick = thick + inside * ph * (strip + 0.8 * np.exp(-(dist**2) / (2 * width**2)))
        ab = inside * p["cyto_absorbance"] * rng.uniform(0.5, 1.6)
        cv.add(sl, thick, ab)
        ny, nx = cy + rng.uniform(-0.25, 0.25) * r, cx + rng.uniform(-0.25, 0.25) * r
        _draw_nucleus(
            cv,
            rng,
            ny,
            nx,
            p["nucleus_diameter_um"] * rng.uniform(0.85, 1.15) / px,
            p["nucleus_absorbance"] * rng.uniform(0.85, 1.15),
            rng.uniform(0.6, 1.1),
        )
    n_inf = _poisson_count(rng, p["inflammatory_per_mm2"], cv.shape, px)
    for cy, cx in _uniform_points(rng, n_inf, cv.shape):
        _draw_round_cell(
            cv,
            rng,
            cy,
            cx,
            rng.uniform(8.0, 11.0) / px,
            rng.uniform(0.8, 1.2),
            0.08,
            rng.uniform(0.8, 1.2),
            3,
            clear=False,
        )


def _lung(cv: _Canvas, p: Mapping[str, float], rng) -> None:
    px = cv.px
    wall = _voronoi_distance(rng, cv.shape, p["alveolus_um"] / px)
    half_width = 0.5 * p["septum_um"] / px * (1 + 0.35 * _smooth_noise(rng, cv.shape, 12 / px))
    septa = _soft(np.maximum(half_width, 0.6 / px) - wall, 0.4 / px)
    gaps = _smooth_noise(rng, cv.shape, 10 / px)
    threshold = np.quantile(gaps, p["gap_fraction"])
    septa *= _soft(gaps - threshold, 0.15)  # alveolar ducts: septa interrupted
    tex = _smooth_noise(rng, cv.shape, 1.5 / px)
    cv.add(
        np.s_[:, :],
        p["septum_phase"] * septa * (1 + 0.15 * tex),
        p["septum_absorbance"] * septa * (1 + 0.2 * tex),
    )
    candidates = np.flatnonzero(septa.ravel() > 0.6)
    n_nuc = min(_poisson_count(rng, p["nuclei_per_mm2"], cv.shape, px), candidates.size)
    for idx in rng.choice(candidates, n_nuc, replace=False) if n_nuc else []:
        cy, cx = divmod(int(idx), cv.shape[1])
        _draw_nucleus(
            cv,
            rng,
            cy,
            cx,
            rng.uniform(3.5, 6.0) / px,
            rng.uniform(0.6, 1.0),
            rng.uniform(0.3, 0.6),
        )
    free = np.flatnonzero(septa.ravel() < 0.05)
    n_mac = min(_poisson_count(rng, p["macrophage_per_mm2"], cv.shape, px), free.size)
    for idx in rng.choice(free, n_mac, replace=False) if n_mac else []:
        cy, cx = divmod(int(idx), cv.shape[1])
        _draw_round_cell(
            cv,
            rng,
            cy,
            cx,
            rng.uniform(12.0, 18.0) / px,
            rng.uniform(1.0, 1.6),
            rng.uniform(0.2, 0.4),
            0.8,
            1,
            clear=False,
        )


def _place_disjoint(rng, shape, radii_px, gap: float, tries: int = 50) -> list[tuple]:
    """Random sequential placement of discs of the given radii without overlap (gap in px)."""
    placed: list[tuple[float, float, float]] = []
    for r in radii_px:
        for _ in range(tries):
            y, x = rng.uniform(-r / 2, shape[0] + r / 2), rng.uniform(-r / 2, shape[1] + r / 2)
            if all((y - py) ** 2 + (x - px_) ** 2 > (r + pr + gap) ** 2 for py, px_, pr in placed):
                placed.append((y, x, r))
                break
    return placed


def _prostate(cv: _Canvas, p: Mapping[str, float], rng) -> None:
    px = cv.px
    h, w = cv.shape
    angle = rng.uniform(0, math.pi)
    fibres = 0.6 * _smooth_noise(rng, cv.shape, 1.2 / px, aniso=(p["fibre_um"] / 1.2, angle))
    fibres += 0.4 * _smooth_noise(
        rng, cv.shape, 1.2 / px, aniso=(p["fibre_um"] / 1.2, angle + rng.uniform(0.5, 1.2))
    )
    stroma = np.clip(0.85 + 0.3 * fibres, 0.2, None)
    cv.add(np.s_[:, :], p["stroma_phase"] * stroma, p["stroma_absorbance"] * stroma)
    r_mean = p["gland_diameter_um"] / 2 / px
    n = int(p["gland_fill"] * h * w / (math.pi * r_mean**2) * 1.5)
    radii = np.sort(r_mean * rng.uniform(0.6, 1.4, n))[::-1]
    epi = p["epithelium_um"] / px
    for cy, cx, r in _place_disjoint(rng, cv.shape, radii, gap=4 / px):
        got = cv.box(cy, cx, r * 1.4)
        if got is None:
            continue
        sl, yy, xx = got
        theta = np.arctan2(yy, xx)
        harm = np.concatenate([rng.uniform(0, 0.15, 3), rng.uniform(0, 0.04, 8)])
        radius = _irregular_radius(theta, r, harm, rng.uniform(0, 2 * math.pi, 11))
        depth = radius - np.sqrt(yy**2 + xx**2)
        edge = 0.5 / px
        gland = _soft(depth, edge)
        e_th = epi * rng.uniform(0.8, 1.2)
        lumen = _soft(depth - e_th, edge)
        band = gland - lumen
        cv.clear(sl, gland)
        cv.add(
            sl,
            p["epithelium_phase"] * band + 0.1 * lumen,
            p["epithelium_absorbance"] * band + 0.02 * lumen,
        )
        n_nuc = int(2 * math.pi * r / (6.0 / px))
        for a in rng.uniform(0, 2 * math.pi, n_nuc):
            rr = float(_irregular_radius(np.array(a), r, harm, np.zeros(11))) - 0.3 * e_th
            _draw_nucleus(
                cv,
                rng,
                cy + rr * math.sin(a),
                cx + rr * math.cos(a),
                rng.uniform(4.5, 6.5) / px,
                rng.uniform(0.6, 1.0),
                0.4,
            )


def _salivary_gland(cv: _Canvas, p: Mapping[str, float], rng) -> None:
    px = cv.px
    wall = _voronoi_distance(rng, cv.shape, p["lobule_um"] / px, coarse=3)
    half_sep = 0.5 * p["septum_um"] / px
    septa = _soft(half_sep - wall, 0.6 / px)
    fib = _smooth_noise(rng, cv.shape, 2.0 / px)
    cv.add(np.s_[:, :], 0.7 * septa * (1 + 0.2 * fib), 0.2 * septa)
    spacing = p["acinus_um"] / px
    for cy, cx in _jittered_hex(rng, cv.shape, spacing, 0.12):
        r = spacing / 2 * rng.uniform(0.82, 0.98)
        iy, ix = int(np.clip(cy, 0, cv.shape[0] - 1)), int(np.clip(cx, 0, cv.shape[1] - 1))
        if wall[iy, ix] < half_sep + 0.8 * r:
            continue
        got = cv.box(cy, cx, r * 1.2)
        if got is None:
            continue
        sl, yy, xx = got
        rho = _ellipse_rho(yy, xx, r, rng.uniform(1.0, 1.25), rng.uniform(0, math.pi))
        m = _soft((1 - rho) * r, 0.5 / px)
        dome = 0.6 + 0.4 * np.sqrt(np.clip(1 - rho**2, 0, 1))
        lumen = _soft((0.12 - rho) * r, 0.4 / px)
        mucous = rng.random() < p["mucous_fraction"]
        phase = p["acinus_phase"] * (0.55 if mucous else 1.0) * rng.uniform(0.85, 1.15)
        absorb = (0.12 if mucous else p["serous_absorbance"]) * rng.uniform(0.8, 1.2)
        cv.add(sl, phase * m * dome * (1 - 0.8 * lumen), absorb * m * (1 - 0.8 * lumen))
        n_nuc = int(rng.integers(5, 9))
        for a in rng.uniform(0, 2 * math.pi, n_nuc):
            rr = 0.75 * r
            _draw_nucleus(
                cv,
                rng,
                cy + rr * math.sin(a),
                cx + rr * math.cos(a),
                rng.uniform(3.5, 5.0) / px,
                rng.uniform(0.7, 1.0),
                0.3,
            )
    n_duct = _poisson_count(rng, p["duct_per_mm2"], cv.shape, px)
    n_fat = _poisson_count(rng, p["fat_per_mm2"], cv.shape, px)
    for cy, cx in _uniform_points(rng, n_fat, cv.shape):
        r = rng.uniform(12.0, 25.0) / px
        got = cv.box(cy, cx, r * 1.2)
        if got is not None:
            sl, yy, xx = got
            cv.clear(sl, _soft((1 - _ellipse_rho(yy, xx, r, rng.uniform(1, 1.3), 0.0)) * r, 1.0))
    for cy, cx in _uniform_points(rng, n_duct, cv.shape):
        r = rng.uniform(12.0, 25.0) / px
        got = cv.box(cy, cx, r * 1.3)
        if got is None:
            continue
        sl, yy, xx = got
        rho = _ellipse_rho(yy, xx, r, rng.uniform(1.0, 1.8), rng.uniform(0, math.pi))
        outer = _soft((1 - rho) * r, 0.5 / px)
        inner_frac = rng.uniform(0.3, 0.5)
        lumen = _soft((inner_frac - rho) * r, 0.5 / px)
        cv.clear(sl, outer)
        cv.add(sl, 2.0 * rng.uniform(0.85, 1.15) * (outer - lumen), 0.7 * (outer - lumen))
        for a in rng.uniform(0, 2 * math.pi, int(rng.integers(8, 14))):
            rr = r * (1 + inner_frac) / 2
            _draw_nucleus(
                cv,
                rng,
                cy + rr * math.sin(a),
                cx + rr * math.cos(a),
                rng.uniform(3.5, 5.0) / px,
                0.8,
                0.3,
            )


_DRAW: dict[str, Callable[[_Canvas, Mapping[str, float], np.random.Generator], None]] = {
    "blood_smear": _blood_smear,
    "pap_smear": _pap_smear,
    "lung": _lung,
    "prostate": _prostate,
    "salivary_gland": _salivary_gland,
}


def tissue_phantom(
    tissue: str,
    shape: tuple[int, int],
    *,
    pixel_size: float,
    params: Mapping[str, float],
    rng: np.random.Generator,
) -> np.ndarray:
    """Complex transmission of one field of a ``tissue`` sample.

    Parameters
    ----------
    tissue : str
        One of :data:`TISSUES`.
    shape : (int, int)
        Grid shape (pixels).
    pixel_size : float
        Grid pitch in metres (the super-resolved pitch, e.g. 0.3733e-6).
    params : mapping
        From :func:`slide_parameters` (or :func:`patient_parameters`) for the same tissue.
    rng : numpy.random.Generator
        Draws the structures of this field.

    Returns
    -------
    ndarray, complex64, shape ``shape``
        ``A·exp(iφ)`` with amplitude in [0.3, 1] and phase ≥ 0 (radians, up to ~3–4 where
        structures overlap); clear glass is 1.
    """
    _check_tissue(tissue)
    missing = set(_PATIENT_RANGES[tissue]) - set(params)
    if missing:
        raise ValueError(f"params for {tissue} lack {sorted(missing)}")
    if len(shape) != 2 or min(shape) < 1:
        raise ValueError(f"shape must be (H, W) with positive sizes, got {shape!r}")
    pixel_um = float(pixel_size) * 1e6
    if not 0.01 <= pixel_um <= 10:
        raise ValueError(f"pixel_size must be a length in metres (~0.37e-6), got {pixel_size!r}")
    cv = _Canvas((int(shape[0]), int(shape[1])), pixel_um)
    _DRAW[tissue](cv, params, rng)
    # Sub-micrometre granularity of stained material (cytoplasmic granules, chromatin, fibrils):
    # multiplicative, so clear glass stays clear.
    grain = _smooth_noise(rng, cv.shape, _GRAIN_UM / pixel_um)
    cv.phase *= 1.0 + _GRAIN_PHASE * grain
    cv.absorb *= 1.0 + _GRAIN_ABSORB * _smooth_noise(rng, cv.shape, _GRAIN_UM / pixel_um)
    # final blur: the optics of any real section, and the band limit on the grid
    sigma = 0.35 / pixel_um
    phase = ndimage.gaussian_filter(cv.phase, sigma) * np.float32(params["thickness"])
    absorb = ndimage.gaussian_filter(cv.absorb, sigma) * np.float32(params["stain"])
    amplitude = 0.3 + 0.7 * np.exp(-np.clip(absorb, 0.0, None))
    field = amplitude * np.exp(1j * np.clip(phase, 0.0, None))
    return field.astype(np.complex64)
