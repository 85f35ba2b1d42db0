"""Tiled whole-FOV inference: equals untiled inference away from the border, and shows no seams.

Real Keras RH-M (untrained, narrow; an untrained net is the harder case: its output has no reason
to be smooth across a tile edge). Tolerances: at 128-px tiles with 32-px overlap on a 256² FOV the
blended result is within 2 % (relative RMS) and 5 % (max, of the peak) of the untiled one, 16 px
away from the FOV border; measured 0.4 % and 1.6 %. Hard stitching (no overlap) is 13 % off.
"""

import numpy as np
import pytest

from holo_pipeline.reconstruction.tiling import (
    axis_tiles,
    axis_weights,
    blend_ramp,
    predict_tiled,
    tile_edges,
)
from holo_pipeline_tests.reconstruction.conftest import smooth_inputs

TILE, OVERLAP, MULTIPLE, BORDER = 128, 32, 8, 16


def _forward(generator):
    from holo_pipeline.model import predict

    return lambda tiles: predict(generator, tiles, batch_size=2)


def _row_energy(image: np.ndarray) -> np.ndarray:
    """Mean squared difference between row i and i+1 (over columns and channels)."""
    return (np.diff(image, axis=0) ** 2).sum(-1).mean(axis=1)


def _seam_ratio(image: np.ndarray, edges: list[int]) -> float:
    energy = _row_energy(image)
    return float(np.mean([energy[e - 1] for e in edges]) / np.median(energy))


@pytest.mark.parametrize("length", [1, 7, 64, 100, 128, 300, 1536])
def test_axis_tiles_cover_the_axis_with_at_least_the_overlap(length):
    grid = axis_tiles(length, 128, 32, 8)
    assert grid.tile % 8 == 0 and grid.length >= length and grid.starts[0] == 0
    assert grid.starts[-1] + grid.tile == grid.length
    steps = np.diff(grid.starts)
    assert np.all(steps <= grid.tile - 32) and np.all(steps > 0)
    weight = np.zeros(grid.length)
    for s, w in zip(grid.starts, axis_weights(grid, 32), strict=True):
        weight[s : s + grid.tile] += w
    assert weight.min() > 0


def test_an_axis_up_to_tile_plus_overlap_is_one_tile():
    """The demo's 528² FOV is one 528² tile, not four 512² tiles overlapping by 496 px."""
    one = axis_tiles(528, 512, 64, 8)
    assert one.starts == (0,) and one.tile == one.length == 528
    assert axis_tiles(570, 512, 64, 8).tile == 576  # rounded up to the multiple, then padded
    two = axis_tiles(577, 512, 64, 8)
    assert len(two.starts) == 2 and two.tile == 512


def test_blend_ramp_is_smooth_and_positive():
    ramp = blend_ramp(32)
    assert ramp.min() > 0 and ramp.max() < 1 and np.all(np.diff(ramp) > 0)
    assert np.allclose(ramp + ramp[::-1], 1.0)  # neighbours' ramps sum to 1 in an exact overlap


def test_tiled_equals_untiled_away_from_the_border(generator):
    from holo_pipeline.model import predict

    x = smooth_inputs()
    untiled = predict(generator, x)
    tiled = predict_tiled(_forward(generator), x, tile=TILE, overlap=OVERLAP, multiple=MULTIPLE)
    inner = (slice(BORDER, -BORDER), slice(BORDER, -BORDER))
    diff = tiled[inner] - untiled[inner]
    rel_rms = np.sqrt(np.mean(diff**2) / np.mean(untiled[inner] ** 2))
    assert rel_rms < 0.02
    assert np.abs(diff).max() < 0.05 * np.abs(untiled).max()


def test_no_seams_along_tile_borders(generator):
    x = smooth_inputs(seed=1)
    edges = tile_edges(x.shape[1], TILE, OVERLAP, MULTIPLE)
    assert edges  # the FOV really is tiled
    blended = predict_tiled(_forward(generator), x, tile=TILE, overlap=OVERLAP, multiple=MULTIPLE)
    for image in (blended, blended.transpose(1, 0, 2)):  # seams across rows, then columns
        assert _seam_ratio(image, edges) < 1.25
    # the measure does see seams: hard stitching (no overlap) shows them
    stitched = predict_tiled(_forward(generator), x, tile=TILE, overlap=0, multiple=MULTIPLE)
    assert _seam_ratio(stitched, tile_edges(x.shape[1], TILE, 0, MULTIPLE)) > 2


def test_any_fov_size_comes_back_in_its_own_shape(generator):
    x = smooth_inputs(shape=(2, 90, 201))
    out = predict_tiled(_forward(generator), x, tile=64, overlap=16, multiple=MULTIPLE)
    assert out.shape == (90, 201, 2) and np.isfinite(out).all()


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="inputs must be"):
        predict_tiled(lambda t: t[:, 0], np.zeros((4, 4, 2)), tile=8, multiple=8)
    with pytest.raises(ValueError, match="multiple of 8"):
        axis_tiles(100, 60, 8, 8)
    with pytest.raises(ValueError, match="overlap"):
        axis_tiles(100, 64, 64, 8)
