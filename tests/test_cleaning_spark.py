"""With ``scoring.engine: spark`` the row-level cleaning runs on Spark's executors: the same rows, reasons and counts."""

import csv
import os
import sys
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from analysis.frame.params import Cleaning, InputFile, Period, load_params
from analysis.methods import cleaning_batches
from analysis.methods.cleaning import clean_transactions
from analysis.methods.customer_summary import EngineError
from analysis.methods.loading import DelimitedBatches, InputFileError
from tests.test_cleaning_batches import SAMPLE_COLUMNS

pytestmark = pytest.mark.spark

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data/raw/sample/transactions.csv"
PERIOD = Period(start=date(2023, 1, 1), end=date(2025, 12, 31))


@pytest.fixture(scope="module", autouse=True)
def sample_data():
    if not SAMPLE.is_file():
        pytest.skip("sample data missing: run `make sample-data`")


def cleaned_on_spark(spec: InputFile, rows_per_batch: int):
    with cleaning_batches.started_workers(spec, "spark") as workers:
        assert type(workers.pool).__name__ == "SparkTasks" and workers.count == 2
        return clean_transactions(spec, PERIOD, Cleaning(), rows_per_batch=rows_per_batch, workers=workers)


def assert_same_cleaning(spec: InputFile, rows_per_batch: int) -> None:
    whole = clean_transactions(spec, PERIOD, Cleaning(), rows_per_batch=0)
    on_spark = cleaned_on_spark(spec, rows_per_batch)
    pd.testing.assert_frame_equal(on_spark.kept, whole.kept)
    pd.testing.assert_frame_equal(on_spark.quarantine, whole.quarantine)
    assert on_spark.quality == whole.quality


def test_spark_executors_clean_the_sample_as_the_whole_file_is_cleaned(spark):
    """Every block of 5,000 rows is read and typed by a Spark task, in another process than this one."""
    assert_same_cleaning(InputFile(path=SAMPLE, columns=SAMPLE_COLUMNS), rows_per_batch=5000)
    with cleaning_batches.started_workers(InputFile(path=SAMPLE, columns=SAMPLE_COLUMNS), "spark") as workers:
        assert {workers.pool.submit(os.getpid).result() for _ in range(4)}.isdisjoint({os.getpid()})


def test_a_block_that_is_not_plain_sends_the_rest_as_text_batches_to_the_executors(spark, tmp_path):
    """A row one cell too long, then a carriage return inside a quoted cell: from the first's block on the
    rows are read here and handed over as batches of text; the rows keep their reasons and row numbers."""
    with SAMPLE.open(encoding="utf-8-sig", newline="") as file:
        header, *rows = list(csv.reader(file))[:3001]
    rows[1700][5] = "家电\r(旧)"  # product category
    rows[2500] = rows[2400]  # an exact duplicate after it
    rows[900] = [*rows[900], "备注"]  # a row one cell too long before it
    path = tmp_path / "transactions.csv"
    with path.open("w", encoding="utf-8", newline="") as file:
        csv.writer(file, lineterminator="\n").writerows([header, *rows])
    spec = InputFile(path=path, columns=SAMPLE_COLUMNS)
    read_as_text_from = []
    batches = DelimitedBatches.batches

    def recorded(self, start=None):
        read_as_text_from.append(start)
        return batches(self, start)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DelimitedBatches, "batches", recorded)
        assert_same_cleaning(spec, rows_per_batch=400)
    # from the block of the row one cell too long (line 902) on, the carriage return's included
    assert [block.first for block in read_as_text_from if block is not None] == [802]
    quarantine = cleaned_on_spark(spec, rows_per_batch=400).quarantine
    assert {"duplicate", "malformed_row"} <= set(quarantine["reason"])


def test_what_a_task_raises_reaches_the_driver_as_raised(spark):
    """A bad export's error keeps its type and message through Spark (not a wrapped worker traceback)."""
    from analysis.methods.spark_tasks import spark_tasks

    def refuse(name: str) -> None:
        raise InputFileError(f"{name}: column 金额 is missing; map it under inputs.transactions.columns")

    with spark_tasks() as pool:
        assert pool.submit(sum, [1, 2, 3]).result() == 6
        with pytest.raises(InputFileError, match="column 金额 is missing"):
            pool.submit(refuse, "transactions.csv").result()


def test_stage_1_on_spark_cleans_the_sample_study_as_on_duckdb(spark):
    from analysis.stages import clean

    params = load_params(ROOT / "params/sample.yaml")
    on_duckdb = clean.compute(params)
    on_spark = clean.compute(params.model_copy(update={"scoring": params.scoring.model_copy(update={"engine": "spark"})}))
    assert on_spark.quality == on_duckdb.quality
    pd.testing.assert_frame_equal(on_spark.quarantine, on_duckdb.quarantine)
    for name, result in on_duckdb.results.items():
        pd.testing.assert_frame_equal(on_spark.results[name].kept, result.kept)


def test_executors_whose_python_lacks_the_project_get_an_error_that_names_it(spark, monkeypatch):
    """Spark's own failure (here: the executors run the system's Python, without this package) becomes one
    line with the fix, not a page of Java and Python traceback. Last in the module: it restarts the session."""
    from pyspark.sql import SparkSession

    from analysis.methods.spark_tasks import spark_tasks

    other_python = Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    if sys.prefix == sys.base_prefix or not other_python.is_file():
        pytest.skip("needs a Python without this project: run in the project's virtual environment")
    SparkSession.getActiveSession().stop()
    monkeypatch.setenv("PYSPARK_PYTHON", str(other_python))
    try:
        with spark_tasks() as pool, pytest.raises(EngineError) as raised:
            pool.submit(sum, [1, 2]).result()
    finally:
        SparkSession.getActiveSession().stop()
    message = str(raised.value)
    assert "No module named 'analysis'" in message and str(other_python) in message and "PYSPARK_PYTHON" in message
    assert "\n" not in message
