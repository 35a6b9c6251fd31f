"""The whole study from the raw export, at scale, measured per stage (``make bench-study``).

    .venv/bin/python benchmarks/study_run.py [--sizes 1000000,10000000] [--timeout 1800] [--max-memory-gib 16]

For each size (transaction rows): the sample-like export (:mod:`study_data`, generated once and cached
in ``benchmarks/_data/``), then the real runner (``python -m analysis run <params> --out ...``) with
every step measured (:mod:`study_measure`): wall seconds (the runner's manifest), CPU seconds and the
cores they kept busy, the peak resident memory of the kernel that ran the notebook (of the runner for
the report), and transaction rows per second. Then the floor (:mod:`study_floor`): DuckDB alone
reading the same CSV into the customer summary, in its own process. Prints a table per size and one
with the sizes side by side, and writes them with the machine's facts to ``benchmarks/results-study.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = HERE / "_data"
sys.path.insert(0, str(HERE))

from machine import base_facts, commit  # noqa: E402
from measure import run_measured, verdict  # noqa: E402
from study_data import ensure_export, write_params  # noqa: E402
from study_measure import OUTSIDE, REPORT_STEP, RunMeasurement, measure_run  # noqa: E402

STAGES = ("01_clean", "02_rfm_clv", "03_tiers", "04_satisfaction_loyalty", "05_allocation", "06_managers", REPORT_STEP)
WHOLE, FLOOR = "whole study", "floor: DuckDB, one query"
OTHER_LABEL = "other (checks, fingerprints, publish)"
PACKAGES = ["duckdb", "pandas", "numpy", "scipy", "pyarrow", "papermill", "nbclient", "ipykernel", "psutil"]
MIB = 1024**2
#: The targets at 10M transaction rows: the whole study's wall seconds and peak, stage 1 against the floor.
TARGET_SIZE = 10_000_000
WHOLE_TARGET_SECONDS, WHOLE_TARGET_BYTES = 90.0, 3 * 1024**3
CLEAN_TARGET_RATIO = 2.0


@dataclass
class Row:
    stage: str
    rows: int  # transaction rows of the export
    wall: float | None
    peak_bytes: int | None
    status: str = "ok"  # "ok", "not run", "stopped", "failed", "error"
    cpu: float | None = None  # user + system seconds of its processes
    system: float | None = None  # of which system seconds

    def wall_text(self) -> str:
        if self.wall is None:
            return self.status
        return f"{self.wall:.1f}" + ("" if self.status == "ok" else f" ({self.status})")

    def peak_text(self) -> str:
        return f"{self.peak_bytes / MIB:,.0f}" if self.peak_bytes else "-"

    def cpu_text(self) -> str:
        return "-" if self.cpu is None else f"{self.cpu:.1f}"

    def system_text(self) -> str:
        return "-" if self.system is None else f"{self.system:.1f}"

    def cores_text(self) -> str:
        """CPU seconds per wall second: how many cores the stage kept busy."""
        return f"{self.cpu / self.wall:.2f}" if self.cpu is not None and self.wall else "-"

    def rate_text(self) -> str:
        """Rows per second of a finished step only: a stopped one did not get through its rows."""
        return f"{self.rows / self.wall:,.0f}" if self.wall and self.status == "ok" else "-"


def parse_sizes(text: str) -> list[int]:
    """``1000000,10000000`` (underscores and an M/k suffix allowed: ``1M,10M``) -> [1000000, 10000000]."""
    sizes = []
    for part in text.split(","):
        part = part.strip().replace("_", "").lower()
        scale = {"m": 1_000_000, "k": 1_000}.get(part[-1:], 1)
        sizes.append(int(float(part[:-1] if scale > 1 else part) * scale))
    return sizes


def shown(path: Path) -> str:
    """A path relative to the project when it is inside it."""
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def size_label(rows: int) -> str:
    return f"{rows / 1e6:g}M rows" if rows >= 1_000_000 else f"{rows / 1e3:g}k rows"


# --------------------------------------------------------------------------------------------------
# measuring one size


def runner_env() -> dict[str, str]:
    """The runner and its kernels import this checkout's ``analysis``, and write only where --out says."""
    env = dict(os.environ, PYTHONWARNINGS="ignore", PYTHONHASHSEED="0")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])])
    env.pop("TIERING_OUT_ROOT", None)
    env.pop("TIERING_STAGING", None)
    return env


