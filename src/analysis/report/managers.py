"""The report's 客户经理 / Account managers section: the scorecard, the fair comparison and the levels.

Built from stage 6's outputs (manager_scorecard.parquet, manager_levels.parquet, managers.json).
Managers are shown by name when ``managers.show_names`` is true, else by a code (KM-01, KM-02, … in
the order of their ids). :func:`capacity_blocks` is the sub-section on hours and portfolios, with
who should serve whom (assignment.parquet, manager_loads.parquet and managers.json → assignment,
capacity_plan): the summary, the recommended capacity plan and its options, each manager's load
before and after, and the handover list — customers as salted codes, as in the watch list.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from analysis.frame import catalog
from analysis.frame.privacy import ensure_salt, mask_customers
from analysis.frame.study import Study
from analysis.i18n import joined, message, render, text, tier_ref
from analysis.report import charts
from analysis.report.blocks import Section, bullets, image, paragraph, table
from analysis.report.localize import localize

#: The row of customers whose account manager matches no manager (methods.managers.UNASSIGNED).
UNASSIGNED = "unassigned"
#: Rows of the handover list shown in the report (the highest values first); the file holds them all.
HANDOVER_SHOWN = 30
#: Relative gap to the solver's bound (its default MILP gap) within which the report calls the assignment optimal.
OPTIMAL_GAP = 1e-6


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


def capacity_blocks(study: Study, language: str, card: pd.DataFrame, record: dict[str, Any],
                    tier_names: dict[int, str] | None = None) -> list[str]:
    """Hours and portfolio sizes: who is over their hours or their largest portfolio, and the hours per level;
    then, when stage 6 assigned the customers, who should serve whom (:func:`assignment_blocks`).

    ``card`` carries each manager's label (``who``); ``tier_names`` names the tiers.
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
    if record.get("assignment"):
        blocks += assignment_blocks(study, language, card, record, tier_names)
    return blocks


def _money(value: float, study: Study, language: str) -> str:
    from analysis.report.sections import money  # sections imports this module

    return money(value, study, language)


def _plan_detail(row: dict[str, Any], language: str, tier_names: dict[int, str] | None) -> str:
    """What an option changes, in words: managers added per level, or the tiers' lower cadence."""
    if row["option"] == "add_managers":
        counts = [message("assignment_plan_level_count", count=k, staff=message(f"playbook_staff_{lv}"))
                  for lv, k in row["managers_added"].items() if k > 0]
        return render(joined(counts), language, tier_names) if counts else "—"
    if row["option"] == "lower_cadence":
        return text("managers_plan_cadence_detail", language,
                    tiers=render(joined(tier_ref(t) for t in row["tiers"]), language, tier_names),
                    reduction=1.0 - float(row["cadence_factor"]))
    return "—"


def plan_table(plan: dict[str, Any], study: Study, language: str, tier_names: dict[int, str] | None) -> pd.DataFrame:
    """The capacity plan's options: what each changes, customers still unserved, value lost, cost, whether it fits."""
    dash = "—"
    rows = []
    for i, row in enumerate(plan["options"]):
        mark = " ★" if i == plan.get("recommended") else ""
        rows.append({
            text("managers_col_option", language): text(f"managers_option_{row['option']}", language) + mark,
            text("managers_col_change", language): _plan_detail(row, language, tier_names),
            text("managers_col_unserved", language): f"{int(row['unassigned']):,}",
            text("managers_col_value_lost", language): (
                _money(row["value_lost"], study, language) if row.get("value_lost") is not None else dash),
            text("managers_col_extra_cost", language): _money(row.get("extra_cost") or 0.0, study, language),
            text("managers_col_fits", language): text("managers_fits_yes" if row["fits"] else "managers_fits_no", language),
        })
    return pd.DataFrame(rows)


def loads_table(loads: pd.DataFrame, who: dict[str, str], language: str) -> tuple[pd.DataFrame, dict[str, str]]:
    """Each manager's accounts and hours before and after the assignment, against the hours available."""
    columns = {
        "who": "managers_col_manager", "level": "managers_col_level", "region": "managers_col_region",
        "hours_available": "managers_col_hours_available", "accounts_before": "managers_col_accounts_before",
        "accounts_after": "managers_col_accounts_after", "hours_before": "managers_col_hours_before",
        "hours_after": "managers_col_hours_after", "utilisation_before": "managers_col_utilisation_before",
        "utilisation_after": "managers_col_utilisation_after",
    }
    frame = loads.assign(who=loads["manager_id"].astype(str).map(who).fillna(loads["manager_id"].astype(str)))
    frame = frame.sort_values("who", kind="stable")
    present = {c: text(k, language) for c, k in columns.items() if c in frame.columns}
    formats = {"hours_available": ",.0f", "hours_before": ",.1f", "hours_after": ",.1f",
               "utilisation_before": ".0%", "utilisation_after": ".0%"}
    shown = frame[list(present)].rename(columns=present)
    return shown, {present[c]: f for c, f in formats.items() if c in present}


