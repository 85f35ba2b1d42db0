"""The constants of MS-SSIM (Wang, Simoncelli & Bovik, 2003), in one place and without TensorFlow.

The training loss (:func:`holo_pipeline.model.losses.ms_ssim`, TensorFlow) and the evaluation
metric (:func:`holo_pipeline.evaluation.metrics.ms_ssim`, NumPy) both read them, so that the
numbers a model is trained on and scored by are the same definition.
"""

from __future__ import annotations

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
"""Per-scale exponents of Wang et al. (2003), finest scale first."""

SSIM_FILTER_SIZE = 11
"""Taps of the Gaussian window."""

SSIM_FILTER_SIGMA = 1.5
"""Standard deviation of the Gaussian window, in pixels."""

SSIM_K1 = 0.01
SSIM_K2 = 0.03
"""Stabilising constants: ``C1 = (K1·L)²``, ``C2 = (K2·L)²`` for a dynamic range ``L``."""
