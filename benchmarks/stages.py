"""One measured benchmark stage, run in a fresh process so its peak memory is its own.

    python stages.py STAGE --data transactions.parquet --summary summary.parquet --result out.json

The process times only the stage's work (imports and interpreter start-up excluded; the parent
records the whole process too) and writes ``{"wall": seconds, "notes": "...", "facts": {...}}``
to ``--result``. Imports are local to each stage: the peer stages run under the peers' own venv,
which has neither this project nor DuckDB or Spark.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from collections.abc import Callable
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

OBSERVATION_END = date(2024, 12, 31)
END_DAY = (OBSERVATION_END - date(1970, 1, 1)).days
HORIZON_MONTHS = 12
DAYS_PER_MONTH = 30.0
ANNUAL_DISCOUNT = 0.10
SUMMARY_COLUMNS = ["customer_id", "frequency", "recency", "T", "monetary_value"]

STAGES: dict[str, Callable[[argparse.Namespace], dict]] = {}


def stage(name: str):
    def register(function):
        STAGES[name] = function
        return function

    return register


class Clock:
    """Wall-clock laps: ``lap(name)`` records the seconds since the previous lap."""

    def __init__(self) -> None:
        self.start = self.last = time.perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, name: str) -> float:
        now = time.perf_counter()
        self.laps[name] = now - self.last
        self.last = now
        return self.laps[name]

    def total(self) -> float:
        return time.perf_counter() - self.start


def _save(frame: pd.DataFrame, path: str | None) -> None:
    if path:
        out = frame[SUMMARY_COLUMNS].reset_index(drop=True)
        out.attrs = {}  # dates in attrs are not JSON-serialisable parquet metadata
        out.to_parquet(path, index=False)


def _read_summary(path: str) -> pd.DataFrame:
    return pd.read_parquet(path, columns=SUMMARY_COLUMNS)


def _purchases_for_peers(path: str) -> pd.DataFrame:
    """The transactions as the peers take them: purchase rows only, a datetime column."""
    tx = pd.read_parquet(path, columns=["customer_id", "order_date", "amount", "is_return"])
    tx = tx[(tx["amount"] > 0) & ~tx["is_return"]]
    return tx.assign(order_date=pd.to_datetime(tx["order_date"]))[["customer_id", "order_date", "amount"]]


# --------------------------------------------------------------------------------------------------
# stage 1: transactions → customer summary


def _summary_ours(args: argparse.Namespace, *, rfm_only: bool) -> dict:
    from analysis.methods.customer_summary import customer_summary

    clock = Clock()
    summary = customer_summary(args.data, observation_end=OBSERVATION_END, engine="duckdb", rfm_only=rfm_only)
    wall = clock.lap("summary")
    _save(summary, args.save)
    return {"wall": wall, "notes": f"{len(summary):,} customers, {summary.shape[1]} columns",
            "facts": {"customers": len(summary)}}


@stage("summary-duckdb")
def summary_duckdb(args: argparse.Namespace) -> dict:
    return _summary_ours(args, rfm_only=True)


@stage("summary-duckdb-all")
def summary_duckdb_all(args: argparse.Namespace) -> dict:
    return _summary_ours(args, rfm_only=False)


@stage("summary-duckdb-sql")
def summary_duckdb_sql(args: argparse.Namespace) -> dict:
    from duckdb_summary import rfm_summary_duckdb

    clock = Clock()
    summary = rfm_summary_duckdb(args.data, END_DAY)
    wall = clock.lap("summary")
    _save(summary, args.save)
    return {"wall": wall, "notes": f"{len(summary):,} customers; the four RFM columns only"}


@stage("summary-spark")
def summary_spark(args: argparse.Namespace) -> dict:
    from analysis.methods.customer_summary import customer_summary, get_spark_session

    clock = Clock()
    spark = get_spark_session("benchmark")
    startup = clock.lap("startup")
    summary = customer_summary(args.data, observation_end=OBSERVATION_END, engine="spark", rfm_only=True)
    wall = clock.lap("summary")
    spark.stop()
    _save(summary, args.save)
    return {
        "wall": wall,
        "notes": f"local[2]; + {startup:.1f} s JVM/session start-up (not in wall)",
        "facts": {"startup": startup, "customers": len(summary)},
    }


@stage("summary-pandas")
def summary_pandas(args: argparse.Namespace) -> dict:
    from pandas_summary import rfm_summary_pandas

    clock = Clock()
    tx = pd.read_parquet(args.data, columns=["customer_id", "order_day", "amount", "is_return"])
    read = clock.lap("read")
    summary = rfm_summary_pandas(tx, END_DAY)
    clock.lap("summary")
    wall = clock.total()
    _save(summary, args.save)
    return {"wall": wall, "notes": f"incl. {read:.1f} s parquet read", "facts": {"read": read}}


def _peer_summary(args: argparse.Namespace, summarise) -> dict:
    """Time a peer's summary function on the purchases read from the benchmark parquet."""
    clock = Clock()
    tx = _purchases_for_peers(args.data)
    read = clock.lap("read")
    summary = summarise(tx)
    clock.lap("summary")
    wall = clock.total()
    _save(summary.reset_index() if summary.index.name == "customer_id" else summary, args.save)
    return {"wall": wall, "notes": f"incl. {read:.1f} s parquet read + purchase filter", "facts": {"read": read}}


