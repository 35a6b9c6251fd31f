"""Reading an xlsx export: the workbook reader the study uses beside openpyxl, in one run.

    .venv/bin/python benchmarks/xlsx_read.py [--rows 250000] [--timeout 900]

A workbook of ``--rows`` transaction rows like the sample export's (its rows repeated; the ISO dates
as Excel date cells, the whole quantities as numbers, the rest as text, as an analyst's export from
Excel holds them) is written once and cached in ``benchmarks/_data/``; it needs the sample data
(``make sample-data``). Each reader then reads it in a fresh process with
:func:`analysis.methods.loading.read_input`, as stage 1 reads an xlsx export, and writes the cells it
read. Printed per reader: wall seconds (interpreter start-up and imports included), peak memory, the
rows read, and whether every cell equals openpyxl's.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from measure import run_measured  # noqa: E402

SAMPLE = ROOT / "data/raw/sample/transactions.csv"
READERS = ("calamine", "openpyxl")
COLUMNS = {"客户编号": "customer_id", "订单编号": "order_id", "订单日期": "order_date", "金额": "amount"}


def workbook(rows: int) -> Path:
    """The cached workbook of ``rows`` rows, written on first use by a process of its own: a process
    started by this one would otherwise count this one's memory of the table as its own peak
    (``ru_maxrss`` counts the memory a process had when it was forked)."""
    path = HERE / "_data" / f"transactions_{rows}.xlsx"
    if not path.is_file():
        subprocess.run([sys.executable, __file__, "--write", str(rows), "--workbook", str(path)], check=True)
    return path


def write_workbook(rows: int, path: Path) -> None:
    import pandas as pd

    if not SAMPLE.is_file():
        raise SystemExit(f"{SAMPLE} is missing: run `make sample-data` first")
    sample = pd.read_csv(SAMPLE, dtype=str, keep_default_na=False)
    table = pd.concat([sample] * -(-rows // len(sample)), ignore_index=True).iloc[:rows].astype(object)
    dates = pd.to_datetime(table["订单日期"], format="%Y-%m-%d", errors="coerce")
    table["订单日期"] = [text if pd.isna(day) else day.to_pydatetime() for text, day in zip(table["订单日期"], dates)]
    table["数量"] = [int(text) if text.isdigit() else text for text in table["数量"]]
    path.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".xlsx", delete=False) as part:
        table.to_excel(part.name, index=False, sheet_name="交易明细", engine="openpyxl")
    Path(part.name).replace(path)
    print(f"  wrote {path} ({rows:,} rows) in {time.perf_counter() - started:.0f} s")


def read_with(reader: str, path: Path, cells: Path) -> None:
    """Read ``path`` as stage 1 does, with ``reader``; write the cells read to ``cells`` (parquet)."""
    from analysis.frame.params import InputFile
    from analysis.methods import loading

    loading.XLSX_READER = reader
    read = loading.read_input(InputFile(path=path, columns=COLUMNS), "transactions")
    read.frame.to_parquet(cells)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=250_000)
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--write", type=int, help=argparse.SUPPRESS)  # the process writing the workbook
    parser.add_argument("--read", choices=READERS, help=argparse.SUPPRESS)  # the measured process
    parser.add_argument("--workbook", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--cells", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.write:
        write_workbook(args.write, args.workbook)
        return 0
    if args.read:
        read_with(args.read, args.workbook, args.cells)
        return 0

    import pandas as pd

    path = workbook(args.rows)
    lines = [f"{'reader':<10} {'rows':>9} {'wall s':>7} {'peak MiB':>9}  cells"]
    with tempfile.TemporaryDirectory() as scratch:
        frames, results = {}, {}
        for reader in READERS:
            cells = Path(scratch) / f"{reader}.parquet"
            command = [sys.executable, __file__, "--read", reader, "--workbook", str(path), "--cells", str(cells)]
            results[reader] = run_measured(command, timeout=args.timeout, cwd=ROOT, log=Path(scratch) / f"{reader}.log")
            frames[reader] = pd.read_parquet(cells) if results[reader].returncode == 0 else None
        for reader in READERS:
            measured, frame = results[reader], frames[reader]
            if frame is None:
                lines.append(f"{reader:<10} {'':>9} {'failed':>7} {'':>9}  {measured.stderr_tail}")
                continue
            same = frames["openpyxl"] is not None and frame.equals(frames["openpyxl"])
            lines.append(f"{reader:<10} {len(frame):>9,} {measured.seconds:>7.1f} {measured.peak_bytes / 2**20:>9,.0f}  "
                         f"{'the same as openpyxl' if same else 'DIFFERENT from openpyxl'}")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
