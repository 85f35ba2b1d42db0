"""Physics of lens-free in-line holography in NumPy/SciPy: propagation, pixel super-resolution,
autofocus and multi-height phase retrieval.

Lengths are SI metres, complex fields ``complex64`` arrays ``(H, W)``, intensities float arrays.
Nothing here imports TensorFlow or Dagster.

FFTs run on ``scipy.fft`` with the calling thread's workers: one thread unless the caller sets
more with ``with scipy.fft.set_workers(n):`` (the pipeline does, per task, from the profile's
``fft_workers``). Nothing here reads the environment.
"""

from holo_pipeline.optics.autofocus import autofocus, tamura_of_gradient
from holo_pipeline.optics.phase_retrieval import (
    MHPRSettings,
    PhaseRetrievalResult,
    iteration_propagator,
    multi_height_phase_retrieval,
)
from holo_pipeline.optics.propagation import Propagator, propagate
from holo_pipeline.optics.superres import estimate_shifts, shift_and_add, super_resolve

__all__ = [
    "MHPRSettings",
    "PhaseRetrievalResult",
    "Propagator",
    "autofocus",
    "estimate_shifts",
    "iteration_propagator",
    "multi_height_phase_retrieval",
    "propagate",
    "shift_and_add",
    "super_resolve",
    "tamura_of_gradient",
]
