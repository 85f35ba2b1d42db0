"""Result-table schemas and builders."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from holo_pipeline.datasets.stores import write_parquet
from holo_pipeline.evaluation import comparisons as cmp
from holo_pipeline.evaluation.tables import (
    METRICS,
    TABLES,
    conform,
    empty,
    evaluation_metrics_table,
    evaluation_summary_table,
    schema,
    training_history_table,
    training_runs_table,
)


def _labels(variant: str, ratio: float = 0.1, mt: int = 2, tissue: str = "prostate") -> dict:
    return {
        "model_key": f"{tissue}-{variant}-{ratio}-{mt}",
        "tissue": tissue,
        "variant": variant,
        "nt_ratio": ratio,
        "n_holograms": mt,
        "seed": 0,
    }


def _metric_rows() -> list[dict]:
    rows = []
    for variant, base in (("frozen_rnn", 0.1), ("scratch", 0.3), ("backbone_direct", 0.9)):
        labels = _labels(variant, 0.0 if variant == "backbone_direct" else 0.1)
        for i in range(3):
            rows.append(
                {
                    **labels,
                    "slide_id": "p-1",
                    "patient_id": "pat-1",
                    "fov_id": "fov_000",
                    "patch_index": i,
                    **{m: base + i for m in METRICS},
                }
            )
    return rows


@pytest.mark.parametrize("name", sorted(TABLES))
def test_empty_tables_have_documented_columns_and_dtypes(name):
    frame = empty(name)
    assert list(frame.columns) == list(schema(name))
    assert {c: str(t) for c, t in frame.dtypes.items()} == schema(name)


def test_conform_names_missing_columns():
    with pytest.raises(ValueError, match=r"lacks columns \['ecc'"):
        conform(pd.DataFrame(_metric_rows()).drop(columns=["ecc"]), "evaluation_metrics")
    with pytest.raises(ValueError, match="name must be one of"):
        conform(pd.DataFrame(), "nope")


def test_summary_mean_std_and_count(tmp_path):
    metrics = evaluation_metrics_table(_metric_rows())
    summary = evaluation_summary_table(metrics)
    assert list(summary["variant"]) == ["backbone_direct", "frozen_rnn", "scratch"]  # by nt_ratio
    row = summary[summary["variant"] == "scratch"].iloc[0]
    assert row["n_patches"] == 3
    assert row["ecc_mean"] == pytest.approx(1.3)
    assert row["ecc_std"] == pytest.approx(1.0)  # sample std of 0.3, 1.3, 2.3
    path = write_parquet(summary, tmp_path / "t" / "summary.parquet")
    back = pd.read_parquet(path)
    assert {c: str(t) for c, t in back.dtypes.items()} == schema("evaluation_summary")
    assert not list(path.parent.glob(".*tmp*"))


def _history(variant: str, val_mae: list[float]) -> pd.DataFrame:
    n = len(val_mae)
    return pd.DataFrame(
        {
            **_labels(variant),
            "epoch": np.arange(1, n + 1),
            "g_loss": np.ones(n),
            "d_loss": np.ones(n),
            "val_mae": val_mae,
            "seconds": np.full(n, 2.0),
        }
    )


def test_epochs_to_baseline_best():
    history = training_history_table(
        [
            _history("scratch", [0.9, 0.5, 0.4, 0.3, 0.35]),  # best 0.3 at epoch 4
            _history("frozen_rnn", [0.5, 0.29, 0.2, 0.1, 0.1]),  # reaches 0.3 at epoch 2
            _history("full_transfer", [0.8, 0.7, 0.6, 0.5, 0.4]),  # never reaches it
        ]
    )
    runs = []
    for variant, sec, params in (
        ("scratch", 10.0, 100),
        ("frozen_rnn", 8.0, 10),
        ("full_transfer", 10.0, 100),
    ):
        h = history[history["variant"] == variant]
        runs.append(
            {
                **_labels(variant),
                "n_train_patches": 4,
                "trainable_params": params,
                "total_params": 100,
                "seconds_per_epoch": sec,
                "epochs_run": len(h),
                "best_epoch": int(h.loc[h["val_mae"].idxmin(), "epoch"]),
                "best_val_mae": float(h["val_mae"].min()),
                "model_path": f"/models/{variant}.keras",
            }
        )
    table = training_runs_table(runs, history)
    assert {c: str(t) for c, t in table.dtypes.items()} == schema("training_runs")
    got = dict(zip(table["variant"], table["epochs_to_baseline_best"], strict=True))
    assert got["scratch"] == 4
    assert got["frozen_rnn"] == 2
    assert got["full_transfer"] is pd.NA

    speed = cmp.epochs_to_baseline_best(table)
    assert speed["speedup_frozen_rnn"].iloc[0] == pytest.approx(2.0)
    params = cmp.trainable_params(table)
    assert params["frozen_vs_full"].iloc[0] == pytest.approx(0.1)
    seconds = cmp.seconds_per_epoch(table)
    assert seconds["frozen_change_vs_full_pct"].iloc[0] == pytest.approx(-20.0)
    assert "| tissue |" in cmp.format_frame(seconds)


@pytest.mark.parametrize("name", sorted(TABLES))
def test_load_table_returns_the_documented_columns_and_dtypes(name, tmp_path):
    from holo_pipeline.catalog import dataset_path, load_catalog, load_table

    builders = {
        "evaluation_metrics": lambda: evaluation_metrics_table(_metric_rows()),
        "evaluation_summary": lambda: evaluation_summary_table(
            evaluation_metrics_table(_metric_rows())
        ),
        "training_history": lambda: training_history_table([_history("scratch", [0.5, 0.4])]),
    }
    history = training_history_table([_history("scratch", [0.5, 0.4])])
    builders["training_runs"] = lambda: training_runs_table(
        [
            {
                **_labels("scratch"),
                "n_train_patches": 1,
                "trainable_params": 10,
                "total_params": 10,
                "seconds_per_epoch": 1.0,
                "epochs_run": 2,
                "best_epoch": 2,
                "best_val_mae": 0.4,
                "model_path": "m.keras",
            },
            {
                **_labels("frozen_rnn"),
                "n_train_patches": 1,
                "trainable_params": 1,
                "total_params": 10,
                "seconds_per_epoch": 1.0,
                "epochs_run": 2,
                "best_epoch": 2,
                "best_val_mae": 0.45,
                "model_path": "f.keras",
            },
        ],
        history,
    )
    write_parquet(builders[name](), dataset_path(name, root=tmp_path))
    table = load_table(name, root=tmp_path)
    documented = load_catalog().entry(name).columns
    assert list(table.columns) == list(documented)
    nullable_int = {"int64?": "Int64"}
    expected = {c: nullable_int.get(d, d.rstrip("?")) for c, d in documented.items()}
    assert {c: str(t) for c, t in table.dtypes.items()} == expected
    assert len(table) > 0
