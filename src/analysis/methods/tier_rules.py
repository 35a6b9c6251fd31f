"""How each tiering rule reads: the Chinese and English sentences of a tier assignment.

:func:`analysis.methods.tiers.assign_tiers` places the customers; the functions here turn the rule it
applied (column, cut-offs, shares, weights, clusters) into the ``zh`` and ``en`` descriptions of
``TierAssignment.rule`` that the report's methodology appendix prints. Each ``describe_*`` takes the
language and the tier names in tier order, then the figures of one method as keywords.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from analysis.i18n import labels

_COLUMN_LABELS: dict[str, dict[str, str]] = labels("tier_rules_col_")


# ---------------------------------------------------------------------------------------------
# Numbers, labels and sentence pieces


def _label(column: str, language: str) -> str:
    return _COLUMN_LABELS.get(column, {}).get(language, column)


def format_number(x: float, language: str = "en") -> str:
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
    text = f"{x:,.{digits}f}" if thousands else f"{x:.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _pct(share: float) -> str:
    return f"{_trim(round(100 * share, 1))}%"



def _band_text(bounds: list[float], tier: int, language: str, label: str) -> str:
    """'label ≥ 13', '10 ≤ label < 13', 'label < 7' in either language."""
    k = len(bounds) + 1
    if tier == 1:
        return f"{label} ≥ {format_number(bounds[0], language)}"
    if tier == k:
        return f"{label} < {format_number(bounds[-1], language)}"
    return f"{format_number(bounds[tier - 1], language)} ≤ {label} < {format_number(bounds[tier - 2], language)}"


def _join(parts: list[str], language: str) -> str:
    return ("；" if language == "zh" else "; ").join(parts)


def _ranked_text(
    label: str, shares: list[float], bounds: list[str], names: list[str], language: str
) -> str:
    """'Ranked by label …: top 20 % → High (label ≥ b1); next 30 % → …; the rest → Low.'"""
    parts = []
    for t in range(len(names) - 1):
        if language == "zh":
            lead = "前" if t == 0 else "其后"
            parts.append(f"{lead}{_pct(shares[t])}为{names[t]}（{label} ≥ {bounds[t]}）")
        else:
            lead = "top" if t == 0 else "next"
            parts.append(f"{lead} {_pct(shares[t])} → {names[t]} ({label} ≥ {bounds[t]})")
    if language == "zh":
        parts.append(f"其余为{names[-1]}")
        return f"按{label}从高到低排序（同值按客户编号），按客户占比分层：{_join(parts, 'zh')}。"
    parts.append(f"the rest → {names[-1]}")
    return (
        f"Customers ranked by {label}, highest first (ties by customer id), cut by customer "
        f"shares: {_join(parts, 'en')}."
    )


def _banded_text(
    label: str, bounds: list[float], names: list[str], language: str, shares: list[float] | None
) -> str:
    """'Bands of label: High: label ≥ 13; …' plus where the cut-offs came from."""
    bands = [_band_text(bounds, t, language, label) for t in range(1, len(names) + 1)]
    targets = "/".join(_pct(s) for s in shares) if shares else ""
    if language == "zh":
        parts = [f"{name}：{band}" for name, band in zip(names, bands, strict=True)]
        origin = (
            f"分档界限取自观测值，使各层客户占比尽量接近 {targets}（同值客户同层）"
            if shares
            else "分档界限由参数文件设定"
        )
        return f"按{label}分档：{_join(parts, 'zh')}。{origin}。"
    parts = [f"{name}: {band}" for name, band in zip(names, bands, strict=True)]
    origin = (
        f"Cut-offs chosen among the observed values so that tier sizes come closest to {targets} "
        "of customers (equal values share a tier)"
        if shares
        else "Cut-offs set in the params"
    )
    return f"Bands of {label}: {_join(parts, 'en')}. {origin}."


def _composite_formula(
    weights: dict[str, float], contribution: str, potential: str, loyalty: str, language: str
) -> str:
    w_c, w_p, w_l = (f"{weights[k]:g}" for k in ("contribution", "potential", "loyalty"))
    if language == "zh":
        pot = "预测CLV" if potential == "clv" else "预测CLV高出历史价值的部分（不低于0）"
        loy = "存活概率×在网时长百分位" if loyalty == "p_alive_tenure" else _label(loyalty, "zh")
        return (
            f"价值得分 = {w_c}×贡献（{_label(contribution, 'zh')}）百分位 + {w_p}×潜力（{pot}）百分位"
            f" + {w_l}×忠诚（{loy}）百分位"
        )
    pot = (
        "predicted CLV"
        if potential == "clv"
        else "predicted CLV above historic value (floored at 0)"
    )
    loy = "P(alive) × tenure percentile" if loyalty == "p_alive_tenure" else _label(loyalty, "en")
    return (
        f"value score = {w_c} × percentile of contribution ({_label(contribution, 'en')}) + "
        f"{w_p} × percentile of potential ({pot}) + {w_l} × percentile of loyalty ({loy})"
    )


# ---------------------------------------------------------------------------------------------
# Threshold rules


def _rule_text(rule: dict[str, Any], language: str) -> str:
    label = _label(rule["column"], language)
    low, high = (format_number(rule[k], language) for k in ("min", "max"))
    if np.isinf(rule["min"]) and np.isinf(rule["max"]):
        return f"{label}（任意值）" if language == "zh" else f"any {label}"
    if np.isinf(rule["max"]):
        return f"{label} ≥ {low}"
    if np.isinf(rule["min"]):
        return f"{label} < {high}"
    return f"{low} ≤ {label} < {high}"


def rules_text(rules: list[dict[str, Any]], language: str) -> str:
    return (
        "["
        + ", ".join(f"tier {t}: {_rule_text(r, language)}" for t, r in enumerate(rules, start=1))
        + "]"
    )


# ---------------------------------------------------------------------------------------------
# One description per method


def describe_bands(
    language: str,
    names: list[str],
    *,
    column: str,
    source: str,
    bounds: list[float],
    shares: list[float] | None,
) -> str:
    """``rfm`` and ``clv``: bands on one column, from the params' cut-offs, quantiles or ranks."""
    label = _label(column, language)
    if source == "ranks":
        bound_texts = [format_number(b, language) for b in bounds]
        return _ranked_text(label, shares, bound_texts, names, language)
    return _banded_text(
        label, bounds, names, language, shares if source == "quantiles" else None
    )


