"""The sections of the manager report, each built from the stage outputs of one run.

A builder returns ``None`` when the run lacks what it needs (e.g. no previous quarter); the report
then simply has no such section. An analysis a stage left out because the data were too thin is
recorded in that stage's outputs (``models.json``, ``tiering.json``, ``experience.json`` →
``skipped``); its note is shown, in the report's language, in the section the analysis belongs
to, and the section shows whatever else the run has. Every text comes from :mod:`analysis.i18n`
or from the zh/en labels of the library modules; no personal data (names, phones, full ids)
reaches the report.
"""

from __future__ import annotations

import html
import math
from collections import Counter
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pyarrow as pa

from analysis.frame import catalog
from analysis.frame.privacy import ensure_salt, mask_customers
from analysis.frame.study import Study
from analysis.i18n import TEXTS, reason_label, render, text
from analysis.methods import profiles, quality_gate, satisfaction
from analysis.methods.ids import is_in
from analysis.report import charts
from analysis.report.actions import actions_section
from analysis.report.blocks import Section, bullets, figure_cards, image, paragraph, table, thin
from analysis.report.localize import code_label, localize, tier_name, tier_names
from analysis.report.managers import managers_section
from analysis.report.plan_effect import plan_effect_section
from analysis.report.tier_profiles import mix_in_language
from analysis.report.tier_rules import format_number, rule_text
from analysis.report.trends import trends_section
from analysis.report.uncertainty import clv_interval_sentence, uncertainty_sentence, with_intervals

#: Stage-4 skips shown in the watch-list section; the others belong to satisfaction and loyalty.
WATCH_SKIPS = ("churn_model",)
#: Stage-3 skips of the stable-tier settings, shown in the tiers section.
STABILITY_SKIPS = ("carry_cutoffs", "hysteresis")
#: How many of the customers who changed tier the migration section lists, highest value first.
MOVERS_SHOWN = 10
#: The columns the report reads of an output, where it needs few of many: of the customers table's
#: 60 or so, these 11 (10M-row export: 0.1 GB of 0.46 in pandas, in each process rendering a language).
#: ``tests/test_report_columns.py`` renders the sample's report from the whole table too and compares.
REPORT_COLUMNS = {
    catalog.CUSTOMERS: ("customer_id", "tier", "tier_name", "revenue", "clv", "clv_low", "clv_high",
                        "segment", "industry", "region", "churn_risk"),
}


class RunOutputs:
    """Lazy access to a run's stage outputs in one report language; missing files read as None.

    Tables come localized (:func:`analysis.report.localize.localize`): tier names in the report's
    language (from tiering.json), rows without a tier being the overall row, messages and codes
    in words.
    """

    def __init__(self, study: Study, language: str, shared: dict[str, Any] | None = None) -> None:
        self.study = study
        self.language = language
        self._cache: dict[str, Any] = {}
        # results without a language, kept for the run's other report languages
        self._shared = shared if shared is not None else {}

    def tier_names(self) -> dict[int, str]:
        """Tier number → name in the report's language, for the ``n_tiers`` tiers of tiering.json."""
        if "tier_names" not in self._cache:
            self._cache["tier_names"] = tier_names(self.study, self.language)
        return self._cache["tier_names"]

    def get(self, name: str) -> Any:
        """The run output ``name`` (a :mod:`analysis.frame.catalog` name), or None when the run has none."""
        if name not in self._cache:
            if catalog.entry(name).format == "parquet":
                # read once for all the report's languages (customers.parquet is the largest), each
                # language localizing its own copy of it
                found = self.shared(f"output:{name}", lambda: self.study.read_optional(name, REPORT_COLUMNS.get(name)))
            else:  # a json record: read per language
                found = self.study.read_optional(name)
            if isinstance(found, pd.DataFrame):
                found = localize(found, self.language, self.tier_names(), output=name)
            self._cache[name] = found
        return self._cache[name]

    def shared(self, key: str, compute: Callable[[], Any]) -> Any:
        """``compute()``, run once for all the run's report languages (for results without a language)."""
        if key not in self._shared:
            self._shared[key] = compute()
        return self._shared[key]

    def purchase_mix(self, column: str) -> pd.DataFrame | None:
        """Each tier's spend share per ``column`` category (one of
        :data:`~analysis.methods.profiles.PURCHASE_MIX_COLUMNS`), as stage 3 summed it
        (tier_purchase_mix.parquet); None when the transactions lack the column.
        A run published before stage 3 wrote the file has it summed here, from its transactions."""

        def read() -> pd.DataFrame:
            stored = self.study.read_optional(catalog.TIER_PURCHASE_MIX)
            if stored is not None:
                return stored
            return profiles.purchase_mix_table(profiles.tier_purchase_mix(
                self.study.require(catalog.TRANSACTIONS), self.get(catalog.CUSTOMERS), profiles.PURCHASE_MIX_COLUMNS,
                memory_limit=self.study.params.scoring.engine_memory_limit))

        return profiles.purchase_mix_of(self.shared("purchase_mix", read), column)


def money(value: float, study: Study, language: str) -> str:
    """An amount as a manager reads it: 亿/万 in Chinese; in English 元 is written CNY."""
    currency = study.params.currency
    if language == "zh" and abs(value) >= 1e8:
        return f"{value / 1e8:,.2f}亿{currency}"
    if language == "zh" and abs(value) >= 1e4:
        return f"{value / 1e4:,.1f}万{currency}"
    if language == "en" and currency == "元":
        currency = "CNY"
    return f"{value:,.0f} {currency}"


def format_p(p: float) -> str:
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def tier_labels(profile: pd.DataFrame) -> dict[str, str]:
    return dict(zip(profile["tier"].astype(str), profile["tier_name"].astype(str)))


def skip_notes(record: dict[str, Any] | None, language: str, keep: Callable[[str], bool] = lambda key: True) -> list[str]:
    """The stage's ``skipped`` notes whose key passes ``keep``, as warning paragraphs in ``language``."""
    skipped = (record or {}).get("skipped") or {}
    return [paragraph(render(why, language), "warn") for key, why in skipped.items() if keep(key)]


