"""GAN training of RH-M: compiled train step, validation, early stopping, exact resume.

One call, :func:`train_model`, trains one variant (``scratch``, ``frozen_rnn``, ``full_transfer``)
in a work directory and returns a :class:`TrainingResult`; calling it again on the same work
directory resumes from the last epoch checkpoint. Each epoch's data (order, heights, crops,
flips/rotations) is a pure function of ``(seed, epoch)`` (:mod:`holo_pipeline.datasets.tf_data`),
so a resumed run sees exactly the batches an uninterrupted run would have seen; with
``TrainingConfig.deterministic`` on a CPU the weights are bit-identical.

Work directory layout::

    run.json            variant, seed, M, config fingerprints (a resume must match them)
    checkpoints/        tf.train.CheckpointManager: G, D, both optimizers, best G, epoch counter
    history.csv         one row per finished epoch
    tensorboard/        scalar summaries per epoch
    generator.keras     the best-validation generator (float32), written when training ends
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from tensorflow.core.framework import summary_pb2

from holo_pipeline.atomic import atomic_path
from holo_pipeline.datasets.patch_store import PatchStore
from holo_pipeline.datasets.tf_data import make_dataset
from holo_pipeline.model.config import VARIANTS, RHMConfig, TrainingConfig
from holo_pipeline.model.losses import discriminator_loss, generator_loss, ms_ssim
from holo_pipeline.model.networks import (
    build_discriminator,
    build_generator,
    count_params,
    freeze_recurrent_blocks,
)
from holo_pipeline.settings import ConfigError

HISTORY_COLUMNS = (
    "epoch", "g_loss", "mae", "ms_ssim", "adversarial", "d_loss", "val_mae", "val_ms_ssim",
    "lr_g", "lr_d", "seconds", "val_seconds",
)  # fmt: skip

StoreLike = PatchStore | str | os.PathLike[str]


@dataclass(frozen=True)
class TrainingResult:
    """What :func:`train_model` produced.

    Attributes
    ----------
    variant
        ``scratch``, ``frozen_rnn`` or ``full_transfer``.
    generator_path
        The best-validation generator, a ``.keras`` file (load with :func:`load_generator`).
    history
        One row per epoch: ``HISTORY_COLUMNS`` (``epoch`` is 1-based; ``seconds`` is training time
        of the epoch, including tracing in the first epoch of a process).
    history_path
        ``history.csv`` in the work directory.
    trainable_params, total_params
        Generator parameter counts as trained (after freezing for ``frozen_rnn``).
    seconds_per_epoch
        Median training seconds per epoch over the history (robust to the tracing epoch).
    best_epoch, best_val_mae
        Epoch (1-based) with the lowest validation MAE, and that MAE.
    stopped_early
        Whether early stopping ended training before ``config.epochs``.
    resumed_from_epoch
        Epochs already done when this call started (0 for a fresh run).
    """

    variant: str
    generator_path: Path
    history: pd.DataFrame
    history_path: Path
    trainable_params: int
    total_params: int
    seconds_per_epoch: float
    best_epoch: int
    best_val_mae: float
    stopped_early: bool
    resumed_from_epoch: int


@dataclass(frozen=True)
class Runtime:
    """Resolved precision policy and distribution strategy."""

    precision: str
    strategy: tf.distribute.Strategy


def resolve_runtime(config: TrainingConfig) -> Runtime:
    """Resolve ``config.precision``/``config.strategy`` (``auto``: by whether a GPU is visible)."""
    has_gpu = bool(tf.config.list_physical_devices("GPU"))
    precision = config.precision
    if precision == "auto":
        precision = "mixed_float16" if has_gpu else "float32"
    kind = config.strategy
    if kind == "auto":
        kind = "mirrored" if has_gpu else "default"
    if kind == "mirrored":
        strategy = tf.distribute.MirroredStrategy()
    else:
        strategy = tf.distribute.get_strategy()
    return Runtime(precision=precision, strategy=strategy)


@contextmanager
def dtype_policy(name: str) -> Iterator[None]:
    """Build layers under Keras dtype policy ``name``, restoring the previous global policy."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def load_generator(path: str | os.PathLike[str]) -> keras.Model:
    """Load a generator saved by :func:`train_model` (or ``model.save``) from a ``.keras`` file."""
    import holo_pipeline.model.networks  # noqa: F401  (registers the custom layers)

    return keras.saving.load_model(Path(path), compile=False)


