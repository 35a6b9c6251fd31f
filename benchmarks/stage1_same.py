"""Stage 1's outputs of two versions of the code, compared: the kept tables, the quarantine, quality.json, the gate.

    PYTHONPATH=<code A>/src .venv/bin/python benchmarks/stage1_same.py dump PARAMS A_DIR
    PYTHONPATH=<code B>/src .venv/bin/python benchmarks/stage1_same.py dump PARAMS B_DIR
    .venv/bin/python benchmarks/stage1_same.py compare A_DIR B_DIR      # exit 1 when anything differs

``dump`` runs ``stages.clean.compute`` on the params file with whichever code is on ``PYTHONPATH``
and pickles every cleaned input's kept rows and the quarantine, with quality.json and the quality
gate's breaches as JSON; ``compare`` checks two dumps with ``pandas.testing.assert_frame_equal``
(values and dtypes) and byte-equal JSON.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pandas as pd


def dump(params: Path, out: Path) -> None:
    from analysis.frame.params import load_params
    from analysis.stages import clean

    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    cleaned = clean.compute(load_params(params))
    print(f"compute {time.perf_counter() - started:.1f} s")
    for name, result in cleaned.results.items():
        result.kept.to_pickle(out / f"{name}.pkl")
    cleaned.quarantine.to_pickle(out / "quarantine.pkl")
    (out / "quality.json").write_text(json.dumps(cleaned.quality, indent=1, sort_keys=True, default=str))
    breaches = [b.to_dict() for b in cleaned.breaches]
    (out / "breaches.json").write_text(json.dumps(breaches, indent=1, sort_keys=True, default=str))


def compare(a: Path, b: Path) -> bool:
    same = True
    for name in sorted(p.name for p in a.iterdir()):
        if name.endswith(".pkl"):
            left, right = pd.read_pickle(a / name), pd.read_pickle(b / name)
            try:
                pd.testing.assert_frame_equal(left, right)
                print(f"{name}: identical ({len(left):,} rows)")
            except AssertionError as exc:
                same = False
                print(f"{name}: DIFFERENT {exc}")
        else:
            equal = (a / name).read_text() == (b / name).read_text()
            same &= equal
            print(f"{name}: {'identical' if equal else 'DIFFERENT'}")
    return same


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[0] not in {"dump", "compare"}:
        print(__doc__)
        return 2
    if argv[0] == "dump":
        dump(Path(argv[1]), Path(argv[2]))
        return 0
    return 0 if compare(Path(argv[1]), Path(argv[2])) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
