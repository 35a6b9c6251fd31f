"""Churn: labels and features at a cutoff, a validated classifier, risk bands and an early-warning list.

Churn is defined on behaviour: a customer active before the cutoff has *churned* when they make no
purchase in (cutoff, cutoff + horizon]. Features use only data on or before the cutoff.

:class:`ChurnModel` is trained on an earlier window and validated out of time on a later one
(a time-split backtest):

- train: features at cutoff₁ = as_of − 2·horizon, labels from (cutoff₁, cutoff₁ + horizon];
- validate: features at cutoff₂ = as_of − horizon, labels from (cutoff₂, as_of];
- score: features at as_of (no labels yet), with the model validated above.

The classifier is scikit-learn's ``HistGradientBoostingClassifier`` (gradient-boosted trees,
Friedman 2001; Ke et al. 2017 for the histogram method). It was chosen over a logistic regression
on standardised features because churn depends on interactions (days since the last purchase
*relative to the customer's own purchase rhythm*) and on thresholds a linear score misses, and
because it handles missing values (no inter-purchase gap for one-time buyers) natively. It is kept
small and monotone (more days since the last purchase never lowers the risk; more recent orders
never raise it) so that it generalises across windows; its validation figures and two naive
baselines are reported so a reviewer can see what it adds.

With many customers the classifier is trained on a bounded sample of the training window
(``max_training_customers``, :func:`stratified_sample`): a random sample stratified by the label and
the customer's tier, each stratum kept at its share of the window, each sampled customer weighted by
its stratum's N/n. Only the fit sees the sample: the validation figures (AUC, lift, Brier,
calibration, baselines) are computed on every customer of the later window and every customer is
scored, so the reported accuracy is that of the model actually used, measured on the full
population. The sample's size and the window's size are reported with the validation.

References
----------
Friedman, J. H. (2001). Greedy function approximation: a gradient boosting machine. Annals of
    Statistics 29(5), 1189-1232.
Ke, G. et al. (2017). LightGBM: a highly efficient gradient boosting decision tree. NeurIPS 30.
Brier, G. W. (1950). Verification of forecasts expressed in terms of probability. Monthly Weather
    Review 78(1), 1-3.
Neslin, S. A. et al. (2006). Defection detection: measuring and understanding the predictive
    accuracy of customer churn models. Journal of Marketing Research 43(2), 204-211 (top-decile lift).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.exceptions import NotFittedError
from sklearn.metrics import brier_score_loss, roc_auc_score
from threadpoolctl import threadpool_limits

from analysis.i18n import Message, joined, message, to_json
from analysis.methods.codes import run_starts, sorted_codes
from analysis.methods.cores import beside, in_threads
from analysis.methods.ids import looked_up, positions_in
from analysis.methods.lifecycle import (
    LifecycleInputError,
    as_timestamp,
    check_window_days,
    day_number,
    require_columns,
    transactions_frame,
    trend_table,
    trend_windows,
    window_spend,
)
from analysis.methods.memory import release_free_memory
from analysis.methods.tree_scores import MIN_ROWS, QuickScorer
from analysis.methods.weighted_bins import QuantileBins

BASE_FEATURES: tuple[str, ...] = (
    "recency_days",
    "frequency",
    "orders",
    "monetary",
    "tenure_days",
    "mean_gap_days",
    "recency_to_gap",
    "recent_spend",
    "previous_spend",
    "spend_trend",
    "orders_90d",
    "orders_180d",
)
COMPLAINT_FEATURES: tuple[str, ...] = ("complaints_total", "complaints_open")

#: +1: risk may only rise with the feature, −1: only fall (HistGradientBoosting ``monotonic_cst``).
MONOTONE: dict[str, int] = {"recency_days": 1, "orders_90d": -1, "orders_180d": -1}

#: Risk band codes, shown as the locale texts ``churn_band_<band>``.
RISK_BANDS: tuple[str, ...] = ("high", "medium", "low")

#: Watch-list reason codes: each says why as the message ``churn_reason_<reason>`` (with its
#: figures) and is named in short, without figures, by the locale text ``churn_short_reason_<reason>``.
REASONS: tuple[str, ...] = (
    "long_since_last_purchase",
    "falling_spend",
    "detractor",
    "open_complaint",
    "model_risk",
)


class ChurnInputError(LifecycleInputError):
    """Wrong input to the churn analysis; the message says what, where and how to fix it."""


class ChurnHistoryError(ChurnInputError):
    """The history cannot train and validate the model; ``code`` and ``values`` say why, for texts.

    ``code`` is ``"short_history"`` (no purchase on or before the training cutoff; values ``cutoff``,
    ``first``, ``days``) or ``"one_class"`` (a window with too few churned or retained customers;
    values ``window``, ``cutoff``, ``n``, ``churned``, ``stayed``, ``minimum``).
    """

    def __init__(self, code: str, message: str, **values: Any) -> None:
        super().__init__(message)
        self.code = code
        self.values = values


#: Fewest churned and fewest retained customers each window needs (AUC and calibration need both).
MIN_PER_CLASS = 10

#: Default bound of the training sample (``churn.max_training_customers``); None trains on every customer.
MAX_TRAINING_CUSTOMERS = 200_000
#: Smallest allowed bound: below it the trees would be fitted on too few customers per stratum.
MIN_TRAINING_CUSTOMERS = 1_000
#: Customers scored at a time (:meth:`ChurnModel.predict_proba`): 2 MB a feature as numbers.
SCORED_ROWS_PER_CHUNK = 250_000


# ---------------------------------------------------------------------------------------------
# features and labels


def churn_features(
    transactions: pd.DataFrame,
    complaints: pd.DataFrame | None = None,
    *,
    cutoff: date | str | pd.Timestamp,
    trend_window_days: int = 180,
) -> pd.DataFrame:
    """Behaviour features at ``cutoff`` of every customer with a purchase on or before it.

    Only rows dated ≤ cutoff are read. With t = cutoff, per customer:

    - ``recency_days`` = t − last purchase; ``tenure_days`` = t − first purchase (days);
    - ``orders`` = purchases; ``frequency`` = distinct purchase days − 1 (repeat purchases);
    - ``monetary`` = net spend (returns included) / orders;
    - ``mean_gap_days`` = (last − first purchase) / frequency (NaN for one-time buyers) and
      ``recency_to_gap`` = recency_days / mean_gap_days;
    - ``recent_spend``, ``previous_spend``: net spend in (t − w, t] and (t − 2w, t − w], w =
      ``trend_window_days``; ``spend_trend`` = (recent − previous) / (|recent| + |previous|) ∈ [−1, 1]
      (0 when both are 0), a bounded form of the spend ratio;
    - ``orders_90d``, ``orders_180d``: purchases in the last 90 / 180 days;
    - with ``complaints`` (``customer_id, opened[, closed]``): ``complaints_total`` opened ≤ t and
      ``complaints_open`` among them not closed by t.

    Returns
    -------
    DataFrame
        ``customer_id`` plus the features, sorted by ``customer_id``.
    """
    t = as_timestamp(cutoff, "cutoff")
    check_window_days(trend_window_days)
    coded = CodedTransactions.of(transactions)
    return coded.features(coded.features_at(t, trend_window_days), complaints, t)


@dataclass(frozen=True)
class CodedTransactions:
    """Framed transactions as arrays, made once and cut at each cutoff without copying the rows.

    Per row with a customer id (rows without one count for nobody): ``customer``, its position in
    ``ids`` (sorted as a groupby sorts them; each customer's rows one run), ``day`` (days since
    1970-01-01: framed dates are days), ``amount`` and ``is_purchase``. Distinct orders and purchase
    days are counted on tables made once, which a cutoff only masks: ``orders``, the days of each
    (customer, order) of purchase rows, and ``days``, every (customer, day) of one. The sums are
    pandas' group sums of the amounts up to the cutoff, in their order, so every feature is, to the
    bit, that of a groupby on the ids of the rows up to the cutoff.
    """

    customer: np.ndarray
    day: np.ndarray
    amount: np.ndarray
    is_purchase: np.ndarray
    starts: np.ndarray  # the first row of each customer
    orders: _DatedPairs
    days: _DatedPairs
    ids: pd.Index
    until: pd.Timestamp | None = None  # the last day coded (:meth:`up_to`); None: every day

    @classmethod
    def up_to(cls, transactions: pd.DataFrame, as_of: pd.Timestamp) -> CodedTransactions:
        """The transactions of the days up to ``as_of`` coded: what :meth:`ChurnModel.fit` at ``as_of`` reads."""
        tx = transactions_frame(transactions)
        coded = cls.of(tx, (tx["order_date"] <= as_of).to_numpy())
        return replace(coded, until=as_of)

    @classmethod
    def up_to_in_pieces(cls, pieces: Iterable[pd.DataFrame], as_of: pd.Timestamp) -> CodedTransactions | None:
        """:meth:`up_to` of the rows of ``pieces`` one after another, each piece coded alone and let go:
        so only the coded arrays of every row are held, never a frame of them all.

        The result is :meth:`up_to` of the whole when each customer's rows are in one piece and the
        pieces come in the customers' order (as :func:`analysis.frame.storage.read_parquet_runs`
        reads the cleaned transactions, which are written by customer): framing sorts by customer
        first, so each piece's rows keep the places they take in the whole, and order keys are
        compared within a customer only. None when the pieces do not come so (then code them whole),
        and when there are none."""
        coded: list[CodedTransactions] = []
        last_id = None
        for piece in pieces:
            part = cls.up_to(piece, as_of)
            if len(part.ids):
                if last_id is not None and not last_id < part.ids[0]:
                    return None
                last_id = part.ids[-1]
            coded.append(part)
        return cls._joined(coded, as_of) if coded else None

    @classmethod
    def _joined(cls, parts: list[CodedTransactions], as_of: pd.Timestamp) -> CodedTransactions:
        """Coded pieces of distinct customers in order, as one: codes, rows and pairs shifted past those
        before. The list is emptied, and each field's pieces go once it is joined."""
        ids = parts[0].ids.append([part.ids for part in parts[1:]])
        code_type = np.int32 if len(ids) < 2**31 else np.int64  # as :meth:`of` codes them
        first_code = np.cumsum([0] + [len(part.ids) for part in parts[:-1]])
        first_row = np.cumsum([0] + [len(part.day) for part in parts[:-1]])
        names = ("customer", "day", "amount", "is_purchase", "starts", "orders", "days")
        pieces = {name: [getattr(part, name) for part in parts] for name in names}
        parts.clear()
        return cls(
            _concatenated(pieces.pop("customer"), first_code, code_type),
            _concatenated(pieces.pop("day")),
            _concatenated(pieces.pop("amount")),
            _concatenated(pieces.pop("is_purchase")),
            _concatenated(pieces.pop("starts"), first_row),
            orders=_DatedPairs.joined(pieces.pop("orders"), first_code, code_type),
            days=_DatedPairs.joined(pieces.pop("days"), first_code, code_type),
            ids=ids, until=as_of,
        )

    @classmethod
    def of(cls, transactions: pd.DataFrame, rows: np.ndarray | None = None) -> CodedTransactions:
        """The transactions coded, those of the boolean mask ``rows`` only when given (no copy of the frame)."""
        tx = transactions_frame(transactions)
        customer, ids = sorted_codes(tx["customer_id"])
        kept = customer >= 0 if rows is None else (customer >= 0) & rows
        every = bool(kept.all())  # the usual case: then no column is copied to be masked

        def kept_rows(values: np.ndarray) -> np.ndarray:
            return values if every else values[kept]

        order = kept_rows(tx["order_code"].to_numpy())
        customer = kept_rows(customer).astype(np.int32 if len(ids) < 2**31 else np.int64)
        day = kept_rows(tx["order_date"].to_numpy()).astype("datetime64[D]").astype(np.int32)
        amount, is_purchase = kept_rows(tx["amount"].to_numpy()), kept_rows(tx["is_purchase"].to_numpy())
        if len(customer) and np.any(customer[1:] < customer[:-1]):  # not framed: one run per customer, stably
            runs = np.argsort(customer, kind="stable")
            customer, day, amount, is_purchase, order = (a[runs] for a in (customer, day, amount, is_purchase, order))
        starts = np.flatnonzero(run_starts(customer))
        bought_customer, bought_day = customer[is_purchase], day[is_purchase]
        return cls(
            customer, day, amount, is_purchase, starts,
            orders=_DatedPairs.of(bought_customer, order[is_purchase], bought_day),
            days=_DatedPairs.of(bought_customer, bought_day, bought_day),
            ids=pd.Index(ids),
        )

    def first_purchase(self) -> pd.Timestamp | None:
        """The day of the first purchase coded; None when there is none."""
        days = self.day[self.is_purchase]
        return pd.Timestamp(days.min().astype("datetime64[D]")) if len(days) else None

    def purchases(self) -> tuple[np.ndarray, np.ndarray]:
        """The customer code and the day of each purchase row coded (what cohorts are built from)."""
        return self.customer[self.is_purchase], self.day[self.is_purchase]

    def spend_trend(self, as_of: pd.Timestamp, window_days: int = 180) -> pd.DataFrame:
        """:func:`analysis.methods.lifecycle.spend_trend` of the rows coded, to the bit: the same group sums
        of the same rows in the same order, and each window's orders counted on ``orders``."""
        check_window_days(window_days)
        t_day = day_number(as_of)
        rows = self.day <= t_day
        recent, previous = trend_windows(self.day, as_of, window_days, day_number)
        spend = window_spend(self.customer, self.amount, recent, previous, rows=rows)
        window, n_customers = pd.Timedelta(days=int(window_days)), len(self.ids)
        recent_orders = self.orders.counted(t_day, n_customers, since=day_number(as_of - window))
        previous_orders = self.orders.counted(day_number(as_of - window), n_customers, since=day_number(as_of - 2 * window))
        return trend_table(spend, self.ids, recent_orders, previous_orders)

    def features_at(self, t: pd.Timestamp, trend_window_days: int) -> pd.DataFrame:
        """:func:`churn_features` at ``t``, indexed by customer code, without the complaint counts."""
        t_day = day_number(t)
        upto = self.day <= t_day
        bought = upto & self.is_purchase
        if not bought.any():
            raise ChurnInputError(
                f"no purchases on or before the cutoff {t.date()}; move the cutoff later or shorten churn.horizon_days"
            )
        starts = self.starts
        has = np.logical_or.reduceat(bought, starts)  # customers with a purchase by t
        index = pd.Index(self.customer[starts][has].astype(np.int64), name="customer")
        codes = index.to_numpy()
        never = np.iinfo(self.day.dtype)
        first = np.minimum.reduceat(np.where(bought, self.day, never.max), starts)[has]
        last = np.maximum.reduceat(np.where(bought, self.day, never.min), starts)[has]
        first, last = (pd.Series(days.astype("datetime64[D]"), index=index) for days in (first, last))
        recent, previous = trend_windows(self.day, t, trend_window_days, day_number)  # lifecycle.spend_trend's
        spend = window_spend(self.customer, self.amount, recent, previous, rows=upto).reindex(index)
        del recent, previous
        n = len(self.ids)
        out = pd.DataFrame(index=index)
        out["recency_days"] = (t - last).dt.days.astype("float64")
        out["frequency"] = (self.days.counted(t_day, n)[codes] - 1).astype("float64")
        out["orders"] = self.orders.counted(t_day, n)[codes].astype("float64")
        out["monetary"] = spend["net_spend"] / out["orders"]
        out["tenure_days"] = (t - first).dt.days.astype("float64")
        span = (last - first).dt.days.astype("float64")
        out["mean_gap_days"] = span / out["frequency"].where(out["frequency"] > 0)
        out["recency_to_gap"] = out["recency_days"] / out["mean_gap_days"].where(out["mean_gap_days"] > 0)
        out["recent_spend"] = spend["recent_spend"].fillna(0.0)
        out["previous_spend"] = spend["previous_spend"].fillna(0.0)
        out["spend_trend"] = bounded_trend(out["recent_spend"], out["previous_spend"])
        for days in (90, 180):
            since = day_number(t - pd.Timedelta(days=days))
            out[f"orders_{days}d"] = self.orders.counted(t_day, n, since=since)[codes].astype("float64")
        return out

    def churned(self, codes: np.ndarray, t: pd.Timestamp, horizon_days: int) -> np.ndarray:
        """Whether each customer code made no purchase in (t, t + horizon]: churned."""
        in_horizon = self.is_purchase & (self.day > day_number(t)) & (
            self.day <= day_number(t + pd.Timedelta(days=int(horizon_days)))
        )
        bought_again = np.zeros(len(self.ids), dtype=bool)
        bought_again[self.customer[in_horizon]] = True
        return ~bought_again[codes]

    def features(self, at_t: pd.DataFrame, complaints: pd.DataFrame | None, t: pd.Timestamp) -> pd.DataFrame:
        """The features of :meth:`features_at` named by ``customer_id``, with the complaint counts at ``t``."""
        codes = at_t.index.to_numpy()
        out = at_t.set_axis(pd.Index(self.ids.take(codes), name="customer_id"))
        if complaints is not None:
            counts = complaint_counts(complaints, t, self.ids)
            for name in COMPLAINT_FEATURES:
                out[name] = counts[name].to_numpy()[codes]
        return out.reset_index()

    def labelled_features(
        self, complaints: pd.DataFrame | None, t: pd.Timestamp, *, horizon_days: int, trend_window_days: int
    ) -> pd.DataFrame:
        """:func:`churn_labels_and_features` at ``t``."""
        at_t = self.features_at(t, trend_window_days)
        churned = self.churned(at_t.index.to_numpy(), t, horizon_days)
        return self.features(at_t, complaints, t).assign(churned=churned)


