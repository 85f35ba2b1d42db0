"""Choice of the production model per tissue (pure pandas) and the network-input convention."""

import numpy as np
import pandas as pd
import pytest

from holo_pipeline.reconstruction.inputs import select_heights
from holo_pipeline.reconstruction.production import choose_production_models
from holo_pipeline.settings import ConfigError


def _runs(*rows):
    cols = ["model_key", "tissue", "variant", "nt_ratio", "n_holograms", "trainable_params"]
    df = pd.DataFrame(rows, columns=cols)
    return df.assign(model_path=[f"/m/{k}/generator.keras" for k in df["model_key"]])


def _metrics(scores: dict[str, list[float]], runs: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for key, eccs in scores.items():
        labels = runs.set_index("model_key").loc[key]
        for i, e in enumerate(eccs):
            rows.append({"model_key": key, **labels.drop("model_path").to_dict(), "ecc": e,
                         "patch_index": i})  # fmt: skip
    return pd.DataFrame(rows)


RUNS = _runs(
    ("pretrained_backbone", "blood_smear+pap_smear+lung", "backbone", 0.0, 3, 5000),
    ("prostate-frozen_rnn-r0.121-m2", "prostate", "frozen_rnn", 0.121, 2, 100),
    ("prostate-full_transfer-r0.121-m2", "prostate", "full_transfer", 0.121, 2, 1000),
    ("prostate-scratch-r0.121-m2", "prostate", "scratch", 0.121, 2, 1000),
)


def test_best_mean_test_ecc_wins_and_ties_go_to_fewer_parameters():
    metrics = _metrics(
        {
            "prostate-frozen_rnn-r0.121-m2": [0.8, 0.9],
            "prostate-full_transfer-r0.121-m2": [0.85, 0.85],  # same mean, 10× the parameters
            "prostate-scratch-r0.121-m2": [0.7, 0.7],
        },
        RUNS,
    )
    table = choose_production_models(
        metrics, RUNS, tissues=["prostate", "lung", "salivary_gland"], pretrain_tissues=["lung"]
    ).set_index("tissue")
    assert table.loc["prostate", "model_key"] == "prostate-frozen_rnn-r0.121-m2"
    assert table.loc["prostate", "choice"] == "best_test_ecc"
    assert table.loc["prostate", "test_ecc_mean"] == pytest.approx(0.85)
    assert table.loc["lung", "choice"] == "backbone" and not table.loc["lung", "backbone_fallback"]
    assert table.loc["salivary_gland", "backbone_fallback"]
    assert table.loc["salivary_gland", "n_holograms"] == 3


def test_seeds_of_one_configuration_are_pooled_then_the_best_seed_named():
    runs = pd.concat(
        [
            RUNS,
            _runs(
                ("prostate-full_transfer-r0.121-m2-s1", "prostate", "full_transfer", 0.121, 2, 1000)
            ),
        ]
    )
    metrics = _metrics(
        {
            "prostate-frozen_rnn-r0.121-m2": [0.86],
            "prostate-full_transfer-r0.121-m2": [0.80],
            "prostate-full_transfer-r0.121-m2-s1": [0.95],  # config mean 0.875 beats 0.86
        },
        runs,
    ).assign(seed=lambda d: d["model_key"].str.endswith("-s1").astype(int))
    table = choose_production_models(metrics, runs, tissues=["prostate"])
    assert table["model_key"].tolist() == ["prostate-full_transfer-r0.121-m2-s1"]
    assert table["test_ecc_mean"].iloc[0] == pytest.approx(0.95)


def test_a_pin_overrides_the_scores_and_an_unknown_pin_is_refused():
    metrics = _metrics({"prostate-frozen_rnn-r0.121-m2": [0.9]}, RUNS)
    pinned = choose_production_models(
        metrics, RUNS, tissues=["prostate"], pins={"prostate": "prostate-scratch-r0.121-m2"}
    )
    assert pinned["choice"].tolist() == ["pinned"]
    assert pinned["model_key"].tolist() == ["prostate-scratch-r0.121-m2"]
    with pytest.raises(ConfigError, match=r"production_models\.prostate: no trained model"):
        choose_production_models(metrics, RUNS, tissues=[], pins={"prostate": "nope-m2"})


def test_backbone_direct_rows_never_compete_and_a_missing_backbone_is_an_error():
    metrics = _metrics({"pretrained_backbone": [0.99]}, RUNS).assign(
        tissue="prostate", variant="backbone_direct"
    )
    table = choose_production_models(metrics, RUNS, tissues=["prostate"])
    assert table["choice"].tolist() == ["backbone_fallback"]
    with pytest.raises(ValueError, match="pretrained_backbone has not been trained"):
        choose_production_models(metrics.iloc[:0], RUNS.iloc[1:], tissues=["lung"])


def test_heights_are_spread_over_z2_lowest_and_highest_included():
    z2 = np.array([520, 400, 560, 440, 480, 460, 500, 540]) * 1e-6
    assert select_heights(z2, 2).tolist() == [1, 2]
    chosen = select_heights(z2, 4)
    assert np.all(np.diff(z2[chosen]) > 0) and z2[chosen[0]] == z2.min()
    with pytest.raises(ValueError, match="takes 3 holograms but the FOV has 2"):
        select_heights(z2[:2], 3)
