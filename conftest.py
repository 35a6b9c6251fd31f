"""Test session set-up shared by pytest and nbval: every run writes under one temporary folder.

$TIERING_OUT_ROOT redirects data/processed and reports, so tests and nbval never touch the
analyst's own outputs. nbval re-executes the stored notebooks, and the tiers notebook compares with
the previous quarter, so the previous sample run is made first when notebooks are collected.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent


def pytest_configure(config):
    if "TIERING_OUT_ROOT" not in os.environ:
        out_root = Path(tempfile.mkdtemp(prefix="tiering-tests-"))
        os.environ["TIERING_OUT_ROOT"] = str(out_root)
        config._tiering_made_out_root = out_root
    os.environ.setdefault("MPLBACKEND", "Agg")


def pytest_collection_finish(session):
    if any(item.nodeid.endswith(".ipynb") or ".ipynb::" in item.nodeid for item in session.items):
        from tests.sample_runs import ensure_run

        ensure_run(Path(os.environ["TIERING_OUT_ROOT"]), "sample_prev")


def pytest_unconfigure(config):
    made = getattr(config, "_tiering_made_out_root", None)
    if made is not None and not os.environ.get("TIERING_KEEP_OUTPUTS"):
        shutil.rmtree(made, ignore_errors=True)
