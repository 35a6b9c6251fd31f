"""Account managers (客户经理): who they are, a fair scorecard per manager, and performance levels.

**Who.** The managers come from the optional managers file (``inputs.managers``: id, name, level,
region, hours per month, largest portfolio, start date; :func:`managers_from_file` checks it) or,
without one, from the distinct ``account_manager`` values of the customer master, each with the
params' default level and that level's hours (:func:`managers_from_master`). A customer's
``account_manager`` is matched to a manager's id, else to their name (:func:`match_customers`).

**The scorecard** (:func:`scorecard`) holds per manager: the portfolio (customers, customers per
tier), revenue and predicted CLV managed, CLV growth against the previous run, retention (mean
P(alive)), satisfaction and NPS of the latest survey answer per customer, complaints per 100
customers and their mean resolution days, and the contact hours the playbook's cadence asks for
each month (customers × hours per customer of their tier) against the hours the manager has.

**Fair comparison.** A portfolio of long-standing, high-spending business customers looks different
from one of new consumers whoever manages it. Every adjusted figure compares what the manager's
customers did (observed, O) with what the whole book's customers *like them* did (expected, E):
cells of segment × tenure band (quartiles of T, the days since the first purchase) × spend band
(terciles of the mean order value), cells of fewer than :data:`MIN_CELL` customers pooled. The cell
terms come from the two-way least-squares fit ``y = cell + manager + noise``, so a manager who
holds most of a cell is compared with the cell as it would be under the average manager, not with
their own customers (plain indirect standardisation would pull such a manager toward zero). These traits are the portfolio's mix, not the
manager's doing; the tier is not used for retention or value, since a tier is itself made of the
CLV a manager's retention produces. Per manager ``d = mean(y - e)`` with standard error
``sd(y - e) / sqrt(n)``; the differences are then shrunk toward the book's mean by empirical Bayes
(method-of-moments between-manager variance ``tau^2 = max(0, var(d) - mean(se^2))``, weight
``B = tau^2 / (tau^2 + se^2)``), so a small portfolio's lucky streak does not top the table. The
interval is the posterior mean ± z × sqrt(B) × se at ``managers.confidence``.

**Levels** (:func:`performance_levels`, 客户经理分层): three dimensions from the adjusted figures,
each standardised across managers — 业绩 ``performance`` (value per customer, and CLV growth when
there is a previous run), 服务 ``service`` (satisfaction, minus complaints), 保有 ``retention`` —
combined with ``managers.level_weights`` and standardised again; from ``managers.level_cutoffs[0]``
level A, from ``[1]`` level B, below C. :func:`level_matrix` lays them against the portfolio's
value band (terciles of CLV managed).

No language: codes and :func:`analysis.i18n.message` only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from analysis.i18n import Message, message
from analysis.methods.ids import looked_up

__all__ = [
    "DIMENSIONS",
    "LEVELS",
    "PERFORMANCE_LEVELS",
    "ManagerInputError",
    "Shrunk",
    "adjusted_difference",
    "expected_by_mix",
    "level_matrix",
    "managers_from_file",
    "managers_from_master",
    "match_customers",
    "mix_cells",
    "performance_levels",
    "scorecard",
]

#: Manager levels (codes); their words are the locale texts ``playbook_level_<code>``.
LEVELS = ("senior", "middle", "junior")
#: What a managers file may write for a level (any case), by code.
LEVEL_WORDS: Mapping[str, str] = {
    "senior": "senior", "middle": "middle", "junior": "junior", "mid": "middle",
    "高级": "senior", "资深": "senior", "中级": "middle", "初级": "junior",
    "高级客户经理": "senior", "中级客户经理": "middle", "初级客户经理": "junior",
}
#: Performance levels, best first; words: locale texts ``managers_level_<code>``.
PERFORMANCE_LEVELS = ("A", "B", "C")
#: The dimensions of the levels; words: locale texts ``managers_dimension_<code>``.
DIMENSIONS = ("performance", "service", "retention")
#: Portfolio value bands (terciles of CLV managed), highest first; words: ``managers_value_<code>``.
VALUE_BANDS = ("high", "medium", "low")
#: A mix cell with fewer customers takes the book's mean as its expectation.
MIN_CELL = 10
#: Customers whose account_manager matches no manager are scored under this id.
UNASSIGNED = "unassigned"

MANAGER_COLUMNS = ("manager_id", "name", "level", "region", "hours_per_month", "max_accounts", "start_date")


class ManagerInputError(ValueError):
    """The managers file is wrong: the message names the file, the row, the value and the fix."""


# --------------------------------------------------------------------------- who the managers are

def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or pd.isna(value) or str(value).strip() == ""


def managers_from_file(
    frame: pd.DataFrame, hours_default: Mapping[str, float], *, source: str = "managers file"
) -> pd.DataFrame:
    """The managers of a mapped managers file (contract columns, ``_source_row`` optional), checked.

    ``level`` takes the codes senior/middle/junior or 高级/中级/初级 (:data:`LEVEL_WORDS`); an empty
    ``hours_per_month`` takes ``hours_default[level]``. Raises :class:`ManagerInputError` for an empty
    or repeated id, an unknown level, hours or a largest portfolio that are not positive numbers, or
    a start date that is not a date — naming the file's row and the fix.
    """
    problems: list[str] = []
    rows = frame["_source_row"].tolist() if "_source_row" in frame else list(range(2, len(frame) + 2))
    out = []
    seen: dict[str, int] = {}
    for row, record in zip(rows, frame.to_dict("records")):
        where = f"{source}, row {row}"
        manager_id = "" if _blank(record.get("manager_id")) else str(record["manager_id"]).strip()
        if not manager_id:
            problems.append(f"{where}: the manager id is empty; give every manager an id")
            continue
        if manager_id in seen:
            problems.append(f"{where}: manager id {manager_id!r} repeats row {seen[manager_id]}; give each manager one row")
            continue
        seen[manager_id] = row
        word = "" if _blank(record.get("level")) else str(record["level"]).strip()
        level = LEVEL_WORDS.get(word.lower())
        if level is None:
            problems.append(
                f"{where}: level {word!r} of manager {manager_id} is not a level; use senior, middle or junior "
                "(or 高级, 中级, 初级)"
            )
            continue
        hours = _positive(record.get("hours_per_month"), hours_default.get(level), f"{where}: hours_per_month", problems)
        cap = _positive(record.get("max_accounts"), None, f"{where}: max_accounts", problems)
        start = record.get("start_date")
        start_date = None
        if not _blank(start):
            parsed = pd.to_datetime(str(start).strip(), errors="coerce")
            if pd.isna(parsed):
                problems.append(f"{where}: start_date {start!r} is not a date; write it like 2021-03-01 or leave it empty")
            else:
                start_date = parsed.date()
        name = manager_id if _blank(record.get("name")) else str(record["name"]).strip()
        region = None if _blank(record.get("region")) else str(record["region"]).strip()
        out.append({"manager_id": manager_id, "name": name, "level": level, "region": region,
                    "hours_per_month": hours, "max_accounts": cap, "start_date": start_date})
    if problems:
        shown = problems[:10] + ([f"… and {len(problems) - 10} more"] if len(problems) > 10 else [])
        raise ManagerInputError("The managers file has problems:\n- " + "\n- ".join(shown))
    if not out:
        raise ManagerInputError(f"{source} lists no manager; add one row per account manager, or drop inputs.managers")
    return _typed(pd.DataFrame(out, columns=list(MANAGER_COLUMNS)).assign(source="file"))


def _positive(value: Any, default: float | None, where: str, problems: list[str]) -> float | None:
    if _blank(value):
        return None if default is None else float(default)
    number = pd.to_numeric(str(value).strip().replace(",", ""), errors="coerce")
    if pd.isna(number) or not number > 0:
        problems.append(f"{where} is {value!r}; give a number above 0 or leave it empty")
        return None
    return float(number)


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.astype({"manager_id": "string", "name": "string", "level": "string", "region": "string",
                         "hours_per_month": float, "max_accounts": float})


def managers_from_master(master: pd.DataFrame, level: str, hours_default: Mapping[str, float]) -> pd.DataFrame:
    """The distinct ``account_manager`` values of the customer master as managers (no managers file).

    Each has ``level`` and ``hours_default[level]``; their region is the one most of their customers
    are in (when the master has regions). Empty when the master has no ``account_manager`` column.
    """
    if "account_manager" not in master.columns:
        return _typed(pd.DataFrame(columns=[*MANAGER_COLUMNS, "source"]))
    names = master["account_manager"].astype("string").str.strip()
    names = names[names.notna() & (names != "")]
    ids = sorted(names.unique())
    region = None
    if "region" in master.columns:
        region = master.loc[names.index].assign(m=names).groupby("m")["region"].agg(
            lambda s: s.mode().iloc[0] if s.notna().any() else None)
    frame = pd.DataFrame({
        "manager_id": ids, "name": ids, "level": level,
        "region": [None if region is None else region.get(i) for i in ids],
        "hours_per_month": float(hours_default.get(level, np.nan)), "max_accounts": np.nan, "start_date": None,
        "source": "master",
    })
    return _typed(frame)


def match_customers(account_manager: pd.Series, managers: pd.DataFrame) -> tuple[pd.Series, list[str]]:
    """Each customer's manager id (matched on id, else on name) and the values no manager matches.

    Customers with an empty or unmatched ``account_manager`` get :data:`UNASSIGNED`.
    """
    values = account_manager.astype("string").str.strip()
    by_id = pd.Series(dict(zip(managers["manager_id"].astype(str), managers["manager_id"].astype(str))), dtype=object)
    by_name = pd.Series(dict(zip(managers["name"].astype(str), managers["manager_id"].astype(str))), dtype=object)
    matched = looked_up(values, by_id).fillna(looked_up(values, by_name))
    unknown = sorted(set(values[matched.isna() & values.notna() & (values != "")]))
    return matched.fillna(UNASSIGNED).astype(str), unknown


# --------------------------------------------------------------------------- the fair comparison

def mix_cells(customers: pd.DataFrame) -> pd.Series:
    """Each customer's mix cell: segment × tenure band (quartiles of T) × spend band (terciles of mean order value)."""
    parts = []
    if "segment" in customers.columns:
        parts.append(customers["segment"].astype("string").fillna("?"))
    for column, bins in (("T", 4), ("monetary_value", 3)):
        if column in customers.columns and customers[column].notna().sum() >= bins:
            ranks = customers[column].rank(method="first")
            parts.append(pd.qcut(ranks, bins, labels=False).astype("Int64").astype("string").fillna("?"))
    if not parts:
        return pd.Series("all", index=customers.index, dtype="string")
    cell = parts[0].astype(str)
    for part in parts[1:]:
        cell = cell + "|" + part.astype(str)
    return cell


