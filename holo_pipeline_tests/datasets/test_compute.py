import os

import pytest

from holo_pipeline.datasets.compute import DaskSettings, map_tasks


def _fft_env(x):
    return x, os.environ.get("HOLO_FFT_WORKERS")


def test_threads_keep_order_and_set_fft_workers_per_task():
    out = map_tasks(_fft_env, [(i,) for i in range(5)], DaskSettings("threads", 2, fft_workers=1))
    assert out == [(i, "1") for i in range(5)]


def test_processes_run_on_a_local_cluster():
    settings = DaskSettings("processes", n_workers=1, fft_workers=1)
    assert map_tasks(_fft_env, [(3,), (4,)], settings) == [(3, "1"), (4, "1")]


def test_distributed_needs_an_address():
    with pytest.raises(ValueError, match="scheduler_address"):
        DaskSettings("distributed")