def stage_rows(run: RunMeasurement, rows: int) -> list[Row]:
    """One row per runner step (not run / stopped ones say so), the runner's own work, the whole run."""
    table = []
    for stage in STAGES:
        peak = run.peaks.get(stage)
        peak_bytes = peak.own_bytes if peak else None
        cpu, system = (peak.cpu_seconds, peak.system_seconds) if peak else (None, None)
        if stage in run.step_seconds:
            table.append(Row(stage, rows, run.step_seconds[stage], peak_bytes, cpu=cpu, system=system))
        elif run.running and run.running[0] == stage:
            status = "stopped" if run.status.startswith("stopped") else "failed"
            table.append(Row(stage, rows, run.running[1], peak_bytes, status, cpu, system))
        else:
            table.append(Row(stage, rows, None, None, "not run"))
    outside = run.peaks.get(OUTSIDE)
    other = run.seconds - sum(run.step_seconds.values()) - (run.running[1] if run.running else 0.0)
    table.append(Row(OTHER_LABEL, rows, max(other, 0.0), outside.runner_bytes if outside else None,
                     cpu=outside.cpu_seconds if outside else None, system=outside.system_seconds if outside else None))
    whole_status = "ok" if run.status == "ok" else ("stopped" if run.status.startswith("stopped") else "failed")
    table.append(Row(WHOLE, rows, run.seconds, run.tree_bytes, whole_status, run.cpu_seconds, run.system_seconds))
    return table


def run_floor(export: Path, work: Path, rows: int, timeout: float) -> tuple[Row, str]:
    result = work / "floor.json"
    command = [sys.executable, str(HERE / "study_floor.py"), "--export", str(export), "--result", str(result)]
    measured = run_measured(command, timeout=timeout, cwd=work, env=runner_env(), log=work / "floor.log")
    if measured.timed_out:
        return Row(FLOOR, rows, None, measured.peak_bytes, "timeout"), f"floor killed after {timeout:.0f} s"
    if measured.returncode != 0 or not result.exists():
        return Row(FLOOR, rows, None, measured.peak_bytes, "error"), f"floor failed: {measured.stderr_tail[:160]}"
    found = json.loads(result.read_text(encoding="utf-8"))
    note = (f"floor: {found['customers']:,} customers, {found['repeat_purchases']:,} repeat purchases; "
            f"query {found['wall']:.1f} s of a {measured.seconds:.1f} s process")
    return Row(FLOOR, rows, found["wall"], measured.peak_bytes, cpu=found.get("cpu"), system=found.get("system")), note


def study_customers(out: Path, run_name: str) -> int | None:
    """Customers in the study's summary (``customers.parquet``), to set beside the floor's."""
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(out / "data/processed" / run_name / "customers.parquet").metadata.num_rows
    except OSError:
        return None


