"""Work on threads: the results of the calls one after the other, in order, few in flight."""

import threading
import time

import numpy as np

from analysis.methods.cores import in_threads, usable_cores


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
