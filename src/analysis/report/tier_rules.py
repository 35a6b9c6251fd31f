"""A tiering rule in words: the report's and notebook 03's sentence for the rule stage 3 applied.

Stage 3 stores the rule as facts (``tiering.json`` → ``rule``: the method, its cut-offs per tier,
target shares, features, weights, and the tier names per language, see
:func:`analysis.methods.tiers.assign_tiers`); :func:`rule_text` words those facts in the reader's
language from the ``tier_rules_*`` locale templates, naming each tier as the run does.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from analysis.i18n import TEXTS, text

Rule = Mapping[str, Any]


def rule_text(rule: Rule, language: str) -> str:
    """The tiering ``rule`` (tiering.json → ``rule``) as one paragraph in ``language``.

    Tiers are named by ``rule["names"][language]``; a rule without names uses the default name
    (第k层 / Tier k).
    """
    return _METHODS[rule["method"]](rule, language, _names(rule, language))


def _names(rule: Rule, language: str) -> list[str]:
    names = (rule.get("names") or {}).get(language)
    return list(names) if names else [text("tier_default_name", language, tier=t) for t in range(1, rule["n_tiers"] + 1)]


# ---------------------------------------------------------------------------------------------
# Numbers and labels


def format_number(x: float | None, language: str) -> str:
    """A number for a sentence: 1,234.5 in English; 2亿 / 5000万 / 1,234.5 in Chinese."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    x = float(x)
    if language == "zh" and abs(x) >= 1e4:
        unit, scale = ("亿", 1e8) if abs(x) >= 1e8 else ("万", 1e4)
        return f"{_trim(x / scale)}{unit}"
    return _trim(x, thousands=True)


def _trim(x: float, *, thousands: bool = False) -> str:
    digits = 0 if abs(x) >= 1000 else 2 if abs(x) >= 1 else 4
    shown = f"{x:,.{digits}f}" if thousands else f"{x:.{digits}f}"
    return shown.rstrip("0").rstrip(".") if "." in shown else shown


def _pct(share: float) -> str:
    return f"{_trim(round(100 * share, 1))}%"


def _label(column: str, language: str) -> str:
    """A column as the sentence names it (text ``tier_rules_col_<column>``), else the column itself."""
    key = f"tier_rules_col_{column}"
    return text(key, language) if key in TEXTS else column


def _sentences(parts: list[str], language: str) -> str:
    return text("separator_sentences", language).join(parts)


def _band(low: float | None, high: float | None, label: str, language: str) -> str:
    """'label ≥ 13', '10 ≤ label < 13', 'label < 7', or any value: ``None`` is an open end."""
    low_text, high_text = format_number(low, language), format_number(high, language)
    if low is None and high is None:
        return text("tier_rules_any", language, label=label)
    if high is None:
        return text("tier_rules_at_least", language, label=label, low=low_text)
    if low is None:
        return text("tier_rules_below", language, label=label, high=high_text)
    return text("tier_rules_between", language, label=label, low=low_text, high=high_text)


def _per_tier(names: list[str], rules: list[str], language: str) -> str:
    """'High: rule; Mid: rule; …'."""
    parts = [text("tier_rules_tier", language, name=n, rule=r) for n, r in zip(names, rules, strict=True)]
    return _sentences(parts, language)


def _ranked(label: str, shares: list[float], bounds: list[str], names: list[str], language: str) -> str:
    """'Ranked by label …: top 20 % → High (label ≥ b1); next 30 % → …; the rest → Low.'"""
    parts = [
        text("tier_rules_ranked_first" if t == 0 else "tier_rules_ranked_next", language,
             share=_pct(shares[t]), name=names[t], label=label, bound=bounds[t])
        for t in range(len(names) - 1)
    ]
    parts.append(text("tier_rules_rest", language, name=names[-1]))
    return text("tier_rules_ranked", language, label=label, parts=_sentences(parts, language))


# ---------------------------------------------------------------------------------------------
# One sentence per method


