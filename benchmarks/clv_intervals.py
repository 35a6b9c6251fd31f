"""Wall time and peak memory of the CLV intervals (parameter draws) on simulated customers.

    .venv/bin/python benchmarks/clv_intervals.py [--customers 1000000] [--draws 200] [--tiers] [--pareto]

The customers are those of ``fit_clv.py`` (BG/NBD ``r=0.6, alpha=35, a=0.7, b=3.5`` per day,
Gamma-Gamma ``p=3, q=4, gamma=60``, ``T`` uniform on 1 … 1095 whole days, recency in whole days as
the customer summary computes it). BG/NBD and Gamma-Gamma are fitted first (not timed); then

- ``clv_intervals``: per-customer 90 % intervals of P(alive), expected purchases and CLV over 12
  periods of 30 days at 10 % a year, ``--draws`` draws, chunks of ``--chunk`` customers;
- with ``--tiers``: ``tier_intervals`` with the ``clv`` method's default shares (4 tiers: 10/20/30/40 %),
  the tiers placed again under every draw;
- with ``--pareto``: the same ``clv_intervals`` with a Pareto/NBD fit as the purchase model.

Each row is timed once in this process, wall and CPU seconds (on a shared machine the CPU
seconds say more about the code than the wall seconds); the peak memory is the process's ``ru_maxrss`` (high-water
mark of the whole run, data and fits included), printed after each row.
"""

from __future__ import annotations

import argparse
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from fit_clv import simulate  # noqa: E402


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def customers_table(customers: int, seed: int) -> pd.DataFrame:
    frame = simulate(customers, seed)
    frame["recency"] = frame["recency_days"]
    frame["customer_id"] = [f"C{i:07d}" for i in range(customers)]
    return frame[["customer_id", "frequency", "recency", "T", "monetary_value"]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--draws", type=int, default=200)
    parser.add_argument("--chunk", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--tiers", action="store_true", help="also time tier_intervals (clv shares)")
    parser.add_argument("--pareto", action="store_true", help="also time clv_intervals with Pareto/NBD")
    args = parser.parse_args(argv)

    from analysis.methods import clv

    table = customers_table(args.customers, args.seed)
    x, t_x, T, m = (table[c] for c in ("frequency", "recency", "T", "monetary_value"))
    bg = clv.BetaGeoModel().fit(x, t_x, T)
    gg = clv.GammaGammaModel().fit(x, m)
    data = clv.intervals._Histories.of(x, t_x, T, m, 1.0, clv.intervals._Schedule.of(12, 30.0, 0.1, 365.0))
    print(f"{args.customers:,} simulated customers, {args.draws} draws, chunks of {args.chunk:,}; "
          f"{data.n_histories:,} distinct histories, {data.pairs.shape[0]:,} (x, T) pairs, "
          f"{data.ages.x.size:,} (x, age) pairs of their (x, T) and (x, t_x)")
    print(f"machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}")
    print(f"after simulation and fits: peak {peak_mib():,.0f} MiB")

    start, cpu = time.perf_counter(), time.process_time()
    bounds = clv.clv_intervals(table, clv.draw_parameters(bg, gg, draws=args.draws), chunk_size=args.chunk).customers
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    width = (bounds["clv_high"] - bounds["clv_low"]).median()
    print(f"clv_intervals (BG/NBD):  {seconds:8.1f} s wall  {cpu:8.1f} s CPU  peak {peak_mib():,.0f} MiB  "
          f"median CLV interval width {width:.3g}")

    if args.tiers:
        point = clv.customer_lifetime_value(bg, gg, x, t_x, T, m)
        tiered = table.assign(clv=point)
        start, cpu = time.perf_counter(), time.process_time()
        assign = clv.tier_assigner(tiered, "clv", n_tiers=4)
        tiered["tier"] = assign(point)
        result = clv.tier_intervals(tiered, clv.draw_parameters(bg, gg, draws=args.draws), assign=assign)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        print(f"tier_intervals (clv):    {seconds:8.1f} s wall  {cpu:8.1f} s CPU  peak {peak_mib():,.0f} MiB  "
              f"borderline {result.customers['borderline'].mean():.2%}")
        print(result.tiers[["customers", "borderline", "clv_share", "clv_share_low", "clv_share_high"]]
              .to_string(float_format=lambda v: f"{v:.4f}"))

    if args.pareto:
        pnbd = clv.ParetoNBDModel().fit(x, t_x, T)
        start, cpu = time.perf_counter(), time.process_time()
        clv.clv_intervals(table, clv.draw_parameters(pnbd, gg, draws=args.draws), chunk_size=args.chunk)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        print(f"clv_intervals (Pareto/NBD): {seconds:8.1f} s wall  {cpu:8.1f} s CPU  peak {peak_mib():,.0f} MiB")
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
