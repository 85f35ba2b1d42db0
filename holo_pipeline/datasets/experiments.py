"""The transfer-learning experiment plan per profile: which models are trained and compared.

Huang et al. (APL Photonics 7, 070801, 2022) pretrain RH-M on blood smear, Pap smear and lung
(M = 5 holograms) and transfer it to prostate (Mt = 2, four Nt/N ratios, e.g. 12.1 %) and salivary
gland (Nt/N = 24.8 %, Mt = 2, 3, 4), each as three variants: recurrent blocks frozen, everything
trainable, and the same network trained from scratch.

**How Nt/N maps onto the data.** The unit of training data is a *tile*: a non-overlapping
``tile_size`` × ``tile_size`` square of unique sample area cut from the 512×512 training patches.
N is the number of tiles per pretraining tissue (the mean over blood smear, Pap smear and lung
train slides); the new tissue is trained on Nt = max(1, round(Nt/N · N)) of its train tiles,
drawn with the experiment's seed (capped by what exists). In the ``paper`` profile a tile is a whole
512×512 patch, so this is exactly the paper's ratio of unique FOVs. The ``demo`` cohort has only
~2 train patches per tissue, so whole patches would make every ratio collapse onto Nt = 1; it uses
128-px tiles instead (16 per patch) — the ratio then controls unique sample area, the quantity the
paper varies, at a much smaller absolute N. Training still draws random 64-px crops (×8
augmentation in the paper) from whatever tiles it gets, and the number of crops per epoch grows with
Nt. The ``training_runs`` table records the Nt actually used (``n_train_patches``, in tiles).

The plan is plain data (no Dagster, no TensorFlow) and lives beside the patch stores it selects
from; the Dagster partitions of ``transferred_models`` are its :attr:`TransferExperiment.key`
values.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from holo_pipeline.datasets.patch_store import PatchStore, open_patch_store, write_patch_store
from holo_pipeline.settings import ConfigError

PRETRAIN_TISSUES = ("blood_smear", "pap_smear", "lung")
TRANSFER_TISSUES = ("prostate", "salivary_gland")
VARIANTS = ("frozen_rnn", "full_transfer", "scratch")
"""Transfer variants: the backbone with its recurrent blocks frozen; the backbone, all trainable;
the same network from fresh weights (the paper's baseline). Tables, reports, the plan and the
``transferred_models`` partition keys list them in this order."""

_KEY = re.compile(
    r"^(?P<tissue>[a-z_]+)-(?P<variant>[a-z_]+)-r(?P<ratio>\d+\.\d+)-m(?P<m>\d+)-s(?P<seed>\d+)$"
)


@dataclass(frozen=True, order=True)
class TransferExperiment:
    """One transferred model: tissue, variant, Nt/N ratio, input holograms Mt and training seed.

    The seed draws the Nt training tiles, the fresh weights (the scratch generator, every
    discriminator) and every epoch's crops; the three variants of one seed share the tiles, so
    that comparisons between variants are paired.
    """

    tissue: str
    variant: str
    nt_ratio: float
    n_holograms: int
    seed: int = 0

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ConfigError(f"variant must be one of {VARIANTS}, got {self.variant!r}")
        if not 0 < self.nt_ratio <= 1:
            raise ConfigError(f"nt_ratio must be in (0, 1], got {self.nt_ratio}")
        if self.n_holograms < 1:
            raise ConfigError(f"n_holograms must be >= 1, got {self.n_holograms}")
        if self.seed < 0:
            raise ConfigError(f"seed must be >= 0, got {self.seed}")

    @property
    def key(self) -> str:
        """Partition key, e.g. ``prostate-frozen_rnn-r0.121-m2-s0``."""
        return f"{self.tissue}-{self.variant}-r{self.nt_ratio:.3f}-m{self.n_holograms}-s{self.seed}"

    @classmethod
    def from_key(cls, key: str) -> TransferExperiment:
        """Parse a partition key written by :attr:`key`."""
        match = _KEY.match(key)
        if not match:
            raise ConfigError(f"not a transferred_models partition key: {key!r}")
        return cls(
            tissue=match["tissue"],
            variant=match["variant"],
            nt_ratio=float(match["ratio"]),
            n_holograms=int(match["m"]),
            seed=int(match["seed"]),
        )

    def labels(self) -> dict[str, object]:
        """The key columns of the result tables."""
        return {
            "model_key": self.key,
            "tissue": self.tissue,
            "variant": self.variant,
            "nt_ratio": self.nt_ratio,
            "n_holograms": self.n_holograms,
            "seed": self.seed,
        }


@dataclass(frozen=True)
class ExperimentPlan:
    """Pretraining tissues and M, per transfer tissue its Nt/N ratios and Mt values, and the seeds.

    Each profile sets its own under ``profiles.<name>.plan`` in ``data_catalog.yaml`` (read by
    :func:`holo_pipeline.profile.load_profile`). ``paper``: whole patches as tiles; M = 5; prostate
    at Nt/N = 12.1 % (the paper's smallest; the other three ratios, 25/50/100 %, are our choice —
    the paper names only 12.1 %) with Mt = 2; salivary gland at 24.8 % with Mt = 2, 3, 4 (the
    paper's Mt sweep). ``demo``: 128-px tiles; M = 4 (the largest Mt); prostate at 12.1 % with
    Mt = 2 and salivary gland at 24.8 % with Mt = 2, 3, 4 — 12 models per seed, each trained once
    per seed of ``seeds`` (every seed's model is kept: the spread across seeds is part of the
    result).
    """

    pretrain_tissues: tuple[str, ...]
    pretrain_holograms: int
    transfer: tuple[tuple[str, tuple[float, ...], tuple[int, ...]], ...]
    tile_size: int | None = None
    variants: tuple[str, ...] = VARIANTS
    seeds: tuple[int, ...] = (0,)

    def __post_init__(self) -> None:
        if not self.seeds or len(set(self.seeds)) != len(self.seeds) or min(self.seeds) < 0:
            raise ConfigError(f"seeds must be distinct integers >= 0, got {list(self.seeds)}")

    def experiments(self) -> list[TransferExperiment]:
        """Every transferred model of the plan, in a stable order (seed last)."""
        return [
            TransferExperiment(tissue, variant, ratio, m, seed)
            for tissue, ratios, mts in self.transfer
            for ratio in ratios
            for m in mts
            for variant in self.variants
            for seed in self.seeds
        ]

    def partition_keys(self) -> list[str]:
        """The ``transferred_models`` partition keys."""
        return [e.key for e in self.experiments()]


def n_transfer_tiles(nt_ratio: float, n_pretrain_per_tissue: float, available: int) -> int:
    """Nt: unique training tiles of the new tissue for ratio ``nt_ratio`` (see module doc).

    ``max(1, round(nt_ratio · N))``, capped at ``available``.

    Raises
    ------
    ValueError
        If the new tissue has no training tile at all.
    """
    if available < 1:
        raise ValueError("available must be >= 1: the new tissue has no training tile")
    return int(min(available, max(1, round(nt_ratio * n_pretrain_per_tissue))))


def tiles_per_patch(patch_size: int, tile_size: int | None) -> int:
    """Number of non-overlapping tiles in one patch (1 when tiles are whole patches)."""
    if tile_size is None or tile_size >= patch_size:
        return 1
    return (patch_size // tile_size) ** 2


def select_tiles(
    stores: Sequence[PatchStore], n_tiles: int, tile_size: int | None, *, seed: int
) -> dict[str, np.ndarray]:
    """Cut ``n_tiles`` tiles, drawn without replacement with ``seed``, from ``stores``' patches.

    Returns the arrays of a patch store: ``inputs (n, heights, T, T, 2)``, ``target (n, T, T, 2)``,
    ``fov_index (n,)`` (indices into the concatenated FOV lists of ``stores``, so the height order
    of each tile stays that of its FOV) and ``origin (n, 2)`` (on the super-resolved grid), plus
    ``heights_m`` per FOV for the store attributes.
    """
    candidates = []  # (store, patch, y, x)
    for s, store in enumerate(stores):
        p = store.patch_size
        t = p if tile_size is None or tile_size >= p else tile_size
        for i in range(store.n_patches):
            for y in range(0, p - t + 1, t):
                for x in range(0, p - t + 1, t):
                    candidates.append((s, i, y, x, t))
    if not candidates:
        raise ValueError("the stores hold no patch to cut tiles from")
    if not 1 <= n_tiles <= len(candidates):
        raise ValueError(f"n_tiles must be in 1..{len(candidates)}, got {n_tiles}")
    rng = np.random.default_rng([int(seed), 0x54494C45])
    chosen = sorted(rng.choice(len(candidates), size=n_tiles, replace=False).tolist())
    fov_offsets = np.cumsum([0] + [len(st.attrs.get("heights_m") or []) for st in stores])
    inputs, target, fov_index, origin = [], [], [], []
    for c in chosen:
        s, i, y, x, t = candidates[c]
        store = stores[s]
        window = (slice(y, y + t), slice(x, x + t))
        inputs.append(np.asarray(store.inputs[(i, slice(None), *window)]))
        target.append(np.asarray(store.target[(i, *window)]))
        fov_index.append(int(fov_offsets[s]) + int(store.fov_index[i]))
        origin.append(np.asarray(store.origin[i]) + np.array([y, x]))
    heights_m = [
        list(map(float, row)) for st in stores for row in (st.attrs.get("heights_m") or [])
    ]
    return {
        "inputs": np.stack(inputs),
        "target": np.stack(target),
        "fov_index": np.asarray(fov_index, dtype=np.int32),
        "origin": np.asarray(origin, dtype=np.int32),
        "heights_m": heights_m,
    }


def write_transfer_tiles(
    experiment: TransferExperiment,
    plan: ExperimentPlan,
    *,
    pretrain_stores: Sequence[str | os.PathLike[str]],
    tissue_stores: Sequence[str | os.PathLike[str]],
    path: str | os.PathLike[str],
    seed: int,
) -> tuple[Path, int, float]:
    """Write the Nt training tiles of ``experiment`` as a patch store at ``path``.

    N is counted on the pretraining tissues' train stores (``pretrain_stores``), Nt drawn from the
    new tissue's (``tissue_stores``) with ``seed`` (see the module docstring).

    Returns
    -------
    (path, Nt, N)

    Raises
    ------
    ValueError
        If the new tissue has no train store.
    """
    pretrain = [open_patch_store(p) for p in pretrain_stores]
    per_patch = tiles_per_patch(pretrain[0].patch_size, plan.tile_size) if pretrain else 1
    n_pretrain = sum(s.n_patches for s in pretrain) * per_patch / len(plan.pretrain_tissues)
    stores = [open_patch_store(p) for p in tissue_stores]
    if not stores:
        raise ValueError(f"dataset_splits has no train slide with patches for {experiment.tissue}")
    available = sum(s.n_patches for s in stores) * tiles_per_patch(
        stores[0].patch_size, plan.tile_size
    )
    nt = n_transfer_tiles(experiment.nt_ratio, n_pretrain, available)
    tiles = select_tiles(stores, nt, plan.tile_size, seed=seed)
    written = write_patch_store(
        path,
        tiles["inputs"],
        tiles["target"],
        fov_index=tiles["fov_index"],
        origin=tiles["origin"],
        attrs={
            **{k: stores[0].attrs.get(k) for k in ("tissue", "pixel_size_m", "wavelength_m")},
            "slide_ids": [s.attrs.get("slide_id") for s in stores],
            "heights_m": tiles["heights_m"],
            "patch_size": int(tiles["inputs"].shape[2]),
            "nt_ratio": experiment.nt_ratio,
        },
    )
    return Path(written), nt, n_pretrain
