"""The code location: ``holo_pipeline.definitions:defs``.

Assets and asset checks are collected from the modules listed in :data:`ASSET_MODULES`; adding a
module of :mod:`holo_pipeline.defs.assets` (``training``, ``evaluation``) is one line there. The
list is explicit so that a module still being written never breaks the code location.
Schedules come from :mod:`holo_pipeline.defs.schedules` once that module exists: every
``ScheduleDefinition`` in it is registered. The ``audit_landing`` job
(:mod:`holo_pipeline.defs.audit`) reports slides lost from the landing folder after they were
materialised. Resources are configured from ``data_catalog.yaml`` and
the environment (``HOLO_DATA_ROOT``, ``HOLO_PROFILE``, ``HOLO_<SETTING>``).
"""

from __future__ import annotations

import importlib
import importlib.util
import os

import dagster as dg

from holo_pipeline.defs.audit import audit_landing
from holo_pipeline.defs.resources import build_resources
from holo_pipeline.defs.sensors import automation_sensor, landing_sensor

ASSET_MODULES = (
    "holo_pipeline.defs.assets.ingest",
    "holo_pipeline.defs.assets.holograms",
    "holo_pipeline.defs.assets.patches",
    "holo_pipeline.defs.assets.training",
    "holo_pipeline.defs.assets.evaluation",
)
SCHEDULES_MODULE = "holo_pipeline.defs.schedules"


def _schedules() -> list[dg.ScheduleDefinition]:
    if importlib.util.find_spec(SCHEDULES_MODULE) is None:
        return []
    module = importlib.import_module(SCHEDULES_MODULE)
    return [v for v in vars(module).values() if isinstance(v, dg.ScheduleDefinition)]


def build_definitions(
    root: str | os.PathLike[str] | None = None, profile: str | None = None
) -> dg.Definitions:
    """Build the Definitions for a data root and profile (defaults: the environment)."""
    modules = [importlib.import_module(name) for name in ASSET_MODULES]
    return dg.Definitions(
        assets=dg.load_assets_from_modules(modules),
        asset_checks=dg.load_asset_checks_from_modules(modules),
        sensors=[landing_sensor, automation_sensor],
        schedules=_schedules(),
        jobs=[audit_landing],
        resources=build_resources(root, profile),
    )


defs = build_definitions()
