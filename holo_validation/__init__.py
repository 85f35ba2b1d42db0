"""Validation of the pipeline against known truths: not part of the product's import path.

Code that only tests and benchmarks use lives here, outside :mod:`holo_pipeline`, so that no
production asset can import it:

* :mod:`holo_validation.consistency` runs the pipeline's own per-FOV functions on a simulated FOV
  and compares every estimate (scan shifts, heights, field) with the simulator's truth;
* :mod:`holo_validation.phantoms` makes analytic test samples and their exact holograms;
* :mod:`holo_validation.statistics` computes the per-field statistics that tell tissues apart.

It may import :mod:`holo_pipeline`; nothing in :mod:`holo_pipeline` imports it.
"""
