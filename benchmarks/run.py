"""Scale benchmarks: transaction → customer summary, CLV fit and scoring, ours against the peers.

    .venv/bin/python benchmarks/run.py [--sizes small|large|all] [--quick] [--timeout 900]

Sizes: small = 100k customers / 1M transactions, large = 1M customers / 10M transactions,
``--quick`` = 10k / 100k (a smoke test). The transactions are generated deterministically
(:mod:`datagen`) and cached in ``benchmarks/_data/``. Every measurement runs in a fresh process
(:mod:`stages`), so wall time and peak memory are per stage and per tool. lifetimes and
PyMC-Marketing run from their own venv, ``benchmarks/.venv-peers``, created on first use.

Prints one long table (stage, data size, engine/tool, wall s, peak MiB, notes), a side-by-side
table of the sizes, the correctness check of our summary against a plain pandas one (and every other
summary that ran), our summary's wall time as a multiple of a hand-written DuckDB query's (≤ 1.3× at 10M)
and the target check (10M transactions summarised, fitted and scored in ≤ 30 s and ≤ 4 GiB), and writes
the same to ``benchmarks/results.md`` with the machine's facts.

Fit-only rows, once per run: the BG/NBD + Gamma-Gamma fit alone on 1M simulated customers (10k with
``--quick``; :func:`fit_clv.summary_frame`), ours, lifetimes and PyMC-Marketing (MAP) each in its own
process, side by side with each peer's wall time and peak memory as a multiple of ours.
``--only-fit`` runs those alone (results to ``_data/results-fit-only.md``), ``--no-fit-only`` leaves
them out.

One more row, once per run: 1M synthetic customers assigned to 500 account managers
(:mod:`assignment_data`, :func:`analysis.methods.assignment.solve_assignment`; 20k / 50 with
``--quick``), against its own target of ≤ 30 s. ``--only-assignment`` runs that row alone (its
results go to ``_data/results-assignment.md``), ``--no-assignment`` leaves it out.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = HERE / "_data"
sys.path.insert(0, str(HERE))

from datagen import OBSERVATION_END, cache_path, generation_seconds  # noqa: E402
from machine import base_facts, commit, first_line  # noqa: E402
from measure import run_measured, verdict  # noqa: E402
from peers_env import PEER_PACKAGES, ensure_peers_venv  # noqa: E402

SIZES = {  # name: (customers, transactions)
    "quick": (10_000, 100_000),
    "small": (100_000, 1_000_000),
    "large": (1_000_000, 10_000_000),
}
TARGET_ROWS, TARGET_SECONDS, TARGET_BYTES = 10_000_000, 30.0, 4 * 1024**3
ASSIGNMENT_SIZES = {"quick": (20_000, 50), "full": (1_000_000, 500)}  # customers, account managers
ASSIGNMENT_STAGE, ASSIGNMENT_TOOL = "4 assignment", "ours, HiGHS flow MILP (scipy)"
ASSIGNMENT_TARGET_SECONDS = 30.0
FIT_ONLY_CUSTOMERS = {"quick": 10_000, "full": 1_000_000}  # simulated customers of the fit-only rows
FIT_ONLY_STAGE = "2 fit only"
SQL_FLOOR_TOOL = "hand-written DuckDB SQL (benchmarks/)"
SUMMARY_TARGET_RATIO = 1.3  # ours / the hand-written query, at 10M transactions
MIB = 1024**2


@dataclass(frozen=True)
class Step:
    stage: str  # table label of the stage
    tool: str  # table label of the engine / tool
    command: str  # stages.py stage name
    runtime: str  # "ours" (project venv) or "peers"
    needs: str  # "data" or "summary"
    saves: bool = False  # writes its summary for the correctness check


STEPS = [
    Step("1 summary", "ours, DuckDB", "summary-duckdb", "ours", "data", saves=True),
    Step("1 summary", "ours, DuckDB, all 12 columns", "summary-duckdb-all", "ours", "data", saves=True),
    Step("1 summary", SQL_FLOOR_TOOL, "summary-duckdb-sql", "ours", "data", saves=True),
    Step("1 summary", "ours, Spark local[2]", "summary-spark", "ours", "data", saves=True),
    Step("1 summary", "pandas groupby (benchmarks/)", "summary-pandas", "ours", "data", saves=True),
    Step("1 summary", "lifetimes 0.11.3", "summary-lifetimes", "peers", "data", saves=True),
    Step("1 summary", "PyMC-Marketing 0.19.2 rfm_summary", "summary-pymc", "peers", "data", saves=True),
    Step("2 fit BG/NBD+GG", "ours, clv (ML)", "fit-ours", "ours", "summary"),
    Step("2 fit BG/NBD+GG", "lifetimes BetaGeo+GammaGamma", "fit-lifetimes", "peers", "summary"),
    Step("2 fit BG/NBD+GG", "PyMC-Marketing (MAP)", "fit-pymc", "peers", "summary"),
    Step("3 score", "ours, clv", "score-ours", "ours", "summary"),
    Step("total (1+2+3)", "ours, DuckDB", "total-ours", "ours", "data"),
]


@dataclass
class Row:
    stage: str
    size: str
    tool: str
    status: str  # "ok", "timeout", "error", "not available", "skipped"
    wall: float | None = None
    peak_bytes: int | None = None
    process_seconds: float | None = None
    notes: str = ""
    facts: dict = field(default_factory=dict)  # the stage's own figures (estimates, counts)

    def wall_text(self) -> str:
        return f"{self.wall:.2f}" if self.status == "ok" and self.wall is not None else self.status

    def peak_text(self) -> str:
        return f"{self.peak_bytes / MIB:,.0f}" if self.peak_bytes else "-"


def size_label(customers: int, rows: int) -> str:
    def short(n: int) -> str:
        return f"{n // 1_000_000}M" if n >= 1_000_000 else f"{n // 1000}k"

    return f"{short(rows)} tx / {short(customers)} cust"


# --------------------------------------------------------------------------------------------------
# machine facts


def machine_facts(peers_python: Path | None) -> list[str]:
    facts = [
        *base_facts(["duckdb", "pyspark", "pandas", "numpy", "scipy", "pyarrow", "psutil"]),
        f"Java: {first_line(['java', '-version'])}",
    ]
    if peers_python is not None:
        script = (
            "from importlib import metadata as m; print(', '.join(f'{n} {m.version(n)}' for n in "
            "['lifetimes', 'pymc-marketing', 'pymc', 'pytensor', 'pandas', 'numpy', 'scipy']))"
        )
        facts.append(f"peers venv: {first_line([str(peers_python), '-c', script])}")
    facts.append(f"project commit {commit()}; observation end {OBSERVATION_END}; time unit days")
    return facts


# --------------------------------------------------------------------------------------------------
# running


def ensure_data(customers: int, rows: int, seed: int, timeout: float, log) -> tuple[Path | None, str]:
    path = cache_path(DATA, customers, rows, seed)
    if path.exists():
        seconds = generation_seconds(path)
        return path, "cached" + ("" if seconds is None else f", generated in {seconds:.1f} s")
    DATA.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, str(HERE / "datagen.py"), "--customers", str(customers), "--rows", str(rows),
               "--seed", str(seed), "--folder", str(DATA)]
    result = run_measured(command, timeout=timeout, cwd=DATA, log=DATA / "datagen.log")
    if result.returncode != 0 or not path.exists():
        return None, f"generation failed: {result.stderr_tail}"
    log(f"  generated {size_label(customers, rows)} in {result.seconds:.1f} s "
        f"(peak {result.peak_bytes / MIB:,.0f} MiB) -> {path.relative_to(ROOT)}")
    seconds = generation_seconds(path)
    return path, f"generated in {result.seconds if seconds is None else seconds:.1f} s"


def run_step(step: Step, python: Path, size: str, data: Path, summary: Path, save: Path | None,
             timeout: float, work: Path) -> Row:
    result_file = work / f"{step.command}.json"
    result_file.unlink(missing_ok=True)
    command = [str(python), str(HERE / "stages.py"), step.command, "--data", str(data),
               "--summary", str(summary), "--result", str(result_file)]
    if save is not None:
        command += ["--save", str(save)]
    return measured_row(command, result_file, Row(step.stage, size, step.tool, "ok"), timeout, work,
                        work / f"{step.command}.log")


def measured_row(command: list[str], result_file: Path, row: Row, timeout: float, work: Path, log: Path) -> Row:
    """``row`` filled from running ``command`` in a fresh process: the wall seconds and notes the
    stage wrote to ``result_file``, the process's peak memory, or why there are none."""
    env = dict(os.environ, PYTHONWARNINGS="ignore", PYTHONHASHSEED="0")
    measured = run_measured(command, timeout=timeout, cwd=work, env=env, log=log)
    row.peak_bytes, row.process_seconds = measured.peak_bytes, measured.seconds
    if measured.timed_out:
        row.status, row.notes = "timeout", f"killed after {timeout:.0f} s"
    elif measured.returncode != 0 or not result_file.exists():
        row.status, row.notes = "error", measured.stderr_tail[:160]
    else:
        result = json.loads(result_file.read_text())
        row.wall = result["wall"]
        row.notes = f"{result['notes']}; process {measured.seconds:.1f} s"
        row.facts = result.get("facts", {})
    return row


