"""The Dagster UI in a real browser: the asset graph and the evaluation's metadata.

Materialises a tiny instance in process (one simulated slide through ``patch_dataset``, the
synthetic patch cohort of ``test_training_assets`` for the backbone, one transferred model and
the evaluation tables), starts the real ``dagster dev`` over it and drives Debian's headless
chromium with Playwright. Screenshots go to ``$HOLO_TEST_ARTIFACTS/ui`` (default: the test's
temporary folder). Skips where chromium or the ``playwright`` package is missing.
"""

import os
import re
import shutil
from pathlib import Path

import dagster as dg
import pytest

from holo_pipeline_tests.dagster_dev import DagsterDev
from holo_pipeline_tests.defs.conftest import env_for_subprocess
from holo_pipeline_tests.defs.test_training_assets import _write_cohort
from holo_pipeline_tests.ops.outputs import materialize_slide

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESIGN_ASSETS = (
    "raw_scans",
    "super_resolved_holograms",
    "autofocused_heights",
    "mhpr_ground_truth",
    "patch_dataset",
    "dataset_splits",
    "pretrained_backbone",
    "transferred_models",
    "evaluation_metrics",
)
# Each group's assets (drawn on the group's graph page) — together the DESIGN table's.
GROUPS = {
    "slides": DESIGN_ASSETS[:5],
    "datasets": ("dataset_splits",),
    "models": ("pretrained_backbone", "transferred_models"),
    "evaluation": ("evaluation_metrics",),
}
START_TIMEOUT_S = 180
UI_TIMEOUT_MS = 60_000


def _materialise(root: Path, instance: dg.DagsterInstance) -> None:
    """The whole graph, tiny: per-slide assets of one slide, then training and evaluation."""
    from holo_pipeline.definitions import build_definitions

    defs = build_definitions("demo", root)
    assert materialize_slide(defs, instance, "s-ui").success
    assets = [*defs.assets, *defs.asset_checks]
    one_epoch = {"config": {"epochs": 1}}

    def run(selection, partition_key=None, run_config=None):
        result = dg.materialize(
            assets,
            selection=selection,
            partition_key=partition_key,
            instance=instance,
            resources=defs.resources,
            run_config=run_config,
        )
        assert result.success, selection

    run(["dataset_splits"])
    # One slide has no train/val/test patients per tissue: train and evaluate on the synthetic
    # cohort of test_training_assets (its patch stores and dataset_splits table) instead.
    _write_cohort(root)
    run(["pretrained_backbone"], run_config={"ops": {"pretrained_backbone": one_epoch}})
    run(
        ["transferred_models"],
        partition_key="prostate-frozen_rnn-r0.121-m2-s0",
        run_config={"ops": {"transferred_models": one_epoch}},
    )
    run(
        [
            "evaluation_metrics",
            "evaluation_summary",
            "training_runs",
            "training_history",
            "step_timing",
            "evaluation_comparisons",
        ]
    )


def _dismiss_onboarding(page) -> None:
    """The first visit opens a "Join the Dagster community" dialog over the page."""
    skip = page.get_by_role("button", name="Skip")
    try:
        skip.wait_for(timeout=5_000)
    except Exception:  # no dialog (already dismissed on this instance)
        return
    skip.click()


def _check_asset_graph(page, base: str, artifacts: Path) -> None:
    """Every DESIGN asset is drawn as a node of the asset graph.

    The global lineage page draws each group collapsed (a box with a count), so each group's graph
    is opened: it draws the group's assets with their upstream and downstream neighbours.
    """
    page.goto(f"{base}/asset-groups")
    _dismiss_onboarding(page)
    for group in GROUPS:
        page.get_by_text(group, exact=True).first.wait_for()
    page.wait_for_timeout(1500)  # group statuses load after the boxes
    page.screenshot(path=str(artifacts / "asset_graph_global.png"))
    drawn = set()
    for group in GROUPS:
        page.goto(f"{base}/locations/holo_pipeline/asset-groups/{group}")
        nodes = page.locator("svg foreignObject")
        nodes.first.wait_for()
        for name in GROUPS[group]:
            nodes.get_by_text(name, exact=True).first.wait_for()
        page.wait_for_timeout(1000)  # let the layout settle for the screenshot
        page.screenshot(path=str(artifacts / f"asset_graph_{group}.png"))
        drawn |= {n for n in DESIGN_ASSETS if nodes.get_by_text(n, exact=True).count()}
    assert drawn == set(DESIGN_ASSETS)


def _open_markdown(page, base: str, asset: str, key: str):
    """The dialog of Markdown metadata ``key`` of the latest materialisation of ``asset``."""
    page.goto(f"{base}/assets/{asset}")
    row = page.locator("tr", has=page.get_by_text(key, exact=True))
    row.get_by_text("[Show Markdown]").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text(key, exact=True).wait_for()
    return dialog


def _check_evaluation_metadata(page, base: str, artifacts: Path) -> None:
    """The evaluation's Markdown metadata renders: reconstruction panels, summary table, charts."""
    dialog = _open_markdown(page, base, "evaluation_metrics", "reconstructions")
    panels = dialog.locator('img[src^="data:image/png;base64,"]')
    panels.first.wait_for()
    assert panels.first.evaluate("i => i.complete && i.naturalWidth > 0")
    page.wait_for_timeout(1000)  # the dialog fades in
    page.screenshot(path=str(artifacts / "evaluation_metrics_reconstructions.png"))

    dialog = _open_markdown(page, base, "evaluation_summary", "summary")
    table = dialog.locator("table")
    table.first.wait_for()
    # each metric's cell reads "mean ± seed std [95 % CI]" under the metric's name (the spread
    # and the CI where there are two seeds and two test FOVs)
    for column in ("variant", "n_seeds", "amplitude_rmse", "ecc"):
        table.first.get_by_text(column, exact=True).wait_for()
    assert table.first.get_by_text("frozen_rnn", exact=True).count()
    assert table.first.get_by_text(re.compile(r"^\d+\.\d{4}")).count()
    charts = dialog.locator('img[src^="data:image/png;base64,"]')
    charts.nth(1).wait_for()  # amplitude RMSE and ECC bar charts
    assert charts.nth(1).evaluate("i => i.complete && i.naturalWidth > 0")
    page.wait_for_timeout(1000)
    page.screenshot(path=str(artifacts / "evaluation_summary_table.png"))


@pytest.mark.slow
def test_ui_draws_the_asset_graph_and_the_evaluation_metadata(env, land, tmp_path, monkeypatch):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright not installed (pip install -e .[dev])"
    )
    artifacts = Path(os.environ.get("HOLO_TEST_ARTIFACTS", tmp_path)) / "ui"
    artifacts.mkdir(parents=True, exist_ok=True)

    root, home = env, tmp_path / "dagster_home"
    home.mkdir()
    land("s-ui", patient_id="p1", seed=1)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.get() as persistent:
        _materialise(root, persistent)
    shutil.rmtree(root / "landing" / "s-ui")  # nothing for dagster dev's landing sensor to run

    log = tmp_path / "dagster_dev.log"
    dev = DagsterDev(env_for_subprocess(root, home), log, timeout_s=START_TIMEOUT_S)
    try:
        with dev, sync_api.sync_playwright() as p:
            base = f"http://127.0.0.1:{dev.port}"
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1600, "height": 1000})
                page.set_default_timeout(UI_TIMEOUT_MS)
                _check_asset_graph(page, base, artifacts)
                _check_evaluation_metadata(page, base, artifacts)
            finally:
                browser.close()
    finally:
        if log.exists():
            shutil.copy(log, artifacts / "dagster_dev.log")
