"""Workers: how many cores a run may use, an ordered map over worker threads, and reading ahead.

The heavy steps (OpenCV filters, NumPy reductions and sorts, BLAS products, pocketfft, HDF5 and video decoding)
release the GIL, so the workers are threads: no copy of the movie, no process start, and the same arithmetic as a
serial run. Each work item is computed by one thread from its own inputs, and results are consumed in the order
of the items, so a run with several workers gives the same results as a serial run, bit for bit.

Each worker is one thread all through: `worker_threads` limits BLAS (OpenBLAS) to one thread through
``threadpoolctl`` (when it is installed; else BLAS keeps its own thread count) and OpenCV through
``cv2.setNumThreads``, for every worker count, 1 included. Several workers would otherwise oversubscribe the
cores, and multithreaded OpenBLAS is also slow on its own on this work's products (few components against
a long pixel or frame axis: 4 to 16 times slower with 2 threads than with 1 on a 2-core machine). The thread
count of BLAS is then the same in a serial and a parallel run, which keeps their results identical.
"""

from __future__ import annotations

import contextlib
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from element_calcium.compute import _checks


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity where the system tells it, else the CPU count)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, cores or 1)


def check_workers(workers: Any, *, what: str = "workers") -> int:
    """``workers`` as an int >= 1 (1 runs serially).

    Raises:
        ValueError: not an integer >= 1 (naming ``what``).
    """
    return _checks.integer(workers, what)


@contextlib.contextmanager
def worker_threads() -> Iterator[None]:
    """Within the block, BLAS (with ``threadpoolctl``) and OpenCV run one thread per calling thread."""
    import cv2

    previous = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        with _blas_limit():
            yield
    finally:
        cv2.setNumThreads(previous)


def _blas_limit():
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def ordered_map(function: Callable, items: Iterable, *, workers: int, ahead: int = 1) -> Iterator:
    """``map(function, items)`` computed by ``workers`` threads, yielding the results in the order of ``items``.

    At most ``workers * (1 + ahead)`` items are submitted before their results are consumed, which bounds
    the memory of results waiting. ``workers`` = 1 is the built-in ``map`` (no thread). An exception of
    ``function`` is raised when its result is reached; the items not yet started are then cancelled.
    """
    workers = check_workers(workers)
    if workers == 1:
        yield from map(function, items)
        return
    with ThreadPoolExecutor(workers, thread_name_prefix="element-calcium-worker") as pool:
        pending: deque = deque()
        try:
            for item in items:
                pending.append(pool.submit(function, item))
                if len(pending) >= workers * (1 + ahead):
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


def read_ahead(read: Callable[[Any], Any], requests: Iterable) -> Iterator:
    """``read(request)`` for each of ``requests`` in order, the next one read by a helper thread while the
    caller works on the current one (one read at a time, in order; at most one result waiting)."""
    with ThreadPoolExecutor(1, thread_name_prefix="element-calcium-reader") as pool:
        requests = iter(requests)
        following = next(requests, _END)
        upcoming = None if following is _END else pool.submit(read, following)
        while upcoming is not None:
            following = next(requests, _END)
            current = upcoming.result()
            upcoming = None if following is _END else pool.submit(read, following)
            yield current


_END = object()
