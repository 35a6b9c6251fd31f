"""Stage 4 (satisfaction, loyalty, lifecycle, churn) alone, on a study's published outputs: wall seconds,
peak memory and, with ``--profile``, where the time goes.

    .venv/bin/python benchmarks/stage4_profile.py PARAMS --out OUT [--profile N] [--result out.json]

``PARAMS`` and ``OUT`` are those of a run that published stages 01-03, e.g. the 1M-row export of
``study_data.py`` run with ``python -m analysis run PARAMS --out OUT --stages 01_clean 02_rfm_clv
03_tiers``. The inputs are read as ``stages.satisfaction_loyalty.run`` reads them (not timed), then
``compute`` runs once, writing nothing: its wall seconds, the process's peak resident memory
(``ru_maxrss``; the inputs included, as in the notebook's kernel) and the growth of the peak over
the inputs are printed. ``--max-training-customers N`` overrides ``churn.max_training_customers``.
``--profile N`` runs it under cProfile instead and prints the ``N`` functions
with the most cumulative time (the timing then includes the profiler's overhead).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from measure import measured_block


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("params", type=Path)
    parser.add_argument("--out", type=Path, required=True, help="the --out folder of the run that published 01-03")
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="profile; print the top N functions")
    parser.add_argument("--result", type=Path, help="write the figures as JSON here")
    parser.add_argument("--max-training-customers", type=int, metavar="N",
                        help="override churn.max_training_customers (e.g. below the training window, to time the "
                             "sampled fit on data of this size)")
    args = parser.parse_args(argv)

    from analysis.frame.study import open_study
    from analysis.stages import satisfaction_loyalty as stage

    study = open_study(args.params, out_root=args.out)
    params = study.params
    if args.max_training_customers is not None:
        churn = params.churn.model_copy(update={"max_training_customers": args.max_training_customers})
        params = params.model_copy(update={"churn": churn})
    handed = [stage.read_inputs(study)]
    n_customers, n_transactions = len(handed[0].customers), len(handed[0].transactions.day)  # coded: one day per row
    with measured_block(args.profile) as block:
        result = stage.compute(handed.pop(), params)  # handed over, as run() does: compute lets the transactions go
    wall, peak, before = block["wall"], block["peak_bytes"], block["peak_before"]
    validation = result.churn_validation or {}
    figures = {
        "wall": wall, "peak_bytes": peak, "peak_growth_bytes": peak - before,
        "customers": n_customers, "transactions": n_transactions,
        "churn_n_train": validation.get("n_train"), "churn_n_validation": validation.get("n_validation"),
        "churn_auc": validation.get("auc"), "load_average": os.getloadavg()[0],
        "training_sample": validation.get("training_sample"),
        "churn_top_decile_lift": validation.get("top_decile_lift"),
    }
    print(f"stage 4 compute: {wall:.1f} s, peak {peak / 2**20:,.0f} MiB (+{(peak - before) / 2**20:,.0f} MiB over "
          f"the inputs); {n_customers:,} customers, {n_transactions:,} transactions; churn "
          f"trained on {figures['churn_n_train']}, validated on {figures['churn_n_validation']}, AUC "
          f"{figures['churn_auc']}; load average {figures['load_average']:.2f}")
    if args.result:
        args.result.write_text(json.dumps(figures, default=float, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
