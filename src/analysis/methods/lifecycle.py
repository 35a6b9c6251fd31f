"""Customer lifecycle stages: new, growing, mature, declining, lost.

A stage comes from explicit rules evaluated in a fixed precedence: each customer takes the first
stage in ``precedence`` whose rule holds, and the ``fallback`` stage when none does. A rule is a
list of clauses joined by OR; a clause is a mapping ``feature -> [operator, threshold]`` whose
conditions are joined by AND. Features are columns of the customers table (``p_alive``,
``days_since_last``, ``tenure_days``, ``frequency``, ...) or of :func:`spend_trend` (``recent_spend``,
``previous_spend``, ``spend_ratio``). A condition on a missing value is false.

The default rule set (:data:`DEFAULT_LIFECYCLE_RULES`), in its precedence:

1. lost       — P(alive) < 0.3, or more than 365 days since the last purchase;
2. new        — first purchase at most 90 days ago;
3. declining  — spend in the last 180 days < 50 % of the previous 180 days', or P(alive) < 0.6;
4. growing    — (tenure ≤ 365 days and at least one repeat purchase), or recent spend ≥ 120 % of
   the previous window's;
5. mature     — everybody else (the fallback).

The params file (``churn.lifecycle_rules``) may override ``precedence``, ``fallback``,
``window_days`` and any stage's rule; stages it does not name keep their default rule.
:func:`describe_lifecycle_rules` states the rule set, in order, for the report's methodology: stages
as codes (shown as the locale texts ``lifecycle_stage_<stage>``) and rules as messages.

This module also holds the small helpers the loyalty and churn modules share: which rows count as
purchases (:func:`purchases`) and the column check that names what is missing
(:func:`require_columns`).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date
from itertools import pairwise
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from analysis.i18n import TEXTS, Message, joined, message
from analysis.methods.codes import distinct_pairs, key_codes, sorted_codes

STAGES: tuple[str, ...] = ("new", "growing", "mature", "declining", "lost")

OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}

DEFAULT_LIFECYCLE_RULES: dict[str, Any] = {
    "precedence": ["lost", "new", "declining", "growing"],
    "fallback": "mature",
    "window_days": 180,
    "stages": {
        "lost": [{"p_alive": ["<", 0.3]}, {"days_since_last": [">", 365]}],
        "new": [{"tenure_days": ["<=", 90]}],
        "declining": [{"spend_ratio": ["<", 0.5]}, {"p_alive": ["<", 0.6]}],
        "growing": [
            {"tenure_days": ["<=", 365], "frequency": [">=", 1]},
            {"spend_ratio": [">=", 1.2]},
        ],
    },
}

_FRAME_COLUMNS = ("customer_id", "order_date", "amount", "is_return", "order_key", "is_purchase", "order_code")
SPEND_TREND_COLUMNS = (
    "recent_spend",
    "previous_spend",
    "spend_ratio",
    "recent_orders",
    "previous_orders",
)


class LifecycleInputError(ValueError):
    """A table or rule set given to the lifecycle, loyalty or churn analysis is wrong; the message says how to fix it."""


def require_columns(df: pd.DataFrame, columns: Iterable[str], table: str, hint: str = "") -> None:
    """Raise :class:`LifecycleInputError` naming the columns of ``table`` that ``df`` lacks."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        fix = hint or "compute them in an earlier stage or map them in the params file"
        raise LifecycleInputError(
            f"{table} lacks column(s) {missing} (it has {list(df.columns)}); {fix}"
        )


def as_timestamp(value: date | str | pd.Timestamp, name: str) -> pd.Timestamp:
    """A date given as ``date``, ISO text or Timestamp, as a midnight Timestamp."""
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise LifecycleInputError(
            f"{name}={value!r} is not a date; pass e.g. '2025-12-31'"
        ) from exc
    if pd.isna(stamp):
        raise LifecycleInputError(
            f"{name} is missing; pass the date the study is taken at, e.g. '2025-12-31'"
        )
    return stamp.normalize()


