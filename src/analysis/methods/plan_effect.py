"""Did last quarter's plan work? The effect of getting the recommended service level, observed.

**Treatment.** Last quarter each customer sat in a tier, and the playbook recommended the tier's
contact cadence (contacts a month). A customer is *treated* when the contact log shows at least
that many contacts over the quarter: ``contacts >= ceil(cadence × months)``, the months counted on
the calendar (1 Oct – 31 Dec is 3). A tier recommending no contact has no treatment and is left out.

**Outcomes** in the quarter (:func:`plan_frame`): ``bought`` (1 when the customer bought at least
once, returns aside), ``spend_change`` (amount bought in the quarter minus the amount in the
equally long stretch just before it) and ``nps`` (the customer's last recommendation answer in the
quarter as an NPS contribution: +100 for 9–10, 0 for 7–8, −100 for 0–6; only surveyed customers).

**Estimate** (:func:`effect_estimate`): the average effect of treatment over the customers
(ATE), estimated within each of last quarter's tiers and weighted by the tier's customers inside
the common support. Within a tier, doubly robust augmented inverse-probability weighting (Robins,
Rotnitzky & Zhao 1994; Glynn & Quinn 2010): a logistic propensity model of treatment on the
covariates (last quarter's P(alive), CLV, frequency and order value, as the caller prepares them)
and a linear outcome model per group;
the estimate is consistent when either model is right. Customers outside the common support of the
propensity (below the larger of the two groups' smallest score, above the smaller of their
largest) are set aside and counted. The interval is a percentile bootstrap that resamples
customers within tier and group and refits everything; a replicate in which one of the estimate's
tiers cannot be estimated is left out and counted (``bootstrap_incomplete``). The naive difference of means (treated −
untreated, all tiers pooled) is given beside it with its own bootstrap interval.

**Caveat.** The comparison is observational: managers chose whom to contact, and the adjustment
removes only the part of that choice the covariates capture. Every record carries that caveat.
A tier without treated or untreated customers, or with too few of either inside the common
support, gives a reason instead of a number; so does the whole estimate when no tier is usable.

No I/O and no language: reasons and the caveat are messages (:func:`analysis.i18n.message`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from analysis.i18n import Message, message

__all__ = [
    "OUTCOMES",
    "effect_estimate",
    "months_between",
    "nps_points",
    "plan_effect",
    "plan_frame",
    "previous_end",
    "required_contacts",
    "skip_reason",
]

#: Outcome codes, in the order the report shows them.
OUTCOMES = ("bought", "spend_change", "nps")
#: Smallest number of treated and of untreated customers a tier needs inside the common support.
MIN_GROUP = 10
_RIDGE = 1e-3


# --------------------------------------------------------------------------- the per-customer frame

def previous_end(previous: pd.DataFrame) -> pd.Timestamp:
    """The observation end of last quarter's run: ``last_purchase + days_since_last`` of its customers."""
    end = pd.to_datetime(previous["last_purchase"]) + pd.to_timedelta(previous["days_since_last"], unit="D")
    return pd.Timestamp(end.max()).normalize()


def months_between(start: pd.Timestamp, end: pd.Timestamp) -> float:
    """Calendar months from ``start`` to ``end`` inclusive: whole months, then the rest in days / 30.4375."""
    start, after = pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize() + pd.Timedelta(days=1)
    whole = (after.year - start.year) * 12 + (after.month - start.month)
    if start + pd.DateOffset(months=whole) > after:
        whole -= 1
    rest = (after - (start + pd.DateOffset(months=whole))).days
    return whole + rest / 30.4375


def required_contacts(cadence: float, months: float) -> int:
    """Contacts that meet ``cadence`` a month over ``months``: ``ceil(cadence × months)`` (1e-9 slack)."""
    return int(math.ceil(cadence * months - 1e-9))


def nps_points(recommend: pd.Series) -> pd.Series:
    """A 0–10 recommendation answer as its NPS contribution: +100 (9–10), 0 (7–8), −100 (0–6)."""
    r = pd.to_numeric(recommend, errors="coerce")
    return pd.Series(np.select([r >= 9, r >= 7, r.notna()], [100.0, 0.0, -100.0], np.nan), index=r.index)


