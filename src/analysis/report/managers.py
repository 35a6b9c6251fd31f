"""The report's 客户经理 / Account managers section: the scorecard, the fair comparison and the levels.

Built from stage 6's outputs (manager_scorecard.parquet, manager_levels.parquet, managers.json).
Managers are shown by name when ``managers.show_names`` is true, else by a code (KM-01, KM-02, … in
the order of their ids). :func:`capacity_blocks` is the sub-section on hours and portfolios: the
assignment and capacity plan goes there.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from analysis.frame import catalog
from analysis.frame.study import Study
from analysis.i18n import render, text
from analysis.report import charts
from analysis.report.blocks import Section, bullets, image, paragraph, table

#: The row of customers whose account manager matches no manager (methods.managers.UNASSIGNED).
UNASSIGNED = "unassigned"


def manager_labels(card: pd.DataFrame, show_names: bool, language: str) -> pd.Series:
    """What the report calls each manager: the name, or KM-01, KM-02, … in manager-id order."""
    ids = card["manager_id"].astype(str)
    order = sorted(i for i in ids if i != UNASSIGNED)
    codes = {manager_id: f"KM-{n:02d}" for n, manager_id in enumerate(order, start=1)}
    codes[UNASSIGNED] = text("managers_unassigned_row", language)
    if show_names and "name" in card.columns:
        return pd.Series([codes[i] if i == UNASSIGNED else str(n) for i, n in zip(ids, card["name"])], index=card.index)
    return ids.map(codes)


def _interval(row: pd.Series, name: str, spec: str) -> str:
    low, high = row.get(f"{name}_low"), row.get(f"{name}_high")
    if pd.isna(low) or pd.isna(high):
        return "—"
    return f"{format(low, spec)} … {format(high, spec)}"


def scorecard_table(card: pd.DataFrame, language: str) -> tuple[pd.DataFrame, dict[str, str]]:
    """The scorecard's columns in ``language`` and their number formats."""
    columns = {
        "who": "managers_col_manager", "level": "managers_col_level", "region": "managers_col_region",
        "customers": "managers_col_customers", "revenue": "managers_col_revenue", "clv": "managers_col_clv",
        "growth": "managers_col_growth", "retention": "managers_col_retention",
        "satisfaction": "managers_col_satisfaction", "nps": "managers_col_nps",
        "complaints_per_100": "managers_col_complaints", "resolution_days": "managers_col_resolution",
        "hours_due": "managers_col_hours_due", "hours_per_month": "managers_col_hours_available",
        "utilisation": "managers_col_utilisation",
    }
    formats = {"revenue": ",.0f", "clv": ",.0f", "growth": "+.1%", "retention": ".1%", "satisfaction": ".2f",
               "nps": "+.0f", "complaints_per_100": ".1f", "resolution_days": ".1f", "hours_due": ",.0f",
               "hours_per_month": ",.0f", "utilisation": ".0%"}
    present = {c: text(k, language) for c, k in columns.items() if c in card.columns}
    return card[list(present)].rename(columns=present), {present[c]: f for c, f in formats.items() if c in present}


def adjusted_table(card: pd.DataFrame, language: str) -> pd.DataFrame:
    """Observed, expected from the mix and adjusted (with its interval), and the two ranks."""
    rows = []
    for _, r in card.iterrows():
        rows.append({
            text("managers_col_manager", language): r["who"],
            text("managers_col_customers", language): r["customers"],
            text("managers_col_retention", language): f"{r['retention']:.1%}" if pd.notna(r.get("retention")) else "—",
            text("managers_col_expected", language): f"{r['retention_expected']:.1%}" if pd.notna(r.get("retention_expected")) else "—",
            text("managers_col_adjusted", language): f"{r['retention_adjusted']:+.1%}" if pd.notna(r.get("retention_adjusted")) else "—",
            text("managers_col_interval", language): _interval(r, "retention", "+.1%"),
            text("managers_col_raw_rank", language): r.get("raw_rank"),
            text("managers_col_adjusted_rank", language): r.get("adjusted_rank"),
            text("managers_col_satisfaction_adjusted", language): (
                f"{r['satisfaction_adjusted']:+.2f}" if pd.notna(r.get("satisfaction_adjusted")) else "—"),
            text("managers_col_level_code", language): r.get("performance_level") or "—",
        })
    return pd.DataFrame(rows)


