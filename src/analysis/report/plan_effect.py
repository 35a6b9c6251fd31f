"""The report's 管理效果评估 / Did last quarter's plan work? section.

Built from stage 5's plan_effect.json (:func:`analysis.stages.allocation.compute_plan_effect`): one
sentence with the adjusted estimate of getting the recommended cadence on buying in the quarter, its
interval and the naive comparison beside it; the observational caveat; a chart of the two; a table of
every outcome (buying, spend change, NPS of the surveyed); the overlap check and the method.
A run whose record was skipped shows the reason; a run without the record or without a contact log in its
params has no section.
"""

from __future__ import annotations

import math
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd

from analysis.frame import catalog
from analysis.frame.study import Study
from analysis.i18n import render, text
from analysis.report import charts
from analysis.report.blocks import Section, bullets, image, paragraph, table

#: The outcome the headline sentence and the chart are about.
HEADLINE = "bought"


def _shown(value: float | None, outcome: str, study: Study, language: str) -> str:
    """An effect as a reader reads it: points for buying and NPS, money for spend."""
    if value is None or not math.isfinite(value):
        return "—"
    if outcome == "bought":
        return text("plan_effect_points", language, value=100 * value)
    if outcome == "nps":
        return f"{value:+.1f}"
    from analysis.report.sections import money  # sections imports this module

    shown = money(value, study, language)
    return shown if value < 0 else f"+{shown}"


def _capitalised(words: str) -> str:
    return words[:1].upper() + words[1:]


def plan_effect_chart(result: dict[str, Any], language: str) -> plt.Figure:
    """The adjusted estimate and the naive difference on buying, each with its interval, in points."""
    charts.use_theme()
    fig, ax = plt.subplots(figsize=(7, 2.4))
    rows = [("naive", charts.PALETTE[5], "chart_plan_effect_naive"),
            ("estimate", charts.PALETTE[0], "chart_plan_effect_adjusted")]
    for y, (key, color, _) in enumerate(rows):
        low, high = (result["naive_low"], result["naive_high"]) if key == "naive" else (result["low"], result["high"])
        value = 100 * result[key]
        ax.errorbar([value], [y], xerr=[[value - 100 * low], [100 * high - value]], fmt="o", capsize=4,
                    color=color)
    ax.axvline(0, color=charts.PALETTE[5], linewidth=0.8)
    ax.set_yticks([0, 1], [text(label, language) for _, _, label in rows])
    ax.set_ylim(-0.6, 1.6)
    ax.set_xlabel(text("chart_plan_effect_axis", language))
    ax.set_title(text("chart_plan_effect_title", language), fontsize=10)
    return fig


def outcomes_table(record: dict[str, Any], study: Study, language: str) -> pd.DataFrame:
    """One row per outcome: estimate, interval, naive difference and the two groups' sizes."""
    rows = []
    for outcome, result in record["outcomes"].items():
        estimate = result.get("estimate")
        rows.append({
            text("plan_effect_col_outcome", language): _capitalised(text(f"plan_effect_outcome_{outcome}", language)),
            text("plan_effect_col_estimate", language): _shown(estimate, outcome, study, language),
            text("plan_effect_col_interval", language): (
                "—" if estimate is None or result.get("low") is None else
                f"{_shown(result['low'], outcome, study, language)} … {_shown(result['high'], outcome, study, language)}"),
            text("plan_effect_col_naive", language): _shown(result.get("naive"), outcome, study, language),
            text("plan_effect_col_treated", language): f"{result['n_treated']:,}",
            text("plan_effect_col_control", language): f"{result['n_control']:,}",
        })
    return pd.DataFrame(rows)


def plan_effect_section(study: Study, language: str, out: Any) -> Section | None:
    """The 管理效果评估 / Did last quarter's plan work? section; None when the run has no plan_effect.json
    or its params give no contact log (the comparison is not in use)."""
    record = out.get(catalog.PLAN_EFFECT)
    if record is None or study.params.inputs.contacts is None:
        return None
    title = text("sec_plan_effect", language)
    if record.get("skipped") is not None:
        return Section("plan_effect", title, [paragraph(render(record["skipped"], language))])
    quarter = record["quarter"]
    blocks = [paragraph(text("plan_effect_intro", language, treated=record["n_treated"],
                             customers=record["n_customers"], start=quarter["start"], end=quarter["end"]))]
    head = record["outcomes"][HEADLINE]
    outcome_words = text(f"plan_effect_outcome_{HEADLINE}", language)
    if head.get("estimate") is None:
        blocks.append(paragraph(text("plan_effect_headline_none", language, outcome=outcome_words,
                                     reason=render(head["reason"], language))))
    else:
        blocks.append(paragraph(text(
            "plan_effect_headline", language, outcome=outcome_words, level=head["level"],
            estimate=_shown(head["estimate"], HEADLINE, study, language),
            low=_shown(head["low"], HEADLINE, study, language), high=_shown(head["high"], HEADLINE, study, language),
            naive=_shown(head["naive"], HEADLINE, study, language))))
    blocks.append(paragraph(render(head["caveat"], language), "note"))
    if head.get("estimate") is not None and head.get("low") is not None:
        blocks.append(image(plan_effect_chart(head, language), text("chart_plan_effect_title", language)))
    blocks.append(table(outcomes_table(record, study, language)))
    overlap = head.get("overlap")
    if overlap and overlap.get("treated") and overlap.get("control"):
        blocks.append(paragraph(text(
            "plan_effect_overlap", language, t_min=overlap["treated"][0], t_max=overlap["treated"][-1],
            c_min=overlap["control"][0], c_max=overlap["control"][-1], extreme=overlap["share_extreme"],
            outside=head["n_outside_support"])))
    left_out = [text("plan_effect_tier_skipped", language, tier=s["tier"], reason=render(s["reason"], language))
                for result in record["outcomes"].values() for s in result["strata"] if s.get("reason") is not None]
    if left_out:
        blocks.append(bullets(left_out))
    blocks.append(paragraph(text("plan_effect_method", language, n_boot=head["n_boot"]), "note"))
    return Section("plan_effect", title, blocks)
