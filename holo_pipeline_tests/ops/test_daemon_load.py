"""Load on the real daemon: slides dropped at once into a running ``dagster dev`` are each
materialised exactly once, none is lost, and the ``holo_cpu`` pool limit holds across runs.

Runs the core of ``benchmarks/daemon_load.py`` with fewer slides; no timing is asserted.
"""

import importlib.util
import sys
from pathlib import Path

import pytest

from holo_pipeline.defs.instance import POOL_LIMITS
from holo_pipeline_tests.ops.outputs import SLIDE_ASSETS

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "daemon_load.py"


def _daemon_load():
    spec = importlib.util.spec_from_file_location("daemon_load", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_slides_dropped_at_once_are_each_materialised_once_within_the_pool_limit(tmp_path):
    report = _daemon_load().run_load(6, tmp_path, alone=True, timeout_s=900)
    summary = "\n".join(report.lines())
    # exactly once, the slide processed first included (it is not redone when the others arrive)
    assert report.materialisations == {asset: (1, 1) for asset in SLIDE_ASSETS}, summary
    assert not report.lost and not report.failed_runs, summary
    # one run per slide for its chain, as a lone slide gets: no backfill bundles them
    assert report.chain_runs == (1, 1) and report.backfills == 0, summary
    assert report.pool_limit == POOL_LIMITS["holo_cpu"]
    assert report.max_pool_concurrency <= report.pool_limit, summary
    assert report.violations() == []
