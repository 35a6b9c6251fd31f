"""Wall time of the CLV maximum-likelihood fits on simulated customers (BG/NBD, Gamma-Gamma, Pareto/NBD).

    .venv/bin/python benchmarks/fit_clv.py [--customers 1000000] [--repeat 3] [--pareto] [--json out.json]
    .venv/bin/python benchmarks/fit_clv.py --compare before.json after.json [--markdown results-fit.md]

The customers are drawn with the library's own simulators (:func:`simulate_bgnbd`,
:func:`simulate_gamma_gamma`), so no transaction file is needed: ``T`` is a whole number of days,
uniform on 1 … 1095 (a first purchase on a uniform day of three years), BG/NBD parameters
``r=0.6, alpha=35, a=0.7, b=3.5`` per day and Gamma-Gamma spend ``p=3, q=4, gamma=60`` (those of
``datagen.py``). Two versions of the purchase summary are fitted:

- ``days``: recency rounded down to whole days, as the customer summary computes it from dated
  orders (many customers share a pattern);
- ``continuous``: recency as drawn (nearly every customer is its own pattern; the worst case).

Each fit is timed in this process (simulation excluded, aggregation of patterns included); the
fastest of ``--repeat`` runs is kept. ``--json`` writes the timings with the estimates and
log-likelihoods, and ``--compare`` prints two such files side by side (e.g. the code before and
after a change, the "before" run with ``PYTHONPATH`` pointing at an older copy of ``src``) with the
relative differences of their estimates and log-likelihoods.

``--save-summary PARQUET`` writes the ``days`` customers as a customer summary (``customer_id,
frequency, recency, T, monetary_value``) instead: ``run.py`` times the fit on it with our models,
lifetimes and PyMC-Marketing, each in its own process (the fit-only rows of ``make bench``).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

BG_TRUTH = {"r": 0.6, "alpha": 35.0, "a": 0.7, "b": 3.5}
GG_TRUTH = {"p": 3.0, "q": 4.0, "gamma": 60.0}


def simulate(customers: int, seed: int):
    from analysis.methods.clv import simulate_bgnbd, simulate_gamma_gamma

    ages = np.random.default_rng(seed).integers(1, 1096, customers).astype(float)
    frame = simulate_bgnbd(customers, T=ages, seed=seed + 1, **BG_TRUTH)
    frame["recency_days"] = np.floor(frame["recency"])
    frame["monetary_value"] = simulate_gamma_gamma(frame["frequency"], seed=seed + 2, **GG_TRUTH)
    return frame


def summary_frame(customers: int, seed: int):
    """The simulated customers as the benchmark's customer summary (``stages.py`` reads it): recency in
    whole days, as from dated orders; ``monetary_value`` 0 for customers without a repeat purchase."""
    import pandas as pd

    frame = simulate(customers, seed)
    return pd.DataFrame({
        "customer_id": pd.array([f"S{i:07d}" for i in range(customers)], dtype="string"),
        "frequency": frame["frequency"].to_numpy(dtype="float64"),
        "recency": frame["recency_days"].to_numpy(dtype="float64"),
        "T": frame["T"].to_numpy(dtype="float64"),
        "monetary_value": frame["monetary_value"].to_numpy(dtype="float64"),
    })


def save_summary(path: Path, customers: int, seed: int) -> None:
    """Write :func:`summary_frame` to ``path`` (parquet), atomically."""
    tmp = path.with_suffix(".tmp")
    summary_frame(customers, seed).to_parquet(tmp, index=False)
    tmp.replace(path)


def timed(repeat: int, fit):
    best, model = np.inf, None
    for _ in range(max(repeat, 1)):
        start = time.perf_counter()
        model = fit()
        best = min(best, time.perf_counter() - start)
    return best, model


def measure(customers: int, seed: int, repeat: int, pareto: bool) -> dict:
    from analysis.methods import clv

    frame = simulate(customers, seed)
    x, T, m = frame["frequency"], frame["T"], frame["monetary_value"]
    rows = {}
    for name, recency in (("days", frame["recency_days"]), ("continuous", frame["recency"])):
        seconds, model = timed(repeat, lambda r=recency: clv.BetaGeoModel().fit(x, r, T))
        rows[f"BG/NBD ({name})"] = _row(seconds, model)
    seconds, model = timed(repeat, lambda: clv.GammaGammaModel().fit(x, m))
    rows["Gamma-Gamma"] = _row(seconds, model)
    if pareto:
        seconds, model = timed(1, lambda: clv.ParetoNBDModel().fit(x, frame["recency_days"], T))
        rows["Pareto/NBD (days), 1 run"] = _row(seconds, model)
    return {
        "customers": customers,
        "seed": seed,
        "repeat": repeat,
        "machine": f"{platform.processor() or platform.machine()}, Python {platform.python_version()}",
        "rows": rows,
    }


def _row(seconds: float, model) -> dict:
    return {
        "seconds": seconds,
        "params": model.params_,
        "log_likelihood": model.log_likelihood_,
        "n_patterns": model.n_patterns_,
        "converged": model.converged_,
    }


def print_run(result: dict) -> None:
    print(f"{result['customers']:,} simulated customers, best of {result['repeat']}")
    for name, row in result["rows"].items():
        params = " ".join(f"{k}={v:.6g}" for k, v in row["params"].items())
        print(f"  {name:22s} {row['seconds']:7.2f} s  {row['n_patterns']:>9,} patterns  "
              f"LL {row['log_likelihood']:.6f}  {params}  converged={row['converged']}")


def compare(before: dict, after: dict) -> list[str]:
    lines = [
        f"{before['customers']:,} simulated customers (seed {before['seed']}), wall seconds of the fit, "
        f"best of {after['repeat']}",
        "",
        "| fit | patterns | before s | after s | speed-up | max rel. diff of params | rel. diff of LL |",
        "|-----|---------:|---------:|--------:|---------:|------------------------:|----------------:|",
    ]
    for name, new in after["rows"].items():
        old = before["rows"].get(name)
        if old is None:
            lines.append(f"| {name} | {new['n_patterns']:,} | - | {new['seconds']:.2f} | - | - | - |")
            continue
        diff = max(abs(new["params"][k] / old["params"][k] - 1) for k in new["params"])
        ll = abs(new["log_likelihood"] / old["log_likelihood"] - 1)
        lines.append(
            f"| {name} | {new['n_patterns']:,} | {old['seconds']:.2f} | {new['seconds']:.2f} | "
            f"{old['seconds'] / new['seconds']:.1f}x | {diff:.1e} | {ll:.1e} |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--repeat", type=int, default=3, help="keep the fastest of N fits")
    parser.add_argument("--pareto", action="store_true",
                        help="also time one Pareto/NBD fit on the days summary (numerical gradient: minutes)")
    parser.add_argument("--json", type=Path, help="write the run's timings and estimates here")
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("BEFORE", "AFTER"),
                        help="print two --json files side by side instead of measuring")
    parser.add_argument("--markdown", type=Path, help="with --compare: also write the table here")
    parser.add_argument("--save-summary", type=Path, metavar="PARQUET",
                        help="only write the simulated customers as a customer summary (days) and stop; "
                             "run.py's fit-only rows fit it with every tool")
    args = parser.parse_args(argv)
    if args.save_summary:
        save_summary(args.save_summary, args.customers, args.seed)
        return 0
    if args.compare:
        before, after = (json.loads(p.read_text()) for p in args.compare)
        lines = compare(before, after)
        print("\n".join(lines))
        if args.markdown:
            args.markdown.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return 0
    result = measure(args.customers, args.seed, args.repeat, args.pareto)
    print_run(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
