"""Complaints per tier, their link with satisfaction, and per-customer complaint features.

Definitions, all as of a date ``as_of`` (normally the end of the study period):

* a complaint counts when it was ``opened`` on or before ``as_of``;
* it is **open** when it has no ``closed`` date or was closed after ``as_of``;
* its **resolution time** is ``closed − opened`` in days, for complaints closed by ``as_of``;
* **severity** 低/中/高 or low/medium/high (any case) is read as low/medium/high; other texts
  count as unknown.

Missing inputs follow :mod:`analysis.methods.satisfaction`: an empty result with ``attrs["reason"]``
(a message). Nothing here is in a language: groups and the missing category are codes, the
complaint–satisfaction finding is a message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
from scipy import stats

from analysis.i18n import Message, message
from analysis.methods.ids import is_in
from analysis.methods.satisfaction import (
    TIER,
    TIER_NAME,
    SatisfactionArgumentError,
    empty_result,
    format_p,
    latest_answers,
    net_promoter_score,
    one_row_per_customer,
    tier_table,
    unusable_reason,
)

SEVERITY_LEVELS = {
    "低": "low",
    "中": "medium",
    "高": "high",
    "low": "low",
    "medium": "medium",
    "high": "high",
}
#: The category of a complaint logged without one (text ``complaints_category_uncategorised``).
UNCATEGORISED = "uncategorised"
BY_TIER_COLUMNS = [
    TIER,
    TIER_NAME,
    "customers",
    "complaints",
    "complaints_per_100",
    "complainants",
    "share_with_complaint",
    "open_complaints",
    "high_severity",
    "median_resolution_days",
    "mean_resolution_days",
]
CATEGORY_COLUMNS = [TIER, TIER_NAME, "category", "complaints", "share"]
FEATURE_COLUMNS = [
    "customer_id",
    "complaints_total",
    "complaints_open",
    "complaints_high_severity",
    "last_complaint_date",
    "days_since_last_complaint",
    "mean_resolution_days",
]
LINK_COLUMNS = ["group", "n", "mean_satisfaction", "nps"]


def normalise_severity(severity: pd.Series) -> pd.Series:
    """'low' / 'medium' / 'high' from 低/中/高 or low/medium/high (any case); NA otherwise."""
    text = severity.astype("string").str.strip().str.lower()
    return text.map(SEVERITY_LEVELS).astype("string")


def _as_timestamp(as_of: date | str | pd.Timestamp) -> pd.Timestamp:
    stamp = pd.Timestamp(as_of)
    if pd.isna(stamp):
        raise SatisfactionArgumentError(
            f"as_of must be a date, got {as_of!r}; use e.g. '2025-12-31'."
        )
    return stamp.normalize()


def prepare_complaints(complaints: pd.DataFrame, as_of: date | str | pd.Timestamp) -> pd.DataFrame:
    """Complaints opened by ``as_of`` with ``is_open``, ``resolution_days`` and ``severity_level``.

    ``attrs["after_as_of"]`` counts complaints left out because they were opened after ``as_of``.
    """
    stamp = _as_timestamp(as_of)
    table = complaints.copy()
    table["opened"] = pd.to_datetime(table["opened"], errors="coerce")
    closed = table["closed"] if "closed" in table else pd.Series(pd.NaT, index=table.index)
    table["closed"] = pd.to_datetime(closed, errors="coerce")
    counted = table["opened"].notna() & (table["opened"] <= stamp)
    table = table[counted].copy()
    closed_by_as_of = table["closed"].notna() & (table["closed"] <= stamp)
    table["is_open"] = ~closed_by_as_of
    table["resolution_days"] = (
        ((table["closed"] - table["opened"]).dt.days).where(closed_by_as_of).astype("float64")
    )
    severity = table["severity"] if "severity" in table else pd.Series(pd.NA, index=table.index)
    table["severity_level"] = normalise_severity(severity)
    table.attrs["after_as_of"] = int((~counted).sum())
    return table


# ---------------------------------------------------------------------------------------------
# Per tier


def _tiered_complaints(
    complaints: pd.DataFrame | None,
    customers: pd.DataFrame | None,
    as_of: date | str | pd.Timestamp,
    columns: list[str],
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None]:
    """(complaints with tier, tier table, empty result if unusable)."""
    why = unusable_reason(complaints, "complaints", ["customer_id", "opened"]) or unusable_reason(
        customers, "customers", ["customer_id", TIER]
    )
    if why is not None:
        return pd.DataFrame(), pd.DataFrame(), empty_result(columns, why)
    prepared = prepare_complaints(complaints, as_of)
    tiers = one_row_per_customer(customers.loc[customers[TIER].notna(), ["customer_id", TIER]])
    tiered = prepared.merge(tiers.astype({TIER: "int64"}), on="customer_id", how="inner")
    tiered.attrs = prepared.attrs | {"unmatched_complaints": len(prepared) - len(tiered)}
    return tiered, tier_table(customers), None


def _complaint_row(group: pd.DataFrame, n_customers: int) -> dict[str, float]:
    resolution = group["resolution_days"].dropna()
    complainants = group["customer_id"].nunique()
    return {
        "customers": n_customers,
        "complaints": len(group),
        "complaints_per_100": 100 * len(group) / n_customers if n_customers else np.nan,
        "complainants": complainants,
        "share_with_complaint": complainants / n_customers if n_customers else np.nan,
        "open_complaints": int(group["is_open"].sum()),
        "high_severity": int((group["severity_level"] == "high").sum()),
        "median_resolution_days": float(resolution.median()) if len(resolution) else np.nan,
        "mean_resolution_days": float(resolution.mean()) if len(resolution) else np.nan,
    }


def complaints_by_tier(
    complaints: pd.DataFrame | None,
    customers: pd.DataFrame | None,
    *,
    as_of: date | str | pd.Timestamp,
) -> pd.DataFrame:
    """Complaint volume, reach, backlog and resolution time per tier and overall.

    Per tier: ``customers`` in the tier, ``complaints`` opened by ``as_of``,
    ``complaints_per_100 = 100 · complaints / customers``, ``complainants`` (customers with ≥ 1
    complaint) and ``share_with_complaint = complainants / customers``, ``open_complaints``,
    ``high_severity`` complaints, and the median and mean resolution days of the closed ones.
    ``attrs``: ``unmatched_complaints`` (from customers without a tier, left out) and
    ``after_as_of`` (opened after ``as_of``, left out).
    """
    tiered, tiers, empty = _tiered_complaints(complaints, customers, as_of, BY_TIER_COLUMNS)
    if empty is not None:
        return empty
    rows = [
        {TIER: tier, TIER_NAME: name, **_complaint_row(tiered[tiered[TIER] == tier], n_customers)}
        for tier, name, n_customers in tiers[[TIER, TIER_NAME, "customers"]].itertuples(index=False)
    ]
    rows.append(
        {TIER: pd.NA, TIER_NAME: pd.NA, **_complaint_row(tiered, int(tiers["customers"].sum()))}
    )
    table = pd.DataFrame(rows)[BY_TIER_COLUMNS].astype({TIER: "Int64", TIER_NAME: "string"})
    table.attrs.update(tiered.attrs)
    return table


def complaints_category_by_tier(
    complaints: pd.DataFrame | None,
    customers: pd.DataFrame | None,
    *,
    as_of: date | str | pd.Timestamp,
) -> pd.DataFrame:
    """Complaints by category within each tier and overall (long table).

    ``share`` is the category's share of the tier's complaints (shares of a tier add up to 1).
    Complaints without a category count as :data:`UNCATEGORISED`. Pivot for display with
    ``table.pivot(index="tier", columns="category", values="share")``.
    """
    tiered, tiers, empty = _tiered_complaints(complaints, customers, as_of, CATEGORY_COLUMNS)
    if empty is not None:
        return empty
    category = tiered["category"] if "category" in tiered else pd.Series(pd.NA, index=tiered.index)
    category = category.astype("string").str.strip().replace("", pd.NA).fillna(UNCATEGORISED)
    tiered = tiered.assign(category=category)
    per_tier = (
        tiered.groupby([TIER, "category"], sort=True).size().rename("complaints").reset_index()
    )
    overall = tiered.groupby("category", sort=True).size().rename("complaints").reset_index()
    overall[TIER] = pd.NA
    table = pd.concat([per_tier, overall], ignore_index=True)
    table = table.merge(tiers[[TIER, TIER_NAME]].astype({TIER: "Int64"}), on=TIER, how="left")
    totals = table.groupby(TIER, dropna=False)["complaints"].transform("sum")
    table["share"] = table["complaints"] / totals
    table = table[CATEGORY_COLUMNS].astype(
        {TIER: "Int64", TIER_NAME: "string", "category": "string"}
    )
    table.attrs.update(tiered.attrs)
    return table


# ---------------------------------------------------------------------------------------------
# Complaints and satisfaction


@dataclass(frozen=True)
class ComplaintLink:
    """Satisfaction of respondents with and without complaints, and the Mann–Whitney test.

    ``table`` has one row per group (``with_complaints``, ``without_complaints``): ``n``,
    ``mean_satisfaction`` and ``nps``. ``sentence`` states the finding (a message, built from the
    figures); ``reason`` says why nothing could be computed (then ``table`` is empty and
    ``sentence`` None).
    """

    table: pd.DataFrame
    u_statistic: float = np.nan
    p_value: float = np.nan
    sentence: Message | None = None
    reason: Message | None = None
    notes: dict[str, int] = field(default_factory=dict)


def _link_sentence(table: pd.DataFrame, p: float, alpha: float) -> Message:
    """The finding in words: both groups' mean satisfaction (and NPS), the test and its verdict."""
    with_, without = (
        table.set_index("group")
        .loc[["with_complaints", "without_complaints"]]
        .itertuples(index=False)
    )
    if not np.isfinite(p):
        return message("complaints_link_too_few", with_n=with_.n, without_n=without.n)
    nps = ""
    if np.isfinite(with_.nps) and np.isfinite(without.nps):
        nps = message("complaints_link_nps", with_nps=with_.nps, without_nps=without.nps)
    if p >= alpha:
        verdict = "complaints_link_not_significant"
    elif with_.mean_satisfaction < without.mean_satisfaction:
        verdict = "complaints_link_lower"
    else:
        verdict = "complaints_link_higher"
    return message(
        "complaints_link_sentence",
        with_mean=with_.mean_satisfaction,
        without_mean=without.mean_satisfaction,
        p=format_p(p),
        nps=nps,
        verdict=message(verdict),
    )


