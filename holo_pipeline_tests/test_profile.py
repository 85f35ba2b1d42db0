"""The typed profile: loaded once from the catalog, validated, overridden only by HOLO_*."""

import dataclasses

import pandas as pd
import pytest
import yaml

from holo_pipeline.catalog import catalog_file
from holo_pipeline.datasets.processing import PhaseRetrievalSettings
from holo_pipeline.datasets.splits import assign_splits
from holo_pipeline.definitions import build_definitions
from holo_pipeline.instrument.simulate import plan_cohort
from holo_pipeline.profile import load_profile, profile_env_names
from holo_pipeline.settings import ConfigError


def test_shipped_profiles_load_and_differ_where_documented():
    demo, paper = load_profile("demo", environ={}), load_profile("paper", environ={})
    assert demo.cohort.frame_shape == (176, 176) and paper.cohort.frame_shape == (512, 512)
    assert (demo.model.n_ch, demo.model.n_levels) == (8, 3)
    assert (paper.model.n_ch, paper.model.n_levels) == (16, 5)
    assert demo.training("pretrain").epochs == 20 and demo.training("transfer").epochs == 12
    assert paper.training("pretrain").lr_g == pytest.approx(1e-5)
    # the plan of issue 16: 12 demo experiments × 2 seeds, 21 paper experiments × 3 seeds
    assert len(demo.plan.partition_keys()) == 24 and len(paper.plan.partition_keys()) == 63
    assert demo.processing.dask_scheduler == "threads"
    assert paper.processing.dask_scheduler == "processes"
    # the MH-PR the pipeline runs (measured against the simulator's truth; see the catalog)
    p = demo.processing
    assert (p.mhpr_iterations, p.mhpr_momentum, p.mhpr_momentum_cutoff_per_um) == (40, 0.95, 0.1)
    assert (p.mhpr_refocus_range_um, p.mhpr_max_amplitude) == (10.0, 1.0)


def test_library_mhpr_defaults_are_the_shipped_profiles_settings():
    """Calling MH-PR with its defaults gives what the pipeline runs: one definition of them."""
    for name in ("demo", "paper"):
        assert load_profile(name, environ={}).processing.phase_retrieval() == (
            PhaseRetrievalSettings()
        )
    raw = yaml.safe_load(catalog_file().read_text())
    for profile in raw["profiles"].values():
        assert not any(k.startswith("mhpr_") for k in profile.get("processing", {})), (
            "the catalog repeats a library default"
        )


def test_overrides_come_only_from_the_environ_mapping_given():
    env = {
        "HOLO_PATCH_SIZE": "64",
        "HOLO_SPLIT_FRACTIONS": "0.5,0.25,0.25",
        "HOLO_PROFILE": "paper",
    }
    profile = load_profile(environ=env)
    assert profile.name == "paper"
    assert profile.processing.patch_size == 64
    assert profile.processing.split_fractions == (0.5, 0.25, 0.25)
    assert load_profile("demo", environ={}).processing.patch_size == 512
    assert "HOLO_PATCH_SIZE" in profile_env_names() and "HOLO_RETRAIN_CRON" in profile_env_names()


@pytest.mark.parametrize(
    ("env", "match"),
    [
        ({"HOLO_PROFILE": "huge"}, "HOLO_PROFILE must be one of"),
        ({"HOLO_PATCH_SIZE": "big"}, "HOLO_PATCH_SIZE='big' is not a valid patch_size"),
        ({"HOLO_DASK_SCHEDULER": "mpi"}, "dask_scheduler"),
        ({"HOLO_MHPR_MOMENTUM": "1.5"}, r"mhpr_momentum \(or HOLO_MHPR_MOMENTUM\)"),
        ({"HOLO_RETRAIN_CRON": "nightly"}, "HOLO_RETRAIN_CRON"),
    ],
)
def test_a_bad_setting_is_a_config_error_naming_it(env, match):
    with pytest.raises(ConfigError, match=match):
        load_profile(environ=env)


def test_unknown_keys_name_the_catalog_file_and_the_key(tmp_path):
    raw = yaml.safe_load(catalog_file().read_text())
    raw["profiles"]["demo"]["model"]["n_chanels"] = 4
    raw["profiles"]["demo"]["processing"]["fft_threads"] = 2
    bad = tmp_path / "catalog.yaml"
    bad.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=r"catalog.yaml: profiles.demo.model .*n_chanels"):
        load_profile("demo", catalog=bad, environ={})
    del raw["profiles"]["demo"]["model"]["n_chanels"]
    bad.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match="fft_threads"):
        load_profile("demo", catalog=bad, environ={})


def test_the_profile_feeds_partitions_code_versions_and_resources(tmp_path):
    demo = load_profile("demo", environ={})
    smaller = demo.model_copy(
        update={
            "plan": dataclasses.replace(demo.plan, transfer=(("prostate", (0.5,), (2,)),)),
            "transfer": dataclasses.replace(demo.transfer, epochs=3),
        }
    )
    defs = build_definitions(smaller, tmp_path)
    graph = defs.resolve_asset_graph()
    import dagster as dg

    transferred = graph.get(dg.AssetKey("transferred_models"))
    assert transferred.partitions_def.get_partition_keys() == smaller.plan.partition_keys()
    assert transferred.code_version == smaller.code_version("transfer")
    assert smaller.code_version("transfer") != demo.code_version("transfer")
    assert smaller.code_version("pretrain") != demo.code_version("pretrain")  # the plan changed
    processing = defs.resources["processing"]
    assert processing.mhpr_iterations == demo.processing.mhpr_iterations
    assert defs.resources["catalog"].data_root == str(tmp_path)


def _planned_splits(profile) -> pd.DataFrame:
    """The splits the profile's simulated cohort gets (the pipeline's own split rule)."""
    slides = pd.DataFrame([dataclasses.asdict(s) for s in plan_cohort(profile.cohort)])
    p = profile.processing
    return assign_splits(slides, fractions=p.split_fractions, salt=p.split_salt)


def test_demo_transfer_tissues_have_enough_test_fovs_from_several_patients():
    splits = _planned_splits(load_profile("demo", environ={}))
    test = splits[splits["split"] == "test"]
    for tissue in ("prostate", "salivary_gland"):
        rows = test[test["tissue"] == tissue]
        assert rows["n_fov"].sum() >= 8 and rows["patient_id"].nunique() >= 2, tissue
        assert set(splits.loc[splits["tissue"] == tissue, "split"]) == {"train", "val", "test"}
    # the pretraining tissues keep one patient per split
    pretrain = splits[~splits["tissue"].isin(["prostate", "salivary_gland"])]
    assert (pretrain.groupby(["tissue", "split"]).size() == 1).all()


def test_paper_profile_test_sets_are_the_papers():
    """49 prostate and 40 salivary-gland test FOVs (Huang et al. 2022)."""
    splits = _planned_splits(load_profile("paper", environ={}))
    test = splits[splits["split"] == "test"].groupby("tissue")["n_fov"].sum()
    assert test["prostate"] == 49 and test["salivary_gland"] == 40
