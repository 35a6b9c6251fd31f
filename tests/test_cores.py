"""Work on threads: the results of the calls one after the other, in order, few in flight; work beside a block."""

import threading
import time

import numpy as np
import pytest

from analysis.methods.cores import beside, in_threads, usable_cores


def test_results_come_in_the_items_order_as_map_gives_them():
    rng = np.random.default_rng(0)
    arrays = [rng.normal(size=5000) for _ in range(25)]

    def work(values: np.ndarray) -> np.ndarray:
        time.sleep(float(values[0] % 0.003))  # threads finish out of order
        return np.sort(values)

    for threads in (1, 2, 4):
        got = list(in_threads(work, arrays, threads=threads))
        assert all(np.array_equal(a, b) for a, b in zip(got, map(work, arrays), strict=True))


def test_at_most_twice_the_threads_are_in_flight():
    started, lock, in_flight = [], threading.Lock(), []

    def work(item: int) -> int:
        with lock:
            started.append(item)
        return item

    for result in in_threads(work, range(40), threads=2):
        time.sleep(0.002)  # a slow consumer: the threads would run far ahead
        with lock:
            in_flight.append(len(started) - result - 1)
    assert max(in_flight) <= 3 and sorted(started) == list(range(40))


def test_usable_cores_is_at_least_one():
    assert usable_cores() >= 1


def test_beside_runs_the_work_on_another_thread_and_the_block_waits_for_it():
    release, done = threading.Event(), []

    def work(value: int) -> int:
        release.wait(5)  # holds until the block has run: the two overlap
        done.append(threading.current_thread() is not threading.main_thread())
        return value * 2

    with beside(work, 21) as future:
        assert not future.done()
        release.set()
        assert future.result() == 42
    assert done == [True]

    def fails() -> None:
        raise ValueError("from the work")

    with pytest.raises(ValueError, match="from the work"), beside(fails) as failing:
        failing.result()

    finished = []
    with beside(lambda: (time.sleep(0.2), finished.append(True))):
        pass  # the result is never asked for: the block's end still waits for the work
    assert finished == [True]
