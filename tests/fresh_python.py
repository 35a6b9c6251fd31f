"""Code run in a fresh interpreter: what importing a module brings with it shows only there."""

from __future__ import annotations

import subprocess
import sys


def printed_by_fresh_python(code: str) -> str:
    """What ``code`` prints, run by a new Python process (which must succeed)."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()
