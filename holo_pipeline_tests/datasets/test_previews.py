"""Dataset previews: PNG bytes from Matplotlib, inlined into Markdown as data URIs."""

from __future__ import annotations

import numpy as np

from holo_pipeline.datasets.previews import (
    field_thumbnail_png,
    markdown_image,
    residual_curve_png,
)
from holo_pipeline_tests.markdown_images import PNG_SIGNATURE, decode_markdown_image


def test_previews_are_deterministic_pngs_inlined_into_markdown():
    residuals = np.geomspace(1.0, 1e-3, 20)[None].repeat(2, axis=0)
    png = residual_curve_png(residuals, ["fov_000", "fov_001"])
    assert png.startswith(PNG_SIGNATURE)
    assert residual_curve_png(residuals, ["fov_000", "fov_001"]) == png  # no timestamp or tag
    alt, back = decode_markdown_image(markdown_image(png, "residuals"))
    assert (alt, back) == ("residuals", png)

    field = np.exp(1j * np.linspace(-3, 3, 64 * 64)).reshape(64, 64)
    assert field_thumbnail_png(field).startswith(PNG_SIGNATURE)