def transactions_frame(transactions: pd.DataFrame) -> pd.DataFrame:
    """The columns the analyses use, checked: ``customer_id``, ``order_date`` (day), ``amount``,
    ``is_return``, ``order_key`` (the order id, or the row for rows without one), ``is_purchase``
    (the cleaning stage's flag, so a zero-amount order is a purchase occasion; without that column,
    not a return and amount > 0) and ``order_code`` (an integer, equal where ``order_key`` is).
    Idempotent: a framed table, or rows of it, is returned as it is, so a caller that passes the
    same transactions to several analyses frames (and sorts) them once."""
    if list(transactions.columns) == list(_FRAME_COLUMNS):
        return transactions
    require_columns(
        transactions,
        ["customer_id", "order_date", "amount"],
        "transactions",
        "pass the cleaned transactions (data/processed/<run>/transactions.parquet)",
    )
    out = pd.DataFrame(
        {
            "customer_id": transactions["customer_id"].astype("string"),
            "order_date": day_dates(transactions["order_date"]),
            "amount": pd.to_numeric(transactions["amount"]).astype("float64"),
        },
        index=transactions.index,
        copy=False,  # the columns made here, not copied again (10M rows: 0.7 s)
    )
    bad_dates = out["order_date"].isna()
    if bad_dates.any():
        rows = list(transactions.index[bad_dates][:5])
        raise LifecycleInputError(
            f"transactions.order_date is missing in row(s) {rows}; clean the data first (notebook 01 quarantines them)"
        )
    out["is_return"] = (
        transactions["is_return"].fillna(False).astype(bool)
        if "is_return" in transactions
        else False
    )
    legacy = ~out["is_return"] & (out["amount"] > 0)
    out["is_purchase"] = (
        transactions["is_purchase"].astype("boolean").fillna(legacy).astype(bool)
        if "is_purchase" in transactions
        else legacy
    )
    # rows without an order id are orders of their own (their text made only for them)
    order_id = (transactions["order_id"].astype("string") if "order_id" in transactions
                else pd.Series(pd.NA, index=transactions.index, dtype="string"))
    missing = order_id.isna()
    if missing.any():
        order_id = order_id.copy()
        order_id[missing] = "row:" + pd.Series(transactions.index[missing].astype(str), index=order_id.index[missing])
    out["order_key"] = order_id
    # a fixed order makes floating-point sums, and so every result, independent of the input's row order;
    # the columns in the order of _FRAME_COLUMNS make a second call (and every slice of the result) a no-op,
    # which keeps the order keys: framing a framed table again would have no order_id left to take them from
    out = out[list(_FRAME_COLUMNS[:-1])]
    order = frame_order(out, ["customer_id", "order_date", "amount", "is_return", "order_key"])
    out = out if np.array_equal(order, np.arange(len(out))) else out.take(order)
    # numbered once here for every analysis that counts distinct orders (hashing millions of keys takes seconds)
    return out.assign(order_code=key_codes(out["order_key"]).astype(np.int32 if len(out) < 2**31 else np.int64))


def day_dates(values: pd.Series) -> pd.Series:
    """``pd.to_datetime(values).dt.normalize()``, without the pass over every date when they are days
    already (as the cleaned transactions' are: 10M rows, 0.5 s)."""
    dates = pd.to_datetime(values)
    if isinstance(dates.dtype, np.dtype):  # tz-naive: a day is a whole number of the unit's ticks
        unit, _ = np.datetime_data(dates.dtype)
        day = np.timedelta64(1, "D").astype(f"timedelta64[{unit}]").astype("i8")
        ticks = dates.to_numpy().view("i8")
        step = 2**20  # in pieces that stay in the cache, not through a remainder of every date
        if not any((ticks[start:start + step] % day).any() for start in range(0, len(ticks), step)):
            return dates
    return dates.dt.normalize()


