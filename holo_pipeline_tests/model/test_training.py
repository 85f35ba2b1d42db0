import dataclasses
import gc
import shutil

import keras
import numpy as np
import pytest

from holo_pipeline.datasets.tf_data import make_dataset
from holo_pipeline.model.training import (
    HISTORY_COLUMNS,
    TRAIN_METRICS,
    ResumableEarlyStopping,
    _GarbageClock,
    build_gan,
    forget_traced_gans,
    load_generator,
    predict,
    train_model,
    validation_batch_size,
)
from holo_pipeline.profile import load_profile
from holo_pipeline.settings import ConfigError

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

OVERFIT_STEPS = 60


def test_tiny_model_overfits_one_batch(tiny_config, tiny_training, stores):
    config = dataclasses.replace(tiny_training, lr_g=3e-3, lr_decay_per_epoch=1.0)
    gan = build_gan("scratch", model_config=tiny_config, config=config, steps_per_epoch=1, seed=0)
    x, y = next(iter(make_dataset(stores[:1], n_holograms=3, batch_size=2, seed=0, crop_size=16)))
    steps = [gan.train_on_batch(x, y, return_dict=True) for _ in range(OVERFIT_STEPS)]
    losses = [[step[key] for key in TRAIN_METRICS] for step in steps]  # g_loss, mae, ...
    g_loss = np.asarray([row[0] for row in losses])
    mae = np.asarray([row[1] for row in losses])
    assert np.all(np.isfinite(losses))
    assert g_loss[-5:].mean() <= 0.5 * g_loss[:3].mean()
    assert mae[-5:].mean() <= 0.5 * mae[:3].mean()


def _check_fit_timings(t):
    """The parts of ``fit`` add up to it; its start and end lie within ``fit_other``."""
    parts = ["train_first_epoch", "train_other_epochs", "validation_first_epoch"]
    parts += ["validation_other_epochs", "callbacks", "fit_other"]
    assert sum(t[k] for k in parts) == pytest.approx(t["fit"], rel=1e-9)
    assert 0 < t["fit_start"] and 0 < t["fit_end"]
    assert t["fit_start"] + t["fit_end"] <= t["fit_other"] + 1e-9
    assert 0 <= t["gc"] < t["fit"] and t["gc_full"] == int(t["gc_full"]) >= 0


def test_the_garbage_clock_times_the_collector():
    with _GarbageClock() as clock:
        for _ in range(3):
            cycle = []
            cycle.append(cycle)
            del cycle
            assert gc.collect() >= 1  # the list that holds itself
    assert clock.full_passes >= 3 and clock.seconds > 0
    assert clock._hook not in gc.callbacks


def _kill_after_epoch(source, target, epoch):
    """Leave ``target`` as a run killed right after epoch ``epoch``'s checkpoint would be.

    A copy of the finished work directory rolled back to that checkpoint: later checkpoints gone,
    the history still holding the later rows (as if killed between writing it and checkpointing).
    """
    shutil.copytree(source, target)
    ckpt = target / "checkpoints"
    for path in ckpt.glob("ckpt-*"):
        if int(path.name.split(".")[0].split("-")[1]) > epoch:
            path.unlink()
    state = f'model_checkpoint_path: "ckpt-{epoch}"\nall_model_checkpoint_paths: "ckpt-{epoch}"\n'
    (ckpt / "checkpoint").write_text(state)
    (target / "generator.keras").unlink()


def test_killed_and_resumed_run_reaches_the_same_weights(
    tiny_config, tiny_training, stores, tmp_path
):
    train, val = stores
    kw = dict(
        train_stores=[train], val_stores=[val], n_holograms=2, seed=7, model_config=tiny_config
    )
    full = train_model("scratch", config=tiny_training, workdir=tmp_path / "full", **kw)
    assert full.resumed_from_epoch == 0 and len(full.history) == 2
    _check_fit_timings(full.timings)
    _kill_after_epoch(tmp_path / "full", tmp_path / "resumed", epoch=1)
    resumed = train_model("scratch", config=tiny_training, workdir=tmp_path / "resumed", **kw)
    assert resumed.resumed_from_epoch == 1
    cols = [c for c in HISTORY_COLUMNS if "seconds" not in c]
    assert resumed.history[cols].equals(full.history[cols])
    a, b = load_generator(full.generator_path), load_generator(resumed.generator_path)
    for va, vb in zip(a.weights, b.weights, strict=True):
        np.testing.assert_array_equal(va.numpy(), vb.numpy())  # bit-identical on CPU