def run_size(rows_requested: int, args: argparse.Namespace, log) -> tuple[list[Row], list[str]]:
    log(f"\n== {size_label(rows_requested)} ==")
    export, meta = ensure_export(DATA, rows_requested, log=log)
    rows = meta["rows"]["transactions"]
    run_name = f"bench_r{rows_requested}"
    params = write_params(export, run_name)
    made = f"generated in {meta['seconds']:.0f} s" if meta["generated_now"] else f"cached (generated in {meta['seconds']:.0f} s)"
    notes = [f"export: {rows:,} transaction rows, {meta['rows']['customers']:,} customers in the master, "
             f"{meta['rows']['surveys']:,} survey answers, {meta['rows']['complaints']:,} complaints; "
             f"{made}; {shown(export)}"]
    work = DATA / f"study-r{rows_requested}"  # the runner's outputs and logs of the last run of this size
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    out = work / "out"
    command = [sys.executable, "-m", "analysis", "run", str(params), "--out", str(out), "--no-progress"]
    log(f"  running the study: {' '.join(command[1:])}")
    run = measure_run(command, log=work / "runner.log", env=runner_env(), cwd=ROOT, timeout=args.timeout,
                      max_tree_bytes=int(args.max_memory_gib * 1024**3),
                      manifest=out / "reports" / run_name / "manifest.json")
    table = stage_rows(run, rows)
    for row in table:
        log(f"  {row.stage:<40} {row.wall_text():>16} s  {row.peak_text():>8} MiB")
    if run.status != "ok":
        how = "" if run.returncode is None else f" (exit status {run.returncode})"
        cut = f" in {run.running[0]} after {run.running[1]:.0f} s" if run.running else ""
        notes.append(f"study run {run.status}{how}{cut}; see {shown(run.log)}")
    kernels = {stage: len(run.peaks[stage].kernels) for stage in STAGES[:-1] if stage in run.peaks}
    odd = {stage: n for stage, n in kernels.items() if n != 1}
    notes.append(f"{run.samples:,} samples of the process tree, every 50 ms; "
                 + ("one kernel per notebook stage" if not odd else f"kernels per stage: {odd}"))
    if run.tree_peak_parts:
        held = ", ".join(f"{name} {size / 1024**2:,.0f}" for name, size in run.tree_peak_parts)
        notes.append(f"the whole study's peak, {run.tree_bytes / 1024**2:,.0f} MiB, came during {run.tree_peak_step}: {held} MiB")
    floor, floor_note = run_floor(export, work, rows, args.timeout)
    log(f"  {floor.stage:<40} {floor.wall_text():>16} s  {floor.peak_text():>8} MiB")
    customers = study_customers(out, run_name)
    notes.append(floor_note + ("" if customers is None else f"; the study summarised {customers:,} customers"))
    return [*table, floor], [f"{size_label(rows_requested)}: {n}" for n in notes]


# --------------------------------------------------------------------------------------------------
# tables and the results file


def _aligned(header: list[str], body: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        padded = (c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True)))
        return "  ".join(padded).rstrip()

    return [line(header), "  ".join("-" * w for w in widths), *(line(r) for r in body)]


def size_table(rows: list[Row]) -> list[str]:
    header = ["stage", "rows", "wall s", "CPU s", "sys s", "cores", "peak RSS MiB", "rows/s"]
    body = [[r.stage, f"{r.rows:,}", r.wall_text(), r.cpu_text(), r.system_text(), r.cores_text(), r.peak_text(),
             r.rate_text()] for r in rows]
    return _aligned(header, body, right={1, 2, 3, 4, 5, 6, 7})


def side_by_side(by_size: dict[int, list[Row]]) -> list[str]:
    header = ["stage"]
    for size, rows in by_size.items():
        header += [f"{size_label(size)} ({rows[0].rows:,}): wall s", "cores", "peak MiB", "rows/s"]
    stages = [r.stage for r in next(iter(by_size.values()))]
    body = []
    for stage in stages:
        cells = [stage]
        for rows in by_size.values():
            row = next(r for r in rows if r.stage == stage)
            cells += [row.wall_text(), row.cores_text(), row.peak_text(), row.rate_text()]
        body.append(cells)
    return _aligned(header, body, right=set(range(1, len(header))))


def target_lines(by_size: dict[int, list[Row]]) -> list[str]:
    """Per size, the whole study's time and peak and stage 1 as a multiple of the floor; at
    :data:`TARGET_SIZE`, each against its target (MET / NOT MET)."""
    lines = []
    for size, rows in by_size.items():
        at = {r.stage: r for r in rows}
        whole, clean, floor = at[WHOLE], at[STAGES[0]], at[FLOOR]
        judged = size == TARGET_SIZE
        if whole.status == "ok":
            text = f"whole study ({size_label(size)}): {whole.wall:.1f} s, peak {whole.peak_text()} MiB"
            if judged:
                memory = "not measured" if whole.peak_bytes is None else verdict(whole.peak_bytes <= WHOLE_TARGET_BYTES)
                text += (f" -> target <= {WHOLE_TARGET_SECONDS:.0f} s: {verdict(whole.wall <= WHOLE_TARGET_SECONDS)}; "
                         f"<= {WHOLE_TARGET_BYTES / 1024**3:.0f} GiB: {memory}")
        else:
            text = f"whole study ({size_label(size)}): {whole.status}"
        lines.append(text)
        if clean.status == "ok" and floor.status == "ok" and floor.wall:
            ratio = clean.wall / floor.wall
            text = (f"{STAGES[0]} ({size_label(size)}): {clean.wall:.1f} s = {ratio:.1f}x the floor's {floor.wall:.1f} s")
            if judged:
                text += f" -> target <= {CLEAN_TARGET_RATIO:.0f}x: {verdict(ratio <= CLEAN_TARGET_RATIO)}"
        else:
            text = f"{STAGES[0]} ({size_label(size)}): against the floor not measured"
        lines.append(text)
    return lines