def frame_order(frame: pd.DataFrame, keys: list[str]) -> np.ndarray:
    """The row positions of ``frame.sort_values(keys, kind="mergesort")`` (stable, missing values
    last), found by Arrow's stable multi-column sort: pandas factorizes every text key first."""
    table = pa.table({key: pa.array(frame[key].array) for key in keys})
    if _in_order(table):  # as the cleaned transactions come: no sort needed to find it out
        return np.arange(table.num_rows)
    return pc.sort_indices(table, sort_keys=[(key, "ascending", "at_end") for key in keys]).to_numpy()


def _in_order(table: pa.Table) -> bool:
    """Whether every row sorts level with or after the row before it, key by key, none missing or NaN
    (then a stable sort keeps the rows where they are): one pass over each key."""
    undecided = None  # the rows equal to the row before in every key so far
    for column in table.columns:
        if column.null_count or (pa.types.is_floating(column.type) and pc.any(pc.is_nan(column)).as_py()):
            return False
        before, after = column.slice(0, max(len(column) - 1, 0)), column.slice(1)
        behind = pc.less(after, before)
        if undecided is not None:
            behind = pc.and_(undecided, behind)
        if pc.any(behind).as_py():
            return False
        level = pc.equal(after, before)
        undecided = level if undecided is None else pc.and_(undecided, level)
    return True


def purchases(
    transactions: pd.DataFrame, *, columns: list[str] | None = None, until: pd.Timestamp | None = None
) -> pd.DataFrame:
    """The rows that count as purchases: ``is_purchase`` (see :func:`transactions_frame`), on or
    before ``until`` when given; only ``columns`` when given (a copy of every column of millions of
    rows would hold the transactions twice).

    With the cleaning stage's flag an order returned in full is not a purchase but a free order
    (gross amount 0) is; without it, a purchase is not a return and has a positive net amount.
    Unmatched return rows (``is_return``) count in spend but never as purchases.
    """
    tx = transactions_frame(transactions)
    keep = tx["is_purchase"].to_numpy(dtype=bool, copy=True)
    if until is not None:
        keep &= (tx["order_date"] <= until).to_numpy()
    return tx.loc[keep, columns] if columns is not None else tx[keep]


def spend_trend(
    transactions: pd.DataFrame, as_of: date | str | pd.Timestamp, window_days: int = 180
) -> pd.DataFrame:
    """Net spend and orders per customer in the last window and the window before it.

    recent = (as_of − w, as_of], previous = (as_of − 2w, as_of − w], w = ``window_days``; rows
    after ``as_of`` are ignored. ``spend_ratio`` = recent_spend / previous_spend: ``inf`` when only
    the recent window has spend, NaN when the previous window has none (a rule on it is then false).

    Returns
    -------
    DataFrame
        One row per customer with a transaction on or before ``as_of``, sorted by ``customer_id``:
        ``customer_id, recent_spend, previous_spend, spend_ratio, recent_orders, previous_orders``.
    """
    check_window_days(window_days)
    as_of = as_timestamp(as_of, "as_of")
    tx = transactions_frame(transactions)
    # grouped on integer codes of the ids (sorted as the ids sort) and of the order keys: the groups,
    # their order and the order of the rows in each are those of a groupby on the text
    customer, ids = sorted_codes(tx["customer_id"])
    dates = tx["order_date"].to_numpy()
    rows = (customer >= 0) & (dates <= as_of.to_datetime64())
    customer, dates = customer[rows], dates[rows]
    amount, is_purchase = tx["amount"].to_numpy()[rows], tx["is_purchase"].to_numpy()[rows]
    recent, previous = trend_windows(dates, as_of, window_days, lambda moment: moment.to_datetime64())
    orders = tx["order_code"].to_numpy()[rows]
    recent_orders, previous_orders = (
        _distinct_per_code(customer[window & is_purchase], orders[window & is_purchase], len(ids))
        for window in (recent, previous)
    )
    return trend_table(window_spend(customer, amount, recent, previous), ids, recent_orders, previous_orders)


