"""The Trends section (历史趋势): the run's tiers quarter by quarter, from the study history.

The report is built before the run is published, so the history does not hold this quarter yet:
the section reads the history read-only for the other quarters of the run's series and adds this
run's own figures, gathered from its outputs by the same :func:`analysis.frame.history.collect`
that adds them to the history when the run is published (:func:`analysis.frame.history.quarters`).
A stored quarter of the same run name or period end is the one this run replaces, and is left out.

With the history disabled (``history.enabled: false``) the report has no such section; with only
this quarter, it says so in one sentence and shows this quarter's figures.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from analysis.frame import history
from analysis.frame.study import Study
from analysis.i18n import text
from analysis.report import charts
from analysis.report.blocks import Section, image, paragraph, table
from analysis.report.localize import tier_name

#: The figures drawn, one panel each: (history column, title key, shown as a percentage).
PANELS: tuple[tuple[str, str, bool], ...] = (
    ("customers", "col_customers", False),
    ("clv_share", "col_clv_share", True),
    ("p_alive_mean", "col_p_alive", True),
    ("nps", "col_nps", False),
    ("csat_mean", "col_csat", False),
    ("complaints_per_100", "col_complaints_per_100", False),
    ("churn_risk_mean", "trends_churn_risk", True),
    ("budget", "col_budget", False),
)
#: Formats of the table of one quarter's figures.
FORMATS = {"customers": ",.0f", "clv_share": ".1%", "p_alive_mean": ".1%", "nps": "+.0f", "csat_mean": ".2f",
           "complaints_per_100": ".1f", "churn_risk_mean": ".1%", "budget": ",.0f"}


def quarter_label(period_end: Any) -> str:
    """``2025Q4`` for a period ending on a quarter's last day, else the end date."""
    end = pd.Timestamp(period_end)
    if end.month % 3 == 0 and end.is_month_end:
        return f"{end.year}Q{end.month // 3}"
    return end.date().isoformat()


def trends_table(quarters: pd.DataFrame, language: str, names: dict[int, str]) -> pd.DataFrame:
    """The figures of the panels per tier, columns labelled in ``language``, tiers by this run's names."""
    shown = quarters.assign(tier_name=[tier_name(t, language, names) for t in quarters["tier"]])
    labels = {"tier_name": text("col_tier", language)} | {c: text(key, language) for c, key, _ in PANELS}
    return shown[list(labels)].rename(columns=labels)


def trends_section(study: Study, language: str, out: Any) -> Section | None:
    """Per tier, the figures of every quarter of the run's series; None when the history is disabled."""
    quarters = history.quarters(study)
    if quarters is None or quarters.empty:
        return None
    names = out.tier_names()
    title = text("sec_trends", language)
    ends = list(dict.fromkeys(quarters["period_end"]))
    if len(ends) == 1:
        formats = {text(key, language): FORMATS[c] for c, key, _ in PANELS}
        return Section("trends", title, [
            paragraph(text("trends_one_quarter", language, quarter=quarter_label(ends[0]))),
            table(trends_table(quarters, language, names), formats=formats),
        ])
    shown = quarters.assign(
        quarter=[quarter_label(e) for e in quarters["period_end"]],
        tier_name=[tier_name(t, language, names) for t in quarters["tier"]],
    )
    panels = [(column, text(key, language), percent) for column, key, percent in PANELS]
    blocks = [
        paragraph(text("trends_intro", language, n=len(ends), first=quarter_label(ends[0]), last=quarter_label(ends[-1]))),
        image(charts.trends_chart(shown, panels, text("chart_trends", language)), text("chart_trends", language)),
    ]
    tiers_per_quarter = quarters.groupby("period_end")["tier"].nunique()
    if tiers_per_quarter.nunique() > 1:
        blocks.append(paragraph(text("trends_tier_count_changed", language), "warn"))
    blocks.append(paragraph(text("trends_tiers_by_number", language)))
    return Section("trends", title, blocks)