def test_a_run_on_an_earlier_runs_traced_gan_trains_as_a_fresh_one(
    tiny_config, tiny_training, stores, tmp_path
):
    """Reusing a traced GAN (other seed, epoch length and learning rates before) changes nothing."""
    train, val = stores
    kw = dict(train_stores=[train], val_stores=[val], n_holograms=2, model_config=tiny_config)
    other = dataclasses.replace(tiny_training, repeats=3, lr_g=2e-3, lr_decay_per_epoch=0.5)
    forget_traced_gans()
    train_model("scratch", config=other, workdir=tmp_path / "first", seed=1, **kw)
    reused = train_model("scratch", config=tiny_training, workdir=tmp_path / "reused", seed=2, **kw)
    forget_traced_gans()
    fresh = train_model("scratch", config=tiny_training, workdir=tmp_path / "fresh", seed=2, **kw)
    cols = [c for c in HISTORY_COLUMNS if "seconds" not in c]
    assert reused.history[cols].equals(fresh.history[cols])
    assert list(reused.history["lr_g"]) == list(fresh.history["lr_g"])
    a, b = load_generator(reused.generator_path), load_generator(fresh.generator_path)
    for va, vb in zip(a.weights, b.weights, strict=True):
        np.testing.assert_array_equal(va.numpy(), vb.numpy())


def test_runs_of_other_m_in_one_process_trace_a_known_m(
    tiny_config, tiny_training, stores, tmp_path, monkeypatch
):
    """A reused GAN never sees a second M: Keras would retrace its steps with M unknown, and the
    recurrent layers would fall back to their slower symbolic loop."""
    from holo_pipeline.model.convgru import ConvGRU2D

    seen = []
    call = ConvGRU2D.call

    def recording_call(self, inputs):
        seen.append(inputs.shape[1])
        return call(self, inputs)

    monkeypatch.setattr(ConvGRU2D, "call", recording_call)
    train, val = stores
    config = dataclasses.replace(tiny_training, epochs=1)
    forget_traced_gans()
    for m in (3, 2, 3):
        train_model(
            "scratch", config=config, workdir=tmp_path / f"m{m}-{len(seen)}", seed=0,
            train_stores=[train], val_stores=[val], n_holograms=m, model_config=tiny_config,
        )  # fmt: skip
    forget_traced_gans()
    assert {2, 3} <= set(seen) and None not in seen


def test_seeding_a_gan_leaves_tensorflow_random_state_and_kernels_alone(tiny_config, tiny_training):
    """The weights are seeded as ``keras.utils.set_random_seed`` seeds them, but TensorFlow's own
    random state goes on as it was: resetting it eagerly clears TensorFlow's kernel cache, and the
    traced steps of a reused GAN would be optimised again at every run."""
    import tensorflow as tf

    from holo_pipeline.model import build_generator

    tf.random.set_seed(123)
    draws = [tf.random.uniform([4]).numpy() for _ in range(2)]
    tf.random.set_seed(123)
    tf.random.uniform([4])
    gan = build_gan("scratch", model_config=tiny_config, config=tiny_training, steps_per_epoch=1,
                    seed=5)  # fmt: skip
    np.testing.assert_array_equal(tf.random.uniform([4]).numpy(), draws[1])
    keras.utils.set_random_seed(5)
    reference = build_generator(tiny_config)
    for a, b in zip(gan.generator.weights, reference.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_transfer_variants_from_a_backbone(tiny_config, tiny_training, stores, tmp_path):
    train, val = stores
    config = dataclasses.replace(tiny_training, epochs=1, patience=1)
    kw = dict(
        train_stores=[train], val_stores=[val], n_holograms=3, seed=0, model_config=tiny_config
    )
    backbone = train_model("scratch", config=config, workdir=tmp_path / "backbone", **kw)
    assert list(backbone.history.columns) == list(HISTORY_COLUMNS)
    assert backbone.trainable_params < backbone.total_params  # BN moving statistics
    frozen = train_model(
        "frozen_rnn",
        config=config,
        workdir=tmp_path / "frozen",
        backbone_path=backbone.generator_path,
        **kw,
    )
    assert frozen.trainable_params < 0.5 * frozen.total_params
    assert frozen.total_params == backbone.total_params
    assert (tmp_path / "frozen" / "history.csv").exists()
    assert any((tmp_path / "frozen" / "tensorboard").iterdir())
    # fully convolutional after training: full 32-px patches, M different from training
    out = predict(load_generator(frozen.generator_path), np.zeros((2, 5, 32, 32, 2), np.float32))
    assert out.shape == (2, 32, 32, 2) and np.all(np.isfinite(out))


def test_misconfigured_runs_are_refused_before_training(
    tiny_config, tiny_training, stores, tmp_path
):
    train, val = stores
    kw = dict(
        train_stores=[train], val_stores=[val], n_holograms=2, seed=0, model_config=tiny_config
    )
    with pytest.raises(ConfigError, match="backbone_path"):
        train_model("frozen_rnn", config=tiny_training, workdir=tmp_path / "a", **kw)
    with pytest.raises(ConfigError, match="variant"):
        train_model("frozen", config=tiny_training, workdir=tmp_path / "b", **kw)
    bad_crop = dataclasses.replace(tiny_training, crop_size=18)
    with pytest.raises(ConfigError, match="multiple of 4"):
        train_model("scratch", config=bad_crop, workdir=tmp_path / "c", **kw)
    with pytest.raises(ConfigError, match="fewer training samples"):
        big = dataclasses.replace(tiny_training, batch_size=4)
        train_model("scratch", config=big, workdir=tmp_path / "e", **kw)
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "identity.json").write_text('{"variant": "scratch", "seed": 1}')
    with pytest.raises(ConfigError, match="different settings"):
        train_model("scratch", config=tiny_training, workdir=tmp_path / "d", **kw)


