"""Command line: ``python -m analysis run params/sample.yaml`` and friends (``--help`` lists them).

Exit codes: 0 done; 1 a stage or the report failed (nothing published); 2 the params file is wrong
(nothing run); 130 interrupted (Ctrl-C or SIGTERM; nothing published).
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from types import FrameType

EXIT_FAILED, EXIT_PARAMS, EXIT_INTERRUPTED = 1, 2, 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m analysis", description="Customer tiering study (客户分层管理)")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a whole study from a params file")
    run.add_argument("params", type=Path)
    run.add_argument("--out", type=Path, default=None, help="write data/processed and reports under this folder")
    run.add_argument("--stages", nargs="+", default=None, help="only these stages, e.g. 01_clean 02_rfm_clv")
    run.add_argument("--no-progress", action="store_true", help="no per-cell progress bars")

    check = sub.add_parser("check", help="validate a params file and its input files' headers, do no work")
    check.add_argument("params", type=Path)

    sample = sub.add_parser("sample-data", help="generate the embedded sample data set")
    sample.add_argument("out_dir", type=Path, nargs="?", default=Path("data/raw/sample"))
    sample.add_argument("--seed", type=int, default=20261122)

    store = sub.add_parser("store-outputs", help="copy a run's executed notebooks' text outputs into notebooks/")
    store.add_argument(
        "executed_dir", type=Path, nargs="?", default=Path("data/processed/sample/notebooks"),
        help="the run's executed notebooks, data/processed/<run>/notebooks (default: %(default)s)",
    )

    compare = sub.add_parser("compare-runs", help="compare two runs' outputs file by file (exit 1 when they differ)")
    compare.add_argument("first", type=Path, help="a run's outputs, data/processed/<run>, or its report folder, reports/<run>")
    compare.add_argument("second", type=Path)
    compare.add_argument("--rtol", type=float, default=1e-9, help="relative tolerance of figures (default: %(default)s)")

    history = sub.add_parser("history", help="the study history: list its runs, remove one, add a published one")
    verbs = history.add_subparsers(dest="verb", required=True)
    default_path = Path("reports") / "history.duckdb"
    listed = verbs.add_parser("list", help="print the runs the history holds")
    removed = verbs.add_parser("remove", help="remove one run from the history")
    removed.add_argument("run", help="the run name, as `history list` shows it")
    added = verbs.add_parser("add", help="add (or replace) a published run from its report folder, reports/<run>")
    added.add_argument("reports_dir", type=Path, help="the run's report folder, holding its manifest.json")
    for verb in (listed, removed):
        verb.add_argument("--path", type=Path, default=default_path, help="the history file (default: %(default)s)")
    added.add_argument("--path", type=Path, default=None, help="the history file (default: the run's history.path)")
    return parser


def _terminate_as_interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGTERM takes the same path as Ctrl-C: the run is marked failed and nothing is published."""
    raise KeyboardInterrupt


def _run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    from analysis.frame.runner import STAGES, run_study

    stages = tuple(args.stages) if args.stages else STAGES
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        parser.error(f"unknown stage(s) {unknown}; stages are {list(STAGES)}")
    signal.signal(signal.SIGTERM, _terminate_as_interrupt)
    report = run_study(args.params, out_root=args.out, stages=stages, progress=not args.no_progress)
    print(f"Report: {report}")


def _check(args: argparse.Namespace) -> None:
    """Every params rule, then the input files' headers; a note when the previous run is not there."""
    from analysis.frame import catalog
    from analysis.frame.params import check_input_headers, load_params

    params = load_params(args.params)
    check_input_headers(params, args.params)
    print(
        f"{args.params}: OK (run '{params.run}', {params.period.start} – {params.period.end}; "
        f"input headers match inputs.*.columns)"
    )
    previous = params.tiering.previous_run
    if previous and not (params.output.processed_dir / previous / catalog.CUSTOMERS).is_file():
        print(
            f"note: tiering.previous_run '{previous}' has no published outputs in "
            f"{params.output.processed_dir / previous}; the report will have no migration section"
        )


def _history(args: argparse.Namespace) -> int:
    """``history list``, ``history remove RUN`` and ``history add reports/<run>``; 1 with a message on failure."""
    from analysis.frame import history

    try:
        if args.verb == "list":
            print(history.describe(args.path))
        elif args.verb == "remove":
            if not history.remove(args.path, args.run):
                print(f"error: {args.path} holds no run '{args.run}' (`history list` shows its runs)", file=sys.stderr)
                return EXIT_FAILED
            print(f"removed '{args.run}' from {args.path}")
        else:
            target = history.add_report_folder(args.reports_dir, args.path)
            if target is None:
                print(f"error: the run in {args.reports_dir} has history.enabled: false; give --path to add it anyway",
                      file=sys.stderr)
                return EXIT_FAILED
            print(f"added {args.reports_dir.name} to {target}")
    except (history.HistoryError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    from analysis.frame.params import ParamsError
    from analysis.frame.runner import RunInterrupted, StageFailed
    from analysis.methods.loading import InputFileError

    try:
        if args.command == "run":
            _run(args, parser)
        elif args.command == "check":
            _check(args)
        elif args.command == "sample-data":
            from analysis.simulation.sample_data import generate_sample_data

            generate_sample_data(args.out_dir, seed=args.seed)
            print(f"Sample data written to {args.out_dir}")
        elif args.command == "store-outputs":
            from analysis.frame.notebook_outputs import store_outputs

            try:
                stored = store_outputs(args.executed_dir)
            except FileNotFoundError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return EXIT_FAILED
            for path in stored:
                print(f"stored outputs in {path}")
        elif args.command == "compare-runs":
            from analysis.frame.compare import compare_runs

            try:
                comparison = compare_runs(args.first, args.second, rtol=args.rtol)
            except FileNotFoundError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return EXIT_FAILED
            print(comparison.summary())
            return 0 if comparison.equal else EXIT_FAILED
        elif args.command == "history":
            return _history(args)
    except ParamsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_PARAMS
    except (StageFailed, InputFileError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except RunInterrupted as exc:
        print(f"interrupted: {exc}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


if __name__ == "__main__":
    sys.exit(main())