def plan_frame(previous: pd.DataFrame, contacts: pd.DataFrame, cadence: Mapping[int, float],
               transactions: pd.DataFrame, *, start: pd.Timestamp, end: pd.Timestamp,
               surveys: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per customer of last quarter's tiers with a recommended cadence: treatment and outcomes.

    Parameters
    ----------
    previous : last quarter's customers: ``customer_id``, ``tier`` and the covariate columns.
    contacts : the contact log: ``customer_id``, ``contact_date`` (datetime; rows without one are ignored).
    cadence : recommended contacts a month per tier (last quarter's playbook); a tier missing or
        at 0 is left out.
    transactions : this run's cleaned rows: ``customer_id``, ``order_date``, ``is_purchase`` and
        ``gross_amount`` (else ``amount``).
    start, end : the quarter, both days included.
    surveys : optional answers: ``customer_id``, ``survey_date``, ``recommend``.

    Returns
    -------
    DataFrame
        ``previous``'s columns plus ``contacts``, ``required`` (contacts that meet the cadence),
        ``treated`` (bool), ``bought`` (0/1), ``spend``, ``spend_before``, ``spend_change`` and
        ``nps`` (NaN without an answer in the quarter).
    """
    start, end = pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize()
    months = months_between(start, end)
    frame = previous[previous["tier"].map(lambda t: float(cadence.get(int(t), 0.0)) > 0)].copy()
    frame["required"] = [required_contacts(float(cadence[int(t)]), months) for t in frame["tier"]]
    dates = pd.to_datetime(contacts["contact_date"], errors="coerce")
    in_quarter = contacts.loc[dates.between(start, end), "customer_id"].astype(str)
    frame["contacts"] = frame["customer_id"].astype(str).map(in_quarter.value_counts()).fillna(0).astype(int)
    frame["treated"] = frame["contacts"] >= frame["required"]

    tx = transactions[transactions["is_purchase"].astype(bool)] if "is_purchase" in transactions else transactions
    amount = tx["gross_amount"] if "gross_amount" in tx else tx["amount"]
    day = pd.to_datetime(tx["order_date"]).dt.normalize()
    ids = tx["customer_id"].astype(str)
    now = day.between(start, end)
    before = day.between(start - (end - start) - pd.Timedelta(days=1), start - pd.Timedelta(days=1))
    key = frame["customer_id"].astype(str)
    frame["bought"] = key.isin(set(ids[now])).astype(float).to_numpy()
    frame["spend"] = key.map(amount[now].groupby(ids[now]).sum()).fillna(0.0).to_numpy()
    frame["spend_before"] = key.map(amount[before].groupby(ids[before]).sum()).fillna(0.0).to_numpy()
    frame["spend_change"] = frame["spend"] - frame["spend_before"]
    frame["nps"] = np.nan
    if surveys is not None and "recommend" in surveys and len(surveys):
        answered = surveys.assign(_day=pd.to_datetime(surveys["survey_date"], errors="coerce"))
        answered = answered[answered["_day"].between(start, end) & answered["recommend"].notna()]
        last = answered.sort_values("_day").groupby(answered["customer_id"].astype(str)).tail(1)
        points = nps_points(last["recommend"])
        points.index = last["customer_id"].astype(str)
        frame["nps"] = key.map(points).to_numpy(dtype=float)
    return frame.reset_index(drop=True)


# --------------------------------------------------------------------------- the estimators

def _design(x: np.ndarray) -> np.ndarray:
    """Standardised covariates with an intercept column (constant columns left at 0)."""
    sd = x.std(axis=0)
    z = (x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    return np.column_stack([np.ones(len(x)), z])


def _logistic(x: np.ndarray, t: np.ndarray, iterations: int = 30) -> np.ndarray:
    """Fitted P(t = 1 | x) of a logistic regression (Newton steps, a small ridge on the slopes)."""
    beta = np.zeros(x.shape[1])
    penalty = np.full(x.shape[1], _RIDGE)
    penalty[0] = 0.0
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ beta, -30, 30)))
        w = p * (1 - p)
        hessian = x.T @ (x * w[:, None]) + np.diag(penalty) * len(t)
        step = np.linalg.solve(hessian, x.T @ (t - p) - penalty * len(t) * beta)
        beta += step
        if np.abs(step).max() < 1e-8:
            break
    return 1.0 / (1.0 + np.exp(-np.clip(x @ beta, -30, 30)))


def _fitted(x: np.ndarray, y: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Least-squares predictions for every row from the rows ``rows``."""
    coef, *_ = np.linalg.lstsq(x[rows], y[rows], rcond=None)
    return x @ coef


def _stratum_aipw(x: np.ndarray, t: np.ndarray, y: np.ndarray, min_group: int) -> tuple[float, int, str | None, np.ndarray]:
    """(estimate, customers used, reason code or None, propensity) of one tier."""
    n1, n0 = int(t.sum()), int((~t).sum())
    if n1 == 0:
        return math.nan, 0, "no_treated", np.full(len(t), np.nan)
    if n0 == 0:
        return math.nan, 0, "no_control", np.full(len(t), np.nan)
    if n1 < min_group or n0 < min_group:
        return math.nan, 0, "too_few", np.full(len(t), np.nan)
    design = _design(x)
    e = _logistic(design, t.astype(float))
    lo, hi = max(e[t].min(), e[~t].min()), min(e[t].max(), e[~t].max())
    keep = (e >= lo) & (e <= hi)
    if (keep & t).sum() < min_group or (keep & ~t).sum() < min_group:
        return math.nan, 0, "no_overlap", e
    d, tt, yy, ee = design[keep], t[keep], y[keep], np.clip(e[keep], 1e-3, 1 - 1e-3)
    mu1, mu0 = _fitted(d, yy, tt), _fitted(d, yy, ~tt)
    psi = mu1 - mu0 + tt * (yy - mu1) / ee - (~tt) * (yy - mu0) / (1 - ee)
    return float(psi.mean()), int(keep.sum()), None, e


def _pooled(parts: Sequence[tuple[float, int]]) -> float:
    used = [(est, n) for est, n in parts if n > 0 and np.isfinite(est)]
    total = sum(n for _, n in used)
    return sum(est * n for est, n in used) / total if total else math.nan


def _summary(values: np.ndarray) -> list[float]:
    """min, 5 %, median, 95 %, max."""
    return [round(float(v), 4) for v in np.quantile(values, [0, 0.05, 0.5, 0.95, 1])] if len(values) else []


def effect_estimate(frame: pd.DataFrame, outcome: str, covariates: Sequence[str], *, strata: str = "tier",
                    n_boot: int = 400, level: float = 0.95, seed: int = 0,
                    min_group: int = MIN_GROUP) -> dict[str, Any]:
    """The doubly robust ATE of ``treated`` on ``outcome`` within ``strata``, its interval and the naive difference.

    Rows with a missing outcome (NPS of customers not surveyed) are left out first. Returns a
    JSON-ready record: ``outcome``, ``estimand`` (``ate``), ``method`` (``aipw_by_tier``),
    ``estimate``, ``low``, ``high``, ``level``, ``naive``, ``naive_low``, ``naive_high``,
    ``n_treated``, ``n_control``, ``n_used``, ``n_outside_support``, ``overlap`` {``treated``,
    ``control``: propensity min/5 %/median/95 %/max; ``share_extreme``: share below 0.05 or above
    0.95}, ``strata`` (one record per tier with its own reason), ``reason`` (None, or a message
    saying why there is no estimate; ``estimate`` is then None) and ``caveat`` (a message).
    """
    data = frame[frame[outcome].notna()]
    t_all = data["treated"].to_numpy(bool)
    y_all = data[outcome].to_numpy(float)
    cov = data[list(covariates)].astype(float).replace([np.inf, -np.inf], np.nan)
    x_all = cov.fillna(cov.median()).fillna(0.0).to_numpy()
    groups = data[strata].to_numpy()
    record: dict[str, Any] = {
        "outcome": outcome, "estimand": "ate", "method": "aipw_by_tier", "covariates": list(covariates),
        "level": level, "n_boot": n_boot, "n_treated": int(t_all.sum()), "n_control": int((~t_all).sum()),
        "estimate": None, "low": None, "high": None, "naive": None, "naive_low": None, "naive_high": None,
        "n_used": 0, "n_outside_support": 0, "overlap": None, "strata": [], "reason": None,
        "caveat": message("plan_effect_caveat"),
    }
    if len(data) == 0 or t_all.sum() == 0:
        record["reason"] = message("plan_effect_reason_no_treated", outcome=message(f"plan_effect_outcome_{outcome}"), min=min_group)
        return record
    if (~t_all).sum() == 0:
        record["reason"] = message("plan_effect_reason_no_control", outcome=message(f"plan_effect_outcome_{outcome}"), min=min_group)
        return record

    def naive(t: np.ndarray, y: np.ndarray) -> float:
        return float(y[t].mean() - y[~t].mean())

    levels = sorted(pd.unique(groups))
    rows_of = {g: np.flatnonzero(groups == g) for g in levels}
    parts, propensity, strata_records = [], np.full(len(data), np.nan), []
    for g in levels:
        rows = rows_of[g]
        est, used, reason, e = _stratum_aipw(x_all[rows], t_all[rows], y_all[rows], min_group)
        propensity[rows] = e
        parts.append((est, used))
        tt = t_all[rows]
        strata_records.append({
            strata: int(g) if isinstance(g, (int, np.integer)) else g,
            "n_treated": int(tt.sum()), "n_control": int((~tt).sum()), "n_used": used,
            "estimate": None if reason else est,
            "naive": naive(tt, y_all[rows]) if tt.any() and (~tt).any() else None,
            "reason": None if reason is None else message(f"plan_effect_reason_{reason}",
                                                          outcome=message(f"plan_effect_outcome_{outcome}"), min=min_group),
            "reason_code": reason,
        })
    record["strata"] = strata_records
    record["naive"] = naive(t_all, y_all)
    usable = [g for g, part in zip(levels, parts) if part[1] > 0]
    seen = np.isfinite(propensity)
    if seen.any():
        record["overlap"] = {
            "treated": _summary(propensity[seen & t_all]), "control": _summary(propensity[seen & ~t_all]),
            "share_extreme": round(float(((propensity[seen] < 0.05) | (propensity[seen] > 0.95)).mean()), 4),
        }
    if not usable:
        codes = {r["reason_code"] for r in strata_records}
        code = "no_overlap" if "no_overlap" in codes else "too_few"
        record["reason"] = message(f"plan_effect_reason_{code}", outcome=message(f"plan_effect_outcome_{outcome}"), min=min_group)
        return record
    record["estimate"] = _pooled(parts)
    record["n_used"] = int(sum(n for _, n in parts))
    record["n_outside_support"] = int(sum(len(rows_of[g]) for g in usable) - record["n_used"])

    rng = np.random.default_rng(seed)
    boot, boot_naive = np.full(n_boot, np.nan), np.full(n_boot, np.nan)
    for b in range(n_boot):
        picked = []
        for g in levels:
            rows = rows_of[g]
            for arm in (rows[t_all[rows]], rows[~t_all[rows]]):
                if arm.size:
                    picked.append(rng.choice(arm, arm.size, replace=True))
        sample = np.concatenate(picked)
        boot_naive[b] = naive(t_all[sample], y_all[sample])
        sample_groups = groups[sample]
        boot_parts = []
        for g in usable:
            rows = sample[sample_groups == g]
            est, used, _, _ = _stratum_aipw(x_all[rows], t_all[rows], y_all[rows], min_group)
            boot_parts.append((est, used))
        # a replicate that loses one of the estimate's tiers estimates another population: left out, counted
        complete = all(n > 0 and np.isfinite(est) for est, n in boot_parts)
        boot[b] = _pooled(boot_parts) if complete else math.nan
    tail = (1 - level) / 2
    finite = boot[np.isfinite(boot)]
    record["bootstrap_incomplete"] = int(n_boot - finite.size)
    if finite.size:
        record["low"], record["high"] = (float(v) for v in np.quantile(finite, [tail, 1 - tail]))
    record["naive_low"], record["naive_high"] = (float(v) for v in np.quantile(boot_naive, [tail, 1 - tail]))
    return record


def plan_effect(frame: pd.DataFrame, covariates: Sequence[str], *, outcomes: Sequence[str] = OUTCOMES,
                n_boot: int = 400, level: float = 0.95, seed: int = 0, min_group: int = MIN_GROUP) -> dict[str, Any]:
    """:func:`effect_estimate` for each outcome (one seed stream each), keyed by outcome code.

    The estimates are the record's ``outcomes``; ``n_customers``, ``n_treated``, ``n_control`` and
    the treated share per tier (``tiers``) describe the comparison.
    """
    seeds = np.random.SeedSequence(seed).spawn(len(outcomes))
    results = {
        outcome: effect_estimate(frame, outcome, covariates, n_boot=n_boot, level=level,
                                 seed=int(s.generate_state(1)[0]), min_group=min_group)
        for outcome, s in zip(outcomes, seeds)
    }
    tiers = (frame.groupby("tier")
             .agg(customers=("treated", "size"), treated=("treated", "sum"), required=("required", "first"))
             .reset_index())
    return {
        "n_customers": int(len(frame)),
        "n_treated": int(frame["treated"].sum()),
        "n_control": int((~frame["treated"]).sum()),
        "tiers": [{k: int(v) for k, v in row.items()} for row in tiers.to_dict(orient="records")],
        "outcomes": results,
    }


def skip_reason(code: str, **values: Any) -> Message:
    """The message of a reason the whole comparison is skipped (``plan_effect_skip_<code>``)."""
    return message(f"plan_effect_skip_{code}", **values)
