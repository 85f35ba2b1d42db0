"""Cluster settings: the assets carry their pod resources, and the deploy files agree with them."""

import json
from pathlib import Path

import dagster as dg
import yaml

from holo_pipeline.definitions import build_definitions

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def _k8s_tags() -> dict[str, dict]:
    tags = {}
    for asset in build_definitions().assets:
        if isinstance(asset, dg.AssetsDefinition) and "dagster-k8s/config" in asset.op.tags:
            for key in asset.keys:
                tags[key.to_user_string()] = json.loads(asset.op.tags["dagster-k8s/config"])
    return tags


def test_training_requests_a_gpu_and_mhpr_memory():
    tags = _k8s_tags()
    assert set(tags) == {"pretrained_backbone", "transferred_models", "mhpr_ground_truth"}
    for name in ("pretrained_backbone", "transferred_models"):
        resources = tags[name]["container_config"]["resources"]
        assert resources["requests"]["nvidia.com/gpu"] == "1"
        assert resources["limits"]["nvidia.com/gpu"] == "1"
    mhpr = tags["mhpr_ground_truth"]["container_config"]["resources"]
    assert mhpr["requests"]["memory"] == "8Gi" and mhpr["limits"]["memory"] == "16Gi"


def test_gpu_assets_are_in_the_gpu_pool_and_physics_in_holo_cpu():
    pools = {
        key.to_user_string(): asset.op.pool
        for asset in build_definitions().assets
        if isinstance(asset, dg.AssetsDefinition)
        for key in asset.keys
    }
    assert pools["pretrained_backbone"] == pools["transferred_models"] == "gpu"
    for name in ("super_resolved_holograms", "autofocused_heights", "mhpr_ground_truth"):
        assert pools[name] == "holo_cpu"


def test_executor_run_config_parses_with_a_default_step_smaller_than_the_tagged_ones():
    config = yaml.safe_load((DEPLOY / "k8s_job_executor.yaml").read_text())["execution"]["config"]
    assert config["max_concurrent"] >= 1
    default = config["step_k8s_config"]["container_config"]["resources"]
    assert "nvidia.com/gpu" not in default["requests"]
    readme = (DEPLOY / "README.md").read_text()
    for name in _k8s_tags():
        assert f"`{name}`" in readme
