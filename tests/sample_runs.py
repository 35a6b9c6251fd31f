"""The sample study (previous quarter, then the current one), run once per test session.

pytest workers (``-n``) and the nbval pass share one output root ($TIERING_OUT_ROOT): the first
process that needs a run makes it while holding a lock, the others wait and reuse it.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_DONE = ".done"  # written beside the lock once a run is published


@contextmanager
def _exclusive(lock: Path) -> Iterator[None]:
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_run(out_root: Path, run: str) -> Path:
    """Run params/<run>.yaml into ``out_root`` unless this session already did; return its report."""
    from analysis.frame.runner import run_study

    marker = out_root / ".sample-runs" / f"{run}{_DONE}"
    with _exclusive(out_root / ".sample-runs" / f"{run}.lock"):
        if not marker.is_file():
            report = run_study(ROOT / "params" / f"{run}.yaml", out_root=out_root, progress=False)
            marker.write_text(str(report), encoding="utf-8")
        return Path(marker.read_text(encoding="utf-8"))


def ensure_sample_study(out_root: Path) -> Path:
    """Both sample quarters, the previous one first (the current one compares with it)."""
    ensure_run(out_root, "sample_prev")
    return ensure_run(out_root, "sample")
