"""Command line: ``python -m analysis run params/sample.yaml`` and friends (``--help`` lists them)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis", description="Customer tiering study (客户分层管理)")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a whole study from a params file")
    run.add_argument("params", type=Path)
    run.add_argument("--out", type=Path, default=None, help="write data/processed and reports under this folder")
    run.add_argument("--stages", nargs="+", default=None, help="only these stages, e.g. 01_clean 02_rfm_clv")
    run.add_argument("--no-progress", action="store_true", help="no per-cell progress bars")

    check = sub.add_parser("check", help="validate a params file and its input files, do no work")
    check.add_argument("params", type=Path)

    sample = sub.add_parser("sample-data", help="generate the embedded sample data set")
    sample.add_argument("out_dir", type=Path, nargs="?", default=Path("data/raw/sample"))
    sample.add_argument("--seed", type=int, default=20261122)

    store = sub.add_parser("store-outputs", help="copy a run's executed notebooks' text outputs into notebooks/")
    store.add_argument("executed_dir", type=Path, help="e.g. reports/sample/notebooks")

    args = parser.parse_args(argv)
    from .loading import InputFileError
    from .params import ParamsError
    from .runner import StageFailed

    try:
        if args.command == "run":
            from .runner import STAGES, run_study

            stages = tuple(args.stages) if args.stages else STAGES
            unknown = [s for s in stages if s not in STAGES]
            if unknown:
                parser.error(f"unknown stage(s) {unknown}; stages are {list(STAGES)}")
            report = run_study(args.params, out_root=args.out, stages=stages, progress=not args.no_progress)
            print(f"Report: {report}")
        elif args.command == "check":
            from .params import load_params

            params = load_params(args.params)
            print(f"{args.params}: OK (run '{params.run}', {params.period.start} – {params.period.end})")
        elif args.command == "sample-data":
            from .sample_data import generate_sample_data

            generate_sample_data(args.out_dir, seed=args.seed)
            print(f"Sample data written to {args.out_dir}")
        elif args.command == "store-outputs":
            from .notebook_outputs import store_outputs

            for path in store_outputs(args.executed_dir):
                print(f"stored outputs in {path}")
    except (ParamsError, InputFileError, StageFailed) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, ParamsError) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
