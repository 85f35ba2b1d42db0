"""GAN training of RH-M with ``keras.Model.fit``: resume, early stopping, history, TensorBoard.

One call, :func:`train_model`, trains one variant (``scratch``, ``frozen_rnn``, ``full_transfer``)
in a work directory and returns a :class:`TrainingResult`; calling it again on the same work
directory resumes from the last epoch checkpoint. :class:`RHMGan` holds generator, discriminator
and both optimizers and defines the GAN ``train_step``/``test_step``; ``fit`` compiles them. What
Keras provides comes from its callbacks (``EarlyStopping``, ``CSVLogger``, ``TensorBoard``); three
small callbacks here do what no Keras callback does exactly (see each one's docstring).

Each epoch's data (order, heights, crops, flips/rotations) is a pure function of ``(seed, epoch)``
(:mod:`holo_pipeline.datasets.tf_data`), and ``fit`` reads one stream of the epochs from the first
one not yet trained, so a resumed run sees exactly the batches an uninterrupted run would have
seen; with ``TrainingConfig.deterministic`` on a CPU the weights are bit-identical.

Work directory layout::

    identity.json       variant, seed, M, config fingerprints (a resume must match them)
    checkpoints/        tf.train.CheckpointManager: G, D, both optimizers, best G, epoch counter
    history.csv         keras.callbacks.CSVLogger: one row per finished epoch (epoch from 0)
    tensorboard/        keras.callbacks.TensorBoard: train/ and validation/ epoch scalars
    generator.keras     the best-validation generator (float32), written when training ends
"""

from __future__ import annotations

import collections
import dataclasses
import gc
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

from holo_pipeline.atomic import atomic_path
from holo_pipeline.datasets.patch_store import PatchStore
from holo_pipeline.datasets.tf_data import load_into_memory, make_dataset
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

IN_MEMORY_BYTES = 1 << 30
"""Training and validation stores each up to this size (uncompressed) are read into memory once."""


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
    timings
        Wall seconds of this call by phase (see :data:`TIMING_PHASES`), for benchmarks and logs.
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
    timings: dict[str, float] = dataclasses.field(default_factory=dict)


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


TRAIN_METRICS = ("g_loss", "mae", "ms_ssim", "adversarial", "d_loss")
"""What :meth:`RHMGan.train_step` reports (means over the epoch's steps)."""
VALIDATION_METRICS = ("mae", "ms_ssim")
"""What :meth:`RHMGan.test_step` reports (means over validation images; ``fit`` adds ``val_``)."""


