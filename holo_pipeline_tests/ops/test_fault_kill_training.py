"""Fault (b): training killed mid-run, then re-materialised through the Dagster asset, resumes from
its last checkpoint and ends with the model an uninterrupted run gives; every epoch is logged to
the run log with its losses and an ETA."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from dagster import DagsterInstance
from dagster._core.instance.ref import InstanceRef

from holo_pipeline.defs.instance import install_instance_config
from holo_pipeline_tests.defs.test_training_assets import _write_cohort

EPOCHS = 3
TRAIN = """
import sys
import dagster as dg
from holo_pipeline.definitions import build_definitions
defs = build_definitions()
with dg.DagsterInstance.get() as instance:
    result = dg.materialize(
        [*defs.assets, *defs.asset_checks], selection=["pretrained_backbone"], instance=instance,
        resources=defs.resources,
        run_config={"ops": {"pretrained_backbone": {"config": {"epochs": int(sys.argv[1])}}}},
    )
sys.exit(0 if result.success else 1)
"""


def _env(root, home):
    env = dict(os.environ, HOLO_DATA_ROOT=str(root), HOLO_PROFILE="demo", DAGSTER_HOME=str(home))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.pop("HOLO_CATALOG", None)
    return env


def _train(root, home, **popen):
    install_instance_config(home)
    return subprocess.Popen(
        [sys.executable, "-c", TRAIN, str(EPOCHS)], env=_env(root, home), **popen
    )


def _weights(root):
    from holo_pipeline.model import load_generator

    return load_generator(root / "models" / "pretrained_backbone" / "generator.keras").get_weights()


def _run_log(home) -> list[str]:
    with DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
        run = instance.get_runs(limit=1)[0]
        return [e.user_message for e in instance.all_logs(run.run_id)]


@pytest.mark.slow
def test_training_killed_after_a_checkpoint_resumes_through_the_asset(tmp_path):
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    for root in (reference, killed):
        _write_cohort(root)

    ref = _train(reference, tmp_path / "home_ref", stderr=subprocess.PIPE)
    assert ref.wait(timeout=600) == 0, ref.stderr.read().decode()[-3000:]

    proc = _train(killed, tmp_path / "home_killed", start_new_session=True)
    out = killed / "models" / "pretrained_backbone"
    deadline = time.monotonic() + 300
    # the CheckpointManager's index appears with the first epoch's checkpoint
    while proc.poll() is None and time.monotonic() < deadline:
        if list(out.glob("work-*/checkpoints/checkpoint")):
            break
        time.sleep(0.05)
    assert proc.poll() is None, "training ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert not (out / "run.json").exists()  # nothing was published by the killed run

    rerun = _train(killed, tmp_path / "home_killed", stderr=subprocess.PIPE)
    assert rerun.wait(timeout=600) == 0, rerun.stderr.read().decode()[-3000:]

    run = json.loads((out / "run.json").read_text())
    assert 1 <= run["resumed_from_epoch"] < EPOCHS
    assert run["epochs_run"] == EPOCHS
    ref_run = json.loads((reference / "models" / "pretrained_backbone" / "run.json").read_text())
    assert ref_run["resumed_from_epoch"] == 0
    assert run["best_val_mae"] == ref_run["best_val_mae"]
    for a, b in zip(_weights(reference), _weights(killed), strict=True):
        assert np.array_equal(a, b)

    # progress in the run log: the epochs the rerun trained, each with losses and an ETA
    messages = [m for m in _run_log(tmp_path / "home_killed") if "epoch " in m and "ETA" in m]
    trained = range(run["resumed_from_epoch"] + 1, EPOCHS + 1)
    assert [m.split()[2] for m in messages] == [f"{e}/{EPOCHS}" for e in trained]
    assert all("g_loss=" in m and "val_mae=" in m for m in messages)