def trend_table(spend: pd.DataFrame, ids: pd.Index, recent_orders: np.ndarray, previous_orders: np.ndarray) -> pd.DataFrame:
    """:func:`spend_trend`'s table from :func:`window_spend`'s sums (indexed by customer code), the
    text of each code (``ids``) and each code's purchase orders in the two windows."""
    codes = spend.index.to_numpy()
    out = spend.assign(recent_orders=recent_orders[codes], previous_orders=previous_orders[codes])
    out["spend_ratio"] = spend_ratio(out["recent_spend"], out["previous_spend"])
    out.insert(0, "customer_id", ids.take(codes))
    return out.reset_index(drop=True)[["customer_id", *SPEND_TREND_COLUMNS]]


def day_number(moment: pd.Timestamp) -> int:
    """The day of ``moment`` in days since 1970-01-01: a framed date on or before it is one on or before this day."""
    return int(np.datetime64(moment.to_datetime64(), "D").astype(np.int64))


def trend_windows(
    when: np.ndarray, as_of: pd.Timestamp, window_days: int, point: Callable[[pd.Timestamp], Any]
) -> tuple[np.ndarray, np.ndarray]:
    """Which of the moments ``when`` (rows after ``as_of`` already left out) fall in :func:`spend_trend`'s
    recent window (as_of − w, as_of] and in the window before it; ``point`` puts a moment in ``when``'s units."""
    w = pd.Timedelta(days=int(window_days))
    recent = when > point(as_of - w)
    return recent, (when > point(as_of - 2 * w)) & ~recent


def window_spend(
    customer: np.ndarray, amount: np.ndarray, recent: np.ndarray, previous: np.ndarray, *, rows: np.ndarray | None = None
) -> pd.DataFrame:
    """The spend of each customer code (sorted) over the ``rows`` (a mask; all rows without it): all of
    it (``net_spend``) and that in the windows of :func:`trend_windows` (``recent_spend``, ``previous_spend``).

    When the codes come sorted (as the framed transactions give them), whole customers are summed
    :data:`SPEND_PART_ROWS` rows at a time: each customer's rows are those of one groupby, in the same
    order, so the sums are the same, and the block being summed holds a part's rows, not all of them.
    """
    if rows is not None:
        customer, amount, recent, previous = customer[rows], amount[rows], recent[rows], previous[rows]
    parts = [_spend_sums(customer[a:b], amount[a:b], recent[a:b], previous[a:b])
             for a, b in _customer_ranges(customer, SPEND_PART_ROWS)]
    return parts[0] if len(parts) == 1 else pd.concat(parts)


#: Rows summed at a time by :func:`window_spend`: a 48 MB block.
SPEND_PART_ROWS = 2_000_000


def _spend_sums(customer: np.ndarray, amount: np.ndarray, recent: np.ndarray, previous: np.ndarray) -> pd.DataFrame:
    """The columns written into one block and summed in one groupby: a frame of separate arrays would
    copy them into one first."""
    block = np.zeros((3, len(customer)))
    np.copyto(block[0], amount)
    np.copyto(block[1], block[0], where=recent)
    np.copyto(block[2], block[0], where=previous)
    columns = ["net_spend", "recent_spend", "previous_spend"]
    return pd.DataFrame(block.T, columns=columns, copy=False).groupby(customer, sort=True).sum()