_FORWARD: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _size_multiple(generator: keras.Model) -> int:
    pools = sum(isinstance(layer, keras.layers.MaxPooling2D) for layer in generator.layers)
    return 2**pools


def predict(generator: keras.Model, inputs: np.ndarray, *, batch_size: int = 1) -> np.ndarray:
    """Reconstruct fields from hologram stacks with a trained generator.

    Parameters
    ----------
    generator
        An RH-M generator (fully convolutional: any M and any H, W divisible by ``2**n_levels``).
    inputs
        ``(N, M, H, W, 2)`` or a single ``(M, H, W, 2)`` stack of back-propagated holograms.
    batch_size
        Samples per forward pass.

    Returns
    -------
    float32 ``(N, H, W, 2)`` (or ``(H, W, 2)`` for a single stack): real and imaginary parts.
    """
    x = np.asarray(inputs, dtype=np.float32)
    single = x.ndim == 4
    if single:
        x = x[None]
    if x.ndim != 5 or x.shape[-1] != 2:
        raise ValueError(f"inputs must be (N, M, H, W, 2) or (M, H, W, 2), got {x.shape}")
    multiple = _size_multiple(generator)
    if x.shape[2] % multiple or x.shape[3] % multiple:
        raise ValueError(f"H and W must be multiples of {multiple}, got {x.shape[2:4]}")
    forward = _FORWARD.get(generator)
    if forward is None:  # one traced forward pass per generator, reused across calls
        forward = tf.function(lambda t: generator(t, training=False), reduce_retracing=True)
        _FORWARD[generator] = forward
    outputs = [
        np.asarray(forward(tf.constant(x[i : i + batch_size])), dtype=np.float32)
        for i in range(0, x.shape[0], batch_size)
    ]
    out = np.concatenate(outputs, axis=0)
    return out[0] if single else out


def _copy_weights(source: keras.Model, target: keras.Model) -> None:
    src, dst = source.weights, target.weights
    if len(src) != len(dst) or any(a.shape != b.shape for a, b in zip(src, dst, strict=True)):
        raise ConfigError(
            f"{source.name} and {target.name} do not have the same architecture "
            "(was the backbone built with a different RHMConfig?)"
        )
    for a, b in zip(src, dst, strict=True):
        b.assign(a)


def _check_variant(variant: str, backbone_path) -> None:
    if variant not in VARIANTS:
        raise ConfigError(f"variant must be one of {VARIANTS}, got {variant!r}")
    if variant == "scratch" and backbone_path is not None:
        raise ConfigError("variant 'scratch' trains fresh weights; backbone_path must be None")
    if variant != "scratch" and backbone_path is None:
        raise ConfigError(f"variant {variant!r} needs backbone_path (a generator .keras file)")
    if backbone_path is not None and not Path(backbone_path).is_file():
        raise ConfigError(f"backbone_path {backbone_path}: no such .keras file")


