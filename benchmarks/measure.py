"""Run one command in a fresh process group and measure its wall time and peak memory.

Peak memory is the larger of

- the child's own ``ru_maxrss`` from ``os.wait4`` (exact, kernel-kept high-water mark of the child), and
- the summed RSS of the child and all its descendants, sampled every 50 ms with psutil when it is
  installed — this is what catches Spark's JVM, which is a grandchild of the measured process (a
  fork that has not yet run its own program is counted with its parent only: :func:`unexecuted_forks`).

A command that outlives its timeout is killed with its whole process group and reported as a timeout.
"""

from __future__ import annotations

import cProfile
import io
import os
import pstats
import resource
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

try:
    import psutil
except ImportError:  # the kernel's ru_maxrss alone is still exact for single-process stages
    psutil = None

SAMPLE_SECONDS = 0.05


@dataclass
class Measurement:
    returncode: int | None  # None: killed at the timeout
    seconds: float  # whole process, interpreter start-up and imports included
    peak_bytes: int
    stderr_tail: str

    @property
    def timed_out(self) -> bool:
        return self.returncode is None


def _tree_rss(process) -> int:
    try:
        members = [process, *process.children(recursive=True)]
    except psutil.Error:
        return 0
    forks = unexecuted_forks(process_facts(members))
    total = 0
    for member in members:
        try:
            total += 0 if member.pid in forks else member.memory_info().rss
        except psutil.Error:
            pass
    return total


def process_facts(members: list) -> dict[int, tuple[int, list[str]]]:
    """Each of ``members``' parent pid and command line (psutil processes; those that ended since
    they were listed left out)."""
    facts = {}
    for member in members:
        try:
            facts[member.pid] = (member.ppid(), member.cmdline())
        except psutil.Error:
            pass
    return facts


def unexecuted_forks(facts: dict[int, tuple[int, list[str]]]) -> set[int]:
    """The processes of ``facts`` (:func:`process_facts`) that show their parent's command line:
    forks that have not yet run their own program. Their resident pages are their parent's, so a
    sum over the tree counts them with the parent only. (scikit-learn asks ``lscpu`` for the
    physical cores once per process: forked from a kernel at 2 GB, the child showed those 2 GB for
    up to 7 ms, and a sample that fell then counted them twice.) The project's worker processes are
    started fresh, each running its own program, so none works in that state."""
    return {pid for pid, (parent, line) in facts.items() if parent in facts and facts[parent][1] == line}


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run_measured(
    command: list[str], *, timeout: float, cwd: Path, env: dict[str, str] | None = None, log: Path
) -> Measurement:
    """Run ``command`` to completion (or ``timeout`` seconds); stdout and stderr go to ``log``."""
    with open(log, "wb") as output:
        started = time.perf_counter()
        child = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
        watched = psutil.Process(child.pid) if psutil is not None else None
        sampled_peak, status, usage = 0, None, None
        while True:
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            if watched is not None:
                sampled_peak = max(sampled_peak, _tree_rss(watched))
            if time.perf_counter() - started > timeout:
                _kill_group(child.pid)
                _, status, usage = os.wait4(child.pid, 0)
                status = None
                break
            time.sleep(SAMPLE_SECONDS)
        seconds = time.perf_counter() - started
        child.returncode = -1 if status is None else os.waitstatus_to_exitcode(status)
        _kill_group(child.pid)  # leftovers such as a JVM the stage did not stop
    returncode = None if status is None else child.returncode
    text = log.read_text(errors="replace").strip().splitlines()
    tail = next((line for line in reversed(text) if line.strip()), "")
    return Measurement(returncode, seconds, max(usage.ru_maxrss * 1024, sampled_peak), tail)


def own_peak_bytes() -> int:
    """This process's peak resident memory so far (``ru_maxrss`` is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@contextmanager
def measured_block(profile_top: int = 0) -> Iterator[dict[str, float]]:
    """Wall seconds and this process's peak memory around the block, in place of one process per run.

    The yielded dict gets ``peak_before`` (the peak on entry), then ``wall`` and ``peak_bytes`` on exit.
    With ``profile_top`` > 0 the block runs under cProfile and the ``profile_top`` functions with the
    most cumulative time are printed (the wall then includes the profiler's overhead). The process
    runs as the runner's stage kernels do: transparent huge pages off (code from before that setting
    runs as it did).
    """
    try:
        from analysis.methods.memory import without_transparent_huge_pages
    except ImportError:
        pass
    else:
        without_transparent_huge_pages()
    figures: dict[str, float] = {"peak_before": own_peak_bytes()}
    profiler = cProfile.Profile() if profile_top else None
    started = time.perf_counter()
    if profiler is not None:
        profiler.enable()
    try:
        yield figures
    finally:
        if profiler is not None:
            profiler.disable()
        figures["wall"] = time.perf_counter() - started
        figures["peak_bytes"] = own_peak_bytes()
        if profiler is not None:
            text = io.StringIO()
            pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(profile_top)
            print(text.getvalue())


def verdict(met: bool) -> str:
    """How a target line ends: MET or NOT MET."""
    return "MET" if met else "NOT MET"
