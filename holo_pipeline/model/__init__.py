"""RH-M in Keras 3 / TensorFlow: ConvGRU, generator, discriminator, GAN losses and training.

The configuration classes import without TensorFlow; everything else is imported on first use, so
``from holo_pipeline.model import TrainingConfig`` stays cheap for Dagster definitions.

Typical use (what the Dagster assets call)::

    from holo_pipeline.model import train_model, load_generator, predict
    from holo_pipeline.profile import load_profile

    demo = load_profile("demo")
    result = train_model(
        "frozen_rnn",
        train_stores=[...], val_stores=[...],
        config=demo.training("transfer"),
        model_config=demo.model,
        workdir=".../transferred_models/prostate/frozen_rnn",
        backbone_path=".../pretrained_backbone/generator.keras",
        n_holograms=2, seed=0,
    )
    fields = predict(load_generator(result.generator_path), inputs)  # (N, 512, 512, 2)
"""

from __future__ import annotations

import importlib

from holo_pipeline.model.config import STAGES, VARIANTS, RHMConfig, TrainingConfig

_LAZY = {
    "ConvGRU2D": "holo_pipeline.model.convgru",
    "RecurrentBlock": "holo_pipeline.model.networks",
    "build_generator": "holo_pipeline.model.networks",
    "build_discriminator": "holo_pipeline.model.networks",
    "freeze_recurrent_blocks": "holo_pipeline.model.networks",
    "recurrent_blocks": "holo_pipeline.model.networks",
    "count_params": "holo_pipeline.model.networks",
    "ms_ssim": "holo_pipeline.model.losses",
    "generator_loss": "holo_pipeline.model.losses",
    "discriminator_loss": "holo_pipeline.model.losses",
    "TrainingResult": "holo_pipeline.model.training",
    "RHMGan": "holo_pipeline.model.training",
    "build_gan": "holo_pipeline.model.training",
    "train_model": "holo_pipeline.model.training",
    "load_generator": "holo_pipeline.model.training",
    "predict": "holo_pipeline.model.training",
    "resolve_runtime": "holo_pipeline.model.training",
    "train_and_publish": "holo_pipeline.model.runs",
}

__all__ = ["STAGES", "VARIANTS", "RHMConfig", "TrainingConfig", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