class GANTrainer:
    """Generator, discriminator, optimizers and the compiled train/validation steps of one run.

    Built inside the runtime's distribution scope under its precision policy. :func:`train_model`
    drives it; the benchmarks call :meth:`train_step` / :meth:`eager_train_step` directly.
    """

    def __init__(
        self,
        variant: str,
        *,
        model_config: RHMConfig,
        config: TrainingConfig,
        steps_per_epoch: int,
        seed: int,
        backbone_path: str | os.PathLike[str] | None = None,
        runtime: Runtime | None = None,
    ) -> None:
        _check_variant(variant, backbone_path)
        self.variant = variant
        self.model_config = model_config
        self.config = config
        self.runtime = runtime or resolve_runtime(config)
        self.mixed = self.runtime.precision == "mixed_float16"
        strategy = self.runtime.strategy
        keras.utils.set_random_seed(seed)
        with strategy.scope():
            with dtype_policy(self.runtime.precision):
                self.generator = build_generator(model_config)
                self.discriminator = build_discriminator(model_config)
            with dtype_policy("float32"):
                self.best_generator = build_generator(model_config, name="rhm_generator_best")
            if backbone_path is not None:
                _copy_weights(load_generator(backbone_path), self.generator)
            if variant == "frozen_rnn":
                freeze_recurrent_blocks(self.generator)
            # Optimizers are built after freezing so that they track only trainable weights.
            self.opt_g = self._optimizer(config.lr_g, steps_per_epoch, "adam_generator")
            self.opt_d = self._optimizer(config.lr_d, steps_per_epoch, "adam_discriminator")
            self.opt_g.build(self.generator.trainable_variables)
            self.opt_d.build(self.discriminator.trainable_variables)
        _copy_weights(self.generator, self.best_generator)
        self.train_step = tf.function(self._distributed_step, autograph=False)
        self.validation_step = tf.function(self._distributed_validation, autograph=False)

    def _optimizer(self, lr: float, steps_per_epoch: int, name: str):
        schedule = lr
        if self.config.lr_decay_per_epoch < 1.0:
            schedule = keras.optimizers.schedules.ExponentialDecay(
                lr, decay_steps=max(steps_per_epoch, 1), decay_rate=self.config.lr_decay_per_epoch
            )
        opt = keras.optimizers.Adam(schedule, beta_1=self.config.adam_beta_1, name=name)
        return keras.optimizers.LossScaleOptimizer(opt) if self.mixed else opt

    def _replica_step(self, x, y):
        cfg = self.config
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            y_hat = self.generator(x, training=True)
            d_fake = self.discriminator(y_hat, training=True)
            d_real = self.discriminator(y, training=True)
            parts = generator_loss(
                y, y_hat, d_fake,
                mae_weight=cfg.mae_weight, ms_ssim_weight=cfg.ms_ssim_weight,
                adversarial_weight=cfg.adversarial_weight, max_val=cfg.ssim_dynamic_range,
            )  # fmt: skip
            d_loss = discriminator_loss(d_real, d_fake)
            # Gradients are summed over replicas, so each replica's mean loss is divided by them.
            g_objective = parts["loss"] / replicas
            d_objective = d_loss / replicas
            if self.mixed:
                g_objective = self.opt_g.scale_loss(g_objective)
                d_objective = self.opt_d.scale_loss(d_objective)
        g_vars = self.generator.trainable_variables
        d_vars = self.discriminator.trainable_variables
        g_grads = g_tape.gradient(g_objective, g_vars)
        d_grads = d_tape.gradient(d_objective, d_vars)
        self.opt_g.apply_gradients(zip(g_grads, g_vars, strict=True))
        self.opt_d.apply_gradients(zip(d_grads, d_vars, strict=True))
        return (parts["loss"], parts["mae"], parts["ms_ssim"], parts["adversarial"], d_loss)

    def _distributed_step(self, x, y):
        strategy = self.runtime.strategy
        per_replica = strategy.run(self._replica_step, args=(x, y))
        return tuple(
            strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None) for v in per_replica
        )

    def eager_train_step(self, x, y):
        """The same step without ``tf.function`` (for benchmarks and debugging)."""
        return self._distributed_step(x, y)

    def _replica_validation(self, x, y):
        y_hat = tf.cast(self.generator(x, training=False), tf.float32)
        abs_sum = tf.reduce_sum(tf.abs(y_hat - tf.cast(y, tf.float32)))
        ssim_sum = tf.reduce_sum(ms_ssim(y, y_hat, max_val=self.config.ssim_dynamic_range))
        n_values = tf.cast(tf.size(y), tf.float32)
        return abs_sum, n_values, ssim_sum, tf.cast(tf.shape(y)[0], tf.float32)

    def _distributed_validation(self, x, y):
        strategy = self.runtime.strategy
        per_replica = strategy.run(self._replica_validation, args=(x, y))
        return tuple(strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for v in per_replica)

    def distribute(self, dataset: tf.data.Dataset):
        """Distribute ``dataset`` over the replicas (a no-op for the default strategy)."""
        if isinstance(self.runtime.strategy, tf.distribute.MirroredStrategy):
            return self.runtime.strategy.experimental_distribute_dataset(dataset)
        return dataset

    def validate(self, dataset: tf.data.Dataset) -> tuple[float, float]:
        """Return validation ``(MAE, MS-SSIM)`` over ``dataset`` (means over pixels / images)."""
        abs_sum = count = ssim_sum = images = 0.0
        for x, y in self.distribute(dataset):
            a, c, s, n = (float(v) for v in self.validation_step(x, y))
            abs_sum, count, ssim_sum, images = abs_sum + a, count + c, ssim_sum + s, images + n
        return abs_sum / max(count, 1.0), ssim_sum / max(images, 1.0)

    def learning_rates(self) -> tuple[float, float]:
        """Current learning rates of the generator and discriminator optimizers."""
        return float(self.opt_g.learning_rate), float(self.opt_d.learning_rate)


