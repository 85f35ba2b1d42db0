"""``tf.data`` readers over Zarr patch stores for RH-M training and validation.

All randomness of an epoch — sample order, which M of the 8 heights, crop offsets, flip/rotation —
is drawn up front in NumPy from ``(seed, epoch)`` (:func:`plan_epoch`); the ``tf.data`` pipeline
only reads and transforms what the plan says. The same stores, seed and epoch therefore give the
same batches in any process, which is what makes a resumed training run exact.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from holo_pipeline.datasets.patch_store import PatchStore, open_patch_store

N_DIHEDRAL = 8
"""Flips and quarter rotations of a square: the ×8 augmentation."""


@dataclass(frozen=True)
class EpochPlan:
    """What one pass over the stores reads, one row per sample.

    Attributes
    ----------
    store, patch
        Index of the store in the list and of the patch within it, ``(n,)``.
    heights
        Height indices drawn for each sample, ascending in z2, ``(n, M)``.
    origin
        Top-left ``(y, x)`` of the crop within the patch, ``(n, 2)``.
    transform
        Dihedral transform index in ``0..7`` (0 = identity), ``(n,)``.
    crop_size
        Side of the crops (the patch size when not cropping).
    """

    store: np.ndarray
    patch: np.ndarray
    heights: np.ndarray
    origin: np.ndarray
    transform: np.ndarray
    crop_size: int

    def __len__(self) -> int:
        return int(self.store.shape[0])


def dihedral_transform(
    image: np.ndarray, k: int, *, axes: tuple[int, int] = (-3, -2)
) -> np.ndarray:
    """Apply dihedral transform ``k`` (``k % 4`` quarter turns, then a flip if ``k >= 4``).

    ``axes`` are the (row, column) axes; the same ``k`` on an input stack and its target gives the
    same geometric transform of both.
    """
    if not 0 <= k < N_DIHEDRAL:
        raise ValueError(f"dihedral transform index must be in 0..7, got {k}")
    out = np.rot90(image, k % 4, axes=axes)
    if k >= 4:
        out = np.flip(out, axis=axes[1])
    return np.ascontiguousarray(out)


def _as_stores(stores: Sequence[PatchStore | str | os.PathLike[str]]) -> list[PatchStore]:
    opened = [s if isinstance(s, PatchStore) else open_patch_store(s) for s in stores]
    if not opened:
        raise ValueError("no patch stores given")
    sizes = {s.patch_size for s in opened}
    heights = {s.n_heights for s in opened}
    if len(sizes) != 1 or len(heights) != 1:
        raise ValueError(
            f"patch stores must share patch size and height count, got sizes {sorted(sizes)} "
            f"and height counts {sorted(heights)}"
        )
    return opened


def load_into_memory(
    stores: Sequence[PatchStore | str | os.PathLike[str]], *, max_bytes: int
) -> list[PatchStore]:
    """The stores with inputs and targets read into NumPy arrays, if they fit in ``max_bytes``.

    A training run reads every patch once per epoch, and a Zarr chunk holds a whole patch (all 8
    heights), so reading the stores once saves decompressing each chunk again for every crop of
    every epoch. The values are the same, so the batches are too. Stores larger than ``max_bytes``
    together are returned opened lazily, as they are.
    """
    opened = _as_stores(stores)
    total = sum(s.inputs.nbytes + s.target.nbytes for s in opened)
    if total > max_bytes:
        return opened
    return [
        dataclasses.replace(s, inputs=np.asarray(s.inputs[...]), target=np.asarray(s.target[...]))
        for s in opened
    ]


def plan_epoch(
    stores: Sequence[PatchStore | str | os.PathLike[str]],
    *,
    n_holograms: int,
    seed: int,
    epoch: int = 0,
    crop_size: int | None = None,
    random_crop: bool = True,
    augment: bool = False,
    shuffle: bool = True,
    repeats: int = 1,
) -> EpochPlan:
    """Draw the samples of one epoch from ``(seed, epoch)``.

    Parameters
    ----------
    stores
        Patch stores (open or paths) with equal patch size and height count.
    n_holograms
        M, the number of heights per sample (``1 <= M <= n_heights``), drawn without replacement
        and kept in ascending z2 order.
    seed, epoch
        The plan is a pure function of these (and the other arguments).
    crop_size
        Crop side in pixels; ``None`` keeps whole patches.
    random_crop
        Random crop offsets; ``False`` takes the centre crop.
    augment
        Draw a dihedral transform per sample; the ``repeats`` copies of a patch cycle through a
        random order of the 8 transforms.
    shuffle
        Shuffle the sample order.
    repeats
        How many times each patch appears in the epoch.
    """
    opened = _as_stores(stores)
    n_heights, patch_size = opened[0].n_heights, opened[0].patch_size
    if not 1 <= n_holograms <= n_heights:
        raise ValueError(f"n_holograms must be in 1..{n_heights}, got {n_holograms}")
    crop = patch_size if crop_size is None else int(crop_size)
    if not 1 <= crop <= patch_size:
        raise ValueError(f"crop_size must be in 1..{patch_size} (the patch size), got {crop}")
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    rng = np.random.default_rng([int(seed), int(epoch), 0x484F4C4F])
    store_idx, patch_idx, orders = [], [], []
    for s, store in enumerate(opened):
        for p in range(store.n_patches):
            store_idx.append(s)
            patch_idx.append(p)
            orders.append(store.height_order(p))
    n_unique = len(store_idx)
    if n_unique == 0:
        raise ValueError("the patch stores hold no patches")
    transforms = np.zeros((n_unique, repeats), dtype=np.int64)
    if augment:
        for i in range(n_unique):
            cycle = rng.permutation(N_DIHEDRAL)
            transforms[i] = cycle[np.arange(repeats) % N_DIHEDRAL]
    sample = np.repeat(np.arange(n_unique), repeats)
    transform = transforms.reshape(-1)
    n = sample.shape[0]
    heights = np.empty((n, n_holograms), dtype=np.int64)
    for j, i in enumerate(sample):
        chosen = np.sort(rng.choice(n_heights, size=n_holograms, replace=False))
        heights[j] = orders[i][chosen]
    if random_crop:
        origin = rng.integers(0, patch_size - crop + 1, size=(n, 2))
    else:
        origin = np.full((n, 2), (patch_size - crop) // 2)
    order = rng.permutation(n) if shuffle else np.arange(n)
    return EpochPlan(
        store=np.asarray(store_idx)[sample][order],
        patch=np.asarray(patch_idx)[sample][order],
        heights=heights[order],
        origin=origin[order],
        transform=transform[order],
        crop_size=crop,
    )


def read_sample(
    store: PatchStore, patch: int, heights: np.ndarray, origin: np.ndarray, crop: int, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Read one planned sample: inputs ``(M, crop, crop, 2)`` and target ``(crop, crop, 2)``."""
    y, x = int(origin[0]), int(origin[1])
    window = (slice(y, y + crop), slice(x, x + crop))
    inputs = np.asarray(store.inputs[(int(patch), slice(None), *window)])[np.asarray(heights)]
    target = np.asarray(store.target[(int(patch), *window)])
    if k:
        inputs = dihedral_transform(inputs, k)
        target = dihedral_transform(target, k)
    return inputs.astype(np.float32, copy=False), target.astype(np.float32, copy=False)


