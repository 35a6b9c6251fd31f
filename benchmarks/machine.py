"""The machine's facts that every results file states: CPU, RAM, load, OS, Python and package versions."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def first_line(command: list[str]) -> str:
    """The first line a command prints (stdout, then stderr), or why there is none."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return "not found"
    lines = (done.stdout + done.stderr).strip().splitlines()
    return lines[0] if lines else "unknown"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def ram_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                return int(line.split()[1]) / 1024**2
    except OSError:
        pass
    return float("nan")


def versions(names: list[str]) -> str:
    found = []
    for name in names:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            found.append(f"{name} missing")
    return ", ".join(found)


def base_facts(packages: list[str]) -> list[str]:
    """CPU, RAM with the load average now, OS, and Python with the versions of ``packages``."""
    return [
        f"CPU: {os.cpu_count()} cores, {cpu_model()}",
        f"RAM: {ram_gib():.1f} GiB; load average at start {os.getloadavg()[0]:.2f} (cores are shared)",
        f"OS: {platform.platform()}",
        f"Python {platform.python_version()}; " + versions(packages),
    ]


def commit() -> str:
    return first_line(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
