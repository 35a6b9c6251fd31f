"""Stage 6 reads few columns of the customers table (``CUSTOMER_COLUMNS``): the same outcome as from the whole table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from analysis.frame import catalog
from analysis.frame.study import open_study
from analysis.stages import managers

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


def test_the_managers_outcome_from_the_customers_few_columns_is_the_outcome_from_all(sample_report, out_root, monkeypatch):
    study = open_study(ROOT / "params/sample.yaml", out_root)
    assert study.params.tiering.previous_run  # the retention and growth against last quarter are compared too
    assert len(managers.CUSTOMER_COLUMNS) < len(study.read(catalog.CUSTOMERS).columns) / 4
    few = managers.outcome_of(study)
    monkeypatch.setattr(managers, "CUSTOMER_COLUMNS", None)
    whole = managers.outcome_of(study)
    assert few.assignment is not None and len(few.scorecard) > 1
    for name in ("scorecard", "levels", "matrix", "assignment", "loads"):
        pd.testing.assert_frame_equal(getattr(few, name), getattr(whole, name), check_exact=True, obj=name)
    assert few.record == whole.record