def best_of(repeat: int, measure) -> Row:
    """The fastest of ``repeat`` measurements (stops at the first that is not ok)."""
    rows = []
    for _ in range(max(repeat, 1)):
        rows.append(measure())
        if rows[-1].status != "ok":
            return rows[-1]
    best = min(rows, key=lambda r: r.wall)
    if len(rows) > 1:
        best.notes += f"; best of {len(rows)} (slowest {max(r.wall for r in rows):.2f} s)"
    return best


def run_size(name: str, args: argparse.Namespace, peers: tuple[Path | None, str], log) -> tuple[list[Row], list[str]]:
    customers, rows = SIZES[name]
    size = size_label(customers, rows)
    log(f"\n== {size} ==")
    data, data_note = ensure_data(customers, rows, args.seed, args.timeout, log)
    if data is None:
        return [Row(s.stage, size, s.tool, "skipped", notes=data_note) for s in STEPS], [data_note]
    work = DATA / f"work-{name}"  # logs and summaries of the last run of this size
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    summary = work / "summary-duckdb.parquet"
    results: list[Row] = []
    for step in STEPS:
        if step.runtime == "peers" and peers[0] is None:
            results.append(Row(step.stage, size, step.tool, "not available", notes=peers[1]))
        elif step.command == "summary-spark" and args.no_spark:
            results.append(Row(step.stage, size, step.tool, "skipped", notes="--no-spark"))
        elif step.needs == "summary" and not summary.exists():
            results.append(Row(step.stage, size, step.tool, "skipped", notes="no DuckDB summary to fit on"))
        else:
            python = Path(sys.executable) if step.runtime == "ours" else peers[0]
            save = work / f"{step.command}.parquet" if step.saves else None
            measure = partial(run_step, step, python, size, data, summary, save, args.timeout, work)
            results.append(best_of(args.repeat, measure))
        row = results[-1]
        measured = f"{row.wall_text():>9} s  {row.peak_text():>7} MiB" if row.status == "ok" else f"{row.status:>24}"
        log(f"  {row.stage:<16} {row.tool:<34} {measured}  {row.notes}")
    checks = [f"data ({size}): {data.name} ({data.stat().st_size / MIB:,.0f} MiB), {data_note}, "
              f"seed {args.seed}", *correctness_checks(work, size)]
    for line in checks:
        log("  " + line)
    return results, checks


