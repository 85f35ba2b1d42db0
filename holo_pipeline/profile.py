"""The one typed home of a run's settings: :class:`Profile`, loaded once by :func:`load_profile`.

A profile (``demo``: a 2-core laptop in minutes; ``paper``: the paper's sizes, for GPU machines) is
read from ``profiles.<name>`` in ``data_catalog.yaml`` and validated here. It holds every setting
that differs between runs: the simulated cohort's size, the RH-M architecture, the training
settings of both stages, the transfer-learning experiment plan, the per-FOV processing settings and
the nightly retrain schedule. A setting the catalog leaves out takes the library's default, so the
MH-PR defaults of :func:`holo_pipeline.optics.multi_height_phase_retrieval` are the pipeline's
unless a profile says otherwise.

Environment variables are read only by :func:`load_profile`, never at import:

* ``HOLO_PROFILE`` chooses the profile when no name is given (default ``demo``);
* ``HOLO_<SETTING>`` overrides one processing or automation setting, e.g. ``HOLO_PATCH_SIZE=64``,
  ``HOLO_DASK_SCHEDULER_ADDRESS=tcp://scheduler:8786``, ``HOLO_RETRAIN_CRON='0 3 * * *'``;
* ``HOLO_CATALOG`` points at another catalog file (:func:`holo_pipeline.catalog.catalog_file`).

The profile is then passed explicitly: ``build_definitions(profile, root)`` feeds the partitions,
code versions and resources from it.

Examples
--------
>>> from holo_pipeline.profile import load_profile
>>> demo = load_profile("demo", environ={})
>>> demo.cohort.frame_shape, demo.model.n_levels, demo.processing.mhpr_iterations
((176, 176), 3, 40)
>>> demo.seeds, len(demo.plan.partition_keys())
((0, 1), 24)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from holo_pipeline.catalog import Catalog, load_catalog
from holo_pipeline.datasets.compute import DaskSettings
from holo_pipeline.datasets.experiments import PRETRAIN_TISSUES, ExperimentPlan
from holo_pipeline.datasets.processing import BACKGROUNDS, PhaseRetrievalSettings
from holo_pipeline.instrument import CohortProfile
from holo_pipeline.model.config import STAGES, RHMConfig, TrainingConfig
from holo_pipeline.settings import ConfigError

_MHPR = PhaseRetrievalSettings()  # the library's MH-PR defaults: the one definition of them


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ProcessingSettings(_Section):
    """Per-FOV processing: patches, normalisation, MH-PR, splits and how tasks run."""

    patch_size: int = Field(512, ge=16)
    background: str = "flat_field"
    mhpr_iterations: int = Field(_MHPR.iterations, ge=1)
    mhpr_momentum: float = Field(_MHPR.momentum, ge=0, lt=1)
    mhpr_momentum_cutoff_per_um: float = Field(_MHPR.momentum_cutoff_per_um, ge=0)
    mhpr_refocus_range_um: float = Field(_MHPR.refocus_range_um, ge=0)
    mhpr_max_amplitude: float = Field(_MHPR.max_amplitude, ge=0)
    dask_scheduler: Literal["threads", "processes", "distributed"] = "threads"
    dask_workers: int = Field(2, ge=1)
    dask_scheduler_address: str = ""
    fft_workers: int = Field(1, ge=1)
    split_fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)
    split_salt: str = "holo-splits-v1"

    @field_validator("background")
    @classmethod
    def _known_background(cls, value: str) -> str:
        if value not in BACKGROUNDS:
            raise ValueError(f"must be one of {BACKGROUNDS}, got {value!r}")
        return value

    def phase_retrieval(self) -> PhaseRetrievalSettings:
        """The MH-PR settings (``mhpr_*``) as the processing functions take them."""
        return PhaseRetrievalSettings(
            iterations=self.mhpr_iterations,
            momentum=self.mhpr_momentum,
            momentum_cutoff_per_um=self.mhpr_momentum_cutoff_per_um,
            refocus_range_um=self.mhpr_refocus_range_um,
            max_amplitude=self.mhpr_max_amplitude,
        )

    def dask(self) -> DaskSettings:
        """How per-FOV tasks run (a scheduler address means a running ``dask.distributed``)."""
        address = self.dask_scheduler_address
        return DaskSettings(
            scheduler="distributed" if address else self.dask_scheduler,
            n_workers=self.dask_workers,
            fft_workers=self.fft_workers,
            scheduler_address=address,
        )


class AutomationSettings(_Section):
    """When the model and evaluation assets rerun (see :mod:`holo_pipeline.defs.schedules`)."""

    retrain_cron: str = "0 2 * * *"
    retrain_timezone: str = "UTC"

    @field_validator("retrain_cron")
    @classmethod
    def _five_fields(cls, value: str) -> str:
        cron = " ".join(value.split())
        if not valid_cron(cron):
            raise ValueError(f"must be a five-field cron string, got {value!r}")
        return cron


def valid_cron(cron: str) -> bool:
    """Five fields, and Dagster accepts it as a schedule's cron string (its public validation)."""
    if len(cron.split()) != 5:
        return False
    import dagster as dg  # only when a profile is validated: `holo-pipeline simulate` stays light

    try:
        dg.ScheduleDefinition(name="cron_check", cron_schedule=cron, job_name="cron_check")
    except dg.DagsterInvalidDefinitionError:
        return False
    return True


