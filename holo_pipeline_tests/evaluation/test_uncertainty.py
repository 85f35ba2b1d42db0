"""Bootstrap CIs, the verdict rule at its boundaries, and censored epochs-to-target."""

import numpy as np
import pytest

from holo_pipeline.evaluation.uncertainty import (
    INCONCLUSIVE,
    NOT_REPRODUCED,
    REPRODUCED,
    bootstrap_ci,
    epochs_to_target,
    verdict,
)


def test_bootstrap_of_two_units_is_exactly_their_range():
    # resampled means are 0, 0.5, 1 with probabilities 1/4, 1/2, 1/4: quantiles 2.5 % / 97.5 %
    # fall inside the end atoms
    assert bootstrap_ci([0.0, 1.0]) == (0.0, 1.0)
    assert bootstrap_ci([0.0, 1.0], seed=7) == (0.0, 1.0)


def test_bootstrap_matches_the_normal_interval_of_the_mean():
    x = np.random.default_rng(1).normal(2.0, 1.0, 400)
    low, high = bootstrap_ci(x, n_resamples=20_000)
    half = 1.959964 * x.std(ddof=0) / np.sqrt(x.size)  # the bootstrap's plug-in variance
    assert low == pytest.approx(x.mean() - half, abs=0.01)
    assert high == pytest.approx(x.mean() + half, abs=0.01)
    assert bootstrap_ci(x) == bootstrap_ci(x)  # seeded


def test_bootstrap_of_a_constant_or_a_single_unit():
    assert bootstrap_ci([0.3, 0.3, 0.3]) == pytest.approx((0.3, 0.3))
    assert all(np.isnan(bootstrap_ci([0.3])))
    with pytest.raises(ValueError, match="finite"):
        bootstrap_ci([0.1, np.nan])


@pytest.mark.parametrize(
    ("low", "high", "direction", "censoring", "expected"),
    [
        (0.01, 0.2, 1, None, REPRODUCED),
        (0.01, 0.2, -1, None, NOT_REPRODUCED),
        (-0.2, -0.01, -1, None, REPRODUCED),
        (-0.2, -0.01, 1, None, NOT_REPRODUCED),
        (0.0, 0.2, 1, None, INCONCLUSIVE),  # a CI touching 0 contains it
        (-0.2, 0.0, -1, None, INCONCLUSIVE),
        (-0.1, 0.1, 1, None, INCONCLUSIVE),
        (1e-12, 1e-12, 1, None, REPRODUCED),  # an exact, nonzero difference
        (np.nan, np.nan, 1, None, INCONCLUSIVE),
        # censored from below (true values >= those used): only "above 0" can stand
        (0.01, 0.2, -1, "lower", NOT_REPRODUCED),
        (-0.2, -0.01, -1, "lower", INCONCLUSIVE),
        # censored from above: only "below 0" can stand
        (-0.2, -0.01, -1, "upper", REPRODUCED),
        (0.01, 0.2, -1, "upper", INCONCLUSIVE),
        (-0.2, -0.01, -1, "both", INCONCLUSIVE),
    ],
)
def test_verdict_boundaries(low, high, direction, censoring, expected):
    assert verdict(low, high, direction, censoring) == expected


def test_verdict_refuses_bad_arguments():
    with pytest.raises(ValueError, match="direction"):
        verdict(0.1, 0.2, 0)
    with pytest.raises(ValueError, match="censoring"):
        verdict(0.1, 0.2, 1, "left")
    with pytest.raises(ValueError, match="ci_low must be <= ci_high"):
        verdict(0.2, 0.1, 1)


def test_a_run_that_never_reaches_the_target_is_censored_not_its_epoch_count():
    assert epochs_to_target([0.9, 0.5, 0.3, 0.35], 0.5) == (2, False)
    assert epochs_to_target([0.9, 0.5, 0.3], 0.3) == (3, False)  # "at or below"
    # 12 epochs, never at 0.2: a lower bound of 13 flagged as censored, not 12
    assert epochs_to_target([0.5] * 12, 0.2) == (13, True)
    with pytest.raises(ValueError, match="empty"):
        epochs_to_target([], 0.2)