class RHMGan(keras.Model):
    """RH-M generator and discriminator trained together as a GAN (Huang et al., 2022).

    ``fit`` drives it: :meth:`train_step` updates both networks on one batch with their own
    optimizers (``opt_g``, ``opt_d``; loss-scaled under ``mixed_float16``) and :meth:`test_step`
    measures the generator on a validation batch. Calling the model runs the generator. Build one
    with :func:`build_gan`, which compiles it.

    Parameters
    ----------
    generator, discriminator
        Built networks (:func:`~holo_pipeline.model.networks.build_generator` and
        :func:`~holo_pipeline.model.networks.build_discriminator`).
    opt_g, opt_d
        Their optimizers, built on their trainable variables.
    config
        The loss weights and MS-SSIM dynamic range.
    schedules
        The optimizers' :class:`EpochDecay` learning-rate schedules, if any.
    """

    def __init__(
        self,
        generator: keras.Model,
        discriminator: keras.Model,
        *,
        opt_g: keras.optimizers.Optimizer,
        opt_d: keras.optimizers.Optimizer,
        config: TrainingConfig,
        schedules: Sequence[EpochDecay] = (),
        name: str = "rhm_gan",
    ) -> None:
        super().__init__(name=name)
        self.generator = generator
        self.discriminator = discriminator
        self.opt_g = opt_g
        self.opt_d = opt_d
        self.training_config = config
        self.schedules = list(schedules)
        self.mixed = isinstance(opt_g, keras.optimizers.LossScaleOptimizer)
        self.train_trackers = [keras.metrics.Mean(name=key) for key in TRAIN_METRICS]
        self.val_trackers = [keras.metrics.Mean(name=f"val_{key}") for key in VALIDATION_METRICS]
        self.built = True

    def call(self, inputs, training: bool = False):
        return self.generator(inputs, training=training)

    def train_step(self, data):
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        cfg = self.training_config
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
        values = (parts["loss"], parts["mae"], parts["ms_ssim"], parts["adversarial"], d_loss)
        for tracker, value in zip(self.train_trackers, values, strict=True):
            tracker.update_state(value)
        return {key: t.result() for key, t in zip(TRAIN_METRICS, self.train_trackers, strict=True)}

    def test_step(self, data):
        x, y, weight = keras.utils.unpack_x_y_sample_weight(data)
        y = tf.cast(y, tf.float32)
        y_hat = tf.cast(self.generator(x, training=False), tf.float32)
        # Per-image means; validation images have one size, so their mean is the pixel mean.
        # ``weight`` (0 for the copies that pad a last batch) makes the trackers' means the means
        # over the validation images, whatever the batch size.
        mae = tf.reduce_mean(tf.abs(y_hat - y), axis=[1, 2, 3])
        values = (mae, ms_ssim(y, y_hat, max_val=self.training_config.ssim_dynamic_range))
        for tracker, value in zip(self.val_trackers, values, strict=True):
            tracker.update_state(value, sample_weight=weight)
        return {
            key: t.result() for key, t in zip(VALIDATION_METRICS, self.val_trackers, strict=True)
        }

    def state_variables(self) -> list[tf.Variable]:
        """Everything a run changes or sets: weights, optimizer state, learning-rate schedules."""
        out = [*self.generator.weights, *self.discriminator.weights]
        out += [*self.opt_g.variables, *self.opt_d.variables]
        for schedule in self.schedules:
            out += schedule.variables()
        return out

    def learning_rates(self) -> tuple[float, float]:
        """Current learning rates of the generator and discriminator optimizers."""
        return float(self.opt_g.learning_rate), float(self.opt_d.learning_rate)


class EpochDecay(keras.optimizers.schedules.LearningRateSchedule):
    """``lr · rate ** (step / steps_per_epoch)``: Keras's ``ExponentialDecay``, same arithmetic.

    Its three numbers live in variables rather than in the traced graph, so that one traced train
    step serves runs of any learning rate, decay and epoch length (see :func:`_gan_for_run`).
    """

    def __init__(self, lr: float, rate: float, steps_per_epoch: int) -> None:
        self.lr = tf.Variable(lr, dtype=tf.float32, trainable=False, name="lr")
        self.rate = tf.Variable(rate, dtype=tf.float32, trainable=False, name="rate")
        self.steps = tf.Variable(
            max(steps_per_epoch, 1), dtype=tf.int64, trainable=False, name="steps_per_epoch"
        )

    def variables(self) -> list[tf.Variable]:
        return [self.lr, self.rate, self.steps]

    def __call__(self, step):
        p = tf.cast(step, tf.float32) / tf.cast(self.steps, tf.float32)
        return tf.multiply(self.lr, tf.pow(self.rate, p))

    def get_config(self):
        return {
            "lr": float(self.lr.numpy()),
            "rate": float(self.rate.numpy()),
            "steps_per_epoch": int(self.steps.numpy()),
        }


def _optimizer(config: TrainingConfig, lr: float, steps_per_epoch: int, *, mixed: bool, name: str):
    schedule = lr
    if config.lr_decay_per_epoch < 1.0:
        schedule = EpochDecay(lr, config.lr_decay_per_epoch, steps_per_epoch)
    opt = keras.optimizers.Adam(schedule, beta_1=config.adam_beta_1, name=name)
    if mixed:
        opt = keras.optimizers.LossScaleOptimizer(opt)
    return opt, schedule


