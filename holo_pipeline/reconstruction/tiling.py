"""Whole-FOV inference with a fully convolutional network: overlapping tiles, smoothly blended.

RH-M is fully convolutional, so it could run on a whole FOV at once, but memory grows with the
FOV and the network was trained on patches. :func:`predict_tiled` cuts the FOV into overlapping
tiles, runs the network on each, and blends the results with a raised-cosine weight that falls to
almost zero at every tile edge that lies inside the FOV. The tile edges, where the network's zero
padding makes its output least reliable, therefore contribute almost nothing, and the weights vary
smoothly, so no seam shows (holo_pipeline_tests/reconstruction/test_tiling.py measures both).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

#: ``(n, M, T, T, 2) float32 -> (n, T, T, 2)``: a network's forward pass on a batch of tiles.
Forward = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class TileGrid:
    """Where the tiles of one axis start, and their size.

    Attributes
    ----------
    starts
        Tile starts along the axis (ascending; the last tile ends at ``length``).
    tile
        Tile length (a multiple of the network's size multiple).
    length
        Axis length after padding (``>= tile``).
    """

    starts: tuple[int, ...]
    tile: int
    length: int


def axis_tiles(length: int, tile: int, overlap: int, multiple: int) -> TileGrid:
    """Tile starts along one axis of ``length`` pixels, neighbours overlapping by ``>= overlap``.

    A tile is ``tile`` pixels, or the axis rounded up to ``multiple`` where the axis is at most
    ``tile + overlap`` long (the image is then padded to that length): two tiles there would
    overlap by nearly a whole tile, and cost up to 4× one slightly larger tile in 2-D (the demo's
    528² FOVs were four 512² tiles). Tiles are spread evenly, the first at 0, the last ending at
    the axis's end.
    """
    if length < 1:
        raise ValueError(f"length must be >= 1, got {length}")
    if tile < multiple or tile % multiple:
        raise ValueError(f"tile must be a positive multiple of {multiple}, got {tile}")
    if not 0 <= overlap < tile:
        raise ValueError(f"overlap must be in 0..{tile - 1}, got {overlap}")
    if length <= tile + overlap:
        padded = multiple * math.ceil(length / multiple)
        return TileGrid(starts=(0,), tile=padded, length=padded)
    n = math.ceil((length - tile) / (tile - overlap)) + 1
    starts = np.round(np.linspace(0, length - tile, n)).astype(int)
    return TileGrid(starts=tuple(int(s) for s in starts), tile=tile, length=length)


def blend_ramp(overlap: int) -> np.ndarray:
    """Raised-cosine ramp of ``overlap`` samples rising from ~0 to ~1 (``sin²``, never 0)."""
    i = np.arange(overlap, dtype=np.float64)
    return np.sin(np.pi * (i + 0.5) / (2 * overlap)) ** 2


def axis_weights(grid: TileGrid, overlap: int) -> list[np.ndarray]:
    """Blend weight of every tile along one axis: the ramp at tile edges inside the axis, else 1."""
    ramp = blend_ramp(overlap) if overlap else np.zeros(0)
    weights = []
    for s in grid.starts:
        w = np.ones(grid.tile)
        if overlap and s > 0:
            w[:overlap] = ramp
        if overlap and s + grid.tile < grid.length:
            w[-overlap:] = ramp[::-1]
        weights.append(w)
    return weights


def predict_tiled(
    forward: Forward,
    inputs: np.ndarray,
    *,
    tile: int = 512,
    overlap: int = 64,
    multiple: int = 1,
    batch_size: int = 4,
) -> np.ndarray:
    """Run ``forward`` over an image of any size in overlapping, blended tiles.

    Parameters
    ----------
    forward
        The network: ``(n, M, T, T', 2) -> (n, T, T', 2)`` float32.
    inputs
        ``(M, H, W, 2)`` float32 network input of the whole FOV (any H, W).
    tile
        Tile side in pixels, a multiple of ``multiple``; an axis up to ``tile + overlap`` long is
        one tile, padded (by reflection) to the next multiple of ``multiple``.
    overlap
        Least overlap of neighbouring tiles in pixels; the raised-cosine blend spans it.
    multiple
        Spatial sizes the network accepts are multiples of this (``2**n_levels`` for RH-M).
    batch_size
        Tiles per call of ``forward``.

    Returns
    -------
    ndarray
        float32 ``(H, W, 2)``.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.ones((2, 100, 70, 2), np.float32)
    >>> predict_tiled(lambda t: t.mean(axis=1), x, tile=32, overlap=8, multiple=8).shape
    (100, 70, 2)
    """
    x = np.asarray(inputs, dtype=np.float32)
    if x.ndim != 4 or x.shape[-1] != 2:
        raise ValueError(f"inputs must be (M, H, W, 2), got {x.shape}")
    h, w = x.shape[1:3]
    gy = axis_tiles(h, tile, overlap, multiple)
    gx = axis_tiles(w, tile, overlap, multiple)
    if (gy.length, gx.length) != (h, w):
        pad = ((0, 0), (0, gy.length - h), (0, gx.length - w), (0, 0))
        x = np.pad(x, pad, mode="reflect" if min(h, w) > 1 else "edge")
    wy, wx = axis_weights(gy, overlap), axis_weights(gx, overlap)
    total = np.zeros((gy.length, gx.length, 2), np.float64)
    norm = np.zeros((gy.length, gx.length), np.float64)
    jobs = [(i, j) for i in range(len(gy.starts)) for j in range(len(gx.starts))]
    for b in range(0, len(jobs), batch_size):
        batch = jobs[b : b + batch_size]
        tiles = np.stack(
            [
                x[:, gy.starts[i] : gy.starts[i] + gy.tile, gx.starts[j] : gx.starts[j] + gx.tile]
                for i, j in batch
            ]
        )
        out = np.asarray(forward(tiles), dtype=np.float64)
        if out.shape != (len(batch), gy.tile, gx.tile, 2):
            raise ValueError(
                f"forward returned {out.shape}, expected {(len(batch), gy.tile, gx.tile, 2)}"
            )
        for (i, j), o in zip(batch, out, strict=True):
            weight = np.outer(wy[i], wx[j])
            window = (
                slice(gy.starts[i], gy.starts[i] + gy.tile),
                slice(gx.starts[j], gx.starts[j] + gx.tile),
            )
            total[window] += o * weight[..., None]
            norm[window] += weight
    return (total / norm[..., None])[:h, :w].astype(np.float32)


def tile_edges(length: int, tile: int, overlap: int, multiple: int) -> list[int]:
    """Pixel positions inside ``(0, length)`` where a tile of :func:`axis_tiles` starts or ends."""
    grid = axis_tiles(length, tile, overlap, multiple)
    edges = {s for s in grid.starts} | {s + grid.tile for s in grid.starts}
    return sorted(e for e in edges if 0 < e < length)