def write_markdown(path: Path, command: str, facts: list[str], tables: list[str], notes: list[str],
                   started: datetime, seconds: float, targets: list[str]) -> None:
    text = [
        "# Whole-study benchmark results",
        "",
        f"Run {started:%Y-%m-%d %H:%M} UTC with `{command}` ({seconds / 60:.1f} min in all, export generation "
        "included when it was not cached). Regenerate with `make bench-study`; see benchmarks/README.md.",
        "",
        "## Machine",
        "",
        *(f"- {fact}" for fact in facts),
        "",
        "## Results",
        "",
        "Each study is the real runner on the sample-like export of that size. Wall = the runner's own "
        "timing of the step (its manifest); peak RSS = the peak resident memory of the Jupyter kernel that "
        "ran the notebook (the larger of 50 ms samples and the kernel's high-water mark; with the worker "
        "processes it starts, their summed RSS at one sample when that is larger), of the runner "
        "process for its own work outside the steps and, with the process rendering the report's other "
        "languages, for the report; for the whole study, the largest summed RSS of the runner and its "
        "kernels and processes at one sample (a fork that has not yet run its own program holds its parent's "
        "pages: counted with the parent only). rows/s = transaction rows of the export "
        "(dirty rows included) / wall seconds. CPU s = the user and system seconds of every process of the "
        "run (runner, kernels, their workers) while the step ran, and sys s the system seconds among them "
        "(the operating system's work for the processes: above all the first touch of fresh memory pages, "
        "then file reads and process starts); cores = CPU s / wall s, how many of the "
        "machine's cores the step kept busy. The floor is DuckDB alone reading the same CSV into the "
        "customer summary in one query, in its own process (query time; peak and CPU of that process).",
        "",
        "```",
        *tables,
        "```",
        "",
        "## Targets",
        "",
        *(f"- {line}" for line in targets),
        "",
        "## Notes",
        "",
        *(f"- {line}" for line in notes),
        "",
    ]
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(text), encoding="utf-8")
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,10000000", help="transaction rows, comma-separated")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds allowed per study run (and floor)")
    parser.add_argument("--max-memory-gib", type=float, default=16.0,
                        help="stop a study run whose processes hold more than this together")
    parser.add_argument("--results", type=Path, default=HERE / "results-study.md")
    args = parser.parse_args(argv)
    sizes = parse_sizes(args.sizes)

    started, clock = datetime.now(UTC), time.perf_counter()

    def log(line: str) -> None:
        print(line, flush=True)

    facts = base_facts(PACKAGES)
    log("machine: " + " | ".join(facts))
    by_size: dict[int, list[Row]] = {}
    notes: list[str] = []
    for size in sizes:
        by_size[size], size_notes = run_size(size, args, log)
        notes += size_notes

    facts.append(f"load average at end {os.getloadavg()[0]:.2f}; the cores are shared with other work, so "
                 "timings vary run to run")
    facts.append(f"project commit {commit()}; period 2023-01-01 to 2025-12-31; customer master as CSV")
    tables = []
    for size, rows in by_size.items():
        tables += [f"{size_label(size)}", *size_table(rows), ""]
    if len(by_size) > 1:
        tables += side_by_side(by_size)
    print("\n" + "\n".join(tables) + "\n")
    targets = target_lines(by_size)
    for line in [*targets, "", *notes]:
        print(line)
    command = "benchmarks/study_run.py " + " ".join(argv if argv is not None else sys.argv[1:])
    DATA.mkdir(exist_ok=True)
    write_markdown(args.results, command.strip(), facts, tables, notes, started, time.perf_counter() - clock, targets)
    print(f"\nwritten: {args.results}")
    bad = [r for rows in by_size.values() for r in rows if r.status not in ("ok", "not run")]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
