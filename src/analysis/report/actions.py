"""The report's Actions section: the win-back list and the cross-sell suggestions of stage 5.

The win-back list shows its first :data:`WINBACK_SHOWN` customers as salted codes (as the watch list
does: never ids, names or phones); the cross-sell part shows how often each category is suggested
to the tiers of ``actions.cross_sell_tiers`` and, in one sentence, how the suggestions did on the
holdout against the popularity baseline (``cross_sell_validation.json``).
"""

from __future__ import annotations

import html
from typing import Any

import pandas as pd

from analysis.frame import catalog
from analysis.frame.privacy import ensure_salt, mask_customers
from analysis.frame.study import Study
from analysis.i18n import render, text
from analysis.report.blocks import Section, paragraph, table
from analysis.report.localize import tier_name

#: How many win-back customers the report lists, highest value at stake first.
WINBACK_SHOWN = 20


def actions_section(study: Study, language: str, out: Any) -> Section | None:
    """Win-back and cross-sell, or None when stage 5 wrote neither (a run from before them)."""
    winback = out.get(catalog.WINBACK)
    validation = out.get(catalog.CROSS_SELL_VALIDATION)
    if winback is None and validation is None:
        return None
    blocks: list[str] = []
    if winback is not None:
        blocks += winback_blocks(study, language, out, winback)
    if validation is not None:
        blocks += cross_sell_blocks(language, out, validation)
    return Section("actions", text("sec_actions", language), blocks)


def winback_blocks(study: Study, language: str, out: Any, winback: pd.DataFrame) -> list[str]:
    """The list's figures in a sentence, then its first customers, masked."""
    # sections lists this builder, so it is imported here, not at the top
    from analysis.report.sections import localized, money

    blocks = [f"<h3>{html.escape(text('actions_winback_title', language))}</h3>"]
    summary = (out.get(catalog.ALLOCATION_JSON) or {}).get("winback")
    if winback.empty:
        return [*blocks, paragraph(text("actions_winback_none", language))]
    if summary:
        a = study.params.actions
        blocks.append(paragraph(text(
            "actions_winback_intro", language, lost=summary["lost"], valuable=summary["valuable"],
            p_alive=a.winback_max_p_alive, floor=money(summary["floor"] or 0.0, study, language),
            top=1 - a.winback_value_quantile, listed=summary["listed"],
            revenue=money(summary["revenue"], study, language), value=money(summary["value_at_stake"], study, language),
        )))
    shown = mask_customers(winback, ensure_salt(study.processed_dir)).head(WINBACK_SHOWN)  # codes, never ids
    shown = shown.assign(last_purchase=pd.to_datetime(shown["last_purchase"]).dt.strftime("%Y-%m-%d"))
    columns = {"customer_id": "col_customer", "tier_name": "col_tier", "last_purchase": "col_last_purchase",
               "days_since_last": "col_days_since", "revenue": "col_revenue", "value_at_stake": "col_value_at_stake",
               "reasons": "col_reasons"}
    formats = {text("col_revenue", language): ",.0f", text("col_value_at_stake", language): ",.0f",
               text("col_days_since", language): ","}
    if len(winback) > WINBACK_SHOWN:
        blocks.append(paragraph(text("actions_winback_shown", language, n=WINBACK_SHOWN, listed=len(winback)), "note"))
    blocks.append(table(localized(shown, columns, language), formats=formats))
    return blocks


def cross_sell_blocks(language: str, out: Any, validation: dict[str, Any]) -> list[str]:
    """The suggested categories of the cross-sell tiers and the holdout check in one sentence."""
    names = out.tier_names()
    tiers = "、".join if language == "zh" else ", ".join
    tier_words = tiers(tier_name(t, language, names) for t in validation.get("tiers") or [])
    blocks = [f"<h3>{html.escape(text('actions_cross_sell_title', language, tiers=tier_words))}</h3>"]
    if validation.get("reason") and validation.get("suggested_categories") is None:
        return [*blocks, paragraph(render(validation["reason"], language), "warn")]
    categories = pd.DataFrame(validation.get("suggested_categories") or [])
    if categories.empty:
        blocks.append(paragraph(text("actions_cross_sell_none", language, tiers=tier_words)))
    else:
        blocks.append(paragraph(text(
            "actions_cross_sell_intro", language, customers=int(validation["suggested_customers"]),
            tier_customers=int(validation["tier_customers"]), tiers=tier_words, k=int(validation["k"]),
        )))
        shown = categories.rename(columns={
            "category": text("col_category", language), "customers": text("col_suggested_to", language),
            "first_choice": text("col_first_choice", language), "share": text("col_suggested_share", language),
        })
        blocks.append(table(shown, formats={text("col_suggested_share", language): ".0%"}))
    blocks.append(validation_paragraph(language, validation))
    return blocks


def validation_paragraph(language: str, validation: dict[str, Any]) -> str:
    """The holdout check: hit rate of the suggestions and of the baseline, their difference, the verdict."""
    if not validation.get("usable"):
        return paragraph(render(validation["reason"], language), "warn")
    method, base, diff = validation["method_figures"], validation["baseline_figures"], validation["difference"]
    sentence = text(
        "actions_cross_sell_validation", language, months=validation["holdout_months"], cutoff=validation["cutoff"],
        k=validation["k"], rate=method["hit_rate"], low=method["low"], high=method["high"],
        confidence=validation["confidence"], n=validation["n_customers"], base=base["hit_rate"],
        base_low=base["low"], base_high=base["high"], diff=diff["estimate"], diff_low=diff["low"],
        diff_high=diff["high"],
    )
    verdict = text("actions_cross_sell_beats" if validation["beats_baseline"] else "actions_cross_sell_not_beats",
                   language)
    return paragraph(f"{sentence} {verdict}" if language == "en" else sentence + verdict)