def _customer_ranges(customer: np.ndarray, part_rows: int) -> list[tuple[int, int]]:
    """Row ranges of about ``part_rows`` rows that cut sorted ``customer`` codes only between customers;
    one range of every row when the codes are not sorted."""
    n = len(customer)
    if n <= part_rows or np.any(customer[1:] < customer[:-1]):
        return [(0, n)]
    cuts = [0]
    while n - cuts[-1] > part_rows:
        cut = int(np.searchsorted(customer, customer[cuts[-1] + part_rows], side="left"))
        if cut == cuts[-1]:  # one customer with more rows than a part: the part ends after them
            cut = int(np.searchsorted(customer, customer[cut], side="right"))
        cuts.append(cut)
    return [*pairwise(cuts)] + ([(cuts[-1], n)] if cuts[-1] < n else [])


def _distinct_per_code(code: np.ndarray, value: np.ndarray, n_codes: int) -> np.ndarray:
    """How many distinct ``value`` each code 0..n_codes-1 has among the rows (a groupby ``nunique``)."""
    return np.bincount(distinct_pairs(code, value)[0], minlength=n_codes)


def check_window_days(window_days: int) -> None:
    """A spend window must be a positive number of days."""
    if int(window_days) < 1:
        raise LifecycleInputError(
            f"window_days={window_days}: use a positive number of days, e.g. 180"
        )


def spend_ratio(recent: pd.Series, previous: pd.Series) -> pd.Series:
    """recent / previous; ``inf`` when previous ≤ 0 < recent, NaN when neither window has positive spend."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = recent / previous.where(previous > 0)
    return ratio.mask((previous <= 0) & (recent > 0), np.inf).astype("float64")


def lifecycle_rules(rules: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The default rule set overlaid with ``rules`` (from params), validated.

    Top-level keys ``precedence``, ``fallback`` and ``window_days`` replace the defaults; ``stages``
    replaces the rule of each stage it names.
    """
    rules = dict(rules or {})
    unknown = sorted(set(rules) - set(DEFAULT_LIFECYCLE_RULES))
    if unknown:
        raise LifecycleInputError(
            f"churn.lifecycle_rules has unknown key(s) {unknown}; allowed: {sorted(DEFAULT_LIFECYCLE_RULES)}"
        )
    merged = {**DEFAULT_LIFECYCLE_RULES, **{k: v for k, v in rules.items() if k != "stages"}}
    merged["stages"] = {**DEFAULT_LIFECYCLE_RULES["stages"], **dict(rules.get("stages") or {})}
    _check_rules(merged)
    return merged


def _check_rules(rules: dict[str, Any]) -> None:
    where = "churn.lifecycle_rules"
    precedence, fallback = list(rules["precedence"]), rules["fallback"]
    named = [*precedence, fallback]
    unknown = sorted(set(named) - set(STAGES))
    if unknown:
        raise LifecycleInputError(
            f"{where}: unknown stage(s) {unknown}; the stages are {list(STAGES)}"
        )
    if sorted(named) != sorted(STAGES):
        raise LifecycleInputError(
            f"{where}: precedence {precedence} plus fallback '{fallback}' must name each of {list(STAGES)} "
            "exactly once; list every stage but the fallback in precedence"
        )
    if not isinstance(rules["window_days"], int) or rules["window_days"] < 1:
        raise LifecycleInputError(
            f"{where}.window_days={rules['window_days']!r}: use a positive whole number of days"
        )
    for stage in precedence:
        clauses = rules["stages"].get(stage)
        if not isinstance(clauses, list) or not clauses:
            raise LifecycleInputError(
                f"{where}.stages.{stage}: give a list of clauses such as [{{p_alive: ['<', 0.3]}}]"
            )
        for i, clause in enumerate(clauses):
            if not isinstance(clause, Mapping) or not clause:
                raise LifecycleInputError(
                    f"{where}.stages.{stage}[{i}]: a clause maps feature -> [operator, value]"
                )
            for feature, condition in clause.items():
                ok = (
                    isinstance(condition, (list, tuple))
                    and len(condition) == 2
                    and condition[0] in OPERATORS
                    and isinstance(condition[1], (int, float))
                )
                if not ok:
                    raise LifecycleInputError(
                        f"{where}.stages.{stage}[{i}].{feature}={condition!r}: write [operator, number] "
                        f"with an operator among {list(OPERATORS)}"
                    )


