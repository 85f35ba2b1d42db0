"""`holo-pipeline report --html`: one self-contained page whose every plot renders in chromium."""

import argparse
import re
from pathlib import Path

import numpy as np
import pytest

from holo_pipeline.catalog import dataset_path
from holo_pipeline.datasets.stores import write_parquet
from holo_pipeline.evaluation import report
from holo_pipeline.evaluation.comparisons import COMPARISONS, comparisons_table
from holo_pipeline.evaluation.figures import reconstruction_panels_png
from holo_pipeline.evaluation.tables import evaluation_summary_table
from holo_pipeline_tests.evaluation import synthetic_tables as syn

CHROMIUM = Path("/usr/bin/chromium")


def _store_tables(root: Path) -> None:
    metrics = syn.metrics()
    history, runs = syn.history_and_runs()
    tables = {
        "evaluation_metrics": metrics,
        "evaluation_summary": evaluation_summary_table(metrics),
        "training_runs": runs,
        "training_history": history,
        "step_timing": syn.timing(),
        "evaluation_comparisons": comparisons_table(metrics, runs, history, syn.timing()),
    }
    for name, frame in tables.items():
        write_parquet(frame, dataset_path(name, root=root))
    figures = Path(dataset_path("evaluation_figures", root=root))
    figures.mkdir(parents=True)
    tensor = np.stack([np.ones((16, 16)), np.zeros((16, 16))], axis=-1)
    png = reconstruction_panels_png(tensor, tensor, {"scratch": 0.9 * tensor}, "prostate")
    (figures / "reconstructions-prostate.png").write_bytes(png)


def _write_report(tmp_path: Path) -> Path:
    _store_tables(tmp_path)
    out = tmp_path / "out" / "report.html"
    args = argparse.Namespace(root=str(tmp_path), paper_size=False, html=str(out))
    assert report.run(args) == 0
    return out


def test_html_report_is_self_contained_with_a_plot_per_comparison(tmp_path):
    page = _write_report(tmp_path).read_text()
    sources = re.findall(r'<img alt="[^"]*" src="([^"]+)"', page)
    # one per comparison, the training curves, the stored reconstruction panel
    assert len(sources) == len(COMPARISONS) + 2
    assert all(s.startswith("data:image/png;base64,") for s in sources)
    assert "http://" not in page and "https://" not in page  # nothing to fetch
    for name in COMPARISONS:
        assert name in page
    assert "not reproduced" in page and "reproduced" in page  # verdicts are shown
    assert "± " in page  # mean ± std across seeds in the summary


def test_every_plot_of_the_html_report_renders_in_chromium(tmp_path):
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright not installed (pip install -e .[dev])"
    )
    if not CHROMIUM.exists():
        pytest.skip("chromium not installed (/usr/bin/chromium)")
    out = _write_report(tmp_path)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), args=["--headless=new", "--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page()
            page.goto(out.resolve().as_uri())
            page.wait_for_load_state("load")
            sizes = page.eval_on_selector_all(
                "img", "imgs => imgs.map(i => [i.complete, i.naturalWidth, i.naturalHeight])"
            )
            page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        finally:
            browser.close()
    assert len(sizes) == len(COMPARISONS) + 2
    assert all(done and w > 0 and h > 0 for done, w, h in sizes), sizes