def fallback_reason_text(reason: dict[str, str], language: str) -> str:
    """One CLV fallback reason in words; an unknown key shows as ``key (value)``."""
    key = f"fallback_{reason['key']}"
    if key not in TEXTS:
        return f"{reason['key']} ({reason['value']})"
    return text(key, language, value=reason.get("value", ""), limit=reason.get("limit", ""))


def localized(df: pd.DataFrame, columns: dict[str, str], language: str) -> pd.DataFrame:
    """Keep ``columns`` (source → i18n key) that exist, renamed to their labels."""
    present = {c: text(k, language) for c, k in columns.items() if c in df.columns}
    return df[list(present)].rename(columns=present)


# ---------------------------------------------------------------------------------------------


Card = tuple[str, str]


def is_figure(value: object) -> bool:
    """Whether ``value`` is a finite number (not None, NA, NaN or ±inf)."""
    try:
        return value is not None and not pd.isna(value) and math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def signed(value: object) -> str:
    """A score with its sign (``+12``), or "—" when missing."""
    return f"{float(value):+.0f}" if is_figure(value) else "—"


def overall_row(table: pd.DataFrame | None) -> pd.Series | None:
    """The overall (tier-less) row of a per-tier table, or None."""
    if table is None or table.empty or "tier" not in table.columns:
        return None
    rows = table[table["tier"].isna()]
    return None if rows.empty else rows.iloc[0]


def headline_cards(
    language: str,
    *,
    min_n: int,
    profile: pd.DataFrame | None = None,
    nps: pd.DataFrame | None = None,
    at_risk: int | None = None,
    gain: str | None = None,
) -> list[Card]:
    """The executive summary's headline figures as (value, label) cards, at most six.

    A figure from fewer than ``min_n`` answers, or that is not a finite number, is never a card:
    the overall NPS is one only when its ``n`` ≥ ``min_n`` (the summary's sentences show it greyed
    with its n otherwise, :func:`nps_sentences`).
    """
    cards: list[Card] = []
    if profile is not None and not profile.empty:
        top = profile.sort_values("tier").iloc[0]
        cards.append((f"{int(profile['customers'].sum()):,}", text("fig_customers", language)))
        for column, key in (("clv_share", "fig_top_tier_value"), ("customer_share", "fig_top_tier_size")):
            if is_figure(top[column]):
                cards.append((f"{top[column]:.0%}", text(key, language, tier=top["tier_name"])))
    overall = overall_row(nps)
    if overall is not None and int(overall["n"]) >= min_n and is_figure(overall["nps"]):
        cards.append((signed(overall["nps"]), text("fig_nps", language)))
    if at_risk:
        cards.append((f"{at_risk}", text("fig_at_risk", language)))
    if gain is not None:
        cards.append((gain, text("fig_gain", language)))
    return cards[:6]


def nps_sentences(nps: pd.DataFrame | None, language: str, min_n: int) -> list[str]:
    """The NPS per tier as an HTML sentence; figures from fewer than ``min_n`` answers greyed with their n."""
    if nps is None or nps.empty:
        return []
    sentences = []
    overall = overall_row(nps)
    if overall is not None and int(overall["n"]) < min_n:
        sentences.append(thin(text("sum_nps_thin", language, n=int(overall["n"]), min_n=min_n)))
    items = []
    for r in nps[nps["tier"].notna()].itertuples():
        shown = f"{r.tier_name} {signed(r.nps)}"
        if int(r.n) < min_n or not is_figure(r.nps):
            items.append(thin(f"{shown} ({text('n_answers', language, n=int(r.n))}, {text('too_few', language)})"))
        else:
            items.append(html.escape(shown))
    if items:
        template = html.escape(text("sum_nps", language, items="\0"))
        sentences.append(template.replace("\0", ", ".join(items)))
    return sentences


def drivers_answers(out: RunOutputs, attributes: list[str]) -> int | None:
    """How many latest survey answers of tiered customers rate every attribute and overall satisfaction:
    as stage 4 counted them for its drivers (experience.json), else counted here (a stage 4 run before
    it recorded them)."""
    recorded = (out.get(catalog.EXPERIENCE_JSON) or {}).get("drivers_answers")
    if recorded is not None:
        return int(recorded)

    def count() -> int | None:
        surveys, customers = out.get(catalog.SURVEYS), out.get(catalog.CUSTOMERS)
        needed = [*attributes, "overall_satisfaction"]
        if surveys is None or customers is None or not set(needed) <= set(surveys.columns):
            return None
        known = pa.array(customers["customer_id"].dropna().astype("string").array, type=pa.large_string())  # distinct: one row each
        answers = satisfaction.latest_answers(surveys[is_in(surveys["customer_id"], known).to_numpy()])
        return int(len(answers.dropna(subset=needed)))

    return out.shared(f"drivers_answers:{','.join(attributes)}", count)


def drivers_sentence(study: Study, out: RunOutputs, language: str) -> str | None:
    """The two strongest drivers; greyed with the n when fewer than ``satisfaction.min_n`` answers."""
    table_ = out.get(catalog.EXPERIENCE_TABLES["drivers_satisfaction"])
    if table_ is None or len(table_) < 2:
        return None
    labels = attribute_labels(study, language)
    ranked = table_.sort_values("rank")["attribute"].tolist()
    first, second = labels.get(ranked[0], ranked[0]), labels.get(ranked[1], ranked[1])
    min_n = study.params.satisfaction.min_n
    n = drivers_answers(out, study.params.satisfaction.attributes)
    if n is not None and n < min_n:
        return thin(text("sum_drivers_thin", language, n=n, min_n=min_n, first=first, second=second))
    return html.escape(text("sum_drivers", language, first=first, second=second))


def data_use_sentences(quality: dict[str, Any] | None, language: str) -> list[str]:
    """Per input, the share of rows the analysis used: kept / read."""
    sentences = []
    for name, q in quality_gate.input_summaries(quality or {}).items():
        label = text(f"input_{name}", language)
        rows_in, kept = int(q["rows_in"]), int(q["rows_kept"])
        if rows_in == 0:
            sentences.append(text("data_used_none", language, input=label))
        elif kept == rows_in:
            sentences.append(text("data_used_all", language, input=label, kept=kept))
        else:
            sentences.append(text("data_used", language, input=label, share=kept / rows_in, kept=kept, rows_in=rows_in))
    return sentences


