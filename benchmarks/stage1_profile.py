"""Stage 1 (cleaning) alone on a params file: wall seconds, peak memory and, with ``--profile``, where the time goes.

    .venv/bin/python benchmarks/stage1_profile.py PARAMS [--profile N] [--rows-per-batch N] [--result out.json]

``stages.clean.compute`` runs once on the inputs ``PARAMS`` names (every input: the customer master,
transactions, surveys, complaints), writing only the cleaned transactions, to a temporary file, as
stage 1 writes them while it cleans (code from before that writes nothing). Printed: its wall
seconds, the process's peak resident memory (``ru_maxrss``, the kernel's high-water mark) and the
rows kept and set aside. ``--rows-per-batch 0`` reads the transactions whole, as before the batch reader
(:mod:`analysis.methods.cleaning_batches`); with ``PYTHONPATH`` on a copy of the code from before
it, the script times that code. ``--profile N``
runs it under cProfile and prints the ``N`` functions with the most cumulative time (the timing
then includes the profiler's overhead).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from inspect import signature
from pathlib import Path
from unittest import mock

from measure import measured_block


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("params", type=Path)
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="profile; print the top N functions")
    parser.add_argument("--rows-per-batch", type=int, help="transactions read per batch; 0 reads the file whole")
    parser.add_argument("--result", type=Path, help="write the figures as JSON here")
    args = parser.parse_args(argv)

    from analysis.frame.params import load_params
    from analysis.stages import clean

    try:
        from analysis.methods import cleaning_batches
    except ImportError:  # code from before the batch reader (to time it): the file is read whole
        cleaning_batches = mock.Mock(ROWS_PER_BATCH=0)

    params = load_params(args.params)
    batch = cleaning_batches.ROWS_PER_BATCH if args.rows_per_batch is None else args.rows_per_batch
    with (tempfile.TemporaryDirectory() as scratch, mock.patch.object(cleaning_batches, "ROWS_PER_BATCH", max(batch, 0)),
          measured_block(args.profile) as block):
        written = "transactions_to" in signature(clean.compute).parameters
        cleaned = clean.compute(params, **({"transactions_to": Path(scratch) / "transactions.parquet"} if written else {}))
    quality = cleaned.quality["transactions"]
    figures = {"wall": block["wall"], "peak_bytes": block["peak_bytes"], "rows_in": quality["rows_in"],
               "rows_kept": quality["rows_kept"], "rows_quarantined": quality["rows_quarantined"],
               "rows_per_batch": batch, "load_average": os.getloadavg()[0]}
    print(f"stage 1 compute: {block['wall']:.1f} s, peak {block['peak_bytes'] / 2**20:,.0f} MiB; transactions "
          f"{quality['rows_in']:,} in, {quality['rows_kept']:,} kept, {quality['rows_quarantined']:,} set aside; "
          f"rows per batch {batch or 'whole file'}; load average {figures['load_average']:.2f}")
    if args.result:
        args.result.write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
