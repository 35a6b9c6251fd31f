"""Run the whole study with the real runner and measure every step: wall seconds and peak memory.

The runner (``python -m analysis run``) runs each notebook in a Jupyter kernel, a child process it
starts for that notebook, and builds the report in its own process. It prints ``[n/N] <step> …`` on
stderr when a step starts and ``[n/N] <step> done in S s`` when it ends; a reader thread follows
those lines (:class:`StepTracker`), so the measurement always knows which step is running. A sampler
thread reads the runner's process tree every :data:`SAMPLE_SECONDS` (:func:`read_tree`) and hands
each reading to :class:`PeakRecorder`:

- a **kernel** (a process whose command line names ``ipykernel_launcher``) belongs to a notebook
  step by order: the runner starts one kernel per notebook step, in the steps' order (each while
  the step before runs, :mod:`analysis.frame.kernels`), so the n-th kernel seen
  is the n-th notebook step's, whichever step was running when it was first seen. Its peak is the larger of its sampled
  resident memory and its kernel-kept high-water mark (``VmHWM`` in ``/proc/<pid>/status``, Linux),
  so a short spike between two samples still counts, or, when it starts worker processes (stage 1
  on a large export), the largest summed resident memory of the kernel and its descendants at one
  sample, whichever is larger;
- the **runner** process's peak during a step is its largest sampled resident memory in that step,
  or its high-water mark when that rose during the step, or, when larger, its summed resident memory
  at one sample with the processes it starts that are not kernels (the report step runs in the
  runner, its other languages in such a process);
- the **tree** peak is the largest summed resident memory of all the processes at one sample (with
  the next step's kernel, when it was started ahead; a fork not yet running its own program holds
  its parent's pages and is not counted again, :func:`read_tree`); :attr:`PeakRecorder.tree_peak` says which step
  ran then and what each process held (:meth:`PeakRecorder.tree_peak_parts`).

Samples taken outside the steps (the runner's checks and input fingerprints before the first, the
publishing after the last) go to the pseudo-step :data:`OUTSIDE`.

The same readings give each step's **CPU seconds**: the user and system time of every process of the
tree (the runner, the kernels, their workers) summed, and the rise of that sum from one sample to the
next counted to the step running at the later sample. Divided by the step's wall seconds it says how
many cores the step kept busy. A process that ends between two samples loses the CPU time of its last
:data:`SAMPLE_SECONDS` from the count.

A step's own peak is that of its kernels, or of the runner for the report. Wall seconds come from
the manifest the runner writes (``reports/<run>/manifest.json``), which times each step itself.
Limits: past ``timeout`` seconds or ``max_tree_bytes`` of summed memory the runner's process group
is killed and the steps measured so far are returned with the run marked ``stopped``.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from measure import process_facts, unexecuted_forks

SAMPLE_SECONDS = 0.05
KERNEL_MARK = "ipykernel_launcher"
REPORT_STEP = "report"
OUTSIDE = "other"  # the runner's work outside the steps: checks, input fingerprints, publishing
PROGRESS = re.compile(r"^\[(\d+)/(\d+)\] (\S+) (?:…|done in ([0-9.]+) s)\s*$")


@dataclass(frozen=True)
class Reading:
    """One process at one sample: resident bytes now, its high-water mark (None when unknown) and its parent."""

    pid: int
    is_kernel: bool
    rss: int
    hwm: int | None
    parent: int | None = None
    cpu: float = 0.0  # user + system seconds so far
    system: float = 0.0  # of which system seconds (the kernel's work for it: page faults, reads, process starts)


class StepTracker:
    """The step running now, from the runner's progress lines; None before the first and between steps."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.current: str | None = None
        self.order: list[str] = []
        self.started: dict[str, float] = {}
        self.seconds: dict[str, float] = {}  # as the runner printed them (0.1 s)

    def feed(self, line: str) -> None:
        match = PROGRESS.match(line.strip())
        if not match:
            return
        step, done = match.group(3), match.group(4)
        with self._lock:
            if done is None:
                self.current = step
                self.order.append(step)
                self.started[step] = self._clock()
            else:
                self.seconds[step] = float(done)
                self.current = None

    def now(self) -> str | None:
        with self._lock:
            return self.current

    def running_for(self) -> tuple[str, float] | None:
        """The step still running and its seconds so far (for a run stopped in the middle)."""
        with self._lock:
            if self.current is None:
                return None
            return self.current, self._clock() - self.started[self.current]


