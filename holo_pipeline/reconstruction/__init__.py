"""Trained networks applied to whole slides: production-model choice, tiled whole-FOV inference,
OME-Zarr output.

Layered after :mod:`holo_pipeline.evaluation` (it reads the metrics) and before
:mod:`holo_pipeline.defs`; it never imports Dagster. TensorFlow is imported only inside the
functions that run a network.

- :mod:`~holo_pipeline.reconstruction.production` — which model reconstructs each tissue;
- :mod:`~holo_pipeline.reconstruction.inputs` — the network input of a FOV, as in training;
- :mod:`~holo_pipeline.reconstruction.tiling` — overlapping tiles, raised-cosine blending;
- :mod:`~holo_pipeline.reconstruction.reconstruct` — :func:`reconstruct_fov`, the core;
- :mod:`~holo_pipeline.reconstruction.ome` — OME-NGFF stores (amplitude, phase; µm; pyramid);
- :mod:`~holo_pipeline.reconstruction.command` — ``holo-pipeline reconstruct``.
"""