@stage("summary-lifetimes")
def summary_lifetimes(args: argparse.Namespace) -> dict:
    from lifetimes.utils import summary_data_from_transaction_data

    return _peer_summary(args, lambda tx: summary_data_from_transaction_data(
        tx, "customer_id", "order_date", monetary_value_col="amount",
        observation_period_end=pd.Timestamp(OBSERVATION_END), freq="D",
    ))


@stage("summary-pymc")
def summary_pymc(args: argparse.Namespace) -> dict:
    from pymc_marketing.clv import rfm_summary

    return _peer_summary(args, lambda tx: rfm_summary(
        tx, "customer_id", "order_date", monetary_value_col="amount",
        observation_period_end=pd.Timestamp(OBSERVATION_END), time_unit="D",
    ))


# --------------------------------------------------------------------------------------------------
# stage 2: fit BG/NBD + Gamma-Gamma on the summary


def _fit_ours(summary: pd.DataFrame):
    from analysis.methods import clv

    x, t_x, age, m = (summary[c] for c in ("frequency", "recency", "T", "monetary_value"))
    bg = clv.BetaGeoModel(time_unit="days").fit(x, t_x, age)
    gg = clv.GammaGammaModel().fit(x, m)
    return bg, gg


def _params(values: dict) -> str:
    return " ".join(f"{k}={v:.3g}" for k, v in values.items())


@stage("fit-ours")
def fit_ours(args: argparse.Namespace) -> dict:
    from analysis.methods import clv  # noqa: F401  imported before the clock, as the peers' stages do

    summary = _read_summary(args.summary)
    clock = Clock()
    bg, gg = _fit_ours(summary)
    wall = clock.lap("fit")
    converged = "converged" if bg.converged_ and gg.converged_ else "NOT converged"
    return {
        "wall": wall,
        "notes": f"ML; {bg.n_patterns_:,} BG patterns; {converged}; BG {_params(bg.params_)}",
        "facts": {"bg": bg.params_, "gg": gg.params_, "bg_ll": bg.log_likelihood_},
    }


@stage("fit-lifetimes")
def fit_lifetimes(args: argparse.Namespace) -> dict:
    from lifetimes import BetaGeoFitter, GammaGammaFitter

    summary = _read_summary(args.summary)
    repeat = summary[summary["frequency"] > 0]
    clock = Clock()
    bg = BetaGeoFitter().fit(summary["frequency"], summary["recency"], summary["T"])
    gg = GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"])
    wall = clock.lap("fit")
    params = {k: float(bg.params_[k]) for k in ("r", "alpha", "a", "b")}
    return {
        "wall": wall,
        "notes": f"ML; BG {_params(params)}",
        "facts": {"bg": params, "gg": {k: float(v) for k, v in gg.params_.items()}},
    }