def correctness_checks(work: Path, size: str) -> list[str]:
    """Our DuckDB summary against every other summary that ran (pandas first: the reference)."""
    import pandas as pd
    from pandas_summary import compare_summaries

    ours_path = work / "summary-duckdb.parquet"
    if not ours_path.exists():
        return [f"correctness ({size}): not checked, the DuckDB summary did not run"]
    ours = pd.read_parquet(ours_path)
    lines = []
    for command, label in (("summary-pandas", "pandas groupby"), ("summary-duckdb-all", "ours, all 12 columns"),
                           ("summary-duckdb-sql", "hand-written DuckDB SQL"),
                           ("summary-spark", "Spark"),
                           ("summary-lifetimes", "lifetimes"), ("summary-pymc", "PyMC-Marketing")):
        other_path = work / f"{command}.parquet"
        if not other_path.exists():
            continue
        same, detail = compare_summaries(ours, pd.read_parquet(other_path))
        agreement = "AGREE" if same else "DISAGREE"
        lines.append(f"correctness ({size}): ours (DuckDB) vs {label}: {agreement} - {detail}")
    return lines


def fit_only_label(customers: int) -> str:
    short = f"{customers // 1_000_000}M" if customers >= 1_000_000 else f"{customers // 1000}k"
    return f"{short} simulated cust"