def rule_features(rules: Mapping[str, Any], stages: Sequence[str] | None = None) -> list[str]:
    """The columns a rule set reads (``stages``: those of these stages' rules only), in first-use order."""
    seen: dict[str, None] = {}
    for stage in rules["precedence"] if stages is None else stages:
        for clause in rules["stages"][stage]:
            seen.update(dict.fromkeys(clause))
    return list(seen)


def assign_lifecycle(
    customers: pd.DataFrame,
    spend_trend: pd.DataFrame | None = None,
    rules: Mapping[str, Any] | None = None,
) -> pd.Series:
    """Lifecycle stage key of every customer (index of ``customers``), by the rules in precedence.

    Parameters
    ----------
    customers
        One row per customer with ``customer_id`` and the features the rules use.
    spend_trend
        Output of :func:`spend_trend` (merged on ``customer_id``); needed when the rules use
        ``recent_spend``, ``previous_spend`` or ``spend_ratio`` and ``customers`` lacks them. A
        customer absent from it had no spend in either window.
    rules
        Overrides of :data:`DEFAULT_LIFECYCLE_RULES` (see :func:`lifecycle_rules`).
    """
    rules = lifecycle_rules(rules)
    require_columns(customers, ["customer_id"], "customers")
    features = _with_spend_trend(customers, spend_trend)
    require_columns(
        features,
        rule_features(rules),
        "customers (with spend_trend)",
        "pass spend_trend(transactions, as_of, window_days) for spend features, or drop the condition "
        "from churn.lifecycle_rules",
    )
    stage = pd.Series(
        rules["fallback"], index=customers.index, dtype="string", name="lifecycle_stage"
    )
    undecided = pd.Series(True, index=customers.index)
    for name in rules["precedence"]:
        hit = _rule_holds(features, rules["stages"][name]) & undecided
        stage = stage.mask(hit, name)
        undecided &= ~hit
    return stage


def is_lost(customers: pd.DataFrame, rules: Mapping[str, Any] | None = None) -> pd.Series:
    """True where the "lost" rule holds (the first rule in precedence, so no other stage matters)."""
    rules = lifecycle_rules(rules)
    require_columns(customers, rule_features(rules, ["lost"]), "customers")
    return _rule_holds(customers, rules["stages"]["lost"])


def _with_spend_trend(customers: pd.DataFrame, trend: pd.DataFrame | None) -> pd.DataFrame:
    if trend is None:
        has_spend = {"recent_spend", "previous_spend"} <= set(customers.columns)
        if has_spend and "spend_ratio" not in customers:
            return customers.assign(
                spend_ratio=spend_ratio(customers["recent_spend"], customers["previous_spend"])
            )
        return customers
    require_columns(
        trend,
        ["customer_id", "recent_spend", "previous_spend"],
        "spend_trend",
        "use spend_trend(...)",
    )
    by_id = trend.assign(customer_id=trend["customer_id"].astype("string")).set_index("customer_id")
    if not by_id.index.is_unique:
        raise LifecycleInputError(
            "spend_trend has several rows for one customer_id; pass the output of spend_trend(...)"
        )
    columns = [c for c in ("recent_spend", "previous_spend", "recent_orders", "previous_orders") if c in by_id]
    found = by_id[columns].reindex(customers["customer_id"].astype("string"))  # one look-up for every column
    # a customer missing from the trend table had no spend in either window; ``assign`` copies no column
    merged = customers.assign(**{col: found[col].fillna(0).to_numpy(dtype="float64") for col in columns})
    return merged.assign(spend_ratio=spend_ratio(merged["recent_spend"], merged["previous_spend"]))