def join_warnings(quality: dict[str, Any] | None, min_join_share: float, language: str) -> list[str]:
    """Every join rate below ``min_join_share`` (customers found in the master / among buyers)."""
    rules = SimpleNamespace(max_set_aside_share=1.0, max_reason_share=1.0, min_join_share=min_join_share)
    return [gate_sentence(b.to_dict(), language) for name, q in quality_gate.input_summaries(quality or {}).items()
            for b in quality_gate.join_breaches(name, q, rules)]


def skipped_notes(out: RunOutputs, language: str) -> list[str]:
    """Every analysis a stage left out (models.json, tiering.json, experience.json → ``skipped``)."""
    notes = []
    for name in (catalog.MODELS, catalog.TIERING_JSON, catalog.EXPERIENCE_JSON):
        skipped = (out.get(name) or {}).get("skipped") or {}
        notes += [render(why, language) for why in skipped.values()]
    return notes


def summary_warnings(study: Study, language: str, out: RunOutputs) -> list[str]:
    """The first page's warnings: gate breaches, low join rates, customers not tiered, skipped analyses."""
    quality = out.get(catalog.QUALITY) or {}
    warnings = [gate_sentence(b, language) for b in out.get(catalog.QUALITY_GATE) or [] if b.get("severity") == "stop"]
    warnings += join_warnings(quality, study.params.quality.min_join_share, language)
    excluded = excluded_counts(study, out)
    if excluded:
        warnings.append(excluded_sentence(excluded, language))
    return warnings + skipped_notes(out, language)


def warning_block(warnings: list[str], language: str) -> str | None:
    """A visible warning block (css ``warn``) listing ``warnings``; None when there are none."""
    if not warnings:
        return None
    return f'<div class="warn"><p><strong>{html.escape(text("warn_title", language))}</strong></p>{bullets(warnings)}</div>'


def summary_section(study: Study, language: str, out: RunOutputs) -> Section | None:
    """The executive summary: data used, warnings, headline cards and the key sentences."""
    quality = out.get(catalog.QUALITY)
    profile = out.get(catalog.TIER_PROFILE)
    if profile is None and quality is None:
        return None
    min_n = study.params.satisfaction.min_n
    blocks = [bullets(data_use_sentences(quality, language))] if quality else []
    warning = warning_block(summary_warnings(study, language, out), language)
    if warning:
        blocks.append(warning)
    if profile is None:
        return Section("summary", text("sec_summary", language), blocks)
    top = profile.sort_values("tier").iloc[0]
    sentences = [html.escape(text("sum_top", language, tier=top["tier_name"], n=int(top["customers"]),
                                  size=top["customer_share"], rev=top["revenue_share"], clv=top["clv_share"]))]
    tiering_record = out.get(catalog.TIERING_JSON) or {}
    moves = tiering_record.get("migration")
    if moves:
        sentences.append(html.escape(text("sum_migration", language, up=moves["upgrades"], down=moves["downgrades"],
                                          new=moves["new"], lost=moves["lost"])))
    nps = out.get(catalog.EXPERIENCE_TABLES["nps"])
    sentences += nps_sentences(nps, language, min_n)
    drivers = drivers_sentence(study, out, language)
    if drivers:
        sentences.append(drivers)
    watch = out.get(catalog.EXPERIENCE_TABLES["watch_list"])
    at_risk = None
    if watch is not None and not watch.empty:
        at_risk = len(watch)
        reasons = Counter(r for codes in watch["reason_codes"].astype(str) for r in codes.split("; ") if r)
        common = code_label(reasons.most_common(1)[0][0], "churn_short_reason_", language) if reasons else ""
        sentences.append(html.escape(text("sum_watch", language, n=len(watch),
                                          value=money(float(watch["clv"].sum()), study, language), reason=common)))
    alloc = out.get(catalog.ALLOCATION)
    alloc_summary = out.get(catalog.ALLOCATION_JSON)
    gain = None
    if alloc is not None and alloc_summary is not None:
        gain = money(float(alloc_summary["gain_vs_equal"]), study, language)
        items = "；".join if language == "zh" else "; ".join
        sentences.append(html.escape(text("sum_allocation", language, gain=gain, items=items(
            f"{r.tier_name} {r.budget_share:.0%}" for r in alloc.itertuples()))))
    cards = headline_cards(language, min_n=min_n, profile=profile, nps=nps, at_risk=at_risk, gain=gain)
    blocks = [figure_cards(cards), *blocks, html_bullets(sentences)]
    return Section("summary", text("sec_summary", language), blocks)


def html_bullets(items: list[str]) -> str:
    """Bullets whose items are already HTML (escaped text, possibly with greyed spans)."""
    return '<ul class="bullets">' + "".join(f"<li>{i}</li>" for i in items) + "</ul>"


def tiers_section(study: Study, language: str, out: RunOutputs) -> Section | None:
    profile = out.get(catalog.TIER_PROFILE)
    customers = out.get(catalog.CUSTOMERS)
    record = out.get(catalog.TIERING_JSON)
    if profile is None or customers is None or record is None:
        return None
    blocks = [paragraph(text("tiers_method", language, rule=rule_text(record["rule"], language)))]
    blocks += stability_notes(record["rule"], language)
    blocks += skip_notes(record, language, lambda key: key.startswith("sensitivity") or key in STABILITY_SKIPS or key == "tier_uncertainty")
    intervals = out.get(catalog.TIER_VALUE_INTERVALS)
    shown = localized(with_intervals(profile, intervals), {
        "tier_name": "col_tier", "customers": "col_customers", "borderline": "col_borderline",
        "customer_share": "col_customer_share", "revenue_share": "col_revenue_share",
        "margin_share": "col_margin_share", "clv_share": "col_clv_share", "clv_share_interval": "col_clv_share_interval",
        "p_alive_mean": "col_p_alive", "days_since_last_mean": "col_days_since_last",
    }, language)
    pct = {text(k, language): ".1%" for k in ("col_customer_share", "col_revenue_share", "col_margin_share",
                                                "col_clv_share", "col_p_alive")}
    counts = {text(k, language): "," for k in ("col_customers", "col_borderline")}
    blocks.append(table(shown, formats={**pct, **counts, text("col_days_since_last", language): ",.0f"}))
    sentence = uncertainty_sentence(intervals, record.get("uncertainty"), dict(zip(profile["tier"].astype(int), profile["tier_name"].astype(str))), language)
    if sentence:
        blocks.append(paragraph(sentence))
    blocks.append(image(charts.tier_shares(profile, language), text("chart_tiers", language)))
    blocks.append(paragraph(pareto_text(customers["revenue"].clip(lower=0), language)))
    blocks.append(paragraph(tiers_differ_text(customers, language)))
    sensitivity = out.get(catalog.SENSITIVITY)
    if sensitivity is not None and len(sensitivity) >= 2:
        blocks.append(paragraph(text("sensitivity_note", language), "note"))
        blocks.append(image(charts.agreement_heatmap(sensitivity.set_index("method"), language), text("chart_sensitivity", language)))
    return Section("tiers", text("sec_tiers", language), blocks)