def run_fit_only(customers: int, args: argparse.Namespace, peers: tuple[Path | None, str], log) -> list[Row]:
    """The BG/NBD + Gamma-Gamma fit alone, ours against the peers, on the same simulated customers.

    The customers are :func:`fit_clv.summary_frame` (BG/NBD and Gamma-Gamma draws with known
    parameters, recency in whole days), written once per size and seed to ``_data/`` by
    ``fit_clv.py --save-summary`` (not timed); each tool then runs the same ``stages.py fit-*`` stage
    as the size rows, in its own process, one after the other.
    """
    size = fit_only_label(customers)
    log(f"\n== {size} (fit only) ==")
    steps = [s for s in STEPS if s.command.startswith("fit-")]
    summary = DATA / f"fit_summary_c{customers}_s{args.seed}.parquet"
    if not summary.exists():
        work = DATA / "work-fit-only"
        work.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, str(HERE / "fit_clv.py"), "--customers", str(customers), "--seed",
                   str(args.seed), "--save-summary", str(summary)]
        made = run_measured(command, timeout=args.timeout, cwd=work, log=work / "simulate.log")
        if made.returncode != 0 or not summary.exists():
            note = f"simulation failed: {made.stderr_tail[:160]}"
            log("  " + note)
            return [Row(FIT_ONLY_STAGE, size, s.tool, "skipped", notes=note) for s in steps]
        log(f"  simulated {customers:,} customers in {made.seconds:.1f} s -> {summary.relative_to(ROOT)}")
    work = DATA / f"work-fit-{customers}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    rows = []
    for step in steps:
        if step.runtime == "peers" and peers[0] is None:
            row = Row(FIT_ONLY_STAGE, size, step.tool, "not available", notes=peers[1])
        else:
            python = Path(sys.executable) if step.runtime == "ours" else peers[0]
            measure = partial(run_step, step, python, size, summary, summary, None, args.timeout, work)
            row = best_of(args.repeat, measure)
            row.stage = FIT_ONLY_STAGE
        rows.append(row)
        measured = f"{row.wall_text():>9} s  {row.peak_text():>7} MiB" if row.status == "ok" else f"{row.status:>24}"
        log(f"  {row.stage:<16} {row.tool:<34} {measured}  {row.notes}")
    return rows


def fit_only_table(rows: list[Row]) -> list[str]:
    """The fit-only rows side by side with their ratios to ours and how far their BG/NBD estimates are from ours."""
    fits = [r for r in rows if r.stage == FIT_ONLY_STAGE]
    if not fits:
        return []
    ours = next((r for r in fits if r.tool.startswith("ours") and r.status == "ok"), None)
    header = ["fit only", "engine / tool", "wall s", "peak MiB", "wall / ours", "peak / ours",
              "BG/NBD estimates vs ours"]
    body = []
    for row in fits:
        cells = [row.size, row.tool, row.wall_text(), row.peak_text()]
        if ours is not None and row.status == "ok" and row is not ours:
            cells += [f"{row.wall / ours.wall:.2f}x", f"{row.peak_bytes / ours.peak_bytes:.2f}x",
                      _estimate_gap(ours.facts.get("bg", {}), row.facts.get("bg", {}))]
        else:
            cells += ["1.00x", "1.00x", "-"] if row is ours else ["-", "-", "-"]
        body.append(cells)
    return _aligned(header, body, right={2, 3, 4, 5})


def _estimate_gap(ours: dict, theirs: dict) -> str:
    shared = [k for k in ("r", "alpha", "a", "b") if k in ours and k in theirs]
    if not shared:
        return "-"
    gap = max(abs(theirs[k] / ours[k] - 1) for k in shared)
    return f"max rel. diff {gap:.1e}"


def assignment_label(customers: int, managers: int) -> str:
    short = f"{customers // 1_000_000}M" if customers >= 1_000_000 else f"{customers // 1000}k"
    return f"{short} cust / {managers} managers"


def run_assignment(customers: int, managers: int, args: argparse.Namespace, log) -> Row:
    """Customers assigned to account managers (:mod:`assignment_data`), in a fresh process."""
    work = DATA / "work-assignment"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    result_file = work / "assign-ours.json"
    command = [sys.executable, str(HERE / "stages.py"), "assign-ours", "--customers", str(customers),
               "--managers", str(managers), "--result", str(result_file)]

    def measure() -> Row:
        row = Row(ASSIGNMENT_STAGE, assignment_label(customers, managers), ASSIGNMENT_TOOL, "ok")
        return measured_row(command, result_file, row, args.timeout, work, work / "assign-ours.log")

    row = best_of(args.repeat, measure)
    measured = f"{row.wall_text():>9} s  {row.peak_text():>7} MiB" if row.status == "ok" else f"{row.status:>24}"
    log(f"\n== {row.size} ==\n  {row.stage:<16} {row.tool:<34} {measured}  {row.notes}")
    return row


