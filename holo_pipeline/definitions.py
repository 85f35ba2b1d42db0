"""The code location: ``holo_pipeline.definitions:defs``, built from one typed profile.

:func:`build_definitions` takes the profile explicitly (:func:`holo_pipeline.profile.load_profile`)
and the data root, and feeds both to everything: the ``transferred_models`` partitions and the
training code versions come from the profile's plan and settings, the resources from its
processing section and the catalog's storage roots. :func:`defs` is Dagster's lazy entry point
(``@dg.definitions``): the environment (``HOLO_PROFILE``, ``HOLO_DATA_ROOT``, ``HOLO_<SETTING>``,
``HOLO_CATALOG``) is read when Dagster loads the code location, never at import.

Assets and asset checks come from the modules of :mod:`holo_pipeline.defs.assets`; the sensors
from :mod:`holo_pipeline.defs.sensors`; the ``audit_landing`` job (:mod:`holo_pipeline.defs.audit`)
reports slides lost from the landing folder after they were materialised.
"""

from __future__ import annotations

import os

import dagster as dg

from holo_pipeline.defs.assets import (
    evaluation,
    holograms,
    ingest,
    patches,
    reconstructions,
    simulator_truth,
    training,
)
from holo_pipeline.defs.audit import audit_landing
from holo_pipeline.defs.resources import build_resources
from holo_pipeline.defs.sensors import automation_sensor, landing_sensor
from holo_pipeline.profile import Profile, load_profile

PHYSICS_MODULES = (ingest, holograms, patches, simulator_truth)
"""Modules whose assets and checks do not depend on the profile (their settings are resources)."""


def build_definitions(
    profile: Profile | str | None = None, root: str | os.PathLike[str] | None = None
) -> dg.Definitions:
    """Build the Definitions for ``profile`` and the data root ``root``.

    Parameters
    ----------
    profile
        The run's settings; a profile name or ``None`` loads it (``$HOLO_PROFILE``, else ``demo``).
    root
        The data root (default ``$HOLO_DATA_ROOT`` or ``./data``).
    """
    if not isinstance(profile, Profile):
        profile = load_profile(profile)
    physics = list(PHYSICS_MODULES)
    recon_assets, recon_checks = reconstructions.build_reconstruction_assets(profile)
    return dg.Definitions(
        assets=[
            *dg.load_assets_from_modules(physics),
            *training.build_model_assets(profile),
            *evaluation.build_evaluation_assets(profile),
            *recon_assets,
        ],
        asset_checks=[*dg.load_asset_checks_from_modules(physics), *recon_checks],
        sensors=[landing_sensor, automation_sensor],
        jobs=[audit_landing],
        resources=build_resources(profile, root),
    )


@dg.definitions
def defs() -> dg.Definitions:
    """The code location as ``dagster dev`` and the daemon load it (profile from the env)."""
    return build_definitions(load_profile(), None)
