import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

from holo_pipeline.model.config import RHMConfig

#: A narrow RH-M with 3 levels (sizes multiple of 8): untrained, but a real Keras network.
SMALL = RHMConfig(n_ch=8, n_levels=3)


@pytest.fixture(scope="session")
def generator():
    import keras

    from holo_pipeline.model import build_generator

    keras.utils.set_random_seed(0)
    return build_generator(SMALL)


def smooth_inputs(shape=(2, 256, 256), seed=0) -> np.ndarray:
    """A smooth random complex stack ``(M, H, W, 2)`` around background 1."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    noise = ndimage.gaussian_filter(rng.normal(size=(*shape, 2)), (0, 2, 2, 0)) * 3
    return (noise + np.array([1.0, 0.0])).astype(np.float32)


def write_model_dir(directory, generator, *, n_holograms=2, model_key="m", **labels):
    """A published model directory (generator.keras + run.json) as runs.train_and_publish leaves."""
    import json

    directory.mkdir(parents=True, exist_ok=True)
    generator.save(directory / "generator.keras")
    run = {"model_key": model_key, "n_holograms": n_holograms, "seed": 0, **labels}
    run["model_path"] = str(directory / "generator.keras")
    (directory / "run.json").write_text(json.dumps(run))
    return directory / "generator.keras"
