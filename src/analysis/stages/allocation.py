"""Stage 5: per-tier resource allocation — the playbook, the budget and the account-manager hours.

The playbook (service model, manager level, cadence, channels, offers) is the default for the tier
count (:mod:`analysis.methods.playbook`) overlaid with ``allocation.playbook`` from params; the budget and
the hours are split by :mod:`analysis.methods.allocation` to maximise expected retained value.

Two customer actions come with it (:func:`compute_actions`): the win-back list of valuable lost customers
(:mod:`analysis.methods.winback`) and cross-sell suggestions for the tiers of ``actions.cross_sell_tiers``
with their holdout check (:mod:`analysis.methods.cross_sell`). They need stage 4's customers and the
cleaned transactions; a study holding only stage 3's outputs gets the allocation without them.
With fewer than two product categories in the transactions the cross-sell part is skipped and its
record says why.

With ``tiering.previous_run`` and a contact log (``inputs.contacts``) it also asks whether last quarter's
plan worked (:func:`compute_plan_effect`, :mod:`analysis.methods.plan_effect`): the customers of last
quarter's tiers who got their tier's recommended cadence between the previous run's end and this one's
are compared with the others on buying, spend and NPS. It runs here because the cadence is the
playbook's, which this stage owns (last quarter's as the previous run's allocation.parquet holds it).
Without a previous run or a contact log, plan_effect.json says why it was skipped.

The tier count is the one stage 3 tiered with (``tiering.json`` → ``n_tiers``), not ``tiering.n_tiers``
in params: params edited after the tiering ran cannot give a playbook for tiers that do not exist.
:func:`compute` allocates (pure: the tier profile, the tier count and params in); :func:`run` reads and writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from analysis.frame import catalog
from analysis.frame.params import StudyParams
from analysis.frame.study import Study
from analysis.i18n import message
from analysis.methods import allocation, churn, cross_sell, playbook, winback
from analysis.methods import plan_effect as pe
from analysis.methods.cleaning import parse_dates
from analysis.methods.cores import beside
from analysis.methods.ids import repair_ids
from analysis.methods.loading import map_columns, read_input

#: Covariates of the plan-effect comparison, made from last quarter's customers by :func:`plan_covariates`.
PLAN_COVARIATES = ("logit_p_alive", "log_clv", "log_frequency", "log_order_value")
#: Bootstrap resamples of the plan-effect intervals.
PLAN_EFFECT_BOOTSTRAP = 400
#: The columns of transactions.parquet the plan effect reads; the rest is never loaded.
TRANSACTION_COLUMNS = ("customer_id", "order_date", "is_purchase", "amount", "gross_amount")
#: The customers' columns stage 5 reads: those of the win-back list (with the tiers the cross-sell suggests
#: to) and those its reasons read; the customers table's others are never in memory here.
CUSTOMER_COLUMNS = tuple(dict.fromkeys((*winback.COLUMNS, *churn.REASON_COLUMNS)))
#: The columns of last quarter's customers the plan effect reads: their tier, the end of that run's
#: observation and the comparison's covariates (:func:`plan_covariates`).
PREVIOUS_CUSTOMER_COLUMNS = ("customer_id", "tier", "last_purchase", "days_since_last", "p_alive", "clv", "frequency",
                             "orders", "revenue")


@dataclass
class AllocationOutcome:
    table: pd.DataFrame
    capacity: pd.DataFrame
    hours: allocation.HoursAllocation
    playbook: playbook.Playbook
    curve: allocation.ResponseCurve
    summary: dict[str, Any]
    actions: ActionsOutcome | None = field(default=None)


@dataclass
class ActionsOutcome:
    """The win-back list, the cross-sell suggestions and the suggestions' holdout check."""

    winback: pd.DataFrame
    winback_summary: dict[str, Any]
    cross_sell: pd.DataFrame
    validation: dict[str, Any]


