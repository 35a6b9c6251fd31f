"""Tier profiles: who is in each tier, what they are worth, what they buy, and how tiers move.

- :func:`tier_profile` — one row per tier: size, revenue, margin, CLV (each with its share of the
  total) and mean RFM / P(alive) figures;
- :func:`tier_mix`, :func:`purchase_mix` — the make-up of each tier by a customer attribute
  (industry, region, …) or by what its customers buy (product category, channel: 产品偏好);
  :func:`tier_purchase_mix` the latter from the transactions file, summed by the engine;
- :func:`lorenz_curve`, :func:`gini`, :func:`pareto_message` — the concentration of value;
- :func:`migration` — quarter-over-quarter movement between tiers (tier 1 is the best);
- :func:`tiers_differ` — Kruskal–Wallis test that tiers really differ in a value.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from scipy import stats

from analysis.i18n import Message, message, to_json
from analysis.methods.duckdb_session import duckdb_session, parquet_source

#: The category of a missing value in :func:`tier_mix` and :func:`purchase_mix`: a message (as JSON
#: text), so that the mix tables name it in the reader's language when shown (text
#: ``profile_missing_category``).
MISSING_CATEGORY = to_json(message("profile_missing_category"))
_SUMS = {"revenue": "revenue", "margin": "margin", "clv": "clv"}
_MEANS = {
    "recency_mean": "recency",
    "frequency_mean": "frequency",
    "monetary_mean": "monetary_value",
    "p_alive_mean": "p_alive",
    "days_since_last_mean": "days_since_last",
}


class ProfileError(ValueError):
    """A profile cannot be computed as asked: the message names the column or row and the fix."""


def _require(frame: pd.DataFrame, columns: list[str], table: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ProfileError(
            f"the {table} table lacks column(s) {missing}; available: {', '.join(map(str, frame.columns))}"
        )


def _tiers(customers: pd.DataFrame) -> pd.Series:
    _require(customers, ["customer_id", "tier"], "customers")
    tier = customers["tier"]
    if tier.isna().any():
        raise ProfileError(
            f"'tier' is missing for {int(tier.isna().sum())} customer(s) (e.g. "
            f"{customers.loc[tier.isna(), 'customer_id'].head(5).tolist()}); assign tiers to every customer first"
        )
    return tier.astype("int64")


def _all_tiers(tier: pd.Series) -> pd.Index:
    """Tiers 1..max, so a tier left empty still shows as a row."""
    return pd.Index(range(1, int(tier.max()) + 1), name="tier")


# ---------------------------------------------------------------------------------------------
# Profiles


def tier_profile(customers: pd.DataFrame, transactions: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per tier (index ``tier``, 1 = best): size, value and mean behaviour.

    ``customers``, ``revenue``, ``margin``, ``clv`` are sums per tier and each ``*_share`` is the
    tier's sum over the total of all tiers (so the shares sum to 1). ``*_mean`` columns are means of
    ``recency``, ``frequency``, ``monetary_value``, ``p_alive`` and ``days_since_last``. A column the
    table lacks gives NaN. Margin comes from the customers' ``margin`` column; when that is absent or
    empty and ``transactions`` carry ``cost``, it is Σ(amount − cost) per customer.
    """
    tier = _tiers(customers)
    frame = customers.assign(tier=tier)
    if transactions is not None and margin_missing(frame):
        frame = frame.assign(margin=_margin_from_transactions(frame, transactions))
    index = _all_tiers(tier)
    groups = frame.groupby("tier")
    profile = pd.DataFrame(index=index)
    if "tier_name" in frame.columns:
        profile["tier_name"] = groups["tier_name"].first().reindex(index).astype("string")
    profile["customers"] = groups.size().reindex(index, fill_value=0).astype("int64")
    profile["customer_share"] = profile["customers"] / profile["customers"].sum()
    for out, column in _SUMS.items():
        if column in frame.columns and frame[column].notna().any():
            sums = groups[column].sum(min_count=0).reindex(index, fill_value=0.0).astype("float64")
            total = sums.sum()
            profile[out] = sums
            profile[f"{out}_share"] = sums / total if total != 0 else np.nan
        else:
            profile[out] = np.nan
            profile[f"{out}_share"] = np.nan
    for out, column in _MEANS.items():
        profile[out] = (
            groups[column].mean().reindex(index).astype("float64")
            if column in frame.columns
            else np.nan
        )
    return profile


#: The columns of the transactions :func:`tier_profile` reads, when the customers lack a margin.
MARGIN_COLUMNS = ("customer_id", "amount", "cost")