def stability_notes(rule: dict[str, Any], language: str) -> list[str]:
    """What keeps the tiers stable between quarters, when the run asked for it: carried cut-offs
    (with the cut-offs this quarter alone would give) and the hysteresis band (with the customers it kept)."""
    notes = []
    if rule.get("cutoff_source") == "carried":
        fresh = rule.get("fresh_cutoffs")
        shown = text("separator_list", language).join(format_number(c, language) for c in fresh) if fresh else "—"
        notes.append(paragraph(text("tiers_carried", language, run=rule["carried_from"], fresh=shown), "note"))
    band = rule.get("hysteresis")
    if band:
        notes.append(paragraph(text("tiers_hysteresis", language, margin=band["margin"], kept=band["kept"],
                                    known=band["with_previous_tier"]), "note"))
    return notes


def pareto_text(value: pd.Series, language: str) -> str:
    """The Pareto sentence, or why there is none (no positive revenue to share out)."""
    try:
        return render(profiles.pareto_message(value, top_share=0.2), language)
    except profiles.ProfileError:
        return text("pareto_none", language)


def tiers_differ_text(customers: pd.DataFrame, language: str) -> str:
    """The Kruskal–Wallis result on CLV across tiers, or why it cannot be tested."""
    try:
        test = profiles.tiers_differ(customers, "clv")
    except profiles.ProfileError as exc:
        return text("tiers_differ_none", language, why=str(exc))
    if pd.isna(test.pvalue):
        return text("tiers_differ_none", language, why="p = NaN")
    return text("tiers_differ", language, p=format_p(test.pvalue))


def profiles_section(study: Study, language: str, out: RunOutputs) -> Section | None:
    customers = out.get(catalog.CUSTOMERS)
    if customers is None or "tier" not in customers.columns:
        return None
    blocks = []
    names = tier_labels(customers[["tier", "tier_name"]].drop_duplicates())
    for column in ("segment", "industry", "region"):
        if column in customers.columns and customers[column].notna().any():
            mix = mix_in_language(profiles.tier_mix(customers, column), language)
            title = text("profile_mix", language, what=text(f"what_{column}", language))
            blocks.append(image(charts.mix_chart(mix, title, names), title))
    for column in profiles.PURCHASE_MIX_COLUMNS:
        shares = out.purchase_mix(column)
        if shares is not None:
            mix = mix_in_language(shares, language)
            title = text("chart_mix", language, what=text(f"what_{column}", language))
            blocks.append(image(charts.mix_chart(mix, title, names), title))
    return Section("profiles", text("sec_profiles", language), blocks) if blocks else None


def scoring_section(study: Study, language: str, out: RunOutputs) -> Section | None:
    models = out.get(catalog.MODELS)
    holdout = out.get(catalog.HOLDOUT)
    customers = out.get(catalog.CUSTOMERS)
    if models is None or customers is None:
        return None
    blocks = []
    clv_info = models["clv"]
    chosen = purchase_model_code(models)
    model = text(f"purchase_model_name_{chosen}", language)
    figures = chosen_holdout_figures(models, chosen)
    if clv_info["method"] == "model" and figures:
        blocks.append(paragraph(text("scoring_models", language, model=model, err=figures["total_relative_error"])))
    elif clv_info["method"] == "model":
        blocks.append(paragraph(text("scoring_no_holdout", language, model=model)))
    else:
        joiner = "；" if language == "zh" else "; "
        reasons = joiner.join(fallback_reason_text(r, language) for r in clv_info["fallback_reasons"])
        blocks.append(paragraph(text("scoring_fallback", language, reasons=reasons), "warn"))
    if models.get("purchase_model"):
        blocks.append(paragraph(purchase_model_sentence(models["purchase_model"], language)))
    blocks += skip_notes(models, language)
    precision = clv_interval_sentence(models, customers, language)
    if precision:
        blocks.append(paragraph(precision))
    comparison = out.get(catalog.PURCHASE_MODEL_HOLDOUT)
    compared = (models.get("purchase_model_comparison") or {}).get("models")
    if compared:
        shown = model_comparison_table(compared, chosen, language)
        blocks.append(table(shown, formats=model_comparison_formats(language)))
    if comparison is not None and not comparison.empty:
        blocks.append(image(charts.model_comparison_chart(comparison, language), text("chart_model_comparison", language)))
    elif holdout is not None and not holdout.empty:  # a run scored before the purchase models were compared
        blocks.append(image(charts.holdout_chart(holdout, language), text("chart_holdout", language)))
    value = customers["clv"].clip(lower=0)
    blocks.append(image(charts.value_distribution(customers["clv"], profiles.lorenz_curve(value), language),
                        text("chart_clv", language)))
    return Section("scoring", text("sec_scoring", language), blocks)


def purchase_model_code(models: dict[str, Any]) -> str:
    """The code of the purchase model that scored (models.json → purchase_model); BG/NBD for older runs."""
    return ((models.get("purchase_model") or {}).get("name")) or "bgnbd"