def build_gan(
    variant: str,
    *,
    model_config: RHMConfig,
    config: TrainingConfig,
    steps_per_epoch: int,
    seed: int,
    backbone_path: str | os.PathLike[str] | None = None,
    runtime: Runtime | None = None,
) -> RHMGan:
    """Build and compile the :class:`RHMGan` of one variant, ready for ``fit``/``train_on_batch``.

    Built inside the runtime's distribution scope under its precision policy: the generator from
    ``backbone_path`` for the transfer variants (recurrent blocks frozen for ``frozen_rnn``), a
    fresh discriminator, and Adam optimizers whose learning rates decay by
    ``config.lr_decay_per_epoch`` per ``steps_per_epoch`` steps.
    """
    _check_variant(variant, backbone_path)
    runtime = runtime or resolve_runtime(config)
    mixed = runtime.precision == "mixed_float16"
    # The weights' seeds: Python's, NumPy's and Keras's seed generator. TensorFlow's global seed
    # is set in a throwaway graph only: set eagerly, it clears TensorFlow's kernel cache, and the
    # traced steps of a reused GAN (_gan_for_run) were then optimised anew at every run (~3 s of
    # a demo transfer run). Nothing in training draws from it (the initialisers are stateless and
    # each epoch's data plan is NumPy's), and the weights are bit-identical either way.
    with tf.Graph().as_default():
        keras.utils.set_random_seed(seed)
    with runtime.strategy.scope():
        with dtype_policy(runtime.precision):
            generator = build_generator(model_config)
            discriminator = build_discriminator(model_config)
        if backbone_path is not None:
            _copy_weights(load_generator(backbone_path), generator)
        if variant == "frozen_rnn":
            freeze_recurrent_blocks(generator)
        # Optimizers are built after freezing so that they track only trainable weights.
        opt_g, schedule_g = _optimizer(
            config, config.lr_g, steps_per_epoch, mixed=mixed, name="adam_generator"
        )
        opt_d, schedule_d = _optimizer(
            config, config.lr_d, steps_per_epoch, mixed=mixed, name="adam_discriminator"
        )
        opt_g.build(generator.trainable_variables)
        opt_d.build(discriminator.trainable_variables)
        schedules = [s for s in (schedule_g, schedule_d) if isinstance(s, EpochDecay)]
        gan = RHMGan(
            generator, discriminator, opt_g=opt_g, opt_d=opt_d, config=config, schedules=schedules
        )
        # No compiled optimizer or loss: train_step applies both optimizers itself. No XLA, so
        # that a GPU runs the same kernels as before and CPU runs stay deterministic.
        gan.compile(optimizer=None, jit_compile=False)
    return gan


_TRACED_GANS: collections.OrderedDict[str, RHMGan] = collections.OrderedDict()
TRACED_GANS_KEPT = 3
"""How many trained :class:`RHMGan` (with their traced steps) one process keeps for reuse."""


def _gan_for_run(
    variant: str, *, model_config, config, runtime, n_holograms: int, **kwargs
) -> RHMGan:
    """:func:`build_gan`, but into an earlier run's GAN of the same graph when there is one.

    Tracing and optimising ``fit``'s train and test steps costs seconds per run (more than the
    demo's steps); a GAN whose traced steps would be the same graph is reused instead. The fresh
    GAN's whole state (weights, optimizer slots and step, learning-rate schedule) is copied into
    it, so the run starts from exactly the state a fresh GAN has and trains identically. The key
    holds everything the traced graph depends on that is not a variable, M included: Keras traces
    its steps with ``reduce_retracing``, so a second M on one GAN would be traced once more with M
    unknown, and ``ConvGRU2D`` then runs a symbolic loop, 1.6-1.8× slower per demo step than its
    unrolled one.
    """
    fresh = build_gan(variant, model_config=model_config, config=config, runtime=runtime, **kwargs)
    if runtime.strategy is not tf.distribute.get_strategy() or runtime.precision != "float32":
        return fresh  # reuse only on the default strategy in float32 (the CPU case it is for)
    key = json.dumps(
        {
            "frozen": variant == "frozen_rnn",
            "n_holograms": int(n_holograms),
            "model": dataclasses.asdict(model_config),
            "graph": [getattr(config, name) for name in _GRAPH_SETTINGS],
            "decay": config.lr_decay_per_epoch < 1.0,
        },
        sort_keys=True,
    )
    traced = _TRACED_GANS.pop(key, None)
    if traced is None:
        traced = fresh
    else:
        for source, target in zip(fresh.state_variables(), traced.state_variables(), strict=True):
            target.assign(source)
    _TRACED_GANS[key] = traced  # most recently used last
    while len(_TRACED_GANS) > TRACED_GANS_KEPT:
        _TRACED_GANS.popitem(last=False)
    return traced


def forget_traced_gans() -> None:
    """Drop the GANs kept for reuse by :func:`train_model` (the next run builds and traces anew)."""
    _TRACED_GANS.clear()


