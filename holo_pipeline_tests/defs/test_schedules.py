"""Nightly retraining condition: cron from the profile (HOLO_RETRAIN_* overrides), blocking checks,
changed inputs."""

import pytest

from holo_pipeline.defs.schedules import nightly_retrain_condition
from holo_pipeline.profile import load_profile
from holo_pipeline.settings import ConfigError


def retrain_cron():
    automation = load_profile().automation
    return automation.retrain_cron, automation.retrain_timezone


def test_cron_defaults_and_override(monkeypatch):
    monkeypatch.delenv("HOLO_RETRAIN_CRON", raising=False)
    assert retrain_cron() == ("0 2 * * *", "UTC")
    monkeypatch.setenv("HOLO_RETRAIN_CRON", "30 3 * * 1")
    monkeypatch.setenv("HOLO_RETRAIN_TIMEZONE", "Europe/Berlin")
    assert retrain_cron() == ("30 3 * * 1", "Europe/Berlin")
    label = nightly_retrain_condition(load_profile().automation).get_label()
    assert "30 3 * * 1 Europe/Berlin" in label


def test_invalid_cron_is_refused(monkeypatch):
    monkeypatch.setenv("HOLO_RETRAIN_CRON", "every night")
    with pytest.raises(ConfigError, match="HOLO_RETRAIN_CRON"):
        retrain_cron()


def test_models_and_tables_carry_the_condition():
    from holo_pipeline.definitions import defs

    graph = defs().resolve_asset_graph()
    for name in ("pretrained_backbone", "transferred_models", "evaluation_summary"):
        condition = graph.get(__import__("dagster").AssetKey(name)).automation_condition
        assert condition is not None
        assert condition.get_label().startswith("nightly retrain")
        # the blocking-check and changed-input sub-conditions are part of it
        text = str(condition.get_snapshot())
        assert "blocking" in text.lower()
