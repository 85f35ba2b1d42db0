"""Fixtures for the operations tests: those of the Dagster tests (small slides, data root)."""

from holo_pipeline_tests.defs.conftest import env, instance, land, slide_cache  # noqa: F401


def pytest_configure(config):
    config.addinivalue_line(
        "filterwarnings", "ignore:Specifying a partitions_def on an AssetCheckSpec"
    )
