"""Stage 1 (cleaning) alone on a params file: wall seconds, peak memory and, with ``--profile``, where the time goes.

    .venv/bin/python benchmarks/stage1_profile.py PARAMS [--profile N] [--rows-per-batch N] [--result out.json]

``stages.clean.compute`` runs once on the inputs ``PARAMS`` names (every input: the customer master,
transactions, surveys, complaints), writing nothing. Printed: its wall seconds, the process's peak
resident memory (the larger of ``ru_maxrss`` and psutil samples every 50 ms) and the rows kept and
set aside. ``--rows-per-batch 0`` reads the transactions whole, as before the batch reader
(:mod:`analysis.methods.cleaning_batches`); with ``PYTHONPATH`` on a copy of the code from before
it, the script times that code. ``--profile N``
runs it under cProfile and prints the ``N`` functions with the most cumulative time (the timing
then includes the profiler's overhead).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import resource
import sys
import threading
import time
from pathlib import Path
from unittest import mock


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("params", type=Path)
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="profile; print the top N functions")
    parser.add_argument("--rows-per-batch", type=int, help="transactions read per batch; 0 reads the file whole")
    parser.add_argument("--result", type=Path, help="write the figures as JSON here")
    args = parser.parse_args(argv)

    import psutil

    from analysis.frame.params import load_params
    from analysis.stages import clean

    try:
        from analysis.methods import cleaning_batches
    except ImportError:  # code from before the batch reader (to time it): the file is read whole
        cleaning_batches = mock.Mock(ROWS_PER_BATCH=0)

    params = load_params(args.params)
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        process = psutil.Process()
        while not done.is_set():
            peak[0] = max(peak[0], process.memory_info().rss)
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    batch = cleaning_batches.ROWS_PER_BATCH if args.rows_per_batch is None else args.rows_per_batch
    profiler = cProfile.Profile() if args.profile else None
    started = time.perf_counter()
    with mock.patch.object(cleaning_batches, "ROWS_PER_BATCH", batch if batch > 0 else 0):
        if profiler is not None:
            profiler.enable()
        cleaned = clean.compute(params)
        if profiler is not None:
            profiler.disable()
    wall = time.perf_counter() - started
    done.set()
    sampler.join()
    peak_bytes = max(peak[0], resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    quality = cleaned.quality["transactions"]
    figures = {"wall": wall, "peak_bytes": peak_bytes, "rows_in": quality["rows_in"], "rows_kept": quality["rows_kept"],
               "rows_quarantined": quality["rows_quarantined"], "rows_per_batch": batch,
               "load_average": os.getloadavg()[0]}
    print(f"stage 1 compute: {wall:.1f} s, peak {peak_bytes / 2**20:,.0f} MiB; transactions {quality['rows_in']:,} in, "
          f"{quality['rows_kept']:,} kept, {quality['rows_quarantined']:,} set aside; rows per batch {batch or 'whole file'}; "
          f"load average {figures['load_average']:.2f}")
    if profiler is not None:
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(args.profile)
        print(text.getvalue())
    if args.result:
        args.result.write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