@stage("fit-pymc")
def fit_pymc(args: argparse.Namespace) -> dict:
    from pymc_marketing.clv import BetaGeoModel, GammaGammaModel

    summary = _read_summary(args.summary)
    repeat = summary.loc[summary["frequency"] > 0, ["customer_id", "frequency", "monetary_value"]]
    clock = Clock()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bg = BetaGeoModel()
        bg.fit(summary[["customer_id", "frequency", "recency", "T"]], method="map", progressbar=False)
        gg = GammaGammaModel()
        gg.fit(repeat, method="map", progressbar=False)
    wall = clock.lap("fit")
    posterior = bg.idata.posterior
    params = {k: float(posterior[k].values.ravel()[0]) for k in ("r", "alpha", "a", "b") if k in posterior}
    return {"wall": wall, "notes": f"MAP (find_MAP); BG {_params(params)}", "facts": {"bg": params}}


# --------------------------------------------------------------------------------------------------
# stage 3: score every customer; and the whole chain in one process


def _score(bg, gg, summary: pd.DataFrame) -> dict[str, np.ndarray]:
    from analysis.methods import clv

    x, t_x, age, m = (summary[c] for c in ("frequency", "recency", "T", "monetary_value"))
    return {
        "p_alive": bg.conditional_probability_alive(x, t_x, age),
        "expected_purchases": bg.conditional_expected_purchases(HORIZON_MONTHS * DAYS_PER_MONTH, x, t_x, age),
        "clv": clv.customer_lifetime_value(
            bg, gg, x, t_x, age, m, horizon_periods=HORIZON_MONTHS, period_length=DAYS_PER_MONTH,
            annual_discount_rate=ANNUAL_DISCOUNT, time_units_per_year=365.0,
        ),
    }


@stage("score-ours")
def score_ours(args: argparse.Namespace) -> dict:
    summary = _read_summary(args.summary)
    bg, gg = _fit_ours(summary)  # not timed: stage 2
    clock = Clock()
    scores = _score(bg, gg, summary)
    wall = clock.lap("score")
    return {
        "wall": wall,
        "notes": f"P(alive), E[purchases 12 m], CLV 12 m for {len(summary):,}; fit not timed",
        "facts": {"mean_clv": float(np.mean(scores["clv"]))},
    }


@stage("total-ours")
def total_ours(args: argparse.Namespace) -> dict:
    from analysis.methods.customer_summary import customer_summary

    clock = Clock()
    summary = customer_summary(args.data, observation_end=OBSERVATION_END, engine="duckdb")
    clock.lap("summary")
    bg, gg = _fit_ours(summary)
    clock.lap("fit")
    _score(bg, gg, summary)
    clock.lap("score")
    laps = ", ".join(f"{k} {v:.1f}" for k, v in clock.laps.items())
    return {"wall": clock.total(), "notes": f"{laps} s", "facts": dict(clock.laps)}


@stage("assign-ours")
def assign_ours(args: argparse.Namespace) -> dict:
    from assignment_data import synthetic_assignment

    from analysis.methods.assignment import solve_assignment

    customers, managers, rules = synthetic_assignment(args.customers, args.managers)  # not timed
    clock = Clock()
    result = solve_assignment(customers, managers, rules)
    wall = clock.lap("assign")
    s = result.summary
    notes = (f"{s['groups']:,} groups, {s['bands']:,} bands, {s['variables']:,} arcs, {s['refinements']} "
             f"refinements, {s['solver']}; {s['kept']:,} kept, {s['moves']:,} moved, {s['unassigned']:,} "
             f"unserved; gap to the bound {s['relative_gap']:.1e}")
    facts = {k: s[k] for k in ("objective", "upper_bound", "relative_gap", "value_unconstrained", "moves",
                               "unassigned", "groups", "variables")}
    return {"wall": wall, "notes": notes, "facts": facts}


def main() -> None:
    parser = argparse.ArgumentParser(description="Run one benchmark stage and write its timing as JSON.")
    parser.add_argument("stage", choices=sorted(STAGES))
    parser.add_argument("--data", help="transactions parquet")
    parser.add_argument("--summary", help="customer summary parquet (input of fit and score stages)")
    parser.add_argument("--save", help="write the stage's summary here (summary stages)")
    parser.add_argument("--result", required=True, help="JSON file for the timing")
    parser.add_argument("--customers", type=int, default=1_000_000, help="customers (assignment stage)")
    parser.add_argument("--managers", type=int, default=500, help="account managers (assignment stage)")
    args = parser.parse_args()
    result = STAGES[args.stage](args)
    Path(args.result).write_text(json.dumps(result, default=float))


if __name__ == "__main__":
    main()