@dataclass
class StepPeak:
    step: str
    kernel_bytes: int = 0
    runner_bytes: int = 0
    tree_bytes: int = 0
    kernels: set[int] = field(default_factory=set)
    work_bytes: int = 0  # a kernel with its descendants (its workers) at one sample
    cpu_seconds: float = 0.0  # of every process of the tree while the step ran
    system_seconds: float = 0.0  # of which system seconds

    @property
    def own_bytes(self) -> int:
        """The peak of the processes doing the step's work: its kernel(s) with the worker processes they
        start, else the runner with the processes it starts (the report)."""
        return max(self.kernel_bytes, self.work_bytes) if self.kernels else self.runner_bytes


class _SecondsByStep:
    """CPU (or system) seconds of a process tree, each sample's increase given to the step then running."""

    def __init__(self) -> None:
        self.seen: dict[int, float] = {}  # each process's seconds at its last reading
        self.counted = 0.0  # their sum at the last sample
        self.by_step: dict[str, float] = {}

    def add(self, where: str, seconds: dict[int, float]) -> None:
        for pid, value in seconds.items():
            self.seen[pid] = max(self.seen.get(pid, 0.0), value)
        counted = sum(self.seen.values())
        self.by_step[where] = self.by_step.get(where, 0.0) + counted - self.counted
        self.counted = counted


class PeakRecorder:
    """Per-step peaks from readings of the process tree (see the module docstring for the rules)."""

    def __init__(self, runner_pid: int) -> None:
        self.runner_pid = runner_pid
        self.tree_bytes = 0  # the whole run
        self.samples = 0
        self._order: list[str] = []  # the steps, as they started
        self._kernels: list[int] = []  # as first seen
        self._kernel_peak: dict[int, int] = {}  # resident or high-water mark
        self._kernel_tree: dict[int, int] = {}  # the kernel and its descendants at one sample
        self._runner: dict[str, int] = {}
        self._tree: dict[str, int] = {}
        self._runner_hwm: int | None = None
        self.tree_peak: tuple[str, list[Reading]] | None = None  # the step and the readings of the tree's peak
        self._cpu = _SecondsByStep()
        self._system = _SecondsByStep()

    @property
    def cpu_seconds(self) -> float:
        """CPU seconds of the whole tree over the run (each process up to its last reading)."""
        return self._cpu.counted

    @property
    def system_seconds(self) -> float:
        """The system seconds among :attr:`cpu_seconds`."""
        return self._system.counted

    def record(self, step: str | None, readings: Iterable[Reading]) -> None:
        """One sample of the tree, taken while ``step`` ran (None: before, between or after the steps)."""
        readings = list(readings)
        self.samples += 1
        where = self._started(step) if step is not None else OUTSIDE
        total = sum(r.rss for r in readings)
        if total > self.tree_bytes:
            self.tree_peak = (where, readings)
        self.tree_bytes = max(self.tree_bytes, total)
        self._tree[where] = max(self._tree.get(where, 0), total)
        self._cpu.add(where, {r.pid: r.cpu for r in readings})
        self._system.add(where, {r.pid: r.system for r in readings})
        trees = _kernel_trees(readings, self.runner_pid)
        for kernel, tree in trees.items():
            self._kernel_tree[kernel] = max(self._kernel_tree.get(kernel, 0), tree)
        # the runner with the processes it starts that are no kernel's (the report's other languages)
        self._runner[where] = max(self._runner.get(where, 0), total - sum(trees.values()))
        for reading in readings:
            if reading.is_kernel:
                if reading.pid not in self._kernel_peak:
                    self._kernels.append(reading.pid)
                self._kernel_peak[reading.pid] = max(self._kernel_peak.get(reading.pid, 0), reading.rss,
                                                     reading.hwm or 0)
            elif reading.pid == self.runner_pid:
                rose = reading.hwm is not None and self._runner_hwm is not None and reading.hwm > self._runner_hwm
                self._runner[where] = max(self._runner.get(where, 0), reading.rss, reading.hwm if rose else 0)
                if reading.hwm is not None:
                    self._runner_hwm = max(self._runner_hwm or 0, reading.hwm)

    def settle(self, step: str | None) -> None:
        """Note ``step`` (the one running when the run stopped) as started: the runner's line announcing
        it can reach us after its kernel's first sample did."""
        if step is not None:
            self._started(step)

    def _started(self, step: str) -> str:
        if step not in self._order:
            self._order.append(step)
        return step

    @property
    def steps(self) -> dict[str, StepPeak]:
        """Each step's peaks. The runner starts one kernel per notebook step, in the steps' order (each
        while the step before runs, so that it is ready in time), so the n-th kernel seen is the n-th
        notebook step's; kernels beyond the steps (one that died and was replaced) go to the last."""
        peaks = {step: StepPeak(step, runner_bytes=self._runner.get(step, 0), tree_bytes=self._tree.get(step, 0),
                                cpu_seconds=self._cpu.by_step.get(step, 0.0),
                                system_seconds=self._system.by_step.get(step, 0.0))
                 for step in [*self._order, *([OUTSIDE] if OUTSIDE in self._tree else [])]}
        for kernel, step in self._kernel_steps().items():
            peak = peaks[step]
            peak.kernels.add(kernel)
            peak.kernel_bytes = max(peak.kernel_bytes, self._kernel_peak[kernel])
            peak.work_bytes = max(peak.work_bytes, self._kernel_tree.get(kernel, 0))
        return peaks

    def _kernel_steps(self) -> dict[int, str]:
        """Each kernel's notebook step: the n-th kernel seen is the n-th notebook step's (see :attr:`steps`)."""
        notebooks = [step for step in self._order if step != REPORT_STEP]
        if not notebooks:
            return {}
        return {kernel: notebooks[min(number, len(notebooks) - 1)] for number, kernel in enumerate(self._kernels)}

    def tree_peak_parts(self) -> list[tuple[str, int]]:
        """At the tree's peak, the resident bytes of the runner (with the processes it starts that are no
        kernel's) and of each kernel with its workers, named ``runner`` and ``kernel of <step>``, largest first."""
        if self.tree_peak is None:
            return []
        _, readings = self.tree_peak
        steps = self._kernel_steps()
        trees = _kernel_trees(readings, self.runner_pid)
        parts = [(f"kernel of {steps.get(kernel, '?')}", size) for kernel, size in trees.items()]
        parts.append(("runner", sum(r.rss for r in readings) - sum(trees.values())))
        return sorted(parts, key=lambda part: -part[1])


