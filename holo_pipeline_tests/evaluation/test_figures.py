"""Evaluation figures reach the UI as Markdown images, rendered by datasets.previews."""

from __future__ import annotations

import numpy as np
import pandas as pd

from holo_pipeline.evaluation.figures import bar_chart, reconstruction_panels
from holo_pipeline_tests.markdown_images import PNG_SIGNATURE, decode_markdown_image


def test_figures_are_markdown_images_of_pngs():
    frame = pd.DataFrame(
        {"tissue": ["prostate", "lung"], "variant": ["scratch"] * 2, "ecc": [0.9, 0.8]}
    )
    alt, png = decode_markdown_image(
        bar_chart(frame, value="ecc", label_columns=["tissue", "variant"], title="ECC")
    )
    assert alt == "ECC" and png.startswith(PNG_SIGNATURE)

    tensor = np.stack([np.ones((16, 16)), np.zeros((16, 16))], axis=-1)
    alt, png = decode_markdown_image(
        reconstruction_panels(tensor, tensor, {"scratch": 0.9 * tensor}, "prostate")
    )
    assert alt == "prostate" and png.startswith(PNG_SIGNATURE)