def describe_pareto(
    language: str,
    names: list[str],
    *,
    column: str,
    value_shares: list[float],
    customer_shares: list[float],
    reached: list[float],
    negatives: int,
) -> str:
    """``pareto``: the cumulative value share each tier closes and the customers it took."""
    label = _label(column, language)
    parts = []
    for t, share in enumerate(value_shares):
        cum_customers, cum_value = _pct(customer_shares[t]), _pct(reached[t])
        if language == "zh":
            lead = "最少" if t == 0 else "其后"
            parts.append(
                f"累计占比达到{_pct(share)}的{lead}客户为{names[t]}"
                f"（累计 {cum_customers} 的客户，实际占{cum_value}）"
            )
        else:
            lead = "the fewest" if t == 0 else "the next"
            parts.append(
                f"{lead} customers bringing the cumulative share to {_pct(share)} → {names[t]} "
                f"({cum_customers} of customers cumulatively, {cum_value} of the total)"
            )
    if language == "zh":
        parts.append(f"其余为{names[-1]}")
        note = f"{negatives}个负值按0计。" if negatives else ""
        return (
            f"帕累托（ABC）分析：客户按{label}从高到低排序（同值按客户编号），"
            f"{_join(parts, 'zh')}。{note}"
        )
    parts.append(f"the rest → {names[-1]}")
    note = f" {negatives} negative value(s) count as 0." if negatives else ""
    return (
        f"Pareto (ABC) analysis: customers sorted by {label}, highest first (ties by customer "
        f"id); {_join(parts, 'en')}.{note}"
    )


def describe_threshold(
    language: str,
    names: list[str],
    *,
    rules: list[dict[str, Any]],
    missing_tier: int | None,
) -> str:
    """``threshold``: the business rule of every tier and where missing values go."""
    rule_texts = [_rule_text(r, language) for r in rules]
    if language == "zh":
        parts = [f"{name}：{text}" for name, text in zip(names, rule_texts, strict=True)]
        extra = f"缺失值归入{names[missing_tier - 1]}。" if missing_tier else ""
        return (
            f"按参数文件设定的业务规则分层（下限含、上限不含）：{_join(parts, 'zh')}。{extra}"
        )
    parts = [f"{name}: {text}" for name, text in zip(names, rule_texts, strict=True)]
    extra = f" Missing values go to {names[missing_tier - 1]}." if missing_tier else ""
    return (
        "Business rules set in the params (min inclusive, max exclusive): "
        f"{_join(parts, 'en')}.{extra}"
    )


def describe_kmeans(
    language: str,
    names: list[str],
    *,
    features: list[str],
    negate: list[str],
    value_column: str,
    n_tiers: int,
    n_init: int,
    seed: int,
    profile: dict[int, dict[str, float]],
) -> str:
    """``kmeans``: the clustering set-up and the clusters' mean value, best first."""
    value_label = _label(value_column, language)
    means = [format_number(profile[t][f"{value_column}_mean"], language) for t in profile]
    if language == "zh":
        feats = "、".join(
            _label(f, "zh") + ("（取负）" if f in negate else "") for f in features
        )
        order = _join([f"{name}：均值 {m}" for name, m in zip(names, means, strict=True)], "zh")
        return (
            f"K均值聚类（scikit-learn KMeans，k={n_tiers}，n_init={n_init}，"
            f"random_state={seed}），特征为 {feats} 的 log(1+x) 标准化值；"
            f"各簇按{value_label}均值从高到低命名：{order}。"
        )
    feats = ", ".join(
        _label(f, "en") + (" (sign flipped)" if f in negate else "") for f in features
    )
    order = _join([f"{name}: mean {m}" for name, m in zip(names, means, strict=True)], "en")
    return (
        f"K-means clustering (scikit-learn KMeans, k={n_tiers}, n_init={n_init}, "
        f"random_state={seed}) on standardised log(1+x) of {feats}; clusters named by mean "
        f"{value_label}, highest first: {order}."
    )


def describe_composite(
    language: str,
    names: list[str],
    *,
    weights: dict[str, float],
    contribution_col: str,
    potential_kind: str,
    loyalty_kind: str,
    shares: list[float],
    bounds: list[float],
) -> str:
    """``composite``: the score's formula, then the customer shares it is cut by."""
    formula = _composite_formula(
        weights, contribution_col, potential_kind, loyalty_kind, language
    )
    ranked = _ranked_text(
        "得分" if language == "zh" else "score",
        shares,
        [f"{b:.3f}" for b in bounds],
        names,
        language,
    )
    return (
        ("综合价值评分：" if language == "zh" else "Composite value score: ")
        + formula
        + ("。" if language == "zh" else ". ")
        + ranked
    )
