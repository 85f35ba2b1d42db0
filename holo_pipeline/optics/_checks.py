"""Input validation shared by the public optics functions.

Every check raises ``ValueError`` naming the parameter and what was expected, so that a caller
(an asset, a notebook) sees what to fix without reading the algorithm.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def positive_length(name: str, value: Any) -> float:
    """Return ``value`` as a float after checking it is a finite length > 0 (metres)."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive length in metres, got {value!r}") from None
    if not math.isfinite(out) or out <= 0.0:
        raise ValueError(f"{name} must be a positive finite length in metres, got {value!r}")
    return out


def finite_number(name: str, value: Any) -> float:
    """Return ``value`` as a finite float (a signed distance in metres, for example)."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a finite number, got {value!r}") from None
    if not math.isfinite(out):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return out


def refractive_index(value: Any) -> float:
    """Return the refractive index of the medium after checking it is finite and >= 1."""
    out = finite_number("n_medium", value)
    if out < 1.0:
        raise ValueError(f"n_medium must be a refractive index >= 1, got {value!r}")
    return out


def shape_2d(name: str, shape: Any) -> tuple[int, int]:
    """Return ``shape`` as ``(H, W)`` after checking both are integers >= 2."""
    try:
        out = tuple(int(s) for s in shape)
    except TypeError:
        raise ValueError(f"{name} must be a 2-tuple (H, W), got {shape!r}") from None
    if len(out) != 2 or min(out) < 2:
        raise ValueError(f"{name} must be a 2-tuple (H, W) with H, W >= 2, got {shape!r}")
    return out  # type: ignore[return-value]


def finite_array(
    name: str,
    value: Any,
    *,
    ndim: int,
    complex_ok: bool = True,
    min_size: int = 2,
) -> np.ndarray:
    """Return ``value`` as an array after checking dimensionality, size and finiteness."""
    arr = np.asarray(value)
    if arr.ndim != ndim:
        axes = {2: "(H, W)", 3: "(n, H, W)"}.get(ndim, f"{ndim}-D")
        raise ValueError(f"{name} must be a {axes} array, got shape {arr.shape}")
    if arr.dtype.kind not in ("f", "i", "u", "b") + (("c",) if complex_ok else ()):
        kind = "numeric" if complex_ok else "real"
        raise ValueError(f"{name} must be a {kind} array, got dtype {arr.dtype}")
    if min(arr.shape[-2:]) < min_size:
        raise ValueError(
            f"{name} must be at least {min_size}×{min_size} pixels, got shape {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must contain only finite values (found NaN or inf)")
    return arr