def _bands(rule: Rule, language: str, names: list[str]) -> str:
    """``rfm`` and ``clv``: bands on one column, from the params' cut-offs, quantiles or ranks."""
    label, bounds, shares = _label(rule["column"], language), rule["cutoffs"], rule["target_shares"]
    if rule["cutoff_source"] == "ranks":
        return _ranked(label, shares, [format_number(b, language) for b in bounds], names, language)
    edges = [None, *bounds, None]  # tier t: edges[t] ≤ value < edges[t - 1]
    bands = [_band(edges[t], edges[t - 1], label, language) for t in range(1, len(names) + 1)]
    if rule["cutoff_source"] == "quantiles":
        origin = text("tier_rules_origin_quantiles", language, targets="/".join(_pct(s) for s in shares))
    elif rule["cutoff_source"] == "carried":
        origin = text("tier_rules_origin_carried", language, run=rule["carried_from"])
    else:
        origin = text("tier_rules_origin_params", language)
    return text("tier_rules_banded", language, label=label, parts=_per_tier(names, bands, language), origin=origin)


def _carried(rule: Rule, language: str, names: list[str], label: str) -> str:
    """Cut-offs carried over from the previous run: bands of the score, whatever the method chose them by."""
    return _bands({**rule, "column": label, "target_shares": None}, language, names)


def _pareto(rule: Rule, language: str, names: list[str]) -> str:
    """``pareto``: the cumulative value share each tier closes and the customers it took."""
    if rule.get("cutoff_source") == "carried":
        return _carried(rule, language, names, rule["column"])
    parts = [
        text("tier_rules_pareto_first" if t == 0 else "tier_rules_pareto_next", language,
             share=_pct(share), name=names[t], customers=_pct(rule["cumulative_customer_shares"][t]),
             reached=_pct(rule["reached_value_shares"][t]))
        for t, share in enumerate(rule["value_shares"])
    ]
    parts.append(text("tier_rules_rest", language, name=names[-1]))
    negatives = rule["negative_values_as_zero"]
    return text("tier_rules_pareto", language, label=_label(rule["column"], language),
                parts=_sentences(parts, language),
                negatives=text("tier_rules_pareto_negatives", language, n=negatives) if negatives else "")


def _threshold(rule: Rule, language: str, names: list[str]) -> str:
    """``threshold``: the business rule of every tier and where missing values go."""
    bands = [_band(r["min"], r["max"], _label(r["column"], language), language) for r in rule["rules"]]
    missing_tier = rule["missing_tier"]
    missing = text("tier_rules_threshold_missing", language, name=names[missing_tier - 1]) if missing_tier else ""
    return text("tier_rules_threshold", language, parts=_per_tier(names, bands, language), missing=missing)


def _kmeans(rule: Rule, language: str, names: list[str]) -> str:
    """``kmeans``: the clustering set-up and the clusters' mean value, best first."""
    value_column = rule["value_column"]
    features = text("separator_list", language).join(
        text("tier_rules_negated", language, label=_label(f, language)) if f in rule["negated"] else _label(f, language)
        for f in rule["features"]
    )
    means = [format_number(rule["cluster_means"][str(t)][f"{value_column}_mean"], language)
             for t in range(1, rule["n_tiers"] + 1)]
    clusters = [text("tier_rules_cluster", language, name=n, mean=m) for n, m in zip(names, means, strict=True)]
    return text("tier_rules_kmeans", language, k=rule["n_tiers"], n_init=rule["n_init"], seed=rule["random_state"],
                features=features, label=_label(value_column, language), clusters=_sentences(clusters, language))


def _composite(rule: Rule, language: str, names: list[str]) -> str:
    """``composite``: the score's formula, then the customer shares it is cut by."""
    weights, loyalty = rule["weights"], rule["loyalty"]
    formula = text(
        "tier_rules_formula", language,
        contribution_weight=f"{weights['contribution']:g}", potential_weight=f"{weights['potential']:g}",
        loyalty_weight=f"{weights['loyalty']:g}", contribution=_label(rule["contribution"], language),
        potential=text(f"tier_rules_potential_{'clv' if rule['potential'] == 'clv' else 'uplift'}", language),
        loyalty=text("tier_rules_loyalty_p_alive_tenure", language) if loyalty == "p_alive_tenure" else _label(loyalty, language),
    )
    if rule.get("cutoff_source") == "carried":
        ranked = _carried(rule, language, names, text("tier_rules_score", language))
        return text("tier_rules_composite", language, formula=formula, ranked=ranked)
    ranked = _ranked(text("tier_rules_score", language), rule["target_shares"],
                     [f"{b:.3f}" for b in rule["cutoffs"]], names, language)
    return text("tier_rules_composite", language, formula=formula, ranked=ranked)


_METHODS: dict[str, Callable[[Rule, str, list[str]], str]] = {
    "rfm": _bands,
    "clv": _bands,
    "pareto": _pareto,
    "threshold": _threshold,
    "kmeans": _kmeans,
    "composite": _composite,
}