#: The columns of an empty cross_sell.parquet (no product category to suggest from).
CROSS_SELL_COLUMNS = {"customer_id": "string", "tier": "int64", "rank": "int64", "category": "string",
                      "score": "float64", "buyers_share": "float64", "categories_bought": "int64"}


def compute_actions(customers: pd.DataFrame, transactions: pd.DataFrame | cross_sell.EnginePurchases,
                    params: StudyParams) -> ActionsOutcome:
    """The win-back list and the cross-sell suggestions with their holdout check (``actions`` in params);
    ``transactions``: the cleaned rows, or the engine's counts of them (:class:`~analysis.methods.cross_sell.EnginePurchases`)."""
    a = params.actions
    listed = winback.winback_list(customers, max_p_alive=a.winback_max_p_alive,
                                  value_quantile=a.winback_value_quantile, size=a.winback_size)
    summary = winback.winback_summary(listed)
    # the suggestions' matrix and the check's two (before and after its cutoff) from one count
    cutoff = cross_sell.holdout_cutoff(params.period.end, a.cross_sell_holdout_months)
    purchases = cross_sell.purchases_of(transactions).split_at(cutoff, params.period.end)
    n_categories = purchases.category_count()
    if n_categories < 2:
        empty = pd.DataFrame({c: pd.Series(dtype=t) for c, t in CROSS_SELL_COLUMNS.items()})
        reason = message("cross_sell_reason_no_category" if n_categories == 0 else "cross_sell_reason_one_category")
        validation = {"method": cross_sell.ItemCosine.method, "baseline": cross_sell.Popularity.method,
                      "k": a.cross_sell_k, "holdout_months": a.cross_sell_holdout_months, "tiers": a.cross_sell_tiers,
                      "usable": False, "reason": reason}
        return ActionsOutcome(listed, summary, empty, validation)
    with beside(cross_sell.holdout_validation, purchases, end=params.period.end,  # the check beside the suggestions
                holdout_months=a.cross_sell_holdout_months, k=a.cross_sell_k, seed=params.seed) as checked:
        suggestions = cross_sell.cross_sell_suggestions(purchases, customers, tiers=a.cross_sell_tiers,
                                                        k=a.cross_sell_k, end=params.period.end)
        validation = checked.result()
    validation["tiers"] = list(a.cross_sell_tiers)
    validation["suggested_customers"] = int(suggestions["customer_id"].nunique())
    validation["suggested_categories"] = cross_sell.suggestion_summary(suggestions).to_dict(orient="records")
    validation["tier_customers"] = int(customers["tier"].isin(a.cross_sell_tiers).sum()) if "tier" in customers else 0
    return ActionsOutcome(listed, summary, suggestions, validation)


def compute(
    profile: pd.DataFrame, n_tiers: int, params: StudyParams, *,
    customers: pd.DataFrame | None = None, transactions: pd.DataFrame | cross_sell.EnginePurchases | None = None,
) -> AllocationOutcome:
    """The playbook for ``n_tiers`` tiers, the budget and the hours split across the tiers of ``profile``;
    with stage 4's ``customers`` and the cleaned ``transactions`` (or the engine's counts of them), the
    customer actions too."""
    a = params.allocation
    book = playbook.merge_playbook(playbook.default_playbook(n_tiers), a.playbook)
    curve, curve_hours = allocation.response_curves_from_params(a.response)
    table = allocation.allocation_table(
        profile, a.budget, book, a.hours_available, curve=curve, curve_hours=curve_hours,
        min_share=a.min_share, max_share=a.max_share,
    )
    capacity = allocation.capacity_check(profile, book, a.hours_available)
    hours = allocation.allocate_manager_hours(profile, book, a.hours_available, curve_hours)
    totals = {
        column: float(table[column].sum())
        for column in ("value_optimal", "value_equal", "value_revenue", "budget")
        if column in table.columns
    }
    summary = {
        "budget": a.budget,
        "currency": params.currency,
        "expected_retained_value": totals,
        "gain_vs_equal": totals.get("value_optimal", 0.0) - totals.get("value_equal", 0.0),
        "gain_vs_revenue": totals.get("value_optimal", 0.0) - totals.get("value_revenue", 0.0),
        "curve": {k: v for k, v in vars(curve).items()},
        "binding_levels": capacity.loc[capacity["binding"], "level"].tolist() if "binding" in capacity else [],
    }
    outcome = AllocationOutcome(table, capacity, hours, book, curve, summary)
    if customers is not None and transactions is not None:
        outcome.actions = compute_actions(customers, transactions, params)
        summary["winback"] = outcome.actions.winback_summary
    return outcome


