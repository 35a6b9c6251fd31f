"""Work spread over the cores this process may use."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from typing import Any, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the system has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def in_threads(work: Callable[[Item], Result], items: Iterable[Item], *, threads: int | None = None) -> Iterator[Result]:
    """``work(item)`` for each of ``items``, on ``threads`` threads (default: the usable cores), yielded in
    the items' order.

    For numpy and scipy work, whose array loops (ufuncs, sorts) run without the interpreter lock: the
    results are those of the same calls one after the other, as long as ``work`` changes nothing that
    another call reads. At most twice as many items as threads are in flight, so the results not yet
    taken stay few.
    """
    threads = usable_cores() if threads is None else threads
    if threads <= 1:
        yield from map(work, items)
        return
    with ThreadPoolExecutor(threads) as pool:
        yield from in_order(pool, ((work, item) for item in items), ahead=2 * threads - 1)


def in_order(pool: Executor, tasks: Iterable[tuple], *, ahead: int) -> Iterator[Any]:
    """The results of ``tasks`` (a function and its arguments each) run by ``pool``, in the tasks' order;
    a task is taken when fewer than ``ahead`` + 1 are in flight, so the results not yet taken stay few.
    Closed early (or on an error), it cancels the tasks not started and waits for those running."""
    pending: deque[Future] = deque()
    try:
        for task in tasks:
            pending.append(pool.submit(*task))
            while len(pending) > ahead:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()
        wait(pending)


@contextmanager
def beside(work: Callable[..., Result], *args: Any, **kwargs: Any) -> Iterator[Future[Result]]:
    """``work(*args, **kwargs)`` started on a thread of its own, to run beside the block (its future's
    ``result()`` waits for it and raises what it raised); the block's end waits for it too.

    For work that, like the block, runs much of its time on one core: numpy, pandas, Arrow, DuckDB and
    the solvers release the interpreter lock in their loops. ``work`` must change nothing the block reads.
    """
    with ThreadPoolExecutor(1, thread_name_prefix=getattr(work, "__name__", "beside")) as pool:
        yield pool.submit(work, *args, **kwargs)