def test_profiles_and_runtime_defaults():
    demo = load_profile("demo").training("transfer")
    paper_pretrain = load_profile("paper").training("pretrain")
    paper_transfer = load_profile("paper").training("transfer")
    assert (paper_pretrain.lr_g, paper_pretrain.lr_d) == (1e-5, 1e-6)
    assert (paper_transfer.lr_g, paper_transfer.lr_d) == (2e-4, 2e-5)
    assert paper_transfer.lr_decay_per_epoch < 1 and paper_transfer.augment
    assert demo.precision == "float32" and demo.deterministic
    assert paper_transfer.precision == "auto" and paper_transfer.strategy == "auto"
    with pytest.raises(ConfigError, match="stage"):
        load_profile("demo").training("finetune")


@pytest.mark.parametrize(
    ("patience", "stopped"), [(2, True), (3, False)], ids=["patience-spent", "patience-left"]
)
def test_resumed_early_stopping_counts_the_epochs_already_trained(patience, stopped):
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    past = [0.5, 0.4, 0.45, 0.46]  # best at epoch 2, then two epochs without improvement
    stopping = ResumableEarlyStopping(past, monitor="val_mae", patience=patience)
    assert stopping.stopped_before(model) is stopped
    assert not model.stop_training  # fit is skipped, not started stopped
    if not stopped:  # one more epoch without improvement spends the patience
        stopping.on_epoch_end(len(past), {"val_mae": 0.41})
        assert model.stop_training


def test_validation_metrics_do_not_depend_on_the_validation_batch_size(
    tiny_config, tiny_training, make_stores, tmp_path
):
    """Batch 1 (the reference), a padded last batch (5 = 2 + 2 + 1), and one batch of all 5."""
    train, val = make_stores(tmp_path, n_train=3, n_val=5, size=32, seed=3)
    kw = dict(train_stores=[train], val_stores=[val], n_holograms=2, model_config=tiny_config)
    runs = {
        b: train_model(
            "scratch",
            config=dataclasses.replace(tiny_training, val_batch_size=b),
            workdir=tmp_path / f"val_batch_{b}",
            seed=0,
            **kw,
        ).history
        for b in (1, 2, 8)
    }
    train_cols = ["g_loss", "mae", "ms_ssim", "adversarial", "d_loss"]
    for b in (2, 8):
        assert runs[b][train_cols].equals(runs[1][train_cols])  # validation changes no weight
        for key in ("val_mae", "val_ms_ssim"):
            np.testing.assert_allclose(runs[b][key], runs[1][key], rtol=1e-5, atol=1e-7)
    # The reference: per-image means of the best generator over the 5 images, one at a time.
    best = load_generator(tmp_path / "val_batch_2" / "generator.keras")
    single = make_dataset(
        [val], n_holograms=2, batch_size=1, seed=1, crop_size=tiny_training.val_crop_size,
        random_crop=False, augment=False, shuffle=False,
    )  # fmt: skip
    mae = [float(np.mean(np.abs(best(x, training=False).numpy() - y.numpy()))) for x, y in single]
    assert len(mae) == 5
    np.testing.assert_allclose(runs[2]["val_mae"].min(), np.mean(mae), rtol=1e-5)


def test_on_a_cpu_a_validation_batch_of_whole_patches_holds_one(tiny_training):
    """Small crops go in batches of ``val_batch_size``; whole 512² patches one at a time, which
    is faster per patch on a CPU (benchmarks/training.py)."""
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        pytest.skip("the pixel cap applies without a GPU")
    config = dataclasses.replace(tiny_training, val_batch_size=8)
    assert validation_batch_size(config, 36, 64) == 8
    assert validation_batch_size(config, 3, 64) == 3
    assert validation_batch_size(config, 6, 256) == 2
    assert validation_batch_size(config, 6, 512) == 1
    assert validation_batch_size(config, 2, 1536) == 1


def test_val_batch_size_is_checked_and_left_out_of_the_resume_fingerprint(tiny_training):
    with pytest.raises(ConfigError, match="val_batch_size"):
        dataclasses.replace(tiny_training, val_batch_size=0)
    other = dataclasses.replace(tiny_training, val_batch_size=tiny_training.val_batch_size + 3)
    assert other.fingerprint() == tiny_training.fingerprint()
