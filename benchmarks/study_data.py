"""The sample CRM export at scale, for timing the whole study from the raw files.

    .venv/bin/python benchmarks/study_data.py --rows 1000000

The files are those of the embedded sample data set (:func:`analysis.simulation.sample_data.generate_sample_data`):
``transactions.csv`` with its Chinese headers, mixed amount and date formats and the same share of
dirty rows (duplicates, missing ids, bad dates and amounts, dates after the period, outliers, returns),
and the customer master, surveys and complaints of the same customers, so they grow with it. Only
the number of customers changes: it is chosen so that the transactions come to about ``rows`` rows
(:data:`ROWS_PER_CUSTOMER`, measured on the generator; the export's ``export.json`` has the exact
counts). The customer master is written as ``customers.csv``: an xlsx of a million customers takes
longer to write than the study takes to run, and would make the benchmark a test of openpyxl.

Each export is written once into ``benchmarks/_data/export_v<version>_r<rows>_s<seed>/`` (git-ignored)
and reused while :data:`GENERATOR_VERSION`, the rows and the seed match; a half-written export is
never reused (it is built in a temporary folder and renamed when complete). ``params.yaml`` next to
the data is the study's params file for it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

from analysis.simulation.sample_data import (
    COMPLAINT_COLUMNS,
    CUSTOMER_COLUMNS,
    SURVEY_ATTRIBUTES,
    SURVEY_COLUMNS,
    TRANSACTION_COLUMNS,
    generate_sample_data,
)

#: Part of the cache key: bump when the export's content changes (the sample generator included).
GENERATOR_VERSION = 2
#: Transaction rows per buying customer of the sample generator (998,857 rows for 84,250 customers).
ROWS_PER_CUSTOMER = 11.86
SEED = 20261122
PERIOD = ("2023-01-01", "2025-12-31")
DEFAULT_FOLDER = Path(__file__).resolve().parent / "_data"
META = "export.json"
PARAMS = "params.yaml"


def customers_for(rows: int) -> int:
    """The number of buying customers whose transactions come to about ``rows`` rows."""
    if rows < 100:
        raise ValueError(f"rows={rows}: ask for at least 100 transaction rows")
    return max(1, round(rows / ROWS_PER_CUSTOMER))


def export_folder(folder: Path, rows: int, seed: int = SEED) -> Path:
    return folder / f"export_v{GENERATOR_VERSION}_r{rows}_s{seed}"


def read_meta(export: Path) -> dict | None:
    """The export's ``export.json``, or None when the folder is missing or incomplete."""
    try:
        return json.loads((export / META).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def ensure_export(folder: Path, rows: int, seed: int = SEED, log=print) -> tuple[Path, dict]:
    """The export of about ``rows`` transaction rows, generated when missing; (its folder, its meta).

    ``meta["generated_now"]`` says whether this call generated it.
    """
    export = export_folder(folder, rows, seed)
    meta = read_meta(export)
    if meta is not None and meta.get("version") == GENERATOR_VERSION and meta.get("rows_requested") == rows:
        return export, {**meta, "generated_now": False}
    customers = customers_for(rows)
    log(f"  generating the export of ~{rows:,} transaction rows ({customers:,} customers) -> {export}")
    staging = export.with_name(f"{export.name}.tmp{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    started = time.perf_counter()
    truth = generate_sample_data(staging, seed=seed, n_customers=customers, start=PERIOD[0], end=PERIOD[1],
                                 customers_format="csv")
    meta = {
        "version": GENERATOR_VERSION,
        "rows_requested": rows,
        "seed": seed,
        "customers": customers,
        "rows": truth["rows"],
        "injected": truth["injected"]["transactions"],
        "plan_rows": (truth.get("plan_effect") or {}).get("extra_purchases", 0),  # the contacted customers' extra orders
        "period": list(PERIOD),
        "seconds": round(time.perf_counter() - started, 1),
    }
    (staging / META).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    shutil.rmtree(export, ignore_errors=True)
    os.replace(staging, export)
    return export, {**meta, "generated_now": True}


def _mapping(columns: dict[str, str], indent: str = "      ") -> list[str]:
    return [f"{indent}{header}: {name}" for header, name in columns.items()]


def write_params(export: Path, run: str) -> Path:
    """``params.yaml`` for the export: the sample study's settings, with no previous run to compare with."""
    lines = [
        "# Written by benchmarks/study_data.py: the sample study's settings on the export beside this file.",
        f"run: {run}",
        "language: zh",
        "report_also_in: [en]",
        f"seed: {SEED}",
        "period:",
        f"  start: {PERIOD[0]}",
        f"  end: {PERIOD[1]}",
        "inputs:",
        "  transactions:",
        f"    path: {export / 'transactions.csv'}",
        "    columns:", *_mapping(TRANSACTION_COLUMNS),
        "  customers:",
        f"    path: {export / 'customers.csv'}",
        "    columns:", *_mapping(CUSTOMER_COLUMNS),
        "  surveys:",
        f"    path: {export / 'surveys.csv'}",
        "    columns:", *_mapping(SURVEY_COLUMNS),
        "  complaints:",
        f"    path: {export / 'complaints.csv'}",
        "    columns:", *_mapping(COMPLAINT_COLUMNS),
        "cleaning:",
        "  outliers: {method: mad_log, threshold: 6.0, action: quarantine}",
        "satisfaction:",
        "  scale_max: 10",
        f"  attributes: [{', '.join(name for name, _ in SURVEY_ATTRIBUTES.values())}]",
        "  attribute_labels:",
        *(f"    {name}: {{zh: {zh}, en: {en}}}" for zh, (name, en) in SURVEY_ATTRIBUTES.items()),
        "tiering:",
        "  method: clv",
        "  n_tiers: 4",
        "",
    ]
    path = export / PARAMS
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, required=True, help="transaction rows, about")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--folder", type=Path, default=DEFAULT_FOLDER)
    args = parser.parse_args(argv)
    export, meta = ensure_export(args.folder, args.rows, args.seed)
    params = write_params(export, f"bench_r{args.rows}")
    state = f"generated in {meta['seconds']:.0f} s" if meta["generated_now"] else "cached"
    print(f"{export} ({state}): {meta['rows']['transactions']:,} transaction rows; params {params}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
