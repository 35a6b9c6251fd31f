"""Process memory settings: transparent huge pages off for the study's processes and the ones they start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from analysis.methods.memory import _PR_SET_THP_DISABLE, HUGE_PAGES_ENV

# run in a process of its own: the setting stays with a process for its life
_CHECK = f"""
import ctypes, subprocess, sys
from analysis.methods.memory import without_transparent_huge_pages

ctypes.CDLL(None).prctl({_PR_SET_THP_DISABLE}, 0, 0, 0, 0)  # on, as in a fresh shell: this test's process may have run a study

def thp_enabled(status):
    return next(line.split()[1] for line in status.splitlines() if line.startswith("THP_enabled:"))

turned_off = without_transparent_huge_pages()
child = subprocess.run([sys.executable, "-c", "print(open('/proc/self/status').read())"],
                       capture_output=True, text=True, check=True).stdout
print(turned_off, thp_enabled(open("/proc/self/status").read()), thp_enabled(child))
"""


def _thp_line_exists() -> bool:
    status = Path("/proc/self/status")
    return status.is_file() and "THP_enabled:" in status.read_text()


pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or not _thp_line_exists(),
    reason="transparent huge pages are a Linux setting (shown in /proc/<pid>/status since Linux 5.0)",
)


def _run_check(**env: str) -> list[str]:
    environment = {key: value for key, value in os.environ.items() if key != HUGE_PAGES_ENV} | env
    done = subprocess.run([sys.executable, "-c", _CHECK], capture_output=True, text=True, env=environment, check=True)
    return done.stdout.split()


def test_huge_pages_are_off_for_the_process_and_the_processes_it_starts():
    # as the runner's stage kernels, and stage 1's worker processes, are started after it
    assert _run_check() == ["True", "0", "0"]


def test_keep_leaves_the_system_setting():
    assert _run_check(**{HUGE_PAGES_ENV: "keep"}) == ["False", "1", "1"]
