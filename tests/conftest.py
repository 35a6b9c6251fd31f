from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.sample_runs import ensure_sample_study

ROOT = Path(__file__).resolve().parents[1]
STUDY_FIXTURES = {"sample_report", "small"}  # fixtures that run the whole study: minutes, not seconds


def pytest_collection_modifyitems(items):
    for item in items:
        if STUDY_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def out_root() -> Path:
    return Path(os.environ["TIERING_OUT_ROOT"])


@pytest.fixture(scope="session")
def sample_report(out_root) -> Path:
    """The whole sample study (previous quarter, then the current one) run once by the real runner."""
    if not (ROOT / "data/raw/sample/truth.json").is_file():
        pytest.fail("sample data missing: run `make sample-data` (make test does it for you)")
    return ensure_sample_study(out_root)


@pytest.fixture(scope="module")
def spark():
    """A local Spark session for the module's tests (skipped without pyspark or Java), stopped after them."""
    pytest.importorskip("pyspark")
    from analysis.methods.customer_summary import EngineError, get_spark_session

    try:
        session = get_spark_session("tests")
    except EngineError as exc:
        pytest.skip(str(exc))
    yield session
    session.stop()
