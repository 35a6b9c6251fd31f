"""Python calls run as Spark tasks, behind the standard library's ``Executor``.

With ``scoring.engine: spark`` the cleaning's row-level work (:mod:`analysis.methods.cleaning_batches`)
runs on Spark's executors through this pool instead of local worker processes: the same functions
on the same byte blocks, each executor reading its own block from the file. Each call is a Spark
job of one task, submitted from a driver thread; up to ``spark.default.parallelism`` run at once.

What a call raises is handed back as it was raised (a bad export's ``InputFileError`` stays one),
not as Spark's wrapper of a worker's traceback. The executors must reach the export and the
cleaning's scratch folder at the driver's paths: on one machine they do; on a cluster, both must
be on a shared mount (the scratch folder is made under ``TMPDIR``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from functools import partial
from typing import Any

from analysis.methods.customer_summary import EngineError, get_spark_session


class SparkTasks(Executor):
    """Each submitted call runs as a one-task Spark job of ``spark``; ``count`` at a time."""

    def __init__(self, spark: Any, count: int) -> None:
        self._context = spark.sparkContext
        self.count = count
        self._threads = ThreadPoolExecutor(count, thread_name_prefix="spark task")

    def submit(self, fn: Callable, /, *args: Any, **kwargs: Any) -> Future:
        return self._threads.submit(self._run, partial(fn, *args, **kwargs))

    def _run(self, call: Callable[[], Any]) -> Any:
        try:
            [(raised, value)] = self._context.parallelize([call], 1).map(_outcome).collect()
        except Exception as error:  # the task could not run there: Spark's report, a page of traceback, in brief
            raise EngineError(
                f"a Spark executor could not run the cleaning's work ({_last_error_line(error)}). The executors run the "
                f"Python of PYSPARK_PYTHON ({self._context.pythonExec}): it must have this project and its packages "
                "installed, and see the export's and the scratch folder's paths; or set `scoring.engine: duckdb`."
            ) from error
        if raised:
            raise value
        return value

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._threads.shutdown(wait=wait, cancel_futures=cancel_futures)


def _outcome(call: Callable[[], Any]) -> tuple[bool, Any]:
    """On the executor: whether ``call`` raised, and its result or what it raised."""
    try:
        return False, call()
    except Exception as error:  # handed back to the driver, which raises it
        return True, error


def _last_error_line(error: Exception) -> str:
    """The last ``SomethingError: message`` line of ``error``'s text (a Python worker's traceback), or its first line."""
    text = str(error).strip()
    found = re.findall(r"^\w*(?:Error|Exception): .*$", text, re.MULTILINE)
    if found:
        return found[-1]
    return text.splitlines()[0] if text else type(error).__name__


def spark_tasks() -> SparkTasks:
    """A pool on the active Spark session, or a new local one
    (:func:`~analysis.methods.customer_summary.get_spark_session`), as wide as its default parallelism."""
    spark = get_spark_session()
    return SparkTasks(spark, max(1, spark.sparkContext.defaultParallelism))
