"""The comparisons table: paired differences, CIs and verdicts on tables with known answers."""

import numpy as np
import pytest

from holo_pipeline.catalog import load_catalog
from holo_pipeline.evaluation.comparisons import COMPARISONS, comparisons_table
from holo_pipeline.evaluation.tables import evaluation_summary_table, schema
from holo_pipeline_tests.evaluation import synthetic_tables as syn


@pytest.fixture(scope="module")
def table():
    history, runs = syn.history_and_runs()
    return comparisons_table(syn.metrics(), runs, history, syn.timing())


def _one(table, comparison, variant, reference, tissue=None, metric=None):
    rows = table[
        (table["comparison"] == comparison)
        & (table["variant"] == variant)
        & (table["reference"] == reference)
    ]
    if tissue:
        rows = rows[rows["tissue"] == tissue]
    if metric:
        rows = rows[rows["metric"] == metric]
    assert len(rows) == 1
    return rows.iloc[0]


def test_every_comparison_has_rows_with_the_catalogs_columns(table):
    assert list(table.columns) == list(load_catalog().entry("evaluation_comparisons").columns)
    assert {c: str(t) for c, t in table.dtypes.items()} == schema("evaluation_comparisons")
    assert list(dict.fromkeys(table["comparison"])) == list(COMPARISONS)
    assert set(table["verdict"]) <= {"reproduced", "not reproduced", "inconclusive"}


def test_parameters_and_controlled_timing(table):
    params = _one(table, COMPARISONS[0], "frozen_rnn", "full_transfer")
    assert params["difference"] == pytest.approx(-0.9)
    assert params["verdict"] == "reproduced" and params["resampled"] == "exact (counts)"
    timing = _one(table, COMPARISONS[1], "frozen_rnn", "full_transfer")
    assert timing["difference"] == pytest.approx(-0.2, abs=0.01)
    assert timing["n_units"] == 6 and timing["verdict"] == "reproduced"


def test_epochs_to_target_pairs_seeds_and_censors(table):
    frozen = _one(table, COMPARISONS[2], "frozen_rnn", "scratch", "prostate")
    # seed 0 reaches scratch's best (0.3, epoch 4) at epoch 2, seed 1 at epoch 1
    assert frozen["difference"] == pytest.approx((2 / 4 - 1 + 1 / 4 - 1) / 2)
    assert frozen["n_censored"] == 0 and frozen["verdict"] == "reproduced"
    full = _one(table, COMPARISONS[2], "full_transfer", "scratch", "prostate")
    # never reaches it in 5 epochs: censored at >= 6, so it can only be slower than that
    assert full["n_censored"] == 2 and full["difference"] == pytest.approx(6 / 4 - 1)
    assert full["verdict"] == "not reproduced"


def test_quality_is_paired_by_fov_and_seed(table):
    ecc = _one(table, COMPARISONS[3], "frozen_rnn", "scratch", "salivary_gland", "ecc")
    # the shared FOV effect cancels; what is left is the 0.03 advantage at Mt 2
    assert ecc["difference"] == pytest.approx(0.03, abs=1e-9)
    assert ecc["n_units"] == 8 and ecc["n_seeds"] == 2 and ecc["n_holograms"] == 2
    assert ecc["ci_low"] == pytest.approx(0.03, abs=1e-9) and ecc["verdict"] == "reproduced"
    direct = _one(table, COMPARISONS[3], "backbone_direct", "frozen_rnn", "prostate", "ecc")
    assert direct["difference"] < -0.3 and direct["verdict"] == "reproduced"


def test_mt_trend_is_the_slope_difference(table):
    trend = _one(table, COMPARISONS[4], "frozen_rnn", "scratch", "salivary_gland")
    assert trend["difference"] == pytest.approx(0.02, abs=1e-9)
    assert trend["verdict"] == "reproduced" and trend["metric"] == "ecc_slope_per_mt"


def test_mt_trend_also_judges_the_transferred_slope_alone(table):
    own = _one(table, COMPARISONS[4], "frozen_rnn", "none (own slope)", "salivary_gland")
    assert own["difference"] == pytest.approx(0.02, abs=1e-9) and own["n_units"] == 8
    assert own["verdict"] == "reproduced" and own["metric"] == "ecc_slope_per_mt"


def test_a_falling_baseline_does_not_make_a_flat_transferred_model_improve():
    metrics = syn.metrics()
    saliv = metrics["tissue"] == "salivary_gland"
    mt = metrics["n_holograms"].astype(float)
    transferred = saliv & metrics["variant"].isin(["frozen_rnn", "full_transfer"])
    metrics.loc[transferred, "ecc"] -= 0.02 * (mt[transferred] - 2)  # now flat in Mt ...
    fov = metrics["fov_id"].str[-1].astype(float) + metrics["slide_id"].str.len()
    wobble = 0.002 * np.sin(2.7 * fov * mt + mt)  # ... but for each FOV's own scatter
    metrics.loc[saliv, "ecc"] += wobble[saliv]
    scratch = saliv & (metrics["variant"] == "scratch")
    metrics.loc[scratch, "ecc"] -= 0.03 * (mt[scratch] - 2)  # falls with Mt
    history, runs = syn.history_and_runs()
    table = comparisons_table(metrics, runs, history, syn.timing())
    own = _one(table, COMPARISONS[4], "frozen_rnn", "none (own slope)", "salivary_gland")
    versus = _one(table, COMPARISONS[4], "frozen_rnn", "scratch", "salivary_gland")
    assert abs(own["difference"]) < 2e-3 and own["verdict"] == "inconclusive"
    assert versus["difference"] == pytest.approx(0.03, abs=2e-3)
    assert versus["verdict"] == "reproduced"


def test_summary_carries_seeds_fovs_and_fov_bootstrap_cis():
    summary = evaluation_summary_table(syn.metrics())
    row = summary[
        (summary["tissue"] == "salivary_gland")
        & (summary["variant"] == "frozen_rnn")
        & (summary["n_holograms"] == 3)
    ].iloc[0]
    assert (row["n_seeds"], row["n_fovs"], row["n_patients"]) == (2, 8, 4)
    assert row["ecc_ci_low"] <= row["ecc_mean"] <= row["ecc_ci_high"]
    assert row["ecc_seed_std"] > 0
    direct = summary[summary["variant"] == "backbone_direct"]
    assert direct["ecc_seed_std"].isna().all()  # one model: no spread across seeds