_GRAPH_SETTINGS = (
    "mae_weight", "ms_ssim_weight", "adversarial_weight", "ssim_dynamic_range", "adam_beta_1",
    "deterministic",
)  # fmt: skip


class EpochCheckpoint(keras.callbacks.Callback):
    """Checkpoint the whole training state after every epoch; :meth:`restore` resumes from it.

    Why not ``keras.callbacks.BackupAndRestore``: it would save the same state (``save_weights`` of
    the :class:`RHMGan` walks generator, discriminator and both optimizers), but it overwrites
    ``latest.weights.h5`` in place and then writes the epoch number to a separate JSON file. A
    kill between the two leaves epoch ``n + 1`` weights labelled epoch ``n``, so the resumed run
    trains that epoch twice (not the uninterrupted run's weights), and a kill during either write
    leaves a file the next run cannot read. ``tf.train.CheckpointManager`` writes a checkpoint's
    files first and then its index by an atomic rename, with the epoch counter inside, so any kill
    leaves the last complete epoch. It also holds the best-validation generator.
    """

    def __init__(self, directory: Path, objects: dict[str, object], *, max_to_keep: int) -> None:
        super().__init__()
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        self.checkpoint = tf.train.Checkpoint(**objects, epoch=self.epoch)
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, directory, max_to_keep=max_to_keep
        )

    def restore(self) -> int:
        """Restore the latest checkpoint, if any; return the number of epochs it had finished."""
        if self.manager.latest_checkpoint:
            self.checkpoint.restore(
                self.manager.latest_checkpoint
            ).assert_existing_objects_matched()
        return int(self.epoch.numpy())

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.assign(epoch + 1)
        self.manager.save(checkpoint_number=epoch + 1)


class EpochStatistics(keras.callbacks.Callback):
    """Add ``lr_g``, ``lr_d``, ``seconds`` (training) and ``val_seconds`` to each epoch's logs.

    Keras logs neither a GAN's two learning rates nor the time of an epoch's training apart from
    its validation. Put it first among the callbacks: later ones see the added keys.
    """

    def on_epoch_begin(self, epoch, logs=None):
        self._start = self._validation_start = time.perf_counter()
        self._seconds = self._val_seconds = 0.0

    def on_test_begin(self, logs=None):
        self._validation_start = time.perf_counter()
        self._seconds = self._validation_start - self._start

    def on_test_end(self, logs=None):
        self._val_seconds = time.perf_counter() - self._validation_start

    def on_epoch_end(self, epoch, logs=None):
        lr_g, lr_d = self.model.learning_rates()
        logs.update(lr_g=lr_g, lr_d=lr_d, seconds=self._seconds, val_seconds=self._val_seconds)


class BestGenerator(keras.callbacks.Callback):
    """Keep a float32 copy of the generator of the lowest validation MAE so far.

    ``ModelCheckpoint(save_best_only=True)`` would save the whole GAN to a file and forget its best
    value on a resume; this copy lives in the checkpoint, and ``best`` starts from the history.
    """

    def __init__(self, best_generator: keras.Model, *, best: float = math.inf) -> None:
        super().__init__()
        self.best_generator, self.best = best_generator, best

    def on_epoch_end(self, epoch, logs=None):
        if logs["val_mae"] < self.best:
            self.best = logs["val_mae"]
            _copy_weights(self.model.generator, self.best_generator)


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """``EarlyStopping`` that first replays the validation history of the epochs already trained.

    Keras's resets its best value and patience counter when ``fit`` starts, so a resumed run would
    train longer than an uninterrupted one; replaying the past epochs through its own rule gives the
    same stop.
    """

    def __init__(self, past: Sequence[float], **kwargs) -> None:
        super().__init__(mode="min", **kwargs)
        self.past = [float(v) for v in past]

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        for epoch, value in enumerate(self.past):
            self.on_epoch_end(epoch, {self.monitor: value})

    def stopped_before(self, model: keras.Model) -> bool:
        """Whether the replayed history alone already stops training (then ``fit`` is skipped)."""
        self.set_model(model)
        model.stop_training = False
        self.on_train_begin()
        stopped, model.stop_training = model.stop_training, False
        return stopped


