"""Uncertainty of the evaluation: bootstrap CIs over test FOVs, censored epochs, verdicts.

Tiles and patches cut from one field of view share its sample, illumination and ground truth, so
they are not independent: every confidence interval here resamples *units* (test FOVs, or timing
rounds, or seeds) whose values the caller has already averaged over what lies inside them.

Verdict rule (:func:`verdict`), for a paired difference ``d`` = (variant) − (reference) whose
paper direction is ``+1`` (the paper found ``d > 0``) or ``-1`` (``d < 0``):

* ``reproduced`` — the 95 % CI excludes 0 on the paper's side;
* ``not reproduced`` — the CI excludes 0 on the other side;
* ``inconclusive`` — the CI contains 0 (a CI touching 0 counts as containing it), or it is
  undefined (fewer than two units), or censoring leaves the side open (below).

Censoring: a censored unit enters the difference as a bound. ``censoring="lower"`` says the true
values are ≥ the ones used (a model that never reached a target within its epochs), so the true CI
can only lie further up: a CI entirely above 0 stays above, one below 0 may not. ``"upper"`` is
the mirror image; ``"both"`` leaves every conclusion open.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

REPRODUCED = "reproduced"
NOT_REPRODUCED = "not reproduced"
INCONCLUSIVE = "inconclusive"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE)
CENSORING = (None, "lower", "upper", "both")


def bootstrap_ci(
    values: Sequence[float] | np.ndarray,
    *,
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the mean of independent units.

    Parameters
    ----------
    values
        One value per unit (e.g. per test FOV, already averaged over its patches and seeds).
    confidence
        Coverage of the interval (0.95: the 2.5 % and 97.5 % quantiles of the resampled means).
    n_resamples
        Number of bootstrap resamples (each draws ``len(values)`` units with replacement).
    seed
        Seed of the resampling: the same values and seed give the same interval.

    Returns
    -------
    (low, high)
        NaN, NaN when fewer than two units (no spread to resample).

    Examples
    --------
    Two units 0 and 1: a resample's mean is 0, 0.5 or 1 with probabilities 1/4, 1/2, 1/4, so the
    2.5 % and 97.5 % quantiles are exactly 0 and 1.

    >>> bootstrap_ci([0.0, 1.0])
    (0.0, 1.0)
    """
    x = np.asarray(values, dtype=np.float64).ravel()
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    if not np.all(np.isfinite(x)):
        raise ValueError("values must be finite")
    if x.size < 2:
        return float("nan"), float("nan")
    rng = np.random.default_rng([int(seed), 0x424F4F54])
    means = x[rng.integers(0, x.size, size=(n_resamples, x.size))].mean(axis=1)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return float(low), float(high)


def verdict(ci_low: float, ci_high: float, direction: int, censoring: str | None = None) -> str:
    """``reproduced``, ``not reproduced`` or ``inconclusive`` (the rule in the module docstring).

    Parameters
    ----------
    ci_low, ci_high
        The CI of the difference (variant − reference); NaN when undefined.
    direction
        ``+1`` if the paper found the difference positive, ``-1`` if negative.
    censoring
        ``None``, ``"lower"``, ``"upper"`` or ``"both"``: which way censored units may move.
    """
    if direction not in (1, -1):
        raise ValueError(f"direction must be +1 or -1, got {direction}")
    if censoring not in CENSORING:
        raise ValueError(f"censoring must be one of {CENSORING}, got {censoring!r}")
    if not (np.isfinite(ci_low) and np.isfinite(ci_high)) or censoring == "both":
        return INCONCLUSIVE
    if ci_low > ci_high:
        raise ValueError(f"ci_low must be <= ci_high, got {ci_low} > {ci_high}")
    above, below = ci_low > 0, ci_high < 0
    # a side the censored values could still move across proves nothing
    if censoring == "lower":
        below = False
    elif censoring == "upper":
        above = False
    if (above and direction == 1) or (below and direction == -1):
        return REPRODUCED
    if above or below:
        return NOT_REPRODUCED
    return INCONCLUSIVE


def epochs_to_target(val_mae: Sequence[float], target: float) -> tuple[int, bool]:
    """First epoch (1-based) whose validation MAE is at or below ``target``, and if it is censored.

    A run that never reaches ``target`` is right-censored: it returns ``(len(val_mae) + 1, True)``
    — the earliest epoch it could still reach it, a lower bound, never "the number of epochs".
    """
    values = np.asarray(val_mae, dtype=np.float64)
    if values.size == 0:
        raise ValueError("val_mae is empty: the run trained no epoch")
    hits = np.flatnonzero(values <= target)
    if hits.size:
        return int(hits[0]) + 1, False
    return int(values.size) + 1, True