def expected_by_mix(y: pd.Series, cells: pd.Series, group: pd.Series | None = None) -> pd.Series:
    """Each row's expectation from its mix cell (cells under :data:`MIN_CELL` rows with a ``y`` are pooled).

    Without ``group``: the mean of ``y`` over the book's rows in the cell. With ``group`` (the
    manager of each row): the cell terms of the two-way least-squares fit ``y = cell + manager``
    (managers' terms summing to zero over the rows), so that a manager who holds most of a cell does
    not set that cell's expectation with their own effect. The normal equations are solved on the
    cell × manager counts and sums, so the cost does not grow with the rows. Rows with a missing
    ``y`` still get their cell's expectation.
    """
    known = y.notna()
    if not known.any():
        return pd.Series(np.nan, index=y.index)
    sizes = cells[known].value_counts()
    pooled = cells.where(looked_up(cells, sizes).fillna(0) >= MIN_CELL, "__pooled__").astype(str)
    yk, ck = y[known].astype(float), pooled[known]
    if group is None:
        cell_means = yk.groupby(ck).mean()
    else:
        gk = group[known].astype(str)
        counts = pd.crosstab(ck, gk)
        sums = yk.groupby([ck, gk]).sum().unstack(fill_value=0.0).reindex_like(counts).fillna(0.0)
        n_cells, n_groups = counts.shape
        N = counts.to_numpy(float)
        a = np.zeros((n_cells + n_groups + 1, n_cells + n_groups))
        a[:n_cells, :n_cells] = np.diag(N.sum(axis=1))
        a[:n_cells, n_cells:] = N
        a[n_cells:-1, :n_cells] = N.T
        a[n_cells:-1, n_cells:] = np.diag(N.sum(axis=0))
        a[-1, n_cells:] = N.sum(axis=0)  # the managers' terms sum to zero over the rows
        b = np.concatenate([sums.to_numpy().sum(axis=1), sums.to_numpy().sum(axis=0), [0.0]])
        solution = np.linalg.lstsq(a, b, rcond=None)[0]
        cell_means = pd.Series(solution[:n_cells], index=counts.index)
    return looked_up(pooled, cell_means).astype(float).fillna(float(yk.mean()))


