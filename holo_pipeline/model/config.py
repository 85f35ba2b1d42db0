"""Configuration of the RH-M network and of its GAN training, per profile.

Plain frozen dataclasses without TensorFlow imports, so that Dagster definitions and the CLI can
read them without paying for TensorFlow. The defaults are the paper's (Huang et al., APL Photonics
7, 070801, 2022); each profile of ``data_catalog.yaml`` sets its own values
(``profiles.<name>.model`` and ``.training``, read by :func:`holo_pipeline.profile.load_profile`);
any field can be overridden with ``dataclasses.replace``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Literal

from holo_pipeline.datasets.experiments import VARIANTS  # defined with the plan that lists them
from holo_pipeline.settings import ConfigError

__all__ = ["PRECISIONS", "STAGES", "STRATEGIES", "VARIANTS", "RHMConfig", "TrainingConfig"]

STAGES = ("pretrain", "transfer")
PRECISIONS = ("auto", "float32", "mixed_float16")
STRATEGIES = ("auto", "default", "mirrored")


@dataclass(frozen=True)
class RHMConfig:
    """Architecture of the RH-M generator and its discriminator.

    Parameters
    ----------
    n_ch
        Base channel count; down-path level ``i`` has ``n_ch * 2**i`` channels and the bottleneck
        ``n_ch * 2**n_levels``.
    n_levels
        Number of down (and up) blocks, i.e. of 2× poolings. Crops and full patches must be
        divisible by ``2**n_levels``.
    kernel_size
        Kernel size of the convolutional blocks.
    gru_kernel_size
        Kernel size of the input and recurrent convolutions of every ``ConvGRU2D``.
    leaky_slope
        Negative slope of the LeakyReLU activations.
    bn_momentum
        Momentum of the BatchNorm moving statistics used at inference; the demo lowers it so that
        a few dozen steps suffice for meaningful validation.
    disc_n_ch, disc_levels
        Discriminator: ``disc_levels`` stride-2 stages with ``disc_n_ch * 2**i`` channels (capped at
        ``disc_max_ch``), then global average pooling and two dense layers.
    """

    n_ch: int = 16
    n_levels: int = 5
    kernel_size: int = 3
    gru_kernel_size: int = 3
    leaky_slope: float = 0.1
    bn_momentum: float = 0.99
    disc_n_ch: int = 16
    disc_levels: int = 5
    disc_max_ch: int = 256

    def __post_init__(self) -> None:
        if self.n_ch < 2 or self.n_ch % 2:
            raise ConfigError(f"RHMConfig.n_ch must be an even integer >= 2, got {self.n_ch}")
        if self.n_levels < 1:
            raise ConfigError(f"RHMConfig.n_levels must be >= 1, got {self.n_levels}")
        for name in ("kernel_size", "gru_kernel_size"):
            k = getattr(self, name)
            if k < 1 or k % 2 == 0:
                raise ConfigError(f"RHMConfig.{name} must be a positive odd integer, got {k}")
        if self.disc_levels < 1 or self.disc_n_ch < 1:
            raise ConfigError("RHMConfig.disc_levels and disc_n_ch must be >= 1")

    @property
    def size_multiple(self) -> int:
        """Spatial sizes the generator accepts are multiples of this (``2**n_levels``)."""
        return 2**self.n_levels


@dataclass(frozen=True)
class TrainingConfig:
    """GAN training settings (losses, optimisers, data sampling, runtime).

    Parameters
    ----------
    epochs
        Maximum number of epochs (training may stop earlier on ``patience``).
    batch_size
        Global batch size (split across replicas under a distribution strategy).
    crop_size
        Side of the random training crops in pixels; ``None`` trains on whole patches.
    val_crop_size
        Side of the centre crop used for validation; ``None`` validates on whole patches.
    val_batch_size
        Validation samples per batch: all of them in one batch when there are fewer; otherwise
        the last batch is filled up with zero-weight copies (one traced shape). Without a GPU a
        batch also holds at most ``VAL_BATCH_PIXELS`` pixels (``holo_pipeline.model.training``;
        one whole 512² patch at a time). The validation metrics are means over the validation
        images whatever the batch size (equal within float32 rounding), so it may change when a
        run is resumed.
    augment
        Apply the ×8 flip/rotation (dihedral) augmentation to training samples.
    repeats
        Each training patch is drawn this many times per epoch; with ``augment`` its copies cycle
        through a random order of the 8 dihedral transforms (``repeats=8``: each orientation once).
    lr_g, lr_d
        Initial Adam learning rates of generator and discriminator.
    lr_decay_per_epoch
        Learning rates are multiplied by this factor per epoch (smoothly per step); 1.0 = constant.
    adam_beta_1
        Adam's first-moment decay.
    mae_weight, ms_ssim_weight, adversarial_weight
        Generator loss ``3·MAE + 1·(1 − MS-SSIM) + 0.3·(D(ŷ) − 1)²`` (paper weights).
    ssim_dynamic_range
        Dynamic range L of the MS-SSIM loss on each of the real and imaginary channels; values are
        assumed in ``[-L/2, L/2]`` (a transmission field lies in the unit disk, so L = 2).
    patience
        Early stopping: stop when validation MAE has not improved for this many epochs
        (``None`` disables it). The saved generator is always the best-validation one.
    precision
        ``"auto"`` (``mixed_float16`` when a GPU is visible, else ``float32``), ``"float32"``, or
        ``"mixed_float16"``.
    strategy
        ``"auto"`` (``MirroredStrategy`` when a GPU is visible, else the default strategy),
        ``"default"`` or ``"mirrored"``.
    deterministic
        Enable TensorFlow op determinism (bit-identical reruns and resumes on CPU).
    max_checkpoints
        How many epoch checkpoints to keep in the work directory.
    """

    epochs: int = 200
    batch_size: int = 4
    crop_size: int | None = None
    val_crop_size: int | None = None
    val_batch_size: int = 8
    augment: bool = True
    repeats: int = 1
    lr_g: float = 2e-4
    lr_d: float = 2e-5
    lr_decay_per_epoch: float = 0.98
    adam_beta_1: float = 0.9
    mae_weight: float = 3.0
    ms_ssim_weight: float = 1.0
    adversarial_weight: float = 0.3
    ssim_dynamic_range: float = 2.0
    patience: int | None = 20
    precision: Literal["auto", "float32", "mixed_float16"] = "auto"
    strategy: Literal["auto", "default", "mirrored"] = "auto"
    deterministic: bool = False
    max_checkpoints: int = 2

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ConfigError(f"TrainingConfig.epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ConfigError(f"TrainingConfig.batch_size must be >= 1, got {self.batch_size}")
        if self.val_batch_size < 1:
            raise ConfigError(
                f"TrainingConfig.val_batch_size must be >= 1, got {self.val_batch_size}"
            )
        if self.repeats < 1:
            raise ConfigError(f"TrainingConfig.repeats must be >= 1, got {self.repeats}")
        for name in ("crop_size", "val_crop_size"):
            v = getattr(self, name)
            if v is not None and v < 11:
                raise ConfigError(f"TrainingConfig.{name} must be >= 11 px or None, got {v}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"TrainingConfig.precision must be one of {PRECISIONS}")
        if self.strategy not in STRATEGIES:
            raise ConfigError(f"TrainingConfig.strategy must be one of {STRATEGIES}")
        if self.lr_g <= 0 or self.lr_d <= 0 or not 0 < self.lr_decay_per_epoch <= 1:
            raise ConfigError("learning rates must be > 0 and lr_decay_per_epoch in (0, 1]")
        if self.patience is not None and self.patience < 1:
            raise ConfigError(f"TrainingConfig.patience must be >= 1 or None, got {self.patience}")

    def fingerprint(self) -> str:
        """Hash of the settings that must not change when a run is resumed.

        All but ``epochs``, ``patience``, ``max_checkpoints`` and ``val_batch_size``.
        """
        fields = dataclasses.asdict(self)
        for name in ("epochs", "patience", "max_checkpoints", "val_batch_size"):
            fields.pop(name)
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]