def make_dataset(
    stores: Sequence[PatchStore | str | os.PathLike[str]],
    *,
    n_holograms: int,
    batch_size: int,
    seed: int,
    epoch: int = 0,
    crop_size: int | None = None,
    random_crop: bool = True,
    augment: bool = False,
    shuffle: bool = True,
    repeats: int = 1,
    drop_remainder: bool = False,
    n_epochs: int = 1,
    pad_last_batch: bool = False,
) -> tf.data.Dataset:
    """A deterministic ``tf.data`` pipeline of ``(inputs, target)`` batches for one epoch or more.

    ``inputs`` is ``(B, M, crop, crop, 2)`` and ``target`` ``(B, crop, crop, 2)`` float32; see
    :func:`plan_epoch` for the sampling arguments. Patches are read lazily from Zarr (one chunk per
    patch; see :func:`load_into_memory`), in the planned order, with the input/target pair
    transformed identically. ``n_epochs`` > 1 reads epochs ``epoch .. epoch + n_epochs - 1`` one
    after another in one pipeline: the same batches as the epochs' own datasets in turn (with
    ``drop_remainder`` each epoch drops its own last partial batch).

    ``pad_last_batch`` fills the last partial batch up with copies of the first sample, so that
    every batch has ``batch_size`` samples (one traced shape), and yields ``(inputs, target,
    weight)``: ``weight`` (B,) float32 is 1 for the planned samples and 0 for the copies, so that a
    weighted mean over the batches is the mean over the planned samples (Keras passes it to
    ``test_step`` as the sample weight).
    """
    opened = _as_stores(stores)
    if n_epochs < 1 or (n_epochs > 1 and not drop_remainder):
        raise ValueError(f"n_epochs must be 1, or >= 1 with drop_remainder; got {n_epochs}")
    if pad_last_batch and drop_remainder:
        raise ValueError("pad_last_batch and drop_remainder exclude each other")
    plans = [
        plan_epoch(
            opened,
            n_holograms=n_holograms,
            seed=seed,
            epoch=e,
            crop_size=crop_size,
            random_crop=random_crop,
            augment=augment,
            shuffle=shuffle,
            repeats=repeats,
        )
        for e in range(epoch, epoch + n_epochs)
    ]
    crop = plans[0].crop_size
    keep = [len(p) - len(p) % batch_size if drop_remainder else len(p) for p in plans]
    columns = [
        np.concatenate([getattr(p, name)[:k] for p, k in zip(plans, keep, strict=True)])
        for name in ("store", "patch", "heights", "origin", "transform")
    ]
    if pad_last_batch:
        n = columns[0].shape[0]
        take = np.concatenate([np.arange(n), np.zeros(-n % batch_size, dtype=np.int64)])
        columns = [c[take] for c in columns]
        weights = (np.arange(take.shape[0]) < n).astype(np.float32)

    def load(store, patch, heights, origin, k):
        return read_sample(opened[int(store)], int(patch), heights, origin, crop, int(k))

    def tf_load(store, patch, heights, origin, k):
        inputs, target = tf.numpy_function(
            load, [store, patch, heights, origin, k], (tf.float32, tf.float32), stateful=False
        )
        inputs.set_shape((n_holograms, crop, crop, 2))
        target.set_shape((crop, crop, 2))
        return inputs, target

    ds = tf.data.Dataset.from_tensor_slices(tuple(columns))
    ds = ds.map(tf_load, num_parallel_calls=2, deterministic=True)
    if pad_last_batch:
        weighted = tf.data.Dataset.from_tensor_slices(weights)
        ds = tf.data.Dataset.zip(ds, weighted).map(lambda pair, w: (*pair, w))
    ds = ds.batch(batch_size, drop_remainder=drop_remainder or pad_last_batch).prefetch(1)
    options = tf.data.Options()
    options.deterministic = True
    # No autotuning: the parallelism above is fixed, so it has nothing to tune, and its model
    # thread made dropping an iterator wait. Keras drops the validation iterator after every
    # epoch's validation and the training one when fit returns; each drop joined that thread,
    # which sleeps between optimisations for up to a minute. In the demo's Dagster workers the
    # process sat idle in those drops for 1.4-46 s of each transfer run (0.1 s without
    # autotuning), with the same batches and results either way.
    options.autotune.enabled = False
    return ds.with_options(options)
