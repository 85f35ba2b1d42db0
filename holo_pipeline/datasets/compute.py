"""Run per-FOV tasks with Dask without oversubscribing the cores.

Three schedulers, chosen by configuration (``dask_scheduler``):

``threads``
    Dask's local threaded scheduler with ``n_workers`` threads: no start-up cost, no copies of the
    arrays. The physics spends its time in FFTs, BLAS and array arithmetic, which release the GIL.
    Best for small slides, where a cluster's start-up would cost as much as the work, and when
    the BLAS pool is pinned to one thread in the environment (below).
``processes``
    A ``dask.distributed.LocalCluster`` of ``n_workers`` single-threaded worker processes, started
    for one call and closed after it: GIL-proof, BLAS pools pinned to one thread, but a few
    seconds to start per asset step. The ``paper`` profile's default: it is the one that
    guarantees ``n_workers × fft_workers`` busy threads (with ``threads`` every Dask thread may
    bring its own multi-threaded BLAS pool). The ``demo`` profile uses ``threads``, which on one
    2-core machine finished a 4-FOV demo slide in 9.4 s against 17.3 s (benchmarks/pipeline.py).
``distributed``
    A running ``dask.distributed`` scheduler at ``scheduler_address`` (a real cluster).

FFT threads: each task runs inside ``scipy.fft.set_workers(fft_workers)``, entered in the task
itself because the setting is thread-local (set around the submit, it would not reach Dask's
worker threads or processes); :mod:`holo_pipeline.optics` transforms with it. So
``n_workers × fft_workers`` threads run at most; keep that product ≤ the cores (the ``demo``
profile: 2 workers × 1 FFT thread on 2 cores).

BLAS threads: ``OMP_NUM_THREADS``/``OPENBLAS_NUM_THREADS``/``MKL_NUM_THREADS`` = 1 in the
environment of the worker processes a ``processes`` cluster spawns; with ``threads`` the process's
own BLAS pool is held to ``fft_workers`` threads (``threadpoolctl``) while the tasks run. Left at
its default (one thread per core), OpenBLAS made the per-FOV physics several times slower on a
busy 2-core machine: every small product (the sub-pixel registration's matrix DFTs, the norms of
MH-PR's residuals) woke a pool whose threads then competed with the other Dask thread for the
same cores: super-resolving and refining the heights of two demo FOVs took 101 s against
44 s with one BLAS thread (a shared machine at load ~10; ``benchmarks/pipeline.py --per-fov``
times the stages).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import dask
import scipy.fft

T = TypeVar("T")

SCHEDULERS = ("threads", "processes", "distributed")
_THREAD_ENVS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@dataclass(frozen=True)
class DaskSettings:
    """How per-FOV tasks run (see the module docstring)."""

    scheduler: str = "processes"
    n_workers: int = 2
    fft_workers: int = 1
    scheduler_address: str = ""

    def __post_init__(self) -> None:
        if self.scheduler not in SCHEDULERS:
            raise ValueError(f"scheduler must be one of {SCHEDULERS}, got {self.scheduler!r}")
        if self.n_workers < 1 or self.fft_workers < 1:
            raise ValueError(
                f"n_workers and fft_workers must be >= 1, got {self.n_workers}, {self.fft_workers}"
            )
        if self.scheduler == "distributed" and not self.scheduler_address:
            raise ValueError("scheduler 'distributed' needs a scheduler_address (tcp://host:port)")


@contextmanager
def blas_threads(n: int) -> Iterator[None]:
    """Hold this process's BLAS pools (OpenBLAS, MKL, BLIS) to ``n`` threads inside the block.

    The limit is process-wide, not per thread: set it around a whole parallel section, not
    inside its tasks.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=int(n), user_api="blas"):
        yield


def _with_fft_workers(fn: Callable[..., T], fft_workers: int) -> Callable[..., T]:
    """Wrap ``fn`` so that it runs with ``fft_workers`` scipy.fft threads in whichever thread
    (or worker process) executes it; the caller's setting is restored after."""

    def task(*args: Any) -> T:
        with scipy.fft.set_workers(fft_workers):
            return fn(*args)

    task.__name__ = getattr(fn, "__name__", "task")
    return task


def map_tasks(
    fn: Callable[..., T],
    args: Sequence[tuple[Any, ...]],
    settings: DaskSettings,
    *,
    on_done: Callable[[int, int], None] | None = None,
) -> list[T]:
    """Run ``fn(*a)`` for every ``a`` in ``args`` as Dask tasks; results in the order of ``args``.

    ``fn`` and its arguments must be picklable for the ``processes`` and ``distributed``
    schedulers (module-level functions and arrays or paths). ``on_done(i, n)``, if given, is
    called in the calling process each time a task finishes (``i`` = tasks finished so far), in
    completion order.
    """
    task = _with_fft_workers(fn, settings.fft_workers)
    if on_done is not None and settings.scheduler == "threads":
        task = _counting(task, len(args), on_done)
    delayed = [dask.delayed(task, pure=False)(*a) for a in args]
    if not delayed:
        return []
    if settings.scheduler == "threads":
        with blas_threads(settings.fft_workers):
            return list(dask.compute(*delayed, scheduler="threads", num_workers=settings.n_workers))
    from distributed import Client, LocalCluster

    if settings.scheduler == "distributed":
        with Client(settings.scheduler_address) as client:
            return _compute_on(client, delayed, on_done)
    # The spawned worker processes' own BLAS/OpenMP pools: one thread each.
    env = {name: "1" for name in _THREAD_ENVS}
    with (
        LocalCluster(
            n_workers=settings.n_workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            env=env,
        ) as cluster,
        Client(cluster) as client,
    ):
        return _compute_on(client, delayed, on_done)


def _compute_on(client: Any, delayed: list[Any], on_done: Callable[[int, int], None] | None):
    """Compute ``delayed`` on a distributed ``client``, reporting each completion to ``on_done``."""
    from distributed import as_completed

    futures = client.compute(delayed)
    if on_done is not None:
        for i, _ in enumerate(as_completed(futures), start=1):
            on_done(i, len(futures))
    return list(client.gather(futures))


def _counting(
    fn: Callable[..., T], n: int, on_done: Callable[[int, int], None]
) -> Callable[..., T]:
    """Wrap ``fn`` so that each finished call reports ``(finished so far, n)`` (thread-safe)."""
    lock = threading.Lock()
    finished = 0

    def task(*args: Any) -> T:
        nonlocal finished
        result = fn(*args)
        with lock:
            finished += 1
            on_done(finished, n)
        return result

    task.__name__ = getattr(fn, "__name__", "task")
    return task