def margin_missing(customers: pd.DataFrame) -> bool:
    """True when :func:`tier_profile` takes the margin from the transactions (no margin in ``customers``)."""
    return "margin" not in customers.columns or customers["margin"].isna().all()


def _margin_from_transactions(customers: pd.DataFrame, transactions: pd.DataFrame) -> pd.Series:
    if not {"customer_id", "amount", "cost"} <= set(transactions.columns):
        return pd.Series(np.nan, index=customers.index)
    per_customer = (
        (transactions["amount"] - transactions["cost"])
        .groupby(transactions["customer_id"].astype("string"))
        .sum()
    )
    return customers["customer_id"].astype("string").map(per_customer).astype("float64")


def tier_mix(customers: pd.DataFrame, column: str, *, normalize: bool = True) -> pd.DataFrame:
    """Share of each category of ``column`` (industry, region, segment, account_manager) within each tier.

    Rows are tiers, columns categories (sorted), each row sums to 1; missing values form the category
    :data:`MISSING_CATEGORY`. ``normalize=False`` gives the counts.
    """
    tier = _tiers(customers)
    _require(customers, [column], "customers")
    category = customers[column].astype("string").fillna(MISSING_CATEGORY)
    counts = pd.crosstab(tier.rename("tier"), category.rename(column)).reindex(
        _all_tiers(tier), fill_value=0
    )
    counts = counts[sorted(counts.columns, key=str)]
    if not normalize:
        return counts
    return counts.div(counts.sum(axis=1).where(lambda s: s > 0), axis=0)


def purchase_mix(
    customers: pd.DataFrame,
    transactions: pd.DataFrame,
    column: str,
    *,
    value: str = "amount",
) -> pd.DataFrame:
    """Revenue share of each ``column`` category (product_category, channel) within each tier (产品偏好).

    share(tier, category) = Σ amount of the tier's customers in the category / Σ amount of the tier;
    missing values form the category :data:`MISSING_CATEGORY`. Transactions of customers absent from
    ``customers`` are left out; their row count is in ``result.attrs["unmatched_rows"]``.
    """
    ids, tier = _tiered_ids(customers)
    _require(transactions, ["customer_id", column, value], "transactions")
    tx_tier = _tier_of_rows(ids, tier, transactions["customer_id"].astype("string"))
    matched = tx_tier.notna()
    category = transactions[column].astype("string").fillna(MISSING_CATEGORY)
    sums = pd.crosstab(
        tx_tier[matched].astype("int64").rename("tier"),
        category[matched].rename(column),
        values=pd.to_numeric(transactions.loc[matched, value]),
        aggfunc="sum",
    )
    return _shares(sums, tier, int((~matched).sum()))


def _shares(sums: pd.DataFrame, tier: pd.Series, unmatched_rows: int) -> pd.DataFrame:
    """Each tier's row of category sums as shares of its total; every tier a row, categories sorted."""
    sums = sums.fillna(0.0).reindex(_all_tiers(tier), fill_value=0.0)
    sums = sums[sorted(sums.columns, key=str)]
    totals = sums.sum(axis=1)
    shares = sums.div(totals.where(totals != 0), axis=0)
    shares.attrs["unmatched_rows"] = unmatched_rows
    return shares