def chosen_holdout_figures(models: dict[str, Any], chosen: str) -> dict[str, float]:
    """The holdout figures of the model that scored; BG/NBD's calibration record for older runs."""
    compared = (models.get("purchase_model_comparison") or {}).get("models") or {}
    if chosen in compared:
        return compared[chosen].get("holdout_figures") or {}
    if chosen != "bgnbd":
        return {}
    return (models.get("bgnbd_calibration") or {}).get("holdout_figures") or {}


def purchase_model_sentence(record: dict[str, Any], language: str) -> str:
    """Which purchase model predicted purchases, and why (models.json → purchase_model)."""
    return text("scoring_purchase_model", language, model=text(f"purchase_model_name_{record['name']}", language),
                reason=render(record["reason"], language))


#: The comparison table's columns: label key → (record field, holdout figure or None, format).
MODEL_COMPARISON_COLUMNS = {
    "col_holdout_deviance": ("holdout_figures", "mean_poisson_deviance", ".3f"),
    "col_holdout_mae": ("holdout_figures", "mae_per_customer", ".3f"),
    "col_holdout_total_error": ("holdout_figures", "total_relative_error", "+.1%"),
    "col_holdout_bucket_mape": ("holdout_figures", "mape_bucket_means", ".1%"),
    "col_holdout_correlation": ("holdout_figures", "correlation", ".2f"),
    "col_calibration_ll": ("log_likelihood", None, ",.0f"),
    "col_calibration_bic": ("bic", None, ",.0f"),
}


def model_comparison_table(compared: dict[str, dict[str, Any]], chosen: str, language: str) -> pd.DataFrame:
    """One row per purchase model: used or not, its holdout figures and its calibration fit."""
    rows = []
    for code, record in compared.items():
        row = {text("col_purchase_model", language): text(f"purchase_model_name_{code}", language),
               text("col_model_used", language): text("answer_yes" if code == chosen else "answer_no", language)}
        for key, (field, figure, _) in MODEL_COMPARISON_COLUMNS.items():
            value = record.get(field)
            value = (value or {}).get(figure) if figure else value
            row[text(key, language)] = float(value) if is_figure(value) else float("nan")
        row[text("col_converged", language)] = text("answer_yes" if record.get("converged") else "answer_no", language)
        rows.append(row)
    return pd.DataFrame(rows)


def model_comparison_formats(language: str) -> dict[str, str]:
    return {text(key, language): fmt for key, (_, _, fmt) in MODEL_COMPARISON_COLUMNS.items()}


def attribute_labels(study: Study, language: str) -> dict[str, str]:
    return {k: v.get(language, k) for k, v in study.params.satisfaction.attribute_labels.items()}


def satisfaction_section(study: Study, language: str, out: RunOutputs) -> Section | None:
    record = out.get(catalog.EXPERIENCE_JSON)
    if record is None:
        return None
    blocks = skip_notes(record, language, lambda key: key not in WATCH_SKIPS)
    nps, csat = out.get(catalog.EXPERIENCE_TABLES["nps"]), out.get(catalog.EXPERIENCE_TABLES["csat"])
    min_n = study.params.satisfaction.min_n
    if nps is not None and not nps.empty:
        merged = nps.merge(csat[["tier_name", "respondents", "response_rate", "mean_satisfaction", "top_box_share"]],
                           on="tier_name", how="left") if csat is not None else nps
        # a row is thin when either its NPS answers or its CSAT respondents are fewer than min_n
        thin_rows = [bool(few) or (is_figure(r) and int(r) < min_n)
                     for few, r in zip(merged["too_few"], merged["respondents"] if "respondents" in merged else [None] * len(merged))]
        merged = merged.assign(too_few=thin_rows)
        merged = merged.assign(
            nps_ci=[f"{lo:+.0f} … {hi:+.0f}" if is_figure(lo) and is_figure(hi) else "—"
                    for lo, hi in zip(merged["nps_low"], merged["nps_high"])],
            tier_name=[f"{name} ({text('too_few', language)}, {text('n_answers', language, n=int(n))})" if few else name
                       for name, few, n in zip(merged["tier_name"], merged["too_few"], merged["n"])],
        )
        shown = localized(merged, {"tier_name": "col_tier", "respondents": "col_respondents",
                                   "response_rate": "col_response_rate", "mean_satisfaction": "col_csat",
                                   "top_box_share": "col_top_box", "nps": "col_nps", "nps_ci": "col_nps_ci"}, language)
        blocks.append(table(shown, formats={text("col_response_rate", language): ".0%", text("col_top_box", language): ".0%",
                                            text("col_csat", language): ".2f", text("col_nps", language): "+.0f"},
                            row_css=["thin" if few else None for few in merged["too_few"]]))
        if merged["too_few"].any():
            blocks.append(paragraph(text("few_answers", language, n=min_n), "note"))
        per_tier = nps[nps["tier"].notna()]
        blocks.append(image(charts.interval_chart(per_tier, "nps", "nps_low", "nps_high", text("chart_nps", language), "NPS"),
                            text("chart_nps", language)))
        tests = out.get(catalog.EXPERIENCE_TABLES["tier_tests"])
        if tests is not None:
            blocks.append(bullets(tests["verdict"].astype(str).tolist()))
    ipa = out.get(catalog.EXPERIENCE_TABLES["ipa"])
    if ipa is not None and not ipa.empty:
        labels = attribute_labels(study, language)
        shown = ipa.assign(attribute=ipa["attribute"].map(lambda a: labels.get(a, a)))
        blocks.append(f"<h3>{text('chart_drivers', language)}</h3>")
        n = drivers_answers(out, study.params.satisfaction.attributes)
        few = n is not None and n < min_n
        if few:
            blocks.append(f'<p class="thin">{html.escape(text("drivers_thin", language, n=n, min_n=min_n))}</p>')
        blocks.append(table(localized(shown, {"attribute": "col_attribute", "importance": "col_importance",
                                              "performance": "col_performance", "quadrant": "col_quadrant"}, language),
                            formats={text("col_importance", language): ".1f", text("col_performance", language): ".2f"},
                            row_css=["thin" if few else None] * len(shown)))
        blocks.append(image(charts.ipa_chart(ipa, labels, language), text("chart_ipa", language)))
    complaints_table = out.get(catalog.EXPERIENCE_TABLES["complaints"])
    if complaints_table is not None and not complaints_table.empty:
        cols = {"tier_name": "col_tier", "complaints_per_100": "col_complaints_per_100",
                "open_complaints": "col_open_complaints", "median_resolution_days": "col_resolution_days"}
        blocks.append(table(localized(complaints_table, cols, language),
                            formats={text("col_complaints_per_100", language): ".1f"}))
        sentence = (record.get("complaint_link") or {}).get("sentence")
        if sentence:
            blocks.append(complaint_link_block(render(sentence, language, out.tier_names()),
                                               out.get(catalog.EXPERIENCE_TABLES["complaint_link"]), language, min_n))
    loyalty_table, repurchase = out.get(catalog.EXPERIENCE_TABLES["loyalty"]), out.get(catalog.EXPERIENCE_TABLES["repurchase"])
    if loyalty_table is not None and repurchase is not None:
        merged = repurchase.merge(loyalty_table, on=["tier", "tier_name"], how="left")
        blocks.append(table(localized(merged, {"tier_name": "col_tier", "repurchase_rate": "col_repurchase",
                                               "mean": "col_loyalty"}, language),
                            formats={text("col_repurchase", language): ".0%", text("col_loyalty", language): ".1f"}))
    cohorts = out.get(catalog.EXPERIENCE_TABLES["cohorts"])
    if cohorts is not None and not cohorts.empty:
        blocks.append(image(charts.cohort_heatmap(cohorts, language), text("chart_cohorts", language)))
    lifecycle_table = out.get(catalog.EXPERIENCE_TABLES["lifecycle"])
    if lifecycle_table is not None and not lifecycle_table.empty:
        names = {str(k): v for k, v in out.tier_names().items()} | {"all": text("all_customers", language)}
        shares = lifecycle_table.set_index("tier").rename(
            index=names, columns=lambda stage: code_label(stage, "lifecycle_stage_", language))
        shares = shares.div(shares.sum(axis=1), axis=0)
        blocks.append(image(charts.mix_chart(shares, text("chart_lifecycle", language)), text("chart_lifecycle", language)))
    validation = record.get("churn_validation")
    if validation:
        blocks.append(paragraph(text("churn_model", language, auc=validation["auc"], base=validation["baselines"]["recency"],
                                     lift=validation["top_decile_lift"])))
    return Section("satisfaction", text("sec_satisfaction", language), blocks)