def read_contacts(params: StudyParams) -> pd.DataFrame | None:
    """The contact log of ``inputs.contacts`` with its columns mapped and dates read (None without one).

    Ids stay text as written (:func:`compute_plan_effect` repairs them against last quarter's
    customers); unreadable dates become NaT and those rows are not counted.
    """
    spec = params.inputs.contacts
    if spec is None:
        return None
    frame = map_columns(read_input(spec, "contacts").frame, spec, "contacts")
    c = params.cleaning
    frame["contact_date"] = parse_dates(frame["contact_date"], c.date_formats, excel_serials=c.excel_serial_dates)
    return frame


def plan_covariates(previous: pd.DataFrame) -> pd.DataFrame:
    """Last quarter's customers with the comparison's covariates: logit P(alive), log(1 + CLV),
    log(1 + repeat purchases) and log(1 + mean order value) (revenue / orders)."""
    p = pd.to_numeric(previous["p_alive"], errors="coerce").clip(1e-4, 1 - 1e-4)
    orders = pd.to_numeric(previous.get("orders", pd.Series(1, index=previous.index)), errors="coerce")
    revenue = pd.to_numeric(previous.get("revenue", pd.Series(0.0, index=previous.index)), errors="coerce")
    return previous.assign(
        logit_p_alive=np.log(p / (1 - p)),
        log_clv=np.log1p(pd.to_numeric(previous["clv"], errors="coerce").clip(lower=0)),
        log_frequency=np.log1p(pd.to_numeric(previous["frequency"], errors="coerce").clip(lower=0)),
        log_order_value=np.log1p((revenue / orders.where(orders > 0)).clip(lower=0)),
    )


def previous_cadence(previous_allocation: pd.DataFrame | None, n_tiers: int, params: StudyParams) -> tuple[dict[int, float], str]:
    """Recommended contacts a month per tier last quarter, and where they come from: the previous
    run's allocation.parquet (``previous_allocation``), else this run's playbook for ``n_tiers`` tiers."""
    if previous_allocation is not None and {"tier", "contacts_per_month"} <= set(previous_allocation.columns):
        rows = previous_allocation[["tier", "contacts_per_month"]].dropna()
        return {int(t): float(c) for t, c in zip(rows["tier"], rows["contacts_per_month"])}, "previous_allocation"
    book = playbook.merge_playbook(playbook.default_playbook(n_tiers), params.allocation.playbook)
    return {tier: play.contacts_per_month for tier, play in book.items()}, "playbook"