def _tiered_ids(customers: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """The customers' ids as text, checked to be one row per customer, and their tiers."""
    tier = _tiers(customers)
    ids = customers["customer_id"].astype("string")
    if ids.duplicated().any():
        raise ProfileError("customer_id repeats in the customers table; it must hold one row per customer")
    return ids, tier


def _tier_of_rows(ids: pd.Series, tier: pd.Series, row_ids: pd.Series) -> pd.Series:
    """The tier of each row's customer (float, NaN for a customer not in ``ids``), aligned with ``row_ids``.

    Arrow's hash lookup of the ids, not an object-dtype map of every row (seconds on millions of rows).
    """
    found = pc.index_in(pa.array(row_ids), value_set=pa.array(ids), skip_nulls=True)
    position = found.to_numpy(zero_copy_only=False)  # float with NaN where not found
    matched = ~np.isnan(position)
    values = np.full(len(row_ids), np.nan)
    values[matched] = tier.to_numpy(dtype="float64")[position[matched].astype(np.intp)]
    return pd.Series(values, index=row_ids.index)


def tier_purchase_mix(
    transactions_path: Path, customers: pd.DataFrame, columns: Iterable[str], *, value: str = "amount",
    memory_limit: str | None = None,
) -> dict[str, pd.DataFrame | None]:
    """:func:`purchase_mix` of the transactions file for each of ``columns``, summed by DuckDB in one
    pass (held to ``memory_limit``, e.g. ``"1GB"``; None: DuckDB's default): only the sums per tier and
    category come back, never a row per transaction or customer. A column the file lacks, or never
    fills, maps to None.

    The sums are the engine's (Kahan-compensated ``fsum``), so they equal :func:`purchase_mix`'s to
    float rounding, not to the bit.
    """
    ids, tier = _tiered_ids(customers)
    tiers = pa.table({"customer_id": pa.array(ids, type=pa.string()), "tier": pa.array(tier.to_numpy())})
    with duckdb_session(memory_limit) as con:
        rows = con.read_parquet(parquet_source(transactions_path))
        missing = [c for c in ("customer_id", value) if c not in rows.columns]
        if missing:
            raise ProfileError(
                f"the transactions file {transactions_path} lacks column(s) {missing}; available: "
                f"{', '.join(rows.columns)}. Re-run the cleaning stage (notebooks/01_clean) to write it again"
            )
        present = [c for c in dict.fromkeys(columns) if c in rows.columns]
        if not present:
            return dict.fromkeys(columns)
        con.register("tiers", tiers)
        con.register("rows", rows)  # ids the file holds as numbers are joined as text: DuckDB casts them
        quoted = [f'"{c}"' for c in present]
        per_column = ", ".join(f'grouping({q}) = 0 AS "by {c}", count({q}) AS "filled {c}"'
                               for c, q in zip(present, quoted, strict=True))
        table = con.sql(
            f"""SELECT {", ".join(quoted)}, tiers.tier AS tier, fsum("{value}") AS total, count(*) AS n, {per_column}
            FROM rows LEFT JOIN tiers USING (customer_id)
            GROUP BY GROUPING SETS ({", ".join(f"({q}, tiers.tier)" for q in quoted)})"""
        ).df()
    out: dict[str, pd.DataFrame | None] = dict.fromkeys(columns)
    for c in present:
        own = table[table[f"by {c}"]]
        if own[f"filled {c}"].sum() == 0:
            continue
        matched = own[own["tier"].notna()]
        sums = pd.crosstab(
            matched["tier"].astype("int64").rename("tier"),
            matched[c].astype("string").fillna(MISSING_CATEGORY).rename(c),
            values=matched["total"], aggfunc="sum",
        )
        out[c] = _shares(sums, tier, int(own.loc[own["tier"].isna(), "n"].sum()))
    return out


#: The transaction columns whose categories stage 3 sums each tier's spend over (:func:`tier_purchase_mix`).
PURCHASE_MIX_COLUMNS = ("product_category", "channel")
#: The columns of :func:`purchase_mix_table`, with their types.
PURCHASE_MIX_TABLE_COLUMNS = {"column": "string", "tier": "int64", "category": "string", "share": "float64"}


def purchase_mix_table(mixes: dict[str, pd.DataFrame | None]) -> pd.DataFrame:
    """:func:`tier_purchase_mix`'s tables in one, a row per column, tier and category in their order
    (``column, tier, category, share``), as stage 3 stores them; a column without a table has no rows."""
    parts = [
        pd.DataFrame({
            "column": column,
            "tier": np.repeat(mix.index.to_numpy(dtype="int64"), mix.shape[1]),
            "category": np.tile(mix.columns.astype("string").to_numpy(dtype=object), mix.shape[0]),
            "share": mix.to_numpy(dtype="float64").ravel(),
        })
        for column, mix in mixes.items() if mix is not None
    ]
    if not parts:
        return pd.DataFrame({name: pd.Series(dtype=kind) for name, kind in PURCHASE_MIX_TABLE_COLUMNS.items()})
    return pd.concat(parts, ignore_index=True).astype(PURCHASE_MIX_TABLE_COLUMNS)


def purchase_mix_of(table: pd.DataFrame, column: str) -> pd.DataFrame | None:
    """The :func:`tier_purchase_mix` table of ``column`` from :func:`purchase_mix_table` (None when it has none)."""
    rows = table[table["column"] == column]
    if rows.empty:
        return None
    tiers = pd.Index(pd.unique(rows["tier"].to_numpy(dtype="int64")), name="tier")
    categories = pd.Index(pd.unique(rows["category"].astype("string")), name=column)
    shares = rows["share"].to_numpy(dtype="float64").reshape(len(tiers), len(categories))
    return pd.DataFrame(shares, index=tiers, columns=categories)


# ---------------------------------------------------------------------------------------------
# Concentration of value


def _nonnegative(values: Any, clip_negative: bool) -> np.ndarray:
    x = np.asarray(pd.to_numeric(pd.Series(values), errors="raise"), dtype="float64")
    if len(x) == 0:
        raise ProfileError(
            "no values given: the concentration of value needs at least one customer"
        )
    if np.isnan(x).any():
        raise ProfileError(
            f"{int(np.isnan(x).sum())} value(s) are missing; drop or fill them first"
        )
    if (x < 0).any():
        if not clip_negative:
            raise ProfileError(
                f"{int((x < 0).sum())} value(s) are negative (e.g. net returns); pass clip_negative=True "
                "to count them as 0, or use a non-negative column such as clv"
            )
        x = np.clip(x, 0, None)
    if x.sum() <= 0:
        raise ProfileError("the values sum to 0, so shares of the total are undefined")
    return x


def lorenz_curve(values: Any, *, clip_negative: bool = False) -> pd.DataFrame:
    """Lorenz curve (Lorenz 1905): cumulative share of customers vs cumulative share of value.

    Customers are sorted by value ascending; the curve starts at (0, 0) and ends at (1, 1).
    """
    x = np.sort(_nonnegative(values, clip_negative))
    n = len(x)
    return pd.DataFrame(
        {
            "customer_share": np.concatenate([[0.0], np.arange(1, n + 1) / n]),
            "value_share": np.concatenate([[0.0], np.cumsum(x) / x.sum()]),
        }
    )


def gini(values: Any, *, clip_negative: bool = False) -> float:
    """Gini coefficient (Gini 1912) of non-negative values.

    G = 2 Σ_i i·x_(i) / (n Σ x) − (n + 1) / n with x_(1) ≤ … ≤ x_(n): 0 when all are equal,
    (n − 1)/n when one customer holds everything.
    """
    x = np.sort(_nonnegative(values, clip_negative))
    n = len(x)
    return float(2 * np.sum(np.arange(1, n + 1) * x) / (n * x.sum()) - (n + 1) / n)


def _percent(share: float) -> Message:
    """A share as a percentage with no needless digit (63 %, 2.9 %, 0.2 %)."""
    percent = 100 * share
    digits = f"{percent:.0f}" if percent >= 10 or percent == round(percent) else f"{percent:.1f}"
    return message("profiles_percent", percent=digits)


def pareto_message(
    values: Any,
    top_share: float = 0.2,
    *,
    value_share: float | None = None,
    label: str = "profile_revenue",
    clip_negative: bool = False,
) -> Message:
    """One sentence on the concentration of value, as a message ("The top 20 % of customers bring 63 % of revenue").

    Forward form: the top k = max(1, round(top_share · n)) customers by value and their share of the
    total; the sentence states k/n. Reverse form (``value_share`` given, e.g. 0.8): the fewest top
    customers whose cumulative share reaches ``value_share``. ``label`` is the locale key naming
    the values (revenue by default).
    """
    x = np.sort(_nonnegative(values, clip_negative))[::-1]
    n, total = len(x), x.sum()
    if value_share is None:
        if not 0 < top_share <= 1:
            raise ProfileError(
                f"top_share {top_share} must be in (0, 1], e.g. 0.2 for the top 20 %"
            )
        key, k = "profile_pareto_top", max(1, round(top_share * n))
    else:
        if not 0 < value_share <= 1:
            raise ProfileError(
                f"value_share {value_share} must be in (0, 1], e.g. 0.8 for 80 % of the total"
            )
        k = int(np.searchsorted(np.cumsum(x) / total, value_share - 1e-12, side="left")) + 1
        key = "profile_pareto_reverse"
    return message(key, customers=_percent(k / n), value=_percent(x[:k].sum() / total), label=message(label))


# ---------------------------------------------------------------------------------------------
# Migration between quarters


def _quarter(frame: pd.DataFrame, which: str) -> pd.DataFrame:
    _require(frame, ["customer_id", "tier", "value"], which)
    out = pd.DataFrame(
        {
            "customer_id": frame["customer_id"].astype("string").to_numpy(),
            "tier": frame["tier"].to_numpy(),
            "value": pd.to_numeric(frame["value"]).astype("float64").to_numpy(),
        }
    )
    if out["customer_id"].isna().any() or out["tier"].isna().any():
        raise ProfileError(
            f"the {which} table has rows without customer_id or tier; fill or drop them"
        )
    dupes = out.loc[out["customer_id"].duplicated(), "customer_id"]
    if len(dupes):
        raise ProfileError(
            f"customer_id repeats in the {which} table (e.g. {dupes.head(5).tolist()}); one row per customer"
        )
    return out.astype({"tier": "int64"}).set_index("customer_id")


def migration(
    previous: pd.DataFrame, current: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Movement of customers between the tiers of two quarters.

    Parameters
    ----------
    previous, current : pd.DataFrame
        ``customer_id``, ``tier`` (1 = best), ``value`` (e.g. revenue or CLV of that quarter).

    Returns
    -------
    counts : pd.DataFrame
        Rows: previous tier, then ``"new"`` (customers only in ``current``); columns: current tier,
        then ``"lost"`` (customers only in ``previous``).
    values : pd.DataFrame
        Same shape: the sum of ``value``, current value for customers present now, previous value
        for the lost ones.
    summary : dict
        ``upgrades`` (current tier number < previous), ``downgrades``, ``same``, ``new``, ``lost`` with
        counts and ``*_value`` sums (same convention as ``values``), ``retained`` and
        ``retention_rate`` (retained / previous customers).
    """
    prev, cur = _quarter(previous, "previous"), _quarter(current, "current")
    joined = prev.merge(
        cur, how="outer", left_index=True, right_index=True, suffixes=("_prev", "_cur")
    )
    tiers = sorted(set(prev["tier"].unique().tolist()) | set(cur["tier"].unique().tolist()))
    rows = pd.Index([*tiers, "new"], dtype="object", name="previous")
    cols = pd.Index([*tiers, "lost"], dtype="object", name="current")
    row_key = joined["tier_prev"].astype("object").where(joined["tier_prev"].notna(), "new")
    col_key = joined["tier_cur"].astype("object").where(joined["tier_cur"].notna(), "lost")
    row_key = row_key.map(lambda t: t if t == "new" else int(t))
    col_key = col_key.map(lambda t: t if t == "lost" else int(t))
    value = joined["value_cur"].where(joined["tier_cur"].notna(), joined["value_prev"])
    counts = pd.DataFrame(0, index=rows, columns=cols, dtype="int64")
    values = pd.DataFrame(0.0, index=rows, columns=cols)
    for (r, c), group in value.groupby([row_key, col_key]):
        counts.loc[r, c] = len(group)
        values.loc[r, c] = float(group.sum())
    both = joined["tier_prev"].notna() & joined["tier_cur"].notna()
    kinds = {
        "upgrades": both & (joined["tier_cur"] < joined["tier_prev"]),
        "downgrades": both & (joined["tier_cur"] > joined["tier_prev"]),
        "same": both & (joined["tier_cur"] == joined["tier_prev"]),
        "new": joined["tier_prev"].isna(),
        "lost": joined["tier_cur"].isna(),
    }
    summary: dict[str, Any] = {}
    for kind, mask in kinds.items():
        summary[kind] = int(mask.sum())
        summary[f"{kind}_value"] = float(value[mask].sum())
    summary["retained"] = int(both.sum())
    summary["retention_rate"] = float(both.sum() / len(prev)) if len(prev) else math.nan
    return counts, values, summary


# ---------------------------------------------------------------------------------------------
# Do tiers differ?


class KruskalResult(NamedTuple):
    """Kruskal–Wallis H test across tiers and its effect size ε² = H / (n − 1) (Tomczak & Tomczak 2014)."""

    statistic: float
    pvalue: float
    epsilon_squared: float
    n: int


def tiers_differ(customers: pd.DataFrame, column: str = "clv") -> KruskalResult:
    """Kruskal–Wallis test (Kruskal & Wallis 1952) that ``column`` has the same distribution in every tier.

    A small p-value says the tiers really differ in ``column``. Customers without a value are left out.
    """
    tier = _tiers(customers)
    _require(customers, [column], "customers")
    values = pd.to_numeric(customers[column]).astype("float64")
    keep = values.notna()
    groups = [g.to_numpy() for _, g in values[keep].groupby(tier[keep])]
    if len(groups) < 2:
        raise ProfileError(
            f"tiers_differ needs at least two non-empty tiers with '{column}', got {len(groups)}"
        )
    if values[keep].nunique() < 2:
        raise ProfileError(
            f"'{column}' takes a single value in every tier, so tiers cannot differ in it"
        )
    h, p = stats.kruskal(*groups)
    n = int(keep.sum())
    return KruskalResult(
        statistic=float(h), pvalue=float(p), epsilon_squared=float(h / (n - 1)), n=n
    )