def _kernel_trees(readings: list[Reading], runner_pid: int) -> dict[int, int]:
    """Each kernel's resident bytes with those of its descendants (its worker processes) at one sample."""
    parents = {r.pid: r.parent for r in readings}
    kernels = {r.pid for r in readings if r.is_kernel}
    trees = dict.fromkeys(kernels, 0)
    for reading in readings:
        pid = reading.pid
        while pid is not None and pid not in kernels and pid != runner_pid:
            pid = parents.get(pid)
        if pid in kernels:
            trees[pid] += reading.rss
    return trees


def _high_water_mark(pid: int) -> int | None:
    """``VmHWM`` of a process in bytes (Linux), None where /proc does not give it."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def read_tree(root: psutil.Process, is_kernel: dict[int, bool]) -> list[Reading]:
    """A reading of ``root`` and every descendant; ``is_kernel`` caches each pid found to be a kernel.

    A kernel is a child of the runner (``root``) whose command line names :data:`KERNEL_MARK`. A
    process the kernel forks shows the kernel's command line until it runs its own program, which
    can take a while for a kernel holding gigabytes: it is never a kernel, being the kernel's child,
    and it is read as holding nothing, its pages being the kernel's (:func:`measure.unexecuted_forks`).
    A child of the runner found not to be a kernel is tested again, for the same reason.
    """
    try:
        members = [root, *root.children(recursive=True)]
    except psutil.Error:
        return []
    facts = process_facts(members)
    forks = unexecuted_forks(facts)
    readings = []
    for member in members:
        if member.pid not in facts:  # it ended between the listing and the reading
            continue
        parent, command_line = facts[member.pid]
        try:
            if not is_kernel.get(member.pid):
                is_kernel[member.pid] = parent == root.pid and any(KERNEL_MARK in part for part in command_line)
            times = member.cpu_times()
            rss = 0 if member.pid in forks else member.memory_info().rss
            readings.append(Reading(member.pid, is_kernel[member.pid], rss, _high_water_mark(member.pid), parent,
                                    times.user + times.system, times.system))
        except psutil.Error:  # it ended between the listing and the reading
            pass
    return readings


@dataclass
class RunMeasurement:
    status: str  # "ok", "failed" (the runner's exit status), "stopped: <why>"
    returncode: int | None
    seconds: float  # the runner process, start to end
    steps: list[str]  # in the order they started
    step_seconds: dict[str, float]  # finished steps (manifest, else the progress lines)
    running: tuple[str, float] | None  # a step cut short by a stop, with its seconds so far
    peaks: dict[str, StepPeak]
    tree_bytes: int
    samples: int
    log: Path
    cpu_seconds: float = 0.0  # the whole tree's
    system_seconds: float = 0.0  # of which system seconds
    tree_peak_step: str | None = None  # the step running at the tree's peak
    tree_peak_parts: list[tuple[str, int]] = field(default_factory=list)  # PeakRecorder.tree_peak_parts


def measure_run(command: list[str], *, log: Path, env: dict[str, str] | None = None, cwd: Path | None = None,
                timeout: float = 3600.0, max_tree_bytes: int | None = None,
                manifest: Path | None = None) -> RunMeasurement:
    """Run the runner ``command`` and measure each of its steps (see the module docstring)."""
    tracker = StepTracker()
    stop_reason: list[str] = []
    with open(log, "w", encoding="utf-8") as output:
        started = time.perf_counter()
        child = subprocess.Popen(command, cwd=cwd, env=env, stdout=output, stderr=subprocess.PIPE,
                                 text=True, encoding="utf-8", errors="replace", bufsize=1,
                                 start_new_session=True)
        recorder = PeakRecorder(child.pid)

        def follow() -> None:
            for line in child.stderr:
                output.write(line)
                output.flush()
                tracker.feed(line)

        def stop(why: str) -> None:
            if not stop_reason:
                stop_reason.append(why)
            _kill_tree(child.pid)

        def sample() -> None:
            root, is_kernel = psutil.Process(child.pid), {}
            while child.poll() is None:
                recorder.record(tracker.now(), read_tree(root, is_kernel))
                if max_tree_bytes and recorder.tree_bytes > max_tree_bytes:
                    stop(f"stopped: memory over {max_tree_bytes / 1024**2:,.0f} MiB")
                if time.perf_counter() - started > timeout:
                    stop(f"stopped: over {timeout:.0f} s")
                time.sleep(SAMPLE_SECONDS)

        threads = [threading.Thread(target=follow, daemon=True), threading.Thread(target=sample, daemon=True)]
        for thread in threads:
            thread.start()
        returncode = child.wait()
        seconds = time.perf_counter() - started
        _kill_group(child.pid)  # anything left in the runner's group
        for thread in threads:
            thread.join(timeout=10)
    running = tracker.running_for()
    recorder.settle(running[0] if running else None)
    step_seconds = dict(tracker.seconds)
    step_seconds.update(_manifest_seconds(manifest))
    if stop_reason:
        status = stop_reason[0]
    else:
        status = "ok" if returncode == 0 else "failed"
        running = running if returncode != 0 else None
    return RunMeasurement(status, None if stop_reason else returncode, seconds, list(tracker.order), step_seconds,
                          running, recorder.steps, recorder.tree_bytes, recorder.samples, log, recorder.cpu_seconds,
                          recorder.system_seconds, recorder.tree_peak[0] if recorder.tree_peak else None,
                          recorder.tree_peak_parts())


def _manifest_seconds(manifest: Path | None) -> dict[str, float]:
    """Each finished step's seconds as the runner's manifest records them (empty when there is none)."""
    if manifest is None:
        return {}
    try:
        stages = json.loads(manifest.read_text(encoding="utf-8"))["stages"]
    except (OSError, ValueError, KeyError):
        return {}
    return {s["stage"]: float(s["seconds"]) for s in stages if s.get("status") == "ok"}


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _kill_tree(pid: int) -> None:
    """Kill the running runner's group and every descendant (Jupyter starts kernels in their own session)."""
    try:
        descendants = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        descendants = []
    _kill_group(pid)
    for process in descendants:
        try:
            process.kill()
        except psutil.Error:
            pass