def compute_plan_effect(
    params: StudyParams, *, previous: pd.DataFrame | None, contacts: pd.DataFrame | None,
    transactions: pd.DataFrame | None, surveys: pd.DataFrame | None = None,
    previous_allocation: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """plan_effect.json: did last quarter's plan work (see :mod:`analysis.methods.plan_effect`)?

    ``previous`` is last quarter's customers (with ``tier``), ``contacts`` :func:`read_contacts`' log,
    ``transactions`` and ``surveys`` this run's cleaned ones. Without what it needs the record holds
    ``skipped`` (a message) and no estimate.
    """
    run = params.tiering.previous_run
    record: dict[str, Any] = {"previous_run": run, "skipped": None}
    if not run:
        return {**record, "skipped": pe.skip_reason("no_previous_run")}
    if contacts is None:
        return {**record, "skipped": pe.skip_reason("no_contacts")}
    if previous is None or "tier" not in previous.columns or previous["tier"].isna().all() or transactions is None:
        return {**record, "skipped": pe.skip_reason("no_previous_customers", run=run)}
    previous = previous[previous["tier"].notna()].assign(tier=lambda f: f["tier"].astype(int))
    start = pe.previous_end(previous) + pd.Timedelta(days=1)
    end = pd.Timestamp(params.period.end)
    record["quarter"] = {"start": start.date().isoformat(), "end": end.date().isoformat()}
    if start > end:
        return {**record, "skipped": pe.skip_reason("empty_quarter", **record["quarter"])}
    cadence, source = previous_cadence(previous_allocation, int(previous["tier"].max()), params)
    record.update(cadence={str(t): c for t, c in sorted(cadence.items())}, cadence_source=source)
    if not any(c > 0 for c in cadence.values()):
        return {**record, "skipped": pe.skip_reason("no_cadence")}
    contacts = contacts.assign(customer_id=repair_ids(contacts["customer_id"], previous["customer_id"].astype(str)).ids)
    in_quarter = contacts["contact_date"].between(start, end)
    record["contacts"] = {"rows": int(len(contacts)), "in_quarter": int(in_quarter.sum()),
                          "unreadable_dates": int(contacts["contact_date"].isna().sum()),
                          "unknown_customers": int((in_quarter & ~contacts["customer_id"].isin(
                              set(previous["customer_id"].astype(str)))).sum())}
    frame = pe.plan_frame(plan_covariates(previous), contacts, cadence, transactions, start=start, end=end,
                          surveys=surveys)
    result = pe.plan_effect(frame, PLAN_COVARIATES, n_boot=PLAN_EFFECT_BOOTSTRAP, seed=params.seed)
    return {**record, **result}


def run(study: Study) -> AllocationOutcome:
    """Allocate for the tiers stage 3 placed customers in (``tiering.json`` → ``n_tiers``); write
    allocation.parquet, capacity.parquet, allocation.json and plan_effect.json, and (with customers.parquet and
    transactions.parquet there) winback.parquet, cross_sell.parquet and cross_sell_validation.json."""
    p = study.params
    n_tiers = int(study.read(catalog.TIERING_JSON)["n_tiers"])
    # the cross-sell counts purchases in the engine: the rows never come into memory for it
    path = study.output(catalog.TRANSACTIONS)
    purchases = (cross_sell.EnginePurchases(path, p.scoring.engine, p.scoring.engine_memory_limit)
                 if path.is_file() else None)
    outcome = compute(study.read(catalog.TIER_PROFILE), n_tiers, p,
                      customers=study.read_optional(catalog.CUSTOMERS, columns=CUSTOMER_COLUMNS), transactions=purchases)
    study.write(catalog.ALLOCATION, outcome.table)
    study.write(catalog.CAPACITY, outcome.capacity)
    study.write(catalog.ALLOCATION_JSON, outcome.summary)
    contacts = read_contacts(p)
    # the rows only for the plan effect, which needs last quarter's run and the contact log
    wanted = bool(p.tiering.previous_run) and contacts is not None
    study.write(catalog.PLAN_EFFECT, compute_plan_effect(
        p, previous=study.read_previous(catalog.CUSTOMERS, PREVIOUS_CUSTOMER_COLUMNS), contacts=contacts,
        transactions=study.read_optional(catalog.TRANSACTIONS, columns=TRANSACTION_COLUMNS) if wanted else None,
        surveys=study.read_optional(catalog.SURVEYS), previous_allocation=study.read_previous(catalog.ALLOCATION)))
    if outcome.actions is not None:
        study.write(catalog.WINBACK, outcome.actions.winback)
        study.write(catalog.CROSS_SELL, outcome.actions.cross_sell)
        study.write(catalog.CROSS_SELL_VALIDATION, outcome.actions.validation)
    else:  # no lists from an earlier run's outputs
        for name in (catalog.WINBACK, catalog.CROSS_SELL, catalog.CROSS_SELL_VALIDATION):
            study.remove(name)
    return outcome