def capacity_blocks(study: Study, language: str, card: pd.DataFrame, record: dict[str, Any]) -> list[str]:
    """Hours and portfolio sizes: who is over their hours or their largest portfolio, and the hours per level.

    This is the sub-section where the assignment and capacity plan (which customers to move to whom)
    goes: it receives the same scorecard and record.
    """
    blocks = [paragraph(text("managers_capacity_intro", language))]
    staff = card[card["manager_id"] != UNASSIGNED]
    over = staff[staff["utilisation"] > 1]
    if len(over):
        blocks.append(bullets([
            text("managers_over_hours", language, who=r["who"], due=r["hours_due"], available=r["hours_per_month"])
            for _, r in over.iterrows()]))
    else:
        blocks.append(paragraph(text("managers_within_hours", language)))
    crowded = staff[staff.get("over_max_accounts", pd.Series(False, index=staff.index)).fillna(False).astype(bool)]
    if len(crowded):
        blocks.append(bullets([
            text("managers_over_accounts", language, who=r["who"], n=int(r["customers"]), cap=int(r["max_accounts"]))
            for _, r in crowded.iterrows()]))
    by_level = staff.groupby("level", sort=False)[["hours_due", "hours_per_month"]].sum()
    blocks.append(bullets([
        text("managers_level_hours", language, level=level, due=row["hours_due"], available=row["hours_per_month"],
             share=row["hours_due"] / row["hours_per_month"] if row["hours_per_month"] > 0 else float("nan"))
        for level, row in by_level.iterrows()]))
    return blocks


def managers_section(study: Study, language: str, out: Any) -> Section | None:
    """The 客户经理 / Account managers section; None when the run has no stage-6 record."""
    record = out.get(catalog.MANAGERS_JSON)
    if record is None:
        return None
    title = text("sec_managers", language)
    if record.get("source") is None:
        return Section("managers", title, [paragraph(render(record.get("skipped"), language))])
    card = out.get(catalog.MANAGER_SCORECARD)
    matrix = out.get(catalog.MANAGER_LEVELS)
    if card is None or matrix is None:
        return None
    card = card.assign(who=manager_labels(card, study.params.managers.show_names, language))
    blocks = [paragraph(render(note, language)) for note in record.get("notes", [])]
    blocks.append(paragraph(text("managers_intro", language)))
    shown, formats = scorecard_table(card, language)
    blocks.append(table(shown, formats=formats))
    blocks.append(paragraph(render(record["adjustment"], language)))
    ranked = card[card["manager_id"] != UNASSIGNED].sort_values("adjusted_rank")
    blocks.append(image(charts.managers_chart(ranked, language), text("chart_managers_title", language)))
    blocks.append(table(adjusted_table(ranked, language)))
    corr = record.get("raw_vs_adjusted_rank_corr")
    if corr is not None:
        blocks.append(paragraph(text("managers_rank_corr", language, corr=corr), "note"))
    blocks.append(paragraph(text("managers_levels_intro", language)))
    blocks.append(paragraph(render(record["level_rule"], language)))
    header = {"performance_level": text("managers_col_level_code", language),
              **{band: text(f"managers_value_{band}", language) for band in ("high", "medium", "low")}}
    blocks.append(table(matrix.rename(columns=header)))
    levels = ranked.groupby("performance_level", sort=True)["who"].apply(text("separator_list", language).join)
    blocks.append(bullets([f"{level}: {names}" for level, names in levels.items()]))
    blocks += capacity_blocks(study, language, card, record)
    return Section("managers", title, blocks)
