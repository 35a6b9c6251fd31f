from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def out_root() -> Path:
    return Path(os.environ["TIERING_OUT_ROOT"])


@pytest.fixture(scope="session")
def sample_report(out_root) -> Path:
    """The whole sample study (previous quarter, then the current one) run once by the real runner."""
    from analysis.frame.runner import run_study

    if not (ROOT / "data/raw/sample/truth.json").is_file():
        pytest.fail("sample data missing: run `make sample-data` (make test does it for you)")
    if not (out_root / "data/processed/sample_prev/customers.parquet").is_file():
        run_study(ROOT / "params/sample_prev.yaml", out_root=out_root, progress=False)
    return run_study(ROOT / "params/sample.yaml", out_root=out_root, progress=False)
