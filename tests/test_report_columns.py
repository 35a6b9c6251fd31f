"""The report reads few columns of the large tables (``REPORT_COLUMNS``): the same page as from whole tables."""

from __future__ import annotations

from pathlib import Path

import pytest

from analysis.frame import catalog
from analysis.frame.study import open_study
from analysis.report import sections
from analysis.report.build import render_report
from tests.test_other_languages import without_time

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("language", ["zh", "en"])
def test_the_page_from_the_customers_few_columns_is_the_page_from_all(sample_report, out_root, monkeypatch, language):
    study = open_study(ROOT / "params/sample.yaml", out_root)
    assert len(sections.REPORT_COLUMNS[catalog.CUSTOMERS]) < len(study.read(catalog.CUSTOMERS).columns) / 4
    few = render_report(study, language)
    monkeypatch.setattr(sections, "REPORT_COLUMNS", {})
    whole = render_report(study, language)
    assert without_time(few) == without_time(whole)
