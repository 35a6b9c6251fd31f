"""Cross-sell: the product categories a customer's look-alikes buy and the customer does not.

The method is item-item collaborative filtering on the customer × category purchase matrix
(Sarwar et al. 2001; Linden, Smith & York 2003). With B the 0/1 matrix (b_uc = 1 when customer u
bought category c), the similarity of two categories is the cosine of their columns,

    sim(i, j) = |U_i ∩ U_j| / sqrt(|U_i| · |U_j|),

the number of customers who bought both over the geometric mean of their buyers. A customer's
score for a category not yet bought is the sum of its similarities to the categories they bought;
the top ``k`` categories by score are the suggestions (ties: the more popular category first, then
the category's name). The matrix has few columns (categories), so everything is one matrix product.

The matrix is counted from the transactions in memory (:func:`purchase_matrix`) or, in the
study, by the engine on the cleaned file (:class:`EnginePurchases`): the same counts, without the
rows in memory.

It is checked on a holdout (:func:`holdout_validation`): fitted on the purchases up to the last
``holdout_months`` months of the period, it suggests ``k`` categories to every customer who had
bought by then; the hit rate is the share of the customers who bought a category new to them in
the holdout whose new categories include a suggestion. The baseline suggests the categories most
customers bought (popularity) that the customer does not have. Both hit rates come with Wilson
intervals and their difference with a paired bootstrap interval.

References
----------
Sarwar, B., Karypis, G., Konstan, J. & Riedl, J. (2001). Item-based collaborative filtering
    recommendation algorithms. Proceedings of WWW 10, 285-295.
Linden, G., Smith, B. & York, J. (2003). Amazon.com recommendations: item-to-item collaborative
    filtering. IEEE Internet Computing 7(1), 76-80.
Wilson, E. B. (1927). Probable inference, the law of succession, and statistical inference.
    Journal of the American Statistical Association 22(158), 209-212.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads

from analysis.i18n import Message, message
from analysis.methods import satisfaction
from analysis.methods.codes import sorted_codes
from analysis.methods.customer_summary import Engine, run_queries
from analysis.methods.ids import is_in
from analysis.methods.lifecycle import as_timestamp, require_columns

#: The suggestion methods, as codes (locale texts ``cross_sell_method_<code>``).
METHODS: tuple[str, ...] = ("item_cosine", "popularity")

#: Fewest holdout customers (who bought a new category) the validation needs to say anything.
MIN_VALIDATION_CUSTOMERS = 30

When = date | str | pd.Timestamp | None


class CrossSellInputError(ValueError):
    """Wrong input to the cross-sell analysis; the message says what, where and how to fix it."""


# ---------------------------------------------------------------------------------------------
# the purchase matrix


def purchase_matrix(
    transactions: pd.DataFrame,
    *,
    since: date | str | pd.Timestamp | None = None,
    until: date | str | pd.Timestamp | None = None,
    categories: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Purchases per customer and product category: a customers × categories table of counts.

    Only purchase rows count (``is_purchase`` when the table has it, else not a return and a
    positive amount), dated in (``since``, ``until``] when given; rows without a category are left
    out. ``categories`` fixes the columns (and their order); by default the categories seen, sorted.

    Returns
    -------
    DataFrame
        Index ``customer_id`` (sorted), one int64 column per category.
    """
    require_columns(
        transactions, ["customer_id", "order_date", "product_category"], "transactions",
        "pass the cleaned transactions with inputs.transactions.columns mapping a header onto product_category",
    )
    rows = transactions
    if "is_purchase" in rows:
        keep = rows["is_purchase"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    else:
        returned = rows["is_return"].fillna(False).astype(bool) if "is_return" in rows else False
        keep = (~returned & (pd.to_numeric(rows["amount"]) > 0)).to_numpy(dtype=bool)
    # not in place: the mask may be a view of the caller's column
    keep = keep & rows["product_category"].notna().to_numpy() & rows["customer_id"].notna().to_numpy()
    if since is not None or until is not None:
        day = pd.to_datetime(rows["order_date"]).dt.normalize()
        if since is not None:
            keep &= (day > as_timestamp(since, "since")).to_numpy()
        if until is not None:
            keep &= (day <= as_timestamp(until, "until")).to_numpy()
    # only the two columns counted are cut to the kept rows, not the whole table
    customer = _Codes(*sorted_codes(rows["customer_id"][keep].astype("string")))  # framed rows come by customer
    category = _counted(rows["product_category"][keep])
    counts = np.bincount(customer.codes * len(category.uniques) + category.codes,
                         minlength=len(customer.uniques) * len(category.uniques))
    return _framed(counts.reshape(len(customer.uniques), len(category.uniques)), customer.uniques, category.uniques,
                   categories)


def _framed(counts: np.ndarray, customers: Any, seen: Any, categories: Sequence[str] | None) -> pd.DataFrame:
    """The purchase matrix of ``counts`` (sorted ``customers`` × sorted categories ``seen``), with the
    columns ``categories`` asked for in their order (a category nobody bought is all 0, one not asked
    for is left out); all ``seen`` by default."""
    columns = list(seen) if categories is None else [str(c) for c in categories]
    position = pd.Index(seen, dtype=object).get_indexer(columns)
    found = position >= 0
    table = np.zeros((len(customers), len(columns)), dtype="int64")
    table[:, found] = counts[:, position[found]]
    return pd.DataFrame(table, index=pd.Index(customers, dtype="string", name="customer_id"),
                        columns=pd.Index(columns, name="category"))


class FramePurchases:
    """The purchase matrices (:func:`purchase_matrix`) of transactions held in memory."""

    def __init__(self, transactions: pd.DataFrame) -> None:
        self.transactions = transactions

    def matrix(self, *, since: When = None, until: When = None, categories: Sequence[str] | None = None) -> pd.DataFrame:
        return purchase_matrix(self.transactions, since=since, until=until, categories=categories)

    def split_at(self, *days: When) -> FramePurchases:
        """The same purchases: a matrix of rows in memory is counted as fast in any window."""
        return self

    def category_count(self) -> int:
        """The distinct product categories of every row, purchase or not (0 without the column)."""
        tx = self.transactions
        return int(tx["product_category"].nunique()) if "product_category" in tx else 0


@dataclass(frozen=True)
class EnginePurchases:
    """The purchase matrices of the cleaned transactions file (``transactions.parquet``), counted by
    the engine (DuckDB, or Spark): only the counts per customer and category come into memory,
    never the rows. The same matrices as :func:`purchase_matrix` of the file's rows.

    With ``cuts`` (:meth:`split_at`), every matrix whose bounds are among them comes from one count
    per customer, category and window between the cuts, made once: the suggestions and their
    holdout check ask for three such matrices."""

    path: Path
    engine: Engine = "duckdb"
    memory_limit: str | None = None  # DuckDB's, as ``scoring.engine_memory_limit``
    cuts: tuple[date, ...] = ()  # rising days
    _split: dict[str, Any] = field(default_factory=lambda: {"lock": threading.Lock()}, init=False, repr=False,
                                   compare=False)

    def split_at(self, *days: When) -> EnginePurchases:
        """These purchases, counted per window between ``days`` once for every matrix bounded by them."""
        cuts = sorted({as_timestamp(day, "cut").date() for day in days if day is not None})
        return replace(self, cuts=tuple(cuts))

    def matrix(self, *, since: When = None, until: When = None, categories: Sequence[str] | None = None) -> pd.DataFrame:
        if not self._has_categories():
            raise CrossSellInputError(
                f"{self.path} has no product_category column: map a header of the export onto it "
                "(inputs.transactions.columns) and run the cleaning stage again"
            )
        since_day, until_day = (None if day is None else as_timestamp(day, name).date()
                                for day, name in ((since, "since"), (until, "until")))
        windows = self._windows(since_day, until_day)
        if windows is not None:
            split = self._split_counts()
            return _matrix_of(split.customer, split.category, split.purchases[windows].sum(axis=0), categories)
        counts = self._query(f"""
SELECT customer_id, product_category AS category, COUNT(*) AS purchases
FROM transactions
WHERE {" AND ".join([*_COUNTED, *_in_window(since_day, until_day)])}
GROUP BY customer_id, product_category""")
        customer, category = (_counted(counts.column(name).to_pandas()) for name in ("customer_id", "category"))
        return _matrix_of(customer, category, counts.column("purchases").to_numpy(), categories)

    def category_count(self) -> int:
        """The distinct product categories of every row, purchase or not (0 without the column)."""
        if not self._has_categories():
            return 0
        return int(self._query("SELECT COUNT(DISTINCT product_category) AS n FROM transactions").column("n")[0].as_py())

    def _windows(self, since: date | None, until: date | None) -> slice | None:
        """The windows between the cuts that (since, until] covers; None when a bound is not a cut."""
        if any(day is not None and day not in self.cuts for day in (since, until)):
            return None
        start = 0 if since is None else self.cuts.index(since) + 1
        stop = len(self.cuts) + 1 if until is None else self.cuts.index(until) + 1
        return slice(start, max(start, stop))

    def _split_counts(self) -> _SplitCounts:
        """Purchases per customer and category in each window between the cuts: one query, once
        (the first thread to ask runs it, others wait for it)."""
        with self._split["lock"]:
            if "counts" not in self._split:
                bounds = [None, *self.cuts, None]
                windows = [f"COUNT(CASE WHEN {' AND '.join(_in_window(since, until)) or 'TRUE'} THEN 1 END) AS w{i}"
                           for i, (since, until) in enumerate(zip(bounds[:-1], bounds[1:], strict=True))]
                counts = self._query(f"""
SELECT customer_id, product_category AS category, {", ".join(windows)}
FROM transactions
WHERE {" AND ".join(_COUNTED)}
GROUP BY customer_id, product_category""")
                self._split["counts"] = _SplitCounts(
                    *(_counted(counts.column(name).to_pandas()) for name in ("customer_id", "category")),
                    np.vstack([counts.column(f"w{i}").to_numpy() for i in range(len(windows))]),
                )
            return self._split["counts"]

    def _has_categories(self) -> bool:
        return "product_category" in pads.dataset(self.path, format="parquet").schema.names

    def _query(self, sql: str) -> pa.Table:
        return run_queries(self.path, [sql], self.engine, memory_limit=self.memory_limit)[0]


#: The rows :func:`purchase_matrix` counts: purchases with a customer and a category.
_COUNTED = ("is_purchase", "customer_id IS NOT NULL", "product_category IS NOT NULL")


def _in_window(since: date | None, until: date | None) -> list[str]:
    """SQL conditions of an order day in (since, until]."""
    return [f"CAST(order_date AS DATE) {op} DATE '{day.isoformat()}'"
            for day, op in ((since, ">"), (until, "<=")) if day is not None]


def purchases_of(transactions: pd.DataFrame | FramePurchases | EnginePurchases) -> FramePurchases | EnginePurchases:
    """Transactions in memory as :class:`FramePurchases`; purchases already given as they are."""
    return FramePurchases(transactions) if isinstance(transactions, pd.DataFrame) else transactions


class _Codes(NamedTuple):
    codes: np.ndarray  # int64 position of each row's value in ``uniques``
    uniques: np.ndarray | pd.Index  # the distinct values as text, sorted

    def kept(self, rows: np.ndarray) -> _Codes:
        """The codes of the ``rows`` (a mask), among the values those rows hold."""
        used = np.zeros(len(self.uniques), dtype=bool)
        codes = self.codes[rows]
        used[codes] = True
        return _Codes((np.cumsum(used) - 1)[codes], self.uniques[used])


class _SplitCounts(NamedTuple):
    """Purchases per customer and category (a row each) in each window between cuts."""

    customer: _Codes
    category: _Codes
    purchases: np.ndarray  # (windows, rows)


def _matrix_of(customer: _Codes, category: _Codes, purchases: np.ndarray, categories: Sequence[str] | None) -> pd.DataFrame:
    """The purchase matrix of counted (customer, category) rows; the rows without a purchase left out."""
    bought = purchases > 0
    if not bought.all():
        customer, category, purchases = customer.kept(bought), category.kept(bought), purchases[bought]
    table = np.zeros((len(customer.uniques), len(category.uniques)), dtype="int64")
    table[customer.codes, category.codes] = purchases  # one row per pair
    return _framed(table, customer.uniques, category.uniques, categories)


def _counted(values: pd.Series) -> _Codes:
    """The values as text, coded by their rank among the distinct values (sorted as text), to count
    pairs with one ``bincount`` instead of a group-by per pair."""
    codes, uniques = pd.factorize(values.astype("string"), sort=True)  # Arrow's, without a Python str per row
    return _Codes(codes.astype("int64"), uniques.to_numpy(dtype=object))


# ---------------------------------------------------------------------------------------------
# the recommenders


class ItemCosine:
    """Item-item cosine similarity on the 0/1 customer × category matrix (see the module docstring).

    Attributes
    ----------
    categories_ : list[str]
    similarity_ : DataFrame
        Category × category cosine similarity, 0 on the diagonal.
    popularity_ : Series
        Customers who bought each category (the tie-break, and the baseline's order).
    n_customers_ : int
    """

    method = "item_cosine"

    def fit(self, matrix: pd.DataFrame) -> ItemCosine:
        """Learn the similarities from a :func:`purchase_matrix` (counts or 0/1)."""
        bought = _binary(matrix)
        if bought.shape[1] < 2:
            raise CrossSellInputError(
                f"cross-sell needs at least two product categories, the purchases have {bought.shape[1]}: "
                "map the product_category column of the transactions (inputs.transactions.columns)"
            )
        buyers = bought.sum(axis=0)
        together = bought.T @ bought
        scale = np.sqrt(np.outer(buyers, buyers))
        with np.errstate(invalid="ignore", divide="ignore"):
            sim = np.where(scale > 0, together / np.where(scale > 0, scale, 1.0), 0.0)
        np.fill_diagonal(sim, 0.0)
        self.categories_ = [str(c) for c in matrix.columns]
        self.similarity_ = pd.DataFrame(sim, index=self.categories_, columns=self.categories_)
        self.popularity_ = pd.Series(buyers, index=self.categories_, name="customers", dtype="int64")
        self.n_customers_ = int(bought.shape[0])
        return self

    def scores(self, matrix: pd.DataFrame) -> np.ndarray:
        """Score of every category for every row of ``matrix``: the sum of its similarities to the
        categories the customer bought (the customers' categories must be the fitted ones)."""
        self._check(matrix)
        return _binary(matrix) @ self.similarity_.to_numpy()

    def suggest(self, matrix: pd.DataFrame, k: int = 1) -> pd.DataFrame:
        """The top ``k`` categories each customer of ``matrix`` has not bought (see :func:`top_k`)."""
        return top_k(matrix, self.scores(matrix), self.popularity_.to_numpy(), k)

    def _check(self, matrix: pd.DataFrame) -> None:
        if not hasattr(self, "similarity_"):
            raise CrossSellInputError("ItemCosine is not fitted yet; call fit(purchase_matrix(...)) first")
        if [str(c) for c in matrix.columns] != self.categories_:
            raise CrossSellInputError(
                f"the matrix has categories {list(matrix.columns)}, the model was fitted on {self.categories_}; "
                "build both with purchase_matrix(..., categories=model.categories_)"
            )


class Popularity(ItemCosine):
    """The baseline: the categories most customers bought, the same order for everyone."""

    method = "popularity"

    def scores(self, matrix: pd.DataFrame) -> np.ndarray:
        self._check(matrix)
        return np.tile(self.popularity_.to_numpy(dtype="float64"), (len(matrix), 1))


def top_k(matrix: pd.DataFrame, scores: np.ndarray, popularity: np.ndarray, k: int) -> pd.DataFrame:
    """The ``k`` best-scored categories each customer has not bought, ties broken by popularity
    then by name; a customer who bought every category gets none.

    Returns
    -------
    DataFrame
        ``customer_id, rank (1 = best), category, score`` sorted by customer and rank.
    """
    if int(k) < 1:
        raise CrossSellInputError(f"k={k}: suggest at least one category (actions.cross_sell_k)")
    order = _ranked(matrix, scores, popularity)[:, : int(k)]
    bought = _binary(matrix)
    rows, ranks = np.nonzero(np.ones_like(order, dtype=bool))
    picked = order[rows, ranks]
    valid = bought[rows, picked] == 0
    categories = np.asarray([str(c) for c in matrix.columns], dtype=object)
    return pd.DataFrame({
        "customer_id": pd.array(np.asarray(matrix.index, dtype=object)[rows[valid]], dtype="string"),
        "rank": (ranks[valid] + 1).astype("int64"),
        "category": pd.array(categories[picked[valid]], dtype="string"),
        "score": scores[rows[valid], picked[valid]].astype("float64"),
    })


def _ranked(matrix: pd.DataFrame, scores: np.ndarray, popularity: np.ndarray) -> np.ndarray:
    """Column positions per row, best first: not bought before bought, then score, popularity, name."""
    bought = _binary(matrix)
    n, m = bought.shape
    names = np.argsort(np.argsort([str(c) for c in matrix.columns], kind="stable"), kind="stable")
    # lexsort sorts by the last key first; every key ascending
    keys = (
        np.broadcast_to(names, (n, m)),
        np.broadcast_to(-np.asarray(popularity, dtype="float64"), (n, m)),
        -np.asarray(scores, dtype="float64"),
        bought,
    )
    return np.lexsort(keys, axis=-1) if n else np.empty((0, m), dtype="int64")


def _binary(matrix: pd.DataFrame) -> np.ndarray:
    return (matrix.to_numpy() > 0).astype("float64")


# ---------------------------------------------------------------------------------------------
# validation


@dataclass(frozen=True)
class HoldoutFigures:
    """Hit rate of one method on the holdout customers."""

    method: str
    hits: int
    n: int
    hit_rate: float
    low: float
    high: float


def wilson_interval(hits: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion ``hits / n`` as two floats (NaN, NaN when n = 0):
    :func:`analysis.methods.satisfaction.wilson_interval` for one proportion."""
    if n <= 0:
        return float("nan"), float("nan")
    low, high = satisfaction.wilson_interval(hits, n, confidence)
    return max(0.0, float(low)), min(1.0, float(high))  # exactly 0 and 1 at the ends, not a rounding off


def holdout_cutoff(end: date | str | pd.Timestamp, holdout_months: int) -> pd.Timestamp:
    """The last day fitted on: ``end`` less ``holdout_months`` calendar months."""
    return as_timestamp(end, "end") - pd.DateOffset(months=int(holdout_months))


def holdout_validation(
    transactions: pd.DataFrame | FramePurchases | EnginePurchases,
    *,
    end: date | str | pd.Timestamp,
    holdout_months: int = 3,
    k: int = 1,
    confidence: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
) -> dict[str, Any]:
    """Hit rate of the item-item suggestions and of the popularity baseline on the last months.

    Both are fitted on purchases up to :func:`holdout_cutoff`; each customer who bought by then
    gets ``k`` suggestions among the categories they had not bought. The customers scored are
    those who bought at least one category new to them in (cutoff, end]; a hit is a suggestion
    among those new categories. ``difference`` is method − baseline, with a paired bootstrap
    interval (``n_boot`` resamples of the customers, ``seed``).

    Returns
    -------
    dict
        JSON-ready: ``method, baseline, k, holdout_months, cutoff, end, confidence,
        customers_before`` (who bought by the cutoff), ``n_customers`` (scored), ``method_figures`` and
        ``baseline_figures`` (``hits, n, hit_rate, low, high``), ``difference {estimate, low, high}``,
        ``beats_baseline`` (the difference's interval lies above 0), ``usable`` and ``reason`` (a
        message when fewer than :data:`MIN_VALIDATION_CUSTOMERS` customers could be scored).
    """
    cutoff = holdout_cutoff(end, holdout_months)
    purchases = purchases_of(transactions)
    before = purchases.matrix(until=cutoff)
    record: dict[str, Any] = {
        "method": ItemCosine.method, "baseline": Popularity.method, "k": int(k),
        "holdout_months": int(holdout_months), "cutoff": str(cutoff.date()),
        "end": str(as_timestamp(end, "end").date()), "confidence": confidence,
        "customers_before": int(len(before)),
    }
    if before.shape[1] < 2 or before.empty:
        return record | _unusable(0, message("cross_sell_reason_no_history", cutoff=record["cutoff"]))
    after = purchases.matrix(since=cutoff, until=end, categories=list(before.columns))
    after = after.reindex(before.index, fill_value=0)
    new = (after.to_numpy() > 0) & (before.to_numpy() == 0)
    scored = new.any(axis=1)
    n = int(scored.sum())
    if n < MIN_VALIDATION_CUSTOMERS:
        return record | _unusable(n, message("cross_sell_reason_few_buyers", n=n, minimum=MIN_VALIDATION_CUSTOMERS,
                                                 months=int(holdout_months)))
    hits = {}
    for model in (ItemCosine(), Popularity()):
        model.fit(before)
        sub = before[scored]
        order = _ranked(sub, model.scores(sub), model.popularity_.to_numpy())[:, : int(k)]
        hits[model.method] = np.take_along_axis(new[scored], order, axis=1).any(axis=1)
    figures = {m: _figures(m, h, confidence) for m, h in hits.items()}
    diff = hits[ItemCosine.method].astype("float64") - hits[Popularity.method].astype("float64")
    boots = bootstrap_means(diff, int(n_boot), np.random.default_rng(seed))
    tail = (1 - confidence) / 2
    low, high = np.quantile(boots, [tail, 1 - tail])
    return record | {
        "n_customers": n,
        "method_figures": vars(figures[ItemCosine.method]),
        "baseline_figures": vars(figures[Popularity.method]),
        "difference": {"estimate": float(diff.mean()), "low": float(low), "high": float(high), "n_boot": int(n_boot)},
        "beats_baseline": bool(low > 0),
        "usable": True,
        "reason": None,
    }


def bootstrap_means(values: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Means of ``n_boot`` resamples of ``values`` with replacement.

    A resample's mean depends only on how often it draws each distinct value, and those counts are
    multinomial (n, the values' shares): drawn as such, the means have exactly the bootstrap's
    distribution at a cost of ``n_boot`` × the distinct values, not ``n_boot`` × n (the paired
    differences of hits take three values: 2,000 resamples of 83,582 customers in 1 ms, not 1.05 s)."""
    n = len(values)
    if n == 0:
        return np.full(n_boot, np.nan)
    distinct, counts = np.unique(values, return_counts=True)
    return rng.multinomial(n, counts / n, size=n_boot) @ distinct / n


def _figures(method: str, hits: np.ndarray, confidence: float) -> HoldoutFigures:
    n, h = int(hits.size), int(hits.sum())
    low, high = wilson_interval(h, n, confidence)
    return HoldoutFigures(method, h, n, h / n, low, high)


def _unusable(n: int, reason: Message) -> dict[str, Any]:
    return {"n_customers": n, "method_figures": None, "baseline_figures": None, "difference": None,
            "beats_baseline": False, "usable": False, "reason": reason}


# ---------------------------------------------------------------------------------------------
# suggestions for the tiers


def cross_sell_suggestions(
    transactions: pd.DataFrame | FramePurchases | EnginePurchases,
    customers: pd.DataFrame,
    *,
    tiers: Sequence[int],
    k: int = 1,
    end: date | str | pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Suggestions for the customers of ``tiers``, from a model fitted on every customer's purchases.

    Returns
    -------
    DataFrame
        ``customer_id, tier, rank, category, score, buyers_share`` (the share of all buyers who bought
        the category), ``categories_bought`` (how many categories the customer has); sorted by tier,
        customer and rank. Empty (those columns) when nobody in the tiers has a suggestion.
    """
    require_columns(customers, ["customer_id", "tier"], "customers", "assign tiers first (notebook 03)")
    if not tiers:
        raise CrossSellInputError("tiers is empty: name the tiers to suggest for (actions.cross_sell_tiers)")
    matrix = purchases_of(transactions).matrix(until=end)
    model = ItemCosine().fit(matrix)
    wanted = customers.loc[customers["tier"].isin(list(tiers)), ["customer_id", "tier"]]
    wanted = wanted.assign(customer_id=wanted["customer_id"].astype("string"))
    sub = matrix[is_in(matrix.index.to_series(), pa.array(wanted["customer_id"].array)).to_numpy()]
    table = model.suggest(sub, k)
    share = (model.popularity_ / max(model.n_customers_, 1)).rename("buyers_share")
    counts = (sub > 0).sum(axis=1).rename("categories_bought").astype("int64")
    table = table.merge(wanted, on="customer_id", how="left")
    table = table.assign(
        buyers_share=table["category"].map(share).astype("float64"),
        categories_bought=table["customer_id"].map(counts).astype("int64"),
    )
    columns = ["customer_id", "tier", "rank", "category", "score", "buyers_share", "categories_bought"]
    table = table[columns].sort_values(["tier", "customer_id", "rank"], kind="mergesort").reset_index(drop=True)
    return table.astype({"tier": "int64"})


def suggestion_summary(suggestions: pd.DataFrame) -> pd.DataFrame:
    """How often each category is suggested, first choice and any rank: ``category, customers,
    first_choice, share`` (share of the customers with a suggestion), most suggested first."""
    if suggestions.empty:
        return pd.DataFrame({"category": pd.Series(dtype="string"), "customers": pd.Series(dtype="int64"),
                             "first_choice": pd.Series(dtype="int64"), "share": pd.Series(dtype="float64")})
    n = suggestions["customer_id"].nunique()
    table = suggestions.groupby("category", sort=True).agg(
        customers=("customer_id", "nunique"),
        first_choice=("rank", lambda r: int((r == 1).sum())),
    ).reset_index()
    table["share"] = table["customers"] / n
    return table.sort_values(["customers", "first_choice", "category"], ascending=[False, False, True],
                             kind="mergesort").reset_index(drop=True)