def _write_atomic_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def _write_scalars(writer, row: dict, *, step: int) -> None:
    """Write one epoch's history row as TensorBoard scalars.

    Uses the core ``tf.summary.write`` with the scalars plugin's metadata, which needs no
    ``tensorboard`` package at training time (only to view the logs).
    """
    metadata = summary_pb2.SummaryMetadata()
    metadata.plugin_data.plugin_name = "scalars"
    with writer.as_default(step=step):
        for key in HISTORY_COLUMNS[1:]:
            tf.summary.write(key, tf.constant(row[key], tf.float32), metadata=metadata)
    writer.flush()


def _check_run_identity(workdir: Path, identity: dict) -> None:
    path = workdir / "run.json"
    if path.exists():
        stored = json.loads(path.read_text())
        if stored != identity:
            diff = sorted(k for k in identity if stored.get(k) != identity[k])
            raise ConfigError(
                f"{workdir}: holds a run with different settings ({', '.join(diff)}); "
                "use another work directory or delete this one"
            )
    else:
        _write_atomic_text(path, json.dumps(identity, indent=2, sort_keys=True))


def _should_stop(history: pd.DataFrame, patience: int | None) -> bool:
    if patience is None or history.empty:
        return False
    best_row = int(history["val_mae"].to_numpy().argmin())
    return len(history) - 1 - best_row >= patience


