"""Load many saved generators of one architecture for inference without re-tracing each.

The evaluation scores dozens of generators that share one architecture (every variant, Nt/N, Mt
and seed is the same RH-M network with different weights). Loading each with
:func:`~holo_pipeline.model.training.load_generator` rebuilds the Keras model from its config and
gives :func:`~holo_pipeline.model.training.predict` a new object, so its forward pass is traced
and graph-optimised again for every model (seconds each on CPU). :class:`GeneratorPool` instead
keeps one Keras model per (architecture, slot) and loads the next model's weights into it: the
traced forward pass reads the variables when it runs, so it is reused and the outputs are those
of a freshly loaded model.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

import keras
import numpy as np


def _without_object_ids(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_object_ids(v) for k, v in value.items() if k != "shared_object_id"}
    if isinstance(value, list):
        return [_without_object_ids(v) for v in value]
    return value


def architecture_key(path: str | os.PathLike[str]) -> str:
    """The saved model's architecture: its ``config.json``, less Keras's per-save object ids.

    Two ``.keras`` files with equal keys hold the same network (layers, names, shapes, settings)
    and differ at most in their weights.

    Raises
    ------
    ValueError
        If ``path`` is not a ``.keras`` archive with a ``config.json``.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
    except (zipfile.BadZipFile, KeyError, OSError) as err:
        raise ValueError(f"{path}: not a .keras model archive with a config.json ({err})") from err
    return json.dumps(_without_object_ids(config), sort_keys=True)


class GeneratorPool:
    """Saved generators loaded into one reused Keras model per (architecture, slot).

    ``load(path, slot)`` returns a model holding ``path``'s weights. A model of the same
    architecture and slot loaded before is *the same object*, now with the new weights: use each
    returned model before loading the next one into its slot. The slot lets a caller keep apart
    models that it runs on differently shaped inputs (:meth:`reconstructor` uses one slot per
    number of input holograms M, so that each traced forward pass keeps M known and runs the
    ConvGRU unrolled, as for a freshly loaded model).
    """

    def __init__(self) -> None:
        self._models: dict[tuple[str, Hashable], keras.Model] = {}
        self._holding: dict[tuple[str, Hashable], str] = {}
        self.built = 0
        """Models built from their config (the others only had weights loaded into them)."""
        self.weight_loads = 0
        """Times a saved model's weights were loaded into a pooled model."""

    def load(self, path: str | os.PathLike[str], slot: Hashable = None) -> keras.Model:
        """The generator saved at ``path``, in the pooled model of its architecture and ``slot``."""
        from holo_pipeline.model.training import load_generator

        name = str(Path(path).resolve())
        key = (architecture_key(path), slot)
        model = self._models.get(key)
        if model is None:
            model = load_generator(path)
            self._models[key] = model
            self.built += 1
        elif self._holding[key] != name:
            model.load_weights(Path(path))
            self.weight_loads += 1
        self._holding[key] = name
        return model

    def reconstructor(
        self, path: str | os.PathLike[str], *, batch_size: int = 1
    ) -> Callable[[np.ndarray], np.ndarray]:
        """``inputs (N, M, H, W, 2) → predict(generator at path, inputs)``, pooled by M.

        The weights are loaded on the first call for each M (and again only if another model was
        loaded into that slot in between).
        """
        from holo_pipeline.model.training import predict

        def reconstruct(inputs: np.ndarray) -> np.ndarray:
            x = np.asarray(inputs)
            if x.ndim != 5:
                raise ValueError(f"inputs must be (N, M, H, W, 2), got {x.shape}")
            return predict(self.load(path, slot=int(x.shape[1])), x, batch_size=batch_size)

        return reconstruct