@dataclass(frozen=True)
class Shrunk:
    """Adjusted differences per manager: raw ``d`` and ``se``, shrunk ``estimate`` with ``low``/``high``, and ``tau``."""

    table: pd.DataFrame  # index manager_id: n, observed, expected, d, se, weight, estimate, low, high
    tau: float


def adjusted_difference(y: pd.Series, expected: pd.Series, group: pd.Series, confidence: float = 0.95) -> Shrunk:
    """Observed minus expected per group, shrunk by empirical Bayes toward the mean difference.

    ``d_j = mean(y - e)`` over group j's rows with a ``y``; ``se_j = sd(y - e) / sqrt(n_j)`` (the book's
    residual sd when a group has fewer than 2 rows); ``tau^2 = max(0, var(d) - mean(se^2))`` over groups;
    estimate ``= m + B_j (d_j - m)`` with ``m`` the row-weighted mean of d and ``B_j = tau^2 / (tau^2 + se_j^2)``;
    interval ``estimate ± z sqrt(B_j) se_j``.
    """
    known = y.notna() & expected.notna()
    resid = (y - expected)[known]
    g = group[known]
    agg = pd.DataFrame({"r": resid, "y": y[known], "e": expected[known], "g": g}).groupby("g").agg(
        n=("r", "size"), d=("r", "mean"), sd=("r", "std"), observed=("y", "mean"), expected=("e", "mean"))
    if agg.empty:
        return Shrunk(pd.DataFrame(columns=["n", "observed", "expected", "d", "se", "weight", "estimate", "low", "high"]), 0.0)
    book_sd = float(resid.std()) if len(resid) > 1 else 0.0
    sd = agg["sd"].where(agg["n"] >= 2, book_sd).fillna(book_sd)
    se = sd / np.sqrt(agg["n"])
    m = float(np.average(agg["d"], weights=agg["n"]))
    var_d = float(((agg["d"] - m) ** 2).mean()) if len(agg) > 1 else 0.0
    tau2 = max(0.0, var_d - float((se**2).mean()))
    weight = tau2 / (tau2 + se**2) if tau2 > 0 else pd.Series(0.0, index=agg.index)
    weight = weight.where(se > 0, 1.0)
    estimate = m + weight * (agg["d"] - m)
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    # the posterior sd sqrt(weight)·se; with no spread detected (tau = 0) the shrinkage says nothing about
    # a manager's own difference, so the interval keeps its sampling error instead of collapsing to a point
    half = z * (np.sqrt(weight) * se if tau2 > 0 else se)
    table = agg[["n", "observed", "expected", "d"]].assign(se=se, weight=weight, estimate=estimate,
                                                             low=estimate - half, high=estimate + half)
    return Shrunk(table, math.sqrt(tau2))