def _rule_holds(features: pd.DataFrame, clauses: list[Mapping[str, Any]]) -> pd.Series:
    holds = pd.Series(False, index=features.index)
    for clause in clauses:
        clause_holds = pd.Series(True, index=features.index)
        for feature, (op, value) in clause.items():
            column = pd.to_numeric(features[feature], errors="coerce").astype("float64")
            clause_holds &= column.notna() & OPERATORS[op](column, value).fillna(False).astype(bool)
        holds |= clause_holds
    return holds


def describe_lifecycle_rules(rules: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """The rule set as the methodology states it: one record per step, in precedence order.

    Returns
    -------
    list of dict
        ``step`` (1, 2, ...), ``stage`` (key) and ``rule`` (a message: its clauses joined by "or",
        the fallback's "all other customers"); JSON-ready, rendered at display time.
    """
    rules = lifecycle_rules(rules)
    w = rules["window_days"]
    steps = [(stage, rule_message(rules["stages"][stage], w)) for stage in rules["precedence"]]
    steps.append((rules["fallback"], message("lifecycle_word_otherwise")))
    return [{"step": i + 1, "stage": stage, "rule": rule} for i, (stage, rule) in enumerate(steps)]


def rule_message(clauses: Iterable[Mapping[str, Any]], window_days: int) -> Message:
    """A stage's rule in words: clauses joined by "or", each a condition list joined by "and"."""
    return joined(
        [
            joined(
                [_condition(feature, op, value, window_days) for feature, (op, value) in clause.items()],
                separator="lifecycle_word_and",
            )
            for clause in clauses
        ],
        separator="lifecycle_word_or",
    )


def _condition(feature: str, op: str, value: float, window_days: int) -> Message:
    """``<feature> <op> <value>``; a feature without a locale text shows its column name."""
    key = f"lifecycle_feature_{feature}"
    shown = message(key, w=window_days) if key in TEXTS else feature
    symbol = op.replace("<=", "≤").replace(">=", "≥")
    return message("lifecycle_condition", feature=shown, op=symbol, value=value)


class StageCrosstab(NamedTuple):
    """Customers per tier and lifecycle stage: counts and shares within each tier (rows sum to 1)."""

    counts: pd.DataFrame
    shares: pd.DataFrame


def stage_by_tier(
    customers: pd.DataFrame,
    stages: pd.Series | None = None,
    *,
    tier_col: str = "tier",
) -> StageCrosstab:
    """Cross-tab of tier × lifecycle stage, with an overall row.

    ``stages`` defaults to ``customers["lifecycle_stage"]``. Columns are the five stage keys in
    lifecycle order (zero when empty); the last row (index ``"all"``) covers every customer.
    """
    if stages is None:
        require_columns(
            customers, ["lifecycle_stage"], "customers", "pass stages=assign_lifecycle(...)"
        )
        stages = customers["lifecycle_stage"]
    require_columns(customers, [tier_col], "customers", "assign tiers first (notebook 03)")
    if not stages.index.equals(customers.index):
        raise LifecycleInputError(
            "stages must share the index of customers; pass assign_lifecycle(customers, ...)"
        )
    unknown = sorted(set(stages.dropna().unique()) - set(STAGES))  # unique first: no Python loop over rows
    if unknown:
        raise LifecycleInputError(
            f"stages holds unknown stage key(s) {unknown}; expected keys among {list(STAGES)}"
        )
    counts = pd.crosstab(
        customers[tier_col], pd.Categorical(stages, categories=list(STAGES)), dropna=False
    )
    counts = counts.reindex(columns=list(STAGES), fill_value=0).sort_index()
    counts.index = counts.index.astype(object)
    counts.loc["all"] = counts.sum(axis=0)
    counts.index.name, counts.columns.name = tier_col, "lifecycle_stage"
    counts = counts.astype("int64")
    shares = counts.div(counts.sum(axis=1).where(lambda s: s > 0), axis=0)
    return StageCrosstab(counts=counts, shares=shares)