def complaint_satisfaction_link(
    complaints: pd.DataFrame | None,
    surveys: pd.DataFrame | None,
    *,
    as_of: date | str | pd.Timestamp | None = None,
    complaint_before_survey: bool = False,
    alpha: float = 0.05,
) -> ComplaintLink:
    """Compare respondents with ≥ 1 complaint against those without.

    Respondents are customers with a survey answer (latest answer each). A respondent is "with
    complaints" when a complaint of theirs was opened by ``as_of`` (all complaints when ``None``)
    and, with ``complaint_before_survey``, on or before their survey date. Satisfaction is
    compared with the two-sided Mann–Whitney U test (Mann & Whitney 1947; ratings are ordinal);
    NPS per group as in :func:`analysis.methods.satisfaction.net_promoter_score`. An association, not a
    cause: unhappy customers may complain more, or complaints may make customers unhappy.
    """
    why = unusable_reason(
        surveys, "surveys", ["customer_id", "overall_satisfaction"]
    ) or unusable_reason(complaints, "complaints", ["customer_id", "opened"])
    if why is not None:
        return ComplaintLink(table=empty_result(LINK_COLUMNS, why), reason=why)
    answers = latest_answers(surveys)
    answers = answers[answers["overall_satisfaction"].notna()]
    prepared = (
        prepare_complaints(complaints, as_of)
        if as_of is not None
        else complaints.assign(opened=pd.to_datetime(complaints["opened"], errors="coerce"))
    )
    if complaint_before_survey and "survey_date" in answers:
        dates = prepared.merge(answers[["customer_id", "survey_date"]], on="customer_id")
        complainers = dates.loc[dates["opened"] <= pd.to_datetime(dates["survey_date"]), "customer_id"]
    else:
        complainers = prepared["customer_id"]
    has_complaint = is_in(answers["customer_id"], pa.array(complainers.astype("string").array))

    rows = []
    for group, mask in (("with_complaints", has_complaint), ("without_complaints", ~has_complaint)):
        part = answers[mask]
        nps = net_promoter_score(part["recommend"])["nps"] if "recommend" in part else np.nan
        rows.append(
            {
                "group": group,
                "n": len(part),
                "mean_satisfaction": part["overall_satisfaction"].mean() if len(part) else np.nan,
                "nps": nps,
            }
        )
    table = pd.DataFrame(rows, columns=LINK_COLUMNS).astype({"group": "string"})
    with_ratings = answers.loc[has_complaint, "overall_satisfaction"].to_numpy(dtype=float)
    without_ratings = answers.loc[~has_complaint, "overall_satisfaction"].to_numpy(dtype=float)
    u, p = np.nan, np.nan
    if (
        len(with_ratings) >= 2
        and len(without_ratings) >= 2
        and answers["overall_satisfaction"].nunique() > 1
    ):
        u, p = stats.mannwhitneyu(with_ratings, without_ratings, alternative="two-sided")
    return ComplaintLink(
        table=table,
        u_statistic=float(u),
        p_value=float(p),
        sentence=_link_sentence(table, float(p), alpha),
    )


