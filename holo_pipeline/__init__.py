"""holo_pipeline: orchestrated few-shot transfer learning for lens-free holographic reconstruction.

Layers (arrows point one way): ``defs`` (Dagster glue) -> ``datasets``, ``model``, ``evaluation``,
``instrument``, ``optics``. No core package imports Dagster; ``optics`` imports neither Dagster nor
TensorFlow.
"""

__version__ = "0.1.0"
