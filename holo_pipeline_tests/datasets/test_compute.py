import pytest
import scipy.fft

from holo_pipeline.datasets.compute import DaskSettings, map_tasks


def _fft_env(x):
    """The task's argument and the scipy.fft workers of the thread that runs it."""
    return x, str(scipy.fft.get_workers())


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


@pytest.mark.parametrize("scheduler", ["threads", "processes"])
def test_fft_workers_reach_the_thread_running_each_task_and_not_the_caller(scheduler):
    """scipy.fft's workers are thread-local: set inside each task, they reach Dask's pool threads
    and worker processes, and the calling thread's setting is untouched."""
    with scipy.fft.set_workers(1):
        out = map_tasks(_fft_env, [(i,) for i in range(3)], DaskSettings(scheduler, 2, 2))
        assert scipy.fft.get_workers() == 1
    assert out == [(i, "2") for i in range(3)]


def test_distributed_needs_an_address():
    with pytest.raises(ValueError, match="scheduler_address"):
        DaskSettings("distributed")


def _blas_threads(x):
    """The task's argument and the thread count of the process's BLAS pools while it runs."""
    from threadpoolctl import threadpool_info

    return x, sorted(
        {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}
    )


def test_threads_hold_blas_to_the_fft_workers_while_tasks_run():
    """With the threaded scheduler the BLAS pool is the process's own: it is held to
    ``fft_workers`` threads while the tasks run (an unpinned pool made the physics several times
    slower on 2 cores), and given back after."""
    from threadpoolctl import threadpool_info, threadpool_limits

    with threadpool_limits(limits=2, user_api="blas"):
        before = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
        out = map_tasks(_blas_threads, [(i,) for i in range(3)], DaskSettings("threads", 2, 1))
        after = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
    assert out == [(i, [1]) for i in range(3)]
    assert after == before