def train_model(
    variant: str,
    *,
    train_stores: Sequence[StoreLike],
    val_stores: Sequence[StoreLike],
    config: TrainingConfig,
    workdir: str | os.PathLike[str],
    n_holograms: int,
    seed: int,
    backbone_path: str | os.PathLike[str] | None = None,
    model_config: RHMConfig | None = None,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
) -> TrainingResult:
    """Train (or resume training) one RH-M variant with the GAN losses of Huang et al. (2022).

    Parameters
    ----------
    variant
        ``scratch`` (fresh weights; also how the backbone is pretrained), ``frozen_rnn`` (backbone
        weights, recurrent blocks frozen) or ``full_transfer`` (backbone weights, all trainable).
    train_stores, val_stores
        Patch stores (paths or open :class:`PatchStore`) for training and validation.
    config
        Training settings, e.g. ``TrainingConfig.for_profile(name, stage="transfer")``.
    workdir
        Where checkpoints, history and the final generator go; an existing run there is resumed
        (it must have the same variant, seed, M and settings except ``epochs``/``patience``).
    n_holograms
        M, holograms per sample, drawn from the 8 heights of each patch.
    seed
        Seeds weight initialisation and every epoch's data plan.
    backbone_path
        The pretrained generator ``.keras`` for the transfer variants.
    model_config
        Architecture; defaults to ``RHMConfig.for_profile()``. Must match the backbone's.
    on_epoch
        Called after each epoch is checkpointed with its history row (``epoch`` counts from 1;
        losses, validation metrics, ``seconds``, ``val_seconds``), e.g. to report progress.

    Returns
    -------
    TrainingResult
    """
    _check_variant(variant, backbone_path)
    model_config = model_config or RHMConfig.for_profile()
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    train_stores = list(train_stores)
    val_stores = list(val_stores)
    multiple = model_config.size_multiple
    for name in ("crop_size", "val_crop_size"):
        size = getattr(config, name)
        if size is not None and size % multiple:
            raise ConfigError(f"TrainingConfig.{name}={size} is not a multiple of {multiple}")

    def epoch_data(epoch: int) -> tf.data.Dataset:
        return make_dataset(
            train_stores, n_holograms=n_holograms, batch_size=config.batch_size, seed=seed,
            epoch=epoch, crop_size=config.crop_size, random_crop=True, augment=config.augment,
            shuffle=True, repeats=config.repeats, drop_remainder=True,
        )  # fmt: skip

    # Validation batches of one sample: a single traced shape, any number of patches.
    val_data = make_dataset(
        val_stores, n_holograms=n_holograms, batch_size=1, seed=seed + 1,
        epoch=0, crop_size=config.val_crop_size, random_crop=False, augment=False, shuffle=False,
    )  # fmt: skip
    # Full batches only (one traced shape); the dropped samples differ from epoch to epoch.
    n_train = int(epoch_data(0).cardinality().numpy())
    if n_train == 0:
        raise ConfigError(
            f"fewer training samples per epoch than TrainingConfig.batch_size={config.batch_size}"
            " (add patches, raise repeats or lower batch_size)"
        )
    identity = {
        "variant": variant,
        "seed": int(seed),
        "n_holograms": int(n_holograms),
        "training_config": config.fingerprint(),
        "model_config": dataclasses.asdict(model_config),
        "backbone": None if backbone_path is None else str(Path(backbone_path).resolve()),
    }
    _check_run_identity(workdir, identity)
    trainer = GANTrainer(
        variant,
        model_config=model_config,
        config=config,
        steps_per_epoch=n_train,
        seed=seed,
        backbone_path=backbone_path,
    )
    epoch_counter = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
    checkpoint = tf.train.Checkpoint(
        generator=trainer.generator,
        discriminator=trainer.discriminator,
        best_generator=trainer.best_generator,
        optimizer_generator=trainer.opt_g,
        optimizer_discriminator=trainer.opt_d,
        epoch=epoch_counter,
    )
    manager = tf.train.CheckpointManager(
        checkpoint, workdir / "checkpoints", max_to_keep=config.max_checkpoints
    )
    history_path = workdir / "history.csv"
    rows: list[dict] = []
    if manager.latest_checkpoint:
        checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
        if history_path.exists():
            done = pd.read_csv(history_path)
            rows = done[done["epoch"] <= int(epoch_counter.numpy())].to_dict("records")
    start_epoch = int(epoch_counter.numpy())
    writer = tf.summary.create_file_writer(str(workdir / "tensorboard"))
    history = pd.DataFrame(rows, columns=list(HISTORY_COLUMNS))
    best_val = float(history["val_mae"].min()) if rows else math.inf

    epoch = start_epoch
    while epoch < config.epochs and not _should_stop(history, config.patience):
        start = time.perf_counter()
        sums = np.zeros(5)
        steps = 0
        for x, y in trainer.distribute(epoch_data(epoch)):
            sums += np.asarray([float(v) for v in trainer.train_step(x, y)])
            steps += 1
        seconds = time.perf_counter() - start
        start = time.perf_counter()
        val_mae, val_ms_ssim = trainer.validate(val_data)
        val_seconds = time.perf_counter() - start
        means = sums / max(steps, 1)
        lr_g, lr_d = trainer.learning_rates()
        row = dict(
            zip(HISTORY_COLUMNS, (
                epoch + 1, *means.tolist(), val_mae, val_ms_ssim, lr_g, lr_d, seconds, val_seconds
            ), strict=True)
        )  # fmt: skip
        rows.append(row)
        history = pd.DataFrame(rows, columns=list(HISTORY_COLUMNS))
        if val_mae < best_val:
            best_val = val_mae
            _copy_weights(trainer.generator, trainer.best_generator)
        _write_scalars(writer, row, step=epoch + 1)
        # History first, checkpoint last: a kill in between re-runs this epoch identically.
        _write_atomic_text(history_path, history.to_csv(index=False))
        epoch += 1
        epoch_counter.assign(epoch)
        manager.save(checkpoint_number=epoch)
        if on_epoch is not None:
            on_epoch(row)

    generator_path = workdir / "generator.keras"
    with atomic_path(generator_path, suffix=".keras") as tmp:  # Keras insists on the extension
        trainer.best_generator.save(tmp)
    trainable, total = count_params(trainer.generator)
    best_row = int(history["val_mae"].to_numpy().argmin())
    return TrainingResult(
        variant=variant,
        generator_path=generator_path,
        history=history,
        history_path=history_path,
        trainable_params=trainable,
        total_params=total,
        seconds_per_epoch=float(history["seconds"].median()),
        best_epoch=int(history["epoch"].iloc[best_row]),
        best_val_mae=float(history["val_mae"].iloc[best_row]),
        stopped_early=bool(len(history) < config.epochs),
        resumed_from_epoch=start_epoch,
    )
