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


@pytest.mark.parametrize("scheduler", ["threads", "processes"])
def test_each_finished_task_is_reported_once_in_the_calling_process(scheduler):
    reports = []
    settings = DaskSettings(scheduler, n_workers=2, fft_workers=1)
    out = map_tasks(
        _fft_env, [(i,) for i in range(4)], settings, on_done=lambda i, n: reports.append((i, n))
    )
    assert out == [(i, "1") for i in range(4)]
    assert reports == [(1, 4), (2, 4), (3, 4), (4, 4)]


def test_distributed_needs_an_address():
    with pytest.raises(ValueError, match="scheduler_address"):
        DaskSettings("distributed")