class _CallbackClock:
    """Wall seconds spent in each callback's ``on_train_begin``/``on_epoch_end``/``on_train_end``.

    :meth:`interleave` puts a marker callback before, between and after the given callbacks; Keras
    calls a hook on each callback in list order, so the time between two markers is the hook of
    the callback between them.
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._last = 0.0
        self.began: float | None = None  # the first hook of on_train_begin
        self.ended: float | None = None  # the last hook of on_train_end

    def interleave(
        self, callbacks: Sequence[keras.callbacks.Callback]
    ) -> list[keras.callbacks.Callback]:
        names = [type(cb).__name__ for cb in callbacks]
        self.seconds = dict.fromkeys(names, 0.0)
        out: list[keras.callbacks.Callback] = [_ClockMarker(self, None)]
        for name, callback in zip(names, callbacks, strict=True):
            out += [callback, _ClockMarker(self, name)]
        return out

    def mark(self, after: str | None) -> None:
        now = time.perf_counter()
        if after is not None:
            self.seconds[after] += now - self._last
        self._last = now


class _ClockMarker(keras.callbacks.Callback):
    def __init__(self, clock: _CallbackClock, after: str | None) -> None:
        super().__init__()
        self.clock, self.after = clock, after

    def on_train_begin(self, logs=None):
        self.clock.mark(self.after)
        if self.after is None:
            self.clock.began = self.clock._last

    def on_epoch_end(self, epoch, logs=None):
        self.clock.mark(self.after)

    def on_train_end(self, logs=None):
        self.clock.mark(self.after)
        self.clock.ended = self.clock._last


class _GarbageClock:
    """Seconds and passes of Python's cyclic garbage collector while in use (``gc.callbacks``).

    The collector stops every thread of the process while it walks the tracked objects, so a
    process that holds many (a Dagster worker's definitions and instance) pays for each full pass.
    """

    def __init__(self) -> None:
        self.seconds = 0.0
        self.full_passes = 0
        self._start = 0.0

    def _hook(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._start
            self.full_passes += info.get("generation") == 2

    def __enter__(self) -> _GarbageClock:
        gc.callbacks.append(self._hook)
        return self

    def __exit__(self, *exc) -> None:
        gc.callbacks.remove(self._hook)


class EpochCallback(keras.callbacks.Callback):
    """Call ``on_epoch(row)`` with the finished epoch's :data:`HISTORY_COLUMNS` row (1-based)."""

    def __init__(self, on_epoch: Callable[[dict[str, float]], None]) -> None:
        super().__init__()
        self.on_epoch = on_epoch

    def on_epoch_end(self, epoch, logs=None):
        self.on_epoch({"epoch": epoch + 1, **{k: float(logs[k]) for k in HISTORY_COLUMNS[1:]}})


def _write_atomic_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def _check_run_identity(workdir: Path, identity: dict) -> None:
    path = workdir / "identity.json"
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


def _read_history(path: Path, epochs_done: int) -> pd.DataFrame:
    """The logged rows of the first ``epochs_done`` epochs, as :data:`HISTORY_COLUMNS` (1-based)."""
    if epochs_done == 0 or not path.exists():
        return pd.DataFrame(columns=list(HISTORY_COLUMNS))
    logged = pd.read_csv(path).dropna()  # a row cut short by a kill is one to rerun
    logged = logged[logged["epoch"] < epochs_done].assign(epoch=lambda d: d["epoch"] + 1)
    return logged[list(HISTORY_COLUMNS)].reset_index(drop=True)


TIMING_PHASES = (
    "data", "build", "restore", "fit", "save", "train_first_epoch", "train_other_epochs",
    "validation_first_epoch", "validation_other_epochs", "callbacks", "fit_other", "total",
)  # fmt: skip
"""Keys of :attr:`TrainingResult.timings`, wall seconds of one :func:`train_model` call: ``data``
(epoch plans, datasets), ``build`` (networks, backbone weights, optimizers), ``restore``
(checkpoint, history), ``fit`` (all of ``fit``), ``save`` (the generator file). ``fit`` splits into
the first epoch's training and validation (tracing included), the other epochs', the callbacks
(``callback:<class>`` keys give each one) and ``fit_other`` (the rest), of which ``fit_start``
(from the call of ``fit`` to its first callback) and ``fit_end`` (from its last callback to its
return) are parts. Two keys overlap the phases: ``gc`` (seconds in Python's cyclic garbage
collector during ``fit``) and ``gc_full`` (its full passes there, a count)."""


def _fit_timings(
    history: pd.DataFrame, start_epoch: int, fit_seconds: float, callbacks: dict[str, float]
) -> dict[str, float]:
    ran = history[history["epoch"] > start_epoch]
    if ran.empty:
        return {}
    out = {
        "train_first_epoch": float(ran["seconds"].iloc[0]),
        "train_other_epochs": float(ran["seconds"].iloc[1:].sum()),
        "validation_first_epoch": float(ran["val_seconds"].iloc[0]),
        "validation_other_epochs": float(ran["val_seconds"].iloc[1:].sum()),
        "callbacks": float(sum(callbacks.values())),
        **{f"callback:{name}": float(v) for name, v in callbacks.items()},
    }
    accounted = sum(out[k] for k in TIMING_PHASES if k in out)
    out["fit_other"] = max(fit_seconds - accounted, 0.0)
    return out


#: On a CPU, the most validation pixels (samples × crop side²) in one batch. Larger batches of
#: large crops run slower per sample there (cache misses): with the demo's architecture, M = 3 and
#: 1 thread, a 512² patch took 0.75 s alone and 0.88 s each in pairs, and 256² crops 0.16 s alone
#: and 0.19–0.22 s each in batches of 2–8, while 64² crops gain threefold from batches of 8
#: (``benchmarks/training.py --sections validation``).
VAL_BATCH_PIXELS = 2**17


def validation_batch_size(config: TrainingConfig, n_val: int, side: int) -> int:
    """Validation samples per batch: ``config.val_batch_size``, at most ``n_val`` and, without a
    GPU, at most :data:`VAL_BATCH_PIXELS` pixels of ``side``² crops (at least 1)."""
    batch = min(config.val_batch_size, max(n_val, 1))
    if not tf.config.list_physical_devices("GPU"):
        batch = min(batch, VAL_BATCH_PIXELS // (side * side))
    return max(batch, 1)


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
        Training settings, e.g. ``load_profile(name).training("transfer")``.
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
        Architecture (default: the paper's, ``RHMConfig()``); a profile's is
        ``load_profile(name).model``. Must match the backbone's.
    on_epoch
        Called after each epoch is checkpointed with its history row (``epoch`` counts from 1;
        losses, validation metrics, ``seconds``, ``val_seconds``), e.g. to report progress.

    Returns
    -------
    TrainingResult
    """
    _check_variant(variant, backbone_path)
    clock_start = phase_start = time.perf_counter()
    timings: dict[str, float] = {}

    def phase(name: str) -> None:
        nonlocal phase_start
        now = time.perf_counter()
        timings[name] = timings.get(name, 0.0) + now - phase_start
        phase_start = now

    model_config = model_config or RHMConfig()
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    # Read small stores once (the demo's: tens of MB) instead of a Zarr chunk per crop per epoch.
    train_stores = load_into_memory(train_stores, max_bytes=IN_MEMORY_BYTES)
    val_stores = load_into_memory(val_stores, max_bytes=IN_MEMORY_BYTES)
    multiple = model_config.size_multiple
    for name in ("crop_size", "val_crop_size"):
        size = getattr(config, name)
        if size is not None and size % multiple:
            raise ConfigError(f"TrainingConfig.{name}={size} is not a multiple of {multiple}")

    def epoch_data(epoch: int, n_epochs: int = 1) -> tf.data.Dataset:
        return make_dataset(
            train_stores, n_holograms=n_holograms, batch_size=config.batch_size, seed=seed,
            epoch=epoch, crop_size=config.crop_size, random_crop=True, augment=config.augment,
            shuffle=True, repeats=config.repeats, drop_remainder=True, n_epochs=n_epochs,
        )  # fmt: skip

    # The same validation samples every epoch, in batches of one shape: all samples at once when
    # they fit in val_batch_size, else the last batch padded with zero-weight copies (test_step
    # weights its per-image metrics). Validation sets held in memory are cached after the first
    # pass, so that later passes skip reading and cropping.
    n_val = sum(s.n_patches for s in val_stores)
    val_side = config.val_crop_size or min(s.patch_size for s in val_stores)
    val_data = make_dataset(
        val_stores, n_holograms=n_holograms,
        batch_size=validation_batch_size(config, n_val, val_side),
        seed=seed + 1, epoch=0, crop_size=config.val_crop_size, random_crop=False, augment=False,
        shuffle=False, pad_last_batch=True,
    )  # fmt: skip
    if all(isinstance(s.inputs, np.ndarray) for s in val_stores):
        val_data = val_data.cache()
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
    phase("data")
    runtime = resolve_runtime(config)
    gan = _gan_for_run(
        variant,
        model_config=model_config,
        config=config,
        steps_per_epoch=n_train,
        seed=seed,
        backbone_path=backbone_path,
        runtime=runtime,
        n_holograms=n_holograms,
    )
    with runtime.strategy.scope(), dtype_policy("float32"):
        best_generator = build_generator(model_config, name="rhm_generator_best")
    _copy_weights(gan.generator, best_generator)
    checkpoint = EpochCheckpoint(
        workdir / "checkpoints",
        {
            "generator": gan.generator,
            "discriminator": gan.discriminator,
            "best_generator": best_generator,
            "optimizer_generator": gan.opt_g,
            "optimizer_discriminator": gan.opt_d,
        },
        max_to_keep=config.max_checkpoints,
    )
    phase("build")
    start_epoch = checkpoint.restore()
    history_path = workdir / "history.csv"
    done = _read_history(history_path, start_epoch)
    # Drop the rows of epochs logged after the last checkpoint (a kill in between): they rerun.
    if done.empty:
        history_path.unlink(missing_ok=True)
    else:
        # CSVLogger's layout: Keras's 0-based epoch, then the logged keys in sorted order.
        logged = done.assign(epoch=done["epoch"] - 1)
        columns = ["epoch", *sorted(HISTORY_COLUMNS[1:])]
        _write_atomic_text(history_path, logged[columns].to_csv(index=False))
    stopping = None
    if config.patience is not None:
        past = done["val_mae"].tolist()
        stopping = ResumableEarlyStopping(past, monitor="val_mae", patience=config.patience)
    phase("restore")
    callback_clock, garbage_clock = _CallbackClock(), _GarbageClock()
    callbacks: list[keras.callbacks.Callback] = [
        EpochStatistics(),
        BestGenerator(
            best_generator, best=float(done["val_mae"].min()) if start_epoch else math.inf
        ),
        *([stopping] if stopping is not None else []),
        # History first, checkpoint last: a kill in between re-runs this epoch identically.
        keras.callbacks.CSVLogger(str(history_path), append=True),
        keras.callbacks.TensorBoard(str(workdir / "tensorboard"), write_graph=False),
        checkpoint,
        *([EpochCallback(on_epoch)] if on_epoch is not None else []),
    ]
    if start_epoch < config.epochs and not (stopping and stopping.stopped_before(gan)):
        # One pipeline over the epochs still to train: fit with steps_per_epoch keeps one iterator
        # across epochs, so epoch e of fit reads exactly epoch_data(e), resumed or not.
        train_data = epoch_data(start_epoch, config.epochs - start_epoch)
        fit_call = time.perf_counter()
        with garbage_clock:
            gan.fit(
                train_data,
                epochs=config.epochs,
                initial_epoch=start_epoch,
                steps_per_epoch=n_train,
                shuffle=False,  # the epoch plans shuffle
                validation_data=val_data,
                callbacks=callback_clock.interleave(callbacks),
                verbose=0,
            )
        fit_return = time.perf_counter()
    phase("fit")
    history = _read_history(history_path, int(checkpoint.epoch.numpy()))

    generator_path = workdir / "generator.keras"
    with atomic_path(generator_path, suffix=".keras") as tmp:  # Keras insists on the extension
        best_generator.save(tmp)
    phase("save")
    timings.update(_fit_timings(history, start_epoch, timings["fit"], callback_clock.seconds))
    if callback_clock.began is not None and callback_clock.ended is not None:
        timings["fit_start"] = callback_clock.began - fit_call
        timings["fit_end"] = fit_return - callback_clock.ended
        timings["gc"] = garbage_clock.seconds
        timings["gc_full"] = float(garbage_clock.full_passes)
    timings["total"] = time.perf_counter() - clock_start
    trainable, total = count_params(gan.generator)
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
        timings=timings,
    )