# --------------------------------------------------------------------------------------------------
# tables


def _aligned(header: list[str], body: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        padded = (c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True)))
        return "  ".join(padded).rstrip()

    return [line(header), "  ".join("-" * w for w in widths), *(line(r) for r in body)]


def long_table(rows: list[Row]) -> list[str]:
    header = ["stage", "data size", "engine / tool", "wall s", "peak MiB", "notes"]
    body = [[r.stage, r.size, r.tool, r.wall_text(), r.peak_text(), r.notes] for r in rows]
    return _aligned(header, body, right={3, 4})


def side_by_side(rows: list[Row], sizes: list[str]) -> list[str]:
    header = ["stage", "engine / tool"]
    for size in sizes:
        header += [f"{size}: wall s", "peak MiB"]
    body = []
    for step in STEPS:
        cells = [step.stage, step.tool]
        for size in sizes:
            match = next((r for r in rows if r.size == size and r.tool == step.tool and r.stage == step.stage), None)
            cells += [match.wall_text(), match.peak_text()] if match else ["-", "-"]
        body.append(cells)
    return _aligned(header, body, right=set(range(2, len(header))))


def summary_target_lines(rows: list[Row]) -> list[str]:
    """Per size, our DuckDB summary's wall time as a multiple of the hand-written query's (the target at 10M)."""
    lines = []
    for size in dict.fromkeys(r.size for r in rows if r.stage == "1 summary"):
        ours, floor = (next((r for r in rows if r.stage == "1 summary" and r.size == size and r.tool == tool), None)
                       for tool in ("ours, DuckDB", SQL_FLOOR_TOOL))
        if ours is None or floor is None or ours.status != "ok" or floor.status != "ok":
            lines.append(f"summary ({size}): ours against the hand-written DuckDB query not measured")
            continue
        ratio = ours.wall / floor.wall
        text = (f"summary ({size}): ours (DuckDB) {ours.wall:.2f} s = {ratio:.2f}x the hand-written DuckDB "
                f"query's {floor.wall:.2f} s")
        if size == size_label(*SIZES["large"]):
            text += f" -> target <= {SUMMARY_TARGET_RATIO}x: {verdict(ratio <= SUMMARY_TARGET_RATIO)}"
        lines.append(text)
    return lines


def target_lines(rows: list[Row]) -> list[str]:
    lines = summary_target_lines(rows)
    for row in rows:
        if row.stage == ASSIGNMENT_STAGE:
            if row.status != "ok":
                lines.append(f"assignment ({row.size}): {row.status}")
                continue
            met = verdict(row.wall <= ASSIGNMENT_TARGET_SECONDS)
            lines.append(f"assignment ({row.size}): {row.wall:.1f} s, peak {row.peak_bytes / 1024**3:.2f} GiB"
                         + (f" -> target <= {ASSIGNMENT_TARGET_SECONDS:.0f} s: {met}"
                            if row.size == assignment_label(*ASSIGNMENT_SIZES["full"]) else ""))
            continue
        if row.stage != "total (1+2+3)":
            continue
        if row.status != "ok":
            lines.append(f"total ({row.size}): {row.status}")
            continue
        text = f"total ({row.size}): {row.wall:.1f} s, peak {row.peak_bytes / 1024**3:.2f} GiB"
        if row.size == size_label(*SIZES["large"]):
            met = verdict(row.wall <= TARGET_SECONDS and row.peak_bytes <= TARGET_BYTES)
            text += (f" -> target <= {TARGET_SECONDS:.0f} s and <= 4 GiB for {TARGET_ROWS // 1_000_000}M "
                     f"transactions: {met} (time {row.wall / TARGET_SECONDS:.2f}x of budget, "
                     f"memory {row.peak_bytes / TARGET_BYTES:.2f}x of budget)")
        lines.append(text)
    return lines


