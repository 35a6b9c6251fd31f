"""The report reads few columns of the large tables (``REPORT_COLUMNS``): the same page as from whole tables."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from analysis.frame import catalog
from analysis.frame.study import open_study
from analysis.report import sections
from analysis.report.build import render_report

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
GENERATED = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC")  # the page's "generated" minute


@pytest.mark.parametrize("language", ["zh", "en"])
def test_the_page_from_the_customers_few_columns_is_the_page_from_all(sample_report, out_root, monkeypatch, language):
    study = open_study(ROOT / "params/sample.yaml", out_root)
    assert len(sections.REPORT_COLUMNS[catalog.CUSTOMERS]) < len(study.read(catalog.CUSTOMERS).columns) / 4
    few = render_report(study, language)
    monkeypatch.setattr(sections, "REPORT_COLUMNS", {})
    whole = render_report(study, language)
    assert GENERATED.sub("", few) == GENERATED.sub("", whole)