def complaint_link_block(sentence: str, link: pd.DataFrame | None, language: str, min_n: int) -> str:
    """The complaint–satisfaction sentence; greyed with the n when a group has fewer than ``min_n`` answers."""
    if link is None or link.empty or "n" not in link.columns:
        return paragraph(sentence)
    n = int(link["n"].min())
    if n >= min_n:
        return paragraph(sentence)
    return f'<p class="thin">{html.escape(text("link_thin", language, n=n, min_n=min_n) + sentence)}</p>'


def risk_available(customers: pd.DataFrame | None) -> bool:
    """Whether any customer has a churn risk (from the model or from 1 − P(alive))."""
    return customers is not None and "churn_risk" in customers.columns and bool(customers["churn_risk"].notna().any())


def watch_section(study: Study, language: str, out: RunOutputs) -> Section | None:
    watch = out.get(catalog.EXPERIENCE_TABLES["watch_list"])
    if watch is None:
        return None
    notes = skip_notes(out.get(catalog.EXPERIENCE_JSON), language, lambda key: key in WATCH_SKIPS)
    if watch.empty and risk_available(out.get(catalog.CUSTOMERS)):
        return Section("watch", text("sec_watch", language), [*notes, paragraph(text("watch_none", language))])
    if watch.empty:  # no risk at all: the churn note already says why, else say it here
        return Section("watch", text("sec_watch", language), notes or [paragraph(text("watch_no_risk", language))])
    masked = mask_customers(watch, ensure_salt(study.processed_dir))  # salted codes, never ids or names
    shown = localized(masked, {"customer_id": "col_customer", "tier_name": "col_tier", "clv": "col_clv",
                               "churn_risk": "col_risk", "value_at_risk": "col_value_at_risk",
                               "reasons": "col_reasons"}, language)
    formats = {text("col_clv", language): ",.0f", text("col_value_at_risk", language): ",.0f", text("col_risk", language): ".0%"}
    blocks = [*notes, paragraph(text("watch_intro", language)), table(shown.head(30), formats=formats)]
    return Section("watch", text("sec_watch", language), blocks)


def recommendations_section(study: Study, language: str, out: RunOutputs) -> Section | None:
    alloc = out.get(catalog.ALLOCATION)
    summary = out.get(catalog.ALLOCATION_JSON)
    profile = out.get(catalog.TIER_PROFILE)
    if alloc is None or summary is None or profile is None:
        return None
    shown = [c for c in ("tier", "clv_share", "p_alive_mean", "borderline") if c in profile.columns]
    merged = alloc.merge(profile[shown], on="tier", how="left")
    sentences = [
        text("rec_reason" if pd.notna(r["p_alive_mean"]) else "rec_reason_no_alive", language,
             tier=r["tier_name"], n=int(r["customers"]), clv=r["clv_share"], alive=r["p_alive_mean"],
             service=r["service_model"], level=r["manager_level"], cadence=r["cadence"],
             budget=money(r["budget"], study, language), per=money(r["budget_per_customer"], study, language))
        + (text("rec_borderline", language, n=int(r["borderline"])) if r.get("borderline", 0) > 0 else "")
        for _, r in merged.iterrows()
    ]
    blocks = [bullets(sentences)]
    cols = {"tier_name": "col_tier", "service_model": "col_service_model", "manager_level": "col_manager_level",
            "cadence": "col_cadence", "channels": "col_channels", "offers": "col_offers"}
    blocks.append(table(localized(alloc, cols, language)))
    money_cols = {"tier_name": "col_tier", "budget": "col_budget", "budget_share": "col_budget_share",
                  "budget_per_customer": "col_budget_per_customer", "marginal_value": "col_marginal",
                  "hours_needed": "col_hours_needed", "hours_allocated": "col_hours_allocated"}
    blocks.append(table(localized(alloc, money_cols, language), formats={
        text("col_budget", language): ",.0f", text("col_budget_share", language): ".1%",
        text("col_budget_per_customer", language): ",.0f", text("col_marginal", language): ".2f",
        text("col_hours_needed", language): ",.0f", text("col_hours_allocated", language): ",.0f"}))
    blocks.append(image(charts.allocation_chart(alloc, language), text("chart_allocation", language)))
    values = summary["expected_retained_value"]
    blocks.append(paragraph(text("rec_compare", language, opt=money(values["value_optimal"], study, language),
                                 eq=money(values["value_equal"], study, language),
                                 rev=money(values.get("value_revenue", float("nan")), study, language))))
    curve = summary["curve"]
    blocks.append(paragraph(text("rec_curve", language, base=curve["u_max_base"], risk=curve["u_max_risk"],
                                 k=curve["k_share"]), "note"))
    capacity = out.get(catalog.CAPACITY)
    if capacity is not None and not capacity.empty:
        notes = [f"{r['level']}: {r['hours_needed']:,.0f} / {r['hours_available']:,.0f} h ({r['utilisation']:.0%})"
                 for _, r in capacity.iterrows()]
        blocks.append(bullets(notes))
    return Section("recommendations", text("sec_recommendations", language), blocks)