@dataclass(frozen=True)
class _DatedPairs:
    """The distinct (customer, key) pairs of some rows, each with the days of its rows.

    ``days`` holds the days of each pair's rows, the pairs one after another (a day repeated on
    consecutive rows once); ``starts`` the first of each pair (None when each pair has one day, as
    the (customer, day) pairs do: then ``days`` is a day per pair) and ``customer`` its customer. A
    pair counts at a cutoff when one of its days is on or before it (and after ``since``, when given).
    """

    customer: np.ndarray
    starts: np.ndarray | None
    days: np.ndarray

    @classmethod
    def of(cls, customer: np.ndarray, key: np.ndarray, day: np.ndarray) -> _DatedPairs:
        if not len(customer):
            return cls(customer, np.zeros(0, int), day)
        low, width = int(key.min()), int(key.max()) - int(key.min()) + 1
        if (int(customer.max()) + 1) * width < 2**62:  # one integer per pair: one sort
            pair = customer.astype(np.int64) * width + (key - low)
            # framed rows come by customer and day: the (customer, day) pairs are in order already
            by = None if np.all(pair[1:] >= pair[:-1]) else np.argsort(pair, kind="stable")
            pair = pair if by is None else pair[by]
            new_pair = run_starts(pair)
            customer = (pair[new_pair] // width).astype(customer.dtype)
        else:
            by = np.lexsort((key, customer))
            customer, key = customer[by], key[by]
            new_pair = run_starts(customer) | run_starts(key)
            customer = customer[new_pair]
        day = day if by is None else day[by]
        # a pair's days in any order: only their latest on or before a cutoff is asked for
        new_day = new_pair | run_starts(day)
        # no day changing within a pair: each day is its pair's latest (10M rows: 73 MiB of starts saved)
        starts = None if np.array_equal(new_day, new_pair) else np.flatnonzero(new_pair[new_day])
        return cls(customer, starts, day[new_day])

    @classmethod
    def joined(cls, parts: list[_DatedPairs], first_code: np.ndarray, code_type: type) -> _DatedPairs:
        """The pairs of rows coded in pieces, one after another (the codes of piece ``i`` start at
        ``first_code[i]``; codes of ``code_type``): what :meth:`of` makes of all the rows, pieces of
        distinct customers in order."""
        shifts = [shift for part, shift in zip(parts, first_code, strict=True) if len(part.days)]
        if not shifts:
            return parts[0]  # no pair at all, as :meth:`of` makes none
        parts = [part for part in parts if len(part.days)]
        starts = None
        if any(part.starts is not None for part in parts):
            firsts = np.cumsum([0] + [len(part.days) for part in parts[:-1]])
            starts = _concatenated([np.arange(len(part.days)) if part.starts is None else part.starts for part in parts], firsts)
        return cls(_concatenated([part.customer for part in parts], shifts, code_type), starts,
                   _concatenated([part.days for part in parts]))

    def counted(self, t: int, n_customers: int, *, since: int | None = None) -> np.ndarray:
        """Per customer code, the pairs with a day on or before day ``t`` (and after day ``since``)."""
        if not len(self.days):
            return np.zeros(n_customers, dtype="int64")
        never = np.iinfo(self.days.dtype).min
        latest = np.where(self.days <= t, self.days, never)
        if self.starts is not None:
            latest = np.maximum.reduceat(latest, self.starts)
        return np.bincount(self.customer[latest > (never if since is None else since)], minlength=n_customers)


def _concatenated(pieces: list[np.ndarray], shifts: Sequence[int] | None = None, dtype: Any = None) -> np.ndarray:
    """The arrays one after another, piece ``i`` plus ``shifts[i]`` when given; the list is emptied as
    they are copied, so each piece goes once it is in the whole."""
    out = np.empty(sum(len(piece) for piece in pieces), dtype=dtype or pieces[0].dtype)
    at = 0
    for i, piece in enumerate(pieces):
        pieces[i] = None
        if shifts is None:
            out[at:at + len(piece)] = piece
        else:
            np.add(piece, shifts[i], out=out[at:at + len(piece)], casting="unsafe")
        at += len(piece)
    pieces.clear()
    return out


def bounded_trend(recent: pd.Series, previous: pd.Series) -> pd.Series:
    """(recent − previous) / (|recent| + |previous|), 0 when both are 0: −1 stopped, +1 new spend."""
    total = recent.abs() + previous.abs()
    return ((recent - previous) / total.where(total > 0)).fillna(0.0)


def complaint_counts(complaints: pd.DataFrame, cutoff: date | str | pd.Timestamp, customers: pd.Index) -> pd.DataFrame:
    """Per customer of ``customers`` (ids, each once), in their order: complaints opened on or
    before ``cutoff``, and how many were still open then (0 and 0 for a customer without any)."""
    require_columns(
        complaints, ["customer_id", "opened"], "complaints", "pass the cleaned complaints table"
    )
    t = as_timestamp(cutoff, "cutoff")
    opened = pd.to_datetime(complaints["opened"]).dt.normalize()
    closed = (
        pd.to_datetime(complaints["closed"]).dt.normalize()
        if "closed" in complaints
        else pd.Series(pd.NaT, index=complaints.index)
    )
    known = (opened <= t).to_numpy()
    still_open = known & (closed.isna() | (closed > t)).to_numpy()
    # each complaint's customer found by one lookup of the ids, counted by position: a grouping and
    # a join on the text would make a Python string of every id (840k customers: about 0.5 s a cutoff)
    at = positions_in(complaints["customer_id"].astype("string"), customers)
    found = at >= 0
    return pd.DataFrame(
        {name: np.bincount(at[found], weights=flags[found], minlength=len(customers)).astype("float64")
         for name, flags in (("complaints_total", known), ("complaints_open", still_open))},
        index=customers,
    )


def churn_labels_and_features(
    transactions: pd.DataFrame,
    complaints: pd.DataFrame | None = None,
    *,
    cutoff: date | str | pd.Timestamp,
    horizon_days: int = 180,
    trend_window_days: int = 180,
) -> pd.DataFrame:
    """Features at ``cutoff`` (:func:`churn_features`) and the label ``churned`` for every customer
    with a purchase on or before the cutoff.

    churned = no purchase in (cutoff, cutoff + horizon_days]. The transactions must cover the whole
    horizon, or customers who bought after the data ends would count as churned.

    ``complaints`` is the dated complaints table, counted as of the cutoff. Per-customer complaint
    totals taken at the end of the study are deliberately not accepted: at an earlier cutoff they
    would include complaints made later, which leaks the outcome into the features.
    """
    if int(horizon_days) < 1:
        raise ChurnInputError(
            f"horizon_days={horizon_days}: use a positive number of days (churn.horizon_days)"
        )
    check_window_days(trend_window_days)
    return CodedTransactions.of(transactions).labelled_features(
        complaints, as_timestamp(cutoff, "cutoff"), horizon_days=horizon_days, trend_window_days=trend_window_days
    )


# ---------------------------------------------------------------------------------------------
# model


@dataclass(frozen=True)
class ChurnValidation:
    """Out-of-time validation of a churn model on the later window.

    ``calibration`` has one row per decile of the predicted probability (1 = lowest):
    ``decile, customers, mean_predicted, observed_rate``.
    """

    auc: float
    top_decile_lift: float
    brier: float
    calibration: pd.DataFrame
    baselines: dict[str, float | None]
    n_train: int
    n_validation: int
    churn_rate_train: float
    churn_rate_validation: float
    cutoff_train: str
    cutoff_validation: str
    as_of: str
    horizon_days: int
    model: dict[str, Any] = field(default_factory=dict)
    training_sample: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (for models.json); ``training_sample`` only when the model was
        trained on a sample (``n_train`` is then the sample's size)."""
        out = {
            k: getattr(self, k)
            for k in self.__dataclass_fields__
            if k != "calibration" and not (k == "training_sample" and self.training_sample is None)
        }
        out["calibration"] = self.calibration.to_dict(orient="records")
        return out


class ChurnModel:
    """Churn classifier fitted on an earlier window and validated on the later one.

    Parameters
    ----------
    horizon_days
        Churn horizon (``churn.horizon_days``).
    trend_window_days
        Window of the spend-trend features.
    random_state
        Seed of the estimator (kept fixed so reruns give the same scores).
    max_iter, learning_rate, max_leaf_nodes, min_samples_leaf, l2_regularization
        Passed to ``HistGradientBoostingClassifier``; the defaults keep the trees small and
        regularised, because a quarter's customers are few thousand, not millions.
    max_training_customers
        Bound on the customers the classifier is trained on (``churn.max_training_customers``).
        When the training window has more, the fit uses a sample of exactly this many, stratified
        by the label and the tier (``training_strata`` of :meth:`fit`), each stratum at its share
        of the window and weighted N/n (:func:`stratified_sample`); the validation window and the
        scores are never sampled. At or below the bound every customer is used, unweighted, and
        the model is the one fitted without a bound. None: no bound.

    Attributes
    ----------
    estimator_ : HistGradientBoostingClassifier
        Fitted on the features, or on their bin numbers (``bins_``) when the training rows are weighted.
    bins_ : QuantileBins or None
        The weighted quantile bins of the sampled training rows, which :meth:`predict_proba` applies
        too (:mod:`analysis.methods.weighted_bins`); None when the fit is unweighted.
    feature_names_ : list[str]
    as_of_, cutoff_train_, cutoff_validation_ : Timestamp
    train_, validation_ : DataFrame
        Features, label and (validation) score of each window's customers; ``train_`` is every
        customer of the training window, the sample included or not.
    training_sample_ : dict or None
        None when every customer of the training window was used; else ``customers`` (the
        sample), ``window_customers``, ``bound``, ``strata`` and the churn rate of the sample and
        of the window.
    scores_ : DataFrame
        ``customer_id, churn_probability`` of every customer active on or before ``as_of_``.
    validation_report_ : ChurnValidation
    """

    def __init__(
        self,
        *,
        horizon_days: int = 180,
        trend_window_days: int = 180,
        random_state: int = 0,
        max_iter: int = 150,
        learning_rate: float = 0.05,
        max_leaf_nodes: int = 15,
        min_samples_leaf: int = 40,
        l2_regularization: float = 1.0,
        max_training_customers: int | None = MAX_TRAINING_CUSTOMERS,
    ) -> None:
        if max_training_customers is not None and int(max_training_customers) < MIN_TRAINING_CUSTOMERS:
            raise ChurnInputError(
                f"max_training_customers={max_training_customers}: use at least {MIN_TRAINING_CUSTOMERS:,} "
                "(churn.max_training_customers), or null to train on every customer"
            )
        self.max_training_customers = max_training_customers
        self.horizon_days = horizon_days
        self.trend_window_days = trend_window_days
        self.random_state = random_state
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization

    def fit(
        self,
        transactions: pd.DataFrame | CodedTransactions,
        as_of: date | str | pd.Timestamp,
        *,
        complaints: pd.DataFrame | None = None,
        p_alive_at_validation_cutoff: pd.DataFrame | None = None,
        training_strata: pd.Series | None = None,
    ) -> ChurnModel:
        """Train at as_of − 2·horizon, validate at as_of − horizon, score everybody at as_of.

        ``transactions``: the transactions, or :meth:`CodedTransactions.up_to` ``as_of`` of them, so
        that a caller can let the frame go before the model is fitted (the same model either way).

        ``training_strata`` (a Series indexed by ``customer_id``, e.g. the tier) stratifies the
        training sample together with the label when the training window has more than
        ``max_training_customers`` customers; customers it does not name form a stratum of their own.

        ``p_alive_at_validation_cutoff`` (``customer_id, p_alive``), if given, must be P(alive) from a
        purchase model fitted on data up to the validation cutoff; it feeds the 1 − P(alive)
        baseline. P(alive) at as_of is not accepted for it: it already knows who bought after the
        validation cutoff.

        Raises
        ------
        ChurnHistoryError
            When nobody bought on or before the training cutoff, or a window has fewer than
            :data:`MIN_PER_CLASS` churned or retained customers; its ``code`` and ``values`` let the
            caller explain it (stage 4 then falls back to 1 − P(alive)).
        """
        h = pd.Timedelta(days=int(self.horizon_days))
        self.as_of_ = as_timestamp(as_of, "as_of")
        self.cutoff_train_ = self.as_of_ - 2 * h
        self.cutoff_validation_ = self.as_of_ - h
        # coded once, cut at the three cutoffs
        coded = transactions if isinstance(transactions, CodedTransactions) else CodedTransactions.up_to(
            transactions, self.as_of_)
        del transactions  # the frame is not needed again: it goes here unless the caller holds it
        if coded.until != self.as_of_:
            raise ValueError(f"the transactions are coded up to {coded.until}, not as_of {self.as_of_}: "
                             "code them with CodedTransactions.up_to(transactions, as_of)")
        _check_history(coded.first_purchase(), self.cutoff_train_, 2 * int(self.horizon_days))
        check_window_days(self.trend_window_days)
        common = {"horizon_days": int(self.horizon_days), "trend_window_days": self.trend_window_days}
        # each window's features read the coded rows only: the two are made in threads
        self.train_, self.validation_ = in_threads(
            lambda cutoff: coded.labelled_features(complaints, cutoff, **common),
            [self.cutoff_train_, self.cutoff_validation_],
        )
        release_free_memory()  # what the two windows' features left (30M rows: 0.6 GB) is not under the fit's peak
        _check_window(self.train_, "training", self.cutoff_train_)
        _check_window(self.validation_, "validation", self.cutoff_validation_)
        # everybody's features at as_of, made while the classifier (one thread) is trained
        with beside(lambda: coded.features(coded.features_at(self.as_of_, self.trend_window_days), complaints,
                                           self.as_of_)) as at_as_of:
            self._train(training_strata)
            self.validation_ = self.validation_.assign(churn_probability=self.predict_proba(self.validation_))
            scoring_rows = at_as_of.result()
        # the coded rows are read no more: they go before everybody's scores unless the caller still
        # holds them (stage 4 hands them over: 10M rows, 265 MiB less resident while it scores)
        coded = None
        # the validation's figures (one core) beside everybody's scores (every core)
        with beside(self._validate, p_alive_at_validation_cutoff) as validated:
            self.scores_ = pd.DataFrame(
                {"customer_id": scoring_rows["customer_id"], "churn_probability": self.predict_proba(scoring_rows)}
            )
        self.validation_report_ = validated.result()
        return self

    def _train(self, training_strata: pd.Series | None) -> None:
        """The classifier on the training window (or its stratified sample)."""
        self.feature_names_ = [
            c for c in (*BASE_FEATURES, *COMPLAINT_FEATURES) if c in self.train_.columns
        ]
        fit_rows, weights = self._training_rows(training_strata)
        X = fit_rows[self.feature_names_].to_numpy(dtype="float64")
        # weighted rows binned here, as the classifier would bin them but with one sort per feature
        self.bins_ = None if weights is None else QuantileBins.of(X, weights)
        # one thread: on a few thousand rows OpenMP start-up costs more than it saves, and a fixed
        # thread count keeps the fitted trees identical from machine to machine
        with threadpool_limits(limits=1, user_api="openmp"):
            self.estimator_ = self._estimator().fit(
                self._binned(X), fit_rows["churned"].to_numpy(dtype=bool), sample_weight=weights
            )
        self._scorer = QuickScorer.of(self.estimator_)  # for many rows (predict_proba); 0.03 s for 150 trees

    def _training_rows(self, strata: pd.Series | None) -> tuple[pd.DataFrame, np.ndarray | None]:
        """The training window, or its stratified sample and weights when it exceeds the bound."""
        train = self.train_
        bound = self.max_training_customers
        if bound is None or len(train) <= int(bound):
            self.training_sample_ = None
            return train, None
        if strata is None:
            groups = pd.Series("all", index=train.index, dtype="string")
        else:
            by_id = pd.Series(strata.to_numpy(), index=pd.Index(strata.index.astype("string")))
            groups = looked_up(train["customer_id"].astype("string"), by_id).astype("string").fillna("none")
        labels = train["churned"].to_numpy(dtype=bool)
        codes = _strata(labels, groups.to_numpy())
        positions, weights = _sample_strata(codes, int(bound), self.random_state)
        sample = train.iloc[positions]
        self.training_sample_ = {
            "customers": int(len(sample)),
            "window_customers": int(len(train)),
            "bound": int(bound),
            "strata": int(codes.max(initial=-1) + 1),
            "churn_rate_sample": float(labels[positions].mean()),
            "churn_rate_window": float(labels.mean()),
        }
        return sample, weights

    def _estimator(self) -> HistGradientBoostingClassifier:
        return HistGradientBoostingClassifier(
            max_iter=self.max_iter,
            learning_rate=self.learning_rate,
            max_leaf_nodes=self.max_leaf_nodes,
            min_samples_leaf=self.min_samples_leaf,
            l2_regularization=self.l2_regularization,
            early_stopping=False,
            monotonic_cst=[MONOTONE.get(name, 0) for name in self.feature_names_],
            random_state=self.random_state,
        )

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        """P(churn within the horizon) for rows of a :func:`churn_features` table."""
        if not hasattr(self, "estimator_"):
            raise NotFittedError(
                "ChurnModel is not fitted yet; call fit(transactions, as_of) first"
            )
        require_columns(
            features, self.feature_names_, "features", "build them with churn_features(...)"
        )
        # every core: each row is scored on its own, so the scores depend neither on the thread count
        # nor on the rows scored with it; a chunk at a time, so that the features as numbers and the
        # classifier's work on them are those of one chunk, not of every customer. Many rows are
        # scored by QuickScorer (the classifier's probabilities to the bit, in a third of the time)
        named = features[self.feature_names_]
        scorer = self._scorer if len(named) >= MIN_ROWS else None
        predict_proba = self.estimator_.predict_proba if scorer is None else scorer.predict_proba
        scores = np.empty(len(named), dtype="float64")
        for start in range(0, len(named), SCORED_ROWS_PER_CHUNK):
            X = named.iloc[start:start + SCORED_ROWS_PER_CHUNK].to_numpy(dtype="float64")
            scores[start:start + len(X)] = predict_proba(self._binned(X))[:, 1]
        return scores

    def _binned(self, X: np.ndarray) -> np.ndarray:
        """``X`` as the estimator was fitted on it: bin numbers when the training rows were weighted."""
        return X if self.bins_ is None else self.bins_.transform(X)

    def validation_report(self) -> ChurnValidation:
        """AUC, top-decile lift, Brier score, calibration by decile and naive baselines' AUC."""
        if not hasattr(self, "validation_report_"):
            raise NotFittedError(
                "ChurnModel is not fitted yet; call fit(transactions, as_of) first"
            )
        return self.validation_report_

    def _validate(self, p_alive: pd.DataFrame | None) -> ChurnValidation:
        v = self.validation_
        y = v["churned"].to_numpy(dtype=bool)
        score = v["churn_probability"].to_numpy(dtype="float64")
        baselines: dict[str, float | None] = {
            "recency": float(roc_auc_score(y, v["recency_days"].to_numpy(dtype="float64"))),
            "p_alive": _p_alive_baseline_auc(v, p_alive),
        }
        return ChurnValidation(
            auc=float(roc_auc_score(y, score)),
            top_decile_lift=top_decile_lift(y, score, v["customer_id"]),
            brier=float(brier_score_loss(y, score)),
            calibration=calibration_table(y, score, v["customer_id"]),
            baselines=baselines,
            n_train=len(self.train_) if self.training_sample_ is None else self.training_sample_["customers"],
            n_validation=len(v),
            churn_rate_train=float(self.train_["churned"].mean()),
            churn_rate_validation=float(y.mean()),
            cutoff_train=str(self.cutoff_train_.date()),
            cutoff_validation=str(self.cutoff_validation_.date()),
            as_of=str(self.as_of_.date()),
            horizon_days=int(self.horizon_days),
            model={
                "name": "HistGradientBoostingClassifier",
                "features": list(self.feature_names_),
                "params": {
                    k: getattr(self, k)
                    for k in (
                        "max_iter",
                        "learning_rate",
                        "max_leaf_nodes",
                        "min_samples_leaf",
                        "l2_regularization",
                        "random_state",
                    )
                },
                "monotone": {k: v for k, v in MONOTONE.items() if k in self.feature_names_},
            },
            training_sample=self.training_sample_,
        )


def stratified_sample(
    labels: np.ndarray, groups: np.ndarray, size: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Positions of a random sample of ``size`` rows, stratified by ``labels`` × ``groups``, and weights.

    Each stratum (a label and a group, e.g. churned and tier 2) gets its proportional share of
    ``size``, n_s = size · N_s / N, rounded by the largest remainder so the shares add up to exactly
    ``size`` (a stratum smaller than N / size may get none); its rows are drawn without replacement
    with ``numpy.random.default_rng(seed)``. The weight of a sampled row is N_s / n_s, normalised to
    a mean of 1: the sample then stands for the whole population stratum by stratum, so the rounding
    of the shares does not tilt the fit.

    Returns
    -------
    positions : ndarray of int
        Sorted row positions of the sample (the population's order is kept).
    weights : ndarray of float
        The weight of each sampled row, in the order of ``positions``.
    """
    return _sample_strata(_strata(labels, groups), size, seed)


def _sample_strata(codes: np.ndarray, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`stratified_sample` of rows numbered by their stratum (:func:`_strata`)."""
    n = len(codes)
    if not 0 < size <= n:
        raise ChurnInputError(f"sample size {size}: use 1 to {n:,}, the rows to sample from")
    counts = np.bincount(codes)
    exact = size * counts / n
    quota = np.floor(exact).astype("int64")
    short = size - int(quota.sum())
    if short > 0:  # largest remainders first; ties to the lower stratum code
        order = np.lexsort((np.arange(len(counts)), -(exact - quota)))
        quota[order[:short]] += 1
    rng = np.random.default_rng(seed)
    chosen = []
    for code in np.flatnonzero(quota):
        members = np.flatnonzero(codes == code)
        chosen.append(rng.choice(members, size=int(quota[code]), replace=False))
    positions = np.sort(np.concatenate(chosen))
    weights = counts[codes[positions]] / quota[codes[positions]]
    return positions, weights / weights.mean()


def _strata(labels: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Each row's stratum: the (label, group) pairs numbered 0, 1, ... in sorted order (the codes of
    ``pd.factorize(pd.MultiIndex.from_arrays([labels, groups]), sort=True)``, without its tuples)."""
    label_codes, _ = pd.factorize(np.asarray(labels), sort=True)
    group_codes, group_values = pd.factorize(np.asarray(groups), sort=True)
    _, codes = np.unique(label_codes.astype(np.int64) * max(len(group_values), 1) + group_codes, return_inverse=True)
    return codes.reshape(-1)


def _check_history(first_purchase: pd.Timestamp | None, cutoff: pd.Timestamp, days: int) -> None:
    """Raise :class:`ChurnHistoryError` when nobody bought on or before the training cutoff."""
    if first_purchase is None or first_purchase > cutoff:
        first = "—" if first_purchase is None else str(first_purchase.date())
        raise ChurnHistoryError(
            "short_history",
            f"no purchases on or before the training cutoff {cutoff.date()} (2 × churn.horizon_days = "
            f"{days} days before the end; first purchase {first}): use a longer transaction history "
            "or a shorter churn.horizon_days in the params file",
            cutoff=str(cutoff.date()), first=first, days=days,
        )


def _check_window(frame: pd.DataFrame, name: str, cutoff: pd.Timestamp) -> None:
    churned = int(frame["churned"].sum())
    stayed = len(frame) - churned
    if min(churned, stayed) < MIN_PER_CLASS:
        raise ChurnHistoryError(
            "one_class",
            f"the {name} window (cutoff {cutoff.date()}) has {len(frame)} customers, {churned} churned and "
            f"{stayed} not: at least {MIN_PER_CLASS} of each are needed. Use a longer transaction history "
            "or a shorter churn.horizon_days in the params file",
            window=name, cutoff=str(cutoff.date()), n=len(frame), churned=churned, stayed=stayed,
            minimum=MIN_PER_CLASS,
        )


def _p_alive_baseline_auc(validation: pd.DataFrame, p_alive: pd.DataFrame | None) -> float | None:
    if p_alive is None:
        return None
    require_columns(p_alive, ["customer_id", "p_alive"], "p_alive_at_validation_cutoff")
    by_id = p_alive.assign(customer_id=p_alive["customer_id"].astype("string")).set_index(
        "customer_id"
    )["p_alive"]
    values = validation["customer_id"].astype("string").map(by_id)
    known = values.notna().to_numpy()
    y = validation["churned"].to_numpy(dtype=bool)[known]
    if known.sum() < 2 or y.all() or not y.any():
        return None
    return float(roc_auc_score(y, 1 - values.to_numpy(dtype="float64")[known]))


def _rank_order(score: np.ndarray, customer_id: Sequence[str] | pd.Series) -> np.ndarray:
    """Positions sorted by score, ties broken by customer_id, so results ignore row order."""
    ids = np.asarray(pd.Series(customer_id).astype(str), dtype=object)
    return np.lexsort((ids, score))


def top_decile_lift(
    y: np.ndarray, score: np.ndarray, customer_id: Sequence[str] | pd.Series
) -> float:
    """Churn rate among the 10 % highest scores (ceil(n/10) customers) ÷ the overall churn rate."""
    y = np.asarray(y, dtype=bool)
    order = _rank_order(np.asarray(score, dtype="float64"), customer_id)[::-1]
    top = order[: math.ceil(len(y) / 10)]
    return float(y[top].mean() / y.mean()) if y.mean() > 0 else float("nan")


def calibration_table(
    y: np.ndarray, score: np.ndarray, customer_id: Sequence[str] | pd.Series
) -> pd.DataFrame:
    """Mean predicted probability vs observed churn rate in 10 equal-count groups of the score."""
    y = np.asarray(y, dtype=bool)
    if len(y) < 10:
        raise ChurnInputError(f"calibration needs at least 10 customers, got {len(y)}")
    order = _rank_order(np.asarray(score, dtype="float64"), customer_id)
    decile = np.empty(len(y), dtype="int64")
    decile[order] = np.arange(len(y)) * 10 // len(y) + 1
    frame = pd.DataFrame({"decile": decile, "predicted": score, "churned": y})
    table = frame.groupby("decile").agg(
        customers=("churned", "size"),
        mean_predicted=("predicted", "mean"),
        observed_rate=("churned", "mean"),
    )
    return table.reset_index()


# ---------------------------------------------------------------------------------------------
# risk and early warning


def churn_risk(
    customers: pd.DataFrame,
    model_scores: pd.DataFrame | None,
    *,
    high: float = 0.6,
    medium: float = 0.3,
) -> pd.DataFrame:
    """Churn risk per customer: the classifier's probability and 1 − P(alive) side by side.

    ``churn_risk`` is the classifier's probability; where the classifier has no score for a
    customer it is 1 − P(alive) (``risk_source`` says which). Band (a code of :data:`RISK_BANDS`):
    high when risk ≥ ``high``, medium when ≥ ``medium``, else low (``churn.high_risk``,
    ``churn.medium_risk``).

    Returns
    -------
    DataFrame
        ``customer_id, churn_probability, p_alive_risk, churn_risk, risk_source, risk_band`` in the
        order of ``customers``.
    """
    if not 0 < medium < high < 1:
        raise ChurnInputError(
            f"risk thresholds medium={medium}, high={high}: need 0 < churn.medium_risk < churn.high_risk < 1"
        )
    require_columns(customers, ["customer_id"], "customers")
    ids = customers["customer_id"].astype("string")
    if model_scores is not None:
        require_columns(
            model_scores,
            ["customer_id", "churn_probability"],
            "model_scores",
            "use ChurnModel(...).fit(...).scores_",
        )
        by_id = model_scores.assign(
            customer_id=model_scores["customer_id"].astype("string")
        ).set_index("customer_id")
        probability = ids.map(by_id["churn_probability"]).astype("float64")
    else:
        probability = pd.Series(np.nan, index=customers.index)
    p_alive_risk = (
        1 - pd.to_numeric(customers["p_alive"]).astype("float64")
        if "p_alive" in customers
        else pd.Series(np.nan, index=customers.index)
    )
    risk = probability.fillna(p_alive_risk)
    source = np.where(
        probability.notna(), "model", np.where(p_alive_risk.notna(), "p_alive", pd.NA)
    )
    band = pd.Series(
        np.select(
            [risk >= high, risk >= medium, risk.notna()], ["high", "medium", "low"], default=""
        ),
        index=customers.index,
    ).replace("", pd.NA)
    return pd.DataFrame(
        {
            "customer_id": ids,
            "churn_probability": probability,
            "p_alive_risk": p_alive_risk,
            "churn_risk": risk,
            "risk_source": pd.array(source, dtype="string"),
            "risk_band": band.astype("string"),
        },
        index=customers.index,
    )


def early_warning_list(
    customers: pd.DataFrame,
    *,
    tiers: Sequence[int] | None = (1, 2),
    top_clv_share: float | None = None,
    risk_threshold: float = 0.6,
    gap_multiple: float = 2.0,
    max_days_since_last: int = 180,
    falling_spend_share: float = 0.5,
    detractor_max: float = 6,
    size: int | None = None,
) -> pd.DataFrame:
    """Valuable customers at risk of churning, with the reasons, sorted by value at risk.

    Valuable: tier in ``tiers`` or CLV in the top ``top_clv_share`` of customers (either test
    qualifies). At risk: ``churn_risk ≥ risk_threshold`` (see :func:`churn_risk`). Reasons (codes of
    :data:`REASONS`), checked for each listed customer:

    - ``long_since_last_purchase``: days_since_last > ``gap_multiple`` × the customer's usual gap
      ((last − first purchase) / frequency, repeat buyers only) or > ``max_days_since_last``;
    - ``falling_spend``: recent_spend < ``falling_spend_share`` × previous_spend (previous > 0);
    - ``detractor``: recommend_score ≤ ``detractor_max`` (the NPS detractor range 0–6);
    - ``open_complaint``: complaints_open > 0;
    - ``model_risk``: none of the above, the risk comes from the model alone.

    value_at_risk = clv × churn_risk; ties are ordered by customer_id.

    Returns
    -------
    DataFrame
        The customers' rows (all columns) plus ``value_at_risk``, ``reason_codes`` (list of codes)
        and ``reasons`` (the reasons with their figures: a message as JSON text, the sentences
        joined by the language's "; "), first ``size`` rows.
    """
    require_columns(
        customers,
        ["customer_id", "clv", "churn_risk", "days_since_last"],
        "customers",
        "merge churn_risk(...) into the customers table first",
    )
    if tiers is None and top_clv_share is None:
        raise ChurnInputError(
            "early_warning_list: give tiers (e.g. churn.watch_tiers: [1, 2]) or top_clv_share (e.g. 0.2)"
        )
    if top_clv_share is not None and not 0 < top_clv_share <= 1:
        raise ChurnInputError(
            f"top_clv_share={top_clv_share}: use a share in (0, 1], e.g. 0.2 for the top 20 % by CLV"
        )
    valuable = pd.Series(False, index=customers.index)
    if tiers is not None:
        require_columns(customers, ["tier"], "customers", "assign tiers first (notebook 03)")
        valuable |= customers["tier"].isin(list(tiers))
    if top_clv_share is not None:
        clv_rank = customers["clv"].rank(ascending=False, method="min")
        valuable |= clv_rank <= math.ceil(top_clv_share * len(customers))
    at_risk = pd.to_numeric(customers["churn_risk"]) >= risk_threshold
    listed = customers[valuable & at_risk].copy()
    listed["value_at_risk"] = listed["clv"].astype("float64") * listed["churn_risk"].astype(
        "float64"
    )
    listed = listed.sort_values(
        ["value_at_risk", "customer_id"], ascending=[False, True], kind="mergesort", ignore_index=True
    )
    if size is not None:  # before the reasons, which are found row by row
        listed = listed.head(size).copy()
    reasons = [  # the observable reasons, else the model's risk
        observed_reasons(row, gap_multiple, max_days_since_last, falling_spend_share, detractor_max)
        or [("model_risk", {"risk": float(row["churn_risk"])})]
        for row in listed.to_dict(orient="records")
    ]
    listed["reason_codes"] = [[code for code, _ in r] for r in reasons]
    listed["reasons"] = pd.array([to_json(reasons_message(r)) for r in reasons], dtype="string")
    return listed


def reasons_message(reasons: Iterable[tuple[str, dict[str, Any]]]) -> Message:
    """The reasons (code, figures) in words: the messages ``churn_reason_<code>`` joined by "; "."""
    return joined(
        [message(f"churn_reason_{code}", **values) for code, values in reasons],
        separator="separator_sentences",
    )


#: The columns of a customer's row the churn reasons read (:func:`observed_reasons`, :func:`usual_gap_days`).
REASON_COLUMNS: tuple[str, ...] = (
    "days_since_last", "first_purchase", "last_purchase", "frequency", "recent_spend", "previous_spend",
    "recommend_score", "complaints_open",
)


def observed_reasons(
    row: dict[str, Any],
    gap_multiple: float,
    max_days: int,
    falling_share: float,
    detractor_max: float,
) -> list[tuple[str, dict[str, Any]]]:
    """The observable churn reasons (code, figures) that hold for one customer's row: a long silence
    against their usual gap, falling spend, a detractor's answer, an open complaint."""
    found: list[tuple[str, dict[str, Any]]] = []
    days = number_or_none(row.get("days_since_last"))
    gap = usual_gap_days(row)
    if days is not None and ((gap is not None and days > gap_multiple * gap) or days > max_days):
        found.append(("long_since_last_purchase", {"days": round(days), "gap": "—" if gap is None else round(gap)}))
    recent, previous = number_or_none(row.get("recent_spend")), number_or_none(row.get("previous_spend"))
    if recent is not None and previous is not None and previous > 0 and recent < falling_share * previous:
        found.append(("falling_spend", {"share": max(recent, 0.0) / previous}))
    score = number_or_none(row.get("recommend_score"))
    if score is not None and score <= detractor_max:
        found.append(("detractor", {"score": score}))
    open_complaints = number_or_none(row.get("complaints_open"))
    if open_complaints is not None and open_complaints > 0:
        found.append(("open_complaint", {"n": int(open_complaints)}))
    return found



def usual_gap_days(row: dict[str, Any]) -> float | None:
    """(last_purchase − first_purchase) in days / frequency, for repeat buyers; else None."""
    frequency = number_or_none(row.get("frequency"))
    first, last = row.get("first_purchase"), row.get("last_purchase")
    if (
        frequency is None
        or frequency < 1
        or first is None
        or last is None
        or pd.isna(first)
        or pd.isna(last)
    ):
        return None
    return (pd.Timestamp(last) - pd.Timestamp(first)).days / frequency


def number_or_none(value: Any) -> float | None:
    """``value`` as a float, or None when it is missing or not a number (a row's field, read leniently)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
