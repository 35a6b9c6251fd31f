"""Do two versions of the CLV fits find the same optimum on varied data? BG/NBD and Gamma-Gamma fits
on simulated customers of several parameter sets and sizes, saved and compared.

    PYTHONPATH=/path/to/old/src .venv/bin/python benchmarks/fit_agreement.py --json before.json
    .venv/bin/python benchmarks/fit_agreement.py --json after.json
    .venv/bin/python benchmarks/fit_agreement.py --compare before.json after.json

Four parameter sets (CDNOW-like, ``fit_clv.py``'s, a fast-dying one and a slow one with a spend shape
the data cannot separate from its scale), 300, 5,000 and 250,000 customers, two seeds (recency in
whole days for the first, as drawn for the second): 48 fits. ``--compare`` lists every fit whose
estimates differ by more than 1e-9 relative or whose convergence verdict differs, and the largest
difference among the fits both versions call converged.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

# (r, alpha, a, b) of BG/NBD per day and (p, q, gamma) of Gamma-Gamma
CASES = [
    ((0.24, 4.4, 0.79, 2.4), (6.0, 4.0, 15.0)),
    ((0.6, 35.0, 0.7, 3.5), (3.0, 4.0, 60.0)),
    ((2.0, 10.0, 0.3, 8.0), (1.5, 2.5, 5.0)),
    ((0.1, 80.0, 2.5, 1.2), (12.0, 1.2, 200.0)),
]
SIZES = (300, 5_000, 250_000)
SEEDS = (1, 2)


def measure() -> dict:
    from analysis.methods import clv

    fits = {}
    for case, ((r, alpha, a, b), (p, q, gamma)) in enumerate(CASES):
        for n in SIZES:
            for seed in SEEDS:
                ages = np.random.default_rng(seed).integers(1, 800, n).astype(float)
                frame = clv.simulate_bgnbd(n, r=r, alpha=alpha, a=a, b=b, T=ages, seed=seed + 10)
                recency = np.floor(frame["recency"]) if seed == 1 else frame["recency"]
                spend = clv.simulate_gamma_gamma(frame["frequency"], p=p, q=q, gamma=gamma, seed=seed + 20)
                key = f"case {case}, {n:,} customers, seed {seed}"
                fits[f"{key}, BG/NBD"] = _row(clv.BetaGeoModel().fit(frame["frequency"], recency, frame["T"]))
                fits[f"{key}, Gamma-Gamma"] = _row(clv.GammaGammaModel().fit(frame["frequency"], spend))
    return fits


def _row(model) -> dict:
    return {"params": model.params_, "log_likelihood": model.log_likelihood_,
            "converged": model.converged_, "message": model.message_}


def compare(before: dict, after: dict) -> list[str]:
    lines, worst = [], 0.0
    for name, old in before.items():
        new = after[name]
        diff = max(abs(new["params"][k] / old["params"][k] - 1) for k in old["params"])
        if old["converged"] and new["converged"]:
            worst = max(worst, diff)
        if diff > 1e-9 or old["converged"] != new["converged"]:
            lines.append(f"{name}: max rel. diff of params {diff:.1e}, LL after - before "
                         f"{new['log_likelihood'] - old['log_likelihood']:+.1e}, converged "
                         f"{old['converged']} / {new['converged']} ({new['message']})")
    both = sum(before[n]["converged"] and after[n]["converged"] for n in before)
    lines.append(f"{both} of {len(before)} fits converged in both versions; the largest relative "
                 f"difference of their estimates is {worst:.1e}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="write the fits' estimates here")
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("BEFORE", "AFTER"))
    args = parser.parse_args(argv)
    if args.compare:
        before, after = (json.loads(p.read_text()) for p in args.compare)
        print("\n".join(compare(before, after)))
        return 0
    fits = measure()
    if args.json:
        args.json.write_text(json.dumps(fits, indent=1))
    print(f"{len(fits)} fits, {sum(f['converged'] for f in fits.values())} converged")
    return 0


if __name__ == "__main__":
    sys.exit(main())