def migration_section(study: Study, language: str, out: RunOutputs) -> Section | None:
    counts = out.get(catalog.MIGRATION_COUNTS)
    profile = out.get(catalog.TIER_PROFILE)
    if profile is None:
        return None
    if counts is None:
        # stage 3 notes why a previous run it was given has no migration; without a note it had none
        notes = skip_notes(out.get(catalog.TIERING_JSON), language, lambda key: key == "migration")
        return Section("migration", text("sec_migration", language), notes or [paragraph(text("migration_none", language))])
    matrix = counts.set_index(counts.columns[0])
    tiering = out.get(catalog.TIERING_JSON)
    record = tiering["migration"]
    blocks = [paragraph(text("sum_migration", language, up=record["upgrades"], down=record["downgrades"],
                             new=record["new"], lost=record["lost"]))]
    split = migration_split(record, language)
    if split:
        blocks.append(paragraph(split))
    blocks += skip_notes(tiering, language, lambda key: key == "migration_cause")
    blocks.append(image(charts.migration_heatmap(matrix, tier_labels(profile), language), text("chart_migration", language)))
    movers = out.get(catalog.TIER_MOVERS)
    if movers is not None and not movers.empty:
        shown = largest_movers(study, movers, out.tier_names(), language)
        blocks += [paragraph(text("migration_movers_intro", language, n=len(shown))),
                   table(shown, formats={text("col_clv_before", language): ",.0f", text("col_clv_now", language): ",.0f"})]
    return Section("migration", text("sec_migration", language), blocks)


def migration_split(record: dict[str, Any], language: str) -> str | None:
    """"Of N customers who changed tier, X moved by behaviour and Y by the cut-offs", when stage 3 could tell."""
    behaviour, cutoff = record.get("moved_by_behaviour"), record.get("moved_by_cutoff")
    if behaviour is None or cutoff is None:
        return None
    return text("migration_split", language, n=behaviour + cutoff, behaviour=behaviour, cutoff=cutoff)


def largest_movers(study: Study, movers: pd.DataFrame, names: dict[int, str], language: str) -> pd.DataFrame:
    """The :data:`MOVERS_SHOWN` movers of highest value (the larger CLV of the two quarters), customers
    masked as in the watch list, tiers by name; ``movers`` comes localized (cause and driver in words)."""
    stake = movers[["previous_value", "value"]].max(axis=1).fillna(0.0)
    top = movers.assign(_stake=stake).sort_values(["_stake", "customer_id"], ascending=[False, True], kind="mergesort")
    top = mask_customers(top.head(MOVERS_SHOWN), ensure_salt(study.processed_dir))  # salted codes, never ids
    top = top.assign(previous_tier=[tier_name(t, language, names) for t in top["previous_tier"]],
                     tier=[tier_name(t, language, names) for t in top["tier"]])
    return localized(top, {"customer_id": "col_customer", "previous_tier": "previous_tier", "tier": "col_tier_now",
                           "cause": "col_cause", "driver": "col_driver", "previous_value": "col_clv_before",
                           "value": "col_clv_now"}, language)


#: The methods the methodology appendix explains, each with texts ``method_<name>_title`` and ``method_<name>``.
METHODS = ("cleaning", "rfm", "bgnbd", "pareto_nbd", "model_choice", "gamma_gamma", "time_units", "intervals", "tiering",
           "satisfaction", "drivers", "loyalty", "allocation")


def method_values(name: str, out: RunOutputs, language: str) -> dict[str, Any] | None:
    """The run's values a method's text needs ({} for none); None when the run lacks them (no paragraph)."""
    if name != "time_units":
        return {}
    units = (out.get(catalog.MODELS) or {}).get("time_units")
    if not units:
        return None
    unit = units["time_unit"]
    return {"unit": text(f"time_unit_{unit}", language), "unit_one": text(f"time_unit_one_{unit}", language),
            "days_per_month": units["days_per_month"], "days_per_year": units["days_per_year"],
            "months": units["horizon_months"], "horizon": units["horizon_in_units"]}


def methodology_section(study: Study, language: str, out: RunOutputs) -> Section | None:
    blocks = []
    for name in METHODS:
        values = method_values(name, out, language)
        if values is None:
            continue
        blocks.append(f"<h3>{text(f'method_{name}_title', language)}</h3>")
        blocks.append(paragraph(text(f"method_{name}", language, **values)))
    record = out.get(catalog.TIERING_JSON)
    if record:
        blocks.append(paragraph(text("tiers_method", language, rule=rule_text(record["rule"], language)), "note"))
    blocks.append(f"<h3>{html.escape(text('method_purchase_title', language))}</h3>")
    blocks.append(paragraph(text("method_purchase", language)))
    exp = out.get(catalog.EXPERIENCE_JSON)
    if exp and exp.get("lifecycle_rules"):
        blocks.append(table(lifecycle_rules_table(exp["lifecycle_rules"], language)))
    return Section("methodology", text("sec_method", language), blocks)