class TransferSettings(_Section):
    """One transfer tissue of the plan: its Nt/N ratios and Mt values."""

    tissue: str
    nt_ratios: tuple[float, ...]
    n_holograms: tuple[int, ...]


class PlanSettings(_Section):
    """The experiment plan (see :mod:`holo_pipeline.datasets.experiments`)."""

    pretrain_tissues: tuple[str, ...] = PRETRAIN_TISSUES
    pretrain_holograms: int = Field(5, ge=1)
    tile_size: int | None = None
    transfer: tuple[TransferSettings, ...]
    seeds: tuple[int, ...] = (0,)
    """Each transfer experiment is trained once per seed (part of its partition key)."""

    def experiment_plan(self) -> ExperimentPlan:
        return ExperimentPlan(
            pretrain_tissues=self.pretrain_tissues,
            pretrain_holograms=self.pretrain_holograms,
            tile_size=self.tile_size,
            transfer=tuple((t.tissue, t.nt_ratios, t.n_holograms) for t in self.transfer),
            seeds=self.seeds,
        )


class Profile(_Section):
    """Every setting of one run of the pipeline (see the module docstring)."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    name: str
    source: str = ""  # the catalog file it was read from
    cohort: CohortProfile = CohortProfile()
    model: RHMConfig = RHMConfig()
    pretrain: TrainingConfig = TrainingConfig()
    transfer: TrainingConfig = TrainingConfig()
    plan: ExperimentPlan
    processing: ProcessingSettings = ProcessingSettings()
    automation: AutomationSettings = AutomationSettings()

    @property
    def seeds(self) -> tuple[int, ...]:
        """The training seeds of the transfer experiments (``plan.seeds`` in the catalog)."""
        return self.plan.seeds

    def training(self, stage: str) -> TrainingConfig:
        """The training settings of ``stage`` (``pretrain`` or ``transfer``)."""
        if stage not in STAGES:
            raise ConfigError(f"stage must be one of {STAGES}, got {stage!r}")
        return self.pretrain if stage == "pretrain" else self.transfer

    def code_version(self, stage: str) -> str:
        """Version of a training asset: its revision plus the architecture, settings and plan."""
        blob = json.dumps(
            [
                dataclasses.asdict(self.model),
                dataclasses.asdict(self.training(stage)),
                dataclasses.asdict(self.plan),
            ],
            sort_keys=True,
        )
        return f"{stage}-1-{hashlib.sha256(blob.encode()).hexdigest()[:10]}"


#: The sections of ``profiles.<name>`` in the catalog.
SECTIONS = ("cohort", "model", "training", "plan", "processing", "automation")

#: Settings that ``HOLO_<SETTING>`` overrides, by section.
OVERRIDABLE = {
    "processing": tuple(ProcessingSettings.model_fields),
    "automation": tuple(AutomationSettings.model_fields),
}


def profile_env_names() -> tuple[str, ...]:
    """Every ``HOLO_*`` variable :func:`load_profile` reads."""
    names = [f"HOLO_{key.upper()}" for keys in OVERRIDABLE.values() for key in keys]
    return ("HOLO_PROFILE", "HOLO_CATALOG", *names)


def _override(key: str, value: Any, raw: str) -> Any:
    try:
        if isinstance(value, bool):
            return raw.strip().lower() in ("1", "true", "yes")
        if isinstance(value, int):
            return int(raw)
        if isinstance(value, float):
            return float(raw)
        if isinstance(value, list | tuple):
            return [float(v) for v in raw.split(",")]
    except ValueError:
        raise ConfigError(f"HOLO_{key.upper()}={raw!r} is not a valid {key}") from None
    return raw


def _with_overrides(section: str, values: dict[str, Any], environ: Mapping[str, str]) -> dict:
    defaults = {"processing": ProcessingSettings, "automation": AutomationSettings}[section]()
    out = dict(values)
    for key in OVERRIDABLE[section]:
        raw = environ.get(f"HOLO_{key.upper()}")
        if raw is not None and raw != "":
            out[key] = _override(key, out.get(key, getattr(defaults, key)), raw)
    return out


def _dataclass(cls: type, values: Any, where: str) -> Any:
    if values is None:
        return cls()
    if not isinstance(values, dict):
        raise ConfigError(f"{where} must be a mapping, got {type(values).__name__}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"{where} has unknown keys {unknown}; known: {sorted(known)}")
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    return cls(**kwargs)


def profile_from_mapping(
    name: str, raw: Any, *, source: str = "", environ: Mapping[str, str] | None = None
) -> Profile:
    """Validate one ``profiles.<name>`` mapping of a catalog into a :class:`Profile`.

    ``environ`` supplies the ``HOLO_<SETTING>`` overrides (none when ``None``).

    Raises
    ------
    ConfigError
        Naming the catalog file, the profile and what is wrong.
    """
    where = f"{source}: profiles.{name}" if source else f"profiles.{name}"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a mapping")
    unknown = sorted(set(raw) - set(SECTIONS))
    if unknown:
        raise ConfigError(f"{where} has unknown sections {unknown}")
    environ = environ or {}
    training = raw.get("training") or {}
    if not isinstance(training, dict) or set(training) - set(STAGES):
        raise ConfigError(f"{where}.training must map {STAGES} to training settings")
    try:
        plan = PlanSettings.model_validate(raw.get("plan") or {}).experiment_plan()
        return Profile(
            name=name,
            source=source,
            cohort=_dataclass(CohortProfile, raw.get("cohort"), f"{where}.cohort"),
            model=_dataclass(RHMConfig, raw.get("model"), f"{where}.model"),
            pretrain=_dataclass(TrainingConfig, training.get("pretrain"), f"{where}.training"),
            transfer=_dataclass(TrainingConfig, training.get("transfer"), f"{where}.training"),
            plan=plan,
            processing=ProcessingSettings.model_validate(
                _with_overrides("processing", raw.get("processing") or {}, environ)
            ),
            automation=AutomationSettings.model_validate(
                _with_overrides("automation", raw.get("automation") or {}, environ)
            ),
        )
    except ConfigError:
        raise
    except ValidationError as exc:
        problems = "; ".join(_describe(e) for e in exc.errors())
        raise ConfigError(f"{where}: {problems}") from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _describe(error: Any) -> str:
    where = ".".join(str(p) for p in error["loc"])
    key = str(error["loc"][0]) if error["loc"] else ""
    if any(key in keys for keys in OVERRIDABLE.values()):
        where += f" (or HOLO_{key.upper()})"
    return f"{where}: {error['msg']}"


def load_profile(
    name: str | None = None,
    *,
    catalog: Catalog | str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Profile:
    """Load and validate a profile from the catalog, with the ``HOLO_*`` overrides applied.

    Parameters
    ----------
    name
        ``demo`` or ``paper``; default ``$HOLO_PROFILE``, else ``demo``.
    catalog
        A parsed catalog or a catalog file; default :func:`holo_pipeline.catalog.load_catalog`.
    environ
        Where ``HOLO_PROFILE`` and the ``HOLO_<SETTING>`` overrides are read; default
        ``os.environ``. Pass ``{}`` for the catalog's values alone.

    Raises
    ------
    ConfigError
        Unknown profile, unknown or invalid setting (naming the catalog file and the key).
    """
    environ = os.environ if environ is None else environ
    if name is None:
        name = environ.get("HOLO_PROFILE", "demo")
    name = name.strip().lower()
    if not isinstance(catalog, Catalog):
        catalog = load_catalog(catalog)
    if name not in catalog.profiles:
        raise ConfigError(
            f"HOLO_PROFILE must be one of {sorted(catalog.profiles)} (the profiles of "
            f"{catalog.source}), got {name!r}"
        )
    return profile_from_mapping(
        name, catalog.profiles[name], source=str(Path(catalog.source)), environ=environ
    )