def handover_table(study: Study, assignment: pd.DataFrame, who: dict[str, str], language: str,
                   tier_names: dict[int, str] | None) -> tuple[pd.DataFrame, int]:
    """Customers who should change manager, the most valuable first, masked as in the watch list
    (salted codes, never ids or names); returns the rows shown and how many there are in all."""
    moved = assignment[assignment["reason"].astype(str).str.startswith("moved")]
    moved = moved.sort_values(["value", "customer_id"], ascending=[False, True], kind="stable")
    masked = mask_customers(moved.head(HANDOVER_SHOWN), ensure_salt(study.processed_dir))
    masked = localize(masked.assign(tier_name=""), language, tier_names, output=catalog.ASSIGNMENT)

    def label(v: Any) -> str:
        return "—" if v is None or pd.isna(v) else who.get(str(v), str(v))

    shown = pd.DataFrame({
        text("col_customer", language): masked["customer_id"],
        text("col_tier", language): masked["tier_name"],
        text("col_clv", language): masked["value"].astype(float),
        text("managers_col_current_manager", language): [label(v) for v in masked["current_manager"]],
        text("managers_col_recommended_manager", language): [label(v) for v in masked["recommended_manager"]],
        text("managers_col_reason", language): masked["reason"],
    })
    return shown, len(moved)


def assignment_blocks(study: Study, language: str, card: pd.DataFrame, record: dict[str, Any],
                      tier_names: dict[int, str] | None = None) -> list[str]:
    """Who should serve whom: the summary, the capacity plan (recommendation, options, hours per level
    before and after it), each manager's load before and after, and the handover list."""
    a = record["assignment"]
    plan = record.get("capacity_plan") or {}
    who = dict(zip(card["manager_id"].astype(str), card["who"].astype(str)))
    blocks = [paragraph(text("managers_assignment_intro", language))]
    if a.get("rules", {}).get("keep_higher_level"):
        blocks.append(paragraph(text("managers_assignment_keep", language)))
    gap = a.get("relative_gap")
    if gap is not None:
        blocks.append(paragraph(text("managers_assignment_optimal" if gap <= OPTIMAL_GAP
                                     else "managers_assignment_near_optimal", language, gap=gap)))
    blocks.append(paragraph(text(
        "managers_assignment_summary", language, staffed=a["staffed_customers"], kept=a["kept"], moved=a["moved"],
        new=a["assigned_new"], unassigned=a["unassigned"], no_room=a["unassigned_no_capacity"],
        no_manager=a["unassigned_no_manager"], pooled=a["pooled_by_playbook"])))
    blocks.append(paragraph(text(
        "managers_assignment_value", language, before=_money(a["value_before"], study, language),
        after=_money(a["value_after"], study, language),
        gained=("+" if a["value_gained"] >= 0 else "−") + _money(abs(a["value_gained"]), study, language),
        unconstrained=_money(a["value_unconstrained"], study, language))))
    if plan.get("note"):
        blocks.append(paragraph(render(plan["note"], language, tier_names)))
    if plan.get("binding") and plan.get("options"):
        blocks.append(table(plan_table(plan, study, language, tier_names)))
        blocks.append(paragraph(text("managers_plan_star", language), "note"))
    if plan.get("levels"):
        blocks.append(bullets([
            text("managers_plan_level", language, level=text(f"playbook_level_{row['level']}", language),
                 needed=row["hours_needed"], available=row["hours_available"],
                 share=row["utilisation"] if row["utilisation"] is not None else float("nan"),
                 needed_after=row["hours_needed_after"], available_after=row["hours_available_after"],
                 share_after=row["utilisation_after"] if row["utilisation_after"] is not None else float("nan"))
            for row in plan["levels"] if row["tiers"]]))
    loads = study.read_optional(catalog.MANAGER_LOADS)
    if loads is not None and len(loads):
        blocks.append(paragraph(text("managers_loads_intro", language)))
        shown, formats = loads_table(localize(loads, language, output=catalog.MANAGER_LOADS), who, language)
        blocks.append(table(shown, formats=formats))
    assignment = study.read_optional(catalog.ASSIGNMENT)
    if assignment is not None:
        shown, total = handover_table(study, assignment, who, language, tier_names)
        if total:
            blocks.append(paragraph(text("managers_handover_intro", language, shown=len(shown), n=total)))
            blocks.append(table(shown, formats={text("col_clv", language): ",.0f"}))
        else:
            blocks.append(paragraph(text("managers_handover_none", language)))
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
    blocks += capacity_blocks(study, language, card, record, out.tier_names())
    return Section("managers", title, blocks)