# --------------------------------------------------------------------------- the scorecard

def _latest_answers(surveys: pd.DataFrame) -> pd.DataFrame:
    frame = surveys.dropna(subset=["customer_id"])
    if "survey_date" in frame.columns:
        frame = frame.sort_values("survey_date", kind="stable")
    return frame.groupby("customer_id", sort=False).tail(1).set_index("customer_id")


def _nps(recommend: pd.Series) -> float:
    answers = recommend.dropna()
    if answers.empty:
        return np.nan
    return float(100 * ((answers >= 9).mean() - (answers <= 6).mean()))


def scorecard(
    customers: pd.DataFrame,
    managers: pd.DataFrame,
    hours_per_customer: Mapping[int, float],
    *,
    surveys: pd.DataFrame | None = None,
    complaints: pd.DataFrame | None = None,
    previous: pd.DataFrame | None = None,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """One row per manager (and one for :data:`UNASSIGNED` customers when there are any).

    Parameters
    ----------
    customers
        The scored customers (customers.parquet after stage 4) with ``manager_id`` (see
        :func:`match_customers`): tier, revenue, clv, p_alive, T, monetary_value, segment.
    managers
        :func:`managers_from_file` or :func:`managers_from_master`.
    hours_per_customer
        Staff hours per customer per month by tier (the playbook's cadence × minutes).
    surveys, complaints
        The cleaned survey answers and complaint log, or None.
    previous
        The previous run's customers (customer_id, clv, and manager_id matched the same way), or None.
    confidence
        Level of the intervals.

    Returns
    -------
    DataFrame
        manager_id, name, level, region, customers, tier_<k> (customers per tier), revenue, clv,
        clv_previous, growth, growth_adjusted (growth minus the book's), retention and
        retention_expected/_adjusted/_low/_high (mean P(alive); adjusted = shrunk O−E), value_per_customer
        and value_expected/_adjusted/_low/_high (revenue per customer), respondents, satisfaction and
        satisfaction_expected/_adjusted/_low/_high, nps, complaints, complaints_per_100 and
        complaints_expected/_adjusted/_low/_high (per 100 customers), resolution_days, hours_due,
        hours_per_month, utilisation, max_accounts, over_max_accounts, raw_rank, adjusted_rank (by retention).
    """
    book = customers.assign(manager_id=customers["manager_id"].astype(str))  # copies no other column
    cells = mix_cells(book)
    group = book["manager_id"]
    staff = managers.set_index(managers["manager_id"].astype(str))
    ids = list(staff.index) + ([UNASSIGNED] if (group == UNASSIGNED).any() else [])
    out = pd.DataFrame(index=pd.Index(ids, name="manager_id"))
    for column in ("name", "level", "region", "hours_per_month", "max_accounts"):
        out[column] = staff[column].reindex(out.index) if column in staff.columns else np.nan
    out["customers"] = group.value_counts().reindex(out.index).fillna(0).astype(int)
    if "tier" in book.columns:
        tiers = pd.crosstab(group, book["tier"]).reindex(out.index).fillna(0).astype(int)
        for tier in tiers.columns:
            out[f"tier_{int(tier)}"] = tiers[tier]
    for column in ("revenue", "clv"):
        out[column] = book.groupby(group)[column].sum().reindex(out.index).fillna(0.0) if column in book else np.nan

    # growth of CLV managed against the previous run (same customers' managers as they are now)
    out["clv_previous"], out["growth"], out["growth_adjusted"] = np.nan, np.nan, np.nan
    if previous is not None and "clv" in previous.columns and len(previous):
        prev = previous[["customer_id", "clv"]].copy()
        # last quarter's CLV of the customers each manager holds now: a handed-over book is not growth
        now = pd.Series(group.to_numpy(), index=book["customer_id"].astype(str).to_numpy())
        prev["manager_id"] = prev["customer_id"].astype(str).map(now)
        prev = prev.dropna(subset=["manager_id"])
        prev_by = prev.groupby(prev["manager_id"].astype(str))["clv"].sum().reindex(out.index)
        out["clv_previous"] = prev_by
        out["growth"] = out["clv"] / prev_by - 1
        book_growth = float(book["clv"].sum() / prev["clv"].sum() - 1) if prev["clv"].sum() > 0 else np.nan
        out["growth_adjusted"] = out["growth"] - book_growth

    def put(name: str, y: pd.Series, rows_group: pd.Series, rows_cells: pd.Series, scale: float = 1.0) -> None:
        expected = expected_by_mix(y, rows_cells, rows_group)
        shrunk = adjusted_difference(y, expected, rows_group, confidence).table.reindex(out.index)
        out[name] = shrunk["observed"] * scale
        out[f"{name}_expected"] = shrunk["expected"] * scale
        out[f"{name}_adjusted"] = shrunk["estimate"] * scale
        out[f"{name}_low"] = shrunk["low"] * scale
        out[f"{name}_high"] = shrunk["high"] * scale

    if "p_alive" in book.columns:
        put("retention", book["p_alive"].astype(float), group, cells)
    if "revenue" in book.columns:
        put("value_per_customer", book["revenue"].astype(float), group, cells)

    out["respondents"] = 0
    out["nps"] = np.nan
    if surveys is not None and len(surveys) and "overall_satisfaction" in surveys.columns:
        answers = _latest_answers(surveys)
        joined = book.join(answers[[c for c in ("overall_satisfaction", "recommend") if c in answers]],
                           on="customer_id", how="inner")
        if len(joined):
            put("satisfaction", joined["overall_satisfaction"].astype(float), joined["manager_id"], cells.loc[joined.index])
            out["respondents"] = joined.groupby("manager_id").size().reindex(out.index).fillna(0).astype(int)
            if "recommend" in joined.columns:
                out["nps"] = joined.groupby("manager_id")["recommend"].apply(_nps).reindex(out.index)

    if complaints is not None:
        counts = complaints.groupby("customer_id").size()
        y = looked_up(book["customer_id"], counts).fillna(0).astype(float)
        put("complaints_per_100", y, group, cells, scale=100.0)
        out["complaints"] = y.groupby(group).sum().reindex(out.index).fillna(0).astype(int)
        if {"opened", "closed"} <= set(complaints.columns) and len(complaints):
            days = (pd.to_datetime(complaints["closed"]) - pd.to_datetime(complaints["opened"])).dt.days
            per = pd.DataFrame({"customer_id": complaints["customer_id"], "days": days}).dropna()
            per = per.merge(book[["customer_id", "manager_id"]], on="customer_id")
            out["resolution_days"] = per.groupby("manager_id")["days"].mean().reindex(out.index)

    hours = pd.Series({int(t): float(h) for t, h in hours_per_customer.items()}, dtype="float64")
    due = looked_up(pd.to_numeric(book["tier"]), hours).fillna(0.0) if "tier" in book.columns \
        else pd.Series(0.0, index=book.index)
    out["hours_due"] = due.groupby(group).sum().reindex(out.index).fillna(0.0)
    out["utilisation"] = out["hours_due"] / out["hours_per_month"].where(out["hours_per_month"] > 0)
    out["over_max_accounts"] = out["max_accounts"].notna() & (out["customers"] > out["max_accounts"])
    if "retention" in out.columns:
        out["raw_rank"] = out["retention"].rank(ascending=False, method="min").astype("Int64")
        out["adjusted_rank"] = out["retention_adjusted"].rank(ascending=False, method="min").astype("Int64")
    return out.reset_index()


# --------------------------------------------------------------------------- levels

def _standardised(values: pd.Series) -> pd.Series:
    values = values.astype(float)
    sd = values.std()
    if not values.notna().sum() > 1 or not sd > 0:
        return values * 0.0
    return (values - values.mean()) / sd


def _mean_of(parts: list[pd.Series], index: pd.Index) -> pd.Series:
    parts = [p for p in parts if p.notna().any()]
    if not parts:
        return pd.Series(np.nan, index=index)
    return pd.concat(parts, axis=1).mean(axis=1, skipna=True)


def performance_levels(
    card: pd.DataFrame, weights: Mapping[str, float], cutoffs: tuple[float, float] | list[float]
) -> pd.DataFrame:
    """Scores per dimension, the composite and the level (A/B/C) of each manager of ``card``.

    The :data:`UNASSIGNED` row gets no level. A dimension no manager has a figure for is left out
    and the weights of the others renormalised. Returns manager_id, score_performance,
    score_service, score_retention, composite, performance_level (a code) and value_band (a code).
    """
    rows = card[card["manager_id"] != UNASSIGNED].set_index("manager_id")
    col = lambda c: rows[c] if c in rows.columns else pd.Series(np.nan, index=rows.index)  # noqa: E731
    scores = pd.DataFrame(index=rows.index)
    scores["score_performance"] = _mean_of(
        [_standardised(col("value_per_customer_adjusted")), _standardised(col("growth_adjusted"))], rows.index)
    scores["score_service"] = _mean_of(
        [_standardised(col("satisfaction_adjusted")), -_standardised(col("complaints_per_100_adjusted"))], rows.index)
    scores["score_retention"] = _standardised(col("retention_adjusted"))
    used = {d: float(weights.get(d, 0.0)) for d in DIMENSIONS if scores[f"score_{d}"].notna().any()}
    total = sum(used.values())
    composite = sum(scores[f"score_{d}"].fillna(0.0) * w for d, w in used.items()) / total if total > 0 else 0.0
    scores["composite"] = _standardised(pd.Series(composite, index=rows.index))
    high, low = cutoffs
    scores["performance_level"] = np.where(scores["composite"] >= high, "A",
                                           np.where(scores["composite"] >= low, "B", "C"))
    clv = col("clv").astype(float)
    if clv.notna().sum() >= 3:
        bands = pd.qcut(clv.rank(method="first", ascending=False), 3, labels=list(VALUE_BANDS))
        scores["value_band"] = bands.astype(str)
    else:
        scores["value_band"] = "medium"
    return scores.reset_index()


def level_matrix(levels: pd.DataFrame) -> pd.DataFrame:
    """Managers per performance level (rows A, B, C) and portfolio value band (columns high, medium, low)."""
    table = pd.crosstab(levels["performance_level"], levels["value_band"])
    table = table.reindex(index=list(PERFORMANCE_LEVELS), columns=list(VALUE_BANDS)).fillna(0).astype(int)
    table.columns.name = None
    return table


def level_rule(weights: Mapping[str, float], cutoffs: tuple[float, float] | list[float]) -> Message:
    """The levels' rule as a message (the report words it)."""
    total = sum(float(weights.get(d, 0.0)) for d in DIMENSIONS) or 1.0
    return message(
        "managers_level_rule",
        performance=round(100 * float(weights.get("performance", 0.0)) / total),
        service=round(100 * float(weights.get("service", 0.0)) / total),
        retention=round(100 * float(weights.get("retention", 0.0)) / total),
        high=float(cutoffs[0]), low=float(cutoffs[1]),
    )


def source_note(source: str, n_managers: int, unknown: list[str], unassigned: int) -> list[Message]:
    """What the report says about where the managers came from and who could not be matched."""
    notes = [message("managers_source_file" if source == "file" else "managers_source_master", n=n_managers)]
    if unknown:
        notes.append(message("managers_unknown", n=len(unknown)))  # names stay out of the report (show_names)
    if unassigned:
        notes.append(message("managers_unassigned", n=unassigned))
    return notes