def lifecycle_rules_table(rules: list[dict[str, Any]], language: str) -> pd.DataFrame:
    """experience.json's lifecycle rules as the methodology shows them: step, stage, its label, the rule in words."""
    steps = pd.DataFrame(rules)
    steps = steps.assign(label=steps["stage"])[["step", "stage", "label", "rule"]]
    return localize(steps, language, messages=("rule",), labels={"label": "lifecycle_stage_"})


# ---------------------------------------------------------------------------------------------
# The data-quality appendix; its sentences also feed the summary's warnings.


def quality_section(study: Study, language: str, out: Any | None = None) -> Section | None:
    """The data-quality appendix: rows kept and set aside per input and reason, the join rates,
    the customers not tiered and the quality-gate breaches.

    ``out`` (a :class:`RunOutputs`) supplies the run's outputs; without it quality.json,
    models.json and excluded_customers.parquet are read from the study's folder.
    """
    quality = _output(study, out, catalog.QUALITY)
    if quality is None:
        return None
    inputs = quality_gate.input_summaries(quality)
    section = Section("data-quality", text("quality_title", language), [paragraph(text("quality_intro", language))])
    sentences = [
        text("quality_sentence", language, input=text(f"input_{name}", language),
             kept_share=(q["rows_kept"] / q["rows_in"]) if q["rows_in"] else 0.0, **q)
        for name, q in inputs.items()
    ]
    section.blocks.append(bullets(sentences))
    rows = [
        {
            text("col_input", language): text(f"input_{name}", language),
            text("col_reason", language): reason_label(reason, language),
            text("col_rows", language): n,
        }
        for name, q in inputs.items()
        for reason, n in q["reasons"].items()
    ]
    if rows:
        section.blocks.append(table(pd.DataFrame(rows), formats={text("col_rows", language): ","}))
    section.blocks.append(image(charts.quality_chart(quality_gate.quality_table(inputs), language), text("chart_quality", language)))
    joins = join_sentences(inputs, language)
    if joins:
        section.blocks += [f"<h3>{html.escape(text('quality_join_title', language))}</h3>", bullets(joins)]
    gate = [gate_sentence(b, language) for b in _output(study, out, catalog.QUALITY_GATE) or []
            if b.get("severity") == "stop"]
    if gate:
        section.blocks += [f"<h3>{html.escape(text('quality_gate_title', language))}</h3>", bullets(gate)]
    excluded = excluded_counts(study, out)
    if excluded:
        section.blocks.append(f"<h3>{html.escape(text('quality_excluded_title', language))}</h3>")
        section.blocks.append(paragraph(excluded_sentence(excluded, language)))
        section.blocks.append(table(pd.DataFrame({
            text("col_reason", language): [text(f"excluded_{r}", language) if f"excluded_{r}" in TEXTS else r for r in excluded],
            text("col_customers_excluded", language): list(excluded.values()),
        }), formats={text("col_customers_excluded", language): ","}))
    return section


def _output(study: Study, out: Any | None, name: str) -> Any:
    """A run output through ``out`` when given, else read from the study's folder (None when absent)."""
    if out is not None:
        return out.get(name)
    return study.read_optional(name)


def join_sentences(inputs: dict[str, dict[str, Any]], language: str) -> list[str]:
    """The join rates of each input, and the customers with transactions missing from the master."""
    sentences = []
    for name, q in inputs.items():
        join = q.get("join") or {}
        for other in ("master", "transactions"):
            share = join.get(f"share_in_{other}")
            if share is None:
                continue
            sentences.append(text(f"quality_join_{other}", language, input=text(f"input_{name}", language),
                                  customers=int(join.get("customers", 0)), found=int(join.get(f"in_{other}", 0)),
                                  share=float(share)))
        if "customers_not_in_master" in q:
            sentences.append(text("quality_not_in_master", language, n=int(q["customers_not_in_master"])))
    return sentences


def gate_sentence(breach: dict[str, Any], language: str) -> str:
    """One recorded quality-gate breach (quality.json → ``gate``) in words."""
    values = {"input": text(f"input_{breach['input']}", language), "share": float(breach["share"]),
              "limit": float(breach["limit"]), "param": breach["key"], "rows": int(breach.get("rows") or 0)}
    if breach["what"] == "set_aside":
        return text("gate_set_aside", language, **values)
    if breach["what"] == "reason":
        return text("gate_reason", language, reason=reason_label(str(breach.get("reason")), language), **values)
    return text(f"join_low_{breach['what'].removeprefix('join_')}", language, **values)


def excluded_counts(study: Study, out: Any | None) -> dict[str, int]:
    """Customers not tiered per reason: models.json → ``excluded_customers``, else the parquet file."""
    models = _output(study, out, catalog.MODELS)
    if models and models.get("excluded_customers") is not None:
        return {str(k): int(v) for k, v in models["excluded_customers"].items() if int(v)}
    excluded = _output(study, out, catalog.EXCLUDED_CUSTOMERS)
    if excluded is None or excluded.empty:
        without = int((models or {}).get("customers_without_purchase") or 0)  # runs scored before the reasons
        return {"without_purchase": without} if without else {}
    return {str(k): int(v) for k, v in excluded["reason"].value_counts().sort_index().items()}


def excluded_sentence(counts: dict[str, int], language: str) -> str:
    """``n customers are not tiered (reason: n, ...)``."""
    joiner = "；" if language == "zh" else "; "
    reasons = joiner.join(
        text("excluded_count", language, n=n, reason=text(f"excluded_{r}", language) if f"excluded_{r}" in TEXTS else r)
        for r, n in counts.items()
    )
    return text("excluded_note", language, n=sum(counts.values()), reasons=reasons)


def quality_appendix(study: Study, language: str, out: RunOutputs) -> Section | None:
    return quality_section(study, language, out)


BUILDERS = [
    summary_section, tiers_section, profiles_section, scoring_section, satisfaction_section, watch_section,
    recommendations_section, actions_section, plan_effect_section, managers_section, migration_section, trends_section,
    methodology_section, quality_appendix,
]
