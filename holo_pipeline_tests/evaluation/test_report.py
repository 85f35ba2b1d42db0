"""The report: summary and the four comparisons rendered from stored tables."""

import argparse

import pandas as pd

from holo_pipeline.datasets.stores import write_parquet
from holo_pipeline.evaluation import report
from holo_pipeline.evaluation.tables import (
    METRICS,
    evaluation_metrics_table,
    evaluation_summary_table,
    training_runs_table,
)


def _tables():
    rows = []
    for variant, ratio, value in (
        ("frozen_rnn", 0.121, 0.2),
        ("scratch", 0.121, 0.4),
        ("frozen_rnn", 0.5, 0.1),
        ("backbone_direct", 0.0, 0.9),
    ):
        rows.append(
            {
                "model_key": f"k-{variant}-{ratio}",
                "tissue": "prostate",
                "variant": variant,
                "nt_ratio": ratio,
                "n_holograms": 2,
                "seed": 0,
                "slide_id": "s",
                "patient_id": "p",
                "fov_id": "fov_000",
                "patch_index": 0,
                **dict.fromkeys(METRICS, value),
            }
        )
    summary = evaluation_summary_table(evaluation_metrics_table(rows))
    runs = training_runs_table([], pd.DataFrame())
    return summary, runs


def test_quality_uses_the_smallest_ratio_and_keeps_the_backbone():
    summary, runs = _tables()
    text = report.render(summary, runs)
    assert "## 4. Quality at the smallest Nt/N" in text
    section = text.split("## 4.")[1]
    assert "0.121" in section and "0.5 |" not in section
    assert "backbone_direct" in section
    assert "Paper: frozen_rnn ~4.33 M" in text


def test_run_reads_the_stored_tables(tmp_path, capsys):
    args = argparse.Namespace(root=str(tmp_path), paper_size=False)
    assert report.run(args) == 1  # nothing materialised yet
    assert "run `holo-pipeline demo` first" in capsys.readouterr().out
    summary, runs = _tables()
    write_parquet(summary, tmp_path / "tables" / "evaluation_summary.parquet")
    write_parquet(runs, tmp_path / "tables" / "training_runs.parquet")
    assert report.run(args) == 0
    assert "| prostate |" in capsys.readouterr().out
