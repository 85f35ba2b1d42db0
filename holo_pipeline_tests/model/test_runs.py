import dataclasses
import json
import logging

import numpy as np
import pandas as pd
import pytest

from holo_pipeline.model.runs import fingerprint, store_signature, train_and_publish
from holo_pipeline.model.training import HISTORY_COLUMNS, load_generator

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def _publish(stores, out_dir, config, tiny_config, **kw):
    train, val = stores
    return train_and_publish(
        "scratch",
        out_dir=out_dir,
        train_stores=[train],
        val_stores=[val],
        config=config,
        model_config=tiny_config,
        n_holograms=2,
        seed=3,
        data_signature=store_signature([train, val]),
        labels={"model_key": "toy", "tissue": "toy"},
        **kw,
    )


def test_a_run_trains_in_its_work_dir_and_publishes_one_record(
    tiny_config, tiny_training, stores, tmp_path, caplog
):
    config = dataclasses.replace(tiny_training, epochs=1)
    out = tmp_path / "model"
    log = logging.getLogger("holo_pipeline_tests.runs")
    with caplog.at_level(logging.INFO, logger=log.name):
        run = _publish(stores, out, config, tiny_config, log=log)

    assert json.loads((out / "run.json").read_text()) == run
    assert run["model_key"] == "toy" and run["variant"] == "scratch" and run["seed"] == 3
    assert run["epochs_run"] == 1 and run["best_epoch"] == 1 and run["resumed_from_epoch"] == 0
    assert 0 < run["trainable_params"] < run["total_params"]
    history = pd.read_parquet(out / "history.parquet")
    assert list(history.columns) == list(HISTORY_COLUMNS) and list(history["epoch"]) == [1]
    assert run["best_val_mae"] == history["val_mae"].min()
    generator = load_generator(run["model_path"])
    assert generator.count_params() == run["total_params"]

    (workdir,) = out.glob("work-*")  # one training run, named by its fingerprint
    assert (workdir / "identity.json").exists() and not (workdir / "run.json").exists()
    assert [m for m in caplog.messages if m.startswith("scratch: epoch 1/1 g_loss=")]

    # the same inputs again: the finished run is reused, nothing is trained
    again = _publish(stores, out, config, tiny_config)
    assert again["resumed_from_epoch"] == 1 and again["best_val_mae"] == run["best_val_mae"]
    assert list(out.glob("work-*")) == [workdir]


def test_changed_inputs_train_afresh_and_remove_the_stale_work_dir(
    tiny_config, tiny_training, make_stores, tmp_path
):
    config = dataclasses.replace(tiny_training, epochs=1)
    out = tmp_path / "model"
    _publish(make_stores(tmp_path / "a"), out, config, tiny_config)
    (first,) = out.glob("work-*")
    rewritten = make_stores(tmp_path / "a", seed=1)  # rewritten stores: new modification times
    run = _publish(rewritten, out, config, tiny_config)
    (second,) = out.glob("work-*")
    assert second != first and run["resumed_from_epoch"] == 0


def test_fingerprints_and_store_signatures(stores):
    assert fingerprint("scratch", {"a": 1}) == fingerprint("scratch", {"a": 1})
    assert fingerprint("scratch", {"a": 1}) != fingerprint("scratch", {"a": 2})
    assert len(fingerprint(np.float32(1.5))) == 12  # anything else hashes by str()
    train, val = stores
    signature = store_signature([val, train])
    assert [p for p, _ in signature] == sorted([str(train), str(val)])
    assert all(isinstance(t, int) and t > 0 for _, t in signature)
