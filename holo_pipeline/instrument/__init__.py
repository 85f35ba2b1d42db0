"""The raw slide format (read, validate, write) and the virtual lens-free microscope.

Public interface::

    simulate_slide(root, *, tissue, slide_id, patient_id, n_fov, seed, optics=None) -> Path
    simulate_cohort(root, cohort, *, seed=0, tissues=None, ...) -> list[Path]
    read_slide(path) -> RawSlide        # .meta, .fov_ids, .frames(fov, height) -> (36, h, w) uint16
    validate_slide(path) -> RawSlide    # reads every page
    is_slide_ready(path) -> bool        # cheap, for a landing-folder sensor
    RawDataError(ValueError)
    TISSUES                             # blood_smear, pap_smear, lung, prostate, salivary_gland
    read_truth(slide, fov) -> SimulationTruth   # simulator only

Modules: ``slide_format`` (the format, versions 1 and 2), ``importer`` (``holo-pipeline import``:
other labs' images and ``.mat`` arrays into a version-2 slide), ``tissues`` (phantoms),
``microscope`` (acquisition physics and the frame-position convention), ``simulate`` (slides,
cohorts, truth files),
The check of a simulated FOV against the pipeline's
reconstruction, and the per-field statistics that tell tissues apart, live outside the product in
:mod:`holo_validation`.
"""

from holo_pipeline.instrument.microscope import MicroscopeConfig
from holo_pipeline.instrument.simulate import (
    CohortProfile,
    SimulationTruth,
    plan_cohort,
    read_truth,
    simulate_cohort,
    simulate_slide,
)
from holo_pipeline.instrument.slide_format import (
    TISSUES,
    RawDataError,
    RawSlide,
    is_slide_ready,
    read_slide,
    validate_slide,
)

__all__ = [
    "TISSUES",
    "CohortProfile",
    "MicroscopeConfig",
    "RawDataError",
    "RawSlide",
    "SimulationTruth",
    "is_slide_ready",
    "plan_cohort",
    "read_slide",
    "read_truth",
    "simulate_cohort",
    "simulate_slide",
    "validate_slide",
]