def write_markdown(path: Path, command: str, facts: list[str], tables: list[str], checks: list[str],
                   targets: list[str], started: datetime, seconds: float) -> None:
    text = [
        "# Benchmark results",
        "",
        f"Run {started:%Y-%m-%d %H:%M} UTC with `{command}` ({seconds / 60:.1f} min in all). "
        "Regenerate with `make bench`; see benchmarks/README.md for what each row measures.",
        "",
        "## Machine",
        "",
        *(f"- {fact}" for fact in facts),
        "",
        "## Results",
        "",
        "Wall = the stage's work inside a fresh process (interpreter start-up and imports excluded; the "
        "whole process time is in the notes). Peak = the process's peak resident memory, its JVM included "
        "for Spark.",
        "",
        "```",
        *tables,
        "```",
        "",
        "## Checks",
        "",
        *(f"- {line}" for line in [*checks, *targets]),
        "",
    ]
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(text), encoding="utf-8")
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", choices=["small", "large", "all"], default="all")
    parser.add_argument("--quick", action="store_true", help="10k customers / 100k transactions only (smoke test)")
    parser.add_argument("--seed", type=int, default=2024, help="seed of the generated transactions")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds allowed per measurement")
    parser.add_argument("--repeat", type=int, default=1, help="run each measurement N times, keep the fastest")
    parser.add_argument("--no-peers", action="store_true", help="skip lifetimes and PyMC-Marketing")
    parser.add_argument("--no-spark", action="store_true", help="skip the Spark summary")
    parser.add_argument("--no-assignment", action="store_true", help="skip the customer-to-manager assignment")
    parser.add_argument("--only-assignment", action="store_true",
                        help="run only the assignment (1M customers / 500 managers; 20k / 50 with --quick)")
    parser.add_argument("--no-fit-only", action="store_true",
                        help="skip the fit-only rows (1M simulated customers; 10k with --quick)")
    parser.add_argument("--only-fit", action="store_true",
                        help="run only the fit-only rows, ours and the peers (results to _data/results-fit-only.md)")
    args = parser.parse_args(argv)

    started, clock = datetime.now(UTC), time.perf_counter()
    names = ["quick"] if args.quick else (["small", "large"] if args.sizes == "all" else [args.sizes])
    if args.only_assignment:
        names, args.no_peers, args.no_fit_only = [], True, True
    if args.only_fit:
        names, args.no_assignment, args.no_fit_only = [], True, False

    def log(line: str) -> None:
        print(line, flush=True)

    peers: tuple[Path | None, str] = (None, "not available: --no-peers")
    if not args.no_peers:
        python, status = ensure_peers_venv(log=log)
        peers = (python, status if python else f"not available: {status}")
        if python is None:
            log(f"peers ({', '.join(PEER_PACKAGES)}) {peers[1]}; their rows say so")
    facts = machine_facts(peers[0])
    log("machine: " + " | ".join(facts))

    rows: list[Row] = []
    checks: list[str] = []
    for name in names:
        size_rows, size_checks = run_size(name, args, peers, log)
        rows += size_rows
        checks += size_checks

    if not args.no_fit_only:
        rows += run_fit_only(FIT_ONLY_CUSTOMERS["quick" if args.quick else "full"], args, peers, log)

    if not args.no_assignment:
        rows.append(run_assignment(*ASSIGNMENT_SIZES["quick" if args.quick else "full"], args, log))

    sizes = [size_label(*SIZES[n]) for n in names]
    fit_only = fit_only_table(rows)
    tables = [*long_table(rows), *(["", *side_by_side(rows, sizes)] if sizes else []),
              *(["", *fit_only] if fit_only else [])]
    targets = target_lines(rows)
    facts.append(f"load average at end {os.getloadavg()[0]:.2f}; timings vary by 10-50 % run to run on this "
                 "shared machine (use --repeat N for the fastest of N)")
    print("\n" + "\n".join(tables) + "\n")
    for line in [*checks, *targets]:
        print(line)
    command = "benchmarks/run.py " + " ".join(argv if argv is not None else sys.argv[1:])
    out = (DATA / "results-quick.md" if args.quick else
           DATA / "results-assignment.md" if args.only_assignment else
           DATA / "results-fit-only.md" if args.only_fit else HERE / "results.md")
    DATA.mkdir(exist_ok=True)
    write_markdown(out, command.strip(), facts, tables, checks, targets, started, time.perf_counter() - clock)
    print(f"\nwritten: {out.relative_to(ROOT)}")
    return 1 if any("DISAGREE" in line for line in checks) else 0


if __name__ == "__main__":
    sys.exit(main())
