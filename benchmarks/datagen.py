"""Synthetic transactions for the scale benchmarks, written directly in the cleaned stage's format.

Purchase histories come from the project's one simulator, :mod:`analysis.simulation.purchases`
(the process of the embedded sample data set, with the parameters of :class:`Story`). Each customer
follows the BG/NBD story (Fader, Hardie & Lee 2005): a first purchase on a uniform day of the
window, then, while alive, purchases as a Poisson process with rate ``lambda ~ Gamma(r, rate alpha)``
per day, dropping out after repeat purchase ``K ~ Geometric(p)``, ``p ~ Beta(a, b)``. Given
``N ~ Poisson(lambda T)`` arrivals in the ``T`` days from the first purchase to the observation end
(end day included) the arrival times are uniform order statistics; draws on a day the customer
already bought are skipped (one purchase per customer and day) and the customer keeps the first
``K`` repeat purchases. Each purchase occasion is one order; the remaining rows up to the requested
row count are extra line items of random orders (same order, same day) and, for a share of them,
returns (negative amount, ``is_return``, up to 30 days after the order, same order id).
Line amounts follow the Gamma-Gamma story: ``Gamma(p_s, rate nu)`` with ``nu ~ Gamma(q, rate gamma)``
per customer, rounded to cents. ``cost`` is 55–80 % of the amount, missing on 10 % of rows.

Everything is vectorised with one ``numpy.random.default_rng(seed)``; the same size and seed give
the same file, byte for byte. Output columns: customer_id (string), order_id (string),
order_date (date32), order_day (int32, days since 1970-01-01), amount (float64),
is_return (bool), cost (float64, nullable).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from analysis.simulation.purchases import (
    dropout_probabilities,
    order_amounts,
    purchase_days,
    purchase_rates,
    repeat_purchases_before_dropout,
    spend_rates,
)

GENERATOR_VERSION = 2  # part of the cache key: bump when the generated data change
WINDOW_START = date(2022, 1, 1)
OBSERVATION_END = date(2024, 12, 31)
_EPOCH = date(1970, 1, 1)


@dataclass(frozen=True)
class Story:
    """Parameters of the purchasing (per day) and spending processes."""

    r: float = 0.6
    alpha: float = 35.0
    a: float = 0.7
    b: float = 3.5
    spend_p: float = 3.0
    spend_q: float = 4.0
    spend_gamma: float = 60.0
    return_share: float = 0.05  # share of the filler rows that are returns
    cost_missing: float = 0.10


def cache_path(folder: Path, customers: int, rows: int, seed: int) -> Path:
    return folder / f"transactions_v{GENERATOR_VERSION}_c{customers}_r{rows}_s{seed}.parquet"


def generation_seconds(path: Path) -> float | None:
    """Seconds the cached file took to generate, from its side-car JSON (None if unknown)."""
    try:
        return float(json.loads(path.with_suffix(".json").read_text())["seconds"])
    except (OSError, ValueError, KeyError):
        return None


def _day(d: date) -> int:
    return (d - _EPOCH).days


def _purchase_occasions(
    rng: np.random.Generator, customers: int, story: Story
) -> tuple[np.ndarray, np.ndarray]:
    """(customer index, day) of every purchase occasion: first purchases, then repeat purchases."""
    start, end = _day(WINDOW_START), _day(OBSERVATION_END)
    n_days = end - start + 1
    first = rng.integers(0, n_days, size=customers)  # day of the window
    rate = purchase_rates(rng, customers, story.r, story.alpha)
    dropout = dropout_probabilities(rng, customers, story.a, story.b)
    lives = repeat_purchases_before_dropout(rng, dropout)
    cust, day = purchase_days(rng, first, n_days, rate, lives)
    # each customer's first purchase leads its run (sorted by customer, then day): firsts first
    is_first = np.r_[True, cust[1:] != cust[:-1]]
    order = np.argsort(~is_first, kind="stable")
    return cust[order], start + day[order]


def _string_ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    digits = pc.utf8_lpad(pc.cast(pa.array(numbers), pa.string()), width=width, padding="0")
    return pc.binary_join_element_wise(pa.scalar(prefix), digits, "")


def generate(customers: int, rows: int, seed: int, story: Story = Story()) -> pa.Table:
    """Exactly ``rows`` transaction rows of ``customers`` customers (see the module docstring)."""
    if rows < customers:
        raise ValueError(f"rows ({rows}) must be at least customers ({customers}): each buys once")
    rng = np.random.default_rng(seed)
    cust, day = _purchase_occasions(rng, customers, story)
    occasions = cust.size
    if occasions > rows:  # keep every first purchase, drop random repeat occasions
        repeat_keep = rng.choice(occasions - customers, size=rows - customers, replace=False)
        keep = np.concatenate([np.arange(customers), customers + np.sort(repeat_keep)])
        cust, day, occasions = cust[keep], day[keep], rows
    order_no = np.arange(occasions)

    filler = rows - occasions
    host = rng.integers(0, occasions, size=filler)  # the order each extra row belongs to
    is_return = np.concatenate([np.zeros(occasions, bool), rng.random(filler) < story.return_share])
    row_cust = np.concatenate([cust, cust[host]])
    row_order = np.concatenate([order_no, order_no[host]])
    row_day = np.concatenate([day, day[host]])
    row_day = np.where(
        is_return, np.minimum(row_day + rng.integers(0, 31, size=rows), _day(OBSERVATION_END)), row_day
    )

    nu = spend_rates(rng, customers, story.spend_q, story.spend_gamma)
    amount = order_amounts(rng, story.spend_p, nu[row_cust])
    amount = np.where(is_return, -amount, amount)
    cost = np.round(amount * rng.uniform(0.55, 0.80, size=rows), 2)
    cost_missing = rng.random(rows) < story.cost_missing

    # transaction logs come in time order
    order = np.lexsort((row_order, row_day))
    row_day = row_day[order].astype(np.int32)
    return pa.table(
        {
            "customer_id": _string_ids("C", row_cust[order], 8),
            "order_id": _string_ids("O", row_order[order], 10),
            "order_date": pa.array(row_day, pa.int32()).cast(pa.date32()),
            "order_day": pa.array(row_day, pa.int32()),
            "amount": pa.array(amount[order], pa.float64()),
            "is_return": pa.array(is_return[order], pa.bool_()),
            "cost": pa.array(cost[order], pa.float64(), mask=cost_missing[order]),
        }
    )


def ensure_transactions(folder: Path, customers: int, rows: int, seed: int) -> tuple[Path, float | None]:
    """The cached parquet for this size and seed, generated when missing; (path, seconds or None if cached)."""
    path = cache_path(folder, customers, rows, seed)
    if path.exists():
        return path, None
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    table = generate(customers, rows, seed)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    pq.write_table(table, tmp, row_group_size=1_000_000)
    seconds = time.perf_counter() - started
    os.replace(tmp, path)  # atomic: a killed run never leaves half a file under the final name
    meta = {"customers": customers, "rows": rows, "seed": seed, "version": GENERATOR_VERSION, "seconds": seconds}
    path.with_suffix(".json").write_text(json.dumps(meta))
    return path, seconds


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, required=True)
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--folder", type=Path, default=Path(__file__).resolve().parent / "_data")
    args = parser.parse_args()
    out, seconds = ensure_transactions(args.folder, args.customers, args.rows, args.seed)
    print(out, "cached" if seconds is None else f"generated in {seconds:.1f} s")