# ---------------------------------------------------------------------------------------------
# Per customer


def complaint_features(
    complaints: pd.DataFrame | None, as_of: date | str | pd.Timestamp
) -> pd.DataFrame:
    """One row per customer with ≥ 1 complaint opened by ``as_of``, for churn and watch lists.

    Columns: ``complaints_total``, ``complaints_open``, ``complaints_high_severity``,
    ``last_complaint_date`` (latest ``opened``), ``days_since_last_complaint`` (to ``as_of``) and
    ``mean_resolution_days`` (closed complaints; NaN when none is closed). Customers without
    complaints are absent: left-join onto the customer table and fill counts with 0.
    """
    why = unusable_reason(complaints, "complaints", ["customer_id", "opened"])
    if why is not None:
        return empty_result(FEATURE_COLUMNS, why)
    prepared = prepare_complaints(complaints, as_of)
    if prepared.empty:
        return empty_result(
            FEATURE_COLUMNS, message("complaints_none_by_date", date=_as_timestamp(as_of).date())
        )
    prepared["is_high"] = prepared["severity_level"].eq("high").fillna(False)
    features = prepared.groupby("customer_id", sort=True).agg(
        complaints_total=("opened", "size"),
        complaints_open=("is_open", "sum"),
        complaints_high_severity=("is_high", "sum"),
        last_complaint_date=("opened", "max"),
        mean_resolution_days=("resolution_days", "mean"),
    )
    features["days_since_last_complaint"] = (
        _as_timestamp(as_of) - features["last_complaint_date"]
    ).dt.days
    features = features.reset_index()[FEATURE_COLUMNS]
    features = features.astype(
        {
            "complaints_total": "int64",
            "complaints_open": "int64",
            "complaints_high_severity": "int64",
            "days_since_last_complaint": "int64",
        }
    )
    features.attrs["after_as_of"] = prepared.attrs["after_as_of"]
    return features
